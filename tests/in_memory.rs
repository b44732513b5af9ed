//! The server's answers that need no socket, through `greenlight::testing::TestClient`:
//! framing of streamed bodies, HEAD, refused heads, limits, and an app's invalid headers.
//! (tests/wsgi_protocol.rs keeps what needs a real socket: keep-alive, pipelining, slow
//! and vanishing clients, timeouts, stops.)

use greenlight::testing::{TestClient, TestRequest};
use greenlight::wsgi::{Body, Environ, StartResponse, WsgiOptions};

/// Echoes method, path, query and the body it read.
fn echo(env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
    let body = match env.input().read_body(1 << 20) {
        Ok(b) => b,
        Err(_) => {
            start.status(200);
            return Body::from("read failed but the app says 200");
        }
    };
    let text = format!(
        "{} {} {} [{}]",
        env.method(),
        env.path(),
        env.query(),
        String::from_utf8_lossy(&body)
    );
    start.status(200).header("Content-Type", "text/plain");
    Body::from(text)
}

fn streamer(env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
    start.status(200);
    if env.path() == "/len" {
        start.header("Content-Length", "6");
    }
    Body::stream(["abc", "", "def"])
}

#[test]
fn streamed_bodies_are_chunked_on_11_and_close_delimited_on_10() {
    let client = TestClient::new(streamer);
    let r = client.get("/");
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.body(), b"abcdef");
    // An announced length is used instead of chunking.
    let r = client.get("/len");
    assert_eq!(r.header("content-length"), Some("6"));
    assert_eq!(r.header("transfer-encoding"), None);
    assert_eq!(r.body(), b"abcdef");
    let r = client.send(b"GET / HTTP/1.0\r\n\r\n", false);
    assert_eq!(r.header("transfer-encoding"), None);
    assert_eq!(r.body(), b"abcdef", "close-delimited");
}

#[test]
fn head_gets_the_headers_a_get_would_without_a_body() {
    let client = TestClient::new(echo);
    let r = client.request(TestRequest::new("HEAD", "/h"));
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.header("content-length"),
        Some("11"),
        "the length of the body a GET gets"
    );
    assert!(
        r.raw().ends_with(b"\r\n\r\n"),
        "no body bytes follow the head"
    );
}

#[test]
fn malformed_heads_get_the_right_status_and_close() {
    let client = TestClient::new(echo);
    let long = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(5000));
    let big = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "b".repeat(9000));
    let cases: [(&[u8], u16); 8] = [
        (b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n", 400),
        (b"GET / HTTP/3.0\r\n\r\n", 505),
        (
            b"POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
            400,
        ),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: br\r\n\r\n", 501),
        (
            b"POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n",
            400,
        ),
        (b"GET /\x01 HTTP/1.1\r\n\r\n", 400),
        (long.as_bytes(), 414),
        (big.as_bytes(), 431),
    ];
    for (raw, want) in cases {
        let r = client.send(raw, false);
        assert_eq!(r.status(), want, "{}", String::from_utf8_lossy(raw));
        assert_eq!(r.header("connection"), Some("close"));
    }
}

#[test]
fn malformed_chunked_body_gets_400_whatever_the_app_says() {
    let r = TestClient::new(echo).send(
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
        false,
    );
    assert_eq!(r.status(), 400);
    assert_eq!(r.header("connection"), Some("close"));
}

#[test]
fn body_over_the_limit_gets_413() {
    let opts = WsgiOptions {
        max_body: Some(8),
        ..WsgiOptions::default()
    };
    let client = TestClient::with_options(echo, &opts);
    let r = client.request(TestRequest::post("/").body("123456789"));
    assert_eq!(r.status(), 413);
    let r = client.request(TestRequest::post("/").chunks(["12345", "6789"]));
    assert_eq!(r.status(), 413);
    let r = client.request(TestRequest::post("/").chunks(["1234", "5678"]));
    assert_eq!(r.text(), "POST /  [12345678]");
}

#[test]
fn header_injection_from_the_app_becomes_500() {
    let bad_header = |_: &mut Environ<'_>, start: StartResponse<'_>| {
        start
            .status(200)
            .header("X-Split", "a\r\nSet-Cookie: evil=1");
        Body::from("never sent")
    };
    let r = TestClient::new(bad_header).get("/");
    assert_eq!(r.status(), 500);
    assert!(r.header("set-cookie").is_none());
    assert!(!r.text().contains("never sent"));
}

#[test]
fn a_panicking_app_gets_500_and_the_connection_closes() {
    let panics = |env: &mut Environ<'_>, start: StartResponse<'_>| -> Body {
        if env.path() == "/boom" {
            panic!("the app exploded");
        }
        start.status(200);
        Body::from("fine")
    };
    let client = TestClient::new(panics);
    let r = client.get("/boom");
    assert_eq!(r.status(), 500);
    assert_eq!(r.header("connection"), Some("close"));
    assert_eq!(client.get("/").text(), "fine");
}

#[test]
fn request_deadlines_cancel_a_handler_that_may_move_its_own() {
    use std::time::{Duration, Instant};
    let opts = WsgiOptions {
        request_timeout: Duration::from_millis(200),
        ..WsgiOptions::default()
    };
    let app = |env: &mut Environ<'_>, start: StartResponse<'_>| {
        let left = env.request_deadline().expect("a deadline") - Instant::now();
        assert!(left <= Duration::from_millis(200));
        match env.path() {
            "/extend" => env.set_request_deadline(Some(Instant::now() + Duration::from_secs(5))),
            "/none" => env.set_request_deadline(None),
            "/shorten" => env.set_request_deadline(Some(Instant::now())),
            _ => {}
        }
        let nap = if env.path() == "/extend" || env.path() == "/none" {
            400
        } else {
            5000
        };
        greenlight::sleep(Duration::from_millis(nap));
        start.status(200);
        Body::from("finished")
    };
    let client = TestClient::with_options(app, &opts);
    let t = Instant::now();
    let r = client.get("/slow");
    assert_eq!((r.status(), r.text().as_str()), (504, "Gateway Timeout\n"));
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert_eq!(client.get("/extend").text(), "finished");
    assert_eq!(client.get("/none").text(), "finished");
    let t = Instant::now();
    assert_eq!(client.get("/shorten").status(), 504);
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
}
