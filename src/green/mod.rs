//! Green threads: gevent's concurrency API over the `may` coroutine runtime. Its public
//! items are re-exported at the crate root (`greenlight::spawn`, `greenlight::event`, ...),
//! where the crate docs describe them; this module is also the only user of may's
//! coroutine API (spawning, cancelling, sleeping).

pub(crate) mod alarm;
pub(crate) mod clock;
mod coroutine;
mod deadline;
pub mod event;
mod greenlet;
pub mod lock;
pub mod pool;
pub mod queue;
mod runtime;
pub mod threadpool;
mod timeout;
mod wait;
pub(crate) mod watchdog;

use std::fmt;

pub(crate) use coroutine::{
    alive, in_greenlet, install_panic_hook, is_cancel, panic_message, pause, spawn_raw, CoExit,
    CoHandle,
};
pub(crate) use deadline::{run_until, Deadline, Ran};
pub use greenlet::{joinall, killall, sleep, spawn, spawn_later, try_sleep, yield_now, Greenlet};
pub(crate) use runtime::ensure_configured;
pub use runtime::{configure, RuntimeConfig};
pub use timeout::{with_timeout, Timeout};

/// A blocking operation gave up: its timeout, or a [`Timeout`] in scope, expired.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use greenlight::{event::Event, TimeoutError};
/// assert_eq!(Event::new().wait_timeout(Duration::from_millis(1)), Err(TimeoutError));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeoutError;

impl fmt::Display for TimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("timed out")
    }
}

impl std::error::Error for TimeoutError {}

/// Why a greenlet (or a thread-pool job) produced no value.
///
/// # Examples
///
/// ```
/// use greenlight::JoinError;
/// let g = greenlight::spawn(|| -> () { panic!("disk on fire") });
/// match g.join() {
///     Err(JoinError::Panicked(msg)) => assert_eq!(msg, "disk on fire"),
///     other => panic!("{other:?}"),
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinError {
    /// It panicked; the panic message.
    Panicked(String),
    /// It was killed before it returned.
    Killed,
    /// The wait for it timed out; it may still be running.
    Timeout,
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Panicked(msg) => write!(f, "greenlet panicked: {msg}"),
            JoinError::Killed => f.write_str("greenlet was killed"),
            JoinError::Timeout => f.write_str("timed out waiting for the greenlet"),
        }
    }
}

impl std::error::Error for JoinError {}

impl From<TimeoutError> for JoinError {
    fn from(_: TimeoutError) -> Self {
        JoinError::Timeout
    }
}
