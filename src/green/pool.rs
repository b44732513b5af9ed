//! [`Pool`] (at most N greenlets at once) and [`Group`] (any number, joined or killed
//! together), like gevent's `gevent.pool`.

use std::collections::HashMap;
use std::fmt;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::coroutine::{is_cancel, panic_message};
use super::greenlet::{spawn_with, Core};
use super::lock::{Semaphore, SemaphoreGuard};
use super::queue::Queue;
use super::timeout::deadline_after;
use super::wait::{SpinLock, WaitQueue};
use super::{Greenlet, JoinError, TimeoutError};

/// A set of greenlets that can be joined or killed together, like gevent's `Group`.
///
/// A greenlet leaves the group when it finishes. Cloning gives another handle to the same
/// group.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use greenlight::pool::Group;
/// let group = Group::new();
/// for _ in 0..10 {
///     group.spawn(|| greenlight::sleep(Duration::from_millis(5))).detach();
/// }
/// group.join(None).unwrap();
/// assert!(group.is_empty());
/// ```
#[derive(Clone, Default)]
pub struct Group {
    inner: Arc<GroupInner>,
}

#[derive(Default)]
struct GroupInner {
    members: SpinLock<HashMap<u64, Arc<Core>>>,
    next_id: AtomicU64,
    emptied: WaitQueue,
}

impl fmt::Debug for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Group").field("len", &self.len()).finish()
    }
}

impl Group {
    /// An empty group.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(greenlight::pool::Group::new().is_empty());
    /// ```
    pub fn new() -> Group {
        Group::default()
    }

    /// Spawns `f` in a new greenlet that belongs to the group. Never waits.
    ///
    /// # Examples
    ///
    /// ```
    /// let group = greenlight::pool::Group::new();
    /// assert_eq!(group.spawn(|| 1).join().unwrap(), 1);
    /// ```
    pub fn spawn<F, T>(&self, f: F) -> Greenlet<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.spawn_holding(f, None)
    }

    /// Spawns `f`, keeping `permit` until the greenlet ends; the greenlet is done only after
    /// the permit is back and it left the group.
    fn spawn_holding<F, T>(&self, f: F, permit: Option<SemaphoreGuard>) -> Greenlet<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let inner = self.inner.clone();
        let register = |core: &Arc<Core>| {
            self.inner.members.lock().insert(id, core.clone());
        };
        // Runs in the greenlet as it ends, also after a kill: it must not park, and it does
        // not (spin lock, semaphore release and wake-ups only).
        let on_exit = move || {
            let now_empty = {
                let mut members = inner.members.lock();
                members.remove(&id);
                // Under the members lock, so that nobody sees the greenlet gone with its
                // slot still taken, or a new member in its slot while it is still listed.
                drop(permit);
                members.is_empty()
            };
            if now_empty {
                inner.emptied.notify_all();
            }
        };
        spawn_with(f, register, on_exit)
    }

    /// Greenlets in the group now (running, or spawned and not yet finished).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(greenlight::pool::Group::new().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.inner.members.lock().len()
    }

    /// Whether no greenlet of the group is running.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(greenlight::pool::Group::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits until every greenlet in the group has finished, at most `timeout` (`None`: no
    /// limit besides a [`Timeout`](crate::Timeout) in scope).
    ///
    /// # Examples
    ///
    /// ```
    /// let group = greenlight::pool::Group::new();
    /// let g = group.spawn(|| 5);
    /// group.join(None).unwrap();
    /// assert!(g.is_ready());
    /// ```
    pub fn join(&self, timeout: Option<Duration>) -> Result<(), TimeoutError> {
        self.join_deadline(deadline_after(timeout))
    }

    fn join_deadline(&self, deadline: Option<Instant>) -> Result<(), TimeoutError> {
        self.inner
            .emptied
            .wait_until(deadline, || self.is_empty().then_some(()))
    }

    /// Kills every greenlet in the group, then waits for them to end, at most `timeout`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let group = greenlight::pool::Group::new();
    /// let g = group.spawn(|| greenlight::sleep(Duration::from_secs(10)));
    /// group.kill(None).unwrap();
    /// assert!(g.join().is_err());
    /// ```
    pub fn kill(&self, timeout: Option<Duration>) -> Result<(), TimeoutError> {
        let deadline = deadline_after(timeout);
        let members: Vec<Arc<Core>> = self.inner.members.lock().values().cloned().collect();
        for core in members {
            core.kill();
        }
        self.join_deadline(deadline)
    }
}

/// A group that runs at most `size` greenlets at once, like gevent's `Pool`.
///
/// [`spawn`](Pool::spawn) waits for a free slot; a greenlet's slot is freed when it ends,
/// however it ends (returns, panics, or is killed). Cloning gives another handle to the
/// same pool.
///
/// # Examples
///
/// ```
/// use greenlight::pool::Pool;
/// let pool = Pool::new(4);
/// let squares = pool.map(|x: u64| x * x, 1..=5).unwrap();
/// assert_eq!(squares, vec![1, 4, 9, 16, 25]);
/// ```
#[derive(Clone)]
pub struct Pool {
    slots: Semaphore,
    group: Group,
    size: usize,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("size", &self.size)
            .field("free", &self.free_count())
            .finish()
    }
}

