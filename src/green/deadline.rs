//! Running a piece of work under a deadline that cancels it: the request deadlines of the
//! WSGI server (`--request-timeout`).
//!
//! The work runs on a scoped child coroutine while the caller waits for it. At the
//! deadline the child is cancelled (may's cancel panic, raised at its next yield: a green
//! sleep, socket I/O, a queue or event wait), unwinds, and the caller learns that time ran
//! out, itself untouched: it can still answer the client. Work that never yields (a
//! blocking call, a busy loop) cannot be cut short; the caller then waits for it.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::coroutine::is_cancel;
use super::event::Event;

/// A deadline that the work itself may move (shorten or extend) while it runs.
#[derive(Debug)]
pub(crate) struct Deadline {
    /// Nanoseconds after [`origin`]; 0: none.
    at: AtomicU64,
    /// Set when the deadline moves, or the work ends: wakes the waiting caller.
    wake: Event,
}

/// The instant every [`Deadline`] counts from.
fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

impl Deadline {
    /// A deadline at `at` (`None`: none).
    pub(crate) fn new(at: Option<Instant>) -> Deadline {
        let d = Deadline {
            at: AtomicU64::new(0),
            wake: Event::new(),
        };
        d.set(at);
        d
    }

    /// When it falls, if it does.
    pub(crate) fn get(&self) -> Option<Instant> {
        match self.at.load(Ordering::Acquire) {
            0 => None,
            n => Some(origin() + Duration::from_nanos(n)),
        }
    }

    /// Moves it (`None`: no deadline any more).
    pub(crate) fn set(&self, at: Option<Instant>) {
        let n = at.map_or(0, |t| {
            let since = t.saturating_duration_since(origin()).as_nanos();
            u64::try_from(since).unwrap_or(u64::MAX).max(1)
        });
        self.at.store(n, Ordering::Release);
        self.wake.set();
    }

    /// Whether it has passed.
    pub(crate) fn is_past(&self) -> bool {
        self.get().is_some_and(|t| t <= Instant::now())
    }
}

/// How work run by [`run_until`] ended.
pub(crate) enum Ran<R> {
    /// It returned in time.
    Done(R),
    /// It panicked (not a cancellation); the payload.
    Panicked(Box<dyn Any + Send>),
    /// The deadline passed: it was cancelled and has unwound.
    Expired,
}

/// Marks the work done and wakes the caller when dropped: the child's last act, however
/// it ends.
struct SetOnDrop<'e>(&'e AtomicBool, &'e Event);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
        self.1.set();
    }
}

/// Cancels the child if the caller unwinds (a server's forced stop cancels the caller):
/// the scope then joins a child that is unwinding too, not one that runs on.
struct CancelOnUnwind(may::coroutine::Coroutine);

impl Drop for CancelOnUnwind {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // SAFETY: as for `CoHandle::cancel`: the child runs code bound to the
            // greenlet rules (destructors that do not park on may's primitives), so its
            // unwinding cannot abort.
            unsafe { self.0.cancel() };
        }
    }
}

/// `f` and its result, moved to the child coroutine and back.
struct AssertSend<T>(T);

// SAFETY: the caller is parked for as long as the child runs `f` (it waits for the child
// to end before it touches anything again, also when it unwinds), so nothing `f` borrows
// or returns is used from two threads at once. Moving a coroutine's data to another OS
// thread is what may does whenever a coroutine migrates; the greenlet rules (no
// thread-local across a yield) make that sound for the code run here.
unsafe impl<T> Send for AssertSend<T> {}

