//! [`Queue`]: a multi-producer, multi-consumer FIFO between greenlets and threads, bounded
//! (back-pressure) or not, joinable (gevent's `JoinableQueue`) and closable.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::timeout::deadline_after;
use super::wait::{SpinLock, WaitQueue};
use super::TimeoutError;

/// Why an item was not put; the item comes back.
///
/// # Examples
///
/// ```
/// use greenlight::queue::{PutError, Queue};
/// let q = Queue::bounded(1);
/// q.put(1).unwrap();
/// assert_eq!(q.try_put(2), Err(PutError::Full(2)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutError<T> {
    /// The queue is full (from [`Queue::try_put`]).
    Full(T),
    /// The queue stayed full until the timeout.
    Timeout(T),
    /// The queue is closed.
    Closed(T),
}

impl<T> PutError<T> {
    /// The item that was not put.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = greenlight::queue::Queue::bounded(1);
    /// q.close();
    /// assert_eq!(q.put("x").unwrap_err().into_inner(), "x");
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            PutError::Full(t) | PutError::Timeout(t) | PutError::Closed(t) => t,
        }
    }
}

impl<T> fmt::Display for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PutError::Full(_) => "queue is full",
            PutError::Timeout(_) => "timed out waiting for room in the queue",
            PutError::Closed(_) => "queue is closed",
        })
    }
}

impl<T: fmt::Debug> std::error::Error for PutError<T> {}

/// Why no item was got.
///
/// # Examples
///
/// ```
/// use greenlight::queue::{GetError, Queue};
/// let q: Queue<u8> = Queue::unbounded();
/// assert_eq!(q.try_get(), Err(GetError::Empty));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GetError {
    /// The queue is empty (from [`Queue::try_get`]).
    Empty,
    /// The queue stayed empty until the timeout.
    Timeout,
    /// The queue is closed and drained: no item will ever come.
    Closed,
}

impl fmt::Display for GetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GetError::Empty => "queue is empty",
            GetError::Timeout => "timed out waiting for an item",
            GetError::Closed => "queue is closed and drained",
        })
    }
}

impl std::error::Error for GetError {}

/// A FIFO queue shared by greenlets and threads, like gevent's `Queue` and
/// `JoinableQueue`.
///
/// - Bounded ([`Queue::bounded`]): [`put`](Queue::put) waits while the queue is full, so fast
///   producers slow down to the consumers' pace. Unbounded ([`Queue::unbounded`]): `put`
///   never waits.
/// - [`task_done`](Queue::task_done) and [`join`](Queue::join) track work: `join` waits until
///   every item put has been marked done.
/// - [`close`](Queue::close): later puts fail, gets drain what is left and then fail with
///   [`GetError::Closed`], so consumers can loop until the end.
///
/// Cloning gives another handle to the same queue.
///
/// # Examples
///
/// ```
/// use greenlight::queue::Queue;
/// let q = Queue::bounded(10);
/// let producer = q.clone();
/// greenlight::spawn(move || {
///     for i in 0..100 {
///         producer.put(i).unwrap();
///     }
///     producer.close();
/// })
/// .detach();
/// let mut sum = 0;
/// while let Ok(i) = q.get() {
///     sum += i;
/// }
/// assert_eq!(sum, 4950);
/// ```
pub struct Queue<T> {
    inner: Arc<QueueInner<T>>,
}

struct QueueInner<T> {
    state: SpinLock<State<T>>,
    capacity: Option<usize>,
    not_empty: WaitQueue,
    not_full: WaitQueue,
    all_done: WaitQueue,
    /// Called after every put and at the close: waits that are not a `get` (a WebSocket
    /// waiting for its socket or this queue) learn of items here.
    watchers: SpinLock<Vec<(u64, Watcher)>>,
}

/// A wake-up for a waiter outside the queue's own wait queues; it must not block.
pub(crate) type Watcher = Arc<dyn Fn() + Send + Sync>;

