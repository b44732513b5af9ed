//! WsgiServer over raw sockets: framing, keep-alive, pipelining, 100-continue, and bad
//! input (malformed bodies, slow or vanishing clients, panicking apps) that must cost
//! nothing but its own connection.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use greenlight::server::ServerHandle;
use greenlight::wsgi::{App, Body, Environ, StartResponse, WsgiServer};

/// Echoes method, path, query and the body it read.
fn echo(env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
    let mut body = Vec::new();
    if env.input().read_to_end(&mut body).is_err() {
        start.status("200 OK");
        return Body::from("read failed but the app says 200");
    }
    let text = format!(
        "{} {} {} [{}]",
        env.method(),
        env.path(),
        env.query(),
        String::from_utf8_lossy(&body)
    );
    start.status("200 OK").header("Content-Type", "text/plain");
    Body::from(text)
}

/// Answers without reading the body.
fn no_read(_env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
    start.status("200 OK");
    Body::from("ignored your body")
}

fn panics(env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
    if env.path() == "/boom" {
        panic!("the app exploded");
    }
    start.status("200 OK");
    Body::from("fine")
}

fn bad_header(_env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
    start
        .status("200 OK")
        .header("X-Split", "a\r\nSet-Cookie: evil=1");
    Body::from("never sent")
}

fn streamer(env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
    start.status("200 OK");
    if env.path() == "/len" {
        start.header("Content-Length", "6");
    }
    Body::stream(["abc", "", "def"])
}

fn serve<A: App>(app: A) -> (ServerHandle, u16) {
    serve_with(WsgiServer::new("127.0.0.1:0", app))
}

fn serve_with<A: App>(s: WsgiServer<A>) -> (ServerHandle, u16) {
    let h = s.start().unwrap();
    let port = h.local_addr().port().unwrap();
    (h, port)
}

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// Reads one response: (status, lower-case headers, body). Handles Content-Length,
/// chunked, and close-delimited bodies; `head_only` for HEAD.
/// A parsed response: status, lower-case headers, body.
type Response = (u16, Vec<(String, String)>, Vec<u8>);

