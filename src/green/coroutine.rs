//! The crate's one door to `may`'s coroutine API: spawning a coroutine, cancelling it,
//! joining it, and reading the panic it ended with. Greenlets are built on it, and so are
//! the server's accept loops, reaper and connections.

use std::any::Any;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use may::coroutine::{Builder, JoinHandle};

/// Starts `f` on a new coroutine (named `name` in may's debug output) and returns its handle.
///
/// # Contract
///
/// `may`'s `Builder::spawn` is `unsafe` because the runtime cannot check what a coroutine's
/// code does; this function is safe to call because everything the crate spawns keeps the
/// [rules for code in greenlets](crate#rules-for-code-running-in-a-greenlet), and user
/// code handed to [`spawn`](crate::spawn) or to a server handler is bound to them by the
/// public docs. Whoever passes `f` here promises that `f`:
///
/// - holds no thread-local storage (nor a reference into it) across a yield, since the
///   coroutine may resume on another worker thread;
/// - makes no blocking OS call that would stall the worker thread;
/// - stays within the configured stack size ([`configure`](crate::configure)): an
///   overflow is not unwound (its frames are abandoned, see [`CoExit::StackOverflow`]);
/// - lets a cancellation ([`CoHandle::cancel`]) unwind: its destructors release what they
///   hold without parking on `may`'s own primitives.
///
/// The runtime is configured with defaults first if nothing configured it yet.
pub(crate) fn spawn_raw<F>(name: Option<String>, f: F) -> io::Result<CoHandle>
where
    F: FnOnce() + Send + 'static,
{
    super::runtime::ensure_configured();
    let f = move || {
        let _alive = Alive::count();
        let _kept = KeepHandle(Some(may::coroutine::current()));
        f()
    };
    let builder = match name {
        Some(n) => Builder::new().name(n),
        None => Builder::new(),
    };
    // SAFETY: the caller keeps the contract written in this function's doc (no thread-local
    // across a yield, no blocking OS calls, a bounded stack, destructors that do not park);
    // `f` is `Send + 'static`, so nothing it owns is shared with the spawning thread.
    unsafe { builder.spawn(f) }.map(CoHandle)
}

/// Green threads started by [`spawn_raw`] whose function has not ended.
static ALIVE: AtomicUsize = AtomicUsize::new(0);

/// Green threads alive in this process: those started by greenlight (connections,
/// greenlets, accept loops) and still running. One whose stack overflowed is never counted
/// out (its frames are abandoned); the worker recycles itself then.
pub(crate) fn alive() -> usize {
    ALIVE.load(Ordering::Relaxed)
}

/// Counts a green thread in, and out on drop (an unwinding cancellation included).
struct Alive;

impl Alive {
    fn count() -> Alive {
        ALIVE.fetch_add(1, Ordering::Relaxed);
        Alive
    }
}

