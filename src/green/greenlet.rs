//! [`Greenlet`]: a green thread and its result; [`spawn`], [`spawn_later`], [`joinall`],
//! [`killall`], [`sleep`], [`yield_now`].

use std::any::Any;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use super::coroutine::{is_cancel, panic_message, spawn_raw, CoHandle};
use super::timeout::deadline_after;
use super::wait::{SpinLock, WaitQueue};
use super::{JoinError, TimeoutError};

/// The part of a greenlet that pools and groups keep: enough to kill it and wait for it.
pub(crate) struct Core {
    co: OnceLock<CoHandle>,
    killed: AtomicBool,
    /// The outcome is stored: `is_ready` is true from here on.
    done: AtomicBool,
    /// `on_exit` has run too (pool slot released, group membership dropped): joiners
    /// return from here on, so that after `join` both the result and the slot are there.
    settled: AtomicBool,
    waiters: WaitQueue,
}

impl Core {
    fn new() -> Self {
        Core {
            co: OnceLock::new(),
            killed: AtomicBool::new(false),
            done: AtomicBool::new(false),
            settled: AtomicBool::new(false),
            waiters: WaitQueue::new(),
        }
    }

    pub(crate) fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    /// Asks the greenlet to die at its next yield point.
    pub(crate) fn kill(&self) {
        self.killed.store(true, Ordering::Release);
        if self.is_done() {
            return;
        }
        if let Some(co) = self.co.get() {
            co.cancel();
        }
        // Not yet started: the wrapper in `spawn_with` sees `killed` and never runs `f`.
    }

    pub(crate) fn wait_deadline(&self, deadline: Option<Instant>) -> Result<(), TimeoutError> {
        self.waiters.wait_until(deadline, || {
            self.settled.load(Ordering::Acquire).then_some(())
        })
    }

    /// The outcome is stored (before `on_exit`, so a group that `on_exit` empties only
    /// holds greenlets that already report ready).
    fn mark_done(&self) {
        self.done.store(true, Ordering::Release);
    }

    /// `on_exit` has run: wake the joiners.
    fn settle(&self) {
        self.settled.store(true, Ordering::Release);
        self.waiters.notify_all();
    }
}

type ResultCell<T> = SpinLock<Option<Result<T, JoinError>>>;

/// A handle to a green thread: wait for it, take its result, or kill it.
///
/// Dropping the handle *detaches* the greenlet, as in gevent: it keeps running and its
/// result is discarded. Because that is easy to do by mistake, dropping the handle of a
/// greenlet that is still running logs a `debug` line; call [`Greenlet::detach`] to say it is
/// intended.
///
/// # Examples
///
/// ```
/// let g = greenlight::spawn(|| 6 * 7);
/// assert_eq!(g.join().unwrap(), 42);
/// ```
pub struct Greenlet<T> {
    core: Arc<Core>,
    slot: Arc<ResultCell<T>>,
    detached: bool,
}

impl<T> fmt::Debug for Greenlet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Greenlet")
            .field("ready", &self.is_ready())
            .finish()
    }
}

/// Spawns `f` on a new green thread and returns its handle.
///
/// Works from a greenlet or a plain thread. The runtime is configured with defaults on the
/// first spawn unless [`configure`](crate::configure) ran before. Read the
/// [rules for code in greenlets](crate#rules-for-code-running-in-a-greenlet).
///
/// # Examples
///
/// ```
/// let greenlets: Vec<_> = (0..10).map(|i| greenlight::spawn(move || i * i)).collect();
/// let total: i32 = greenlets.into_iter().map(|g| g.join().unwrap()).sum();
/// assert_eq!(total, 285);
/// ```
pub fn spawn<F, T>(f: F) -> Greenlet<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    spawn_with(f, |_| {}, || {})
}

/// Spawns `f`, calling `register` with its core before it can run and `on_exit` after it
/// stored its result (it is ready) and before joiners return. `on_exit` must not park.
pub(crate) fn spawn_with<F, T>(
    f: F,
    register: impl FnOnce(&Arc<Core>),
    on_exit: impl FnOnce() + Send + 'static,
) -> Greenlet<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    super::runtime::ensure_configured();
    let core = Arc::new(Core::new());
    let slot: Arc<ResultCell<T>> = Arc::new(SpinLock::new(None));
    register(&core);
    let (their_core, their_slot) = (core.clone(), slot.clone());
    let body = move || {
        let outcome = if their_core.killed.load(Ordering::Acquire) {
            Err(JoinError::Killed)
        } else {
            // Catching here (rather than letting `may` keep the payload) lets `join` wait
            // with a timeout and tell a kill from a panic. After a kill, nothing below may
            // park: the cancel flag stays set and would fire again at the next yield point.
            catch_unwind(AssertUnwindSafe(f)).map_err(panic_error)
        };
        *their_slot.lock() = Some(outcome);
        their_core.mark_done();
        on_exit();
        their_core.settle();
    };
    let handle = match spawn_raw(None, body) {
        Ok(h) => h,
        Err(e) => panic!("cannot spawn a greenlet: {e}"),
    };
    let _ = core.co.set(handle);
    if core.killed.load(Ordering::Acquire) {
        // Killed between `register` and now: deliver it.
        core.kill();
    }
    Greenlet {
        core,
        slot,
        detached: false,
    }
}

