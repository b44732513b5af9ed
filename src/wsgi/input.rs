//! `wsgi.input`: the request body as `Read` + `BufRead`, read lazily from the connection.

use std::io::{self, BufRead, Read, Write};
use std::time::Duration;

use crate::http::decode::{Chunk, ChunkedDecoder};
use crate::http::{Error as HttpError, ErrorKind};
use crate::server::Conn;

/// The interim response sent on the first read of a body the client is holding back.
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// The connection's socket and read buffer. `buf[start..end]` holds received bytes not yet
/// consumed; the buffer is reused across keep-alive requests.
pub(crate) struct ConnIo {
    pub(crate) conn: Conn,
    pub(crate) buf: Vec<u8>,
    pub(crate) start: usize,
    pub(crate) end: usize,
    /// The read timeout last set on the socket (`None`: not set yet), so that the
    /// `setsockopt` is made only when it changes, not once per read.
    read_timeout: Option<Option<Duration>>,
}

impl ConnIo {
    pub(crate) fn new(conn: Conn, size: usize) -> Self {
        ConnIo {
            conn,
            buf: vec![0; size],
            start: 0,
            end: 0,
            read_timeout: None,
        }
    }

    /// Bytes received and not consumed.
    #[inline]
    pub(crate) fn buffered(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Reads more bytes from the socket, making room first: compacts, or grows up to
    /// `limit` bytes. Returns 0 at end of stream. A full buffer at `limit` is an error of
    /// kind `OutOfMemory` (the caller maps it to its limit's status).
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

    /// Forgets the read timeout last set: something else set the socket's since.
    pub(crate) fn forget_read_timeout(&mut self) {
        self.read_timeout = None;
    }

    fn fill_from(
        &mut self,
        limit: usize,
        timeout: Option<Duration>,
        raw: bool,
    ) -> io::Result<usize> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else if self.buf.len() < limit {
                let new = (self.buf.len() * 2).clamp(4096, limit);
                self.buf.resize(new, 0);
            } else {
                return Err(io::Error::new(io::ErrorKind::OutOfMemory, "buffer limit"));
            }
        }
        if self.read_timeout != Some(timeout) {
            self.conn.stream().set_read_timeout(timeout)?;
            self.read_timeout = Some(timeout);
        }
        let n = loop {
            let buf = &mut self.buf[self.end..];
            let r = if raw {
                self.conn.read_raw(buf)
            } else {
                self.conn.read(buf)
            };
            match r {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => break r?,
            }
        };
        self.end += n;
        Ok(n)
    }

    /// Gives back memory of a connection going idle with nothing buffered (a large head or
    /// body grew the buffer).
    pub(crate) fn shrink_idle(&mut self, size: usize) {
        if self.start == self.end && self.buf.len() > size {
            self.buf = vec![0; size];
            self.start = 0;
            self.end = 0;
        }
    }
}

/// Where reading the current request's body stands.
#[derive(Debug)]
pub(crate) enum BodyState {
    /// Nothing (more) to read.
    Done,
    /// This many bytes are still to come.
    Length(u64),
    /// Chunked; `pending` is decoded data in the buffer not yet handed out.
    Chunked {
        decoder: ChunkedDecoder,
        pending: (usize, usize),
        /// Body bytes decoded so far (for the size limit).
        total: u64,
    },
    /// The body could not be read: the request gets this error's status, and the
    /// connection closes.
    Failed(HttpError),
}

/// The body-reading state of one request, kept by the connection across the app call.
#[derive(Debug)]
pub(crate) struct BodyReader {
    pub(crate) state: BodyState,
    /// `Expect: 100-continue` and nothing sent yet.
    pub(crate) continue_pending: bool,
    pub(crate) timeout: Option<Duration>,
    pub(crate) max_body: Option<u64>,
    /// Bytes handed to the app.
    pub(crate) consumed: u64,
    pub(crate) peer_gone: bool,
}

impl BodyReader {
    pub(crate) fn is_done(&self) -> bool {
        matches!(self.state, BodyState::Done)
    }

    pub(crate) fn failed(&self) -> Option<&HttpError> {
        match &self.state {
            BodyState::Failed(e) => Some(e),
            _ => None,
        }
    }

    fn fail(&mut self, e: HttpError) -> io::Error {
        let msg = e.to_string();
        self.state = BodyState::Failed(e);
        io::Error::new(io::ErrorKind::InvalidData, msg)
    }

