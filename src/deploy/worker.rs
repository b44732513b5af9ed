//! A worker process: the ordinary server on the sockets the master opened.

use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::io::Write;
use std::os::fd::FromRawFd;
use std::os::unix::io::RawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1};

use super::balance;
use super::metrics::WorkerMetrics;
use super::signals;
use super::{
    BOOT_ERROR, ENV_BALANCE, ENV_FDS, ENV_HEARTBEAT, ENV_MASTER_PID, ENV_METRICS, ENV_WORKER_ID,
};
use crate::config::Config;
use crate::metrics::ExitCause;
use crate::net::Listener;
use crate::server::ServerHandle;
use crate::wsgi::{App, WsgiOptions, WsgiServer};

/// How often the worker's supervising loop looks at its counters (a signal wakes it at
/// once).
const SUPERVISE_EVERY: Duration = Duration::from_millis(50);

/// What the master told this worker through its environment.
pub(crate) struct WorkerEnv {
    fds: Vec<RawFd>,
    heartbeat: Option<RawFd>,
    id: String,
    /// The master that started this worker (told, not read from `getppid`: a master that
    /// died before the worker looked would leave the worker believing init is its master).
    master: Option<u32>,
    /// The shared memory segment to count metrics in.
    metrics: Option<RawFd>,
    /// The balance board and this worker's slot on it.
    balance: Option<(RawFd, usize)>,
}

impl WorkerEnv {
    /// The worker settings, when this process was started by a master.
    ///
    /// Call it first thing in the process, before any thread starts (the runtime, the
    /// logger's writer, signal watchers): it removes its variables from the environment
    /// (our own children, if the app starts any, are not workers), and changing the
    /// environment while other threads may read it is undefined behaviour in libc.
    pub(crate) fn from_env() -> Option<WorkerEnv> {
        let fds = std::env::var(ENV_FDS).ok()?;
        let fds = fds
            .split(',')
            .filter(|s| !s.is_empty())
            .filter_map(|s| s.parse().ok())
            .collect();
        let heartbeat = std::env::var(ENV_HEARTBEAT)
            .ok()
            .and_then(|s| s.parse().ok());
        let id = std::env::var(ENV_WORKER_ID).unwrap_or_default();
        let master = std::env::var(ENV_MASTER_PID)
            .ok()
            .and_then(|s| s.parse().ok());
        let metrics = std::env::var(ENV_METRICS).ok().and_then(|s| s.parse().ok());
        let balance = std::env::var(ENV_BALANCE).ok().and_then(|s| {
            let (fd, slot) = s.split_once(':')?;
            Some((fd.parse().ok()?, slot.parse().ok()?))
        });
        for k in [
            ENV_FDS,
            ENV_HEARTBEAT,
            ENV_WORKER_ID,
            ENV_MASTER_PID,
            ENV_METRICS,
            ENV_BALANCE,
        ] {
            std::env::remove_var(k);
        }
        Some(WorkerEnv {
            fds,
            heartbeat,
            id,
            master,
            metrics,
            balance,
        })
    }
}

/// This worker's place on the master's balance board, if it was given one (else it
/// accepts as the kernel hands out connections, and says why).
fn balance_gate(given: Option<(RawFd, usize)>) -> Option<balance::Gate> {
    let (fd, slot) = given?;
    // SAFETY: the master passed this descriptor for the board alone; nothing else here
    // owns it.
    match unsafe { balance::Mapped::open(fd) } {
        Ok(board) => board.into_gate(slot),
        Err(e) => {
            log::warn!("cannot map the balance board (accepting unbalanced): {e}");
            None
        }
    }
}

fn boot_failure(why: &str) -> ! {
    log::error!("Worker failed to boot: {why}");
    crate::logging::flush();
    std::process::exit(BOOT_ERROR)
}

/// A random number, for `--max-requests-jitter`.
fn random() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.finish()
}

