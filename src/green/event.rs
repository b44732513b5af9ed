//! [`Event`] (a flag greenlets wait on) and [`AsyncResult`] (a value or an error, set once).

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::timeout::deadline_after;
use super::wait::{SpinLock, WaitQueue};
use super::TimeoutError;

/// A flag that greenlets and threads can wait for, like gevent's `Event`.
///
/// Cloning gives another handle to the same event.
///
/// # Examples
///
/// ```
/// use greenlight::event::Event;
/// let ready = Event::new();
/// let r = ready.clone();
/// let g = greenlight::spawn(move || r.wait().is_ok());
/// ready.set();
/// assert!(g.join().unwrap());
/// ```
#[derive(Clone, Default)]
pub struct Event {
    inner: Arc<EventInner>,
}

#[derive(Default)]
struct EventInner {
    flag: AtomicBool,
    waiters: WaitQueue,
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("set", &self.is_set())
            .finish()
    }
}

impl Event {
    /// A new, clear event.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!greenlight::event::Event::new().is_set());
    /// ```
    pub fn new() -> Event {
        Event::default()
    }

    /// Sets the flag and wakes every waiter. Never blocks; safe in `Drop`.
    ///
    /// # Examples
    ///
    /// ```
    /// let ev = greenlight::event::Event::new();
    /// ev.set();
    /// assert!(ev.is_set());
    /// ```
    pub fn set(&self) {
        self.inner.flag.store(true, Ordering::Release);
        self.inner.waiters.notify_all();
    }

    /// Clears the flag: later waits block until the next [`Event::set`].
    ///
    /// # Examples
    ///
    /// ```
    /// let ev = greenlight::event::Event::new();
    /// ev.set();
    /// ev.clear();
    /// assert!(!ev.is_set());
    /// ```
    pub fn clear(&self) {
        self.inner.flag.store(false, Ordering::Release);
    }

    /// Whether the flag is set.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!greenlight::event::Event::new().is_set());
    /// ```
    pub fn is_set(&self) -> bool {
        self.inner.flag.load(Ordering::Acquire)
    }

    /// Waits until the flag is set; fails only when a [`Timeout`](crate::Timeout) in scope
    /// expires.
    ///
    /// # Examples
    ///
    /// ```
    /// let ev = greenlight::event::Event::new();
    /// ev.set();
    /// ev.wait().unwrap();
    /// ```
    pub fn wait(&self) -> Result<(), TimeoutError> {
        self.wait_deadline(deadline_after(None))
    }

    /// Waits at most `timeout` for the flag to be set.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let ev = greenlight::event::Event::new();
    /// assert!(ev.wait_timeout(Duration::from_millis(5)).is_err());
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<(), TimeoutError> {
        self.wait_deadline(deadline_after(Some(timeout)))
    }

    fn wait_deadline(&self, deadline: Option<Instant>) -> Result<(), TimeoutError> {
        self.inner
            .waiters
            .wait_until(deadline, || self.is_set().then_some(()))
    }
}

/// Why [`AsyncResult::get`] has no value.
///
/// # Examples
///
/// ```
/// use greenlight::event::{AsyncError, AsyncResult};
/// let r: AsyncResult<u8, String> = AsyncResult::new();
/// r.set_error("no route".to_string());
/// assert_eq!(r.get(), Err(AsyncError::Failed("no route".to_string())));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AsyncError<E> {
    /// The producer set an error.
    Failed(E),
    /// Nothing was set in time.
    Timeout,
}

impl<E: fmt::Display> fmt::Display for AsyncError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AsyncError::Failed(e) => write!(f, "failed: {e}"),
            AsyncError::Timeout => f.write_str("timed out waiting for the result"),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for AsyncError<E> {}

/// A value or an error that one producer sets once and any number of consumers wait for,
/// like gevent's `AsyncResult`.
///
/// Cloning gives another handle to the same result; [`AsyncResult::get`] clones the value
/// out, so every waiter sees it.
///
/// # Examples
///
/// ```
/// use greenlight::event::AsyncResult;
/// let result: AsyncResult<u32, String> = AsyncResult::new();
/// let producer = result.clone();
/// greenlight::spawn(move || producer.set(7)).detach();
/// assert_eq!(result.get(), Ok(7));
/// ```
pub struct AsyncResult<T, E = String> {
    inner: Arc<AsyncInner<T, E>>,
}

