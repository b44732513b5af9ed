//! Signals under load, as an operator sends them: a graceful stop (TERM) and a reload
//! (HUP), with one worker and with two, while keep-alive clients loop and slow requests
//! run. Nothing may be lost: every request sent is answered, every slow request finishes.
//! Signals that mean nothing to greenlight (WINCH; USR2 except in a master) end no process;
//! USR1 reopens logs and QUIT stops at once, in a master and in `serve_forever`.

mod common;

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::http::{Client, Request};
use common::load::{assert_answered, slow, Load, Tally, CLIENTS, SLOW};
use common::{start, wait_until, Proc};

/// No client loop runs longer than this, whatever happens.
const LOOP_LIMIT: Duration = Duration::from_secs(30);

/// One client that opens a new connection for every request (`Connection: close`), until
/// `stop` or [`LOOP_LIMIT`]: a stop meets a flood of handshakes.
fn fresh_client(port: u16, stop: Arc<AtomicBool>, tally: Arc<Tally>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let begun = Instant::now();
        let req = Request::get("/?ms=1").close().to_bytes();
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        while !stop.load(Ordering::SeqCst) && begun.elapsed() < LOOP_LIMIT {
            // A handshake the stopping server does not complete is retried by the kernel,
            // then refused: not a loss.
            let Ok(s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5)) else {
                tally.refused.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(5));
                continue;
            };
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut c = Client::new(s);
            if c.write_all(&req).and_then(|()| c.flush()).is_err() {
                continue;
            }
            tally.sent.fetch_add(1, Ordering::SeqCst);
            match c.read_response() {
                Ok(r) if r.status == 200 => {
                    tally.ok.fetch_add(1, Ordering::SeqCst);
                }
                Ok(r) => tally.lose(format!("status {}", r.status)),
                Err(e) => tally.lose(format!("{e} on a new connection, {}", tally.since_signal())),
            }
        }
    })
}

/// Waits for `n` workers to boot; their pids.
fn boot(p: &Proc, n: usize) -> Vec<u32> {
    (0..n)
        .map(|_| {
            common::pid_in(
                &p.wait_line("Booting worker with pid:", 20)
                    .expect("a worker boots"),
            )
        })
        .collect()
}

/// Runs `sig` against the `sleep` example with `workers` worker processes under load;
/// asserts that nothing was lost.
fn under_load(workers: usize, sig: &str) {
    let pidfile = std::env::temp_dir().join(format!(
        "gl-signals-{}-{workers}-{sig}.pid",
        std::process::id()
    ));
    let w = workers.to_string();
    let args = ["-b", "127.0.0.1:0", "-w", &w, "--graceful-timeout", "10"];
    let mut p = start(
        "sleep",
        &[&args[..], &["--pid", pidfile.to_str().unwrap()]].concat(),
    );
    let port = p.port.unwrap();
    let old = boot(&p, workers);
    let master = p.child.id().to_string();
    assert_eq!(std::fs::read_to_string(&pidfile).unwrap().trim(), master);

    let load = Load::start(move || Client::tcp(("127.0.0.1", port)), "/?ms=2");
    let tally = load.tally.clone();
    let slow: Vec<_> = (0..SLOW).map(|_| slow(port)).collect();
    tally.mark_signal();
    p.signal(sig);

    if sig == "HUP" {
        // The new generation boots and the old one stops, one worker at a time (the
        // processes' lines interleave in any order); then more load on the new one alone.
        let (mut new, mut stopped) = (Vec::new(), 0);
        while new.len() < workers || stopped < workers {
            let line = p
                .wait_line_where(
                    |l| l.contains("Booting worker with pid:") || l.contains("exited with code 0"),
                    20,
                )
                .unwrap_or_else(|| panic!("booted {new:?}, {stopped} of {old:?} stopped"));
            if line.contains("Booting worker") {
                new.push(common::pid_in(&line));
            } else {
                stopped += 1;
            }
        }
        assert!(new.iter().all(|n| !old.contains(n)), "{new:?} vs {old:?}");
        tally.wait_more(50, "the new workers serve");
        assert_eq!(std::fs::read_to_string(&pidfile).unwrap().trim(), master);
    } else {
        let status = p.wait_exit(20);
        assert!(status.success(), "exit status {status:?}");
        assert!(!pidfile.exists(), "the pid file is removed on exit");
    }
    let tally = load.finish();
    assert_answered(slow);
    tally.assert_none_lost();
    if sig == "HUP" {
        let refused = tally.refused();
        assert_eq!(refused, 0, "a reload refused {refused} connections");
        p.signal("TERM");
        assert!(p.wait_exit(20).success());
    } else {
        assert!(
            Client::tcp(("127.0.0.1", port)).is_err(),
            "connections are refused once stopped"
        );
    }
}

#[test]
fn term_with_one_worker_loses_nothing() {
    under_load(1, "TERM");
}

#[test]
fn term_with_two_workers_loses_nothing() {
    under_load(2, "TERM");
}

