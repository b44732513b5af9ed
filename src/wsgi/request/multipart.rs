//! Streamed `multipart/form-data` (RFC 7578 over RFC 2046's multipart syntax):
//! `Environ::multipart`, [`Multipart`] and [`Part`].
//!
//! The parser reads the body through a small buffer of its own (a few KiB, on the heap):
//! part data is handed out as it arrives, up to where a delimiter could begin, so a file of
//! any size passes through without being held. The body is seen as if it began with CRLF,
//! so the first delimiter needs no special case: every delimiter is `CRLF--boundary`.

use std::cell::RefMut;
use std::fmt;
use std::io::{self, BufRead, Read};

use super::{params, MediaType};
use crate::wsgi::environ::percent_decode;
use crate::wsgi::input::request_error;
use crate::wsgi::{Environ, Input, RequestError};

/// Buffer for body bytes not yet handed out (plus the delimiter's length).
const BUF: usize = 8 * 1024;
/// Transport padding allowed after a delimiter (RFC 2046 §5.1.1: LWSP before CRLF).
const MAX_PADDING: usize = 256;
/// The longest boundary accepted (RFC 2046 allows 70 characters; some clients use more).
const MAX_BOUNDARY: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first delimiter: data is skipped.
    Preamble,
    /// In a part's data.
    Data,
    /// Just past a delimiter: `--` (the end) or padding and CRLF (another part) follow.
    Delimiter,
    /// Past the close delimiter; the epilogue is never read.
    Done,
    /// Reading failed; the body cannot be read further.
    Failed,
}

/// A `multipart/form-data` body, read part by part as it arrives: see
/// [`Environ::multipart`].
///
/// Each [`Part`] is read (it is [`Read`] and [`BufRead`]) before the next is asked for;
/// what is left of it is skipped then. Limits: [`max_parts`](Multipart::max_parts)
/// (default 1000), [`max_header_size`](Multipart::max_header_size) of each part's header
/// block (default 8 KiB) and [`max_field_size`](Multipart::max_field_size), which caps
/// [`Part::text`] and [`Part::read_bytes`] on parts that are not files (default 1 MiB).
pub struct Multipart<'e> {
    src: Box<dyn Read + 'e>,
    buf: Box<[u8]>,
    pos: usize,
    end: usize,
    /// `\r\n--boundary`.
    delim: Vec<u8>,
    state: State,
    parts: usize,
    max_parts: usize,
    max_header_size: usize,
    max_field_size: usize,
}

impl fmt::Debug for Multipart<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Multipart")
            .field("boundary", &String::from_utf8_lossy(&self.delim[4..]))
            .field("parts", &self.parts)
            .field("state", &self.state)
            .finish()
    }
}

/// `wsgi.input` as a plain reader, held for as long as the multipart body is read.
struct InputReader<'s, 'a>(RefMut<'s, Input<'a>>);

impl Read for InputReader<'_, '_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.0.read(out)
    }
}

impl<'a> Environ<'a> {
    /// The body as `multipart/form-data` (HTML forms with files), streamed part by part
    /// from `wsgi.input`: no part is held in memory unless the app asks for it
    /// ([`Part::text`], [`Part::read_bytes`]).
    ///
    /// ```
    /// use std::io::Read;
    /// use greenlight::wsgi::{Body, Environ, HttpError, StartResponse};
    ///
    /// fn upload(env: &mut Environ<'_>, start: StartResponse<'_>) -> Result<Body, HttpError> {
    ///     let mut mp = env.multipart()?.max_parts(20);
    ///     let mut report = String::new();
    ///     while let Some(mut part) = mp.next_part()? {
    ///         if let Some(file) = part.filename().map(str::to_owned) {
    ///             // A file: stream it (to disk, a hash, ...), never whole in memory.
    ///             let size = std::io::copy(&mut part, &mut std::io::sink())?;
    ///             report += &format!("{}: {file}, {size} bytes\n", part.name());
    ///         } else {
    ///             let value = part.text(64 * 1024)?;
    ///             report += &format!("{} = {value}\n", part.name());
    ///         }
    ///     }
    ///     start.status(200);
    ///     Ok(Body::from(report))
    /// }
    /// ```
    ///
    /// # Errors
    ///
    /// [`RequestError::UnsupportedMediaType`] for another `Content-Type`, and
    /// [`RequestError::Malformed`] for a `multipart/form-data` without a usable `boundary`.
    /// Reading the parts meets the rest ([`Multipart::next_part`]).
    ///
    /// # Panics
    ///
    /// If `wsgi.input` is already borrowed ([`Environ::input`]); the multipart body holds
    /// it until dropped.
    pub fn multipart(&self) -> Result<Multipart<'_>, RequestError> {
        let ct = self.get("CONTENT_TYPE").unwrap_or("");
        let media = MediaType::parse(ct);
        if media.essence != "multipart/form-data" {
            return Err(RequestError::UnsupportedMediaType(format!(
                "expected multipart/form-data, got {}",
                if ct.is_empty() {
                    "none"
                } else {
                    &media.essence
                }
            )));
        }
        let boundary = media.param("boundary").unwrap_or_default();
        Multipart::new(InputReader(self.input()), &boundary)
    }
}

