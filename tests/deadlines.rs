//! `--request-timeout`: a handler past its deadline is cancelled at its next yield and the
//! client gets 504 (or, mid-response, a closed connection), while other requests on the
//! same worker are answered as usual.

mod common;

use std::io::Read;
use std::time::{Duration, Instant};

use common::http::connect;
use common::start;

#[test]
fn a_slow_request_gets_504_at_its_deadline_and_others_are_served() {
    let p = start(
        "sleep",
        &[
            "-b",
            "127.0.0.1:0",
            "--threads",
            "1",
            "--request-timeout",
            "1",
        ],
    );
    let port = p.port.unwrap();
    let slow = std::thread::spawn(move || {
        let t = Instant::now();
        let r = connect(port).get("/?ms=5000").expect("an answer");
        (
            r.status,
            r.header("connection").map(str::to_owned),
            t.elapsed(),
        )
    });
    // Meanwhile, on the same (single) worker thread, short requests are answered.
    for _ in 0..5 {
        let t = Instant::now();
        let r = connect(port).get("/?ms=10").expect("an answer");
        assert_eq!(r.status, 200);
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    }
    let (status, connection, took) = slow.join().unwrap();
    assert_eq!(status, 504);
    assert_eq!(connection.as_deref(), Some("close"));
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "{took:?}"
    );
    let line = p
        .wait_line("Request timed out", 10)
        .expect("the timeout is logged");
    assert!(
        line.contains("GET /?ms=5000") && line.contains("127.0.0.1"),
        "{line}"
    );
    p.signal("TERM");
}

#[test]
fn a_stream_past_its_deadline_is_closed_mid_response() {
    let p = start("stream", &["-b", "127.0.0.1:0", "--request-timeout", "1"]);
    let mut c = connect(p.port.unwrap());
    let t = Instant::now();
    c.send(b"GET /?n=20&ms=200 HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut got = Vec::new();
    c.get_mut()
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let _ = c.get_mut().read_to_end(&mut got);
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    assert!(text.contains("chunk 1 of 20"), "{text}");
    assert!(
        !text.contains("chunk 20 of 20") && !text.ends_with("0\r\n\r\n"),
        "{text}"
    );
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert!(p.wait_line("past the request's deadline", 10).is_some());
    p.signal("TERM");
}

#[test]
fn the_watchdog_names_a_request_that_blocks_its_worker_thread_once() {
    let p = start(
        "sleep",
        &["-b", "127.0.0.1:0", "--max-blocking-time", "0.5"],
    );
    let port = p.port.unwrap();
    // A green sleep parks: no warning, however long.
    assert_eq!(connect(port).get("/?ms=1200").unwrap().status, 200);
    // std::thread::sleep blocks the worker thread: one warning, naming the request.
    assert_eq!(connect(port).get("/block?ms=1500").unwrap().status, 200);
    let line = p
        .wait_line("has not yielded", 10)
        .expect("the stall is reported");
    assert!(
        line.contains("WARNING") && line.contains("GET /block?ms=1500"),
        "{line}"
    );
    assert!(
        p.wait_line("has not yielded", 1).is_none(),
        "one warning per stall, none for the green sleep"
    );
    p.signal("TERM");
}
