//! A served connection and its registration with the server (for graceful stop).

use std::io::{self, IoSlice, Read, Write};
use std::os::unix::io::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use super::shutdown::Registry;
use crate::green::CoHandle;
use crate::net::{Addr, IoWaker, SocketRef, Stream};

/// The connection is working on a request (or a non-HTTP protocol's exchange).
pub(crate) const BUSY: u8 = 0;
/// The connection waits for its next request and may be closed on stop.
pub(crate) const IDLE: u8 = 1;
/// The server closed the connection's read side because it is stopping, or shed it.
pub(crate) const CLOSING: u8 = 2;
/// An exchange began but its request is still arriving: the connection may be shed (the
/// oldest first) when the server is full.
pub(crate) const RECEIVING: u8 = 3;
/// A long-lived connection (a WebSocket) waits for its peer: a stop closes its read side
/// as it does an idle one's, but it is never shed to make room.
pub(crate) const WAITING: u8 = 4;

/// The registry's entry for a live connection: what a stop needs to close or cancel it.
///
/// Aligned to a cache line: its state and ages are written on every request by the thread
/// serving it, and two entries sharing a line (they are allocated side by side) would make
/// the threads serving them take that line from each other.
#[repr(align(64))]
pub(crate) struct ConnEntry {
    /// `BUSY`, `IDLE`, `RECEIVING`, `WAITING` or `CLOSING`.
    pub(crate) state: AtomicU8,
    /// When the connection last began `RECEIVING` or `IDLE` (see [`super::shed::now_ms`]).
    pub(crate) since: AtomicU64,
    /// The connection's socket (see [`SocketRef`]'s contract: the entry is removed before
    /// the stream closes).
    pub(crate) socket: SocketRef,
    /// The connection's green thread, once started (to cancel it, and to notice when it
    /// ended without deregistering: a stack overflow abandons its frames unwound).
    pub(crate) thread: Mutex<Option<CoHandle>>,
    /// The peer, for log lines.
    pub(crate) peer: String,
    /// Its slot in the registry's [`Parked`](super::sweep::Parked) table, claimed at its
    /// first [`park`](Conn::park) (`None`: the table was full).
    pub(crate) slot: OnceLock<Option<usize>>,
    /// What ends a park, made at the first.
    pub(crate) waker: OnceLock<IoWaker>,
}

impl ConnEntry {
    /// A busy connection on `stream`, from `peer`, whose green thread is not started yet.
    pub(crate) fn new(stream: &Stream, peer: &Addr) -> Self {
        ConnEntry {
            state: AtomicU8::new(BUSY),
            // Accepted now: a first request is as old as its connection.
            since: AtomicU64::new(super::shed::now_ms()),
            socket: SocketRef::of(stream),
            thread: Mutex::new(None),
            peer: peer.to_string(),
            slot: OnceLock::new(),
            waker: OnceLock::new(),
        }
    }

    /// Whether its green thread has ended.
    pub(crate) fn is_done(&self) -> bool {
        self.thread
            .lock()
            .expect("entry lock")
            .as_ref()
            .is_some_and(|h| h.is_done())
    }
}

/// A connection handed to a [`StreamServer`](super::StreamServer) handler: the stream, plus
/// what the handler needs to cooperate with a graceful stop.
///
/// Reading and writing park the green thread, never the OS thread.
pub struct Conn {
    stream: Stream,
    local: Option<Addr>,
    entry: Arc<ConnEntry>,
    id: u64,
    /// No exchange has begun yet: the first one dates from the accept.
    fresh: std::cell::Cell<bool>,
    /// The server's registry; counts the connection out when it closes, wherever that
    /// happens (on its green thread, or in the idle watcher after a [`hibernate`]).
    active: Active,
}

/// Counts the connection out (and gives back its permit) when dropped.
pub(crate) struct Active(pub(crate) Arc<Registry>);

impl Drop for Active {
    fn drop(&mut self) {
        self.0.release();
    }
}

