//! Counts heap allocations per request on the server's hot path (parse, environ, app,
//! encode; `greenlight::wsgi::bench::BytesConn`), with a counting global allocator.
//!
//! ```sh
//! cargo bench --bench allocs
//! ```
//!
//! Prints `allocations per request: N` for each request kind after a warm-up request (the
//! connection's buffers are reused across keep-alive requests, so the first request's
//! buffer growth is not per-request cost). Exits non-zero if the hello path allocates.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use greenlight::wsgi::bench::BytesConn;
use greenlight::wsgi::{Body, Environ, StartResponse};

mod common;
use common::{hello, BROWSER_GET, WRK_GET};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(l.size() as u64, Ordering::Relaxed);
        System.alloc(l)
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(l.size() as u64, Ordering::Relaxed);
        System.alloc_zeroed(l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(new as u64, Ordering::Relaxed);
        System.realloc(p, l, new)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// An app that reads the environ the way a small real app does (path, query, a header)
/// and formats its body.
fn greet(env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
    let agent = env.get("HTTP_USER_AGENT").unwrap_or("nobody");
    let body = format!("Hello, {agent} at {}?{}\n", env.path(), env.query());
    start.status("200 OK").header("Content-Type", "text/plain");
    Body::from(body)
}

/// (allocations, bytes) per request over `rounds` requests, after one warm-up.
fn measure<A: greenlight::wsgi::App>(app: A, req: &[u8], rounds: u64) -> (f64, f64) {
    let mut conn = BytesConn::new(app);
    let mut out = Vec::with_capacity(64 * 1024);
    assert!(conn.handle(req, &mut out));
    out.clear();
    let (a0, b0) = (
        ALLOCS.load(Ordering::Relaxed),
        BYTES.load(Ordering::Relaxed),
    );
    for _ in 0..rounds {
        conn.handle(std::hint::black_box(req), &mut out);
        out.clear();
    }
    let (a1, b1) = (
        ALLOCS.load(Ordering::Relaxed),
        BYTES.load(Ordering::Relaxed),
    );
    (
        (a1 - a0) as f64 / rounds as f64,
        (b1 - b0) as f64 / rounds as f64,
    )
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing special. Either
    // way the count is the same, and quick.
    let rounds = 100_000;
    let mut hello_allocs = 0.0;
    for (name, app_name, req) in [
        ("hello, wrk GET", "hello", WRK_GET),
        ("hello, browser GET (10 headers)", "hello", BROWSER_GET),
        (
            "greet (reads environ, format! body), browser GET",
            "greet",
            BROWSER_GET,
        ),
    ] {
        let (allocs, bytes) = match app_name {
            "hello" => measure(hello, req, rounds),
            _ => measure(greet, req, rounds),
        };
        if app_name == "hello" {
            hello_allocs = f64::max(hello_allocs, allocs);
        }
        println!("{name}: allocations per request: {allocs} ({bytes} bytes)");
    }
    if hello_allocs > 0.0 {
        eprintln!("the hello path allocates: {hello_allocs} per request");
        std::process::exit(1);
    }
}
