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
#[path = "support/echo.rs"]
mod echo;

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

/// The echo, plus what the server saw before ProxyFix rewrote the environ.
fn environ(env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
    let mut extra = Vec::new();
    if let Some(orig) = env.extension::<ProxyFixOrig>() {
        for (k, v) in [
            ("REMOTE_ADDR", &orig.remote_addr),
            ("wsgi.url_scheme", &orig.scheme),
            ("HTTP_HOST", &orig.host),
        ] {
            extra.push((format!("proxy_fix.orig.{k}"), v.clone().unwrap_or_default()));
        }
    }
    echo::respond(env, start, &extra)
}

fn main() {
    let trusted = "127.0.0.1,::1".parse().expect("a valid allowlist");
    let app = ProxyFix::new(CustomProxyFix(environ))
        .x_for(1)
        .x_proto(1)
        .x_host(1)
        .trusted(trusted);
    greenlight::run!(app)
}
