//! `StreamServer`: listeners, the accept loop, the connection limit, graceful stop.

use std::collections::HashMap;
use std::io;
use std::os::unix::io::AsRawFd;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use may::coroutine::JoinHandle;
use std::sync::Mutex;

use may::sync::{Semphore, SyncFlag};

use super::conn::{Conn, Slot, BUSY, CLOSING, IDLE};
use super::{is_cancel, panic_message};
use crate::error::{Error, Result};
use crate::green::runtime::ensure_configured;
use crate::net::{self, Addr, BindOptions, Listener, TlsConfig};

type Handler = dyn Fn(Conn, Addr) + Send + Sync + 'static;

/// How long the accept loop waits before retrying after running out of descriptors.
const EMFILE_BACKOFF: Duration = Duration::from_millis(100);
/// How often a stop checks whether connections have finished.
const STOP_POLL: Duration = Duration::from_millis(5);
/// How often connections abandoned by a stack overflow are looked for.
const REAP_EVERY: Duration = Duration::from_millis(250);
/// After the grace period, how long cancelled connections get to unwind.
const CANCEL_WAIT: Duration = Duration::from_secs(2);

/// Where a server listens: one bind spec or several (see [`crate::net`] for the forms).
pub trait Binds {
    /// The bind specs.
    fn into_binds(self) -> Vec<String>;
}

impl Binds for &str {
    fn into_binds(self) -> Vec<String> {
        vec![self.to_owned()]
    }
}

impl Binds for String {
    fn into_binds(self) -> Vec<String> {
        vec![self]
    }
}

impl Binds for Vec<String> {
    fn into_binds(self) -> Vec<String> {
        self
    }
}

impl Binds for &[&str] {
    fn into_binds(self) -> Vec<String> {
        self.iter().map(|s| (*s).to_owned()).collect()
    }
}

impl<const N: usize> Binds for [&str; N] {
    fn into_binds(self) -> Vec<String> {
        self.iter().map(|s| (*s).to_owned()).collect()
    }
}

/// Options of a [`StreamServer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerOptions {
    /// Socket options for the listeners it binds.
    pub bind: BindOptions,
    /// Most connections served at once (gevent's `spawn=Pool(n)`); 0 means no limit. When
    /// full, the server stops accepting and the kernel backlog holds new connections.
    pub max_connections: usize,
    /// Connections accepted in a row before the accept loop yields to other green threads
    /// (gevent's `max_accept`).
    pub max_accept: usize,
    /// How long a graceful stop waits for running handlers before cancelling them.
    pub graceful_timeout: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            bind: BindOptions::default(),
            max_connections: 0,
            max_accept: 100,
            graceful_timeout: Duration::from_secs(30),
        }
    }
}

/// A server for any stream protocol: gevent's `StreamServer`.
///
/// The handler gets each connection and its peer address, in a green thread of its own.
/// With [`tls`](Self::tls), the connection is TLS ([`net::Stream::Tls`]).
pub struct StreamServer {
    binds: Vec<String>,
    listeners: Vec<Listener>,
    handler: Arc<Handler>,
    opts: ServerOptions,
    tls: Option<TlsConfig>,
    /// A setting that could not be used, reported by `start`.
    error: Option<Error>,
}

impl StreamServer {
    /// A server that will listen on `bind` (one spec or several) and run `handler` for
    /// every connection.
    pub fn new<H>(bind: impl Binds, handler: H) -> Self
    where
        H: Fn(Conn, Addr) + Send + Sync + 'static,
    {
        StreamServer {
            binds: bind.into_binds(),
            listeners: Vec::new(),
            handler: Arc::new(handler),
            opts: ServerOptions::default(),
            tls: None,
            error: None,
        }
    }

    /// A server on listeners that are already open (inherited, or bound by the caller).
    pub fn from_listeners<H>(listeners: Vec<Listener>, handler: H) -> Self
    where
        H: Fn(Conn, Addr) + Send + Sync + 'static,
    {
        StreamServer {
            binds: Vec::new(),
            listeners,
            handler: Arc::new(handler),
            opts: ServerOptions::default(),
            tls: None,
            error: None,
        }
    }

