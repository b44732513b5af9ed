//! The gevent demo: `GET /?ms=N` sleeps N milliseconds in the handler, then answers.
//! The sleep parks only this request's green thread, so 1,000 concurrent requests of
//! 100 ms finish in about 100 ms, not 100 s.
//!
//! ```sh
//! cargo run --release --example sleep -- -b 127.0.0.1:8000 --worker-connections 2000
//! ab -n 1000 -c 1000 'http://127.0.0.1:8000/?ms=100'
//! # with a request deadline: a 5 s request gets 504 after 1 s, others are unaffected
//! cargo run --release --example sleep -- --request-timeout 1
//! curl -i 'http://127.0.0.1:8000/?ms=5000'
//! # `/block?ms=N` calls std::thread::sleep instead (a bug on purpose): the watchdog names it
//! cargo run --release --example sleep -- --max-blocking-time 0.5
//! curl 'http://127.0.0.1:8000/block?ms=1500'
//! ```
use std::time::Duration;

use greenlight::wsgi::{Body, Environ, StartResponse};

fn sleep(env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
    let ms: u64 = env
        .query_param("ms")
        .and_then(|v| v.parse().ok())
        .unwrap_or(100)
        .min(60_000);
    if env.path() == "/block" {
        // What not to do: a blocking call stalls every green thread on this worker
        // thread. For the blocking watchdog's demo (--max-blocking-time).
        std::thread::sleep(Duration::from_millis(ms));
    } else {
        // A blocking-looking call that yields to other connections.
        greenlight::sleep(Duration::from_millis(ms));
    }
    start.status("200 OK").header("Content-Type", "text/plain");
    Body::from(format!("slept {ms} ms\n"))
}

fn main() {
    greenlight::run!(sleep)
}