impl<'e> Multipart<'e> {
    /// A multipart body read from `body`, its parts separated by `boundary` (the
    /// `boundary` parameter of its `Content-Type`): for bodies that are not the request's
    /// (a file, a test's bytes).
    ///
    /// ```
    /// use greenlight::wsgi::Multipart;
    ///
    /// let body = "preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n\
    ///             one\r\n--XyZ--\r\nepilogue";
    /// let mut mp = Multipart::new(body.as_bytes(), "XyZ").unwrap();
    /// let mut part = mp.next_part().unwrap().unwrap();
    /// assert_eq!(part.name(), "a");
    /// assert_eq!(part.text(100).unwrap(), "one");
    /// assert!(mp.next_part().unwrap().is_none());
    /// ```
    ///
    /// # Errors
    ///
    /// [`RequestError::Malformed`] for an empty boundary or one longer than 200 bytes.
    pub fn new(body: impl Read + 'e, boundary: &str) -> Result<Multipart<'e>, RequestError> {
        if boundary.is_empty() || boundary.len() > MAX_BOUNDARY {
            return Err(RequestError::Malformed(format!(
                "multipart boundary must be 1 to {MAX_BOUNDARY} bytes, not {}",
                boundary.len()
            )));
        }
        let mut delim = b"\r\n--".to_vec();
        delim.extend_from_slice(boundary.as_bytes());
        let mut buf = vec![0; BUF + delim.len()].into_boxed_slice();
        // Seen as if it began with CRLF: the first delimiter is like every other.
        buf[..2].copy_from_slice(b"\r\n");
        Ok(Multipart {
            src: Box::new(body),
            buf,
            pos: 0,
            end: 2,
            delim,
            state: State::Preamble,
            parts: 0,
            max_parts: 1000,
            max_header_size: 8 * 1024,
            max_field_size: 1024 * 1024,
        })
    }

    /// At most `n` parts: one more is [`RequestError::TooMany`] (413).
    pub fn max_parts(mut self, n: usize) -> Self {
        self.max_parts = n;
        self
    }

    /// At most `n` bytes of headers in each part: more is [`RequestError::TooMany`] (413).
    pub fn max_header_size(mut self, n: usize) -> Self {
        self.max_header_size = n;
        self
    }

    /// [`Part::text`] and [`Part::read_bytes`] read at most `n` bytes of a part that is not a
    /// file (has no filename), whatever larger limit they are given.
    pub fn max_field_size(mut self, n: usize) -> Self {
        self.max_field_size = n;
        self
    }

    /// The next part, after skipping what is left of the current one; `None` after the
    /// last.
    ///
    /// # Errors
    ///
    /// [`RequestError::Malformed`] for a broken body (no boundary, a body that ends
    /// without the close delimiter, bad part headers, more parts or larger headers than
    /// the limits), and what reading the body meets (too large for the server, the client
    /// gone, too slow).
    pub fn next_part(&mut self) -> Result<Option<Part<'_, 'e>>, RequestError> {
        match self.advance() {
            Ok(None) => Ok(None),
            Ok(Some(headers)) => Ok(Some(Part::new(self, headers))),
            Err(e) => {
                self.state = State::Failed;
                Err(e)
            }
        }
    }

    /// Moves to the next part's data and returns its headers.
    fn advance(&mut self) -> Result<Option<Vec<(String, String)>>, RequestError> {
        loop {
            match self.state {
                State::Preamble | State::Data => {
                    let n = self.data()?;
                    self.pos += n;
                }
                State::Delimiter => break,
                State::Done => return Ok(None),
                State::Failed => return Err(malformed("the body could not be read")),
            }
        }
        if !self.after_delimiter()? {
            self.state = State::Done;
            return Ok(None);
        }
        self.parts += 1;
        if self.parts > self.max_parts {
            self.state = State::Failed;
            return Err(RequestError::TooMany {
                what: "multipart parts",
                limit: self.max_parts as u64,
            });
        }
        let headers = self.read_headers()?;
        self.state = State::Data;
        Ok(Some(headers))
    }

    /// How many bytes at `buf[pos..]` are data of the current part (or preamble); 0 when
    /// it ended (its delimiter consumed, the state moved on), or when not in data.
    fn data(&mut self) -> Result<usize, RequestError> {
        if !matches!(self.state, State::Preamble | State::Data) {
            return Ok(0);
        }
        loop {
            match find_delimiter(&self.buf[self.pos..self.end], &self.delim) {
                Ok(0) => {
                    self.pos += self.delim.len();
                    self.state = State::Delimiter;
                    return Ok(0);
                }
                Ok(n) | Err(n) if n > 0 => return Ok(n),
                _ => {}
            }
            if !self.fill()? {
                return Err(malformed(match self.state {
                    State::Preamble => "no multipart boundary in the body",
                    _ => "the body ended inside a part, without the closing boundary",
                }));
            }
        }
    }

    /// Moves what is unread to the front and reads more after it; `false` at the end of
    /// the body.
    fn fill(&mut self) -> Result<bool, RequestError> {
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.pos = 0;
        }
        debug_assert!(self.end < self.buf.len(), "fill with a full buffer");
        loop {
            match self.src.read(&mut self.buf[self.end..]) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.end += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(request_error(e)),
            }
        }
    }

    /// Makes `n` bytes available at `buf[pos..]` (a small `n`).
    fn need(&mut self, n: usize) -> Result<(), RequestError> {
        while self.end - self.pos < n {
            if !self.fill()? {
                return Err(malformed("the body ended before the closing boundary"));
            }
        }
        Ok(())
    }

    /// After a delimiter: `--` closes the body (`false`); transport padding and CRLF
    /// begin another part (`true`).
    fn after_delimiter(&mut self) -> Result<bool, RequestError> {
        self.need(2)?;
        if &self.buf[self.pos..self.pos + 2] == b"--" {
            self.pos += 2;
            return Ok(false);
        }
        for _ in 0..MAX_PADDING {
            self.need(1)?;
            match self.buf[self.pos] {
                b' ' | b'\t' => self.pos += 1,
                b'\n' => {
                    self.pos += 1;
                    return Ok(true);
                }
                b'\r' => {
                    self.need(2)?;
                    if self.buf[self.pos + 1] == b'\n' {
                        self.pos += 2;
                        return Ok(true);
                    }
                    break;
                }
                _ => break,
            }
        }
        Err(malformed(
            "a boundary followed by something else than CRLF or --",
        ))
    }

    /// The header block of a part, up to and including its empty line.
    fn read_headers(&mut self) -> Result<Vec<(String, String)>, RequestError> {
        let mut headers: Vec<(String, String)> = Vec::new();
        let mut total = 0;
        let mut line = Vec::new();
        loop {
            self.read_line(&mut line, &mut total)?;
            if line.is_empty() {
                return Ok(headers);
            }
            let text = String::from_utf8_lossy(&line);
            if text.starts_with([' ', '\t']) {
                // obs-fold: the line continues the previous value.
                let Some((_, v)) = headers.last_mut() else {
                    return Err(malformed("a part header begins with whitespace"));
                };
                v.push(' ');
                v.push_str(text.trim());
                continue;
            }
            match text.split_once(':') {
                Some((name, value)) if !name.trim().is_empty() => {
                    headers.push((name.trim().to_owned(), value.trim().to_owned()));
                }
                _ => return Err(malformed(format!("bad part header line {text:?}"))),
            }
        }
    }

    /// One header line into `line` (without its CRLF), counting its bytes into `total`.
    fn read_line(&mut self, line: &mut Vec<u8>, total: &mut usize) -> Result<(), RequestError> {
        line.clear();
        loop {
            let avail = &self.buf[self.pos..self.end];
            let (take, done) = match avail.iter().position(|&c| c == b'\n') {
                Some(i) => (i + 1, true),
                None => (avail.len(), false),
            };
            line.extend_from_slice(&avail[..take]);
            self.pos += take;
            *total += take;
            if *total > self.max_header_size {
                return Err(RequestError::TooMany {
                    what: "bytes of headers in a multipart part",
                    limit: self.max_header_size as u64,
                });
            }
            if done {
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(());
            }
            if !self.fill()? {
                return Err(malformed("the body ended inside a part's headers"));
            }
        }
    }
}

