//! [`Semaphore`] and [`BoundedSemaphore`], with an RAII [`SemaphoreGuard`].

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::timeout::deadline_after;
use super::wait::{SpinLock, WaitQueue};
use super::TimeoutError;

/// A counting semaphore for greenlets and threads, like gevent's `Semaphore`.
///
/// [`acquire`](Semaphore::acquire) returns a guard that gives the permit back when dropped,
/// also when a killed greenlet unwinds. Cloning gives another handle to the same semaphore.
///
/// # Examples
///
/// ```
/// use greenlight::lock::Semaphore;
/// let sem = Semaphore::new(2);
/// let a = sem.acquire().unwrap();
/// let _b = sem.acquire().unwrap();
/// assert!(sem.try_acquire().is_none());
/// drop(a);
/// assert!(sem.try_acquire().is_some());
/// ```
#[derive(Clone)]
pub struct Semaphore {
    inner: Arc<SemInner>,
}

struct SemInner {
    permits: SpinLock<usize>,
    bound: Option<usize>,
    waiters: WaitQueue,
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("available", &self.available())
            .finish()
    }
}

impl Semaphore {
    /// A semaphore with `permits` permits available.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(greenlight::lock::Semaphore::new(3).available(), 3);
    /// ```
    pub fn new(permits: usize) -> Semaphore {
        Semaphore::with_bound(permits, None)
    }

    fn with_bound(permits: usize, bound: Option<usize>) -> Semaphore {
        Semaphore {
            inner: Arc::new(SemInner {
                permits: SpinLock::new(permits),
                bound,
                waiters: WaitQueue::new(),
            }),
        }
    }

    /// Takes a permit, waiting for one; fails only when a [`Timeout`](crate::Timeout) in
    /// scope expires.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = greenlight::lock::Semaphore::new(1);
    /// let _guard = sem.acquire().unwrap();
    /// ```
    pub fn acquire(&self) -> Result<SemaphoreGuard, TimeoutError> {
        self.acquire_deadline(deadline_after(None))
    }

    /// Takes a permit, waiting at most `timeout`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let sem = greenlight::lock::Semaphore::new(0);
    /// assert!(sem.acquire_timeout(Duration::from_millis(5)).is_err());
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<SemaphoreGuard, TimeoutError> {
        self.acquire_deadline(deadline_after(Some(timeout)))
    }

    /// Takes a permit if one is free, without waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(greenlight::lock::Semaphore::new(0).try_acquire().is_none());
    /// ```
    pub fn try_acquire(&self) -> Option<SemaphoreGuard> {
        self.take_one()
            .then(|| SemaphoreGuard { sem: self.clone() })
    }

    pub(crate) fn acquire_deadline(
        &self,
        deadline: Option<Instant>,
    ) -> Result<SemaphoreGuard, TimeoutError> {
        self.inner
            .waiters
            .wait_until(deadline, || self.take_one().then_some(()))?;
        Ok(SemaphoreGuard { sem: self.clone() })
    }

    /// Waits until a permit is free without taking it.
    pub(crate) fn wait_available(&self, deadline: Option<Instant>) -> Result<(), TimeoutError> {
        self.inner.waiters.wait_until(deadline, || {
            (self.available() > 0).then(|| {
                // We used a wake-up meant for someone who takes a permit: pass it on.
                self.inner.waiters.notify_one();
            })
        })
    }

    fn take_one(&self) -> bool {
        let mut permits = self.inner.permits.lock();
        if *permits > 0 {
            *permits -= 1;
            true
        } else {
            false
        }
    }

    /// Adds a permit and wakes one waiter. Never blocks.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = greenlight::lock::Semaphore::new(0);
    /// sem.release();
    /// assert_eq!(sem.available(), 1);
    /// ```
    pub fn release(&self) {
        {
            let mut permits = self.inner.permits.lock();
            if let Some(bound) = self.inner.bound {
                assert!(
                    *permits < bound,
                    "BoundedSemaphore released more times than acquired (bound {bound})"
                );
            }
            *permits += 1;
        }
        self.inner.waiters.notify_one();
    }

