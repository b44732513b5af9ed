//! Outbound connections that park the green thread: TCP and unix streams, and DNS lookups
//! run on greenlight's thread pool.
//!
//! `std::net::TcpStream` blocks its OS thread while it connects, reads and writes, and so
//! does the std resolver (`getaddrinfo`): on a green thread that stalls every greenlet on
//! the same worker. These types wait cooperatively instead: the socket is non-blocking and
//! the green thread parks until it is ready, and a host name is resolved by the std
//! resolver on a [`threadpool`](crate::threadpool) thread while the caller waits without
//! holding its worker. A literal IP address is used as it is, with no lookup.
//!
//! From a plain OS thread (such as `main`) everything here simply blocks.

use crate::green::watchdog::parking;
use std::fmt;
use std::io::{self, IoSlice, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, ToSocketAddrs as _};
use std::os::unix::net::SocketAddr as UnixSocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::green::threadpool;
use crate::green::JoinError;

/// Resolves `host` and `port` to socket addresses, like `(host, port).to_socket_addrs()`,
/// but without blocking the worker thread: the std resolver runs on greenlight's
/// [`threadpool`](crate::threadpool) while the calling greenlet is parked. A literal IP
/// address (`127.0.0.1`, `::1`, `[::1]`) comes back at once, with no lookup.
///
/// An empty answer is an error of kind [`io::ErrorKind::NotFound`].
///
/// # Examples
///
/// ```
/// let addrs = greenlight::spawn(|| greenlight::net::lookup_host("localhost", 80))
///     .join()
///     .unwrap()
///     .unwrap();
/// assert!(addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 80));
///
/// let literal = greenlight::net::lookup_host("[::1]", 8000).unwrap();
/// assert_eq!(literal, vec!["[::1]:8000".parse().unwrap()]);
/// ```
pub fn lookup_host(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    lookup(host, port, None)
}

/// Like [`lookup_host`], giving up with [`io::ErrorKind::TimedOut`] after `timeout` (the
/// lookup itself still finishes on its pool thread: `getaddrinfo` cannot be interrupted).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let addrs = greenlight::net::lookup_host_timeout("127.0.0.1", 53, Duration::from_secs(1)).unwrap();
/// assert_eq!(addrs, vec!["127.0.0.1:53".parse().unwrap()]);
/// ```
pub fn lookup_host_timeout(
    host: &str,
    port: u16,
    timeout: Duration,
) -> io::Result<Vec<SocketAddr>> {
    lookup(host, port, Some(timeout))
}

fn lookup(host: &str, port: u16, timeout: Option<Duration>) -> io::Result<Vec<SocketAddr>> {
    if let Some(ip) = literal_ip(host) {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let name = host.to_owned();
    let resolve = move || (name.as_str(), port).to_socket_addrs().map(Vec::from_iter);
    let pool = threadpool::default_pool();
    let answer = match timeout {
        Some(t) => pool.apply_timeout(t, resolve),
        None => pool.apply(resolve),
    };
    let addrs = answer.map_err(|e| join_error(e, host))??;
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{host}: no addresses found"),
        ));
    }
    Ok(addrs)
}

/// `host` as an IP address, with or without IPv6 brackets.
fn literal_ip(host: &str) -> Option<IpAddr> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse().ok()
}

fn join_error(e: JoinError, host: &str) -> io::Error {
    match e {
        JoinError::Timeout => io::Error::new(
            io::ErrorKind::TimedOut,
            format!("{host}: DNS lookup timed out"),
        ),
        other => io::Error::other(format!("{host}: DNS lookup failed: {other}")),
    }
}

/// What [`TcpStream::connect`] accepts: the std `ToSocketAddrs` forms, resolved without
/// blocking the worker thread (see [`lookup_host`]).
///
/// Implemented for `SocketAddr`, `(IpAddr, u16)`, `(&str, u16)`, `(String, u16)`,
/// `"host:port"` strings (`"example.com:80"`, `"127.0.0.1:80"`, `"[::1]:80"`) and slices
/// of `SocketAddr`.
///
/// # Examples
///
/// ```
/// use greenlight::net::ToAddrs;
/// let addrs = "127.0.0.1:8080".to_addrs().unwrap();
/// assert_eq!(addrs[0].port(), 8080);
/// assert_eq!(("::1", 80).to_addrs().unwrap()[0].ip().to_string(), "::1");
/// ```
pub trait ToAddrs {
    /// The addresses to try, in order.
    fn to_addrs(&self) -> io::Result<Vec<SocketAddr>>;
}

