//! Making room when the server is full: instead of refusing to accept (and leaving new
//! clients in the kernel's backlog behind a crowd of slow ones), close the connection that
//! costs the others the most. Idle keep-alive connections go first (their client loses
//! nothing: it reconnects, as it must after any keep-alive timeout); then the connection
//! that has been receiving an incomplete request the longest (a slow or silent client
//! holding a slot). Connections whose request is complete are never shed.

use std::net::Shutdown;
use std::sync::atomic::Ordering;

use super::conn::{CLOSING, IDLE, RECEIVING};
use super::shutdown::Registry;

/// Milliseconds on a coarse monotonic clock: a cheap age for entries, read twice per
/// keep-alive request (a scheduler tick, 1 to 4 ms, is its resolution; entries of the
/// same millisecond are told apart by their ids).
pub(crate) fn now_ms() -> u64 {
    crate::green::clock::coarse_monotonic_ms()
}

/// What was shed to make room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shed {
    /// An idle keep-alive connection.
    Idle,
    /// The connection receiving an incomplete request for the longest.
    Receiving,
    /// Nothing could be shed: every connection is working on a complete request.
    Nothing,
}

impl Registry {
    /// Closes one connection to make room for a new one (see the module doc). Its green
    /// thread sees the socket end, returns, and gives back its permit.
    pub(crate) fn shed_one(&self) -> Shed {
        let conns = self.conns.lock().expect("conns lock");
        // Idle first; the CAS fails only if the connection just woke up, then look on.
        for entry in conns.values() {
            let idle = &entry.state;
            if idle.load(Ordering::Relaxed) == IDLE
                && idle
                    .compare_exchange(IDLE, CLOSING, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok()
            {
                entry.socket.shutdown(Shutdown::Read);
                return Shed::Idle;
            }
        }
        loop {
            // Within one millisecond, the connection registered first.
            let oldest = conns
                .iter()
                .filter(|(_, e)| e.state.load(Ordering::Relaxed) == RECEIVING)
                .min_by_key(|(id, e)| (e.since.load(Ordering::Relaxed), **id));
            let Some((_, entry)) = oldest else {
                return Shed::Nothing;
            };
            if entry
                .state
                .compare_exchange(RECEIVING, CLOSING, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                log::debug!("shedding {}: the server is full", entry.peer);
                entry.socket.shutdown(Shutdown::Both);
                return Shed::Receiving;
            }
        }
    }
}
