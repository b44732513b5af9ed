//! `wsgi.input`: the request body as `Read` + `BufRead`, read lazily from the connection.
//!
//! [`BodyReader`] is the connection's side: where reading the current body stands
//! (length left, chunked decoder, failure), kept across the app call so that the
//! connection can drain what the app left. [`Input`] is the app's side: a `BufRead` over
//! the reader and the connection's buffers.

use std::io::{self, BufRead, Read};
use std::time::{Duration, Instant};

use super::io::{is_timeout, ConnIo, Transport};
use super::pace::Pace;
use crate::http::decode::{Chunk, ChunkedDecoder};
use crate::http::request::{BodyLength, RequestHead};
use crate::http::{Error as HttpError, ErrorKind};

/// The interim response sent on the first read of a body the client is holding back.
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";
/// The read buffer may grow to this size while a body is read.
const BODY_BUF_MAX: usize = 64 * 1024;

/// Where reading the current request's body stands.
#[derive(Debug)]
enum BodyState {
    /// Nothing (more) to read.
    Done,
    /// This many bytes are still to come.
    Length(u64),
    /// Chunked; decoded data not yet handed out is held in the connection's buffer.
    Chunked {
        decoder: ChunkedDecoder,
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
    state: BodyState,
    /// `Expect: 100-continue` and nothing sent yet.
    continue_pending: bool,
    timeout: Option<Duration>,
    max_body: Option<u64>,
    /// Minimum data rate, bytes a second (0: none), and how this body has arrived.
    min_rate: u32,
    pace: Pace,
    peer_gone: bool,
}

impl BodyReader {
    /// A reader for no body, with the limits every request of a connection shares.
    pub(crate) fn new(timeout: Option<Duration>, max_body: Option<u64>, min_rate: u32) -> Self {
        BodyReader {
            state: BodyState::Done,
            continue_pending: false,
            timeout,
            max_body,
            min_rate,
            pace: Pace::default(),
            peer_gone: false,
        }
    }

    /// Starts on the body of `head`. A declared length over the limit is refused at once.
    pub(crate) fn start(&mut self, head: &RequestHead) -> Result<(), HttpError> {
        self.peer_gone = false;
        self.pace = Pace::default();
        self.continue_pending = head.expect_continue;
        self.state = match head.body {
            BodyLength::Empty => BodyState::Done,
            BodyLength::Length(n) => BodyState::Length(n),
            BodyLength::Chunked => BodyState::Chunked {
                decoder: ChunkedDecoder::new(),
                total: 0,
            },
        };
        match (self.max_body, head.body) {
            (Some(max), BodyLength::Length(len)) if len > max => Err(too_large()),
            _ => Ok(()),
        }
    }

    pub(crate) fn is_done(&self) -> bool {
        matches!(self.state, BodyState::Done)
    }

    pub(crate) fn failed(&self) -> Option<&HttpError> {
        match &self.state {
            BodyState::Failed(e) => Some(e),
            _ => None,
        }
    }

    /// Whether the client went away (or broke the stream) while the body was read.
    pub(crate) fn is_peer_gone(&self) -> bool {
        self.peer_gone
    }

    /// Whether reading the rest would cost more than closing: the client holds the body
    /// back (`Expect: 100-continue`, never asked for), or more than `max` bytes are left.
    pub(crate) fn is_costly(&self, max: u64) -> bool {
        match self.state {
            BodyState::Done => false,
            BodyState::Length(n) => self.continue_pending || n > max,
            _ => self.continue_pending,
        }
    }

    fn fail(&mut self, e: HttpError) -> io::Error {
        let msg = e.to_string();
        self.state = BodyState::Failed(e);
        io::Error::new(io::ErrorKind::InvalidData, msg)
    }

