//! One HTTP/1.1 connection as a state machine: each phase is a small function that does
//! its part and returns the next phase.
//!
//! ```text
//!  Preface ──> Head ──> Dispatch ──> Write ──> Drain ──> Head (keep-alive) ...
//!  (PROXY,     (next     (the app;     (head +   (the unread body,
//!   TLS)        request)  panic: 500)   body)     bounded)
//!     │           │           │           │          │
//!     └───────────┴─ Refuse ──┴───────────┴──────────┴──> Linger ──> Closed
//!                 (4xx, close)                     (answer delivered, then close)
//! ```
//!
//! Pipelined requests already in the read buffer are answered before the answers are
//! flushed in one write. The same code runs over a socket ([`crate::server::Conn`]) and
//! over in-memory bytes ([`MemStream`](super::io::MemStream)).

use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::builder::WsgiOptions;
use super::environ::{latin1, ConnInfo};
use super::input::{BodyIo, BodyReader};
use super::io::{is_full, is_timeout, ConnIo, MemStream, Transport, READ_BUF, READ_FIRST};
use super::log::{AccessLog, Exchange};
use super::pace::Pace;
use super::preface::{read_proxy_header, PrefaceError, PLAINTEXT_ANSWER};
use super::response::ResponseHead;
use super::trust::{forwarded_scheme, is_trusted};
use super::write;
use super::{App, Body, Environ, Input, StartResponse};
use crate::green::clock::coarse_monotonic_ms;
use crate::green::{is_cancel, panic_message, run_until, watchdog, Deadline, Ran};
use crate::http::encode::reason_phrase;
use crate::http::proxy::ProxyHeader;
use crate::http::request::{skip_empty_lines, HeadStatus, Limits, RequestHead, Version};
use crate::http::{Error as HttpError, ErrorKind};
use crate::logging::LineBudget;
use crate::metrics::Recorder;
use crate::net::{AllowList, Handshake};

/// Flush pipelined responses once this much is waiting.
const WBUF_FLUSH: usize = 64 * 1024;
/// A write buffer that grew past this is given back when the connection goes idle.
const WBUF_KEEP: usize = 16 * 1024;
/// Unread request body drained after the response so the connection can be reused; a
/// larger remainder closes the connection instead.
const DRAIN_MAX: u64 = 256 * 1024;
/// How long a keep-alive connection waits for its next request on its green thread; idle
/// longer, it hibernates (see [`Ended::Hibernate`]). Longer than the gaps between a busy
/// client's requests, short enough that idle connections soon cost only their state.
const HIBERNATE_AFTER: Duration = Duration::from_millis(500);
const HIBERNATE_AFTER_MS: u64 = HIBERNATE_AFTER.as_millis() as u64;
/// Lingering close: how long and how much to read and discard before closing, so that the
/// client receives our answer instead of a reset.
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 256 * 1024;

/// What every connection of one server shares: the app and the settings.
pub(crate) struct Service<A> {
    pub(crate) app: A,
    pub(crate) limits: Limits,
    /// `limits.max_head()`: how large the read buffer may grow for a head.
    pub(crate) max_head: usize,
    /// Minimum data rate of heads and bodies, bytes a second (0: none).
    pub(crate) min_rate: u32,
    /// Idle keep-alive timeout; `None`: no keep-alive.
    pub(crate) keep_alive: Option<Duration>,
    pub(crate) header_timeout: Option<Duration>,
    pub(crate) body_timeout: Option<Duration>,
    pub(crate) access: Option<AccessLog>,
    pub(crate) max_body: Option<u64>,
    /// How long a handler may run before it is cancelled (504); `None`: no limit.
    pub(crate) request_timeout: Option<Duration>,
    /// Peers whose secure-scheme headers are believed.
    pub(crate) forwarded_allow: AllowList,
    /// With the PROXY protocol: the peers allowed to send the header.
    pub(crate) proxy_allow: Option<AllowList>,
    /// Requests answered, when someone asked to count them (worker recycling), and from
    /// how many answered on answers close their connection (`u64::MAX`: never).
    pub(crate) served: Option<(Arc<AtomicU64>, u64)>,
    /// Where requests, durations and bytes are counted (a supervised worker's metrics).
    pub(crate) metrics: Option<Recorder>,
}

impl<A> Service<A> {
    /// The service of `app` under `o`, logging to `access` and counting in `served`.
    pub(crate) fn new(
        app: A,
        o: &WsgiOptions,
        access: Option<AccessLog>,
        served: Option<(Arc<AtomicU64>, u64)>,
    ) -> Self {
        let opt = |d: Duration| (!d.is_zero()).then_some(d);
        Service {
            app,
            limits: o.limits,
            max_head: o.limits.max_head(),
            min_rate: o.min_rate,
            keep_alive: opt(o.keep_alive),
            header_timeout: opt(o.header_timeout),
            body_timeout: opt(o.body_timeout),
            access,
            max_body: o.max_body,
            request_timeout: opt(o.request_timeout),
            forwarded_allow: o.forwarded_allow_ips.clone(),
            proxy_allow: o.proxy_protocol.clone(),
            served,
            metrics: None,
        }
    }
}

/// A request the server refuses itself, with the status to answer.
#[derive(Debug, Clone)]
pub(crate) struct Refusal {
    status: u16,
    why: &'static str,
}

impl Refusal {
    pub(crate) fn new(status: u16, why: &'static str) -> Self {
        Refusal { status, why }
    }

    /// The client was too slow sending its head.
    pub(crate) fn timeout() -> Self {
        HttpError::new(ErrorKind::Timeout, "timed out reading the request head").into()
    }

    /// The client sent its head below the minimum data rate.
    pub(crate) fn too_slow() -> Self {
        Refusal::new(
            408,
            "request head sent below the minimum data rate (--min-rate)",
        )
    }
}

