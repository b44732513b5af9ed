//! Shared test support: the crate's example binaries as real processes, an HTTP client
//! ([`http`]), and waiting on conditions instead of sleeping.
#![allow(dead_code)]

pub mod http;
pub mod load;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The pid in a "... (pid: N) ..." or "... with pid: N" log line.
pub fn pid_in(line: &str) -> u32 {
    line.split("pid: ")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {line:?}"))
}

/// Polls `cond` every few milliseconds until it holds or `secs` seconds pass; returns
/// whether it held. For conditions nothing signals (a process exit, a counter, a file).
pub fn wait_until(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The path of an example binary built by `cargo test` (target/<profile>/examples/NAME).
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let p = dir.join("examples").join(name);
    assert!(
        p.exists(),
        "{} is not built (cargo test builds examples)",
        p.display()
    );
    p
}

/// Whether the TCP connection from local port `client` to port `server` has been
/// accepted by some process (Linux's /proc/net/tcp: a connection still in the listen
/// backlog has no inode yet).
pub fn accepted(server: u16, client: u16) -> bool {
    let port = |addr: &str| {
        addr.rsplit(':')
            .next()
            .and_then(|p| u16::from_str_radix(p, 16).ok())
    };
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|table| {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        text.lines().skip(1).any(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            f.len() > 9 && port(f[1]) == Some(server) && port(f[2]) == Some(client) && f[9] != "0"
        })
    })
}

/// A running example, killed when dropped.
pub struct Proc {
    pub child: Child,
    pub port: Option<u16>,
    pub lines: mpsc::Receiver<String>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    /// Waits for a stderr line containing `needle`, for up to `secs` seconds; the lines
    /// before it are consumed.
    pub fn wait_line(&self, needle: &str, secs: u64) -> Option<String> {
        self.wait_line_where(|l| l.contains(needle), secs)
    }

    /// Waits for a stderr line for which `pred` holds, for up to `secs` seconds; the lines
    /// before it are consumed.
    pub fn wait_line_where(&self, mut pred: impl FnMut(&str) -> bool, secs: u64) -> Option<String> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(l) if pred(&l) => return Some(l),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    }

    /// Waits up to `secs` seconds for the process to exit; panics if it does not.
    pub fn wait_exit(&mut self, secs: u64) -> std::process::ExitStatus {
        let mut status = None;
        let exited = wait_until(secs, || {
            status = self.child.try_wait().unwrap();
            status.is_some()
        });
        assert!(exited, "the process did not exit in {secs} s");
        status.unwrap()
    }

    /// Whether the process has a handler for signal number `sig` (Linux's
    /// /proc/PID/status, `SigCgt`).
    pub fn catches(&self, sig: u32) -> bool {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()));
        status.ok().is_some_and(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("SigCgt:"))
                .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
                .is_some_and(|mask| mask & (1 << (sig - 1)) != 0)
        })
    }

    /// Sends a signal. One the process is expected to handle is sent only once it does:
    /// a server logs "Listening at" before its handlers are in place, and the default
    /// action of TERM or HUP is to die.
    pub fn signal(&self, sig: &str) {
        let handled = [
            ("HUP", 1),
            ("INT", 2),
            ("QUIT", 3),
            ("USR1", 10),
            ("USR2", 12),
            ("TERM", 15),
            ("TTIN", 21),
            ("TTOU", 22),
            ("WINCH", 28),
        ];
        if let Some(&(_, n)) = handled.iter().find(|(name, _)| *name == sig) {
            assert!(
                wait_until(10, || self.catches(n)),
                "the process does not handle SIG{sig}"
            );
        }
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig}");
    }
}

/// Starts example `name` with `args`; waits for its "Listening at:" line and reads the
/// port from it (for TCP binds, `http://` or `https://`).
pub fn start(name: &str, args: &[&str]) -> Proc {
    let mut cmd = Command::new(example(name));
    cmd.args(args);
    start_command(cmd, name)
}

