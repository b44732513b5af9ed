//! Response encoding: status line, headers, and body framing.
//!
//! [`response_framing`] decides how the body is delimited, [`write_head`] writes the head
//! into the caller's buffer, and [`write_chunk`] / [`LAST_CHUNK`] frame a chunked body.
//! Nothing here allocates beyond growing the output buffer.

use super::chars::{is_field_byte, is_token};
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
    canonical_reason(status).unwrap_or("Unknown")
}

/// Defines `canonical_reason` ("Not Found") and `status_text` ("404 Not Found") from one
/// table, so that a status given as a number costs no allocation.
macro_rules! status_table {
    ($($code:literal => $reason:literal,)*) => {
        /// The reason phrase registered for a status code, if any.
        fn canonical_reason(status: u16) -> Option<&'static str> {
            match status {
                $($code => Some($reason),)*
                _ => None,
            }
        }

        /// The whole status text of a registered code (`"404 Not Found"`), if any.
        pub(crate) fn status_text(status: u16) -> Option<&'static str> {
            match status {
                $($code => Some(concat!(stringify!($code), " ", $reason)),)*
                _ => None,
            }
        }
    };
}

status_table! {
    100 => "Continue",
    101 => "Switching Protocols",
    102 => "Processing",
    103 => "Early Hints",
    200 => "OK",
    201 => "Created",
    202 => "Accepted",
    203 => "Non-Authoritative Information",
    204 => "No Content",
    205 => "Reset Content",
    206 => "Partial Content",
    207 => "Multi-Status",
    208 => "Already Reported",
    226 => "IM Used",
    300 => "Multiple Choices",
    301 => "Moved Permanently",
    302 => "Found",
    303 => "See Other",
    304 => "Not Modified",
    305 => "Use Proxy",
    307 => "Temporary Redirect",
    308 => "Permanent Redirect",
    400 => "Bad Request",
    401 => "Unauthorized",
    402 => "Payment Required",
    403 => "Forbidden",
    404 => "Not Found",
    405 => "Method Not Allowed",
    406 => "Not Acceptable",
    407 => "Proxy Authentication Required",
    408 => "Request Timeout",
    409 => "Conflict",
    410 => "Gone",
    411 => "Length Required",
    412 => "Precondition Failed",
    413 => "Content Too Large",
    414 => "URI Too Long",
    415 => "Unsupported Media Type",
    416 => "Range Not Satisfiable",
    417 => "Expectation Failed",
    418 => "I'm a teapot",
    421 => "Misdirected Request",
    422 => "Unprocessable Content",
    423 => "Locked",
    424 => "Failed Dependency",
    425 => "Too Early",
    426 => "Upgrade Required",
    428 => "Precondition Required",
    429 => "Too Many Requests",
    431 => "Request Header Fields Too Large",
    451 => "Unavailable For Legal Reasons",
    500 => "Internal Server Error",
    501 => "Not Implemented",
    502 => "Bad Gateway",
    503 => "Service Unavailable",
    504 => "Gateway Timeout",
    505 => "HTTP Version Not Supported",
    506 => "Variant Also Negotiates",
    507 => "Insufficient Storage",
    508 => "Loop Detected",
    510 => "Not Extended",
    511 => "Network Authentication Required",
}

/// Decides the response framing and whether the connection stays open.
///
/// `known_length` is the body length when the application told it (a `Content-Length`
/// it set, or a body of known size); `keep_alive` is the request's
/// [`RequestHead::keep_alive`](super::request::RequestHead::keep_alive). Returns the
/// framing and whether the connection may stay open afterwards.
pub fn response_framing(
    version: Version,
    is_head: bool,
    status: u16,
    known_length: Option<u64>,
    keep_alive: bool,
) -> (Framing, bool) {
    // RFC 9112 §6.3: "Any response to a HEAD request and any response with a 1xx
    // (Informational), 204 (No Content), or 304 (Not Modified) status code is always
    // terminated by the first empty line after the header fields ... and thus cannot
    // contain a message body". RFC 9110 §8.6: "A server MUST NOT send a Content-Length
    // header field in any response with a status code of 1xx (Informational) or 204 (No
    // Content)"; for 304 it may only be the length a 200 would have had, which we do not
    // know, so none is sent.
    if (100..200).contains(&status) || status == 204 || status == 304 {
        return (Framing::NoBody(None), keep_alive);
    }
    // RFC 9110 §9.3.2: "The server SHOULD send the same header fields in response to a
    // HEAD request as it would have sent if the request method had been GET".
    if is_head {
        return (Framing::NoBody(known_length), keep_alive);
    }
    match (known_length, version) {
        (Some(n), _) => (Framing::Length(n), keep_alive),
        (None, Version::Http11) => (Framing::Chunked, keep_alive),
        // RFC 9112 §6.1: an HTTP/1.0 recipient does not know chunked; the body can only
        // be delimited by closing the connection.
        (None, Version::Http10) => (Framing::Close, false),
    }
}

