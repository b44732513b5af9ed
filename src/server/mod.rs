//! A generic server for any TCP (or unix-socket) protocol: gevent's `StreamServer`.
//!
//! Each accepted connection runs the handler in its own green thread, so the handler can
//! be written as plain blocking code.
//!
//! ```no_run
//! use std::io::{Read, Write};
//! use greenlight::server::StreamServer;
//!
//! // An echo server.
//! StreamServer::new("127.0.0.1:7000", |mut conn, _peer| {
//!     let mut buf = [0u8; 4096];
//!     while let Ok(n @ 1..) = conn.read(&mut buf) {
//!         if conn.write_all(&buf[..n]).is_err() {
//!             break;
//!         }
//!     }
//! })
//! .serve_forever()
//! .unwrap();
//! ```

// Coroutines, cancellation and raw descriptors go through `green/` and `net/`.
#![forbid(unsafe_code)]

mod accept;
mod conn;
mod shed;
mod shutdown;
mod signals;
mod stream;
mod sweep;

pub(crate) use accept::AcceptGate;
pub use conn::Conn;
pub(crate) use conn::{hibernate, HoldsConn};
pub(crate) use stream::url_of;
pub use stream::{Binds, ServerHandle, ServerOptions, StreamServer};