/// Starts `cmd` (a server: any program taking the example's flags) as [`start`] does, with
/// its stderr read line by line; `name` is for messages.
pub fn start_command(mut cmd: Command, name: &str) -> Proc {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut p = Proc {
        child,
        port: None,
        lines: rx,
    };
    let line = p
        .wait_line("Listening at:", 20)
        .unwrap_or_else(|| panic!("{name} did not start listening"));
    p.port = line
        .rsplit_once("http://")
        .or_else(|| line.rsplit_once("https://"))
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|a| a.rsplit_once(':'))
        .and_then(|(_, port)| port.parse().ok());
    p
}

/// Runs a command to completion with a time limit; returns (status ok, stdout, stderr).
pub fn run(cmd: &mut Command, secs: u64) -> (bool, String, String) {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run {cmd:?}: {e} (is it installed? .ci/run installs it)")
        });
    let id = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(Ok(out)) => (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ),
        _ => {
            let _ = Command::new("kill").args(["-9", &id.to_string()]).status();
            panic!("{cmd:?} did not finish in {secs} s");
        }
    }
}

/// The nginx binary (Debian's package, installed by CI); a missing one fails the test,
/// never skips it.
pub fn find_nginx() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path).chain([PathBuf::from("/usr/sbin")]);
    for d in dirs {
        let p = d.join("nginx");
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "nginx is not installed: this test runs the examples behind a real nginx. \
         Install Debian's package (`apt-get install nginx`), as .ci/run does."
    );
}

/// A free TCP port on 127.0.0.1 (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts a foreground nginx from a configuration written into `dir`: one process, its pid,
/// logs and temp paths in `dir`, `worker_connections`, an access log unless `access_log`
/// is false, and `http_body` (upstreams and servers) inside `http {}`. Waits up to `secs`
/// until it listens on every one of `ports`; otherwise panics with its error log.
pub fn start_nginx_with(
    dir: &std::path::Path,
    worker_connections: u32,
    access_log: bool,
    http_body: &str,
    ports: &[u16],
    secs: u64,
) -> Child {
    let d = dir.display();
    let access = if access_log {
        format!("{d}/access.log")
    } else {
        "off".to_owned()
    };
    let conf = format!(
        "daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections {worker_connections}; }}
http {{
    access_log {access};
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
{http_body}}}
"
    );
    let conf_path = dir.join("nginx.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let mut child = Command::new(find_nginx())
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(&conf_path)
        .arg("-e")
        .arg(dir.join("error.log"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting nginx");
    for &port in ports {
        if !wait_until(secs, || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        }) {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
            panic!("nginx did not start listening on {port}; its error log:\n{log}");
        }
    }
    child
}

/// The Python interpreter of the tests' virtual environment (`target/ci-venv`, made by
/// `.ci/run`, or `$GREENLIGHT_TEST_VENV`), checked to import `module`: a test that needs
/// it fails, never skips, when it is missing.
#[allow(dead_code)]
pub fn venv_python(module: &str) -> PathBuf {
    let venv = std::env::var_os("GREENLIGHT_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/ci-venv"));
    let python = venv.join("bin/python");
    let ok = Command::new(&python)
        .args(["-c", &format!("import {module}")])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "Python's {module} is needed in the virtual environment {}: .ci/run makes it \
         (python3 -m venv target/ci-venv && target/ci-venv/bin/python -m pip install \
         requests websockets prometheus_client), or set GREENLIGHT_TEST_VENV to one that \
         has it",
        venv.display()
    );
    python
}

/// Stops `srv` with a long grace period and checks that the stop took under 5 s: what it
/// had to close (idle, hibernated connections) was closed at once, not waited for.
pub fn stops_at_once(srv: &greenlight::server::ServerHandle) {
    let t0 = Instant::now();
    srv.stop(Duration::from_secs(30));
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "the stop took {:?}",
        t0.elapsed()
    );
}
