//! A response: status and headers at once, the body streamed as it is read.

use std::fmt;
use std::io::{self, Read};

use ureq::http::header::CONTENT_LENGTH;
use ureq::http::HeaderMap;

use super::error::{Error, ErrorKind};
use super::DEFAULT_BODY_LIMIT;

/// An HTTP response: the status and headers, and the body as a [`Read`] (streamed from the
/// connection as it is read; the connection goes back to the pool once the body was read to
/// its end).
///
/// [`Response::text`], [`Response::bytes`] and `Response::json` read the whole body, up to
/// [`Response::limit`] bytes ([`DEFAULT_BODY_LIMIT`] unless changed).
///
/// # Examples
///
/// ```
/// use std::io::Read;
/// use greenlight::wsgi::{Body, WsgiServer};
/// let server = WsgiServer::new("127.0.0.1:0", |_: &mut greenlight::wsgi::Environ<'_>, start: greenlight::wsgi::StartResponse<'_>| {
///     start.status("200 OK").header("Content-Type", "text/plain").header("X-Count", "3");
///     Body::from("abc")
/// })
/// .start()
/// .unwrap();
/// let url = format!("http://{}/", server.local_addr());
///
/// let mut response = greenlight::client::get(&url).call().unwrap();
/// assert_eq!(response.status(), 200);
/// assert_eq!(response.header("x-count"), Some("3"));
/// assert_eq!(response.content_length(), Some(3));
/// let mut first = [0u8; 1];
/// response.read_exact(&mut first).unwrap(); // streamed...
/// assert_eq!(&first, b"a");
/// assert_eq!(response.text().unwrap(), "bc"); // ...or read whole
/// # server.stop_now();
/// ```
pub struct Response {
    status: u16,
    url: String,
    headers: HeaderMap,
    body: ureq::BodyReader<'static>,
    limit: u64,
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("url", &self.url)
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

impl Response {
    pub(crate) fn new(response: ureq::http::Response<ureq::Body>, url: String) -> Response {
        let (parts, body) = response.into_parts();
        Response {
            status: parts.status.as_u16(),
            url,
            headers: parts.headers,
            body: body.into_with_config().limit(u64::MAX).reader(),
            limit: DEFAULT_BODY_LIMIT,
        }
    }

    /// Reads and drops a little of what is left of the body, so that the connection can
    /// serve the next request; a longer body closes it instead.
    pub(crate) fn discard(mut self) {
        let _ = io::copy(&mut (&mut self.body).take(64 * 1024), &mut io::sink());
    }

    /// The status code.
    ///
    /// # Examples
    ///
    /// See [`Response`].
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Whether the status is 2xx.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenlight::wsgi::{Body, WsgiServer};
    /// let server = WsgiServer::new("127.0.0.1:0", |_: &mut greenlight::wsgi::Environ<'_>, start: greenlight::wsgi::StartResponse<'_>| {
    ///     start.status("201 Created");
    ///     Body::empty()
    /// })
    /// .start()
    /// .unwrap();
    /// let r = greenlight::client::post(&format!("http://{}/", server.local_addr())).send("").unwrap();
    /// assert!(r.is_success());
    /// # server.stop_now();
    /// ```
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The URL this response came from: the last one after redirects.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenlight::wsgi::{Body, WsgiServer};
    /// let server = WsgiServer::new("127.0.0.1:0", |env: &mut greenlight::wsgi::Environ<'_>, start: greenlight::wsgi::StartResponse<'_>| {
    ///     if env.get("PATH_INFO") == Some("/old") {
    ///         start.status("301 Moved Permanently").header("Location", "/new");
    ///     } else {
    ///         start.status("200 OK");
    ///     }
    ///     Body::empty()
    /// })
    /// .start()
    /// .unwrap();
    /// let base = format!("http://{}", server.local_addr());
    /// let r = greenlight::client::get(&format!("{base}/old")).call().unwrap();
    /// assert_eq!(r.url(), format!("{base}/new"));
    /// # server.stop_now();
    /// ```
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The first value of header `name` (any case), if it is there and is visible ASCII.
    ///
    /// # Examples
    ///
    /// See [`Response`].
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Every value of header `name`, in order (`Set-Cookie` comes as several).
    ///
    /// # Examples
    ///
    /// ```
    /// use greenlight::wsgi::{Body, WsgiServer};
    /// let server = WsgiServer::new("127.0.0.1:0", |_: &mut greenlight::wsgi::Environ<'_>, start: greenlight::wsgi::StartResponse<'_>| {
    ///     start.status("200 OK").header("Set-Cookie", "a=1").header("Set-Cookie", "b=2");
    ///     Body::empty()
    /// })
    /// .start()
    /// .unwrap();
    /// let r = greenlight::client::get(&format!("http://{}/", server.local_addr())).call().unwrap();
    /// assert_eq!(r.header_all("set-cookie").collect::<Vec<_>>(), ["a=1", "b=2"]);
    /// # server.stop_now();
    /// ```
    pub fn header_all<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .get_all(name)
            .into_iter()
            .filter_map(|v| v.to_str().ok())
    }

    /// The raw bytes of the first value of header `name` (for values that are not ASCII).
    ///
    /// # Examples
    ///
    /// ```
    /// use greenlight::wsgi::{Body, WsgiServer};
    /// let server = WsgiServer::new("127.0.0.1:0", |_: &mut greenlight::wsgi::Environ<'_>, start: greenlight::wsgi::StartResponse<'_>| {
    ///     start.status("200 OK");
    ///     Body::empty()
    /// })
    /// .start()
    /// .unwrap();
    /// let r = greenlight::client::get(&format!("http://{}/", server.local_addr())).call().unwrap();
    /// assert_eq!(r.header_bytes("content-length"), Some(&b"0"[..]));
    /// # server.stop_now();
    /// ```
    pub fn header_bytes(&self, name: &str) -> Option<&[u8]> {
        self.headers.get(name).map(|v| v.as_bytes())
    }

