//! Testing apps and middleware without a socket: werkzeug's `test.Client`.
//!
//! [`TestClient`] sends each request through the same connection code that serves a
//! socket (head parsing and its limits, the environ, the app with panics caught, response
//! encoding), over in-memory bytes, and hands back what a client would have received.
//!
//! ```
//! use greenlight::testing::{TestClient, TestRequest};
//! use greenlight::wsgi::{Body, Environ, StartResponse};
//!
//! fn app(env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
//!     let body = env.input().read_body(1024).unwrap();
//!     start.status("200 OK").header("Content-Type", "text/plain");
//!     Body::from(format!("{} {} {}", env.method(), env.path(), body.len()))
//! }
//!
//! let client = TestClient::new(app);
//! let r = client.get("/hello?x=1");
//! assert_eq!((r.status(), r.text()), (200, "GET /hello 0".to_owned()));
//! assert_eq!(r.header("content-type"), Some("text/plain"));
//!
//! let r = client.request(TestRequest::new("POST", "/up").body("12345"));
//! assert_eq!(r.text(), "POST /up 5");
//! ```

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use crate::http::{Chunk, ChunkedDecoder};
use crate::wsgi::{run_exchange, with_environ, Environ, MemPeer, Service};
use crate::wsgi::{App, WsgiOptions};

/// A request to send with [`TestClient::request`].
#[derive(Debug, Clone)]
pub struct TestRequest {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    chunks: Option<Vec<Vec<u8>>>,
    peer: MemPeer,
}

impl TestRequest {
    /// A request with `method` for `target` (a path with an optional `?query`).
    pub fn new(method: &str, target: &str) -> Self {
        TestRequest {
            method: method.to_owned(),
            target: target.to_owned(),
            headers: Vec::new(),
            body: None,
            chunks: None,
            peer: MemPeer::default(),
        }
    }

    /// A GET for `target`.
    pub fn get(target: &str) -> Self {
        TestRequest::new("GET", target)
    }

    /// A POST to `target`.
    pub fn post(target: &str) -> Self {
        TestRequest::new("POST", target)
    }

    /// A PUT to `target`.
    pub fn put(target: &str) -> Self {
        TestRequest::new("PUT", target)
    }

    /// A PATCH to `target`.
    pub fn patch(target: &str) -> Self {
        TestRequest::new("PATCH", target)
    }

    /// A DELETE of `target`.
    pub fn delete(target: &str) -> Self {
        TestRequest::new("DELETE", target)
    }

    /// Sends the request from `peer` (`REMOTE_ADDR`, `REMOTE_PORT`, and the address
    /// `--forwarded-allow-ips` is checked against) instead of 127.0.0.1.
    ///
    /// ```
    /// use greenlight::testing::TestRequest;
    ///
    /// let req = TestRequest::get("/").peer("192.0.2.7:5555".parse().unwrap());
    /// let addr = req.environ(|env| env.get("REMOTE_ADDR").map(str::to_owned)).unwrap();
    /// assert_eq!(addr.as_deref(), Some("192.0.2.7"));
    /// ```
    pub fn peer(mut self, peer: SocketAddr) -> Self {
        self.peer.peer = Some(peer);
        self
    }

    /// Sends the request as from a unix socket's client: `REMOTE_ADDR` is empty, and the
    /// peer counts as local for `--forwarded-allow-ips`.
    pub fn unix_peer(mut self) -> Self {
        self.peer.peer = None;
        self
    }

    /// The address the request arrives at (`SERVER_NAME`, `SERVER_PORT`): `localhost:80`
    /// unless set.
    ///
    /// ```
    /// use greenlight::testing::TestRequest;
    ///
    /// let req = TestRequest::get("/").server("api.internal", 8000);
    /// let port = req.environ(|env| env.get("SERVER_PORT").map(str::to_owned)).unwrap();
    /// assert_eq!(port.as_deref(), Some("8000"));
    /// ```
    pub fn server(mut self, name: &str, port: u16) -> Self {
        self.peer.server = (name.to_owned(), port);
        self
    }

