//! StreamServer over real sockets: bind forms, the connection limit, graceful stop.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::io::IntoRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::http::{connect, Client};
use common::wait_until;
use greenlight::event::Event;
use greenlight::net::Addr;
use greenlight::server::{Conn, StreamServer};

/// An echo handler, gevent's echoserver.
fn echo(mut conn: Conn, _peer: Addr) {
    let mut buf = [0u8; 1024];
    loop {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if conn.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

fn roundtrip<S: Read + Write>(s: &mut S, msg: &[u8]) -> Vec<u8> {
    s.write_all(msg).unwrap();
    let mut got = vec![0u8; msg.len()];
    s.read_exact(&mut got).unwrap();
    got
}

fn tcp_port(a: &Addr) -> u16 {
    a.port().expect("a TCP address")
}

#[test]
fn echoes_over_ipv4_with_port_zero() {
    let srv = StreamServer::new("127.0.0.1:0", echo).start().unwrap();
    let port = tcp_port(srv.local_addr());
    assert_ne!(port, 0, "the real port is reported");
    let mut c = connect(port);
    assert_eq!(roundtrip(&mut c, b"hello"), b"hello");
    assert_eq!(roundtrip(&mut c, b"again"), b"again");
    drop(c);
    srv.stop(Duration::from_secs(1));
}

#[test]
fn echoes_over_ipv6_loopback() {
    let srv = StreamServer::new("[::1]:0", echo).start().unwrap();
    let Addr::Tcp(a) = srv.local_addr().clone() else {
        panic!("tcp")
    };
    assert!(a.is_ipv6());
    let mut c = Client::tcp(a).unwrap();
    assert_eq!(roundtrip(&mut c, b"six"), b"six");
    drop(c);
    srv.stop(Duration::from_secs(1));
}

#[test]
fn colon_port_listens_on_all_interfaces() {
    // Ask the kernel for a free port first, then bind ":PORT" to it.
    let probe = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = probe.local_addr().unwrap().port();
    drop(probe);
    let srv = StreamServer::new(format!(":{port}"), echo).start().unwrap();
    assert_eq!(
        srv.local_addr(),
        &Addr::Tcp(format!("0.0.0.0:{port}").parse().unwrap())
    );
    let mut c = connect(port);
    assert_eq!(roundtrip(&mut c, b"any"), b"any");
    drop(c);
    srv.stop(Duration::from_secs(1));
}

#[test]
fn unix_socket_bind_serves_and_removes_the_file_on_stop() {
    let dir = std::env::temp_dir().join(format!("gl-unix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("echo.sock");
    let srv = StreamServer::new(format!("unix:{}", path.display()), echo)
        .start()
        .unwrap();
    assert_eq!(srv.local_addr(), &Addr::Unix(path.clone()));
    let mut c = Client::unix(&path).unwrap();
    assert_eq!(roundtrip(&mut c, b"unix"), b"unix");
    drop(c);
    srv.stop(Duration::from_secs(1));
    assert!(!path.exists(), "socket file removed on stop");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn inherited_descriptor_bind() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let fd = l.into_raw_fd();
    let srv = StreamServer::new(format!("fd://{fd}"), echo)
        .start()
        .unwrap();
    assert_eq!(tcp_port(srv.local_addr()), port);
    let mut c = connect(port);
    assert_eq!(roundtrip(&mut c, b"fd"), b"fd");
    drop(c);
    srv.stop(Duration::from_secs(1));
}

#[test]
fn several_binds_serve_together() {
    let srv = StreamServer::new(["127.0.0.1:0", "[::1]:0"], echo)
        .start()
        .unwrap();
    assert_eq!(srv.local_addrs().len(), 2);
    for a in srv.local_addrs() {
        let mut c = Client::tcp(a.as_tcp().unwrap()).unwrap();
        assert_eq!(roundtrip(&mut c, b"x"), b"x");
    }
    srv.stop(Duration::from_secs(1));
}

#[test]
fn busy_port_fails_to_start_with_a_clear_message() {
    let srv = StreamServer::new("127.0.0.1:0", echo).start().unwrap();
    let port = tcp_port(srv.local_addr());
    let err = StreamServer::new(format!("127.0.0.1:{port}"), echo)
        .start()
        .err()
        .expect("second bind must fail");
    assert!(
        err.to_string()
            .contains(&format!("address 127.0.0.1:{port} is already in use")),
        "{err}"
    );
    srv.stop(Duration::from_secs(1));
}

#[test]
fn connection_limit_holds_the_next_connection_until_one_closes() {
    let srv = StreamServer::new("127.0.0.1:0", echo)
        .max_connections(2)
        .start()
        .unwrap();
    let port = tcp_port(srv.local_addr());
    let mut a = connect(port);
    let mut b = connect(port);
    assert_eq!(roundtrip(&mut a, b"a"), b"a");
    assert_eq!(roundtrip(&mut b, b"b"), b"b");
    // The third connection completes its handshake in the kernel backlog, but is not served.
    let mut c = connect(port);
    c.send(b"c");
    // Nothing to wait on for something that must not happen: give it 300 ms.
    c.set_read_timeout(Duration::from_millis(300));
    let mut one = [0u8; 1];
    assert!(c.read(&mut one).is_err(), "third connection must wait");
    assert_eq!(srv.connections(), 2);
    // When one closes, the waiting one is served.
    drop(a);
    c.set_read_timeout(common::http::TIMEOUT);
    c.read_exact(&mut one).unwrap();
    assert_eq!(&one, b"c");
    drop(b);
    drop(c);
    srv.stop(Duration::from_secs(1));
}

#[test]
fn graceful_stop_lets_a_running_handler_finish_and_refuses_new_connections() {
    // The handler runs until the test releases it, so the stop surely finds it running.
    let (started, release) = (Event::new(), Event::new());
    let (s, r) = (started.clone(), release.clone());
    let srv = StreamServer::new("127.0.0.1:0", move |mut conn: Conn, _| {
        let mut b = [0u8; 1];
        if conn.read_exact(&mut b).is_ok() {
            s.set();
            r.wait_timeout(Duration::from_secs(20)).unwrap();
            let _ = conn.write_all(b"done");
        }
    })
    .start()
    .unwrap();
    let port = tcp_port(srv.local_addr());
    let mut c = connect(port);
    c.send(b"g");
    started.wait_timeout(Duration::from_secs(10)).unwrap();
    let stopper = {
        let srv = srv.clone();
        std::thread::spawn(move || {
            let t = Instant::now();
            srv.stop(Duration::from_secs(30));
            t.elapsed()
        })
    };
    // The listener is closed while the handler still runs.
    assert!(
        wait_until(10, || TcpStream::connect(("127.0.0.1", port)).is_err()),
        "the listener still accepts"
    );
    assert!(!release.is_set());
    // The running handler finishes its work.
    release.set();
    let mut got = String::new();
    c.read_to_string(&mut got).unwrap();
    assert_eq!(got, "done");
    // The stop ended with the handler, long before its grace period.
    let took = stopper.join().unwrap();
    assert!(took < Duration::from_secs(20), "stop waited {took:?}");
}

#[test]
fn grace_period_over_cancels_handlers_and_runs_their_destructors() {
    struct Guard(Arc<AtomicUsize>);
    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let dropped = Arc::new(AtomicUsize::new(0));
    let started = Arc::new(AtomicUsize::new(0));
    let entered = Event::new();
    let (d2, s2, e2) = (dropped.clone(), started.clone(), entered.clone());
    let srv = StreamServer::new("127.0.0.1:0", move |_conn: Conn, _| {
        s2.fetch_add(1, Ordering::SeqCst);
        let _g = Guard(d2.clone());
        e2.set();
        // A handler stuck in a long (cooperative) wait.
        may::coroutine::sleep(Duration::from_secs(60));
    })
    .start()
    .unwrap();
    let port = tcp_port(srv.local_addr());
    let _c = connect(port);
    entered.wait_timeout(Duration::from_secs(10)).unwrap();
    let t = Instant::now();
    srv.stop(Duration::from_millis(200));
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(190), "{took:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    // The stop's wake-up connection is served too, so one or two handlers ran.
    let n = started.load(Ordering::SeqCst);
    assert!(n >= 1);
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        n,
        "every handler's guard ran"
    );
    assert_eq!(srv.connections(), 0);
}

#[test]
fn idle_connections_are_closed_at_once_on_stop() {
    let srv = StreamServer::new("127.0.0.1:0", |mut conn: Conn, _| {
        let mut buf = [0u8; 64];
        loop {
            if !conn.set_idle() {
                return;
            }
            match conn.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if !conn.set_busy() {
                        return;
                    }
                    let _ = conn.write_all(&buf[..n]);
                }
            }
        }
    })
    .start()
    .unwrap();
    let port = tcp_port(srv.local_addr());
    let mut c = connect(port);
    assert_eq!(roundtrip(&mut c, b"hi"), b"hi");
    let t = Instant::now();
    srv.stop(Duration::from_secs(30));
    // At once: far sooner than the grace period.
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    let mut rest = Vec::new();
    assert_eq!(c.read_to_end(&mut rest).unwrap(), 0, "closed by the server");
    let _ = c.get_ref().shutdown(Shutdown::Both);
}

#[test]
fn a_panicking_handler_affects_only_its_connection() {
    let srv = StreamServer::new("127.0.0.1:0", |mut conn: Conn, _| {
        let mut b = [0u8; 1];
        conn.read_exact(&mut b).unwrap();
        if b[0] == b'!' {
            panic!("boom");
        }
        conn.write_all(&b).unwrap();
    })
    .start()
    .unwrap();
    let port = tcp_port(srv.local_addr());
    let mut bad = connect(port);
    bad.send(b"!");
    let mut rest = Vec::new();
    let _ = bad.read_to_end(&mut rest);
    let mut good = connect(port);
    assert_eq!(roundtrip(&mut good, b"k"), b"k");
    srv.stop(Duration::from_secs(1));
}
