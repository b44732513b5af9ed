//! Reads a large request body through `wsgi.input` in pieces, never holding it all in
//! memory, and answers with its size and a checksum (FNV-1a, 64 bit).
//!
//! ```sh
//! cargo run --release --example upload
//! head -c 100000000 /dev/urandom | curl -sT - http://127.0.0.1:8000/   # chunked upload
//! ```
use std::io::BufRead;

use greenlight::wsgi::{Body, Environ, StartResponse};

fn upload(env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
    let mut input = env.input();
    let (mut size, mut hash) = (0u64, 0xcbf29ce484222325u64);
    loop {
        let piece = match input.fill_buf() {
            Ok(p) => p,
            Err(e) => {
                start.status("400 Bad Request");
                return Body::from(format!("cannot read the body: {e}\n"));
            }
        };
        if piece.is_empty() {
            break;
        }
        for &b in piece {
            hash = (hash ^ b as u64).wrapping_mul(0x100000001b3);
        }
        size += piece.len() as u64;
        let n = piece.len();
        input.consume(n);
    }
    start.status("200 OK").header("Content-Type", "text/plain");
    Body::from(format!("received {size} bytes, fnv1a64 {hash:016x}\n"))
}

fn main() {
    greenlight::run!(upload)
}
