//! WsgiServer over raw sockets: keep-alive, pipelining, 100-continue, and bad input
//! (malformed heads and bodies, slow or vanishing clients, panicking apps) that must cost
//! nothing but its own connection. What needs no socket is in tests/in_memory.rs.

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::http::connect;
use common::wait_until;

use greenlight::event::Event;
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

fn serve<A: App>(app: A) -> (ServerHandle, u16) {
    serve_with(WsgiServer::new("127.0.0.1:0", app))
}

fn serve_with<A: App>(s: WsgiServer<A>) -> (ServerHandle, u16) {
    let h = s.start().unwrap();
    let port = h.local_addr().port().unwrap();
    (h, port)
}

fn still_serving(port: u16) {
    let r = connect(port).get("/alive").expect("a response");
    assert_eq!(r.status, 200, "the server still serves other clients");
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let (srv, port) = serve(echo);
    let mut c = connect(port);
    for i in 0..3 {
        c.send(format!("GET /n/{i}?q=1 HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        let r = c.read_response().unwrap();
        assert_eq!(r.status, 200);
        assert!(r.header("date").is_some());
        assert_eq!(r.body, format!("GET /n/{i} q=1 []").as_bytes());
    }
    srv.stop(Duration::from_secs(1));
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let (srv, port) = serve(echo);
    let mut c = connect(port);
    c.send(
        b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\n\
          POST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello\
          POST /3 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n\
          GET /4 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let want = [
        "GET /1  []",
        "POST /2  [hello]",
        "POST /3  [abc]",
        "GET /4  []",
    ];
    for w in want {
        let r = c.read_response().unwrap();
        assert_eq!(
            (r.status, String::from_utf8(r.body).unwrap().as_str()),
            (200, w)
        );
    }
    assert!(c.is_closed(), "Connection: close honoured");
    srv.stop(Duration::from_secs(1));
}

/// A connection's first read buffer is small (1 KiB) and grows: heads larger than it, a
/// batch of pipelined requests that straddles it, and a body far larger, on one connection,
/// sent whole or a few bytes at a time.
#[test]
fn heads_and_bodies_larger_than_the_first_read_buffer_are_served() {
    let (srv, port) = serve(echo);
    let cookie = format!("Cookie: s={}\r\n", "c".repeat(3000));
    let body = "b".repeat(20_000);
    let mut batch = String::new();
    for i in 0..40 {
        batch += &format!(
            "GET /p/{i} HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\n\r\n",
            "p".repeat(i)
        );
    }
    for dribble in [false, true] {
        let mut c = connect(port);
        let mut send = |bytes: &[u8]| {
            if dribble {
                for piece in bytes.chunks(700) {
                    c.send(piece);
                    std::thread::yield_now();
                }
            } else {
                c.send(bytes);
            }
        };
        send(format!("GET /big HTTP/1.1\r\nHost: x\r\n{cookie}\r\n").as_bytes());
        send(batch.as_bytes());
        send(
            format!(
                "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
        send(
            format!("GET /last HTTP/1.1\r\nHost: x\r\n{cookie}Connection: close\r\n\r\n")
                .as_bytes(),
        );
        let mut want = vec!["GET /big  []".to_owned()];
        want.extend((0..40).map(|i| format!("GET /p/{i}  []")));
        want.push(format!("POST /up  [{body}]"));
        want.push("GET /last  []".to_owned());
        for w in want {
            let r = c.read_response().unwrap();
            assert_eq!(
                (r.status, String::from_utf8(r.body).unwrap()),
                (200, w),
                "dribbled: {dribble}"
            );
        }
        assert!(c.is_closed(), "Connection: close honoured");
    }
    srv.stop(Duration::from_secs(1));
}

#[test]
fn http10_closes_by_default_and_keeps_alive_when_asked() {
    let (srv, port) = serve(echo);
    let mut c = connect(port);
    c.send(b"GET /a HTTP/1.0\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.is_closed());
    let mut c = connect(port);
    c.send(b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!(r.header("connection"), Some("keep-alive"));
    c.send(b"GET /b HTTP/1.0\r\n\r\n");
    assert_eq!(c.read_response().unwrap().body, b"GET /b  []");
    srv.stop(Duration::from_secs(1));
}

#[test]
fn head_gets_headers_without_a_body() {
    let (srv, port) = serve(echo);
    let mut c = connect(port);
    c.send(b"HEAD /h HTTP/1.1\r\nHost: x\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\n\r\n");
    let r = c.read_head_response().unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-length"),
        Some("11"),
        "the length a GET would get"
    );
    // No body bytes were sent: the next response starts right away.
    let r = c.read_response().unwrap();
    assert_eq!(r.body, b"GET /after  []");
    srv.stop(Duration::from_secs(1));
}

#[test]
fn continue_is_sent_on_the_first_read_only() {
    let (srv, port) = serve(echo);
    let mut c = connect(port);
    c.send(b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!(r.status, 100, "the app read the body: 100 Continue first");
    c.send(b"data");
    let r = c.read_response().unwrap();
    assert_eq!(
        (r.status, r.body.as_slice()),
        (200, b"POST /up  [data]".as_slice())
    );
    srv.stop(Duration::from_secs(1));

    // An app that never reads: no 100, a final answer, and the connection closes (the
    // client may or may not send the body).
    let (srv, port) = serve(no_read);
    let mut c = connect(port);
    c.send(b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("connection"), Some("close"));
    srv.stop(Duration::from_secs(1));
}

#[test]
fn unread_body_is_drained_so_keep_alive_continues() {
    let (srv, port) = serve(no_read);
    let mut c = connect(port);
    c.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789");
    assert_eq!(c.read_response().unwrap().status, 200);
    c.send(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n");
    assert_eq!(c.read_response().unwrap().status, 200);
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(c.read_response().unwrap().status, 200);
    srv.stop(Duration::from_secs(1));
}

#[test]
fn malformed_chunked_body_gets_400_whatever_the_app_says_and_closes() {
    let (srv, port) = serve(echo);
    let mut c = connect(port);
    c.send(
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    );
    let r = c.read_response().unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.is_closed());
    still_serving(port);
    srv.stop(Duration::from_secs(1));
}

/// Each refusal's status is checked in tests/in_memory.rs; here, that a refused
/// connection really closes and costs the server nothing else.
#[test]
fn malformed_heads_close_the_connection_and_cost_nothing_else() {
    let (srv, port) = serve(echo);
    let long = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(5000));
    let cases: [(&[u8], u16); 3] = [
        (b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n", 400),
        (b"GET / HTTP/3.0\r\n\r\n", 505),
        (long.as_bytes(), 414),
    ];
    for (raw, want) in cases {
        let mut c = connect(port);
        c.send(raw);
        assert_eq!(c.read_response().unwrap().status, want);
        assert!(c.is_closed());
    }
    still_serving(port);
    srv.stop(Duration::from_secs(1));
}

#[test]
fn slow_header_dribbler_gets_408_and_others_are_served_meanwhile() {
    let limit = Duration::from_secs(1);
    let (srv, port) = serve_with(WsgiServer::new("127.0.0.1:0", echo).header_timeout(limit));
    let mut slow = connect(port);
    let t = Instant::now();
    for b in b"GET / HTTP/1.1\r\nHo" {
        if slow.write_all(&[*b]).is_err() {
            break;
        }
        // The dribbling itself: one byte every 30 ms.
        std::thread::sleep(Duration::from_millis(30));
        if t.elapsed() > Duration::from_millis(200) {
            break;
        }
    }
    // While the slow client dribbles, another is served: before the slow one's deadline.
    still_serving(port);
    assert!(t.elapsed() < limit, "served only after {:?}", t.elapsed());
    let r = slow.read_response().expect("an answer before closing");
    assert_eq!(r.status, 408);
    let took = t.elapsed();
    assert!(
        took >= limit - Duration::from_millis(50) && took < Duration::from_secs(10),
        "{took:?}"
    );
    assert!(slow.is_closed());
    srv.stop(Duration::from_secs(1));
}

#[test]
fn client_vanishing_mid_body_costs_only_its_connection() {
    let (srv, port) = serve(echo);
    for _ in 0..5 {
        let mut c = connect(port);
        c.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nonly ten b");
        drop(c);
    }
    still_serving(port);
    assert!(
        wait_until(10, || srv.connections() == 0),
        "vanished clients' connections were released ({} left)",
        srv.connections()
    );
    srv.stop(Duration::from_secs(1));
}

#[test]
fn slow_body_times_out_with_408() {
    let (srv, port) =
        serve_with(WsgiServer::new("127.0.0.1:0", echo).body_timeout(Duration::from_millis(300)));
    let mut c = connect(port);
    c.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc");
    let r = c.read_response().unwrap();
    assert_eq!(r.status, 408);
    srv.stop(Duration::from_secs(1));
}

#[test]
fn panicking_app_gets_500_and_closes_without_affecting_others() {
    let (srv, port) = serve(panics);
    let mut c = connect(port);
    c.send(b"GET /boom HTTP/1.1\r\nHost: x\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!(r.status, 500);
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.is_closed());
    still_serving(port);
    srv.stop(Duration::from_secs(1));
}

#[test]
fn idle_keep_alive_connections_close_after_the_timeout() {
    let (srv, port) =
        serve_with(WsgiServer::new("127.0.0.1:0", echo).keep_alive(Duration::from_millis(300)));
    let mut c = connect(port);
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    c.read_response().unwrap();
    let t = Instant::now();
    assert!(c.is_closed());
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(10),
        "{took:?}"
    );
    srv.stop(Duration::from_secs(1));
}

#[test]
fn graceful_stop_closes_idle_connections_and_finishes_running_requests() {
    // `/slow` runs until the test releases it, so the stop surely finds it running.
    let (started, release) = (Event::new(), Event::new());
    let app = {
        let (started, release) = (started.clone(), release.clone());
        move |env: &mut Environ<'_>, start: StartResponse<'_>| {
            if env.path() == "/slow" {
                started.set();
                release.wait_timeout(Duration::from_secs(20)).unwrap();
            }
            start.status("200 OK");
            Body::from("finished")
        }
    };
    let (srv, port) = serve(app);
    let mut idle = connect(port);
    assert_eq!(idle.get("/").unwrap().status, 200);
    let mut busy = connect(port);
    busy.send(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
    started.wait_timeout(Duration::from_secs(10)).unwrap();
    let stopper = {
        let srv = srv.clone();
        std::thread::spawn(move || srv.stop(Duration::from_secs(30)))
    };
    // Closed at once: while the running request is still held.
    assert!(idle.is_closed(), "idle keep-alive closed at once");
    assert!(!release.is_set());
    release.set();
    let r = busy.read_response().unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, b"finished".as_slice()));
    assert_eq!(r.header("connection"), Some("close"));
    stopper.join().unwrap();
}