/// Where the delimiter is in `hay`: `Ok(i)` if it begins at `i`; else `Err(n)`, the bytes
/// before where it could begin (a prefix of it at the end of `hay`).
fn find_delimiter(hay: &[u8], delim: &[u8]) -> Result<usize, usize> {
    let mut from = 0;
    while let Some(i) = hay[from..].iter().position(|&c| c == b'\r') {
        let at = from + i;
        let rest = &hay[at..];
        if rest.len() >= delim.len() {
            if rest.starts_with(delim) {
                return Ok(at);
            }
        } else if delim.starts_with(rest) {
            return Err(at);
        }
        from = at + 1;
    }
    Err(hay.len())
}

fn malformed(why: impl Into<String>) -> RequestError {
    RequestError::Malformed(format!("multipart: {}", why.into()))
}

/// One part of a [`Multipart`] body: its headers, and its data as [`Read`] and
/// [`BufRead`], read as it arrives.
pub struct Part<'m, 'e> {
    mp: &'m mut Multipart<'e>,
    headers: Vec<(String, String)>,
    name: String,
    filename: Option<String>,
}

impl fmt::Debug for Part<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Part")
            .field("name", &self.name)
            .field("filename", &self.filename)
            .field("headers", &self.headers)
            .finish()
    }
}

