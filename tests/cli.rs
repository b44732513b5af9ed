//! The example binaries as an operator runs them: flags, busy ports, unix sockets, signals.

mod common;

use std::io::{Read, Write};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{example, run, start};

#[test]
fn tcp_echo_echoes_and_a_second_one_on_the_same_port_fails() {
    let p = start("tcp_echo", &["--bind", "127.0.0.1:0"]);
    let port = p.port.unwrap();
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.write_all(b"ping").unwrap();
    let mut got = [0u8; 4];
    c.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"ping");
    let (ok, _, err) = run(
        Command::new(example("tcp_echo")).args(["--bind", &format!("127.0.0.1:{port}")]),
        20,
    );
    assert!(!ok, "a second server on a busy port must fail");
    assert!(
        err.contains(&format!("address 127.0.0.1:{port} is already in use")),
        "{err}"
    );
}

#[test]
fn tcp_echo_on_a_unix_socket_stops_on_sigterm_and_removes_the_file() {
    let dir = std::env::temp_dir().join(format!("gl-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("echo.sock");
    let mut p = start(
        "tcp_echo",
        &[
            "--bind",
            &format!("unix:{}", path.display()),
            "--graceful-timeout",
            "5",
        ],
    );
    let mut c = std::os::unix::net::UnixStream::connect(&path).unwrap();
    c.write_all(b"unix").unwrap();
    let mut got = [0u8; 4];
    c.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"unix");
    let t = Instant::now();
    p.signal("TERM");
    let status = loop {
        if let Some(s) = p.child.try_wait().unwrap() {
            break s;
        }
        assert!(t.elapsed() < Duration::from_secs(8), "did not stop");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "exit status {status:?}");
    assert!(!path.exists(), "the socket file is removed on stop");
    drop(c);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sigterm_lets_an_in_flight_request_finish() {
    let mut p = start("sleep", &["-b", "127.0.0.1:0", "--graceful-timeout", "10"]);
    let port = p.port.unwrap();
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.write_all(b"GET /?ms=500 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    p.signal("TERM");
    let mut out = String::new();
    c.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 200 OK"), "{out}");
    assert!(out.ends_with("slept 500 ms\n"), "{out}");
    let status = p.child.wait().unwrap();
    assert!(status.success());
}

#[test]
fn bad_flags_are_clear_errors_naming_the_flag() {
    for (args, needle) in [
        (&["--workers", "abc"][..], "--workers"),
        (&["--keep-alive", "-3"][..], "--keep-alive"),
        (
            &["--limit-request-line", "99999"][..],
            "--limit-request-line",
        ),
        (&["--frobnicate"][..], "--frobnicate"),
        (&["--bind"][..], "--bind"),
    ] {
        let (ok, _, err) = run(Command::new(example("hello")).args(args), 20);
        assert!(!ok, "{args:?} must fail");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    // A malformed bind is reported when binding.
    let (ok, _, err) = run(
        Command::new(example("hello")).args(["--bind", "127.0.0.1:99999"]),
        20,
    );
    assert!(!ok);
    assert!(err.contains("not a port number"), "{err}");
    // --help lists the flags with their defaults.
    let (ok, out, _) = run(Command::new(example("hello")).arg("--help"), 20);
    assert!(ok);
    for f in [
        "--bind",
        "--workers",
        "--keep-alive",
        "--limit-request-line",
        "2048",
    ] {
        assert!(out.contains(f), "--help lacks {f}");
    }
}
