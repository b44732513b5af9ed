//! Alarms: a wake-up call at a time, from one timer thread for the whole process.
//!
//! For waits that `may` cannot bound by a deadline itself: a green thread parked on its
//! socket's readiness (a WebSocket waiting for its client or for a message to pass on)
//! has no timeout, so its idle limit is an alarm that wakes it. Every armed alarm is one
//! entry in one ordered map (removed when it fires or when the alarm is dropped), so
//! 10,000 idle connections cost 10,000 map entries and one sleeping thread, not 10,000
//! timers polling.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::Thread;
use std::time::Instant;

use super::wait::SpinLock;

/// What an alarm does when it fires; it must not block (it runs on the timer thread).
pub(crate) type Wake = Arc<dyn Fn() + Send + Sync>;

struct Entry {
    wake: Wake,
    fired: Arc<AtomicBool>,
}

struct Service {
    armed: SpinLock<BTreeMap<(Instant, u64), Entry>>,
    thread: Thread,
}

fn service() -> &'static Service {
    static SERVICE: OnceLock<&'static Service> = OnceLock::new();
    SERVICE.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<&'static Service>();
        let handle = std::thread::Builder::new()
            .name("greenlight-alarm".into())
            .spawn(move || {
                let service = rx.recv().expect("the alarm service is sent once");
                service.run()
            })
            .expect("spawn the alarm thread");
        let service: &'static Service = Box::leak(Box::new(Service {
            armed: SpinLock::new(BTreeMap::new()),
            thread: handle.thread().clone(),
        }));
        tx.send(service)
            .expect("the alarm thread waits for its service");
        service
    })
}

impl Service {
    fn run(&self) -> ! {
        let mut due = Vec::new();
        loop {
            let now = Instant::now();
            let next = {
                let mut armed = self.armed.lock();
                while let Some(entry) = armed.first_entry() {
                    if entry.key().0 > now {
                        break;
                    }
                    due.push(entry.remove());
                }
                armed.keys().next().map(|k| k.0)
            };
            for entry in due.drain(..) {
                entry.fired.store(true, Ordering::Release);
                (entry.wake)();
            }
            // An alarm armed earlier than `next` meanwhile unparks us (the park token
            // covers an unpark that comes before the park).
            match next {
                Some(at) => std::thread::park_timeout(at.saturating_duration_since(now)),
                None => std::thread::park(),
            }
        }
    }
}

/// A wake-up call at a set time, for one waiter: when it fires, [`Alarm::take_fired`]
/// turns true and its `wake` runs (on the timer thread). At most one time is armed;
/// dropping the alarm disarms it.
pub(crate) struct Alarm {
    wake: Wake,
    fired: Arc<AtomicBool>,
    armed: Option<(Instant, u64)>,
}

impl Alarm {
    pub(crate) fn new(wake: Wake) -> Alarm {
        Alarm {
            wake,
            fired: Arc::new(AtomicBool::new(false)),
            armed: None,
        }
    }

    /// Arms the alarm for `at` (replacing any earlier setting).
    pub(crate) fn set(&mut self, at: Instant) {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        self.cancel();
        let key = (at, NEXT.fetch_add(1, Ordering::Relaxed));
        let service = service();
        let first = {
            let mut armed = service.armed.lock();
            armed.insert(
                key,
                Entry {
                    wake: self.wake.clone(),
                    fired: self.fired.clone(),
                },
            );
            armed.keys().next() == Some(&key)
        };
        self.armed = Some(key);
        if first {
            service.thread.unpark();
        }
    }

    /// Whether the alarm is armed (and has not fired).
    pub(crate) fn is_set(&self) -> bool {
        self.armed.is_some() && !self.fired.load(Ordering::Acquire)
    }

    /// Whether it fired since the last call; a fired alarm is no longer armed.
    pub(crate) fn take_fired(&mut self) -> bool {
        let fired = self.fired.swap(false, Ordering::AcqRel);
        if fired {
            self.armed = None;
        }
        fired
    }

    /// Disarms the alarm.
    pub(crate) fn cancel(&mut self) {
        if let Some(key) = self.armed.take() {
            service().armed.lock().remove(&key);
        }
        self.fired.store(false, Ordering::Release);
    }
}

impl Drop for Alarm {
    fn drop(&mut self) {
        self.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn fires_in_order_and_not_when_cancelled() {
        let (tx, rx) = mpsc::channel();
        let wake = |n: u32| -> Wake {
            let tx = std::sync::Mutex::new(tx.clone());
            Arc::new(move || {
                let _ = tx.lock().unwrap().send(n);
            })
        };
        let now = Instant::now();
        let mut late = Alarm::new(wake(2));
        let mut early = Alarm::new(wake(1));
        let mut never = Alarm::new(wake(3));
        late.set(now + Duration::from_millis(60));
        never.set(now + Duration::from_millis(30));
        early.set(now + Duration::from_millis(20));
        never.cancel();
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(1));
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(2));
        assert!(early.take_fired() && late.take_fired() && !never.take_fired());
        assert!(!early.is_set());
        assert!(rx.recv_timeout(Duration::from_millis(50)).is_err());
    }
}
