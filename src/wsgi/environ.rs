//! `Environ`: the request as WSGI's CGI-style variables, computed from the parsed head
//! only when asked.

use std::any::{Any, TypeId};
use std::borrow::Cow;
use std::cell::{OnceCell, RefCell, RefMut};
use std::collections::HashMap;
use std::fmt;

use std::time::Instant;

use super::input::Input;
use crate::green::Deadline;
use crate::http::request::{RequestHead, Version};

/// Per-connection facts shared by every request on it (formatted once per connection).
#[derive(Debug, Clone, Default)]
pub struct ConnInfo {
    /// `REMOTE_ADDR`: the peer's IP address (empty for unix sockets).
    pub remote_addr: String,
    /// `REMOTE_PORT`.
    pub remote_port: String,
    /// `SERVER_NAME`: the listening address's host.
    pub server_name: String,
    /// `SERVER_PORT`.
    pub server_port: String,
    /// `wsgi.url_scheme`: `http` or `https`.
    pub scheme: &'static str,
    /// `SCRIPT_NAME`: where the app is mounted (empty at the root).
    pub script_name: String,
    /// `PROXY_ADDR`: with `--proxy-protocol`, the proxy's address the client connected to
    /// (from the PROXY header); `REMOTE_ADDR` is then the client's.
    pub proxy_addr: Option<String>,
    /// `PROXY_PORT`: the port of [`ConnInfo::proxy_addr`].
    pub proxy_port: Option<String>,
}

/// The request, read like a WSGI environ.
///
/// Keys are computed from the request head when asked, without copying it:
///
/// | key | value |
/// |---|---|
/// | `REQUEST_METHOD` | `GET`, `POST`, ... |
/// | `SCRIPT_NAME` | where the app is mounted (`""` at the root) |
/// | `PATH_INFO` | the path, percent-decoded |
/// | `QUERY_STRING` | what follows `?`, as sent (`""` if none) |
/// | `REQUEST_URI`, `RAW_URI` | the request-target exactly as sent |
/// | `SERVER_PROTOCOL` | `HTTP/1.0` or `HTTP/1.1` |
/// | `CONTENT_TYPE`, `CONTENT_LENGTH` | from those headers, when present |
/// | `HTTP_*` | every other header: `X-Forwarded-For` is `HTTP_X_FORWARDED_FOR`; repeated headers are joined with `,` (`Cookie` headers with `; `) |
/// | `SERVER_NAME`, `SERVER_PORT` | the listening address |
/// | `REMOTE_ADDR`, `REMOTE_PORT` | the peer (the client named by a PROXY header, with `--proxy-protocol`) |
/// | `PROXY_ADDR`, `PROXY_PORT` | with a PROXY header only: the proxy's address the client connected to |
/// | `wsgi.url_scheme` | `http` or `https` (`X-Forwarded-Proto` and friends from a peer in `--forwarded-allow-ips`) |
///
/// As in PEP 3333, bytes outside ASCII are decoded as latin-1 (each byte one `char`), so no
/// input is lost or rejected; [`Environ::header_bytes`] and [`Environ::path_bytes`] give raw
/// bytes. Header names containing `_` are dropped (as gunicorn and gevent do), so a client
/// cannot send `X_Forwarded_For` to pose as a proxy's `X-Forwarded-For`.
///
/// Middleware may [`set`](Environ::set) or [`remove`](Environ::remove) any key, and store
/// typed values in [`extensions`](Environ::extensions_mut).
pub struct Environ<'a> {
    buf: &'a [u8],
    head: &'a RequestHead,
    conn: &'a ConnInfo,
    /// Keys set or removed by the server or middleware (`None`: removed). Checked first.
    vars: Vec<(Cow<'static, str>, Option<String>)>,
    /// The CGI keys of repeated headers and non-ASCII values, with their owned values:
    /// made when a header is first looked up (an app that reads none never pays for them).
    folded: OnceCell<Vec<(String, String)>>,
    path_info: OnceCell<String>,
    raw_target: OnceCell<String>,
    query: OnceCell<String>,
    extensions: Option<HashMap<TypeId, Box<dyn Any + Send>>>,
    input: RefCell<Input<'a>>,
    /// The request's deadline, with `--request-timeout`.
    deadline: Option<&'a Deadline>,
}