fn panic_error(payload: Box<dyn Any + Send>) -> JoinError {
    if is_cancel(payload.as_ref()) {
        JoinError::Killed
    } else {
        JoinError::Panicked(panic_message(payload.as_ref()))
    }
}

impl<T> Greenlet<T> {
    /// Waits for the greenlet to finish and returns its value, or why there is none:
    /// [`JoinError::Panicked`] with the panic message, [`JoinError::Killed`], or
    /// [`JoinError::Timeout`] when a [`Timeout`](crate::Timeout) in scope expired first (the
    /// greenlet then keeps running, detached; use [`Greenlet::wait`] to keep the handle).
    ///
    /// # Examples
    ///
    /// ```
    /// use greenlight::JoinError;
    /// let g = greenlight::spawn(|| -> u8 { panic!("boom") });
    /// assert_eq!(g.join(), Err(JoinError::Panicked("boom".into())));
    /// ```
    pub fn join(self) -> Result<T, JoinError> {
        self.join_deadline(deadline_after(None))
    }

    /// Like [`Greenlet::join`], waiting at most `timeout`. On timeout the greenlet keeps
    /// running, detached.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use greenlight::JoinError;
    /// let g = greenlight::spawn(|| greenlight::sleep(Duration::from_secs(5)));
    /// g.kill();
    /// assert_eq!(g.join_timeout(Duration::from_secs(1)).unwrap_err(), JoinError::Killed);
    /// ```
    pub fn join_timeout(self, timeout: Duration) -> Result<T, JoinError> {
        self.join_deadline(deadline_after(Some(timeout)))
    }

    fn join_deadline(mut self, deadline: Option<Instant>) -> Result<T, JoinError> {
        self.detached = true;
        self.core
            .wait_deadline(deadline)
            .map_err(|_| JoinError::Timeout)?;
        self.slot
            .lock()
            .take()
            .expect("a finished greenlet stores its outcome")
    }

    /// Waits until the greenlet has finished, keeping the handle; fails only when a
    /// [`Timeout`](crate::Timeout) in scope expires.
    ///
    /// # Examples
    ///
    /// ```
    /// let g = greenlight::spawn(|| 1);
    /// g.wait().unwrap();
    /// assert!(g.is_ready());
    /// ```
    pub fn wait(&self) -> Result<(), TimeoutError> {
        self.core.wait_deadline(deadline_after(None))
    }

    /// Waits at most `timeout` for the greenlet to finish, keeping the handle.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let g = greenlight::spawn(|| greenlight::sleep(Duration::from_secs(5)));
    /// assert!(g.wait_timeout(Duration::from_millis(10)).is_err());
    /// g.kill();
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<(), TimeoutError> {
        self.core.wait_deadline(deadline_after(Some(timeout)))
    }

    /// Whether the greenlet has finished (returned, panicked, or was killed).
    ///
    /// # Examples
    ///
    /// ```
    /// let g = greenlight::spawn(|| ());
    /// g.wait().unwrap();
    /// assert!(g.is_ready());
    /// ```
    pub fn is_ready(&self) -> bool {
        self.core.is_done()
    }

    /// Kills the greenlet: a cancel panic is raised at its next yield point (any blocking
    /// greenlight or `may` call, `sleep`, `yield_now`, socket I/O), its stack unwinds so its
    /// guards run, and [`join`](Greenlet::join) reports [`JoinError::Killed`]. Returns at
    /// once; join to wait for the end. A greenlet that never yields (a CPU loop) cannot be
    /// killed; killing a finished greenlet does nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use greenlight::JoinError;
    /// let g = greenlight::spawn(|| loop { greenlight::sleep(Duration::from_millis(1)); });
    /// g.kill();
    /// assert_eq!(g.join(), Err(JoinError::Killed));
    /// ```
    pub fn kill(&self) {
        self.core.kill();
    }

    /// Lets the greenlet run on without a handle; its result is discarded. Unlike a plain
    /// drop, this says it is intended (no debug log).
    ///
    /// # Examples
    ///
    /// ```
    /// greenlight::spawn(|| println!("on my own")).detach();
    /// ```
    pub fn detach(mut self) {
        self.detached = true;
    }

