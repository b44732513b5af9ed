//! `WsgiServer`: HTTP/1.1 over `StreamServer`, one green thread per connection.
//!
//! The connection loop, per request:
//!
//! ```text
//!   idle ──bytes──> head (header timeout) ──> app(environ, start_response) ──> body out
//!    ^                 │ malformed: 4xx, close          │ panic: 500, close      │
//!    └──── keep-alive ─┴────────────────────────────────┴────────────────────────┘
//! ```
//!
//! Pipelined requests already in the buffer are answered before the responses are flushed
//! in one write.

use std::io::{self, Read, Write};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;

use super::environ::{latin1, ConnInfo};
use super::input::{BodyReader, BodyState, ConnIo};
use super::log::{AccessLog, Entry};
use super::response::{BodyKind, ResponseHead};
use super::{App, Body, Environ, Input, StartResponse};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::http::decode::ChunkedDecoder;
use crate::http::encode::{self, Framing};
use crate::http::proxy::{self, ProxyHeader};
use crate::http::request::{BodyLength, HeadStatus, Limits, RequestHead, Version};
use crate::http::{date, Error as HttpError, ErrorKind};
use crate::logging::LogSink;
use crate::net::{Addr, AllowList, BindOptions, Handshake, Listener, Stream, TlsConfig};
use crate::server::{
    is_cancel, panic_message, Binds, Conn, ServerHandle, ServerOptions, StreamServer,
};

/// Initial read buffer of a connection. Grows for large heads and bodies, and is shrunk
/// back when the connection goes idle.
const READ_BUF: usize = 4096;
/// A response body up to this size is copied behind the head and sent in the same write.
const COALESCE_MAX: usize = 16 * 1024;
/// Flush pipelined responses once this much is waiting.
const WBUF_FLUSH: usize = 64 * 1024;
/// A write buffer that grew past this is given back when the connection goes idle.
const WBUF_KEEP: usize = 16 * 1024;
/// Unread request body drained after the response so the connection can be reused; a
/// larger remainder closes the connection instead.
const DRAIN_MAX: u64 = 256 * 1024;
/// Lingering close: how long and how much to read and discard before closing, so that the
/// client receives our answer instead of a reset.
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 256 * 1024;

/// Options of a [`WsgiServer`] beyond [`Config`].
#[derive(Debug, Clone, Default)]
struct Extra {
    max_body: Option<u64>,
    script_name: String,
    max_connections: Option<usize>,
    served: Option<Arc<std::sync::atomic::AtomicU64>>,
    tls: Option<TlsConfig>,
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
    config: Config,
    app: A,
    listeners: Vec<Listener>,
    extra: Extra,
}

impl<A: App> WsgiServer<A> {
    /// A server for `app` on `bind` (one spec or several), with default settings.
    pub fn new(bind: impl Binds, app: A) -> Self {
        let config = Config {
            binds: bind.into_binds(),
            ..Config::default()
        };
        Self::from_config(config, app)
    }

    /// A server for `app` with every setting from `config` (see [`Config::from_args`]).
    pub fn from_config(config: Config, app: A) -> Self {
        WsgiServer {
            config,
            app,
            listeners: Vec::new(),
            extra: Extra::default(),
        }
    }

    /// Serves on listeners opened elsewhere (inherited from a supervisor, say), in addition
    /// to the configured binds.
    pub fn listeners(mut self, listeners: Vec<Listener>) -> Self {
        self.listeners.extend(listeners);
        self
    }

    /// The configuration, to adjust before starting.
    pub fn config_mut(&mut self) -> &mut Config {
        &mut self.config
    }

    /// Sets the idle keep-alive timeout (0 disables keep-alive).
    pub fn keep_alive(mut self, d: Duration) -> Self {
        self.config.keep_alive = d;
        self
    }

    /// Sets the time allowed to receive a whole request head.
    pub fn header_timeout(mut self, d: Duration) -> Self {
        self.config.header_timeout = d;
        self
    }

    /// Sets the longest wait for the next piece of a request body (and for the client to
    /// accept response bytes).
    pub fn body_timeout(mut self, d: Duration) -> Self {
        self.config.body_timeout = d;
        self
    }

    /// Refuses request bodies larger than `n` bytes with 413.
    pub fn max_body_size(mut self, n: u64) -> Self {
        self.extra.max_body = Some(n);
        self
    }

