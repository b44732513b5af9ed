//! `WsgiServer`: the builder, its options, and the glue that hands each accepted
//! connection to a [`Connection`](super::conn::Connection).

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use super::conn::{Connection, Ended, Phase, Service};
use super::environ::ConnInfo;
use super::log::AccessLog;
use super::App;
use crate::error::{Error, Result};
use crate::green::RuntimeConfig;
use crate::http::request::Limits;
use crate::logging::LogSink;
use crate::metrics::Recorder;
use crate::net::{Addr, AllowList, Listener, TlsConfig};
use crate::server::{
    hibernate, AcceptGate, Binds, Conn, HoldsConn, ServerHandle, ServerOptions, StreamServer,
};

/// Everything a [`WsgiServer`] can be told, as plain values.
///
/// The defaults are gunicorn's (see each field). A gunicorn-style [`Config`](crate::config::Config)
/// converts into options with `WsgiOptions::try_from(&config)`.
///
/// ```no_run
/// use std::time::Duration;
/// use greenlight::wsgi::{Body, Environ, StartResponse, WsgiOptions, WsgiServer};
///
/// fn app(_env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
///     start.status("200 OK");
///     Body::from("ok\n")
/// }
///
/// let opts = WsgiOptions {
///     keep_alive: Duration::from_secs(30),
///     max_body: Some(1 << 20),
///     ..WsgiOptions::default()
/// };
/// WsgiServer::new("127.0.0.1:5000", app).options(opts).serve_forever().unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct WsgiOptions {
    /// The listeners, the connection limit (default: as many as the process can hold, see
    /// [`ServerOptions::max_connections`]) and the grace period of a stop (30 s).
    pub server: ServerOptions,
    /// The green-thread runtime: worker threads (0: one per core) and stack size. Applied
    /// when the server starts, if the runtime is not running yet.
    pub runtime: RuntimeConfig,
    /// Request-head limits (request line 4094, 100 fields of 8190 bytes).
    pub limits: Limits,
    /// Idle keep-alive timeout; zero disables keep-alive. Default 5 s.
    pub keep_alive: Duration,
    /// Time allowed to receive a whole request head (and the PROXY header and TLS
    /// handshake before the first); zero: no limit. Default 10 s.
    pub header_timeout: Duration,
    /// Longest wait for the next piece of a request body, and for the client to accept
    /// response bytes; zero: no limit. Default 30 s.
    pub body_timeout: Duration,
    /// The slowest a client may send a request head or body once it has begun, in bytes a
    /// second on average after a 2 s grace (Apache's `MinRate`); a slower client gets 408
    /// and is closed. Time the app spends between reads of the body does not count. 0: no
    /// minimum. Default 500.
    pub min_rate: u32,
    /// Request bodies larger than this are refused with 413. Default: no limit.
    pub max_body: Option<u64>,
    /// A handler still running this long after its request arrived is cancelled at its
    /// next yield (a green sleep, socket I/O, a queue, event or thread-pool wait): the
    /// client gets 504 if nothing was sent yet, else the connection closes; the error log
    /// names the request. A handler may move its own deadline
    /// ([`Environ::set_request_deadline`](super::Environ::set_request_deadline)). Zero:
    /// none. Default: none. Costs a green thread per request when set.
    pub request_timeout: Duration,
    /// The blocking watchdog (gevent's `max_blocking_time`): a worker thread that runs one
    /// request's code this long without yielding gets a warning in the error log naming
    /// the request, once per stall. Zero: off (the default: it costs a monitor thread and
    /// a few atomic operations per request and per wait; turn it on while hunting
    /// blocking calls, or in production if that cost is acceptable).
    pub max_blocking_time: Duration,
    /// Where the app is mounted (`SCRIPT_NAME`). Default: the root.
    pub script_name: String,
    /// Where the access log goes: `-` for stdout, or a file path. Default: no access log.
    pub access_log: Option<String>,
    /// The access-log format, with gunicorn's atoms. Default
    /// [`DEFAULT_ACCESS_LOG_FORMAT`](crate::config::DEFAULT_ACCESS_LOG_FORMAT).
    pub access_log_format: String,
    /// One JSON object per access-log line instead of the format (whose `{name}i`, `{name}o`
    /// and `{KEY}e` atoms become extra fields). Default: off.
    pub access_log_json: bool,
    /// Peers whose `X-Forwarded-Proto`, `X-Forwarded-Ssl` and `X-Forwarded-Protocol` set
    /// `wsgi.url_scheme`. Default `127.0.0.1` and `::1`.
    pub forwarded_allow_ips: AllowList,
    /// Expect a PROXY protocol header (v1 or v2) from the peers in this list. Default:
    /// none expected.
    pub proxy_protocol: Option<AllowList>,
    /// Serve HTTPS. Default: plain HTTP.
    pub tls: Option<TlsConfig>,
}