impl<'m, 'e> Part<'m, 'e> {
    fn new(mp: &'m mut Multipart<'e>, headers: Vec<(String, String)>) -> Self {
        let disposition = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-disposition"))
            .map_or("", |(_, v)| v.as_str());
        let (name, filename) = disposition_names(disposition);
        Part {
            mp,
            headers,
            name: name.unwrap_or_default(),
            filename,
        }
    }

    /// The form field's name (`name` in its `Content-Disposition`; empty if none).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file's name as the client gave it, for a file (`filename`, or `filename*`).
    /// Untrusted: never use it as a path without cleaning it. Browsers and Python's
    /// `requests` send a `"` in it as `%22` (the HTML standard's form encoding); it is
    /// given as sent, not decoded.
    pub fn filename(&self) -> Option<&str> {
        self.filename.as_deref()
    }

    /// The part's `Content-Type`, if it has one (RFC 7578: `text/plain` if not).
    pub fn content_type(&self) -> Option<&str> {
        self.header("content-type")
    }

    /// The value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every header of the part, as sent (values read as UTF-8).
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// What is left of the data, at most `max` bytes (and at most the multipart's
    /// [`max_field_size`](Multipart::max_field_size) for a part that is not a file).
    ///
    /// (Not `bytes`: with `std::io::Read` in scope, `part.bytes()` is `Read::bytes`.)
    ///
    /// # Errors
    ///
    /// [`RequestError::TooLarge`] with the limit for more data, and what reading meets.
    pub fn read_bytes(&mut self, max: usize) -> Result<Vec<u8>, RequestError> {
        let max = match self.filename {
            None => max.min(self.mp.max_field_size),
            Some(_) => max,
        };
        let mut out = Vec::new();
        loop {
            let n = self.fill_buf().map_err(request_error)?.len();
            if n == 0 {
                return Ok(out);
            }
            if out.len() + n > max {
                return Err(RequestError::TooLarge { limit: max as u64 });
            }
            out.extend_from_slice(&self.mp.buf[self.mp.pos..self.mp.pos + n]);
            self.consume(n);
        }
    }

    /// What is left of the data as UTF-8 text, within the limits of
    /// [`read_bytes`](Part::read_bytes).
    ///
    /// # Errors
    ///
    /// Those of [`read_bytes`](Part::read_bytes), and [`RequestError::Malformed`] for text that is
    /// not UTF-8.
    pub fn text(&mut self, max: usize) -> Result<String, RequestError> {
        String::from_utf8(self.read_bytes(max)?)
            .map_err(|_| malformed(format!("field {:?} is not UTF-8", self.name)))
    }
}

