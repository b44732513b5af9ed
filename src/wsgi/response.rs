//! `StartResponse` (status and headers) and `Body` (what the app returns).

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::io::{self, Read};

use bytes::Bytes;

use crate::http::encode::{is_valid_header_name, is_valid_header_value, parse_status, status_text};

/// A header name or value: borrowed for literals, owned otherwise (no allocation for
/// `"Content-Type"`-style constants).
pub type HeaderText = Cow<'static, str>;

/// What the app has said about its response so far. Reused across keep-alive requests.
#[derive(Debug, Default)]
pub(crate) struct ResponseHead {
    pub(crate) status: Option<HeaderText>,
    pub(crate) code: u16,
    pub(crate) headers: Vec<(HeaderText, HeaderText)>,
    /// The first invalid thing the app did; the server answers 500 instead.
    pub(crate) error: Option<String>,
}

impl ResponseHead {
    pub(crate) fn clear(&mut self) {
        self.status = None;
        self.code = 0;
        self.headers.clear();
        self.error = None;
    }

    /// The first header named `name` (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }
}

/// WSGI's `start_response`: sets the status and headers of the response.
///
/// Invalid input (a status that is not "NNN reason", a header name that is not a token, a
/// value with CR, LF or NUL) is never sent: the server answers 500 and logs what was wrong,
/// so a header can never split the response.
///
/// ```
/// # use greenlight::wsgi::{Body, Environ, StartResponse};
/// fn app(_env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
///     start
///         .status("201 Created")
///         .header("Content-Type", "application/json")
///         .header("Location", format!("/items/{}", 7));
///     Body::from("{}")
/// }
/// ```
pub struct StartResponse<'a> {
    head: &'a RefCell<ResponseHead>,
}

impl<'a> StartResponse<'a> {
    pub(crate) fn new(head: &'a RefCell<ResponseHead>) -> Self {
        StartResponse { head }
    }

    /// Sets the status: a number (`404`), an [`http::StatusCode`], or a status line
    /// (`"404 Not Found"`, `"299 Custom reason"`). A number, a bare code (`"404"`) or an empty
    /// reason (`"404 "`) is sent with the registered reason phrase (`HTTP/1.1 404 Not
    /// Found`). Setting it again replaces it (and keeps the headers).
    ///
    /// ```
    /// # use greenlight::wsgi::{Body, Environ, StartResponse};
    /// fn app(_env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
    ///     start.status(404).header("Content-Type", "text/plain");
    ///     Body::from("no such page\n")
    /// }
    /// ```
    pub fn status(&self, status: impl IntoStatus) -> &Self {
        match status.into_status() {
            Ok((code, text)) => {
                let mut h = self.head.borrow_mut();
                h.code = code;
                h.status = Some(text);
            }
            Err(bad) => self.fail(format!("invalid status {bad:?}")),
        }
        self
    }

    /// Adds a header.
    pub fn header(&self, name: impl Into<HeaderText>, value: impl Into<HeaderText>) -> &Self {
        let (name, value) = (name.into(), value.into());
        if !is_valid_header_name(&name) {
            self.fail(format!("invalid header name {name:?}"));
        } else if !is_valid_header_value(&value) {
            self.fail(format!("invalid value for header {name}: {value:?}"));
        } else {
            self.head.borrow_mut().headers.push((name, value));
        }
        self
    }

    /// Adds several headers.
    pub fn headers<K, V>(&self, headers: impl IntoIterator<Item = (K, V)>) -> &Self
    where
        K: Into<HeaderText>,
        V: Into<HeaderText>,
    {
        for (k, v) in headers {
            self.header(k, v);
        }
        self
    }

    /// Removes every header named `name` (case-insensitive) set so far.
    pub fn remove_header(&self, name: &str) -> &Self {
        self.head
            .borrow_mut()
            .headers
            .retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self
    }

    /// The status code set so far (0 if none).
    pub fn code(&self) -> u16 {
        self.head.borrow().code
    }

    fn fail(&self, why: String) {
        // Only the first problem is kept: it is the one to fix first.
        self.head.borrow_mut().error.get_or_insert(why);
    }
}

/// What [`StartResponse::status`] accepts: a status code as a number or an
/// [`http::StatusCode`], or a status line as text.
pub trait IntoStatus {
    /// The code and the status text to send, or the rejected input.
    fn into_status(self) -> Result<(u16, HeaderText), String>;
}

impl IntoStatus for u16 {
    fn into_status(self) -> Result<(u16, HeaderText), String> {
        match status_text(self) {
            Some(text) => Ok((self, HeaderText::Borrowed(text))),
            None => HeaderText::Owned(self.to_string()).into_status(),
        }
    }
}

