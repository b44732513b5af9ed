//! The `static_files` example over real sockets, with curl: ranges, 304s, ways out of the
//! root, HEAD, a precompressed variant, a large file with flat memory (sendfile over TCP
//! and a unix socket), and a download through TLS (the read-and-write fallback).
//!
//! Run `cargo build --examples` first: `cargo test --test static_files` does not rebuild
//! the example it starts.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{example, run, Proc};

/// A fresh directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("greenlight-it-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Starts the example serving `root` with `args`; waits for its worker to listen.
fn serve(root: &Path, args: &[&str]) -> Proc {
    let mut cmd = Command::new(example("static_files"));
    cmd.args(args).env("STATIC_ROOT", root);
    common::start_command(cmd, "static_files")
}

/// The pid of the worker serving requests (the process started is its master).
fn worker_pid(p: &Proc) -> u32 {
    let line = p.wait_line("Booting worker", 20).expect("a worker boots");
    common::pid_in(&line)
}

fn curl(args: &[&str]) -> String {
    let (ok, out, err) = run(
        Command::new("curl")
            .args(["-s", "--max-time", "60"])
            .args(args),
        90,
    );
    assert!(ok, "curl {args:?}: {err}");
    out
}

fn kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// `len` bytes in which every 4 KiB block carries its own number (a misplaced or
/// repeated block shows).
fn write_pattern(path: &Path, len: usize) {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut block = vec![0u8; 4096];
    for i in 0..len / 4096 {
        block
            .iter_mut()
            .enumerate()
            .for_each(|(j, b)| *b = (i + j) as u8);
        block[..8].copy_from_slice(&(i as u64).to_le_bytes());
        f.write_all(&block).unwrap();
    }
}

fn same_files(a: &Path, b: &Path) -> bool {
    let (mut a, mut b) = (
        std::fs::File::open(a).unwrap(),
        std::fs::File::open(b).unwrap(),
    );
    let (mut x, mut y) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let n = a.read(&mut x).unwrap();
        if b.read_exact(&mut y[..n]).is_err() || x[..n] != y[..n] {
            return false;
        }
        if n == 0 {
            return b.read(&mut y).unwrap() == 0;
        }
    }
}

#[test]
fn ranges_validators_head_variants_and_no_escape() {
    let t = TempDir::new("sf-basics");
    std::fs::write(t.0.join("hello.txt"), "0123456789abcdefghij").unwrap();
    std::fs::write(t.0.join("hello.txt.gz"), "pretend gzip").unwrap();
    let p = serve(&t.0, &["-b", "127.0.0.1:0"]);
    let url = format!("http://127.0.0.1:{}", p.port.unwrap());
    let hello = format!("{url}/hello.txt");

    let out = curl(&["-H", "Range: bytes=10-19", "-w", " %{http_code}", &hello]);
    assert_eq!(out, "abcdefghij 206");

    let head = curl(&["-I", &hello]);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("Content-Length: 20\r\n"), "{head}");
    let etag = head
        .lines()
        .find_map(|l| l.strip_prefix("ETag: "))
        .expect("an ETag")
        .trim();
    let out = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-H",
        &format!("If-None-Match: {etag}"),
        &hello,
    ]);
    assert_eq!(out, "304");

    let gz = curl(&["-D", "-", "-H", "Accept-Encoding: gzip", &hello]);
    assert!(gz.contains("Content-Encoding: gzip\r\n"), "{gz}");
    assert!(gz.contains("Vary: Accept-Encoding\r\n"), "{gz}");
    assert!(gz.ends_with("\r\n\r\npretend gzip"), "{gz}");

    for bad in [
        "/../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/..%2f..%2fetc%2fpasswd",
    ] {
        let code = curl(&[
            "--path-as-is",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &format!("{url}{bad}"),
        ]);
        assert!(code.starts_with('4'), "{bad}: {code}");
    }
}

/// Downloads `name` from `url` into `dir` and checks it is `orig`, byte for byte.
fn download_intact(args: &[&str], url: &str, out: &Path, orig: &Path) {
    let mut all = args.to_vec();
    all.extend(["-o", out.to_str().unwrap(), "-w", "%{http_code}", url]);
    assert_eq!(curl(&all), "200");
    assert_eq!(
        std::fs::metadata(out).unwrap().len(),
        std::fs::metadata(orig).unwrap().len()
    );
    assert!(same_files(out, orig), "{url} arrived changed");
}

#[test]
fn a_large_file_is_sent_intact_with_flat_memory() {
    const LEN: usize = 64 << 20;
    let t = TempDir::new("sf-large");
    let (root, got) = (t.0.join("root"), t.0.join("got"));
    std::fs::create_dir(&root).unwrap();
    write_pattern(&root.join("big.bin"), LEN);
    let sock = t.0.join("sock");
    let unix = format!("unix:{}", sock.display());
    let p = serve(&root, &["-b", "127.0.0.1:0", "-b", &unix]);
    let pid = worker_pid(&p);
    let url = format!("http://127.0.0.1:{}/big.bin", p.port.unwrap());
    let before = kb(pid, "VmRSS:");
    download_intact(&[], &url, &got, &root.join("big.bin"));
    download_intact(
        &["--unix-socket", sock.to_str().unwrap()],
        "http://x/big.bin",
        &got,
        &root.join("big.bin"),
    );
    let peak = kb(pid, "VmHWM:");
    // A server that buffered the file would grow by 64 MB; allow generous slack.
    assert!(
        peak < before + 16 * 1024,
        "RSS {before} kB before, peak {peak} kB"
    );
}

#[test]
fn a_file_through_tls_is_read_and_written_intact() {
    let t = TempDir::new("sf-tls");
    let (root, got) = (t.0.join("root"), t.0.join("got"));
    std::fs::create_dir(&root).unwrap();
    write_pattern(&root.join("big.bin"), 5 << 20);
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert, key) = (t.0.join("cert.pem"), t.0.join("key.pem"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    let p = serve(
        &root,
        &[
            "-b",
            "127.0.0.1:0",
            "--certfile",
            cert.to_str().unwrap(),
            "--keyfile",
            key.to_str().unwrap(),
        ],
    );
    let url = format!("https://localhost:{}/big.bin", p.port.unwrap());
    download_intact(&["-k"], &url, &got, &root.join("big.bin"));
    let part = curl(&["-k", "-H", "Range: bytes=4096-4103", &url]);
    assert_eq!(
        part.as_bytes(),
        1u64.to_le_bytes(),
        "block 1 starts with its number"
    );
}