    /// Permits free now.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = greenlight::lock::Semaphore::new(2);
    /// let _g = sem.acquire().unwrap();
    /// assert_eq!(sem.available(), 1);
    /// ```
    pub fn available(&self) -> usize {
        *self.inner.permits.lock()
    }
}

/// A permit from a [`Semaphore`] or [`BoundedSemaphore`], given back on drop.
///
/// # Examples
///
/// ```
/// let sem = greenlight::lock::Semaphore::new(1);
/// {
///     let _g = sem.acquire().unwrap();
///     assert_eq!(sem.available(), 0);
/// }
/// assert_eq!(sem.available(), 1);
/// ```
#[must_use = "the permit is given back as soon as the guard is dropped"]
pub struct SemaphoreGuard {
    sem: Semaphore,
}

impl fmt::Debug for SemaphoreGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SemaphoreGuard")
    }
}

impl SemaphoreGuard {
    /// Keeps the permit taken for good (or until a manual `release`).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = greenlight::lock::Semaphore::new(1);
    /// sem.acquire().unwrap().forget();
    /// assert_eq!(sem.available(), 0);
    /// ```
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for SemaphoreGuard {
    fn drop(&mut self) {
        self.sem.release();
    }
}

/// A [`Semaphore`] that cannot be released above its initial count, like gevent's
/// `BoundedSemaphore`: an extra [`release`](BoundedSemaphore::release) is a bug and panics.
///
/// # Examples
///
/// ```
/// use greenlight::lock::BoundedSemaphore;
/// let sem = BoundedSemaphore::new(1);
/// let g = sem.acquire().unwrap();
/// drop(g);
/// assert_eq!(sem.available(), 1);
/// ```
#[derive(Clone, Debug)]
pub struct BoundedSemaphore {
    sem: Semaphore,
}

impl BoundedSemaphore {
    /// A semaphore with `permits` permits, never more.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(greenlight::lock::BoundedSemaphore::new(4).available(), 4);
    /// ```
    pub fn new(permits: usize) -> BoundedSemaphore {
        BoundedSemaphore {
            sem: Semaphore::with_bound(permits, Some(permits)),
        }
    }

    /// Takes a permit, waiting for one; fails only when a [`Timeout`](crate::Timeout) in
    /// scope expires.
    ///
    /// # Examples
    ///
    /// ```
    /// let _g = greenlight::lock::BoundedSemaphore::new(1).acquire().unwrap();
    /// ```
    pub fn acquire(&self) -> Result<SemaphoreGuard, TimeoutError> {
        self.sem.acquire()
    }

    /// Takes a permit, waiting at most `timeout`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let sem = greenlight::lock::BoundedSemaphore::new(1);
    /// let _g = sem.acquire_timeout(Duration::from_millis(5)).unwrap();
    /// assert!(sem.acquire_timeout(Duration::from_millis(5)).is_err());
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<SemaphoreGuard, TimeoutError> {
        self.sem.acquire_timeout(timeout)
    }

    /// Takes a permit if one is free, without waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(greenlight::lock::BoundedSemaphore::new(1).try_acquire().is_some());
    /// ```
    pub fn try_acquire(&self) -> Option<SemaphoreGuard> {
        self.sem.try_acquire()
    }

    /// Gives back a permit taken with [`SemaphoreGuard::forget`].
    ///
    /// # Panics
    ///
    /// If that would make more permits than the initial count.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = greenlight::lock::BoundedSemaphore::new(1);
    /// sem.acquire().unwrap().forget();
    /// sem.release();
    /// assert_eq!(sem.available(), 1);
    /// ```
    pub fn release(&self) {
        self.sem.release();
    }

    /// Permits free now.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(greenlight::lock::BoundedSemaphore::new(2).available(), 2);
    /// ```
    pub fn available(&self) -> usize {
        self.sem.available()
    }
}
