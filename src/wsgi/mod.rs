//! The WSGI layer: [`App`], [`Environ`], [`Input`] (`wsgi.input`), [`StartResponse`],
//! [`Body`], and [`WsgiServer`].
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

mod app;
#[doc(hidden)]
pub mod bench;
mod environ;
mod input;
mod log;
mod response;
mod server;

pub use app::App;
pub use environ::{ConnInfo, Environ, Extensions};
pub use input::Input;
pub use response::{Body, HeaderText, StartResponse};
pub use server::{run, WsgiServer};
