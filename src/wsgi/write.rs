//! Writing responses: the app's head and body (whole, streamed, or from a reader), a 500
//! for an app that failed, and the server's own short error answers.
//!
//! Small bodies join the head in the connection's write buffer and leave with the next
//! flush (pipelined answers in one write); large and streamed bodies are sent as they come.

use std::borrow::Cow;
use std::io::{self, Read};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use bytes::Bytes;

use super::environ::latin1;
use super::file_body::{self, FileSent};
use super::io::{ConnIo, Transport};
use super::response::{BodyKind, ChunkIter, HeaderText, ResponseHead};
use super::Body;
use crate::green::{is_cancel, panic_message, run_until, Deadline, Ran};
use crate::http::date;
use crate::http::encode::{self, Framing};
use crate::http::request::{RequestHead, Version};

/// A response body up to this size is copied behind the head and sent in the same write.
const COALESCE_MAX: usize = 16 * 1024;
/// Room made in the write buffer for a response's head (grown if it is larger).
const FIRST_HEAD: usize = 256;
/// A reader body is sent in pieces of this size.
const READER_PIECE: usize = 16 * 1024;

/// What was sent for one request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sent {
    /// The status code.
    pub(crate) status: u16,
    /// Body bytes.
    pub(crate) bytes: u64,
    /// Whether the connection may serve another request.
    pub(crate) keep_alive: bool,
}

/// Judges the app's call: keeps its body in `reply`, or takes it and sets `fault` to why
/// the answer must be a 500 (empty when already logged). The body stays where the app
/// put it and nothing is returned: this runs on every request, and values moved through
/// return slots cost more than these checks.
pub(crate) fn judge(reply: &mut Option<Body>, resp: &mut ResponseHead, fault: &mut Option<String>) {
    let why = match (reply.as_ref(), resp.status.is_some(), resp.error.take()) {
        (
            Some(Body {
                kind: BodyKind::Invalid(why),
                ..
            }),
            _,
            _,
        ) => why.clone(),
        (Some(b), true, None) => {
            if let Some(ct) = b.content_type {
                if resp.header("content-type").is_none() {
                    resp.headers.push(("Content-Type".into(), ct.into()));
                }
            }
            return;
        }
        (Some(_), _, Some(why)) => why,
        (Some(_), false, None) => "the app did not set a status".to_owned(),
        (None, _, _) => String::new(),
    };
    *reply = None;
    *fault = Some(why);
}

/// Writes the answer to a request whose app call is over: the app's response, or a 500.
pub(crate) fn answer<T: Transport>(
    io: &mut ConnIo<T>,
    (head, head_buf): (&RequestHead, &[u8]),
    resp: &mut ResponseHead,
    reply: Option<Body>,
    fault: Option<String>,
    keep_alive: bool,
    deadline: Option<&Deadline>,
) -> io::Result<Sent> {
    match reply {
        Some(b) => {
            let close = resp
                .header("connection")
                .is_some_and(|v| v.eq_ignore_ascii_case("close"));
            let is_head = head.method.get(head_buf) == b"HEAD";
            let (bytes, keep_alive) = write_response(
                io,
                head.version,
                resp,
                b,
                keep_alive && !close,
                is_head,
                deadline,
            )?;
            Ok(Sent {
                status: resp.code,
                bytes,
                keep_alive,
            })
        }
        None => {
            let why = fault.unwrap_or_default();
            if !why.is_empty() {
                log::error!(
                    "Error handling request {} {}: {why}",
                    latin1(head.method.get(head_buf)),
                    latin1(head.target.get(head_buf))
                );
            }
            error_response(
                io.out(),
                500,
                head.version,
                head.method.get(head_buf) == b"HEAD",
            );
            Ok(Sent {
                status: 500,
                bytes: 0,
                keep_alive: false,
            })
        }
    }
}

/// Queues a small plain-text answer with `Connection: close`; to a HEAD (`head`), its
/// head alone (RFC 9110 §9.3.2: "the server MUST NOT send content in the response").
pub(crate) fn error_response(out: &mut Vec<u8>, status: u16, version: Version, head: bool) {
    let reason = encode::reason_phrase(status);
    let mut line = itoa::Buffer::new().format(status).to_owned();
    line.push(' ');
    line.push_str(reason);
    let body = format!("{reason}\n");
    encode::write_head(
        out,
        &line,
        [("Content-Type", "text/plain; charset=utf-8")],
        Framing::Length(body.len() as u64),
        version,
        false,
        &date::now(),
    );
    if !head {
        out.extend_from_slice(body.as_bytes());
    }
}

