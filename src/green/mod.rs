//! Green threads: gevent's concurrency API over the `may` coroutine runtime.
//!
//! Everything here works both from a green thread and from a plain OS thread (such as
//! `main`).

pub mod runtime;

pub use runtime::{configure, RuntimeConfig};
