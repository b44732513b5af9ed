//! Upgrades with zero loss, as an operator runs them, with real processes, signals and
//! sockets, under a keep-alive load with slow requests in flight:
//!
//! - USR2 re-executes a binary replaced on disk, which inherits the listeners; the old
//!   master is then stopped (by the operator, or under systemd by the new master);
//! - HUP rolls the workers one at a time, each new one serving before an old one stops;
//! - two instances behind one real nginx `upstream` (unix sockets), each restarted in turn.
//!
//! Nothing may be lost: every request sent is answered 200, every slow request finishes.
//! The old binary is the `sleep` example, the replacement the `supervised` one: their
//! answers tell which binary served.

mod common;

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::http::{Client, Request};
use common::load::{assert_answered, slow, Load, SLOW};
use common::{pid_in, wait_until, Proc};

/// No probe loop runs longer than this, whatever happens.
const LOOP_LIMIT: Duration = Duration::from_secs(60);

/// Waits for `n` workers to boot; their pids.
fn boot(p: &Proc, n: usize) -> Vec<u32> {
    (0..n)
        .map(|_| {
            pid_in(
                &p.wait_line("Booting worker with pid:", 30)
                    .expect("a worker boots"),
            )
        })
        .collect()
}

/// A scratch directory, removed when dropped, with the processes to kill then (a new
/// master is no child of the test).
struct Scratch {
    dir: PathBuf,
    pids: Vec<u32>,
}

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("gl-upgrade-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch {
            dir,
            pids: Vec::new(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        for pid in &self.pids {
            kill(*pid, "KILL");
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn kill(pid: u32, sig: &str) -> bool {
    Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether process `pid` runs (a zombie does not).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .is_some_and(|r| r.trim_start().starts_with('Z'))
    })
}

/// Replaces the file at `path` with a copy of `with`, as a deployment does (a new file
/// renamed over the old: the running program keeps its unlinked copy).
fn replace_binary(path: &Path, with: &Path) {
    let tmp = path.with_extension("new");
    std::fs::copy(with, &tmp).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Starts the binary at `program` with `args` (and `env`), as an operator would.
fn start_at(program: &Path, args: &[&str], env: &[(&str, &Path)]) -> Proc {
    let mut cmd = Command::new(program);
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    common::start_command(cmd, "the copied binary")
}

/// After USR2: the new master's pid, once its workers serve.
fn new_master(old: &Proc) -> u32 {
    let line = old
        .wait_line("as the new master, pid:", 20)
        .expect("USR2 starts a new master");
    let new = pid_in(&line);
    old.wait_line("Upgrade: workers serving", 30)
        .expect("the new master's workers serve");
    new
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .to_owned()
}

/// The body of `GET /?ms=0` on a new connection to `port`.
fn body(port: u16) -> String {
    common::http::get(port, "/?ms=0").map_or_else(|e| e.to_string(), |r| r.text())
}

#[test]
fn usr2_runs_the_replaced_binary_and_loses_nothing() {
    let mut scratch = Scratch::new("usr2");
    let (app, pidfile) = (scratch.path("app"), scratch.path("app.pid"));
    let oldbin = scratch.path("app.pid.oldbin");
    std::fs::copy(common::example("sleep"), &app).unwrap();
    let args = [
        "-b",
        "127.0.0.1:0",
        "-w",
        "2",
        "--graceful-timeout",
        "10",
        "--pid",
        pidfile.to_str().unwrap(),
    ];
    let mut old = start_at(&app, &args, &[]);
    let port = old.port.unwrap();
    boot(&old, 2);
    let master = old.child.id();
    assert_eq!(read(&pidfile), master.to_string());

    let load = Load::start(move || Client::tcp(("127.0.0.1", port)), "/?ms=2");
    let slow: Vec<_> = (0..SLOW).map(|_| slow(port)).collect();
    replace_binary(&app, &common::example("supervised"));
    old.signal("USR2");
    let new = new_master(&old);
    scratch.pids.push(new);
    assert_ne!(new, master);
    // The new master wrote the pid file once its workers served; the old one's moved.
    assert_eq!(read(&pidfile), new.to_string());
    assert_eq!(read(&oldbin), master.to_string());
    // Both generations accept on the shared sockets now; the new binary is among them.
    assert!(
        wait_until(20, || body(port).starts_with("hello from worker")),
        "the replaced binary does not serve"
    );

    // The operator stops the old master: its workers finish what they hold.
    old.signal("TERM");
    assert!(old.wait_exit(30).success(), "the old master's exit status");
    assert!(
        !oldbin.exists(),
        "the old master removes its .oldbin pid file"
    );
    assert_answered(slow);
    load.tally.wait_more(100, "the new binary serves the load");
    load.finish().assert_nothing_lost();
    for _ in 0..10 {
        let b = body(port);
        assert!(b.starts_with("hello from worker"), "answered {b:?}");
    }

    assert!(kill(new, "TERM"));
    assert!(wait_until(30, || !alive(new)), "the new master stops");
    assert!(!pidfile.exists(), "the new master removes its pid file");
}

/// Reads notifications from the fake systemd socket until one contains `want`.
fn notification(sock: &UnixDatagram, want: &str) -> String {
    let mut buf = [0u8; 256];
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let n = sock.recv(&mut buf).expect("a notification");
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        if msg.contains(want) {
            return msg;
        }
    }
    panic!("no {want} notification");
}

/// The systemd handover over a unix socket: `MAINPID`, the old master stopped by the new
/// one, the socket file kept and then removed by its new owner. Zero loss across USR2 is
/// asserted by `usr2_runs_the_replaced_binary_and_loses_nothing` (TCP): over a unix
/// socket with this handover, 1 to 3 requests in a few thousand could still be lost under
/// load (a new connection reset, or an old worker closing keep-alive connections early),
/// which is open work; this test checks the handover alone.
#[test]
fn usr2_under_systemd_hands_over_mainpid_on_a_unix_socket() {
    let mut scratch = Scratch::new("systemd");
    let (app, sock, notify) = (
        scratch.path("app"),
        scratch.path("app.sock"),
        scratch.path("notify"),
    );
    std::fs::copy(common::example("sleep"), &app).unwrap();
    let systemd = UnixDatagram::bind(&notify).unwrap();
    systemd
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let bind = format!("unix:{}", sock.display());
    let args = ["-b", &bind, "--graceful-timeout", "10"];
    let mut old = start_at(&app, &args, &[("NOTIFY_SOCKET", &notify)]);
    boot(&old, 1);
    assert_eq!(notification(&systemd, "READY=1"), "READY=1");

    let path = sock.clone();
    let load = Load::start(move || Client::unix(&path), "/?ms=2");
    replace_binary(&app, &common::example("supervised"));
    old.signal("USR2");
    let new = new_master(&old);
    scratch.pids.push(new);
    assert_eq!(
        notification(&systemd, "MAINPID="),
        format!("MAINPID={new}\nREADY=1")
    );
    // Under systemd the new master stops the old one itself.
    assert!(old.wait_exit(30).success(), "the old master's exit status");
    assert!(
        old.wait_line("The old master", 20).is_some(),
        "the new master sees the old one go"
    );
    assert!(sock.exists(), "the socket file stays for the new master");
    load.tally.wait_more(100, "the new binary serves the load");
    for l in old.lines.try_iter() {
        eprintln!("{l}");
    }
    load.finish().assert_nothing_lost();
    let r = Client::unix(&sock)
        .unwrap()
        .request(&Request::get("/").close())
        .unwrap();
    assert!(r.text().starts_with("hello from worker"), "{:?}", r.text());

    assert!(kill(new, "TERM"));
    assert!(wait_until(30, || !alive(new)), "the new master stops");
    assert!(!sock.exists(), "the new master removes the socket file");
}

/// Opens a new connection every 5 ms and sends one quick request; returns the failures and
/// the slowest answer once `stop` is set. (This churn once crashed new workers with a
/// SIGSEGV in may's sleep: see `tests/green_churn.rs`.)
fn probe(port: u16, stop: Arc<AtomicBool>) -> JoinHandle<(Vec<String>, Duration)> {
    std::thread::spawn(move || {
        let (mut failed, mut slowest) = (Vec::new(), Duration::ZERO);
        let begun = Instant::now();
        while !stop.load(Ordering::SeqCst) && begun.elapsed() < LOOP_LIMIT {
            let t = Instant::now();
            match common::http::get(port, "/?ms=0") {
                Ok(r) if r.status == 200 => slowest = slowest.max(t.elapsed()),
                Ok(r) => failed.push(format!("status {}", r.status)),
                Err(e) => failed.push(e.to_string()),
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        (failed, slowest)
    })
}

#[test]
fn hup_rolls_the_workers_one_at_a_time_and_loses_nothing() {
    const WORKERS: usize = 3;
    let args = ["-b", "127.0.0.1:0", "-w", "3", "--graceful-timeout", "10"];
    let mut p = common::start("sleep", &args);
    let port = p.port.unwrap();
    let old = boot(&p, WORKERS);
    let load = Load::start(move || Client::tcp(("127.0.0.1", port)), "/?ms=2");
    let stop_probe = Arc::new(AtomicBool::new(false));
    let prober = probe(port, stop_probe.clone());
    let slow: Vec<_> = (0..SLOW).map(|_| slow(port)).collect();
    p.signal("HUP");

    // The master stops the k-th old worker once k new ones serve: `WORKERS` accept at
    // every moment, and one more boots at a time.
    let mut stopped = Vec::new();
    while stopped.len() < WORKERS {
        let line = p
            .wait_line_where(
                |l| l.contains("Reload: stopping worker") || l.contains("Reload complete"),
                30,
            )
            .unwrap_or_else(|| panic!("stopped {stopped:?} of {old:?}"));
        assert!(!line.contains("complete"), "{line}");
        let pid = pid_in(&line);
        assert!(old.contains(&pid) && !stopped.contains(&pid), "{line}");
        stopped.push(pid);
        let serving = format!("new workers serving: {} of {WORKERS}", stopped.len());
        assert!(line.contains(&serving), "{line}");
    }
    assert!(p.wait_line("Reload complete", 30).is_some());
    assert_answered(slow);
    load.tally.wait_more(100, "the new workers serve the load");
    // The master's and workers' lines so far, shown if the test fails.
    for l in p.lines.try_iter() {
        eprintln!("{l}");
    }
    stop_probe.store(true, Ordering::SeqCst);
    let (failed, slowest) = prober.join().unwrap();
    load.finish().assert_nothing_lost();
    assert!(failed.is_empty(), "new connections failed: {failed:?}");
    assert!(
        slowest < Duration::from_secs(2),
        "a new connection waited {slowest:?} for a worker"
    );
    p.signal("TERM");
    assert!(p.wait_exit(30).success());
}

/// nginx with one `upstream` of two unix sockets, retrying the other on an error.
fn start_nginx(dir: &Path, socks: [&Path; 2]) -> (Child, u16) {
    let port = common::free_port();
    let body = format!(
        "    upstream app {{
        server unix:{a} max_fails=0;
        server unix:{b} max_fails=0;
        keepalive 16;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
            proxy_next_upstream error timeout http_502;
        }}
    }}
",
        a = socks[0].display(),
        b = socks[1].display()
    );
    let child = common::start_nginx_with(dir, 256, false, &body, &[port], 15);
    (child, port)
}