impl From<HttpError> for Refusal {
    fn from(e: HttpError) -> Self {
        Refusal::new(e.status(), e.detail())
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (s, why) = (self.status, self.why);
        write!(f, "{why} ({s} {})", reason_phrase(s))
    }
}

/// Refused requests logged a second, at most: a client can cause these lines.
static REFUSALS_LOGGED: LineBudget = LineBudget::new(10);

/// Where a connection stands.
pub(crate) enum Phase {
    /// Before the first request: the PROXY header, the TLS handshake.
    Preface,
    /// Waiting for the next request head, and reading it.
    Head,
    /// Calling the app.
    Dispatch,
    /// Sending the answer to the request (the app's outcome waits in the connection).
    Write,
    /// Reading what the app left of the request body, to serve the next request.
    Drain,
    /// Answering a request the server refuses, then closing (the refusal waits in the
    /// connection).
    Refuse,
    /// Closing without destroying the answer just sent (`true`: the client may still be
    /// sending, so read and discard for a while).
    Linger(bool),
    /// Idle for [`HIBERNATE_AFTER`] between requests: wait without a green thread, until
    /// the connection's deadline (the rest of the keep-alive timeout).
    Hibernate,
    /// Done.
    Closed,
}

/// How [`Connection::run`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    /// The connection is closed.
    Closed,
    /// The connection is idle and can wait for its next request without a green thread,
    /// until the deadline: its buffers are given back; hand it to
    /// [`hibernate`](crate::server::hibernate), and run it again from [`Phase::Head`]
    /// when its peer sends.
    Hibernate(Option<Instant>),
}

/// The facts of the request being served.
struct Request {
    /// When its head began to arrive (for the header timeout and the access log).
    began: Option<Instant>,
    /// Wall-clock time of the app call, for the access log.
    wall: Option<SystemTime>,
    /// The scheme set by a trusted peer's secure-scheme headers.
    scheme: Option<&'static str>,
    /// Environ values the access log needs, read after the app ran.
    env_values: Vec<Option<String>>,
    /// How its head has arrived (for the minimum data rate).
    pace: Pace,
    keep_alive: bool,
}

/// One connection: its stream and buffers, the request being served, and its phase.
pub(crate) struct Connection<A, T> {
    svc: Arc<Service<A>>,
    io: ConnIo<T>,
    info: ConnInfo,
    /// The client's address (the one a PROXY header names, if any).
    client_ip: Option<IpAddr>,
    /// Whether the client's secure-scheme headers are believed (judged after the preface).
    trust_scheme: bool,
    /// Whether the server was told the connection is receiving a head or idle (and must
    /// hear when the head is complete).
    receiving: bool,
    /// Whether the server last heard the connection is idle, while its next head arrives:
    /// a head that arrives whole goes straight to busy; only one that needs more reads is
    /// announced as receiving (one state change less per request).
    idle_marked: bool,
    head: RequestHead,
    /// The current request's head bytes, which `head` indexes.
    head_buf: Vec<u8>,
    resp: RefCell<ResponseHead>,
    body: BodyReader,
    req: Request,
    requests: u64,
    /// The current request's deadline, with `--request-timeout`.
    deadline: Option<Deadline>,
    /// The app's body, for [`Phase::Write`] (`None`: the answer is a 500). The phases
    /// carry no data, so that they pass between the phase functions in a register.
    reply: Option<Body>,
    /// Why the answer is a 500 (empty when already logged).
    fault: Option<String>,
    /// The request being refused, for [`Phase::Refuse`]: why, its version, and whether
    /// it is a HEAD (answered without a body).
    refusal: Option<(Refusal, Version, bool)>,
    /// When a connection in [`Phase::Hibernate`] closes unless its client sends.
    idle_until: Option<Instant>,
}

impl<A: App, T: Transport> Connection<A, T> {
    /// A connection over `t`, from the peer `client_ip` (`None`: a unix socket).
    pub(crate) fn new(
        svc: Arc<Service<A>>,
        t: T,
        info: ConnInfo,
        client_ip: Option<IpAddr>,
    ) -> Self {
        let body = BodyReader::new(svc.body_timeout, svc.max_body, svc.min_rate);
        let deadline = svc.request_timeout.map(|_| Deadline::new(None));
        Connection {
            svc,
            io: ConnIo::new(t, READ_FIRST),
            info,
            client_ip,
            trust_scheme: false,
            receiving: false,
            idle_marked: false,
            head: RequestHead::new(),
            head_buf: Vec::new(),
            resp: RefCell::default(),
            body,
            req: Request {
                began: None,
                wall: None,
                scheme: None,
                env_values: Vec::new(),
                pace: Pace::default(),
                keep_alive: false,
            },
            requests: 0,
            deadline,
            reply: None,
            fault: None,
            refusal: None,
            idle_until: None,
        }
    }

    /// The stream.
    pub(crate) fn transport(&self) -> &T {
        self.io.transport()
    }

    /// The stream.
    pub(crate) fn transport_mut(&mut self) -> &mut T {
        self.io.transport_mut()
    }

    /// Says why a request was refused, within the log's budget for such lines.
    fn log_refusal(&self, r: &Refusal) {
        if let Some(dropped) = REFUSALS_LOGGED.take() {
            let also = match dropped {
                0 => String::new(),
                n => format!(" ({n} more refusals not logged)"),
            };
            log::warn!("refused a request from {}: {r}{also}", self.peer());
        }
    }

    /// The client, for log lines: `IP:port`, or `unix socket`.
    fn peer(&self) -> String {
        match (
            self.info.remote_addr.as_str(),
            self.info.remote_port.as_str(),
        ) {
            ("", _) => "unix socket".to_owned(),
            (ip, port) if ip.contains(':') => format!("[{ip}]:{port}"),
            (ip, port) => format!("{ip}:{port}"),
        }
    }

