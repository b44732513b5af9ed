//! The connection's byte stream and its two buffers.
//!
//! [`Transport`] is what the connection needs of a stream: reads and writes that park the
//! green thread, read deadlines, a half-close, and the graceful-stop handshake of
//! [`server::Conn`](crate::server::Conn). A served socket is one; so is [`MemStream`], the
//! in-memory stream that the benches (and the test client) drive the same connection code
//! over.
//!
//! [`ConnIo`] owns the read buffer (received bytes not yet consumed, reused across
//! keep-alive requests) and the write buffer (responses not yet sent, so that pipelined
//! answers leave in one write). Its indices are private: the parser sees
//! [`ConnIo::buffered`], the body reader [`ConnIo::consume`]s and
//! [`ConnIo::hold`]s, and nothing else moves them.

use std::fs::File;
use std::io::{self, Read, Write};
use std::ops::Range;
use std::time::Duration;

use crate::green::clock::coarse_monotonic_ms;
use crate::net::{Handshake, IoWaker, Stream};
use crate::server::Conn;

use super::spare;

/// What the connection code needs of its stream.
pub(crate) trait Transport: Read + Write {
    /// Sets how long the next reads may wait (`None`: no limit).
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()>;

    /// Reads from beneath TLS (bytes a proxy sends before the handshake).
    fn read_raw(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read(buf)
    }

    /// Writes beneath TLS (the answer to plain HTTP on a TLS port).
    fn write_raw(&mut self, buf: &[u8]) -> io::Result<()> {
        self.write_all(buf)
    }

    /// Sends up to `len` bytes of `file` from `offset` straight from the page cache
    /// (`sendfile(2)`), parking while the stream is full; returns the bytes sent (0 at the
    /// file's end). Streams that cannot (TLS, in-memory) answer
    /// [`io::ErrorKind::Unsupported`], and the caller reads the file and writes it instead.
    fn send_file(&mut self, _file: &File, _offset: u64, _len: usize) -> io::Result<usize> {
        Err(io::Error::new(io::ErrorKind::Unsupported, "no sendfile"))
    }

    /// Closes the sending side (beneath TLS when `raw`; else after TLS's close_notify).
    fn shutdown_write(&mut self, raw: bool);

    /// Whether the stream is TLS (its handshake is still to run).
    fn is_tls(&self) -> bool {
        false
    }

    /// Runs the TLS handshake, `received` being its first bytes if some were read already.
    fn tls_handshake(
        &mut self,
        _received: &[u8],
        _timeout: Option<Duration>,
    ) -> io::Result<Handshake> {
        Ok(Handshake::Done)
    }

    /// Whether the server is stopping (finish this request, then close).
    fn is_stopping(&self) -> bool {
        false
    }

    /// Whether the connection can wait for its next request without a green thread (see
    /// [`crate::server::hibernate`]).
    fn can_hibernate(&self) -> bool {
        false
    }

    /// Marks the connection idle between requests; `false`: the server is stopping.
    fn set_idle(&self) -> bool {
        true
    }

    /// Marks the connection as receiving an incomplete request (it may be shed when the
    /// server is full); `false`: the server closed it.
    fn set_receiving(&self) -> bool {
        true
    }

    /// Marks the connection busy with a complete request; `false`: the server closed it.
    fn set_busy(&self) -> bool {
        true
    }

    /// Marks an upgraded connection as waiting for its peer (closed by a stop, never
    /// shed); `false`: the server closed it.
    fn set_waiting(&self) -> bool {
        true
    }

    /// Writes what the stream takes without waiting (`Ok(None)`: nothing now), leaving
    /// the readiness that arrived since the last read on record for
    /// [`park`](Self::park). In memory, a plain write.
    fn try_write(&mut self, buf: &[u8]) -> io::Result<Option<usize>> {
        self.write(buf).map(Some)
    }

