//! The registry of live connections, and the graceful stop that walks it: stop accepting,
//! close idle connections, let busy ones finish within the grace period, cancel the rest.
//! It also reaps connections whose green thread ended without unwinding.

use std::collections::HashMap;
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use may::sync::{Semphore, SyncFlag};

use super::accept::AcceptGate;
use super::conn::{ConnEntry, CLOSING, IDLE, WAITING};
use crate::green::{pause, CoExit, CoHandle};
use crate::net::Addr;

/// How often a stop checks whether connections have finished.
const STOP_POLL: Duration = Duration::from_millis(5);
/// While draining, how often idle connections are looked for again.
const RESCAN_EVERY: Duration = Duration::from_millis(50);
/// When a stop begins, and whenever a connection goes idle during one, how long that idle
/// keep-alive connection may still send one more request (answered with `Connection:
/// close`) before a scan closes it. A client sends its next request without knowing of the
/// stop: one already on its way when its connection closed would be lost (reset), and a
/// client under load sends well within this. Only a connection idle this long can still
/// meet that race, as with any server.
const IDLE_LAST_CALL: Duration = Duration::from_millis(100);
/// How long idle connections get to close at the end of a stop before the rest are
/// cancelled.
const IDLE_CLOSE_WAIT: Duration = Duration::from_millis(50);
/// After the grace period, how long cancelled connections get to unwind.
const CANCEL_WAIT: Duration = Duration::from_secs(2);

/// What the accept loops, the connections and the handles of one server share: the live
/// connections, their count and limit, and the state of a stop.
///
/// The connection map uses a std `Mutex` on purpose: it is held only for O(1) map operations
/// and for the stop-time scan, never across a yield, so it cannot stall a worker for long;
/// and unlike may's mutex it never parks, so a connection's `Drop` stays safe while its green
/// thread unwinds from a cancellation (a may call there would re-panic and abort).
pub(crate) struct Registry {
    stopping: AtomicBool,
    force: AtomicBool,
    active: AtomicUsize,
    /// Connections whose green thread ended without unwinding (a stack overflow).
    abandoned: AtomicU64,
    next_id: AtomicU64,
    pub(super) conns: Mutex<HashMap<u64, Arc<ConnEntry>>>,
    /// The connection limit (`None`: no limit); a permit per live connection.
    pub(crate) limit: Option<Semphore>,
    acceptors: Mutex<Vec<(CoHandle, Addr)>>,
    stopped: SyncFlag,
    stop_started: AtomicBool,
    pub(crate) graceful_timeout: Duration,
    /// Shares accepting with the other workers of a master (see [`AcceptGate`]).
    pub(crate) gate: Option<Arc<dyn AcceptGate>>,
    /// Whether the sweep that wakes parked connections runs, once it was started (see
    /// [`super::sweep`]).
    pub(super) sweeping: std::sync::OnceLock<bool>,
    /// When parked connections are to be woken.
    pub(super) parked: super::sweep::Parked,
}

impl Registry {
    /// An empty registry for at most `max_connections` (0: no limit).
    pub(crate) fn new(max_connections: usize, graceful_timeout: Duration) -> Self {
        Registry {
            stopping: AtomicBool::new(false),
            force: AtomicBool::new(false),
            active: AtomicUsize::new(0),
            abandoned: AtomicU64::new(0),
            next_id: AtomicU64::new(1),
            conns: Mutex::new(HashMap::new()),
            limit: (max_connections > 0).then(|| Semphore::new(max_connections)),
            acceptors: Mutex::new(Vec::new()),
            stopped: SyncFlag::new(),
            stop_started: AtomicBool::new(false),
            graceful_timeout,
            gate: None,
            sweeping: std::sync::OnceLock::new(),
            parked: super::sweep::Parked::new(),
        }
    }

    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Connections being served now.
    pub(crate) fn active(&self) -> usize {
        self.active.load(Ordering::SeqCst)
    }

