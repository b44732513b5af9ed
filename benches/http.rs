//! Criterion benches of the HTTP core: head parsing, and a whole request through the
//! server's per-request path (parse, environ, app, encode) without sockets.
//!
//! ```sh
//! cargo bench --bench http
//! ```

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use greenlight::http::{HeadStatus, Limits, RequestHead};
use greenlight::wsgi::bench::BytesConn;

mod common;
use common::{hello, BROWSER_GET, WRK_GET};

fn parse(c: &mut Criterion) {
    let limits = Limits::default();
    let mut g = c.benchmark_group("parse");
    for (name, req) in [
        ("wrk_get", WRK_GET),
        ("browser_get_10_headers", BROWSER_GET),
    ] {
        let mut head = RequestHead::new();
        g.throughput(Throughput::Bytes(req.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                let r = head.parse(std::hint::black_box(req), &limits);
                assert!(matches!(r, Ok(HeadStatus::Complete(n)) if n == req.len()));
            })
        });
    }
    g.finish();
}

fn request(c: &mut Criterion) {
    let mut g = c.benchmark_group("request");
    g.throughput(Throughput::Elements(1));
    for (name, req) in [
        ("hello_wrk_get", WRK_GET),
        ("hello_browser_get", BROWSER_GET),
    ] {
        let mut conn = BytesConn::new(hello);
        let mut out = Vec::with_capacity(4096);
        g.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                let keep_alive = conn.handle(std::hint::black_box(req), &mut out);
                assert!(keep_alive && out.starts_with(b"HTTP/1.1 200 OK\r\n"));
            })
        });
    }
    // 16 pipelined requests answered into one write buffer, as wrk's pipelining sends them.
    let pipelined: Vec<u8> = WRK_GET.repeat(16);
    let mut conn = BytesConn::new(hello);
    g.throughput(Throughput::Elements(16));
    g.bench_function("hello_pipelined_16", |b| {
        b.iter_batched_ref(
            || Vec::with_capacity(4096),
            |out| assert!(conn.handle(&pipelined, out)),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(1500));
    targets = parse, request
}
criterion_main!(benches);
