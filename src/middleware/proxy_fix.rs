//! `ProxyFix`: werkzeug's middleware that believes the `X-Forwarded-*` headers of a known
//! number of proxies, plus RFC 7239 `Forwarded`, `X-Real-IP`, an allowlist of proxy
//! addresses, and validation of every value it takes.

use std::net::{IpAddr, SocketAddr};

use crate::http::chars::is_tchar;
use crate::http::host::{self, HostCheck};
use crate::net::AllowList;
use crate::wsgi::{App, Body, Environ, StartResponse};

/// The environ as the server saw it, before [`ProxyFix`] rewrote it: werkzeug's
/// `werkzeug.proxy_fix.orig`. Read it with `env.extension::<ProxyFixOrig>()`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyFixOrig {
    /// `REMOTE_ADDR`: the proxy's address.
    pub remote_addr: Option<String>,
    /// `wsgi.url_scheme`.
    pub scheme: Option<String>,
    /// `HTTP_HOST`.
    pub host: Option<String>,
    /// `SERVER_NAME`.
    pub server_name: Option<String>,
    /// `SERVER_PORT`.
    pub server_port: Option<String>,
    /// `SCRIPT_NAME`.
    pub script_name: Option<String>,
}

/// Rewrites the environ from the headers the trusted proxies in front of the app added.
///
/// Each count says how many proxies set that header; the value used is the one the
/// nearest of them added, that is the `n`-th from the right of the comma-separated list
/// (werkzeug's rule). A list shorter than `n` is not believed at all: it did not pass
/// through as many proxies as configured.
///
/// | setting | header | rewrites | default |
/// |---|---|---|---|
/// | [`x_for`](ProxyFix::x_for) | `X-Forwarded-For` | `REMOTE_ADDR` | 1 |
/// | [`x_proto`](ProxyFix::x_proto) | `X-Forwarded-Proto` | `wsgi.url_scheme` | 1 |
/// | [`x_host`](ProxyFix::x_host) | `X-Forwarded-Host` | `HTTP_HOST`, `SERVER_NAME`, `SERVER_PORT` | 0 |
/// | [`x_port`](ProxyFix::x_port) | `X-Forwarded-Port` | `HTTP_HOST`, `SERVER_PORT` | 0 |
/// | [`x_prefix`](ProxyFix::x_prefix) | `X-Forwarded-Prefix` | `SCRIPT_NAME` | 0 |
/// | [`forwarded`](ProxyFix::forwarded) | `Forwarded` (RFC 7239) | `REMOTE_ADDR`, `wsgi.url_scheme`, `HTTP_HOST`... | 0 |
/// | [`x_real_ip`](ProxyFix::x_real_ip) | `X-Real-IP` | `REMOTE_ADDR` | off |
///
/// Beyond werkzeug:
///
/// - [`trusted`](ProxyFix::trusted): only requests from these peers are rewritten; from
///   any other peer the headers are ignored (and left in the environ as the client sent
///   them). Unix-socket peers (empty `REMOTE_ADDR`) are local and always trusted.
/// - Every value is checked before it is believed: an address must be an IP address, a
///   scheme `http` or `https`, a host a host name or address with an optional port, a port
///   a number in 1..=65535, a prefix a path. A malformed value is ignored and logged as a
///   warning (it came from a proxy that is supposed to be trusted).
///
/// The environ before the rewrite is kept as a [`ProxyFixOrig`] extension.
///
/// **Trust only as many hops as you really have.** With `x_for(1)` behind one nginx, a
/// client's own `X-Forwarded-For: 6.6.6.6` ends up left of the address nginx appends, and
/// is ignored. With `x_for(2)` behind that same single nginx, the client picks its address.
///
/// # Examples
///
/// ```
/// use greenlight::middleware::ProxyFix;
/// use greenlight::wsgi::{Body, Environ, StartResponse};
///
/// fn app(env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
///     let who = env.get("REMOTE_ADDR").unwrap_or("").to_owned();
///     start.status("200 OK");
///     Body::from(who)
/// }
///
/// // Behind one nginx that sets X-Forwarded-For, -Proto and -Host, on this host only.
/// let app = ProxyFix::new(app)
///     .x_host(1)
///     .trusted("127.0.0.1,::1".parse().unwrap());
/// # fn assert_app<A: greenlight::wsgi::App>(_: A) {}
/// # assert_app(app);
/// // greenlight::run(app);
/// ```
#[derive(Debug, Clone)]
pub struct ProxyFix<A> {
    app: A,
    x_for: usize,
    x_proto: usize,
    x_host: usize,
    x_port: usize,
    x_prefix: usize,
    forwarded: usize,
    x_real_ip: bool,
    trusted: Option<AllowList>,
}

