//! The server behind a proxy, over real sockets: the PROXY protocol (`--proxy-protocol`,
//! `--proxy-allow-ips`) and gunicorn's secure-scheme headers (`--forwarded-allow-ips`).

mod common;

use std::time::Duration;

use common::http::{connect, Response};

use greenlight::config::Config;
use greenlight::server::ServerHandle;
use greenlight::wsgi::{Body, Environ, StartResponse, WsgiOptions, WsgiServer};

const KEYS: [&str; 5] = [
    "REMOTE_ADDR",
    "REMOTE_PORT",
    "PROXY_ADDR",
    "PROXY_PORT",
    "wsgi.url_scheme",
];

/// Answers `KEY=value` lines for the keys under test (`-` when unset).
fn app(env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
    let mut out = String::new();
    for k in KEYS {
        out.push_str(&format!("{k}={}\n", env.get(k).unwrap_or("-")));
    }
    start.status("200 OK").header("Content-Type", "text/plain");
    Body::from(out)
}

fn server(adjust: impl FnOnce(&mut Config)) -> (ServerHandle, u16) {
    let mut config = Config {
        binds: vec!["127.0.0.1:0".to_owned()],
        ..Config::default()
    };
    adjust(&mut config);
    let opts = WsgiOptions::try_from(&config).unwrap();
    let srv = WsgiServer::new(config.binds, app)
        .options(opts)
        .start()
        .unwrap();
    let port = srv.local_addr().port().unwrap();
    (srv, port)
}

/// Sends `raw` (one request, or a PROXY header and one) on a new connection and reads
/// the response; the connection must close after it.
fn exchange(port: u16, raw: &[u8]) -> Response {
    let mut c = connect(port);
    c.send(raw);
    let r = c.read_response().unwrap();
    assert!(c.is_closed(), "the connection closes after {r:?}");
    r
}

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

fn with(pre: &[u8], req: &[u8]) -> Vec<u8> {
    [pre, req].concat()
}

#[test]
fn proxy_v1_sets_the_client_and_the_proxy() {
    let (srv, port) = server(|c| c.proxy_protocol = true);
    let out = exchange(
        port,
        &with(b"PROXY TCP4 203.0.113.7 192.0.2.1 40000 443\r\n", GET),
    );
    assert_eq!(out.status, 200, "{out:?}");
    assert!(out.text().contains("REMOTE_ADDR=203.0.113.7\n"), "{out:?}");
    assert!(out.text().contains("REMOTE_PORT=40000\n"), "{out:?}");
    assert!(out.text().contains("PROXY_ADDR=192.0.2.1\n"), "{out:?}");
    assert!(out.text().contains("PROXY_PORT=443\n"), "{out:?}");
    srv.stop(Duration::from_secs(1));
}

#[test]
fn proxy_header_holds_for_every_request_of_the_connection() {
    let (srv, port) = server(|c| c.proxy_protocol = true);
    let ka = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    let raw = [
        &b"PROXY TCP6 2001:db8::7 2001:db8::1 40000 80\r\n"[..],
        ka,
        GET,
    ]
    .concat();
    let mut c = connect(port);
    c.send(&raw);
    for _ in 0..2 {
        let out = c.read_response().unwrap();
        assert!(out.text().contains("REMOTE_ADDR=2001:db8::7\n"), "{out:?}");
    }
    assert!(c.is_closed());
    srv.stop(Duration::from_secs(1));
}

#[test]
fn proxy_v2_and_local() {
    let (srv, port) = server(|c| c.proxy_protocol = true);
    let mut v2 = b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c".to_vec();
    v2.extend_from_slice(&[198, 51, 100, 9, 192, 0, 2, 1, 0x30, 0x39, 0x01, 0xbb]);
    let out = exchange(port, &with(&v2, GET));
    assert!(out.text().contains("REMOTE_ADDR=198.51.100.9\n"), "{out:?}");
    assert!(out.text().contains("REMOTE_PORT=12345\n"), "{out:?}");
    assert!(out.text().contains("PROXY_PORT=443\n"), "{out:?}");
    // LOCAL (a health check from the proxy itself): the real endpoints stand.
    let local = b"\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00";
    let out = exchange(port, &with(local, GET));
    assert!(out.text().contains("REMOTE_ADDR=127.0.0.1\n"), "{out:?}");
    assert!(out.text().contains("PROXY_ADDR=-\n"), "{out:?}");
    srv.stop(Duration::from_secs(1));
}

#[test]
fn no_proxy_header_is_an_ordinary_request() {
    // gunicorn accepts a connection without the header (its corpus's valid/pp_03).
    let (srv, port) = server(|c| c.proxy_protocol = true);
    let out = exchange(port, GET);
    assert_eq!(out.status, 200, "{out:?}");
    assert!(out.text().contains("REMOTE_ADDR=127.0.0.1\n"), "{out:?}");
    srv.stop(Duration::from_secs(1));
}

