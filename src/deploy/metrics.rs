//! Metrics across worker processes (`--metrics-bind`, `--statsd-host`).
//!
//! How counts flow: before starting a worker, the master creates a shared memory segment
//! for it (a `memfd` holding a [`WorkerCounters`], mapped `MAP_SHARED`) and hands the
//! descriptor down through `exec`; the worker maps it and counts into it with relaxed
//! atomic adds (no lock, no message, no allocation per request). A scrape of `/metrics`
//! reads every live segment directly, on the master's metrics thread: nothing is asked of
//! the workers, and the supervision loop only takes a short lock to update heartbeats.
//! When a worker ends (however: exit, signal, SIGKILL), its segment still holds its last
//! counts: the master folds them into a retired total and unmaps it, so every counter
//! stays monotonic across restarts and reloads.
//!
//! Compared with workers pushing snapshots over a pipe: nothing is lost between the last
//! push and a crash, a worker stuck in a loop still shows its counts, and the hot path is
//! the same atomic add either way.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::ENV_METRICS;
use crate::config::Config;
use crate::metrics::statsd::{Client, Sender};
use crate::metrics::text::{self, Scrape, CAUSES};
use crate::metrics::{ExitCause, Mapping, Recorder, Totals, WorkerCounters};
use crate::server::ServerHandle;

/// Longest request head a scraper may send.
const MAX_HEAD: usize = 8192;
/// A scraper has this long to send its request and to take the answer.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);
/// Scrapes served at once; more connections are closed at once.
const MAX_SCRAPERS: usize = 4;
/// How often a worker samples its gauges (open and idle connections, green threads).
const SAMPLE_EVERY: Duration = Duration::from_millis(250);
/// How often the master sends its statsd gauge (as gunicorn's arbiter, about once a
/// second).
const STATSD_EVERY: Duration = Duration::from_secs(1);

/// What the master knows of its workers' counts.
#[derive(Default)]
struct State {
    /// Counters of the workers that ended.
    retired: Totals,
    /// The live workers' segments and last heartbeats, by worker number.
    live: HashMap<u64, (Mapping, Instant)>,
    /// Workers replaced, by `CAUSES` index.
    restarts: [u64; CAUSES.len()],
    /// Workers killed for a heartbeat timeout, not yet reaped.
    timed_out: HashSet<u64>,
}

impl State {
    fn scrape(&self) -> Scrape {
        let mut s = Scrape {
            totals: self.retired.clone(),
            restarts: self.restarts,
            heartbeats: Vec::with_capacity(self.live.len()),
        };
        for (id, (map, beat)) in &self.live {
            s.totals.add(&map.snapshot());
            s.heartbeats.push((*id, beat.elapsed().as_secs_f64()));
        }
        s.heartbeats.sort_by_key(|h| h.0);
        s
    }

    /// Folds a worker's counts into the retired total.
    fn retire(&mut self, id: u64) -> Option<Mapping> {
        let (map, _) = self.live.remove(&id)?;
        self.retired.add_counters(&map.snapshot());
        Some(map)
    }
}

fn lock(s: &Mutex<State>) -> MutexGuard<'_, State> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

/// The master's side: segments for the workers, the `/metrics` listener, the statsd
/// gauge. Inert (every hook does nothing) when neither flag is given.
pub(crate) struct MasterMetrics {
    state: Option<Arc<Mutex<State>>>,
}

impl MasterMetrics {
    /// Binds `--metrics-bind` and starts its thread, and the statsd gauge's, as
    /// configured.
    pub(crate) fn start(config: &Config) -> crate::Result<MasterMetrics> {
        if config.metrics_bind.is_none() && config.statsd_host.is_none() {
            return Ok(MasterMetrics { state: None });
        }
        let state = Arc::new(Mutex::new(State::default()));
        if let Some(bind) = &config.metrics_bind {
            let listener = TcpListener::bind(bind.as_str())
                .map_err(|e| crate::Error::io(format!("binding --metrics-bind {bind}"), e))?;
            let addr = listener
                .local_addr()
                .map_err(|e| crate::Error::io("reading the metrics address", e))?;
            log::info!("Metrics at: http://{addr}/metrics");
            let s = state.clone();
            spawn("greenlight-metrics", move || serve(listener, s))?;
        }
        if let Some(host) = &config.statsd_host {
            let client = Client::new(host, &config.statsd_prefix)
                .map_err(|e| crate::Error::io(format!("using --statsd-host {host}"), e))?;
            let s = state.clone();
            spawn("greenlight-statsd", move || loop {
                client.workers(lock(&s).live.len());
                std::thread::sleep(STATSD_EVERY);
            })?;
        }
        Ok(MasterMetrics { state: Some(state) })
    }