impl Default for WsgiOptions {
    fn default() -> Self {
        WsgiOptions {
            server: ServerOptions::default(),
            runtime: RuntimeConfig::default(),
            limits: Limits::default(),
            keep_alive: Duration::from_secs(5),
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            min_rate: crate::config::DEFAULT_MIN_RATE,
            max_body: None,
            request_timeout: Duration::ZERO,
            max_blocking_time: Duration::ZERO,
            script_name: String::new(),
            access_log: None,
            access_log_format: crate::config::DEFAULT_ACCESS_LOG_FORMAT.to_owned(),
            access_log_json: false,
            forwarded_allow_ips: AllowList::from_entries(["127.0.0.1", "::1"])
                .expect("valid addresses"),
            proxy_protocol: None,
            tls: None,
        }
    }
}

/// A WSGI-style HTTP/1.1 server: gevent's `WSGIServer`.
///
/// ```no_run
/// use greenlight::wsgi::{Body, Environ, StartResponse, WsgiServer};
///
/// fn app(env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
///     let name = env.query().to_owned();
///     start.status("200 OK").header("Content-Type", "text/plain");
///     Body::from(format!("Hello, {name}!\n"))
/// }
///
/// WsgiServer::new("127.0.0.1:5000", app).serve_forever().unwrap();
/// ```
pub struct WsgiServer<A: App> {
    binds: Vec<String>,
    app: A,
    listeners: Vec<Listener>,
    opts: WsgiOptions,
    served: Option<Arc<AtomicU64>>,
    served_limit: u64,
    metrics: Option<Recorder>,
    gate: Option<Arc<dyn AcceptGate>>,
}

impl<A: App> WsgiServer<A> {
    /// A server for `app` on `bind` (one spec or several), with default options.
    pub fn new(bind: impl Binds, app: A) -> Self {
        WsgiServer {
            binds: bind.into_binds(),
            app,
            listeners: Vec::new(),
            opts: WsgiOptions::default(),
            served: None,
            served_limit: u64::MAX,
            metrics: None,
            gate: None,
        }
    }

    /// Replaces every option.
    pub fn options(mut self, opts: WsgiOptions) -> Self {
        self.opts = opts;
        self
    }

    /// The options, to adjust before starting.
    pub fn options_mut(&mut self) -> &mut WsgiOptions {
        &mut self.opts
    }

    /// Serves on listeners opened elsewhere (inherited from a supervisor, say), in addition
    /// to the binds.
    pub fn listeners(mut self, listeners: Vec<Listener>) -> Self {
        self.listeners.extend(listeners);
        self
    }

    /// Sets the idle keep-alive timeout (0 disables keep-alive).
    pub fn keep_alive(mut self, d: Duration) -> Self {
        self.opts.keep_alive = d;
        self
    }

    /// Sets the time allowed to receive a whole request head.
    pub fn header_timeout(mut self, d: Duration) -> Self {
        self.opts.header_timeout = d;
        self
    }

    /// Sets the longest wait for the next piece of a request body (and for the client to
    /// accept response bytes).
    pub fn body_timeout(mut self, d: Duration) -> Self {
        self.opts.body_timeout = d;
        self
    }