    /// Whether the last answer left the connection open.
    pub(crate) fn is_keep_alive(&self) -> bool {
        self.req.keep_alive
    }

    /// Runs the connection from `phase` until it is closed.
    ///
    /// Each phase is a function of its own, never inlined here: a green thread's stack
    /// pages stay resident once touched, so the deepest call (the app's) must not sit
    /// below the frames of every other phase.
    pub(crate) fn run(&mut self, mut phase: Phase) -> Ended {
        loop {
            phase = match phase {
                Phase::Preface => self.preface(),
                Phase::Head => self.read_head(),
                Phase::Dispatch => self.dispatch(),
                Phase::Write => self.write(),
                Phase::Drain => self.drain(),
                Phase::Refuse => self.refuse(),
                Phase::Linger(client_may_send) => self.linger(client_may_send, false),
                Phase::Hibernate => {
                    self.release_idle();
                    return Ended::Hibernate(self.idle_until);
                }
                Phase::Closed => {
                    self.count_bytes();
                    return Ended::Closed;
                }
            };
        }
    }

    /// Refuses the request with `r` (answered in the `version` the request used).
    #[cold]
    fn refusing(&mut self, r: Refusal, version: Version) -> Phase {
        // Its head not parsed: a HEAD if its request line says so.
        let head = starts_as_head(self.io.buffered());
        self.refusal = Some((r, version, head));
        Phase::Refuse
    }

    /// [`refusing`](Self::refusing) the request whose head was parsed.
    fn refusing_parsed(&mut self, r: Refusal) -> Phase {
        let head = self.head.method.get(&self.head_buf) == b"HEAD";
        self.refusal = Some((r, self.head.version, head));
        Phase::Refuse
    }

    /// Reads the PROXY header (when expected), then runs the TLS handshake (on TLS).
    #[cold]
    #[inline(never)]
    fn preface(&mut self) -> Phase {
        // Until its first request is complete, a new connection may be shed to make room.
        self.io.transport().set_receiving();
        self.receiving = true;
        let tls = self.io.transport().is_tls();
        if let Some(allow) = &self.svc.proxy_allow {
            let timeout = self.svc.header_timeout;
            match read_proxy_header(&mut self.io, allow, self.client_ip, timeout, tls) {
                Ok(Some(ProxyHeader::Tcp { client, proxy })) => {
                    self.info.proxy_addr = Some(proxy.ip().to_string());
                    self.info.proxy_port = Some(proxy.port().to_string());
                    self.info.remote_addr = client.ip().to_string();
                    self.info.remote_port = client.port().to_string();
                    self.client_ip = Some(client.ip());
                }
                Ok(Some(ProxyHeader::Local) | None) => {}
                // Before a TLS handshake there is no way to answer: just close.
                Err(PrefaceError::Refused(r)) if tls => {
                    self.log_refusal(&r);
                    return Phase::Closed;
                }
                Err(PrefaceError::Refused(r)) => return self.refusing(r, Version::Http11),
                Err(PrefaceError::Gone) => return Phase::Closed,
            }
        }
        // Scheme headers are believed from the peer that speaks HTTP to us: behind a PROXY
        // header that is the client the header names, not the TCP proxy (which forwards
        // the client's headers untouched).
        self.trust_scheme = is_trusted(&self.svc.forwarded_allow, self.client_ip);
        if tls {
            return self.start_tls();
        }
        Phase::Head
    }

    #[cold]
    #[inline(never)]
    fn start_tls(&mut self) -> Phase {
        match self.io.tls_handshake(self.svc.header_timeout) {
            Ok(Handshake::Done) => Phase::Head,
            Ok(Handshake::Plaintext) => {
                self.log_refusal(&Refusal::new(400, "plain HTTP on a TLS port"));
                if self.io.transport_mut().write_raw(PLAINTEXT_ANSWER).is_ok() {
                    self.linger(true, true);
                }
                Phase::Closed
            }
            Err(e) => {
                log::debug!("TLS handshake with {} failed: {e}", self.peer());
                Phase::Closed
            }
        }
    }

    /// Waits for the next request (sending pipelined answers first), then reads its head
    /// within the header timeout.
    #[inline(never)]
    fn read_head(&mut self) -> Phase {
        if !self.io.has_buffered() {
            if let Err(phase) = self.wait_for_request() {
                return phase;
            }
        }
        self.requests += 1;
        // The clock is read only when needed (not for a whole head already buffered,
        // without access log).
        let timed = self.svc.access.is_some() || self.svc.metrics.is_some();
        self.req.began = timed.then(Instant::now);
        self.req.pace = Pace::new(self.io.buffered().len());
        let n = loop {
            match self.head.parse(self.io.buffered(), &self.svc.limits) {
                Ok(HeadStatus::Complete(n)) => break n,
                Ok(HeadStatus::Partial) => {
                    if let Err(phase) = self.read_more_head() {
                        return phase;
                    }
                }
                Err(e) => return self.refusing(e.into(), Version::Http11),
            }
        };
        self.io.take_head(n, &mut self.head_buf);
        // The app runs without a read buffer unless more bytes came with the head.
        self.io.spare_read();
        // A complete request is never shed.
        self.idle_marked = false;
        if std::mem::take(&mut self.receiving) && !self.io.transport().set_busy() {
            return Phase::Closed;
        }
        self.req.scheme = None;
        if self.trust_scheme {
            match forwarded_scheme(&self.head, &self.head_buf).scheme() {
                Ok(s) => self.req.scheme = s,
                Err(r) => return self.refusing_parsed(r),
            }
        }
        Phase::Dispatch
    }

