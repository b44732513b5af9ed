//! Request-head parsing and the body-framing decision (RFC 9112 §2-§7).

use super::Error;

/// Limits on the request head, gunicorn's `limit_request_*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest request line in bytes, without its CRLF. Default 4094.
    pub request_line: usize,
    /// Most header fields. Default 100.
    pub fields: usize,
    /// Longest header field (`name: value`) in bytes. Default 8190.
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

impl Limits {
    /// The most bytes a complete head may take under these limits: a caller that has
    /// buffered this much and still gets `Partial` will get an error on the next parse.
    pub fn max_head(&self) -> usize {
        todo!()
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
    /// No body.
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
}

/// Outcome of a parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
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

impl RequestHead {
    /// An empty head, ready for [`RequestHead::parse`].
    pub fn new() -> Self {
        RequestHead {
            method: Span::default(),
            target: Span::default(),
            version: Version::Http11,
            headers: Vec::with_capacity(16),
            body: BodyLength::Empty,
            keep_alive: true,
            expect_continue: false,
        }
    }

    /// Parses a request head at the start of `buf`.
    pub fn parse(&mut self, buf: &[u8], limits: &Limits) -> Result<Parsed, Error> {
        let _ = (buf, limits);
        todo!()
    }
}
