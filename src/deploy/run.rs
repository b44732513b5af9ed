//! The process entry point: flags in, then one server, or a master and its workers.

use crate::config::Config;
use crate::wsgi::{App, WsgiOptions, WsgiServer};

use super::notify::PidFile;
use super::worker::{self, WorkerEnv};

/// Runs `app` the way gunicorn runs one: settings from the command line and environment
/// ([`Config::from_args`]), logging set up, then served until SIGTERM/SIGINT: by this
/// process, or with `-w N` by N supervised worker processes. Exits the process: 0 after a
/// clean stop, 1 if the server could not start (the reason is logged), 2 for bad flags.
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
    // Read (and cleared) before any thread exists: changing the environment is only sound
    // while the process has one thread.
    let worker = WorkerEnv::from_env();
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
    // A process started by a master serves the sockets it was given; with several workers
    // this process becomes the master; otherwise it serves by itself.
    if let Some(worker) = worker {
        worker::run(config, app, worker);
    }
    if config.workers > 1 {
        super::arbiter::run(config);
    }
    exit(serve(config, app))
}

/// Serves `app` in this process until stopped; the exit status.
fn serve<A: App>(config: Config, app: A) -> i32 {
    let _pid = match PidFile::create(config.pid.as_deref()) {
        Ok(p) => p,
        Err(e) => {
            log::error!("cannot write the pid file: {e}");
            return 1;
        }
    };
    let server = match WsgiOptions::try_from(&config) {
        Ok(opts) => WsgiServer::new(config.binds, app).options(opts),
        Err(e) => {
            log::error!("{e}");
            return 1;
        }
    };
    match server.serve_forever() {
        Ok(()) => {
            log::info!("Shutting down: Master");
            0
        }
        Err(e) => {
            log::error!("{e}");
            1
        }
    }
}

/// Ends the process once the logs are written.
fn exit(code: i32) -> ! {
    crate::logging::flush();
    std::process::exit(code)
}
