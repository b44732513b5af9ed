//! Event and AsyncResult, waited for from greenlets and threads.

use std::time::Duration;

use greenlight::event::{AsyncError, AsyncResult, Event};

const MS: Duration = Duration::from_millis(1);

#[test]
fn set_wakes_every_waiter() {
    let ev = Event::new();
    let greenlets: Vec<_> = (0..20)
        .map(|_| {
            let ev = ev.clone();
            greenlight::spawn(move || ev.wait_timeout(Duration::from_secs(2)))
        })
        .collect();
    let thread = {
        let ev = ev.clone();
        std::thread::spawn(move || ev.wait_timeout(Duration::from_secs(2)))
    };
    // Not a synchronisation: only a chance for the waiters to block before the set (the
    // assertions hold either way).
    greenlight::sleep(10 * MS);
    assert!(greenlets.iter().all(|g| !g.is_ready()));
    ev.set();
    for g in greenlets {
        assert_eq!(g.join(), Ok(Ok(())));
    }
    assert_eq!(thread.join().unwrap(), Ok(()));
}

#[test]
fn clear_makes_waits_block_again() {
    let ev = Event::new();
    ev.set();
    ev.wait().unwrap();
    ev.clear();
    assert!(!ev.is_set());
    assert!(ev.wait_timeout(10 * MS).is_err());
}

#[test]
fn async_result_delivers_a_value_once_to_all() {
    let r: AsyncResult<String> = AsyncResult::new();
    let waiters: Vec<_> = (0..5)
        .map(|_| {
            let r = r.clone();
            greenlight::spawn(move || r.get())
        })
        .collect();
    let producer = r.clone();
    greenlight::spawn_later(10 * MS, move || {
        assert!(producer.set("v".to_string()));
        assert!(!producer.set("w".to_string()));
        assert!(!producer.set_error("e".to_string()));
    })
    .join()
    .unwrap();
    for w in waiters {
        assert_eq!(w.join(), Ok(Ok("v".to_string())));
    }
}

#[test]
fn async_result_delivers_an_error() {
    let r: AsyncResult<u8, &'static str> = AsyncResult::new();
    let r2 = r.clone();
    std::thread::spawn(move || r2.set_error("refused"));
    assert_eq!(
        r.get_timeout(Duration::from_secs(2)),
        Err(AsyncError::Failed("refused"))
    );
    assert_eq!(r.peek(), Some(Err("refused")));
}
