//! Semaphore and BoundedSemaphore: limits, RAII guards, release on kill.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use greenlight::event::Event;
use greenlight::lock::{BoundedSemaphore, Semaphore};

const MS: Duration = Duration::from_millis(1);

#[test]
fn semaphore_limits_concurrency() {
    let sem = Semaphore::new(2);
    let inside = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let gs: Vec<_> = (0..10)
        .map(|_| {
            let (sem, inside, peak) = (sem.clone(), inside.clone(), peak.clone());
            greenlight::spawn(move || {
                let _permit = sem.acquire().unwrap();
                let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                greenlight::sleep(5 * MS);
                inside.fetch_sub(1, Ordering::SeqCst);
            })
        })
        .collect();
    greenlight::joinall(&gs, Some(Duration::from_secs(2))).unwrap();
    assert_eq!(peak.load(Ordering::SeqCst), 2);
    assert_eq!(sem.available(), 2);
}

#[test]
fn killed_holder_gives_its_permit_back() {
    let sem = Semaphore::new(1);
    let s = sem.clone();
    let holding = Event::new();
    let h = holding.clone();
    let holder = greenlight::spawn(move || {
        let _permit = s.acquire().unwrap();
        h.set();
        greenlight::sleep(Duration::from_secs(10));
    });
    holding.wait_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(sem.available(), 0);
    let s = sem.clone();
    let waiter = greenlight::spawn(move || s.acquire_timeout(Duration::from_secs(2)).map(|_| ()));
    holder.kill();
    assert_eq!(waiter.join(), Ok(Ok(())));
    assert_eq!(sem.available(), 1);
}

#[test]
fn killed_waiter_does_not_swallow_a_permit() {
    let sem = Semaphore::new(0);
    let s = sem.clone();
    let doomed = greenlight::spawn(move || s.acquire().map(|_| ()));
    let s = sem.clone();
    let patient = greenlight::spawn(move || s.acquire_timeout(Duration::from_secs(10)).map(|_| ()));
    // Not a synchronisation: only a chance for `doomed` to block before it is killed (the
    // assertions hold either way).
    greenlight::sleep(10 * MS);
    doomed.kill();
    let _ = doomed.join();
    sem.release();
    assert_eq!(patient.join(), Ok(Ok(())));
}

#[test]
fn works_between_threads_and_greenlets() {
    let sem = Semaphore::new(0);
    let s = sem.clone();
    let t = std::thread::spawn(move || s.acquire_timeout(Duration::from_secs(2)).is_ok());
    greenlight::spawn(move || sem.release()).join().unwrap();
    assert!(t.join().unwrap());
}

#[test]
fn bounded_semaphore_refuses_extra_release() {
    let sem = BoundedSemaphore::new(1);
    drop(sem.acquire().unwrap());
    assert_eq!(sem.available(), 1);
    let s = sem.clone();
    let r = greenlight::spawn(move || s.release()).join();
    assert!(matches!(r, Err(greenlight::JoinError::Panicked(_))));
    assert_eq!(sem.available(), 1);
}