fn response(s: &mut TcpStream, head_only: bool) -> Option<Response> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => buf.push(byte[0]),
            _ => return None,
        }
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    let mut lines = text.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.trim().to_ascii_lowercase(), v.trim().to_owned())
        })
        .collect();
    let get = |k: &str| headers.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    if status == 100 {
        return Some((100, headers, Vec::new()));
    }
    if head_only || status == 204 || status == 304 {
        return Some((status, headers, Vec::new()));
    }
    let mut body = Vec::new();
    if let Some(n) = get("content-length") {
        body.resize(n.parse().unwrap(), 0);
        s.read_exact(&mut body).ok()?;
    } else if get("transfer-encoding").as_deref() == Some("chunked") {
        loop {
            let mut line = Vec::new();
            while !line.ends_with(b"\r\n") {
                s.read_exact(&mut byte).ok()?;
                line.push(byte[0]);
            }
            let size = usize::from_str_radix(std::str::from_utf8(&line).ok()?.trim(), 16).ok()?;
            let mut chunk = vec![0u8; size + 2];
            s.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else {
        s.read_to_end(&mut body).ok()?;
    }
    Some((status, headers, body))
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
    h.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// The server closed the connection (EOF or reset), with nothing more to read.
fn is_closed(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 1];
    matches!(s.read(&mut b), Ok(0) | Err(_))
}

fn still_serving(port: u16) {
    let mut c = connect(port);
    c.write_all(b"GET /alive HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (status, _, _) = response(&mut c, false).expect("a response");
    assert_eq!(status, 200, "the server still serves other clients");
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let (srv, port) = serve(echo);
    let mut c = connect(port);
    for i in 0..3 {
        c.write_all(format!("GET /n/{i}?q=1 HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .unwrap();
        let (status, h, body) = response(&mut c, false).unwrap();
        assert_eq!(status, 200);
        assert!(header(&h, "date").is_some());
        assert_eq!(body, format!("GET /n/{i} q=1 []").as_bytes());
    }
    srv.stop(Duration::from_secs(1));
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let (srv, port) = serve(echo);
    let mut c = connect(port);
    c.write_all(
        b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\n\
          POST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello\
          POST /3 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n\
          GET /4 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let want = [
        "GET /1  []",
        "POST /2  [hello]",
        "POST /3  [abc]",
        "GET /4  []",
    ];
    for w in want {
        let (status, _, body) = response(&mut c, false).unwrap();
        assert_eq!(
            (status, String::from_utf8(body).unwrap().as_str()),
            (200, w)
        );
    }
    assert!(is_closed(&mut c), "Connection: close honoured");
    srv.stop(Duration::from_secs(1));
}

#[test]
fn http10_closes_by_default_and_keeps_alive_when_asked() {
    let (srv, port) = serve(echo);
    let mut c = connect(port);
    c.write_all(b"GET /a HTTP/1.0\r\n\r\n").unwrap();
    let (_, h, _) = response(&mut c, false).unwrap();
    assert_eq!(header(&h, "connection"), Some("close"));
    assert!(is_closed(&mut c));
    let mut c = connect(port);
    c.write_all(b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    let (_, h, _) = response(&mut c, false).unwrap();
    assert_eq!(header(&h, "connection"), Some("keep-alive"));
    c.write_all(b"GET /b HTTP/1.0\r\n\r\n").unwrap();
    assert_eq!(response(&mut c, false).unwrap().2, b"GET /b  []");
    srv.stop(Duration::from_secs(1));
}

#[test]
fn streamed_bodies_are_chunked_on_11_and_close_delimited_on_10() {
    let (srv, port) = serve(streamer);
    let mut c = connect(port);
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let (_, h, body) = response(&mut c, false).unwrap();
    assert_eq!(header(&h, "transfer-encoding"), Some("chunked"));
    assert_eq!(body, b"abcdef");
    // An announced length is used instead of chunking.
    c.write_all(b"GET /len HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (_, h, body) = response(&mut c, false).unwrap();
    assert_eq!(header(&h, "content-length"), Some("6"));
    assert_eq!(header(&h, "transfer-encoding"), None);
    assert_eq!(body, b"abcdef");
    let mut c = connect(port);
    c.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let (_, h, body) = response(&mut c, false).unwrap();
    assert_eq!(header(&h, "transfer-encoding"), None);
    assert_eq!(body, b"abcdef", "close-delimited");
    srv.stop(Duration::from_secs(1));
}

#[test]
fn head_gets_headers_without_a_body() {
    let (srv, port) = serve(echo);
    let mut c = connect(port);
    c.write_all(b"HEAD /h HTTP/1.1\r\nHost: x\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (status, h, _) = response(&mut c, true).unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        header(&h, "content-length"),
        Some("11"),
        "the length a GET would get"
    );
    // No body bytes were sent: the next response starts right away.
    let (_, _, body) = response(&mut c, false).unwrap();
    assert_eq!(body, b"GET /after  []");
    srv.stop(Duration::from_secs(1));
}

#[test]
fn continue_is_sent_on_the_first_read_only() {
    let (srv, port) = serve(echo);
    let mut c = connect(port);
    c.write_all(
        b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
    )
    .unwrap();
    let (status, _, _) = response(&mut c, false).unwrap();
    assert_eq!(status, 100, "the app read the body: 100 Continue first");
    c.write_all(b"data").unwrap();
    let (status, _, body) = response(&mut c, false).unwrap();
    assert_eq!(
        (status, body.as_slice()),
        (200, b"POST /up  [data]".as_slice())
    );
    srv.stop(Duration::from_secs(1));

    // An app that never reads: no 100, a final answer, and the connection closes (the
    // client may or may not send the body).
    let (srv, port) = serve(no_read);
    let mut c = connect(port);
    c.write_all(
        b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
    )
    .unwrap();
    let (status, h, _) = response(&mut c, false).unwrap();
    assert_eq!(status, 200);
    assert_eq!(header(&h, "connection"), Some("close"));
    srv.stop(Duration::from_secs(1));
}

#[test]
fn unread_body_is_drained_so_keep_alive_continues() {
    let (srv, port) = serve(no_read);
    let mut c = connect(port);
    c.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789")
        .unwrap();
    assert_eq!(response(&mut c, false).unwrap().0, 200);
    c.write_all(
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n",
    )
    .unwrap();
    assert_eq!(response(&mut c, false).unwrap().0, 200);
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(response(&mut c, false).unwrap().0, 200);
    srv.stop(Duration::from_secs(1));
}

#[test]
fn malformed_chunked_body_gets_400_whatever_the_app_says_and_closes() {
    let (srv, port) = serve(echo);
    let mut c = connect(port);
    c.write_all(
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    )
    .unwrap();
    let (status, h, _) = response(&mut c, false).unwrap();
    assert_eq!(status, 400);
    assert_eq!(header(&h, "connection"), Some("close"));
    assert!(is_closed(&mut c));
    still_serving(port);
    srv.stop(Duration::from_secs(1));
}

#[test]
fn malformed_heads_get_the_right_status() {
    let (srv, port) = serve(echo);
    let cases: [(&[u8], u16); 6] = [
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
    ];
    for (raw, want) in cases {
        let mut c = connect(port);
        c.write_all(raw).unwrap();
        let (status, _, _) = response(&mut c, false).unwrap();
        assert_eq!(status, want, "{}", String::from_utf8_lossy(raw));
        assert!(is_closed(&mut c));
    }
    let mut c = connect(port);
    let long = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(5000));
    c.write_all(long.as_bytes()).unwrap();
    assert_eq!(response(&mut c, false).unwrap().0, 414);
    let mut c = connect(port);
    let big = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "b".repeat(9000));
    c.write_all(big.as_bytes()).unwrap();
    assert_eq!(response(&mut c, false).unwrap().0, 431);
    still_serving(port);
    srv.stop(Duration::from_secs(1));
}

#[test]
fn slow_header_dribbler_gets_408_and_others_are_served_meanwhile() {
    let (srv, port) =
        serve_with(WsgiServer::new("127.0.0.1:0", echo).header_timeout(Duration::from_millis(400)));
    let mut slow = connect(port);
    let t = Instant::now();
    for b in b"GET / HTTP/1.1\r\nHo" {
        if slow.write_all(&[*b]).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(30));
        if t.elapsed() > Duration::from_millis(200) {
            break;
        }
    }
    // While the slow client dribbles, another is served at once.
    let t2 = Instant::now();
    still_serving(port);
    assert!(t2.elapsed() < Duration::from_millis(300));
    let (status, _, _) = response(&mut slow, false).expect("an answer before closing");
    assert_eq!(status, 408);
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(350) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert!(is_closed(&mut slow));
    srv.stop(Duration::from_secs(1));
}

#[test]
fn client_vanishing_mid_body_costs_only_its_connection() {
    let (srv, port) = serve(echo);
    for _ in 0..5 {
        let mut c = connect(port);
        c.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nonly ten b")
            .unwrap();
        drop(c);
    }
    still_serving(port);
    let deadline = Instant::now() + Duration::from_secs(3);
    while srv.connections() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        srv.connections(),
        0,
        "vanished clients' connections were released"
    );
    srv.stop(Duration::from_secs(1));
}

#[test]
fn slow_body_times_out_with_408() {
    let (srv, port) =
        serve_with(WsgiServer::new("127.0.0.1:0", echo).body_timeout(Duration::from_millis(300)));
    let mut c = connect(port);
    c.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
        .unwrap();
    let (status, _, _) = response(&mut c, false).unwrap();
    assert_eq!(status, 408);
    srv.stop(Duration::from_secs(1));
}

#[test]
fn panicking_app_gets_500_and_closes_without_affecting_others() {
    let (srv, port) = serve(panics);
    let mut c = connect(port);
    c.write_all(b"GET /boom HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (status, h, _) = response(&mut c, false).unwrap();
    assert_eq!(status, 500);
    assert_eq!(header(&h, "connection"), Some("close"));
    assert!(is_closed(&mut c));
    still_serving(port);
    srv.stop(Duration::from_secs(1));
}

#[test]
fn header_injection_from_the_app_becomes_500() {
    let (srv, port) = serve(bad_header);
    let mut c = connect(port);
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let (status, h, body) = response(&mut c, false).unwrap();
    assert_eq!(status, 500);
    assert!(header(&h, "set-cookie").is_none());
    assert!(!String::from_utf8_lossy(&body).contains("never sent"));
    srv.stop(Duration::from_secs(1));
}

#[test]
fn idle_keep_alive_connections_close_after_the_timeout() {
    let (srv, port) =
        serve_with(WsgiServer::new("127.0.0.1:0", echo).keep_alive(Duration::from_millis(300)));
    let mut c = connect(port);
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    response(&mut c, false).unwrap();
    let t = Instant::now();
    assert!(is_closed(&mut c));
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(2),
        "{took:?}"
    );
    srv.stop(Duration::from_secs(1));
}

#[test]
fn body_over_the_limit_gets_413() {
    let (srv, port) = serve_with(WsgiServer::new("127.0.0.1:0", echo).max_body_size(8));
    let mut c = connect(port);
    c.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\n123456789")
        .unwrap();
    assert_eq!(response(&mut c, false).unwrap().0, 413);
    let mut c = connect(port);
    c.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n9\r\n123456789\r\n0\r\n\r\n")
        .unwrap();
    assert_eq!(response(&mut c, false).unwrap().0, 413);
    srv.stop(Duration::from_secs(1));
}

#[test]
fn graceful_stop_closes_idle_connections_and_finishes_running_requests() {
    fn slow(_env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
        may::coroutine::sleep(Duration::from_millis(300));
        start.status("200 OK");
        Body::from("finished")
    }
    let (srv, port) = serve(slow);
    let mut idle = connect(port);
    idle.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    response(&mut idle, false).unwrap();
    let mut busy = connect(port);
    busy.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let stopper = {
        let srv = srv.clone();
        std::thread::spawn(move || srv.stop(Duration::from_secs(5)))
    };
    let t = Instant::now();
    assert!(is_closed(&mut idle), "idle keep-alive closed at once");
    assert!(t.elapsed() < Duration::from_millis(250));
    let (status, h, body) = response(&mut busy, false).unwrap();
    assert_eq!((status, body.as_slice()), (200, b"finished".as_slice()));
    assert_eq!(header(&h, "connection"), Some("close"));
    stopper.join().unwrap();
}