    /// Replaces all options.
    pub fn options(mut self, opts: ServerOptions) -> Self {
        self.opts = opts;
        self
    }

    /// Sets the most connections served at once (0: no limit).
    pub fn max_connections(mut self, n: usize) -> Self {
        self.opts.max_connections = n;
        self
    }

    /// Sets the listen backlog for listeners this server binds.
    pub fn backlog(mut self, n: u32) -> Self {
        self.opts.bind.backlog = n;
        self
    }

    /// Sets `SO_REUSEPORT` on listeners this server binds.
    pub fn reuse_port(mut self, yes: bool) -> Self {
        self.opts.bind.reuse_port = yes;
        self
    }

    /// Sets the connections accepted in a row before yielding.
    pub fn max_accept(mut self, n: usize) -> Self {
        self.opts.max_accept = n.max(1);
        self
    }

    /// Serves TLS: each connection is wrapped before the handler gets it, and the handshake
    /// runs in the connection's green thread, on its first read or write (or when the
    /// handler calls [`net::TlsStream::handshake`]).
    pub fn tls(mut self, tls: TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Sets the grace period of a stop triggered by a signal in [`serve_forever`](Self::serve_forever).
    pub fn graceful_timeout(mut self, d: Duration) -> Self {
        self.opts.graceful_timeout = d;
        self
    }

    /// Binds (if not done yet) and starts accepting in the background.
    pub fn start(self) -> Result<ServerHandle> {
        ensure_configured();
        if let Some(e) = self.error {
            return Err(e);
        }
        let mut listeners = self.listeners;
        listeners.extend(net::bind_all(&self.binds, &self.opts.bind)?);
        if listeners.is_empty() {
            return Err(Error::Config("nothing to listen on: no bind given".into()));
        }
        let local_addrs = listeners
            .iter()
            .map(|l| l.local_addr())
            .collect::<io::Result<Vec<_>>>()
            .map_err(|e| Error::io("reading the listening address", e))?;
        let shared = Arc::new(Shared {
            stopping: AtomicBool::new(false),
            force: AtomicBool::new(false),
            active: AtomicUsize::new(0),
            abandoned: AtomicU64::new(0),
            next_id: AtomicU64::new(1),
            conns: Mutex::new(HashMap::new()),
            limit: (self.opts.max_connections > 0)
                .then(|| Semphore::new(self.opts.max_connections)),
            acceptors: Mutex::new(Vec::new()),
            stopped: SyncFlag::new(),
            stop_started: AtomicBool::new(false),
            graceful_timeout: self.opts.graceful_timeout,
        });
        let mut handles: Vec<(JoinHandle<()>, Addr)> = Vec::with_capacity(listeners.len());
        for (listener, addr) in listeners.into_iter().zip(&local_addrs) {
            let acceptor = listener
                .into_acceptor()
                .map_err(|e| Error::io(format!("listening on {addr}"), e))?;
            let shared2 = shared.clone();
            let handler = self.handler.clone();
            let tls = self.tls.clone();
            let max_accept = self.opts.max_accept.max(1);
            // SAFETY: the accept loop uses no thread-local storage and only may-aware
            // blocking calls; its stack needs are small and fixed.
            let h = unsafe {
                may::coroutine::Builder::new()
                    .name(format!("accept {addr}"))
                    .spawn(move || accept_loop(acceptor, shared2, handler, tls, max_accept))
            }
            .map_err(|e| Error::io("starting the accept loop", e))?;
            handles.push((h, addr.clone()));
        }
        *shared.acceptors.lock().expect("acceptors lock") = handles;
        let reaper = shared.clone();
        // SAFETY: a plain loop of sleeps and registry scans; no thread-local storage.
        unsafe {
            may::coroutine::Builder::new()
                .name("reaper".into())
                .spawn(move || {
                    while !reaper.is_stopping() {
                        may::coroutine::sleep(REAP_EVERY);
                        reaper.reap_abandoned();
                    }
                })
        }
        .map_err(|e| Error::io("starting the connection reaper", e))?;
        for a in &local_addrs {
            log::info!(
                "Listening at: {} ({})",
                url_of(a, self.tls.is_some()),
                std::process::id()
            );
        }
        Ok(ServerHandle {
            shared,
            local_addrs: Arc::new(local_addrs),
        })
    }

    /// Serves until SIGTERM or SIGINT (graceful stop within the grace period; a second
    /// SIGINT stops at once), or until another holder of the handle stops it.
    pub fn serve_forever(self) -> Result<()> {
        let grace = self.opts.graceful_timeout;
        let handle = self.start()?;
        let _signals = super::signals::install(handle.clone(), grace)?;
        handle.join();
        Ok(())
    }
}

/// `http://` (or `https://`) for TCP listeners, `unix:` for unix ones, as gunicorn logs
/// them.
pub(crate) fn url_of(a: &Addr, tls: bool) -> String {
    match a {
        Addr::Tcp(_) if tls => format!("https://{a}"),
        Addr::Tcp(_) => format!("http://{a}"),
        Addr::Unix(_) => a.to_string(),
    }
}

fn accept_loop(
    acceptor: net::Acceptor,
    shared: Arc<Shared>,
    handler: Arc<Handler>,
    tls: Option<TlsConfig>,
    max_accept: usize,
) {
    let mut in_a_row = 0usize;
    let mut out_of_fds = false;
    loop {
        if shared.is_stopping() {
            return;
        }
        // Take a connection slot first: when the server is full, stop accepting and let the
        // kernel's backlog hold new connections until one finishes.
        let permit = shared.limit.as_ref().map(|s| {
            s.wait();
            Permit(s)
        });
        if shared.is_stopping() {
            return;
        }
        let (stream, peer) = match acceptor.accept() {
            Ok(c) => c,
            Err(e) => {
                drop(permit);
                match e.raw_os_error() {
                    Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) => {
                        if !out_of_fds {
                            log::error!(
                                "accept failed: {e}; pausing accepts and retrying every {} ms",
                                EMFILE_BACKOFF.as_millis()
                            );
                            out_of_fds = true;
                        }
                        may::coroutine::sleep(EMFILE_BACKOFF);
                    }
                    // The peer gave up before we accepted: nothing to do.
                    Some(libc::ECONNABORTED | libc::EPROTO | libc::EINTR | libc::EPERM) => {}
                    _ => {
                        log::error!("accept failed: {e}");
                        may::coroutine::sleep(Duration::from_millis(10));
                    }
                }
                continue;
            }
        };
        if shared.is_stopping() {
            // The stop path's wake-up connection, or a real client that got in as the
            // listener was closing (or, on a listener shared with other worker processes,
            // chose this one): serve it rather than drop it, then stop accepting. A
            // wake-up connection closes without a request and costs nothing.
            std::mem::forget(permit);
            spawn_conn(&shared, &handler, tls.as_ref(), stream, peer);
            return;
        }
        if out_of_fds {
            log::info!("accepting again");
            out_of_fds = false;
        }
        // The permit travels into the connection's green thread as a count, released there.
        std::mem::forget(permit);
        spawn_conn(&shared, &handler, tls.as_ref(), stream, peer);
        in_a_row += 1;
        if in_a_row >= max_accept {
            in_a_row = 0;
            may::coroutine::yield_now();
        }
    }
}

