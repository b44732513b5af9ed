//! The blocking watchdog (`--max-blocking-time`, gevent's `max_blocking_time`): a monitor
//! thread that notices a worker thread which has not yielded for too long and names the
//! request being served there.
//!
//! How it knows:
//! - what runs where: the server marks each handler call ([`enter`]); greenlight's waits
//!   (green sleep, events, queues, locks, the thread pool, green sockets) unmark the worker
//!   thread when they park and mark it again, with the same request, when they resume
//!   ([`parking`]). So a worker thread's mark names the request whose code it is running,
//!   and since when.
//! - whether the thread is stuck there: Linux shows what each thread is doing in
//!   `/proc/self/task/TID/syscall`. A worker with nothing to run waits in `epoll_wait`;
//!   one that runs a request's code for longer than the limit (a busy loop, a
//!   `std::thread::sleep`, a std socket or file read, a std `Mutex`) is anywhere else.
//!
//! One warning per stall (per mark). Off unless started: the marks cost a few atomic
//! operations per handler call and per wait.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Whether the watchdog runs (marks are skipped otherwise).
static ENABLED: AtomicBool = AtomicBool::new(false);
/// Warnings given since the process started.
static WARNINGS: AtomicU64 = AtomicU64::new(0);

/// How many stalls the watchdog has warned about in this process (the
/// `greenlight_watchdog_warnings_total` metric).
pub(crate) fn warnings() -> u64 {
    WARNINGS.load(Ordering::Relaxed)
}

/// What a worker thread runs: a request's handler, since when.
#[derive(Debug)]
pub(crate) struct Activity {
    what: String,
    started: Instant,
    warned: AtomicBool,
}

/// One worker thread's mark.
#[derive(Debug)]
struct Slot {
    tid: i32,
    current: Mutex<Option<(Arc<Activity>, Instant)>>,
}

fn registry() -> &'static Mutex<Vec<Arc<Slot>>> {
    static SLOTS: OnceLock<Mutex<Vec<Arc<Slot>>>> = OnceLock::new();
    SLOTS.get_or_init(|| Mutex::new(Vec::new()))
}

thread_local! {
    // Read and written only in one go, never held across a yield.
    static THREAD_SLOT: RefCell<Option<Arc<Slot>>> = const { RefCell::new(None) };
}

may::coroutine_local!(static CURRENT: RefCell<Option<Arc<Activity>>> = RefCell::new(None));