    /// The next piece of body in the buffer, reading from the socket when needed.
    fn fill<'b>(&mut self, io: &'b mut ConnIo) -> io::Result<&'b [u8]> {
        loop {
            match &mut self.state {
                BodyState::Done => return Ok(&[]),
                BodyState::Failed(e) => {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
                }
                BodyState::Length(0) => {
                    self.state = BodyState::Done;
                    return Ok(&[]);
                }
                BodyState::Length(n) => {
                    let avail = io.end - io.start;
                    if avail > 0 {
                        let take = (*n).min(avail as u64) as usize;
                        return Ok(&io.buf[io.start..io.start + take]);
                    }
                }
                BodyState::Chunked {
                    decoder,
                    pending,
                    total,
                } => {
                    if pending.0 < pending.1 {
                        return Ok(&io.buf[pending.0..pending.1]);
                    }
                    if io.start < io.end {
                        match decoder.decode(&io.buf[io.start..io.end]) {
                            Ok((used, Chunk::Data(r))) => {
                                *pending = (io.start + r.start, io.start + r.end);
                                *total += r.len() as u64;
                                io.start += used;
                                if let Some(max) = self.max_body {
                                    if *total > max {
                                        return Err(self.fail(HttpError::new(
                                            ErrorKind::BodyTooLarge,
                                            "request body larger than allowed",
                                        )));
                                    }
                                }
                                continue;
                            }
                            Ok((used, Chunk::More)) => {
                                io.start += used;
                                if io.start < io.end {
                                    continue;
                                }
                            }
                            Ok((used, Chunk::End)) => {
                                io.start += used;
                                self.state = BodyState::Done;
                                return Ok(&[]);
                            }
                            Err(e) => return Err(self.fail(e)),
                        }
                    }
                }
            }
            // Nothing buffered: ask the client for the body if it is waiting for our go.
            if self.continue_pending {
                self.continue_pending = false;
                if let Err(e) = io.conn.write_all(CONTINUE) {
                    self.peer_gone = true;
                    return Err(e);
                }
            }
            // Never compact away decoded data still pending: it is empty here.
            let limit = io.buf.len().max(64 * 1024);
            match io.fill(limit, self.timeout) {
                Ok(0) => {
                    self.peer_gone = true;
                    return Err(self.fail(HttpError::new(
                        ErrorKind::BadChunk,
                        "the client closed the connection before the end of the body",
                    )));
                }
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
                    ) =>
                {
                    return Err(self.fail(HttpError::new(
                        ErrorKind::Timeout,
                        "timed out reading the request body",
                    )));
                }
                Err(e) => {
                    self.peer_gone = true;
                    let _ = self.fail(HttpError::new(ErrorKind::BadChunk, "body read failed"));
                    return Err(e);
                }
            }
        }
    }

    fn consume(&mut self, io: &mut ConnIo, n: usize) {
        self.consumed += n as u64;
        match &mut self.state {
            BodyState::Length(left) => {
                *left -= n as u64;
                io.start += n;
                if *left == 0 {
                    self.state = BodyState::Done;
                }
            }
            BodyState::Chunked { pending, .. } => pending.0 += n,
            _ => {}
        }
    }

    /// Reads and discards what is left of the body, up to `limit` bytes. Returns whether
    /// the body was read to its end (so the connection can serve another request).
    pub(crate) fn drain(&mut self, io: &mut ConnIo, limit: u64) -> bool {
        if let BodyState::Length(n) = self.state {
            if n > limit {
                return false;
            }
        }
        let mut drained = 0u64;
        while drained <= limit {
            match self.fill(io) {
                Ok([]) => return self.is_done(),
                Ok(b) => {
                    let n = b.len();
                    drained += n as u64;
                    self.consume(io, n);
                }
                Err(_) => return false,
            }
        }
        false
    }
}

/// `wsgi.input`: the request body. `Read` and `BufRead`; reads park the green thread.
///
/// The body is read from the socket only when the app reads it; for a request with
/// `Expect: 100-continue`, the `100 Continue` goes out on the first read. A body the app
/// does not read is drained (up to a bound) after the response, or the connection closes.
///
/// A malformed or truncated body makes reads fail with `InvalidData`; the server then
/// answers 400 (or 408, 413) whatever the app returns, and closes the connection.
pub struct Input<'a> {
    inner: Option<(&'a mut BodyReader, &'a mut ConnIo)>,
}

impl<'a> Input<'a> {
    pub(crate) fn new(reader: &'a mut BodyReader, io: &'a mut ConnIo) -> Self {
        Input {
            inner: Some((reader, io)),
        }
    }

    /// An input with no body (for tests of apps and middleware).
    pub fn empty() -> Input<'static> {
        Input { inner: None }
    }

    /// Reads the whole body (bounded by `max` bytes: more is an `InvalidData` error).
    pub fn read_body(&mut self, max: usize) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            let b = self.fill_buf()?;
            if b.is_empty() {
                return Ok(out);
            }
            if out.len() + b.len() > max {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("request body larger than {max} bytes"),
                ));
            }
            out.extend_from_slice(b);
            let n = b.len();
            self.consume(n);
        }
    }
}

impl Read for Input<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let b = self.fill_buf()?;
        let n = b.len().min(out.len());
        out[..n].copy_from_slice(&b[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Input<'_> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        match &mut self.inner {
            None => Ok(&[]),
            Some((r, io)) => r.fill(io),
        }
    }

    fn consume(&mut self, n: usize) {
        if let Some((r, io)) = &mut self.inner {
            r.consume(io, n);
        }
    }
}
