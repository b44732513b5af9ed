//! Blocking work on the threadpool keeps a server responsive.
//!
//! A TCP ping server runs on a single worker thread. While four greenlets each run a
//! 500 ms blocking call through `threadpool::spawn_blocking`, a client keeps pinging and
//! measures the round trips: they stay well under a millisecond or so, because the worker
//! never blocks. (Call `std::thread::sleep` directly in a greenlet instead and every ping
//! would wait for it.)
//!
//! ```text
//! cargo run --example blocking
//! ```

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use greenlight::net::TcpStream;
use greenlight::server::{Conn, StreamServer};
use greenlight::threadpool;
use greenlight::{configure, RuntimeConfig};

/// Echoes what the client sends, on the connection's own green thread.
fn echo(mut conn: Conn, _peer: greenlight::net::Addr) {
    let mut buf = [0u8; 64];
    while let Ok(n) = conn.read(&mut buf) {
        if n == 0 || conn.write_all(&buf[..n]).is_err() {
            break;
        }
    }
}

fn main() -> std::io::Result<()> {
    // One worker: any blocking call on it would stall the server.
    configure(RuntimeConfig {
        workers: 1,
        ..Default::default()
    });

    let server = StreamServer::new(vec!["127.0.0.1:0".parse().unwrap()], echo).start()?;
    let addr = server.local_addr().as_tcp().expect("a TCP address");

    let start = Instant::now();
    let blockers: Vec<_> = (0..4)
        .map(|i| {
            greenlight::spawn(move || {
                threadpool::spawn_blocking(move || {
                    // Stands for std file I/O, a blocking database driver, DNS...
                    std::thread::sleep(Duration::from_millis(500));
                    i
                })
            })
        })
        .collect();

    let pinger = greenlight::spawn(move || -> std::io::Result<Vec<Duration>> {
        let mut conn = TcpStream::connect(addr)?;
        conn.set_nodelay(true)?;
        let mut rtts = Vec::new();
        let mut buf = [0u8; 4];
        while start.elapsed() < Duration::from_millis(500) {
            let t = Instant::now();
            conn.write_all(b"ping")?;
            conn.read_exact(&mut buf)?;
            rtts.push(t.elapsed());
            greenlight::sleep(Duration::from_millis(10));
        }
        Ok(rtts)
    });

    let mut rtts = pinger.join().expect("pinger failed")?;
    for b in blockers {
        b.join().expect("blocker greenlet").expect("blocking job");
    }
    let total = start.elapsed();
    rtts.sort();
    let median = rtts[rtts.len() / 2];
    let worst = rtts[rtts.len() - 1];
    println!("4 blocking jobs of 500 ms ran on the threadpool; all done in {total:.1?}");
    println!(
        "meanwhile {} pings answered: median {median:.1?}, worst {worst:.1?}",
        rtts.len()
    );
    Ok(())
}