impl ToAddrs for SocketAddr {
    fn to_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        Ok(vec![*self])
    }
}

impl ToAddrs for [SocketAddr] {
    fn to_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        Ok(self.to_vec())
    }
}

impl<const N: usize> ToAddrs for [SocketAddr; N] {
    fn to_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        Ok(self.to_vec())
    }
}

impl ToAddrs for (IpAddr, u16) {
    fn to_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        Ok(vec![SocketAddr::new(self.0, self.1)])
    }
}

impl ToAddrs for (&str, u16) {
    fn to_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        lookup_host(self.0, self.1)
    }
}

impl ToAddrs for (String, u16) {
    fn to_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        lookup_host(&self.0, self.1)
    }
}

impl ToAddrs for str {
    fn to_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        if let Ok(addr) = self.parse::<SocketAddr>() {
            return Ok(vec![addr]);
        }
        let (host, port) = split_host_port(self)?;
        lookup_host(host, port)
    }
}

impl ToAddrs for String {
    fn to_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        self.as_str().to_addrs()
    }
}

impl<T: ToAddrs + ?Sized> ToAddrs for &T {
    fn to_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        (**self).to_addrs()
    }
}

/// `"host:port"` split at its last colon; the port must be a number.
fn split_host_port(s: &str) -> io::Result<(&str, u16)> {
    let invalid = || {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{s:?}: expected host:port"),
        )
    };
    let (host, port) = s.rsplit_once(':').ok_or_else(invalid)?;
    let port = port.parse().map_err(|_| invalid())?;
    if host.is_empty() {
        return Err(invalid());
    }
    Ok((host, port))
}

/// Tries each address in turn; the last error if none connects.
fn connect_any(addrs: &[SocketAddr], deadline: Option<Instant>) -> io::Result<may::net::TcpStream> {
    let mut last = None;
    for addr in addrs {
        let attempt = match deadline {
            None => may::net::TcpStream::connect(addr),
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => may::net::TcpStream::connect_timeout(addr, left),
                _ => Err(timed_out("connect timed out")),
            },
        };
        match attempt {
            Ok(s) => return Ok(s),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => return Err(e),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "no addresses to connect to")
    }))
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, what.to_owned())
}

/// A TCP connection to a server that waits cooperatively: connecting, reading and writing
/// park the green thread, never its worker thread (gevent's patched `socket`).
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// use greenlight::net::TcpStream;
///
/// let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
/// let addr = listener.local_addr().unwrap();
/// std::thread::spawn(move || {
///     let (mut peer, _) = listener.accept().unwrap();
///     peer.write_all(b"hello").unwrap();
/// });
///
/// let reply = greenlight::spawn(move || {
///     let mut conn = TcpStream::connect(addr)?;
///     let mut text = String::new();
///     conn.read_to_string(&mut text)?;
///     Ok::<_, std::io::Error>(text)
/// });
/// assert_eq!(reply.join().unwrap().unwrap(), "hello");
/// ```
pub struct TcpStream {
    inner: may::net::TcpStream,
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("local", &self.local_addr().ok())
            .field("peer", &self.peer_addr().ok())
            .finish()
    }
}

impl TcpStream {
    /// Connects to `addr`, resolving a host name on the thread pool first and trying each
    /// of its addresses in turn.
    ///
    /// # Examples
    ///
    /// ```
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let port = listener.local_addr().unwrap().port();
    /// let conn = greenlight::net::TcpStream::connect(("localhost", port));
    /// # let conn = conn.or_else(|_| greenlight::net::TcpStream::connect(("127.0.0.1", port)));
    /// assert_eq!(conn.unwrap().peer_addr().unwrap().port(), port);
    /// ```
    pub fn connect(addr: impl ToAddrs) -> io::Result<TcpStream> {
        let addrs = addr.to_addrs()?;
        let inner = connect_any(&addrs, None)?;
        Ok(TcpStream { inner })
    }