impl Drop for Alive {
    fn drop(&mut self) {
        ALIVE.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Keeps a coroutine's `may` handle alive for a while after the coroutine ends.
///
/// `may`'s blocking calls (`sleep`, `park`, and so the waits built on them) hand the parked
/// coroutine to a timer or a waker first, and only then, still on the thread that parked
/// it, register the coroutine's cancellation data, which lives in the allocation behind its
/// handle. A timer that fires at once (a sleep of 0 or 1 ms) or a waker on another thread
/// can resume the coroutine and run it to its end before that registration: if nothing
/// else holds a handle (a detached greenlet, a connection), the end frees the allocation
/// and the registration writes into freed memory. Under churn that corrupted the heap
/// (workers died of SIGSEGV in `may`'s sleep; `scripts/stress_local.py` reproduces it
/// without this). Each ending coroutine's handle is therefore kept for
/// [`GRAVE_TIME`] to [`2 * GRAVE_TIME`](GRAVE_TIME), far longer than the few instructions
/// that registration takes, on the ending thread's own list (no lock shared by threads).
struct KeepHandle(Option<may::coroutine::Coroutine>);

impl Drop for KeepHandle {
    fn drop(&mut self) {
        if let Some(h) = self.0.take() {
            bury(h);
        }
    }
}

/// How long a generation of ended coroutines' handles is kept (see [`KeepHandle`]).
const GRAVE_TIME: std::time::Duration = std::time::Duration::from_millis(100);

/// Ended coroutines' handles on one OS thread: two generations, rotated every
/// [`GRAVE_TIME`] by the next burial.
struct Graves {
    young: Vec<may::coroutine::Coroutine>,
    old: Vec<may::coroutine::Coroutine>,
    rotated: std::time::Instant,
}

std::thread_local! {
    // Touched only inside `bury`, which never yields: the borrow cannot span a move of the
    // coroutine to another thread.
    static GRAVES: std::cell::RefCell<Graves> = std::cell::RefCell::new(Graves {
        young: Vec::new(),
        old: Vec::new(),
        rotated: std::time::Instant::now(),
    });
}

/// Keeps `h` until a later burial on this thread, at least [`GRAVE_TIME`] from now, drops
/// it. Never parks (it runs as a coroutine ends, also while a cancellation unwinds).
fn bury(h: may::coroutine::Coroutine) {
    let expired = GRAVES.try_with(|g| {
        let mut g = g.borrow_mut();
        let expired = if g.rotated.elapsed() >= GRAVE_TIME {
            g.rotated = std::time::Instant::now();
            let young = std::mem::take(&mut g.young);
            Some(std::mem::replace(&mut g.old, young))
        } else {
            None
        };
        g.young.push(h);
        expired
    });
    // Dropped outside the borrow; at thread exit (no list left) `h` simply drops.
    drop(expired);
}

/// A coroutine started by [`spawn_raw`]: whether it ended, a way to cancel it, its outcome.
///
/// Dropping the handle detaches the coroutine; it runs on.
pub(crate) struct CoHandle(JoinHandle<()>);

/// How a coroutine ended, from [`CoHandle::join`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CoExit {
    /// Its function returned.
    Returned,
    /// It was cancelled and unwound.
    Cancelled,
    /// It overflowed its stack: it ended without unwinding, so whatever its frames owned
    /// (sockets, locks, counts) was never released.
    StackOverflow,
    /// It panicked; the panic message.
    Panicked(String),
}

impl CoHandle {
    /// Whether the coroutine has ended (however it ended).
    pub(crate) fn is_done(&self) -> bool {
        self.0.is_done()
    }

    /// Raises `may`'s cancel panic in the coroutine at its next yield point; its stack then
    /// unwinds. Cancelling a coroutine that already ended does nothing.
    pub(crate) fn cancel(&self) {
        // SAFETY: `Coroutine::cancel` is unsafe because the coroutine's stack is unwound from
        // its next yield point, dropping everything it holds. Every coroutine here was started
        // by `spawn_raw`, whose contract requires destructors that release what they hold
        // without parking on `may`'s primitives (greenlight's own release without parking, see
        // `wait.rs`), so the unwinding cannot abort. On an ended coroutine it only sets a flag
        // nobody reads.
        unsafe { self.0.coroutine().cancel() };
    }

