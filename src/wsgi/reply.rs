//! What a handler may return: a [`Body`], a `Result` whose error carries a status, an
//! [`HttpError`], or an `http::Response`.

use std::fmt::Write as _;

use super::{Body, Environ, HttpError, StartResponse};

/// A handler's return value, turned into the response: everything an [`App`](super::App)
/// function may return.
///
/// - [`Body`]: the status and headers are those set on [`StartResponse`].
/// - `Result<T, E>` where `T: IntoResponse` and `E` converts into [`HttpError`] (any
///   `std::error::Error` does): `Ok` is answered as `T`; `Err` drops the status and
///   headers set so far and answers the error: a 4xx with its message, anything else with
///   a logged 500. So `?` works in handlers.
/// - [`HttpError`] itself.
/// - `http::Response<B>` with `B: Into<Body>`: its status, headers and body, for code
///   written against the [`http`](https://docs.rs/http/1) crate's types (add `http = "1"`
///   to your `Cargo.toml` to name them; `greenlight::http` is another thing, the server's
///   own HTTP/1.1 parser).
///
/// ```
/// use greenlight::wsgi::{Body, Environ, HttpError, StartResponse};
///
/// fn item(env: &mut Environ<'_>, start: StartResponse<'_>) -> Result<Body, HttpError> {
///     let n: u64 = env.path().trim_start_matches('/').parse()?; // "abc" -> 500
///     if n == 0 {
///         return Err(HttpError::new(404, "no item 0"));
///     }
///     start.status(200);
///     Ok(Body::from(format!("item {n}\n")))
/// }
///
/// fn typed(_env: &mut Environ<'_>, _start: StartResponse<'_>) -> http::Response<String> {
///     http::Response::builder()
///         .status(http::StatusCode::CREATED)
///         .header(http::header::LOCATION, "/items/7")
///         .body("created\n".to_owned())
///         .unwrap()
/// }
/// # fn assert_app<A: greenlight::wsgi::App>(_: A) {}
/// # assert_app(item);
/// # assert_app(typed);
/// ```
pub trait IntoResponse {
    /// Sets the status and headers on `start` as needed and returns the body.
    fn into_response(self, env: &Environ<'_>, start: &StartResponse<'_>) -> Body;
}

impl IntoResponse for Body {
    #[inline(always)]
    fn into_response(self, _env: &Environ<'_>, _start: &StartResponse<'_>) -> Body {
        self
    }
}

impl<T: IntoResponse, E: Into<HttpError>> IntoResponse for Result<T, E> {
    #[inline]
    fn into_response(self, env: &Environ<'_>, start: &StartResponse<'_>) -> Body {
        match self {
            Ok(t) => t.into_response(env, start),
            Err(e) => e.into().into_response(env, start),
        }
    }
}

impl IntoResponse for HttpError {
    fn into_response(self, env: &Environ<'_>, start: &StartResponse<'_>) -> Body {
        start.reset();
        let status = self.status();
        let text = if status >= 500 {
            log_server_error(&self, env);
            crate::http::encode::reason_phrase(status).to_owned()
        } else {
            self.message().to_owned()
        };
        start.status(status);
        for (name, value) in self.headers() {
            start.header(name.clone(), value.clone());
        }
        if wants_json(env) {
            start.header("Content-Type", "application/json");
            Body::from(format!(
                "{{\"error\":{},\"status\":{status}}}",
                json_string(&text)
            ))
        } else {
            start.header("Content-Type", "text/plain; charset=utf-8");
            Body::from(text + "\n")
        }
    }
}

