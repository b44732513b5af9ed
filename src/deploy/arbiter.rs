//! The master process (gunicorn's arbiter): opens the listeners once, keeps `--workers`
//! worker processes alive, and turns signals into stops, reloads and resizes.
//!
//! It is one thread running a loop every few milliseconds: reap exited workers, read
//! heartbeats, kill silent ones, start missing ones, act on signals.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use signal_hook::consts::{
    SIGCHLD, SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGTTIN, SIGTTOU, SIGUSR1, SIGUSR2,
};

use super::balance;
use super::metrics::MasterMetrics;
use super::notify::{sd_notify, PidFile};
use super::signals;
use super::upgrade::{self, Inherited, Upgrade};
use super::{BOOT_ERROR, ENV_BALANCE, ENV_FDS, ENV_HEARTBEAT, ENV_MASTER_PID, ENV_WORKER_ID};
use crate::config::Config;
use crate::net::{self, BindOptions, Listener};

/// How often the loop runs when no signal wakes it.
const TICK: Duration = Duration::from_millis(20);
/// A quick stop (INT/QUIT) gives workers this long before they are killed.
const QUICK_GRACE: Duration = Duration::from_secs(1);
/// A worker that dies sooner than this after starting counts as a crash at boot.
const BOOT_WINDOW: Duration = Duration::from_secs(5);
/// Consecutive crashes at boot after which the master gives up (gunicorn halts too).
const MAX_BOOT_CRASHES: u32 = 5;
/// The longest wait before restarting a worker that keeps crashing.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// On reload, how long a new worker gets to boot before an old one stops anyway.
const RELOAD_BOOT_WAIT: Duration = Duration::from_secs(30);

struct Worker {
    child: Child,
    id: u64,
    /// The read end of its heartbeat pipe (non-blocking).
    heartbeat: File,
    started: Instant,
    last_beat: Instant,
    booted: bool,
    /// Being stopped (TERM or QUIT sent); killed at this instant if still alive.
    kill_at: Option<Instant>,
    /// Old generation, to stop once the reload's new workers have booted.
    outgoing: bool,
    /// Its line on the balance board, if it got one.
    slot: Option<usize>,
}

impl Worker {
    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid, which stays reserved until we reap it.
        unsafe { libc::kill(self.pid(), sig) };
    }

    fn stop(&mut self, sig: i32, grace: Duration) {
        if self.kill_at.is_none() {
            self.signal(sig);
            self.kill_at = Some(Instant::now() + grace);
        }
    }

    /// Reads pending heartbeat bytes; true if there were any.
    fn read_beats(&mut self) -> bool {
        let mut buf = [0u8; 64];
        let mut got = false;
        // Until the pipe is empty (`WouldBlock`), closed (0) or broken.
        while let Ok(1..) = self.heartbeat.read(&mut buf) {
            got = true;
        }
        got
    }
}

/// Checks the return value of `fcntl(2)` (or another call that returns -1 and sets `errno`).
fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// A heartbeat pipe: the read end, non-blocking and closed on exec (the master's), and the
/// write end, blocking and inheritable (the next worker's).
fn heartbeat_pipe() -> io::Result<(File, OwnedFd)> {
    let mut p = [0 as RawFd; 2];
    // SAFETY: pipe2 fills the two-element array it is given.
    check(unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) })?;
    // SAFETY: pipe2 succeeded, so both descriptors are open and owned by nobody else; each
    // gets exactly one owner here.
    let (read, write) = unsafe { (File::from_raw_fd(p[0]), OwnedFd::from_raw_fd(p[1])) };
    let fd = write.as_raw_fd();
    // The write end must survive exec in this one child: the loop is single-threaded, so no
    // other child can be started while it is inheritable.
    // SAFETY: fcntl(2) on a descriptor `write` keeps open; these commands take no pointers.
    unsafe {
        check(libc::fcntl(fd, libc::F_SETFD, 0))?;
        let flags = check(libc::fcntl(fd, libc::F_GETFL))?;
        check(libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK))?;
    }
    Ok((read, write))
}

pub(crate) fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exited with code {c}"),
        (_, Some(s)) => format!("was killed by signal {s}{}", signal_name(s)),
        _ => "ended".to_owned(),
    }
}

fn signal_name(s: i32) -> &'static str {
    match s {
        libc::SIGKILL => " (SIGKILL)",
        libc::SIGSEGV => " (SIGSEGV)",
        libc::SIGABRT => " (SIGABRT)",
        libc::SIGBUS => " (SIGBUS)",
        libc::SIGTERM => " (SIGTERM)",
        _ => "",
    }
}

