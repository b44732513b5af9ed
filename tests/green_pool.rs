//! Pool and Group: the size limit, slots released however a greenlet ends, map and
//! imap_unordered, join and kill.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use greenlight::event::Event;
use greenlight::pool::{Group, Pool};
use greenlight::JoinError;

const MS: Duration = Duration::from_millis(1);

#[test]
fn pool_never_runs_more_than_its_size() {
    let pool = Pool::new(3);
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    for _ in 0..12 {
        let (r, p) = (running.clone(), peak.clone());
        pool.spawn(move || {
            let now = r.fetch_add(1, Ordering::SeqCst) + 1;
            p.fetch_max(now, Ordering::SeqCst);
            greenlight::sleep(10 * MS);
            r.fetch_sub(1, Ordering::SeqCst);
        })
        .unwrap()
        .detach();
        assert!(pool.len() <= 3);
    }
    pool.join(Some(Duration::from_secs(2))).unwrap();
    assert_eq!(peak.load(Ordering::SeqCst), 3);
    assert_eq!(pool.free_count(), 3);
}

#[test]
fn try_spawn_fails_when_full_and_spawn_waits() {
    let pool = Pool::new(1);
    let first = pool.try_spawn(|| greenlight::sleep(50 * MS));
    assert!(first.is_ok());
    assert!(pool.is_full());
    assert!(pool.try_spawn(|| ()).is_err());
    let start = Instant::now();
    let second = pool.spawn(|| ()).unwrap();
    assert!(start.elapsed() >= 40 * MS, "spawn did not wait for a slot");
    second.join().unwrap();
    assert!(pool.spawn_timeout(MS, || ()).is_ok());
}

struct SetOnDrop(Arc<AtomicBool>);
impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn killed_greenlet_runs_its_guards_and_frees_its_slot() {
    let pool = Pool::new(2);
    let dropped = Arc::new(AtomicBool::new(false));
    let d = dropped.clone();
    let guarded = Event::new();
    let gd = guarded.clone();
    let g = pool
        .spawn(move || {
            let _guard = SetOnDrop(d);
            gd.set();
            greenlight::sleep(Duration::from_secs(10));
        })
        .unwrap();
    guarded.wait_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(pool.free_count(), 1);
    g.kill();
    assert_eq!(g.join(), Err(JoinError::Killed));
    assert!(dropped.load(Ordering::SeqCst));
    assert_eq!(pool.free_count(), 2);
    assert!(pool.is_empty());
}

#[test]
fn panicking_greenlet_frees_its_slot() {
    let pool = Pool::new(1);
    let g = pool
        .spawn(|| -> () { panic!("pool worker failed") })
        .unwrap();
    assert_eq!(
        g.join(),
        Err(JoinError::Panicked("pool worker failed".into()))
    );
    assert_eq!(pool.free_count(), 1);
}

#[test]
fn pool_kill_and_wait_available() {
    let pool = Pool::new(2);
    for _ in 0..2 {
        pool.spawn(|| greenlight::sleep(Duration::from_secs(10)))
            .unwrap()
            .detach();
    }
    assert!(pool.wait_available(Some(20 * MS)).is_err());
    let p = pool.clone();
    let waiter = greenlight::spawn(move || p.wait_available(Some(Duration::from_secs(10))));
    // Not a synchronisation: only a chance for the waiter to block before the kill (the
    // assertions hold either way).
    greenlight::sleep(10 * MS);
    pool.kill(Some(Duration::from_secs(2))).unwrap();
    assert_eq!(waiter.join(), Ok(Ok(())));
    assert_eq!(pool.free_count(), 2);
}

#[test]
fn map_keeps_order_and_runs_concurrently() {
    let pool = Pool::new(10);
    let (running, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (r, p) = (running.clone(), peak.clone());
    let start = Instant::now();
    let out = pool
        .map(
            move |i: u64| {
                let now = r.fetch_add(1, Ordering::SeqCst) + 1;
                p.fetch_max(now, Ordering::SeqCst);
                greenlight::sleep(Duration::from_millis(30 - i));
                r.fetch_sub(1, Ordering::SeqCst);
                i * 10
            },
            0..20,
        )
        .unwrap();
    assert_eq!(out, (0..20).map(|i| i * 10).collect::<Vec<_>>());
    let peak = peak.load(Ordering::SeqCst);
    assert!((2..=10).contains(&peak), "{peak} at once");
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn map_returns_the_first_error() {
    let pool = Pool::new(4);
    let r = pool.map(
        |i: u32| {
            if i == 3 {
                panic!("item 3 is bad");
            }
            i
        },
        0..8,
    );
    assert_eq!(r, Err(JoinError::Panicked("item 3 is bad".into())));
}

#[test]
fn imap_unordered_yields_in_completion_order() {
    let pool = Pool::new(5);
    let got: Vec<u64> = pool
        .imap_unordered(
            |ms: u64| {
                greenlight::sleep(Duration::from_millis(ms));
                ms
            },
            vec![240, 30, 150, 90, 3],
        )
        .map(Result::unwrap)
        .collect();
    assert_eq!(got, vec![3, 30, 90, 150, 240]);
    assert_eq!(pool.free_count(), 5);
}

#[test]
fn imap_unordered_reports_panics() {
    let pool = Pool::new(2);
    let results: Vec<_> = pool
        .imap_unordered(
            |i: u8| {
                if i == 1 {
                    panic!("one");
                }
                i
            },
            0..3,
        )
        .collect();
    assert_eq!(results.len(), 3);
    assert!(results.contains(&Err(JoinError::Panicked("one".into()))));
}

#[test]
fn group_join_and_kill() {
    let group = Group::new();
    let done = Arc::new(AtomicUsize::new(0));
    for i in 0..50 {
        let d = done.clone();
        group
            .spawn(move || {
                greenlight::sleep(Duration::from_millis(i % 10));
                d.fetch_add(1, Ordering::SeqCst);
            })
            .detach();
    }
    group.join(Some(Duration::from_secs(2))).unwrap();
    assert_eq!(done.load(Ordering::SeqCst), 50);
    assert!(group.is_empty());

    let gs: Vec<_> = (0..10)
        .map(|_| group.spawn(|| greenlight::sleep(Duration::from_secs(10))))
        .collect();
    assert_eq!(group.len(), 10);
    group.kill(Some(Duration::from_secs(2))).unwrap();
    assert!(group.is_empty());
    assert!(gs.into_iter().all(|g| g.join() == Err(JoinError::Killed)));
}
