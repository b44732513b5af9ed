//! The sweep: one OS thread per server that wakes connections [`park`](super::Conn::park)ed
//! past their time.
//!
//! A keep-alive connection waits for its next request without a timer per wait: it notes
//! in its registry entry when it should give up, and parks on its socket's readiness. Ten
//! times a second the sweep looks through the registry and wakes the connections whose
//! time has come; they find nothing to read and move on (to wait without a green thread).
//! Under load a connection's next request comes long before, and its wait costs two stores
//! to its own entry, instead of a timer armed in a list its socket shares with other
//! threads' connections and a read tried before every wait.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::conn::ConnEntry;
use super::shutdown::Registry;

/// How often the sweep runs: the lateness a parked connection may be woken with.
pub(crate) const SWEEP_EVERY: Duration = Duration::from_millis(100);

/// Starts the sweep of `registry`, once; it ends when the registry is dropped. Returns
/// whether it runs (a thread could be started).
pub(super) fn ensure(registry: &Arc<Registry>) -> bool {
    *registry.sweeping.get_or_init(|| {
        let weak = Arc::downgrade(registry);
        let spawned = std::thread::Builder::new()
            .name("greenlight-sweep".into())
            .spawn(move || run(weak));
        if let Err(e) = &spawned {
            log::error!("cannot start the idle sweep (keep-alive waits use timers): {e}");
        }
        spawned.is_ok()
    })
}

fn run(registry: Weak<Registry>) {
    let mut due = Vec::new();
    loop {
        std::thread::sleep(SWEEP_EVERY);
        let Some(registry) = registry.upgrade() else {
            return;
        };
        registry.overdue(super::shed::now_ms(), &mut due);
        drop(registry);
        for entry in due.drain(..) {
            if let Some(w) = entry.waker.get() {
                w.wake();
            }
        }
    }
}

impl Registry {
    /// Collects the connections parked until `now` or earlier. They are woken after the
    /// registry's lock is released (a wake-up may write to an event descriptor).
    pub(super) fn overdue(&self, now: u64, into: &mut Vec<Arc<ConnEntry>>) {
        let conns = self.conns.lock().expect("conns lock");
        into.extend(
            conns
                .values()
                .filter(|e| {
                    let at = e.wake_at.load(Ordering::Acquire);
                    at != 0 && at <= now
                })
                .cloned(),
        );
    }
}