/// Writes the status line and headers (app headers, then framing, `Connection`, `Date`)
/// and the empty line into `out`. No `Server` header is added.
///
/// `status` is the WSGI status (`"200 OK"`), checked by the caller with [`parse_status`];
/// header names and values are checked by the caller with [`is_valid_header_name`] and
/// [`is_valid_header_value`] (they are only debug-asserted here). The status line is
/// always `HTTP/1.1` (RFC 9110 §6.2: a server sends its own highest version).
///
/// Application `Content-Length`, `Transfer-Encoding` and `Connection` headers are skipped
/// (any case): `framing` and `keep_alive` decide those, and the caller derives
/// `known_length` from an application `Content-Length` before calling
/// [`response_framing`]. The exception is `101 Switching Protocols`, whose `Connection:
/// upgrade` belongs to the application; then no `Connection` header is added. Another
/// answer with an `Upgrade` header (a `426 Upgrade Required`) gets the `Upgrade`
/// connection option in the `Connection` header written here.
pub fn write_head<'a>(
    out: &mut Vec<u8>,
    status: &str,
    headers: impl IntoIterator<Item = (&'a str, &'a str)>,
    framing: Framing,
    version: Version,
    keep_alive: bool,
    date: &[u8],
) {
    let switching = status.starts_with("101");
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_bytes());
    // RFC 9112 §4: `status-line = HTTP-version SP status-code SP [ reason-phrase ]`: the
    // space after the code is required even when the reason is empty. A bare code ("404")
    // or an empty reason ("404 ") gets the canonical phrase, as clients show it to people.
    if status.len() <= 4 {
        if status.len() == 3 {
            out.push(b' ');
        }
        let code = parse_status(status).unwrap_or(0);
        if let Some(reason) = canonical_reason(code) {
            out.extend_from_slice(reason.as_bytes());
        }
    }
    out.extend_from_slice(b"\r\n");
    let mut upgrade = false;
    for (name, value) in headers {
        debug_assert!(is_valid_header_name(name) && is_valid_header_value(value));
        upgrade |= name.len() == 7 && name.eq_ignore_ascii_case("upgrade");
        let skip = name.eq_ignore_ascii_case("content-length")
            || name.eq_ignore_ascii_case("transfer-encoding")
            || (!switching && name.eq_ignore_ascii_case("connection"));
        if skip {
            continue;
        }
        header(out, name.as_bytes(), value.as_bytes());
    }
    match framing {
        Framing::Length(n) | Framing::NoBody(Some(n)) => {
            let mut digits = itoa::Buffer::new();
            header(out, b"Content-Length", digits.format(n).as_bytes());
        }
        Framing::Chunked => header(out, b"Transfer-Encoding", b"chunked"),
        Framing::Close | Framing::NoBody(None) => {}
    }
    if !switching {
        // RFC 9110 §7.8: "A sender of Upgrade MUST also send an "Upgrade" connection
        // option in the Connection header field" (a 426 names the protocol to switch to).
        let option: &[u8] = match (keep_alive, version, upgrade) {
            (false, _, false) => b"close",
            (false, _, true) => b"Upgrade, close",
            // RFC 9112 §9.3: an HTTP/1.0 client assumes close unless told keep-alive.
            (true, Version::Http10, false) => b"keep-alive",
            (true, Version::Http10, true) => b"Upgrade, keep-alive",
            (true, Version::Http11, true) => b"Upgrade",
            (true, Version::Http11, false) => b"",
        };
        if !option.is_empty() {
            header(out, b"Connection", option);
        }
    }
    header(out, b"Date", date);
    out.extend_from_slice(b"\r\n");
}

