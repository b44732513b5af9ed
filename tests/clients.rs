//! Real clients (curl, Python's http.client) against the example servers.

mod common;

use std::process::Command;

use common::http::connect;
use common::{run, start};

fn url(port: u16, path: &str) -> String {
    format!("http://127.0.0.1:{port}{path}")
}

#[test]
fn curl_keep_alive_reuse_and_head() {
    let p = start("hello", &["-b", "127.0.0.1:0"]);
    let port = p.port.unwrap();
    let (ok, out, err) = run(
        Command::new("curl").args(["-sv", &url(port, "/a"), &url(port, "/b")]),
        20,
    );
    assert!(ok, "{err}");
    assert_eq!(out, "Hello, World!\nHello, World!\n");
    assert!(err.contains("Re-using existing connection"), "{err}");
    let (ok, out, _) = run(Command::new("curl").args(["-sI", &url(port, "/")]), 20);
    assert!(ok);
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert!(
        out.to_ascii_lowercase().contains("content-length: 14\r\n"),
        "{out}"
    );
}

#[test]
fn curl_chunked_upload_and_100_continue() {
    let p = start("upload", &["-b", "127.0.0.1:0"]);
    let port = p.port.unwrap();
    let dir = std::env::temp_dir().join(format!("gl-upload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("data.bin");
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&file, &data).unwrap();
    let mut hash = 0xcbf29ce484222325u64;
    for &b in &data {
        hash = (hash ^ b as u64).wrapping_mul(0x100000001b3);
    }
    let want = format!("received {} bytes, fnv1a64 {hash:016x}\n", data.len());
    // Chunked transfer coding, with Expect: 100-continue.
    let (ok, out, err) = run(
        Command::new("curl").args([
            "-sv",
            "-H",
            "Transfer-Encoding: chunked",
            "-H",
            "Expect: 100-continue",
            "--data-binary",
            &format!("@{}", file.display()),
            &url(port, "/"),
        ]),
        60,
    );
    assert!(ok, "{err}");
    assert_eq!(out, want);
    assert!(err.contains("HTTP/1.1 100 Continue"), "{err}");
    // The same body with a Content-Length.
    let (ok, out, _) = run(
        Command::new("curl").args([
            "-s",
            "--data-binary",
            &format!("@{}", file.display()),
            &url(port, "/"),
        ]),
        60,
    );
    assert!(ok);
    assert_eq!(out, want);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn curl_streamed_download() {
    let p = start("stream", &["-b", "127.0.0.1:0"]);
    let port = p.port.unwrap();
    let (ok, out, err) = run(
        Command::new("curl").args(["-sN", "--raw", &url(port, "/?n=3&ms=50")]),
        20,
    );
    assert!(ok, "{err}");
    // --raw shows the chunked framing: three chunks, then the last chunk.
    assert_eq!(
        out,
        "d\r\nchunk 1 of 3\n\r\nd\r\nchunk 2 of 3\n\r\nd\r\nchunk 3 of 3\n\r\n0\r\n\r\n"
    );
}

const PY_CLIENT: &str = r#"
import http.client, json, sys, time
port = int(sys.argv[1])
c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
ports = set()
for i in range(3):
    c.request("GET", f"/p/{i}?x=%d" % i, headers={"X-Test": "yes"})
    r = c.getresponse()
    env = json.loads(r.read())
    assert r.status == 200, r.status
    assert env["PATH_INFO"] == f"/p/{i}", env
    assert env["QUERY_STRING"] == f"x={i}", env
    assert env["HTTP_X_TEST"] == "yes", env
    ports.add(env["REMOTE_PORT"])
assert len(ports) == 1, f"keep-alive: one connection expected, saw ports {ports}"
c.request("POST", "/up", body=iter([b"abc", b"", b"def"]), encode_chunked=True,
          headers={"Transfer-Encoding": "chunked"})
r = c.getresponse()
env = json.loads(r.read())
assert env["body"] == "abcdef", env
assert "CONTENT_LENGTH" not in env or env["CONTENT_LENGTH"] == "", env
c.request("HEAD", "/h")
r = c.getresponse()
assert r.status == 200 and r.read() == b"" and int(r.getheader("Content-Length")) > 0
c.request("POST", "/form", body=b"a=1&b=2", headers={"Content-Type": "application/x-www-form-urlencoded"})
env = json.loads(c.getresponse().read())
assert env["CONTENT_TYPE"] == "application/x-www-form-urlencoded" and env["CONTENT_LENGTH"] == "7", env
assert env["body"] == "a=1&b=2"
print("ok")
"#;

const PY_STREAM: &str = r#"
import http.client, sys, time
port = int(sys.argv[1])
c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
t0 = time.time()
c.request("GET", "/?n=4&ms=300")
r = c.getresponse()
assert r.getheader("Transfer-Encoding") == "chunked"
first = r.readline()
t_first = time.time() - t0
rest = r.read()
t_all = time.time() - t0
assert first == b"chunk 1 of 4\n", first
assert rest.count(b"\n") == 3, rest
# Streamed: the first chunk came well before the rest, which took its three 300 ms
# pauses after it (a buffered body would come all at once).
assert t_all - t_first >= 0.55, f"first chunk after {t_first:.3f}s of {t_all:.3f}s: not streamed"
assert t_all >= 0.85, f"whole body after {t_all:.3f}s"
print("ok")
"#;

#[test]
fn python_http_client_keep_alive_chunked_upload_head() {
    let p = start("environ", &["-b", "127.0.0.1:0"]);
    let port = p.port.unwrap().to_string();
    let (ok, out, err) = run(Command::new("python3").args(["-c", PY_CLIENT, &port]), 30);
    assert!(ok && out.trim() == "ok", "{out}{err}");
}

#[test]
fn python_http_client_streamed_download() {
    let p = start("stream", &["-b", "127.0.0.1:0"]);
    let port = p.port.unwrap().to_string();
    let (ok, out, err) = run(Command::new("python3").args(["-c", PY_STREAM, &port]), 30);
    assert!(ok && out.trim() == "ok", "{out}{err}");
}

#[test]
fn sleeping_handlers_run_concurrently() {
    // The gevent demo: 200 requests of 200 ms each finish together in about 200 ms, not
    // one after another in 40 s (the bound leaves room for a loaded machine).
    let p = start("sleep", &["-b", "127.0.0.1:0"]);
    let port = p.port.unwrap();
    let t = std::time::Instant::now();
    let mut conns: Vec<_> = (0..200)
        .map(|_| {
            let mut c = connect(port);
            c.send(b"GET /?ms=200 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            c
        })
        .collect();
    for c in &mut conns {
        let r = c.read_response().unwrap();
        assert_eq!((r.status, r.text().as_str()), (200, "slept 200 ms\n"));
    }
    let took = t.elapsed();
    assert!(took < std::time::Duration::from_secs(5), "took {took:?}");
}
