//! WebSocket (RFC 6455) over real sockets: a hand-made client over `TcpStream` sending
//! masked frames byte by byte (framing, fragments, control frames, the closing
//! handshake, the close codes for bad frames, the limits, bad handshakes); Python's
//! `websockets` against the `websocket` example directly, through a real nginx, and
//! over TLS; two Python clients in the `chat` example; a stop closing a socket with 1001.
//!
//! Autobahn's fuzzing client needs Docker here; its main sections (framing,
//! fragmentation, UTF-8, close codes, limits) are covered by the cases below.
//!
//! Needs the example binaries (`cargo build --examples`), nginx (Debian's package), and
//! `target/ci-venv` with `websockets` (`.ci/run` makes it; or `GREENLIGHT_TEST_VENV`):
//! without them the tests fail, they are not skipped.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::Duration;

use common::{run, start};
use greenlight::server::ServerHandle;
use greenlight::wsgi::{app_fn, Body, HttpError, WebSocketOptions, WsgiServer};

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// An echo with small limits (frames of 600 bytes, messages of 1,000) and a 300 ms idle
/// timeout for `/idle`.
fn serve() -> (ServerHandle, u16) {
    let app = app_fn(|env, _start| -> Result<Body, HttpError> {
        let mut options = WebSocketOptions::new()
            .max_frame_size(600)
            .max_message_size(1000);
        if env.path() == "/idle" {
            options = options.idle_timeout(Some(Duration::from_millis(300)));
        }
        let mut ws = env.websocket_with(&options)?;
        while let Some(m) = ws.recv() {
            ws.send(m)?;
        }
        Ok(Body::empty())
    });
    let h = WsgiServer::new("127.0.0.1:0", app).start().unwrap();
    let port = h.local_addr().port().unwrap();
    (h, port)
}

/// Reads up to the end of a response head.
fn read_head(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            s.read(&mut byte).unwrap(),
            1,
            "closed in the head: {head:?}"
        );
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

/// Opens a WebSocket on `path` by hand and checks the 101.
fn open(port: u16, path: &str) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY}\r\n\r\n"
    );
    s.write_all(req.as_bytes()).unwrap();
    let head = read_head(&mut s);
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    assert!(
        head.contains(&format!("Sec-WebSocket-Accept: {ACCEPT}\r\n")),
        "{head}"
    );
    s
}

