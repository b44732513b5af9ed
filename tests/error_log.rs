//! What reaches the error log: a handler's panic with its location (not raw stderr), and
//! refused requests at WARNING, within a budget of lines a second.

mod common;

use std::time::Duration;

use common::http::{connect, exchange};
use greenlight::wsgi::{Body, Environ, StartResponse, WsgiServer};

fn app(env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
    if env.path() == "/boom" {
        panic!("boom in the handler");
    }
    start.status("200 OK");
    Body::from("ok")
}

/// One test: the logger is process-wide, and the lines of both checks go to one file.
#[test]
fn panics_and_refusals_reach_the_error_log() {
    let path = std::env::temp_dir().join(format!("greenlight-error-log-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    greenlight::logging::init(path.to_str().unwrap(), log::LevelFilter::Info).unwrap();
    let srv = WsgiServer::new("127.0.0.1:0", app).start().unwrap();
    let port = srv.local_addr().port().unwrap();

    // A panicking handler: 500, and the panic's message and location in the log.
    assert_eq!(connect(port).get("/boom").unwrap().status, 500);
    assert_eq!(connect(port).get("/").unwrap().status, 200);

    // 50 malformed requests in a burst: each refused with 400, at most a budget logged.
    for _ in 0..50 {
        let answer = exchange(port, b"GET / HTTP/1.1\r\nBad Header\r\n\r\n");
        assert!(answer.starts_with(b"HTTP/1.1 400 "));
    }
    srv.stop(Duration::from_secs(5));
    greenlight::logging::flush();
    let log = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);

    let panic_line = log
        .lines()
        .find(|l| l.contains("panic on a green thread"))
        .unwrap_or_else(|| panic!("no panic line in:\n{log}"));
    assert!(panic_line.contains("[ERROR]"), "{panic_line}");
    assert!(
        panic_line.contains("tests/error_log.rs:13") && panic_line.contains("boom in the handler"),
        "{panic_line}"
    );
    assert!(
        log.contains("Error handling request GET /boom: app panicked: boom in the handler"),
        "{log}"
    );

    let refused: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("refused a request"))
        .collect();
    assert!(!refused.is_empty(), "{log}");
    // 10 a second: the burst may straddle one second boundary, or two on a slow machine.
    assert!(refused.len() <= 30, "{} refusal lines", refused.len());
    assert!(
        refused[0].contains("[WARNING]") && refused[0].contains("127.0.0.1:"),
        "{}",
        refused[0]
    );
    assert!(refused[0].contains("400 Bad Request"), "{}", refused[0]);
}
