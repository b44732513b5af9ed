//! Signals for the master's and the workers' loops: caught from the start (so that none
//! takes its default action, which for most is to end the process), and delivered the
//! moment they arrive instead of at the loop's next tick.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::Duration;

use signal_hook::iterator::Signals;

/// Signals that mean nothing to greenlight but must not end the process: gunicorn's
/// binary upgrade (USR2) and "stop the workers of a daemonized master" (WINCH), and the
/// window-size change a terminal sends to its foreground process group.
pub(crate) const IGNORED: [i32; 2] = [libc::SIGUSR2, libc::SIGWINCH];

/// Catches `signals` plus [`IGNORED`] from now on, and forwards them from a thread of their
/// own: the receiver wakes its loop as each arrives.
pub(crate) fn forward(signals: &[i32]) -> std::io::Result<Receiver<i32>> {
    let mut all = signals.to_vec();
    all.extend(IGNORED);
    let mut caught = Signals::new(all)?;
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("greenlight-signals".into())
        .spawn(move || {
            for sig in caught.forever() {
                if tx.send(sig).is_err() {
                    return;
                }
            }
        })?;
    Ok(rx)
}

/// Waits up to `tick` for signals; returns those that arrived (none after `tick`).
pub(crate) fn wait(rx: &Receiver<i32>, tick: Duration) -> Vec<i32> {
    match rx.recv_timeout(tick) {
        Ok(first) => std::iter::once(first).chain(rx.try_iter()).collect(),
        Err(RecvTimeoutError::Timeout) => Vec::new(),
        // The forwarding thread is gone (it never ends by itself): keep the loop's pace.
        Err(RecvTimeoutError::Disconnected) => {
            std::thread::sleep(tick);
            Vec::new()
        }
    }
}

/// A signal's name as gunicorn logs it (`term`, `hup`, ...).
pub(crate) fn name(sig: i32) -> &'static str {
    match sig {
        libc::SIGTERM => "term",
        libc::SIGINT => "int",
        libc::SIGQUIT => "quit",
        libc::SIGHUP => "hup",
        libc::SIGTTIN => "ttin",
        libc::SIGTTOU => "ttou",
        libc::SIGUSR1 => "usr1",
        libc::SIGUSR2 => "usr2",
        libc::SIGWINCH => "winch",
        libc::SIGCHLD => "chld",
        _ => "other",
    }
}
