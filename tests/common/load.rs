//! A keep-alive load that counts every request, for tests that signal, reload or upgrade
//! a server under it: client threads looping requests on kept-alive connections, and slow
//! requests in flight. Nothing sent may go unanswered.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::http::{Client, Request};
use super::wait_until;

/// Keep-alive clients looping during a case.
pub const CLIENTS: usize = 4;
/// Slow requests in flight when a signal arrives.
pub const SLOW: usize = 4;
/// How long each slow request sleeps in the handler.
pub const SLOW_MS: u64 = 700;
/// No client loop runs longer than this, whatever happens.
const LOOP_LIMIT: Duration = Duration::from_secs(60);

/// What the clients saw.
#[derive(Default)]
pub struct Tally {
    /// Requests written in full.
    pub sent: AtomicUsize,
    /// Requests answered 200.
    pub ok: AtomicUsize,
    /// Connections refused (the listeners are closed).
    pub refused: AtomicUsize,
    /// Requests sent and not answered (or not answered 200), with why.
    pub lost: Mutex<Vec<String>>,
    /// When the signal was sent, for reports.
    signalled: Mutex<Option<Instant>>,
}

impl Tally {
    pub fn ok(&self) -> usize {
        self.ok.load(Ordering::SeqCst)
    }

    pub fn refused(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }

    /// Waits until `n` more requests than now have been answered.
    pub fn wait_more(&self, n: usize, what: &str) {
        let from = self.ok();
        assert!(
            wait_until(30, || self.ok() >= from + n),
            "{what}: {} answered",
            self.ok() - from
        );
    }

    /// Notes that the signal goes now.
    pub fn mark_signal(&self) {
        *self.signalled.lock().unwrap() = Some(Instant::now());
    }

    /// How long ago the signal was sent, for reports.
    pub fn since_signal(&self) -> String {
        match *self.signalled.lock().unwrap() {
            Some(t) => format!("{} ms after the signal", t.elapsed().as_millis()),
            None => "before the signal".to_owned(),
        }
    }

    /// Records a request sent and not answered.
    pub fn lose(&self, why: String) {
        self.lost.lock().unwrap().push(why);
    }

    /// Asserts that every request sent was answered (refused connections aside).
    pub fn assert_none_lost(&self) {
        let lost = self.lost.lock().unwrap();
        let sent = self.sent.load(Ordering::SeqCst);
        assert!(lost.is_empty(), "lost {} of {sent}: {lost:?}", lost.len());
    }

    /// Asserts that nothing was lost or refused, and that the load ran.
    pub fn assert_nothing_lost(&self) {
        self.assert_none_lost();
        let refused = self.refused();
        assert_eq!(refused, 0, "{refused} connections refused");
        assert!(self.ok() > 100, "only {} requests answered", self.ok());
    }
}

/// Client threads looping keep-alive requests until stopped.
pub struct Load {
    stop: Arc<AtomicBool>,
    pub tally: Arc<Tally>,
    threads: Vec<JoinHandle<()>>,
}

impl Load {
    /// [`CLIENTS`] threads sending `target` on connections from `connect`; returns once 50
    /// requests were answered.
    pub fn start<S, C>(connect: C, target: &str) -> Load
    where
        S: Read + Write,
        C: Fn() -> io::Result<Client<S>> + Clone + Send + 'static,
    {
        let (stop, tally) = (Arc::new(AtomicBool::new(false)), Arc::new(Tally::default()));
        let threads = (0..CLIENTS)
            .map(|_| {
                let (connect, stop, tally) = (connect.clone(), stop.clone(), tally.clone());
                let req = Request::get(target).to_bytes();
                std::thread::spawn(move || client_loop(connect, &req, &stop, &tally))
            })
            .collect();
        let load = Load {
            stop,
            tally,
            threads,
        };
        load.tally.wait_more(50, "requests flow before the signal");
        load
    }

    /// Stops the clients; what they saw.
    pub fn finish(self) -> Arc<Tally> {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads {
            t.join().unwrap();
        }
        self.tally
    }
}

/// One client: the request in a loop on a keep-alive connection, a new connection when the
/// server closes one (or refuses), until `stop` or [`LOOP_LIMIT`].
fn client_loop<S: Read + Write>(
    connect: impl Fn() -> io::Result<Client<S>>,
    req: &[u8],
    stop: &AtomicBool,
    tally: &Tally,
) {
    let begun = Instant::now();
    let mut conn: Option<Client<S>> = None;
    let (mut n, mut last) = (0usize, Instant::now());
    while !stop.load(Ordering::SeqCst) && begun.elapsed() < LOOP_LIMIT {
        let c = match conn.as_mut() {
            Some(c) => c,
            None => match connect() {
                Ok(c) => {
                    n = 0;
                    conn.insert(c)
                }
                Err(_) => {
                    tally.refused.fetch_add(1, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                }
            },
        };
        // A request that could not be written was never sent: not a loss.
        if c.write_all(req).and_then(|()| c.flush()).is_err() {
            conn = None;
            continue;
        }
        tally.sent.fetch_add(1, Ordering::SeqCst);
        match c.read_response() {
            Ok(r) if r.status == 200 => {
                tally.ok.fetch_add(1, Ordering::SeqCst);
                if r.header("connection") == Some("close") {
                    conn = None;
                }
            }
            Ok(r) => {
                tally.lose(format!("status {} {:?}", r.status, r.text()));
                conn = None;
            }
            Err(e) => {
                tally.lose(format!(
                    "{e} (request {n} on its connection, {:?} after the last, {})",
                    last.elapsed(),
                    tally.since_signal()
                ));
                conn = None;
            }
        }
        n += 1;
        last = Instant::now();
    }
}

/// Sends a slow request on a new connection and waits until the server has accepted it;
/// the thread returns whether it was answered in full.
pub fn slow(port: u16) -> JoinHandle<Result<(), String>> {
    let mut c = Client::tcp(("127.0.0.1", port)).expect("connect for a slow request");
    let me = c.get_ref().local_addr().unwrap().port();
    c.send(&Request::get(&format!("/?ms={SLOW_MS}")).close().to_bytes());
    assert!(
        wait_until(10, || super::accepted(port, me)),
        "no worker accepted a slow request"
    );
    std::thread::spawn(move || {
        let r = c.read_response().map_err(|e| e.to_string())?;
        let want = format!("slept {SLOW_MS} ms\n");
        match (r.status, r.text()) {
            (200, body) if body == want => Ok(()),
            (status, body) => Err(format!("{status} {body:?}")),
        }
    })
}

/// Asserts that every slow request was answered in full.
pub fn assert_answered(slow: Vec<JoinHandle<Result<(), String>>>) {
    for (i, s) in slow.into_iter().enumerate() {
        if let Err(e) = s.join().unwrap() {
            panic!("slow request {i} of {SLOW} not answered: {e}");
        }
    }
}