    /// Waits for the first bytes of the next request. Fails with the next phase when the
    /// connection is over (closed by the peer, idle too long, or closed by a stop), or
    /// idle long enough to wait without its green thread.
    fn wait_for_request(&mut self) -> Result<(), Phase> {
        if self.io.flush().is_err() {
            return Err(Phase::Closed);
        }
        self.io.shrink_idle(READ_BUF, WBUF_KEEP);
        // A new connection's first request is always read and answered (a client that
        // connected as a stop began must not lose it); between keep-alive requests the
        // connection is idle, and a stop closes it.
        let first = self.requests == 0;
        if !first && !self.io.transport().set_idle() {
            // Closed as after a last answer (a TLS client gets close_notify).
            return Err(Phase::Linger(false));
        }
        let svc = &self.svc;
        let wait = if first {
            svc.header_timeout.or(svc.keep_alive)
        } else {
            svc.keep_alive.or(svc.header_timeout)
        };
        // Between requests, a connection idle for a while goes on waiting without its
        // green thread (whose stack is most of what it costs).
        let may_hibernate = !first && wait.map_or(true, |w| w > HIBERNATE_AFTER);
        let tls = self.io.transport().is_tls();
        let got = if may_hibernate && !tls {
            // The park may end up to a sweep late: the keep-alive timeout counts from its
            // start, not from its end.
            let from = coarse_monotonic_ms();
            let r = self.io.fill_parked(svc.max_head, from + HIBERNATE_AFTER_MS);
            if r.as_ref().is_err_and(is_timeout) {
                let waited = Duration::from_millis(coarse_monotonic_ms() - from);
                self.idle_until = wait.map(|w| Instant::now() + w.saturating_sub(waited));
                return Err(Phase::Hibernate);
            }
            r
        } else if may_hibernate {
            self.wait_tls(wait)?
        } else {
            self.io.fill(svc.max_head, wait)
        };
        match got {
            Ok(1..) => {}
            // Idle too long: closed as after a last answer (a TLS client gets close_notify,
            // a clean end rather than a truncation).
            Err(e) if is_timeout(&e) => return Err(Phase::Linger(false)),
            _ => return Err(Phase::Closed),
        }
        self.receiving = true;
        self.idle_marked = !first;
        Ok(())
    }

    /// Waits for the next request on a TLS connection that may hibernate: for
    /// [`HIBERNATE_AFTER`] with a deadline (TLS may hold decrypted bytes the socket no
    /// longer shows, so it cannot park on the socket's readiness alone), then, when TLS
    /// holds nothing (see [`crate::net::TlsStream`]'s quiet state), without its green
    /// thread; else on for the rest of `wait`.
    #[cold]
    #[inline(never)]
    fn wait_tls(&mut self, wait: Option<Duration>) -> Result<std::io::Result<usize>, Phase> {
        let max_head = self.svc.max_head;
        let r = self.io.fill(max_head, Some(HIBERNATE_AFTER));
        if !r.as_ref().is_err_and(is_timeout) {
            return Ok(r);
        }
        let rest = wait.map(|w| w.saturating_sub(HIBERNATE_AFTER));
        if self.io.transport().can_hibernate() {
            self.idle_until = rest.map(|r| Instant::now() + r);
            return Err(Phase::Hibernate);
        }
        Ok(self.io.fill(max_head, rest))
    }

    /// Gives back what an idle connection does not need while it hibernates: its buffers
    /// and the last request's state. Each is made again for the next request.
    fn release_idle(&mut self) {
        self.io.release_buffers();
        self.head_buf = Vec::new();
        self.head = RequestHead::new();
        self.req.env_values = Vec::new();
        *self.resp.get_mut() = ResponseHead::default();
    }

    /// Reads more of a partial head, within what is left of the header timeout (slow
    /// clients cannot hold the connection).
    #[cold]
    #[inline(never)]
    fn read_more_head(&mut self) -> Result<(), Phase> {
        // Until it is complete, the head's connection may be shed to make room.
        if std::mem::take(&mut self.idle_marked) && !self.io.transport().set_receiving() {
            return Err(Phase::Closed);
        }
        let t0 = *self.req.began.get_or_insert_with(Instant::now);
        let left = self
            .svc
            .header_timeout
            .map(|d| (t0 + d).saturating_duration_since(Instant::now()));
        let rate = self.svc.min_rate;
        if left.is_some_and(|l| l.is_zero()) {
            return Err(self.refusing(Refusal::timeout(), Version::Http11));
        }
        if self.req.pace.is_too_slow(rate) {
            return Err(self.refusing(Refusal::too_slow(), Version::Http11));
        }
        let began = Instant::now();
        match self
            .io
            .fill(self.svc.max_head, self.req.pace.limit(rate, left))
        {
            Ok(0) => Err(Phase::Closed),
            Ok(n) => {
                self.req.pace.record(began, n);
                Ok(())
            }
            Err(e) if is_timeout(&e) => {
                self.req.pace.record(began, 0);
                let r = match self.req.pace.is_too_slow(rate) {
                    true => Refusal::too_slow(),
                    false => Refusal::timeout(),
                };
                Err(self.refusing(r, Version::Http11))
            }
            Err(e) if is_full(&e) => {
                let e = HttpError::new(ErrorKind::HeaderTooLarge, "request head too large");
                Err(self.refusing(e.into(), Version::Http11))
            }
            Err(_) => Err(Phase::Closed),
        }
    }

    /// Calls the app with the request; a body it could not read is answered with its
    /// error, whatever the app said.
    #[inline(never)]
    fn dispatch(&mut self) -> Phase {
        if let Err(e) = self.body.start(&self.head) {
            return self.refusing_parsed(e.into());
        }
        self.resp.get_mut().clear();
        self.req.wall = self.svc.access.as_ref().map(|_| SystemTime::now());
        let running = self.svc.metrics.as_ref().map(Recorder::enter);
        self.call_app();
        drop(running);
        if self.body.is_upgraded() {
            self.reply = None;
            return self.upgraded();
        }
        if let Some(e) = self.body.failed() {
            let e = e.clone();
            self.reply = None;
            if self.body.is_peer_gone() {
                return Phase::Closed;
            }
            return self.refusing_parsed(e.into());
        }
        // A body the client holds back (Expect: 100-continue, never asked for) or a large
        // unread one: close instead of reading it.
        self.req.keep_alive = self.head.keep_alive
            && self.svc.keep_alive.is_some()
            && !self.io.transport().is_stopping()
            && !self.body.is_costly(DRAIN_MAX);
        write::judge(&mut self.reply, self.resp.get_mut(), &mut self.fault);
        Phase::Write
    }

