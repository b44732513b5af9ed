//! Blocking work on OS threads, waited for cooperatively, like gevent's hub threadpool.
//!
//! A greenlet must not make blocking OS calls: std file I/O, a blocking database driver, a
//! DNS lookup, `std::thread::sleep` or heavy computation stop its worker thread and every
//! greenlet on it. Run them with [`spawn_blocking`] (or [`ThreadPool::apply`]): the closure
//! runs on a pool of OS threads while the calling greenlet is parked, so its worker thread
//! keeps running other greenlets. From a plain thread the call simply blocks.
//!
//! The pool is bounded: at most `size` closures run at once, the rest wait in a FIFO.
//!
//! ```
//! let text = greenlight::threadpool::spawn_blocking(|| {
//!     std::fs::read_to_string("Cargo.toml")
//! })
//! .unwrap()
//! .unwrap();
//! assert!(text.contains("[package]"));
//! ```

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crossbeam::channel::{unbounded, Sender};

use super::coroutine::panic_message;
use super::event::Event;
use super::timeout::deadline_after;
use super::wait::SpinLock;
use super::JoinError;

/// Threads in the default pool unless [`configure`]d otherwise (gevent's default maxsize).
pub const DEFAULT_SIZE: usize = 10;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// A bounded pool of OS threads for blocking closures.
///
/// Threads start on demand, up to `size`, and stop when the last handle to the pool is
/// dropped and the queued jobs are done. Cloning gives another handle to the same pool.
///
/// # Examples
///
/// ```
/// use greenlight::threadpool::ThreadPool;
/// let pool = ThreadPool::new(2);
/// let n = pool.apply(|| (1..=10).sum::<u32>()).unwrap();
/// assert_eq!(n, 55);
/// ```
#[derive(Clone)]
pub struct ThreadPool {
    inner: Arc<PoolInner>,
}

struct PoolInner {
    jobs: Sender<Job>,
    receiver: crossbeam::channel::Receiver<Job>,
    size: usize,
    started: AtomicUsize,
    outstanding: Arc<AtomicUsize>,
}

impl fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPool")
            .field("size", &self.inner.size)
            .field("threads", &self.inner.started.load(Ordering::Relaxed))
            .finish()
    }
}

impl ThreadPool {
    /// A pool running at most `size` closures at once.
    ///
    /// # Panics
    ///
    /// If `size` is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(greenlight::threadpool::ThreadPool::new(4).size(), 4);
    /// ```
    pub fn new(size: usize) -> ThreadPool {
        assert!(size > 0, "a thread pool needs at least one thread");
        let (jobs, receiver) = unbounded();
        ThreadPool {
            inner: Arc::new(PoolInner {
                jobs,
                receiver,
                size,
                started: AtomicUsize::new(0),
                outstanding: Arc::new(AtomicUsize::new(0)),
            }),
        }
    }

    /// The most closures that run at once.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(greenlight::threadpool::ThreadPool::new(1).size(), 1);
    /// ```
    pub fn size(&self) -> usize {
        self.inner.size
    }