/// The listening sockets the master passed; a boot failure if there are none or one is not
/// a listening socket.
fn inherited_listeners(fds: &[RawFd]) -> Vec<Listener> {
    let mut listeners = Vec::with_capacity(fds.len());
    for fd in fds {
        // SAFETY: the master passed these descriptors to this process for serving, and
        // nothing else in this process owns them.
        match unsafe { Listener::from_raw_fd_checked(*fd) } {
            Ok(l) => listeners.push(l),
            Err(e) => boot_failure(&e.to_string()),
        }
    }
    if listeners.is_empty() {
        boot_failure("no listening socket was passed");
    }
    listeners
}

/// The write end of the heartbeat pipe, made non-blocking: a full pipe means the master has
/// not read the last beats yet, which is as good, and must never stall the green thread
/// that writes them.
fn heartbeat_pipe(fd: RawFd) -> std::io::Result<File> {
    // SAFETY: fcntl(2) with F_GETFL takes no pointers; on a number that is not open it fails
    // with EBADF, which is how a bad descriptor is found before anything owns it.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: as above; F_SETFL changes only the file status flags of an open descriptor.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the descriptor is open (F_GETFL succeeded), and the master handed it to this
    // process for its heartbeats alone: the `File` is its only owner and closes it.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// Writes one heartbeat byte; a full pipe (or a master that is gone) is not an error here.
fn beat(pipe: &File) {
    let _ = (&*pipe).write(b".");
}

/// Beats on `pipe` from a green thread every `every` until the server stops. If every
/// worker thread is stuck (a blocking call, a spinning handler), the beats stop, and the
/// master replaces this process.
fn start_heartbeat(pipe: File, server: ServerHandle, every: Duration) {
    beat(&pipe);
    crate::spawn(move || {
        while !server.is_stopping() {
            crate::sleep(every);
            // may resumes a green thread whose sleep ended on its timer thread, which runs
            // even when every worker thread is stuck. Yielding moves it back to a worker
            // thread's queue: the beat is written only if one is free to run it.
            crate::yield_now();
            beat(&pipe);
        }
    })
    .detach();
}

/// When this worker recycles itself and how it watches its master.
struct WorkerSettings {
    /// Requests after which the worker recycles itself (0: never), jitter included.
    max_requests: u64,
    grace: Duration,
    heartbeat_every: Duration,
}

/// Reads this worker's limits from `config` and leaves in it only what a single-process
/// server on inherited sockets should do: the master handles binds, workers and the pid
/// file.
fn worker_settings(config: &mut Config) -> WorkerSettings {
    config.binds.clear();
    config.workers = 1;
    config.pid = None;
    WorkerSettings {
        max_requests: match config.max_requests {
            0 => 0,
            n => n + random() % (config.max_requests_jitter + 1),
        },
        grace: config.graceful_timeout,
        heartbeat_every: match config.timeout {
            t if t.is_zero() => Duration::from_secs(1),
            t => (t / 4).clamp(Duration::from_millis(50), Duration::from_secs(1)),
        },
    }
}

/// Serves on the inherited sockets until told to stop; never returns.
pub(crate) fn run<A: App>(mut config: Config, app: A, env: WorkerEnv) -> ! {
    // Caught before the server starts: a stop sent as soon as it listens is not lost.
    let signals = match signals::forward(&[SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGHUP]) {
        Ok(s) => s,
        Err(e) => boot_failure(&format!("installing signal handlers: {e}")),
    };
    let listeners = inherited_listeners(&env.fds);
    let limits = worker_settings(&mut config);
    let opts = match WsgiOptions::try_from(&config) {
        Ok(o) => o,
        Err(e) => boot_failure(&e.to_string()),
    };
    let mut server = WsgiServer::new(Vec::new(), app)
        .options(opts)
        .listeners(listeners);
    if let Some(gate) = balance_gate(env.balance) {
        server = server.accept_gate(Arc::new(gate));
    }
    let metrics = match WorkerMetrics::attach(env.metrics, &config) {
        Some((recorder, m)) => {
            server = server.metrics(recorder);
            Some(m)
        }
        None => None,
    };
    // Counted only for --max-requests: every worker thread would otherwise write the same
    // shared counter on every request (a cache line that bounces between cores).
    let served = (limits.max_requests > 0).then(|| server.request_limit(limits.max_requests));
    let handle = match server.start() {
        Ok(h) => h,
        Err(e) => boot_failure(&e.to_string()),
    };
    log::info!(
        "Booting worker with pid: {} (worker {})",
        std::process::id(),
        env.id
    );
    if let Some(fd) = env.heartbeat {
        match heartbeat_pipe(fd) {
            Ok(pipe) => start_heartbeat(pipe, handle.clone(), limits.heartbeat_every),
            Err(e) => boot_failure(&format!("using the heartbeat pipe (fd {fd}): {e}")),
        }
    }
    Supervisor {
        handle,
        served,
        limits,
        parent: env.master.unwrap_or_else(std::os::unix::process::parent_id),
        stopper: None,
        metrics,
    }
    .run(signals);
    crate::logging::flush();
    std::process::exit(0)
}

/// The worker's main thread once serving: turns signals, the request count, an overflow
/// and the master's death into a stop, and returns when the stop is over.
struct Supervisor {
    handle: ServerHandle,
    /// Requests answered, with `--max-requests`.
    served: Option<Arc<AtomicU64>>,
    limits: WorkerSettings,
    /// The master's pid: when our parent changes, the master is gone.
    parent: u32,
    /// The thread running the stop, once one began.
    stopper: Option<JoinHandle<()>>,
    /// This worker's metrics, when kept.
    metrics: Option<WorkerMetrics>,
}

impl Supervisor {
    fn run(mut self, signals: Receiver<i32>) {
        loop {
            if let Some((why, cause)) = self.reason_to_recycle() {
                if let Some(m) = &self.metrics {
                    m.exiting(cause);
                }
                self.start_stop(self.limits.grace, why);
            }
            if let Some(m) = &mut self.metrics {
                m.sample(&self.handle);
            }
            if self.stopper.as_ref().is_some_and(|t| t.is_finished()) {
                return;
            }
            for sig in signals::wait(&signals, SUPERVISE_EVERY) {
                self.on_signal(sig);
            }
        }
    }

    fn on_signal(&mut self, sig: i32) {
        match sig {
            SIGUSR1 => crate::logging::reopen_all(),
            SIGHUP => {} // the master reloads by replacing workers
            SIGTERM => self.start_stop(self.limits.grace, "SIGTERM"),
            SIGINT | SIGQUIT if self.stopper.is_some() => self.handle.stop_now(),
            SIGINT | SIGQUIT => self.start_stop(Duration::ZERO, "quick stop"),
            _ => {} // USR2, WINCH: caught only so that they do not end the process
        }
    }

    /// Why this worker should stop by itself, if it should.
    fn reason_to_recycle(&self) -> Option<(&'static str, ExitCause)> {
        if self.handle.abandoned() > 0 {
            Some((
                "a green thread overflowed its stack; recycling this process",
                ExitCause::Overflow,
            ))
        } else if self
            .served
            .as_ref()
            .is_some_and(|n| n.load(Ordering::Relaxed) >= self.limits.max_requests)
        {
            Some(("max requests reached, recycling", ExitCause::MaxRequests))
        } else if std::os::unix::process::parent_id() != self.parent {
            Some(("the master is gone", ExitCause::None))
        } else {
            None
        }
    }

    /// Starts a stop on its own thread, unless one already runs.
    fn start_stop(&mut self, grace: Duration, why: &str) {
        if self.stopper.is_some() {
            return;
        }
        log::info!("Worker exiting (pid: {}): {why}", std::process::id());
        let h = self.handle.clone();
        self.stopper = Some(std::thread::spawn(move || h.stop(grace)));
    }
}