    /// The next piece of body in the buffer, reading from the stream when needed.
    fn fill<'b, T: Transport>(&mut self, io: &'b mut ConnIo<T>) -> io::Result<&'b [u8]> {
        loop {
            let ready = match &mut self.state {
                BodyState::Done => return Ok(&[]),
                BodyState::Failed(e) => {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
                }
                BodyState::Length(0) => {
                    self.state = BodyState::Done;
                    return Ok(&[]);
                }
                BodyState::Length(n) => {
                    let take = (*n).min(io.buffered().len() as u64) as usize;
                    take > 0
                }
                BodyState::Chunked { .. } => self.decode(io)?,
            };
            if ready {
                return Ok(match self.state {
                    BodyState::Length(n) => {
                        let b = io.buffered();
                        &b[..(n.min(b.len() as u64) as usize)]
                    }
                    _ => io.held(),
                });
            }
            if self.is_done() {
                return Ok(&[]);
            }
            self.read_more(io)?;
        }
    }

    /// Decodes chunked framing in the buffer until body data is held (`true`), the body
    /// ended, or more bytes are needed (`false`).
    fn decode<T: Transport>(&mut self, io: &mut ConnIo<T>) -> io::Result<bool> {
        if !io.held().is_empty() {
            return Ok(true);
        }
        let BodyState::Chunked { decoder, total } = &mut self.state else {
            return Ok(false);
        };
        while io.has_buffered() {
            match decoder.decode(io.buffered()) {
                Ok((used, Chunk::Data(r))) if r.is_empty() => io.consume(used),
                Ok((used, Chunk::Data(r))) => {
                    *total += r.len() as u64;
                    io.hold(used, r);
                    if self.max_body.is_some_and(|max| *total > max) {
                        return Err(self.fail(too_large()));
                    }
                    return Ok(true);
                }
                Ok((used, Chunk::More)) => io.consume(used),
                Ok((used, Chunk::End)) => {
                    io.consume(used);
                    self.state = BodyState::Done;
                    return Ok(false);
                }
                Err(e) => return Err(self.fail(e)),
            }
        }
        Ok(false)
    }

    /// Reads more of the body from the stream, asking the client for it first if it is
    /// waiting for our go.
    fn read_more<T: Transport>(&mut self, io: &mut ConnIo<T>) -> io::Result<()> {
        if self.continue_pending {
            self.continue_pending = false;
            io.out().extend_from_slice(CONTINUE);
        }
        if self.pace.is_too_slow(self.min_rate) {
            return Err(self.fail(too_slow()));
        }
        let limit = io.buffered().len().max(BODY_BUF_MAX);
        let began = Instant::now();
        match io.fill(limit, self.pace.limit(self.min_rate, self.timeout)) {
            Ok(0) => {
                self.peer_gone = true;
                Err(self.fail(HttpError::new(
                    ErrorKind::BadChunk,
                    "the client closed the connection before the end of the body",
                )))
            }
            Ok(n) => {
                self.pace.record(began, n);
                Ok(())
            }
            Err(e) if is_timeout(&e) => {
                self.pace.record(began, 0);
                Err(self.fail(match self.pace.is_too_slow(self.min_rate) {
                    true => too_slow(),
                    false => {
                        HttpError::new(ErrorKind::Timeout, "timed out reading the request body")
                    }
                }))
            }
            Err(e) => {
                self.peer_gone = true;
                let _ = self.fail(HttpError::new(ErrorKind::BadChunk, "body read failed"));
                Err(e)
            }
        }
    }

    fn consume<T: Transport>(&mut self, io: &mut ConnIo<T>, n: usize) {
        match &mut self.state {
            BodyState::Length(left) => {
                *left -= n as u64;
                io.consume(n);
                if *left == 0 {
                    self.state = BodyState::Done;
                }
            }
            BodyState::Chunked { .. } => io.release(n),
            _ => {}
        }
    }

    /// Reads and discards what is left of the body, up to `limit` bytes. Returns whether
    /// the body was read to its end (so the connection can serve another request).
    pub(crate) fn drain<T: Transport>(&mut self, io: &mut ConnIo<T>, limit: u64) -> bool {
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

fn too_slow() -> HttpError {
    HttpError::new(
        ErrorKind::Timeout,
        "request body sent below the minimum data rate (--min-rate)",
    )
}

fn too_large() -> HttpError {
    HttpError::new(ErrorKind::BodyTooLarge, "request body larger than allowed")
}

/// A body being read: what [`Input`] reads from.
pub(crate) trait BodySource {
    fn fill_buf(&mut self) -> io::Result<&[u8]>;
    fn consume(&mut self, n: usize);
}

/// A request's body reader over its connection's buffers.
pub(crate) struct BodyIo<'a, T> {
    pub(crate) reader: &'a mut BodyReader,
    pub(crate) io: &'a mut ConnIo<T>,
}

impl<T: Transport> BodySource for BodyIo<'_, T> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.reader.fill(self.io)
    }

    fn consume(&mut self, n: usize) {
        self.reader.consume(self.io, n);
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
    inner: Option<&'a mut dyn BodySource>,
}

impl<'a> Input<'a> {
    pub(crate) fn new(source: &'a mut dyn BodySource) -> Self {
        Input {
            inner: Some(source),
        }
    }

    /// An input with no body (for tests of apps and middleware).
    pub fn empty() -> Input<'a> {
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
            Some(s) => s.fill_buf(),
        }
    }

    fn consume(&mut self, n: usize) {
        if let Some(s) = &mut self.inner {
            s.consume(n);
        }
    }
}