impl<A: App> ProxyFix<A> {
    /// Wraps `app` with werkzeug's defaults: `x_for(1)`, `x_proto(1)`, the rest off, and
    /// every peer trusted.
    pub fn new(app: A) -> Self {
        ProxyFix {
            app,
            x_for: 1,
            x_proto: 1,
            x_host: 0,
            x_port: 0,
            x_prefix: 0,
            forwarded: 0,
            x_real_ip: false,
            trusted: None,
        }
    }

    /// How many proxies set `X-Forwarded-For` (0: ignore it).
    pub fn x_for(mut self, n: usize) -> Self {
        self.x_for = n;
        self
    }

    /// How many proxies set `X-Forwarded-Proto`.
    pub fn x_proto(mut self, n: usize) -> Self {
        self.x_proto = n;
        self
    }

    /// How many proxies set `X-Forwarded-Host`.
    pub fn x_host(mut self, n: usize) -> Self {
        self.x_host = n;
        self
    }

    /// How many proxies set `X-Forwarded-Port`.
    pub fn x_port(mut self, n: usize) -> Self {
        self.x_port = n;
        self
    }

    /// How many proxies set `X-Forwarded-Prefix`.
    pub fn x_prefix(mut self, n: usize) -> Self {
        self.x_prefix = n;
        self
    }

    /// How many proxies add an element to RFC 7239's `Forwarded`. Its `for`, `proto` and
    /// `host` parameters, from the element the nearest trusted proxy added, are applied
    /// after (and so win over) the `X-Forwarded-*` headers.
    ///
    /// A `for=unknown` or obfuscated (`for=_hidden`) node leaves `REMOTE_ADDR` as it is:
    /// RFC 7239 §6.2: "the proxy does not know the identifier" / §6.3: "the proxy [...]
    /// wishes to hide" it.
    pub fn forwarded(mut self, n: usize) -> Self {
        self.forwarded = n;
        self
    }

    /// Takes `REMOTE_ADDR` from `X-Real-IP` (nginx's `proxy_set_header X-Real-IP
    /// $remote_addr`), a single address set by the nearest proxy. It wins over
    /// `X-Forwarded-For` when both are usable.
    pub fn x_real_ip(mut self, yes: bool) -> Self {
        self.x_real_ip = yes;
        self
    }

    /// Rewrites only requests whose peer (`REMOTE_ADDR` as the server saw it) is in
    /// `list`; from other peers the forwarding headers are ignored.
    pub fn trusted(mut self, list: AllowList) -> Self {
        self.trusted = Some(list);
        self
    }

    fn is_trusted(&self, env: &Environ<'_>) -> bool {
        let Some(list) = &self.trusted else {
            return true;
        };
        match env.get("REMOTE_ADDR") {
            // A unix-socket peer: only a local process can be there.
            None | Some("") => true,
            Some(a) => a.parse::<IpAddr>().is_ok_and(|ip| list.contains(ip)),
        }
    }

