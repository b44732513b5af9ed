//! gunicorn's statsd metrics over UDP (`--statsd-host`, `--statsd-prefix`): per request
//! `gunicorn.requests` (counter), `gunicorn.request.duration` (timer, milliseconds) and
//! `gunicorn.request.status.NNN` (counter), from each worker; `gunicorn.workers` (gauge)
//! from the master.
//!
//! A request only offers a small sample to a bounded channel (no allocation, no wait; a
//! full channel drops it); a plain thread formats and sends the datagrams.

use std::fmt::Write as _;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::Duration;

use crossbeam::channel::{self, Receiver, TryRecvError};

/// Samples waiting for the sender thread; more are dropped.
const QUEUE: usize = 4096;
/// Largest datagram: several metric lines go in one, newline-separated, below a typical
/// MTU.
const DATAGRAM: usize = 1400;

/// One answered request.
#[derive(Clone, Copy)]
struct Sample {
    status: u16,
    took: Duration,
}

/// A socket connected to the statsd server, and the metric name prefix.
pub(crate) struct Client {
    socket: UdpSocket,
    prefix: String,
}

impl Client {
    /// A client of `host` (`HOST:PORT`, resolved now); `prefix` gets a trailing `.` as in
    /// gunicorn.
    pub(crate) fn new(host: &str, prefix: &str) -> io::Result<Client> {
        let addr: SocketAddr = host.to_socket_addrs()?.next().ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, format!("{host}: no address"))
        })?;
        let local: SocketAddr = match addr {
            SocketAddr::V4(_) => "0.0.0.0:0".parse().expect("an address"),
            SocketAddr::V6(_) => "[::]:0".parse().expect("an address"),
        };
        let socket = UdpSocket::bind(local)?;
        socket.connect(addr)?;
        let mut prefix = prefix.to_owned();
        if !prefix.is_empty() && !prefix.ends_with('.') {
            prefix.push('.');
        }
        Ok(Client { socket, prefix })
    }

    /// Sends `gunicorn.workers` as a gauge; an error (no one listening) is ignored, as
    /// UDP metrics are.
    pub(crate) fn workers(&self, n: usize) {
        let _ = self
            .socket
            .send(format!("{}gunicorn.workers:{n}|g", self.prefix).as_bytes());
    }

    /// Appends a request's three metric lines to `out`.
    fn push_request(&self, out: &mut String, s: Sample) {
        let p = &self.prefix;
        let ms = s.took.as_secs_f64() * 1000.0;
        let _ = write!(
            out,
            "{p}gunicorn.request.duration:{ms:.3}|ms\n{p}gunicorn.requests:1|c|@1.0\n\
             {p}gunicorn.request.status.{}:1|c|@1.0\n",
            s.status
        );
    }

    /// Sends samples as they come, several to a datagram, until every sender is gone.
    fn run(self, rx: Receiver<Sample>) {
        let mut out = String::with_capacity(DATAGRAM + 256);
        while let Ok(s) = rx.recv() {
            out.clear();
            self.push_request(&mut out, s);
            while out.len() < DATAGRAM - 200 {
                match rx.try_recv() {
                    Ok(s) => self.push_request(&mut out, s),
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                }
            }
            let _ = self.socket.send(out.trim_end().as_bytes());
        }
    }
}

/// The request side of a worker's statsd: cheap to call from a connection.
pub(crate) struct Sender {
    tx: channel::Sender<Sample>,
}

impl Sender {
    /// Starts the sending thread for `client`.
    pub(crate) fn start(client: Client) -> io::Result<Sender> {
        let (tx, rx) = channel::bounded(QUEUE);
        std::thread::Builder::new()
            .name("greenlight-statsd".into())
            .spawn(move || client.run(rx))?;
        Ok(Sender { tx })
    }

    /// Offers a request's sample; dropped when the queue is full.
    #[inline]
    pub(crate) fn request(&self, status: u16, took: Duration) {
        let _ = self.tx.try_send(Sample { status, took });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_arrive_as_gunicorns_lines_with_the_prefix() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let addr = server.local_addr().unwrap().to_string();
        let c = Client::new(&addr, "web").unwrap();
        c.workers(3);
        let mut buf = [0u8; 2048];
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"web.gunicorn.workers:3|g");
        let s = Sender::start(Client::new(&addr, "web.").unwrap()).unwrap();
        s.request(404, Duration::from_micros(2500));
        let n = server.recv(&mut buf).unwrap();
        let text = std::str::from_utf8(&buf[..n]).unwrap();
        assert_eq!(
            text,
            "web.gunicorn.request.duration:2.500|ms\nweb.gunicorn.requests:1|c|@1.0\n\
             web.gunicorn.request.status.404:1|c|@1.0"
        );
    }
}