/// Decodes bytes as latin-1 (borrowing when they are ASCII).
pub(crate) fn latin1(b: &[u8]) -> Cow<'_, str> {
    if b.is_ascii() {
        Cow::Borrowed(std::str::from_utf8(b).expect("ASCII is UTF-8"))
    } else {
        Cow::Owned(b.iter().map(|&c| c as char).collect())
    }
}

fn ascii(b: &[u8]) -> Option<&str> {
    if b.is_ascii() {
        std::str::from_utf8(b).ok()
    } else {
        None
    }
}

/// Whether a header name maps to the CGI key suffix `key` (`X-Forwarded-For` ~ `X_FORWARDED_FOR`).
#[inline]
fn name_matches(name: &[u8], key: &[u8]) -> bool {
    name.len() == key.len()
        && name.iter().zip(key).all(|(&n, &k)| {
            let n = if n == b'-' {
                b'_'
            } else {
                n.to_ascii_uppercase()
            };
            n == k
        })
}

/// Whether the server keeps this header out of the environ.
#[inline]
fn is_dropped(name: &[u8]) -> bool {
    name.contains(&b'_')
}

/// Percent-decodes a path. Invalid escapes are kept as they are (as gunicorn does).
pub(crate) fn percent_decode(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' && i + 2 < s.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(s[i + 1]), hex(s[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

impl<'a> Environ<'a> {
    pub(crate) fn new(
        buf: &'a [u8],
        head: &'a RequestHead,
        conn: &'a ConnInfo,
        input: Input<'a>,
    ) -> Self {
        Environ {
            buf,
            head,
            conn,
            vars: Vec::new(),
            folded: OnceCell::new(),
            path_info: OnceCell::new(),
            raw_target: OnceCell::new(),
            query: OnceCell::new(),
            extensions: None,
            input: RefCell::new(input),
            deadline: None,
        }
    }

    /// Repeated headers and non-ASCII values need an owned value: computed once, when a
    /// header is first looked up. The common request (ASCII, no repeats) allocates nothing.
    fn folded(&self) -> &[(String, String)] {
        self.folded.get_or_init(|| self.fold_headers())
    }

    fn fold_headers(&self) -> Vec<(String, String)> {
        let mut folded = Vec::new();
        let hs = &self.head.headers;
        // Names that can be equal share a (length, first letter) bucket: only names in a
        // shared bucket are compared with the others, so the usual request (no repeats)
        // costs one pass instead of comparing every pair.
        let bucket = |name: &[u8]| {
            (name.len().wrapping_mul(31)
                + name.first().map_or(0, |c| c.to_ascii_lowercase()) as usize)
                % 64
        };
        // One bit per bucket, in registers: `shared` marks the buckets seen twice.
        let (mut seen, mut shared) = (0u64, 0u64);
        for h in hs {
            let bit = 1u64 << bucket(h.name.get(self.buf));
            shared |= seen & bit;
            seen |= bit;
        }
        for (i, h) in hs.iter().enumerate() {
            let name = h.name.get(self.buf);
            if is_dropped(name) {
                continue;
            }
            let maybe_repeated = shared & (1u64 << bucket(name)) != 0;
            let repeated = maybe_repeated
                && hs[..i]
                    .iter()
                    .any(|p| p.name.get(self.buf).eq_ignore_ascii_case(name));
            if repeated {
                continue; // folded when its first occurrence was seen
            }
            let later = maybe_repeated
                && hs[i + 1..]
                    .iter()
                    .any(|p| p.name.get(self.buf).eq_ignore_ascii_case(name));
            let value = h.value.get(self.buf);
            if !later && value.is_ascii() {
                continue;
            }
            let key = match cgi_key_of(name) {
                Some(k) => k,
                None => continue,
            };
            let mut joined = latin1(value).into_owned();
            // Cookie headers join with "; " (RFC 9113 §8.2.3), others with ",".
            let sep = if key == "HTTP_COOKIE" { "; " } else { "," };
            if later && !key.starts_with("CONTENT_") {
                for p in &hs[i + 1..] {
                    if p.name.get(self.buf).eq_ignore_ascii_case(name) {
                        joined.push_str(sep);
                        joined.push_str(&latin1(p.value.get(self.buf)));
                    }
                }
            }
            folded.push((key, joined));
        }
        folded
    }

    /// The value of `key`, if set.
    ///
    /// ```
    /// # use greenlight::wsgi::{Body, Environ, StartResponse};
    /// fn app(env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
    ///     let agent = env.get("HTTP_USER_AGENT").unwrap_or("unknown").to_owned();
    ///     start.status("200 OK");
    ///     Body::from(agent)
    /// }
    /// ```
    pub fn get(&self, key: &str) -> Option<&str> {
        if let Some((_, v)) = self.vars.iter().rev().find(|(k, _)| k == key) {
            return v.as_deref();
        }
        self.computed(key)
    }

    fn computed(&self, key: &str) -> Option<&str> {
        let buf = self.buf;
        match key {
            "REQUEST_METHOD" => ascii(self.head.method.get(buf)),
            "SCRIPT_NAME" => Some(&self.conn.script_name),
            "PATH_INFO" => Some(self.path_info()),
            "QUERY_STRING" => Some(self.query_str()),
            "REQUEST_URI" | "RAW_URI" => self.target_str(),
            "SERVER_PROTOCOL" => Some(match self.head.version {
                Version::Http10 => "HTTP/1.0",
                Version::Http11 => "HTTP/1.1",
            }),
            "SERVER_NAME" => Some(&self.conn.server_name),
            "SERVER_PORT" => Some(&self.conn.server_port),
            "REMOTE_ADDR" => Some(&self.conn.remote_addr),
            "REMOTE_PORT" => Some(&self.conn.remote_port),
            "wsgi.url_scheme" => Some(self.conn.scheme),
            "PROXY_ADDR" => self.conn.proxy_addr.as_deref(),
            "PROXY_PORT" => self.conn.proxy_port.as_deref(),
            "CONTENT_TYPE" => self.header_str(b"CONTENT_TYPE"),
            "CONTENT_LENGTH" => self.header_str(b"CONTENT_LENGTH"),
            _ => {
                let suffix = key.strip_prefix("HTTP_")?;
                if suffix == "CONTENT_TYPE" || suffix == "CONTENT_LENGTH" {
                    return None;
                }
                self.header_str(suffix.as_bytes())
            }
        }
    }

    fn header_str(&self, key: &[u8]) -> Option<&str> {
        let cgi_suffix = |k: &str| match k.strip_prefix("HTTP_") {
            Some(rest) => rest.as_bytes() == key,
            None => k.as_bytes() == key,
        };
        if let Some((_, v)) = self.folded().iter().find(|(k, _)| cgi_suffix(k)) {
            return Some(v);
        }
        let h = self.head.headers.iter().find(|h| {
            let n = h.name.get(self.buf);
            !is_dropped(n) && name_matches(n, key)
        })?;
        // Non-ASCII and repeated values were folded above.
        ascii(h.value.get(self.buf))
    }

    fn target_bytes(&self) -> &'a [u8] {
        self.head.target.get(self.buf)
    }

    fn target_str(&self) -> Option<&str> {
        match ascii(self.target_bytes()) {
            Some(s) => Some(s),
            // Rare: a non-ASCII request-target, decoded once.
            None => Some(
                self.raw_target
                    .get_or_init(|| latin1(self.target_bytes()).into_owned()),
            ),
        }
    }

    /// The request-target without a fragment: RFC 3986 §3.5 ends the path and query at
    /// `#`, and what follows is no part of either (gunicorn splits it off too). Clients do
    /// not send one; when one comes it stays in `REQUEST_URI`.
    fn target_without_fragment(&self) -> &'a [u8] {
        let t = self.target_bytes();
        match t.iter().position(|&c| c == b'#') {
            Some(f) => &t[..f],
            None => t,
        }
    }

    /// The path part of the request-target (before `?`), still percent-encoded.
    fn raw_path(&self) -> &'a [u8] {
        let t = self.target_without_fragment();
        let t = match t.iter().position(|&c| c == b'?') {
            Some(q) => &t[..q],
            None => t,
        };
        // absolute-form: `scheme://authority/path` -> `/path`, whatever the scheme's case
        // (RFC 3986 §3.1: "schemes are case-insensitive"); the parser accepted the
        // authority. An origin-form path starts with `/`, so holds no such prefix.
        if t.first() != Some(&b'/') && self.head.method.get(self.buf) != b"CONNECT" {
            if let Some(i) = t.windows(3).position(|w| w == b"://") {
                let rest = &t[i + 3..];
                return match rest.iter().position(|&c| c == b'/') {
                    Some(p) => &rest[p..],
                    None => b"/",
                };
            }
        }
        t
    }

    fn query_str(&self) -> &str {
        let t = self.target_without_fragment();
        match t.iter().position(|&c| c == b'?') {
            Some(q) => match ascii(&t[q + 1..]) {
                Some(s) => s,
                None => self.query.get_or_init(|| latin1(&t[q + 1..]).into_owned()),
            },
            None => "",
        }
    }

    fn path_info(&self) -> &str {
        let raw = self.raw_path();
        if !raw.contains(&b'%') {
            if let Some(s) = ascii(raw) {
                return s;
            }
        }
        self.path_info
            .get_or_init(|| latin1(&percent_decode(raw)).into_owned())
    }

    /// The percent-decoded path as raw bytes (decode them as UTF-8 if the app expects it).
    pub fn path_bytes(&self) -> Cow<'a, [u8]> {
        let raw = self.raw_path();
        if raw.contains(&b'%') {
            Cow::Owned(percent_decode(raw))
        } else {
            Cow::Borrowed(raw)
        }
    }

    /// Every header as sent (name, value), but those whose names the environ drops.
    pub(crate) fn raw_headers(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + '_ {
        let buf = self.buf;
        self.head
            .headers
            .iter()
            .map(move |h| (h.name.get(buf), h.value.get(buf)))
            .filter(|(n, _)| !is_dropped(n))
    }

    /// The request-target as sent, and the protocol version.
    pub(crate) fn raw_target(&self) -> (&'a [u8], Version) {
        (self.target_bytes(), self.head.version)
    }

    /// The raw bytes of the first header named `name` (any case), as sent.
    pub fn header_bytes(&self, name: &str) -> Option<&'a [u8]> {
        let buf = self.buf;
        self.head
            .headers
            .iter()
            .find(|h| h.name.get(buf).eq_ignore_ascii_case(name.as_bytes()))
            .map(|h| h.value.get(buf))
    }

    /// Sets `key` (replacing any value, computed or set).
    pub fn set(&mut self, key: impl Into<Cow<'static, str>>, value: impl Into<String>) {
        let key = key.into();
        self.vars.retain(|(k, _)| *k != key);
        self.vars.push((key, Some(value.into())));
    }

    /// Removes `key`; `get` returns `None` for it afterwards.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let old = self.get(key).map(str::to_owned);
        self.vars.retain(|(k, _)| k != key);
        self.vars.push((Cow::Owned(key.to_owned()), None));
        old
    }

    /// Whether `key` has a value.
    pub fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Every key with its value, sorted by key (allocates: for debugging and echo apps).
    pub fn to_vec(&self) -> Vec<(String, String)> {
        let mut keys: Vec<Cow<'_, str>> = [
            "REQUEST_METHOD",
            "SCRIPT_NAME",
            "PATH_INFO",
            "QUERY_STRING",
            "REQUEST_URI",
            "RAW_URI",
            "SERVER_PROTOCOL",
            "SERVER_NAME",
            "SERVER_PORT",
            "REMOTE_ADDR",
            "REMOTE_PORT",
            "wsgi.url_scheme",
            "PROXY_ADDR",
            "PROXY_PORT",
            "CONTENT_TYPE",
            "CONTENT_LENGTH",
        ]
        .into_iter()
        .map(Cow::Borrowed)
        .collect();
        for h in &self.head.headers {
            if let Some(k) = cgi_key_of(h.name.get(self.buf)) {
                keys.push(Cow::Owned(k));
            }
        }
        keys.extend(self.vars.iter().map(|(k, _)| Cow::Borrowed(k.as_ref())));
        keys.sort();
        keys.dedup();
        keys.into_iter()
            .filter_map(|k| {
                let v = self.get(&k)?.to_owned();
                Some((k.into_owned(), v))
            })
            .collect()
    }

    /// `wsgi.input`: the request body, read lazily from the connection.
    ///
    /// It takes `&self`, so a handler can hold the path (or any other `&str` from the
    /// environ) while it reads the body:
    ///
    /// ```
    /// # use greenlight::wsgi::{Body, Environ, StartResponse};
    /// use std::io::Read;
    ///
    /// fn app(env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
    ///     let path = env.path(); // borrowed, not copied
    ///     let mut body = String::new();
    ///     let _ = env.input().read_to_string(&mut body);
    ///     start.status(200);
    ///     Body::from(format!("{path}: {} bytes", body.len()))
    /// }
    /// ```
    ///
    /// # Panics
    ///
    /// If the input is already borrowed (a second `input()` while the first guard lives).
    pub fn input(&self) -> RefMut<'_, Input<'a>> {
        self.input.borrow_mut()
    }

    /// Ties the request's deadline to the environ.
    pub(crate) fn set_deadline(&mut self, d: &'a Deadline) {
        self.deadline = Some(d);
    }

    /// When the server cancels this request's handler (`--request-timeout`,
    /// [`WsgiOptions::request_timeout`](super::WsgiOptions::request_timeout)); `None`:
    /// never.
    ///
    /// ```
    /// # use greenlight::wsgi::{Body, Environ, StartResponse};
    /// fn app(env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
    ///     let left = env.request_deadline().map(|d| d - std::time::Instant::now());
    ///     start.status(200);
    ///     Body::from(format!("{left:?}"))
    /// }
    /// ```
    pub fn request_deadline(&self) -> Option<Instant> {
        self.deadline.and_then(Deadline::get)
    }

    /// Moves this request's deadline: shorter (a cheap endpoint that should never take
    /// long) or longer (an export known to be slow), or `None` for none. Only where the
    /// server runs with a request timeout; elsewhere it does nothing. A
    /// [`Timeout`](crate::Timeout) inside the handler still bounds its own scope.
    ///
    /// ```
    /// # use greenlight::wsgi::{Body, Environ, StartResponse};
    /// use std::time::{Duration, Instant};
    ///
    /// fn export(env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
    ///     env.set_request_deadline(Some(Instant::now() + Duration::from_secs(300)));
    ///     start.status(200);
    ///     Body::from("a slow report\n")
    /// }
    /// ```
    pub fn set_request_deadline(&self, at: Option<Instant>) {
        if let Some(d) = self.deadline {
            d.set(at);
        }
    }

    /// A typed value stored by the server or a middleware.
    pub fn extension<T: Any + Send>(&self) -> Option<&T> {
        self.extensions
            .as_ref()?
            .get(&TypeId::of::<T>())?
            .downcast_ref()
    }

    /// Typed values: store one with `env.extensions_mut().insert(..)`.
    pub fn extensions_mut(&mut self) -> Extensions<'_> {
        Extensions {
            map: self.extensions.get_or_insert_with(HashMap::new),
        }
    }

    /// The request method.
    pub fn method(&self) -> &str {
        self.get("REQUEST_METHOD").unwrap_or("")
    }

    /// `PATH_INFO`.
    pub fn path(&self) -> &str {
        self.get("PATH_INFO").unwrap_or("")
    }

    /// `QUERY_STRING`.
    pub fn query(&self) -> &str {
        self.get("QUERY_STRING").unwrap_or("")
    }
}