    /// Parks until the stream may be readable, or about `wake_at` (milliseconds of
    /// [`coarse_monotonic_ms`]); it may return early. Bytes that arrived since the last
    /// read end it at once, unless a parking write came in between. `false`: it cannot
    /// (nothing would wake it at `wake_at`), and returned at once. In memory, returns at
    /// once.
    fn park(&self, _wake_at: u64) -> bool {
        true
    }

    /// Reads what has arrived without waiting (`Ok(None)`: nothing yet); see
    /// [`Stream::try_read`](crate::net::Stream). In memory, a plain read (it never waits).
    fn try_read(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        self.read(buf).map(Some)
    }

    /// Parks until the stream is readable or its [`waker`](Self::waker) is called (may
    /// return early). In memory, returns at once.
    fn wait_readable(&self) {}

    /// What ends a [`wait_readable`](Self::wait_readable); `None` in memory.
    fn waker(&self) -> Option<IoWaker> {
        None
    }
}

impl Transport for Conn {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.stream().set_read_timeout(timeout)
    }

    fn read_raw(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.stream_mut() {
            Stream::Tls(t) => t.get_mut().read(buf),
            s => s.read(buf),
        }
    }

    fn write_raw(&mut self, buf: &[u8]) -> io::Result<()> {
        match self.stream_mut() {
            Stream::Tls(t) => t.get_mut().write_all(buf),
            s => s.write_all(buf),
        }
    }

    fn send_file(&mut self, file: &File, offset: u64, len: usize) -> io::Result<usize> {
        self.stream().send_file(file, offset, len)
    }

    fn shutdown_write(&mut self, raw: bool) {
        let how = std::net::Shutdown::Write;
        let _ = match self.stream_mut() {
            Stream::Tls(t) if raw => t.get_mut().shutdown(how),
            // TLS: sends close_notify first.
            s => s.shutdown(how),
        };
    }

    fn is_tls(&self) -> bool {
        self.stream().is_tls()
    }

    fn tls_handshake(
        &mut self,
        received: &[u8],
        timeout: Option<Duration>,
    ) -> io::Result<Handshake> {
        match self.stream_mut() {
            Stream::Tls(t) => t.handshake_after(received, timeout),
            _ => Ok(Handshake::Done),
        }
    }

    fn is_stopping(&self) -> bool {
        Conn::is_stopping(self)
    }

    fn set_idle(&self) -> bool {
        Conn::set_idle(self)
    }

    fn set_receiving(&self) -> bool {
        Conn::set_receiving(self)
    }

    fn can_hibernate(&self) -> bool {
        Conn::can_hibernate(self)
    }

    fn set_busy(&self) -> bool {
        Conn::set_busy(self)
    }

    fn set_waiting(&self) -> bool {
        Conn::set_waiting(self)
    }

    fn try_read(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        self.stream_mut().try_read(buf)
    }

    fn try_write(&mut self, buf: &[u8]) -> io::Result<Option<usize>> {
        self.stream_mut().try_write(buf)
    }

    fn park(&self, wake_at: u64) -> bool {
        Conn::park(self, wake_at)
    }

    fn wait_readable(&self) {
        self.stream().wait_readable();
    }

    fn waker(&self) -> Option<IoWaker> {
        Some(self.stream().waker())
    }
}

/// An in-memory stream: reads come from what was [`push`](Self::push)ed (end of stream
/// once it is used up), writes collect in [`output`](Self::output). Deadlines never fire.
#[derive(Debug, Default)]
pub(crate) struct MemStream {
    input: Vec<u8>,
    at: usize,
    output: Vec<u8>,
    /// When not empty, the most each read returns, in turn: bytes arriving in pieces.
    pieces: Vec<usize>,
    reads: usize,
}

