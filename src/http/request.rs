//! Request-head parsing and the body-framing decision (RFC 9112 §2-§7).
//!
//! [`RequestHead::parse`] is a push parser in the style of httparse: it is handed the
//! bytes buffered so far and answers [`HeadStatus::Complete`] with the head's length,
//! [`HeadStatus::Partial`] when more bytes are needed, or an [`Error`] that knows its status.
//! It re-parses from the start on every call and keeps no state between calls, so a
//! caller simply appends to its buffer and calls again.
//!
//! ```text
//!   [CRLF]*  request-line CRLF  *( field-line CRLF )  CRLF
//!    ^ skipped  ^ limits.request_line   ^ limits.fields x limits.field_size
//! ```
//!
//! The parser is strict where leniency has been used for request smuggling: lines end in
//! CRLF only (no bare LF, no bare CR), no whitespace between a field name and its colon,
//! no obsolete line folding, a single well-formed Content-Length, Transfer-Encoding only
//! with chunked last (RFC 9112 §6), and one valid Host, required in HTTP/1.1 and equal to
//! the authority of an absolute-form or CONNECT target (RFC 9112 §3.2). Every limit is also enforced while the head is
//! still incomplete, so a caller never buffers more than [`Limits::max_head`] bytes.

use super::chars::{
    all_field_bytes, find_byte, is_host_byte, is_ows, is_tchar, position_not_field,
    position_not_target, trim_ows,
};
use super::host::{is_host, is_host_field, is_host_port, is_port, split_port, HostCheck};
use super::{Error, ErrorKind};

/// Limits on the request head, gunicorn's `limit_request_*`.
///
/// A limit of 0 means the default (as gunicorn does for `limit_request_field_size` and
/// `limit_request_fields`); limits above the hard ceilings ([`Limits::MAX_REQUEST_LINE`],
/// [`Limits::MAX_FIELDS`], [`Limits::MAX_FIELD_SIZE`]) are lowered to them, so that a head
/// always fits the `u32` offsets of [`Span`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest request line in bytes, without its CRLF. Default 4094.
    pub request_line: usize,
    /// Most header fields. Default 100.
    pub fields: usize,
    /// Longest header field line in bytes, `name: value` and its CRLF (gunicorn's measure).
    /// Default 8190.
    pub field_size: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            request_line: 4094,
            fields: 100,
            field_size: 8190,
        }
    }
}

/// Empty lines (CRLF) skipped before a request line; more is not a confused client but
/// noise, and is refused.
const MAX_LEADING_EMPTY_LINES: usize = 8;

impl Limits {
    /// Hard ceiling on [`Limits::request_line`] (1 MiB).
    pub const MAX_REQUEST_LINE: usize = 1 << 20;
    /// Hard ceiling on [`Limits::fields`] (gunicorn's `MAX_HEADERS`).
    pub const MAX_FIELDS: usize = 32768;
    /// Hard ceiling on [`Limits::field_size`] (64 KiB).
    pub const MAX_FIELD_SIZE: usize = 1 << 16;

    /// The limits in force: 0 replaced by the default, ceilings applied.
    fn effective(&self) -> Limits {
        let d = Limits::default();
        let pick = |v: usize, default: usize, max: usize| {
            if v == 0 {
                default
            } else {
                v.min(max)
            }
        };
        Limits {
            request_line: pick(self.request_line, d.request_line, Self::MAX_REQUEST_LINE),
            fields: pick(self.fields, d.fields, Self::MAX_FIELDS),
            field_size: pick(self.field_size, d.field_size, Self::MAX_FIELD_SIZE),
        }
    }

    /// The most bytes a complete head may take under these limits: a caller that has
    /// buffered this much and still gets `Partial` will get an error on the next parse.
    pub fn max_head(&self) -> usize {
        let l = self.effective();
        2 * MAX_LEADING_EMPTY_LINES + l.request_line + 2 + l.fields * l.field_size + 2
    }
}

/// A byte range into the buffer the head was parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// First byte.
    pub start: u32,
    /// One past the last byte.
    pub end: u32,
}

impl Span {
    /// The bytes of `buf` this span covers.
    #[inline]
    pub fn get<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        &buf[self.start as usize..self.end as usize]
    }

    /// A span of `start..end`; both lie inside a head, which [`Limits`] keep under 4 GiB.
    #[inline]
    fn new(start: usize, end: usize) -> Span {
        Span {
            start: start as u32,
            end: end as u32,
        }
    }
}

/// One header field, as ranges into the head buffer (value without surrounding whitespace).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The field name, as sent (any case).
    pub name: Span,
    /// The field value, leading and trailing whitespace removed.
    pub value: Span,
}

/// The HTTP version of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// HTTP/1.0
    Http10,
    /// HTTP/1.1
    Http11,
}

/// How the request body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyLength {
    /// No body (also for `Content-Length: 0`).
    Empty,
    /// Exactly this many bytes (never 0).
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
}

/// Outcome of a parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadStatus {
    /// A whole head: its length in bytes, final empty line included.
    Complete(usize),
    /// More bytes are needed (not an error).
    Partial,
}

/// A parsed request head. Reuse one across keep-alive requests: `parse` clears it.
#[derive(Debug, Clone)]
pub struct RequestHead {
    /// The method token.
    pub method: Span,
    /// The request-target exactly as sent.
    pub target: Span,
    /// The HTTP version.
    pub version: Version,
    /// The header fields in the order received.
    pub headers: Vec<Header>,
    /// How the body is delimited.
    pub body: BodyLength,
    /// Whether the connection may stay open after this exchange (version + `Connection`).
    pub keep_alive: bool,
    /// `Expect: 100-continue` on an HTTP/1.1 request.
    pub expect_continue: bool,
}

impl Default for RequestHead {
    fn default() -> Self {
        Self::new()
    }
}

const fn err(kind: ErrorKind, detail: &'static str) -> Error {
    Error::new(kind, detail)
}

/// Where the search for a line's LF stopped.
enum Line {
    /// The line's content ends here (the CR) and the next line starts at `next`.
    End { end: usize, next: usize },
    /// No LF yet, and the line is still within its limit.
    Partial,
    /// No LF within the limit.
    TooLong,
}

/// Finds the end of the line starting at `start`, which with its CRLF may take at most
/// `max` bytes. A LF not preceded by CR is an error (`bare`).
#[inline]
fn find_line(buf: &[u8], start: usize, max: usize, bare: Error) -> Result<Line, Error> {
    let window = &buf[start..buf.len().min(start.saturating_add(max))];
    match find_byte(window, b'\n') {
        // RFC 9112 §2.2: "a recipient MAY recognize a single LF as a line terminator".
        // We do not: a bare LF read differently by a proxy in front is a smuggling vector,
        // and gunicorn refuses it too (corpus invalid/003, invalid_field_value_01).
        Some(i) if i == 0 || window[i - 1] != b'\r' => Err(bare),
        Some(i) => Ok(Line::End {
            end: start + i - 1,
            next: start + i + 1,
        }),
        None if window.len() >= max => Ok(Line::TooLong),
        None => Ok(Line::Partial),
    }
}

/// Case-insensitive ASCII comparison of a header name or value with a lowercase literal.
#[inline]
fn eq_lower(a: &[u8], lower: &[u8]) -> bool {
    a.len() == lower.len()
        && a.iter()
            .zip(lower)
            .all(|(x, y)| x.to_ascii_lowercase() == *y)
}

/// The elements of a comma-separated list, OWS-trimmed, empty elements skipped.
/// RFC 9110 §5.6.1.2: "a recipient MUST parse and ignore a reasonable number of empty list
/// elements".
fn list(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim_ows)
        .filter(|e| !e.is_empty())
}

impl RequestHead {
    /// An empty head, ready for [`RequestHead::parse`]. Its list of fields grows to what
    /// the requests it parses hold and is kept for the next (a connection keeps one head).
    pub fn new() -> Self {
        RequestHead {
            method: Span::default(),
            target: Span::default(),
            version: Version::Http11,
            headers: Vec::new(),
            body: BodyLength::Empty,
            keep_alive: true,
            expect_continue: false,
        }
    }