    /// Applies the headers to `env` (what [`App::call`] does before calling the app).
    pub fn fix(&self, env: &mut Environ<'_>) {
        let owned = |k: &str| env.get(k).map(str::to_owned);
        let orig = ProxyFixOrig {
            remote_addr: owned("REMOTE_ADDR"),
            scheme: owned("wsgi.url_scheme"),
            host: owned("HTTP_HOST"),
            server_name: owned("SERVER_NAME"),
            server_port: owned("SERVER_PORT"),
            script_name: owned("SCRIPT_NAME"),
        };
        env.extensions_mut().insert(orig);
        if !self.is_trusted(env) {
            return;
        }
        if let Some(v) = nth_from_right(env.get("HTTP_X_FORWARDED_FOR"), self.x_for) {
            match parse_addr(v) {
                Some(ip) => env.set("REMOTE_ADDR", ip.to_string()),
                None => invalid("X-Forwarded-For", v),
            }
        }
        if self.x_real_ip {
            if let Some(v) = env.get("HTTP_X_REAL_IP").map(str::trim) {
                match parse_addr(v) {
                    Some(ip) => env.set("REMOTE_ADDR", ip.to_string()),
                    None => invalid("X-Real-IP", v),
                }
            }
        }
        if let Some(v) = nth_from_right(env.get("HTTP_X_FORWARDED_PROTO"), self.x_proto) {
            match parse_scheme(v) {
                Some(s) => env.set("wsgi.url_scheme", s),
                None => invalid("X-Forwarded-Proto", v),
            }
        }
        if let Some(v) = nth_from_right(env.get("HTTP_X_FORWARDED_HOST"), self.x_host) {
            let v = v.to_owned();
            set_host(env, "X-Forwarded-Host", &v);
        }
        if let Some(v) = nth_from_right(env.get("HTTP_X_FORWARDED_PORT"), self.x_port) {
            match parse_port(v) {
                Some(port) => {
                    let port = port.to_string();
                    if let Some(host) = env.get("HTTP_HOST").filter(|h| !h.is_empty()) {
                        let host = format!("{}:{port}", split_host(host).0);
                        env.set("HTTP_HOST", host);
                    }
                    env.set("SERVER_PORT", port);
                }
                None => invalid("X-Forwarded-Port", v),
            }
        }
        if let Some(v) = nth_from_right(env.get("HTTP_X_FORWARDED_PREFIX"), self.x_prefix) {
            match valid_prefix(v) {
                Some(p) => env.set("SCRIPT_NAME", p.to_owned()),
                None => invalid("X-Forwarded-Prefix", v),
            }
        }
        if self.forwarded > 0 {
            self.apply_forwarded(env);
        }
    }

    fn apply_forwarded(&self, env: &mut Environ<'_>) {
        let Some(header) = env.get("HTTP_FORWARDED").map(str::to_owned) else {
            return;
        };
        let Some(elements) = parse_forwarded(&header) else {
            invalid("Forwarded", &header);
            return;
        };
        if elements.len() < self.forwarded {
            return;
        }
        let element = &elements[elements.len() - self.forwarded];
        for (name, value) in element {
            match name.as_str() {
                "for" => match parse_node(value) {
                    Node::Ip(ip) => env.set("REMOTE_ADDR", ip.to_string()),
                    Node::Hidden => {}
                    Node::Invalid => invalid("Forwarded for", value),
                },
                "proto" => match parse_scheme(value) {
                    Some(s) => env.set("wsgi.url_scheme", s),
                    None => invalid("Forwarded proto", value),
                },
                "host" => set_host(env, "Forwarded host", value),
                // "by" names the proxy's own interface: nothing in the environ for it.
                _ => {}
            }
        }
    }
}

impl<A: App> App for ProxyFix<A> {
    fn call(&self, env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
        self.fix(env);
        self.app.call(env, start)
    }
}

fn invalid(what: &str, value: &str) {
    log::warn!("ProxyFix: ignoring a malformed {what} value {value:?}");
}

/// werkzeug's `_get_real_value`: the `n`-th value from the right, if there are that many.
fn nth_from_right(header: Option<&str>, n: usize) -> Option<&str> {
    if n == 0 {
        return None;
    }
    let header = header?;
    let count = header.split(',').count();
    if count < n {
        return None;
    }
    header.split(',').nth(count - n).map(str::trim)
}

