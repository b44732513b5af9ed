//! Greenlets: results, panics, kills, spawn_later, joinall/killall, from greenlets and
//! from plain threads.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use greenlight::event::Event;
use greenlight::JoinError;

const MS: Duration = Duration::from_millis(1);

#[test]
fn join_returns_the_value_from_a_thread_and_from_a_greenlet() {
    assert_eq!(greenlight::spawn(|| 40 + 2).join(), Ok(42));
    let outer = greenlight::spawn(|| {
        let inner = greenlight::spawn(|| "inner");
        inner.join()
    });
    assert_eq!(outer.join(), Ok(Ok("inner")));
}

#[test]
fn a_panic_reaches_join_and_nothing_else() {
    let survivor = greenlight::spawn(|| {
        greenlight::sleep(50 * MS);
        "still here"
    });
    let bad = greenlight::spawn(|| -> u32 { panic!("greenlet exploded") });
    assert_eq!(
        bad.join(),
        Err(JoinError::Panicked("greenlet exploded".into()))
    );
    assert_eq!(survivor.join(), Ok("still here"));
    // The runtime still works.
    assert_eq!(greenlight::spawn(|| 1).join(), Ok(1));
}

struct SetOnDrop(Arc<AtomicBool>);
impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn kill_reports_killed_and_runs_the_guards() {
    let dropped = Arc::new(AtomicBool::new(false));
    let d = dropped.clone();
    let guarded = Event::new();
    let gd = guarded.clone();
    let g = greenlight::spawn(move || {
        let _guard = SetOnDrop(d);
        gd.set();
        greenlight::sleep(Duration::from_secs(10));
        "never"
    });
    guarded.wait_timeout(Duration::from_secs(10)).unwrap();
    let start = Instant::now();
    g.kill();
    assert_eq!(g.join(), Err(JoinError::Killed));
    // At once, not after the 10 s sleep.
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(dropped.load(Ordering::SeqCst));
}

#[test]
fn kill_before_it_starts_means_it_never_runs() {
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    let g = greenlight::spawn_later(Duration::from_millis(30), move || {
        r.store(true, Ordering::SeqCst)
    });
    g.kill();
    assert_eq!(g.join(), Err(JoinError::Killed));
    // The behaviour under test: its 30 ms delay passes, and still it does not run.
    greenlight::sleep(50 * MS);
    assert!(!ran.load(Ordering::SeqCst));
}

#[test]
fn killed_greenlet_blocked_on_a_queue_dies() {
    let q: greenlight::queue::Queue<u8> = greenlight::queue::Queue::unbounded();
    let q2 = q.clone();
    let g = greenlight::spawn(move || q2.get());
    // Not a synchronisation: only a chance for it to block before the kill (the
    // assertions hold either way).
    greenlight::sleep(10 * MS);
    g.kill();
    assert_eq!(
        g.join_timeout(Duration::from_secs(1)),
        Err(JoinError::Killed)
    );
    // The queue still works for others.
    q.put(1).unwrap();
    assert_eq!(q.get(), Ok(1));
}

#[test]
fn join_timeout_and_is_ready() {
    let g = greenlight::spawn(|| greenlight::sleep(100 * MS));
    assert!(!g.is_ready());
    assert_eq!(g.wait_timeout(20 * MS), Err(greenlight::TimeoutError));
    g.wait().unwrap();
    assert!(g.is_ready());
    assert_eq!(g.join(), Ok(()));

    let slow = greenlight::spawn(|| greenlight::sleep(Duration::from_secs(5)));
    let start = Instant::now();
    assert_eq!(slow.join_timeout(30 * MS), Err(JoinError::Timeout));
    let took = start.elapsed();
    // At the deadline, not after the 5 s sleep (with room for a loaded machine).
    assert!(took >= 29 * MS && took < Duration::from_secs(1), "{took:?}");
}

#[test]
fn spawn_later_waits_its_delay() {
    let start = Instant::now();
    let g = greenlight::spawn_later(50 * MS, move || start.elapsed());
    let ran_at = g.join().unwrap();
    assert!(
        ran_at >= 49 * MS && ran_at < Duration::from_secs(1),
        "{ran_at:?}"
    );
}

#[test]
fn joinall_runs_greenlets_concurrently() {
    let start = Instant::now();
    let gs: Vec<_> = (0..500)
        .map(|i| {
            greenlight::spawn(move || {
                greenlight::sleep(50 * MS);
                i
            })
        })
        .collect();
    greenlight::joinall(&gs, Some(Duration::from_secs(5))).unwrap();
    // Together in about 50 ms, not one after another in 25 s.
    let took = start.elapsed();
    assert!(took < Duration::from_secs(5), "{took:?}");
    let sum: usize = gs.into_iter().map(|g| g.join().unwrap()).sum();
    assert_eq!(sum, 499 * 500 / 2);
}

#[test]
fn joinall_times_out() {
    let gs = vec![greenlight::spawn(|| {
        greenlight::sleep(Duration::from_secs(5))
    })];
    let start = Instant::now();
    assert!(greenlight::joinall(&gs, Some(30 * MS)).is_err());
    // At the deadline, not after the 5 s sleep.
    assert!(start.elapsed() < Duration::from_secs(2));
    greenlight::killall(&gs, None).unwrap();
}

#[test]
fn killall_kills_every_greenlet() {
    let count = Arc::new(AtomicUsize::new(0));
    let started = Arc::new(AtomicUsize::new(0));
    let all_started = Event::new();
    let gs: Vec<_> = (0..20)
        .map(|_| {
            let (c, s, all) = (count.clone(), started.clone(), all_started.clone());
            greenlight::spawn(move || {
                let _g = CountOnDrop(c);
                if s.fetch_add(1, Ordering::SeqCst) + 1 == 20 {
                    all.set();
                }
                greenlight::sleep(Duration::from_secs(10));
            })
        })
        .collect();
    all_started.wait_timeout(Duration::from_secs(10)).unwrap();
    greenlight::killall(&gs, Some(Duration::from_secs(2))).unwrap();
    assert_eq!(count.load(Ordering::SeqCst), 20);
    for g in gs {
        assert_eq!(g.join(), Err(JoinError::Killed));
    }
}

struct CountOnDrop(Arc<AtomicUsize>);
impl Drop for CountOnDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn yield_now_lets_others_run() {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    let g = greenlight::spawn(move || {
        let other = greenlight::spawn(move || f.store(true, Ordering::SeqCst));
        let mut spins = 0;
        while !flag.load(Ordering::SeqCst) && spins < 100_000 {
            greenlight::yield_now();
            spins += 1;
        }
        other.join().unwrap();
        flag.load(Ordering::SeqCst)
    });
    assert_eq!(g.join(), Ok(true));
}
