//! Idle keep-alive connections hibernate: after half a second without a request, a
//! connection gives back its green thread (and buffers) and waits in the idle watcher; its
//! next request starts a green thread again. It stays a connection like any other: served,
//! closed at its keep-alive timeout, closed at once by a stop, shed when the server is full.

mod common;

use std::time::{Duration, Instant};

use common::http::{connect, Client};
use common::wait_until;
use greenlight::event::Event;
use greenlight::server::ServerHandle;
use greenlight::wsgi::{App, Body, Environ, StartResponse, WsgiServer};

fn hello(env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
    start.status("200 OK");
    Body::from(format!("hello {}", env.path()))
}

fn serve<A: App>(s: WsgiServer<A>) -> (ServerHandle, u16) {
    let h = s.start().unwrap();
    let port = h.local_addr().port().unwrap();
    (h, port)
}

#[test]
fn a_hibernated_connection_is_served_again_each_time() {
    let (srv, port) =
        serve(WsgiServer::new("127.0.0.1:0", hello).keep_alive(Duration::from_secs(30)));
    let mut c = connect(port);
    for i in 0..4 {
        let r = c.get(&format!("/{i}")).unwrap();
        assert_eq!((r.status, r.text()), (200, format!("hello /{i}")));
        assert!(
            wait_until(10, || srv.hibernating_connections() == 1),
            "round {i}: the idle connection did not hibernate"
        );
        assert_eq!(srv.connections(), 1, "a hibernated connection still counts");
    }
    // A request sent in pieces after hibernation: the head timeout applies as usual.
    c.send(b"GET /pieces HTTP/1.1\r\n");
    std::thread::sleep(Duration::from_millis(50));
    c.send(b"Host: x\r\n\r\n");
    assert_eq!(c.read_response().unwrap().text(), "hello /pieces");
    srv.stop(Duration::from_secs(5));
}

