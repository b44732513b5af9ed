//! Static files: serves the current directory (or `$STATIC_ROOT`) with
//! `middleware::SharedData`: `sendfile(2)`, ranges, 304s, precompressed `.br`/`.gz`
//! variants, `index.html`, and no way out of the root. Anything else is a 404.
//!
//! ```sh
//! cd some/dir && cargo run --release --example static_files       # http://127.0.0.1:8000
//! STATIC_ROOT=docs cargo run --release --example static_files -- -b :9000 --access-logfile -
//! curl -H 'Range: bytes=10-19' http://127.0.0.1:8000/README.md    # 206, ten bytes
//! curl -I http://127.0.0.1:8000/README.md                          # ETag, Last-Modified
//! curl --path-as-is http://127.0.0.1:8000/../../etc/passwd         # 404
//! ```
use std::path::PathBuf;
use std::time::Duration;

use greenlight::middleware::SharedData;
use greenlight::wsgi::{Body, Environ, StartResponse};

fn not_found(env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
    start
        .status(404)
        .header("Content-Type", "text/plain; charset=utf-8");
    Body::from(format!("no file at {}\n", env.path()))
}

fn main() {
    let root = std::env::var_os("STATIC_ROOT").map_or_else(|| PathBuf::from("."), PathBuf::from);
    let app = match SharedData::new(not_found).mount("/", &root) {
        Ok(app) => app.max_age(Duration::from_secs(60)),
        Err(e) => {
            eprintln!("error: cannot serve {}: {e}", root.display());
            std::process::exit(2);
        }
    };
    greenlight::run!(app)
}
