//! Connected streams (TCP or unix) and their addresses.

use std::fmt;
use std::fs::File;
use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::unix::io::{AsRawFd, RawFd};
use std::path::PathBuf;
use std::time::Duration;

use std::sync::Arc;

use may::io::{WaitIo, WaitIoWaker};
use may::net::TcpStream;
use may::os::unix::net::UnixStream;

use super::TlsStream;

/// The address of one end of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addr {
    /// An IP address and port.
    Tcp(SocketAddr),
    /// A unix socket path (empty for an unnamed peer).
    Unix(PathBuf),
}

impl Addr {
    /// The IP address and port, for TCP.
    pub fn as_tcp(&self) -> Option<SocketAddr> {
        match self {
            Addr::Tcp(a) => Some(*a),
            Addr::Unix(_) => None,
        }
    }

    /// The port, for TCP.
    pub fn port(&self) -> Option<u16> {
        self.as_tcp().map(|a| a.port())
    }

    pub(crate) fn from_unix(a: &std::os::unix::net::SocketAddr) -> Addr {
        Addr::Unix(a.as_pathname().map(PathBuf::from).unwrap_or_default())
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Addr::Tcp(a) => write!(f, "{a}"),
            Addr::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// A connected stream: TCP or unix, or TLS over either. Reads and writes park the green
/// thread, not the OS thread; the non-blocking call is tried first.
#[derive(Debug)]
pub enum Stream {
    /// A TCP connection.
    Tcp(TcpStream),
    /// A unix-socket connection.
    Unix(UnixStream),
    /// A TLS connection over one of the others.
    Tls(Box<TlsStream>),
}

impl Stream {
    /// Sets the read timeout (`None`: wait forever).
    pub fn set_read_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_read_timeout(d),
            Stream::Unix(s) => s.set_read_timeout(d),
            Stream::Tls(s) => s.get_ref().set_read_timeout(d),
        }
    }

    /// Sets the write timeout (`None`: wait forever).
    pub fn set_write_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_write_timeout(d),
            Stream::Unix(s) => s.set_write_timeout(d),
            Stream::Tls(s) => s.get_ref().set_write_timeout(d),
        }
    }

    /// Shuts down the read, write or both halves. A TLS stream sends `close_notify`
    /// first.
    pub fn shutdown(&mut self, how: Shutdown) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.shutdown(how),
            Stream::Unix(s) => s.shutdown(how),
            Stream::Tls(s) => s.shutdown(how),
        }
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<Addr> {
        match self {
            Stream::Tcp(s) => s.peer_addr().map(Addr::Tcp),
            Stream::Unix(s) => s.peer_addr().map(|a| Addr::from_unix(&a)),
            Stream::Tls(s) => s.get_ref().peer_addr(),
        }
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<Addr> {
        match self {
            Stream::Tcp(s) => s.local_addr().map(Addr::Tcp),
            Stream::Unix(s) => s.local_addr().map(|a| Addr::from_unix(&a)),
            Stream::Tls(s) => s.get_ref().local_addr(),
        }
    }

    /// Whether this is a TCP stream (TLS over TCP included).
    pub fn is_tcp(&self) -> bool {
        match self {
            Stream::Tcp(_) => true,
            Stream::Unix(_) => false,
            Stream::Tls(s) => s.get_ref().is_tcp(),
        }
    }

    /// Whether this is a TLS stream.
    pub fn is_tls(&self) -> bool {
        matches!(self, Stream::Tls(_))
    }

    /// Sends up to `len` bytes of `file` from `offset` with `sendfile(2)` (no copy through
    /// user space), parking the green thread while the socket is full, at most the write
    /// timeout at a time. Returns the bytes sent (0 at the file's end). A TLS stream must
    /// encrypt what it sends, so it answers [`io::ErrorKind::Unsupported`]: read the file
    /// and write it instead.
    pub(crate) fn send_file(&self, file: &File, offset: u64, len: usize) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => super::sendfile::send_file(s, s.write_timeout()?, file, offset, len),
            Stream::Unix(s) => super::sendfile::send_file(s, s.write_timeout()?, file, offset, len),
            Stream::Tls(_) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "sendfile through TLS",
            )),
        }
    }
}

/// Wakes a green thread parked in [`Stream::wait_readable`] (or makes its next wait
/// return at once). Cheap to clone; never blocks; harmless after the stream closed.
#[derive(Clone)]
pub(crate) struct IoWaker(Arc<WaitIoWaker>);

impl IoWaker {
    pub(crate) fn wake(&self) {
        self.0.wakeup();
    }
}

impl fmt::Debug for IoWaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IoWaker")
    }
}

/// A non-blocking read's result: `None` for "nothing there now".
pub(crate) fn ready(r: io::Result<usize>) -> io::Result<Option<usize>> {
    match r {
        Ok(n) => Ok(Some(n)),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
        Err(e) => Err(e),
    }
}

