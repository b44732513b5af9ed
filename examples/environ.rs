//! The environ echo: answers every request with a JSON object of every string environ
//! key, `REQUEST_URI`, and the whole body as `body` (each byte as the char U+00XX).
//! It is the app the conformance corpus is run against (`h1probe.py`).
//!
//! ```sh
//! cargo run --release --example environ -- --bind 127.0.0.1:8000
//! curl -s 'http://127.0.0.1:8000/a%20b?x=1' -d 'hello'
//! ```
use std::io::Read;

use greenlight::wsgi::{Body, Environ, StartResponse};

/// Appends `s` as a JSON string literal.
fn json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn environ(env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
    let mut body = Vec::new();
    if let Err(e) = env.input().read_to_end(&mut body) {
        // The server answers 400 for an unreadable body whatever we return.
        start.status("400 Bad Request");
        return Body::from(format!("cannot read the body: {e}\n"));
    }
    let mut out = String::from("{");
    for (k, v) in env.to_vec() {
        json_str(&mut out, &k);
        out.push(':');
        json_str(&mut out, &v);
        out.push(',');
    }
    json_str(&mut out, "body");
    out.push(':');
    let latin1: String = body.iter().map(|&b| b as char).collect();
    json_str(&mut out, &latin1);
    out.push('}');
    start
        .status("200 OK")
        .header("Content-Type", "application/json");
    Body::from(out)
}

fn main() {
    greenlight::wsgi::run(environ)
}
