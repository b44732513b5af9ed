//! Fair accepting across the workers of one master.
//!
//! Workers share one listening socket, and the kernel hands each new connection to
//! whichever worker calls `accept` first: under a burst (a load balancer or a benchmark
//! opening its keep-alive connections) the first worker to wake takes most of them, and a
//! keep-alive load then stays as unevenly spread as it was accepted (gunicorn #2938 and
//! Granian #849 report the same). So the workers publish how many connections each serves
//! on a shared board (a `memfd` the master creates and every worker maps), and a worker
//! that serves more than another worker waiting in `accept` steps back for a moment (up
//! to [`MAX_DEFER`]), letting that one take the next connection.
//!
//! The alternative, one `SO_REUSEPORT` socket per worker (`--reuse-port`), spreads
//! connections by a hash of their addresses: even on average, uneven for a few hundred
//! connections, and blind to how busy each worker is.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::server::AcceptGate;
use crate::shm::{inheritable, Segment, Shareable};

/// Workers a board has room for (more are served, without a slot: they accept freely).
pub(crate) const SLOTS: usize = 256;
/// A worker steps back for another at most this long per connection: a worker that says
/// it waits in `accept` but does not take connections (stuck in a long CPU-bound handler)
/// delays new connections by this, no more.
const MAX_DEFER: Duration = Duration::from_millis(5);
/// How long one step back lasts.
const STEP: Duration = Duration::from_millis(1);

/// One worker's line on the board, on a cache line of its own.
#[repr(C, align(64))]
#[derive(Default)]
struct Slot {
    /// The worker's pid; 0: a free slot.
    pid: AtomicU32,
    /// Connections it serves now.
    conns: AtomicU32,
    /// 1 while its accept loop takes connections (not full, not stopped).
    waiting: AtomicU32,
}

#[repr(C)]
struct Board {
    /// One more than the highest slot in use (the master keeps it), so that a look at the
    /// board reads only the lines of live workers.
    used: Slot,
    slots: [Slot; SLOTS],
}

// SAFETY: `Board` is `repr(C)` and made of atomics only.
unsafe impl Shareable for Board {}

/// The board, mapped shared, with its descriptor (to hand to workers).
pub(crate) struct Mapped {
    board: Segment<Board>,
    fd: OwnedFd,
}

impl Mapped {
    /// A new, zeroed board (the master's).
    pub(crate) fn create() -> io::Result<Mapped> {
        let (board, fd) = Segment::create(c"greenlight-balance")?;
        Ok(Mapped { board, fd })
    }

    /// Maps the board the master passed as `fd`.
    ///
    /// # Safety
    ///
    /// `fd` must be a descriptor this process owns and nothing else will close.
    pub(crate) unsafe fn open(fd: RawFd) -> io::Result<Mapped> {
        // SAFETY: the caller hands over ownership of `fd`.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Mapped {
            board: Segment::open(&fd)?,
            fd,
        })
    }

    fn board(&self) -> &Board {
        &self.board
    }

    /// A descriptor of the board without close-on-exec, for a worker about to start (the
    /// caller closes it once the worker started).
    pub(crate) fn share(&self) -> io::Result<OwnedFd> {
        inheritable(&self.fd)
    }

    /// Empties slot `i` (its worker is gone, or is about to start there).
    pub(crate) fn clear(&self, i: usize) {
        if let Some(s) = self.board().slots.get(i) {
            s.waiting.store(0, Ordering::Relaxed);
            s.conns.store(0, Ordering::Relaxed);
            s.pid.store(0, Ordering::Release);
        }
    }

    /// Says which slots are in use: those below `n` (the master's, after each change).
    pub(crate) fn set_used(&self, n: usize) {
        let n = u32::try_from(n.min(SLOTS)).unwrap_or(0);
        self.board().used.conns.store(n, Ordering::Release);
    }

    /// The worker's side: slot `i` is this process's.
    pub(crate) fn into_gate(self, i: usize) -> Option<Gate> {
        let slot = self.board().slots.get(i)?;
        slot.conns.store(0, Ordering::Relaxed);
        slot.waiting.store(0, Ordering::Relaxed);
        slot.pid.store(std::process::id(), Ordering::Release);
        Some(Gate { board: self, me: i })
    }
}

/// A worker's place on the board (see the module's documentation).
pub(crate) struct Gate {
    board: Mapped,
    me: usize,
}

impl Gate {
    fn mine(&self) -> &Slot {
        &self.board.board().slots[self.me]
    }

    /// Whether another worker waits in `accept` serving fewer connections than `mine`
    /// (by two or more: a difference of one is as even as an odd count gets).
    fn someone_lighter(&self, mine: u32) -> bool {
        let board = self.board.board();
        let used = (board.used.conns.load(Ordering::Acquire) as usize).min(SLOTS);
        board.slots[..used].iter().enumerate().any(|(i, s)| {
            i != self.me
                && s.pid.load(Ordering::Acquire) != 0
                && s.waiting.load(Ordering::Relaxed) == 1
                && s.conns.load(Ordering::Relaxed) + 1 < mine
        })
    }
}

impl AcceptGate for Gate {
    fn publish(&self, n: usize) {
        self.mine()
            .conns
            .store(u32::try_from(n).unwrap_or(u32::MAX), Ordering::Relaxed);
    }

    fn defer_for(&self, mine: usize) -> Option<Duration> {
        let mine = u32::try_from(mine).unwrap_or(u32::MAX);
        self.someone_lighter(mine).then_some(STEP)
    }

    fn max_defer(&self) -> Duration {
        MAX_DEFER
    }

    fn waiting(&self, yes: bool) {
        self.mine().waiting.store(u32::from(yes), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_steps_back_only_for_a_lighter_one_waiting_in_accept() {
        let master = Mapped::create().unwrap();
        // SAFETY: a fresh descriptor of the board, owned by the mapping made from it.
        master.set_used(2);
        let a = unsafe { Mapped::open(master.share().unwrap().into_raw_fd_for_test()) }
            .unwrap()
            .into_gate(0)
            .unwrap();
        // SAFETY: as above.
        let b = unsafe { Mapped::open(master.share().unwrap().into_raw_fd_for_test()) }
            .unwrap()
            .into_gate(1)
            .unwrap();
        a.publish(5);
        b.publish(2);
        assert_eq!(a.defer_for(5), None, "b does not wait in accept");
        b.waiting(true);
        assert_eq!(a.defer_for(5), Some(STEP));
        assert_eq!(b.defer_for(2), None, "b is the lighter one");
        b.publish(4);
        assert_eq!(a.defer_for(5), None, "a difference of one is even");
        b.publish(0);
        master.clear(1);
        assert_eq!(a.defer_for(5), None, "a cleared slot is nobody");
    }

    trait IntoRawForTest {
        fn into_raw_fd_for_test(self) -> RawFd;
    }

    impl IntoRawForTest for OwnedFd {
        fn into_raw_fd_for_test(self) -> RawFd {
            std::os::fd::IntoRawFd::into_raw_fd(self)
        }
    }
}