    /// Parses a request head at the start of `buf`.
    ///
    /// On `Complete(n)`, `buf[..n]` is the head (leading empty lines included) and the
    /// body, if any, starts at `buf[n]` and is framed as [`RequestHead::body`] says. On
    /// `Partial`, call again with more bytes. Errors carry the status to answer with; the
    /// connection must be closed after answering, since framing can no longer be trusted.
    ///
    /// ```
    /// use greenlight::http::{BodyLength, HeadStatus, Limits, RequestHead};
    ///
    /// let buf = b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
    /// let mut head = RequestHead::new();
    /// assert_eq!(head.parse(buf, &Limits::default()), Ok(HeadStatus::Complete(49)));
    /// assert_eq!(head.method.get(buf), b"POST");
    /// assert_eq!(head.body, BodyLength::Length(5));
    /// assert_eq!(head.parse(&buf[..20], &Limits::default()), Ok(HeadStatus::Partial));
    /// ```
    pub fn parse(&mut self, buf: &[u8], limits: &Limits) -> Result<HeadStatus, Error> {
        self.parse_lines(buf, limits, true)
    }

    /// [`parse`](Self::parse); with `quick`, ordinary lines take the one-pass paths
    /// ([`quick_request_line`](Self::quick_request_line), [`quick_field`]), which the tests
    /// hold to the careful path's results.
    #[inline]
    fn parse_lines(
        &mut self,
        buf: &[u8],
        limits: &Limits,
        quick: bool,
    ) -> Result<HeadStatus, Error> {
        let limits = limits.effective();
        self.headers.clear();
        self.body = BodyLength::Empty;
        self.keep_alive = false;
        self.expect_continue = false;

        let mut pos = match skip_empty_lines(buf)? {
            Some(pos) => pos,
            None => return Ok(HeadStatus::Partial),
        };

        pos = match self.request_line(buf, pos, limits.request_line + 2, quick)? {
            Some(next) => next,
            None => return Ok(HeadStatus::Partial),
        };

        loop {
            match buf.get(pos) {
                None => break,
                Some(b'\r') => match buf.get(pos + 1) {
                    None => break,
                    Some(b'\n') => {
                        self.frame(buf)?;
                        return Ok(HeadStatus::Complete(pos + 2));
                    }
                    Some(_) => return Err(err(ErrorKind::BadHeader, "bare CR in header section")),
                },
                Some(&b) if is_ows(b) => {
                    // RFC 9112 §5.2: "A server that receives an obs-fold in a request
                    // message ... MUST either reject the message by sending a 400 (Bad
                    // Request) ... or replace each received obs-fold with one or more SP".
                    // RFC 9112 §2.2 says the same of whitespace before the first field.
                    // We reject: gunicorn does by default (corpus invalid/obs_fold_01).
                    let detail = if self.headers.is_empty() {
                        "whitespace before the first header field"
                    } else {
                        "obsolete line folding in header field"
                    };
                    return Err(err(ErrorKind::BadHeader, detail));
                }
                Some(_) => {}
            }
            if self.headers.len() >= limits.fields {
                return Err(err(ErrorKind::TooManyHeaders, "too many header fields"));
            }
            let field = quick.then(|| quick_field(buf, pos, limits.field_size));
            if let Some((header, next)) = field.flatten() {
                self.headers.push(header);
                pos = next;
                continue;
            }
            let bare = err(ErrorKind::BadHeader, "header field not ended by CRLF");
            pos = match find_line(buf, pos, limits.field_size, bare)? {
                Line::End { end, next } => {
                    let header = parse_field(buf, pos, end)?;
                    self.headers.push(header);
                    next
                }
                Line::Partial => break,
                Line::TooLong => {
                    return Err(err(ErrorKind::HeaderTooLarge, "header field too large"))
                }
            };
        }
        // Each line was checked against its limit, so this only guards the arithmetic.
        if buf.len() >= limits.max_head() {
            return Err(err(ErrorKind::HeaderTooLarge, "request head too large"));
        }
        Ok(HeadStatus::Partial)
    }

    /// The request line at `pos`, within `max` bytes: the index of the next line, or
    /// `None` when it is not complete yet.
    #[inline]
    fn request_line(
        &mut self,
        buf: &[u8],
        pos: usize,
        max: usize,
        quick: bool,
    ) -> Result<Option<usize>, Error> {
        if quick {
            if let Some(next) = self.quick_request_line(buf, pos, max) {
                return Ok(Some(next));
            }
        }
        self.careful_request_line(buf, pos, max)
    }

    /// The request line at `pos` when it is an ordinary one, complete within `max` bytes
    /// (CRLF included): its fields set, the index of the next line returned. One pass, in
    /// which the scans of the method and target also find the line's end. `None` for
    /// anything else (nothing set that the careful path does not set again), which
    /// [`careful_request_line`](Self::careful_request_line) then parses or refuses.
    ///
    /// It accepts exactly what the careful path accepts with the same result: the method
    /// (tchars), target (target bytes) and version hold no LF, so the CRLF after the
    /// version ends the line there, and [`parse_request_line`](Self::parse_request_line)'s
    /// checks are made here too.
    #[inline]
    fn quick_request_line(&mut self, buf: &[u8], pos: usize, max: usize) -> Option<usize> {
        let line = &buf[pos..buf.len().min(pos.saturating_add(max))];
        let (m, t) = method_and_target(line).ok()?;
        self.version = match line.get(t + 1..t + 11)? {
            b"HTTP/1.1\r\n" => Version::Http11,
            b"HTTP/1.0\r\n" => Version::Http10,
            _ => return None,
        };
        self.method = Span::new(pos, pos + m);
        self.target = Span::new(pos + m + 1, pos + t);
        Some(pos + t + 11)
    }

    /// The request line at `pos`, found by its LF within `max` bytes and then parsed: the
    /// index of the next line, or `None` when the line is not complete yet.
    fn careful_request_line(
        &mut self,
        buf: &[u8],
        pos: usize,
        max: usize,
    ) -> Result<Option<usize>, Error> {
        let bare = err(ErrorKind::BadRequestLine, "request line not ended by CRLF");
        match find_line(buf, pos, max, bare)? {
            Line::End { end, next } => {
                self.parse_request_line(buf, pos, end)?;
                Ok(Some(next))
            }
            Line::Partial => Ok(None),
            Line::TooLong => Err(err(ErrorKind::RequestLineTooLong, "request line too long")),
        }
    }

    /// Parses `buf[start..end]`, the request line without its CRLF.
    fn parse_request_line(&mut self, buf: &[u8], start: usize, end: usize) -> Result<(), Error> {
        let line = &buf[start..end];
        let (m, t) = method_and_target(line)?;
        self.version = parse_version(&line[t + 1..])?;
        self.method = Span::new(start, start + m);
        self.target = Span::new(start + m + 1, start + t);
        Ok(())
    }

    /// Decides body framing, keep-alive and `Expect` from the parsed fields.
    fn frame(&mut self, buf: &[u8]) -> Result<(), Error> {
        let mut fields = Fields::default();
        for h in &self.headers {
            fields.add(h.name.get(buf), h.value.get(buf))?;
        }
        check_host(
            self.version,
            fields.host,
            target_authority(self.method.get(buf), self.target.get(buf)),
        )?;
        self.body = fields.body_length(self.version)?;
        self.keep_alive = fields.is_keep_alive(self.version);
        self.expect_continue = fields.is_expect_continue(self.version);
        Ok(())
    }
}

/// What the fields that decide framing and persistence said, gathered in one pass over
/// the head and judged once it is complete.
#[derive(Default)]
struct Fields<'a> {
    /// The Content-Length value.
    length: Option<u64>,
    /// Any Transfer-Encoding field.
    te: bool,
    /// `chunked` was the last transfer coding.
    chunked: bool,
    /// `Connection: close`.
    close: bool,
    /// `Connection: keep-alive`.
    keep_alive: bool,
    /// `Expect: 100-continue`.
    expect_continue: bool,
    /// The Host field's value.
    host: Option<&'a [u8]>,
    /// A Content-Type field was seen.
    content_type: bool,
}

impl<'a> Fields<'a> {
    /// Takes note of one field.
    #[inline]
    fn add(&mut self, name: &[u8], value: &'a [u8]) -> Result<(), Error> {
        // Dispatch on length first: most fields are none of these.
        match name.len() {
            14 if eq_lower(name, b"content-length") => self.content_length(value),
            17 if eq_lower(name, b"transfer-encoding") => self.transfer_encoding(value),
            10 if eq_lower(name, b"connection") => {
                self.connection(value);
                Ok(())
            }
            6 if eq_lower(name, b"expect") => {
                // RFC 9110 §10.1.1: "The Expect field value is case-insensitive."
                self.expect_continue = eq_lower(value, b"100-continue");
                Ok(())
            }
            4 if eq_lower(name, b"host") => {
                // RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request) status
                // code ... to any request message that contains more than one Host header
                // field line".
                if self.host.replace(value).is_some() {
                    return Err(err(ErrorKind::BadHeader, "repeated Host"));
                }
                Ok(())
            }
            12 if eq_lower(name, b"content-type") => {
                once(&mut self.content_type, "repeated Content-Type")
            }
            _ => Ok(()),
        }
    }

