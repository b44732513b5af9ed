//! The client's error: one type, with a kind a caller can act on.

use std::error::Error as StdError;
use std::fmt;
use std::io;

/// What went wrong, in terms a caller can act on.
///
/// # Examples
///
/// ```
/// use greenlight::client::{Client, ErrorKind};
/// let err = Client::new().get("not a url").call().unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::InvalidUrl);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The URL cannot be used: not `http://` or `https://`, no host, or not a URL at all.
    InvalidUrl,
    /// The request cannot be sent as given: a bad method, header name or header value.
    InvalidRequest,
    /// The host name did not resolve.
    Dns,
    /// No connection could be made (refused, unreachable).
    Connect,
    /// A deadline passed: the connect, read or overall timeout.
    Timeout,
    /// The TLS handshake or a TLS record failed (such as an untrusted certificate).
    Tls,
    /// The server broke HTTP/1.1 (a malformed response, a header too large) or closed
    /// the connection in the middle of a response.
    Protocol,
    /// More redirects than [`ClientBuilder::max_redirects`](super::ClientBuilder::max_redirects)
    /// allows.
    TooManyRedirects,
    /// A redirect that cannot be followed: its `Location` is not an `http` or `https` URL.
    Redirect,
    /// A status of 400 or more, from [`Response::error_for_status`](super::Response::error_for_status).
    Status,
    /// The body is larger than the limit of the helper reading it.
    BodyTooLarge,
    /// The body is not what was asked for: not UTF-8 for `text`, not valid JSON for `json`.
    Decode,
    /// Another I/O error on the connection.
    Io,
}

/// An error from [`Client`](super::Client): its [`ErrorKind`], a message, and the status for
/// [`ErrorKind::Status`].
///
/// # Examples
///
/// ```
/// use greenlight::client::{Client, ErrorKind};
/// // Nothing listens on port 1.
/// let err = Client::new().get("http://127.0.0.1:1/").call().unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::Connect);
/// assert!(err.to_string().contains("127.0.0.1"), "{err}");
/// ```
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    status: Option<u16>,
    source: Option<Box<dyn StdError + Send + Sync + 'static>>,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
            status: None,
            source: None,
        }
    }

    pub(crate) fn with_source(
        mut self,
        source: impl Into<Box<dyn StdError + Send + Sync + 'static>>,
    ) -> Error {
        self.source = Some(source.into());
        self
    }

    pub(crate) fn status_error(status: u16, url: &str) -> Error {
        let mut e = Error::new(ErrorKind::Status, format!("{url}: status {status}"));
        e.status = Some(status);
        e
    }

    /// What went wrong.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenlight::client::{Client, ErrorKind};
    /// let err = Client::new().get("ftp://example.com/").call().unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::InvalidUrl);
    /// ```
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The response status, for [`ErrorKind::Status`].
    ///
    /// # Examples
    ///
    /// ```
    /// use greenlight::wsgi::{Body, WsgiServer};
    /// let server = WsgiServer::new("127.0.0.1:0", |_: &mut greenlight::wsgi::Environ<'_>, start: greenlight::wsgi::StartResponse<'_>| {
    ///     start.status("404 Not Found");
    ///     Body::empty()
    /// })
    /// .start()
    /// .unwrap();
    /// let url = format!("http://{}/", server.local_addr());
    ///
    /// let response = greenlight::client::get(&url).call().unwrap(); // a 404 is a response...
    /// assert_eq!(response.status(), 404);
    /// let err = response.error_for_status().unwrap_err(); // ...until asked
    /// assert_eq!(err.status(), Some(404));
    /// # server.stop_now();
    /// ```
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// Whether this is a timeout.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = greenlight::client::get("http://127.0.0.1:1/").call().unwrap_err();
    /// assert!(!err.is_timeout());
    /// ```
    pub fn is_timeout(&self) -> bool {
        self.kind == ErrorKind::Timeout
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

impl From<Error> for io::Error {
    /// For code that speaks `io::Error`: timeouts become [`io::ErrorKind::TimedOut`],
    /// connection failures [`io::ErrorKind::ConnectionRefused`], the rest
    /// [`io::ErrorKind::Other`].
    fn from(e: Error) -> io::Error {
        let kind = match e.kind {
            ErrorKind::Timeout => io::ErrorKind::TimedOut,
            ErrorKind::Connect => io::ErrorKind::ConnectionRefused,
            ErrorKind::InvalidUrl | ErrorKind::InvalidRequest => io::ErrorKind::InvalidInput,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}

/// Marks an I/O error with the step it came from, so that the error of a whole request can
/// say "could not connect" rather than "I/O error".
#[derive(Debug)]
pub(crate) struct StepError {
    pub(crate) kind: ErrorKind,
    pub(crate) what: String,
    pub(crate) source: io::Error,
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.what, self.source)
    }
}

impl StdError for StepError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.source)
    }
}

