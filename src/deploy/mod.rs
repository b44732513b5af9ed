//! Deploying like gunicorn: a master process that keeps `--workers N` worker processes
//! alive, with gunicorn's signals, heartbeats and worker recycling.
//!
//! The app is compiled in, so the master re-executes its own binary for each worker (no
//! fork after threads exist), handing it the listening sockets it opened once. A worker is
//! the ordinary single-process server on those sockets. Why a master matters more here
//! than for gunicorn: a green thread's stack overflow, or an abort in native code, ends
//! the whole process; the master then starts a new worker while the others keep serving.
//!
//! | signal | master | worker |
//! |---|---|---|
//! | TERM | graceful stop: workers finish in-flight requests within `--graceful-timeout`, then are killed | graceful stop |
//! | INT, QUIT | quick stop | quick stop (a second INT on a single process: at once) |
//! | HUP | reload: new workers start, then the old ones stop gracefully | ignored |
//! | TTIN / TTOU | one worker more / less | |
//! | USR1 | reopen log files (and tell the workers) | reopen log files |

pub(crate) mod arbiter;
pub(crate) mod notify;
mod options;
mod run;
mod signals;
pub(crate) mod worker;

pub use run::run;

/// Listening descriptors a worker inherits, comma-separated.
pub(crate) const ENV_FDS: &str = "GREENLIGHT_WORKER_FDS";
/// The write end of the worker's heartbeat pipe.
pub(crate) const ENV_HEARTBEAT: &str = "GREENLIGHT_HEARTBEAT_FD";
/// The worker's number, for log lines.
pub(crate) const ENV_WORKER_ID: &str = "GREENLIGHT_WORKER_ID";

/// Exit status of a worker that could not start serving (gunicorn's
/// `WORKER_BOOT_ERROR`): the master stops instead of restarting it forever.
pub(crate) const BOOT_ERROR: i32 = 3;