/// Runs `f` on a child coroutine until it returns or `deadline` passes (checked again
/// when it moves), cancelling it then. Returns once the child has ended, so `f` may
/// borrow from the caller (it need not be `Send`: the caller waits while it runs). From a
/// plain thread, or without a deadline, `f` runs inline.
pub(crate) fn run_until<R, F>(deadline: &Deadline, f: F) -> Ran<R>
where
    F: FnOnce() -> R,
{
    if deadline.get().is_none() || !may::coroutine::is_coroutine() {
        return match catch_unwind(AssertUnwindSafe(f)) {
            Ok(r) => Ran::Done(r),
            Err(p) => Ran::Panicked(p),
        };
    }
    let done = AtomicBool::new(false);
    may::coroutine::scope(|scope| {
        let child = {
            let (done, wake) = (&done, &deadline.wake);
            let f = AssertSend(f);
            let work = move || {
                let _set = SetOnDrop(done, wake);
                let f = f;
                AssertSend(catch_unwind(AssertUnwindSafe(f.0)))
            };
            // SAFETY: `scope.spawn` is unsafe for the same reason as `spawn_raw` (the
            // runtime cannot check the coroutine's code): `f` is the server's call of an
            // app, bound by the same greenlet rules. The scope joins the child before this
            // frame (which it borrows) goes away, also when the caller unwinds.
            unsafe { scope.spawn(work) }
        };
        let _cancel = CancelOnUnwind(child.coroutine().clone());
        let expired = wait_for(&done, deadline);
        if expired {
            // SAFETY: see `CancelOnUnwind`.
            unsafe { child.coroutine().cancel() };
        }
        // Work that finished as the deadline fell (it did not yield again) counts.
        match child.join().0 {
            Ok(r) => Ran::Done(r),
            Err(p) if is_cancel(&*p) => Ran::Expired,
            Err(p) => Ran::Panicked(p),
        }
    })
}

/// Waits for `done` until the deadline (re-read whenever the work moves it). Returns
/// whether the deadline won.
fn wait_for(done: &AtomicBool, deadline: &Deadline) -> bool {
    loop {
        // Cleared before the checks: a wake-up after them is kept for the wait below.
        deadline.wake.clear();
        if done.load(Ordering::Acquire) {
            return false;
        }
        let wait = match deadline.get() {
            None => deadline.wake.wait(),
            Some(at) if at <= Instant::now() => return true,
            Some(at) => deadline
                .wake
                .wait_timeout(at.saturating_duration_since(Instant::now())),
        };
        // Woken or timed out: loop to see why (done, moved, or past).
        let _ = wait;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::green::{sleep, spawn};

    #[test]
    fn work_past_its_deadline_is_cancelled_at_its_next_yield() {
        let g = spawn(|| {
            let d = Deadline::new(Some(Instant::now() + Duration::from_millis(50)));
            let start = Instant::now();
            let mut reached_the_end = false;
            let ran = run_until(&d, || {
                sleep(Duration::from_secs(5));
                reached_the_end = true;
            });
            (
                matches!(ran, Ran::Expired),
                reached_the_end,
                start.elapsed(),
            )
        });
        let (expired, reached, took) = g.join().unwrap();
        assert!(expired && !reached, "{expired} {reached} {took:?}");
        assert!(took < Duration::from_secs(3), "{took:?}");
    }

    #[test]
    fn work_may_move_its_own_deadline() {
        let g = spawn(|| {
            let d = Deadline::new(Some(Instant::now() + Duration::from_millis(30)));
            let extended = run_until(&d, || {
                d.set(Some(Instant::now() + Duration::from_secs(10)));
                sleep(Duration::from_millis(100));
                7
            });
            let shortened = run_until(&d, || {
                d.set(Some(Instant::now() + Duration::from_millis(20)));
                sleep(Duration::from_secs(5));
            });
            (
                matches!(extended, Ran::Done(7)),
                matches!(shortened, Ran::Expired),
            )
        });
        assert_eq!(g.join().unwrap(), (true, true));
    }

    #[test]
    fn panics_and_plain_threads() {
        let none = Deadline::new(None);
        assert!(matches!(run_until(&none, || 1), Ran::Done(1)));
        let g = spawn(|| {
            let d = Deadline::new(Some(Instant::now() + Duration::from_secs(5)));
            matches!(run_until(&d, || panic!("app bug")), Ran::Panicked(_))
        });
        assert!(g.join().unwrap());
    }
}
