//! A response streamed in chunks as they are produced (chunked on HTTP/1.1).
//! `GET /?n=5&ms=200` sends 5 lines, one every 200 ms.
//!
//! ```sh
//! cargo run --release --example stream
//! curl -N 'http://127.0.0.1:8000/?n=5&ms=200'
//! ```
use std::time::Duration;

use greenlight::wsgi::{Body, Environ, StartResponse};

fn param(env: &Environ<'_>, name: &str, default: u64) -> u64 {
    env.query_param(name)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn stream(env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
    let n = param(env, "n", 5).min(10_000);
    let ms = param(env, "ms", 200).min(10_000);
    start.status("200 OK").header("Content-Type", "text/plain");
    Body::stream((1..=n).map(move |i| {
        if i > 1 {
            greenlight::sleep(Duration::from_millis(ms));
        }
        format!("chunk {i} of {n}\n")
    }))
}

fn main() {
    greenlight::run!(stream)
}
