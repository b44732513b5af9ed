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
///   written against the `http` crate's types.
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
    #[inline]
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
        if status >= 500 {
            let mut why = self.message().to_owned();
            let mut cause = self
                .source()
                .map(|s| s as &(dyn std::error::Error + 'static));
            while let Some(c) = cause {
                if c.to_string() != why {
                    let _ = write!(why, ": {c}");
                }
                cause = c.source();
            }
            log::error!(
                "Error handling request {} {}: {status} {why}",
                env.method(),
                env.get("REQUEST_URI").unwrap_or(""),
            );
            start
                .status(status)
                .header("Content-Type", "text/plain; charset=utf-8");
            let reason = crate::http::encode::reason_phrase(status);
            return Body::from(format!("{reason}\n"));
        }
        start
            .status(status)
            .header("Content-Type", "text/plain; charset=utf-8");
        let mut text = self.message().to_owned();
        text.push('\n');
        Body::from(text)
    }
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
    use crate::testing::TestClient;
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
