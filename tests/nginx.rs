//! A real nginx in front of the `proxy_fix` example, over TCP and over a unix socket: the
//! app must see the client's address, the Host the client sent, and nginx's scheme, and a
//! client forging `X-Forwarded-*` headers must not change them.
//!
//! Needs `nginx` (Debian's package, installed by CI) and the example binaries (plain
//! `cargo test` builds them). Missing either is a failure, never a silent skip.

mod common;

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Child;

use common::http::{Client, Request, Response, TIMEOUT};
use common::{start, Proc};
use socket2::{Domain, Socket, Type};

/// How long nginx may take to start, in seconds.
const START: u64 = 15;

/// Stops the processes it holds, and removes the scratch directory, when dropped (also
/// when an assertion fails).
struct Guard {
    apps: Vec<Proc>,
    children: Vec<Child>,
    dir: PathBuf,
}

impl Drop for Guard {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.apps.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts the proxy_fix example on `bind` (waiting for its `Listening at:` line); returns
/// its port for a TCP bind.
fn start_app(guard: &mut Guard, bind: &str) -> Option<u16> {
    let app = start("proxy_fix", &["--bind", bind]);
    let port = app.port;
    guard.apps.push(app);
    port
}

const PROXY_HEADERS: &str = "
        proxy_set_header Host $host;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header X-Forwarded-Host $host;";

fn start_nginx(guard: &mut Guard, tcp_upstream: &str, unix_upstream: &Path) -> (u16, u16) {
    let dir = guard.dir.clone();
    let (p1, p2) = (common::free_port(), common::free_port());
    let body = format!(
        "    server {{
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
",
        sock = unix_upstream.display()
    );
    let child = common::start_nginx_with(&dir, 64, true, &body, &[p1, p2], START);
    guard.children.push(child);
    (p1, p2)
}

/// Sends a GET with `headers` to `port` from the source address `from`, and returns the
/// response, a 200 whose body is the app's JSON.
fn get(from: &str, port: u16, headers: &str) -> Response {
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    let src: SocketAddr = format!("{from}:0").parse().unwrap();
    sock.bind(&src.into()).unwrap();
    let dst: SocketAddr = ([127, 0, 0, 1], port).into();
    sock.connect_timeout(&dst.into(), TIMEOUT).unwrap();
    let s: TcpStream = sock.into();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s.set_write_timeout(Some(TIMEOUT)).unwrap();
    let mut req = Request::get("/where?x=1").header("Host", "app.example");
    for (k, v) in headers.split("\r\n").filter_map(|l| l.split_once(": ")) {
        req = req.header(k, v);
    }
    let r = Client::new(s).request(&req.close()).unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    r
}

/// The value of `key` in the example's JSON answer.
fn field(resp: &Response, key: &str) -> Option<String> {
    let text = resp.text();
    let needle = format!("\"{key}\":\"");
    let start = text.find(&needle)? + needle.len();
    let len = text[start..].find('"')?;
    Some(text[start..start + len].to_owned())
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
        apps: Vec::new(),
        children: Vec::new(),
        dir: scratch_dir(),
    };
    let app_port = start_app(&mut guard, "127.0.0.1:0").expect("a TCP port");
    let app_url = format!("http://127.0.0.1:{app_port}");
    let sock = guard.dir.join("app.sock");
    start_app(&mut guard, &format!("unix:{}", sock.display()));
    let (tcp_port, unix_port) = start_nginx(&mut guard, &app_url, &sock);

    // The client connects from 127.0.0.2, nginx (and so the app's peer) is 127.0.0.1:
    // REMOTE_ADDR shows which address the app believed.
    let client = "127.0.0.2";
    for (via, port, server_peer) in [("tcp", tcp_port, "127.0.0.1"), ("unix", unix_port, "")] {
        let r = get(client, port, "");
        assert_eq!(
            field(&r, "REMOTE_ADDR").as_deref(),
            Some(client),
            "{via}: {r:?}"
        );
        assert_eq!(
            field(&r, "proxy_fix.orig.REMOTE_ADDR").as_deref(),
            Some(server_peer),
            "{via}: {r:?}"
        );
        assert_eq!(
            field(&r, "HTTP_HOST").as_deref(),
            Some("app.example"),
            "{via}: {r:?}"
        );
        assert_eq!(
            field(&r, "SERVER_NAME").as_deref(),
            Some("app.example"),
            "{via}: {r:?}"
        );
        assert_eq!(
            field(&r, "wsgi.url_scheme").as_deref(),
            Some("http"),
            "{via}: {r:?}"
        );
        assert_eq!(
            field(&r, "HTTP_X_REAL_IP").as_deref(),
            Some(client),
            "{via}: {r:?}"
        );
        assert_eq!(
            field(&r, "PATH_INFO").as_deref(),
            Some("/where"),
            "{via}: {r:?}"
        );

        // A client forging the headers: nginx appends to X-Forwarded-For and replaces
        // the others; only the entry nginx added counts.
        let forged = "X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: https\r\n\
                      X-Forwarded-Host: evil.example\r\nX-Real-IP: 6.6.6.6\r\n";
        let r = get(client, port, forged);
        assert_eq!(
            field(&r, "HTTP_X_FORWARDED_FOR").as_deref(),
            Some("6.6.6.6, 127.0.0.2"),
            "{via}: {r:?}"
        );
        assert_eq!(
            field(&r, "REMOTE_ADDR").as_deref(),
            Some(client),
            "{via}: {r:?}"
        );
        assert_eq!(
            field(&r, "HTTP_HOST").as_deref(),
            Some("app.example"),
            "{via}: {r:?}"
        );
        assert_eq!(
            field(&r, "wsgi.url_scheme").as_deref(),
            Some("http"),
            "{via}: {r:?}"
        );
    }

    // Straight to the app from a peer it does not trust (127.0.0.2 is not in the
    // example's 127.0.0.1,::1 allowlist): the forged headers are ignored.
    let r = get(
        client,
        app_port,
        "X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: evil.example\r\n",
    );
    assert_eq!(field(&r, "REMOTE_ADDR").as_deref(), Some(client), "{r:?}");
    assert_eq!(
        field(&r, "wsgi.url_scheme").as_deref(),
        Some("http"),
        "{r:?}"
    );
    assert_eq!(
        field(&r, "HTTP_HOST").as_deref(),
        Some("app.example"),
        "{r:?}"
    );
}