impl Pool {
    /// A pool of `size` slots.
    ///
    /// # Panics
    ///
    /// If `size` is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(greenlight::pool::Pool::new(10).free_count(), 10);
    /// ```
    pub fn new(size: usize) -> Pool {
        assert!(size > 0, "a pool needs at least one slot");
        Pool {
            slots: Semaphore::new(size),
            group: Group::new(),
            size,
        }
    }

    /// Spawns `f` once a slot is free; fails only when a [`Timeout`](crate::Timeout) in
    /// scope expires first (then `f` never runs).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = greenlight::pool::Pool::new(1);
    /// let g = pool.spawn(|| "hi").unwrap();
    /// assert_eq!(g.join().unwrap(), "hi");
    /// ```
    pub fn spawn<F, T>(&self, f: F) -> Result<Greenlet<T>, TimeoutError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.spawn_deadline(f, deadline_after(None))
    }

    /// Spawns `f` once a slot is free, waiting at most `timeout`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let pool = greenlight::pool::Pool::new(1);
    /// let _busy = pool.spawn(|| greenlight::sleep(Duration::from_millis(200))).unwrap();
    /// assert!(pool.spawn_timeout(Duration::from_millis(5), || ()).is_err());
    /// ```
    pub fn spawn_timeout<F, T>(&self, timeout: Duration, f: F) -> Result<Greenlet<T>, TimeoutError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.spawn_deadline(f, deadline_after(Some(timeout)))
    }

    fn spawn_deadline<F, T>(
        &self,
        f: F,
        deadline: Option<Instant>,
    ) -> Result<Greenlet<T>, TimeoutError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let permit = self.slots.acquire_deadline(deadline)?;
        Ok(self.group.spawn_holding(f, Some(permit)))
    }

    /// Spawns `f` if a slot is free now; otherwise gives `f` back.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let pool = greenlight::pool::Pool::new(1);
    /// let busy = pool.try_spawn(|| greenlight::sleep(Duration::from_millis(100)));
    /// assert!(busy.is_ok());
    /// assert!(pool.try_spawn(|| ()).is_err());
    /// ```
    pub fn try_spawn<F, T>(&self, f: F) -> Result<Greenlet<T>, F>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        match self.slots.try_acquire() {
            Some(permit) => Ok(self.group.spawn_holding(f, Some(permit))),
            None => Err(f),
        }
    }

    /// The number of slots.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(greenlight::pool::Pool::new(3).size(), 3);
    /// ```
    pub fn size(&self) -> usize {
        self.size
    }

    /// Slots free now.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = greenlight::pool::Pool::new(2);
    /// let g = pool.spawn(|| greenlight::sleep(std::time::Duration::from_millis(50))).unwrap();
    /// assert_eq!(pool.free_count(), 1);
    /// g.join().unwrap();
    /// assert_eq!(pool.free_count(), 2);
    /// ```
    pub fn free_count(&self) -> usize {
        self.slots.available()
    }

    /// Greenlets of the pool not finished yet.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(greenlight::pool::Pool::new(2).len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.group.len()
    }

    /// Whether no greenlet of the pool is running.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(greenlight::pool::Pool::new(2).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.group.is_empty()
    }

    /// Whether every slot is taken.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!greenlight::pool::Pool::new(1).is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        self.free_count() == 0
    }

    /// Waits until a slot is free (without taking it), at most `timeout`.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = greenlight::pool::Pool::new(1);
    /// pool.wait_available(None).unwrap();
    /// ```
    pub fn wait_available(&self, timeout: Option<Duration>) -> Result<(), TimeoutError> {
        self.slots.wait_available(deadline_after(timeout))
    }

    /// Waits until every greenlet of the pool has finished, at most `timeout`.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = greenlight::pool::Pool::new(2);
    /// pool.spawn(|| ()).unwrap().detach();
    /// pool.join(None).unwrap();
    /// assert_eq!(pool.free_count(), 2);
    /// ```
    pub fn join(&self, timeout: Option<Duration>) -> Result<(), TimeoutError> {
        self.group.join(timeout)
    }

    /// Kills every greenlet of the pool and waits for them to end, at most `timeout`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let pool = greenlight::pool::Pool::new(2);
    /// pool.spawn(|| greenlight::sleep(Duration::from_secs(10))).unwrap().detach();
    /// pool.kill(None).unwrap();
    /// assert_eq!(pool.free_count(), 2);
    /// ```
    pub fn kill(&self, timeout: Option<Duration>) -> Result<(), TimeoutError> {
        self.group.kill(timeout)
    }

    /// Runs `f` on every item, at most `size` at once, and returns the results in the
    /// items' order. The first error (in that order) is returned instead, after killing the
    /// greenlets still running.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = greenlight::pool::Pool::new(3);
    /// let lens = pool.map(|s: &str| s.len(), ["a", "bb", "ccc"]).unwrap();
    /// assert_eq!(lens, vec![1, 2, 3]);
    /// ```
    pub fn map<I, F, R>(&self, f: F, items: I) -> Result<Vec<R>, JoinError>
    where
        I: IntoIterator,
        I::Item: Send + 'static,
        F: Fn(I::Item) -> R + Send + Sync + 'static,
        R: Send + 'static,
    {
        let f = Arc::new(f);
        let mut greenlets = Vec::new();
        for item in items {
            let f = f.clone();
            match self.spawn(move || f(item)) {
                Ok(g) => greenlets.push(g),
                Err(e) => {
                    killall_detached(greenlets);
                    return Err(e.into());
                }
            }
        }
        let mut results = Vec::with_capacity(greenlets.len());
        let mut rest = greenlets.into_iter();
        for g in rest.by_ref() {
            match g.join() {
                Ok(r) => results.push(r),
                Err(e) => {
                    killall_detached(rest.collect());
                    return Err(e);
                }
            }
        }
        Ok(results)
    }

    /// Runs `f` on every item, at most `size` at once, and yields the results as they
    /// complete. Items are taken from `items` only as slots free up. Dropping the iterator
    /// stops taking new items (the running ones finish).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = greenlight::pool::Pool::new(4);
    /// let mut got: Vec<u32> = pool
    ///     .imap_unordered(|x: u32| x + 1, vec![1, 2, 3])
    ///     .map(Result::unwrap)
    ///     .collect();
    /// got.sort();
    /// assert_eq!(got, vec![2, 3, 4]);
    /// ```
    pub fn imap_unordered<I, F, R>(&self, f: F, items: I) -> ImapUnordered<R>
    where
        I: IntoIterator + Send + 'static,
        I::IntoIter: Send + 'static,
        I::Item: Send + 'static,
        F: Fn(I::Item) -> R + Send + Sync + 'static,
        R: Send + 'static,
    {
        let results: Queue<Result<R, JoinError>> = Queue::unbounded();
        let f = Arc::new(f);
        let pool = self.clone();
        let out = results.clone();
        // The feeder is not in the pool: it takes no slot, it only waits for them.
        let feeder = super::spawn(move || {
            let mut workers = Vec::new();
            for item in items {
                let permit = match pool.slots.acquire() {
                    Ok(p) => p,
                    Err(_) => break,
                };
                let f = f.clone();
                let report = Report { out: out.clone() };
                let work = move || {
                    let report = report;
                    match catch_unwind(AssertUnwindSafe(|| f(item))) {
                        Ok(r) => report.send(Ok(r)),
                        // A kill: let it unwind; `report` says so as it drops.
                        Err(payload) if is_cancel(payload.as_ref()) => resume_unwind(payload),
                        Err(payload) => {
                            report.send(Err(JoinError::Panicked(panic_message(payload.as_ref()))))
                        }
                    }
                };
                let g = pool.group.spawn_holding(work, Some(permit));
                workers.push(g.core().clone());
                g.detach();
            }
            for core in workers {
                let _ = core.wait_deadline(None);
            }
            out.close();
        });
        ImapUnordered { results, feeder }
    }
}