struct Arbiter {
    config: Config,
    /// The listening sockets, until a stop begins: closed then, so that new connections
    /// are refused while the workers drain (the workers close their copies as they stop).
    listeners: Vec<Listener>,
    exe: std::path::PathBuf,
    args: Vec<std::ffi::OsString>,
    fds: String,
    workers: Vec<Worker>,
    target: usize,
    next_id: u64,
    stopping: bool,
    boot_crashes: u32,
    restart_after: Instant,
    reload_started: Option<Instant>,
    /// The `--pid` file (written once the workers serve, for a master started by USR2).
    pidfile: PidFile,
    /// Binary upgrades (USR2), from either side.
    upgrade: Upgrade,
    metrics: MasterMetrics,
    /// The board on which workers share accepting fairly (`None`: it could not be made;
    /// they accept as the kernel hands out connections).
    board: Option<balance::Mapped>,
}

impl Arbiter {
    fn spawn_worker(&mut self) -> io::Result<()> {
        let (read, write) = heartbeat_pipe()?;
        self.next_id += 1;
        let mut cmd = Command::new(&self.exe);
        cmd.args(&self.args)
            .env(ENV_FDS, &self.fds)
            .env(ENV_HEARTBEAT, write.as_raw_fd().to_string())
            .env(ENV_WORKER_ID, self.next_id.to_string())
            .env(ENV_MASTER_PID, std::process::id().to_string());
        let segment = self.metrics.prepare(&mut cmd, self.next_id);
        let (slot, board_fd) = self.board_slot(&mut cmd);
        let child = cmd.spawn()?;
        // The child has its copy of the write end (and of the metrics segment, and of the
        // board); ours closes here.
        drop((write, segment, board_fd));
        log::info!("Started worker {} (pid: {})", self.next_id, child.id());
        let now = Instant::now();
        self.workers.push(Worker {
            child,
            id: self.next_id,
            heartbeat: read,
            started: now,
            last_beat: now,
            booted: false,
            kill_at: None,
            outgoing: false,
            slot,
        });
        Ok(())
    }

    /// One more than the highest balance-board slot a live worker holds.
    fn slots_used(&self) -> usize {
        self.workers
            .iter()
            .filter_map(|w| w.slot)
            .max()
            .map_or(0, |s| s + 1)
    }

    /// A free line on the balance board for the worker `cmd` starts, and a descriptor of
    /// the board for it to inherit (to be closed once it started).
    fn board_slot(&self, cmd: &mut Command) -> (Option<usize>, Option<OwnedFd>) {
        let Some(board) = &self.board else {
            return (None, None);
        };
        let Some(slot) =
            (0..balance::SLOTS).find(|s| self.workers.iter().all(|w| w.slot != Some(*s)))
        else {
            return (None, None);
        };
        board.clear(slot);
        board.set_used(self.slots_used().max(slot + 1));
        match board.share() {
            Ok(fd) => {
                cmd.env(ENV_BALANCE, format!("{}:{slot}", fd.as_raw_fd()));
                (Some(slot), Some(fd))
            }
            Err(e) => {
                log::warn!("cannot share the balance board with a worker: {e}");
                (None, None)
            }
        }
    }

    fn live(&self) -> usize {
        self.workers
            .iter()
            .filter(|w| w.kill_at.is_none() && !w.outgoing)
            .count()
    }

    fn stop_all(&mut self, sig: i32, grace: Duration) {
        self.stopping = true;
        // A new master started by USR2 serves on the same sockets: their unix socket files
        // are its own now.
        if self.upgrade.new_master_running() {
            for l in &mut self.listeners {
                l.set_owns_path(false);
            }
        }
        // The kernel completes handshakes on a listening socket until its last descriptor
        // closes, then resets whatever is still queued. Unless a new master serves on them,
        // the sockets end with this stop: new handshakes are refused from now on (clients
        // retry, then are refused), so that what the workers take from the queue as they
        // stop is all there will be. Kept open here, new clients would queue for workers
        // that no longer accept. A unix socket file goes with it.
        if !self.upgrade.new_master_running() {
            for l in &self.listeners {
                l.refuse_handshakes();
            }
        }
        self.listeners.clear();
        for w in &mut self.workers {
            w.stop(sig, grace);
        }
    }