    /// Mounts the app under `prefix` (`SCRIPT_NAME`).
    pub fn script_name(mut self, prefix: impl Into<String>) -> Self {
        self.extra.script_name = prefix.into();
        self
    }

    /// A counter of the requests this server answers (counting costs one atomic add a
    /// request, so it is only done once this was called). Used to recycle workers after
    /// `--max-requests`.
    pub fn request_counter(&mut self) -> Arc<std::sync::atomic::AtomicU64> {
        self.extra
            .served
            .get_or_insert_with(Default::default)
            .clone()
    }

    /// Sets the most connections served at once (`--worker-connections`).
    pub fn max_connections(mut self, n: usize) -> Self {
        self.extra.max_connections = Some(n);
        self
    }

    /// Serves HTTPS with `tls` (instead of `--certfile`/`--keyfile`/`--ca-certs` from the
    /// configuration), for a rustls configuration built in code.
    pub fn tls(mut self, tls: TlsConfig) -> Self {
        self.extra.tls = Some(tls);
        self
    }

    /// Logs each request to `spec` (`-` for stdout, or a file path) in the configured
    /// access-log format.
    pub fn access_log(mut self, spec: impl Into<String>) -> Self {
        self.config.access_logfile = Some(spec.into());
        self
    }

    /// Binds and starts serving in the background.
    pub fn start(self) -> Result<ServerHandle> {
        self.into_stream_server()?.start()
    }

    /// Serves until SIGTERM or SIGINT (graceful stop within `--graceful-timeout`; a second
    /// SIGINT stops at once).
    pub fn serve_forever(self) -> Result<()> {
        self.into_stream_server()?.serve_forever()
    }

    fn into_stream_server(self) -> Result<StreamServer> {
        let c = &self.config;
        crate::green::configure(crate::green::RuntimeConfig {
            workers: c.threads,
            stack_size: c.stack_size,
        });
        let access = match &c.access_logfile {
            Some(spec) => {
                let sink = LogSink::for_access(spec)
                    .map_err(|e| Error::io(format!("opening access log {spec}"), e))?;
                Some(AccessLog::new(&c.access_log_format, sink))
            }
            None => None,
        };
        let opt = |d: Duration| (!d.is_zero()).then_some(d);
        // The config parser has validated every entry; a list built in code may not have.
        let allow = |flag: &str, entries: &[String]| {
            AllowList::from_entries(entries)
                .map_err(|e| Error::Config(format!("invalid value for {flag}: {e}")))
        };
        let forwarded_allow = allow("--forwarded-allow-ips", &c.forwarded_allow_ips)?;
        let proxy_allow = if c.proxy_protocol {
            Some(allow("--proxy-allow-ips", &c.proxy_allow_ips)?)
        } else {
            None
        };
        let state = Arc::new(State {
            app: self.app,
            limits: c.limits(),
            keep_alive: opt(c.keep_alive),
            header_timeout: opt(c.header_timeout),
            body_timeout: opt(c.body_timeout),
            access,
            max_body: self.extra.max_body,
            script_name: self.extra.script_name,
            forwarded_allow,
            proxy_allow,
            served: self.extra.served,
        });
        let opts = ServerOptions {
            bind: BindOptions {
                backlog: c.backlog,
                reuse_port: c.reuse_port,
            },
            max_connections: self.extra.max_connections.unwrap_or(c.worker_connections),
            graceful_timeout: c.graceful_timeout,
            ..ServerOptions::default()
        };
        let tls = match self.extra.tls {
            Some(tls) => Some(tls),
            None => TlsConfig::from_config(c)?,
        };
        let handler = move |conn: Conn, peer: Addr| serve_conn(&state, conn, peer);
        let server = if self.listeners.is_empty() {
            StreamServer::new(c.binds.clone(), handler)
        } else {
            let mut ls = self.listeners;
            ls.extend(crate::net::bind_all(&c.binds, &opts.bind)?);
            StreamServer::from_listeners(ls, handler)
        };
        let server = server.options(opts);
        Ok(match tls {
            Some(tls) => server.tls(tls),
            None => server,
        })
    }
}