/// A mutable view of an environ's typed values.
pub struct Extensions<'e> {
    map: &'e mut HashMap<TypeId, Box<dyn Any + Send>>,
}

impl Extensions<'_> {
    /// Stores `value`, returning the previous value of that type.
    pub fn insert<T: Any + Send>(&mut self, value: T) -> Option<T> {
        self.map
            .insert(TypeId::of::<T>(), Box::new(value))
            .and_then(|b| b.downcast().ok().map(|b| *b))
    }

    /// The value of type `T`, mutably.
    pub fn get_mut<T: Any + Send>(&mut self) -> Option<&mut T> {
        self.map.get_mut(&TypeId::of::<T>())?.downcast_mut()
    }

    /// Removes the value of type `T`.
    pub fn remove<T: Any + Send>(&mut self) -> Option<T> {
        self.map
            .remove(&TypeId::of::<T>())
            .and_then(|b| b.downcast().ok().map(|b| *b))
    }
}

/// The CGI key of a header (`HTTP_X_FOO`, or `CONTENT_TYPE`/`CONTENT_LENGTH`); `None` for
/// dropped names.
pub(crate) fn cgi_key_of(name: &[u8]) -> Option<String> {
    if is_dropped(name) {
        return None;
    }
    let upper: String = name
        .iter()
        .map(|&c| {
            if c == b'-' {
                '_'
            } else {
                c.to_ascii_uppercase() as char
            }
        })
        .collect();
    if upper == "CONTENT_TYPE" || upper == "CONTENT_LENGTH" {
        Some(upper)
    } else {
        Some(format!("HTTP_{upper}"))
    }
}