/// The length the app announced with `Content-Length`, if valid.
fn announced_length(resp: &ResponseHead) -> Option<u64> {
    resp.header("content-length")
        .and_then(|v| v.trim().parse::<u64>().ok())
}

/// The body length known before sending it: a whole body's own, a reader's declared one,
/// or the app's `Content-Length` for a stream.
fn known_length(resp: &ResponseHead, body: &Body) -> Option<u64> {
    match &body.kind {
        BodyKind::Full(b) => {
            if let Some(n) = announced_length(resp) {
                if n != b.len() as u64 {
                    log::warn!(
                        "app announced Content-Length {n} but returned {} bytes; sending the real length",
                        b.len()
                    );
                }
            }
            Some(b.len() as u64)
        }
        BodyKind::Reader(_, Some(n)) => Some(*n),
        BodyKind::File { len, .. } => Some(*len),
        _ => announced_length(resp),
    }
}

/// Makes room in the write buffer (a spare one, of `spare::SIZE` bytes, or what answers
/// queued before left) for an answer's head and a body coalesced with it, at once.
#[inline]
fn make_write_buffer(out: &mut Vec<u8>, body: &Body) {
    let body = match body.kind {
        BodyKind::Full(ref b) if b.len() <= COALESCE_MAX => b.len(),
        _ => 0,
    };
    out.reserve(FIRST_HEAD + body);
}

/// Writes the response head and body. Returns the body bytes sent and whether the
/// connection may stay open.
fn write_response<T: Transport>(
    io: &mut ConnIo<T>,
    version: Version,
    resp: &mut ResponseHead,
    body: Body,
    keep_alive: bool,
    is_head: bool,
    deadline: Option<&Deadline>,
) -> io::Result<(u64, bool)> {
    let known = known_length(resp, &body);
    let (framing, keep_alive) =
        encode::response_framing(version, is_head, resp.code, known, keep_alive);
    let second = date::second();
    let ResponseHead {
        status,
        headers,
        written,
        ..
    } = resp;
    let out = io.out();
    make_write_buffer(out, &body);
    let texts = HeadTexts {
        status,
        headers,
        framing,
        version,
        keep_alive,
        second,
    };
    if written.is_for(&texts) {
        out.extend_from_slice(&written.bytes);
    } else {
        let start = out.len();
        encode::write_head(
            out,
            status.as_deref().unwrap_or("200 OK"),
            headers.iter().map(|(k, v)| (k.as_ref(), v.as_ref())),
            framing,
            version,
            keep_alive,
            &date::at(second),
        );
        written.keep(&texts, &out[start..]);
    }
    if let Framing::NoBody(_) = framing {
        return Ok((0, keep_alive));
    }
    match (framing, body.kind) {
        (_, BodyKind::Full(b)) => {
            if b.len() <= COALESCE_MAX {
                io.out().extend_from_slice(&b);
            } else {
                io.send(&b)?;
            }
            Ok((b.len() as u64, keep_alive))
        }
        (framing, BodyKind::Chunks(chunks)) => {
            stream_body(io, framing, chunks, keep_alive, deadline)
        }
        (framing, BodyKind::Reader(r, _)) => {
            stream_body(io, framing, Box::new(ReaderChunks(r)), keep_alive, deadline)
        }
        (Framing::Length(_), BodyKind::File { file, offset, len }) => {
            match file_body::send(io, file, offset, len)? {
                FileSent::Done(n, complete) => Ok((n, keep_alive && complete)),
                // The server's own reads of a file: no app code to hold to a deadline.
                FileSent::Fallback(chunks) => stream_body(io, framing, chunks, keep_alive, None),
            }
        }
        (framing, BodyKind::File { file, offset, len }) => stream_body(
            io,
            framing,
            file_body::pieces(file, offset, len),
            keep_alive,
            None,
        ),
        (_, BodyKind::Invalid(_)) => unreachable!("an invalid body is answered with a 500"),
    }
}

