//! The WSGI layer: [`App`], [`Environ`], [`Input`] (`wsgi.input`), [`StartResponse`],
//! [`Body`], and [`WsgiServer`] with its [`WsgiOptions`].
//!
//! Where things live: `builder.rs` (the server and its options), `conn.rs` (the connection
//! as a state machine, one function per phase), `preface.rs` (PROXY header before the
//! first request), `io.rs` (the stream and its read and write buffers), `input.rs` (the
//! request body), `request/` (the query, forms, multipart, cookies and JSON, as methods on
//! [`Environ`]), `write.rs` (responses, streamed bodies, error answers), `trust.rs`
//! (which peers' headers are believed), `log.rs` (the access log).
//!
//! WSGI's contract, `app(environ, start_response) -> iterable of bytes`, in Rust:
//!
//! ```no_run
//! use greenlight::wsgi::{Body, Environ, StartResponse, WsgiServer};
//!
//! fn app(env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
//!     let name = env.get("QUERY_STRING").unwrap_or("world").to_owned();
//!     start.status("200 OK").header("Content-Type", "text/plain");
//!     Body::from(format!("Hello, {name}!"))
//! }
//!
//! fn main() -> std::io::Result<()> {
//!     Ok(WsgiServer::new("127.0.0.1:5000", app).serve_forever()?)
//! }
//! ```

#![forbid(unsafe_code)]

mod app;
#[doc(hidden)]
pub mod bench;
mod builder;
mod conn;
mod environ;
mod error;
mod file_body;
mod input;
mod interop;
mod io;
mod log;
mod pace;
mod preface;
mod reply;
mod request;
mod response;
mod spare;
mod trust;
mod upgrade;
pub mod websocket;
mod write;

pub(crate) use conn::{run_exchange, with_environ, MemPeer, Service};

pub use app::{app_fn, App};
pub use builder::{WsgiOptions, WsgiServer};
/// A cookie: what [`Environ::cookies`] gives and [`StartResponse::set_cookie`] sends (the
/// `cookie` crate's).
pub use cookie::{Cookie, SameSite};
pub use environ::{ConnInfo, Environ, Extensions};
pub use error::{HttpError, RequestError};
pub use input::Input;
pub use reply::IntoResponse;
pub use request::{Form, Multipart, Part, QueryPairs};
pub use response::{Body, HeaderText, IntoStatus, StartResponse};
pub use upgrade::Upgraded;
pub use websocket::{CloseStatus, Incoming, Message, WebSocket, WebSocketOptions};
