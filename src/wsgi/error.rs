//! Errors an app meets and answers with: [`RequestError`] (reading the request went
//! wrong, and how) and [`HttpError`] (what a handler returns with `?`).

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;
use std::io;

/// Why the request (its body, form, query, cookies or JSON) could not be read, in the three
/// ways that need different answers.
///
/// Each maps to its status with [`RequestError::status`]: a handler that returns it through
/// [`HttpError`] (with `?`) answers 413 or 400 without matching on messages.
///
/// ```
/// use greenlight::wsgi::RequestError;
/// assert_eq!(RequestError::TooLarge { limit: 1024 }.status(), 413);
/// assert_eq!(RequestError::Malformed("bad %-escape".into()).status(), 400);
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum RequestError {
    /// The body (or a part of it) is larger than the limit, in bytes: answer 413.
    TooLarge {
        /// The limit that was passed.
        limit: u64,
    },
    /// More of something than the limit allows (multipart parts, bytes of a part's
    /// headers): answer 413, as werkzeug does.
    TooMany {
        /// What there was too much of ("multipart parts").
        what: &'static str,
        /// The limit that was passed.
        limit: u64,
    },
    /// The request is not what it claims to be (bad JSON, a broken multipart body, a
    /// truncated chunked body): answer 400. The message says what was wrong.
    Malformed(String),
    /// The body has another media type than the one asked for: answer 415.
    UnsupportedMediaType(String),
    /// The client went away or stopped sending before the body was complete (408 if it was
    /// too slow). Nobody is left to read an answer; the connection is closed.
    Disconnected,
    /// Reading the body timed out (the client sent too slowly): answer 408.
    TimedOut,
}

impl RequestError {
    /// The HTTP status that answers this error.
    pub fn status(&self) -> u16 {
        match self {
            RequestError::TooLarge { .. } | RequestError::TooMany { .. } => 413,
            RequestError::Malformed(_) => 400,
            RequestError::UnsupportedMediaType(_) => 415,
            RequestError::Disconnected => 400,
            RequestError::TimedOut => 408,
        }
    }

    /// The error inside an `io::Error` made from a `RequestError`, if it is one.
    pub fn from_io(e: &io::Error) -> Option<&RequestError> {
        e.get_ref()?.downcast_ref::<RequestError>()
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::TooLarge { limit } => {
                write!(f, "request body larger than {limit} bytes")
            }
            RequestError::TooMany { what, limit } => write!(f, "more than {limit} {what}"),
            RequestError::Malformed(why) => write!(f, "malformed request: {why}"),
            RequestError::UnsupportedMediaType(why) => write!(f, "unsupported media type: {why}"),
            RequestError::Disconnected => f.write_str("the client went away"),
            RequestError::TimedOut => f.write_str("timed out reading the request"),
        }
    }
}

impl StdError for RequestError {}

impl From<RequestError> for io::Error {
    /// An `io::Error` that still carries the `RequestError` (see [`RequestError::from_io`]).
    fn from(e: RequestError) -> io::Error {
        let kind = match e {
            RequestError::Disconnected => io::ErrorKind::UnexpectedEof,
            RequestError::TimedOut => io::ErrorKind::TimedOut,
            _ => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, e)
    }
}

/// An error a handler returns: an HTTP status, a message, and what caused it.
///
/// Handlers that return `Result<Body, HttpError>` can use `?` on any error type: a
/// [`RequestError`] (also inside an `io::Error`) keeps its status (413, 400, ...), anything
/// else becomes a 500, so map a client's mistake to a 4xx yourself
/// (`.map_err(|_| HttpError::bad_request("id must be a number"))?`).
///
/// The answer drops the status and headers the handler set before failing, and carries
/// the error's own [`header`](HttpError::header)s. A 4xx is answered with its message; a
/// 5xx is logged with its cause and answered with its bare reason phrase, so no detail
/// leaks. The body is plain text, or `{"error": "...", "status": N}` as
/// `application/json` for a client whose `Accept` asks for JSON (and not HTML).
///
/// In tests, the log line of a 5xx goes wherever `log` records go: call
/// [`logging::init`](crate::logging::init)`("-", ...)` to see them on stdout.
///
/// ```
/// use greenlight::wsgi::{Body, Environ, HttpError, StartResponse};
///
/// fn show(env: &mut Environ<'_>, start: StartResponse<'_>) -> Result<Body, HttpError> {
///     let id: u32 = env
///         .path()
///         .trim_start_matches("/items/")
///         .parse()
///         .map_err(|_| HttpError::new(404, "no such item"))?;
///     start.status(200);
///     Ok(Body::from(format!("item {id}")))
/// }
/// # fn assert_app<A: greenlight::wsgi::App>(_: A) {}
/// # assert_app(show);
/// ```
pub struct HttpError {
    status: u16,
    message: Cow<'static, str>,
    source: Option<Box<dyn StdError + Send + Sync>>,
    headers: Vec<(Cow<'static, str>, Cow<'static, str>)>,
}