    /// A Content-Length field.
    fn content_length(&mut self, value: &[u8]) -> Result<(), Error> {
        // RFC 9110 §8.6 lets a recipient accept a repeated identical value; gunicorn
        // refuses any repetition (corpus invalid/021, rfc9112_smuggle_cl_list_form_01
        // "5, 5"), and so do we: never guess.
        if self.length.is_some() {
            return Err(err(ErrorKind::BadContentLength, "repeated Content-Length"));
        }
        self.length = Some(parse_content_length(value)?);
        Ok(())
    }

    /// A Transfer-Encoding field: its codings, in order.
    fn transfer_encoding(&mut self, value: &[u8]) -> Result<(), Error> {
        self.te = true;
        for coding in list(value) {
            // RFC 9112 §6.1: "A sender MUST NOT apply the chunked transfer coding more
            // than once to a message body", and chunked must be last: nothing may
            // follow it.
            if self.chunked {
                return Err(err(
                    ErrorKind::ChunkedNotLast,
                    "transfer coding after chunked",
                ));
            }
            if eq_lower(coding, b"chunked") {
                self.chunked = true;
            } else if eq_lower(coding, b"identity") {
                // Removed from the registry, but a no-op; gunicorn accepts it (corpus
                // valid/009, valid/029).
            } else if is_content_coding(coding) {
                // Passed to the application undecoded, as gunicorn does (corpus
                // valid/025, rfc9112_smuggle_gzip_chunked_01): we only remove the
                // chunked framing.
            } else {
                // RFC 9112 §6.1: "A server that receives a request message with a
                // transfer coding it does not understand SHOULD respond with 501 (Not
                // Implemented)."
                return Err(err(
                    ErrorKind::UnknownTransferCoding,
                    "unknown transfer coding",
                ));
            }
        }
        Ok(())
    }

    /// A Connection field: only its `close` and `keep-alive` options matter here.
    fn connection(&mut self, value: &[u8]) {
        for option in list(value) {
            if eq_lower(option, b"close") {
                self.close = true;
            } else if eq_lower(option, b"keep-alive") {
                self.keep_alive = true;
            }
        }
    }

    /// How the body is delimited (RFC 9112 §6.3), or why that cannot be trusted.
    fn body_length(&self, version: Version) -> Result<BodyLength, Error> {
        if self.te {
            // RFC 9112 §6.1: "A server or client that receives an HTTP/1.0 message
            // containing a Transfer-Encoding header field MUST treat the message as if the
            // framing is faulty".
            if version == Version::Http10 {
                return Err(err(
                    ErrorKind::TransferEncodingInHttp10,
                    "Transfer-Encoding in an HTTP/1.0 request",
                ));
            }
            if self.chunked {
                // RFC 9112 §6.1: "A server MAY reject a request that contains both
                // Content-Length and Transfer-Encoding or process such a request in
                // accordance with the Transfer-Encoding alone." We reject: whichever a
                // proxy in front believed, one of us would be wrong.
                if self.length.is_some() {
                    return Err(err(
                        ErrorKind::LengthAndTransferEncoding,
                        "both Content-Length and Transfer-Encoding",
                    ));
                }
                return Ok(BodyLength::Chunked);
            }
            // RFC 9112 §6.3: "If a Transfer-Encoding header field is present in a request
            // and the chunked transfer coding is not the final encoding, the message body
            // length cannot be determined reliably; the server MUST respond with the 400
            // (Bad Request) status code and then close the connection." With or without a
            // Content-Length, and for `identity` alone or an empty list too: gunicorn
            // frames `identity` by Content-Length (corpus valid/009), the RFC does not.
            return Err(err(
                ErrorKind::ChunkedNotLast,
                "chunked is not the last coding",
            ));
        }
        Ok(match self.length {
            None | Some(0) => BodyLength::Empty,
            Some(n) => BodyLength::Length(n),
        })
    }

    /// Whether the connection may stay open after this exchange.
    fn is_keep_alive(&self, version: Version) -> bool {
        // RFC 9112 §9.3: "If the "close" connection option is present, the connection
        // will not persist after the current response"; else HTTP/1.1 persists, and
        // HTTP/1.0 persists only if "the "keep-alive" connection option is present".
        match version {
            Version::Http11 => !self.close,
            Version::Http10 => self.keep_alive && !self.close,
        }
    }

    /// Whether to answer `100 Continue` before reading the body.
    fn is_expect_continue(&self, version: Version) -> bool {
        // RFC 9110 §10.1.1: "A server that receives a 100-continue expectation in an
        // HTTP/1.0 request MUST ignore that expectation." Other expectations are ignored
        // too (a MAY-417 we do not take).
        self.expect_continue && version == Version::Http11
    }
}

/// Marks a field that may appear once, refusing a repeat.
///
/// RFC 9110 §5.3: "A sender MUST NOT generate multiple field lines with the same name in a
/// message ... unless ... that field's definition allows multiple field line values to be
/// recombined as a comma-separated list". Content-Type does not; gunicorn refuses repeats
/// (corpus invalid/041, invalid/042). Host has its own MUST ([`Fields::add`]).
#[inline]
fn once(seen: &mut bool, detail: &'static str) -> Result<(), Error> {
    if std::mem::replace(seen, true) {
        return Err(err(ErrorKind::BadHeader, detail));
    }
    Ok(())
}

/// Skips the empty lines before a request line; `None` when the buffer ends first.
pub(crate) fn skip_empty_lines(buf: &[u8]) -> Result<Option<usize>, Error> {
    // RFC 9112 §2.2: "In the interest of robustness, a server that is expecting to receive
    // and parse a request-line SHOULD ignore at least one empty line (CRLF) received prior
    // to the request-line."
    let mut pos = 0;
    for _ in 0..=MAX_LEADING_EMPTY_LINES {
        match buf.get(pos) {
            None => return Ok(None),
            Some(b'\r') => match buf.get(pos + 1) {
                None => return Ok(None),
                Some(b'\n') => pos += 2,
                Some(_) => return Err(err(ErrorKind::BadRequestLine, "bare CR")),
            },
            Some(b'\n') => return Err(err(ErrorKind::BadRequestLine, "bare LF")),
            Some(_) => return Ok(Some(pos)),
        }
    }
    Err(err(ErrorKind::BadRequestLine, "too many empty lines"))
}

/// Splits a request line (or what follows its start) at its spaces: `(m, t)`, the spaces
/// after the method and after the request-target, both checked. What follows `t` is not
/// looked at.
#[inline]
fn method_and_target(line: &[u8]) -> Result<(usize, usize), Error> {
    // RFC 9112 §3: `request-line = method SP request-target SP HTTP-version`, single
    // spaces; RFC 9112 §3 also allows lenient whitespace parsing, which we do not do.
    let m = line
        .iter()
        .position(|&b| !is_tchar(b))
        .unwrap_or(line.len());
    if m == 0 || line.get(m) != Some(&b' ') {
        return Err(err(ErrorKind::BadRequestLine, "malformed method"));
    }
    let method = &line[..m];
    // RFC 9110 §9.1: "The method token is case-sensitive ... By convention,
    // standardized methods are defined in all-uppercase US-ASCII letters." gunicorn
    // refuses lowercase methods (corpus invalid/003c); a proxy that case-folds would
    // disagree with us about `get` vs `GET`, so we refuse them too.
    if method.iter().any(u8::is_ascii_lowercase) {
        return Err(err(ErrorKind::BadRequestLine, "method is not upper case"));
    }
    let t0 = m + 1;
    let t = t0 + position_not_target(&line[t0..]).unwrap_or(line.len() - t0);
    if t == t0 || line.get(t) != Some(&b' ') {
        return Err(err(ErrorKind::BadRequestLine, "malformed request-target"));
    }
    check_target(method, &line[t0..t])?;
    Ok((m, t))
}