/// Deregisters a [`Queue::watch`] when dropped.
pub(crate) struct WatchGuard<'q, T> {
    queue: &'q Queue<T>,
    id: u64,
}

impl<T> Drop for WatchGuard<'_, T> {
    fn drop(&mut self) {
        self.queue
            .inner
            .watchers
            .lock()
            .retain(|(id, _)| *id != self.id);
    }
}

struct State<T> {
    items: VecDeque<T>,
    closed: bool,
    unfinished: usize,
}

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Self {
        Queue {
            inner: self.inner.clone(),
        }
    }
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("len", &self.len())
            .field("capacity", &self.inner.capacity)
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl<T> Queue<T> {
    /// A queue holding at most `capacity` items.
    ///
    /// # Panics
    ///
    /// If `capacity` is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// let q: greenlight::queue::Queue<u8> = greenlight::queue::Queue::bounded(4);
    /// assert_eq!(q.capacity(), Some(4));
    /// ```
    pub fn bounded(capacity: usize) -> Queue<T> {
        assert!(
            capacity > 0,
            "a bounded queue needs a capacity of at least 1"
        );
        Queue::with_capacity(Some(capacity))
    }

    /// A queue without a size limit.
    ///
    /// # Examples
    ///
    /// ```
    /// let q: greenlight::queue::Queue<u8> = greenlight::queue::Queue::unbounded();
    /// assert_eq!(q.capacity(), None);
    /// ```
    pub fn unbounded() -> Queue<T> {
        Queue::with_capacity(None)
    }

    fn with_capacity(capacity: Option<usize>) -> Queue<T> {
        Queue {
            inner: Arc::new(QueueInner {
                state: SpinLock::new(State {
                    items: VecDeque::new(),
                    closed: false,
                    unfinished: 0,
                }),
                capacity,
                not_empty: WaitQueue::new(),
                not_full: WaitQueue::new(),
                all_done: WaitQueue::new(),
                watchers: SpinLock::new(Vec::new()),
            }),
        }
    }

    /// Puts `item`, waiting while the queue is full. Fails when the queue is closed, or
    /// when a [`Timeout`](crate::Timeout) in scope expires.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = greenlight::queue::Queue::unbounded();
    /// q.put("a").unwrap();
    /// assert_eq!(q.len(), 1);
    /// ```
    pub fn put(&self, item: T) -> Result<(), PutError<T>> {
        self.put_deadline(item, deadline_after(None))
    }

    /// Puts `item`, waiting at most `timeout` for room.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use greenlight::queue::{PutError, Queue};
    /// let q = Queue::bounded(1);
    /// q.put(1).unwrap();
    /// assert_eq!(q.put_timeout(2, Duration::from_millis(5)), Err(PutError::Timeout(2)));
    /// ```
    pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), PutError<T>> {
        self.put_deadline(item, deadline_after(Some(timeout)))
    }

    /// Puts `item` if there is room now, without waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = greenlight::queue::Queue::bounded(1);
    /// assert!(q.try_put(1).is_ok());
    /// assert!(q.try_put(2).is_err());
    /// ```
    pub fn try_put(&self, item: T) -> Result<(), PutError<T>> {
        match self.push(item) {
            Ok(()) => Ok(()),
            Err((item, true)) => Err(PutError::Closed(item)),
            Err((item, false)) => Err(PutError::Full(item)),
        }
    }

    fn put_deadline(&self, item: T, deadline: Option<Instant>) -> Result<(), PutError<T>> {
        let mut item = Some(item);
        let mut closed = false;
        let waited = self.inner.not_full.wait_until(deadline, || {
            match self.push(item.take().expect("the item is put once")) {
                Ok(()) => Some(()),
                Err((back, is_closed)) => {
                    item = Some(back);
                    closed = is_closed;
                    // A closed queue never makes room: stop waiting.
                    is_closed.then_some(())
                }
            }
        });
        match (waited, item) {
            (Ok(()), None) => Ok(()),
            (Ok(()), Some(item)) if closed => Err(PutError::Closed(item)),
            (_, Some(item)) => Err(PutError::Timeout(item)),
            (Err(_), None) => unreachable!("a put item ends the wait"),
        }
    }

    /// Pushes if there is room; on failure gives the item back with whether it was closed.
    fn push(&self, item: T) -> Result<(), (T, bool)> {
        {
            let mut state = self.inner.state.lock();
            if state.closed {
                return Err((item, true));
            }
            if self
                .inner
                .capacity
                .is_some_and(|cap| state.items.len() >= cap)
            {
                return Err((item, false));
            }
            state.items.push_back(item);
            state.unfinished += 1;
        }
        self.inner.not_empty.notify_one();
        self.notify_watchers();
        Ok(())
    }

    /// Calls `wake` after every put (and at the close) until the guard drops: for a
    /// wait on something else as well as this queue. `wake` must not block.
    pub(crate) fn watch(&self, wake: Watcher) -> WatchGuard<'_, T> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        self.inner.watchers.lock().push((id, wake));
        WatchGuard { queue: self, id }
    }

    fn notify_watchers(&self) {
        // Clone out so that no lock is held while the wake-ups run.
        let watchers: Vec<Watcher> = {
            let list = self.inner.watchers.lock();
            if list.is_empty() {
                return;
            }
            list.iter().map(|(_, w)| w.clone()).collect()
        };
        for wake in watchers {
            wake();
        }
    }

    /// Takes the oldest item, waiting while the queue is empty. Fails with
    /// [`GetError::Closed`] once the queue is closed and drained, or [`GetError::Timeout`]
    /// when a [`Timeout`](crate::Timeout) in scope expires.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = greenlight::queue::Queue::unbounded();
    /// q.put(5).unwrap();
    /// assert_eq!(q.get(), Ok(5));
    /// ```
    pub fn get(&self) -> Result<T, GetError> {
        self.get_deadline(deadline_after(None))
    }

    /// Takes the oldest item, waiting at most `timeout`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use greenlight::queue::{GetError, Queue};
    /// let q: Queue<u8> = Queue::unbounded();
    /// assert_eq!(q.get_timeout(Duration::from_millis(5)), Err(GetError::Timeout));
    /// ```
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, GetError> {
        self.get_deadline(deadline_after(Some(timeout)))
    }

    /// Takes the oldest item if there is one, without waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = greenlight::queue::Queue::unbounded();
    /// q.put('x').unwrap();
    /// assert_eq!(q.try_get(), Ok('x'));
    /// ```
    pub fn try_get(&self) -> Result<T, GetError> {
        self.pop().unwrap_or(Err(GetError::Empty))
    }

    fn get_deadline(&self, deadline: Option<Instant>) -> Result<T, GetError> {
        self.inner
            .not_empty
            .wait_until(deadline, || self.pop())
            .unwrap_or(Err(GetError::Timeout))
    }

    /// `Some(Ok(item))`, `Some(Err(Closed))` when closed and drained, `None` when empty.
    fn pop(&self) -> Option<Result<T, GetError>> {
        let item = {
            let mut state = self.inner.state.lock();
            match state.items.pop_front() {
                Some(item) => item,
                None if state.closed => return Some(Err(GetError::Closed)),
                None => return None,
            }
        };
        if self.inner.capacity.is_some() {
            self.inner.not_full.notify_one();
        }
        Some(Ok(item))
    }

    /// Marks one item taken with `get` as processed, for [`Queue::join`].
    ///
    /// # Panics
    ///
    /// If called more times than items were put.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = greenlight::queue::Queue::unbounded();
    /// q.put(1).unwrap();
    /// q.get().unwrap();
    /// q.task_done();
    /// q.join().unwrap();
    /// ```
    pub fn task_done(&self) {
        let all_done = {
            let mut state = self.inner.state.lock();
            assert!(
                state.unfinished > 0,
                "task_done() called more times than put()"
            );
            state.unfinished -= 1;
            state.unfinished == 0
        };
        if all_done {
            self.inner.all_done.notify_all();
        }
    }

    /// Waits until every item put has been marked with [`Queue::task_done`]; fails only when
    /// a [`Timeout`](crate::Timeout) in scope expires.
    ///
    /// # Examples
    ///
    /// ```
    /// let q: greenlight::queue::Queue<u8> = greenlight::queue::Queue::unbounded();
    /// q.join().unwrap(); // nothing was put
    /// ```
    pub fn join(&self) -> Result<(), TimeoutError> {
        self.join_deadline(deadline_after(None))
    }

    /// Like [`Queue::join`], waiting at most `timeout`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let q = greenlight::queue::Queue::unbounded();
    /// q.put(1).unwrap();
    /// assert!(q.join_timeout(Duration::from_millis(5)).is_err());
    /// ```
    pub fn join_timeout(&self, timeout: Duration) -> Result<(), TimeoutError> {
        self.join_deadline(deadline_after(Some(timeout)))
    }

    fn join_deadline(&self, deadline: Option<Instant>) -> Result<(), TimeoutError> {
        self.inner.all_done.wait_until(deadline, || {
            (self.inner.state.lock().unfinished == 0).then_some(())
        })
    }

    /// Closes the queue: later puts fail with [`PutError::Closed`]; gets return the items
    /// left, then [`GetError::Closed`]. Wakes every waiter. Never blocks.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenlight::queue::{GetError, Queue};
    /// let q = Queue::unbounded();
    /// q.put(1).unwrap();
    /// q.close();
    /// assert_eq!(q.get(), Ok(1));
    /// assert_eq!(q.get(), Err(GetError::Closed));
    /// ```
    pub fn close(&self) {
        self.inner.state.lock().closed = true;
        self.inner.not_empty.notify_all();
        self.inner.not_full.notify_all();
        self.notify_watchers();
    }

    /// Whether [`Queue::close`] was called.
    ///
    /// # Examples
    ///
    /// ```
    /// let q: greenlight::queue::Queue<u8> = greenlight::queue::Queue::unbounded();
    /// assert!(!q.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.inner.state.lock().closed
    }

    /// Items in the queue now.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = greenlight::queue::Queue::unbounded();
    /// q.put(()).unwrap();
    /// assert_eq!(q.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.inner.state.lock().items.len()
    }

    /// Whether the queue holds no item now.
    ///
    /// # Examples
    ///
    /// ```
    /// let q: greenlight::queue::Queue<u8> = greenlight::queue::Queue::unbounded();
    /// assert!(q.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a bounded queue is at capacity (never true for an unbounded one).
    ///
    /// # Examples
    ///
    /// ```
    /// let q = greenlight::queue::Queue::bounded(1);
    /// q.put(0).unwrap();
    /// assert!(q.is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        self.inner.capacity.is_some_and(|cap| self.len() >= cap)
    }

    /// The capacity, `None` for an unbounded queue.
    ///
    /// # Examples
    ///
    /// ```
    /// let q: greenlight::queue::Queue<u8> = greenlight::queue::Queue::bounded(3);
    /// assert_eq!(q.capacity(), Some(3));
    /// ```
    pub fn capacity(&self) -> Option<usize> {
        self.inner.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn watchers_hear_puts_and_the_close_until_dropped() {
        let q = Queue::unbounded();
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let guard = q.watch(Arc::new(move || {
            c.fetch_add(1, Ordering::SeqCst);
        }));
        q.put(1).unwrap();
        q.try_put(2).unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        drop(guard);
        q.put(3).unwrap();
        q.close();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        let c = calls.clone();
        let _guard = q.watch(Arc::new(move || {
            c.fetch_add(1, Ordering::SeqCst);
        }));
        q.close();
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }
}