    fn on_signal(&mut self, sig: i32) {
        match sig {
            SIGTERM => {
                log::info!("Handling signal: term");
                sd_notify("STOPPING=1");
                let g = self.config.graceful_timeout;
                self.stop_all(libc::SIGTERM, g);
            }
            SIGINT | SIGQUIT => {
                log::info!("Handling signal: {}", signals::name(sig));
                sd_notify("STOPPING=1");
                self.stop_all(libc::SIGQUIT, QUICK_GRACE);
            }
            SIGHUP if !self.stopping => self.start_reload(),
            SIGUSR2 if !self.stopping => self.upgrade.start(&self.fds, &mut self.pidfile),
            SIGTTIN if !self.stopping => {
                self.target += 1;
                log::info!("Handling signal: ttin (workers: {})", self.target);
            }
            SIGTTOU if !self.stopping => {
                self.target = (self.target.max(2)) - 1;
                log::info!("Handling signal: ttou (workers: {})", self.target);
            }
            SIGUSR1 => {
                log::info!("Handling signal: usr1 (reopening log files)");
                crate::logging::reopen_all();
                for w in &self.workers {
                    w.signal(libc::SIGUSR1);
                }
            }
            _ if signals::IGNORED.contains(&sig) => {
                log::info!("Ignoring signal: {}", signals::name(sig));
            }
            _ => {}
        }
    }

    /// Reaps exited workers. Returns false if the master must give up.
    fn reap(&mut self) -> bool {
        let mut i = 0;
        while i < self.workers.len() {
            let status = match self.workers[i].child.try_wait() {
                Ok(Some(s)) => s,
                Ok(None) => {
                    i += 1;
                    continue;
                }
                Err(e) => {
                    log::error!("waiting for worker {}: {e}", self.workers[i].id);
                    i += 1;
                    continue;
                }
            };
            let w = self.workers.swap_remove(i);
            if let (Some(b), Some(s)) = (&self.board, w.slot) {
                b.clear(s);
                b.set_used(self.slots_used());
            }
            let expected = w.kill_at.is_some();
            self.metrics.ended(w.id, status, expected);
            let how = describe(status);
            if expected {
                log::info!("Worker {} (pid: {}) {how}", w.id, w.pid());
                continue;
            }
            if status.success() && w.booted {
                // It recycled itself (--max-requests, or after an overflow): not a crash.
                log::info!(
                    "Worker {} (pid: {}) {how} (recycled); starting a new one",
                    w.id,
                    w.pid()
                );
                continue;
            }
            log::error!(
                "Worker {} (pid: {}) {how}; starting a new one",
                w.id,
                w.pid()
            );
            if status.code() == Some(BOOT_ERROR) {
                log::error!("Reason: Worker failed to boot.");
                return false;
            }
            if !w.booted || w.started.elapsed() < BOOT_WINDOW {
                self.boot_crashes += 1;
                if !w.booted && self.boot_crashes >= MAX_BOOT_CRASHES {
                    log::error!(
                        "Reason: {} workers in a row died while booting; giving up",
                        self.boot_crashes
                    );
                    return false;
                }
                let backoff = Duration::from_millis(100)
                    .saturating_mul(1 << self.boot_crashes.min(10))
                    .min(MAX_BACKOFF);
                log::warn!(
                    "workers are crashing quickly; waiting {} ms before the next start",
                    backoff.as_millis()
                );
                self.restart_after = Instant::now() + backoff;
            } else {
                self.boot_crashes = 0;
            }
        }
        true
    }

    fn check_heartbeats(&mut self) {
        let timeout = self.config.timeout;
        for w in &mut self.workers {
            if w.read_beats() {
                w.last_beat = Instant::now();
                if !w.booted {
                    w.booted = true;
                    if w.started.elapsed() >= BOOT_WINDOW {
                        self.boot_crashes = 0;
                    }
                }
            }
            if w.booted && w.started.elapsed() >= BOOT_WINDOW {
                self.boot_crashes = 0;
            }
            if !timeout.is_zero() && w.kill_at.is_none() && w.last_beat.elapsed() > timeout {
                log::error!(
                    "WORKER TIMEOUT (pid: {}): silent for {:.1} s; killing it",
                    w.pid(),
                    w.last_beat.elapsed().as_secs_f64()
                );
                w.signal(libc::SIGKILL);
                self.metrics.timed_out(w.id);
                // Not `expected`: the reaper starts a replacement.
            }
        }
    }

    fn enforce_kills(&mut self) {
        let now = Instant::now();
        for w in &mut self.workers {
            if let Some(t) = w.kill_at {
                if now >= t {
                    log::warn!(
                        "Worker {} (pid: {}) did not stop in time; killing it",
                        w.id,
                        w.pid()
                    );
                    w.signal(libc::SIGKILL);
                    w.kill_at = Some(now + Duration::from_secs(3600));
                }
            }
        }
    }