/// An I/O error tagged with its step, to travel through ureq as `ureq::Error::Io`.
pub(crate) fn step_error(kind: ErrorKind, what: String, source: io::Error) -> io::Error {
    let io_kind = source.kind();
    io::Error::new(io_kind, StepError { kind, what, source })
}

/// The kind for an I/O error met while talking to the server.
pub(crate) fn io_kind(e: &io::Error) -> ErrorKind {
    if let Some(step) = e.get_ref().and_then(|s| s.downcast_ref::<StepError>()) {
        return step.kind;
    }
    if e.get_ref().is_some_and(|s| s.is::<rustls::Error>()) {
        return ErrorKind::Tls;
    }
    match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => ErrorKind::Timeout,
        io::ErrorKind::ConnectionRefused => ErrorKind::Connect,
        io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset => ErrorKind::Protocol,
        _ => ErrorKind::Io,
    }
}

impl From<ureq::Error> for Error {
    fn from(e: ureq::Error) -> Error {
        use ureq::Error as U;
        let kind = match &e {
            U::StatusCode(_) => ErrorKind::Status,
            U::Http(_) => ErrorKind::InvalidRequest,
            U::BadUri(_) | U::RequireHttpsOnly(_) => ErrorKind::InvalidUrl,
            U::Protocol(_) | U::LargeResponseHeader(..) => ErrorKind::Protocol,
            U::Io(io) => io_kind(io),
            U::Timeout(_) => ErrorKind::Timeout,
            U::HostNotFound => ErrorKind::Dns,
            U::RedirectFailed => ErrorKind::Redirect,
            U::ConnectionFailed => ErrorKind::Connect,
            U::BodyExceedsLimit(_) => ErrorKind::BodyTooLarge,
            U::TooManyRedirects => ErrorKind::TooManyRedirects,
            U::Tls(_) | U::Pem(_) | U::Rustls(_) => ErrorKind::Tls,
            _ => ErrorKind::Io,
        };
        let message = match &e {
            U::Io(io) => match io.get_ref().and_then(|s| s.downcast_ref::<StepError>()) {
                Some(step) => step.to_string(),
                None => format!("I/O error: {io}"),
            },
            U::Timeout(t) => format!("timed out ({t})"),
            U::RedirectFailed => {
                "a 307/308 redirect of a request with a body is not followed".to_owned()
            }
            other => other.to_string(),
        };
        Error::new(kind, message)
    }
}

impl From<io::Error> for Error {
    /// An error met while reading a response body.
    fn from(e: io::Error) -> Error {
        if e.get_ref().is_some_and(|s| s.is::<ureq::Error>()) {
            return Error::from(ureq::Error::from(e));
        }
        Error::from(ureq::Error::Io(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_are_classified() {
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(io_kind(&refused), ErrorKind::Connect);
        let slow = io::Error::from(io::ErrorKind::TimedOut);
        assert_eq!(io_kind(&slow), ErrorKind::Timeout);
        let tagged = step_error(
            ErrorKind::Dns,
            "resolving x".into(),
            io::Error::from(io::ErrorKind::NotFound),
        );
        assert_eq!(io_kind(&tagged), ErrorKind::Dns);
        let tls = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::General("x".into()),
        );
        assert_eq!(io_kind(&tls), ErrorKind::Tls);
    }

    #[test]
    fn ureq_errors_map_to_kinds() {
        assert_eq!(
            Error::from(ureq::Error::TooManyRedirects).kind(),
            ErrorKind::TooManyRedirects
        );
        assert_eq!(
            Error::from(ureq::Error::BodyExceedsLimit(3)).kind(),
            ErrorKind::BodyTooLarge
        );
        let wrapped = ureq::Error::Timeout(ureq::Timeout::RecvBody).into_io();
        assert_eq!(Error::from(wrapped).kind(), ErrorKind::Timeout);
        let e = Error::status_error(503, "http://x/");
        assert_eq!((e.kind(), e.status()), (ErrorKind::Status, Some(503)));
        assert_eq!(io::Error::from(e).kind(), io::ErrorKind::Other);
    }
}