/// Where a field line's name ends and its value begins: `(n, v0)`, the colon at `n`, the
/// value's leading whitespace skipped.
#[inline]
fn name_and_value_start(line: &[u8]) -> Result<(usize, usize), Error> {
    // RFC 9112 §5: `field-line = field-name ":" OWS field-value OWS`.
    let n = line
        .iter()
        .position(|&b| !is_tchar(b))
        .unwrap_or(line.len());
    if line.get(n) != Some(&b':') {
        // RFC 9112 §5.1: "No whitespace is allowed between the field name and colon. ...
        // A server MUST reject, with a response status code of 400 (Bad Request), any
        // received request message that contains whitespace between a header field name
        // and colon."
        return Err(err(ErrorKind::BadHeader, "malformed header field name"));
    }
    if n == 0 {
        return Err(err(ErrorKind::BadHeader, "empty header field name"));
    }
    let mut v0 = n + 1;
    while v0 < line.len() && is_ows(line[v0]) {
        v0 += 1;
    }
    Ok((n, v0))
}

/// The field line at `pos` when it is well formed and complete within `max` bytes (CRLF
/// included): the field and the index of the next line, in one pass over the line. `None`
/// for anything else, which the careful path ([`find_line`], then [`parse_field`]) parses,
/// refuses or waits for.
///
/// It accepts exactly what the careful path accepts with the same result: the name
/// (tchars), colon, whitespace and value (field bytes) hold no LF, so the CRLF after the
/// value ends the line there, and the value's bytes were all checked on the way.
#[inline]
fn quick_field(buf: &[u8], pos: usize, max: usize) -> Option<(Header, usize)> {
    let line = &buf[pos..buf.len().min(pos.saturating_add(max))];
    let (n, v0) = name_and_value_start(line).ok()?;
    let e = v0 + position_not_field(&line[v0..])?;
    if line[e] != b'\r' || line.get(e + 1) != Some(&b'\n') {
        return None;
    }
    let v1 = v0 + trim_ows(&line[v0..e]).len();
    let header = Header {
        name: Span::new(pos, pos + n),
        value: Span::new(pos + v0, pos + v1),
    };
    Some((header, pos + e + 2))
}

/// Parses `buf[start..end]`, a field line without its CRLF.
#[inline]
fn parse_field(buf: &[u8], start: usize, end: usize) -> Result<Header, Error> {
    let line = &buf[start..end];
    let (n, v0) = name_and_value_start(line)?;
    // The leading whitespace is skipped: this trims the trailing.
    let v1 = v0 + trim_ows(&line[v0..]).len();
    if !all_field_bytes(&line[v0..v1]) {
        return Err(err(
            ErrorKind::BadHeader,
            "invalid byte in header field value",
        ));
    }
    Ok(Header {
        name: Span::new(start, start + n),
        value: Span::new(start + v0, start + v1),
    })
}

/// RFC 9112 §2.3: `HTTP-version = HTTP-name "/" DIGIT "." DIGIT`.
fn parse_version(v: &[u8]) -> Result<Version, Error> {
    match v {
        b"HTTP/1.1" => Ok(Version::Http11),
        b"HTTP/1.0" => Ok(Version::Http10),
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            Err(err(ErrorKind::BadVersion, "unsupported HTTP version"))
        }
        // Not an HTTP-version at all ("HTTP/1.1.1", "HTTPS/1.1", "HTTP/0.99"): the line is
        // malformed, 400 rather than 505.
        _ => Err(err(ErrorKind::BadRequestLine, "malformed HTTP version")),
    }
}

/// Checks the request-target's form against the method (RFC 9112 §3.2).
fn check_target(method: &[u8], target: &[u8]) -> Result<(), Error> {
    let bad = |detail| Err(err(ErrorKind::BadRequestLine, detail));
    if method == b"CONNECT" {
        // RFC 9112 §3.2.3: "When making a CONNECT request to establish a tunnel ..., a
        // client MUST send only the host and port of the tunnel destination as the
        // request-target." `authority-form = uri-host ":" port`.
        // RFC 9110 §9.3.6: "A server MUST reject a CONNECT request that targets an empty
        // or invalid port number, typically by responding with a 400 (Bad Request) status
        // code." Invalid: not a TCP port, 1 to 65535.
        return match split_port(target) {
            (host, Some(port))
                if is_port(port, HostCheck::Value) && is_host(host, HostCheck::Grammar) =>
            {
                Ok(())
            }
            _ => bad("CONNECT needs an authority-form target with a port"),
        };
    }
    match target[0] {
        // origin-form: the bytes were checked by the caller.
        b'/' => Ok(()),
        // RFC 9112 §3.2.4: "The asterisk-form of request-target is only used for a
        // server-wide OPTIONS request".
        b'*' if target.len() == 1 => {
            if method == b"OPTIONS" {
                Ok(())
            } else {
                bad("asterisk-form target on a method other than OPTIONS")
            }
        }
        _ if is_absolute_form(target) => Ok(()),
        _ => bad("request-target is neither origin-form nor absolute-form"),
    }
}

/// RFC 9112 §3.2.2 absolute-form, restricted to URIs with an authority
/// (`scheme "://" authority path-abempty [ "?" query ]`): a server has no use for others.
fn is_absolute_form(target: &[u8]) -> bool {
    // RFC 3986 §3.1: `scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`.
    let Some(colon) = target.iter().position(|&b| b == b':') else {
        return false;
    };
    let scheme = &target[..colon];
    let scheme_ok = scheme.first().is_some_and(u8::is_ascii_alphabetic)
        && scheme
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    let Some(rest) = target[colon + 1..].strip_prefix(b"//") else {
        return false;
    };
    let end = rest
        .iter()
        .position(|&b| matches!(b, b'/' | b'?' | b'#'))
        .unwrap_or(rest.len());
    // RFC 3986 §3.2: `authority = [ userinfo "@" ] host [ ":" port ]`.
    let Some(hostport) = strip_userinfo(&rest[..end]) else {
        return false;
    };
    scheme_ok && is_host_port(hostport, HostCheck::Grammar)
}

/// An authority's `host [ ":" port ]`, without the userinfo and its `@`; `None` if the
/// userinfo has a byte RFC 3986 §3.2.1 does not allow.
///
/// RFC 9110 §4.2.4: "Before making use of an "http" or "https" URI reference received
/// from an untrusted source, a recipient SHOULD parse for userinfo and treat its presence
/// as an error". A SHOULD we do not follow: gunicorn's corpus lists such a target as valid
/// (valid/rfc9112_target_absolute_userinfo_01). The userinfo is never used: the Host
/// field must equal the rest ([`check_host`]).
fn strip_userinfo(authority: &[u8]) -> Option<&[u8]> {
    match authority.iter().rposition(|&b| b == b'@') {
        Some(at)
            if authority[..at]
                .iter()
                .all(|&b| is_host_byte(b) || b == b':') =>
        {
            Some(&authority[at + 1..])
        }
        Some(_) => None,
        None => Some(authority),
    }
}

/// The authority a request-target names, if it names one, without userinfo: the whole
/// authority-form target of a CONNECT, or the authority of an absolute-form target (both
/// checked by [`check_target`]).
fn target_authority<'t>(method: &[u8], target: &'t [u8]) -> Option<&'t [u8]> {
    if method == b"CONNECT" {
        return Some(target);
    }
    if target[0] == b'/' || target == b"*" {
        return None;
    }
    let rest = &target[target.windows(3).position(|w| w == b"://")? + 3..];
    let end = rest
        .iter()
        .position(|&b| matches!(b, b'/' | b'?' | b'#'))
        .unwrap_or(rest.len());
    strip_userinfo(&rest[..end])
}

