//! Hello world: the smallest WSGI-style app.
//!
//! ```sh
//! cargo run --release --example hello                 # http://127.0.0.1:8000
//! cargo run --release --example hello -- -b :9000 --access-logfile -
//! ```
use greenlight::wsgi::{Body, Environ, StartResponse};

fn hello(_env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
    start
        .status("200 OK")
        .header("Content-Type", "text/plain; charset=utf-8");
    Body::from("Hello, World!\n")
}

fn main() {
    greenlight::run!(hello)
}
