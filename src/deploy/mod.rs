//! Deploying like gunicorn: a master process that keeps `--workers N` worker processes
//! alive, with gunicorn's signals, heartbeats and worker recycling.
//!
//! The app is compiled in, so the master re-executes its own binary for each worker (no
//! fork after threads exist), handing it the listening sockets it opened once. A worker is
//! the ordinary single-process server on those sockets. Why a master matters more here
//! than for gunicorn: a green thread's stack overflow, or an abort in native code, ends
//! the whole process; the master then starts a new worker while the others keep serving.
//!
//! There is a master even for one worker (`-w 1`, the default), as in gunicorn: a reload
//! needs a process that keeps the listeners open while one generation of workers replaces
//! another, and `--timeout`, `--max-requests` and restarts then mean the same for any `-w`.
//! The master's pid is the one in `--pid` and the one systemd sees.
//!
//! | signal | master | worker |
//! |---|---|---|
//! | TERM | graceful stop: closes the listeners at once (new connections are refused), then workers finish in-flight requests within `--graceful-timeout`, then are killed | graceful stop: stops accepting at once, serves what the listen backlog holds, finishes in-flight requests |
//! | INT, QUIT | quick stop (listeners closed at once) | quick stop |
//! | HUP | rolling reload: one new worker at a time starts, and once it serves one old worker stops gracefully; the listeners stay open | ignored |
//! | TTIN / TTOU | one worker more / less | |
//! | USR1 | reopen log files (and tell the workers) | reopen log files |
//! | USR2 | binary upgrade: a new master from the program's path inherits the listeners (see `upgrade`) | ignored |
//! | WINCH | ignored (logged) | ignored |
//!
//! Nothing is lost in a stop or a reload: the kernel completes handshakes on a listening
//! socket until the last process holding it closes it, then resets what is still queued,
//! so each process that stops accepting first serves its listen backlog; and an idle
//! keep-alive connection gets a short last call, so a request its client sent before it
//! could know of the stop is still answered (with `Connection: close`).

pub(crate) mod arbiter;
mod balance;
mod metrics;
pub(crate) mod notify;
mod options;
mod run;
mod signals;
pub(crate) mod upgrade;
pub(crate) mod worker;

pub use run::run;

/// Listening descriptors a worker inherits, comma-separated.
pub(crate) const ENV_FDS: &str = "GREENLIGHT_WORKER_FDS";
/// The write end of the worker's heartbeat pipe.
pub(crate) const ENV_HEARTBEAT: &str = "GREENLIGHT_HEARTBEAT_FD";
/// The worker's number, for log lines.
pub(crate) const ENV_WORKER_ID: &str = "GREENLIGHT_WORKER_ID";
/// The worker's metrics segment (a shared memory descriptor), when metrics are kept.
pub(crate) const ENV_METRICS: &str = "GREENLIGHT_METRICS_FD";
/// The workers' shared board for fair accepting, and this worker's slot on it: `FD:SLOT`.
pub(crate) const ENV_BALANCE: &str = "GREENLIGHT_BALANCE";
/// The master's pid: a worker whose parent is not (or no longer) this process stops.
pub(crate) const ENV_MASTER_PID: &str = "GREENLIGHT_MASTER_PID";

/// Exit status of a worker that could not start serving (gunicorn's
/// `WORKER_BOOT_ERROR`): the master stops instead of restarting it forever.
pub(crate) const BOOT_ERROR: i32 = 3;
