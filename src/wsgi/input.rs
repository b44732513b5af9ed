//! `wsgi.input`: the request body as `Read` + `BufRead`, read lazily from the connection.
//!
//! [`BodyReader`] is the connection's side: where reading the current body stands
//! (length left, chunked decoder, failure), kept across the app call so that the
//! connection can drain what the app left. [`Input`] is the app's side: a `BufRead` over
//! the reader and the connection's buffers.

use std::io::{self, BufRead, Read};
use std::time::{Duration, Instant};

use super::error::RequestError;
use super::io::{is_timeout, ConnIo, Transport};
use super::pace::Pace;
use crate::http::decode::{Chunk, ChunkedDecoder};
use crate::http::request::{BodyLength, RequestHead};
use crate::http::{Error as HttpError, ErrorKind};
use crate::net::IoWaker;

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
    /// The app took the connection over (`101 Switching Protocols` sent): it closes when
    /// the app returns, without an HTTP response.
    upgraded: bool,
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
            upgraded: false,
        }
    }

    /// Starts on the body of `head`. A declared length over the limit is refused at once.
    pub(crate) fn start(&mut self, head: &RequestHead) -> Result<(), HttpError> {
        self.peer_gone = false;
        self.upgraded = false;
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

    /// Whether the app took the connection over with `101 Switching Protocols`.
    pub(crate) fn is_upgraded(&self) -> bool {
        self.upgraded
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
        let err = request_error_of(&e, self.peer_gone, self.max_body).into();
        self.state = BodyState::Failed(e);
        err
    }

    /// The body bytes still to come, when the request declared them (Content-Length).
    fn remaining(&self) -> Option<u64> {
        match self.state {
            BodyState::Length(n) => Some(n),
            BodyState::Done => Some(0),
            _ => None,
        }
    }

    /// The next piece of body in the buffer, reading from the stream when needed.
    fn fill<'b, T: Transport>(&mut self, io: &'b mut ConnIo<T>) -> io::Result<&'b [u8]> {
        loop {
            let ready = match &mut self.state {
                BodyState::Done => return Ok(&[]),
                BodyState::Failed(e) => {
                    return Err(request_error_of(e, self.peer_gone, self.max_body).into())
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
                Err(io::Error::new(e.kind(), RequestError::Disconnected))
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

/// What the app is told about a failed body: the io::Error it reads carries this
/// [`RequestError`], told apart by what happened (the limit, the client's pace, the client
/// gone, or bad framing).
fn request_error_of(e: &HttpError, peer_gone: bool, max_body: Option<u64>) -> RequestError {
    match e.kind() {
        _ if peer_gone => RequestError::Disconnected,
        ErrorKind::BodyTooLarge => RequestError::TooLarge {
            limit: max_body.unwrap_or(0),
        },
        ErrorKind::Timeout => RequestError::TimedOut,
        _ => RequestError::Malformed(e.to_string()),
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
    /// The bytes still to come, if known (a declared Content-Length).
    fn remaining(&self) -> Option<u64>;
    /// Sends `head` (a whole `101` response head) and hands the connection over: from
    /// then on [`BodySource::duplex`] reads and writes it. Fails if the request has a body
    /// or the connection was already handed over.
    fn upgrade(&mut self, head: &[u8]) -> io::Result<()>;
    /// The connection, once handed over.
    fn duplex(&mut self) -> Option<&mut dyn Duplex>;
}

/// An upgraded connection's byte stream: what was received after the request head first,
/// then the socket (through TLS when there is TLS).
pub(crate) trait Duplex {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize>;
    fn write(&mut self, buf: &[u8]) -> io::Result<usize>;
    fn flush(&mut self) -> io::Result<()>;
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()>;
    fn is_stopping(&self) -> bool;
    fn set_waiting(&self) -> bool;
    fn set_busy(&self) -> bool;
    /// Reads what has arrived without waiting (`Ok(None)`: nothing yet).
    fn try_read(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>>;
    /// Parks until readable or woken (may return early).
    fn wait_readable(&self);
    /// What ends a [`wait_readable`](Duplex::wait_readable) from another green thread.
    fn waker(&self) -> Option<IoWaker>;
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

    fn remaining(&self) -> Option<u64> {
        self.reader.remaining()
    }

    fn upgrade(&mut self, head: &[u8]) -> io::Result<()> {
        if self.reader.upgraded || !self.reader.is_done() {
            let why = if self.reader.upgraded {
                "the connection was already upgraded"
            } else {
                "a request with a body cannot be upgraded"
            };
            return Err(io::Error::new(io::ErrorKind::InvalidInput, why));
        }
        self.io.out().extend_from_slice(head);
        self.io.flush()?;
        self.reader.upgraded = true;
        // From here on reads and writes go to the stream: an idle WebSocket keeps no
        // HTTP buffers.
        self.io.release_buffers();
        // The request's deadlines are over; the new protocol sets its own.
        self.io.transport_mut().set_read_timeout(None)
    }

    fn duplex(&mut self) -> Option<&mut dyn Duplex> {
        if self.reader.upgraded {
            Some(self)
        } else {
            None
        }
    }
}

impl<T: Transport> BodyIo<'_, T> {
    /// Copies out bytes received after the request head and not yet read, if any.
    fn take_held(&mut self, buf: &mut [u8]) -> Option<usize> {
        let held = self.io.buffered();
        if held.is_empty() {
            return None;
        }
        let n = held.len().min(buf.len());
        buf[..n].copy_from_slice(&held[..n]);
        self.io.consume(n);
        self.io.release_buffers();
        Some(n)
    }
}

impl<T: Transport> Duplex for BodyIo<'_, T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(n) = self.take_held(buf) {
            return Ok(n);
        }
        self.io.transport_mut().read(buf)
    }

    fn try_read(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        if let Some(n) = self.take_held(buf) {
            return Ok(Some(n));
        }
        self.io.transport_mut().try_read(buf)
    }

    fn wait_readable(&self) {
        self.io.transport().wait_readable();
    }

    fn waker(&self) -> Option<IoWaker> {
        self.io.transport().waker()
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.io.transport_mut().write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.io.transport_mut().flush()
    }

    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.io.transport_mut().set_read_timeout(timeout)
    }

    fn is_stopping(&self) -> bool {
        self.io.transport().is_stopping()
    }

    fn set_waiting(&self) -> bool {
        self.io.transport().set_waiting()
    }

    fn set_busy(&self) -> bool {
        self.io.transport().set_busy()
    }
}