struct AsyncInner<T, E> {
    value: SpinLock<Option<Result<T, E>>>,
    ready: Event,
}

impl<T, E> Clone for AsyncResult<T, E> {
    fn clone(&self) -> Self {
        AsyncResult {
            inner: self.inner.clone(),
        }
    }
}

impl<T, E> Default for AsyncResult<T, E> {
    fn default() -> Self {
        AsyncResult {
            inner: Arc::new(AsyncInner {
                value: SpinLock::new(None),
                ready: Event::new(),
            }),
        }
    }
}

impl<T, E> fmt::Debug for AsyncResult<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncResult")
            .field("ready", &self.inner.ready.is_set())
            .finish()
    }
}

impl<T: Clone, E: Clone> AsyncResult<T, E> {
    /// A result with nothing set yet.
    ///
    /// # Examples
    ///
    /// ```
    /// let r: greenlight::event::AsyncResult<u8> = greenlight::event::AsyncResult::new();
    /// assert!(!r.is_ready());
    /// ```
    pub fn new() -> Self {
        AsyncResult::default()
    }

    /// Sets the value and wakes the waiters. Returns `false` (and changes nothing) if a
    /// value or an error was already set.
    ///
    /// # Examples
    ///
    /// ```
    /// let r: greenlight::event::AsyncResult<u8> = greenlight::event::AsyncResult::new();
    /// assert!(r.set(1));
    /// assert!(!r.set(2));
    /// assert_eq!(r.get(), Ok(1));
    /// ```
    pub fn set(&self, value: T) -> bool {
        self.complete(Ok(value))
    }

    /// Sets an error and wakes the waiters. Returns `false` if something was already set.
    ///
    /// # Examples
    ///
    /// ```
    /// let r: greenlight::event::AsyncResult<u8> = greenlight::event::AsyncResult::new();
    /// assert!(r.set_error("refused".into()));
    /// assert!(r.get().is_err());
    /// ```
    pub fn set_error(&self, error: E) -> bool {
        self.complete(Err(error))
    }

    fn complete(&self, outcome: Result<T, E>) -> bool {
        {
            let mut slot = self.inner.value.lock();
            if slot.is_some() {
                return false;
            }
            *slot = Some(outcome);
        }
        self.inner.ready.set();
        true
    }

    /// Whether a value or an error has been set.
    ///
    /// # Examples
    ///
    /// ```
    /// let r: greenlight::event::AsyncResult<u8> = greenlight::event::AsyncResult::new();
    /// r.set(3);
    /// assert!(r.is_ready());
    /// ```
    pub fn is_ready(&self) -> bool {
        self.inner.ready.is_set()
    }

    /// Waits for the value; fails with the error set, or with [`AsyncError::Timeout`] when a
    /// [`Timeout`](crate::Timeout) in scope expires.
    ///
    /// # Examples
    ///
    /// ```
    /// let r: greenlight::event::AsyncResult<&str> = greenlight::event::AsyncResult::new();
    /// r.set("done");
    /// assert_eq!(r.get(), Ok("done"));
    /// ```
    pub fn get(&self) -> Result<T, AsyncError<E>> {
        self.get_deadline(deadline_after(None))
    }

    /// Waits at most `timeout` for the value.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use greenlight::event::{AsyncError, AsyncResult};
    /// let r: AsyncResult<u8> = AsyncResult::new();
    /// assert_eq!(r.get_timeout(Duration::from_millis(5)), Err(AsyncError::Timeout));
    /// ```
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, AsyncError<E>> {
        self.get_deadline(deadline_after(Some(timeout)))
    }

    /// The value or error if one is set, without waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// let r: greenlight::event::AsyncResult<u8> = greenlight::event::AsyncResult::new();
    /// assert_eq!(r.peek(), None);
    /// ```
    pub fn peek(&self) -> Option<Result<T, E>> {
        self.inner.value.lock().clone()
    }

    fn get_deadline(&self, deadline: Option<Instant>) -> Result<T, AsyncError<E>> {
        self.inner
            .ready
            .wait_deadline(deadline)
            .map_err(|_| AsyncError::Timeout)?;
        match self.peek() {
            Some(outcome) => outcome.map_err(AsyncError::Failed),
            None => unreachable!("the event is set only after the value"),
        }
    }
}
