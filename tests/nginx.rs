//! A real nginx in front of the `proxy_fix` example, over TCP and over a unix socket: the
//! app must see the client's address, the Host the client sent, and nginx's scheme, and a
//! client forging `X-Forwarded-*` headers must not change them.
//!
//! Needs `nginx` (Debian's package, installed by CI) and the example binaries (plain
//! `cargo test` builds them). Missing either is a failure, never a silent skip.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};

/// How long anything may take to start.
const START: Duration = Duration::from_secs(15);

/// Kills the processes it holds, and removes the scratch directory, when dropped (also
/// when an assertion fails).
struct Guard {
    children: Vec<Child>,
    dir: PathBuf,
}

impl Drop for Guard {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn find_nginx() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path).chain([PathBuf::from("/usr/sbin")]);
    for d in dirs {
        let p = d.join("nginx");
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "nginx is not installed: this test runs the proxy_fix example behind a real nginx. \
         Install Debian's package (`apt-get install nginx`), as .ci/run does."
    );
}

/// `target/<profile>/examples/proxy_fix`, next to this test's `deps/` directory.
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>");
    let bin = profile_dir.join("examples").join("proxy_fix");
    assert!(
        bin.is_file(),
        "{} is missing: build the examples first (plain `cargo test` does, or \
         `cargo build --examples`)",
        bin.display()
    );
    bin
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the example on `bind` and waits for its `Listening at:` line; returns what
/// follows it (`http://127.0.0.1:PORT` or `unix:PATH`).
fn start_app(guard: &mut Guard, bind: &str) -> String {
    let mut child = Command::new(example_binary())
        .args(["--bind", bind])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the proxy_fix example");
    let stderr = child.stderr.take().unwrap();
    guard.children.push(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                // Keep draining so the app never blocks on a full pipe.
                continue;
            }
        }
    });
    let until = Instant::now() + START;
    let mut seen = Vec::new();
    loop {
        let left = until.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                if let Some(rest) = line.split("Listening at: ").nth(1) {
                    return rest.split(' ').next().unwrap().to_owned();
                }
                seen.push(line);
            }
            Err(_) => panic!("the example did not start on {bind}; it said: {seen:?}"),
        }
    }
}

const PROXY_HEADERS: &str = "
        proxy_set_header Host $host;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header X-Forwarded-Host $host;";

fn start_nginx(guard: &mut Guard, tcp_upstream: &str, unix_upstream: &Path) -> (u16, u16) {
    let dir = guard.dir.clone();
    let (p1, p2) = (free_port(), free_port());
    let d = dir.display();
    let conf = format!(
        "daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{
        listen 127.0.0.1:{p1};
        location / {{
            proxy_pass {tcp_upstream};{PROXY_HEADERS}
        }}
    }}
    server {{
        listen 127.0.0.1:{p2};
        location / {{
            proxy_pass http://unix:{sock}:;{PROXY_HEADERS}
        }}
    }}
}}
",
        sock = unix_upstream.display()
    );
    let conf_path = dir.join("nginx.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let child = Command::new(find_nginx())
        .arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg(&conf_path)
        .arg("-e")
        .arg(dir.join("error.log"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting nginx");
    guard.children.push(child);
    let until = Instant::now() + START;
    for port in [p1, p2] {
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > until {
                let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
                panic!("nginx did not start listening on {port}; its error log:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    (p1, p2)
}

/// Sends a GET with `headers` to `port` from the source address `from`, and returns the
/// response (status line and JSON body).
fn get(from: &str, port: u16, headers: &str) -> String {
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    let src: SocketAddr = format!("{from}:0").parse().unwrap();
    sock.bind(&src.into()).unwrap();
    let dst: SocketAddr = ([127, 0, 0, 1], port).into();
    sock.connect_timeout(&dst.into(), Duration::from_secs(5))
        .unwrap();
    let mut s: TcpStream = sock.into();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let req = format!(
        "GET /where?x=1 HTTP/1.1\r\nHost: app.example\r\n{headers}Connection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    out
}

/// The value of `key` in the example's JSON answer.
fn field<'a>(resp: &'a str, key: &str) -> Option<&'a str> {
    let needle = format!("\"{key}\":\"");
    let start = resp.find(&needle)? + needle.len();
    let len = resp[start..].find('"')?;
    Some(&resp[start..start + len])
}

fn scratch_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("greenlight-nginx-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn proxy_fix_behind_nginx() {
    let mut guard = Guard {
        children: Vec::new(),
        dir: scratch_dir(),
    };
    let app_url = start_app(&mut guard, "127.0.0.1:0");
    assert!(app_url.starts_with("http://127.0.0.1:"), "{app_url}");
    let app_port: u16 = app_url.rsplit(':').next().unwrap().parse().unwrap();
    let sock = guard.dir.join("app.sock");
    start_app(&mut guard, &format!("unix:{}", sock.display()));
    let (tcp_port, unix_port) = start_nginx(&mut guard, &app_url, &sock);

    // The client connects from 127.0.0.2, nginx (and so the app's peer) is 127.0.0.1:
    // REMOTE_ADDR shows which address the app believed.
    let client = "127.0.0.2";
    for (via, port, server_peer) in [("tcp", tcp_port, "127.0.0.1"), ("unix", unix_port, "")] {
        let r = get(client, port, "");
        assert_eq!(field(&r, "REMOTE_ADDR"), Some(client), "{via}: {r}");
        assert_eq!(
            field(&r, "proxy_fix.orig.REMOTE_ADDR"),
            Some(server_peer),
            "{via}: {r}"
        );
        assert_eq!(field(&r, "HTTP_HOST"), Some("app.example"), "{via}: {r}");
        assert_eq!(field(&r, "SERVER_NAME"), Some("app.example"), "{via}: {r}");
        assert_eq!(field(&r, "wsgi.url_scheme"), Some("http"), "{via}: {r}");
        assert_eq!(field(&r, "HTTP_X_REAL_IP"), Some(client), "{via}: {r}");
        assert_eq!(field(&r, "PATH_INFO"), Some("/where"), "{via}: {r}");

        // A client forging the headers: nginx appends to X-Forwarded-For and replaces
        // the others; only the entry nginx added counts.
        let forged = "X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: https\r\n\
                      X-Forwarded-Host: evil.example\r\nX-Real-IP: 6.6.6.6\r\n";
        let r = get(client, port, forged);
        assert_eq!(
            field(&r, "HTTP_X_FORWARDED_FOR"),
            Some("6.6.6.6, 127.0.0.2"),
            "{via}: {r}"
        );
        assert_eq!(field(&r, "REMOTE_ADDR"), Some(client), "{via}: {r}");
        assert_eq!(field(&r, "HTTP_HOST"), Some("app.example"), "{via}: {r}");
        assert_eq!(field(&r, "wsgi.url_scheme"), Some("http"), "{via}: {r}");
    }

    // Straight to the app from a peer it does not trust (127.0.0.2 is not in the
    // example's 127.0.0.1,::1 allowlist): the forged headers are ignored.
    let r = get(
        client,
        app_port,
        "X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: evil.example\r\n",
    );
    assert_eq!(field(&r, "REMOTE_ADDR"), Some(client), "{r}");
    assert_eq!(field(&r, "wsgi.url_scheme"), Some("http"), "{r}");
    assert_eq!(field(&r, "HTTP_HOST"), Some("app.example"), "{r}");
}
