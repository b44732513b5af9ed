//! The chunked transfer-coding decoder (RFC 9112 §7.1), a state machine fed byte slices.
//!
//! ```text
//!  chunked-body = *chunk last-chunk trailer-section CRLF
//!
//!  SizeStart -hex-> Size -hex-> Size --CR--> SizeLf --LF--> Data(n) --n bytes--> DataCr
//!                     |  \-SP/HTAB-> SizeLws -;-> extension (`;` name [`=` value], below)
//!                     \-;-> extension --CR--> SizeLf            (size 0: --LF--> Trailer)
//!  DataCr -CR-> DataLf -LF-> SizeStart
//!  Trailer --CR--> EndLf --LF--> End
//!     \--byte--> TrailerLine --CR--> TrailerLf --LF--> Trailer
//! ```
//!
//! A chunk extension follows RFC 9112 §7.1.1 to the letter (whitespace only where `BWS`
//! stands):
//!
//! ```text
//!  ExtName -tchar-> ExtNameTok -=-> ExtValue -tchar-> ExtValueTok
//!                      \-SP-> ExtNameWs -=-^   \-"-> ExtQuoted <-\-> ExtEscape
//!                                                    \-"-> ExtValueEnd
//!  `;` after a name or value -> ExtName; CR after one -> SizeLf.
//! ```
//!
//! Framing bytes are consumed one at a time by one small function per state; chunk data is
//! handed back as a range of the input without copying. Extensions are checked and
//! ignored; trailer fields are checked, kept (bounded) and readable through
//! [`ChunkedDecoder::trailers`].

use std::ops::Range;

use super::chars::{is_field_byte, is_ows, is_tchar, is_token, trim_ows};
use super::{Error, ErrorKind};

/// Most bytes of chunk extensions accepted over a whole body: extensions are ignored, so
/// a body of tiny chunks with long extensions would be pure work for us (hyper uses the
/// same bound).
pub const MAX_EXTENSION_BYTES: usize = 16 * 1024;

/// Most bytes of trailer fields accepted (they are kept in memory).
pub const MAX_TRAILER_BYTES: usize = 8 * 1024;

/// What one [`ChunkedDecoder::decode`] call found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk {
    /// Body bytes: this range of the input (inside the consumed part).
    Data(Range<usize>),
    /// The consumed bytes were framing only; call again with more input.
    More,
    /// The body ended (last chunk and trailers consumed); what follows is the next request.
    End,
}

/// Where in the chunked body the decoder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first hex digit of a chunk size.
    SizeStart,
    /// In the hex digits of a chunk size.
    Size,
    /// Whitespace after the size: only more whitespace or `;` may follow.
    SizeLws,
    /// After a `;` (and whitespace): a chunk-ext-name must start.
    ExtName,
    /// In a chunk-ext-name.
    ExtNameTok,
    /// Whitespace after a chunk-ext-name: `=` or `;` must follow.
    ExtNameWs,
    /// After `=` (and whitespace): a chunk-ext-val must start.
    ExtValue,
    /// In a token chunk-ext-val.
    ExtValueTok,
    /// After the closing quote of a quoted chunk-ext-val.
    ExtValueEnd,
    /// Whitespace after a chunk-ext-val: `;` must follow.
    ExtValueWs,
    /// In a quoted-string of a chunk extension.
    ExtQuoted,
    /// After a backslash in a quoted-string.
    ExtEscape,
    /// After the CR of a chunk-size line.
    SizeLf,
    /// In chunk data, this many bytes left (never 0).
    Data(u64),
    /// After chunk data, expecting CR.
    DataCr,
    /// After chunk data and CR, expecting LF.
    DataLf,
    /// At the start of a trailer field line, or of the final CRLF.
    Trailer,
    /// In a trailer field line.
    TrailerLine,
    /// After the CR of a trailer field line.
    TrailerLf,
    /// After the final CR.
    EndLf,
    /// The body is over.
    End,
}

