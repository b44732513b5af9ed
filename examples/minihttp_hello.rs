//! The baseline of `scripts/load.sh`: a `may_minihttp` hello world, on the same runtime as
//! greenlight, answering what `examples/hello.rs` answers (`200`, `Content-Type:
//! text/plain; charset=utf-8`, a `Date`, the 14-byte body `Hello, World!\n`). may_minihttp
//! adds `Server: M` of its own; that is all that differs.
//!
//! ```sh
//! cargo run --release --example minihttp_hello -- --bind 127.0.0.1:8001 --threads 1
//! ```
use std::io;

use may_minihttp::{HttpService, HttpServiceFactory, Request, Response};

#[derive(Clone)]
struct Hello;

impl HttpService for Hello {
    fn call(&mut self, _req: Request, rsp: &mut Response) -> io::Result<()> {
        // may_minihttp writes the status line, `Server`, `Date` and `Content-Length`.
        rsp.header("Content-Type: text/plain; charset=utf-8");
        rsp.body("Hello, World!\n");
        Ok(())
    }
}

struct HelloFactory;

impl HttpServiceFactory for HelloFactory {
    type Service = Hello;

    fn new_service(&self, _id: usize) -> Hello {
        Hello
    }
}

fn usage() -> ! {
    eprintln!("usage: minihttp_hello [--bind HOST:PORT] [--threads N]");
    std::process::exit(2)
}

fn main() {
    let mut bind = "127.0.0.1:8001".to_owned();
    let mut threads = 0usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) => (f.to_owned(), Some(v.to_owned())),
            None => (a, None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .unwrap_or_else(|| usage())
        };
        match flag.as_str() {
            "-b" | "--bind" => bind = value(),
            "--threads" => threads = value().parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    if threads == 0 {
        threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    }
    may::config().set_workers(threads);
    let server = HelloFactory.start(bind.as_str()).unwrap_or_else(|e| {
        eprintln!("cannot listen on {bind}: {e}");
        std::process::exit(1)
    });
    eprintln!("may_minihttp hello on http://{bind} ({threads} threads)");
    server.join().ok();
}