/// `wsgi.input`: the request body. `Read` and `BufRead`; reads park the green thread.
///
/// The body is read from the socket only when the app reads it; for a request with
/// `Expect: 100-continue`, the `100 Continue` goes out on the first read. A body the app
/// does not read is drained (up to a bound) after the response, or the connection closes.
///
/// A body that cannot be read makes reads fail with an `io::Error` that carries a
/// [`RequestError`] saying why (find it with [`RequestError::from_io`]): too large,
/// malformed framing, the client gone, or too slow. The server then answers 413, 400 or
/// 408 whatever the app returns, and closes the connection.
///
/// ```
/// use std::io::Read;
/// use greenlight::wsgi::{Body, Environ, RequestError, StartResponse};
///
/// fn app(env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
///     let mut text = String::new();
///     if let Err(e) = (&mut *env.input()).take(1 << 20).read_to_string(&mut text) {
///         match RequestError::from_io(&e) {
///             Some(RequestError::Disconnected) => return Body::empty(), // nobody to answer
///             Some(r) => start.status(r.status()),
///             None => start.status(400), // not UTF-8
///         };
///         return Body::from(e.to_string());
///     }
///     start.status(200);
///     Body::from(text)
/// }
/// # fn assert_app<A: greenlight::wsgi::App>(_: A) {}
/// # assert_app(app);
/// ```
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

    /// The connection's side, if this input reads a connection.
    pub(crate) fn source(&mut self) -> Option<&mut (dyn BodySource + 'a)> {
        self.inner.as_deref_mut()
    }

    /// Reads the whole body, at most `max` bytes.
    ///
    /// A declared `Content-Length` over `max` fails at once, before anything is read.
    ///
    /// ```
    /// use greenlight::testing::TestRequest;
    /// use greenlight::wsgi::RequestError;
    ///
    /// let req = TestRequest::new("POST", "/").body("hello");
    /// let body = req.environ(|env| env.input().read_body(1024)).unwrap();
    /// assert_eq!(body.unwrap(), b"hello");
    /// let small = req.environ(|env| env.input().read_body(4)).unwrap();
    /// assert!(matches!(small, Err(RequestError::TooLarge { limit: 4 })));
    /// ```
    ///
    /// # Errors
    ///
    /// [`RequestError::TooLarge`] for a body over `max` (or over the server's limit),
    /// [`RequestError::Malformed`] for broken chunked framing, [`RequestError::Disconnected`]
    /// when the client went away before the end, [`RequestError::TimedOut`] when it sent too
    /// slowly.
    pub fn read_body(&mut self, max: usize) -> Result<Vec<u8>, RequestError> {
        let too_large = RequestError::TooLarge { limit: max as u64 };
        if let Some(s) = &self.inner {
            if s.remaining().is_some_and(|n| n > max as u64) {
                return Err(too_large);
            }
        }
        let mut out = Vec::new();
        loop {
            let b = self.fill_buf().map_err(request_error)?;
            if b.is_empty() {
                return Ok(out);
            }
            if out.len() + b.len() > max {
                return Err(too_large);
            }
            out.extend_from_slice(b);
            let n = b.len();
            self.consume(n);
        }
    }
}

