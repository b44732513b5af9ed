//! The one blocking primitive every other green primitive is built on.
//!
//! Why not `may::sync::{Mutex, Condvar, Semphore}`: while a killed greenlet unwinds, `may`
//! wakes every park at once with "canceled", and its own primitives answer that by raising
//! the cancel panic again, which, during unwinding, aborts the process. A `Drop` that
//! releases a semaphore or sets an event must be able to run in exactly that state. So:
//!
//! - state lives behind a [`SpinLock`], held for a few instructions and never across a
//!   yield, so taking it never parks;
//! - waking ([`WaitQueue::notify_one`], [`WaitQueue::notify_all`]) never parks either;
//! - [`WaitQueue::wait_until`] parks on a `may` [`Blocker`] that ignores cancellation, cleans
//!   up its registration, and only then re-raises the cancel panic (or, when already
//!   unwinding, gives up with a timeout instead of aborting).

use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam::utils::Backoff;
use may::coroutine::ParkError;
use may::sync::Blocker;

use super::TimeoutError;

/// A lock for a few instructions' worth of state. Never held across a yield, so it never
/// parks a greenlet and is safe to take while a killed greenlet unwinds.
pub(crate) struct SpinLock<T> {
    locked: AtomicBool,
    data: UnsafeCell<T>,
}

// SAFETY: access to `data` is serialised by `locked`, as with `std::sync::Mutex`.
unsafe impl<T: Send> Send for SpinLock<T> {}
// SAFETY: as above; only one guard exists at a time, so `&SpinLock` hands out `&mut T` to
// one holder only.
unsafe impl<T: Send> Sync for SpinLock<T> {}

impl<T> SpinLock<T> {
    pub(crate) const fn new(value: T) -> Self {
        SpinLock {
            locked: AtomicBool::new(false),
            data: UnsafeCell::new(value),
        }
    }

    pub(crate) fn lock(&self) -> SpinGuard<'_, T> {
        let backoff = Backoff::new();
        while self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            // Snooze spins, then yields the OS thread: never a green-thread yield, which
            // could park (or raise the cancel panic) with the lock wanted by others.
            backoff.snooze();
        }
        SpinGuard { lock: self }
    }
}

pub(crate) struct SpinGuard<'a, T> {
    lock: &'a SpinLock<T>,
}

impl<T> Deref for SpinGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while `locked` is held by us.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T> DerefMut for SpinGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard exists only while `locked` is held by us, and `&mut self`
        // makes this the only reference obtained through it.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T> Drop for SpinGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.locked.store(false, Ordering::Release);
    }
}

struct Waiter {
    blocker: Blocker,
    notified: AtomicBool,
}

/// Greenlets and threads waiting for some state to change.
#[derive(Default)]
pub(crate) struct WaitQueue {
    waiters: SpinLock<VecDeque<Arc<Waiter>>>,
}

impl<T: Default> Default for SpinLock<T> {
    fn default() -> Self {
        SpinLock::new(T::default())
    }
}

impl WaitQueue {
    pub(crate) fn new() -> Self {
        WaitQueue::default()
    }

    /// Wakes the longest waiter, if any. Never parks.
    pub(crate) fn notify_one(&self) {
        let waiter = self.waiters.lock().pop_front();
        if let Some(w) = waiter {
            w.notified.store(true, Ordering::Release);
            w.blocker.unpark();
        }
    }

    /// Wakes every waiter. Never parks.
    pub(crate) fn notify_all(&self) {
        let all = std::mem::take(&mut *self.waiters.lock());
        for w in all {
            w.notified.store(true, Ordering::Release);
            w.blocker.unpark();
        }
    }

    fn remove(&self, waiter: &Arc<Waiter>) {
        self.waiters.lock().retain(|w| !Arc::ptr_eq(w, waiter));
    }