/// An address from `X-Forwarded-For` or `X-Real-IP`: a bare IP address, an IPv6 address
/// in brackets, or either with a port (some load balancers add one; it is dropped).
fn parse_addr(v: &str) -> Option<IpAddr> {
    if let Ok(ip) = v.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(inner) = v.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        return inner.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6);
    }
    v.parse::<SocketAddr>().ok().map(|a| a.ip())
}

/// A scheme is `http` or `https` (any case): anything else would let a proxy's typo, or a
/// client, invent schemes the app builds URLs with.
fn parse_scheme(v: &str) -> Option<&'static str> {
    if v.eq_ignore_ascii_case("https") {
        Some("https")
    } else if v.eq_ignore_ascii_case("http") {
        Some("http")
    } else {
        None
    }
}

/// A port number in 1..=65535.
fn parse_port(v: &str) -> Option<u16> {
    host::parse_port(v.as_bytes())
}

/// Splits `host[:port]` (werkzeug: "`]` to check for IPv6 address without port").
fn split_host(v: &str) -> (&str, Option<&str>) {
    match host::port_colon(v.as_bytes()) {
        Some(i) => (&v[..i], Some(&v[i + 1..])),
        None => (v, None),
    }
}

/// RFC 9110 §7.2's `Host = uri-host [ ":" port ]`, held to [`HostCheck::Value`]: a
/// reg-name (letters, digits and `-._~!$&'()*;=+` or percent escapes, no comma) or an IPv6
/// address in brackets, then a port in 1..=65535.
fn valid_host(v: &str) -> bool {
    host::is_host_port(v.as_bytes(), HostCheck::Value)
}

/// Sets `HTTP_HOST` and `SERVER_NAME` (and `SERVER_PORT` when a port is given), as
/// werkzeug does for `X-Forwarded-Host`.
fn set_host(env: &mut Environ<'_>, what: &str, v: &str) {
    if !valid_host(v) {
        invalid(what, v);
        return;
    }
    env.set("HTTP_HOST", v.to_owned());
    let (name, port) = split_host(v);
    env.set("SERVER_NAME", name.to_owned());
    if let Some(p) = port {
        env.set("SERVER_PORT", p.to_owned());
    }
}

/// A prefix is a path: it starts with `/` and holds no whitespace or control characters.
fn valid_prefix(v: &str) -> Option<&str> {
    let ok = v.starts_with('/') && v.bytes().all(|b| b.is_ascii_graphic() || b >= 0x80);
    // werkzeug keeps the prefix as sent; a trailing `/` would double the slash before
    // PATH_INFO, so it is dropped.
    ok.then(|| v.trim_end_matches('/'))
}

/// What a `for` node says (RFC 7239 §6).
#[derive(Debug, PartialEq, Eq)]
enum Node {
    Ip(IpAddr),
    /// `unknown` or an obfuscated identifier (`_abc`).
    Hidden,
    Invalid,
}

/// RFC 7239 §6: `node = nodename [ ":" node-port ]`, `nodename = IPv4address /
/// "[" IPv6address "]" / "unknown" / obfnode`. "Note that as ":" and "[]" are not valid
/// characters in "token", IPv6 addresses are written as "quoted-string"."
fn parse_node(v: &str) -> Node {
    let (name, port) = if let Some(rest) = v.strip_prefix('[') {
        match rest.split_once(']') {
            Some((inner, "")) => (inner, None),
            Some((inner, p)) => match p.strip_prefix(':') {
                Some(p) => (inner, Some(p)),
                None => return Node::Invalid,
            },
            None => return Node::Invalid,
        }
    } else {
        match v.split_once(':') {
            Some((n, p)) => (n, Some(p)),
            None => (v, None),
        }
    };
    // node-port = port / obfport; obfport = "_" 1*(ALPHA / DIGIT / "." / "_" / "-")
    if let Some(p) = port {
        let obf = p
            .strip_prefix('_')
            .is_some_and(|o| !o.is_empty() && o.bytes().all(obf_char));
        if !obf && parse_port(p).is_none() {
            return Node::Invalid;
        }
    }
    if name.eq_ignore_ascii_case("unknown") {
        return Node::Hidden;
    }
    if let Some(o) = name.strip_prefix('_') {
        return if !o.is_empty() && o.bytes().all(obf_char) {
            Node::Hidden
        } else {
            Node::Invalid
        };
    }
    let bracketed = v.starts_with('[');
    match name.parse::<IpAddr>() {
        Ok(IpAddr::V6(a)) if bracketed => Node::Ip(IpAddr::V6(a)),
        Ok(IpAddr::V4(a)) if !bracketed => Node::Ip(IpAddr::V4(a)),
        _ => Node::Invalid,
    }
}

