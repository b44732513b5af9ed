//! The sweep: one OS thread per server that wakes connections [`park`](super::Conn::park)ed
//! past their time.
//!
//! A keep-alive connection waits for its next request without a timer per wait: it writes
//! when it should give up into its slot of the registry's [`Parked`] table, and parks on
//! its socket's readiness. Ten times a second the sweep reads the table (an array of a cache
//! line per slot, so that threads writing their connections' slots never share a line: ten
//! thousand connections are 640 KB read in microseconds, without the registry's lock) and
//! wakes the connections whose time has come; they find nothing to read and move on (to
//! wait without a green thread). Under load a connection's next request comes long
//! before, and its wait costs two stores to its own slot, instead of a timer armed in a
//! list its socket shares with other threads' connections and a read tried before every
//! wait.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use super::conn::ConnEntry;
use super::shutdown::Registry;

/// How often the sweep runs: the lateness a parked connection may be woken with.
pub(crate) const SWEEP_EVERY: Duration = Duration::from_millis(100);
/// Slots per chunk of the table, and chunks at most: a million connections that park.
const CHUNK: usize = 1024;
const CHUNKS: usize = 1024;

/// When each parked connection of a registry is to be woken: a slot per connection that
/// has parked (claimed at its first park, freed when it closes), 0 when it is not parked.
/// Slots live in chunks that never move, so a connection keeps a plain index to its own.
pub(crate) struct Parked {
    chunks: Box<[OnceLock<Box<[Slot]>>]>,
    /// Slots handed out so far: the sweep reads these.
    high: AtomicUsize,
    owners: Mutex<Owners>,
}

/// One connection's wake-up time, on a cache line of its own: connections served by
/// different threads write theirs on every wait, and slots sharing a line would make
/// those threads take the line from each other.
#[repr(align(64))]
struct Slot(AtomicU64);

#[derive(Default)]
struct Owners {
    /// Each slot's connection.
    of: Vec<Option<Arc<ConnEntry>>>,
    free: Vec<usize>,
}

impl Parked {
    pub(crate) fn new() -> Self {
        Parked {
            chunks: (0..CHUNKS).map(|_| OnceLock::new()).collect(),
            high: AtomicUsize::new(0),
            owners: Mutex::new(Owners::default()),
        }
    }

    /// A slot for `entry`, or `None` when the table is full.
    pub(super) fn claim(&self, entry: &Arc<ConnEntry>) -> Option<usize> {
        let mut owners = self.owners.lock().expect("parked lock");
        let slot = match owners.free.pop() {
            Some(slot) => slot,
            None if owners.of.len() < CHUNK * CHUNKS => {
                owners.of.push(None);
                owners.of.len() - 1
            }
            None => return None,
        };
        self.chunks[slot / CHUNK]
            .get_or_init(|| (0..CHUNK).map(|_| Slot(AtomicU64::new(0))).collect());
        owners.of[slot] = Some(entry.clone());
        self.high.store(owners.of.len(), Ordering::Release);
        Some(slot)
    }

    /// Gives back the slot of `entry`, a connection that closed, if it claimed one.
    pub(super) fn free_of(&self, entry: &ConnEntry) {
        if let Some(&Some(slot)) = entry.slot.get() {
            self.free(slot);
        }
    }

    /// Gives back a slot.
    fn free(&self, slot: usize) {
        self.slot(slot).store(0, Ordering::Relaxed);
        let mut owners = self.owners.lock().expect("parked lock");
        owners.of[slot] = None;
        owners.free.push(slot);
    }

    /// A claimed slot.
    pub(super) fn slot(&self, slot: usize) -> &AtomicU64 {
        let chunk = self.chunks[slot / CHUNK]
            .get()
            .expect("a claimed slot's chunk");
        &chunk[slot % CHUNK].0
    }

    /// Collects the connections parked until `now` or earlier.
    fn due(&self, now: u64, slots: &mut Vec<usize>, into: &mut Vec<Arc<ConnEntry>>) {
        let high = self.high.load(Ordering::Acquire);
        for (c, chunk) in self.chunks[..high.div_ceil(CHUNK)].iter().enumerate() {
            let Some(chunk) = chunk.get() else { continue };
            for (i, at) in chunk.iter().enumerate() {
                let at = at.0.load(Ordering::Acquire);
                if at != 0 && at <= now {
                    slots.push(c * CHUNK + i);
                }
            }
        }
        if slots.is_empty() {
            return;
        }
        let owners = self.owners.lock().expect("parked lock");
        into.extend(slots.drain(..).filter_map(|s| owners.of[s].clone()));
    }
}

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
    let (mut slots, mut due) = (Vec::new(), Vec::new());
    loop {
        std::thread::sleep(SWEEP_EVERY);
        let Some(registry) = registry.upgrade() else {
            return;
        };
        registry
            .parked
            .due(super::shed::now_ms(), &mut slots, &mut due);
        drop(registry);
        // A wake-up may write to an event descriptor: no lock is held.
        for entry in due.drain(..) {
            if let Some(w) = entry.waker.get() {
                w.wake();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::{Addr, Stream};

    fn entry() -> Arc<ConnEntry> {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = Stream::Tcp(may::net::TcpStream::connect(l.local_addr().unwrap()).unwrap());
        let peer = Addr::Tcp(l.local_addr().unwrap());
        Arc::new(ConnEntry::new(&stream, &peer))
    }

    #[test]
    fn only_connections_parked_past_their_time_are_due() {
        let parked = Parked::new();
        let (a, b, c) = (entry(), entry(), entry());
        let sa = parked.claim(&a).unwrap();
        let sb = parked.claim(&b).unwrap();
        parked.claim(&c).unwrap();
        parked.slot(sa).store(100, Ordering::Relaxed);
        parked.slot(sb).store(300, Ordering::Relaxed);
        // c is not parked (0).
        let (mut slots, mut due) = (Vec::new(), Vec::new());
        parked.due(200, &mut slots, &mut due);
        assert_eq!(due.len(), 1);
        assert!(Arc::ptr_eq(&due[0], &a));
        due.clear();
        parked.due(300, &mut slots, &mut due);
        assert_eq!(due.len(), 2);
        // A freed slot is neither due nor kept, and is handed out again.
        due.clear();
        parked.free(sa);
        parked.due(1000, &mut slots, &mut due);
        assert_eq!(due.len(), 1);
        assert!(Arc::ptr_eq(&due[0], &b));
        assert_eq!(parked.claim(&a), Some(sa));
        assert_eq!(parked.slot(sa).load(Ordering::Relaxed), 0);
        assert_ne!(sb, sa);
    }

    #[test]
    fn slots_span_chunks() {
        let parked = Parked::new();
        let e = entry();
        let slots: Vec<usize> = (0..CHUNK + 10).map(|_| parked.claim(&e).unwrap()).collect();
        let last = *slots.last().unwrap();
        assert_eq!(last, CHUNK + 9);
        parked.slot(last).store(5, Ordering::Relaxed);
        let (mut s, mut due) = (Vec::new(), Vec::new());
        parked.due(5, &mut s, &mut due);
        assert_eq!(due.len(), 1);
    }
}