    /// Connections registered as idle (between keep-alive requests).
    pub(crate) fn idle(&self) -> usize {
        let conns = self.conns.lock().expect("conns lock");
        conns
            .values()
            .filter(|e| e.state.load(Ordering::Relaxed) == IDLE)
            .count()
    }

    /// Idle connections waiting without a green thread (see
    /// [`hibernate`](super::conn::hibernate)).
    pub(crate) fn hibernating(&self) -> usize {
        let conns = self.conns.lock().expect("conns lock");
        conns
            .values()
            .filter(|e| {
                e.state.load(Ordering::Relaxed) == IDLE
                    && e.thread.lock().expect("entry lock").is_none()
            })
            .count()
    }

    /// Connections abandoned by a stack overflow since the start.
    pub(crate) fn abandoned(&self) -> u64 {
        self.abandoned.load(Ordering::SeqCst)
    }

    /// Remembers the accept loops, for a stop to wake and wait for.
    pub(crate) fn set_acceptors(&self, acceptors: Vec<(CoHandle, Addr)>) {
        *self.acceptors.lock().expect("acceptors lock") = acceptors;
    }

    /// Counts a new connection in and registers it; returns its id. Registered before its
    /// green thread can run, so that it is known however quickly it ends.
    pub(crate) fn register(&self, entry: Arc<ConnEntry>) -> u64 {
        let n = self.active.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some(g) = &self.gate {
            g.publish(n);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.conns.lock().expect("conns lock").insert(id, entry);
        id
    }

    pub(crate) fn deregister(&self, id: u64) {
        let entry = self.conns.lock().expect("conns lock").remove(&id);
        if let Some(entry) = entry {
            self.parked.free_of(&entry);
        }
    }

    /// Counts a connection out and gives back its permit (its green thread ended).
    pub(crate) fn release(&self) {
        if let Some(s) = &self.limit {
            s.post();
        }
        let n = self.active.fetch_sub(1, Ordering::SeqCst) - 1;
        if let Some(g) = &self.gate {
            g.publish(n);
        }
    }

    /// Finds connections whose green thread is over but never deregistered: a stack
    /// overflow ends a green thread without unwinding it, so its `Conn` (and socket), its
    /// count and its permit would leak, and its client would wait forever. Closes their
    /// sockets and gives back what they held. Returns how many were found.
    pub(crate) fn reap_abandoned(&self) -> usize {
        let mut conns = self.conns.lock().expect("conns lock");
        let dead: Vec<u64> = conns
            .iter()
            .filter(|(_, e)| e.is_done())
            .map(|(id, _)| *id)
            .collect();
        for id in &dead {
            let entry = conns.remove(id).expect("listed");
            self.parked.free_of(&entry);
            let thread = entry.thread.lock().expect("entry lock").take();
            let why = match thread.map(CoHandle::join) {
                Some(CoExit::StackOverflow) => {
                    "overflowed its stack (raise --stack-size)".to_owned()
                }
                Some(CoExit::Panicked(msg)) => format!("ended abnormally: {msg}"),
                Some(CoExit::Cancelled) => "ended abnormally: cancelled".to_owned(),
                _ => "ended without closing its connection".to_owned(),
            };
            log::error!(
                "the green thread serving {} {why}; its connection was closed",
                entry.peer
            );
            // The abandoned `Conn` will never run again nor close its socket; the entry was
            // registered, so the descriptor is still the connection's, and it is closed
            // once, here, under the registry lock.
            entry.socket.close_abandoned();
            self.release();
            self.abandoned.fetch_add(1, Ordering::SeqCst);
        }
        dead.len()
    }

    /// Closes the read side of waiting (long-lived) connections and of those idle for at
    /// least `min_idle` (their last call: a client's next request may be on its way):
    /// their handlers see end-of-stream and finish. Busy ones are left to finish their
    /// exchange.
    fn close_idle(&self, min_idle: Duration) {
        let conns = self.conns.lock().expect("conns lock");
        let now = super::shed::now_ms();
        for entry in conns.values() {
            // The state first: a connection stores `since` before it moves to IDLE, so one
            // seen IDLE here shows the start of this idle period, never an older one (read
            // the other way round, a connection going idle after a long request would look
            // idle for that long, and lose its last call).
            let state = entry.state.load(Ordering::SeqCst);
            let since = entry.since.load(Ordering::SeqCst);
            if state == IDLE && now.saturating_sub(since) < min_idle.as_millis() as u64 {
                continue;
            }
            let closed = [IDLE, WAITING].into_iter().any(|from| {
                entry
                    .state
                    .compare_exchange(from, CLOSING, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok()
            });
            if closed {
                entry.socket.shutdown(Shutdown::Read);
            }
        }
    }

    /// Shuts down every connection and cancels its green thread: the handler unwinds at its
    /// next blocking call, running its destructors.
    fn cancel_all(&self) {
        let conns = self.conns.lock().expect("conns lock");
        for entry in conns.values() {
            entry.state.store(CLOSING, Ordering::SeqCst);
            entry.socket.shutdown(Shutdown::Both);
            if let Some(h) = entry.thread.lock().expect("entry lock").as_ref() {
                h.cancel();
            }
        }
    }

    /// Ends a stop in progress at once.
    pub(crate) fn force_stop(&self) {
        self.force.store(true, Ordering::SeqCst);
        self.stop(Duration::ZERO);
    }

    /// Stops gracefully within `grace`; returns when the server has stopped.
    pub(crate) fn stop(&self, grace: Duration) {
        if self.stop_started.swap(true, Ordering::SeqCst) {
            // Someone else is stopping: wait for them (a shorter grace still applies).
            if grace.is_zero() {
                self.force.store(true, Ordering::SeqCst);
            }
            self.stopped.wait();
            return;
        }
        self.stopping.store(true, Ordering::SeqCst);
        self.stop_accepting();
        self.drain(Instant::now() + grace);
        self.cancel_rest();
        self.stopped.fire();
    }

    /// Waits until the server has stopped.
    pub(crate) fn wait_stopped(&self) {
        self.stopped.wait();
    }

    /// Wakes each accept loop, wherever it waits (in `accept`, or for a connection permit),
    /// by cancelling its green thread, and waits for it to end: it takes what is left in the
    /// listen backlog, returns and closes its listener (removing a unix socket file).
    fn stop_accepting(&self) {
        let acceptors = std::mem::take(&mut *self.acceptors.lock().expect("acceptors lock"));
        for (h, _) in &acceptors {
            h.cancel();
        }
        for (h, addr) in acceptors {
            if let CoExit::Panicked(why) = h.join() {
                log::error!("the accept loop on {addr} ended abnormally: {why}");
            }
        }
    }

    /// Closes idle keep-alive connections and lets running handlers finish until
    /// `deadline` (or a forced stop).
    fn drain(&self, deadline: Instant) {
        let mut next_scan = Instant::now() + IDLE_LAST_CALL;
        while self.active() > 0 && Instant::now() < deadline && !self.force.load(Ordering::SeqCst) {
            pause(STOP_POLL);
            // Connections that went idle since the last scan are closed too, each after a
            // last call of its own.
            if Instant::now() >= next_scan {
                self.reap_abandoned();
                self.close_idle(IDLE_LAST_CALL);
                next_scan = Instant::now() + RESCAN_EVERY;
            }
        }
    }

    /// Cancels whatever is left after the grace period and gives it a moment to unwind.
    fn cancel_rest(&self) {
        // Idle connections are closed without a word: only work cut short deserves the
        // warning. A connection accepted a moment ago may not have run yet: it gets the
        // same short wait to go idle.
        let until = Instant::now() + IDLE_CLOSE_WAIT;
        while self.active() > 0 && Instant::now() < until {
            self.close_idle(Duration::ZERO);
            pause(STOP_POLL);
        }
        let left = self.active();
        if left > 0 {
            log::warn!("grace period over: cancelling {left} connection(s)");
            self.cancel_all();
            let until = Instant::now() + CANCEL_WAIT;
            while self.active() > 0 && Instant::now() < until {
                pause(STOP_POLL);
            }
        }
    }
}