    /// Gives worker `id` (about to be started by `cmd`) a segment to count in. The
    /// returned descriptor must stay open until the worker started, then be dropped.
    pub(crate) fn prepare(&self, cmd: &mut Command, id: u64) -> Option<OwnedFd> {
        let state = self.state.as_ref()?;
        match Mapping::create_counters() {
            Ok((map, fd)) => {
                cmd.env(ENV_METRICS, fd.as_raw_fd().to_string());
                lock(state).live.insert(id, (map, Instant::now()));
                Some(fd)
            }
            Err(e) => {
                log::error!("cannot create worker {id}'s metrics segment: {e}");
                None
            }
        }
    }

    /// Worker `id` was killed for its heartbeat timeout.
    pub(crate) fn timed_out(&self, id: u64) {
        if let Some(s) = &self.state {
            lock(s).timed_out.insert(id);
        }
    }

    /// Worker `id` ended with `status`; `planned`: the master stopped it (a stop, a
    /// reload, fewer workers), which is not a restart.
    pub(crate) fn ended(&self, id: u64, status: ExitStatus, planned: bool) {
        let Some(s) = &self.state else { return };
        let mut s = lock(s);
        let timed_out = s.timed_out.remove(&id);
        let Some(map) = s.retire(id) else { return };
        if planned {
            return;
        }
        let cause = match (timed_out, status.signal(), map.exit_cause()) {
            (true, _, _) => "timeout",
            (_, Some(_), _) => "signal",
            (_, _, ExitCause::Overflow) if status.success() => "overflow",
            (_, _, ExitCause::MaxRequests) if status.success() => "max-requests",
            _ => "exit",
        };
        if let Some(i) = CAUSES.iter().position(|c| *c == cause) {
            s.restarts[i] += 1;
        }
    }