/// Sends a worker's result, or [`JoinError`] if the worker ends without one (panic, kill).
struct Report<R> {
    out: Queue<Result<R, JoinError>>,
}

impl<R> Report<R> {
    fn send(self, r: Result<R, JoinError>) {
        let _ = self.out.try_put(r);
        std::mem::forget(self);
    }
}

impl<R> Drop for Report<R> {
    fn drop(&mut self) {
        // The worker was killed (panics are reported by `send`). An unbounded `try_put`
        // never parks, so this is safe while unwinding.
        let _ = self.out.try_put(Err(JoinError::Killed));
    }
}

fn killall_detached<T>(greenlets: Vec<Greenlet<T>>) {
    for g in greenlets {
        g.kill();
        g.detach();
    }
}

/// The iterator of [`Pool::imap_unordered`]: results in completion order.
///
/// # Examples
///
/// ```
/// let pool = greenlight::pool::Pool::new(2);
/// let it = pool.imap_unordered(|x: i32| -x, 0..3);
/// assert_eq!(it.count(), 3);
/// ```
pub struct ImapUnordered<R> {
    results: Queue<Result<R, JoinError>>,
    feeder: Greenlet<()>,
}

impl<R> fmt::Debug for ImapUnordered<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ImapUnordered")
    }
}

impl<R> Iterator for ImapUnordered<R> {
    type Item = Result<R, JoinError>;

    /// The next result as it completes; a [`Timeout`](crate::Timeout) in scope that expires
    /// while waiting yields `Err(JoinError::Timeout)`.
    fn next(&mut self) -> Option<Self::Item> {
        match self.results.get() {
            Ok(r) => Some(r),
            Err(super::queue::GetError::Closed) => None,
            Err(_) => Some(Err(JoinError::Timeout)),
        }
    }
}

impl<R> Drop for ImapUnordered<R> {
    fn drop(&mut self) {
        if !self.feeder.is_ready() {
            self.feeder.kill();
        }
    }
}