/// The [`RequestError`] an io::Error from a body carries; for other io errors (a reader
/// that is not `wsgi.input`), the closest one.
pub(crate) fn request_error(e: io::Error) -> RequestError {
    if RequestError::from_io(&e).is_some() {
        if let Some(Ok(r)) = e.into_inner().map(|b| b.downcast::<RequestError>()) {
            return *r;
        }
        unreachable!("from_io found a RequestError");
    }
    match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => RequestError::TimedOut,
        io::ErrorKind::UnexpectedEof
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe => RequestError::Disconnected,
        _ => RequestError::Malformed(e.to_string()),
    }
}

/// `Read::read` for a reader whose own buffer is the place to read from: copies what
/// `fill_buf` has, without a second buffer.
pub(crate) fn read_buffered<R: BufRead + ?Sized>(r: &mut R, out: &mut [u8]) -> io::Result<usize> {
    let b = r.fill_buf()?;
    let n = b.len().min(out.len());
    out[..n].copy_from_slice(&b[..n]);
    r.consume(n);
    Ok(n)
}

impl Read for Input<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        read_buffered(self, out)
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

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use crate::testing::{TestClient, TestRequest};
    use crate::wsgi::{Body, Environ, RequestError, StartResponse, WsgiOptions};

    /// What `read_body(max)` and a plain `Read` gave the app for `raw`, as the server
    /// (with `max_body`) runs it.
    fn seen(max_body: Option<u64>, max: usize, raw: &[u8]) -> (String, String) {
        let got = Arc::new(Mutex::new((String::new(), String::new())));
        let out = got.clone();
        let app = move |env: &mut Environ<'_>, start: StartResponse<'_>| -> Body {
            let r = env.input().read_body(max);
            let mut rest = Vec::new();
            let e = std::io::Read::read_to_end(&mut *env.input(), &mut rest).err();
            let via_io = e.as_ref().and_then(RequestError::from_io);
            *out.lock().unwrap() = (format!("{r:?}"), format!("{via_io:?}"));
            start.status(200);
            Body::empty()
        };
        let opts = WsgiOptions {
            max_body,
            ..WsgiOptions::default()
        };
        TestClient::with_options(app, &opts).send(raw, false);
        let r = got.lock().unwrap().clone();
        r
    }

    #[test]
    fn body_errors_say_what_happened() {
        let chunked = TestRequest::new("POST", "/").chunks(["0123456789", "0123456789"]);
        let (r, io) = seen(Some(15), 100, &chunked.to_bytes());
        assert_eq!(r, "Err(TooLarge { limit: 15 })");
        assert_eq!(io, "Some(TooLarge { limit: 15 })");

        let (r, _) = seen(None, 15, &chunked.to_bytes());
        assert_eq!(r, "Err(TooLarge { limit: 15 })");

        let bad = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
        let (r, io) = seen(None, 100, bad);
        assert!(r.starts_with("Err(Malformed("), "{r}");
        assert!(io.starts_with("Some(Malformed("), "{io}");

        let cut = TestRequest::new("POST", "/")
            .header("Content-Length", "10")
            .body("12345");
        // The client is gone, so nothing is answered: read it without a client.
        let (r, io) = cut
            .environ(|env| {
                let r = env.input().read_body(100);
                let e = std::io::Read::read(&mut *env.input(), &mut [0; 8]).unwrap_err();
                (r, RequestError::from_io(&e).map(|e| e.to_string()))
            })
            .unwrap();
        assert!(matches!(r, Err(RequestError::Disconnected)), "{r:?}");
        assert_eq!(io.as_deref(), Some("the client went away"));
    }

    #[test]
    fn a_declared_length_over_max_fails_before_reading() {
        // Only 5 of the 100 declared bytes exist: reading would meet the end instead.
        let req = TestRequest::new("POST", "/")
            .header("Content-Length", "100")
            .body("12345");
        let r = req.environ(|env| env.input().read_body(99)).unwrap();
        assert!(
            matches!(r, Err(RequestError::TooLarge { limit: 99 })),
            "{r:?}"
        );
        let ok = TestRequest::new("POST", "/").body("12345");
        let r = ok.environ(|env| env.input().read_body(5)).unwrap();
        assert_eq!(r.unwrap(), b"12345");
    }
}
