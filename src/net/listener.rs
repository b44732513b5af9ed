//! Bind specs and listening sockets.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::io::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener as StdUnixListener;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::{Addr, Stream};
use crate::error::{Error, Result};

/// gunicorn's default port when a bind spec names only a host.
const DEFAULT_PORT: u16 = 8000;

/// The first descriptor systemd passes (`SD_LISTEN_FDS_START`).
const SD_LISTEN_FDS_START: RawFd = 3;

/// A parsed bind spec: where to listen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindSpec {
    /// A host (name or address) and port.
    Tcp {
        /// The host: an IP address or a name to resolve.
        host: String,
        /// The port; 0 asks the kernel for a free one.
        port: u16,
    },
    /// A unix socket path.
    Unix(PathBuf),
    /// An inherited listening descriptor.
    Fd(RawFd),
}

impl FromStr for BindSpec {
    type Err = Error;

    fn from_str(s: &str) -> Result<BindSpec> {
        let bad = |why: &str| Error::Config(format!("invalid bind '{s}': {why}"));
        if let Some(path) = s
            .strip_prefix("unix://")
            .or_else(|| s.strip_prefix("unix:"))
        {
            if path.is_empty() {
                return Err(bad("the unix socket path is empty"));
            }
            return Ok(BindSpec::Unix(PathBuf::from(path)));
        }
        if let Some(fd) = s.strip_prefix("fd://") {
            return match fd.parse::<RawFd>() {
                Ok(n) if n >= 0 => Ok(BindSpec::Fd(n)),
                _ => Err(bad("expected fd://N with N a descriptor number")),
            };
        }
        let s2 = s.strip_prefix("tcp://").unwrap_or(s);
        let port_of = |p: &str| {
            p.parse::<u16>()
                .map_err(|_| bad(&format!("'{p}' is not a port number (0-65535)")))
        };
        let (host, port) = if let Some(rest) = s2.strip_prefix('[') {
            let (host, after) = rest
                .split_once(']')
                .ok_or_else(|| bad("missing ']' after an IPv6 address"))?;
            if host.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(bad(&format!("'{host}' is not an IPv6 address")));
            }
            let port = match after {
                "" => DEFAULT_PORT,
                p => port_of(
                    p.strip_prefix(':')
                        .ok_or_else(|| bad("expected ':PORT' after ']'"))?,
                )?,
            };
            (host.to_owned(), port)
        } else {
            match s2.rsplit_once(':') {
                Some((h, _)) if h.contains(':') => {
                    return Err(bad("write IPv6 addresses in brackets: [::1]:8000"))
                }
                Some(("", p)) => (Ipv4Addr::UNSPECIFIED.to_string(), port_of(p)?),
                Some((h, p)) => (h.to_owned(), port_of(p)?),
                None if s2.is_empty() => return Err(bad("empty")),
                None => (s2.to_owned(), DEFAULT_PORT),
            }
        };
        Ok(BindSpec::Tcp { host, port })
    }
}

impl fmt::Display for BindSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BindSpec::Tcp { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            BindSpec::Tcp { host, port } => write!(f, "{host}:{port}"),
            BindSpec::Unix(p) => write!(f, "unix:{}", p.display()),
            BindSpec::Fd(n) => write!(f, "fd://{n}"),
        }
    }
}

/// Socket options for new listeners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BindOptions {
    /// The listen queue length. Default 2048.
    pub backlog: u32,
    /// Set `SO_REUSEPORT` (several processes accept on one port). Default off.
    pub reuse_port: bool,
}

impl Default for BindOptions {
    fn default() -> Self {
        BindOptions {
            backlog: 2048,
            reuse_port: false,
        }
    }
}

/// A listening socket, not yet attached to the green-thread runtime (so a supervisor can
/// open it once and hand it to worker processes).
#[derive(Debug)]
pub struct Listener {
    inner: Inner,
    /// A unix socket file this listener created and removes when dropped.
    owned_path: Option<PathGuard>,
    /// Whether closing this listener ends the socket: this process bound it and hands it
    /// to no one that outlives it (see [`refuse_handshakes`]). Not so for a descriptor
    /// inherited from systemd, another supervisor or a master.
    sole: bool,
}

/// Removes a unix socket file when dropped (by whichever owner holds it last).
#[derive(Debug)]
struct PathGuard(PathBuf);