/// Waiting for readability as well as for other events, without a timer per wait:
/// `try_read` until it finds nothing, check the other sources, then `wait_readable`.
/// Readiness that comes after the `try_read`, and a [`IoWaker::wake`] that comes after
/// the other sources were checked, end the wait; so nothing is missed, and nothing read
/// is lost (there is no read to cancel). Writes in between may end the next wait early
/// (a spurious wake-up: the caller loops).
impl Stream {
    /// Reads what has arrived, without waiting: `Ok(None)` when nothing has (`Ok(Some(0))`
    /// at the end of the stream). TLS: decrypts what is buffered first.
    pub(crate) fn try_read(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        loop {
            // may's sockets are non-blocking underneath: the inner read never waits.
            let r = match self {
                Stream::Tcp(s) => s.inner_mut().read(buf),
                Stream::Unix(s) => s.inner_mut().read(buf),
                Stream::Tls(s) => return s.try_read(buf),
            };
            match r {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => return ready(r),
            }
        }
    }

    /// Parks the green thread until the socket is readable (or its read side was shut
    /// down) or its [`waker`](Self::waker) is called. Only on a green thread; may return
    /// early.
    pub(crate) fn wait_readable(&self) {
        crate::green::watchdog::parking(|| match self {
            Stream::Tcp(s) => drop(s.wait_io()),
            Stream::Unix(s) => drop(s.wait_io()),
            Stream::Tls(s) => s.get_ref().wait_readable(),
        })
    }

    /// Writes what the socket takes now, without parking (`Ok(None)`: nothing now), and
    /// unlike a parking write without clearing the readiness that arrived since the last
    /// read: a [`wait_readable`](Self::wait_readable) after it still sees bytes that came
    /// in meanwhile. TLS: always `Ok(None)` (its records are written by a parking write).
    pub(crate) fn try_write(&mut self, buf: &[u8]) -> io::Result<Option<usize>> {
        loop {
            // may's sockets are non-blocking underneath: the inner write never waits.
            let r = match self {
                Stream::Tcp(s) => s.inner_mut().write(buf),
                Stream::Unix(s) => s.inner_mut().write(buf),
                Stream::Tls(_) => return Ok(None),
            };
            match r {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => return ready(r),
            }
        }
    }

    /// What ends a [`wait_readable`](Self::wait_readable) from elsewhere.
    pub(crate) fn waker(&self) -> IoWaker {
        IoWaker(Arc::new(match self {
            Stream::Tcp(s) => s.waker(),
            Stream::Unix(s) => s.waker(),
            Stream::Tls(s) => return s.get_ref().waker(),
        }))
    }
}

impl Read for Stream {
    #[inline]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    #[inline]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    #[inline]
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write_vectored(bufs),
            Stream::Unix(s) => s.write_vectored(bufs),
            Stream::Tls(s) => s.write_vectored(bufs),
        }
    }

    /// Plain sockets buffer nothing; TLS writes out any records still queued.
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(_) | Stream::Unix(_) => Ok(()),
            Stream::Tls(s) => s.flush(),
        }
    }
}

impl AsRawFd for Stream {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
            Stream::Tls(s) => s.get_ref().as_raw_fd(),
        }
    }
}

/// A connection's descriptor, held by the server's registry beside the [`Stream`] that owns
/// it: to shut the socket down when the server stops, or to close it for an owner that will
/// never run again.
///
/// # Contract
///
/// The number is only meaningful while the owning stream is open. Whoever holds a
/// `SocketRef` forgets it before that stream is closed (the server's registry removes the
/// connection's entry, under its lock, before the stream drops), so the calls below never
/// reach a descriptor number the kernel has given to something else.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SocketRef(RawFd);

impl SocketRef {
    /// The descriptor of `stream` (beneath TLS).
    pub(crate) fn of(stream: &Stream) -> SocketRef {
        SocketRef(stream.as_raw_fd())
    }

    /// Shuts down one or both halves of the socket; the owner's next read sees end-of-stream
    /// (and its next write fails, for `Both`). Errors (the peer already gone) are ignored.
    pub(crate) fn shutdown(self, how: Shutdown) {
        let how = match how {
            Shutdown::Read => libc::SHUT_RD,
            Shutdown::Write => libc::SHUT_WR,
            Shutdown::Both => libc::SHUT_RDWR,
        };
        // SAFETY: shutdown(2) takes no pointers and does not release the descriptor; by the
        // type's contract the number still belongs to the owning stream.
        unsafe { libc::shutdown(self.0, how) };
    }

    /// Closes the descriptor of a stream whose owner ended without dropping it (a green
    /// thread that overflowed its stack is abandoned, not unwound). Call it once, and only
    /// when the owning stream can never be used or dropped again.
    pub(crate) fn close_abandoned(self) {
        // SAFETY: by the type's contract and this method's, the owning stream still holds the
        // descriptor (it was never dropped) but will never touch it again, so closing it here
        // is the one close it gets.
        unsafe { libc::close(self.0) };
    }
}
