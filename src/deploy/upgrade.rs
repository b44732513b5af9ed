//! Binary upgrades on SIGUSR2, as gunicorn and unicorn do them: the master starts a new
//! master from the program's path (a binary replaced there is the one that starts), which
//! inherits the listening sockets, so no connection is refused while both run.
//!
//! 1. The old master renames its pid file to `<pid file>.oldbin` and starts the new master
//!    with the listeners' descriptors in [`ENV_UPGRADE_FDS`] and its own pid in
//!    [`ENV_UPGRADE_FROM`]. It keeps serving with its workers meanwhile.
//! 2. The new master uses the inherited sockets instead of binding, starts its workers,
//!    and once every one of them serves, writes the pid file and tells systemd (when
//!    `NOTIFY_SOCKET` is set) `MAINPID=<its pid>` and `READY=1`.
//! 3. Then the old master is stopped with TERM (or QUIT): by the operator, who can still
//!    roll back by stopping the new master instead, or, under systemd, by the new master
//!    itself (systemd has no way to send it a signal once `MAINPID` moved).
//! 4. The old master stops as on any TERM: its workers finish what they hold; connections
//!    the kernel queued on the shared sockets go to the new workers. A unix socket file is
//!    left in place for the new master, which takes it over once the old master is gone.
//!
//! If the new master exits before that, the old one renames its pid file back and carries
//! on, as before the USR2.

use std::ffi::OsString;
use std::os::fd::RawFd;
use std::path::PathBuf;
use std::process::{Child, Command};

use super::notify::{sd_notify, PidFile};
use crate::net::Listener;

/// The listening descriptors a new master inherits from the old one, comma-separated.
pub(crate) const ENV_UPGRADE_FDS: &str = "GREENLIGHT_UPGRADE_FDS";
/// The pid of the master that started this one by a binary upgrade.
pub(crate) const ENV_UPGRADE_FROM: &str = "GREENLIGHT_UPGRADE_FROM";

/// What a master started by USR2 inherits: the listening sockets and the old master's pid.
pub(crate) struct Inherited {
    fds: Vec<RawFd>,
    old_master: u32,
}

impl Inherited {
    /// The inheritance, when this process is a new master started by USR2.
    ///
    /// Call it first thing in the process, before any thread starts: it removes its
    /// variables from the environment (the new master's own workers and upgrades must not
    /// see them), which is only sound while the process has one thread.
    pub(crate) fn from_env() -> Option<Inherited> {
        let fds = std::env::var(ENV_UPGRADE_FDS).ok();
        let from = std::env::var(ENV_UPGRADE_FROM).ok();
        for k in [ENV_UPGRADE_FDS, ENV_UPGRADE_FROM] {
            std::env::remove_var(k);
        }
        Some(Inherited {
            fds: fds?
                .split(',')
                .filter_map(|s| s.trim().parse().ok())
                .collect(),
            old_master: from?.trim().parse().ok()?,
        })
    }

    /// The pid of the master that started this one.
    pub(crate) fn old_master(&self) -> u32 {
        self.old_master
    }

    /// Takes over the inherited listening sockets (they stay inheritable by the workers
    /// once the master marks them so). A unix socket file still belongs to the old master.
    pub(crate) fn listeners(&self) -> crate::Result<Vec<Listener>> {
        if self.fds.is_empty() {
            return Err(crate::Error::Config(format!(
                "{ENV_UPGRADE_FDS} names no listening socket"
            )));
        }
        self.fds
            .iter()
            // SAFETY: the old master passed these descriptors to this process to serve on,
            // and nothing else here owns them.
            .map(|&fd| unsafe { Listener::from_raw_fd_checked(fd) })
            .collect()
    }
}

/// The program USR2 starts: the path this process was started as (`argv[0]`, made absolute
/// against the working directory at start, or looked up in `PATH` when it has no `/`),
/// without resolving symlinks. So a binary replaced at that path, or a symlink pointed at a
/// new release, is what the new master runs. (`/proc/self/exe` would name the old file,
/// which a replacement has unlinked.) Read at start, before the working directory could
/// change.
pub(crate) fn program_path() -> std::io::Result<PathBuf> {
    let argv0 = PathBuf::from(std::env::args_os().next().unwrap_or_default());
    if argv0.components().count() > 1 {
        return Ok(std::env::current_dir()?.join(argv0));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let p = dir.join(&argv0);
        if !argv0.as_os_str().is_empty() && p.is_file() {
            return Ok(std::env::current_dir()?.join(p));
        }
    }
    std::env::current_exe()
}

/// One master's part in binary upgrades: as the old master, the new one it started; as a
/// new master, the old one that started it.
pub(crate) struct Upgrade {
    /// What USR2 executes.
    program: PathBuf,
    args: Vec<OsString>,
    /// The new master this one started, while it runs.
    child: Option<Child>,
    /// The master that started this one by USR2, if one did.
    upgraded_from: Option<u32>,
    /// The same, until it is gone.
    old_master: Option<u32>,
}

