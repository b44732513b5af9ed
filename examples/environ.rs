//! The environ echo: answers every request with a JSON object of every string environ
//! key, `REQUEST_URI`, and the whole body as `body` (each byte as the char U+00XX).
//! It is the app the conformance corpus is run against (`h1probe.py`).
//!
//! ```sh
//! cargo run --release --example environ -- --bind 127.0.0.1:8000
//! curl -s 'http://127.0.0.1:8000/a%20b?x=1' -d 'hello'
//! ```
#[path = "support/echo.rs"]
mod echo;

use greenlight::wsgi::{Body, Environ, StartResponse};

fn environ(env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
    echo::respond(env, start, &[])
}

fn main() {
    greenlight::run!(environ)
}