    /// Connects to `addr` within `timeout`, which bounds the DNS lookup and every connect
    /// attempt together. Running out of time is an error of kind
    /// [`io::ErrorKind::TimedOut`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let addr = listener.local_addr().unwrap();
    /// let conn = greenlight::net::TcpStream::connect_timeout(addr, Duration::from_secs(5)).unwrap();
    /// assert_eq!(conn.peer_addr().unwrap(), addr);
    /// ```
    pub fn connect_timeout(addr: impl ToAddrs, timeout: Duration) -> io::Result<TcpStream> {
        let deadline = Instant::now() + timeout;
        let addrs = addr.to_addrs()?;
        let inner = connect_any(&addrs, Some(deadline))?;
        Ok(TcpStream { inner })
    }

    /// Connects to the first of the already-resolved `addrs` that answers before
    /// `deadline` (none: no limit).
    pub(crate) fn connect_addrs(
        addrs: &[SocketAddr],
        deadline: Option<Instant>,
    ) -> io::Result<TcpStream> {
        connect_any(addrs, deadline).map(|inner| TcpStream { inner })
    }

    /// The remote address.
    ///
    /// # Examples
    ///
    /// ```
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let addr = listener.local_addr().unwrap();
    /// let conn = greenlight::net::TcpStream::connect(addr).unwrap();
    /// assert_eq!(conn.peer_addr().unwrap(), addr);
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }

    /// The local address.
    ///
    /// # Examples
    ///
    /// ```
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let conn = greenlight::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// assert!(conn.local_addr().unwrap().ip().is_loopback());
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// Bounds each read: one that waits longer fails with [`io::ErrorKind::TimedOut`].
    /// `None` waits forever.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Read;
    /// use std::time::Duration;
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let mut conn = greenlight::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// conn.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    /// let err = conn.read(&mut [0; 16]).unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    /// ```
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.inner.set_read_timeout(timeout)
    }

    /// Bounds each write: one that waits longer fails with [`io::ErrorKind::TimedOut`].
    /// `None` waits forever.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let conn = greenlight::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// conn.set_write_timeout(Some(Duration::from_secs(1))).unwrap();
    /// ```
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.inner.set_write_timeout(timeout)
    }

    /// Shuts down the read half, the write half or both.
    ///
    /// # Examples
    ///
    /// ```
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let conn = greenlight::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// conn.shutdown(std::net::Shutdown::Write).unwrap();
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.shutdown(how)
    }

    /// Sets `TCP_NODELAY` (no Nagle delay for small writes).
    ///
    /// # Examples
    ///
    /// ```
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let conn = greenlight::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// conn.set_nodelay(true).unwrap();
    /// ```
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.inner.set_nodelay(nodelay)
    }

    /// Another handle to the same socket (one greenlet can read while another writes).
    ///
    /// # Examples
    ///
    /// ```
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let conn = greenlight::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// let other = conn.try_clone().unwrap();
    /// assert_eq!(other.peer_addr().unwrap(), conn.peer_addr().unwrap());
    /// ```
    pub fn try_clone(&self) -> io::Result<TcpStream> {
        self.inner.try_clone().map(|inner| TcpStream { inner })
    }

    /// Whether the connection still looks usable: nothing unread has arrived and the peer
    /// has not closed it. Never waits.
    pub(crate) fn is_idle_open(&self) -> bool {
        let mut byte = [0u8; 1];
        match self.inner.inner().peek(&mut byte) {
            Err(e) => e.kind() == io::ErrorKind::WouldBlock,
            Ok(_) => false, // end of stream, or bytes nobody asked for
        }
    }
}

impl Read for TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        parking(|| self.inner.read(buf))
    }
}

impl Write for TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        parking(|| self.inner.write(buf))
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        parking(|| self.inner.write_vectored(bufs))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A unix-domain stream connection that waits cooperatively, like [`TcpStream`].
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// use greenlight::net::UnixStream;
///
/// let path = std::env::temp_dir().join(format!("greenlight-doc-{}.sock", std::process::id()));
/// let _ = std::fs::remove_file(&path);
/// let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
/// std::thread::spawn(move || {
///     let (mut peer, _) = listener.accept().unwrap();
///     peer.write_all(b"pong").unwrap();
/// });
///
/// let mut conn = UnixStream::connect(&path).unwrap();
/// let mut reply = String::new();
/// conn.read_to_string(&mut reply).unwrap();
/// assert_eq!(reply, "pong");
/// # std::fs::remove_file(&path).unwrap();
/// ```
pub struct UnixStream {
    inner: may::os::unix::net::UnixStream,
}

impl fmt::Debug for UnixStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixStream")
            .field("peer", &self.peer_addr().ok())
            .finish()
    }
}

