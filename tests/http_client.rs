//! The shared test client itself (tests/common/http.rs), over an in-memory stream that
//! hands out its bytes a few at a time, so every read boundary is exercised.

mod common;

use std::io::{self, Read, Write};

use common::http::{Client, Request};

/// Serves `input` `step` bytes per read; keeps what is written.
struct Script {
    input: Vec<u8>,
    at: usize,
    step: usize,
    written: Vec<u8>,
}

impl Read for Script {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.step.min(out.len()).min(self.input.len() - self.at);
        out[..n].copy_from_slice(&self.input[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

impl Write for Script {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.written.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn client(input: &[u8], step: usize) -> Client<Script> {
    Client::new(Script {
        input: input.to_vec(),
        at: 0,
        step,
        written: Vec::new(),
    })
}

const PIPELINED: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n\
    HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\nx-a: 2\r\n\r\nhello\
    HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: t\r\n\r\n\
    HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n\
    HTTP/1.0 200 OK\r\n\r\nuntil the end";

#[test]
fn reads_pipelined_responses_whatever_the_read_sizes() {
    for step in [1, 2, 3, 7, 64, 100_000] {
        let mut c = client(PIPELINED, step);
        let r = c.read_response().unwrap();
        assert_eq!((r.status, r.body.len()), (100, 0), "step {step}");
        let r = c.read_response().unwrap();
        assert_eq!((r.status, r.text().as_str()), (200, "hello"), "step {step}");
        assert_eq!(r.header("X-A"), Some("1"));
        assert_eq!(r.headers_named("x-a"), ["1", "2"]);
        let r = c.read_response().unwrap();
        assert_eq!(r.text(), "abcde", "step {step}");
        let r = c.read_response().unwrap();
        assert_eq!((r.status, r.reason.as_str()), (204, "No Content"));
        assert!(r.body.is_empty(), "204 has no body whatever it announces");
        let r = c.read_response().unwrap();
        assert_eq!(
            (r.version.as_str(), r.text().as_str()),
            ("HTTP/1.0", "until the end")
        );
        assert!(c.is_closed());
    }
}

#[test]
fn head_responses_have_no_body_and_the_next_one_follows() {
    let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let mut c = client(raw, 5);
    let r = c.read_head_response().unwrap();
    assert_eq!((r.header("content-length"), r.body.len()), (Some("11"), 0));
    assert_eq!(c.read_response().unwrap().text(), "ok");
}

#[test]
fn built_requests_and_truncated_responses() {
    let mut c = client(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", 4);
    let req = Request::new("POST", "/p?q=1")
        .header("Host", "h")
        .body("data")
        .close();
    let err = c.request(&req).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    assert_eq!(
        String::from_utf8(c.get_ref().written.clone()).unwrap(),
        "POST /p?q=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nConnection: close\r\n\r\ndata"
    );
    assert!(client(b"SSH-2.0-x\r\n\r\n", 3).read_response().is_err());
}