/// The Host rules (RFC 9112 §3.2, §3.2.2, §3.3), given the Host field's value if one was
/// sent (a repeated one is refused as it is read) and the request-target's authority.
fn check_host(
    version: Version,
    host: Option<&[u8]>,
    authority: Option<&[u8]>,
) -> Result<(), Error> {
    let bad = |detail| Err(err(ErrorKind::BadHeader, detail));
    let Some(host) = host else {
        // RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request) status code to
        // any HTTP/1.1 request message that lacks a Host header field". HTTP/1.0 had no
        // Host: its absence there is no error.
        return match version {
            Version::Http11 => bad("missing Host"),
            Version::Http10 => Ok(()),
        };
    };
    // RFC 9112 §3.2: "... and to any request message that contains ... a Host header field
    // with an invalid field value." RFC 9110 §7.2: `Host = uri-host [ ":" port ]`.
    // An empty value is a valid `uri-host` (an empty reg-name), but it names no server:
    // RFC 9112 §3.3: "If the target URI's authority component is empty and its URI scheme
    // requires a non-empty authority (as is the case for "http" and "https"), the server
    // can reject the request or determine whether a configured default applies that is
    // consistent with the incoming connection's context." We reject.
    if host.is_empty() {
        return bad("empty Host");
    }
    if !is_host_field(host) {
        return bad("invalid Host");
    }
    // RFC 9112 §3.2: "If the target URI includes an authority component, then a client
    // MUST send a field value for Host that is identical to that authority component,
    // excluding any userinfo subcomponent and its "@" delimiter". RFC 9112 §3.2.2: "When
    // an origin server receives a request with an absolute-form of request-target, the
    // origin server MUST ignore the received Host header field (if any) and instead use
    // the host information of the request-target." The application reads the Host field
    // (`HTTP_HOST`), and a proxy in front may have routed by either; so rather than pick
    // one we refuse a request whose two differ (as Kestrel does). What passes has a Host
    // equal to the target's authority, and using it is using the target's. The host is
    // case-insensitive (RFC 3986 §3.2.2); the port is compared as sent.
    match authority {
        Some(authority) if !authority.eq_ignore_ascii_case(host) => {
            bad("Host differs from the request-target's authority")
        }
        _ => Ok(()),
    }
}

/// The content codings gunicorn passes through below chunked (RFC 9110 §8.4.1).
fn is_content_coding(coding: &[u8]) -> bool {
    [
        &b"gzip"[..],
        b"x-gzip",
        b"deflate",
        b"compress",
        b"x-compress",
    ]
    .iter()
    .any(|c| eq_lower(coding, c))
}

