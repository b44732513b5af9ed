#![doc = include_str!("../README.md")]
//!
//! # Green threads
//!
//! gevent's concurrency API over the `may` coroutine runtime.
//!
//! | gevent                                  | greenlight                                          |
//! |-----------------------------------------|-----------------------------------------------------|
//! | `gevent.spawn`, `spawn_later`           | [`spawn`], [`spawn_later`] → [`Greenlet`]           |
//! | `joinall`, `killall`                    | [`joinall`], [`killall`]                            |
//! | `gevent.sleep`, `sleep(0)`              | [`sleep`], [`yield_now`]                            |
//! | `Timeout`, `with_timeout`               | [`Timeout`], [`with_timeout`]                       |
//! | `gevent.pool.Pool`, `Group`             | [`pool::Pool`], [`pool::Group`]                     |
//! | `gevent.event.Event`, `AsyncResult`     | [`event::Event`], [`event::AsyncResult`]            |
//! | `gevent.queue.Queue`, `JoinableQueue`   | [`queue::Queue`]                                    |
//! | `gevent.lock.Semaphore`, `BoundedSemaphore` | [`lock::Semaphore`], [`lock::BoundedSemaphore`] |
//! | `get_hub().threadpool`                  | [`threadpool`]                                      |
//!
//! Everything here works both from a green thread and from a plain OS thread (such as
//! `main`), and everything that blocks can be bounded: by a `_timeout` variant or a
//! `timeout` argument, and by a [`Timeout`] in scope.
//!
//! ```
//! use std::time::{Duration, Instant};
//!
//! let start = Instant::now();
//! let greenlets: Vec<_> = (0..1000)
//!     .map(|i| greenlight::spawn(move || {
//!         greenlight::sleep(Duration::from_millis(50));
//!         i
//!     }))
//!     .collect();
//! greenlight::joinall(&greenlets, None).unwrap();
//! assert!(start.elapsed() < Duration::from_secs(5)); // not 1000 × 50 ms
//! ```
//!
//! # Rules for code running in a greenlet
//!
//! `may` spawns coroutines with an `unsafe` function; greenlight's [`spawn`] (and every
//! green thread the servers start) is safe to call because the code it runs keeps these
//! rules:
//!
//! - **No thread-local across a yield.** A greenlet can move to another worker thread
//!   whenever it yields (any blocking greenlight or `may` call, [`sleep`], [`yield_now`],
//!   socket I/O). A `thread_local!` read before and after a yield may be two different
//!   threads' values, and a reference into one must never be held across a yield. Use
//!   [`coroutine_local!`] for per-greenlet state.
//! - **No blocking OS calls.** `std::thread::sleep`, `std::sync::Mutex` held while waiting,
//!   std file or socket I/O, a blocking database driver or DNS lookup stop the worker thread
//!   and every greenlet on it. Use greenlight's primitives, green sockets
//!   ([`net::TcpStream`], [`net::lookup_host`], [`client`] for HTTP), and
//!   [`threadpool::spawn_blocking`] for the rest (see `docs/calling-services.md`).
//! - **Mind the stack.** A greenlet's stack has a fixed size
//!   ([`config::DEFAULT_STACK_SIZE`], set with [`configure`]); overflowing it kills the
//!   process. Put large buffers on the heap and avoid deep recursion.
//! - **Kills are panics.** [`Greenlet::kill`] raises `may`'s cancel panic at the greenlet's
//!   next yield point. Do not catch it with `catch_unwind` and carry on; let it unwind, so
//!   that guards run. greenlight's primitives may be used from `Drop` while it unwinds (their
//!   waits then give up at once with a timeout), `may`'s own locks may not.
//! - **Sleep with greenlight's [`sleep`], not `may::coroutine::sleep`.** `may` resumes a
//!   coroutine whose sleep (or timed park) ended on its one timer thread, and the rest of
//!   its work runs there, shared by every sleeper in the process and holding up every timer
//!   while it runs; greenlight's waits move it back to the worker threads first.
#![forbid(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod client;
pub mod config;
mod deploy;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod green;
pub mod http;
pub mod logging;
mod metrics;
pub mod middleware;
pub mod net;
pub mod server;
mod shm;
pub mod testing;
mod time;
pub mod wsgi;

pub use deploy::run;

/// Declares a per-greenlet static (`may::coroutine_local!`): each greenlet sees its own
/// value, which follows it across worker threads; outside greenlets it is per thread.
///
/// Each greenlet's values are dropped when it ends. For request state, passing it
/// explicitly (the environ's [`extensions`](wsgi::Environ::extensions_mut)) is usually
/// clearer.
///
/// ```
/// use std::cell::Cell;
///
/// greenlight::coroutine_local!(static REQUESTS: Cell<u32> = Cell::new(0));
///
/// let g = greenlight::spawn(|| {
///     REQUESTS.with(|n| n.set(n.get() + 1));
///     greenlight::yield_now(); // may resume on another thread: the value follows
///     REQUESTS.with(|n| n.get())
/// });
/// assert_eq!(g.join(), Ok(1));
/// ```
pub use may::coroutine_local;

pub use error::{Error, Result};
pub use green::{
    configure, joinall, killall, sleep, spawn, spawn_later, try_sleep, with_timeout, yield_now,
};
pub use green::{event, lock, pool, queue, threadpool};
pub use green::{Greenlet, JoinError, RuntimeConfig, Timeout, TimeoutError};
/// The `may` runtime greenlight runs on, at the version greenlight was built with, for what
/// greenlight does not wrap (`may::sync` primitives, `may::go!`). Everyday code needs
/// none of it: greenlight has green sockets ([`net`], [`client`]), [`sleep`], and the
/// primitives in [`event`], [`queue`], [`lock`] and [`pool`].
pub use may;
