//! Runs under a master with several worker processes (`-w N`), and offers routes that
//! misbehave on purpose, to show what supervision buys:
//!
//! - `/` answers with the worker's pid;
//! - `/sleep?ms=N` sleeps in the handler (cooperatively);
//! - `/overflow` recurses until its green thread's stack overflows, which ends the
//!   worker process (the master starts a new one; the other workers keep serving);
//! - `/stuck` blocks its OS thread for a minute (like a native call that hangs): with
//!   `--threads 1` the worker stops sending heartbeats and is replaced after `--timeout`.
//!
//! ```sh
//! cargo run --release --example supervised -- -w 2 -b 127.0.0.1:8000 --timeout 5
//! curl http://127.0.0.1:8000/ ; curl http://127.0.0.1:8000/overflow ; curl http://127.0.0.1:8000/
//! kill -HUP <master pid>     # reload: new workers, then the old ones stop
//! ```
use std::time::Duration;

use greenlight::wsgi::{Body, Environ, StartResponse};

#[inline(never)]
fn recurse(depth: u64) -> u64 {
    if depth == u64::MAX {
        return 0; // never reached: the stack overflows long before
    }
    let frame = [depth as u8; 1024];
    std::hint::black_box(&frame);
    recurse(depth + 1) + std::hint::black_box(frame[0]) as u64
}

fn app(env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
    match env.path() {
        "/overflow" => {
            let n = recurse(0);
            start.status("200 OK");
            Body::from(format!("{n}\n"))
        }
        "/stuck" => {
            // Deliberately blocks the worker's OS thread (never do this in a real app).
            std::thread::sleep(Duration::from_secs(60));
            start.status("200 OK");
            Body::from("unstuck\n")
        }
        "/sleep" => {
            let ms: u64 = env
                .query()
                .strip_prefix("ms=")
                .and_then(|v| v.parse().ok())
                .unwrap_or(100);
            greenlight::sleep(Duration::from_millis(ms.min(60_000)));
            start.status("200 OK");
            Body::from(format!("slept {ms} ms in {}\n", std::process::id()))
        }
        _ => {
            start.status("200 OK").header("Content-Type", "text/plain");
            Body::from(format!("hello from worker {}\n", std::process::id()))
        }
    }
}

fn main() {
    greenlight::run!(app)
}