/// Kills nginx when dropped.
struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One instance: the `sleep` example with one worker on a unix socket.
fn instance(sock: &Path) -> Proc {
    let bind = format!("unix:{}", sock.display());
    let p = common::start("sleep", &["-b", &bind, "--graceful-timeout", "10"]);
    boot(&p, 1);
    p
}

#[test]
fn two_instances_behind_nginx_restart_in_turn_and_lose_nothing() {
    let scratch = Scratch::new("nginx");
    let socks = [scratch.path("a.sock"), scratch.path("b.sock")];
    let mut apps = [instance(&socks[0]), instance(&socks[1])];
    let (nginx, port) = start_nginx(&scratch.dir, [&socks[0], &socks[1]]);
    let _nginx = Nginx(nginx);
    let load = Load::start(move || Client::tcp(("127.0.0.1", port)), "/?ms=20");
    for (i, sock) in socks.iter().enumerate() {
        apps[i].signal("TERM");
        assert!(apps[i].wait_exit(30).success(), "instance {i} stops");
        assert!(!sock.exists(), "instance {i} removed its socket file");
        load.tally.wait_more(50, "the other instance serves alone");
        apps[i] = instance(sock);
        load.tally.wait_more(50, "both instances serve");
    }
    let tally = load.finish();
    let lost = tally.lost.lock().unwrap().clone();
    let log = std::fs::read_to_string(scratch.path("error.log")).unwrap_or_default();
    assert!(lost.is_empty(), "lost {lost:?}; nginx's log:\n{log}");
    tally.assert_nothing_lost();
    for mut app in apps {
        app.signal("TERM");
        assert!(app.wait_exit(30).success());
    }
}
