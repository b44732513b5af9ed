//! Hostile clients cost only their own connection: a head or body dribbled below the
//! minimum data rate is closed after the grace, and a full server sheds idle and slow
//! connections to serve a new client.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::http::{connect, Client};
use greenlight::event::Event;
use greenlight::server::ServerHandle;
use greenlight::wsgi::{App, Body, Environ, StartResponse, WsgiServer};

fn hello(_env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
    start.status("200 OK");
    Body::from("hello")
}

/// Reads the whole body, then answers its length.
fn count(env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
    match env.input().read_body(1 << 20) {
        Ok(b) => {
            start.status("200 OK");
            Body::from(b.len().to_string())
        }
        Err(_) => {
            start.status("500 Internal Server Error");
            Body::empty()
        }
    }
}

fn serve<A: App>(s: WsgiServer<A>) -> (ServerHandle, u16) {
    let h = s.start().unwrap();
    let port = h.local_addr().port().unwrap();
    (h, port)
}

/// Sends `start`, then one byte every `every` until the server answers or closes the
/// connection; returns how long that took and everything the server sent.
fn dribble(port: u16, start: &[u8], every: Duration) -> (Duration, String) {
    let t0 = Instant::now();
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(every)).unwrap();
    s.write_all(start).unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    let mut took = None;
    while t0.elapsed() < Duration::from_secs(20) {
        if took.is_none() && s.write_all(b"a").is_err() {
            took = Some(t0.elapsed());
        }
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                took.get_or_insert_with(|| t0.elapsed());
                answer.extend_from_slice(&buf[..n]);
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    let took = took.unwrap_or_else(|| t0.elapsed());
    (took, String::from_utf8_lossy(&answer).into_owned())
}

#[test]
fn a_head_dribbled_below_the_minimum_rate_is_closed_after_the_grace() {
    // The header timeout alone would hold it for 30 s.
    let (srv, port) =
        serve(WsgiServer::new("127.0.0.1:0", hello).header_timeout(Duration::from_secs(30)));
    let slow = std::thread::spawn(move || {
        dribble(
            port,
            b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ",
            Duration::from_millis(250),
        )
    });
    // Meanwhile everyone else is served.
    for _ in 0..5 {
        assert_eq!(connect(port).get("/").unwrap().status, 200);
    }
    let (took, answer) = slow.join().unwrap();
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(10),
        "closed after {took:?}"
    );
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer:?}");
    srv.stop(Duration::from_secs(5));
}

#[test]
fn a_body_dribbled_below_the_minimum_rate_gets_408() {
    let (srv, port) =
        serve(WsgiServer::new("127.0.0.1:0", count).body_timeout(Duration::from_secs(30)));
    let head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n";
    let (took, answer) = dribble(port, head, Duration::from_millis(250));
    assert!(took < Duration::from_secs(10), "closed after {took:?}");
    assert!(answer.contains(" 408 "), "{answer:?}");
    srv.stop(Duration::from_secs(5));
}

#[test]
fn a_body_that_begins_late_is_read_in_full() {
    // The client sends its head, then produces the body (`tar c dir | curl -T - URL`), or
    // waits for 100 Continue and then takes its time: the minimum rate starts with the
    // body's first byte, and until then only the body timeout applies.
    let (srv, port) =
        serve(WsgiServer::new("127.0.0.1:0", count).body_timeout(Duration::from_secs(30)));
    let late = GRACE_AND_MORE;
    let heads: [&[u8]; 3] = [
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
    ];
    let bodies: [&[u8]; 3] = [b"hello", b"5\r\nhello\r\n0\r\n\r\n", b"hello"];
    let clients: Vec<_> = heads
        .into_iter()
        .zip(bodies)
        .map(|(head, body)| {
            std::thread::spawn(move || {
                let mut c = connect(port);
                c.send(head);
                if head.windows(6).any(|w| w == b"100-co") {
                    assert_eq!(c.read_response().unwrap().status, 100);
                }
                std::thread::sleep(late);
                c.send(body);
                let r = c.read_response().unwrap();
                (r.status, r.text())
            })
        })
        .collect();
    for c in clients {
        assert_eq!(c.join().unwrap(), (200, "5".to_owned()));
    }
    srv.stop(Duration::from_secs(5));
}