fn obf_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-'
}

/// Parses RFC 7239 §4: `Forwarded = 1#forwarded-element`, `forwarded-element =
/// [ forwarded-pair ] *( ";" [ forwarded-pair ] )`, `forwarded-pair = token "=" value`,
/// `value = token / quoted-string`. Parameter names are lowercased ("case-insensitive").
/// `None` if malformed: a header that does not parse is not believed in any part.
fn parse_forwarded(s: &str) -> Option<Vec<Vec<(String, String)>>> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut elements = vec![Vec::new()];
    let skip_ows = |i: &mut usize| {
        while *i < b.len() && (b[*i] == b' ' || b[*i] == b'\t') {
            *i += 1;
        }
    };
    loop {
        skip_ows(&mut i);
        if i == b.len() {
            break;
        }
        match b[i] {
            b',' => {
                elements.push(Vec::new());
                i += 1;
                continue;
            }
            b';' => {
                i += 1;
                continue;
            }
            _ => {}
        }
        let start = i;
        while i < b.len() && is_tchar(b[i]) {
            i += 1;
        }
        if i == start || b.get(i) != Some(&b'=') {
            return None;
        }
        let name = s[start..i].to_ascii_lowercase();
        i += 1;
        let value = if b.get(i) == Some(&b'"') {
            // quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE
            i += 1;
            let mut v = String::new();
            loop {
                match b.get(i)? {
                    b'"' => {
                        i += 1;
                        break;
                    }
                    b'\\' => {
                        let c = *b.get(i + 1)?;
                        v.push(c as char);
                        i += 2;
                    }
                    &c if c == b'\t' || c >= 0x20 && c != 0x7f => {
                        v.push(c as char);
                        i += 1;
                    }
                    _ => return None,
                }
            }
            v
        } else {
            let vs = i;
            while i < b.len() && is_tchar(b[i]) {
                i += 1;
            }
            if i == vs {
                return None;
            }
            s[vs..i].to_owned()
        };
        skip_ows(&mut i);
        if i < b.len() && b[i] != b';' && b[i] != b',' {
            return None;
        }
        elements
            .last_mut()
            .expect("one element at least")
            .push((name, value));
    }
    Some(elements)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestRequest;

    /// Runs `fix` over a request with `headers`, from peer `remote`, and returns the keys
    /// under test and the originals.
    fn run(
        fix: &ProxyFix<fn(&mut Environ<'_>, StartResponse<'_>) -> Body>,
        remote: &str,
        headers: &str,
    ) -> (Vec<(String, Option<String>)>, ProxyFixOrig) {
        let mut req = TestRequest::get("/p")
            .server("127.0.0.1", 8000)
            .header("Host", "backend:8000");
        req = match remote.parse() {
            Ok(ip) => req.peer(std::net::SocketAddr::new(ip, 5555)),
            Err(_) => req.unix_peer(),
        };
        for line in headers.split("\r\n").filter(|l| !l.is_empty()) {
            let (k, v) = line.split_once(": ").unwrap();
            req = req.header(k, v);
        }
        req.environ(|env| fixed(fix, env)).unwrap()
    }

    fn fixed(
        fix: &ProxyFix<fn(&mut Environ<'_>, StartResponse<'_>) -> Body>,
        env: &mut Environ<'_>,
    ) -> (Vec<(String, Option<String>)>, ProxyFixOrig) {
        fix.fix(env);
        let keys = [
            "REMOTE_ADDR",
            "wsgi.url_scheme",
            "HTTP_HOST",
            "SERVER_NAME",
            "SERVER_PORT",
            "SCRIPT_NAME",
        ];
        let got = keys
            .iter()
            .map(|k| (k.to_string(), env.get(k).map(str::to_owned)))
            .collect();
        let orig = env
            .extension::<ProxyFixOrig>()
            .cloned()
            .expect("originals kept");
        (got, orig)
    }

    fn noop(_: &mut Environ<'_>, _: StartResponse<'_>) -> Body {
        Body::empty()
    }

    fn fix() -> ProxyFix<fn(&mut Environ<'_>, StartResponse<'_>) -> Body> {
        ProxyFix::new(noop as fn(&mut Environ<'_>, StartResponse<'_>) -> Body)
    }

    fn get<'a>(got: &'a [(String, Option<String>)], k: &str) -> Option<&'a str> {
        got.iter()
            .find(|(n, _)| n == k)
            .and_then(|(_, v)| v.as_deref())
    }

    #[test]
    fn defaults_take_for_and_proto_from_one_proxy() {
        let (got, orig) = run(&fix(), "10.0.0.1", "X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: example.com\r\n");
        assert_eq!(get(&got, "REMOTE_ADDR"), Some("192.0.2.7"));
        assert_eq!(get(&got, "wsgi.url_scheme"), Some("https"));
        // x_host is 0 by default.
        assert_eq!(get(&got, "HTTP_HOST"), Some("backend:8000"));
        assert_eq!(orig.remote_addr.as_deref(), Some("10.0.0.1"));
        assert_eq!(orig.scheme.as_deref(), Some("http"));
        assert_eq!(orig.host.as_deref(), Some("backend:8000"));
        assert_eq!(orig.server_port.as_deref(), Some("8000"));
        assert_eq!(orig.script_name.as_deref(), Some(""));
    }

    #[test]
    fn spoofed_x_forwarded_for_is_left_of_the_trusted_entry() {
        // The client sent "6.6.6.6"; nginx appended the real client address.
        let (got, _) = run(
            &fix(),
            "127.0.0.1",
            "X-Forwarded-For: 6.6.6.6, 192.0.2.7\r\n",
        );
        assert_eq!(get(&got, "REMOTE_ADDR"), Some("192.0.2.7"));
        // Two proxies: the second from the right.
        let (got, _) = run(
            &fix().x_for(2),
            "127.0.0.1",
            "X-Forwarded-For: 6.6.6.6, 192.0.2.7, 10.0.0.2\r\n",
        );
        assert_eq!(get(&got, "REMOTE_ADDR"), Some("192.0.2.7"));
        // Fewer values than trusted proxies: not believed at all.
        let (got, _) = run(&fix().x_for(2), "127.0.0.1", "X-Forwarded-For: 6.6.6.6\r\n");
        assert_eq!(get(&got, "REMOTE_ADDR"), Some("127.0.0.1"));
        // A repeated header is one list (the environ joins them with ",").
        let (got, _) = run(
            &fix(),
            "127.0.0.1",
            "X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-For: 192.0.2.7\r\n",
        );
        assert_eq!(get(&got, "REMOTE_ADDR"), Some("192.0.2.7"));
    }

    #[test]
    fn host_port_and_prefix() {
        let f = fix().x_host(1).x_port(1).x_prefix(1);
        let (got, _) = run(
            &f,
            "127.0.0.1",
            "X-Forwarded-Host: evil, example.com:8443\r\n",
        );
        assert_eq!(get(&got, "HTTP_HOST"), Some("example.com:8443"));
        assert_eq!(get(&got, "SERVER_NAME"), Some("example.com"));
        assert_eq!(get(&got, "SERVER_PORT"), Some("8443"));
        let (got, _) = run(&f, "127.0.0.1", "X-Forwarded-Host: [2001:db8::1]\r\n");
        assert_eq!(get(&got, "SERVER_NAME"), Some("[2001:db8::1]"));
        assert_eq!(get(&got, "SERVER_PORT"), Some("8000"));
        let (got, _) = run(
            &f,
            "127.0.0.1",
            "X-Forwarded-Host: example.com\r\nX-Forwarded-Port: 443\r\n",
        );
        assert_eq!(get(&got, "HTTP_HOST"), Some("example.com:443"));
        assert_eq!(get(&got, "SERVER_PORT"), Some("443"));
        let (got, _) = run(&f, "127.0.0.1", "X-Forwarded-Port: 8080\r\n");
        assert_eq!(get(&got, "HTTP_HOST"), Some("backend:8080"));
        let (got, _) = run(&f, "127.0.0.1", "X-Forwarded-Prefix: /app/\r\n");
        assert_eq!(get(&got, "SCRIPT_NAME"), Some("/app"));
    }

    #[test]
    fn malformed_values_are_ignored() {
        let f = fix().x_host(1).x_port(1).x_prefix(1);
        let (got, _) = run(
            &f,
            "127.0.0.1",
            "X-Forwarded-For: not-an-ip\r\nX-Forwarded-Proto: javascript\r\n\
             X-Forwarded-Host: a b/c\r\nX-Forwarded-Port: 99999\r\nX-Forwarded-Prefix: app\r\n",
        );
        assert_eq!(get(&got, "REMOTE_ADDR"), Some("127.0.0.1"));
        assert_eq!(get(&got, "wsgi.url_scheme"), Some("http"));
        assert_eq!(get(&got, "HTTP_HOST"), Some("backend:8000"));
        assert_eq!(get(&got, "SERVER_PORT"), Some("8000"));
        assert_eq!(get(&got, "SCRIPT_NAME"), Some(""));
        for bad in [
            "example.com:0",
            "example.com:x",
            "[::1",
            "[nope]:80",
            "a@b",
            "",
        ] {
            assert!(!valid_host(bad), "{bad}");
        }
        for good in [
            "example.com",
            "EXAMPLE.com:1",
            "[::1]:8080",
            "10.0.0.1",
            "xn--bcher-kva.example",
        ] {
            assert!(valid_host(good), "{good}");
        }
    }

    #[test]
    fn addresses_with_brackets_and_ports() {
        assert_eq!(parse_addr("2001:db8::1"), "2001:db8::1".parse().ok());
        assert_eq!(parse_addr("[2001:db8::1]"), "2001:db8::1".parse().ok());
        assert_eq!(parse_addr("[2001:db8::1]:443"), "2001:db8::1".parse().ok());
        assert_eq!(parse_addr("192.0.2.1:443"), "192.0.2.1".parse().ok());
        assert_eq!(parse_addr("192.0.2.256"), None);
        assert_eq!(parse_addr("unknown"), None);
    }

    #[test]
    fn allowlist_ignores_other_peers() {
        let f = fix().trusted("10.0.0.0/8".parse().unwrap());
        let h = "X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: https\r\n";
        let (got, _) = run(&f, "10.1.1.1", h);
        assert_eq!(get(&got, "REMOTE_ADDR"), Some("192.0.2.7"));
        let (got, orig) = run(&f, "203.0.113.5", h);
        assert_eq!(get(&got, "REMOTE_ADDR"), Some("203.0.113.5"));
        assert_eq!(get(&got, "wsgi.url_scheme"), Some("http"));
        assert_eq!(orig.remote_addr.as_deref(), Some("203.0.113.5"));
        // A unix-socket peer is local.
        let (got, _) = run(&f, "", h);
        assert_eq!(get(&got, "REMOTE_ADDR"), Some("192.0.2.7"));
    }

    #[test]
    fn x_real_ip() {
        let h = "X-Real-IP: 192.0.2.9\r\nX-Forwarded-For: 192.0.2.7\r\n";
        let (got, _) = run(&fix(), "127.0.0.1", h);
        assert_eq!(
            get(&got, "REMOTE_ADDR"),
            Some("192.0.2.7"),
            "off by default"
        );
        let (got, _) = run(&fix().x_real_ip(true), "127.0.0.1", h);
        assert_eq!(get(&got, "REMOTE_ADDR"), Some("192.0.2.9"));
        let (got, _) = run(
            &fix().x_for(0).x_real_ip(true),
            "127.0.0.1",
            "X-Real-IP: nope\r\n",
        );
        assert_eq!(get(&got, "REMOTE_ADDR"), Some("127.0.0.1"));
    }

    #[test]
    fn forwarded_header() {
        let f = fix().x_for(0).x_proto(0).forwarded(1);
        let (got, _) = run(
            &f,
            "127.0.0.1",
            "Forwarded: for=6.6.6.6;proto=http, for=\"[2001:db8:cafe::17]:4711\";proto=https;host=\"example.com:8443\";by=_proxy\r\n",
        );
        assert_eq!(get(&got, "REMOTE_ADDR"), Some("2001:db8:cafe::17"));
        assert_eq!(get(&got, "wsgi.url_scheme"), Some("https"));
        assert_eq!(get(&got, "HTTP_HOST"), Some("example.com:8443"));
        assert_eq!(get(&got, "SERVER_PORT"), Some("8443"));
        // Two hops; parameter names are case-insensitive.
        let (got, _) = run(
            &f.clone().forwarded(2),
            "127.0.0.1",
            "Forwarded: For=192.0.2.60;Proto=https, for=10.0.0.2\r\n",
        );
        assert_eq!(get(&got, "REMOTE_ADDR"), Some("192.0.2.60"));
        assert_eq!(get(&got, "wsgi.url_scheme"), Some("https"));
        // unknown and obfuscated nodes leave REMOTE_ADDR alone.
        for h in [
            "for=unknown",
            "for=_hidden",
            "for=\"_x:_port\"",
            "for=\"unknown:80\"",
        ] {
            let (got, _) = run(&f, "127.0.0.1", &format!("Forwarded: {h}\r\n"));
            assert_eq!(get(&got, "REMOTE_ADDR"), Some("127.0.0.1"), "{h}");
        }
        // Malformed: not believed in any part.
        for h in [
            "for=192.0.2.1;proto=https;x",
            "for=[::1]",
            "for=\"::1\"",
            "for=\"[::1]x\"",
            "for=1.2.3.4;proto=\"unterminated",
            "=x",
            "for",
        ] {
            let (got, _) = run(&f, "127.0.0.1", &format!("Forwarded: {h}\r\n"));
            assert_eq!(get(&got, "REMOTE_ADDR"), Some("127.0.0.1"), "{h}");
        }
        // Fewer elements than trusted hops.
        let (got, _) = run(
            &f.clone().forwarded(2),
            "127.0.0.1",
            "Forwarded: for=6.6.6.6\r\n",
        );
        assert_eq!(get(&got, "REMOTE_ADDR"), Some("127.0.0.1"));
        // Forwarded wins over X-Forwarded-For when both are enabled.
        let (got, _) = run(
            &fix().forwarded(1),
            "127.0.0.1",
            "X-Forwarded-For: 192.0.2.1\r\nForwarded: for=192.0.2.2\r\n",
        );
        assert_eq!(get(&got, "REMOTE_ADDR"), Some("192.0.2.2"));
    }

    #[test]
    fn forwarded_parser() {
        assert_eq!(
            parse_forwarded("for=a;by=\"b\\\"c\" , proto=https").unwrap(),
            vec![
                vec![
                    ("for".to_owned(), "a".to_owned()),
                    ("by".to_owned(), "b\"c".to_owned())
                ],
                vec![("proto".to_owned(), "https".to_owned())],
            ]
        );
        assert!(parse_forwarded("for=a b").is_none());
        assert!(parse_forwarded("for=").is_none());
    }
}