impl MemStream {
    /// Adds bytes for the connection to read.
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        if self.at == self.input.len() {
            self.input.clear();
            self.at = 0;
        }
        self.input.extend_from_slice(bytes);
    }

    /// What the connection wrote so far.
    pub(crate) fn output(&mut self) -> &mut Vec<u8> {
        &mut self.output
    }

    /// Makes reads return at most `sizes[0]`, then `sizes[1]` bytes, and so on, in a cycle
    /// (a peer whose bytes arrive in pieces).
    #[cfg(test)]
    pub(crate) fn in_pieces(&mut self, sizes: &[usize]) {
        self.pieces = sizes.to_vec();
    }
}

impl Read for MemStream {
    fn read(&mut self, mut buf: &mut [u8]) -> io::Result<usize> {
        if !self.pieces.is_empty() {
            let most = self.pieces[self.reads % self.pieces.len()].max(1);
            self.reads += 1;
            let len = buf.len().min(most);
            buf = &mut buf[..len];
        }
        let n = (&self.input[self.at..]).read(buf)?;
        self.at += n;
        Ok(n)
    }
}

impl Write for MemStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Transport for MemStream {
    fn set_read_timeout(&mut self, _: Option<Duration>) -> io::Result<()> {
        Ok(())
    }

    fn shutdown_write(&mut self, _raw: bool) {}
}

/// The error [`ConnIo::fill`] returns when the read buffer is at its limit.
pub(crate) fn is_full(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::OutOfMemory
}

/// Whether a read error is a deadline that passed.
pub(crate) fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    )
}

/// A connection's first read buffer, and the one it takes again after giving it back: room
/// for the heads most clients send. One of the thread's [`spare`] buffers when it has one.
pub(crate) const READ_FIRST: usize = spare::SIZE;
/// What a read buffer grows to once a read filled it (a pipelining client, a large head, a
/// body): larger reads, kept until the connection goes idle.
pub(crate) const READ_BUF: usize = 4096;

/// A stream with its read and write buffers.
///
/// `buf[start..end]` holds received bytes not yet consumed; `buf[held]` lies behind
/// `start`: decoded body data (a chunk's payload) consumed from the stream but not yet
/// handed to the app.
pub(crate) struct ConnIo<T> {
    t: T,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    held: Range<usize>,
    /// Responses waiting to be sent (pipelined answers leave in one write).
    out: Vec<u8>,
    /// The read timeout last set on the stream (`None`: not set yet), so that the
    /// `setsockopt` is made only when it changes, not once per read.
    read_timeout: Option<Option<Duration>>,
    /// The last read emptied the stream, and no write since has cleared the readiness
    /// that came after it (see [`fill_parked`](Self::fill_parked)).
    drained: bool,
    /// The last read filled the buffer's free space (see [`make_room`](Self::make_room)).
    filled: bool,
    /// Bytes received and sent since [`take_counts`](Self::take_counts) (for metrics).
    received: u64,
    sent: u64,
}

impl<T: Transport> ConnIo<T> {
    /// A read buffer of `read` bytes to start with; the write buffer is taken by the first
    /// answer.
    pub(crate) fn new(t: T, read: usize) -> Self {
        ConnIo {
            t,
            buf: match read {
                READ_FIRST => spare::read_buffer(),
                _ => vec![0; read],
            },
            start: 0,
            end: 0,
            held: 0..0,
            out: Vec::new(),
            read_timeout: None,
            drained: false,
            filled: false,
            received: 0,
            sent: 0,
        }
    }

    /// Bytes received and sent since the last call.
    pub(crate) fn take_counts(&mut self) -> (u64, u64) {
        (
            std::mem::take(&mut self.received),
            std::mem::take(&mut self.sent),
        )
    }

    /// Counts bytes sent around the write buffer (`sendfile`).
    pub(crate) fn count_sent(&mut self, n: usize) {
        self.sent += n as u64;
    }

    /// The stream.
    pub(crate) fn transport(&self) -> &T {
        &self.t
    }

