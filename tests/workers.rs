//! Supervised worker processes (`-w N`) as an operator runs them: crashes, timeouts,
//! reloads, resizes and stops, with real processes, signals and sockets.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{start, Proc};

/// One request on a new connection; the body, or None if it failed.
fn get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    if !out.starts_with("HTTP/1.1 200") {
        return None;
    }
    out.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())
}

/// The pid in a "hello from worker N" answer.
fn worker_pid(port: u16) -> i32 {
    let body = get(port, "/").expect("an answer");
    body.trim()
        .rsplit(' ')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a pid")
}

/// Waits for `n` "Booting worker" lines; returns their pids.
fn booted(p: &Proc, n: usize, secs: u64) -> Vec<i32> {
    (0..n)
        .map(|_| {
            let l = p
                .wait_line("Booting worker with pid:", secs)
                .expect("a worker booted");
            l.split("pid: ")
                .nth(1)
                .unwrap()
                .split_whitespace()
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect()
}

fn kill(pid: i32, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

fn wait_exit(p: &mut Proc, secs: u64) -> std::process::ExitStatus {
    let t = Instant::now();
    loop {
        if let Some(s) = p.child.try_wait().unwrap() {
            return s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(secs),
            "the master did not exit"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn master(args: &[&str]) -> (Proc, u16, Vec<i32>) {
    let mut all = vec!["-b", "127.0.0.1:0"];
    all.extend_from_slice(args);
    let p = start("supervised", &all);
    let port = p.port.unwrap();
    let n = args
        .iter()
        .position(|a| *a == "-w")
        .map(|i| args[i + 1].parse().unwrap())
        .unwrap_or(1);
    let pids = booted(&p, n, 20);
    (p, port, pids)
}

#[test]
fn a_killed_worker_is_replaced_while_requests_keep_succeeding() {
    let (mut p, port, pids) = master(&["-w", "2"]);
    kill(pids[0], "KILL");
    // The other worker keeps answering at once; a replacement boots.
    for _ in 0..20 {
        assert!(
            get(port, "/").is_some(),
            "a request failed after a worker died"
        );
    }
    let new = booted(&p, 1, 20);
    assert!(!pids.contains(&new[0]));
    p.signal("TERM");
    assert!(wait_exit(&mut p, 20).success());
}

#[test]
fn a_stack_overflow_costs_only_its_connection_and_worker() {
    let (mut p, port, _) = master(&["-w", "2"]);
    let t = Instant::now();
    assert!(
        get(port, "/overflow").is_none(),
        "no answer for the overflowing request"
    );
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "the client is not left hanging"
    );
    assert!(p.wait_line("overflowed its stack", 10).is_some());
    for _ in 0..20 {
        assert!(get(port, "/").is_some(), "others are served");
    }
    // The worker that saw it recycles itself; a new one boots.
    booted(&p, 1, 20);
    p.signal("TERM");
    assert!(wait_exit(&mut p, 20).success());
}

#[test]
fn a_stuck_worker_is_replaced_after_the_timeout() {
    let (mut p, port, _) = master(&["-w", "2", "--threads", "1", "--timeout", "1"]);
    // Block one worker's only thread.
    std::thread::spawn(move || get(port, "/stuck"));
    let line = p
        .wait_line("WORKER TIMEOUT", 10)
        .expect("the stuck worker is noticed");
    assert!(line.contains("killing it"), "{line}");
    booted(&p, 1, 20);
    for _ in 0..10 {
        assert!(get(port, "/").is_some());
    }
    p.signal("TERM");
    assert!(wait_exit(&mut p, 20).success());
}

#[test]
fn sighup_under_load_loses_no_request() {
    let (mut p, port, old) = master(&["-w", "2"]);
    let client = std::thread::spawn(move || {
        let t = Instant::now();
        let (mut ok, mut failed) = (0, 0);
        while t.elapsed() < Duration::from_millis(2500) {
            match get(port, "/") {
                Some(_) => ok += 1,
                None => failed += 1,
            }
        }
        (ok, failed)
    });
    std::thread::sleep(Duration::from_millis(500));
    p.signal("HUP");
    let new = booted(&p, 2, 20);
    assert!(new.iter().all(|n| !old.contains(n)));
    let (ok, failed) = client.join().unwrap();
    assert_eq!(
        failed,
        0,
        "{failed} of {} requests failed during the reload",
        ok + failed
    );
    assert!(ok > 50, "only {ok} requests");
    // The old generation is gone, the new one answers.
    std::thread::sleep(Duration::from_millis(300));
    for _ in 0..10 {
        let pid = worker_pid(port);
        assert!(
            new.contains(&pid),
            "answered by {pid}, not the new workers {new:?}"
        );
    }
    p.signal("TERM");
    assert!(wait_exit(&mut p, 20).success());
}

#[test]
fn sigterm_lets_a_slow_request_finish() {
    let (mut p, port, _) = master(&["-w", "2", "--graceful-timeout", "10"]);
    let slow = std::thread::spawn(move || get(port, "/sleep?ms=800"));
    std::thread::sleep(Duration::from_millis(200));
    p.signal("TERM");
    let body = slow
        .join()
        .unwrap()
        .expect("the in-flight request finished");
    assert!(body.starts_with("slept 800 ms"), "{body}");
    assert!(wait_exit(&mut p, 20).success());
}

#[test]
fn ttin_and_ttou_resize_and_the_pid_file_comes_and_goes() {
    let pidfile = std::env::temp_dir().join(format!("gl-master-{}.pid", std::process::id()));
    let pf = pidfile.to_str().unwrap().to_owned();
    let (mut p, port, _) = master(&["-w", "2", "--pid", &pf]);
    assert_eq!(
        std::fs::read_to_string(&pidfile).unwrap().trim(),
        p.child.id().to_string()
    );
    p.signal("TTIN");
    booted(&p, 1, 20);
    p.signal("TTOU");
    assert!(
        p.wait_line("exited with code 0", 20).is_some(),
        "one worker stopped"
    );
    assert!(get(port, "/").is_some());
    p.signal("TERM");
    assert!(wait_exit(&mut p, 20).success());
    assert!(!pidfile.exists(), "the pid file is removed on exit");
}

#[test]
fn usr1_reopens_the_access_log_after_rotation() {
    let dir = std::env::temp_dir().join(format!("gl-usr1-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("access.log");
    let (mut p, port, _) = master(&["-w", "2", "--access-logfile", log.to_str().unwrap()]);
    assert!(get(port, "/before").is_some());
    let wait_for = |path: &std::path::Path, needle: &str| {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            if std::fs::read_to_string(path).is_ok_and(|s| s.contains(needle)) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    };
    assert!(wait_for(&log, "GET /before"));
    // Rotate as logrotate does: rename, then USR1.
    let rotated = dir.join("access.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    p.signal("USR1");
    assert!(p.wait_line("reopening log files", 10).is_some());
    std::thread::sleep(Duration::from_millis(300));
    for _ in 0..4 {
        assert!(get(port, "/after").is_some());
    }
    assert!(wait_for(&log, "GET /after"), "new lines go to the new file");
    assert!(!std::fs::read_to_string(&rotated)
        .unwrap()
        .contains("/after"));
    p.signal("TERM");
    assert!(wait_exit(&mut p, 20).success());
    std::fs::remove_dir_all(&dir).unwrap();
}