impl IntoStatus for http::StatusCode {
    fn into_status(self) -> Result<(u16, HeaderText), String> {
        self.as_u16().into_status()
    }
}

impl IntoStatus for HeaderText {
    fn into_status(self) -> Result<(u16, HeaderText), String> {
        match parse_status(&self) {
            Some(code) => Ok((code, self)),
            None => Err(self.into_owned()),
        }
    }
}

impl IntoStatus for &'static str {
    fn into_status(self) -> Result<(u16, HeaderText), String> {
        HeaderText::Borrowed(self).into_status()
    }
}

impl IntoStatus for String {
    fn into_status(self) -> Result<(u16, HeaderText), String> {
        HeaderText::Owned(self).into_status()
    }
}

/// The response body: bytes, a stream of chunks, or a reader. Dropping it is WSGI's
/// `close()`.
///
/// - [`Body::from`] bytes, `Vec<u8>`, `String` or `&'static str`: sent with a
///   `Content-Length`, in the same write as the head when small.
/// - [`Body::stream`]: chunks sent as they are produced (chunked on HTTP/1.1 unless the app
///   set `Content-Length`).
/// - [`Body::reader`]: a `Read` (a file, a pipe) copied in pieces; give the length when known.
pub struct Body {
    pub(crate) kind: BodyKind,
}

pub(crate) type ChunkIter = Box<dyn Iterator<Item = io::Result<Bytes>> + Send>;

pub(crate) enum BodyKind {
    Full(Bytes),
    Chunks(ChunkIter),
    Reader(Box<dyn Read + Send>, Option<u64>),
}

impl Body {
    /// An empty body.
    pub fn empty() -> Body {
        Body {
            kind: BodyKind::Full(Bytes::new()),
        }
    }

    /// A body produced piece by piece: each item is sent as soon as it is produced.
    ///
    /// ```
    /// # use greenlight::wsgi::Body;
    /// let body = Body::stream((1..=3).map(|i| format!("line {i}\n")));
    /// ```
    pub fn stream<I, T>(chunks: I) -> Body
    where
        I: IntoIterator<Item = T>,
        I::IntoIter: Send + 'static,
        T: Into<Bytes>,
    {
        Body {
            kind: BodyKind::Chunks(Box::new(chunks.into_iter().map(|c| Ok(c.into())))),
        }
    }

    /// Like [`Body::stream`], for producers that can fail: an error ends the response
    /// early (the connection is closed, so the client sees it incomplete).
    pub fn try_stream<I, T>(chunks: I) -> Body
    where
        I: IntoIterator<Item = io::Result<T>>,
        I::IntoIter: Send + 'static,
        T: Into<Bytes>,
    {
        Body {
            kind: BodyKind::Chunks(Box::new(chunks.into_iter().map(|c| c.map(Into::into)))),
        }
    }

    /// A body read from `reader`, with its length when known.
    pub fn reader(reader: impl Read + Send + 'static, len: Option<u64>) -> Body {
        Body {
            kind: BodyKind::Reader(Box::new(reader), len),
        }
    }

    /// The length, when it is known without producing the body.
    pub fn len_hint(&self) -> Option<u64> {
        match &self.kind {
            BodyKind::Full(b) => Some(b.len() as u64),
            BodyKind::Chunks(_) => None,
            BodyKind::Reader(_, n) => *n,
        }
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            BodyKind::Full(b) => write!(f, "Body::Full({} bytes)", b.len()),
            BodyKind::Chunks(_) => f.write_str("Body::Stream"),
            BodyKind::Reader(_, n) => write!(f, "Body::Reader({n:?})"),
        }
    }
}

impl Default for Body {
    fn default() -> Self {
        Body::empty()
    }
}

impl From<Bytes> for Body {
    fn from(b: Bytes) -> Body {
        Body {
            kind: BodyKind::Full(b),
        }
    }
}

impl From<Vec<u8>> for Body {
    fn from(b: Vec<u8>) -> Body {
        Body::from(Bytes::from(b))
    }
}

impl From<String> for Body {
    fn from(s: String) -> Body {
        Body::from(Bytes::from(s))
    }
}

impl From<&'static str> for Body {
    fn from(s: &'static str) -> Body {
        Body::from(Bytes::from_static(s.as_bytes()))
    }
}

impl From<&'static [u8]> for Body {
    fn from(s: &'static [u8]) -> Body {
        Body::from(Bytes::from_static(s))
    }
}