/// Decodes a chunked body incrementally.
///
/// Chunk extensions are checked and ignored, at most 16 KiB of them over a body; trailer
/// fields are kept, at most 8 KiB of them. Beyond either bound, and on any malformed
/// framing, [`decode`](ChunkedDecoder::decode) fails with [`ErrorKind::BadChunk`] (or
/// [`ErrorKind::ChunkSizeOverflow`]), and the connection's framing can no longer be
/// trusted.
///
/// ```
/// use greenlight::http::{Chunk, ChunkedDecoder};
///
/// let input = b"5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
/// let mut dec = ChunkedDecoder::new();
/// let (n, chunk) = dec.decode(input).unwrap();
/// assert_eq!((n, chunk), (8, Chunk::Data(3..8)));
/// assert_eq!(dec.decode(&input[n..]).unwrap(), (7, Chunk::End));
/// assert!(dec.is_done());
/// ```
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: State,
    /// The chunk size being read.
    size: u64,
    /// Extension bytes seen so far, over the whole body.
    extension_bytes: usize,
    /// The trailer lines received so far, each ended by `\n` (allocated only if any).
    trailers: Vec<u8>,
    /// Where the trailer line being read starts in `trailers`.
    line_start: usize,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new()
    }
}

const fn bad(detail: &'static str) -> Error {
    Error::new(ErrorKind::BadChunk, detail)
}

/// Trailer fields refused (RFC 9110 §6.5.1): "Many fields cannot be processed outside the
/// header section because their evaluation is necessary prior to receiving the content,
/// such as those that describe message framing, routing, authentication, request
/// modifiers, response controls, or content format." gunicorn's list (host, framing,
/// trailer, authorization, te) and a few more of those kinds. Content-Type stays allowed:
/// gunicorn accepts it (corpus valid/012).
const FORBIDDEN_TRAILERS: &[&[u8]] = &[
    b"host",
    b"content-length",
    b"transfer-encoding",
    b"trailer",
    b"te",
    b"authorization",
    b"proxy-authorization",
    b"connection",
    b"expect",
    b"content-encoding",
    b"content-range",
    b"range",
];

impl ChunkedDecoder {
    /// A decoder at the start of a chunked body.
    pub fn new() -> Self {
        ChunkedDecoder {
            state: State::SizeStart,
            size: 0,
            extension_bytes: 0,
            trailers: Vec::new(),
            line_start: 0,
        }
    }

    /// Decodes from `input`: returns how many bytes were consumed and what they held.
    ///
    /// `Data(r)` hands back `input[r]` (`r.end` is the consumed count); a chunk larger
    /// than the input comes back in several pieces. `More` means every byte was framing
    /// and more input is needed; at the end of the input stream that is an error for the
    /// caller (a truncated body). After `End`, further calls return `(0, End)`.
    pub fn decode(&mut self, input: &[u8]) -> Result<(usize, Chunk), Error> {
        let mut pos = 0;
        loop {
            match self.state {
                State::End => return Ok((pos, Chunk::End)),
                State::Data(left) => {
                    let avail = input.len() - pos;
                    if avail == 0 {
                        return Ok((pos, Chunk::More));
                    }
                    // `n` is at most `avail`, so it fits a usize.
                    let n = left.min(avail as u64) as usize;
                    self.state = match left - n as u64 {
                        0 => State::DataCr,
                        left => State::Data(left),
                    };
                    return Ok((pos + n, Chunk::Data(pos..pos + n)));
                }
                _ => {
                    let Some(&b) = input.get(pos) else {
                        return Ok((pos, Chunk::More));
                    };
                    pos += 1;
                    self.state = self.step(b)?;
                }
            }
        }
    }

    /// Whether the whole body (trailers included) has been decoded.
    pub fn is_done(&self) -> bool {
        self.state == State::End
    }