impl UnixStream {
    /// Connects to the socket at `path`.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = greenlight::net::UnixStream::connect("/nonexistent/greenlight.sock").unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    /// ```
    pub fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        may::os::unix::net::UnixStream::connect(path).map(|inner| UnixStream { inner })
    }

    /// A pair of connected sockets.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// let (mut a, mut b) = greenlight::net::UnixStream::pair().unwrap();
    /// a.write_all(b"hi").unwrap();
    /// let mut buf = [0; 2];
    /// b.read_exact(&mut buf).unwrap();
    /// assert_eq!(&buf, b"hi");
    /// ```
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = may::os::unix::net::UnixStream::pair()?;
        Ok((UnixStream { inner: a }, UnixStream { inner: b }))
    }

    /// The remote address.
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, _b) = greenlight::net::UnixStream::pair().unwrap();
    /// assert!(a.peer_addr().unwrap().is_unnamed());
    /// ```
    pub fn peer_addr(&self) -> io::Result<UnixSocketAddr> {
        self.inner.peer_addr()
    }

    /// The local address.
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, _b) = greenlight::net::UnixStream::pair().unwrap();
    /// assert!(a.local_addr().unwrap().is_unnamed());
    /// ```
    pub fn local_addr(&self) -> io::Result<UnixSocketAddr> {
        self.inner.local_addr()
    }

    /// Bounds each read (`None`: no limit); see [`TcpStream::set_read_timeout`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Read;
    /// let (mut a, _b) = greenlight::net::UnixStream::pair().unwrap();
    /// a.set_read_timeout(Some(std::time::Duration::from_millis(20))).unwrap();
    /// assert_eq!(a.read(&mut [0; 4]).unwrap_err().kind(), std::io::ErrorKind::TimedOut);
    /// ```
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.inner.set_read_timeout(timeout)
    }

    /// Bounds each write (`None`: no limit).
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, _b) = greenlight::net::UnixStream::pair().unwrap();
    /// a.set_write_timeout(Some(std::time::Duration::from_secs(1))).unwrap();
    /// ```
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.inner.set_write_timeout(timeout)
    }

    /// Shuts down the read half, the write half or both.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Read;
    /// let (a, mut b) = greenlight::net::UnixStream::pair().unwrap();
    /// a.shutdown(std::net::Shutdown::Write).unwrap();
    /// assert_eq!(b.read(&mut [0; 4]).unwrap(), 0);
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.shutdown(how)
    }

    /// Another handle to the same socket.
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, _b) = greenlight::net::UnixStream::pair().unwrap();
    /// let _also_a = a.try_clone().unwrap();
    /// ```
    pub fn try_clone(&self) -> io::Result<UnixStream> {
        self.inner.try_clone().map(|inner| UnixStream { inner })
    }
}

impl Read for UnixStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        parking(|| self.inner.read(buf))
    }
}

impl Write for UnixStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        parking(|| self.inner.write(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_ips_need_no_lookup() {
        assert_eq!(literal_ip("127.0.0.1"), Some([127, 0, 0, 1].into()));
        assert_eq!(literal_ip("[::1]"), Some("::1".parse().unwrap()));
        assert_eq!(literal_ip("::1"), Some("::1".parse().unwrap()));
        assert_eq!(literal_ip("localhost"), None);
        assert_eq!(literal_ip("[localhost]"), None);
    }

    #[test]
    fn host_port_strings() {
        assert_eq!(
            split_host_port("example.com:80").unwrap(),
            ("example.com", 80)
        );
        assert_eq!(split_host_port("[::1]:8080").unwrap(), ("[::1]", 8080));
        assert!(split_host_port("example.com").is_err());
        assert!(split_host_port(":80").is_err());
        assert!(split_host_port("example.com:http").is_err());
        assert_eq!(
            "[::1]:9".to_addrs().unwrap(),
            vec!["[::1]:9".parse::<SocketAddr>().unwrap()]
        );
    }

    #[test]
    fn no_addresses_is_an_error() {
        let err = connect_any(&[], None).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn refused_connections_fall_through_to_the_next_address() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let live = listener.local_addr().unwrap();
        let dead = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let conn = TcpStream::connect([dead, live]).unwrap();
        assert_eq!(conn.peer_addr().unwrap(), live);
        assert!(conn.is_idle_open());
        drop(listener);
    }
}