/// What a response head is made of.
struct HeadTexts<'a> {
    status: &'a Option<HeaderText>,
    headers: &'a [(HeaderText, HeaderText)],
    framing: Framing,
    version: Version,
    keep_alive: bool,
    /// The second of its `Date` (see [`date::second`]).
    second: u64,
}

/// The last response head a connection wrote, kept to be written again as it is when the
/// next one is made of the same: a literal status and literal headers (compared by address:
/// what a `&'static str` holds never changes), the same framing, version, keep-alive and
/// `Date`. A handler that answers with literals (the usual case) then costs one copy
/// instead of encoding its head. Heads with an owned text are not kept.
#[derive(Debug, Default)]
pub(crate) struct HeadCache {
    /// The address and length of the status (`(0, 0)` for none), then of each header's
    /// name and value.
    texts: Vec<(usize, usize)>,
    /// The framing, version and keep-alive; `None` when nothing is kept.
    shape: Option<(Framing, Version, bool)>,
    /// The second of its `Date`: compared as a number, not as the 29 bytes of text (which
    /// would be copied to the stack and read back at once, a stalled load).
    second: u64,
    bytes: Vec<u8>,
}

/// A literal text's address and length.
fn literal(text: &HeaderText) -> Option<(usize, usize)> {
    match text {
        Cow::Borrowed(s) => Some((s.as_ptr() as usize, s.len())),
        Cow::Owned(_) => None,
    }
}

fn status_key(status: &Option<HeaderText>) -> Option<(usize, usize)> {
    status.as_ref().map_or(Some((0, 0)), literal)
}

impl HeadCache {
    /// Whether the kept head is the one `t` makes.
    #[inline]
    fn is_for(&self, t: &HeadTexts<'_>) -> bool {
        self.shape == Some((t.framing, t.version, t.keep_alive))
            && self.second == t.second
            && self.texts.len() == 1 + 2 * t.headers.len()
            && status_key(t.status) == Some(self.texts[0])
            && t.headers
                .iter()
                .zip(self.texts[1..].chunks_exact(2))
                .all(|((n, v), k)| literal(n) == Some(k[0]) && literal(v) == Some(k[1]))
    }

    /// Keeps `bytes`, the head `t` made, if all its texts are literals.
    fn keep(&mut self, t: &HeadTexts<'_>, bytes: &[u8]) {
        self.shape = None;
        self.texts.clear();
        let Some(status) = status_key(t.status) else {
            return;
        };
        self.texts.push(status);
        for (n, v) in t.headers {
            match (literal(n), literal(v)) {
                (Some(n), Some(v)) => self.texts.extend([n, v]),
                _ => return,
            }
        }
        self.shape = Some((t.framing, t.version, t.keep_alive));
        self.second = t.second;
        self.bytes.clear();
        self.bytes.extend_from_slice(bytes);
    }
}

/// A reader as a sequence of chunks.
struct ReaderChunks(Box<dyn Read + Send>);

impl Iterator for ReaderChunks {
    type Item = io::Result<Bytes>;
    fn next(&mut self) -> Option<io::Result<Bytes>> {
        let mut buf = vec![0u8; READER_PIECE];
        loop {
            return match self.0.read(&mut buf) {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some(Ok(Bytes::from(buf)))
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => Some(Err(e)),
            };
        }
    }
}

/// The next piece of a produced body; `None` at its end, or when the producer failed,
/// panicked or ran past the request's deadline (logged: the response ends early). A
/// cancellation of the connection unwinds on.
fn next_piece(
    chunks: &mut ChunkIter,
    sent: u64,
    deadline: Option<&Deadline>,
) -> Option<Result<Bytes, ()>> {
    let produced = match deadline {
        Some(d) if d.get().is_some() => {
            if d.is_past() {
                Ran::Expired
            } else {
                run_until(d, || chunks.next())
            }
        }
        _ => match catch_unwind(AssertUnwindSafe(|| chunks.next())) {
            Ok(p) => Ran::Done(p),
            Err(p) => Ran::Panicked(p),
        },
    };
    match produced {
        Ran::Done(Some(Ok(c))) => Some(Ok(c)),
        Ran::Done(None) => None,
        Ran::Done(Some(Err(e))) => {
            log::error!("response body failed after {sent} bytes: {e}");
            Some(Err(()))
        }
        Ran::Panicked(p) => {
            if is_cancel(&*p) {
                resume_unwind(p);
            }
            log::error!(
                "response body panicked after {sent} bytes: {}",
                panic_message(&*p)
            );
            Some(Err(()))
        }
        Ran::Expired => {
            log::error!(
                "response body past the request's deadline after {sent} bytes \
                 (--request-timeout); closing the connection"
            );
            Some(Err(()))
        }
    }
}