/// Logs a 5xx with its whole cause chain, naming the request.
fn log_server_error(e: &HttpError, env: &Environ<'_>) {
    let mut why = e.message().to_owned();
    let mut cause = e.source().map(|s| s as &(dyn std::error::Error + 'static));
    while let Some(c) = cause {
        if c.to_string() != why {
            let _ = write!(why, ": {c}");
        }
        cause = c.source();
    }
    log::error!(
        "Error handling request {} {}: {} {why}",
        env.method(),
        env.get("REQUEST_URI").unwrap_or(""),
        e.status(),
    );
}

/// Whether the client asked for JSON rather than HTML (`Accept: application/json`, or
/// any `+json` type, listed before any HTML).
fn wants_json(env: &Environ<'_>) -> bool {
    let Some(accept) = env.get("HTTP_ACCEPT") else {
        return false;
    };
    for range in accept.split(',') {
        let media = range.split(';').next().unwrap_or("").trim();
        if media.eq_ignore_ascii_case("text/html") {
            return false;
        }
        let lower = media.to_ascii_lowercase();
        if lower == "application/json" || lower.ends_with("+json") {
            return true;
        }
    }
    false
}

/// `s` as a JSON string literal.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    crate::logging::push_json_string(&mut out, s);
    out
}

impl<B: Into<Body>> IntoResponse for http::Response<B> {
    fn into_response(self, _env: &Environ<'_>, start: &StartResponse<'_>) -> Body {
        let (parts, body) = self.into_parts();
        start.status(parts.status);
        start.header_map(&parts.headers);
        body.into()
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{TestClient, TestRequest};
    use crate::wsgi::{Body, Environ, HttpError, RequestError, StartResponse};

    fn app(env: &mut Environ<'_>, start: StartResponse<'_>) -> Result<Body, HttpError> {
        start.status(200).header("X-Half-Done", "yes");
        match env.path() {
            "/ok" => Ok(Body::from("fine")),
            "/parse" => Ok(Body::from(env.query().parse::<u8>()?.to_string())),
            "/large" => Err(RequestError::TooLarge { limit: 3 })?,
            "/teapot" => Err(HttpError::new(418, "short and stout")),
            _ => Err(HttpError::not_found()),
        }
    }

    #[test]
    fn errors_answer_with_their_status_and_drop_what_was_set() {
        let client = TestClient::new(app);
        let ok = client.get("/ok");
        assert_eq!((ok.status(), ok.text().as_str()), (200, "fine"));
        assert_eq!(ok.header("x-half-done"), Some("yes"));
        let r = client.get("/teapot");
        assert_eq!((r.status(), r.text().as_str()), (418, "short and stout\n"));
        assert_eq!(r.header("x-half-done"), None);
        assert_eq!(client.get("/large").status(), 413);
        assert_eq!(client.get("/nope").status(), 404);
        let r = client.get("/parse?300");
        assert_eq!(
            (r.status(), r.text().as_str()),
            (500, "Internal Server Error\n")
        );
        assert_eq!(client.get("/parse?30").text(), "30");
    }

    #[test]
    fn errors_carry_their_headers_and_speak_json_to_json_clients() {
        let app = |env: &mut Environ<'_>, _: StartResponse<'_>| -> Result<Body, HttpError> {
            match env.path() {
                "/busy" => Err(HttpError::new(503, "db down").header("Retry-After", "5")),
                _ => Err(HttpError::method_not_allowed(&["GET", "HEAD"])),
            }
        };
        let client = TestClient::new(app);
        let r = client.request(TestRequest::post("/"));
        assert_eq!((r.status(), r.header("allow")), (405, Some("GET, HEAD")));
        assert_eq!(r.text(), "Method Not Allowed\n");
        let json = |path: &str, accept: &str| {
            client.request(TestRequest::get(path).header("Accept", accept))
        };
        let r = json("/", "application/json");
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.text(), r#"{"error":"Method Not Allowed","status":405}"#);
        let r = json("/busy", "text/html, application/json");
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
        assert_eq!((r.status(), r.header("retry-after")), (503, Some("5")));
        assert_eq!(
            r.text(),
            "Service Unavailable\n",
            "no detail of a 5xx leaks"
        );
        assert_eq!(
            super::json_string("a\"b\\c\n\u{1}é"),
            r#""a\"b\\c\n\u0001é""#
        );
    }

    #[test]
    fn http_responses_and_json_bodies() {
        let typed = |_: &mut Environ<'_>, _: StartResponse<'_>| {
            http::Response::builder()
                .status(201)
                .header("Location", "/x")
                .body("made")
                .unwrap()
        };
        let r = TestClient::new(typed).get("/");
        assert_eq!((r.status(), r.header("location")), (201, Some("/x")));
        assert_eq!(r.reason(), "Created");
        assert_eq!(r.text(), "made");
    }

    #[cfg(feature = "json")]
    #[test]
    fn json_bodies_carry_their_type_and_a_failed_encoding_is_a_500() {
        let app = |env: &mut Environ<'_>, start: StartResponse<'_>| {
            start.status(200);
            match env.path() {
                "/list" => Body::json(&[1, 2, 3]),
                "/html" => {
                    start.header("Content-Type", "text/html");
                    Body::json("not really")
                }
                _ => Body::json(&std::collections::HashMap::from([((1, 2), 3)])),
            }
        };
        let client = TestClient::new(app);
        let r = client.get("/list");
        assert_eq!(r.text(), "[1,2,3]");
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(
            client.get("/html").header("content-type"),
            Some("text/html")
        );
        assert_eq!(client.get("/bad").status(), 500);
    }
}