impl fmt::Debug for Environ<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.to_vec()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::request::{HeadStatus, Limits};

    fn with_env(raw: &[u8], f: impl FnOnce(&mut Environ<'_>)) {
        let mut head = RequestHead::new();
        let n = match head.parse(raw, &Limits::default()).unwrap() {
            HeadStatus::Complete(n) => n,
            HeadStatus::Partial => panic!("partial"),
        };
        let conn = ConnInfo {
            scheme: "http",
            ..ConnInfo::default()
        };
        let mut env = Environ::new(&raw[..n], &head, &conn, Input::empty());
        f(&mut env);
    }

    #[test]
    fn repeated_headers_fold_and_odd_bytes_decode_as_latin1() {
        with_env(
            b"GET /a%20b?q=1 HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nAccept: b\r\nx-a: 2\r\nX_A: spoof\r\n\
              X-B: caf\xc3\xa9\r\nX-AB: 3\r\nX-C: 4\r\nX-A: 5\r\n\r\n",
            |env| {
                assert_eq!(env.get("HTTP_X_A"), Some("1,2,5"));
                assert_eq!(env.get("HTTP_ACCEPT"), Some("b"));
                assert_eq!(env.get("HTTP_X_B"), Some("caf\u{c3}\u{a9}"));
                assert_eq!(env.get("HTTP_X_AB"), Some("3"));
                assert_eq!(env.get("HTTP_X_C"), Some("4"));
                assert_eq!(env.get("PATH_INFO"), Some("/a b"));
                assert_eq!(env.get("QUERY_STRING"), Some("q=1"));
                assert_eq!(env.get("REQUEST_URI"), Some("/a%20b?q=1"));
                // The underscore header never shows, folded or not.
                assert!(!env.to_vec().iter().any(|(_, v)| v.contains("spoof")));
            },
        );
    }

    #[test]
    fn a_fragment_is_no_part_of_the_path_or_the_query() {
        // (target, PATH_INFO, QUERY_STRING), as gunicorn's urlsplit gives them.
        let cases: [(&str, &str, &str); 5] = [
            ("/a#frag", "/a", ""),
            (
                "/forums/1/topics/2375?page=1#posts-17408",
                "/forums/1/topics/2375",
                "page=1",
            ),
            ("/x#f?y=1", "/x", ""),
            ("http://a/x#f", "/x", ""),
            ("/p%23q?r=%23", "/p#q", "r=%23"),
        ];
        for (target, path, query) in cases {
            assert_path_and_query(target, path, query);
        }
    }

    /// `GET target` gives `PATH_INFO` `path` and `QUERY_STRING` `query`, and keeps the
    /// target whole in `REQUEST_URI`.
    fn assert_path_and_query(target: &str, path: &str, query: &str) {
        let raw = format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n");
        with_env(raw.as_bytes(), |env| {
            assert_eq!(env.get("PATH_INFO"), Some(path), "{target}");
            assert_eq!(env.get("QUERY_STRING"), Some(query), "{target}");
            assert_eq!(env.get("REQUEST_URI"), Some(target), "kept whole");
        });
    }

    #[test]
    fn absolute_form_gives_its_path_whatever_the_scheme_and_its_case() {
        let cases: [(&str, &str, &str); 6] = [
            ("http://a/x?q", "/x", "q"),
            ("HTTP://a/x", "/x", ""),
            ("Https://a/x?y", "/x", "y"),
            ("ws://a/x", "/x", ""),
            ("http://a", "/", ""),
            ("http://a?q=/b", "/", "q=/b"),
        ];
        for (target, path, query) in cases {
            assert_path_and_query(target, path, query);
        }
        // An origin-form path holding `://` is a path.
        assert_path_and_query("/to/http://b", "/to/http://b", "");
    }

    #[test]
    fn middleware_can_set_and_remove_keys() {
        with_env(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", |env| {
            env.set("HTTP_HOST", "b");
            assert_eq!(env.get("HTTP_HOST"), Some("b"));
            assert_eq!(env.remove("HTTP_HOST").as_deref(), Some("b"));
            assert_eq!(env.get("HTTP_HOST"), None);
            env.extensions_mut().insert(7u32);
            assert_eq!(env.extension::<u32>(), Some(&7));
        });
    }
}