#[test]
fn hibernated_unix_socket_connections_are_served_again() {
    let dir = std::env::temp_dir().join(format!("gl-idle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("s.sock");
    let bind = format!("unix:{}", path.display());
    let srv = WsgiServer::new(bind.as_str(), hello)
        .keep_alive(Duration::from_secs(30))
        .start()
        .unwrap();
    let mut c = Client::unix(&path).unwrap();
    assert_eq!(c.get("/a").unwrap().text(), "hello /a");
    assert!(wait_until(10, || srv.hibernating_connections() == 1));
    assert_eq!(c.get("/b").unwrap().text(), "hello /b");
    srv.stop(Duration::from_secs(5));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_hibernated_connection_closes_at_its_keep_alive_timeout() {
    let keep_alive = Duration::from_secs(2);
    let (srv, port) = serve(WsgiServer::new("127.0.0.1:0", hello).keep_alive(keep_alive));
    let mut c = connect(port);
    assert_eq!(c.get("/").unwrap().status, 200);
    let idle_since = Instant::now();
    assert!(wait_until(10, || srv.hibernating_connections() == 1));
    c.set_read_timeout(Duration::from_secs(10));
    assert!(c.is_closed(), "closed by the server");
    let took = idle_since.elapsed();
    assert!(
        took >= keep_alive - Duration::from_millis(100) && took < keep_alive * 3,
        "closed after {took:?} of idleness, for a keep-alive timeout of {keep_alive:?}"
    );
    assert!(wait_until(10, || srv.connections() == 0), "counted out");
    srv.stop(Duration::from_secs(5));
}

#[test]
fn a_stop_closes_hibernated_connections_at_once() {
    const N: usize = 20;
    let (srv, port) =
        serve(WsgiServer::new("127.0.0.1:0", hello).keep_alive(Duration::from_secs(60)));
    let mut cs: Vec<_> = (0..N).map(|_| connect(port)).collect();
    for c in &mut cs {
        assert_eq!(c.get("/").unwrap().status, 200);
    }
    assert!(wait_until(10, || srv.hibernating_connections() == N));
    common::stops_at_once(&srv);
    assert_eq!(srv.connections(), 0);
    for c in &mut cs {
        c.set_read_timeout(Duration::from_secs(5));
        assert!(c.is_closed());
    }
}

#[test]
fn a_full_server_sheds_a_hibernated_connection_for_a_new_client() {
    let (srv, port) = serve(
        WsgiServer::new("127.0.0.1:0", hello)
            .keep_alive(Duration::from_secs(60))
            .max_connections(2),
    );
    let mut idle: Vec<_> = (0..2).map(|_| connect(port)).collect();
    for c in &mut idle {
        assert_eq!(c.get("/").unwrap().status, 200);
    }
    assert!(wait_until(10, || srv.hibernating_connections() == 2));
    assert_eq!(connect(port).get("/new").unwrap().text(), "hello /new");
    let mut closed = 0;
    for c in &mut idle {
        c.set_read_timeout(Duration::from_millis(500));
        closed += usize::from(c.is_closed());
    }
    assert!(closed >= 1, "no hibernated connection was shed");
    srv.stop(Duration::from_secs(5));
}

#[test]
fn many_hibernated_connections_wake_together() {
    const N: usize = 300;
    let (srv, port) = serve(
        WsgiServer::new("127.0.0.1:0", hello)
            .keep_alive(Duration::from_secs(60))
            .max_connections(2 * N),
    );
    let mut cs: Vec<_> = (0..N).map(|_| connect(port)).collect();
    for c in &mut cs {
        assert_eq!(c.get("/").unwrap().status, 200);
    }
    assert!(wait_until(20, || srv.hibernating_connections() == N));
    // Every request goes out before any answer is read: the watcher wakes them in bulk.
    for (i, c) in cs.iter_mut().enumerate() {
        c.send(format!("GET /{i} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
    }
    for (i, c) in cs.iter_mut().enumerate() {
        assert_eq!(c.read_response().unwrap().text(), format!("hello /{i}"));
    }
    srv.stop(Duration::from_secs(5));
}

/// The app for the race tests: `/slow` tells the test it runs, then waits for the test's
/// go before it answers; `/big` answers 8 MiB; anything else, its path.
fn racing(running: Event, go: Event) -> impl App {
    move |env: &mut Environ<'_>, start: StartResponse<'_>| {
        start.status("200 OK");
        match env.path() {
            "/slow" => {
                running.set();
                go.wait_timeout(Duration::from_secs(10)).unwrap();
                go.clear();
                Body::from("slow")
            }
            "/big" => Body::from(vec![b'x'; 8 << 20]),
            p => Body::from(p.to_owned()),
        }
    }
}

/// A request that arrives while the previous one is being answered (after the server
/// read, before it wrote) is seen at once: a connection waiting for its next request
/// without a timer must not lose the readiness that came in meanwhile, or it would sleep
/// until the sweep woke it, half a second later.
#[test]
fn a_request_sent_during_the_previous_answer_is_answered_at_once() {
    let (running, go) = (Event::new(), Event::new());
    let app = racing(running.clone(), go.clone());
    let (srv, port) =
        serve(WsgiServer::new("127.0.0.1:0", app).keep_alive(Duration::from_secs(30)));
    let mut c = connect(port);
    // Warm: the connection is past its first request (which waits with a deadline).
    assert_eq!(c.get("/warm").unwrap().text(), "/warm");
    for round in 0..5 {
        running.clear();
        c.send(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
        running.wait_timeout(Duration::from_secs(10)).unwrap();
        // The server has read /slow, and nothing after it: /next arrives on its own.
        let t0 = Instant::now();
        c.send(format!("GET /next{round} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        go.set();
        assert_eq!(c.read_response().unwrap().text(), "slow");
        assert_eq!(c.read_response().unwrap().text(), format!("/next{round}"));
        let took = t0.elapsed();
        assert!(
            took < Duration::from_millis(450),
            "round {round}: the second answer took {took:?}"
        );
    }
    srv.stop(Duration::from_secs(5));
}

/// The same when the answer is too large to leave without waiting for the client (the
/// write parks): the next request, sent before the client reads, is answered in turn.
#[test]
fn a_request_sent_behind_a_large_answer_is_answered() {
    let app = racing(Event::new(), Event::new());
    let (srv, port) =
        serve(WsgiServer::new("127.0.0.1:0", app).keep_alive(Duration::from_secs(30)));
    let mut c = connect(port);
    assert_eq!(c.get("/warm").unwrap().text(), "/warm");
    for round in 0..3 {
        let t0 = Instant::now();
        c.send(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
        c.send(format!("GET /after{round} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        assert_eq!(c.read_response().unwrap().text().len(), 8 << 20);
        assert_eq!(c.read_response().unwrap().text(), format!("/after{round}"));
        assert!(t0.elapsed() < Duration::from_secs(10), "round {round}");
    }
    srv.stop(Duration::from_secs(5));
}