    /// The trailer fields received so far, as `(name, value)` (value without surrounding
    /// whitespace), in order. They have been checked as header fields are.
    pub fn trailers(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.trailers[..self.line_start]
            .split(|&b| b == b'\n')
            .filter(|line| !line.is_empty())
            .filter_map(|line| {
                let colon = line.iter().position(|&b| b == b':')?;
                Some((&line[..colon], trim_ows(&line[colon + 1..])))
            })
    }

    /// Consumes one framing byte.
    #[inline]
    fn step(&mut self, b: u8) -> Result<State, Error> {
        match self.state {
            State::SizeStart => self.size_start(b),
            State::Size => self.size(b),
            State::SizeLws => size_lws(b),
            State::ExtName
            | State::ExtNameTok
            | State::ExtNameWs
            | State::ExtValue
            | State::ExtValueTok
            | State::ExtValueEnd
            | State::ExtValueWs
            | State::ExtQuoted
            | State::ExtEscape => self.extension(b),
            State::SizeLf => self.size_lf(b),
            State::DataCr => expect(b, b'\r', State::DataLf, "missing CRLF after chunk data"),
            State::DataLf => {
                self.size = 0;
                expect(b, b'\n', State::SizeStart, "missing CRLF after chunk data")
            }
            State::Trailer => self.trailer(b),
            State::TrailerLine => self.trailer_line(b),
            State::TrailerLf => self.trailer_lf(b),
            State::EndLf => expect(b, b'\n', State::End, "bare CR after trailer section"),
            State::Data(_) | State::End => unreachable!("decode handles data and end"),
        }
    }

    fn size_start(&mut self, b: u8) -> Result<State, Error> {
        // RFC 9112 §7.1: `chunk-size = 1*HEXDIG`: no sign, no leading whitespace
        // (corpus chunked_10, chunked_12, chunked_13, rfc9112_chunked_size_*_sign_01).
        match hex(b) {
            Some(d) => {
                self.size = d;
                Ok(State::Size)
            }
            None => Err(bad("invalid chunk size")),
        }
    }

    fn size(&mut self, b: u8) -> Result<State, Error> {
        if let Some(d) = hex(b) {
            self.size = self
                .size
                .checked_mul(16)
                .and_then(|s| s.checked_add(d))
                .ok_or(Error::new(
                    ErrorKind::ChunkSizeOverflow,
                    "chunk size overflows",
                ))?;
            return Ok(State::Size);
        }
        match b {
            b'\r' => Ok(State::SizeLf),
            b';' => Ok(State::ExtName),
            // RFC 9112 §7.1.1: `chunk-ext = *( BWS ";" BWS chunk-ext-name ...)`: whitespace
            // may precede a `;` only.
            b' ' | b'\t' => Ok(State::SizeLws),
            _ => Err(bad("invalid chunk size")),
        }
    }

    /// Consumes a byte of a chunk extension.
    ///
    /// RFC 9112 §7.1.1: `chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS
    /// chunk-ext-val ] )`, `chunk-ext-name = token`, `chunk-ext-val = token /
    /// quoted-string`. A recipient "MUST ignore unrecognized chunk extensions", but one that
    /// does not parse is a malformed chunk-size line, and we refuse it rather than guess
    /// where it ends (a CR inside quotes, a stray byte a proxy reads otherwise).
    fn extension(&mut self, b: u8) -> Result<State, Error> {
        use State::*;
        self.extension_bytes += 1;
        if self.extension_bytes > MAX_EXTENSION_BYTES {
            return Err(bad("chunk extensions too long"));
        }
        let ows = is_ows(b);
        let tchar = is_tchar(b);
        match (self.state, b) {
            (ExtName, _) if ows => Ok(ExtName),
            (ExtName, _) if tchar => Ok(ExtNameTok),
            (ExtNameTok, _) if tchar => Ok(ExtNameTok),
            (ExtNameTok | ExtNameWs, _) if ows => Ok(ExtNameWs),
            (ExtNameTok | ExtNameWs, b'=') => Ok(ExtValue),
            (ExtValue, _) if ows => Ok(ExtValue),
            (ExtValue, b'"') => Ok(ExtQuoted),
            (ExtValue | ExtValueTok, _) if tchar => Ok(ExtValueTok),
            (ExtValueTok | ExtValueEnd | ExtValueWs, _) if ows => Ok(ExtValueWs),
            (ExtNameTok | ExtNameWs | ExtValueTok | ExtValueEnd | ExtValueWs, b';') => Ok(ExtName),
            // A CR ends the line after a name or value only; a CR not followed by LF is
            // caught in SizeLf (corpus chunked_14).
            (ExtNameTok | ExtValueTok | ExtValueEnd, b'\r') => Ok(SizeLf),
            // RFC 9110 §5.6.4: `qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text`,
            // `quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )`.
            (ExtQuoted, b'"') => Ok(ExtValueEnd),
            (ExtQuoted, b'\\') => Ok(ExtEscape),
            (ExtQuoted | ExtEscape, _) if is_field_byte(b) => Ok(ExtQuoted),
            _ => Err(bad("malformed chunk extension")),
        }
    }

