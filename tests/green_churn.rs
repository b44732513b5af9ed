//! Churn: many short-lived detached greenlets that sleep for 0 or 1 ms and read
//! coroutine-local storage, on several worker threads. `may` registers a parked green
//! thread's cancellation data after handing it to the timer, so a sleep that ends at once
//! can let the green thread finish, and free that data, first; greenlight keeps each
//! ended green thread's handle for a while so that the late registration writes into live
//! memory. Without that, this test dies of a SIGSEGV or a heap corruption within seconds.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use greenlight::RuntimeConfig;

greenlight::coroutine_local!(static TOUCHED: Cell<u32> = Cell::new(0));

/// Greenlets per wave, and waves.
const WAVE: usize = 2_000;
const WAVES: usize = 80;

#[test]
fn short_sleeps_of_detached_greenlets_under_churn_corrupt_nothing() {
    // Several worker threads, whatever the machine: the race needs a green thread resumed
    // on another thread than the one that parked it.
    greenlight::configure(RuntimeConfig {
        workers: 4,
        ..Default::default()
    });
    let done = Arc::new(AtomicUsize::new(0));
    let begun = Instant::now();
    for wave in 0..WAVES {
        for i in 0..WAVE {
            let done = done.clone();
            greenlight::spawn(move || {
                TOUCHED.with(|t| t.set(t.get() + 1));
                greenlight::sleep(Duration::ZERO);
                TOUCHED.with(|t| t.set(t.get() + 1));
                greenlight::sleep(Duration::from_millis((i % 2) as u64));
                assert_eq!(TOUCHED.with(Cell::get), 2, "another green thread's storage");
                done.fetch_add(1, Ordering::SeqCst);
            })
            .detach();
        }
        // Each wave ends before the next: the ended ones' memory is reused by the next.
        let want = (wave + 1) * WAVE;
        while done.load(Ordering::SeqCst) < want {
            assert!(
                begun.elapsed() < Duration::from_secs(60),
                "{} of {want} greenlets finished",
                done.load(Ordering::SeqCst)
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    assert_eq!(done.load(Ordering::SeqCst), WAVE * WAVES);
}
