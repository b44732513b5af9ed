//! Timeouts fire within a few milliseconds of their deadline, for every blocking
//! primitive, in greenlets and in plain threads.

use std::time::{Duration, Instant};

use greenlight::event::{AsyncError, AsyncResult, Event};
use greenlight::lock::Semaphore;
use greenlight::queue::{GetError, PutError, Queue};
use greenlight::{with_timeout, Timeout};
use greenlight::{JoinError, TimeoutError};

const MS: Duration = Duration::from_millis(1);

/// A 50 ms timeout must fire no sooner than 45 ms, and well before the 5 s the calls
/// would otherwise block (with room for a loaded 2-core CI machine).
fn assert_fired_on_time(start: Instant) {
    let took = start.elapsed();
    assert!(
        took >= 45 * MS && took < Duration::from_secs(1),
        "fired after {took:?}"
    );
}

fn every_primitive_times_out() {
    let start = Instant::now();
    assert_eq!(Event::new().wait_timeout(50 * MS), Err(TimeoutError));
    assert_fired_on_time(start);

    let q: Queue<u8> = Queue::bounded(1);
    let start = Instant::now();
    assert_eq!(q.get_timeout(50 * MS), Err(GetError::Timeout));
    assert_fired_on_time(start);

    q.put(1).unwrap();
    let start = Instant::now();
    assert_eq!(q.put_timeout(2, 50 * MS), Err(PutError::Timeout(2)));
    assert_fired_on_time(start);

    let start = Instant::now();
    assert!(Semaphore::new(0).acquire_timeout(50 * MS).is_err());
    assert_fired_on_time(start);

    let r: AsyncResult<u8> = AsyncResult::new();
    let start = Instant::now();
    assert_eq!(r.get_timeout(50 * MS), Err(AsyncError::Timeout));
    assert_fired_on_time(start);

    let g = greenlight::spawn(|| greenlight::sleep(Duration::from_secs(5)));
    let start = Instant::now();
    assert_eq!(g.wait_timeout(50 * MS), Err(TimeoutError));
    assert_fired_on_time(start);
    g.kill();
}

#[test]
fn timeouts_fire_on_time_in_a_thread() {
    every_primitive_times_out();
}

#[test]
fn timeouts_fire_on_time_in_a_greenlet() {
    greenlight::spawn(every_primitive_times_out).join().unwrap();
}

fn guard_bounds_everything_in_scope() {
    let _t = Timeout::new(50 * MS);
    let start = Instant::now();
    assert_eq!(
        greenlight::try_sleep(Duration::from_secs(5)),
        Err(TimeoutError)
    );
    assert_fired_on_time(start);
    // Past the deadline, every blocking call fails at once.
    let start = Instant::now();
    assert_eq!(Event::new().wait(), Err(TimeoutError));
    let q: Queue<u8> = Queue::unbounded();
    assert_eq!(q.get(), Err(GetError::Timeout));
    assert!(Semaphore::new(0).acquire().is_err());
    let g = greenlight::spawn(|| greenlight::sleep(Duration::from_secs(5)));
    assert!(g.wait().is_err());
    g.kill();
    // At once, not after a wait.
    assert!(start.elapsed() < Duration::from_secs(1));
}

#[test]
fn guard_in_a_thread() {
    guard_bounds_everything_in_scope();
    // Out of scope: no deadline left behind.
    greenlight::sleep(MS);
}

#[test]
fn guard_in_a_greenlet() {
    greenlight::spawn(|| {
        guard_bounds_everything_in_scope();
        greenlight::try_sleep(MS)
    })
    .join()
    .unwrap()
    .unwrap();
}

#[test]
fn inner_timeout_cannot_extend_outer() {
    let _outer = Timeout::new(50 * MS);
    let start = Instant::now();
    {
        let _inner = Timeout::new(Duration::from_secs(5));
        assert!(Event::new().wait().is_err());
    }
    assert_fired_on_time(start);
}

#[test]
fn shorter_inner_timeout_wins_and_outer_is_restored() {
    let outer = Timeout::new(Duration::from_secs(5));
    {
        let _inner = Timeout::new(20 * MS);
        assert!(Event::new().wait().is_err());
    }
    let ev = Event::new();
    let ev2 = ev.clone();
    greenlight::spawn_later(30 * MS, move || ev2.set()).detach();
    assert_eq!(ev.wait(), Ok(()));
    assert!(!outer.is_expired());
}

#[test]
fn with_timeout_reports_expiry() {
    let start = Instant::now();
    let r = with_timeout(50 * MS, || Queue::<u8>::unbounded().get());
    assert_eq!(r, Err(TimeoutError));
    assert_fired_on_time(start);
    assert_eq!(with_timeout(50 * MS, || 7), Ok(7));
}

#[test]
fn timeout_does_not_leak_into_spawned_greenlets() {
    let _t = Timeout::new(10 * MS);
    let g = greenlight::spawn(|| greenlight::try_sleep(40 * MS));
    // Our join fails at our deadline, the greenlet's sleep does not.
    assert!(g.wait().is_err());
    drop(_t);
    assert_eq!(g.join(), Ok(Ok(())));
}

#[test]
fn join_under_a_guard_reports_timeout() {
    let g = greenlight::spawn(|| greenlight::sleep(Duration::from_secs(5)));
    let start = Instant::now();
    {
        let _t = Timeout::new(30 * MS);
        // A quick greenlet joins fine under the guard...
        assert_eq!(greenlight::spawn(|| ()).join(), Ok(()));
        // ...a slow one fails at the deadline, and the handle stays usable.
        assert_eq!(g.wait(), Err(TimeoutError));
    }
    assert!(start.elapsed() < Duration::from_secs(1));
    g.kill();
    assert_eq!(g.join(), Err(JoinError::Killed));
}

/// A greenlet woken by its timer (a sleep, a wait that timed out, a delayed start) goes on
/// running on the worker threads, not on the runtime's one timer thread: otherwise every
/// sleeper's work would share that thread, and one that blocked it would stall every timer.
#[test]
fn greenlets_woken_by_a_timer_run_on_the_worker_threads() {
    use std::collections::HashSet;
    use std::thread::{self, ThreadId};
    // Greenlets started from here are spread over every worker, round robin.
    let workers: HashSet<ThreadId> = (0..256)
        .map(|_| greenlight::spawn(|| thread::current().id()))
        .collect::<Vec<_>>()
        .into_iter()
        .map(|g| g.join().unwrap())
        .collect();
    let after_a_sleep = (0..32).map(|_| {
        greenlight::spawn(|| {
            greenlight::sleep(2 * MS);
            thread::current().id()
        })
    });
    let after_a_timeout = (0..32).map(|_| {
        greenlight::spawn(|| {
            assert_eq!(Event::new().wait_timeout(2 * MS), Err(TimeoutError));
            thread::current().id()
        })
    });
    let started_late = (0..32).map(|_| greenlight::spawn_later(2 * MS, || thread::current().id()));
    let woken: Vec<_> = after_a_sleep
        .chain(after_a_timeout)
        .chain(started_late)
        .collect::<Vec<_>>()
        .into_iter()
        .map(|g| g.join().unwrap())
        .collect();
    for id in woken {
        assert!(
            workers.contains(&id),
            "ran on {id:?}, not on a worker: {workers:?}"
        );
    }
}