#[test]
fn malformed_proxy_header_is_refused() {
    let (srv, port) = server(|c| c.proxy_protocol = true);
    for bad in [
        &b"PROXY TCP4 192.168.0.1 192.168.0.11 65iii 100000\r\n"[..],
        b"PROXY TCP4 not-an-ip 192.168.0.11 56324 443\r\n",
        b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x04\x01\x02\x03\x04",
    ] {
        let out = exchange(port, &with(bad, GET));
        assert_eq!(out.status, 400, "{out:?}");
        assert!(!out.text().contains("REMOTE_ADDR"), "{out:?}");
    }
    srv.stop(Duration::from_secs(1));
}

#[test]
fn proxy_header_from_an_untrusted_peer_is_refused() {
    let (srv, port) = server(|c| {
        c.proxy_protocol = true;
        c.proxy_allow_ips = vec!["10.0.0.0/8".to_owned()];
    });
    let out = exchange(
        port,
        &with(b"PROXY TCP4 203.0.113.7 192.0.2.1 40000 443\r\n", GET),
    );
    assert_eq!(out.status, 403, "{out:?}");
    // Without a header the peer is an ordinary client, even when its first bytes could
    // start one ("P" of "POST" and "PROXY ").
    let out = exchange(port, GET);
    assert!(out.text().contains("REMOTE_ADDR=127.0.0.1\n"), "{out:?}");
    let mut s = connect(port);
    s.send(b"P");
    // The behaviour under test: the rest comes later, in its own segment.
    std::thread::sleep(Duration::from_millis(50));
    s.send(b"OST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    let out = s.read_response().unwrap();
    assert_eq!(out.status, 200, "{out:?}");
    srv.stop(Duration::from_secs(1));
}

#[test]
fn proxy_header_is_not_read_when_the_feature_is_off() {
    let (srv, port) = server(|_| {});
    let out = exchange(
        port,
        &with(b"PROXY TCP4 203.0.113.7 192.0.2.1 40000 443\r\n", GET),
    );
    assert_eq!(out.status, 400, "{out:?}");
    srv.stop(Duration::from_secs(1));
}

fn scheme_of(port: u16, headers: &str) -> Response {
    let raw = format!("GET / HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n");
    exchange(port, raw.as_bytes())
}

#[test]
fn secure_scheme_headers_from_a_trusted_peer() {
    // The default --forwarded-allow-ips is 127.0.0.1,::1: the test client is trusted.
    let (srv, port) = server(|_| {});
    for (headers, want) in [
        ("", "http"),
        ("X-Forwarded-Proto: https\r\n", "https"),
        ("X-Forwarded-Proto: HTTPS\r\n", "https"),
        ("X-Forwarded-Proto: http\r\n", "http"),
        ("X-Forwarded-Ssl: on\r\n", "https"),
        ("X-Forwarded-Protocol: ssl\r\n", "https"),
        (
            "X-Forwarded-Proto: https\r\nX-Forwarded-Ssl: on\r\n",
            "https",
        ),
        (
            "X-Forwarded-Proto: http\r\nX-Forwarded-Ssl: off\r\n",
            "http",
        ),
    ] {
        let out = scheme_of(port, headers);
        assert!(
            out.text().contains(&format!("wsgi.url_scheme={want}\n")),
            "{headers:?}: {out:?}"
        );
    }
    srv.stop(Duration::from_secs(1));
}

#[test]
fn conflicting_secure_scheme_headers_are_a_400() {
    // The corpus's invalid/019, with --forwarded-allow-ips '*'.
    let (srv, port) = server(|c| c.forwarded_allow_ips = vec!["*".to_owned()]);
    for headers in [
        "X-Forwarded-Proto: https\r\nX-Forwarded-Ssl: off\r\n",
        "X-Forwarded-Protocol: ssl\r\nX-Forwarded-Proto: http\r\n",
    ] {
        let out = scheme_of(port, headers);
        assert_eq!(out.status, 400, "{headers:?}: {out:?}");
    }
    srv.stop(Duration::from_secs(1));
}

#[test]
fn secure_scheme_headers_from_an_untrusted_peer_are_ignored() {
    let (srv, port) = server(|c| c.forwarded_allow_ips = vec!["10.0.0.1".to_owned()]);
    let out = scheme_of(port, "X-Forwarded-Proto: https\r\n");
    assert!(out.text().contains("wsgi.url_scheme=http\n"), "{out:?}");
    // Nor is a conflict judged: the headers are just the client's.
    let out = scheme_of(port, "X-Forwarded-Proto: https\r\nX-Forwarded-Ssl: off\r\n");
    assert_eq!(out.status, 200, "{out:?}");
    srv.stop(Duration::from_secs(1));
}

#[test]
fn behind_a_proxy_header_the_client_is_judged_not_the_proxy() {
    // HAProxy in TCP mode forwards the client's bytes untouched: an X-Forwarded-Proto
    // from the client named in the PROXY header is not believed.
    let (srv, port) = server(|c| c.proxy_protocol = true);
    let req = b"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-Proto: https\r\nConnection: close\r\n\r\n";
    let out = exchange(
        port,
        &with(b"PROXY TCP4 203.0.113.7 192.0.2.1 40000 443\r\n", req),
    );
    assert!(out.text().contains("wsgi.url_scheme=http\n"), "{out:?}");
    srv.stop(Duration::from_secs(1));
}
