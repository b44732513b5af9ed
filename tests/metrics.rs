//! `--metrics-bind` and `--statsd-host` with real worker processes: the master's
//! `/metrics` checked with a real Prometheus parser (Python's `prometheus_client`, in
//! `target/ci-venv` as `.ci/run` makes it, or the venv `GREENLIGHT_TEST_VENV` names;
//! without it the tests fail), a worker killed with SIGKILL, statsd over UDP.
//!
//! Run `cargo build --examples` first: these tests start the `hello` and `supervised`
//! examples.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{start, wait_until, Proc};

/// Starts example `name` with a master's metrics endpoint on a free port; returns it and
/// (server port, metrics port).
fn with_metrics(name: &str, args: &[&str]) -> (Proc, u16, u16) {
    let mut all = vec!["-b", "127.0.0.1:0", "--metrics-bind", "127.0.0.1:0"];
    all.extend_from_slice(args);
    let p = start(name, &all);
    let line = p.wait_line("Metrics at:", 20).expect("a metrics address");
    let port = line
        .rsplit_once("127.0.0.1:")
        .and_then(|(_, rest)| rest.split('/').next())
        .and_then(|p| p.parse().ok())
        .expect("a metrics port");
    let server = p.port.unwrap();
    (p, server, port)
}

/// Waits until the workers answer.
fn booted(port: u16) {
    assert!(
        wait_until(20, || common::http::get(port, "/")
            .is_ok_and(|r| r.status == 200)),
        "no worker answered"
    );
}

/// The body of `GET path` on the metrics port.
fn scrape_path(port: u16, path: &str) -> (u16, String) {
    let r = common::http::get(port, path).expect("a metrics answer");
    (r.status, r.text())
}

fn scrape(port: u16) -> String {
    let (status, text) = scrape_path(port, "/metrics");
    assert_eq!(status, 200, "{text}");
    text
}

/// Parses the exposition with prometheus_client; prints one `name{labels} value` line per
/// sample (labels sorted), or fails on text it rejects.
const PARSE: &str = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
        print(f"{fam.type} {s.name}{{{labels}}} {s.value!r}")
"#;