impl Drop for PathGuard {
    fn drop(&mut self) {
        // An empty path is a guard that was disarmed (the file belongs to another process).
        if !self.0.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

#[derive(Debug)]
enum Inner {
    Tcp(std::net::TcpListener),
    Unix(StdUnixListener),
}

impl Listener {
    /// The address it listens on (with the real port when bound to port 0).
    pub fn local_addr(&self) -> io::Result<Addr> {
        match &self.inner {
            Inner::Tcp(l) => l.local_addr().map(Addr::Tcp),
            Inner::Unix(l) => l.local_addr().map(|a| Addr::from_unix(&a)),
        }
    }

    /// Wraps an inherited listening descriptor (TCP or unix), taking ownership of it.
    ///
    /// # Safety
    ///
    /// `fd` must be an open descriptor that nothing else owns or will close.
    pub unsafe fn from_raw_fd_checked(fd: RawFd) -> Result<Listener> {
        // SAFETY: the caller hands over sole ownership of `fd`.
        let sock = unsafe { Socket::from_raw_fd(fd) };
        let what = format!("using inherited descriptor fd://{fd}");
        let domain = sock.domain().map_err(|e| Error::io(&what, e))?;
        if !sock.is_listener().map_err(|e| Error::io(&what, e))? {
            return Err(Error::Config(format!(
                "fd://{fd} is not a listening socket"
            )));
        }
        sock.set_cloexec(true).map_err(|e| Error::io(&what, e))?;
        let inner = if domain == Domain::UNIX {
            Inner::Unix(StdUnixListener::from(OwnedFd::from(sock)))
        } else if domain == Domain::IPV4 || domain == Domain::IPV6 {
            Inner::Tcp(std::net::TcpListener::from(OwnedFd::from(sock)))
        } else {
            return Err(Error::Config(format!(
                "fd://{fd} is neither a TCP nor a unix socket"
            )));
        };
        Ok(Listener {
            inner,
            owned_path: None,
            sole: false,
        })
    }

    /// Lets the descriptor survive `exec` (for handing it to a worker process).
    pub fn set_inheritable(&self, yes: bool) -> io::Result<()> {
        let fd = self.as_raw_fd();
        // SAFETY: fcntl on a descriptor we own; no memory is involved.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags < 0 {
                return Err(io::Error::last_os_error());
            }
            let flags = if yes {
                flags & !libc::FD_CLOEXEC
            } else {
                flags | libc::FD_CLOEXEC
            };
            if libc::fcntl(fd, libc::F_SETFD, flags) < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }

    /// Whether this listener removes its unix socket file when dropped. A new listener
    /// owns the file it created; an inherited one does not. A master started by a binary
    /// upgrade takes the file over once the old master is gone, and the old master lets go
    /// of it while the new one runs. Does nothing for a TCP socket or an unnamed unix one.
    pub(crate) fn set_owns_path(&mut self, yes: bool) {
        if !yes {
            if let Some(mut g) = self.owned_path.take() {
                g.0 = PathBuf::new();
            }
            return;
        }
        if let Inner::Unix(l) = &self.inner {
            if let Some(p) = l
                .local_addr()
                .ok()
                .and_then(|a| a.as_pathname().map(Path::to_owned))
            {
                self.owned_path = Some(PathGuard(p));
            }
        }
    }

    /// Whether closing this listener ends the socket (see [`refuse_handshakes`]): true for
    /// one this process bound, false for an inherited one. A master started by a binary
    /// upgrade takes its inherited sockets over once the old master is gone.
    pub(crate) fn set_sole(&mut self, yes: bool) {
        self.sole = yes;
    }

    /// When closing this listener ends the socket, stops the kernel from completing new
    /// handshakes on it (see [`refuse_handshakes`]), so that a stop can take the last
    /// queued connections and close without resetting any. Does nothing on a socket
    /// shared with a process that may go on accepting.
    pub(crate) fn refuse_handshakes(&self) {
        if self.sole {
            refuse_handshakes(self.as_raw_fd());
        }
    }

    /// Gives up the descriptor (for tests of inherited listeners).
    #[cfg(test)]
    fn into_raw_fd_for_test(self) -> RawFd {
        match self.inner {
            Inner::Tcp(l) => l.into_raw_fd(),
            Inner::Unix(l) => l.into_raw_fd(),
        }
    }

    /// Attaches the listener to the green-thread runtime for accepting.
    pub(crate) fn into_acceptor(self) -> io::Result<Acceptor> {
        let kind = match self.inner {
            Inner::Tcp(l) => {
                // SAFETY: the descriptor's ownership moves from `l` into may's listener.
                AcceptorKind::Tcp(unsafe { may::net::TcpListener::from_raw_fd(l.into_raw_fd()) })
            }
            Inner::Unix(l) => {
                // SAFETY: as above.
                AcceptorKind::Unix(unsafe {
                    may::os::unix::net::UnixListener::from_raw_fd(l.into_raw_fd())
                })
            }
        };
        Ok(Acceptor {
            kind,
            _owned_path: self.owned_path,
            sole: self.sole,
        })
    }
}

impl AsRawFd for Listener {
    fn as_raw_fd(&self) -> RawFd {
        match &self.inner {
            Inner::Tcp(l) => l.as_raw_fd(),
            Inner::Unix(l) => l.as_raw_fd(),
        }
    }
}

/// A listener attached to the runtime; accepts park the green thread.
pub(crate) struct Acceptor {
    kind: AcceptorKind,
    _owned_path: Option<PathGuard>,
    /// See [`Listener::sole`].
    sole: bool,
}

enum AcceptorKind {
    Tcp(may::net::TcpListener),
    Unix(may::os::unix::net::UnixListener),
}

impl Acceptor {
    /// Accepts one connection; TCP connections get `TCP_NODELAY`.
    pub(crate) fn accept(&self) -> io::Result<(Stream, Addr)> {
        match &self.kind {
            AcceptorKind::Tcp(l) => {
                let (s, a) = l.accept()?;
                // Small responses must not wait for the peer's delayed ACK (40 ms on loopback).
                s.set_nodelay(true)?;
                Ok((Stream::Tcp(s), Addr::Tcp(a)))
            }
            AcceptorKind::Unix(l) => {
                let (s, a) = l.accept()?;
                Ok((Stream::Unix(s), Addr::from_unix(&a)))
            }
        }
    }

