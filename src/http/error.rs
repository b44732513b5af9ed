//! Protocol errors that know the status to answer with.

use std::fmt;

/// The kind of protocol error (small and `Copy`, like httparse's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Malformed request line (method, target or layout). 400.
    BadRequestLine,
    /// Request line longer than the limit. 414.
    RequestLineTooLong,
    /// A well-formed but unsupported HTTP version (`HTTP/2.0`, `HTTP/0.9`). 505. A malformed
    /// version (`HTTP/1.1.1`, `FTP/1.1`) is a [`ErrorKind::BadRequestLine`], 400.
    BadVersion,
    /// Malformed header field (name, value, line folding, whitespace), a repeated
    /// Content-Type, or a Host that is missing (HTTP/1.1), repeated, empty, invalid or
    /// unlike the request-target's authority (RFC 9112 §3.2). 400.
    BadHeader,
    /// A header field longer than the limit. 431.
    HeaderTooLarge,
    /// More header fields than the limit. 431.
    TooManyHeaders,
    /// Malformed, negative, overflowing or repeated-and-differing Content-Length. 400.
    BadContentLength,
    /// Content-Length together with Transfer-Encoding. 400.
    LengthAndTransferEncoding,
    /// Transfer-Encoding whose last coding is not chunked, or chunked applied twice. 400.
    ChunkedNotLast,
    /// Transfer-Encoding in an HTTP/1.0 request. 400.
    TransferEncodingInHttp10,
    /// A transfer coding we do not implement. 501.
    UnknownTransferCoding,
    /// Malformed chunked body: size line, extension, CRLF, or a trailer field that is
    /// malformed, forbidden in trailers, or beyond the size bound. 400.
    BadChunk,
    /// A chunk size that overflows. 400.
    ChunkSizeOverflow,
    /// A body larger than allowed. 413.
    BodyTooLarge,
    /// The client sent the head or body too slowly. 408.
    Timeout,
    /// A malformed PROXY protocol header (`--proxy-protocol`). 400.
    BadProxyHeader,
}

/// A protocol error: what was wrong, and the status the server should answer with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    detail: &'static str,
}

impl Error {
    /// Makes an error of `kind` with a short static explanation.
    pub(crate) const fn new(kind: ErrorKind, detail: &'static str) -> Self {
        Error { kind, detail }
    }

    /// The kind of error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The explanation given when the error was made.
    pub fn detail(&self) -> &'static str {
        self.detail
    }

    /// The status code to answer with.
    pub fn status(&self) -> u16 {
        match self.kind {
            ErrorKind::RequestLineTooLong => 414,
            ErrorKind::BadVersion => 505,
            ErrorKind::HeaderTooLarge | ErrorKind::TooManyHeaders => 431,
            ErrorKind::UnknownTransferCoding => 501,
            ErrorKind::BodyTooLarge => 413,
            ErrorKind::Timeout => 408,
            _ => 400,
        }
    }

    /// The status line's reason phrase for [`Error::status`].
    pub fn reason(&self) -> &'static str {
        crate::http::encode::reason_phrase(self.status())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({} {})", self.detail, self.status(), self.reason())
    }
}

impl std::error::Error for Error {}