/// The samples of `text` as the parser read them: `name{labels}` -> value, and each
/// family's type by sample name.
fn parse(text: &str) -> (HashMap<String, f64>, HashMap<String, String>) {
    let mut child = Command::new(common::venv_python("prometheus_client"))
        .args(["-c", PARSE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "prometheus_client rejects the exposition: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut values = HashMap::new();
    let mut types = HashMap::new();
    for line in stdout.lines() {
        let mut f = line.splitn(3, ' ');
        let (kind, key, v) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
        values.insert(key.to_owned(), v.parse::<f64>().unwrap());
        types.insert(key.split('{').next().unwrap().to_owned(), kind.to_owned());
    }
    (values, types)
}

/// The sum of every sample of `name` (all label sets).
fn sum(values: &HashMap<String, f64>, name: &str) -> f64 {
    let prefix = format!("{name}{{");
    values
        .iter()
        .filter(|(k, _)| k.starts_with(&prefix))
        .map(|(_, v)| v)
        .sum()
}

#[test]
fn two_hundred_requests_over_two_workers_show_in_the_totals_and_the_histogram() {
    let (_p, port, metrics) = with_metrics("hello", &["-w", "2"]);
    booted(port);
    let mut sent = 1; // the one `booted` made
                      // Keep-alive connections and new ones, so that both workers likely take some.
    for _ in 0..20 {
        let mut c = common::http::connect(port);
        for _ in 0..9 {
            assert_eq!(c.get("/").unwrap().status, 200);
            sent += 1;
        }
    }
    while sent < 201 {
        assert_eq!(common::http::get(port, "/").unwrap().status, 200);
        sent += 1;
    }
    let mut values = HashMap::new();
    let mut types = HashMap::new();
    let counted = wait_until(10, || {
        (values, types) = parse(&scrape(metrics));
        sum(&values, "greenlight_requests_total") >= 201.0
    });
    assert!(counted, "{values:?}");
    let total = sum(&values, "greenlight_requests_total");
    assert_eq!(total, 201.0);
    assert_eq!(
        values[r#"greenlight_requests_total{method="GET",status="2xx"}"#],
        201.0
    );
    assert_eq!(types["greenlight_requests_total"], "counter");
    assert_eq!(
        types["greenlight_request_duration_seconds_bucket"],
        "histogram"
    );
    // Cumulative buckets, ending at +Inf = _count = the request total.
    let les = [
        "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf",
    ];
    let buckets: Vec<f64> = les
        .iter()
        .map(|le| values[&format!("greenlight_request_duration_seconds_bucket{{le=\"{le}\"}}")])
        .collect();
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
    assert_eq!(*buckets.last().unwrap(), total);
    assert_eq!(values["greenlight_request_duration_seconds_count{}"], total);
    assert!(values["greenlight_request_duration_seconds_sum{}"] > 0.0);
    assert_eq!(values["greenlight_workers{}"], 2.0);
    assert!(values["greenlight_received_bytes_total{}"] > 201.0 * 16.0);
    assert!(values["greenlight_sent_bytes_total{}"] > 201.0 * 14.0);
    for id in ["1", "2"] {
        let age = values[&format!("greenlight_worker_heartbeat_age_seconds{{worker=\"{id}\"}}")];
        assert!((0.0..30.0).contains(&age), "{age}");
    }
    assert_eq!(values["greenlight_requests_in_flight{}"], 0.0);
    // Gauges are sampled a few times a second: the accept loops show up soon.
    let sampled = wait_until(10, || {
        parse(&scrape(metrics)).0["greenlight_green_threads{}"] >= 2.0
    });
    assert!(sampled);
    assert_eq!(values["greenlight_watchdog_warnings_total{}"], 0.0);
    assert_eq!(sum(&values, "greenlight_worker_restarts_total"), 0.0);
}

/// The pid in a "hello from worker N (pid P)"-style answer: its last word.
fn pid_of(body: &str) -> i32 {
    body.trim()
        .rsplit(' ')
        .next()
        .and_then(|p| p.trim_matches(|c: char| !c.is_ascii_digit()).parse().ok())
        .unwrap_or_else(|| panic!("a pid in {body:?}"))
}

#[test]
fn a_worker_killed_with_sigkill_keeps_its_counts_and_counts_as_a_signal_restart() {
    let (_p, port, metrics) = with_metrics("supervised", &["-w", "2"]);
    booted(port);
    let mut by_pid: HashMap<i32, u32> = HashMap::new();
    for _ in 0..60 {
        let r = common::http::get(port, "/").unwrap();
        assert_eq!(r.status, 200);
        *by_pid.entry(pid_of(&r.text())).or_default() += 1;
    }
    let total = 61.0;
    let (&victim, &served) = by_pid.iter().max_by_key(|(_, n)| **n).unwrap();
    assert!(served > 0);
    let ok = Command::new("kill")
        .args(["-KILL", &victim.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let mut values = HashMap::new();
    let replaced = wait_until(20, || {
        values = parse(&scrape(metrics)).0;
        values[r#"greenlight_worker_restarts_total{cause="signal"}"#] == 1.0
            && values["greenlight_workers{}"] == 2.0
    });
    assert!(replaced, "{values:?}");
    assert_eq!(sum(&values, "greenlight_requests_total"), total);
    assert_eq!(values["greenlight_request_duration_seconds_count{}"], total);
    assert_eq!(
        values[r#"greenlight_worker_restarts_total{cause="exit"}"#],
        0.0
    );
    // The replacement counts on from there.
    booted(port);
    let grew = wait_until(10, || {
        sum(&parse(&scrape(metrics)).0, "greenlight_requests_total") == total + 1.0
    });
    assert!(grew);
}

#[test]
fn the_endpoint_answers_only_metrics_and_a_silent_scraper_blocks_nothing() {
    let (_p, port, metrics) = with_metrics("hello", &[]);
    booted(port);
    // A scraper that connects and says nothing holds only its own thread.
    let mut silent = TcpStream::connect(("127.0.0.1", metrics)).unwrap();
    assert_eq!(common::http::get(port, "/").unwrap().status, 200);
    assert!(scrape(metrics).contains("greenlight_requests_total"));
    assert_eq!(scrape_path(metrics, "/").0, 404);
    let mut c = common::http::connect(metrics);
    let r = c
        .request(&common::http::Request::new("POST", "/metrics"))
        .unwrap();
    assert_eq!(r.status, 405);
    // A head larger than the bound is refused (431, or a reset when the unread rest
    // arrives first), not buffered; the endpoint goes on serving.
    let mut big = TcpStream::connect(("127.0.0.1", metrics)).unwrap();
    let head = format!("GET /metrics HTTP/1.1\r\nX: {}\r\n", "a".repeat(9000));
    let _ = big.write_all(head.as_bytes());
    let mut answer = Vec::new();
    let _ = big.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "{answer}"
    );
    assert!(scrape(metrics).contains("greenlight_requests_total"));
    let _ = silent.write_all(b"");
}

/// With every scraper thread held (silent scrapers), the next scraper waits for one to
/// free instead of being closed unanswered.
#[test]
fn a_scraper_beyond_the_thread_limit_waits_for_a_free_thread() {
    let (_p, port, metrics) = with_metrics("hello", &[]);
    booted(port);
    // The endpoint's limit is 4 threads; these hold them all (accepted in order).
    let mut silent: Vec<TcpStream> = (0..4)
        .map(|_| TcpStream::connect(("127.0.0.1", metrics)).unwrap())
        .collect();
    let (sent, is_sent) = std::sync::mpsc::channel();
    let scraper = std::thread::spawn(move || {
        let mut c = TcpStream::connect(("127.0.0.1", metrics)).unwrap();
        c.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        sent.send(()).unwrap();
        let mut answer = Vec::new();
        c.read_to_end(&mut answer).map(|_| answer)
    });
    is_sent.recv().unwrap();
    // One silent scraper hangs up: its thread is free for the waiting one.
    drop(silent.pop());
    let answer = scraper.join().unwrap().expect("an answer, not a reset");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("greenlight_requests_total"), "{answer}");
}

#[test]
fn statsd_gets_gunicorns_metrics_with_the_prefix() {
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let host = udp.local_addr().unwrap().to_string();
    let p = start(
        "hello",
        &[
            "-b",
            "127.0.0.1:0",
            "--statsd-host",
            &host,
            "--statsd-prefix",
            "app",
        ],
    );
    let port = p.port.unwrap();
    booted(port);
    for _ in 0..4 {
        assert_eq!(common::http::get(port, "/").unwrap().status, 200);
    }
    let mut lines: Vec<String> = Vec::new();
    let mut buf = [0u8; 65536];
    let all = wait_until(10, || {
        if let Ok(n) = udp.recv(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            lines.extend(text.lines().map(str::to_owned));
        }
        let requests = lines
            .iter()
            .filter(|l| *l == "app.gunicorn.requests:1|c|@1.0")
            .count();
        requests >= 5 && lines.iter().any(|l| l == "app.gunicorn.workers:1|g")
    });
    assert!(all, "{lines:?}");
    assert!(lines
        .iter()
        .any(|l| l == "app.gunicorn.request.status.200:1|c|@1.0"));
    assert!(lines
        .iter()
        .any(|l| l.starts_with("app.gunicorn.request.duration:") && l.ends_with("|ms")));
}
