//! Middleware: an app that wraps an app. [`ProxyFix`] is werkzeug's; writing your own
//! takes a few lines. `docs/deploying.md` shows `ProxyFix` behind nginx, and what to trust.
//!
//! A middleware is anything implementing [`App`](crate::wsgi::App) that calls the app it
//! wraps. As a closure, it rewrites the environ and calls on; this one is the
//! `CustomProxyFix` of many deployments, taking the host from a header a proxy sets:
//!
//! ```
//! use greenlight::wsgi::{App, Body, Environ, StartResponse};
//!
//! fn custom_proxy_fix(app: impl App) -> impl App {
//!     move |env: &mut Environ<'_>, start: StartResponse<'_>| {
//!         if let Some(host) = env.get("HTTP_X_FHOST").map(str::to_owned) {
//!             env.set("HTTP_HOST", host);
//!         }
//!         app.call(env, start)
//!     }
//! }
//! # fn hello(_: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
//! #     start.status("200 OK");
//! #     Body::from("hi")
//! # }
//! # fn assert_app<A: App>(_: A) {}
//! # assert_app(custom_proxy_fix(hello));
//! ```
//!
//! The same as a small struct, which can carry settings and be named in types:
//!
//! ```
//! use greenlight::wsgi::{App, Body, Environ, StartResponse};
//!
//! /// Takes `HTTP_HOST` from the `X-FHOST` header.
//! struct CustomProxyFix<A>(A);
//!
//! impl<A: App> App for CustomProxyFix<A> {
//!     fn call(&self, env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
//!         if let Some(host) = env.get("HTTP_X_FHOST").map(str::to_owned) {
//!             env.set("HTTP_HOST", host);
//!         }
//!         self.0.call(env, start)
//!     }
//! }
//! ```
//!
//! Middlewares compose by nesting; the outermost runs first. Here `ProxyFix` fixes the
//! client address and scheme, then `CustomProxyFix` the host, then the app runs:
//!
//! ```
//! # use greenlight::wsgi::{App, Body, Environ, StartResponse};
//! # struct CustomProxyFix<A>(A);
//! # impl<A: App> App for CustomProxyFix<A> {
//! #     fn call(&self, env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
//! #         self.0.call(env, start)
//! #     }
//! # }
//! use greenlight::middleware::ProxyFix;
//!
//! fn app(env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
//!     let host = env.get("HTTP_HOST").unwrap_or("").to_owned();
//!     start.status("200 OK");
//!     Body::from(host)
//! }
//!
//! let app = ProxyFix::new(CustomProxyFix(app)).x_for(1).x_proto(1);
//! # fn assert_app<A: App>(_: A) {}
//! # assert_app(app);
//! // greenlight::run(app);
//! ```
#![forbid(unsafe_code)]

mod proxy_fix;
mod static_files;

pub use proxy_fix::{ProxyFix, ProxyFixOrig};
pub use static_files::SharedData;