    /// The stream, mutably (for writes that bypass the write buffer).
    pub(crate) fn transport_mut(&mut self) -> &mut T {
        // Its writes park, and a parking write clears the readiness on record.
        self.drained = false;
        &mut self.t
    }

    /// Bytes received and not consumed.
    #[inline]
    pub(crate) fn buffered(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Whether received bytes wait to be consumed.
    #[inline]
    pub(crate) fn has_buffered(&self) -> bool {
        self.start < self.end
    }

    /// Marks `n` received bytes as used.
    #[inline]
    pub(crate) fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.end - self.start);
        self.start += n;
    }

    /// Moves a request head of `n` bytes out of the read buffer into `into` (which the
    /// environ borrows while the read buffer moves on).
    pub(crate) fn take_head(&mut self, n: usize, into: &mut Vec<u8>) {
        into.clear();
        into.extend_from_slice(&self.buf[self.start..self.start + n]);
        self.start += n;
    }

    /// Gives the read buffer back to the thread's [`spare`]s when it holds nothing and is
    /// a small one: a request in the app needs none until it reads a body, and the next
    /// read takes one again.
    #[inline]
    pub(crate) fn spare_read(&mut self) {
        if self.start == self.end && self.held.is_empty() && self.buf.len() == READ_FIRST {
            spare::give_read(std::mem::take(&mut self.buf));
            (self.start, self.end) = (0, 0);
        }
    }

    /// Consumes `used` bytes, of which `data` (relative to them) is body data kept for
    /// [`held`](Self::held) until it is [`release`](Self::release)d.
    pub(crate) fn hold(&mut self, used: usize, data: Range<usize>) {
        debug_assert!(data.end <= used && self.held.is_empty());
        self.held = self.start + data.start..self.start + data.end;
        self.start += used;
    }

    /// Body data held behind the consumed bytes.
    #[inline]
    pub(crate) fn held(&self) -> &[u8] {
        &self.buf[self.held.clone()]
    }

    /// Marks `n` held bytes as handed out.
    #[inline]
    pub(crate) fn release(&mut self, n: usize) {
        debug_assert!(n <= self.held.len());
        self.held.start += n;
    }

    /// Reads more bytes, making room first: compacts, or grows up to `limit` bytes.
    /// Responses still buffered are sent first: the peer may wait for them before it sends
    /// more. Returns 0 at end of stream; a full buffer at `limit` is an error for which
    /// [`is_full`] holds (the caller maps it to its limit's status).
    pub(crate) fn fill(&mut self, limit: usize, timeout: Option<Duration>) -> io::Result<usize> {
        self.fill_from(limit, timeout, false)
    }

    /// [`fill`](Self::fill), from beneath TLS (bytes that come before the handshake).
    pub(crate) fn fill_raw(
        &mut self,
        limit: usize,
        timeout: Option<Duration>,
    ) -> io::Result<usize> {
        self.fill_from(limit, timeout, true)
    }

    fn fill_from(
        &mut self,
        limit: usize,
        timeout: Option<Duration>,
        raw: bool,
    ) -> io::Result<usize> {
        // Compacting would move held body data: it must have been handed out first.
        debug_assert!(self.held.is_empty());
        self.flush()?;
        self.make_room(limit)?;
        if self.read_timeout != Some(timeout) {
            self.t.set_read_timeout(timeout)?;
            self.read_timeout = Some(timeout);
        }
        self.drained = false;
        let n = loop {
            let buf = &mut self.buf[self.end..];
            let r = if raw {
                self.t.read_raw(buf)
            } else {
                self.t.read(buf)
            };
            match r {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => break r?,
            }
        };
        self.got(n, !raw);
        Ok(n)
    }

    /// Counts `n` bytes read into the buffer's free space; a read that left some of it
    /// free found the stream empty.
    #[inline]
    fn got(&mut self, n: usize, plain: bool) {
        self.drained = plain && n > 0 && self.end + n < self.buf.len();
        self.filled = n > 0 && self.end + n == self.buf.len();
        self.end += n;
        self.received += n as u64;
    }

    /// [`fill`](Self::fill) for a wait that may run long and end late (between keep-alive
    /// requests): when the last read emptied the stream and the responses leave without
    /// parking, it parks on the stream's readiness with no timer and no read tried first,
    /// the read coming once bytes are there; otherwise it is a `fill` with a deadline.
    /// Either way it gives up, with an error for which [`is_timeout`] holds, once `until`
    /// (milliseconds of [`coarse_monotonic_ms`]) has passed: about then, or up to a
    /// tenth of a second later (the server's sweep wakes it).
    pub(crate) fn fill_parked(&mut self, limit: usize, until: u64) -> io::Result<usize> {
        self.flush()?;
        loop {
            // Parked, the connection holds no small empty buffer.
            self.spare_read();
            if !self.drained || !self.t.park(until) {
                let left = until.saturating_sub(coarse_monotonic_ms()).max(1);
                return self.fill(limit, Some(Duration::from_millis(left)));
            }
            self.make_room(limit)?;
            match self.t.try_read(&mut self.buf[self.end..])? {
                Some(n) => {
                    self.got(n, true);
                    return Ok(n);
                }
                // Woken early (a write's readiness, a wake-up meant for an earlier park)
                // or late enough.
                None if coarse_monotonic_ms() < until => continue,
                None => return Err(io::ErrorKind::TimedOut.into()),
            }
        }
    }

    fn make_room(&mut self, limit: usize) -> io::Result<()> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        let len = self.buf.len();
        if len == 0 && limit >= READ_FIRST {
            // Given back: a small one is taken again.
            self.buf = spare::read_buffer();
            self.filled = false;
            return Ok(());
        }
        // A small buffer (a connection's first, or one taken again after it was given
        // back) grows to the working size once a read filled it: a client that pipelines,
        // sends a large head or a body soon does, and then reads as large as before.
        let small = len < READ_BUF;
        if self.end < len && !(small && self.filled) {
            return Ok(());
        }
        if self.start > 0 && (!small || len >= limit) {
            // At its working size (or its limit), a buffer makes room by compacting.
            self.compact();
        } else if len < limit {
            self.compact();
            let grown = match len {
                0 => READ_FIRST,
                l if l < READ_BUF => READ_BUF,
                l => l * 2,
            };
            if len == READ_FIRST {
                // The small buffer goes on to be someone else's.
                let mut larger = vec![0; grown.min(limit)];
                larger[..self.end].copy_from_slice(&self.buf[..self.end]);
                spare::give_read(std::mem::replace(&mut self.buf, larger));
            } else {
                self.buf.resize(grown.min(limit), 0);
            }
        } else if self.end == len {
            return Err(io::Error::new(io::ErrorKind::OutOfMemory, "buffer limit"));
        }
        self.filled = false;
        Ok(())
    }

    /// Moves the bytes not yet consumed to the buffer's start.
    fn compact(&mut self) {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
    }

    /// Reads bytes only to drop them (a closing connection's last input), into the read
    /// buffer: no other buffer is needed, and none on the green thread's small stack.
    pub(crate) fn read_discard(&mut self, timeout: Duration, raw: bool) -> io::Result<usize> {
        self.drained = false;
        self.t.set_read_timeout(Some(timeout))?;
        self.read_timeout = None;
        (self.start, self.end) = (0, 0);
        // The connection is closing: its buffer's size no longer costs anything for long.
        if self.buf.len() < READ_BUF {
            self.buf.resize(READ_BUF, 0);
        }
        if raw {
            self.t.read_raw(&mut self.buf)
        } else {
            self.t.read(&mut self.buf)
        }
    }

    /// Runs the stream's TLS handshake within `timeout`, what was received so far being
    /// its first bytes (TLS keeps its own buffers from then on).
    pub(crate) fn tls_handshake(&mut self, timeout: Option<Duration>) -> io::Result<Handshake> {
        self.drained = false;
        let r = self
            .t
            .tls_handshake(&self.buf[self.start..self.end], timeout);
        (self.start, self.end) = (0, 0);
        // The handshake set the socket's timeout itself.
        self.read_timeout = None;
        r
    }

    /// Gives back memory of a connection going idle with nothing buffered (a large head,
    /// body or response grew a buffer).
    pub(crate) fn shrink_idle(&mut self, read: usize, write: usize) {
        if self.start == self.end && self.buf.len() > read {
            self.buf = vec![0; read];
            self.start = 0;
            self.end = 0;
        }
        if self.out.is_empty() && self.out.capacity() > write {
            self.out = Vec::new();
        }
    }

    /// Gives back whichever buffer holds nothing (to the thread's [`spare`]s if small):
    /// the write buffer once flushed, the read buffer once what it holds has been read.
    /// For a connection handed over to another protocol (which reads and writes the stream
    /// itself), and for an idle one that hibernates; the next read takes a read buffer
    /// again ([`READ_FIRST`] bytes).
    pub(crate) fn release_buffers(&mut self) {
        self.drained = false;
        if self.out.is_empty() {
            spare::give_write(std::mem::take(&mut self.out));
        }
        if self.start == self.end && self.held.is_empty() {
            spare::give_read(std::mem::take(&mut self.buf));
            (self.start, self.end) = (0, 0);
        }
    }

    /// The write buffer: bytes queued here leave on the next [`flush`](Self::flush). A
    /// connection holds one only while it answers: the first bytes queued take one of the
    /// thread's [`spare`]s, and a flush gives it back.
    #[inline]
    pub(crate) fn out(&mut self) -> &mut Vec<u8> {
        if self.out.capacity() == 0 {
            self.out = spare::write_buffer();
        }
        &mut self.out
    }

    /// How many bytes wait in the write buffer (taking no buffer when there is none).
    #[inline]
    pub(crate) fn queued(&self) -> usize {
        self.out.len()
    }

    /// Empties the write buffer once its bytes are sent, giving it back if it is small.
    #[inline]
    fn sent_out(&mut self) {
        self.out.clear();
        if self.out.capacity() == spare::SIZE {
            spare::give_write(std::mem::take(&mut self.out));
        }
    }

    /// Sends what is queued.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        // After a read that emptied the stream, a write that does not park keeps what
        // arrived since on record for `fill_parked`.
        let mut at = 0;
        while self.drained && at < self.out.len() {
            match self.t.try_write(&self.out[at..]) {
                Ok(Some(n @ 1..)) => at += n,
                _ => self.drained = false,
            }
        }
        let r = match at < self.out.len() {
            true => self.t.write_all(&self.out[at..]),
            false => Ok(()),
        };
        self.sent += self.out.len() as u64;
        self.sent_out();
        r?;
        // Flushing matters for TLS only (records rustls could not write yet).
        self.t.flush()
    }

    /// Sends what is queued, then `more`, without copying `more` into the buffer.
    pub(crate) fn send(&mut self, more: &[u8]) -> io::Result<()> {
        self.drained = false;
        let r = self.t.write_all(&self.out);
        self.sent += (self.out.len() + more.len()) as u64;
        self.sent_out();
        r?;
        self.t.write_all(more)
    }
}