    /// Blocks until `attempt` returns `Some`, or `deadline` passes.
    ///
    /// `attempt` is called with no lock held; it takes what it needs (an item, a permit)
    /// atomically and wakes whoever its success unblocks. A wake-up that this waiter does not
    /// use, because it timed out or was killed, is passed on to the next waiter.
    pub(crate) fn wait_until<R>(
        &self,
        deadline: Option<Instant>,
        mut attempt: impl FnMut() -> Option<R>,
    ) -> Result<R, TimeoutError> {
        loop {
            if let Some(r) = attempt() {
                return Ok(r);
            }
            let remaining = match deadline {
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return Err(TimeoutError);
                    }
                    Some(park_duration(d - now))
                }
                None => None,
            };
            // Ignore cancellation inside `park` so that we can deregister first.
            let waiter = Arc::new(Waiter {
                blocker: Blocker::new(true),
                notified: AtomicBool::new(false),
            });
            self.waiters.lock().push_back(waiter.clone());
            // Re-check after registering: a change made before we were queued woke nobody.
            if let Some(r) = attempt() {
                self.remove(&waiter);
                return Ok(r);
            }
            let parked = super::watchdog::parking(|| waiter.blocker.park(remaining));
            if parked.is_ok() || waiter.notified.load(Ordering::Acquire) {
                // Woken (or raced with a wake-up): try again while we are still entitled.
                if let Some(r) = attempt() {
                    return Ok(r);
                }
            }
            self.remove(&waiter);
            match parked {
                Err(ParkError::Canceled) => {
                    self.pass_on(&waiter);
                    if std::thread::panicking() {
                        // A killed greenlet's destructor waited: it cannot wait any more.
                        return Err(TimeoutError);
                    }
                    may::coroutine::trigger_cancel_panic();
                }
                Err(ParkError::Timeout) => {
                    self.pass_on(&waiter);
                    super::coroutine::back_to_workers();
                    return Err(TimeoutError);
                }
                // Woken, but someone else got there first: wait again.
                Ok(()) => {}
            }
        }
    }

    fn pass_on(&self, waiter: &Waiter) {
        if waiter.notified.load(Ordering::Acquire) {
            self.notify_one();
        }
    }
}

/// A wait of `left` as may's park takes it: may keeps park timeouts in whole
/// milliseconds and reads 0 as "no timeout", so a wait of less than a millisecond would
/// park forever. Rounded up instead (a wait never ends early, and always ends).
fn park_duration(left: Duration) -> Duration {
    let ms = left.as_nanos().div_ceil(1_000_000).max(1);
    Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// may keeps park timeouts in whole milliseconds, 0 meaning forever: a wait of less
    /// than a millisecond once parked for good.
    #[test]
    fn waits_shorter_than_a_millisecond_end() {
        let short = || {
            let q = WaitQueue::new();
            let r: Result<(), _> =
                q.wait_until(Some(Instant::now() + Duration::from_micros(300)), || None);
            r
        };
        assert_eq!(short(), Err(TimeoutError));
        let g = crate::green::spawn(short);
        assert_eq!(
            g.join_timeout(Duration::from_secs(5)),
            Ok(Err(TimeoutError))
        );
        assert_eq!(
            park_duration(Duration::from_micros(1)),
            Duration::from_millis(1)
        );
        assert_eq!(
            park_duration(Duration::from_micros(1500)),
            Duration::from_millis(2)
        );
    }

    #[test]
    fn times_out_from_a_thread() {
        let q = WaitQueue::new();
        let start = Instant::now();
        let r: Result<(), _> =
            q.wait_until(Some(Instant::now() + Duration::from_millis(30)), || None);
        assert_eq!(r, Err(TimeoutError));
        assert!(start.elapsed() >= Duration::from_millis(29));
    }

    #[test]
    fn wakes_a_thread() {
        let q = Arc::new(WaitQueue::new());
        let flag = Arc::new(AtomicBool::new(false));
        let (q2, f2) = (q.clone(), flag.clone());
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            f2.store(true, Ordering::SeqCst);
            q2.notify_all();
        });
        let r = q.wait_until(None, || flag.load(Ordering::SeqCst).then_some(()));
        assert_eq!(r, Ok(()));
        t.join().unwrap();
    }
}