/// Releases a connection slot when dropped.
struct Permit<'a>(&'a Semphore);

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.0.post();
    }
}

/// Counts the connection out (and releases its slot) however its green thread ends.
struct Active(Arc<Shared>);

impl Drop for Active {
    fn drop(&mut self) {
        if let Some(s) = &self.0.limit {
            s.post();
        }
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

fn spawn_conn(
    shared: &Arc<Shared>,
    handler: &Arc<Handler>,
    tls: Option<&TlsConfig>,
    stream: net::Stream,
    peer: Addr,
) {
    shared.active.fetch_add(1, Ordering::SeqCst);
    let guard = Active(shared.clone());
    let handler = handler.clone();
    let tls = tls.cloned();
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let slot = Arc::new(Slot {
        state: std::sync::atomic::AtomicU8::new(BUSY),
        fd: stream.as_raw_fd(),
        join: std::sync::Mutex::new(None),
        peer: peer.to_string(),
    });
    // Registered before it can run, so that it is known however quickly it ends.
    shared.register(id, slot.clone());
    let (shared2, slot2) = (shared.clone(), slot.clone());
    // SAFETY: handlers must follow the green-thread rules documented in `crate::green`
    // (no thread-local storage across a yield, no blocking std calls).
    let r = unsafe {
        may::coroutine::Builder::new().spawn(move || {
            let _guard = guard;
            let stream = match tls {
                // No I/O yet: the handshake runs on the handler's first read or write.
                Some(tls) => match tls.wrap(stream) {
                    Ok(s) => s,
                    Err(e) => {
                        shared2.deregister(id);
                        log::error!("cannot start TLS for {peer}: {e}");
                        return;
                    }
                },
                None => stream,
            };
            let me = slot2.clone();
            let conn = Conn::new(stream, slot2, shared2, id);
            if let Err(p) = catch_unwind(AssertUnwindSafe(|| handler(conn, peer))) {
                if is_cancel(&*p) {
                    resume_unwind(p);
                }
                log::error!(
                    "connection handler for {} panicked: {}",
                    me.peer,
                    panic_message(&*p)
                );
            }
        })
    };
    match r {
        Ok(h) => *slot.join.lock().expect("slot lock") = Some(h),
        Err(e) => {
            // The closure (with the stream, the guard and the Conn-to-be) was dropped: only
            // the registration is left to undo.
            shared.deregister(id);
            log::error!("cannot start a green thread for a connection: {e}");
        }
    }
}

/// State shared by the accept loops, the connections and the handles.
///
/// The registry uses a std `Mutex` on purpose: it is held only for O(1) map operations and
/// for the stop-time scan, never across a yield, so it cannot stall a worker for long; and
/// unlike may's mutex it never parks, so a connection's `Drop` stays safe while its green
/// thread unwinds from a cancellation (a may call there would re-panic and abort).
pub(crate) struct Shared {
    stopping: AtomicBool,
    force: AtomicBool,
    active: AtomicUsize,
    /// Connections whose green thread ended without unwinding (a stack overflow).
    abandoned: AtomicU64,
    next_id: AtomicU64,
    conns: Mutex<HashMap<u64, Arc<Slot>>>,
    limit: Option<Semphore>,
    acceptors: Mutex<Vec<(JoinHandle<()>, Addr)>>,
    stopped: SyncFlag,
    stop_started: AtomicBool,
    graceful_timeout: Duration,
}

impl Shared {
    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    fn register(&self, id: u64, slot: Arc<Slot>) {
        self.conns.lock().expect("conns lock").insert(id, slot);
    }

    pub(crate) fn deregister(&self, id: u64) {
        self.conns.lock().expect("conns lock").remove(&id);
    }

    /// Finds connections whose green thread is over but never deregistered: a stack
    /// overflow ends a green thread without unwinding it, so its `Conn` (and socket), its
    /// count and its slot would leak, and its client would wait forever. Closes their
    /// sockets and gives back what they held. Returns how many were found.
    fn reap_abandoned(&self) -> usize {
        let mut conns = self.conns.lock().expect("conns lock");
        let dead: Vec<u64> = conns
            .iter()
            .filter(|(_, s)| {
                s.join
                    .lock()
                    .expect("slot lock")
                    .as_ref()
                    .is_some_and(|h| h.is_done())
            })
            .map(|(id, _)| *id)
            .collect();
        for id in &dead {
            let slot = conns.remove(id).expect("listed");
            let why = match slot
                .join
                .lock()
                .expect("slot lock")
                .take()
                .map(|h| h.join())
            {
                Some(Err(p))
                    if matches!(
                        p.downcast_ref::<generator::Error>(),
                        Some(generator::Error::StackErr)
                    ) =>
                {
                    "overflowed its stack (raise --stack-size)".to_owned()
                }
                Some(Err(p)) => format!("ended abnormally: {}", panic_message(&*p)),
                _ => "ended without closing its connection".to_owned(),
            };
            log::error!(
                "the green thread serving {} {why}; its connection was closed",
                slot.peer
            );
            // SAFETY: the descriptor's owner (the abandoned `Conn`) will never run again
            // or close it; it stays ours to close, once, under the registry lock.
            unsafe { libc::close(slot.fd) };
            if let Some(s) = &self.limit {
                s.post();
            }
            self.active.fetch_sub(1, Ordering::SeqCst);
            self.abandoned.fetch_add(1, Ordering::SeqCst);
        }
        dead.len()
    }

    /// Closes the read side of idle connections: their handlers see end-of-stream and
    /// finish. Busy ones are left to finish their exchange.
    fn close_idle(&self) {
        let conns = self.conns.lock().expect("conns lock");
        for slot in conns.values() {
            if slot
                .state
                .compare_exchange(IDLE, CLOSING, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                // SAFETY: the descriptor stays open while the slot is registered (a
                // connection deregisters before closing its stream, under this lock).
                unsafe { libc::shutdown(slot.fd, libc::SHUT_RD) };
            }
        }
    }

    /// Shuts down every connection and cancels its green thread.
    fn cancel_all(&self) {
        let conns = self.conns.lock().expect("conns lock");
        for slot in conns.values() {
            slot.state.store(CLOSING, Ordering::SeqCst);
            // SAFETY: as in `close_idle`; cancelling makes the handler unwind at its next
            // blocking call, running its destructors.
            unsafe {
                libc::shutdown(slot.fd, libc::SHUT_RDWR);
                if let Some(h) = slot.join.lock().expect("slot lock").as_ref() {
                    h.coroutine().cancel();
                }
            }
        }
    }

    fn stop(&self, grace: Duration) {
        if self.stop_started.swap(true, Ordering::SeqCst) {
            // Someone else is stopping: wait for them (a shorter grace still applies).
            if grace.is_zero() {
                self.force.store(true, Ordering::SeqCst);
            }
            self.stopped.wait();
            return;
        }
        self.stopping.store(true, Ordering::SeqCst);
        // 1. Stop accepting: wake each accept loop (a slot for one waiting on the connection
        //    limit, a connection for one waiting in accept); it sees `stopping` and returns,
        //    closing its listener (and removing a unix socket file).
        let acceptors = std::mem::take(&mut *self.acceptors.lock().expect("acceptors lock"));
        for (h, addr) in &acceptors {
            if let Some(s) = &self.limit {
                s.post();
            }
            if !h.is_done() {
                wake_accept(addr);
            }
        }
        for (h, addr) in acceptors {
            // A listener shared with other processes (workers of one master) hands the
            // wake-up connection to whichever process accepts first: keep knocking.
            let until = Instant::now() + Duration::from_secs(2);
            let mut knocks = 0u32;
            while !h.is_done() && Instant::now() < until {
                may::coroutine::sleep(STOP_POLL);
                knocks += 1;
                if knocks % 4 == 0 && !h.is_done() {
                    wake_accept(&addr);
                }
            }
            if !h.is_done() {
                log::warn!("the accept loop on {addr} did not wake up; cancelling it");
                // SAFETY: the accept loop's destructors make no may calls that park.
                unsafe { h.coroutine().cancel() };
            }
            let _ = h.join();
        }
        // 2. Close idle keep-alive connections; let running handlers finish.
        let deadline = Instant::now() + grace;
        let mut last_scan = Instant::now();
        self.close_idle();
        while self.active.load(Ordering::SeqCst) > 0
            && Instant::now() < deadline
            && !self.force.load(Ordering::SeqCst)
        {
            may::coroutine::sleep(STOP_POLL);
            // Connections that went idle since the last scan are closed too.
            if last_scan.elapsed() >= Duration::from_millis(50) {
                self.reap_abandoned();
                self.close_idle();
                last_scan = Instant::now();
            }
        }
        // 3. Cancel whatever is left.
        let left = self.active.load(Ordering::SeqCst);
        if left > 0 {
            log::warn!("grace period over: cancelling {left} connection(s)");
            self.cancel_all();
            let until = Instant::now() + CANCEL_WAIT;
            while self.active.load(Ordering::SeqCst) > 0 && Instant::now() < until {
                may::coroutine::sleep(STOP_POLL);
            }
        }
        self.stopped.fire();
    }
}

/// Wakes an accept loop blocked in `accept` by connecting to its listener.
fn wake_accept(addr: &Addr) {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
    let timeout = Duration::from_millis(500);
    let r = match addr {
        Addr::Tcp(a) => {
            let ip = match a.ip() {
                IpAddr::V4(v) if v.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(v) if v.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
                ip => ip,
            };
            may::net::TcpStream::connect_timeout(&SocketAddr::new(ip, a.port()), timeout).map(drop)
        }
        Addr::Unix(p) => may::os::unix::net::UnixStream::connect(p).map(drop),
    };
    if let Err(e) = r {
        log::debug!("waking the accept loop on {addr}: {e}");
    }
}

/// A running server: its addresses, and how to stop it or wait for it.
#[derive(Clone)]
pub struct ServerHandle {
    shared: Arc<Shared>,
    local_addrs: Arc<Vec<Addr>>,
}

impl ServerHandle {
    /// The first listening address (with the real port when bound to port 0).
    pub fn local_addr(&self) -> &Addr {
        &self.local_addrs[0]
    }

    /// Every listening address, in bind order.
    pub fn local_addrs(&self) -> &[Addr] {
        &self.local_addrs
    }

    /// Connections being served now.
    pub fn connections(&self) -> usize {
        self.shared.active.load(Ordering::SeqCst)
    }

    /// Connections whose green thread ended without unwinding (a stack overflow) since the
    /// start. Their sockets were closed; but whatever those frames held (a lock, say) was
    /// never released, so a supervised worker restarts itself once this is non-zero.
    pub fn abandoned(&self) -> u64 {
        self.shared.abandoned.load(Ordering::SeqCst)
    }

    /// Whether a stop has begun.
    pub fn is_stopping(&self) -> bool {
        self.shared.is_stopping()
    }

    /// Stops gracefully: closes the listeners, closes idle connections, lets running
    /// handlers finish for up to `grace`, then cancels the rest. Returns when done.
    pub fn stop(&self, grace: Duration) {
        self.shared.stop(grace);
    }

    /// Stops with the configured grace period.
    pub fn shutdown(&self) {
        self.shared.stop(self.shared.graceful_timeout);
    }

    /// Ends a stop in progress at once (cancels every connection still running).
    pub fn stop_now(&self) {
        self.shared.force.store(true, Ordering::SeqCst);
        self.shared.stop(Duration::ZERO);
    }

    /// Waits until the server has stopped.
    pub fn join(&self) {
        self.shared.stopped.wait();
    }
}

impl StreamServer {
    /// A server configured from gunicorn-style settings: binds, backlog, `SO_REUSEPORT`,
    /// `--worker-connections` (the connection limit), `--graceful-timeout` and TLS
    /// (`--certfile`, `--keyfile`, `--ca-certs`; a file that cannot be used is reported by
    /// [`start`](Self::start)). Applies the runtime settings (`--threads`, `--stack-size`)
    /// first.
    pub fn from_config<H>(config: &crate::Config, handler: H) -> Self
    where
        H: Fn(Conn, Addr) + Send + Sync + 'static,
    {
        crate::green::configure(crate::green::RuntimeConfig {
            workers: config.threads,
            stack_size: config.stack_size,
        });
        let mut server = StreamServer::new(config.binds.clone(), handler).options(ServerOptions {
            bind: BindOptions {
                backlog: config.backlog,
                reuse_port: config.reuse_port,
            },
            max_connections: config.worker_connections,
            graceful_timeout: config.graceful_timeout,
            ..ServerOptions::default()
        });
        match TlsConfig::from_config(config) {
            Ok(tls) => server.tls = tls,
            Err(e) => server.error = Some(e),
        }
        server
    }
}