    /// Runs `f` on a pool thread and waits for its result without blocking the caller's
    /// worker thread. A panic in `f` comes back as [`JoinError::Panicked`]; a
    /// [`Timeout`](crate::Timeout) in scope that expires first gives [`JoinError::Timeout`]
    /// (`f` still runs to completion on its thread: OS work cannot be interrupted).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = greenlight::threadpool::ThreadPool::new(1);
    /// let g = greenlight::spawn(move || pool.apply(|| std::thread::sleep(std::time::Duration::from_millis(10))));
    /// assert!(g.join().unwrap().is_ok());
    /// ```
    pub fn apply<F, T>(&self, f: F) -> Result<T, JoinError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.apply_deadline(f, deadline_after(None))
    }

    /// Like [`ThreadPool::apply`], waiting at most `timeout` for the result.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use greenlight::{threadpool::ThreadPool, JoinError};
    /// let pool = ThreadPool::new(1);
    /// let r = pool.apply_timeout(Duration::from_millis(10), || std::thread::sleep(Duration::from_millis(200)));
    /// assert_eq!(r, Err(JoinError::Timeout));
    /// ```
    pub fn apply_timeout<F, T>(&self, timeout: Duration, f: F) -> Result<T, JoinError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.apply_deadline(f, deadline_after(Some(timeout)))
    }

    fn apply_deadline<F, T>(&self, f: F, deadline: Option<Instant>) -> Result<T, JoinError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let slot: Arc<SpinLock<Option<Result<T, JoinError>>>> = Arc::new(SpinLock::new(None));
        let done = Event::new();
        let (their_slot, their_done) = (slot.clone(), done.clone());
        let job: Job = Box::new(move || {
            let outcome = catch_unwind(AssertUnwindSafe(f))
                .map_err(|payload| JoinError::Panicked(panic_message(payload.as_ref())));
            *their_slot.lock() = Some(outcome);
            // Wakes the parked greenlet (scheduled back on a worker) or the waiting thread.
            their_done.set();
        });
        self.submit(job);
        // Parks the greenlet (its worker keeps running others) or blocks a plain thread.
        let waited = match deadline {
            Some(d) => done.wait_timeout(d.saturating_duration_since(Instant::now())),
            None => done.wait(),
        };
        waited.map_err(|_| JoinError::Timeout)?;
        let outcome = slot.lock().take();
        outcome.expect("the job stores its outcome before setting the event")
    }

    fn submit(&self, job: Job) {
        let inner = &self.inner;
        // Jobs queued or running, this one included: start a thread while there are more
        // of them than threads, up to the pool's size.
        let outstanding = inner.outstanding.fetch_add(1, Ordering::AcqRel) + 1;
        let mut started = inner.started.load(Ordering::Acquire);
        while started < outstanding.min(inner.size) {
            match inner.started.compare_exchange(
                started,
                started + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    self.start_thread(started);
                    break;
                }
                Err(now) => started = now,
            }
        }
        inner
            .jobs
            .send(job)
            .expect("the pool holds a receiver, so the channel is open");
    }

    fn start_thread(&self, index: usize) {
        let receiver = self.inner.receiver.clone();
        let outstanding = self.inner.outstanding.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("greenlight-blocking-{index}"))
            .spawn(move || {
                // Ends when every `ThreadPool` handle (each holds the `Sender`) is gone.
                for job in receiver.iter() {
                    job();
                    outstanding.fetch_sub(1, Ordering::AcqRel);
                }
            });
        if let Err(e) = spawned {
            self.inner.started.fetch_sub(1, Ordering::AcqRel);
            log::warn!("cannot start a thread-pool thread: {e}");
        }
    }
}

static DEFAULT_POOL: OnceLock<ThreadPool> = OnceLock::new();
static CONFIGURED_SIZE: AtomicUsize = AtomicUsize::new(DEFAULT_SIZE);

/// Sets the size of the default pool used by [`spawn_blocking`]. Only effective before
/// its first use; returns whether it took effect.
///
/// # Examples
///
/// ```
/// greenlight::threadpool::configure(16);
/// ```
pub fn configure(size: usize) -> bool {
    assert!(size > 0, "a thread pool needs at least one thread");
    if DEFAULT_POOL.get().is_some() {
        log::debug!("default thread pool already started; ignoring size {size}");
        return false;
    }
    CONFIGURED_SIZE.store(size, Ordering::Release);
    true
}

/// The default pool: [`DEFAULT_SIZE`] threads unless [`configure`]d.
///
/// # Examples
///
/// ```
/// assert!(greenlight::threadpool::default_pool().size() > 0);
/// ```
pub fn default_pool() -> &'static ThreadPool {
    DEFAULT_POOL.get_or_init(|| ThreadPool::new(CONFIGURED_SIZE.load(Ordering::Acquire)))
}

/// Runs the blocking closure `f` on the default pool and waits for it cooperatively; see
/// [`ThreadPool::apply`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let g = greenlight::spawn(|| {
///     greenlight::threadpool::spawn_blocking(|| {
///         std::thread::sleep(Duration::from_millis(20)); // fine here: an OS thread
///         "slept"
///     })
/// });
/// assert_eq!(g.join().unwrap(), Ok("slept"));
/// ```
pub fn spawn_blocking<F, T>(f: F) -> Result<T, JoinError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    default_pool().apply(f)
}