    /// Cancels handlers still running `d` after their request arrived (504); see
    /// [`WsgiOptions::request_timeout`].
    ///
    /// ```no_run
    /// # use greenlight::wsgi::{Body, Environ, StartResponse, WsgiServer};
    /// # fn app(_env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
    /// #     start.status(200);
    /// #     Body::empty()
    /// # }
    /// use std::time::Duration;
    /// WsgiServer::new("127.0.0.1:5000", app)
    ///     .request_timeout(Duration::from_secs(30))
    ///     .serve_forever()
    ///     .unwrap();
    /// ```
    pub fn request_timeout(mut self, d: Duration) -> Self {
        self.opts.request_timeout = d;
        self
    }

    /// Turns on the blocking watchdog; see [`WsgiOptions::max_blocking_time`].
    pub fn max_blocking_time(mut self, d: Duration) -> Self {
        self.opts.max_blocking_time = d;
        self
    }

    /// Refuses request bodies larger than `n` bytes with 413.
    pub fn max_body_size(mut self, n: u64) -> Self {
        self.opts.max_body = Some(n);
        self
    }

    /// Mounts the app under `prefix` (`SCRIPT_NAME`).
    pub fn script_name(mut self, prefix: impl Into<String>) -> Self {
        self.opts.script_name = prefix.into();
        self
    }

    /// A counter of the requests this server answers (counting costs one atomic add a
    /// request, so it is only done once this was called). Used to recycle workers after
    /// `--max-requests`.
    pub fn request_counter(&mut self) -> Arc<AtomicU64> {
        self.served.get_or_insert_with(Default::default).clone()
    }

    /// [`request_counter`](Self::request_counter), and the `max`-th answer and those after
    /// it say `Connection: close`: the worker recycles after them (`--max-requests`), and a
    /// client must not send another request on a connection about to close.
    pub(crate) fn request_limit(&mut self, max: u64) -> Arc<AtomicU64> {
        self.served_limit = max;
        self.request_counter()
    }

    /// Counts requests, durations and bytes into `r` (a supervised worker's shared
    /// counters, which its master serves as metrics).
    /// Shares accepting fairly with the other workers of a master (their balance board).
    pub(crate) fn accept_gate(mut self, g: Arc<dyn AcceptGate>) -> Self {
        self.gate = Some(g);
        self
    }

    pub(crate) fn metrics(mut self, r: Recorder) -> Self {
        self.metrics = Some(r);
        self
    }

    /// Sets the most connections served at once (`--worker-connections`).
    pub fn max_connections(mut self, n: usize) -> Self {
        self.opts.server.max_connections = n;
        self
    }

    /// Serves HTTPS with `tls`, for a rustls configuration built in code.
    pub fn tls(mut self, tls: TlsConfig) -> Self {
        self.opts.tls = Some(tls);
        self
    }

    /// Logs each request to `spec` (`-` for stdout, or a file path) in the access-log
    /// format of the options.
    pub fn access_log(mut self, spec: impl Into<String>) -> Self {
        self.opts.access_log = Some(spec.into());
        self
    }

    /// Binds and starts serving in the background.
    pub fn start(self) -> Result<ServerHandle> {
        self.into_stream_server()?.start()
    }

    /// Serves until SIGTERM or SIGINT (graceful stop within the grace period; a second
    /// SIGINT stops at once).
    pub fn serve_forever(self) -> Result<()> {
        self.into_stream_server()?.serve_forever()
    }