/// Sets this OS thread's mark.
fn mark_thread(a: Option<Arc<Activity>>) {
    THREAD_SLOT.with(|s| {
        let mut s = s.borrow_mut();
        let slot = s.get_or_insert_with(|| {
            let slot = Arc::new(Slot {
                // SAFETY: gettid has no preconditions.
                tid: unsafe { libc::gettid() },
                current: Mutex::new(None),
            });
            lock(registry()).push(slot.clone());
            slot
        });
        *lock(&slot.current) = a.map(|a| (a, Instant::now()));
    });
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Marks the calling green thread (and its worker thread) as serving `what` until the
/// guard drops. Nothing happens unless the watchdog runs.
#[inline]
pub(crate) fn enter(what: impl FnOnce() -> String) -> Option<Entered> {
    if !ENABLED.load(Ordering::Relaxed) {
        return None;
    }
    mark(what)
}

/// [`enter`] with the watchdog running.
#[cold]
#[inline(never)]
fn mark(what: impl FnOnce() -> String) -> Option<Entered> {
    let a = Arc::new(Activity {
        what: what(),
        started: Instant::now(),
        warned: AtomicBool::new(false),
    });
    CURRENT.with(|c| *c.borrow_mut() = Some(a.clone()));
    mark_thread(Some(a));
    Some(Entered)
}

/// The mark of [`enter`], cleared when dropped.
pub(crate) struct Entered;

impl Drop for Entered {
    fn drop(&mut self) {
        CURRENT.with(|c| *c.borrow_mut() = None);
        mark_thread(None);
    }
}

/// Unmarks the worker thread while the calling green thread waits, and marks the thread
/// it resumes on. Wraps every parking wait.
pub(crate) fn parking<R>(wait: impl FnOnce() -> R) -> R {
    if !ENABLED.load(Ordering::Relaxed) {
        return wait();
    }
    let mine = CURRENT.with(|c| c.borrow().clone());
    if mine.is_some() {
        mark_thread(None);
    }
    let r = wait();
    if mine.is_some() {
        mark_thread(mine);
    }
    r
}

/// Starts the monitor (once per process): a worker thread that runs one request's code
/// for `max` without yielding is logged, once per stall.
pub(crate) fn start(max: Duration) {
    static STARTED: OnceLock<()> = OnceLock::new();
    STARTED.get_or_init(|| {
        ENABLED.store(true, Ordering::SeqCst);
        let every = (max / 4).clamp(Duration::from_millis(5), Duration::from_millis(100));
        let spawned = std::thread::Builder::new()
            .name("greenlight-watchdog".into())
            .spawn(move || loop {
                std::thread::sleep(every);
                check(max);
            });
        if let Err(e) = spawned {
            log::error!("cannot start the blocking watchdog: {e}");
        }
    });
}

fn check(max: Duration) {
    let slots: Vec<Arc<Slot>> = lock(registry()).clone();
    for slot in slots {
        let Some((a, since)) = lock(&slot.current).clone() else {
            continue;
        };
        let stalled = since.elapsed();
        if stalled < max || a.warned.load(Ordering::Relaxed) || is_waiting(slot.tid) {
            continue;
        }
        if !a.warned.swap(true, Ordering::Relaxed) {
            WARNINGS.fetch_add(1, Ordering::Relaxed);
            log::warn!(
                "A worker thread has not yielded for {:.2}s (--max-blocking-time {:.2}s): it \
                 runs {} (started {:.2}s ago). A blocking call there (std::thread::sleep, \
                 std I/O, a std Mutex, long CPU work) stalls every green thread on that \
                 worker; run it on greenlight::threadpool",
                stalled.as_secs_f64(),
                max.as_secs_f64(),
                a.what,
                a.started.elapsed().as_secs_f64(),
            );
        }
    }
}

/// Whether the thread waits in the scheduler's `epoll_wait` (it has nothing to run), as
/// `/proc/self/task/TID/syscall` shows. Unknown counts as waiting: no warning on a guess.
fn is_waiting(tid: i32) -> bool {
    let Ok(text) = std::fs::read_to_string(format!("/proc/self/task/{tid}/syscall")) else {
        return true;
    };
    let Some(nr) = text.split_whitespace().next() else {
        return true;
    };
    if nr == "running" {
        return false;
    }
    let Ok(nr) = nr.parse::<libc::c_long>() else {
        return true;
    };
    idle_syscalls().contains(&nr)
}

/// The system calls a worker thread with nothing to run waits in.
fn idle_syscalls() -> &'static [libc::c_long] {
    #[cfg(target_arch = "x86_64")]
    const IDLE: &[libc::c_long] = &[
        libc::SYS_epoll_wait,
        libc::SYS_epoll_pwait,
        libc::SYS_epoll_pwait2,
    ];
    #[cfg(not(target_arch = "x86_64"))]
    const IDLE: &[libc::c_long] = &[libc::SYS_epoll_pwait];
    IDLE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_in_a_sleep_is_not_waiting_and_one_in_epoll_is() {
        // SAFETY: gettid has no preconditions.
        let me = unsafe { libc::gettid() };
        let (tx, rx) = std::sync::mpsc::channel();
        let t = std::thread::spawn(move || {
            // SAFETY: as above.
            tx.send(unsafe { libc::gettid() }).unwrap();
            std::thread::sleep(Duration::from_millis(300));
        });
        let other = rx.recv().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        assert!(!is_waiting(other), "a sleeping thread is stuck, not idle");
        assert!(!is_waiting(me), "a running thread is not idle");
        assert!(is_waiting(-1), "an unknown thread gives no warning");
        t.join().unwrap();
    }
}