    fn manage(&mut self) {
        if self.stopping {
            return;
        }
        // Start missing workers: all at once after crashes; during a reload one at a time,
        // each once the previous one serves.
        while self.live() < self.target
            && Instant::now() >= self.restart_after
            && (self.reload_started.is_none() || self.booting() == 0)
        {
            if let Err(e) = self.spawn_worker() {
                log::error!("cannot start a worker: {e}");
                self.restart_after = Instant::now() + Duration::from_secs(1);
                break;
            }
        }
        self.roll();
        // Too many (TTOU): stop the oldest.
        while self.live() > self.target {
            let g = self.config.graceful_timeout;
            if let Some(w) = self
                .workers
                .iter_mut()
                .filter(|w| w.kill_at.is_none() && !w.outgoing)
                .min_by_key(|w| w.started)
            {
                w.stop(libc::SIGTERM, g);
            }
        }
    }

    /// HUP: the workers running now make way, one at a time, for new ones ([`Self::roll`]).
    fn start_reload(&mut self) {
        log::info!("Handling signal: hup (reloading: one new worker at a time, each serving before an old one stops)");
        sd_notify("RELOADING=1");
        for w in &mut self.workers {
            if w.kill_at.is_none() {
                w.outgoing = true;
            }
        }
        self.reload_started = Some(Instant::now());
    }

    /// New workers booting now (for less than [`RELOAD_BOOT_WAIT`]).
    fn booting(&self) -> usize {
        self.workers
            .iter()
            .filter(|w| !w.outgoing && w.kill_at.is_none() && !w.booted)
            .filter(|w| w.started.elapsed() <= RELOAD_BOOT_WAIT)
            .count()
    }

