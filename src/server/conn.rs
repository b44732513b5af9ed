//! A served connection and its registration with the server (for graceful stop).

use std::io::{self, IoSlice, Read, Write};
use std::os::unix::io::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use super::stream::Shared;
use crate::net::{Addr, Stream};

/// The connection is working on a request (or a non-HTTP protocol's exchange).
pub(crate) const BUSY: u8 = 0;
/// The connection waits for its next request and may be closed on stop.
pub(crate) const IDLE: u8 = 1;
/// The server closed the connection's read side because it is stopping.
pub(crate) const CLOSING: u8 = 2;

/// What the server knows of a live connection.
pub(crate) struct Slot {
    pub(crate) state: AtomicU8,
    pub(crate) fd: RawFd,
    /// The connection's green thread, once started (to cancel it, and to notice when it
    /// ended without deregistering: a stack overflow abandons its frames unwound).
    pub(crate) join: std::sync::Mutex<Option<may::coroutine::JoinHandle<()>>>,
    /// The peer, for log lines.
    pub(crate) peer: String,
}

/// A connection handed to a [`StreamServer`](super::StreamServer) handler: the stream, plus
/// what the handler needs to cooperate with a graceful stop.
///
/// Reading and writing park the green thread, never the OS thread.
pub struct Conn {
    stream: Stream,
    local: Option<Addr>,
    pub(crate) slot: Arc<Slot>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) id: u64,
}

impl Conn {
    pub(crate) fn new(stream: Stream, slot: Arc<Slot>, shared: Arc<Shared>, id: u64) -> Self {
        Conn {
            stream,
            local: None,
            slot,
            shared,
            id,
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
        self.shared.is_stopping()
    }

    /// Marks the connection idle (waiting for the client's next request). A stopping server
    /// closes idle connections at once instead of waiting for them. Returns `false` if the
    /// server is already stopping: the handler should close now.
    pub fn set_idle(&self) -> bool {
        // SeqCst pairs with the stop path (sets `stopping`, then scans for IDLE): either we
        // see `stopping` here, or the stop path sees IDLE and closes our read side.
        self.slot.state.store(IDLE, Ordering::SeqCst);
        !self.shared.is_stopping()
    }

    /// Marks the connection busy (a request began). Returns `false` if the server closed it
    /// while it was idle: the handler should close without answering.
    pub fn set_busy(&self) -> bool {
        self.slot
            .state
            .compare_exchange(IDLE, BUSY, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
            || self.slot.state.load(Ordering::SeqCst) == BUSY
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        // Deregister before the stream (and its descriptor) is closed, so the stop path never
        // shuts down a descriptor number that was already reused.
        self.shared.deregister(self.id);
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