impl<T> Drop for ConnIo<T> {
    /// A closed connection's small buffers go to the next one.
    fn drop(&mut self) {
        spare::give_read(std::mem::take(&mut self.buf));
        spare::give_write(std::mem::take(&mut self.out));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io_over(bytes: &[u8], read: usize) -> ConnIo<MemStream> {
        let mut m = MemStream::default();
        m.push(bytes);
        ConnIo::new(m, read)
    }

    #[test]
    fn fill_grows_to_the_limit_then_reports_full() {
        let mut io = io_over(&[b'x'; 10_000], 4096);
        let mut total = 0;
        loop {
            match io.fill(8192, None) {
                Ok(0) => panic!("end of stream before the limit"),
                Ok(n) => total += n,
                Err(e) => {
                    assert!(is_full(&e));
                    break;
                }
            }
        }
        assert_eq!(total, 8192);
        assert_eq!(io.buffered().len(), 8192);
    }

    /// A connection starts with a small buffer; a read that fills it makes it grow to the
    /// working size even when part of it was consumed (pipelined requests), and a buffer
    /// given back is made small again.
    #[test]
    fn a_small_first_buffer_grows_once_a_read_fills_it() {
        let mut io = io_over(&[b'x'; 8000], READ_FIRST);
        assert_eq!(io.fill(8192, None).unwrap(), READ_FIRST);
        io.consume(READ_FIRST - 10);
        assert_eq!(io.fill(8192, None).unwrap(), READ_BUF - 10);
        assert_eq!((io.buf.len(), io.buffered().len()), (READ_BUF, READ_BUF));
        // Also when what filled it was all consumed (a body the app takes as it comes).
        let mut io = io_over(&[b'x'; 8000], READ_FIRST);
        io.fill(65536, None).unwrap();
        io.consume(READ_FIRST);
        assert_eq!(io.fill(65536, None).unwrap(), READ_BUF);
        let mut io = io_over(b"GET / HTTP/1.1\r\n\r\n", READ_FIRST);
        io.fill(8192, None).unwrap();
        io.consume(18);
        io.release_buffers();
        assert!(io.buf.is_empty());
        io.transport_mut().push(b"next");
        assert_eq!(io.fill(8192, None).unwrap(), 4);
        assert_eq!(io.buf.len(), READ_FIRST);
        // A limit below the working size is a ceiling.
        let mut io = io_over(&[b'x'; 3000], READ_FIRST);
        io.fill(2000, None).unwrap();
        io.fill(2000, None).unwrap();
        assert_eq!(io.buffered().len(), 2000);
        assert!(is_full(&io.fill(2000, None).unwrap_err()));
    }

    /// Between a request's head and its answer a connection holds no empty small buffer:
    /// the read buffer goes back to the thread's spares (and comes back for the next
    /// read), the write buffer after each flush. Buffers with bytes in them, or grown past
    /// the spare size, stay.
    #[test]
    fn small_empty_buffers_go_back_to_the_spares() {
        let mut io = io_over(b"GET / HTTP/1.1\r\n\r\n", READ_FIRST);
        io.fill(8192, None).unwrap();
        let at = io.buf.as_ptr();
        let mut head = Vec::new();
        io.take_head(18, &mut head);
        io.spare_read();
        assert!(io.buf.is_empty(), "given back");
        io.transport_mut().push(b"next");
        assert_eq!(io.fill(8192, None).unwrap(), 4);
        assert_eq!(
            (io.buf.as_ptr(), io.buffered()),
            (at, &b"next"[..]),
            "taken again"
        );
        io.spare_read();
        assert_eq!(io.buffered(), b"next", "kept while it holds bytes");
        io.consume(4);
        io.out().extend_from_slice(b"answer");
        assert_eq!(io.out().capacity(), spare::SIZE);
        io.flush().unwrap();
        assert_eq!(io.out.capacity(), 0, "the write buffer went back");
        // Grown ones stay: a pipelining client fills them again.
        let mut io = io_over(&[b'x'; 5000], READ_FIRST);
        io.fill(8192, None).unwrap();
        io.fill(8192, None).unwrap();
        io.consume(io.buffered().len());
        io.spare_read();
        assert_eq!(io.buf.len(), READ_BUF);
        io.out().extend_from_slice(&[b'y'; 3000]);
        io.flush().unwrap();
        assert!(io.out.capacity() >= 3000);
    }

    /// What `fill_parked` relies on: a read that left room found the stream empty, a write
    /// that did not park keeps that so, and anything that may park forgets it.
    #[test]
    fn a_read_that_leaves_room_drains_until_a_parking_write() {
        let mut io = io_over(b"GET / HTTP/1.1\r\n\r\n", 4096);
        assert!(!io.drained, "nothing read yet");
        io.fill(4096, None).unwrap();
        assert!(io.drained, "a short read empties the stream");
        io.out().extend_from_slice(b"answer");
        io.flush().unwrap();
        assert!(io.drained, "a write that does not park keeps it");
        io.send(b"more").unwrap();
        assert!(!io.drained, "send parks");
        io.fill(4096, None).unwrap();
        assert!(!io.drained, "the end of the stream is no short read");
        let mut io = io_over(b"0123456789", 4096);
        io.fill(4096, None).unwrap();
        let _ = io.transport_mut();
        assert!(!io.drained, "the stream lent out may park");
        // A read that fills the space may leave bytes behind.
        let mut io = io_over(&[b'x'; 8192], 4096);
        io.fill(8192, None).unwrap();
        assert!(!io.drained);
    }

    /// Drained, `fill_parked` parks (at once in memory) and reads; otherwise it reads with
    /// a deadline; either way what arrives is what `fill` would give.
    #[test]
    fn fill_parked_reads_like_fill() {
        let mut io = io_over(b"first", 4096);
        io.fill(4096, None).unwrap();
        assert!(io.drained);
        let until = coarse_monotonic_ms() + 1000;
        assert_eq!(io.fill_parked(4096, until).unwrap(), 0, "end of stream");
        io.transport_mut().push(b" second");
        assert!(!io.drained);
        assert_eq!(io.fill_parked(4096, until).unwrap(), 7);
        assert_eq!(io.buffered(), b"first second");
    }

    #[test]
    fn consumed_bytes_are_compacted_away() {
        let mut io = io_over(b"abcdef", 4096);
        assert_eq!(io.fill(4096, None).unwrap(), 6);
        io.consume(4);
        assert_eq!(io.buffered(), b"ef");
        let mut head = Vec::new();
        io.take_head(1, &mut head);
        assert_eq!((head.as_slice(), io.buffered()), (&b"e"[..], &b"f"[..]));
        io.consume(1);
        assert!(!io.has_buffered());
        assert_eq!(io.fill(4096, None).unwrap(), 0, "end of stream");
    }

    #[test]
    fn held_data_is_handed_out_after_consuming() {
        let mut io = io_over(b"3\r\nabc\r\n", 4096);
        io.fill(4096, None).unwrap();
        io.hold(8, 3..6);
        assert!(!io.has_buffered());
        assert_eq!(io.held(), b"abc");
        io.release(2);
        assert_eq!(io.held(), b"c");
        io.release(1);
        assert!(io.held().is_empty());
    }

    #[test]
    fn fill_sends_queued_responses_first() {
        let mut io = io_over(b"", 4096);
        io.out().extend_from_slice(b"answer");
        assert_eq!(io.fill(4096, None).unwrap(), 0);
        assert_eq!(io.transport_mut().output().as_slice(), b"answer");
        io.send(b" and more").unwrap();
        assert_eq!(io.transport_mut().output().as_slice(), b"answer and more");
    }

    #[test]
    fn idle_connections_give_buffers_back() {
        let mut io = io_over(&[b'x'; 9000], 4096);
        while io.fill(16384, None).unwrap() > 0 {}
        io.consume(9000);
        io.out().reserve(100_000);
        io.shrink_idle(4096, 16384);
        assert!(io.out().capacity() < 16384);
        io.transport_mut().push(b"y");
        assert_eq!(io.fill(16384, None).unwrap(), 1);
        assert_eq!(io.buffered(), b"y");
    }
}
