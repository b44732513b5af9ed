//! The application trait: WSGI's `app(environ, start_response) -> iterable`.

use super::{Body, Environ, IntoResponse, StartResponse};

/// A WSGI-style application: reads the request from the [`Environ`], sets the status and
/// headers through [`StartResponse`], and returns the [`Body`].
///
/// Functions and closures of the right shape are apps. They may return a [`Body`], or
/// anything else that is [`IntoResponse`]: a `Result<Body, HttpError>` (so `?` works), an
/// `http::Response`:
///
/// ```
/// use greenlight::wsgi::{App, Body, Environ, HttpError, StartResponse};
///
/// fn hello(env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
///     start.status("200 OK").header("Content-Type", "text/plain");
///     Body::from("Hello!\n")
/// }
/// fn create(env: &mut Environ<'_>, start: StartResponse<'_>) -> Result<Body, HttpError> {
///     let body = env.input().read_body(1024)?; // too large: 413
///     start.status(201);
///     Ok(Body::from(body))
/// }
/// fn assert_app<A: App>(_: A) {}
/// assert_app(hello);
/// assert_app(create);
/// ```
///
/// An app runs in the connection's green thread: it may block on greenlight and `may`
/// operations (sleep, sockets, queues) without holding up other connections, but must not
/// block its OS thread (std locks held across a wait, `std::thread::sleep`, blocking file
/// I/O: run those on the [`threadpool`](crate::threadpool)).
pub trait App: Send + Sync + 'static {
    /// Handles one request.
    fn call(&self, env: &mut Environ<'_>, start: StartResponse<'_>) -> Body;
}

impl<F, R> App for F
where
    F: Fn(&mut Environ<'_>, StartResponse<'_>) -> R + Send + Sync + 'static,
    R: IntoResponse,
{
    // Always inlined (as the handler is, where it can be): the body then goes straight to
    // where the server keeps it, instead of through a chain of return slots.
    #[inline(always)]
    fn call(&self, env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
        let again = start.again();
        self(env, start).into_response(env, &again)
    }
}

impl<A: App + ?Sized> App for std::sync::Arc<A> {
    #[inline]
    fn call(&self, env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
        (**self).call(env, start)
    }
}

impl App for Box<dyn App> {
    #[inline]
    fn call(&self, env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
        (**self).call(env, start)
    }
}

/// Makes a closure an [`App`], with its parameter types inferred: Rust infers a closure's
/// higher-ranked signature only where an `Fn` bound expects it, so a closure handed
/// straight to [`WsgiServer::new`](super::WsgiServer::new) or
/// `testing::TestClient::new` needs both parameters spelled out
/// (`|env: &mut Environ<'_>, start: StartResponse<'_>|`). This is the usual way to build
/// an app around shared state (`tower::service_fn`'s idea).
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
///
/// use greenlight::testing::TestClient;
/// use greenlight::wsgi::{app_fn, Body};
///
/// let hits = Arc::new(AtomicU64::new(0));
/// let app = app_fn(move |_env, start| {
///     let n = hits.fetch_add(1, Ordering::Relaxed) + 1;
///     start.status(200);
///     Body::from(format!("hit {n}"))
/// });
/// let client = TestClient::new(app);
/// client.get("/");
/// assert_eq!(client.get("/").text(), "hit 2");
/// ```
pub fn app_fn<F, R>(f: F) -> F
where
    F: Fn(&mut Environ<'_>, StartResponse<'_>) -> R + Send + Sync + 'static,
    R: IntoResponse,
{
    f
}
