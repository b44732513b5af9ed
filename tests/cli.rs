//! The example binaries as an operator runs them: flags, busy ports, unix sockets, signals.

mod common;

use std::io::{Read, Write};
use std::process::Command;

use common::http::{connect, Client};
use common::{example, run, start};

#[test]
fn tcp_echo_echoes_and_a_second_one_on_the_same_port_fails() {
    let p = start("tcp_echo", &["--bind", "127.0.0.1:0"]);
    let port = p.port.unwrap();
    let mut c = connect(port);
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
    let mut c = Client::unix(&path).unwrap();
    c.write_all(b"unix").unwrap();
    let mut got = [0u8; 4];
    c.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"unix");
    p.signal("TERM");
    let status = p.wait_exit(20);
    assert!(status.success(), "exit status {status:?}");
    assert!(!path.exists(), "the socket file is removed on stop");
    drop(c);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sigterm_lets_an_in_flight_request_finish() {
    let mut p = start("sleep", &["-b", "127.0.0.1:0", "--graceful-timeout", "10"]);
    let port = p.port.unwrap();
    let mut c = connect(port);
    c.send(b"GET /?ms=500 HTTP/1.1\r\nHost: x\r\n\r\n");
    // A request sent after ours has been answered: ours was accepted first, and its
    // handler has had all that time to start (the example logs nothing when it does).
    assert_eq!(common::http::get(port, "/?ms=0").unwrap().status, 200);
    p.signal("TERM");
    let r = c.read_response().unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "slept 500 ms\n");
    assert!(c.is_closed(), "the stopping server closes the connection");
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