    /// Every header as (lower-case name, value), in the order received; values that are not
    /// visible ASCII are left out (see [`Response::header_bytes`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use greenlight::wsgi::{Body, WsgiServer};
    /// let server = WsgiServer::new("127.0.0.1:0", |_: &mut greenlight::wsgi::Environ<'_>, start: greenlight::wsgi::StartResponse<'_>| {
    ///     start.status("200 OK").header("X-Served-By", "greenlight");
    ///     Body::empty()
    /// })
    /// .start()
    /// .unwrap();
    /// let r = greenlight::client::get(&format!("http://{}/", server.local_addr())).call().unwrap();
    /// assert!(r.headers().any(|(name, value)| name == "x-served-by" && value == "greenlight"));
    /// # server.stop_now();
    /// ```
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.headers
            .iter()
            .filter_map(|(n, v)| Some((n.as_str(), v.to_str().ok()?)))
    }

    /// The `Content-Length`, if the server sent one.
    ///
    /// # Examples
    ///
    /// See [`Response`].
    pub fn content_length(&self) -> Option<u64> {
        self.header(CONTENT_LENGTH.as_str())?.parse().ok()
    }

    /// Sets the largest body that [`Response::text`], [`Response::bytes`] and `Response::json`
    /// read; more is [`ErrorKind::BodyTooLarge`]. Reading with [`Read`] is not limited.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenlight::client::ErrorKind;
    /// use greenlight::wsgi::{Body, WsgiServer};
    /// let server = WsgiServer::new("127.0.0.1:0", |_: &mut greenlight::wsgi::Environ<'_>, start: greenlight::wsgi::StartResponse<'_>| {
    ///     start.status("200 OK");
    ///     Body::from(vec![b'x'; 1000])
    /// })
    /// .start()
    /// .unwrap();
    /// let url = format!("http://{}/", server.local_addr());
    /// let err = greenlight::client::get(&url).call().unwrap().limit(100).bytes().unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::BodyTooLarge);
    /// assert_eq!(greenlight::client::get(&url).call().unwrap().limit(1000).bytes().unwrap().len(), 1000);
    /// # server.stop_now();
    /// ```
    pub fn limit(mut self, max_bytes: u64) -> Self {
        self.limit = max_bytes;
        self
    }

    /// Turns a status of 400 or more into an [`ErrorKind::Status`] error (see
    /// [`Error::status`]); other responses pass through.
    ///
    /// # Examples
    ///
    /// See [`Error::status`].
    pub fn error_for_status(self) -> Result<Response, Error> {
        if self.status >= 400 {
            return Err(Error::status_error(self.status, &self.url));
        }
        Ok(self)
    }

    /// Reads the rest of the body, at most [`Response::limit`] bytes.
    ///
    /// # Examples
    ///
    /// See [`Response::limit`].
    pub fn bytes(mut self) -> Result<Vec<u8>, Error> {
        // Trust a declared length only up to a modest first allocation.
        let hint = self
            .content_length()
            .unwrap_or(0)
            .min(self.limit)
            .min(64 * 1024);
        let mut out = Vec::with_capacity(hint as usize);
        let read = (&mut self.body)
            .take(self.limit.saturating_add(1))
            .read_to_end(&mut out)
            .map_err(Error::from)?;
        if read as u64 > self.limit {
            return Err(Error::new(
                ErrorKind::BodyTooLarge,
                format!("{}: body larger than {} bytes", self.url, self.limit),
            ));
        }
        Ok(out)
    }

    /// Reads the rest of the body as UTF-8 text, at most [`Response::limit`] bytes.
    ///
    /// # Examples
    ///
    /// See [`Response`].
    pub fn text(self) -> Result<String, Error> {
        let url = self.url.clone();
        String::from_utf8(self.bytes()?).map_err(|e| {
            Error::new(ErrorKind::Decode, format!("{url}: body is not UTF-8")).with_source(e)
        })
    }

    /// Reads the rest of the body as JSON, at most [`Response::limit`] bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenlight::wsgi::{Body, WsgiServer};
    /// let server = WsgiServer::new("127.0.0.1:0", |_: &mut greenlight::wsgi::Environ<'_>, start: greenlight::wsgi::StartResponse<'_>| {
    ///     start.status("200 OK").header("Content-Type", "application/json");
    ///     Body::from(r#"{"name": "ada", "langs": 2}"#)
    /// })
    /// .start()
    /// .unwrap();
    ///
    /// #[derive(serde::Deserialize)]
    /// struct User { name: String, langs: u32 }
    /// let url = format!("http://{}/user", server.local_addr());
    /// let user: User = greenlight::client::get(&url).call().unwrap().json().unwrap();
    /// assert_eq!((user.name.as_str(), user.langs), ("ada", 2));
    /// # server.stop_now();
    /// ```
    #[cfg(feature = "json")]
    pub fn json<T: serde::de::DeserializeOwned>(self) -> Result<T, Error> {
        let url = self.url.clone();
        serde_json::from_slice(&self.bytes()?).map_err(|e| {
            Error::new(
                ErrorKind::Decode,
                format!("{url}: body is not the JSON expected"),
            )
            .with_source(e)
        })
    }
}

impl Read for Response {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.body.read(buf)
    }
}