    /// As [`Listener::refuse_handshakes`]; whether the filter is on.
    pub(crate) fn refuse_handshakes(&self) -> bool {
        self.sole && refuse_handshakes(self.as_raw_fd())
    }

    fn as_raw_fd(&self) -> RawFd {
        match &self.kind {
            AcceptorKind::Tcp(l) => l.as_raw_fd(),
            AcceptorKind::Unix(l) => l.as_raw_fd(),
        }
    }

    /// Whether a connection waits to be accepted (checked without blocking).
    pub(crate) fn has_pending(&self) -> bool {
        let mut p = libc::pollfd {
            fd: self.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll reads and writes the one pollfd we own; a zero timeout never blocks.
        let n = unsafe { libc::poll(&mut p, 1, 0) };
        n > 0 && p.revents & libc::POLLIN != 0
    }

    /// Takes one connection the kernel already accepted into the listen backlog, without
    /// parking: `None` when the backlog is empty. A stopping server serves these before it
    /// closes the listener, since closing the last descriptor of a listening socket resets
    /// every connection still queued on it.
    pub(crate) fn try_accept(&self) -> io::Result<Option<(Stream, Addr)>> {
        // may made the listeners non-blocking, so these accepts return `WouldBlock` instead
        // of waiting.
        let accepted = match &self.kind {
            AcceptorKind::Tcp(l) => l.inner().accept().map(|(s, a)| {
                // SAFETY: the new descriptor's ownership moves into may's stream.
                let s = unsafe { may::net::TcpStream::from_raw_fd(s.into_raw_fd()) };
                let _ = s.set_nodelay(true);
                (Stream::Tcp(s), Addr::Tcp(a))
            }),
            AcceptorKind::Unix(l) => {
                // SAFETY: the descriptor stays open (owned by `l`) while borrowed here, and
                // `ManuallyDrop` never closes it.
                let l = std::mem::ManuallyDrop::new(unsafe {
                    StdUnixListener::from_raw_fd(l.as_raw_fd())
                });
                l.accept().map(|(s, a)| {
                    // SAFETY: the new descriptor's ownership moves into may's stream.
                    let s = unsafe { may::os::unix::net::UnixStream::from_raw_fd(s.into_raw_fd()) };
                    (Stream::Unix(s), Addr::from_unix(&a))
                })
            }
        };
        match accepted {
            Ok(c) => Ok(Some(c)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Makes the kernel drop every new client's SYN on listening TCP socket `fd` from now on
/// (a classic BPF socket filter): no new handshake starts (the client retries after a
/// second and, once the socket is closed, is refused), while handshakes already under way
/// complete (their ACKs pass) and connections in the accept queue stay there to be
/// accepted. Returns whether the filter is on.
///
/// Closing the last descriptor of a listening socket resets every connection still queued
/// on it, and a client whose handshake completed a moment before the close has sent its
/// request by then: it sees a reset instead of an answer or a refusal. A stop that refuses
/// handshakes first, lets those under way finish, takes what is queued, then closes, loses
/// none. Connections accepted from now on inherit the filter, which drops nothing they
/// receive (a bare SYN has no place on an open connection).
///
/// Only for TCP: a unix socket's `connect` passes no packet filter (there a stop keeps a
/// window of microseconds between its last accept and its close). A failure is logged and
/// changes nothing else.
fn refuse_handshakes(fd: RawFd) -> bool {
    // SAFETY: callers pass the descriptor of a listener they hold for this whole call.
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    let sock = socket2::SockRef::from(&fd);
    if !matches!(sock.domain(), Ok(d) if d == Domain::IPV4 || d == Domain::IPV6) {
        return false;
    }
    let op = |code: u32| code as u16;
    // A TCP socket's filter sees the packet from its TCP header: byte 13 holds the flags.
    // SYN without ACK (a new client's first packet): drop; anything else: keep it whole.
    let refuse_syn = [
        socket2::SockFilter::new(op(libc::BPF_LD | libc::BPF_B | libc::BPF_ABS), 0, 0, 13),
        socket2::SockFilter::new(op(libc::BPF_ALU | libc::BPF_AND | libc::BPF_K), 0, 0, 0x12),
        socket2::SockFilter::new(op(libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K), 0, 1, 0x02),
        socket2::SockFilter::new(op(libc::BPF_RET | libc::BPF_K), 0, 0, 0),
        socket2::SockFilter::new(op(libc::BPF_RET | libc::BPF_K), 0, 0, u32::MAX),
    ];
    match sock.attach_filter(&refuse_syn) {
        Ok(()) => true,
        Err(e) => {
            log::warn!("cannot stop new handshakes before closing a listener: {e}");
            false
        }
    }
}

/// Binds one spec.
pub fn bind(spec: &BindSpec, opts: &BindOptions) -> Result<Listener> {
    match spec {
        BindSpec::Tcp { host, port } => {
            let addr = resolve(host, *port)?;
            bind_tcp(addr, opts)
        }
        BindSpec::Unix(path) => bind_unix(path, opts),
        // SAFETY: the user named this descriptor as ours to serve on.
        BindSpec::Fd(fd) => unsafe { Listener::from_raw_fd_checked(*fd) },
    }
}

/// Binds every spec, or takes the sockets systemd passed (socket activation).
///
/// With `LISTEN_FDS`/`LISTEN_PID` naming this process, the inherited descriptors are used
/// and `specs` is ignored, as gunicorn does. They are taken once per process; child
/// processes ignore them, since `LISTEN_PID` names this one (the environment is left
/// as it is: changing it is unsound once threads exist).
pub fn bind_all(specs: &[String], opts: &BindOptions) -> Result<Vec<Listener>> {
    if let Some(listeners) = systemd_listeners()? {
        return Ok(listeners);
    }
    let mut out = Vec::with_capacity(specs.len());
    for s in specs {
        out.push(bind(&s.parse()?, opts)?);
    }
    Ok(out)
}

fn systemd_listeners() -> Result<Option<Vec<Listener>>> {
    let (Ok(pid), Ok(n)) = (std::env::var("LISTEN_PID"), std::env::var("LISTEN_FDS")) else {
        return Ok(None);
    };
    if pid.trim().parse::<u32>().ok() != Some(std::process::id()) {
        return Ok(None);
    }
    let n: RawFd = n
        .trim()
        .parse()
        .map_err(|_| Error::Config(format!("LISTEN_FDS='{n}' is not a number")))?;
    // The descriptors have one owner: a second server in this process binds its own.
    static TAKEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if TAKEN.swap(true, std::sync::atomic::Ordering::SeqCst) {
        return Ok(None);
    }
    let mut out = Vec::new();
    for fd in SD_LISTEN_FDS_START..SD_LISTEN_FDS_START + n {
        // SAFETY: systemd passed these descriptors to this process (LISTEN_PID matched).
        out.push(unsafe { Listener::from_raw_fd_checked(fd)? });
    }
    log::info!("using {n} socket(s) from systemd socket activation");
    Ok(Some(out))
}

fn resolve(host: &str, port: u16) -> Result<SocketAddr> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let what = format!("resolving {host}");
    (host, port)
        .to_socket_addrs()
        .map_err(|e| Error::io(&what, e))?
        .next()
        .ok_or_else(|| Error::Config(format!("{host} resolves to no address")))
}

fn in_use(what: impl fmt::Display, e: io::Error) -> Error {
    if e.kind() == io::ErrorKind::AddrInUse {
        Error::io(format!("address {what} is already in use"), e)
    } else {
        Error::io(format!("binding {what}"), e)
    }
}

/// Builds a TCP listener: `SO_REUSEADDR` (restart while old connections linger in
/// TIME_WAIT), `SO_REUSEPORT` only when asked, the configured backlog.
pub(crate) fn bind_tcp(addr: SocketAddr, opts: &BindOptions) -> Result<Listener> {
    let what = |e| in_use(addr, e);
    let sock =
        Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).map_err(what)?;
    sock.set_reuse_address(true).map_err(what)?;
    if opts.reuse_port {
        sock.set_reuse_port(true).map_err(what)?;
    }
    sock.bind(&addr.into()).map_err(what)?;
    sock.listen(backlog(opts)).map_err(what)?;
    Ok(Listener {
        inner: Inner::Tcp(sock.into()),
        owned_path: None,
        sole: true,
    })
}

fn backlog(opts: &BindOptions) -> i32 {
    opts.backlog.clamp(1, i32::MAX as u32) as i32
}

/// Builds a unix listener. A stale socket file (nothing accepts on it) is replaced; a live
/// one is "already in use"; any other file at the path is left alone and reported.
fn bind_unix(path: &Path, opts: &BindOptions) -> Result<Listener> {
    let shown = format!("unix:{}", path.display());
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(Error::Config(format!(
                "cannot bind {shown}: the path exists and is not a socket"
            )));
        }
        match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => return Err(in_use(&shown, io::Error::from(io::ErrorKind::AddrInUse))),
            Err(_) => {
                log::info!("removing stale socket file {}", path.display());
                std::fs::remove_file(path).map_err(|e| Error::io(format!("binding {shown}"), e))?;
            }
        }
    }
    let what = |e| in_use(&shown, e);
    let sock = Socket::new(Domain::UNIX, Type::STREAM, None).map_err(what)?;
    sock.bind(&SockAddr::unix(path).map_err(what)?)
        .map_err(what)?;
    sock.listen(backlog(opts)).map_err(what)?;
    Ok(Listener {
        inner: Inner::Unix(StdUnixListener::from(OwnedFd::from(sock))),
        owned_path: Some(PathGuard(path.to_owned())),
        sole: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(host: &str, port: u16) -> BindSpec {
        BindSpec::Tcp {
            host: host.into(),
            port,
        }
    }

    /// A listener this process bound stops completing handshakes once it refuses them,
    /// while a connection already queued is still there to accept; an inherited one is
    /// left as it is (another process may go on serving on it).
    #[test]
    fn refused_handshakes_keep_the_queue_and_complete_no_new_one() {
        use std::net::TcpStream;
        use std::time::Duration;
        let l = bind_tcp("127.0.0.1:0".parse().unwrap(), &BindOptions::default()).unwrap();
        let Addr::Tcp(addr) = l.local_addr().unwrap() else {
            unreachable!()
        };
        let mut queued = TcpStream::connect(addr).unwrap();
        l.refuse_handshakes();
        let late = TcpStream::connect_timeout(&addr, Duration::from_millis(300));
        assert!(late.is_err(), "a handshake completed after the refusal");
        let Inner::Tcp(std_l) = &l.inner else {
            unreachable!()
        };
        let (mut served, _) = std_l.accept().unwrap();
        std::io::Write::write_all(&mut queued, b"x").unwrap();
        let mut b = [0u8; 1];
        std::io::Read::read_exact(&mut served, &mut b).unwrap();
        assert_eq!(&b, b"x", "the queued connection still carries data");

        let other = bind_tcp("127.0.0.1:0".parse().unwrap(), &BindOptions::default()).unwrap();
        let Addr::Tcp(other_addr) = other.local_addr().unwrap() else {
            unreachable!()
        };
        // SAFETY: the descriptor moves out of `other` into the inherited listener.
        let inherited =
            unsafe { Listener::from_raw_fd_checked(other.into_raw_fd_for_test()) }.unwrap();
        inherited.refuse_handshakes();
        TcpStream::connect_timeout(&other_addr, Duration::from_secs(5))
            .expect("an inherited listener still completes handshakes");
    }

    #[test]
    fn parses_gunicorn_bind_specs() {
        let cases = [
            ("127.0.0.1:8000", tcp("127.0.0.1", 8000)),
            ("tcp://127.0.0.1:81", tcp("127.0.0.1", 81)),
            ("[::1]:9000", tcp("::1", 9000)),
            ("[::]", tcp("::", 8000)),
            (":5000", tcp("0.0.0.0", 5000)),
            ("localhost", tcp("localhost", 8000)),
            ("example.org:0", tcp("example.org", 0)),
            ("unix:/tmp/a.sock", BindSpec::Unix("/tmp/a.sock".into())),
            ("unix:///tmp/a.sock", BindSpec::Unix("/tmp/a.sock".into())),
            ("fd://3", BindSpec::Fd(3)),
        ];
        for (s, want) in cases {
            assert_eq!(s.parse::<BindSpec>().unwrap(), want, "{s}");
        }
    }

    #[test]
    fn rejects_bad_specs_with_the_reason() {
        for (s, why) in [
            ("127.0.0.1:http", "not a port"),
            ("127.0.0.1:65536", "not a port"),
            ("::1:80", "brackets"),
            ("[::1", "missing ']'"),
            ("[nothost]:80", "not an IPv6"),
            ("unix:", "empty"),
            ("fd://x", "fd://N"),
            ("", "empty"),
        ] {
            let e = s.parse::<BindSpec>().unwrap_err().to_string();
            assert!(e.contains(why), "{s:?}: {e}");
            assert!(e.contains(&format!("'{s}'")), "{s:?}: {e}");
        }
    }

    #[test]
    fn display_round_trips() {
        for s in ["127.0.0.1:80", "[::1]:80", "unix:/x/y", "fd://4"] {
            assert_eq!(s.parse::<BindSpec>().unwrap().to_string(), s);
        }
    }

    #[test]
    fn busy_port_is_an_error_that_says_so() {
        let a = bind(&tcp("127.0.0.1", 0), &BindOptions::default()).unwrap();
        let port = a.local_addr().unwrap().port().unwrap();
        assert_ne!(port, 0);
        let e = bind(&tcp("127.0.0.1", port), &BindOptions::default()).unwrap_err();
        assert!(
            e.to_string()
                .contains(&format!("address 127.0.0.1:{port} is already in use")),
            "{e}"
        );
    }

    #[test]
    fn unix_socket_file_is_replaced_when_stale_and_removed_on_drop() {
        let dir = std::env::temp_dir().join(format!("gl-net-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.sock");
        // A stale file: bound once, then the socket closed without removing the file.
        drop(StdUnixListener::bind(&path).unwrap());
        assert!(path.exists());
        let spec = BindSpec::Unix(path.clone());
        let l = bind(&spec, &BindOptions::default()).unwrap();
        // While it is live, a second bind is refused.
        let e = bind(&spec, &BindOptions::default()).unwrap_err();
        assert!(e.to_string().contains("already in use"), "{e}");
        drop(l);
        assert!(!path.exists());
        // A regular file is never deleted.
        std::fs::write(&path, b"data").unwrap();
        let e = bind(&spec, &BindOptions::default()).unwrap_err();
        assert!(e.to_string().contains("not a socket"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn fd_spec_requires_a_listening_socket() {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        let fd = s.into_raw_fd();
        let e = bind(&BindSpec::Fd(fd), &BindOptions::default()).unwrap_err();
        assert!(e.to_string().contains("not a listening socket"), "{e}");
    }
}