    fn size_lf(&mut self, b: u8) -> Result<State, Error> {
        if b != b'\n' {
            return Err(bad("chunk size line not ended by CRLF"));
        }
        Ok(match self.size {
            // RFC 9112 §7.1: `last-chunk = 1*("0") [ chunk-ext ] CRLF`, then trailers.
            0 => State::Trailer,
            n => State::Data(n),
        })
    }

    fn trailer(&mut self, b: u8) -> Result<State, Error> {
        match b {
            b'\r' => Ok(State::EndLf),
            // RFC 9112 §5.2 obs-fold, refused here as in the header section.
            b' ' | b'\t' => Err(bad("obsolete line folding in trailer")),
            _ => self.trailer_line(b),
        }
    }

    fn trailer_line(&mut self, b: u8) -> Result<State, Error> {
        match b {
            b'\r' => Ok(State::TrailerLf),
            b'\n' => Err(bad("trailer field not ended by CRLF")),
            _ if self.trailers.len() >= MAX_TRAILER_BYTES => Err(bad("trailer section too large")),
            _ => {
                self.trailers.push(b);
                Ok(State::TrailerLine)
            }
        }
    }

    fn trailer_lf(&mut self, b: u8) -> Result<State, Error> {
        if b != b'\n' {
            return Err(bad("trailer field not ended by CRLF"));
        }
        let line = &self.trailers[self.line_start..];
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or(bad("trailer field without a colon"))?;
        let (name, value) = (&line[..colon], trim_ows(&line[colon + 1..]));
        if !is_token(name) {
            return Err(bad("invalid trailer field name"));
        }
        if !value.iter().all(|&b| is_field_byte(b)) {
            return Err(bad("invalid byte in trailer field value"));
        }
        if FORBIDDEN_TRAILERS
            .iter()
            .any(|f| f.eq_ignore_ascii_case(name))
        {
            return Err(bad("field not allowed in trailers"));
        }
        self.trailers.push(b'\n');
        self.line_start = self.trailers.len();
        Ok(State::Trailer)
    }
}

/// After whitespace that followed a chunk size: only more whitespace or `;`.
fn size_lws(b: u8) -> Result<State, Error> {
    match b {
        b';' => Ok(State::ExtName),
        _ if is_ows(b) => Ok(State::SizeLws),
        // corpus chunked_09: "0 \r\n" is refused.
        _ => Err(bad("whitespace after chunk size without extension")),
    }
}

/// `next` if `b` is `want`, else a BadChunk error.
#[inline]
fn expect(b: u8, want: u8, next: State, detail: &'static str) -> Result<State, Error> {
    if b == want {
        Ok(next)
    } else {
        Err(bad(detail))
    }
}