/// Longer than the minimum rate's grace (2 s).
const GRACE_AND_MORE: Duration = Duration::from_millis(2600);

#[test]
fn without_a_minimum_rate_only_the_timeouts_apply() {
    let mut server =
        WsgiServer::new("127.0.0.1:0", hello).header_timeout(Duration::from_millis(3500));
    server.options_mut().min_rate = 0;
    let (srv, port) = serve(server);
    let (took, answer) = dribble(port, b"GET / HTTP/1.1\r\n", Duration::from_millis(250));
    assert!(took >= Duration::from_secs(3), "closed after {took:?}");
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer:?}");
    srv.stop(Duration::from_secs(5));
}

/// A full server (3 connections) with `n` idle keep-alive clients: a new client is served,
/// and one of the idle ones was closed to make room.
#[test]
fn a_full_server_sheds_an_idle_connection_for_a_new_client() {
    let (srv, port) = serve(WsgiServer::new("127.0.0.1:0", hello).max_connections(3));
    let mut idle: Vec<Client<TcpStream>> = (0..3).map(|_| connect(port)).collect();
    for c in &mut idle {
        assert_eq!(c.get("/").unwrap().status, 200);
    }
    assert_eq!(connect(port).get("/").unwrap().status, 200);
    let mut closed = 0;
    for c in &mut idle {
        c.set_read_timeout(Duration::from_millis(500));
        closed += usize::from(c.is_closed());
    }
    assert!(closed >= 1, "no idle connection was shed");
    srv.stop(Duration::from_secs(5));
}

#[test]
fn a_full_server_sheds_the_oldest_incomplete_head() {
    // No minimum rate: only shedding can close the slow heads here.
    let mut server = WsgiServer::new("127.0.0.1:0", hello)
        .max_connections(2)
        .header_timeout(Duration::from_secs(30));
    server.options_mut().min_rate = 0;
    let (srv, port) = serve(server);
    let mut oldest = Client::tcp(("127.0.0.1", port)).unwrap();
    oldest.send(b"GET / HTTP/1.1\r\nHost:");
    common::wait_until(10, || srv.connections() == 1);
    let mut younger = Client::tcp(("127.0.0.1", port)).unwrap();
    younger.send(b"GET / HTTP/1.1\r\n");
    common::wait_until(10, || srv.connections() == 2);
    // The third client is served at once: the oldest incomplete head made room.
    let t0 = Instant::now();
    assert_eq!(connect(port).get("/").unwrap().status, 200);
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    oldest.set_read_timeout(Duration::from_secs(5));
    assert!(oldest.is_closed(), "the oldest incomplete head was shed");
    // The younger one can still finish its request.
    younger.send(b"Host: x\r\n\r\n");
    assert_eq!(younger.read_response().unwrap().status, 200);
    srv.stop(Duration::from_secs(5));
}

#[test]
fn a_full_server_never_sheds_a_request_being_answered() {
    let (started, release) = (Arc::new(Event::new()), Arc::new(Event::new()));
    let calls = Arc::new(AtomicUsize::new(0));
    let (s, r, n) = (started.clone(), release.clone(), calls.clone());
    let app = move |_env: &mut Environ<'_>, start: StartResponse<'_>| -> Body {
        if n.fetch_add(1, Ordering::SeqCst) == 0 {
            s.set();
            r.wait_timeout(Duration::from_secs(20)).unwrap();
        }
        start.status("200 OK");
        Body::from("done")
    };
    let (srv, port) = serve(WsgiServer::new("127.0.0.1:0", app).max_connections(1));
    let busy = std::thread::spawn(move || connect(port).get("/busy").unwrap());
    started.wait_timeout(Duration::from_secs(10)).unwrap();
    // The only slot is busy: a new client waits in the backlog instead of costing it.
    let waiting = std::thread::spawn(move || connect(port).get("/next").unwrap());
    std::thread::sleep(Duration::from_millis(300)); // give a wrong shed the chance to happen
    assert_eq!(calls.load(Ordering::SeqCst), 1, "the new client waits");
    release.set();
    let (a, b) = (busy.join().unwrap(), waiting.join().unwrap());
    assert_eq!((a.status, a.text()), (200, "done".to_owned()));
    assert_eq!(b.status, 200);
    srv.stop(Duration::from_secs(5));
}
