//! threadpool: blocking work on OS threads does not stall greenlets on the caller's
//! worker; panics and timeouts come back as errors; the pool is bounded.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use greenlight::threadpool::{spawn_blocking, ThreadPool};
use greenlight::{configure, JoinError, RuntimeConfig};

const MS: Duration = Duration::from_millis(1);

/// One worker thread: every greenlet in this test binary shares it, so a blocked worker
/// would stall everything.
fn one_worker() {
    configure(RuntimeConfig {
        workers: 1,
        ..Default::default()
    });
}

#[test]
fn blocking_call_does_not_stall_other_greenlets() {
    one_worker();
    let ticks = Arc::new(AtomicUsize::new(0));
    let t = ticks.clone();
    let ticker = greenlight::spawn(move || {
        let end = Instant::now() + 300 * MS;
        while Instant::now() < end {
            greenlight::sleep(5 * MS);
            t.fetch_add(1, Ordering::SeqCst);
        }
    });
    let blocker = greenlight::spawn(|| {
        let start = Instant::now();
        spawn_blocking(|| std::thread::sleep(200 * MS)).unwrap();
        start.elapsed()
    });
    let before = ticks.load(Ordering::SeqCst);
    let blocked_for = blocker.join().unwrap();
    let during = ticks.load(Ordering::SeqCst) - before;
    assert!(blocked_for >= 195 * MS, "{blocked_for:?}");
    // 200 ms at one tick per ~5 ms: about 40 (fewer on a loaded machine); a stalled
    // worker would give ~0.
    assert!(
        during >= 5,
        "only {during} ticks while the blocking call ran"
    );
    ticker.join().unwrap();
}

#[test]
fn blocking_jobs_run_in_parallel_up_to_the_size() {
    one_worker();
    let pool = ThreadPool::new(4);
    // Four jobs that each wait until all four run at once: only parallel threads finish.
    let barrier = Arc::new(std::sync::Barrier::new(4));
    let start = Instant::now();
    let gs: Vec<_> = (0..4)
        .map(|_| {
            let (pool, barrier) = (pool.clone(), barrier.clone());
            greenlight::spawn(move || {
                pool.apply(move || {
                    barrier.wait();
                })
            })
        })
        .collect();
    greenlight::joinall(&gs, Some(Duration::from_secs(10))).unwrap();
    let took = start.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "4 jobs on 4 threads took {took:?}"
    );

    let small = ThreadPool::new(1);
    let start = Instant::now();
    let gs: Vec<_> = (0..3)
        .map(|_| {
            let pool = small.clone();
            greenlight::spawn(move || pool.apply(|| std::thread::sleep(40 * MS)))
        })
        .collect();
    greenlight::joinall(&gs, Some(Duration::from_secs(2))).unwrap();
    assert!(
        start.elapsed() >= 115 * MS,
        "a pool of 1 ran jobs in parallel"
    );
}

#[test]
fn panic_comes_back_as_an_error() {
    one_worker();
    let r = spawn_blocking(|| -> u8 { panic!("driver crashed") });
    assert_eq!(r, Err(JoinError::Panicked("driver crashed".into())));
    assert_eq!(spawn_blocking(|| 5), Ok(5));
}

#[test]
fn apply_timeout_gives_up_waiting() {
    one_worker();
    let pool = ThreadPool::new(1);
    let start = Instant::now();
    // The job outlives the test; nothing waits for it.
    let r =
        greenlight::spawn(move || pool.apply_timeout(50 * MS, || std::thread::sleep(5000 * MS)))
            .join()
            .unwrap();
    assert_eq!(r, Err(JoinError::Timeout));
    let took = start.elapsed();
    assert!(took >= 45 * MS && took < Duration::from_secs(2), "{took:?}");
}