    /// Adds a cookie to the request's `Cookie` header.
    pub fn cookie(self, name: &str, value: &str) -> Self {
        let pair = cookie::Cookie::new(name, value).encoded().to_string();
        self.header("Cookie", &pair)
    }

    /// Sets a URL-encoded form body (`application/x-www-form-urlencoded`).
    ///
    /// ```
    /// use greenlight::testing::TestRequest;
    ///
    /// let req = TestRequest::post("/login").form(&[("user", "Jürgen"), ("pw", "a b&c")]);
    /// let text = String::from_utf8(req.to_bytes()).unwrap();
    /// assert!(text.ends_with("user=J%C3%BCrgen&pw=a+b%26c"));
    /// ```
    pub fn form<K: AsRef<str>, V: AsRef<str>>(self, fields: &[(K, V)]) -> Self {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields.iter().map(|(k, v)| (k.as_ref(), v.as_ref())))
            .finish();
        self.header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
    }

    /// Sets a JSON body (`application/json`).
    ///
    /// ```
    /// use greenlight::testing::TestRequest;
    ///
    /// let req = TestRequest::post("/todos").json(&serde_json::json!({"title": "milk"}));
    /// assert!(String::from_utf8(req.to_bytes()).unwrap().ends_with(r#"{"title":"milk"}"#));
    /// ```
    #[cfg(feature = "json")]
    pub fn json<T: serde::Serialize + ?Sized>(self, value: &T) -> Self {
        let body = serde_json::to_vec(value).expect("a test's JSON value serializes");
        self.header("Content-Type", "application/json").body(body)
    }

    /// Adds a header (`Host: localhost` is sent unless one is given).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets the body, sent with its `Content-Length`.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Sets the body as these pieces, sent with `Transfer-Encoding: chunked`.
    pub fn chunks<I, C>(mut self, chunks: I) -> Self
    where
        I: IntoIterator<Item = C>,
        C: Into<Vec<u8>>,
    {
        self.chunks = Some(chunks.into_iter().map(Into::into).collect());
        self
    }

    /// Builds the environ the server would give an app for this request (from
    /// 127.0.0.1, to `localhost:80`), with its body readable from `wsgi.input`, and hands
    /// it to `f`: for unit tests of middleware and helpers, without an app.
    ///
    /// ```
    /// use greenlight::testing::TestRequest;
    /// let req = TestRequest::get("/a%20b?x=1").header("X-Forwarded-For", "10.0.0.1");
    /// let (path, xff) = req
    ///     .environ(|env| (env.path().to_owned(), env.get("HTTP_X_FORWARDED_FOR").map(str::to_owned)))
    ///     .unwrap();
    /// assert_eq!((path.as_str(), xff.as_deref()), ("/a b", Some("10.0.0.1")));
    /// ```
    ///
    /// # Errors
    ///
    /// The server's refusal ([`crate::http::Error`], with its status) for a request it
    /// would not pass to an app (a malformed head, a bad `Host`).
    pub fn environ<R>(
        &self,
        f: impl FnOnce(&mut Environ<'_>) -> R,
    ) -> Result<R, crate::http::Error> {
        with_environ(&self.to_bytes(), &self.peer, f)
    }

    /// The request as a client sends it.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("{} {} HTTP/1.1\r\n", self.method, self.target).into_bytes();
        let has = |n: &str| self.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(n));
        if !has("host") {
            out.extend_from_slice(b"Host: localhost\r\n");
        }
        for (k, v) in &self.headers {
            out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
        }
        match (&self.body, &self.chunks) {
            (_, Some(chunks)) => {
                out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
                for c in chunks.iter().filter(|c| !c.is_empty()) {
                    out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
                    out.extend_from_slice(c);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"0\r\n\r\n");
            }
            (Some(b), None) => {
                if !has("content-length") {
                    out.extend_from_slice(format!("Content-Length: {}\r\n", b.len()).as_bytes());
                }
                out.extend_from_slice(b"\r\n");
                out.extend_from_slice(b);
            }
            (None, None) => out.extend_from_slice(b"\r\n"),
        }
        out
    }
}