    /// Runs the app over an environ of the request, its body left in `self.reply` (`None`
    /// if it panicked: logged).
    fn call_app(&mut self) {
        let mut source = BodyIo {
            reader: &mut self.body,
            io: &mut self.io,
        };
        let mut env = Environ::new(
            &self.head_buf,
            &self.head,
            &self.info,
            Input::new(&mut source),
        );
        if let Some(s) = self.req.scheme.filter(|s| *s != self.info.scheme) {
            env.set("wsgi.url_scheme", s);
        }
        let reply = &mut self.reply;
        match (&self.deadline, self.svc.request_timeout) {
            (Some(d), Some(t)) => {
                d.set(Some(Instant::now() + t));
                env.set_deadline(d);
                *reply = call_app_until(&self.svc.app, &mut env, &self.resp, d, t);
            }
            _ => call_app(
                &self.svc.app,
                &mut env,
                &self.resp,
                (&self.head, &self.head_buf),
                reply,
            ),
        }
        if let Some(a) = &self.svc.access {
            self.req.env_values.clear();
            let values = a.env_keys.iter().map(|k| env.get(k).map(str::to_owned));
            self.req.env_values.extend(values);
        }
    }

    /// Sends the answer, counts and logs it.
    #[inline(never)]
    fn write(&mut self) -> Phase {
        let (reply, fault) = (self.reply.take(), self.fault.take());
        if let Some((n, limit)) = &self.svc.served {
            // The answer that reaches the limit is the connection's last: the worker
            // recycles, and the client must not send another request on it.
            if n.fetch_add(1, Ordering::Relaxed) + 1 >= *limit {
                self.req.keep_alive = false;
            }
        }
        let resp = self.resp.get_mut();
        let sent = match write::answer(
            &mut self.io,
            (&self.head, &self.head_buf),
            resp,
            reply,
            fault,
            self.req.keep_alive,
            self.deadline.as_ref(),
        ) {
            Ok(sent) => sent,
            Err(_) => return Phase::Closed,
        };
        self.req.keep_alive = sent.keep_alive;
        if let (Some(a), Some(began), Some(wall)) =
            (&self.svc.access, self.req.began, self.req.wall)
        {
            let x = Exchange {
                head: &self.head,
                buf: &self.head_buf,
                resp,
                env_values: &self.req.env_values,
                started: wall,
                took: began.elapsed(),
            };
            a.log_exchange(&x, sent.status, sent.bytes);
        }
        self.count(sent.status);
        Phase::Drain
    }

    /// Counts an answered request in the metrics, if kept: method, status, duration, and
    /// the bytes the connection moved since it last counted.
    #[inline]
    fn count(&mut self, status: u16) {
        if let (Some(m), Some(began)) = (&self.svc.metrics, self.req.began) {
            m.request(
                self.head.method.get(&self.head_buf),
                status,
                began.elapsed(),
            );
            let (rx, tx) = self.io.take_counts();
            m.counters().add_bytes(rx, tx);
        }
    }

    /// Counts the bytes moved since the last answered request, at the close.
    fn count_bytes(&mut self) {
        if let Some(m) = &self.svc.metrics {
            let (rx, tx) = self.io.take_counts();
            m.counters().add_bytes(rx, tx);
        }
    }

    /// The app took the connection over (`101` sent) and is done with it: logged, closed.
    #[cold]
    #[inline(never)]
    fn upgraded(&mut self) -> Phase {
        if let (Some(a), Some(began), Some(wall)) =
            (&self.svc.access, self.req.began, self.req.wall)
        {
            let mut resp = self.resp.borrow_mut();
            resp.clear();
            resp.code = 101;
            resp.status = Some("101 Switching Protocols".into());
            let x = Exchange {
                head: &self.head,
                buf: &self.head_buf,
                resp: &resp,
                env_values: &self.req.env_values,
                started: wall,
                took: began.elapsed(),
            };
            a.log_exchange(&x, 101, 0);
        }
        Phase::Closed
    }

    /// Makes the connection ready for the next request: the rest of the body is read
    /// (bounded), or the connection closes.
    #[inline(never)]
    fn drain(&mut self) -> Phase {
        let done = self.body.is_done();
        if self.req.keep_alive && !done && !self.body.drain(&mut self.io, DRAIN_MAX) {
            self.req.keep_alive = false;
        }
        if !self.req.keep_alive {
            return Phase::Linger(!self.body.is_done());
        }
        if self.io.queued() >= WBUF_FLUSH && self.io.flush().is_err() {
            return Phase::Closed;
        }
        Phase::Head
    }

    /// Answers a request the server refuses (malformed, too large, too slow), then closes.
    #[cold]
    #[inline(never)]
    fn refuse(&mut self) -> Phase {
        let Some((r, version, head)) = self.refusal.take() else {
            return Phase::Closed;
        };
        self.log_refusal(&r);
        if let Some(m) = &self.svc.metrics {
            // Its method may be unknown (the head did not parse): counted as `other`.
            m.request(
                b"",
                r.status,
                self.req.began.map_or(Duration::ZERO, |b| b.elapsed()),
            );
        }
        self.req.keep_alive = false;
        write::error_response(self.io.out(), r.status, version, head);
        Phase::Linger(true)
    }