    fn into_stream_server(self) -> Result<StreamServer> {
        let o = self.opts;
        crate::green::configure(o.runtime);
        if !o.max_blocking_time.is_zero() {
            crate::green::watchdog::start(o.max_blocking_time);
        }
        let access = match &o.access_log {
            Some(spec) => {
                let sink = LogSink::for_access(spec)
                    .map_err(|e| Error::io(format!("opening access log {spec}"), e))?;
                Some(AccessLog::with_json(
                    &o.access_log_format,
                    o.access_log_json,
                    sink,
                ))
            }
            None => None,
        };
        let served = self.served.map(|n| (n, self.served_limit));
        let mut svc = Service::new(self.app, &o, access, served);
        svc.metrics = self.metrics;
        let svc = Arc::new(svc);
        let script_name = o.script_name.clone();
        let handler = move |conn: Conn, peer: Addr| serve(&svc, conn, &peer, &script_name);
        let server = if self.listeners.is_empty() {
            StreamServer::new(self.binds, handler)
        } else {
            let mut ls = self.listeners;
            ls.extend(crate::net::bind_all(&self.binds, &o.server.bind)?);
            StreamServer::from_listeners(ls, handler)
        };
        let server = server.options(o.server).accept_gate(self.gate);
        Ok(match o.tls {
            Some(tls) => server.tls(tls),
            None => server,
        })
    }
}

/// Serves one accepted connection until it closes, or hibernates (see [`Parked`]).
fn serve<A: App>(svc: &Arc<Service<A>>, conn: Conn, peer: &Addr, script_name: &str) {
    let mut c = open(svc, conn, peer, script_name);
    if let Ended::Hibernate(deadline) = c.run(Phase::Preface) {
        hibernate(Parked(c), deadline, Parked::resume);
    }
}

/// An idle connection waiting for its next request without a green thread, its buffers
/// given back: what it costs then is this state, not a stack.
struct Parked<A: App>(Box<Connection<A, Conn>>);

impl<A: App> HoldsConn for Parked<A> {
    fn conn(&self) -> &Conn {
        self.0.transport()
    }
}

impl<A: App> Parked<A> {
    /// Runs on a new green thread when the peer sent (`ready`), or at the end of the
    /// keep-alive timeout (closes, as an idle connection does then).
    fn resume(self, ready: bool) {
        let mut c = self.0;
        // At the keep-alive timeout it closes as an idle connection does then.
        let from = if ready {
            Phase::Head
        } else {
            Phase::Linger(false)
        };
        if let Ended::Hibernate(deadline) = c.run(from) {
            hibernate(Parked(c), deadline, Parked::resume);
        }
    }
}

/// The connection's state, built in a frame of its own and kept on the heap: neither its
/// temporaries nor the state itself (about 1 KiB) stay on the green thread's stack for
/// the connection's life. A stack page touched once stays resident, so what the deepest
/// moment touches is what every busy connection costs: with the state on the heap, a
/// request to the `sleep` example touches one page at the stack's top (and may's page at
/// its bottom), not two.
#[inline(never)]
fn open<A: App>(
    svc: &Arc<Service<A>>,
    mut conn: Conn,
    peer: &Addr,
    script_name: &str,
) -> Box<Connection<A, Conn>> {
    // A client that stops reading our response cannot hold the connection forever.
    let _ = conn.stream().set_write_timeout(svc.body_timeout);
    let info = conn_info(&mut conn, peer, script_name);
    let client_ip = peer.as_tcp().map(|a| a.ip());
    Box::new(Connection::new(svc.clone(), conn, info, client_ip))
}

/// The connection's facts for the environ, formatted once.
fn conn_info(conn: &mut Conn, peer: &Addr, script_name: &str) -> ConnInfo {
    let (remote_addr, remote_port) = match peer {
        Addr::Tcp(a) => (a.ip().to_string(), a.port().to_string()),
        Addr::Unix(_) => (String::new(), String::new()),
    };
    let (server_name, server_port) = match conn.local_addr() {
        Ok(Addr::Tcp(a)) => (a.ip().to_string(), a.port().to_string()),
        Ok(Addr::Unix(p)) => (p.display().to_string(), String::new()),
        Err(_) => (String::new(), String::new()),
    };
    ConnInfo {
        remote_addr,
        remote_port,
        server_name,
        server_port,
        scheme: if conn.stream().is_tls() {
            "https"
        } else {
            "http"
        },
        script_name: script_name.to_owned(),
        proxy_addr: None,
        proxy_port: None,
    }
}
