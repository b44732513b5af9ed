//! A Pool of 100 greenlets fetches 1,000 pages from a local server with
//! `greenlight::client`; results come back through a Queue.
//!
//! The server is a greenlight `WsgiServer` that "thinks" for 50 ms before answering each
//! `GET /page/N`. The fetches park only their own greenlet (connect, write, wait for the
//! answer), so 100 of them overlap: 1,000 pages take about 1000 / 100 × 50 ms = 0.5 s
//! rather than 50 s. Keep-alive connections are reused from the client's pool.
//!
//! ```text
//! cargo run --release --example crawler
//! ```

use std::time::{Duration, Instant};

use greenlight::client::Client;
use greenlight::pool::Pool;
use greenlight::queue::Queue;
use greenlight::wsgi::{Body, Environ, StartResponse, WsgiServer};

const PAGES: usize = 1000;
const WORKERS: usize = 100;
const THINK: Duration = Duration::from_millis(50);

fn page(env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
    let path = env.path().to_owned();
    greenlight::sleep(THINK);
    start.status("200 OK").header("Content-Type", "text/html");
    Body::from(format!(
        "<html><title>{path}</title>{}</html>",
        "x".repeat(100)
    ))
}

/// Fetches `url`, returning the status and the body length.
fn fetch(client: &Client, url: &str) -> Result<(u16, usize), greenlight::client::Error> {
    let response = client.get(url).timeout(Duration::from_secs(10)).call()?;
    let status = response.status();
    Ok((status, response.bytes()?.len()))
}

fn main() -> greenlight::Result<()> {
    let server = WsgiServer::new("127.0.0.1:0", page).start()?;
    let base = format!("http://{}", server.local_addr());
    // One connection per worker can stay open between fetches.
    let client = Client::builder().max_idle_per_host(WORKERS).build();

    let pool = Pool::new(WORKERS);
    type Outcome = Result<(u16, usize), greenlight::client::Error>;
    let results: Queue<(String, Outcome)> = Queue::unbounded();
    let start = Instant::now();
    for n in 0..PAGES {
        let (client, results) = (client.clone(), results.clone());
        let url = format!("{base}/page/{n}");
        // Waits for a free worker: never more than WORKERS fetches at once.
        pool.spawn(move || {
            let outcome = fetch(&client, &url);
            results.put((url, outcome)).expect("the queue is open");
        })
        .expect("no Timeout in scope")
        .detach();
    }
    pool.join(None).expect("no Timeout in scope");
    let elapsed = start.elapsed();
    results.close();

    let (mut ok, mut failed, mut bytes) = (0, 0, 0);
    while let Ok((url, outcome)) = results.get() {
        match outcome {
            Ok((200, len)) => {
                ok += 1;
                bytes += len;
            }
            Ok((status, _)) => {
                failed += 1;
                eprintln!("{url}: status {status}");
            }
            Err(e) => {
                failed += 1;
                eprintln!("{url}: {e}");
            }
        }
    }
    let expected = THINK * (PAGES / WORKERS) as u32;
    println!(
        "fetched {ok}/{PAGES} pages ({failed} failed, {bytes} body bytes) with {WORKERS} greenlets in {elapsed:.2?} \
         (think time x {} = {expected:.2?}; one after another: {:.1?})",
        PAGES / WORKERS,
        THINK * PAGES as u32
    );
    server.stop(Duration::from_secs(1));
    Ok(())
}
