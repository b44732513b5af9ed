//! The environ echo behind `ProxyFix`: run it behind nginx (see `docs/deploying.md`) and
//! see the client's address, host and scheme as the app sees them. The JSON also holds
//! `proxy_fix.orig.*`, the values before the rewrite.
//!
//! It trusts one proxy on this host for `X-Forwarded-For`, `-Proto` and `-Host`, and
//! shows a hand-written middleware (`CustomProxyFix`, taking the host from `X-FHOST`)
//! composed inside it.
//!
//! ```sh
//! cargo run --release --example proxy_fix -- --bind 127.0.0.1:8000
//! curl -s http://127.0.0.1:8000/ -H 'X-Forwarded-For: 6.6.6.6, 192.0.2.7' \
//!      -H 'X-Forwarded-Proto: https' -H 'X-Forwarded-Host: example.com'
//! ```
use std::io::Read;

use greenlight::middleware::{ProxyFix, ProxyFixOrig};
use greenlight::wsgi::{App, Body, Environ, StartResponse};

/// Takes `HTTP_HOST` from `X-FHOST`, a header some proxies are set up to send.
struct CustomProxyFix<A>(A);

impl<A: App> App for CustomProxyFix<A> {
    fn call(&self, env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
        if let Some(host) = env.get("HTTP_X_FHOST").map(str::to_owned) {
            env.set("HTTP_HOST", host);
        }
        self.0.call(env, start)
    }
}

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
    // What the server saw before ProxyFix rewrote the environ.
    if let Some(orig) = env.extension::<ProxyFixOrig>() {
        for (k, v) in [
            ("REMOTE_ADDR", &orig.remote_addr),
            ("wsgi.url_scheme", &orig.scheme),
            ("HTTP_HOST", &orig.host),
        ] {
            json_str(&mut out, &format!("proxy_fix.orig.{k}"));
            out.push(':');
            json_str(&mut out, v.as_deref().unwrap_or(""));
            out.push(',');
        }
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
    let trusted = "127.0.0.1,::1".parse().expect("a valid allowlist");
    let app = ProxyFix::new(CustomProxyFix(environ))
        .x_for(1)
        .x_proto(1)
        .x_host(1)
        .trusted(trusted);
    greenlight::wsgi::run(app)
}