/// A client frame: masked (unless `masked` is false) with a fixed key.
fn frame(fin: bool, opcode: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mut out = vec![(u8::from(fin) << 7) | opcode];
    let mask_bit = if masked { 0x80 } else { 0 };
    match payload.len() {
        n @ 0..=125 => out.push(mask_bit | n as u8),
        n @ 126..=65535 => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    let key = [0x37, 0xfa, 0x21, 0x3d];
    if masked {
        out.extend_from_slice(&key);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
    out
}

/// Reads one server frame: (fin, opcode, payload); checks it is not masked.
fn read_frame(s: &mut TcpStream) -> (bool, u8, Vec<u8>) {
    let mut h = [0u8; 2];
    s.read_exact(&mut h).unwrap();
    assert_eq!(h[1] & 0x80, 0, "a server frame must not be masked");
    let len = match h[1] & 0x7f {
        126 => {
            let mut l = [0u8; 2];
            s.read_exact(&mut l).unwrap();
            u16::from_be_bytes(l) as usize
        }
        127 => {
            let mut l = [0u8; 8];
            s.read_exact(&mut l).unwrap();
            u64::from_be_bytes(l) as usize
        }
        n => n as usize,
    };
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).unwrap();
    (h[0] & 0x80 != 0, h[0] & 0x0f, payload)
}

/// Reads a close frame: (code, reason); then the server closes the connection.
fn read_close(s: &mut TcpStream) -> (u16, String) {
    let (fin, op, payload) = read_frame(s);
    assert!(
        fin && op == 8,
        "expected a close frame, got opcode {op}: {payload:?}"
    );
    let code = u16::from_be_bytes([payload[0], payload[1]]);
    let reason = String::from_utf8(payload[2..].to_vec()).unwrap();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert!(rest.is_empty(), "bytes after the close: {rest:?}");
    (code, reason)
}

#[test]
fn frames_fragments_ping_and_the_closing_handshake() {
    let (_h, port) = serve();
    let mut s = open(port, "/");
    s.write_all(&frame(true, 1, "héllo".as_bytes(), true))
        .unwrap();
    assert_eq!(read_frame(&mut s), (true, 1, "héllo".as_bytes().to_vec()));
    s.write_all(&frame(true, 2, &[0, 255, 7], true)).unwrap();
    assert_eq!(read_frame(&mut s), (true, 2, vec![0, 255, 7]));
    // A ping is answered with its payload.
    s.write_all(&frame(true, 9, b"ping!", true)).unwrap();
    assert_eq!(read_frame(&mut s), (true, 10, b"ping!".to_vec()));
    // A text message in three fragments, a ping between them (answered at once), and a
    // UTF-8 character cut across two fragments.
    s.write_all(&frame(false, 1, b"one ", true)).unwrap();
    s.write_all(&frame(true, 9, b"", true)).unwrap();
    assert_eq!(read_frame(&mut s), (true, 10, vec![]));
    s.write_all(&frame(false, 0, &"two é".as_bytes()[..5], true))
        .unwrap();
    s.write_all(&frame(true, 0, &"é three".as_bytes()[1..], true))
        .unwrap();
    assert_eq!(
        read_frame(&mut s),
        (true, 1, "one two é three".as_bytes().to_vec())
    );
    // The closing handshake: our code comes back, then the server closes.
    let mut close = 4001u16.to_be_bytes().to_vec();
    close.extend_from_slice(b"bye");
    s.write_all(&frame(true, 8, &close, true)).unwrap();
    assert_eq!(read_close(&mut s), (4001, "bye".to_owned()));
}

#[test]
fn bad_frames_close_with_their_codes() {
    let (_h, port) = serve();
    let cases: [(&str, Vec<u8>, u16); 6] = [
        ("unmasked", frame(true, 1, b"hi", false), 1002),
        ("reserved opcode", frame(true, 3, b"", true), 1002),
        ("continuation first", frame(true, 0, b"x", true), 1002),
        ("fragmented ping", frame(false, 9, b"", true), 1002),
        ("invalid UTF-8", frame(true, 1, &[0xc3, 0x28], true), 1007),
        ("frame over 600", frame(true, 2, &[0; 700], true), 1009),
    ];
    for (what, bytes, code) in cases {
        let mut s = open(port, "/");
        s.write_all(&bytes).unwrap();
        assert_eq!(read_close(&mut s).0, code, "{what}");
    }
    // A message over 1,000 bytes in frames under 600.
    let mut s = open(port, "/");
    s.write_all(&frame(false, 2, &[1; 500], true)).unwrap();
    s.write_all(&frame(false, 0, &[2; 500], true)).unwrap();
    s.write_all(&frame(true, 0, &[3; 500], true)).unwrap();
    assert_eq!(read_close(&mut s).0, 1009, "message over 1000");
}

#[test]
fn idle_timeout_closes_with_1001() {
    let (_h, port) = serve();
    let mut s = open(port, "/idle");
    s.write_all(&frame(true, 1, b"still here", true)).unwrap();
    assert_eq!(read_frame(&mut s).2, b"still here");
    assert_eq!(read_close(&mut s), (1001, "idle timeout".to_owned()));
}

#[test]
fn bad_handshakes_are_answered_as_http() {
    let (_h, port) = serve();
    let ask = |req: &str| -> String {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(req.as_bytes()).unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    };
    let good = format!("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\n");
    let plain = ask("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(plain.starts_with("HTTP/1.1 426 "), "{plain}");
    assert!(plain.contains("Sec-WebSocket-Version: 13\r\n"), "{plain}");
    assert!(plain.contains("Upgrade: websocket\r\n"), "{plain}");
    let v8 = ask(&format!(
        "GET / HTTP/1.1\r\nHost: x\r\n{good}Sec-WebSocket-Version: 8\r\n\r\n"
    ));
    assert!(v8.starts_with("HTTP/1.1 426 "), "{v8}");
    assert!(v8.contains("Sec-WebSocket-Version: 13\r\n"), "{v8}");
    let v13 = "Sec-WebSocket-Version: 13\r\n";
    let key = ask(&format!(
        "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{v13}\
         Sec-WebSocket-Key: c2hvcnQ=\r\n\r\n"
    ));
    assert!(key.starts_with("HTTP/1.1 400 "), "{key}");
    assert!(
        key.contains("Sec-WebSocket-Key must be 16 bytes in base64"),
        "{key}"
    );
    let post = ask(&format!(
        "POST / HTTP/1.1\r\nHost: x\r\n{good}{v13}Content-Length: 0\r\n\r\n"
    ));
    assert!(post.starts_with("HTTP/1.1 400 "), "{post}");
    assert!(post.contains("must be a GET"), "{post}");
    let http10 = ask(&format!("GET / HTTP/1.0\r\nHost: x\r\n{good}{v13}\r\n"));
    assert!(http10.starts_with("HTTP/1.1 400 "), "{http10}");
    assert!(http10.contains("HTTP/1.1 request"), "{http10}");
}

#[test]
fn a_stop_closes_an_open_socket_with_1001() {
    let app = start("websocket", &["-b", "127.0.0.1:0"]);
    let port = app.port.unwrap();
    let mut s = open(port, "/");
    // The socket is open and served (echoed), then the master gets TERM.
    s.write_all(&frame(true, 1, b"before", true)).unwrap();
    assert_eq!(read_frame(&mut s).2, b"before");
    app.signal("TERM");
    assert_eq!(read_close(&mut s), (1001, "server stopping".to_owned()));
}

#[test]
fn a_stop_in_process_closes_with_1001() {
    let (h, port) = serve();
    let mut s = open(port, "/");
    s.write_all(&frame(true, 1, b"x", true)).unwrap();
    assert_eq!(read_frame(&mut s).2, b"x");
    h.stop(Duration::from_secs(10));
    assert_eq!(read_close(&mut s), (1001, "server stopping".to_owned()));
}

/// Echo checks with Python's websockets client: text, binary, a ping, a 200 kB message
/// (fragmented by the client into 4 kB frames), the closing handshake. `argv[1]` is the
/// URL, `argv[2]` a CA file for wss (or "-").
const PY_ECHO: &str = r#"
import asyncio, ssl, sys, websockets
async def main():
    ctx = None
    if sys.argv[2] != "-":
        ctx = ssl.create_default_context(cafile=sys.argv[2])
    async with websockets.connect(sys.argv[1], ssl=ctx, max_size=2**20) as ws:
        await ws.send("héllo")
        assert await ws.recv() == "héllo"
        await ws.send(bytes(range(256)))
        assert await ws.recv() == bytes(range(256))
        await asyncio.wait_for(await ws.ping(b"p"), 10)
        big = "x" * 200_000
        await ws.send([big[i:i + 4096] for i in range(0, len(big), 4096)])
        assert await ws.recv() == big
        await ws.close(code=4000, reason="done")
    assert ws.close_code == 4000, ws.close_code
    print("ok")
asyncio.run(main())
"#;

fn python_echo(url: &str, cafile: &str) {
    let (ok, out, err) = run(
        Command::new(common::venv_python("websockets")).args(["-c", PY_ECHO, url, cafile]),
        60,
    );
    assert!(ok && out.trim() == "ok", "{out}{err}");
}

#[test]
fn python_websockets_against_the_example() {
    let app = start("websocket", &["-b", "127.0.0.1:0"]);
    python_echo(&format!("ws://127.0.0.1:{}/", app.port.unwrap()), "-");
}

#[test]
fn python_websockets_over_tls() {
    let dir = std::env::temp_dir().join(format!("greenlight-wss-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert_pem, key_pem) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_pem, cert.cert.pem()).unwrap();
    std::fs::write(&key_pem, cert.signing_key.serialize_pem()).unwrap();
    let tls = greenlight::net::TlsConfig::from_pem_files(
        cert_pem.to_str().unwrap(),
        key_pem.to_str().unwrap(),
        None,
    )
    .unwrap();
    let app = app_fn(|env, _start| -> Result<Body, HttpError> {
        assert_eq!(env.get("wsgi.url_scheme"), Some("https"));
        let mut ws = env.websocket()?;
        while let Some(m) = ws.recv() {
            ws.send(m)?;
        }
        Ok(Body::empty())
    });
    let h = WsgiServer::new("127.0.0.1:0", app)
        .tls(tls)
        .start()
        .unwrap();
    let port = h.local_addr().port().unwrap();
    python_echo(
        &format!("wss://localhost:{port}/"),
        cert_pem.to_str().unwrap(),
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Two members of the chat room: what one says reaches both.
const PY_CHAT: &str = r#"
import asyncio, sys, websockets
async def until(ws, pred):
    while True:
        line = await asyncio.wait_for(ws.recv(), 10)
        if pred(line):
            return line
async def main():
    url = "ws://127.0.0.1:%s/ws" % sys.argv[1]
    async with websockets.connect(url + "?name=alice") as a, websockets.connect(url + "?name=bob") as b:
        await until(a, lambda l: l.endswith("; 2 here"))
        await a.send("hello, bob")
        for ws in (a, b):
            await until(ws, lambda l: l == "alice: hello, bob")
        await b.send("hi alice")
        await until(a, lambda l: l == "bob: hi alice")
    print("ok")
asyncio.run(main())
"#;

#[test]
fn chat_two_clients_hear_each_other() {
    let app = start("chat", &["-b", "127.0.0.1:0"]);
    let port = app.port.unwrap().to_string();
    let (ok, out, err) = run(
        Command::new(common::venv_python("websockets")).args(["-c", PY_CHAT, &port]),
        60,
    );
    assert!(ok && out.trim() == "ok", "{out}{err}");
    let page = common::http::get(app.port.unwrap(), "/").unwrap();
    assert!(page.text().contains("new WebSocket("), "{}", page.text());
}

struct Nginx {
    child: Child,
    dir: PathBuf,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start_nginx(upstream: u16) -> (Nginx, u16) {
    let dir = std::env::temp_dir().join(format!("greenlight-ws-nginx-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = common::free_port();
    let body = format!(
        "    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://127.0.0.1:{upstream};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection \"upgrade\";
            proxy_set_header Host $host;
        }}
    }}
"
    );
    let child = common::start_nginx_with(&dir, 64, true, &body, &[port], 15);
    let nginx = Nginx { child, dir };
    (nginx, port)
}

#[test]
fn python_websockets_through_nginx() {
    let app = start("websocket", &["-b", "127.0.0.1:0"]);
    let (_nginx, port) = start_nginx(app.port.unwrap());
    python_echo(&format!("ws://127.0.0.1:{port}/"), "-");
}

/// Behind a proxy that speaks the PROXY protocol (HAProxy's `send-proxy`), the upgrade and
/// the frames run on after the PROXY header, and the handler sees the real client.
#[test]
fn a_websocket_after_a_proxy_header_sees_the_real_client() {
    use greenlight::net::AllowList;
    let app = app_fn(|env, _start| -> Result<Body, HttpError> {
        let client = env.get("REMOTE_ADDR").unwrap_or("").to_owned();
        let mut ws = env.websocket()?;
        ws.send_text(&client)?;
        while let Some(m) = ws.recv() {
            ws.send(m)?;
        }
        Ok(Body::empty())
    });
    let mut server = WsgiServer::new("127.0.0.1:0", app);
    server.options_mut().proxy_protocol = Some(AllowList::from_entries(["127.0.0.1"]).unwrap());
    let h = server.start().unwrap();
    let mut s = TcpStream::connect(("127.0.0.1", h.local_addr().port().unwrap())).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let req = format!(
        "PROXY TCP4 192.0.2.7 127.0.0.1 40001 80\r\nGET / HTTP/1.1\r\nHost: x\r\n\
         Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: {KEY}\r\n\r\n"
    );
    s.write_all(req.as_bytes()).unwrap();
    assert!(read_head(&mut s).starts_with("HTTP/1.1 101 "));
    assert_eq!(read_frame(&mut s), (true, 1, b"192.0.2.7".to_vec()));
    s.write_all(&frame(true, 1, b"through the proxy", true))
        .unwrap();
    assert_eq!(read_frame(&mut s), (true, 1, b"through the proxy".to_vec()));
    s.write_all(&frame(true, 8, &1000u16.to_be_bytes(), true))
        .unwrap();
    assert_eq!(read_close(&mut s).0, 1000);
    h.stop_now();
}
