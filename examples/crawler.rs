//! A Pool of 10 greenlets fetches 50 pages from a local server; results come back
//! through a Queue.
//!
//! The server is a small accept loop over `may::net::TcpListener`, one greenlet per
//! connection, answering each `GET /page/N` after a 20 ms "think time". Ten workers fetch
//! 50 pages in about 50 / 10 × 20 ms = 100 ms rather than a second.
//!
//! ```text
//! cargo run --example crawler
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use greenlight::pool::Pool;
use greenlight::queue::Queue;
use may::net::{TcpListener, TcpStream};

const PAGES: usize = 50;
const WORKERS: usize = 10;

fn serve(listener: TcpListener) {
    for conn in listener.incoming() {
        let Ok(conn) = conn else { continue };
        greenlight::spawn(move || {
            if let Err(e) = answer(conn) {
                eprintln!("server: {e}");
            }
        })
        .detach();
    }
}

fn answer(conn: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // Skip the headers up to the blank line.
    let mut line = String::new();
    while reader.read_line(&mut line)? > 2 {
        line.clear();
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/");
    greenlight::sleep(Duration::from_millis(20));
    let body = format!("<html><title>{path}</title>{}</html>", "x".repeat(100));
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    reader.get_mut().write_all(response.as_bytes())
}

/// Fetches `path`, returning the status line and the body length.
fn fetch(addr: SocketAddr, path: &str) -> std::io::Result<(String, usize)> {
    let mut conn = TcpStream::connect(addr)?;
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        conn,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    conn.read_to_string(&mut response)?;
    let status = response.lines().next().unwrap_or_default().to_owned();
    let body_len = response.split("\r\n\r\n").nth(1).map_or(0, str::len);
    Ok((status, body_len))
}

fn main() -> std::io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    greenlight::spawn(move || serve(listener)).detach();

    let pool = Pool::new(WORKERS);
    let results: Queue<(String, std::io::Result<(String, usize)>)> = Queue::unbounded();
    let start = Instant::now();
    for n in 0..PAGES {
        let results = results.clone();
        // Waits for a free worker: never more than 10 fetches at once.
        pool.spawn(move || {
            let path = format!("/page/{n}");
            let outcome = fetch(addr, &path);
            results.put((path, outcome)).expect("the queue is open");
        })
        .expect("no Timeout in scope")
        .detach();
    }
    pool.join(None).expect("no Timeout in scope");
    results.close();

    let (mut ok, mut failed, mut bytes) = (0, 0, 0);
    while let Ok((path, outcome)) = results.get() {
        match outcome {
            Ok((status, len)) if status.contains("200") => {
                ok += 1;
                bytes += len;
            }
            Ok((status, _)) => {
                failed += 1;
                eprintln!("{path}: {status}");
            }
            Err(e) => {
                failed += 1;
                eprintln!("{path}: {e}");
            }
        }
    }
    println!(
        "fetched {ok}/{PAGES} pages ({failed} failed, {bytes} body bytes) with {WORKERS} workers in {:.1?}",
        start.elapsed()
    );
    Ok(())
}