impl Conn {
    pub(crate) fn new(stream: Stream, entry: Arc<ConnEntry>, id: u64, active: Active) -> Self {
        Conn {
            stream,
            local: None,
            entry,
            id,
            fresh: std::cell::Cell::new(true),
            active,
        }
    }

    /// The underlying stream.
    pub fn stream(&self) -> &Stream {
        &self.stream
    }

    /// The underlying stream, mutably.
    pub fn stream_mut(&mut self) -> &mut Stream {
        &mut self.stream
    }

    /// The local address the connection came in on.
    pub fn local_addr(&mut self) -> io::Result<Addr> {
        if self.local.is_none() {
            self.local = Some(self.stream.local_addr()?);
        }
        Ok(self.local.clone().expect("just set"))
    }

    /// Whether the server is stopping: finish the current exchange, then close.
    pub fn is_stopping(&self) -> bool {
        self.active.0.is_stopping()
    }

    /// Marks the connection idle (waiting for the client's next request). A stopping server
    /// closes idle connections instead of waiting for them, after a short last call: the
    /// client may have sent its next request before it could know of the stop, and that
    /// one is still answered (close the connection after it, see
    /// [`is_stopping`](Self::is_stopping)). Returns `false` if the stop has already closed
    /// or cancelled the connection: the handler should close now.
    pub fn set_idle(&self) -> bool {
        // Each idle period gets its own last call: a connection that answered its last
        // request as the stop began may have the client's next one on its way.
        self.entry
            .since
            .store(super::shed::now_ms(), Ordering::Relaxed);
        // SeqCst pairs with the stop path, which scans for IDLE until no connection is
        // left: it sees this one idle and closes its read side.
        self.move_to(IDLE)
    }

    /// Marks the connection as receiving a request that is not complete yet (an HTTP
    /// head arriving). When the server is full it sheds idle connections first, then the
    /// connection that has been receiving the longest: a client that sends slowly costs
    /// its own connection, not someone else's. Returns `false` if the server closed the
    /// connection while it was idle: the handler should close without answering.
    pub fn set_receiving(&self) -> bool {
        // A new connection has been receiving its first request since it was accepted
        // (its green thread may start later on a busy server).
        if !self.fresh.replace(false) {
            self.entry
                .since
                .store(super::shed::now_ms(), Ordering::Relaxed);
        }
        self.move_to(RECEIVING)
    }

    /// Marks a long-lived connection (a WebSocket, a stream of events) as waiting for its
    /// peer. A stopping server closes its read side, as for an idle connection (the
    /// handler sees the end of the stream, [`is_stopping`](Self::is_stopping) is true, and
    /// it may say goodbye); unlike an idle one it is never shed when the server is full.
    /// Returns `false` if the server already closed it.
    pub fn set_waiting(&self) -> bool {
        self.move_to(WAITING)
    }

    /// Marks the connection busy (a request began, or is complete). Returns `false` if the
    /// server closed it while it was idle or receiving: the handler should close without
    /// answering.
    pub fn set_busy(&self) -> bool {
        self.move_to(BUSY)
    }

    /// Parks until the stream may be readable, with no timer of its own: the server's
    /// sweep (every [`SWEEP_EVERY`](super::sweep::SWEEP_EVERY)) wakes a connection still
    /// parked at `wake_at` (milliseconds of [`super::shed::now_ms`]), and so do readiness,
    /// a stop or a shed. It may also return early: the caller reads without waiting, and
    /// parks again or gives up. For waits long enough that a tenth of a second does not
    /// matter (between keep-alive requests): a read with a deadline registers a timer for
    /// every wait and tries the read before it parks, this does neither. Returns `false`,
    /// at once, if there is no sweep to wake it (its thread could not start): wait with a
    /// deadline instead.
    pub(crate) fn park(&self, wake_at: u64) -> bool {
        let registry = &self.active.0;
        if !super::sweep::ensure(registry) {
            return false;
        }
        let entry = &self.entry;
        let Some(slot) = *entry.slot.get_or_init(|| {
            entry.waker.get_or_init(|| self.stream.waker());
            registry.parked.claim(entry)
        }) else {
            return false;
        };
        let slot = registry.parked.slot(slot);
        slot.store(wake_at.max(1), Ordering::Release);
        self.stream.wait_readable();
        slot.store(0, Ordering::Relaxed);
        true
    }

