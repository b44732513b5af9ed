//! The application trait: WSGI's `app(environ, start_response) -> iterable`.

use super::{Body, Environ, StartResponse};

/// A WSGI-style application: reads the request from the [`Environ`], sets the status and
/// headers through [`StartResponse`], and returns the [`Body`].
///
/// Closures of the right shape are apps:
///
/// ```
/// use greenlight::wsgi::{App, Body, Environ, StartResponse};
///
/// fn hello(env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
///     start.status("200 OK").header("Content-Type", "text/plain");
///     Body::from("Hello!\n")
/// }
/// fn assert_app<A: App>(_: A) {}
/// assert_app(hello);
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

impl<F> App for F
where
    F: Fn(&mut Environ<'_>, StartResponse<'_>) -> Body + Send + Sync + 'static,
{
    #[inline]
    fn call(&self, env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
        self(env, start)
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
