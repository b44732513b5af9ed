//! A worker process: the ordinary server on the sockets the master opened.

use std::hash::{BuildHasher, Hasher};
use std::os::unix::io::RawFd;
use std::sync::atomic::Ordering;
use std::time::Duration;

use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1};
use signal_hook::iterator::Signals;

use super::{BOOT_ERROR, ENV_FDS, ENV_HEARTBEAT, ENV_WORKER_ID};
use crate::config::Config;
use crate::net::Listener;
use crate::wsgi::{App, WsgiOptions, WsgiServer};

/// What the master told this worker through its environment.
pub(crate) struct WorkerEnv {
    fds: Vec<RawFd>,
    heartbeat: Option<RawFd>,
    id: String,
}

impl WorkerEnv {
    /// The worker settings, when this process was started by a master.
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
        // Our own children (if the app starts any) are not workers.
        for k in [ENV_FDS, ENV_HEARTBEAT, ENV_WORKER_ID] {
            std::env::remove_var(k);
        }
        Some(WorkerEnv { fds, heartbeat, id })
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

/// Writes one heartbeat byte (non-blocking: a full pipe means the master has not read the
/// last ones yet, which is as good).
fn beat(fd: RawFd) {
    // SAFETY: writing one byte from a live buffer to a descriptor this process owns.
    unsafe {
        libc::write(fd, b".".as_ptr().cast(), 1);
    }
}

/// Serves on the inherited sockets until told to stop; never returns.
pub(crate) fn run<A: App>(mut config: Config, app: A, env: WorkerEnv) -> ! {
    let mut listeners = Vec::with_capacity(env.fds.len());
    for fd in &env.fds {
        // SAFETY: the master passed these descriptors to this process for serving.
        match unsafe { Listener::from_raw_fd_checked(*fd) } {
            Ok(l) => listeners.push(l),
            Err(e) => boot_failure(&e.to_string()),
        }
    }
    if listeners.is_empty() {
        boot_failure("no listening socket was passed");
    }
    // Settings for this process: the master handles binds, workers and the pid file.
    config.binds.clear();
    config.workers = 1;
    config.pid = None;
    let max_requests = match config.max_requests {
        0 => 0,
        n => n + random() % (config.max_requests_jitter + 1),
    };
    let grace = config.graceful_timeout;
    let heartbeat_every = match config.timeout {
        t if t.is_zero() => Duration::from_secs(1),
        t => (t / 4).clamp(Duration::from_millis(50), Duration::from_secs(1)),
    };
    let opts = match WsgiOptions::try_from(&config) {
        Ok(o) => o,
        Err(e) => boot_failure(&e.to_string()),
    };
    let mut server = WsgiServer::new(Vec::new(), app)
        .options(opts)
        .listeners(listeners);
    let served = server.request_counter();
    let handle = match server.start() {
        Ok(h) => h,
        Err(e) => boot_failure(&e.to_string()),
    };
    log::info!(
        "Booting worker with pid: {} (worker {})",
        std::process::id(),
        env.id
    );

    // The heartbeat runs as a green thread: if every worker thread is stuck (a blocking
    // call, a spinning handler), it stops, and the master replaces this process.
    if let Some(fd) = env.heartbeat {
        // SAFETY: fcntl on our own descriptor.
        unsafe {
            let fl = libc::fcntl(fd, libc::F_GETFL);
            libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK);
        }
        beat(fd);
        let h = handle.clone();
        crate::spawn(move || {
            while !h.is_stopping() {
                let _ = crate::sleep(heartbeat_every);
                // may resumes a green thread whose sleep ended on its timer thread, which
                // runs even when every worker thread is stuck. Yielding moves it back to a
                // worker thread's queue: the beat is written only if one is free to run it.
                crate::yield_now();
                beat(fd);
            }
        })
        .detach();
    }

    let mut signals = match Signals::new([SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGHUP]) {
        Ok(s) => s,
        Err(e) => boot_failure(&format!("installing signal handlers: {e}")),
    };
    // SAFETY: getppid has no preconditions.
    let parent = unsafe { libc::getppid() };
    let mut stopper: Option<std::thread::JoinHandle<()>> = None;
    let start_stop = |grace: Duration, why: &str| {
        log::info!("Worker exiting (pid: {}): {why}", std::process::id());
        let h = handle.clone();
        std::thread::spawn(move || h.stop(grace))
    };
    loop {
        for sig in signals.pending() {
            match sig {
                SIGUSR1 => crate::logging::reopen_all(),
                SIGHUP => {} // the master reloads by replacing workers
                SIGTERM if stopper.is_none() => stopper = Some(start_stop(grace, "SIGTERM")),
                SIGINT | SIGQUIT => {
                    if stopper.is_none() {
                        stopper = Some(start_stop(Duration::ZERO, "quick stop"));
                    } else {
                        handle.stop_now();
                    }
                }
                _ => {}
            }
        }
        if stopper.is_none() && handle.abandoned() > 0 {
            stopper = Some(start_stop(
                grace,
                "a green thread overflowed its stack; recycling this process",
            ));
        }
        if stopper.is_none() && max_requests > 0 && served.load(Ordering::Relaxed) >= max_requests {
            stopper = Some(start_stop(grace, "max requests reached, recycling"));
        }
        // SAFETY: as above.
        if stopper.is_none() && unsafe { libc::getppid() } != parent {
            stopper = Some(start_stop(grace, "the master is gone"));
        }
        if let Some(t) = &stopper {
            if t.is_finished() {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    crate::logging::flush();
    std::process::exit(0)
}