impl Upgrade {
    /// `old_master` is the master that started this one (see [`Inherited`]).
    pub(crate) fn new(program: PathBuf, args: Vec<OsString>, old_master: Option<u32>) -> Self {
        Upgrade {
            program,
            args,
            child: None,
            upgraded_from: old_master,
            old_master,
        }
    }

    /// Whether a new master started by this one is running: the listeners' unix socket
    /// files are then its to remove, not ours.
    pub(crate) fn new_master_running(&self) -> bool {
        self.child.is_some()
    }

    /// Whether this master was started by USR2 and the old master is still running (it is
    /// then our parent: a parent that exits hands its children to another process).
    pub(crate) fn old_master_running(&self) -> bool {
        self.old_master == Some(std::os::unix::process::parent_id())
    }

    /// USR2: starts a new master from [`program_path`] with the listeners `fds`, after
    /// renaming the pid file to `.oldbin`. Refused while an upgrade is under way, from
    /// either side.
    pub(crate) fn start(&mut self, fds: &str, pidfile: &mut PidFile) {
        if let Some(c) = &self.child {
            log::warn!("USR2 ignored: a new master (pid: {}) is running", c.id());
            return;
        }
        if self.old_master_running() {
            log::warn!("USR2 ignored: the old master is still running; stop it first");
            return;
        }
        if let Some(p) = pidfile.path().map(str::to_owned) {
            if let Err(e) = pidfile.rename(format!("{p}.oldbin")) {
                log::error!("USR2: cannot rename the pid file {p}: {e}; not upgrading");
                return;
            }
        }
        let spawned = Command::new(&self.program)
            .args(&self.args)
            .env(ENV_UPGRADE_FDS, fds)
            .env(ENV_UPGRADE_FROM, std::process::id().to_string())
            .spawn();
        match spawned {
            Ok(c) => {
                log::info!(
                    "Handling signal: usr2 (binary upgrade: started {} as the new master, pid: {})",
                    self.program.display(),
                    c.id()
                );
                self.child = Some(c);
            }
            Err(e) => {
                log::error!("USR2: cannot start {}: {e}", self.program.display());
                restore(pidfile);
            }
        }
    }

    /// Notices a new master that exited before this one stopped: the upgrade failed (or
    /// was rolled back), and this master is the one again.
    pub(crate) fn reap(&mut self, pidfile: &mut PidFile) {
        let Some(c) = &mut self.child else { return };
        let status = match c.try_wait() {
            Ok(Some(s)) => s,
            Ok(None) => return,
            Err(e) => {
                log::error!("waiting for the new master: {e}");
                return;
            }
        };
        log::error!(
            "The new master (pid: {}) {}; this master (pid: {}) carries on",
            c.id(),
            super::arbiter::describe(status),
            std::process::id()
        );
        self.child = None;
        restore(pidfile);
        sd_notify(&format!("MAINPID={}\nREADY=1", std::process::id()));
    }

    /// Called once this master's workers all serve. For a master started by USR2: writes
    /// the pid file into `pidfile`, moves systemd's `MAINPID` here with `READY=1`, and
    /// under systemd stops the old master (elsewhere the operator does); returns true.
    /// Returns false for any other master, which only says `READY=1`.
    pub(crate) fn on_ready(&mut self, pid: Option<&str>, pidfile: &mut PidFile) -> bool {
        let Some(old) = self.upgraded_from else {
            return false;
        };
        match PidFile::create(pid) {
            Ok(f) => *pidfile = f,
            Err(e) => log::error!("writing the pid file {}: {e}", pid.unwrap_or("")),
        }
        sd_notify(&format!("MAINPID={}\nREADY=1", std::process::id()));
        if !self.old_master_running() {
            log::info!("Upgrade: workers serving; the old master (pid: {old}) is gone");
        } else if std::env::var_os("NOTIFY_SOCKET").is_some() {
            log::info!("Upgrade: workers serving; stopping the old master (pid: {old})");
            // SAFETY: kill(2) takes no pointers; `old` is our parent (checked just above),
            // so the pid cannot have been reused by another process.
            unsafe { libc::kill(old as libc::pid_t, libc::SIGTERM) };
        } else {
            log::info!(
                "Upgrade: workers serving; stop the old master with `kill -TERM {old}` \
                 (or stop this one, pid: {}, to roll back)",
                std::process::id()
            );
        }
        true
    }

    /// For a master started by USR2: true once, when the old master has gone (the caller
    /// then takes over the unix socket files).
    pub(crate) fn old_master_left(&mut self) -> bool {
        match self.old_master {
            Some(old) if !self.old_master_running() => {
                log::info!("The old master (pid: {old}) is gone");
                self.old_master = None;
                true
            }
            _ => false,
        }
    }
}

/// Renames an `.oldbin` pid file back.
fn restore(pidfile: &mut PidFile) {
    if let Some(p) = pidfile.path().and_then(|p| p.strip_suffix(".oldbin")) {
        let p = p.to_owned();
        if let Err(e) = pidfile.rename(p.clone()) {
            log::error!("cannot rename the pid file back to {p}: {e}");
        }
    }
}
