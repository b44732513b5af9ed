//! Response encoding: status line, headers, and body framing.

use super::request::Version;

/// How a response body is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `Content-Length: n`, then exactly n bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// The body ends when the connection closes (HTTP/1.0 streams).
    Close,
    /// No body may be sent (HEAD, 1xx, 204, 304); a known length is still announced when
    /// given (HEAD).
    NoBody(Option<u64>),
}

/// The standard reason phrase of a status code ("Unknown" for others).
pub fn reason_phrase(status: u16) -> &'static str {
    let _ = status;
    todo!()
}

/// Decides the response framing and whether the connection stays open.
pub fn response_framing(
    version: Version,
    is_head: bool,
    status: u16,
    known_length: Option<u64>,
    keep_alive: bool,
) -> (Framing, bool) {
    let _ = (version, is_head, status, known_length, keep_alive);
    todo!()
}

/// Writes the status line and headers (app headers, then framing, `Connection`, `Date`,
/// `Server`) and the empty line into `out`.
pub fn write_head<'a>(
    out: &mut Vec<u8>,
    status: &str,
    headers: impl IntoIterator<Item = (&'a str, &'a str)>,
    framing: Framing,
    version: Version,
    keep_alive: bool,
    date: &[u8],
) {
    let _ = (out, status, headers.into_iter(), framing, version, keep_alive, date);
    todo!()
}

/// Appends one chunk (`size CRLF data CRLF`); an empty `data` writes nothing.
pub fn write_chunk(out: &mut Vec<u8>, data: &[u8]) {
    let _ = (out, data);
    todo!()
}

/// The last chunk with no trailers.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Whether `name` is a valid header field name (an RFC 9110 token).
pub fn is_valid_header_name(name: &str) -> bool {
    let _ = name;
    todo!()
}

/// Whether `value` is a valid header field value (no CR, LF or NUL).
pub fn is_valid_header_value(value: &str) -> bool {
    let _ = value;
    todo!()
}

/// Parses a WSGI status string ("200 OK"): three digits, then a space and a reason.
pub fn parse_status(status: &str) -> Option<u16> {
    let _ = status;
    todo!()
}