/// Runs `app` the way gunicorn runs one: settings from the command line and environment
/// ([`Config::from_args`]), logging set up, served until SIGTERM/SIGINT. Exits the process:
/// 0 after a clean stop, 1 if the server could not start (the reason is logged), 2 for bad
/// flags.
pub fn run<A: App>(app: A) -> ! {
    let config = Config::from_args();
    let unsupported = config.unsupported();
    if !unsupported.is_empty() {
        for m in &unsupported {
            eprintln!("error: {m}");
        }
        std::process::exit(2);
    }
    if let Err(e) = crate::logging::init(&config) {
        eprintln!("error: cannot open the error log: {e}");
        std::process::exit(2);
    }
    // A process started by a master serves the sockets it was given; with several workers
    // this process becomes the master; otherwise it serves by itself.
    if let Some(worker) = crate::deploy::worker::WorkerEnv::from_env() {
        crate::deploy::worker::run(config, app, worker);
    }
    if config.workers > 1 {
        crate::deploy::arbiter::run(config);
    }
    let pid = match crate::deploy::notify::PidFile::create(config.pid.as_deref()) {
        Ok(p) => p,
        Err(e) => {
            log::error!("cannot write the pid file: {e}");
            crate::logging::flush();
            std::process::exit(1);
        }
    };
    let code = match WsgiServer::from_config(config, app).serve_forever() {
        Ok(()) => {
            log::info!("Shutting down: Master");
            0
        }
        Err(e) => {
            log::error!("{e}");
            1
        }
    };
    drop(pid);
    crate::logging::flush();
    std::process::exit(code)
}

struct State<A> {
    app: A,
    limits: Limits,
    keep_alive: Option<Duration>,
    header_timeout: Option<Duration>,
    body_timeout: Option<Duration>,
    access: Option<AccessLog>,
    max_body: Option<u64>,
    script_name: String,
    /// `--forwarded-allow-ips`: peers whose secure-scheme headers are believed.
    forwarded_allow: AllowList,
    /// `--proxy-protocol` (with `--proxy-allow-ips`, the peers allowed to send the header).
    proxy_allow: Option<AllowList>,
    /// Requests answered, when someone asked to count them (worker recycling).
    served: Option<Arc<std::sync::atomic::AtomicU64>>,
}

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

/// Whether `allow` trusts `ip`; unix-socket peers are always trusted, as gunicorn does
/// (only a local process can connect, and it is the proxy that was given the socket).
fn is_trusted(allow: &AllowList, ip: Option<std::net::IpAddr>) -> bool {
    ip.map_or(true, |ip| allow.contains(ip))
}

/// gunicorn's `secure_scheme_headers`: each header, and the value meaning https.
const SECURE_SCHEME_HEADERS: [(&str, &str); 3] = [
    ("x-forwarded-proto", "https"),
    ("x-forwarded-ssl", "on"),
    ("x-forwarded-protocol", "ssl"),
];

/// The scheme the secure-scheme headers of a trusted peer set, if any. Any other value
/// than the secure one means `http`, and headers that disagree are refused (gunicorn's
/// `InvalidSchemeHeaders`): a request cannot be both.
fn forwarded_scheme(
    head: &RequestHead,
    buf: &[u8],
) -> std::result::Result<Option<&'static str>, HttpError> {
    let mut scheme = None;
    for h in &head.headers {
        let name = h.name.get(buf);
        // Length first: most requests have none of these headers.
        let Some((_, secure)) = SECURE_SCHEME_HEADERS
            .iter()
            .find(|(n, _)| n.len() == name.len() && name.eq_ignore_ascii_case(n.as_bytes()))
        else {
            continue;
        };
        let this = if h.value.get(buf).eq_ignore_ascii_case(secure.as_bytes()) {
            "https"
        } else {
            "http"
        };
        match scheme {
            Some(s) if s != this => {
                return Err(HttpError::new(
                    ErrorKind::ConflictingScheme,
                    "X-Forwarded-Proto, X-Forwarded-Ssl and X-Forwarded-Protocol disagree",
                ))
            }
            _ => scheme = Some(this),
        }
    }
    Ok(scheme)
}