    pub(crate) fn core(&self) -> &Arc<Core> {
        &self.core
    }
}

impl<T> Drop for Greenlet<T> {
    fn drop(&mut self) {
        if !self.detached && !self.is_ready() {
            log::debug!("greenlet handle dropped while it runs: detached (use detach() to say so)");
        }
    }
}

/// Spawns `f` to run after `delay`.
///
/// Killing the greenlet during the delay means `f` never runs.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// let start = Instant::now();
/// let g = greenlight::spawn_later(Duration::from_millis(20), || "late");
/// assert_eq!(g.join().unwrap(), "late");
/// assert!(start.elapsed() >= Duration::from_millis(19));
/// ```
pub fn spawn_later<F, T>(delay: Duration, f: F) -> Greenlet<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    spawn(move || {
        // A new greenlet has no Timeout in scope, so only a kill cuts this short, and a kill
        // unwinds from inside `sleep`.
        sleep(delay);
        f()
    })
}

/// Waits until every greenlet in `greenlets` has finished, or `timeout` passes (`None`:
/// no limit besides a [`Timeout`](crate::Timeout) in scope). The handles stay usable:
/// [`join`](Greenlet::join) them for their results.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let gs: Vec<_> = (0..100)
///     .map(|i| greenlight::spawn(move || { greenlight::sleep(Duration::from_millis(10)); i }))
///     .collect();
/// greenlight::joinall(&gs, Some(Duration::from_secs(5))).unwrap();
/// assert!(gs.iter().all(|g| g.is_ready()));
/// ```
pub fn joinall<T>(
    greenlets: &[Greenlet<T>],
    timeout: Option<Duration>,
) -> Result<(), TimeoutError> {
    let deadline = deadline_after(timeout);
    greenlets
        .iter()
        .try_for_each(|g| g.core.wait_deadline(deadline))
}

/// Kills every greenlet in `greenlets`, then waits for them to end, at most `timeout`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let gs: Vec<_> = (0..10).map(|_| greenlight::spawn(|| greenlight::sleep(Duration::from_secs(9)))).collect();
/// greenlight::killall(&gs, Some(Duration::from_secs(5))).unwrap();
/// assert!(gs.iter().all(|g| g.is_ready()));
/// ```
pub fn killall<T>(
    greenlets: &[Greenlet<T>],
    timeout: Option<Duration>,
) -> Result<(), TimeoutError> {
    for g in greenlets {
        g.kill();
    }
    joinall(greenlets, timeout)
}

/// Suspends the current greenlet (or thread) for `duration`, letting others run: gevent's
/// `sleep`. Nothing to unwrap.
///
/// A [`Timeout`](crate::Timeout) in scope bounds it: the greenlet wakes at that deadline
/// at the latest, and the scope's next fallible wait reports the timeout. Use
/// [`try_sleep`] to learn at once whether the full time was slept (a loop that only sleeps
/// inside an expired `Timeout` would otherwise spin).
///
/// `sleep(Duration::ZERO)` is gevent's `sleep(0)`: it only yields, as [`yield_now`] does
/// (tens of nanoseconds, against tens of microseconds for a trip through the timer).
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// let start = Instant::now();
/// greenlight::sleep(Duration::from_millis(10));
/// assert!(start.elapsed() >= Duration::from_millis(9));
/// ```
pub fn sleep(duration: Duration) {
    let _ = try_sleep(duration);
}

/// [`sleep`] that says whether it slept the full `duration`: fails with [`TimeoutError`],
/// after sleeping only until the deadline, when a [`Timeout`](crate::Timeout) in scope
/// expires first.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use greenlight::{Timeout, TimeoutError};
///
/// let _t = Timeout::new(Duration::from_millis(10));
/// assert_eq!(greenlight::try_sleep(Duration::from_secs(5)), Err(TimeoutError));
/// ```
pub fn try_sleep(duration: Duration) -> Result<(), TimeoutError> {
    match super::timeout::scope_deadline() {
        Some(deadline) if deadline <= Instant::now() + duration => {
            let left = deadline.saturating_duration_since(Instant::now());
            super::watchdog::parking(|| super::coroutine::pause(left));
            Err(TimeoutError)
        }
        // On a plain thread `may` falls back to `std::thread::sleep`, which is right there.
        _ => {
            super::watchdog::parking(|| super::coroutine::pause(duration));
            Ok(())
        }
    }
}

/// Lets other ready greenlets on this worker run before continuing (on a plain thread,
/// yields the OS thread). A yield point: a killed greenlet dies here.
///
/// # Examples
///
/// ```
/// greenlight::yield_now();
/// ```
pub fn yield_now() {
    may::coroutine::yield_now();
}