/// Appends `name: value CRLF`.
#[inline]
fn header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Appends one chunk (`size CRLF data CRLF`); an empty `data` writes nothing.
pub fn write_chunk(out: &mut Vec<u8>, data: &[u8]) {
    // An empty chunk would be the last-chunk and end the body early.
    if data.is_empty() {
        return;
    }
    let mut hex = [0u8; 16];
    let mut n = data.len();
    let mut i = hex.len();
    loop {
        i -= 1;
        hex[i] = b"0123456789abcdef"[n & 0xf];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.reserve(hex.len() - i + data.len() + 4);
    out.extend_from_slice(&hex[i..]);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// The last chunk with no trailers.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Whether `name` is a valid header field name (an RFC 9110 token).
pub fn is_valid_header_name(name: &str) -> bool {
    is_token(name.as_bytes())
}

/// Whether `value` is a valid header field value: no CR, LF or NUL, and no other control
/// character but HTAB (RFC 9110 §5.5), so an application cannot split a response.
pub fn is_valid_header_value(value: &str) -> bool {
    // A byte loop, not the parser's word-at-a-time scan: inlined, it folds away for a
    // literal value (the usual case), which the word scan cannot (measured: 10 ns more
    // per request with it).
    value.bytes().all(is_field_byte)
}

/// Parses a WSGI status string ("200 OK"): three digits, then a space and a reason.
///
/// The code must be 100..=999 (RFC 9110 §15: `status-code = 3DIGIT`, and the first digit
/// names the class); the reason may be empty or missing, and must be a valid field value.
#[inline]
pub fn parse_status(status: &str) -> Option<u16> {
    let b = status.as_bytes();
    let code = b.get(..3)?;
    if !code.iter().all(u8::is_ascii_digit) || code[0] == b'0' {
        return None;
    }
    match &b[3..] {
        [] => {}
        [b' ', reason @ ..] if reason.iter().all(|&c| is_field_byte(c)) => {}
        _ => return None,
    }
    Some(code.iter().fold(0, |n, d| n * 10 + u16::from(d - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Version::{Http10, Http11};

    const DATE: &[u8] = b"Sun, 06 Nov 1994 08:49:37 GMT";

    /// The examples once in the doc comments of these crate-private functions.
    #[test]
    fn doc_examples() {
        assert_eq!(
            response_framing(Http11, false, 200, None, true),
            (Framing::Chunked, true)
        );
        assert_eq!(
            response_framing(Http10, false, 200, None, true),
            (Framing::Close, false)
        );
        assert_eq!(
            response_framing(Http11, true, 200, Some(5), true),
            (Framing::NoBody(Some(5)), true)
        );
        let mut out = Vec::new();
        write_chunk(&mut out, b"hello, world!!!!");
        assert_eq!(out, b"10\r\nhello, world!!!!\r\n");
        assert_eq!(parse_status("404 Not Found"), Some(404));
        assert_eq!(parse_status("200"), Some(200));
        assert_eq!(parse_status("20 OK"), None);
        assert_eq!(parse_status("200 OK\r\nX: y"), None);
    }

    fn head(
        status: &str,
        headers: &[(&str, &str)],
        framing: Framing,
        version: Version,
        keep_alive: bool,
    ) -> String {
        let mut out = Vec::new();
        write_head(
            &mut out,
            status,
            headers.iter().copied(),
            framing,
            version,
            keep_alive,
            DATE,
        );
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn framing_table() {
        let cases = [
            // (version, head, status, known, keep-alive) => (framing, keep-alive)
            (
                (Http11, false, 200, Some(5), true),
                (Framing::Length(5), true),
            ),
            (
                (Http11, false, 200, Some(0), false),
                (Framing::Length(0), false),
            ),
            ((Http11, false, 200, None, true), (Framing::Chunked, true)),
            ((Http11, false, 200, None, false), (Framing::Chunked, false)),
            ((Http10, false, 200, None, true), (Framing::Close, false)),
            (
                (Http10, false, 200, Some(3), true),
                (Framing::Length(3), true),
            ),
            (
                (Http11, true, 200, Some(7), true),
                (Framing::NoBody(Some(7)), true),
            ),
            (
                (Http11, true, 200, None, true),
                (Framing::NoBody(None), true),
            ),
            (
                (Http10, true, 200, None, true),
                (Framing::NoBody(None), true),
            ),
            (
                (Http11, false, 204, Some(5), true),
                (Framing::NoBody(None), true),
            ),
            (
                (Http11, false, 304, Some(5), true),
                (Framing::NoBody(None), true),
            ),
            (
                (Http11, true, 304, Some(5), true),
                (Framing::NoBody(None), true),
            ),
            (
                (Http11, false, 101, None, true),
                (Framing::NoBody(None), true),
            ),
            (
                (Http11, false, 199, None, true),
                (Framing::NoBody(None), true),
            ),
            ((Http11, false, 205, None, true), (Framing::Chunked, true)),
        ];
        for ((v, h, s, k, ka), want) in cases {
            assert_eq!(
                response_framing(v, h, s, k, ka),
                want,
                "{v:?} head={h} {s} {k:?} {ka}"
            );
        }
    }

    #[test]
    fn head_with_length() {
        assert_eq!(
            head(
                "200 OK",
                &[("Content-Type", "text/plain")],
                Framing::Length(12),
                Http11,
                true
            ),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\
             Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n"
        );
    }

    #[test]
    fn head_chunked_close() {
        assert_eq!(
            head(
                "201 Created",
                &[("A", "1"), ("B", "2")],
                Framing::Chunked,
                Http11,
                false
            ),
            "HTTP/1.1 201 Created\r\nA: 1\r\nB: 2\r\nTransfer-Encoding: chunked\r\n\
             Connection: close\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n"
        );
    }

    #[test]
    fn head_http10() {
        assert_eq!(
            head("200 OK", &[], Framing::Length(0), Http10, true),
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\
             Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n"
        );
        assert_eq!(
            head("200 OK", &[], Framing::Close, Http10, false),
            "HTTP/1.1 200 OK\r\nConnection: close\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n"
        );
    }

    #[test]
    fn head_no_body() {
        assert_eq!(
            head("200 OK", &[], Framing::NoBody(Some(42)), Http11, true),
            "HTTP/1.1 200 OK\r\nContent-Length: 42\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n"
        );
        assert_eq!(
            head("204 No Content", &[], Framing::NoBody(None), Http11, true),
            "HTTP/1.1 204 No Content\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n"
        );
    }

    #[test]
    fn framing_headers_from_the_app_are_skipped() {
        let app = [
            ("content-length", "999"),
            ("X", "y"),
            ("Transfer-Encoding", "gzip"),
            ("CONNECTION", "keep-alive"),
        ];
        assert_eq!(
            head("200 OK", &app, Framing::Length(3), Http11, false),
            "HTTP/1.1 200 OK\r\nX: y\r\nContent-Length: 3\r\nConnection: close\r\n\
             Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n"
        );
    }

    #[test]
    fn switching_protocols_keeps_the_app_connection_header() {
        let app = [("Upgrade", "websocket"), ("Connection", "Upgrade")];
        assert_eq!(
            head(
                "101 Switching Protocols",
                &app,
                Framing::NoBody(None),
                Http11,
                true
            ),
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n"
        );
    }

    #[test]
    fn an_answer_naming_an_upgrade_says_so_in_its_connection_header() {
        // RFC 9110 §7.8: a sender of Upgrade MUST send the "Upgrade" connection option.
        let app = [("Upgrade", "websocket"), ("Connection", "Upgrade")];
        let date = "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n";
        let cases = [
            (Http11, true, "Connection: Upgrade\r\n"),
            (Http11, false, "Connection: Upgrade, close\r\n"),
            (Http10, true, "Connection: Upgrade, keep-alive\r\n"),
        ];
        for (version, keep_alive, connection) in cases {
            assert_eq!(
                head(
                    "426 Upgrade Required",
                    &app,
                    Framing::Length(0),
                    version,
                    keep_alive
                ),
                format!(
                    "HTTP/1.1 426 Upgrade Required\r\nUpgrade: websocket\r\n\
                     Content-Length: 0\r\n{connection}{date}"
                )
            );
        }
    }

    #[test]
    fn head_appends() {
        let mut out = b"previous".to_vec();
        write_head(
            &mut out,
            "200 OK",
            [],
            Framing::Length(1),
            Http11,
            true,
            DATE,
        );
        assert!(out.starts_with(b"previousHTTP/1.1 200 OK\r\n"));
    }

    #[test]
    fn status_line_always_has_a_reason() {
        // (status as the app set it, status line on the wire)
        let cases = [
            ("404", "HTTP/1.1 404 Not Found\r\n"),
            ("404 ", "HTTP/1.1 404 Not Found\r\n"),
            ("200", "HTTP/1.1 200 OK\r\n"),
            ("404 Gone Fishing", "HTTP/1.1 404 Gone Fishing\r\n"),
            ("599 Custom\tReason", "HTTP/1.1 599 Custom\tReason\r\n"),
            // No registered phrase: the SP stays, the reason is empty (RFC 9112 §4).
            ("299", "HTTP/1.1 299 \r\n"),
            ("299 ", "HTTP/1.1 299 \r\n"),
        ];
        for (status, line) in cases {
            let got = head(status, &[], Framing::Length(0), Http11, true);
            assert!(got.starts_with(line), "{status:?}: {got:?}");
        }
    }

    #[test]
    fn chunks() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"", b""),
            (b"a", b"1\r\na\r\n"),
            (&[b'x'; 15], b"f\r\nxxxxxxxxxxxxxxx\r\n"),
            (&[b'x'; 16], b"10\r\nxxxxxxxxxxxxxxxx\r\n"),
        ];
        for (data, want) in cases {
            let mut out = Vec::new();
            write_chunk(&mut out, data);
            assert_eq!(out, *want);
        }
        let mut out = Vec::new();
        write_chunk(&mut out, &vec![0u8; 0x12345]);
        assert!(out.starts_with(b"12345\r\n\0"));
        assert_eq!(out.len(), 7 + 0x12345 + 2);
    }

    #[test]
    fn chunks_round_trip_through_the_decoder() {
        use crate::http::decode::{Chunk, ChunkedDecoder};
        let mut wire = Vec::new();
        let pieces: [&[u8]; 4] = [b"hello", b"", b" ", &[7u8; 300]];
        for piece in pieces {
            write_chunk(&mut wire, piece);
        }
        wire.extend_from_slice(LAST_CHUNK);
        let mut dec = ChunkedDecoder::new();
        let (mut pos, mut body) = (0, Vec::new());
        loop {
            match dec.decode(&wire[pos..]).unwrap() {
                (n, Chunk::Data(r)) => {
                    body.extend_from_slice(&wire[pos..][r]);
                    pos += n;
                }
                (n, Chunk::More) => pos += n,
                (n, Chunk::End) => {
                    pos += n;
                    break;
                }
            }
        }
        assert_eq!(pos, wire.len());
        assert_eq!(body, pieces.concat());
    }

    #[test]
    fn header_names() {
        for ok in ["A", "Content-Type", "x-y_z.1~!#$%&'*+^`|"] {
            assert!(is_valid_header_name(ok), "{ok:?}");
        }
        for bad in [
            "", "A B", "A:", "A\r\n", "é", "A\0", "(a)", "a/b", "a\"", "a\t",
        ] {
            assert!(!is_valid_header_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn header_values() {
        for ok in [
            "",
            "text/plain; charset=utf-8",
            "a\tb",
            " x ",
            "café",
            "~\u{7e}",
        ] {
            assert!(is_valid_header_value(ok), "{ok:?}");
        }
        for bad in [
            "a\r\nSet-Cookie: x",
            "a\rb",
            "a\nb",
            "a\0b",
            "a\x07b",
            "a\x7fb",
            "\x1b[31m",
        ] {
            assert!(!is_valid_header_value(bad), "{bad:?}");
        }
    }

    #[test]
    fn statuses() {
        let cases: &[(&str, Option<u16>)] = &[
            ("200 OK", Some(200)),
            ("200", Some(200)),
            ("200 ", Some(200)),
            ("404 Not Found", Some(404)),
            ("100 Continue", Some(100)),
            ("999 Whatever", Some(999)),
            ("599 Custom\tReason", Some(599)),
            ("099 No", None),
            ("000", None),
            ("20 OK", None),
            ("2000 OK", None),
            ("200OK", None),
            ("200\tOK", None),
            ("abc OK", None),
            ("", None),
            ("200 OK\r\nX: y", None),
            ("200 OK\n", None),
            ("+20 OK", None),
            ("２００ OK", None),
        ];
        for &(s, want) in cases {
            assert_eq!(parse_status(s), want, "{s:?}");
        }
    }

    #[test]
    fn reasons() {
        assert_eq!(reason_phrase(200), "OK");
        assert_eq!(reason_phrase(404), "Not Found");
        assert_eq!(reason_phrase(413), "Content Too Large");
        assert_eq!(reason_phrase(431), "Request Header Fields Too Large");
        assert_eq!(reason_phrase(505), "HTTP Version Not Supported");
        assert_eq!(reason_phrase(299), "Unknown");
        // Every status the parser can answer with has a real phrase.
        for s in [400, 408, 413, 414, 431, 501, 505] {
            assert_ne!(reason_phrase(s), "Unknown");
        }
    }
}
