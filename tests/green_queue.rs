//! Queue: FIFO order, back-pressure when bounded, close, task_done/join, between
//! greenlets and threads.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use greenlight::queue::{GetError, PutError, Queue};

const MS: Duration = Duration::from_millis(1);

/// Yields until `cond` holds, for up to ten seconds; returns whether it did.
fn eventually(cond: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        if Instant::now() > deadline {
            return false;
        }
        greenlight::sleep(MS);
    }
    true
}

#[test]
fn bounded_queue_applies_back_pressure() {
    let q = Queue::bounded(2);
    let produced = Arc::new(AtomicUsize::new(0));
    let (qp, p) = (q.clone(), produced.clone());
    let producer = greenlight::spawn(move || {
        for i in 0..10 {
            qp.put(i).unwrap();
            p.fetch_add(1, Ordering::SeqCst);
        }
    });
    // The producer is stuck after filling the queue.
    assert!(eventually(|| produced.load(Ordering::SeqCst) == 2));
    assert!(q.is_full());
    assert!(!producer.is_ready());
    // Each get makes room for exactly one more put.
    assert_eq!(q.get(), Ok(0));
    assert!(eventually(|| produced.load(Ordering::SeqCst) == 3));
    assert!(q.is_full(), "and blocks again");
    let rest: Vec<_> = (0..9).map(|_| q.get().unwrap()).collect();
    assert_eq!(rest, (1..10).collect::<Vec<_>>());
    producer.join().unwrap();
}

#[test]
fn many_producers_and_consumers_across_threads_and_greenlets() {
    let q = Queue::bounded(8);
    let producers: Vec<_> = (0..4)
        .map(|p| {
            let q = q.clone();
            greenlight::spawn(move || {
                for i in 0..250 {
                    q.put(p * 1000 + i).unwrap();
                }
            })
        })
        .collect();
    let thread_consumer = {
        let q = q.clone();
        std::thread::spawn(move || {
            let mut n = 0u64;
            while let Ok(v) = q.get() {
                n += v as u64;
            }
            n
        })
    };
    let green_consumer = {
        let q = q.clone();
        greenlight::spawn(move || {
            let mut n = 0u64;
            while let Ok(v) = q.get() {
                n += v as u64;
            }
            n
        })
    };
    greenlight::joinall(&producers, Some(Duration::from_secs(5))).unwrap();
    q.close();
    let total = thread_consumer.join().unwrap() + green_consumer.join().unwrap();
    let expected: u64 = (0..4u64)
        .flat_map(|p| (0..250u64).map(move |i| p * 1000 + i))
        .sum();
    assert_eq!(total, expected);
}

#[test]
fn close_drains_then_fails() {
    let q = Queue::bounded(4);
    q.put(1).unwrap();
    q.put(2).unwrap();
    q.close();
    assert_eq!(q.put(3), Err(PutError::Closed(3)));
    assert_eq!(q.get(), Ok(1));
    assert_eq!(q.try_get(), Ok(2));
    assert_eq!(q.get(), Err(GetError::Closed));
}

#[test]
fn close_wakes_blocked_getters_and_putters() {
    let empty: Queue<u8> = Queue::unbounded();
    let e = empty.clone();
    let getter = greenlight::spawn(move || e.get());
    let full = Queue::bounded(1);
    full.put(0).unwrap();
    let f = full.clone();
    let putter = greenlight::spawn(move || f.put(1));
    // Not a synchronisation: only a chance for both to block before the close (the
    // assertions hold either way).
    greenlight::sleep(10 * MS);
    let start = Instant::now();
    empty.close();
    full.close();
    assert_eq!(getter.join(), Ok(Err(GetError::Closed)));
    assert_eq!(putter.join(), Ok(Err(PutError::Closed(1))));
    // Woken, not left waiting: at once on an idle machine.
    assert!(start.elapsed() < Duration::from_secs(2));
}

#[test]
fn join_waits_for_task_done() {
    let q = Queue::unbounded();
    for i in 0..5 {
        q.put(i).unwrap();
    }
    let worker = {
        let q = q.clone();
        greenlight::spawn(move || {
            while let Ok(_item) = q.get_timeout(100 * MS) {
                greenlight::sleep(5 * MS);
                q.task_done();
            }
        })
    };
    let start = Instant::now();
    q.join_timeout(Duration::from_secs(2)).unwrap();
    assert!(start.elapsed() >= 20 * MS);
    assert!(q.is_empty());
    worker.join().unwrap();
}

#[test]
fn try_variants_never_wait() {
    let q = Queue::bounded(1);
    assert_eq!(q.try_get(), Err(GetError::Empty));
    assert_eq!(q.try_put('a'), Ok(()));
    assert_eq!(q.try_put('b'), Err(PutError::Full('b')));
    assert_eq!(q.len(), 1);
}
