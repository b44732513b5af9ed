//! [`Timeout`]: a deadline for everything that blocks in a scope, and [`with_timeout`].
//!
//! See [`Timeout`] for which operations honour it.

use std::cell::Cell;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::TimeoutError;

// Coroutine-local, so it follows its greenlet across worker threads; on a plain thread
// `may` backs it with thread-local storage, which is right there.
may::coroutine_local!(static DEADLINE: Cell<Option<Instant>> = Cell::new(None));

/// How many [`Timeout`]s exist in the process. While there are none, no wait reads
/// `DEADLINE`: the common path skips the coroutine-local lookup (a walk of the context
/// stack and a hash map probe) on every wait.
static LIVE: AtomicUsize = AtomicUsize::new(0);

/// The deadline of the innermost [`Timeout`] in scope, if any.
pub(crate) fn scope_deadline() -> Option<Instant> {
    if LIVE.load(Ordering::Acquire) == 0 {
        return None;
    }
    DEADLINE.with(|d| d.get())
}

/// The deadline of a wait bounded by `timeout` and by any [`Timeout`] in scope.
pub(crate) fn deadline_after(timeout: Option<Duration>) -> Option<Instant> {
    let own = timeout.map(|t| Instant::now() + t);
    match (own, scope_deadline()) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// A guard that makes blocking greenlight operations in its scope fail with
/// [`TimeoutError`] once `duration` has passed.
///
/// Timeouts nest: an inner one cannot extend an outer one's deadline. The guard belongs to
/// the greenlet (or thread) that created it (it is neither `Send` nor `Sync`); drop nested
/// guards in reverse order of creation, as scopes do. Greenlets spawned in the scope do not
/// inherit it.
///
/// gevent's `with Timeout(5):` raises inside whatever is blocking when the time is up. Here
/// the deadline is stored per greenlet (per thread outside greenlets), and every blocking
/// greenlight operation shortens its wait to it and returns a timeout error when it passes:
///
/// - [`sleep`](crate::sleep) and [`try_sleep`](crate::try_sleep), [`Greenlet::join`](crate::Greenlet::join) and
///   [`Greenlet::wait`](crate::Greenlet::wait), [`joinall`](crate::joinall),
///   [`killall`](crate::killall);
/// - [`Event::wait`](crate::event::Event::wait),
///   [`AsyncResult::get`](crate::event::AsyncResult::get);
/// - [`Queue::put`](crate::queue::Queue::put), [`Queue::get`](crate::queue::Queue::get),
///   [`Queue::join`](crate::queue::Queue::join);
/// - [`Semaphore::acquire`](crate::lock::Semaphore::acquire);
/// - [`Pool::spawn`](crate::pool::Pool::spawn) and the waits of `Pool` and `Group`;
/// - [`threadpool::spawn_blocking`](crate::threadpool::spawn_blocking) (the OS thread keeps
///   running the closure; only the wait ends).
///
/// `may`'s own sockets and primitives do not see the deadline: give sockets their own
/// `set_read_timeout`/`set_write_timeout`, or run the socket work in a greenlet and
/// [`join_timeout`](crate::Greenlet::join_timeout) / [`kill`](crate::Greenlet::kill) it.
/// CPU-bound code is not interrupted either: there is no yield point to fail at.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use greenlight::{queue::Queue, Timeout};
///
/// let q: Queue<u32> = Queue::unbounded();
/// let start = Instant::now();
/// {
///    let _t = Timeout::new(Duration::from_millis(20));
///    assert!(q.get().is_err()); // nobody puts: fails at the deadline
/// }
/// assert!(start.elapsed() >= Duration::from_millis(19));
/// ```
#[derive(Debug)]
pub struct Timeout {
    deadline: Instant,
    previous: Option<Instant>,
    _not_send: PhantomData<*const ()>,
}

impl Timeout {
    /// Starts a timeout of `duration` for the current greenlet or thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let _t = greenlight::Timeout::new(Duration::from_millis(10));
    /// assert!(greenlight::try_sleep(Duration::from_secs(5)).is_err());
    /// ```
    pub fn new(duration: Duration) -> Timeout {
        LIVE.fetch_add(1, Ordering::AcqRel);
        let previous = scope_deadline();
        let mine = Instant::now() + duration;
        let deadline = previous.map_or(mine, |p| p.min(mine));
        DEADLINE.with(|d| d.set(Some(deadline)));
        Timeout {
            deadline,
            previous,
            _not_send: PhantomData,
        }
    }

    /// When blocking operations in this scope start failing (an outer, earlier deadline
    /// wins).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let t = greenlight::Timeout::new(Duration::from_secs(1));
    /// assert!(t.deadline() > Instant::now());
    /// ```
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Whether the deadline has passed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let t = greenlight::Timeout::new(Duration::ZERO);
    /// assert!(t.is_expired());
    /// ```
    pub fn is_expired(&self) -> bool {
        Instant::now() >= self.deadline
    }
}

impl Drop for Timeout {
    fn drop(&mut self) {
        DEADLINE.with(|d| d.set(self.previous));
        LIVE.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Runs `f` under a [`Timeout`] of `duration`.
///
/// Returns `Err(TimeoutError)` if the deadline passed before `f` returned (its result,
/// typically itself an error from the operation that timed out, is dropped), and `Ok` with
/// `f`'s result otherwise.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use greenlight::{event::Event, with_timeout};
///
/// let ev = Event::new();
/// assert!(with_timeout(Duration::from_millis(10), || ev.wait()).is_err());
/// ev.set();
/// assert_eq!(with_timeout(Duration::from_millis(10), || ev.wait()), Ok(Ok(())));
/// ```
pub fn with_timeout<T>(duration: Duration, f: impl FnOnce() -> T) -> Result<T, TimeoutError> {
    let guard = Timeout::new(duration);
    let value = f();
    if guard.is_expired() {
        Err(TimeoutError)
    } else {
        Ok(value)
    }
}