/// What the client received: status, headers and the whole body (a streamed body
/// collected, chunked framing removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestResponse {
    status: u16,
    reason: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    raw: Vec<u8>,
}

impl TestResponse {
    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The reason phrase of the status line.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The first header named `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every header, in order, as sent.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON.
    ///
    /// # Panics
    ///
    /// If the body is not JSON of type `T` (the message shows the body).
    #[cfg(feature = "json")]
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not the JSON expected ({e}): {}", self.text()))
    }

    /// Every byte the server sent, interim responses included.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }
}

/// Calls an app as a client would, over in-memory bytes (see the module doc).
///
/// Like a browser (and werkzeug's client), it keeps the cookies the app sets and sends
/// them back with later requests; a cookie the app expires is forgotten.
///
/// ```
/// use greenlight::testing::TestClient;
/// use greenlight::wsgi::{Body, Cookie, Environ, StartResponse};
///
/// fn app(env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
///     start.status(200);
///     match env.path() {
///         "/login" => {
///             start.set_cookie(&Cookie::new("user", "ann"));
///             Body::empty()
///         }
///         _ => Body::from(env.get("HTTP_COOKIE").unwrap_or("").to_owned()),
///     }
/// }
///
/// let client = TestClient::new(app);
/// client.get("/login");
/// assert_eq!(client.cookie("user").as_deref(), Some("ann"));
/// assert_eq!(client.get("/me").text(), "user=ann");
/// ```
pub struct TestClient<A: App> {
    svc: Arc<Service<A>>,
    jar: Mutex<Vec<(String, String)>>,
}

impl<A: App> TestClient<A> {
    /// A client of `app` under the default options.
    pub fn new(app: A) -> Self {
        TestClient::with_options(app, &WsgiOptions::default())
    }

    /// A client of `app` under `opts` (limits, maximum body size, ...).
    pub fn with_options(app: A, opts: &WsgiOptions) -> Self {
        TestClient {
            svc: Arc::new(Service::new(app, opts, None, None)),
            jar: Mutex::new(Vec::new()),
        }
    }

    /// Sends a GET for `target`.
    pub fn get(&self, target: &str) -> TestResponse {
        self.request(TestRequest::get(target))
    }

    /// Sends `req` on a new connection (from 127.0.0.1 unless [`TestRequest::peer`] says
    /// otherwise), with the cookies kept so far, and returns the response.
    ///
    /// # Panics
    ///
    /// If the server's answer is not a well-formed HTTP/1.1 response: that is a bug in
    /// greenlight, not in the app.
    pub fn request(&self, req: TestRequest) -> TestResponse {
        let head_only = req.method.eq_ignore_ascii_case("HEAD");
        let peer = req.peer.clone();
        let cookies = self.cookie_header();
        let req = match cookies {
            Some(c) => req.header("Cookie", &c),
            None => req,
        };
        let r = self.exchange(&req.to_bytes(), head_only, &peer);
        self.keep_cookies(&r);
        r
    }

    /// Sends raw bytes (a malformed request, say) from 127.0.0.1 and returns the first
    /// final response. No cookies are added. `head_only` says the request was a `HEAD`, so
    /// that the response is read as headers without a body (its `Content-Length` is the
    /// length a `GET` would get).
    ///
    /// ```
    /// use greenlight::testing::TestClient;
    /// use greenlight::wsgi::{app_fn, Body};
    ///
    /// let client = TestClient::new(app_fn(|_env, start| {
    ///     start.status(200);
    ///     Body::from("hello")
    /// }));
    /// let r = client.send(b"GET / HTTP/1.0\r\n\r\n", false);
    /// assert_eq!((r.status(), r.text().as_str()), (200, "hello"));
    /// let r = client.send(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", true);
    /// assert_eq!((r.header("content-length"), r.body()), (Some("5"), &b""[..]));
    /// assert_eq!(client.send(b"GET / HTTP/1.1\r\n\r\n", false).status(), 400); // no Host
    /// ```
    pub fn send(&self, raw: &[u8], head_only: bool) -> TestResponse {
        self.exchange(raw, head_only, &MemPeer::default())
    }