    /// Waits for the coroutine to end and says how it ended. Parks a coroutine caller; blocks
    /// a thread caller.
    pub(crate) fn join(self) -> CoExit {
        match self.0.join() {
            Ok(()) => CoExit::Returned,
            Err(p) if is_cancel(&*p) => CoExit::Cancelled,
            Err(p) if is_stack_overflow(&*p) => CoExit::StackOverflow,
            Err(p) => CoExit::Panicked(panic_message(&*p)),
        }
    }
}

/// Whether a panic payload is `may`'s cancellation: a requested stop, not an error. Code
/// that catches panics must let this one go on unwinding.
pub(crate) fn is_cancel(payload: &(dyn Any + Send)) -> bool {
    matches!(
        payload.downcast_ref::<generator::Error>(),
        Some(generator::Error::Cancel)
    )
}

fn is_stack_overflow(payload: &(dyn Any + Send)) -> bool {
    matches!(
        payload.downcast_ref::<generator::Error>(),
        Some(generator::Error::StackErr)
    )
}

/// The message of a panic, for a log line or a [`JoinError`](super::JoinError): the string a
/// `panic!` carried, or a phrase saying it carried something else.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}

/// Whether the caller runs on a green thread (else a plain OS thread, which may block).
pub(crate) fn in_greenlet() -> bool {
    may::coroutine::is_coroutine()
}

/// Sleeps for `d`: parks a coroutine, blocks a thread. Unlike [`sleep`](super::sleep) it
/// ignores any [`Timeout`](super::Timeout) in scope, for the runtime's own polling loops
/// (a stop waiting for connections must wait its whole period).
pub(crate) fn pause(d: Duration) {
    if d.is_zero() {
        // gevent's `sleep(0)`: a yield, not a round trip through the timer thread.
        return may::coroutine::yield_now();
    }
    may::coroutine::sleep(d);
    back_to_workers();
}

/// Moves the calling green thread from `may`'s timer thread back to the worker threads,
/// after a wait that ended by its timer (a sleep, a park that timed out).
///
/// `may` resumes such a green thread on its one timer thread, where the rest of its work
/// would run too: every greenlet waking from a sleep would then share that one OS thread
/// (10,000 connections in a 100 ms request ran their answers there, one core's worth,
/// whatever `--threads` said), and one that blocked it would hold up every timer in the
/// process. A yield from there queues it on a worker. Not while unwinding: a yield that
/// finds the greenlet killed raises the cancel panic again, which would abort.
#[inline]
pub(crate) fn back_to_workers() {
    if in_greenlet() && !std::thread::panicking() {
        may::coroutine::yield_now();
    }
}

/// Routes panics on green threads through the `log` facade, with their location (and the
/// backtrace at debug level), instead of raw stderr: a handler's panic then lands in the
/// error log with the server's other lines. A cancellation (a kill, a stop) is not a panic
/// worth a line. Panics on OS threads, and any panic while no logger is set, go to the
/// hook that was installed before. Installed once, by the first server to start.
pub(crate) fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !may::coroutine::is_coroutine() || log::max_level() == log::LevelFilter::Off {
                return previous(info);
            }
            if is_cancel(info.payload()) {
                return;
            }
            let at = info
                .location()
                .map_or_else(String::new, |l| format!(" at {}:{}", l.file(), l.line()));
            log::error!(
                "panic on a green thread{at}: {}",
                panic_message(info.payload())
            );
            if log::log_enabled!(log::Level::Debug) {
                log::debug!("{}", std::backtrace::Backtrace::force_capture());
            }
        }));
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::panic::{catch_unwind, panic_any};

    fn payload_of(f: impl FnOnce() + std::panic::UnwindSafe) -> Box<dyn Any + Send> {
        catch_unwind(f).unwrap_err()
    }

    #[test]
    fn panic_messages() {
        assert_eq!(panic_message(&*payload_of(|| panic!("plain"))), "plain");
        assert_eq!(panic_message(&*payload_of(|| panic!("n = {}", 3))), "n = 3");
        assert_eq!(
            panic_message(&*payload_of(|| panic_any(7u8))),
            "panic with a non-string payload"
        );
        assert!(!is_cancel(&*payload_of(|| panic!("plain"))));
        assert!(is_cancel(&*payload_of(|| panic_any(
            generator::Error::Cancel
        ))));
    }

    #[test]
    fn join_classifies_the_end() {
        let h = spawn_raw(Some("returns".into()), || {}).unwrap();
        assert_eq!(h.join(), CoExit::Returned);
        let h = spawn_raw(None, || std::panic::panic_any("boom")).unwrap();
        assert_eq!(h.join(), CoExit::Panicked("boom".into()));
        let h = spawn_raw(None, || loop {
            pause(Duration::from_millis(1));
        })
        .unwrap();
        assert!(!h.is_done());
        h.cancel();
        assert_eq!(h.join(), CoExit::Cancelled);
    }
}