#[test]
fn hup_with_one_worker_reloads_and_loses_nothing() {
    under_load(1, "HUP");
}

#[test]
fn hup_with_two_workers_reloads_and_loses_nothing() {
    under_load(2, "HUP");
}

/// A stop while clients open new connections as fast as they can: the listening socket
/// closes with connections still arriving, and none whose request was sent is reset (each
/// is answered, or its handshake never completes and it is refused).
fn stop_under_a_flood_of_new_connections(workers: usize) {
    let w = workers.to_string();
    let mut p = start(
        "sleep",
        &["-b", "127.0.0.1:0", "-w", &w, "--graceful-timeout", "10"],
    );
    let port = p.port.unwrap();
    boot(&p, workers);
    let (stop, tally) = (Arc::new(AtomicBool::new(false)), Arc::new(Tally::default()));
    let clients: Vec<_> = (0..3 * CLIENTS)
        .map(|_| fresh_client(port, stop.clone(), tally.clone()))
        .collect();
    assert!(
        wait_until(20, || tally.ok.load(Ordering::SeqCst) >= 200),
        "requests flow before the signal"
    );
    tally.mark_signal();
    p.signal("TERM");
    assert!(p.wait_exit(20).success());
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.join().unwrap();
    }
    tally.assert_none_lost();
}

#[test]
fn term_under_a_flood_of_new_connections_resets_none() {
    stop_under_a_flood_of_new_connections(2);
}

/// Whether process `pid` has a handler for signal number `sig` (Linux's `SigCgt`).
fn catches(pid: u32, sig: u32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (sig - 1)) != 0)
}

/// Sends each of `sigs` (USR1, USR2, WINCH) to `pid` once it catches it.
fn send_ignored(pid: u32, sigs: &[&str]) {
    for (name, n) in [("USR1", 10), ("USR2", 12), ("WINCH", 28)] {
        if !sigs.contains(&name) {
            continue;
        }
        assert!(
            wait_until(10, || catches(pid, n)),
            "{pid} does not catch SIG{name}"
        );
        let ok = std::process::Command::new("kill")
            .args([&format!("-{name}"), &pid.to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{name} {pid}");
    }
}

#[test]
fn usr1_usr2_and_winch_end_no_process() {
    // A master and its worker (USR2 to a master is a binary upgrade: tests/upgrade.rs).
    let mut p = start("sleep", &["-b", "127.0.0.1:0"]);
    let port = p.port.unwrap();
    let worker = boot(&p, 1)[0];
    send_ignored(p.child.id(), &["WINCH"]);
    send_ignored(worker, &["USR2", "WINCH"]);
    assert!(p.wait_line("Ignoring signal: winch", 10).is_some());
    let r = common::http::get(port, "/?ms=0").unwrap();
    assert_eq!(r.status, 200);
    assert!(p.child.try_wait().unwrap().is_none(), "the master is alive");
    assert!(
        std::path::Path::new(&format!("/proc/{worker}")).exists(),
        "the worker is alive"
    );
    p.signal("TERM");
    assert!(p.wait_exit(20).success());

    // A plain `serve_forever` (no master): USR1 (logrotate's reopen) ends it neither;
    // QUIT stops it at once.
    let mut echo = start("tcp_echo", &["--bind", "127.0.0.1:0"]);
    send_ignored(echo.child.id(), &["USR1", "USR2", "WINCH"]);
    let mut c = common::http::connect(echo.port.unwrap());
    c.send(b"ping");
    let mut got = [0u8; 4];
    std::io::Read::read_exact(&mut c, &mut got).unwrap();
    assert_eq!(&got, b"ping");
    assert!(catches(echo.child.id(), 3), "SIGQUIT is caught");
    echo.signal("QUIT");
    assert!(echo.wait_exit(20).success());
}

/// A worker whose master is killed (no chance to stop it) stops by itself: it must not
/// serve on as an orphan, holding the port.
#[test]
fn a_worker_whose_master_is_killed_exits() {
    let mut p = start("sleep", &["-b", "127.0.0.1:0"]);
    let worker = boot(&p, 1)[0];
    p.signal("KILL");
    p.wait_exit(10);
    let gone = common::wait_until(40, || {
        std::fs::read_to_string(format!("/proc/{worker}/stat")).map_or(true, |s| {
            s.rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z'))
        })
    });
    assert!(gone, "worker {worker} still runs without its master");
}

/// INT is a quick stop: with no client connected, nothing is cut short and the log says
/// no such thing (the accept loops' own wake-up connections are not clients).
#[test]
fn a_quick_stop_of_an_idle_server_warns_of_nothing() {
    let mut p = start("sleep", &["-b", "127.0.0.1:0"]);
    boot(&p, 1);
    p.signal("INT");
    assert!(p.wait_exit(20).success());
    let warned: Vec<String> = p
        .lines
        .try_iter()
        .filter(|l| l.contains("WARNING"))
        .collect();
    assert!(warned.is_empty(), "{warned:?}");
}
