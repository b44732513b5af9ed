//! Spawn+join cost and channel round-trip latency: greenlets beside std threads, in the
//! same run.
//!
//! ```text
//! cargo bench --bench green
//! ```

use std::sync::mpsc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use greenlight::queue::Queue;

fn spawn_join(c: &mut Criterion) {
    let mut group = c.benchmark_group("spawn_join");
    // Spawned and joined from the main (plain) thread.
    group.bench_function("greenlet", |b| {
        b.iter(|| greenlight::spawn(|| 1u64).join().unwrap())
    });
    // Spawned and joined from inside a greenlet: no OS-thread wake-up on join.
    group.bench_function("greenlet_in_greenlet", |b| {
        b.iter_custom(|iters| {
            greenlight::spawn(move || {
                let start = std::time::Instant::now();
                for _ in 0..iters {
                    greenlight::spawn(|| 1u64).join().unwrap();
                }
                start.elapsed()
            })
            .join()
            .unwrap()
        })
    });
    group.bench_function("std_thread", |b| {
        b.iter(|| std::thread::spawn(|| 1u64).join().unwrap())
    });
    group.finish();
}

fn round_trip(c: &mut Criterion) {
    let mut group = c.benchmark_group("round_trip");

    // Ping-pong with a greenlet over two greenlight Queues, driven from a greenlet.
    let (ping, pong): (Queue<u64>, Queue<u64>) = (Queue::unbounded(), Queue::unbounded());
    let (p, q) = (ping.clone(), pong.clone());
    greenlight::spawn(move || {
        while let Ok(v) = p.get() {
            q.put(v + 1).unwrap();
        }
    })
    .detach();
    group.bench_function("greenlet_queue", |b| {
        b.iter_custom(|iters| {
            let (ping, pong) = (ping.clone(), pong.clone());
            greenlight::spawn(move || {
                let start = std::time::Instant::now();
                for i in 0..iters {
                    ping.put(i).unwrap();
                    pong.get().unwrap();
                }
                start.elapsed()
            })
            .join()
            .unwrap()
        })
    });
    ping.close();

    // The same over may's mpsc channels.
    let (to_echo, from_main) = may::sync::mpsc::channel::<u64>();
    let (to_main, from_echo) = may::sync::mpsc::channel::<u64>();
    greenlight::spawn(move || {
        while let Ok(v) = from_main.recv() {
            if to_main.send(v + 1).is_err() {
                break;
            }
        }
    })
    .detach();
    let chans = std::sync::Arc::new((to_echo, may::sync::Mutex::new(from_echo)));
    group.bench_function("greenlet_may_mpsc", |b| {
        b.iter_custom(|iters| {
            let chans = chans.clone();
            greenlight::spawn(move || {
                // A may mutex (parks, never blocks the worker), taken outside the timed loop.
                let rx = chans.1.lock().unwrap();
                let start = std::time::Instant::now();
                for i in 0..iters {
                    chans.0.send(i).unwrap();
                    rx.recv().unwrap();
                }
                start.elapsed()
            })
            .join()
            .unwrap()
        })
    });

    // Two std threads over std mpsc.
    let (to_echo, from_main) = mpsc::channel::<u64>();
    let (to_main, from_echo) = mpsc::channel::<u64>();
    let echo = std::thread::spawn(move || {
        while let Ok(v) = from_main.recv() {
            if to_main.send(v + 1).is_err() {
                break;
            }
        }
    });
    group.bench_function("std_thread_mpsc", |b| {
        b.iter(|| {
            to_echo.send(1).unwrap();
            from_echo.recv().unwrap()
        })
    });
    drop(to_echo);
    echo.join().unwrap();
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(20);
    targets = spawn_join, round_trip
}
criterion_main!(benches);
