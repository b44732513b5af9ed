//! The request as the `http` crate's types, for routers and libraries written against them
//! (add `http = "1"` to your `Cargo.toml` to name them).

use http::header::{HeaderMap, HeaderName, HeaderValue};

use super::{Environ, RequestError};
use crate::http::request::Version;

impl<'a> Environ<'a> {
    /// The request headers as an `http::HeaderMap`, as the client sent them (names in lower
    /// case; repeated headers kept apart). Names containing `_` are left out, as in the
    /// environ. Middleware changes to `HTTP_*` keys do not show here.
    ///
    /// ```
    /// use greenlight::testing::TestRequest;
    ///
    /// TestRequest::get("/").header("Accept", "text/html").header("Accept", "*/*").environ(|env| {
    ///     let headers = env.headers();
    ///     let all: Vec<_> = headers.get_all(http::header::ACCEPT).iter().collect();
    ///     assert_eq!(all, ["text/html", "*/*"]);
    /// })
    /// .unwrap();
    /// ```
    pub fn headers(&self) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in self.raw_headers() {
            // The parser admits only tokens and field values, which `http` accepts too.
            if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
                map.append(n, v);
            }
        }
        map
    }

    /// The request method as an `http::Method`.
    ///
    /// ```
    /// use greenlight::testing::TestRequest;
    ///
    /// TestRequest::new("DELETE", "/items/1").environ(|env| {
    ///     assert_eq!(env.http_method(), http::Method::DELETE);
    /// })
    /// .unwrap();
    /// ```
    pub fn http_method(&self) -> http::Method {
        http::Method::from_bytes(self.method().as_bytes()).unwrap_or_default()
    }

    /// The request head as an `http::Request<()>`: method, URI (the request-target as
    /// sent), version and headers. Read the body from [`Environ::input`].
    ///
    /// A request-target that `http::Uri` refuses (it is more lenient than this server's
    /// parser, so this should not happen) is a [`RequestError::Malformed`].
    ///
    /// ```
    /// use greenlight::testing::TestRequest;
    ///
    /// TestRequest::get("/search?q=rust").header("Host", "example.com").environ(|env| {
    ///     let req = env.to_http_request().unwrap();
    ///     assert_eq!(req.uri().path(), "/search");
    ///     assert_eq!(req.uri().query(), Some("q=rust"));
    ///     assert_eq!(req.headers()["host"], "example.com");
    /// })
    /// .unwrap();
    /// ```
    pub fn to_http_request(&self) -> Result<http::Request<()>, RequestError> {
        let (target, version) = self.raw_target();
        let uri = http::Uri::try_from(target)
            .map_err(|e| RequestError::Malformed(format!("request-target: {e}")))?;
        let mut req = http::Request::new(());
        *req.method_mut() = self.http_method();
        *req.uri_mut() = uri;
        *req.version_mut() = match version {
            Version::Http10 => http::Version::HTTP_10,
            Version::Http11 => http::Version::HTTP_11,
        };
        *req.headers_mut() = self.headers();
        Ok(req)
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::TestRequest;

    #[test]
    fn odd_targets_and_dropped_headers() {
        TestRequest::new("PATCH", "http://example.com/caf\u{e9}?a={b}")
            .header("Host", "example.com")
            .header("X_Spoof", "1")
            .environ(|env| {
                let req = env.to_http_request().unwrap();
                assert_eq!(req.method(), http::Method::PATCH);
                assert_eq!(req.uri().path(), "/caf\u{e9}");
                assert_eq!(req.uri().query(), Some("a={b}"));
                assert_eq!(req.uri().host(), Some("example.com"));
                assert_eq!(req.headers().len(), 1);
            })
            .unwrap();
    }
}
