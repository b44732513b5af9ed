//! A sans-IO HTTP/1.1 core: bytes in, decisions and bytes out. Nothing here touches a socket.
//!
//! - [`request`]: request-head parsing with limits, and the framing decision (RFC 9112 §6).
//! - [`decode`]: the chunked body decoder, a state machine fed byte slices.
//! - [`encode`]: status line, headers, and body framing of responses.
//! - [`date`]: the cached `Date` header value.
//! - [`proxy`]: the PROXY protocol header (v1 and v2) a TCP proxy sends first.
#![forbid(unsafe_code)]

pub(crate) mod chars;
#[cfg(test)]
mod conformance_tests;
pub mod date;
pub mod decode;
pub mod encode;
mod error;
pub(crate) mod host;
pub mod proxy;
pub mod request;

pub use error::{Error, ErrorKind};
