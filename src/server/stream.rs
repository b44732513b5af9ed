//! `StreamServer`: its options, binding, starting the accept loops, and the handle that
//! stops it. The accept loop lives in `accept.rs`, the connection registry and the graceful
//! stop in `shutdown.rs`.

use super::accept::AcceptGate;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use super::accept::{Acceptor, Handler};
use super::conn::Conn;
use super::shutdown::Registry;
use crate::error::{Error, Result};
use crate::green::ensure_configured;
use crate::green::{pause, spawn_raw, CoHandle};
use crate::net::{self, Addr, BindOptions, Listener, TlsConfig};

/// How often connections abandoned by a stack overflow are looked for.
const REAP_EVERY: Duration = Duration::from_millis(250);

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
    /// Most connections served at once (gevent's `spawn=Pool(n)`); 0 (the default) means
    /// as many as the process can hold ([`net::connection_capacity`]: the open-file limit,
    /// raised to its hard limit at start, and the memory-map limit). When full, the server
    /// sheds an idle connection, else the one slowest to send its request; when every
    /// connection is busy with a request, it stops accepting and the kernel's backlog holds
    /// new connections until one finishes.
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
    gate: Option<Arc<dyn AcceptGate>>,
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
            gate: None,
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
            gate: None,
        }
    }

    /// Replaces all options.
    pub fn options(mut self, opts: ServerOptions) -> Self {
        self.opts = opts;
        self
    }

    /// Sets the most connections served at once (0: as many as the process can hold).
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

    /// Shares accepting with other processes on the same listeners (see [`AcceptGate`]).
    pub(crate) fn accept_gate(mut self, gate: Option<Arc<dyn AcceptGate>>) -> Self {
        self.gate = gate;
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
        crate::green::install_panic_hook();
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
        let limit = match self.opts.max_connections {
            0 => net::connection_capacity(),
            n => n,
        };
        let mut registry = Registry::new(limit, self.opts.graceful_timeout);
        registry.gate = self.gate.clone();
        let registry = Arc::new(registry);
        let mut acceptors = Vec::with_capacity(listeners.len());
        for (listener, addr) in listeners.into_iter().zip(&local_addrs) {
            let acceptor = Acceptor {
                listener: listener
                    .into_acceptor()
                    .map_err(|e| Error::io(format!("listening on {addr}"), e))?,
                registry: registry.clone(),
                handler: self.handler.clone(),
                tls: self.tls.clone(),
                max_accept: self.opts.max_accept.max(1),
            };
            let h = spawn_raw(Some(format!("accept {addr}")), move || acceptor.run())
                .map_err(|e| Error::io("starting the accept loop", e))?;
            acceptors.push((h, addr.clone()));
        }
        registry.set_acceptors(acceptors);
        start_reaper(&registry).map_err(|e| Error::io("starting the connection reaper", e))?;
        for a in &local_addrs {
            log::info!(
                "Listening at: {} ({})",
                url_of(a, self.tls.is_some()),
                std::process::id()
            );
        }
        Ok(ServerHandle {
            registry,
            local_addrs: Arc::new(local_addrs),
        })
    }

    /// Serves until SIGTERM or SIGINT (graceful stop within the grace period; a second
    /// SIGINT stops at once), or until another holder of the handle stops it.
    pub fn serve_forever(self) -> Result<()> {
        let grace = self.opts.graceful_timeout;
        let signals = super::signals::catch()?;
        let handle = self.start()?;
        let _watching = super::signals::watch(signals, handle.clone(), grace)?;
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

/// Starts the green thread that looks for connections abandoned by a stack overflow
/// until the server stops.
fn start_reaper(registry: &Arc<Registry>) -> io::Result<CoHandle> {
    let registry = registry.clone();
    spawn_raw(Some("reaper".into()), move || {
        while !registry.is_stopping() {
            pause(REAP_EVERY);
            registry.reap_abandoned();
        }
    })
}

/// A running server: its addresses, and how to stop it or wait for it.
#[derive(Clone)]
pub struct ServerHandle {
    registry: Arc<Registry>,
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
        self.registry.active()
    }

    /// Keep-alive connections waiting for their next request. Counted by a scan of the
    /// connection registry (under its lock): meant for sampling, not for every request.
    pub fn idle_connections(&self) -> usize {
        self.registry.idle()
    }

    /// Idle keep-alive connections that wait for their next request without a green thread
    /// (idle longer than half a second, they give back their stack and buffers and cost
    /// only their state: see the README's "Memory per idle connection"). Counted like
    /// [`idle_connections`](Self::idle_connections), of which they are a part.
    pub fn hibernating_connections(&self) -> usize {
        self.registry.hibernating()
    }

    /// Connections whose green thread ended without unwinding (a stack overflow) since the
    /// start. Their sockets were closed; but whatever those frames held (a lock, say) was
    /// never released, so a supervised worker restarts itself once this is non-zero.
    pub fn abandoned(&self) -> u64 {
        self.registry.abandoned()
    }

    /// Whether a stop has begun.
    pub fn is_stopping(&self) -> bool {
        self.registry.is_stopping()
    }

    /// Stops gracefully: closes the listeners, closes idle connections, lets running
    /// handlers finish for up to `grace`, then cancels the rest. Returns when done.
    pub fn stop(&self, grace: Duration) {
        self.registry.stop(grace);
    }

    /// Stops with the configured grace period.
    pub fn shutdown(&self) {
        self.registry.stop(self.registry.graceful_timeout);
    }

    /// Ends a stop in progress at once (cancels every connection still running).
    pub fn stop_now(&self) {
        self.registry.force_stop();
    }

    /// Waits until the server has stopped.
    pub fn join(&self) {
        self.registry.wait_stopped();
    }
}