    /// The workers now, with their last heartbeats; a segment of a worker not among them
    /// (one that failed to start) is retired.
    pub(crate) fn observe(&self, workers: impl Iterator<Item = (u64, Instant)>) {
        let Some(s) = &self.state else { return };
        let mut s = lock(s);
        let mut seen = Vec::new();
        for (id, beat) in workers {
            if let Some(entry) = s.live.get_mut(&id) {
                entry.1 = beat;
            }
            seen.push(id);
        }
        let gone: Vec<u64> = s
            .live
            .keys()
            .filter(|id| !seen.contains(id))
            .copied()
            .collect();
        for id in gone {
            s.retire(id);
        }
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> crate::Result<()> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map(drop)
        .map_err(|e| crate::Error::io(format!("starting the {name} thread"), e))
}

/// Accepts scrapers, each on a thread of its own (at most `MAX_SCRAPERS`): a slow one
/// holds only its own thread, never the supervision loop. With every thread busy, the
/// next scraper waits for one (a scraper that has its answer may not have given its
/// thread back yet), and is closed unanswered only after `SCRAPE_TIMEOUT`.
fn serve(listener: TcpListener, state: Arc<Mutex<State>>) {
    static BUSY: AtomicUsize = AtomicUsize::new(0);
    for conn in listener.incoming() {
        let Ok(conn) = conn else { continue };
        let waited = Instant::now();
        let mut has_thread = false;
        while waited.elapsed() < SCRAPE_TIMEOUT {
            if BUSY.fetch_add(1, Ordering::SeqCst) < MAX_SCRAPERS {
                has_thread = true;
                break;
            }
            BUSY.fetch_sub(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(5));
        }
        if !has_thread {
            continue;
        }
        let s = state.clone();
        let r = std::thread::Builder::new()
            .name("greenlight-scrape".into())
            .spawn(move || {
                let _ = answer(conn, &s);
                BUSY.fetch_sub(1, Ordering::SeqCst);
            });
        if r.is_err() {
            BUSY.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Reads one request (bounded in size and time) and answers it, then closes.
fn answer(mut conn: TcpStream, state: &Mutex<State>) -> std::io::Result<()> {
    conn.set_read_timeout(Some(SCRAPE_TIMEOUT))?;
    conn.set_write_timeout(Some(SCRAPE_TIMEOUT))?;
    let mut buf = vec![0u8; MAX_HEAD];
    let mut n = 0;
    while !buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
        if n == buf.len() {
            return respond(&mut conn, "431 Request Header Fields Too Large", "", false);
        }
        match conn.read(&mut buf[n..])? {
            0 => return Ok(()),
            k => n += k,
        }
    }
    let line = buf[..n].split(|b| *b == b'\r').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    match (method, path) {
        ("GET" | "HEAD", "/metrics") => {
            let scrape = lock(state).scrape();
            let body = text::render(&scrape);
            respond(&mut conn, "200 OK", &body, method == "HEAD")
        }
        (_, "/metrics") => respond(&mut conn, "405 Method Not Allowed", "", false),
        _ => respond(
            &mut conn,
            "404 Not Found",
            "metrics are at /metrics\n",
            false,
        ),
    }
}

fn respond(conn: &mut TcpStream, status: &str, body: &str, head_only: bool) -> std::io::Result<()> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        text::CONTENT_TYPE,
        body.len()
    );
    if !head_only {
        out.push_str(body);
    }
    conn.write_all(out.as_bytes())?;
    conn.flush()
}

/// The worker's side: its counters (the master's segment, or its own memory for statsd
/// alone), sampled gauges, and why it ends.
pub(crate) struct WorkerMetrics {
    counters: &'static WorkerCounters,
    sampled: Option<Instant>,
}

impl WorkerMetrics {
    /// The recorder for the connections and the worker's handle on the same counters;
    /// `None` when neither metrics nor statsd are configured.
    pub(crate) fn attach(fd: Option<RawFd>, config: &Config) -> Option<(Recorder, WorkerMetrics)> {
        let statsd = config.statsd_host.as_ref().and_then(|host| {
            match Client::new(host, &config.statsd_prefix).and_then(Sender::start) {
                Ok(s) => Some(s),
                Err(e) => {
                    log::error!("statsd off: --statsd-host {host}: {e}");
                    None
                }
            }
        });
        // SAFETY: the master passed this descriptor for the metrics segment alone; nothing
        // else in this process owns it. A number that is not open fails in fstat.
        let segment = fd.map(|fd| Mapping::open_counters(unsafe { OwnedFd::from_raw_fd(fd) }));
        let counters = match segment {
            Some(Ok(map)) => map.leak(),
            Some(Err(e)) => {
                log::error!("metrics off: the master's segment: {e}");
                return None;
            }
            None if statsd.is_some() => Recorder::in_process().counters(),
            None => return None,
        };
        let me = WorkerMetrics {
            counters,
            sampled: None,
        };
        Some((Recorder::new(counters, statsd), me))
    }

    /// Samples the gauges, at most once per `SAMPLE_EVERY`.
    pub(crate) fn sample(&mut self, server: &ServerHandle) {
        if self.sampled.is_some_and(|t| t.elapsed() < SAMPLE_EVERY) {
            return;
        }
        self.sampled = Some(Instant::now());
        let c = self.counters;
        let store =
            |a: &std::sync::atomic::AtomicU64, v: usize| a.store(v as u64, Ordering::Relaxed);
        store(&c.connections_open, server.connections());
        store(&c.connections_idle, server.idle_connections());
        store(&c.green_threads, crate::green::alive());
        c.watchdog_warnings
            .store(crate::green::watchdog::warnings(), Ordering::Relaxed);
    }

    /// Says why the worker ends itself, for the master's restart count.
    pub(crate) fn exiting(&self, cause: ExitCause) {
        self.counters.set_exit_cause(cause);
    }
}
