//! The process entry point: flags in, then a master and its workers.

use crate::config::Config;
use crate::wsgi::{App, WsgiOptions};

use super::worker::{self, WorkerEnv};

/// Runs `app` the way gunicorn runs one: settings from the command line and environment
/// ([`Config::from_args`]), logging set up, then served by `--workers` supervised worker
/// processes (one by default) under a master, until SIGTERM/SIGINT. Exits the process: 0
/// after a clean stop, 1 if the server could not start (the reason is logged), 2 for bad
/// flags, 3 if the workers could not boot.
///
/// Even one worker gets a master, as in gunicorn: SIGHUP then reloads without refusing a
/// connection, and `--timeout`, `--max-requests` and the restart of a crashed worker work
/// the same whatever `-w` says. (A plain single process, without a master, is
/// [`WsgiServer::serve_forever`](crate::wsgi::WsgiServer::serve_forever).)
///
/// ```no_run
/// use greenlight::wsgi::{Body, Environ, StartResponse};
///
/// fn app(_env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
///     start.status("200 OK").header("Content-Type", "text/plain");
///     Body::from("Hello!\n")
/// }
///
/// fn main() {
///     greenlight::run(app) // accepts -b, -w, --threads, --access-logfile, ...
/// }
/// ```
pub fn run<A: App>(app: A) -> ! {
    run_inner(app)
}

/// [`run`](fn@crate::run), naming the app: `myapp --version` prints `myapp 1.2.0 (greenlight
/// 0.1.0)` and the master's first log line names it too. It installs the calling crate's
/// [`app_info!`](crate::app_info) and calls `run`.
///
/// ```no_run
/// # use greenlight::wsgi::{Body, Environ, StartResponse};
/// # fn app(_env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
/// #     start.status(200);
/// #     Body::empty()
/// # }
/// fn main() {
///     greenlight::run!(app)
/// }
/// ```
#[macro_export]
macro_rules! run {
    ($app:expr) => {{
        $crate::app_info!().install();
        $crate::run($app)
    }};
}

fn run_inner<A: App>(app: A) -> ! {
    // Read (and cleared) before any thread exists: changing the environment is only sound
    // while the process has one thread.
    let worker = WorkerEnv::from_env();
    let inherited = super::upgrade::Inherited::from_env();
    let config = Config::from_args();
    let unsupported = config.unsupported();
    if !unsupported.is_empty() {
        for m in &unsupported {
            eprintln!("error: {m}");
        }
        std::process::exit(2);
    }
    if let Err(e) = crate::logging::init(&config.error_logfile, config.log_level) {
        eprintln!("error: cannot open the error log: {e}");
        std::process::exit(2);
    }
    // A process started by a master serves the sockets it was given; any other becomes
    // the master.
    if let Some(worker) = worker {
        worker::run(config, app, worker);
    }
    // Settings only a worker would use (TLS files, address lists) are checked here first:
    // a mistake is one clear error before anything listens, not workers failing to boot.
    if let Err(e) = WsgiOptions::try_from(&config) {
        log::error!("{e}");
        crate::logging::flush();
        std::process::exit(1);
    }
    super::arbiter::run(config, inherited)
}