    /// The rolling reload's step: each new worker that serves (it has sent its first
    /// heartbeat, written once its accept loops run) lets one old worker stop gracefully,
    /// so that `--workers` processes accept at every moment. One that takes longer than
    /// [`RELOAD_BOOT_WAIT`] to boot counts as serving, so that a reload always ends.
    fn roll(&mut self) {
        let Some(started) = self.reload_started else {
            return;
        };
        let serving_new = self
            .workers
            .iter()
            .filter(|w| !w.outgoing && w.kill_at.is_none())
            .filter(|w| w.booted || w.started.elapsed() > RELOAD_BOOT_WAIT)
            .count();
        let old = self
            .workers
            .iter()
            .filter(|w| w.outgoing && w.kill_at.is_none())
            .count();
        let (g, target) = (self.config.graceful_timeout, self.target);
        for _ in 0..(serving_new + old).saturating_sub(target).min(old) {
            if let Some(w) = self
                .workers
                .iter_mut()
                .filter(|w| w.outgoing && w.kill_at.is_none())
                .min_by_key(|w| w.started)
            {
                log::info!(
                    "Reload: stopping worker {} (pid: {}); new workers serving: {serving_new} of {target}",
                    w.id,
                    w.pid()
                );
                w.stop(libc::SIGTERM, g);
            }
        }
        let old_left = self
            .workers
            .iter()
            .any(|w| w.outgoing && w.kill_at.is_none());
        if serving_new >= self.target && !old_left {
            log::info!(
                "Reload complete in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            self.reload_started = None;
            sd_notify("READY=1");
        }
    }
}

/// Runs the master; never returns. Exit status 0 after a stop, 1 when the listeners cannot
/// be opened, 3 when workers cannot boot.
pub(crate) fn run(config: Config, inherited: Option<Inherited>) -> ! {
    let code = match master(config, inherited) {
        Ok(code) => code,
        Err(e) => {
            log::error!("{e}");
            1
        }
    };
    log::info!("Shutting down: Master");
    crate::logging::flush();
    std::process::exit(code)
}

/// The master's first line: greenlight's version, and the app's when it gave one.
fn log_start() {
    let ours = env!("CARGO_PKG_VERSION");
    match crate::config::AppInfo::current() {
        Some(app) if app.name != "greenlight" => log::info!(
            "Starting {} {} on greenlight {ours} (master)",
            app.name,
            app.version
        ),
        _ => log::info!("Starting greenlight {ours} (master)"),
    }
}

/// The listening sockets: inherited from the old master after a USR2, else bound (or
/// taken from systemd); each made inheritable by the workers. Also their descriptors, as
/// passed to workers.
fn open_listeners(
    config: &Config,
    inherited: Option<&Inherited>,
) -> crate::Result<(Vec<Listener>, String)> {
    let opts = BindOptions {
        backlog: config.backlog,
        reuse_port: config.reuse_port,
    };
    let listeners: Vec<Listener> = match inherited {
        Some(i) => i.listeners()?,
        None => net::bind_all(&config.binds, &opts)?,
    };
    let mut fds = Vec::new();
    for l in &listeners {
        let addr = l
            .local_addr()
            .map_err(|e| crate::Error::io("reading the listening address", e))?;
        let url = crate::server::url_of(&addr, config.certfile.is_some());
        log::info!("Listening at: {url} ({})", std::process::id());
        l.set_inheritable(true)
            .map_err(|e| crate::Error::io("sharing the listener with workers", e))?;
        fds.push(l.as_raw_fd().to_string());
    }
    Ok((listeners, fds.join(",")))
}

fn master(config: Config, inherited: Option<Inherited>) -> crate::Result<i32> {
    log_start();
    if let Some(i) = &inherited {
        log::info!(
            "Binary upgrade: inheriting the listeners of master {}",
            i.old_master()
        );
    }
    let (listeners, fds) = open_listeners(&config, inherited.as_ref())?;
    // A master started by USR2 writes the pid file once its workers serve (the old
    // master's is `.oldbin` meanwhile): its appearance tells a script the upgrade is ready.
    let pid = config.pid.as_deref().filter(|_| inherited.is_none());
    let pidfile = PidFile::create(pid)
        .map_err(|e| crate::Error::io(format!("writing the pid file {}", pid.unwrap_or("")), e))?;
    let signals = signals::forward(&[
        SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGTTIN, SIGTTOU, SIGUSR1, SIGCHLD,
    ])
    .map_err(|e| crate::Error::io("installing signal handlers", e))?;
    let exe = std::env::current_exe()
        .map_err(|e| crate::Error::io("finding this program to start workers", e))?;
    let program = upgrade::program_path()
        .map_err(|e| crate::Error::io("finding this program's path for upgrades", e))?;
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let metrics = MasterMetrics::start(&config)?;
    let mut a = Arbiter {
        target: config.workers.max(1),
        config,
        listeners,
        exe,
        upgrade: Upgrade::new(program, args.clone(), inherited.map(|i| i.old_master())),
        args,
        fds,
        workers: Vec::new(),
        next_id: 0,
        stopping: false,
        boot_crashes: 0,
        restart_after: Instant::now(),
        reload_started: None,
        pidfile,
        metrics,
        board: match balance::Mapped::create() {
            Ok(b) => Some(b),
            Err(e) => {
                log::warn!("cannot make the workers' balance board (they accept unbalanced): {e}");
                None
            }
        },
    };
    log::info!("Using {} worker processes", a.target);
    supervise(&mut a, &signals)
}

/// The master's loop, until its workers are gone after a stop.
fn supervise(a: &mut Arbiter, signals: &std::sync::mpsc::Receiver<i32>) -> crate::Result<i32> {
    let mut ready_sent = false;
    let mut pending = Vec::new();
    loop {
        for sig in pending {
            a.on_signal(sig);
        }
        if !a.reap() {
            a.stop_all(libc::SIGTERM, Duration::from_secs(5));
            wait_all(a);
            return Ok(BOOT_ERROR);
        }
        a.check_heartbeats();
        a.metrics
            .observe(a.workers.iter().map(|w| (w.id, w.last_beat)));
        a.enforce_kills();
        a.manage();
        a.follow_upgrade();
        if !ready_sent && a.workers.iter().filter(|w| w.booted).count() >= a.target {
            a.on_ready();
            ready_sent = true;
        }
        if a.stopping && a.workers.is_empty() {
            return Ok(0);
        }
        pending = signals::wait(signals, TICK);
    }
}

impl Arbiter {
    /// Every worker serves for the first time.
    fn on_ready(&mut self) {
        if !self
            .upgrade
            .on_ready(self.config.pid.as_deref(), &mut self.pidfile)
        {
            sd_notify("READY=1");
        }
    }

    /// A binary upgrade's progress: a new master that exited (this one carries on), an
    /// old master that is gone (this one takes over the unix socket files).
    fn follow_upgrade(&mut self) {
        self.upgrade.reap(&mut self.pidfile);
        if self.upgrade.old_master_left() && !self.stopping {
            for l in &mut self.listeners {
                l.set_owns_path(true);
                l.set_sole(true);
            }
        }
    }
}

fn wait_all(a: &mut Arbiter) {
    let until = Instant::now() + Duration::from_secs(10);
    while !a.workers.is_empty() && Instant::now() < until {
        let _ = a.reap();
        a.enforce_kills();
        std::thread::sleep(TICK);
    }
}