impl Read for Part<'_, '_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        super::super::input::read_buffered(self, out)
    }
}

impl BufRead for Part<'_, '_> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        let mp = &mut *self.mp;
        match mp.data() {
            Ok(n) => Ok(&mp.buf[mp.pos..mp.pos + n]),
            Err(e) => {
                mp.state = State::Failed;
                Err(e.into())
            }
        }
    }

    fn consume(&mut self, n: usize) {
        self.mp.pos += n;
    }
}

/// `name` and `filename` from a `Content-Disposition: form-data; ...` value; an RFC 5987
/// `filename*` wins over `filename`.
fn disposition_names(value: &str) -> (Option<String>, Option<String>) {
    let (mut name, mut filename, mut extended) = (None, None, None);
    let rest = value.split_once(';').map_or("", |(_, r)| r);
    for (k, v) in params(rest) {
        if k.eq_ignore_ascii_case("name") {
            name.get_or_insert(v);
        } else if k.eq_ignore_ascii_case("filename") {
            filename.get_or_insert(v);
        } else if k.eq_ignore_ascii_case("filename*") {
            extended = extended.or_else(|| ext_value(&v));
        }
    }
    (name, extended.or(filename))
}

/// An RFC 8187 ext-value (`UTF-8''na%C3%AFve.txt`), decoded; `None` if it is not one.
fn ext_value(v: &str) -> Option<String> {
    let mut it = v.splitn(3, '\'');
    let (charset, _lang, text) = (it.next()?, it.next()?, it.next()?);
    let bytes = percent_decode(text.as_bytes());
    if charset.eq_ignore_ascii_case("utf-8") {
        Some(String::from_utf8_lossy(&bytes).into_owned())
    } else if charset.eq_ignore_ascii_case("iso-8859-1") {
        Some(bytes.iter().map(|&b| b as char).collect())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestRequest;

    /// A reader that hands out at most `step` bytes a read.
    struct Trickle<'b> {
        data: &'b [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(out.len()).min(self.data.len());
            out[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    type Seen = (String, Option<String>, Option<String>, Vec<u8>);

    /// Every part of `body` (name, filename, content type, data), read `step` bytes at
    /// a time from the source and with reads of `out` bytes.
    fn parts(body: &[u8], boundary: &str, step: usize) -> Result<Vec<Seen>, RequestError> {
        let src = Trickle { data: body, step };
        let mut mp = Multipart::new(src, boundary)?;
        let mut seen = Vec::new();
        while let Some(mut p) = mp.next_part()? {
            let mut data = Vec::new();
            let mut out = [0; 5];
            loop {
                let n = p.read(&mut out).map_err(request_error)?;
                if n == 0 {
                    break;
                }
                data.extend_from_slice(&out[..n]);
            }
            let ct = p.content_type().map(str::to_owned);
            seen.push((
                p.name().to_owned(),
                p.filename().map(str::to_owned),
                ct,
                data,
            ));
        }
        Ok(seen)
    }

    /// `parts` at every step size from 1 byte to the whole body, all agreeing.
    fn all_steps(body: &[u8], boundary: &str) -> Result<Vec<Seen>, RequestError> {
        let whole = parts(body, boundary, body.len().max(1));
        for step in [1, 2, 3, 5, 7, 13, 64, 1000] {
            let got = parts(body, boundary, step);
            assert_eq!(format!("{got:?}"), format!("{whole:?}"), "step {step}");
        }
        whole
    }

    fn field(name: &str, data: &[u8]) -> Seen {
        (name.to_owned(), None, None, data.to_vec())
    }

    const B: &str = "----b0undary";

    fn body(parts: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (headers, data) in parts {
            out.extend_from_slice(format!("--{B}\r\n{headers}\r\n\r\n").as_bytes());
            out.extend_from_slice(data);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("--{B}--\r\n").as_bytes());
        out
    }

    #[test]
    fn fields_and_files_at_any_read_size() {
        let tricky: &[u8] = b"\r\n--\r\n------b0undar\r\n----b0undaryX\r\r\n\r\n--";
        let b = body(&[
            ("Content-Disposition: form-data; name=\"a\"", b"one"),
            ("Content-Disposition: form-data; name=\"empty\"", b""),
            (
                "content-disposition: form-data; name=\"f\"; filename=\"x.bin\"\r\n\
                 Content-Type: application/octet-stream",
                tricky,
            ),
            ("Content-Disposition: form-data; name=\"crlf\"", b"\r\n"),
        ]);
        let got = all_steps(&b, B).unwrap();
        assert_eq!(got.len(), 4);
        assert_eq!(got[0], field("a", b"one"));
        assert_eq!(got[1], field("empty", b""));
        let f = &got[2];
        assert_eq!(
            (f.1.as_deref(), f.2.as_deref()),
            (Some("x.bin"), Some("application/octet-stream"))
        );
        assert_eq!(f.3, tricky);
        assert_eq!(got[3], field("crlf", b"\r\n"));
    }

    #[test]
    fn preamble_epilogue_padding_and_bare_lf() {
        let b = format!(
            "This is the preamble.\r\n--{B}\r\n--{B}x\r\n\r\n--{B}  \t\r\n\
             Content-Disposition: form-data; name=a\n\nv\r\n--{B}--  \r\nthe epilogue\r\n--{B}\r\n"
        );
        // After the first delimiter, "--Bx" is no header line: malformed.
        assert!(parts(b.as_bytes(), B, 3).is_err());
        let b = b.replacen(&format!("--{B}\r\n--{B}x\r\n\r\n"), "", 1);
        assert_eq!(all_steps(b.as_bytes(), B).unwrap(), [field("a", b"v")]);
    }

    #[test]
    fn a_large_file_streams_through_a_small_buffer() {
        let data: Vec<u8> = (0..100_000u32)
            .map(|i| if i % 97 == 0 { b'\r' } else { (i % 251) as u8 })
            .collect();
        let b = body(&[(
            "Content-Disposition: form-data; name=big; filename=big",
            &data,
        )]);
        for step in [1, 4096, BUF, BUF + 1, b.len()] {
            let got = parts(&b, B, step).unwrap();
            assert_eq!(got.len(), 1);
            assert!(got[0].3 == data, "step {step}");
        }
    }

    #[test]
    fn unread_parts_are_skipped() {
        let b = body(&[
            ("Content-Disposition: form-data; name=a", b"aaaa\r\n--not"),
            ("Content-Disposition: form-data; name=b", b"bbbb"),
            ("Content-Disposition: form-data; name=c", b"cccc"),
        ]);
        let mut mp = Multipart::new(Trickle { data: &b, step: 1 }, B).unwrap();
        let mut names = Vec::new();
        while let Some(mut p) = mp.next_part().unwrap() {
            if p.name() == "b" {
                let mut two = [0; 2];
                p.read_exact(&mut two).unwrap();
                assert_eq!(&two, b"bb");
            }
            names.push(p.name().to_owned());
        }
        assert_eq!(names, ["a", "b", "c"]);
        assert!(mp.next_part().unwrap().is_none());
    }

    fn err_of(body: &[u8]) -> String {
        match parts(body, B, 1) {
            Ok(p) => panic!("parsed {p:?}"),
            Err(RequestError::Malformed(m)) => m,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn broken_bodies_are_malformed() {
        let end = format!("\r\n--{B}--");
        let ok = body(&[("Content-Disposition: form-data; name=a", b"v")]);
        let no_close = &ok[..ok.len() - end.len() - 2];
        assert!(err_of(no_close).contains("without the closing boundary"));
        assert!(err_of(&ok[..ok.len() - 4]).contains("ended"));
        assert!(err_of(b"").contains("no multipart boundary"));
        assert!(err_of(b"just text, no boundary\r\n").contains("no multipart boundary"));
        let cut_headers = format!("--{B}\r\nContent-Disposition: form-data");
        assert!(err_of(cut_headers.as_bytes()).contains("headers"));
        let bad_header = format!("--{B}\r\nno colon here\r\n\r\nv\r\n--{B}--");
        assert!(err_of(bad_header.as_bytes()).contains("bad part header"));
        let junk = format!("--{B}junk\r\n\r\nv\r\n--{B}--");
        assert!(err_of(junk.as_bytes()).contains("boundary followed by"));
        assert!(Multipart::new(&b""[..], "").is_err());
        assert!(Multipart::new(&b""[..], &"x".repeat(201)).is_err());
    }

    #[test]
    fn limits() {
        let three = body(&[
            ("Content-Disposition: form-data; name=a", b"1"),
            ("Content-Disposition: form-data; name=b", b"2"),
            ("Content-Disposition: form-data; name=c", b"3"),
        ]);
        let mut mp = Multipart::new(&three[..], B).unwrap().max_parts(2);
        assert!(mp.next_part().unwrap().is_some());
        assert!(mp.next_part().unwrap().is_some());
        let e = mp.next_part().unwrap_err();
        assert!(e.to_string().contains("more than 2 multipart parts"), "{e}");
        assert_eq!(e.status(), 413);
        assert!(mp.next_part().is_err(), "a failed body stays failed");

        let mut mp = Multipart::new(&three[..], B).unwrap().max_header_size(20);
        let e = mp.next_part().unwrap_err();
        assert!(
            e.to_string().contains("more than 20 bytes of headers"),
            "{e}"
        );
        assert_eq!(e.status(), 413);

        let big = body(&[
            ("Content-Disposition: form-data; name=t", b"0123456789"),
            (
                "Content-Disposition: form-data; name=f; filename=f",
                b"0123456789",
            ),
            ("Content-Disposition: form-data; name=u", b"\xff"),
        ]);
        let mut mp = Multipart::new(&big[..], B).unwrap().max_field_size(9);
        let e = mp.next_part().unwrap().unwrap().text(100).unwrap_err();
        assert!(matches!(e, RequestError::TooLarge { limit: 9 }), "{e}");
        let mut file = mp.next_part().unwrap().unwrap();
        assert_eq!(
            file.read_bytes(100).unwrap(),
            b"0123456789",
            "files are not fields"
        );
        let e = mp.next_part().unwrap().unwrap().text(100).unwrap_err();
        assert!(matches!(e, RequestError::Malformed(_)), "{e}");
    }

    #[test]
    fn disposition_parameters() {
        let d = |v: &str| disposition_names(v);
        assert_eq!(d("form-data; name=\"a b\""), (Some("a b".into()), None));
        assert_eq!(
            d("form-data; name=\"f\"; filename=\"a\\\"b.txt\""),
            (Some("f".into()), Some("a\"b.txt".into()))
        );
        assert_eq!(
            d("form-data; name=f; filename=\"plain.txt\"; filename*=UTF-8''na%C3%AFve.txt"),
            (Some("f".into()), Some("naïve.txt".into()))
        );
        assert_eq!(d("form-data; filename=\"\""), (None, Some(String::new())));
        assert_eq!(d("form-data"), (None, None));
    }

    #[test]
    fn from_the_environ() {
        let b = body(&[
            (
                "Content-Disposition: form-data; name=\"n\"",
                "Jürgen".as_bytes(),
            ),
            (
                "Content-Disposition: form-data; name=\"f\"; filename=\"é.txt\"",
                b"x",
            ),
        ]);
        let ct = format!("multipart/form-data; charset=utf-8; boundary=\"{B}\"");
        let chunks: Vec<Vec<u8>> = b.chunks(7).map(<[u8]>::to_vec).collect();
        let req = TestRequest::new("POST", "/")
            .header("Content-Type", &ct)
            .chunks(chunks);
        let got = req
            .environ(|env| {
                let mut mp = env.multipart().unwrap();
                let n = mp.next_part().unwrap().unwrap().text(100).unwrap();
                let p = mp.next_part().unwrap().unwrap();
                let f = (p.filename().map(str::to_owned), p.headers().len());
                (n, f)
            })
            .unwrap();
        assert_eq!(got, ("Jürgen".to_owned(), (Some("é.txt".to_owned()), 1)));

        let e = |ct: Option<&str>| {
            let mut req = TestRequest::new("POST", "/").body(b.clone());
            if let Some(ct) = ct {
                req = req.header("Content-Type", ct);
            }
            req.environ(|env| env.multipart().map(|_| ()).unwrap_err().status())
                .unwrap()
        };
        assert_eq!(e(None), 415);
        assert_eq!(e(Some("application/x-www-form-urlencoded")), 415);
        assert_eq!(e(Some("multipart/form-data")), 400);
        assert_eq!(e(Some("multipart/form-data; boundary=\"\"")), 400);
    }
}
