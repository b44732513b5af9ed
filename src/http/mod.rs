//! A sans-IO HTTP/1.1 core: bytes in, decisions and bytes out. Nothing here touches a socket.
//!
//! The server uses all of it; what is public is the part a user may want on its own, to
//! read requests from bytes it holds: in a handler of a
//! [`StreamServer`](crate::server::StreamServer) that speaks HTTP itself, in a proxy, or in
//! a test harness. These are the stable types: their API follows the crate's version, and
//! their behaviour is pinned by gunicorn's request corpus.
//!
//! - [`RequestHead::parse`] reads a request head under [`Limits`] (gunicorn's
//!   `limit_request_*`) and answers [`HeadStatus::Complete`] or [`HeadStatus::Partial`];
//!   the head tells how the body is framed ([`BodyLength`]), whether the connection may
//!   persist and whether the client waits for `100 Continue`.
//! - [`ChunkedDecoder`] reads a chunked body incrementally.
//! - [`Error`] says what was wrong, as an [`ErrorKind`], and which status to answer with.
//!
//! ```
//! use greenlight::http::{BodyLength, HeadStatus, Limits, RequestHead};
//!
//! let buf = b"GET /hello HTTP/1.1\r\nHost: example.com\r\n\r\n";
//! let mut head = RequestHead::new();
//! let HeadStatus::Complete(n) = head.parse(buf, &Limits::default()).unwrap() else {
//!     panic!("a whole head was given");
//! };
//! assert_eq!(n, buf.len());
//! assert_eq!(head.target.get(buf), b"/hello");
//! assert_eq!(head.body, BodyLength::Empty);
//!
//! let err = head.parse(b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", &Limits::default());
//! assert_eq!(err.unwrap_err().status(), 400);
//! ```
//!
//! Inside the crate, beside those: `encode` (status line, headers and body framing of
//! responses), `date` (the cached `Date` value), `proxy` (the PROXY protocol header a TCP
//! proxy sends first), `host` (host and port syntax) and `chars` (byte classes).
#![forbid(unsafe_code)]

pub(crate) mod chars;
#[cfg(test)]
mod conformance_tests;
pub(crate) mod date;
pub(crate) mod decode;
pub(crate) mod encode;
mod error;
pub(crate) mod host;
pub(crate) mod proxy;
pub(crate) mod request;

pub use decode::{Chunk, ChunkedDecoder};
pub use error::{Error, ErrorKind};
pub use request::{BodyLength, HeadStatus, Header, Limits, RequestHead, Span, Version};