/// With `--proxy-protocol`: reads the PROXY header, if the connection starts with one,
/// within the header timeout. `Err(None)`: the peer went away or stayed silent; close.
///
/// On a TLS connection the header comes before the handshake: it is read from beneath TLS.
fn read_proxy_header(
    io: &mut ConnIo,
    allow: &AllowList,
    peer_ip: Option<std::net::IpAddr>,
    timeout: Option<Duration>,
    raw: bool,
) -> std::result::Result<Option<ProxyHeader>, Option<HttpError>> {
    let deadline = timeout.map(|d| Instant::now() + d);
    loop {
        let parsed = proxy::parse(io.buffered());
        // Judged once the bytes are surely a PROXY header: a partial "P" may yet be "POST".
        let is_header = matches!(parsed, Ok(proxy::ProxyStatus::Complete(..)) | Err(_));
        if is_header && !is_trusted(allow, peer_ip) {
            return Err(Some(HttpError::new(
                ErrorKind::ProxyNotAllowed,
                "PROXY header from a peer not in --proxy-allow-ips",
            )));
        }
        match parsed.map_err(Some)? {
            proxy::ProxyStatus::Complete(n, h) => {
                io.start += n;
                return Ok(Some(h));
            }
            proxy::ProxyStatus::Absent => return Ok(None),
            proxy::ProxyStatus::Partial => {}
        }
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let res = match left {
            Some(l) if l.is_zero() => Err(io::ErrorKind::TimedOut.into()),
            _ if raw => io.fill_raw(proxy::V2_MAX, left),
            _ => io.fill(proxy::V2_MAX, left),
        };
        match res {
            Ok(0) => return Err(None),
            Ok(_) => {}
            Err(e) if is_timeout(&e) && io.start != io.end => return Err(Some(timeout_error())),
            Err(_) => return Err(None),
        }
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    )
}

/// The answer to plain HTTP on a TLS port.
const PLAINTEXT_ANSWER: &[u8] = b"HTTP/1.1 400 Bad Request\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Length: 23\r\n\
Connection: close\r\n\
\r\n\
This port speaks HTTPS\n";

/// Runs the TLS handshake of a TLS connection within the header timeout, `received` being
/// its first bytes if some were read already. Returns false when the connection is done
/// (handshake failed, or plain HTTP answered).
fn tls_handshake(conn: &mut Conn, received: &[u8], peer: &Addr, timeout: Option<Duration>) -> bool {
    let Stream::Tls(tls) = conn.stream_mut() else {
        return true;
    };
    match tls.handshake_after(received, timeout) {
        Ok(Handshake::Done) => true,
        Ok(Handshake::Plaintext) => {
            log::debug!("plain HTTP from {peer} on a TLS port: answering 400");
            let sock = tls.get_mut();
            if sock.write_all(PLAINTEXT_ANSWER).is_ok() {
                let _ = sock.shutdown(std::net::Shutdown::Write);
                // Read what the client still sends, so it gets the answer, not a reset.
                let until = Instant::now() + LINGER_TIME;
                let mut scratch = [0u8; 1024];
                let mut total = 0usize;
                while total < LINGER_BYTES {
                    let left = until.saturating_duration_since(Instant::now());
                    if left.is_zero() || sock.set_read_timeout(Some(left)).is_err() {
                        break;
                    }
                    match sock.read(&mut scratch) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => total += n,
                    }
                }
            }
            false
        }
        Err(e) => {
            log::debug!("TLS handshake with {peer} failed: {e}");
            false
        }
    }
}

