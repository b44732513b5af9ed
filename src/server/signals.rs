//! SIGTERM and SIGINT for `serve_forever`: the first starts a graceful stop, a second
//! SIGINT ends it at once; SIGQUIT ends it at once (gunicorn's quick stop). SIGUSR1
//! reopens the log files (after logrotate moved them, as gunicorn's does). SIGUSR2 and
//! SIGWINCH are caught and ignored. The default action of each (ending the process)
//! must not cost the requests in flight.

use std::time::Duration;

use signal_hook::consts::{SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH};
use signal_hook::iterator::{Handle, Signals};

use super::ServerHandle;
use crate::error::{Error, Result};

/// Stops listening for signals when dropped.
pub(crate) struct Installed {
    handle: Handle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Installed {
    fn drop(&mut self) {
        self.handle.close();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Catches SIGTERM, SIGINT, SIGQUIT and SIGUSR1 (and SIGUSR2 and SIGWINCH, to ignore
/// them) from now on: they wait for [`watch`] instead of ending the process. Called
/// before the server announces that it listens, so that a supervisor that signals as soon
/// as it reads "Listening at" gets a graceful stop.
pub(crate) fn catch() -> Result<Signals> {
    Signals::new([SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH])
        .map_err(|e| Error::io("installing signal handlers", e))
}

/// Watches the signals caught by [`catch`] on a plain OS thread (signal delivery must not
/// depend on the green-thread workers being free) and stops `server` when they arrive.
pub(crate) fn watch(
    mut signals: Signals,
    server: ServerHandle,
    grace: Duration,
) -> Result<Installed> {
    let handle = signals.handle();
    let thread = std::thread::Builder::new()
        .name("greenlight-signals".into())
        .spawn(move || {
            let mut stopper: Option<std::thread::JoinHandle<()>> = None;
            for sig in signals.forever() {
                match (sig, stopper.is_some()) {
                    (SIGUSR2 | SIGWINCH, _) => log::debug!("ignoring signal {sig}"),
                    (SIGUSR1, _) => {
                        log::info!("SIGUSR1: reopening the log files");
                        crate::logging::reopen_all();
                    }
                    (SIGQUIT, _) => {
                        log::info!("SIGQUIT: stopping now");
                        server.stop_now();
                    }
                    (SIGINT, true) => {
                        log::warn!("second SIGINT: stopping now");
                        server.stop_now();
                    }
                    (_, true) => {}
                    (_, false) => {
                        let name = if sig == SIGTERM { "SIGTERM" } else { "SIGINT" };
                        log::info!(
                            "{name}: stopping gracefully (grace period {:.1} s)",
                            grace.as_secs_f64()
                        );
                        let s = server.clone();
                        stopper = std::thread::Builder::new()
                            .name("greenlight-stop".into())
                            .spawn(move || s.stop(grace))
                            .ok();
                    }
                }
            }
        })
        .map_err(|e| Error::io("starting the signal thread", e))?;
    Ok(Installed {
        handle,
        thread: Some(thread),
    })
}
