//! greenlight: gevent's programming model for Rust.
//!
//! Stackful green threads (the [`may`] runtime) scheduled over epoll, so that every
//! connection gets a plain, blocking-looking handler, and no `async` anywhere in user code.
#![forbid(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod config;
mod deploy;
pub mod error;
pub mod green;
pub mod http;
pub mod logging;
pub mod middleware;
pub mod net;
pub mod server;
mod time;
pub mod wsgi;

pub use config::Config;
pub use deploy::run;
pub use error::{Error, Result};
pub use green::{event, lock, pool, queue, threadpool};
pub use green::{joinall, killall, sleep, spawn, spawn_later, with_timeout, yield_now};
pub use green::{Greenlet, Timeout};