/// The value of a hex digit.
#[inline]
fn hex(b: u8) -> Option<u64> {
    (b as char).to_digit(16).map(u64::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `input` fed in pieces whose sizes come from `sizes` (cycled); returns the
    /// body, the trailers and the bytes left after the end, or the first error.
    fn decode_in(input: &[u8], sizes: &mut dyn FnMut() -> usize) -> Result<Decoded, Error> {
        let mut dec = ChunkedDecoder::new();
        let mut body = Vec::new();
        let mut pos = 0usize;
        loop {
            let end = input.len().min(pos.saturating_add(sizes().max(1)));
            match dec.decode(&input[pos..end])? {
                (used, Chunk::Data(r)) => {
                    assert_eq!(r.end, used, "consumed includes the data");
                    assert!(!r.is_empty());
                    body.extend_from_slice(&input[pos..end][r]);
                    pos += used;
                }
                (used, Chunk::More) => {
                    assert_eq!(used, end - pos, "More consumes everything");
                    pos += used;
                    if pos == input.len() {
                        return Ok(Decoded {
                            body,
                            trailers: vec![],
                            rest: None,
                        });
                    }
                }
                (used, Chunk::End) => {
                    pos += used;
                    assert!(dec.is_done());
                    assert_eq!(dec.decode(b"more").unwrap(), (0, Chunk::End));
                    let trailers = dec
                        .trailers()
                        .map(|(n, v)| (n.to_vec(), v.to_vec()))
                        .collect();
                    return Ok(Decoded {
                        body,
                        trailers,
                        rest: Some(input[pos..].to_vec()),
                    });
                }
            }
        }
    }

    #[derive(Debug, PartialEq)]
    struct Decoded {
        body: Vec<u8>,
        trailers: Vec<(Vec<u8>, Vec<u8>)>,
        /// What followed the body; `None` if the input ended inside it.
        rest: Option<Vec<u8>>,
    }

    /// Decodes `input` whole, one byte at a time, and in pseudo-random pieces, and checks
    /// that all three agree.
    fn decode_all_ways(input: &[u8]) -> Result<Decoded, Error> {
        let whole = decode_in(input, &mut || usize::MAX);
        let bytewise = decode_in(input, &mut || 1);
        assert_eq!(whole, bytewise, "whole vs one byte at a time");
        for seed in 1..20u64 {
            let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            let random = decode_in(input, &mut || {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s % 9) as usize
            });
            assert_eq!(whole, random, "whole vs random pieces (seed {seed})");
        }
        whole
    }

    /// `name: input => body, rest;` decodes to `body` with `rest` left after the end.
    macro_rules! ok {
        ($($name:ident: $input:expr => $body:expr, $rest:expr;)*) => {$(
            #[test]
            fn $name() {
                let d = decode_all_ways($input).unwrap();
                assert_eq!(d.body, &$body[..]);
                assert_eq!(d.rest.as_deref(), Some(&$rest[..]));
            }
        )*};
    }

    /// `name: input => ErrorKind;`.
    macro_rules! bad {
        ($($name:ident: $input:expr => $kind:expr;)*) => {$(
            #[test]
            fn $name() {
                assert_eq!(decode_all_ways($input).map_err(|e| e.kind()), Err($kind));
            }
        )*};
    }

    ok! {
        one_chunk: b"5\r\nhello\r\n0\r\n\r\n" => b"hello", b"";
        two_chunks: b"5\r\nhello\r\n6\r\n world\r\n000\r\n\r\nGET / HTTP/1.1\r\n" => b"hello world", b"GET / HTTP/1.1\r\n";
        empty_body: b"0\r\n\r\n" => b"", b"";
        hex_sizes: b"A\r\n0123456789\r\nf\r\n0123456789abcde\r\n0\r\n\r\n" => b"01234567890123456789abcde", b"";
        leading_zeros: b"0005\r\nhello\r\n0\r\n\r\n" => b"hello", b"";
        extensions: b"5; some; parameters=stuff\r\nhello\r\n6 ;blah\t; x = y\r\n world\r\n0;last\r\n\r\n" => b"hello world", b"";
        quoted_extension: b"5;foo=\"bar baz; \\\"q\\\" \"\r\nhello\r\n0\r\n\r\n" => b"hello", b"";
        extension_grammar: b"5 ; a ; b = c ; d=\"\xc3\xa9\t\\\x80\" ;e\r\nhello\r\n0;f=\"\"\r\n\r\n" => b"hello", b"";
        data_with_crlf: b"4\r\n\r\n\r\n\r\n0\r\n\r\n" => b"\r\n\r\n", b"";
        binary_data: b"3\r\n\x00\xff\n\r\n0\r\n\r\n" => b"\x00\xff\n", b"";
    }

    bad! {
        missing_size: b"\r\nhello\r\n0\r\n\r\n" => ErrorKind::BadChunk;
        space_before_size: b" 5\r\nhello\r\n0\r\n\r\n" => ErrorKind::BadChunk;
        space_after_size: b"5\r\nhello\r\n0 \r\n\r\n" => ErrorKind::BadChunk;
        only_extension: b" ;foo=bar\r\nhello\r\n0\r\n\r\n" => ErrorKind::BadChunk;
        minus: b"-5\r\nhello\r\n0\r\n\r\n" => ErrorKind::BadChunk;
        plus: b"+5\r\nhello\r\n0\r\n\r\n" => ErrorKind::BadChunk;
        hex_prefix: b"0x5\r\nhello\r\n0\r\n\r\n" => ErrorKind::BadChunk;
        underscore: b"5\r\nhello\r\n6_0\r\n world\r\n0\r\n\r\n" => ErrorKind::BadChunk;
        bare_lf_size: b"5\nhello\r\n0\r\n\r\n" => ErrorKind::BadChunk;
        bare_lf_before_ext: b"5\n;\r\nhello\r\n0\r\n\r\n" => ErrorKind::BadChunk;
        bare_cr_size: b"5\rhello\r\n0\r\n\r\n" => ErrorKind::BadChunk;
        bare_cr_extension: b"5;ext=val\rue\r\nhello\r\n0\r\n\r\n" => ErrorKind::BadChunk;
        nul_extension: b"5;e\x00\r\nhello\r\n0\r\n\r\n" => ErrorKind::BadChunk;
        cr_in_quotes_unclosed: b"5;e=\"a\r\nhello\r\n0\r\n\r\n" => ErrorKind::BadChunk;
        ext_empty: b"5;\r\nhello\r\n0\r\n\r\n" => ErrorKind::BadChunk;
        ext_empty_name: b"5;=a\r\nhello\r\n0\r\n\r\n" => ErrorKind::BadChunk;
        ext_empty_value: b"5;a=\r\nhello\r\n0\r\n\r\n" => ErrorKind::BadChunk;
        ext_space_in_name: b"5;a b\r\nhello\r\n0\r\n\r\n" => ErrorKind::BadChunk;
        ext_space_in_value: b"5;a=b c\r\nhello\r\n0\r\n\r\n" => ErrorKind::BadChunk;
        ext_trailing_space: b"5;a=b \r\nhello\r\n0\r\n\r\n" => ErrorKind::BadChunk;
        ext_two_equals: b"5;a=b=c\r\nhello\r\n0\r\n\r\n" => ErrorKind::BadChunk;
        ext_separator_in_value: b"5;a=b/c\r\nhello\r\n0\r\n\r\n" => ErrorKind::BadChunk;
        ext_after_quote: b"5;a=\"b\"c\r\nhello\r\n0\r\n\r\n" => ErrorKind::BadChunk;
        ext_obs_text_name: b"5;\xc3\xa9\r\nhello\r\n0\r\n\r\n" => ErrorKind::BadChunk;
        ext_del_in_quotes: b"5;a=\"\x7f\"\r\nhello\r\n0\r\n\r\n" => ErrorKind::BadChunk;
        data_too_long: b"5\r\nhello!\r\n0\r\n\r\n" => ErrorKind::BadChunk;
        data_lf_only: b"5\r\nhello\n0\r\n\r\n" => ErrorKind::BadChunk;
        data_cr_only: b"5\r\nhello\r0\r\n\r\n" => ErrorKind::BadChunk;
        end_bare_cr: b"0\r\n\rX" => ErrorKind::BadChunk;
        overflow: b"10000000000000000\r\n" => ErrorKind::ChunkSizeOverflow;
        trailer_fold: b"0\r\nA: b\r\n c\r\n\r\n" => ErrorKind::BadChunk;
        trailer_no_colon: b"0\r\nAb\r\n\r\n" => ErrorKind::BadChunk;
        trailer_space_before_colon: b"0\r\nA : b\r\n\r\n" => ErrorKind::BadChunk;
        trailer_bad_value: b"0\r\nA: b\x07\r\n\r\n" => ErrorKind::BadChunk;
        trailer_bare_lf: b"0\r\nA: b\n\r\n" => ErrorKind::BadChunk;
        trailer_content_length: b"0\r\nContent-Length: 99\r\n\r\n" => ErrorKind::BadChunk;
        trailer_host: b"0\r\nhost: evil\r\n\r\n" => ErrorKind::BadChunk;
        trailer_te: b"0\r\nTransfer-Encoding: chunked\r\n\r\n" => ErrorKind::BadChunk;
    }

    #[test]
    fn largest_size_does_not_overflow() {
        let mut dec = ChunkedDecoder::new();
        assert_eq!(
            dec.decode(b"ffffffffffffffff\r\nab").unwrap(),
            (20, Chunk::Data(18..20))
        );
        assert_eq!(dec.state, State::Data(u64::MAX - 2));
    }

    #[test]
    fn trailers_are_kept() {
        let d =
            decode_all_ways(b"5\r\nhello\r\n0\r\nVary: *\r\nContent-Type:  text/plain \r\n\r\nX")
                .unwrap();
        assert_eq!(d.body, b"hello");
        assert_eq!(
            d.trailers,
            [
                (b"Vary".to_vec(), b"*".to_vec()),
                (b"Content-Type".to_vec(), b"text/plain".to_vec())
            ]
        );
        assert_eq!(d.rest.as_deref(), Some(&b"X"[..]));
    }

    #[test]
    fn truncated_body_needs_more() {
        // A body cut anywhere before its final CRLF is never complete.
        let input = b"5\r\nhello\r\n0\r\nA: b\r\n\r\n";
        for cut in 0..input.len() {
            let d = decode_in(&input[..cut], &mut || 3).unwrap();
            assert_eq!(d.rest, None, "cut at {cut}");
        }
    }

    #[test]
    fn extensions_are_bounded() {
        let body = |chunks: usize| {
            let ext = "a".repeat(1000);
            let mut input = Vec::new();
            for _ in 0..chunks {
                input.extend_from_slice(format!("1;{ext}\r\nx\r\n").as_bytes());
            }
            input.extend_from_slice(b"0\r\n\r\n");
            decode_in(&input, &mut || 100)
        };
        assert_eq!(body(10).unwrap().body, b"xxxxxxxxxx");
        assert_eq!(body(20).unwrap_err().detail(), "chunk extensions too long");
    }

    #[test]
    fn trailers_are_bounded() {
        let mut input = b"0\r\n".to_vec();
        for i in 0..200 {
            input.extend_from_slice(format!("X-{i}: {}\r\n", "v".repeat(50)).as_bytes());
        }
        input.extend_from_slice(b"\r\n");
        let err = decode_in(&input, &mut || 64).unwrap_err();
        assert_eq!(err.detail(), "trailer section too large");
    }

    #[test]
    fn large_chunk_in_pieces() {
        let data = vec![b'z'; 100_000];
        let mut input = format!("{:x}\r\n", data.len()).into_bytes();
        input.extend_from_slice(&data);
        input.extend_from_slice(b"\r\n0\r\n\r\n");
        let d = decode_in(&input, &mut || 4096).unwrap();
        assert_eq!(d.body, data);
    }
}