    /// Sends what is queued, then closes without destroying it: if the client may still be
    /// sending, stop writing and read (and discard) for a bounded time first, so the kernel
    /// does not reset the connection under our answer. `raw`: beneath TLS.
    #[cold]
    #[inline(never)]
    fn linger(&mut self, client_may_send: bool, raw: bool) -> Phase {
        if self.io.flush().is_err() {
            return Phase::Closed;
        }
        self.io.transport_mut().shutdown_write(raw);
        if !client_may_send {
            return Phase::Closed;
        }
        let until = Instant::now() + LINGER_TIME;
        let mut total = 0usize;
        while total < LINGER_BYTES {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match self.io.read_discard(left, raw) {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
        Phase::Closed
    }
}

/// The facts of an in-memory connection: from 127.0.0.1:40000 to localhost:80, plain HTTP.
/// Who an in-memory connection is from and to, for tests.
#[derive(Debug, Clone)]
pub(crate) struct MemPeer {
    /// The client (`None`: a unix socket's unnamed peer).
    pub(crate) peer: Option<SocketAddr>,
    /// `SERVER_NAME` and `SERVER_PORT`.
    pub(crate) server: (String, u16),
}

impl Default for MemPeer {
    fn default() -> Self {
        MemPeer {
            peer: Some(([127, 0, 0, 1], 40000).into()),
            server: ("localhost".into(), 80),
        }
    }
}

fn in_memory_info(mem: &MemPeer) -> ConnInfo {
    ConnInfo {
        remote_addr: mem.peer.map(|p| p.ip().to_string()).unwrap_or_default(),
        remote_port: mem.peer.map(|p| p.port().to_string()).unwrap_or_default(),
        server_name: mem.server.0.clone(),
        server_port: mem.server.1.to_string(),
        scheme: "http",
        ..ConnInfo::default()
    }
}

/// Serves `raw` (one or more requests, then the end of the stream) on a new in-memory
/// connection from `peer`, from its preface to its close; returns every byte written.
pub(crate) fn run_exchange<A: App>(svc: &Arc<Service<A>>, raw: &[u8], peer: &MemPeer) -> Vec<u8> {
    let mut mem = MemStream::default();
    mem.push(raw);
    let info = in_memory_info(peer);
    let mut conn = Connection::new(svc.clone(), mem, info, peer.peer.map(|p| p.ip()));
    conn.run(Phase::Preface);
    std::mem::take(conn.transport_mut().output())
}

/// Builds the environ of the request at the start of `raw` (its body following it), as a
/// connection from `peer` would, and hands it to `f`: for tests of middleware.
pub(crate) fn with_environ<R>(
    raw: &[u8],
    peer: &MemPeer,
    f: impl FnOnce(&mut Environ<'_>) -> R,
) -> Result<R, HttpError> {
    let mut head = RequestHead::new();
    let n = match head.parse(raw, &Limits::default())? {
        HeadStatus::Complete(n) => n,
        HeadStatus::Partial => {
            return Err(HttpError::new(
                ErrorKind::BadRequestLine,
                "incomplete request head",
            ))
        }
    };
    let mut mem = MemStream::default();
    mem.push(&raw[n..]);
    let mut io = ConnIo::new(mem, READ_FIRST);
    let mut body = BodyReader::new(None, None, 0);
    body.start(&head)?;
    let info = in_memory_info(peer);
    let mut source = BodyIo {
        reader: &mut body,
        io: &mut io,
    };
    let mut env = Environ::new(&raw[..n], &head, &info, Input::new(&mut source));
    Ok(f(&mut env))
}

/// Calls the app with `env`, its body written to `reply`, where it stays; a panic leaves
/// `None` (logged with the request's `head`; a cancellation unwinds on).
fn call_app<A: App>(
    app: &A,
    env: &mut Environ<'_>,
    resp: &RefCell<ResponseHead>,
    (head, head_buf): (&RequestHead, &[u8]),
    reply: &mut Option<Body>,
) {
    *reply = None;
    let called = catch_unwind(AssertUnwindSafe(|| call_into(app, env, resp, reply)));
    if let Err(p) = called {
        if is_cancel(&*p) {
            resume_unwind(p);
        }
        log::error!(
            "Error handling request {} {}: app panicked: {}",
            latin1(head.method.get(head_buf)),
            latin1(head.target.get(head_buf)),
            panic_message(&*p)
        );
    }
}

/// Calls the app, marked for the blocking watchdog (when it runs) with the request.
#[inline(always)]
fn call_marked<A: App>(app: &A, env: &mut Environ<'_>, resp: &RefCell<ResponseHead>) -> Body {
    let _mark = watchdog::enter(|| {
        format!(
            "{} {} from {}",
            env.method(),
            env.get("REQUEST_URI").unwrap_or(""),
            env.get("REMOTE_ADDR").unwrap_or("-")
        )
    });
    app.call(env, StartResponse::new(resp))
}

/// Whether `received`, the start of a request whose head did not parse, is a HEAD
/// request (past the empty lines a request may start with): its answer has no body.
fn starts_as_head(received: &[u8]) -> bool {
    skip_empty_lines(received)
        .ok()
        .flatten()
        .is_some_and(|start| received[start..].starts_with(b"HEAD "))
}

/// [`call_marked`], its body written to `reply`: with the app inlined here, the body is
/// stored straight into the slot. Returned through a temporary and then moved, it would
/// cost a stalled load on every request.
#[inline(never)]
fn call_into<A: App>(
    app: &A,
    env: &mut Environ<'_>,
    resp: &RefCell<ResponseHead>,
    reply: &mut Option<Body>,
) {
    *reply = Some(call_marked(app, env, resp));
}

/// [`call_app`] under the request's deadline: a handler still running when it passes is
/// cancelled at its next yield and the answer is a 504 (logged, naming the request).
#[cold]
#[inline(never)]
fn call_app_until<A: App>(
    app: &A,
    env: &mut Environ<'_>,
    resp: &RefCell<ResponseHead>,
    deadline: &Deadline,
    timeout: Duration,
) -> Option<Body> {
    let started = Instant::now();
    match run_until(deadline, || call_marked(app, env, resp)) {
        Ran::Done(b) => Some(b),
        Ran::Panicked(p) => {
            log::error!(
                "Error handling request {} {}: app panicked: {}",
                env.method(),
                env.get("REQUEST_URI").unwrap_or(""),
                panic_message(&*p)
            );
            None
        }
        Ran::Expired => {
            log::error!(
                "Request timed out after {:.3}s (--request-timeout {}s): {} {} from {}; \
                 the handler was cancelled",
                started.elapsed().as_secs_f64(),
                timeout.as_secs_f64(),
                env.method(),
                env.get("REQUEST_URI").unwrap_or(""),
                env.get("REMOTE_ADDR").unwrap_or("-"),
            );
            let mut r = resp.borrow_mut();
            r.clear();
            r.code = 504;
            r.status = Some("504 Gateway Timeout".into());
            r.headers
                .push(("Content-Type".into(), "text/plain; charset=utf-8".into()));
            r.headers.push(("Connection".into(), "close".into()));
            Some(Body::from("Gateway Timeout\n"))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    /// Runs a connection to `app` over `input` (then end of stream), from its preface to
    /// its close; returns what it wrote.
    fn exchange<A: App>(app: A, opts: &WsgiOptions, input: &[u8]) -> String {
        let svc = Arc::new(Service::new(app, opts, None, None));
        String::from_utf8(run_exchange(&svc, input, &MemPeer::default())).unwrap()
    }

    fn hello(_env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
        start.status("200 OK");
        Body::from("hi")
    }

    /// Reads the body and answers with its length.
    fn count(env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
        let mut body = Vec::new();
        let n = env.input().read_to_end(&mut body).map_or(-1, |n| n as i64);
        start.status("200 OK");
        Body::from(format!("{n}"))
    }

    /// Answers with the method, the path and the length of the body it read.
    fn echo_len(env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
        let mut body = Vec::new();
        let n = env.input().read_to_end(&mut body).map_or(-1, |n| n as i64);
        start.status("200 OK");
        Body::from(format!("{} {} {n}", env.method(), env.path()))
    }

    std::thread_local! {
        static SEEN: std::cell::RefCell<Vec<(usize, usize)>> = const { std::cell::RefCell::new(Vec::new()) };
    }

    fn spares_seen(_: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
        SEEN.with_borrow_mut(|s| s.push(super::super::spare::kept()));
        start.status("200 OK");
        Body::from("ok")
    }

    /// While its app runs, a connection with nothing more received holds no buffer: its
    /// read buffer went back to the thread's spares once the head was taken, its write
    /// buffer after the last answer left (the in-memory connection runs on this thread).
    #[test]
    fn the_app_runs_while_the_buffers_are_spares() {
        let req = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        let svc = Arc::new(Service::new(
            spares_seen,
            &WsgiOptions::default(),
            None,
            None,
        ));
        let mut mem = MemStream::default();
        mem.push(&req.repeat(3));
        mem.in_pieces(&[req.len()]);
        let peer = MemPeer::default();
        let mut conn = Connection::new(svc, mem, in_memory_info(&peer), None);
        conn.run(Phase::Preface);
        assert_eq!(
            statuses(&String::from_utf8_lossy(conn.transport_mut().output())).len(),
            3
        );
        // The first answer's write buffer is taken after the first app call.
        assert_eq!(SEEN.take(), vec![(1, 0), (1, 1), (1, 1)]);
    }

    /// How a connection reads has no say in what it answers: a stream of requests of every
    /// size (heads from 30 bytes to 5 KB, bodies by length and chunked, up to 20 KB), read
    /// whole or in pieces of any size, across the read buffer's growth and compaction, gets
    /// the same answers.
    #[test]
    fn answers_do_not_depend_on_how_the_bytes_arrive() {
        let mut stream = Vec::new();
        for i in 0..30usize {
            let pad = "p".repeat((i * 173) % 5000);
            let body = "b".repeat((i * 1361) % 20_000);
            stream.extend_from_slice(
                match i % 4 {
                    0 => format!("GET /g{i} HTTP/1.1\r\nHost: x\r\n\r\n"),
                    1 => format!("GET /c{i} HTTP/1.1\r\nHost: x\r\nCookie: {pad}\r\n\r\n"),
                    2 => format!(
                        "POST /l{i} HTTP/1.1\r\nHost: x\r\nX-Pad: {pad}\r\n\
                         Content-Length: {}\r\n\r\n{body}",
                        body.len()
                    ),
                    _ => format!(
                        "POST /t{i} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
                         {:x}\r\n{body}\r\n0\r\n\r\n",
                        body.len()
                    ),
                }
                .as_bytes(),
            );
        }
        let svc = Arc::new(Service::new(echo_len, &WsgiOptions::default(), None, None));
        let answers = |pieces: &[usize]| {
            let mut mem = MemStream::default();
            mem.push(&stream);
            mem.in_pieces(pieces);
            let peer = MemPeer::default();
            let mut conn = Connection::new(svc.clone(), mem, in_memory_info(&peer), None);
            conn.run(Phase::Preface);
            write::tests::undated(conn.transport_mut().output())
        };
        let whole = answers(&[]);
        assert_eq!(statuses(&whole), vec!["HTTP/1.1 200 OK"; 30]);
        assert!(
            whole.contains(&format!("POST /t27 {}", 27 * 1361 % 20_000))
                && whole.contains("GET /c29 ")
        );
        // A pseudo-random walk of sizes around the buffer's sizes, and some fixed ones.
        let mut x = 7u64;
        let walk: Vec<usize> = (0..97)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                [1, 2, 17, 500, 1023, 1024, 1025, 4095, 4096, 4097, 9000][(x >> 60) as usize % 11]
            })
            .collect();
        for pieces in [&[1][..], &[3, 1024], &[1023], &[1025, 5], &[4097], &walk] {
            assert_eq!(answers(pieces), whole, "reads of at most {pieces:?}");
        }
    }

    /// The status lines in `out` (bodies here never contain "HTTP/1.1 ").
    fn statuses(out: &str) -> Vec<&str> {
        out.match_indices("HTTP/1.1 ")
            .map(|(i, _)| &out[i..i + out[i..].find("\r\n").unwrap()])
            .collect()
    }

    const GET: &str = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

    #[test]
    fn pipelined_requests_are_answered_in_order_and_kept_alive() {
        let out = exchange(hello, &WsgiOptions::default(), GET.repeat(3).as_bytes());
        assert_eq!(statuses(&out), ["HTTP/1.1 200 OK"; 3]);
        assert!(!out.contains("Connection: close"), "{out}");
    }

    #[test]
    fn answers_already_made_go_out_before_100_continue() {
        let post =
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n";
        let out = exchange(
            count,
            &WsgiOptions::default(),
            format!("{GET}{post}").as_bytes(),
        );
        let (first, cont) = (
            out.find("HTTP/1.1 200 OK").unwrap(),
            out.find("100 Continue").unwrap(),
        );
        assert!(first < cont, "{out}");
    }

    #[test]
    fn an_unread_body_is_drained_for_the_next_request() {
        let post = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
        let out = exchange(
            hello,
            &WsgiOptions::default(),
            format!("{post}{GET}").as_bytes(),
        );
        assert_eq!(statuses(&out), ["HTTP/1.1 200 OK"; 2]);
    }

    #[test]
    fn a_chunked_body_reaches_the_app() {
        let post = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        let out = exchange(count, &WsgiOptions::default(), post.as_bytes());
        assert!(out.ends_with("\r\n\r\n5"), "{out}");
    }

    #[test]
    fn a_malformed_head_gets_400_and_the_connection_closes() {
        let out = exchange(
            hello,
            &WsgiOptions::default(),
            format!("GET / HTTP/1.1\r\nBad Header\r\n\r\n{GET}").as_bytes(),
        );
        assert_eq!(statuses(&out), ["HTTP/1.1 400 Bad Request"]);
        assert!(out.contains("Connection: close"), "{out}");
    }

    #[test]
    fn a_body_over_the_limit_gets_413_before_the_app_runs() {
        let opts = WsgiOptions {
            max_body: Some(4),
            ..WsgiOptions::default()
        };
        let post = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
        let out = exchange(
            |_: &mut Environ<'_>, _: StartResponse<'_>| -> Body { panic!("must not run") },
            &opts,
            post.as_bytes(),
        );
        assert_eq!(statuses(&out), ["HTTP/1.1 413 Content Too Large"]);
    }

    #[test]
    fn refusals_of_a_head_request_carry_no_body() {
        // RFC 9110 §9.3.2: "the server MUST NOT send content in the response" to HEAD,
        // refused or not; the same refusals of a GET keep their text.
        let opts = WsgiOptions {
            max_body: Some(4),
            ..WsgiOptions::default()
        };
        let boom = |_: &mut Environ<'_>, _: StartResponse<'_>| -> Body { panic!("boom") };
        for method in ["HEAD", "GET"] {
            let cases = [
                // Not parsed (no Host), after empty lines; too large; a panicking app.
                (
                    format!("\r\n{method} / HTTP/1.1\r\n\r\n"),
                    "400 Bad Request",
                ),
                (
                    format!("{method} / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"),
                    "413 Content Too Large",
                ),
                (
                    format!("{method} / HTTP/1.1\r\nHost: x\r\n\r\n"),
                    "500 Internal Server Error",
                ),
            ];
            for (req, status) in cases {
                let out = exchange(boom, &opts, req.as_bytes());
                let (head, body) = out.split_once("\r\n\r\n").unwrap();
                assert!(head.starts_with(&format!("HTTP/1.1 {status}")), "{out}");
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("Content-Length: "))
                    .unwrap();
                let reason = status.split_once(' ').unwrap().1;
                assert_eq!(length, (reason.len() + 1).to_string(), "{out}");
                match method {
                    "HEAD" => assert_eq!(body, "", "{req:?}"),
                    _ => assert_eq!(body, format!("{reason}\n"), "{req:?}"),
                }
            }
        }
    }

    #[test]
    fn a_panicking_app_gets_500_and_the_connection_closes() {
        let boom = |_: &mut Environ<'_>, _: StartResponse<'_>| -> Body { panic!("boom") };
        let out = exchange(boom, &WsgiOptions::default(), GET.repeat(2).as_bytes());
        assert_eq!(statuses(&out), ["HTTP/1.1 500 Internal Server Error"]);
    }

    #[test]
    fn a_truncated_body_is_answered_with_its_error() {
        let post = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
        let out = exchange(count, &WsgiOptions::default(), post.as_bytes());
        assert_eq!(statuses(&out), ["HTTP/1.1 400 Bad Request"]);
    }

    #[test]
    fn conflicting_scheme_headers_from_a_trusted_peer_get_400() {
        let req =
            "GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Ssl: off\r\n\r\n";
        let out = exchange(hello, &WsgiOptions::default(), req.as_bytes());
        assert_eq!(statuses(&out), ["HTTP/1.1 400 Bad Request"]);
    }

    #[test]
    fn without_keep_alive_the_first_answer_closes() {
        let opts = WsgiOptions {
            keep_alive: Duration::ZERO,
            ..WsgiOptions::default()
        };
        let out = exchange(hello, &opts, GET.repeat(2).as_bytes());
        assert_eq!(statuses(&out), ["HTTP/1.1 200 OK"]);
        assert!(out.contains("Connection: close"), "{out}");
    }
}
