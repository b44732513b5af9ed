//! The connection code over in-memory bytes, for benchmarks (`benches/http.rs`,
//! `benches/allocs.rs`). Not a stable API.
//!
//! [`BytesConn::handle`] runs exactly what a served socket runs (the same connection
//! phases: head parsed, environ built, app called with panics caught, response encoded
//! and flushed), over an in-memory stream instead of a socket. The storage is reused
//! across calls, as a keep-alive connection reuses it.

use std::sync::Arc;

use super::builder::WsgiOptions;
use super::conn::{Connection, Phase, Service};
use super::environ::ConnInfo;
use super::io::MemStream;
use super::App;

/// One simulated keep-alive connection from 127.0.0.1:40000 to 127.0.0.1:8000, with the
/// default options.
pub struct BytesConn<A: App> {
    conn: Connection<A, MemStream>,
    /// Where the next bytes start: the preface (before the first request), then a head.
    next: fn() -> Phase,
}

impl<A: App> BytesConn<A> {
    /// A connection to `app`.
    pub fn new(app: A) -> Self {
        let svc = Service::new(app, &WsgiOptions::default(), None, None);
        let info = ConnInfo {
            remote_addr: "127.0.0.1".to_owned(),
            remote_port: "40000".to_owned(),
            server_name: "127.0.0.1".to_owned(),
            server_port: "8000".to_owned(),
            scheme: "http",
            ..ConnInfo::default()
        };
        let ip = Some([127, 0, 0, 1].into());
        BytesConn {
            conn: Connection::new(Arc::new(svc), MemStream::default(), info, ip),
            next: || Phase::Preface,
        }
    }

    /// Answers every request in `requests` (pipelined, as a client may send them),
    /// appending the answers to `out`. Returns whether the connection would stay open
    /// after the last one.
    pub fn handle(&mut self, requests: &[u8], out: &mut Vec<u8>) -> bool {
        self.conn.transport_mut().push(requests);
        // The stream ends where the bytes do: the connection answers, then finds the end.
        self.conn.run((self.next)());
        self.next = || Phase::Head;
        let written = self.conn.transport_mut().output();
        out.extend_from_slice(written);
        written.clear();
        self.conn.is_keep_alive()
    }
}