impl HttpError {
    /// An error answered with `status` (100 to 999; others become 500) and `message`.
    pub fn new(status: u16, message: impl Into<Cow<'static, str>>) -> HttpError {
        let status = if (100..=999).contains(&status) {
            status
        } else {
            500
        };
        HttpError {
            status,
            message: message.into(),
            source: None,
            headers: Vec::new(),
        }
    }

    /// Sends this header with the error's answer (`Allow` with a 405, `Retry-After` with a
    /// 503, `WWW-Authenticate` with a 401). An invalid one makes the answer a 500, as with
    /// [`StartResponse::header`](super::StartResponse::header).
    ///
    /// ```
    /// use greenlight::wsgi::HttpError;
    /// let busy = HttpError::new(503, "try again soon").header("Retry-After", "5");
    /// assert_eq!(busy.headers()[0].1, "5");
    /// ```
    pub fn header(
        mut self,
        name: impl Into<Cow<'static, str>>,
        value: impl Into<Cow<'static, str>>,
    ) -> HttpError {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The headers sent with the error's answer.
    pub fn headers(&self) -> &[(Cow<'static, str>, Cow<'static, str>)] {
        &self.headers
    }

    /// `405 Method Not Allowed`, with the `Allow` header RFC 9110 requires.
    ///
    /// ```
    /// use greenlight::wsgi::HttpError;
    /// let e = HttpError::method_not_allowed(&["GET", "POST"]);
    /// assert_eq!((e.status(), &*e.headers()[0].1), (405, "GET, POST"));
    /// ```
    pub fn method_not_allowed(allow: &[&str]) -> HttpError {
        HttpError::new(405, "Method Not Allowed").header("Allow", allow.join(", "))
    }

    /// `400 Bad Request` with `message`.
    pub fn bad_request(message: impl Into<Cow<'static, str>>) -> HttpError {
        HttpError::new(400, message)
    }

    /// `404 Not Found`.
    pub fn not_found() -> HttpError {
        HttpError::new(404, "Not Found")
    }

    /// `500 Internal Server Error`, logged with `message`.
    pub fn internal(message: impl Into<Cow<'static, str>>) -> HttpError {
        HttpError::new(500, message)
    }

    /// Keeps `source` as the cause (logged for a 5xx).
    pub fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> HttpError {
        self.source = Some(Box::new(source));
        self
    }

    /// The status the client gets.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The message: the body of a 4xx answer, the log line of a 5xx.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The cause, if there is one.
    pub fn source(&self) -> Option<&(dyn StdError + Send + Sync + 'static)> {
        self.source.as_deref()
    }

    /// Whether the client's request was at fault (a 4xx): answered, not logged as an error.
    pub fn is_client_error(&self) -> bool {
        (400..500).contains(&self.status)
    }
}

impl<E: StdError + Send + Sync + 'static> From<E> for HttpError {
    /// A [`RequestError`] keeps its status, also inside an `io::Error`; any other error is
    /// a 500 whose cause is logged.
    fn from(e: E) -> HttpError {
        let any: &(dyn StdError + 'static) = &e;
        let request_error = any.downcast_ref::<RequestError>().or_else(|| {
            any.downcast_ref::<io::Error>()
                .and_then(RequestError::from_io)
        });
        match request_error {
            Some(r) => HttpError::new(r.status(), r.to_string()),
            None => HttpError::new(500, e.to_string()).with_source(e),
        }
    }
}

impl fmt::Debug for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpError")
            .field("status", &self.status)
            .field("message", &self.message)
            .field("source", &self.source)
            .field("headers", &self.headers)
            .finish()
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.message)?;
        if let Some(s) = &self.source {
            if s.to_string() != self.message {
                write!(f, ": {s}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_errors_keep_their_status_through_io_and_question_mark() {
        let io: io::Error = RequestError::TooLarge { limit: 10 }.into();
        assert_eq!(RequestError::from_io(&io).unwrap().status(), 413);
        assert_eq!(HttpError::from(io).status(), 413);
        let parse = "x".parse::<u32>().unwrap_err();
        let e = HttpError::from(parse);
        assert_eq!(e.status(), 500);
        assert!(e.source().is_some());
        assert_eq!(HttpError::new(42, "odd").status(), 500);
        assert!(HttpError::not_found().is_client_error());
    }
}
