//! `StartResponse` (status and headers) and `Body` (what the app returns).

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::ops::Range;

use bytes::Bytes;
use cookie::Cookie;

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
    /// The last head written from these, to write again when the next is the same.
    pub(crate) written: super::write::HeadCache,
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

/// What [`StartResponse::header`] pushes before it fills the place in.
const EMPTY_HEADER: (HeaderText, HeaderText) = (Cow::Borrowed(""), Cow::Borrowed(""));

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

    /// A second handle on the same response (to answer what a handler returned).
    pub(crate) fn again(&self) -> StartResponse<'a> {
        StartResponse { head: self.head }
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
    #[inline]
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
    #[inline]
    pub fn header(&self, name: impl Into<HeaderText>, value: impl Into<HeaderText>) -> &Self {
        let (name, value) = (name.into(), value.into());
        if !is_valid_header_name(&name) {
            self.fail(format!("invalid header name {name:?}"));
        } else if !is_valid_header_value(&value) {
            self.fail(format!("invalid value for header {name}: {value:?}"));
        } else {
            let headers = &mut self.head.borrow_mut().headers;
            // Pushed as a placeholder and filled in place: a `(name, value)` tuple built
            // on the stack and copied into the vector costs a stalled load on every call.
            headers.push(EMPTY_HEADER);
            let last = headers.last_mut().expect("just pushed");
            last.0 = name;
            last.1 = value;
        }
        self
    }

    /// Adds every header of an `http::HeaderMap` (values outside ASCII are taken as
    /// latin-1, as the wire has them).
    ///
    /// ```
    /// # use greenlight::wsgi::{Body, Environ, StartResponse};
    /// use http::header::{HeaderMap, CACHE_CONTROL};
    ///
    /// fn app(_env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
    ///     let mut headers = HeaderMap::new();
    ///     headers.insert(CACHE_CONTROL, "no-store".parse().unwrap());
    ///     start.status(200).header_map(&headers);
    ///     Body::empty()
    /// }
    /// ```
    pub fn header_map(&self, headers: &http::HeaderMap) -> &Self {
        for (name, value) in headers {
            let value = match value.to_str() {
                Ok(v) => HeaderText::Owned(v.to_owned()),
                Err(_) => HeaderText::Owned(value.as_bytes().iter().map(|&c| c as char).collect()),
            };
            self.header(HeaderText::Owned(name.as_str().to_owned()), value);
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

    /// Adds a `Set-Cookie` header for `cookie` (its value percent-encoded as needed).
    ///
    /// ```
    /// # use greenlight::wsgi::{Body, Cookie, Environ, StartResponse};
    /// fn login(_env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
    ///     let session = Cookie::build(("session", "a1b2"))
    ///         .path("/")
    ///         .http_only(true)
    ///         .secure(true)
    ///         .same_site(greenlight::wsgi::SameSite::Lax);
    ///     start.status(200).set_cookie(&session.build());
    ///     Body::from("welcome\n")
    /// }
    /// ```
    pub fn set_cookie(&self, cookie: &Cookie<'_>) -> &Self {
        self.header("Set-Cookie", cookie.encoded().to_string())
    }

    /// Tells the client to forget the cookie `name` set with `path` (an expired
    /// `Set-Cookie`; the path must match the one it was set with).
    ///
    /// ```
    /// # use greenlight::wsgi::{Body, Environ, StartResponse};
    /// fn logout(_env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
    ///     start.status(200).delete_cookie("session", "/");
    ///     Body::from("bye\n")
    /// }
    /// ```
    pub fn delete_cookie(&self, name: &str, path: &str) -> &Self {
        let mut c = Cookie::build((name.to_owned(), ""))
            .path(path.to_owned())
            .build();
        c.make_removal();
        self.set_cookie(&c)
    }

    /// Answers with a redirect: `status` (301, 302, 303, 307 or 308) and `Location`, and a
    /// short body for clients that do not follow it.
    ///
    /// Use 303 after a form `POST` (the client fetches the new page with `GET`), 307 or 308
    /// to repeat the same method, 301 or 308 for a permanent move.
    ///
    /// ```
    /// # use greenlight::wsgi::{Body, Environ, StartResponse};
    /// fn old_home(_env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
    ///     start.redirect(308, "/home")
    /// }
    /// ```
    pub fn redirect(&self, status: u16, location: impl Into<HeaderText>) -> Body {
        let location = location.into();
        if !matches!(status, 300..=399) {
            self.fail(format!("redirect with status {status}, not a 3xx"));
        }
        let body = format!("Redirecting to {location}\n");
        self.status(status)
            .header("Location", location)
            .header("Content-Type", "text/plain; charset=utf-8");
        Body::from(body)
    }

    /// Forgets the status and headers set so far (a handler that fails half-way, answering
    /// an error instead).
    pub fn reset(&self) -> &Self {
        let mut h = self.head.borrow_mut();
        h.status = None;
        h.code = 0;
        h.headers.clear();
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
    #[inline]
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
    #[inline]
    fn into_status(self) -> Result<(u16, HeaderText), String> {
        match parse_status(&self) {
            Some(code) => Ok((code, self)),
            None => Err(self.into_owned()),
        }
    }
}

impl IntoStatus for &'static str {
    #[inline]
    fn into_status(self) -> Result<(u16, HeaderText), String> {
        match parse_status(self) {
            Some(code) => Ok((code, HeaderText::Borrowed(self))),
            None => Err(self.to_owned()),
        }
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
/// - [`Body::file`]: a file, or a range of one, sent with `sendfile(2)` from the page cache
///   to the socket (read and written in pieces through TLS).
pub struct Body {
    pub(crate) kind: BodyKind,
    /// The `Content-Type` sent when the app set none ([`Body::json`]).
    pub(crate) content_type: Option<&'static str>,
}

pub(crate) type ChunkIter = Box<dyn Iterator<Item = io::Result<Bytes>> + Send>;

pub(crate) enum BodyKind {
    Full(Bytes),
    Chunks(ChunkIter),
    Reader(Box<dyn Read + Send>, Option<u64>),
    /// `len` bytes of a file from `offset`: `sendfile(2)` on plain sockets.
    File {
        file: File,
        offset: u64,
        len: u64,
    },
    /// The body could not be made (a value that does not serialize): the answer is a 500,
    /// and this says why in the error log.
    Invalid(String),
}

impl Body {
    fn of(kind: BodyKind) -> Body {
        Body {
            kind,
            content_type: None,
        }
    }

    /// `value` as JSON, sent with `Content-Type: application/json` unless the app set
    /// another. A value that does not serialize (a map with non-string keys, a failing
    /// `Serialize`) makes the answer a 500, with the reason in the error log.
    ///
    /// ```
    /// # use greenlight::wsgi::{Body, Environ, StartResponse};
    /// #[derive(serde::Serialize)]
    /// struct Todo {
    ///     id: u32,
    ///     title: String,
    /// }
    ///
    /// fn show(_env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
    ///     start.status(200);
    ///     Body::json(&Todo { id: 1, title: "milk".into() })
    /// }
    /// ```
    #[cfg(feature = "json")]
    pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> Body {
        match serde_json::to_vec(value) {
            Ok(v) => Body::from(v).with_content_type("application/json"),
            Err(e) => Body::of(BodyKind::Invalid(format!(
                "cannot encode the JSON body: {e}"
            ))),
        }
    }

    /// Sends the body with this `Content-Type` unless the app set one with
    /// [`StartResponse::header`].
    ///
    /// ```
    /// # use greenlight::wsgi::Body;
    /// let page = Body::from("<h1>Hi</h1>").with_content_type("text/html; charset=utf-8");
    /// ```
    pub fn with_content_type(mut self, content_type: &'static str) -> Body {
        self.content_type = Some(content_type);
        self
    }

    /// An empty body.
    pub fn empty() -> Body {
        Body::of(BodyKind::Full(Bytes::new()))
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
        Body::of(BodyKind::Chunks(Box::new(
            chunks.into_iter().map(|c| Ok(c.into())),
        )))
    }

    /// Like [`Body::stream`], for producers that can fail: an error ends the response
    /// early (the connection is closed, so the client sees it incomplete).
    pub fn try_stream<I, T>(chunks: I) -> Body
    where
        I: IntoIterator<Item = io::Result<T>>,
        I::IntoIter: Send + 'static,
        T: Into<Bytes>,
    {
        Body::of(BodyKind::Chunks(Box::new(
            chunks.into_iter().map(|c| c.map(Into::into)),
        )))
    }

    /// A body read from `reader`, with its length when known.
    pub fn reader(reader: impl Read + Send + 'static, len: Option<u64>) -> Body {
        Body::of(BodyKind::Reader(Box::new(reader), len))
    }

    /// `range` of `file` (`0..len` for all of it), sent with a `Content-Length` by
    /// `sendfile(2)`: the kernel moves the pages from its cache to the socket, with no copy
    /// through the process and flat memory however large the file, and the green thread
    /// parks while the socket is full. Through TLS (or the test client) the file is read in
    /// pieces on the [thread pool](crate::threadpool) and written instead.
    ///
    /// Open the file off the worker thread ([`spawn_blocking`]); the `SharedData`
    /// middleware does all of this for a directory of files. A file that turns out shorter
    /// than `range` ends the response early (the connection is closed, so the client sees
    /// it incomplete).
    ///
    /// [`spawn_blocking`]: crate::threadpool::spawn_blocking
    ///
    /// ```
    /// # use greenlight::wsgi::{Body, Environ, HttpError, StartResponse};
    /// use greenlight::threadpool::spawn_blocking;
    ///
    /// fn licence(_env: &mut Environ<'_>, start: StartResponse<'_>) -> Result<Body, HttpError> {
    ///     let (file, len) = spawn_blocking(|| {
    ///         let f = std::fs::File::open("LICENSE-MIT")?;
    ///         let len = f.metadata()?.len();
    ///         std::io::Result::Ok((f, len))
    ///     })
    ///     .map_err(|e| HttpError::internal(e.to_string()))?
    ///     .map_err(|_| HttpError::not_found())?;
    ///     start.status(200).header("Content-Type", "text/plain");
    ///     Ok(Body::file(file, 0..len))
    /// }
    /// ```
    pub fn file(file: File, range: Range<u64>) -> Body {
        Body::of(BodyKind::File {
            file,
            offset: range.start,
            len: range.end.saturating_sub(range.start),
        })
    }

    /// The length, when it is known without producing the body.
    pub fn len_hint(&self) -> Option<u64> {
        match &self.kind {
            BodyKind::Full(b) => Some(b.len() as u64),
            BodyKind::Chunks(_) => None,
            BodyKind::Reader(_, n) => *n,
            BodyKind::File { len, .. } => Some(*len),
            BodyKind::Invalid(_) => None,
        }
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            BodyKind::Full(b) => write!(f, "Body::Full({} bytes)", b.len()),
            BodyKind::Chunks(_) => f.write_str("Body::Stream"),
            BodyKind::Reader(_, n) => write!(f, "Body::Reader({n:?})"),
            BodyKind::File { offset, len, .. } => {
                write!(f, "Body::File({len} bytes from {offset})")
            }
            BodyKind::Invalid(why) => write!(f, "Body::Invalid({why:?})"),
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
        Body::of(BodyKind::Full(b))
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