/// Serves one connection until it closes.
fn serve_conn<A: App>(st: &State<A>, mut conn: Conn, peer: Addr) {
    // A client that stops reading our response cannot hold the connection forever.
    let _ = conn.stream().set_write_timeout(st.body_timeout);
    let tls = conn.stream().is_tls();
    let mut info = conn_info(&mut conn, &peer, &st.script_name);
    let mut io = ConnIo::new(conn, READ_BUF);
    let mut head = RequestHead::new();
    let mut head_buf: Vec<u8> = Vec::new();
    let mut wbuf: Vec<u8> = Vec::with_capacity(1024);
    let mut client_ip = peer.as_tcp().map(|a| a.ip());
    if let Some(allow) = &st.proxy_allow {
        match read_proxy_header(&mut io, allow, client_ip, st.header_timeout, tls) {
            Ok(Some(ProxyHeader::Tcp { client, proxy })) => {
                info.proxy_addr = Some(proxy.ip().to_string());
                info.proxy_port = Some(proxy.port().to_string());
                info.remote_addr = client.ip().to_string();
                info.remote_port = client.port().to_string();
                client_ip = Some(client.ip());
            }
            Ok(Some(ProxyHeader::Local) | None) => {}
            // Before a TLS handshake there is no way to answer: just close.
            Err(Some(e)) if tls => {
                log::debug!("refusing {peer}: {e}");
                return;
            }
            Err(Some(e)) => return refuse(&mut io, &mut wbuf, &e, Version::Http11),
            Err(None) => return,
        }
    }
    if tls {
        // Bytes read past a PROXY header are the start of the handshake.
        let received = &io.buf[io.start..io.end];
        if !tls_handshake(&mut io.conn, received, &peer, st.header_timeout) {
            return;
        }
        (io.start, io.end) = (0, 0);
        io.forget_read_timeout();
    }
    // Scheme headers are believed from the peer that speaks HTTP to us: behind a PROXY
    // header that is the client the header names, not the TCP proxy (which forwards the
    // client's headers untouched).
    let trust_scheme = is_trusted(&st.forwarded_allow, client_ip);
    let resp_cell = std::cell::RefCell::new(ResponseHead::default());
    let max_head = st.limits.max_head();
    let mut requests: u64 = 0;
    loop {
        // Wait for the next request (flushing pipelined answers first).
        if io.start == io.end {
            if !flush(&mut io, &mut wbuf) {
                return;
            }
            io.shrink_idle(READ_BUF);
            if wbuf.capacity() > WBUF_KEEP {
                wbuf = Vec::with_capacity(1024);
            }
            // A new connection's first request is always read and answered (a client that
            // connected as a stop began must not lose it); between keep-alive requests the
            // connection is idle, and a stop closes it.
            let first = requests == 0;
            if !first && !io.conn.set_idle() {
                return;
            }
            let wait = if first {
                st.header_timeout.or(st.keep_alive)
            } else {
                st.keep_alive.or(st.header_timeout)
            };
            match io.fill(max_head, wait) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if !first && !io.conn.set_busy() {
                return;
            }
        }
        requests += 1;
        // When the request began, for the access log and the header timeout; the clock is
        // read only when needed (not for a whole head already buffered, without access log).
        let mut started = st.access.as_ref().map(|_| Instant::now());
        let n = loop {
            match head.parse(io.buffered(), &st.limits) {
                Ok(HeadStatus::Complete(n)) => break n,
                Ok(HeadStatus::Partial) => {
                    if !flush(&mut io, &mut wbuf) {
                        return;
                    }
                    // Read the head within the header timeout (slow clients cannot hold the
                    // worker).
                    let t0 = *started.get_or_insert_with(Instant::now);
                    let left = st
                        .header_timeout
                        .map(|d| (t0 + d).saturating_duration_since(Instant::now()));
                    let err = match left {
                        Some(l) if l.is_zero() => Some(timeout_error()),
                        _ => match io.fill(max_head, left) {
                            Ok(0) => return,
                            Ok(_) => None,
                            Err(e) if is_timeout(&e) => Some(timeout_error()),
                            Err(e) if e.kind() == io::ErrorKind::OutOfMemory => Some(
                                HttpError::new(ErrorKind::HeaderTooLarge, "request head too large"),
                            ),
                            Err(_) => return,
                        },
                    };
                    if let Some(e) = err {
                        return refuse(&mut io, &mut wbuf, &e, Version::Http11);
                    }
                }
                Err(e) => return refuse(&mut io, &mut wbuf, &e, Version::Http11),
            }
        };
        head_buf.clear();
        head_buf.extend_from_slice(&io.buf[io.start..io.start + n]);
        io.start += n;
        let scheme = if trust_scheme {
            match forwarded_scheme(&head, &head_buf) {
                Ok(s) => s,
                Err(e) => return refuse(&mut io, &mut wbuf, &e, head.version),
            }
        } else {
            None
        };

        let mut body = BodyReader {
            state: match head.body {
                BodyLength::Empty => BodyState::Done,
                BodyLength::Length(n) => BodyState::Length(n),
                BodyLength::Chunked => BodyState::Chunked {
                    decoder: ChunkedDecoder::new(),
                    pending: (0, 0),
                    total: 0,
                },
            },
            continue_pending: head.expect_continue,
            timeout: st.body_timeout,
            max_body: st.max_body,
            consumed: 0,
            peer_gone: false,
        };
        if let (Some(max), BodyLength::Length(len)) = (st.max_body, head.body) {
            if len > max {
                let e = HttpError::new(ErrorKind::BodyTooLarge, "request body larger than allowed");
                return refuse(&mut io, &mut wbuf, &e, head.version);
            }
        }

        // Call the app.
        resp_cell.borrow_mut().clear();
        let started_at = st.access.as_ref().map(|_| SystemTime::now());
        let (out, env_values) = {
            let input = Input::new(&mut body, &mut io);
            let mut env = Environ::new(&head_buf, &head, &info, input);
            if let Some(s) = scheme.filter(|s| *s != info.scheme) {
                env.set("wsgi.url_scheme", s);
            }
            let out = call_app(&st.app, &mut env, &resp_cell, &head, &head_buf);
            let env_values: Vec<Option<String>> = match &st.access {
                Some(a) => a
                    .env_keys
                    .iter()
                    .map(|k| env.get(k).map(str::to_owned))
                    .collect(),
                None => Vec::new(),
            };
            (out, env_values)
        };
        let mut resp = resp_cell.borrow_mut();
        // A body that could not be read is answered with its error, whatever the app said.
        if let Some(e) = body.failed() {
            let e = e.clone();
            drop(out);
            if body.peer_gone {
                return;
            }
            return refuse(&mut io, &mut wbuf, &e, head.version);
        }
        let body_out = app_outcome(out, &mut resp);
        let mut keep_alive = head.keep_alive && st.keep_alive.is_some() && !io.conn.is_stopping();
        // A body the client holds back (Expect: 100-continue, never asked for) or a large
        // unread one: close instead of reading it.
        if !body.is_done() {
            let too_big = matches!(body.state, BodyState::Length(n) if n > DRAIN_MAX);
            if body.continue_pending || too_big {
                keep_alive = false;
            }
        }
        let (status_code, bytes) = match answer(
            &mut io.conn,
            &mut wbuf,
            &head,
            &head_buf,
            &resp,
            body_out,
            keep_alive,
        ) {
            Ok((code, sent, ka)) => {
                keep_alive = ka;
                (code, sent)
            }
            Err(_) => return,
        };
        if let Some(n) = &st.served {
            n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        if let (Some(a), Some(t0), Some(started)) = (&st.access, started_at, started) {
            log_access(
                a,
                &env_values,
                &head,
                &head_buf,
                &resp,
                status_code,
                bytes,
                t0,
                started,
            );
        }
        // Make the connection ready for the next request: the rest of this body is read
        // (bounded) or the connection closes.
        if keep_alive && !body.is_done() && !body.drain(&mut io, DRAIN_MAX) {
            keep_alive = false;
        }
        if !keep_alive {
            if flush(&mut io, &mut wbuf) {
                linger(&mut io, !body.is_done());
            }
            return;
        }
        if wbuf.len() >= WBUF_FLUSH && !flush(&mut io, &mut wbuf) {
            return;
        }
    }
}

/// Calls the app with `env`, turning a panic into `None` (logged; a cancellation unwinds on).
pub(super) fn call_app<A: App>(
    app: &A,
    env: &mut Environ<'_>,
    resp: &std::cell::RefCell<ResponseHead>,
    head: &RequestHead,
    head_buf: &[u8],
) -> Option<Body> {
    match catch_unwind(AssertUnwindSafe(|| app.call(env, StartResponse::new(resp)))) {
        Ok(b) => Some(b),
        Err(p) => {
            if is_cancel(&*p) {
                resume_unwind(p);
            }
            log::error!(
                "Error handling request {} {}: app panicked: {}",
                latin1(head.method.get(head_buf)),
                latin1(head.target.get(head_buf)),
                panic_message(&*p)
            );
            None
        }
    }
}

/// What the app's call amounts to: a body to send, or why the answer is a 500 (empty when
/// already logged).
pub(super) fn app_outcome(
    out: Option<Body>,
    resp: &mut ResponseHead,
) -> std::result::Result<Body, String> {
    match (out, resp.status.is_some(), resp.error.take()) {
        (Some(b), true, None) => Ok(b),
        (Some(_), _, Some(why)) => Err(why),
        (Some(_), false, None) => Err("the app did not set a status".to_owned()),
        (None, _, _) => Err(String::new()),
    }
}

/// Writes the answer to a request whose app call is over: the app's response, or a 500.
/// Returns the status, the body bytes sent, and whether the connection may stay open.
pub(super) fn answer<W: Write>(
    w: &mut W,
    wbuf: &mut Vec<u8>,
    head: &RequestHead,
    head_buf: &[u8],
    resp: &ResponseHead,
    outcome: std::result::Result<Body, String>,
    mut keep_alive: bool,
) -> io::Result<(u16, u64, bool)> {
    match outcome {
        Ok(b) => {
            if resp
                .header("connection")
                .is_some_and(|v| v.eq_ignore_ascii_case("close"))
            {
                keep_alive = false;
            }
            let is_head = head.method.get(head_buf) == b"HEAD";
            let (sent, ka) = write_response(w, wbuf, head, resp, b, keep_alive, is_head)?;
            Ok((resp.code, sent, ka))
        }
        Err(why) => {
            if !why.is_empty() {
                log::error!(
                    "Error handling request {} {}: {why}",
                    latin1(head.method.get(head_buf)),
                    latin1(head.target.get(head_buf))
                );
            }
            error_response(wbuf, 500, head.version);
            Ok((500, 0, false))
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn log_access(
    a: &AccessLog,
    env_values: &[Option<String>],
    head: &RequestHead,
    buf: &[u8],
    resp: &ResponseHead,
    status: u16,
    bytes: u64,
    started: SystemTime,
    t0: Instant,
) {
    let rh = |name: &str| {
        head.headers
            .iter()
            .find(|h| h.name.get(buf).eq_ignore_ascii_case(name.as_bytes()))
            .map(|h| latin1(h.value.get(buf)).into_owned())
    };
    let oh = |name: &str| resp.header(name).map(str::to_owned);
    let method = latin1(head.method.get(buf));
    let target = latin1(head.target.get(buf));
    a.log(&Entry {
        env_values,
        method: &method,
        target: &target,
        protocol: match head.version {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        },
        status,
        bytes,
        request_header: &rh,
        response_header: &oh,
        started,
        took: t0.elapsed(),
    });
}

fn timeout_error() -> HttpError {
    HttpError::new(ErrorKind::Timeout, "timed out reading the request head")
}

/// Writes what is buffered. Returns false if the connection is gone.
fn flush(io: &mut ConnIo, wbuf: &mut Vec<u8>) -> bool {
    if wbuf.is_empty() {
        return true;
    }
    // Flushing matters for TLS only (records rustls could not write yet).
    let ok = io.conn.write_all(wbuf).is_ok() && io.conn.flush().is_ok();
    wbuf.clear();
    ok
}

/// Answers a request the server refuses (malformed, too large, too slow), then closes.
fn refuse(io: &mut ConnIo, wbuf: &mut Vec<u8>, e: &HttpError, version: Version) {
    log::debug!("refusing request: {e}");
    error_response(wbuf, e.status(), version);
    if flush(io, wbuf) {
        linger(io, true);
    }
}

/// A small plain-text answer with `Connection: close`.
fn error_response(wbuf: &mut Vec<u8>, status: u16, version: Version) {
    let reason = encode::reason_phrase(status);
    let mut line = itoa::Buffer::new().format(status).to_owned();
    line.push(' ');
    line.push_str(reason);
    let body = format!("{reason}\n");
    encode::write_head(
        wbuf,
        &line,
        [("Content-Type", "text/plain; charset=utf-8")],
        Framing::Length(body.len() as u64),
        version,
        false,
        &date::now(),
    );
    wbuf.extend_from_slice(body.as_bytes());
}

/// Closes without destroying the answer just sent: if the client may still be sending,
/// stop writing and read (and discard) for a bounded time first, so the kernel does not
/// reset the connection under our response.
fn linger(io: &mut ConnIo, client_may_send: bool) {
    // (TLS: sends close_notify first.)
    let _ = io.conn.stream_mut().shutdown(std::net::Shutdown::Write);
    if !client_may_send {
        return;
    }
    let until = Instant::now() + LINGER_TIME;
    let mut scratch = [0u8; 4096];
    let mut total = 0usize;
    while total < LINGER_BYTES {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() || io.conn.stream().set_read_timeout(Some(left)).is_err() {
            return;
        }
        match io.conn.read(&mut scratch) {
            Ok(0) | Err(_) => return,
            Ok(n) => total += n,
        }
    }
}

/// The length the app announced with `Content-Length`, if valid.
fn announced_length(resp: &ResponseHead) -> Option<u64> {
    resp.header("content-length")
        .and_then(|v| v.trim().parse::<u64>().ok())
}

/// Writes the response head and body. Small bodies join the head in the write buffer
/// (sent with the next flush); streams are sent as they are produced. Returns the body
/// bytes sent and whether the connection may stay open.
#[allow(clippy::too_many_arguments)]
fn write_response<W: Write>(
    w: &mut W,
    wbuf: &mut Vec<u8>,
    head: &RequestHead,
    resp: &ResponseHead,
    body: Body,
    keep_alive: bool,
    is_head: bool,
) -> io::Result<(u64, bool)> {
    let known = match &body.kind {
        BodyKind::Full(b) => {
            if let Some(n) = announced_length(resp) {
                if n != b.len() as u64 {
                    log::warn!(
                        "app announced Content-Length {n} but returned {} bytes; sending the real length",
                        b.len()
                    );
                }
            }
            Some(b.len() as u64)
        }
        BodyKind::Reader(_, Some(n)) => Some(*n),
        _ => announced_length(resp),
    };
    let (framing, keep_alive) =
        encode::response_framing(head.version, is_head, resp.code, known, keep_alive);
    let status = resp.status.as_deref().unwrap_or("200 OK");
    encode::write_head(
        wbuf,
        status,
        resp.headers.iter().map(|(k, v)| (k.as_ref(), v.as_ref())),
        framing,
        head.version,
        keep_alive,
        &date::now(),
    );
    match (framing, body.kind) {
        (Framing::NoBody(_), _) => Ok((0, keep_alive)),
        (_, BodyKind::Full(b)) => {
            if b.len() <= COALESCE_MAX {
                wbuf.extend_from_slice(&b);
            } else {
                w.write_all(wbuf)?;
                wbuf.clear();
                w.write_all(&b)?;
            }
            Ok((b.len() as u64, keep_alive))
        }
        (framing, BodyKind::Chunks(chunks)) => stream_body(w, wbuf, framing, chunks, keep_alive),
        (framing, BodyKind::Reader(r, _)) => {
            let chunks = ReaderChunks {
                r,
                buf_size: 16 * 1024,
            };
            stream_body(w, wbuf, framing, Box::new(chunks), keep_alive)
        }
    }
}

/// A reader as a sequence of chunks.
struct ReaderChunks {
    r: Box<dyn Read + Send>,
    buf_size: usize,
}

impl Iterator for ReaderChunks {
    type Item = io::Result<Bytes>;
    fn next(&mut self) -> Option<io::Result<Bytes>> {
        let mut buf = vec![0u8; self.buf_size];
        loop {
            return match self.r.read(&mut buf) {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some(Ok(Bytes::from(buf)))
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => Some(Err(e)),
            };
        }
    }
}

/// Sends a produced body piece by piece. A producer that fails or panics ends the
/// response early and closes the connection (the client sees it incomplete).
fn stream_body<W: Write>(
    w: &mut W,
    wbuf: &mut Vec<u8>,
    framing: Framing,
    mut chunks: super::response::ChunkIter,
    keep_alive: bool,
) -> io::Result<(u64, bool)> {
    let mut sent = 0u64;
    let limit = match framing {
        Framing::Length(n) => Some(n),
        _ => None,
    };
    loop {
        let next = catch_unwind(AssertUnwindSafe(|| chunks.next()));
        let chunk = match next {
            Ok(Some(Ok(c))) => c,
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                log::error!("response body failed after {sent} bytes: {e}");
                w.write_all(wbuf)?;
                wbuf.clear();
                return Ok((sent, false));
            }
            Err(p) => {
                if is_cancel(&*p) {
                    resume_unwind(p);
                }
                log::error!(
                    "response body panicked after {sent} bytes: {}",
                    panic_message(&*p)
                );
                w.write_all(wbuf)?;
                wbuf.clear();
                return Ok((sent, false));
            }
        };
        if chunk.is_empty() {
            continue;
        }
        let mut data: &[u8] = &chunk;
        if let Some(n) = limit {
            let room = n - sent;
            if data.len() as u64 > room {
                log::warn!("app body exceeds its Content-Length {n}; truncated");
                data = &data[..room as usize];
            }
        }
        match framing {
            Framing::Chunked => encode::write_chunk(wbuf, data),
            _ => wbuf.extend_from_slice(data),
        }
        sent += data.len() as u64;
        // Streamed: each piece goes out as soon as it is produced.
        w.write_all(wbuf)?;
        wbuf.clear();
        if limit.is_some_and(|n| sent >= n) {
            break;
        }
    }
    match framing {
        Framing::Chunked => {
            wbuf.extend_from_slice(encode::LAST_CHUNK);
            Ok((sent, keep_alive))
        }
        Framing::Length(n) if sent < n => {
            log::error!("app body ended after {sent} of its {n} announced bytes; closing");
            Ok((sent, false))
        }
        _ => Ok((sent, keep_alive)),
    }
}