/// RFC 9110 §8.6: `Content-Length = 1*DIGIT`: no sign, no inner space, no list.
fn parse_content_length(value: &[u8]) -> Result<u64, Error> {
    if value.is_empty() {
        return Err(err(ErrorKind::BadContentLength, "empty Content-Length"));
    }
    value.iter().try_fold(0u64, |n, &b| {
        if !b.is_ascii_digit() {
            return Err(err(
                ErrorKind::BadContentLength,
                "Content-Length is not digits",
            ));
        }
        n.checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(b - b'0')))
            .ok_or(err(ErrorKind::BadContentLength, "Content-Length overflows"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ErrorKind::*;

    fn parse(buf: &[u8]) -> Result<(RequestHead, usize), Error> {
        parse_with(buf, &Limits::default())
    }

    fn parse_with(buf: &[u8], limits: &Limits) -> Result<(RequestHead, usize), Error> {
        let mut head = RequestHead::new();
        match head.parse(buf, limits)? {
            HeadStatus::Complete(n) => Ok((head, n)),
            HeadStatus::Partial => panic!("partial: {:?}", String::from_utf8_lossy(buf)),
        }
    }

    /// httparse-style table: `name: bytes => |head, buf| { checks }`.
    macro_rules! ok {
        ($($name:ident: $buf:expr => |$h:ident, $b:ident| $body:block)*) => {$(
            #[test]
            fn $name() {
                let $b: &[u8] = $buf;
                #[allow(unused_variables)]
                let ($h, n) = parse($b).unwrap();
                assert_eq!(n, $b.len(), "whole input is the head");
                $body
            }
        )*};
    }

    /// `name: bytes => ErrorKind`.
    macro_rules! bad {
        ($($name:ident: $buf:expr => $kind:expr;)*) => {$(
            #[test]
            fn $name() {
                let buf: &[u8] = $buf;
                let got = RequestHead::new().parse(buf, &Limits::default());
                assert_eq!(got.map_err(|e| e.kind()), Err($kind));
            }
        )*};
    }

    fn names<'a>(h: &RequestHead, buf: &'a [u8]) -> Vec<(&'a [u8], &'a [u8])> {
        h.headers
            .iter()
            .map(|f| (f.name.get(buf), f.value.get(buf)))
            .collect()
    }

    /// The one-pass paths for ordinary lines give exactly the careful path's answers: the
    /// same status, head and fields, or the same error, for requests and for a few hundred
    /// thousand mutations of them (bytes replaced, inserted or removed; cut anywhere) under
    /// small limits too.
    #[test]
    fn quick_paths_agree_with_the_careful_path() {
        let seeds: [&[u8]; 6] = [
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n\r\n",
            b"POST /up?x=1 HTTP/1.0\r\nHost: a\r\nContent-Length: 5\r\nX-A:  b \t\r\n\r\nhello",
            b"GET http://a.example:80/p HTTP/1.1\r\nHost: a.example:80\r\nConnection: close\r\n\r\n",
            b"OPTIONS * HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            b"\r\nPUT /%20 HTTP/1.1\r\nhost: [::1]:8\r\nExpect: 100-continue\r\nA:\r\n\r\n",
            b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\nX: caf\xc3\xa9\r\n\r\n",
        ];
        let bytes = b" \t\r\n:/?%*@[]HTTP/1.0x\x00\x7f\x80\xffaZ9-_";
        let small = Limits {
            request_line: 24,
            field_size: 16,
            fields: 3,
        };
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let (mut quick, mut careful) = (RequestHead::new(), RequestHead::new());
        let mut check = |buf: &[u8], limits: &Limits| {
            let a = quick.parse_lines(buf, limits, true);
            let b = careful.parse_lines(buf, limits, false);
            assert_eq!(a, b, "{:?}", String::from_utf8_lossy(buf));
            if let Ok(HeadStatus::Complete(_)) = a {
                assert_eq!(names(&quick, buf), names(&careful, buf));
                assert_eq!(
                    (quick.method, quick.target, quick.version),
                    (careful.method, careful.target, careful.version)
                );
                assert_eq!(
                    (quick.body, quick.keep_alive, quick.expect_continue),
                    (careful.body, careful.keep_alive, careful.expect_continue)
                );
            }
        };
        for seed in seeds {
            for cut in 0..=seed.len() {
                check(&seed[..cut], &Limits::default());
                check(&seed[..cut], &small);
            }
            for _ in 0..20_000 {
                let mut buf = seed.to_vec();
                for _ in 0..1 + next() % 3 {
                    let at = (next() as usize) % buf.len();
                    let b = bytes[(next() as usize) % bytes.len()];
                    match next() % 3 {
                        0 => buf[at] = b,
                        1 => buf.insert(at, b),
                        _ => {
                            buf.remove(at);
                        }
                    }
                }
                check(&buf, &Limits::default());
                check(&buf, &small);
            }
        }
    }

    ok! {
        simple_get: b"GET / HTTP/1.1\r\nHost: a\r\n\r\n" => |h, b| {
            assert_eq!(h.method.get(b), b"GET");
            assert_eq!(h.target.get(b), b"/");
            assert_eq!(h.version, Version::Http11);
            assert_eq!(names(&h, b), [(&b"Host"[..], &b"a"[..])]);
            assert_eq!(h.body, BodyLength::Empty);
            assert!(h.keep_alive);
            assert!(!h.expect_continue);
        }
        no_headers: b"GET /x?y=z HTTP/1.0\r\n\r\n" => |h, b| {
            assert_eq!(h.target.get(b), b"/x?y=z");
            assert_eq!(h.version, Version::Http10);
            assert!(h.headers.is_empty());
            assert!(!h.keep_alive);
        }
        value_ows_trimmed: b"GET / HTTP/1.1\r\nHost: a\r\nA:  \t x y \t \r\nB:\r\nC:z\r\n\r\n" => |h, b| {
            assert_eq!(
                names(&h, b),
                [(&b"Host"[..], &b"a"[..]), (b"A", b"x y"), (b"B", b""), (b"C", b"z")]
            );
        }
        obs_text_value: b"GET / HTTP/1.1\r\nX: caf\xc3\xa9\r\nHost: a\r\n\r\n" => |h, b| {
            assert_eq!(h.headers[0].value.get(b), b"caf\xc3\xa9");
        }
        underscore_names_kept: b"GET / HTTP/1.1\r\nX_Y: 1\r\nHost: a\r\n\r\n" => |h, b| {
            assert_eq!(h.headers[0].name.get(b), b"X_Y");
        }
        leading_empty_lines: b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n" => |h, b| {
            assert_eq!(h.method.get(b), b"GET");
        }
        content_length: b"POST / HTTP/1.1\r\nHost: a\r\ncontent-LENGTH: 0012\r\n\r\n" => |h, _b| {
            assert_eq!(h.body, BodyLength::Length(12));
        }
        content_length_zero_is_empty: b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n" => |h, _b| {
            assert_eq!(h.body, BodyLength::Empty);
        }
        content_length_max: b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551615\r\n\r\n" => |h, _b| {
            assert_eq!(h.body, BodyLength::Length(u64::MAX));
        }
        chunked: b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\n\r\n" => |h, _b| {
            assert_eq!(h.body, BodyLength::Chunked);
        }
        chunked_after_codings: b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: identity, ,chunked\r\n\r\n" => |h, _b| {
            assert_eq!(h.body, BodyLength::Chunked);
        }
        underscore_framing_ignored: b"GET / HTTP/1.0\r\nTransfer_Encoding: x\r\nContent_Length: -1\r\n\r\n" => |h, _b| {
            assert_eq!(h.body, BodyLength::Empty);
        }
        close_11: b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, CLOSE\r\n\r\n" => |h, _b| {
            assert!(!h.keep_alive);
        }
        keep_alive_10: b"GET / HTTP/1.0\r\nConnection: foo\r\nConnection: Keep-Alive\r\n\r\n" => |h, _b| {
            assert!(h.keep_alive);
        }
        keep_alive_and_close_10: b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n" => |h, _b| {
            assert!(!h.keep_alive);
        }
        expect_continue: b"PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n" => |h, _b| {
            assert!(h.expect_continue);
        }
        expect_continue_ignored_10: b"PUT / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n" => |h, _b| {
            assert!(!h.expect_continue);
        }
        repeated_list_fields: b"GET / HTTP/1.1\r\nHost: a\r\nAccept: a\r\nAccept: b\r\n\r\n" => |h, _b| {
            assert_eq!(h.headers.len(), 3);
        }
        absolute_form: b"GET http://example.com:8080/p?q HTTP/1.1\r\nHost: EXAMPLE.com:8080\r\n\r\n" => |h, b| {
            assert_eq!(h.target.get(b), b"http://example.com:8080/p?q");
        }
        absolute_form_ipv6: b"GET https://[::1]/ HTTP/1.1\r\nHost: [::1]\r\n\r\n" => |h, _b| {}
        absolute_form_no_path: b"GET http://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n" => |h, _b| {}
        absolute_form_userinfo: b"GET http://user:pw@example.com:8080/p?q HTTP/1.1\r\nHost: example.com:8080\r\n\r\n" => |h, b| {
            assert_eq!(h.target.get(b), b"http://user:pw@example.com:8080/p?q");
        }
        absolute_form_10_without_host: b"GET http://example.com/ HTTP/1.0\r\n\r\n" => |h, _b| {}
        asterisk_options: b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n" => |h, b| {
            assert_eq!(h.target.get(b), b"*");
        }
        authority_connect: b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n" => |h, _b| {}
        authority_connect_ipv6: b"CONNECT [2001:db8::1]:443 HTTP/1.1\r\nHost: [2001:db8::1]:443\r\n\r\n" => |h, _b| {}
        host_10_absent: b"GET / HTTP/1.0\r\n\r\n" => |h, _b| {}
        host_with_port: b"GET / HTTP/1.1\r\nHost: example.com:8080\r\n\r\n" => |h, _b| {}
        host_empty_port: b"GET / HTTP/1.1\r\nHost: example.com:\r\n\r\n" => |h, _b| {}
        host_ipv4: b"GET / HTTP/1.1\r\nHost: 192.0.2.1:80\r\n\r\n" => |h, _b| {}
        host_ipv6: b"GET / HTTP/1.1\r\nHost: [2001:db8::1]:80\r\n\r\n" => |h, _b| {}
        host_ipvfuture: b"GET / HTTP/1.1\r\nHost: [v1.fe80::a+en1]\r\n\r\n" => |h, _b| {}
        host_pct_encoded: b"GET / HTTP/1.1\r\nHost: ex%41mple.com\r\n\r\n" => |h, _b| {}
        host_sub_delims: b"GET / HTTP/1.1\r\nHost: a!$&'()*+,;=b\r\n\r\n" => |h, _b| {}
        host_ows_trimmed: b"GET / HTTP/1.1\r\nHost: \t example.com \r\n\r\n" => |h, _b| {}
        host_10_valid: b"GET / HTTP/1.0\r\nHost: example.com\r\n\r\n" => |h, _b| {}
        options_absolute_form: b"OPTIONS http://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n" => |h, _b| {}
        odd_but_allowed_target: b"GET /a\"b\xc3\xa0%20#frag HTTP/1.1\r\nHost: a\r\n\r\n" => |h, _b| {}
        token_method: b"-BLARGH /foo HTTP/1.1\r\nHost: a\r\n\r\n" => |h, b| {
            assert_eq!(h.method.get(b), b"-BLARGH");
        }
        special_name_chars: b"GET / HTTP/1.1\r\nHost: a\r\nX.Custom|Pipe~!#$%&'*+^`: ok\r\n\r\n" => |h, _b| {}
    }

    bad! {
        empty_line_only_bare_lf: b"\nGET / HTTP/1.1\r\n\r\n" => BadRequestLine;
        too_many_empty_lines: b"\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n\r\n" => BadRequestLine;
        lowercase_method: b"get / HTTP/1.1\r\n\r\n" => BadRequestLine;
        method_nul: b"GET\x00 / HTTP/1.1\r\n\r\n" => BadRequestLine;
        method_colon: b"GET: / HTTP/1.1\r\n\r\n" => BadRequestLine;
        method_utf8: b"GET\xc3\x9f / HTTP/1.1\r\n\r\n" => BadRequestLine;
        leading_space: b" GET / HTTP/1.1\r\n\r\n" => BadRequestLine;
        two_spaces: b"GET  / HTTP/1.1\r\n\r\n" => BadRequestLine;
        tab_separator: b"GET\t/ HTTP/1.1\r\n\r\n" => BadRequestLine;
        missing_target: b"GET HTTP/1.1\r\n\r\n" => BadRequestLine;
        space_in_target: b"GET /a b HTTP/1.1\r\n\r\n" => BadRequestLine;
        control_in_target: b"GET /a\x01 HTTP/1.1\r\n\r\n" => BadRequestLine;
        del_in_target: b"GET /a\x7f HTTP/1.1\r\n\r\n" => BadRequestLine;
        trailing_space: b"GET / HTTP/1.1 \r\n\r\n" => BadRequestLine;
        bare_lf_request_line: b"GET / HTTP/1.1\n\r\n" => BadRequestLine;
        bare_lf_inside_line: b"GET\n/\nHTTP/1.1\r\n\r\n" => BadRequestLine;
        bare_cr_request_line: b"GET / HTTP/1.1\rX\r\n\r\n" => BadRequestLine;
        relative_target: b"GET foo/bar HTTP/1.1\r\n\r\n" => BadRequestLine;
        asterisk_on_get: b"GET * HTTP/1.1\r\n\r\n" => BadRequestLine;
        authority_on_get: b"GET example.com:443 HTTP/1.1\r\n\r\n" => BadRequestLine;
        connect_origin_form: b"CONNECT / HTTP/1.1\r\n\r\n" => BadRequestLine;
        connect_without_port: b"CONNECT example.com HTTP/1.1\r\n\r\n" => BadRequestLine;
        connect_bad_host: b"CONNECT exa]mple:1 HTTP/1.1\r\n\r\n" => BadRequestLine;
        absolute_bad_host: b"PUT s://]ufd/: HTTP/1.1\r\n\r\n" => BadRequestLine;
        absolute_empty_host: b"GET http:///x HTTP/1.1\r\n\r\n" => BadRequestLine;
        absolute_without_slashes: b"GET mailto:a@b HTTP/1.1\r\n\r\n" => BadRequestLine;
        absolute_bad_scheme: b"GET 1http://a/ HTTP/1.1\r\n\r\n" => BadRequestLine;
        version_2: b"GET / HTTP/2.0\r\n\r\n" => BadVersion;
        version_0_9: b"GET / HTTP/0.9\r\n\r\n" => BadVersion;
        version_1_2: b"GET / HTTP/1.2\r\n\r\n" => BadVersion;
        version_long: b"GET / HTTP/1.1.1\r\n\r\n" => BadRequestLine;
        version_https: b"GET / HTTPS/1.1\r\n\r\n" => BadRequestLine;
        version_lower: b"GET / http/1.1\r\n\r\n" => BadRequestLine;
        version_digits: b"GET / HTTP/111\r\n\r\n" => BadRequestLine;
        version_ftp: b"GET / FTP/1.1\r\n\r\n" => BadRequestLine;
        space_before_colon: b"GET / HTTP/1.1\r\nContent-Length : 3\r\n\r\n" => BadHeader;
        tab_before_colon: b"GET / HTTP/1.1\r\nHost\t: a\r\n\r\n" => BadHeader;
        no_colon: b"GET / HTTP/1.1\r\nHost\r\n\r\n" => BadHeader;
        empty_name: b"GET / HTTP/1.1\r\n: a\r\n\r\n" => BadHeader;
        name_nul: b"GET / HTTP/1.1\r\nba\x00z: a\r\n\r\n" => BadHeader;
        name_utf8: b"GET / HTTP/1.1\r\nX\xc3\x9f: a\r\n\r\n" => BadHeader;
        value_nul: b"GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n" => BadHeader;
        value_bel: b"GET / HTTP/1.1\r\nX: a\x07b\r\n\r\n" => BadHeader;
        value_del: b"GET / HTTP/1.1\r\nX: a\x7fb\r\n\r\n" => BadHeader;
        value_bare_cr: b"GET / HTTP/1.1\r\nX: a\rb\r\n\r\n" => BadHeader;
        value_bare_lf: b"GET / HTTP/1.1\r\nX: a\nContent-Length: 5\r\n\r\n" => BadHeader;
        bare_lf_end: b"GET / HTTP/1.1\r\nX: a\r\n\n" => BadHeader;
        bare_cr_end: b"GET / HTTP/1.1\r\nX: a\r\n\rX" => BadHeader;
        obs_fold: b"GET / HTTP/1.1\r\nLong: one\r\n two\r\n\r\n" => BadHeader;
        obs_fold_tab: b"GET / HTTP/1.1\r\nLong: one\r\n\ttwo\r\n\r\n" => BadHeader;
        space_before_first_field: b"GET / HTTP/1.1\r\n Host: a\r\n\r\n" => BadHeader;
        repeated_host: b"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n" => BadHeader;
        repeated_content_type: b"GET / HTTP/1.1\r\nContent-Type: a\r\nContent-Type: a\r\n\r\n" => BadHeader;
        cl_negative: b"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n" => BadContentLength;
        cl_plus: b"GET / HTTP/1.1\r\nContent-Length: +1\r\n\r\n" => BadContentLength;
        cl_inner_space: b"GET / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n" => BadContentLength;
        cl_underscore: b"GET / HTTP/1.1\r\nContent-Length: 0_1\r\n\r\n" => BadContentLength;
        cl_hex: b"GET / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n" => BadContentLength;
        cl_empty: b"GET / HTTP/1.1\r\nContent-Length:\r\n\r\n" => BadContentLength;
        cl_list: b"GET / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n" => BadContentLength;
        cl_repeated_same: b"GET / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n" => BadContentLength;
        cl_repeated_differ: b"GET / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n" => BadContentLength;
        cl_overflow: b"GET / HTTP/1.1\r\nContent-Length: 18446744073709551616\r\n\r\n" => BadContentLength;
        cl_and_te: b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n" => LengthAndTransferEncoding;
        te_and_cl: b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n" => LengthAndTransferEncoding;
        te_in_http10: b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n" => TransferEncodingInHttp10;
        te_identity_in_http10: b"POST / HTTP/1.0\r\nTransfer-Encoding: identity\r\n\r\n" => TransferEncodingInHttp10;
        te_gzip_only: b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n" => ChunkedNotLast;
        te_chunked_then_gzip: b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n" => ChunkedNotLast;
        te_chunked_twice: b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n" => ChunkedNotLast;
        te_chunked_identity: b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, identity\r\n\r\n" => ChunkedNotLast;
        te_unknown: b"POST / HTTP/1.1\r\nTransfer-Encoding: br, chunked\r\n\r\n" => UnknownTransferCoding;
        te_with_params: b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked;q=1\r\n\r\n" => UnknownTransferCoding;
        te_identity_only_with_cl: b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\nContent-Length: 3\r\n\r\n" => ChunkedNotLast;
        te_identity_only: b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n" => ChunkedNotLast;
        te_gzip_with_cl: b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\n\r\n" => ChunkedNotLast;
        te_empty: b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n" => ChunkedNotLast;
        te_empty_list: b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: , ,\r\nContent-Length: 1\r\n\r\n" => ChunkedNotLast;
        te_unknown_with_cl: b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: br\r\nContent-Length: 1\r\n\r\n" => UnknownTransferCoding;
        host_missing_11: b"GET / HTTP/1.1\r\n\r\n" => BadHeader;
        host_missing_11_other_fields: b"GET / HTTP/1.1\r\nX-Host: a\r\nHost_: a\r\n\r\n" => BadHeader;
        host_repeated_10: b"GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n" => BadHeader;
        host_empty: b"GET / HTTP/1.1\r\nHost:\r\n\r\n" => BadHeader;
        host_blank: b"GET / HTTP/1.1\r\nHost:  \t \r\n\r\n" => BadHeader;
        host_empty_10: b"GET / HTTP/1.0\r\nHost:\r\n\r\n" => BadHeader;
        host_space: b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n" => BadHeader;
        host_userinfo: b"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n" => BadHeader;
        host_path: b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n" => BadHeader;
        host_list: b"GET / HTTP/1.1\r\nHost: a, b:1\r\n\r\n" => BadHeader;
        host_bad_port: b"GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n" => BadHeader;
        host_long_port: b"GET / HTTP/1.1\r\nHost: a:123456\r\n\r\n" => BadHeader;
        host_two_colons: b"GET / HTTP/1.1\r\nHost: a:1:2\r\n\r\n" => BadHeader;
        host_bad_pct: b"GET / HTTP/1.1\r\nHost: a%zz\r\n\r\n" => BadHeader;
        host_short_pct: b"GET / HTTP/1.1\r\nHost: a%4\r\n\r\n" => BadHeader;
        host_bad_ipv6: b"GET / HTTP/1.1\r\nHost: [::::1]\r\n\r\n" => BadHeader;
        host_unclosed_ipv6: b"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n" => BadHeader;
        host_bad_ipvfuture: b"GET / HTTP/1.1\r\nHost: [v.1]\r\n\r\n" => BadHeader;
        host_utf8: b"GET / HTTP/1.1\r\nHost: caf\xc3\xa9\r\n\r\n" => BadHeader;
        absolute_form_host_differs: b"GET http://a.example/ HTTP/1.1\r\nHost: b.example\r\n\r\n" => BadHeader;
        absolute_form_host_port_differs: b"GET http://a.example:8080/ HTTP/1.1\r\nHost: a.example\r\n\r\n" => BadHeader;
        absolute_form_host_missing: b"GET http://a.example/ HTTP/1.1\r\n\r\n" => BadHeader;
        absolute_form_userinfo_in_host: b"GET http://user:pw@example.com/ HTTP/1.1\r\nHost: user:pw@example.com\r\n\r\n" => BadHeader;
        connect_host_differs: b"CONNECT a.example:443 HTTP/1.1\r\nHost: b.example:443\r\n\r\n" => BadHeader;
        connect_port_zero: b"CONNECT example.com:0 HTTP/1.1\r\nHost: example.com:0\r\n\r\n" => BadRequestLine;
        connect_port_too_big: b"CONNECT example.com:65536 HTTP/1.1\r\nHost: example.com:65536\r\n\r\n" => BadRequestLine;
        connect_empty_port: b"CONNECT example.com: HTTP/1.1\r\nHost: example.com:\r\n\r\n" => BadRequestLine;
        connect_absolute_form: b"CONNECT http://example.com:443/ HTTP/1.1\r\nHost: example.com:443\r\n\r\n" => BadRequestLine;
        asterisk_on_post: b"POST * HTTP/1.1\r\nHost: a\r\n\r\n" => BadRequestLine;
        asterisk_with_path: b"OPTIONS *a HTTP/1.1\r\nHost: a\r\n\r\n" => BadRequestLine;
        authority_on_options: b"OPTIONS example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n" => BadRequestLine;
    }

    #[test]
    fn error_statuses() {
        let status = |buf: &[u8], limits: &Limits| {
            RequestHead::new().parse(buf, limits).unwrap_err().status()
        };
        let d = Limits::default();
        assert_eq!(status(b"GET / HTTP/2.0\r\n\r\n", &d), 505);
        assert_eq!(status(b"GET / HTTP/1.1\r\nA b\r\n\r\n", &d), 400);
        assert_eq!(
            status(
                b"GET /aaaaaaaaaaa HTTP/1.1\r\n\r\n",
                &Limits {
                    request_line: 10,
                    ..d
                }
            ),
            414
        );
        assert_eq!(
            status(
                b"GET / HTTP/1.1\r\nA: b\r\nC: d\r\n\r\n",
                &Limits { fields: 1, ..d }
            ),
            431
        );
        assert_eq!(
            status(
                b"GET / HTTP/1.1\r\nA: bbbbbbbbbb\r\n\r\n",
                &Limits {
                    field_size: 10,
                    ..d
                }
            ),
            431
        );
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nTransfer-Encoding: br\r\n\r\n", &d),
            501
        );
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", &d),
            400
        );
    }

    #[test]
    fn request_line_limit_is_exact() {
        // "GET /xxxx HTTP/1.0" is 14 + path bytes; the limit excludes the CRLF.
        let line = |path_len: usize| format!("GET /{} HTTP/1.0\r\n\r\n", "x".repeat(path_len));
        let limits = Limits {
            request_line: 30,
            ..Limits::default()
        };
        let at = line(30 - 14);
        assert_eq!(at.len(), 30 + 4);
        assert!(parse_with(at.as_bytes(), &limits).is_ok());
        let over = line(30 - 13);
        let err = RequestHead::new()
            .parse(over.as_bytes(), &limits)
            .unwrap_err();
        assert_eq!(err.kind(), RequestLineTooLong);
        // Without any CRLF yet, the line is refused as soon as it cannot fit any more.
        let mut head = RequestHead::new();
        let endless = "GET /".to_string() + &"x".repeat(100);
        assert_eq!(
            head.parse(&endless.as_bytes()[..31], &limits),
            Ok(HeadStatus::Partial)
        );
        assert_eq!(
            head.parse(&endless.as_bytes()[..32], &limits)
                .unwrap_err()
                .kind(),
            RequestLineTooLong
        );
    }

    #[test]
    fn field_size_limit_is_exact_and_counts_crlf() {
        // gunicorn's measure: the field line with its CRLF.
        let limits = Limits {
            field_size: 10,
            ..Limits::default()
        };
        assert!(parse_with(b"GET / HTTP/1.0\r\nA: 12345\r\n\r\n", &limits).is_ok());
        let err = RequestHead::new()
            .parse(b"GET / HTTP/1.1\r\nA: 123456\r\n\r\n", &limits)
            .unwrap_err();
        assert_eq!(err.kind(), HeaderTooLarge);
        // Refused while partial, as soon as the line cannot end within the limit.
        let mut head = RequestHead::new();
        assert_eq!(
            head.parse(b"GET / HTTP/1.1\r\nA: 123456", &limits),
            Ok(HeadStatus::Partial)
        );
        assert_eq!(
            head.parse(b"GET / HTTP/1.1\r\nA: 1234567", &limits)
                .unwrap_err()
                .kind(),
            HeaderTooLarge
        );
    }

    #[test]
    fn fields_limit_is_exact() {
        let limits = Limits {
            fields: 2,
            ..Limits::default()
        };
        assert!(parse_with(b"GET / HTTP/1.0\r\nA: 1\r\nB: 2\r\n\r\n", &limits).is_ok());
        let mut head = RequestHead::new();
        // The third field is refused from its first byte.
        let err = head
            .parse(b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC", &limits)
            .unwrap_err();
        assert_eq!(err.kind(), TooManyHeaders);
    }

    #[test]
    fn zero_limits_mean_default() {
        let zero = Limits {
            request_line: 0,
            fields: 0,
            field_size: 0,
        };
        assert_eq!(zero.effective(), Limits::default());
        assert_eq!(zero.max_head(), Limits::default().max_head());
        let big = "X: ".to_string() + &"y".repeat(8190) + "\r\n";
        let req = format!("GET / HTTP/1.0\r\n{big}\r\n");
        let err = RequestHead::new().parse(req.as_bytes(), &zero).unwrap_err();
        assert_eq!(err.kind(), HeaderTooLarge);
    }

    #[test]
    fn huge_limits_are_capped() {
        let huge = Limits {
            request_line: usize::MAX,
            fields: usize::MAX,
            field_size: usize::MAX,
        };
        assert!(huge.max_head() < u32::MAX as usize);
        assert!(parse_with(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", &huge).is_ok());
    }

    /// A partial head is never bigger than `max_head`, whatever the bytes.
    #[test]
    fn partial_never_exceeds_max_head() {
        let limits = Limits {
            request_line: 20,
            fields: 3,
            field_size: 16,
        };
        let max = limits.max_head();
        let mut head = RequestHead::new();
        let mut seed = 0x1234_5678_9abc_def0u64;
        let alphabet = b"GET /\r\n:aZ \t\x00";
        for _ in 0..20_000 {
            let mut buf = b"GET / HTTP/1.1\r\n".to_vec();
            let len = (seed % 120) as usize;
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                buf.push(alphabet[(seed % alphabet.len() as u64) as usize]);
            }
            if let Ok(HeadStatus::Partial) = head.parse(&buf, &limits) {
                assert!(buf.len() < max, "{buf:?}");
            }
        }
    }

    const REQUESTS: &[&[u8]] = &[
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"\r\nPOST /upload?x=1 HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\nX:\r\n\r\n",
        b"GET /favicon.ico HTTP/1.1\r\nHost: 0.0.0.0=5000\r\nUser-Agent: Mozilla/5.0 (X11; U; Linux i686; en-US; rv:1.9) Gecko/2008061015 Firefox/3.0\r\nAccept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\nAccept-Language: en-us,en;q=0.5\r\nKeep-Alive: 300\r\nConnection: keep-alive\r\n\r\n",
    ];

    #[test]
    fn partial_at_every_split_point() {
        let mut head = RequestHead::new();
        for req in REQUESTS {
            for cut in 0..req.len() {
                assert_eq!(
                    head.parse(&req[..cut], &Limits::default()),
                    Ok(HeadStatus::Partial),
                    "{cut}"
                );
            }
            assert_eq!(
                head.parse(req, &Limits::default()),
                Ok(HeadStatus::Complete(req.len()))
            );
        }
    }

    #[test]
    fn pipelined_heads() {
        let all: Vec<u8> = REQUESTS.concat();
        let mut head = RequestHead::new();
        let mut pos = 0;
        let mut methods = Vec::new();
        for req in REQUESTS {
            let rest = &all[pos..];
            assert_eq!(
                head.parse(rest, &Limits::default()),
                Ok(HeadStatus::Complete(req.len()))
            );
            // Spans are relative to the slice handed to parse.
            methods.push(head.method.get(rest).to_vec());
            pos += req.len();
        }
        assert_eq!(methods, [&b"GET"[..], b"POST", b"GET"]);
    }

    #[test]
    fn reuse_clears_and_keeps_capacity() {
        let mut head = RequestHead::new();
        let long = REQUESTS[2];
        head.parse(long, &Limits::default()).unwrap();
        assert_eq!(head.headers.len(), 6);
        let cap = head.headers.capacity();
        let buf = b"PUT /x HTTP/1.0\r\nExpect: 100-continue\r\n\r\n";
        head.parse(buf, &Limits::default()).unwrap();
        assert_eq!(head.headers.len(), 1);
        assert_eq!(head.headers.capacity(), cap);
        assert!(!head.keep_alive);
        assert_eq!(head.body, BodyLength::Empty);
    }

    /// Timing check, run with `cargo test --release -- --ignored parse_speed --nocapture`.
    #[test]
    #[ignore]
    fn parse_speed() {
        let buf = b"GET /index.html?page=1 HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101\r\nAccept: text/html,application/xhtml+xml\r\nAccept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n\r\n";
        let mut head = RequestHead::new();
        let limits = Limits::default();
        let n = 1_000_000;
        let t = std::time::Instant::now();
        for _ in 0..n {
            let r = head.parse(std::hint::black_box(buf), &limits);
            std::hint::black_box(r.unwrap());
        }
        let per = t.elapsed() / n;
        eprintln!("{} bytes, 5 headers: {per:?} per parse", buf.len());
    }

    #[test]
    fn config_defaults_are_the_parser_defaults() {
        let c = crate::config::Config::default();
        let from_config = Limits {
            request_line: c.request_line_limit(),
            fields: c.request_fields_limit(),
            field_size: c.field_size_limit(),
        };
        assert_eq!(from_config, Limits::default());
    }
}