/// Sends a produced body piece by piece, each as soon as it is produced. A producer that
/// fails or panics ends the response early and closes the connection (the client sees it
/// incomplete).
fn stream_body<T: Transport>(
    io: &mut ConnIo<T>,
    framing: Framing,
    mut chunks: ChunkIter,
    keep_alive: bool,
    deadline: Option<&Deadline>,
) -> io::Result<(u64, bool)> {
    let limit = match framing {
        Framing::Length(n) => Some(n),
        _ => None,
    };
    let mut sent = 0u64;
    while let Some(piece) = next_piece(&mut chunks, sent, deadline) {
        let Ok(chunk) = piece else {
            io.flush()?;
            return Ok((sent, false));
        };
        let mut data: &[u8] = &chunk;
        if let Some(n) = limit {
            if data.len() as u64 > n - sent {
                log::warn!("app body exceeds its Content-Length {n}; truncated");
                data = &data[..(n - sent) as usize];
            }
        }
        if data.is_empty() {
            continue;
        }
        match framing {
            Framing::Chunked => encode::write_chunk(io.out(), data),
            _ => io.out().extend_from_slice(data),
        }
        sent += data.len() as u64;
        io.flush()?;
        if limit.is_some_and(|n| sent >= n) {
            break;
        }
    }
    match framing {
        Framing::Chunked => {
            io.out().extend_from_slice(encode::LAST_CHUNK);
            Ok((sent, keep_alive))
        }
        Framing::Length(n) if sent < n => {
            log::error!("app body ended after {sent} of its {n} announced bytes; closing");
            Ok((sent, false))
        }
        _ => Ok((sent, keep_alive)),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::super::bench::BytesConn;
    use super::super::{Body, Environ, StartResponse};

    /// The answer without its `Date` line (the second may tick between two answers).
    pub(in crate::wsgi) fn undated(answer: &[u8]) -> String {
        String::from_utf8_lossy(answer)
            .split("\r\n")
            .filter(|l| !l.starts_with("Date: "))
            .collect::<Vec<_>>()
            .join("\r\n")
    }

    static CALLS: AtomicUsize = AtomicUsize::new(0);

    /// Literal and owned headers, status and length changing from call to call.
    fn varied(_env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
        let n = CALLS.fetch_add(1, Ordering::Relaxed);
        match n % 5 {
            0 | 1 => start.status("200 OK").header("X-A", "a"),
            2 => start.status("200 OK").header("X-A", "b"),
            3 => start.status(404).header("X-A", format!("owned {n}")),
            _ => start.status("200 OK").header("X-A", "a").header("X-B", "c"),
        };
        Body::from("x".repeat(n % 3))
    }

    /// Every answer of a long-lived connection (which writes a head it kept when the next is
    /// made of the same) is the answer a new connection gives to the same request.
    #[test]
    fn kept_heads_are_the_heads_a_new_connection_writes() {
        let requests: [&[u8]; 4] = [
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
            b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        ];
        let mut kept = BytesConn::new(varied);
        for i in 0..60 {
            let req = requests[i % requests.len()];
            let n = CALLS.load(Ordering::Relaxed);
            let mut a = Vec::new();
            assert!(kept.handle(req, &mut a));
            // The same call number for the new connection.
            CALLS.store(n, Ordering::Relaxed);
            let mut b = Vec::new();
            BytesConn::new(varied).handle(req, &mut b);
            assert_eq!(undated(&a), undated(&b), "request {i}");
        }
        // The same literal head again and again: written from what was kept.
        let fixed = |_env: &mut Environ<'_>, start: StartResponse<'_>| {
            start.status("201 Created").header("X-A", "a");
            Body::from("fixed")
        };
        let mut kept = BytesConn::new(fixed);
        for _ in 0..5 {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            kept.handle(requests[0], &mut a);
            BytesConn::new(fixed).handle(requests[0], &mut b);
            assert_eq!(undated(&a), undated(&b));
            assert!(undated(&a).starts_with("HTTP/1.1 201 Created\r\nX-A: a\r\n"));
        }
    }
}