    /// Moves to `to` unless the server closed the connection (`CLOSING` stays).
    fn move_to(&self, to: u8) -> bool {
        let state = &self.entry.state;
        let mut now = state.load(Ordering::SeqCst);
        loop {
            if now == CLOSING {
                return false;
            }
            if now == to {
                return true;
            }
            match state.compare_exchange(now, to, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => return true,
                Err(seen) => now = seen,
            }
        }
    }
}

/// What holds a [`Conn`] while it hibernates: the connection's whole state.
pub(crate) trait HoldsConn: Send + 'static {
    /// The connection.
    fn conn(&self) -> &Conn;
}

impl Conn {
    /// Whether this connection can wait for its peer without a green thread now (see
    /// [`hibernate`]): a plain socket, or TLS holding nothing the socket no longer shows
    /// (no decrypted bytes unread, no records to send).
    pub(crate) fn can_hibernate(&self) -> bool {
        match &self.stream {
            Stream::Tls(t) => t.is_quiet(),
            _ => true,
        }
    }
}

/// Lets the calling green thread end while the connection `held` holds waits, idle, for
/// its peer's next bytes: the idle watcher holds it meanwhile, with no stack. When the
/// peer sends (or hangs up, or the server closes the connection's read side on a stop or
/// to make room), `resume(held, true)` runs on a new green thread; at `deadline` first,
/// `resume(held, false)`. The connection stays registered (idle, counted, closable by a
/// stop) all along. Call it last: the connection is no longer this green thread's.
pub(crate) fn hibernate<H: HoldsConn>(held: H, deadline: Option<Instant>, resume: fn(H, bool)) {
    let conn = held.conn();
    let fd = conn.stream.as_raw_fd();
    let entry = conn.entry.clone();
    // The green thread that ends here is no longer the connection's: without this, the
    // registry would take its end for an abandoned connection.
    drop(entry.thread.lock().expect("entry lock").take());
    let then: crate::net::idle::Then = Box::new(move |ready| wake(held, ready, resume));
    if let Err(then) = crate::net::idle::watch(fd, deadline, then) {
        // No watcher: carry on waiting on a green thread.
        then(true);
    }
}

/// Resumes a hibernated connection on a new green thread.
fn wake<H: HoldsConn>(held: H, ready: bool, resume: fn(H, bool)) {
    let entry = held.conn().entry.clone();
    let peer = entry.peer.clone();
    // The connection travels in a cell, so that a failed start hands it back here, to be
    // dropped (closed, counted out) only once the entry's lock below is released: the
    // registry takes its own lock before an entry's, and dropping a connection takes the
    // registry's.
    let cell = Arc::new(Mutex::new(Some(held)));
    let theirs = cell.clone();
    let started = {
        // Held while the new green thread starts, so that its handle is recorded before
        // that green thread can hibernate again (and take it).
        let mut thread = entry.thread.lock().expect("entry lock");
        let started = crate::green::spawn_raw(None, move || {
            let held = theirs.lock().expect("parked connection").take();
            if let Some(held) = held {
                super::accept::guarded(&peer, || resume(held, ready));
            }
        });
        started.map(|h| *thread = Some(h))
    };
    if let Err(e) = started {
        log::error!("cannot start a green thread for an idle connection: {e}");
        drop(cell.lock().expect("parked connection").take());
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        // Deregister before the stream (and its descriptor) is closed, so the stop path never
        // shuts down a descriptor number that was already reused.
        self.active.0.deregister(self.id);
    }
}

impl Read for Conn {
    #[inline]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.read(buf)
    }
}

impl Write for Conn {
    #[inline]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.write(buf)
    }

    #[inline]
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.stream.write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

impl AsRawFd for Conn {
    fn as_raw_fd(&self) -> RawFd {
        self.stream.as_raw_fd()
    }
}
