//! Supervised worker processes (`-w N`) as an operator runs them: crashes, timeouts,
//! reloads, resizes and stops, with real processes, signals and sockets.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use common::{start, Proc};

/// One request on a new connection; the body of a 200, or None if it failed.
fn get(port: u16, path: &str) -> Option<String> {
    let r = common::http::get(port, path).ok()?;
    (r.status == 200).then(|| r.text())
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
    p.wait_exit(secs)
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
    let (busy_tx, busy) = mpsc::channel();
    let done = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let client = {
        let (done, served) = (done.clone(), served.clone());
        std::thread::spawn(move || {
            let (mut ok, mut failed) = (0, 0);
            while !done.load(Ordering::SeqCst) {
                match get(port, "/") {
                    Some(_) => ok += 1,
                    None => failed += 1,
                }
                served.store(ok, Ordering::SeqCst);
                if ok == 20 {
                    let _ = busy_tx.send(());
                }
            }
            (ok, failed)
        })
    };
    // Reload under load: once requests flow, until the old generation is gone.
    busy.recv_timeout(Duration::from_secs(20))
        .expect("requests flow before the reload");
    p.signal("HUP");
    let (mut new, mut gone) = (Vec::new(), Vec::new());
    while new.len() < 2 || gone.len() < old.len() {
        let line = p
            .wait_line_where(|l| l.contains("pid: "), 20)
            .unwrap_or_else(|| panic!("booted {new:?}, stopped {gone:?} of {old:?}"));
        let pid = common::pid_in(&line) as i32;
        if line.contains("Booting worker") {
            new.push(pid);
        } else if old.contains(&pid)
            && [") exited", ") was killed", ") ended"]
                .iter()
                .any(|how| line.contains(how))
        {
            gone.push(pid);
        }
    }
    assert!(new.iter().all(|n| !old.contains(n)));
    // More load on the new generation alone, for a while and a number of requests.
    let t = Instant::now();
    while t.elapsed() < Duration::from_millis(300) {
        assert!(get(port, "/").is_some());
    }
    let after = served.load(Ordering::SeqCst);
    common::wait_until(20, || served.load(Ordering::SeqCst) > after.max(50) + 10);
    done.store(true, Ordering::SeqCst);
    let (ok, failed) = client.join().unwrap();
    assert_eq!(
        failed,
        0,
        "{failed} of {} requests failed during the reload",
        ok + failed
    );
    assert!(ok > 50, "only {ok} requests");
    // The old generation is gone, the new one answers.
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
    let mut slow = common::http::connect(port);
    let me = slow.get_ref().local_addr().unwrap().port();
    slow.send(b"GET /sleep?ms=800 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    // A worker has taken the connection, whose request is already in its buffer.
    assert!(
        common::wait_until(10, || common::accepted(port, me)),
        "no worker accepted the connection"
    );
    p.signal("TERM");
    let r = slow
        .read_response()
        .expect("the in-flight request finished");
    assert_eq!(r.status, 200);
    let body = r.text();
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
    let (mut p, port, workers) = master(&["-w", "2", "--access-logfile", log.to_str().unwrap()]);
    assert!(get(port, "/before").is_some());
    let wait_for = |path: &std::path::Path, needle: &str| {
        common::wait_until(10, || {
            std::fs::read_to_string(path).is_ok_and(|s| s.contains(needle))
        })
    };
    assert!(wait_for(&log, "GET /before"));
    // Rotate as logrotate does: rename, then USR1.
    let rotated = dir.join("access.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    p.signal("USR1");
    assert!(p.wait_line("reopening log files", 10).is_some());
    // Every process has let go of the rotated file (the workers reopen on the master's
    // word, silently).
    let holds = |pid: u32| {
        std::fs::read_dir(format!("/proc/{pid}/fd")).is_ok_and(|fds| {
            fds.flatten()
                .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|t| t == rotated))
        })
    };
    let pids: Vec<u32> = workers
        .iter()
        .map(|&w| w as u32)
        .chain([p.child.id()])
        .collect();
    assert!(
        common::wait_until(10, || !pids.iter().any(|&pid| holds(pid))),
        "the rotated file is still open"
    );
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

/// A burst of keep-alive connections (as a load balancer or a benchmark opens them) is
/// spread evenly over the workers, which share one listening socket: each publishes its
/// connection count, and one that serves more than another steps back from `accept`.
/// Without that, the first worker to wake took most of a burst (1.8x to 2.1x the mean
/// share of 100 connections over 4 workers).
#[test]
fn a_burst_of_connections_is_spread_evenly_over_the_workers() {
    const CONNS: usize = 100;
    const WORKERS: usize = 4;
    let (mut p, port, pids) = master(&["-w", "4"]);
    // Every connection is opened at once, from threads released together.
    let go = Arc::new(std::sync::Barrier::new(CONNS));
    let opened: Vec<_> = (0..CONNS)
        .map(|_| {
            let go = go.clone();
            std::thread::spawn(move || {
                go.wait();
                let mut c = common::http::Client::tcp(("127.0.0.1", port)).unwrap();
                let r = c.get("/").unwrap();
                let pid: i32 = r.text().trim().rsplit(' ').next().unwrap().parse().unwrap();
                (c, pid)
            })
        })
        .collect();
    let held: Vec<_> = opened.into_iter().map(|t| t.join().unwrap()).collect();
    let mut share = std::collections::HashMap::new();
    for (_, pid) in &held {
        *share.entry(*pid).or_insert(0usize) += 1;
    }
    let most = share.values().copied().max().unwrap();
    let mean = CONNS / WORKERS;
    assert!(
        share.keys().all(|k| pids.contains(k)),
        "{share:?} vs {pids:?}"
    );
    // A debug build on a loaded machine wakes its workers late: this bounds only a gross
    // imbalance; `scripts/worker_share.py` measures a release build.
    assert!(
        most * 2 <= mean * 3,
        "one worker holds {most} of {CONNS} connections (mean {mean}): {share:?}"
    );
    drop(held);
    kill(p.child.id() as i32, "TERM");
    assert!(wait_exit(&mut p, 20).success());
}

/// The answer that reaches `--max-requests` closes its keep-alive connection (as
/// gunicorn's): a client does not send its next request on a connection that the
/// recycling worker then closes unanswered.
#[test]
fn the_answer_at_max_requests_closes_its_connection() {
    let (mut p, port, _first) = master(&["-w", "1", "--max-requests", "3"]);
    let mut c = common::http::connect(port);
    for i in 1..=3 {
        let r = c.get("/").unwrap();
        assert_eq!(r.status, 200, "request {i}");
        let close = r
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        assert_eq!(close, i == 3, "request {i}: {:?}", r.header("connection"));
    }
    assert!(c.is_closed(), "closed after the last answer");
    kill(p.child.id() as i32, "TERM");
    assert!(wait_exit(&mut p, 20).success());
}

/// `--max-requests N`: a worker that answered N requests recycles itself (gunicorn's
/// memory-leak guard), a new one takes over, and no request fails on the way.
#[test]
fn max_requests_recycles_the_worker_and_loses_nothing() {
    let (mut p, port, first) = master(&["-w", "1", "--max-requests", "5"]);
    let ask = |i: usize| {
        let r = common::http::get(port, "/").unwrap_or_else(|e| panic!("request {i}: {e}"));
        assert_eq!(r.status, 200, "request {i}");
        r.text()
            .trim()
            .rsplit(' ')
            .next()
            .unwrap()
            .parse::<i32>()
            .unwrap()
    };
    for i in 0..6 {
        assert_eq!(ask(i), first[0]);
    }
    assert!(
        p.wait_line("max requests reached", 20).is_some(),
        "the worker says why it recycles"
    );
    let next = booted(&p, 1, 20);
    assert_ne!(next, first);
    // Requests sent meanwhile and from now on are all answered, by the new worker.
    for i in 6..12 {
        assert_eq!(ask(i), next[0]);
    }
    kill(p.child.id() as i32, "TERM");
    assert!(wait_exit(&mut p, 20).success());
}