    /// The value of the cookie `name` the app has set, if the client holds it.
    pub fn cookie(&self, name: &str) -> Option<String> {
        let jar = self.jar.lock().unwrap_or_else(|e| e.into_inner());
        jar.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
    }

    /// Forgets every cookie.
    pub fn clear_cookies(&self) {
        self.jar.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    fn exchange(&self, raw: &[u8], head_only: bool, peer: &MemPeer) -> TestResponse {
        // On a green thread of its own, as a served connection runs: green sleeps park,
        // and request deadlines apply.
        let (svc, raw_owned, peer_owned) = (self.svc.clone(), raw.to_vec(), peer.clone());
        let out = crate::spawn(move || run_exchange(&svc, &raw_owned, &peer_owned))
            .join()
            .unwrap_or_else(|e| panic!("the in-memory connection failed: {e}"));
        parse_response(out, head_only)
            .unwrap_or_else(|e| panic!("malformed response from the server: {e}"))
    }

    fn cookie_header(&self) -> Option<String> {
        let jar = self.jar.lock().unwrap_or_else(|e| e.into_inner());
        let pairs: Vec<String> = jar
            .iter()
            .map(|(n, v)| {
                cookie::Cookie::new(n.as_str(), v.as_str())
                    .encoded()
                    .to_string()
            })
            .collect();
        (!pairs.is_empty()).then(|| pairs.join("; "))
    }

    fn keep_cookies(&self, r: &TestResponse) {
        let mut jar = self.jar.lock().unwrap_or_else(|e| e.into_inner());
        for (k, v) in &r.headers {
            if !k.eq_ignore_ascii_case("set-cookie") {
                continue;
            }
            let Ok(c) = cookie::Cookie::parse_encoded(v.as_str()) else {
                continue;
            };
            jar.retain(|(n, _)| n != c.name());
            let expired = c.max_age().is_some_and(|a| a.is_zero() || a.is_negative())
                || c.expires_datetime()
                    .is_some_and(|t| t < cookie::time::OffsetDateTime::now_utc());
            if !expired {
                jar.push((c.name().to_owned(), c.value().to_owned()));
            }
        }
    }
}

/// Parses the first final (non-1xx) response in `raw`.
fn parse_response(raw: Vec<u8>, head_only: bool) -> Result<TestResponse, String> {
    let mut at = 0;
    loop {
        let end = find(&raw[at..], b"\r\n\r\n").ok_or("no complete head")? + at;
        let head = std::str::from_utf8(&raw[at..end]).map_err(|e| e.to_string())?;
        let mut lines = head.split("\r\n");
        let status_line = lines.next().ok_or("empty head")?;
        let mut parts = status_line.splitn(3, ' ');
        let (_, code, reason) = (parts.next(), parts.next(), parts.next().unwrap_or(""));
        let status: u16 = code
            .and_then(|c| c.parse().ok())
            .ok_or(format!("bad status line {status_line:?}"))?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
            .collect();
        let rest = &raw[end + 4..];
        if status == 101 {
            // The connection left HTTP: what follows is the new protocol's.
            let (body, reason) = (rest.to_vec(), reason.to_owned());
            return Ok(TestResponse {
                status,
                reason,
                headers,
                body,
                raw,
            });
        }
        if (100..200).contains(&status) {
            at = end + 4;
            continue;
        }
        let body = body_of(&headers, rest, head_only || status == 204 || status == 304)?;
        let reason = reason.to_owned();
        return Ok(TestResponse {
            status,
            reason,
            headers,
            body,
            raw,
        });
    }
}

/// The body after a head with `headers`: by Content-Length, chunked, or to the end.
fn body_of(headers: &[(String, String)], rest: &[u8], none: bool) -> Result<Vec<u8>, String> {
    let get = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.as_str())
    };
    if none {
        return Ok(Vec::new());
    }
    if get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        let (mut d, mut out, mut at) = (ChunkedDecoder::new(), Vec::new(), 0);
        loop {
            match d.decode(&rest[at..]).map_err(|e| e.to_string())? {
                (used, Chunk::Data(r)) => {
                    out.extend_from_slice(&rest[at + r.start..at + r.end]);
                    at += used;
                }
                (_, Chunk::End) => return Ok(out),
                (used, Chunk::More) if used > 0 => at += used,
                (_, Chunk::More) => return Err("chunked body cut short".into()),
            }
        }
    }
    match get("content-length") {
        Some(n) => {
            let n: usize = n.parse().map_err(|_| format!("bad Content-Length {n:?}"))?;
            rest.get(..n)
                .map(<[u8]>::to_vec)
                .ok_or_else(|| "body shorter than its Content-Length".to_owned())
        }
        None => Ok(rest.to_vec()),
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wsgi::{Body, Environ, StartResponse};

    fn echo(env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
        let body = env.input().read_body(1 << 20).unwrap_or_default();
        match env.path() {
            "/stream" => {
                start.status("200 OK");
                Body::stream(["a", "b", "c"])
            }
            "/reader" => {
                start.status("200 OK");
                Body::reader(std::io::Cursor::new(b"from a reader".to_vec()), None)
            }
            "/boom" => panic!("boom"),
            _ => {
                start
                    .status("201 Created")
                    .header("X-Method", env.method().to_owned());
                Body::from(body)
            }
        }
    }

    #[test]
    fn bodies_go_in_and_come_back_whole() {
        let c = TestClient::new(echo);
        let r = c.request(TestRequest::new("PUT", "/x").body("payload"));
        assert_eq!((r.status(), r.reason()), (201, "Created"));
        assert_eq!(
            (r.header("x-method"), r.text().as_str()),
            (Some("PUT"), "payload")
        );
        let r = c.request(TestRequest::new("POST", "/x").chunks(["ab", "", "cde"]));
        assert_eq!(r.text(), "abcde");
    }

    #[test]
    fn streamed_and_reader_bodies_are_collected() {
        let c = TestClient::new(echo);
        let r = c.get("/stream");
        assert_eq!(r.header("transfer-encoding"), Some("chunked"));
        assert_eq!(r.text(), "abc");
        assert_eq!(c.get("/reader").text(), "from a reader");
    }

    #[test]
    fn head_has_no_body_and_a_panic_is_a_500() {
        let c = TestClient::new(echo);
        let r = c.request(TestRequest::new("HEAD", "/x"));
        assert_eq!((r.status(), r.body()), (201, &b""[..]));
        assert_eq!(c.get("/boom").status(), 500);
    }

    #[test]
    fn the_server_rules_apply() {
        let opts = WsgiOptions {
            max_body: Some(3),
            ..WsgiOptions::default()
        };
        let c = TestClient::with_options(echo, &opts);
        assert_eq!(
            c.request(TestRequest::new("POST", "/").body("four"))
                .status(),
            413
        );
        assert_eq!(
            c.send(b"GET / HTTP/1.1\r\n\r\n", false).status(),
            400,
            "no Host"
        );
        let r = c.request(
            TestRequest::new("POST", "/")
                .header("Expect", "100-continue")
                .body("ok"),
        );
        // The body came with the head: no need to ask for it.
        assert!(r.raw().starts_with(b"HTTP/1.1 201 Created\r\n"));
        assert_eq!((r.status(), r.text().as_str()), (201, "ok"));
    }

    #[test]
    fn a_bare_environ_reads_like_the_servers() {
        let req = TestRequest::new("POST", "/p?q=1").chunks(["he", "llo"]);
        let (method, query, body) = req
            .environ(|env| {
                let body = env.input().read_body(100).unwrap();
                (env.method().to_owned(), env.query().to_owned(), body)
            })
            .unwrap();
        assert_eq!((method.as_str(), query.as_str()), ("POST", "q=1"));
        assert_eq!(body, b"hello");
        let no_host = TestRequest::get("/").header("Host", "a b");
        assert_eq!(no_host.environ(|_| ()).unwrap_err().status(), 400);
    }

    #[test]
    fn interim_responses_are_skipped() {
        let raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
        let r = parse_response(raw.to_vec(), false).unwrap();
        assert_eq!((r.status(), r.text().as_str()), (200, "hi"));
        assert!(parse_response(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhi".to_vec(),
            false
        )
        .is_err());
    }
}
