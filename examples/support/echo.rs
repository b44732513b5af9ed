//! The environ echo shared by the `environ` and `proxy_fix` examples: a JSON object of
//! every string environ key, extra pairs, and the whole body as `body` (each byte as the
//! char U+00XX, so any bytes survive JSON).

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

/// Answers with the JSON echo of `env` plus `extra`.
pub fn respond(
    env: &mut Environ<'_>,
    start: StartResponse<'_>,
    extra: &[(String, String)],
) -> Body {
    let mut body = Vec::new();
    if let Err(e) = env.input().read_to_end(&mut body) {
        // The server answers 400 for an unreadable body whatever we return.
        start.status("400 Bad Request");
        return Body::from(format!("cannot read the body: {e}\n"));
    }
    let mut out = String::from("{");
    for (k, v) in env.to_vec().iter().chain(extra) {
        json_str(&mut out, k);
        out.push(':');
        json_str(&mut out, v);
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
