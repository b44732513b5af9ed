//! The pid file and systemd's readiness notification.

use std::io;
use std::os::unix::net::UnixDatagram;

/// Writes this process's pid to `path` (`--pid`); removes the file when dropped, if it
/// still holds this pid.
pub(crate) struct PidFile(Option<String>);

/// The pid a pid file holds, if it holds one.
fn read_pid(path: &str) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Whether a process `pid` runs (one of another user's answers EPERM: it runs too).
fn is_running(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: kill(2) with signal 0 only checks that the process exists.
    pid > 0
        && (unsafe { libc::kill(pid, 0) } == 0
            || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM))
}

impl PidFile {
    /// Writes this process's pid to `path`. Refused when the file holds the pid of another
    /// running process (another instance, as gunicorn refuses: "Already running on PID"),
    /// but for this process's parent (an old master handing over in a binary upgrade). A
    /// stale file, of a process that is gone, is replaced.
    pub(crate) fn create(path: Option<&str>) -> io::Result<PidFile> {
        if let Some(p) = path {
            let me = std::process::id();
            let parent = std::os::unix::process::parent_id();
            if let Some(other) = read_pid(p).filter(|&o| o != me && o != parent) {
                if is_running(other) {
                    return Err(io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        format!(
                            "it holds the pid {other} of a running process (another instance?)"
                        ),
                    ));
                }
            }
            std::fs::write(p, format!("{me}\n"))?;
        }
        Ok(PidFile(path.map(str::to_owned)))
    }

    /// The file's path, if there is one.
    pub(crate) fn path(&self) -> Option<&str> {
        self.0.as_deref()
    }

    /// Moves the file to `to` (a binary upgrade renames the old master's to `.oldbin`, and
    /// back if the new master dies); it is removed from there when dropped.
    pub(crate) fn rename(&mut self, to: String) -> io::Result<()> {
        if let Some(from) = &self.0 {
            std::fs::rename(from, &to)?;
            self.0 = Some(to);
        }
        Ok(())
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        // Another process's file now (an instance started since, a new master): kept.
        if let Some(p) = self
            .0
            .as_deref()
            .filter(|p| read_pid(p) == Some(std::process::id()))
        {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Sends `msg` (`READY=1`, `STOPPING=1`, `RELOADING=1`, ...) to systemd when it started us
/// with `NOTIFY_SOCKET` (`Type=notify`); does nothing otherwise. A failure is logged.
pub(crate) fn sd_notify(msg: &str) {
    if let Ok(path) = std::env::var("NOTIFY_SOCKET") {
        if let Err(e) = sd_notify_to(&path, msg) {
            log::warn!("cannot notify systemd at {path}: {e}");
        }
    }
}

/// Sends `msg` to the notification socket at `path`: a file path, or an abstract socket
/// name after `@`, as systemd writes `NOTIFY_SOCKET`.
fn sd_notify_to(path: &str, msg: &str) -> io::Result<()> {
    let sock = UnixDatagram::unbound()?;
    if let Some(name) = path.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
        sock.send_to_addr(msg.as_bytes(), &addr)?;
    } else {
        sock.send_to(msg.as_bytes(), path)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sd_notify_sends_to_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("gl-notify-abstract-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let server = UnixDatagram::bind_addr(&addr).unwrap();
        sd_notify_to(&format!("@{name}"), "STOPPING=1").unwrap();
        let mut buf = [0u8; 32];
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STOPPING=1");
    }

    #[test]
    fn pid_file_is_written_and_removed() {
        let p = std::env::temp_dir().join(format!("gl-pid-{}", std::process::id()));
        let s = p.to_str().unwrap().to_owned();
        let f = PidFile::create(Some(&s)).unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap().trim(),
            std::process::id().to_string()
        );
        drop(f);
        assert!(!p.exists());
    }

    #[test]
    fn a_running_process_pid_file_is_neither_taken_over_nor_removed() {
        let p = std::env::temp_dir().join(format!("gl-pid-other-{}", std::process::id()));
        let s = p.to_str().unwrap().to_owned();
        // pid 1 runs, and is neither this process nor its parent.
        std::fs::write(&p, "1\n").unwrap();
        let e = PidFile::create(Some(&s)).err().expect("refused");
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists, "{e}");
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "1\n");
        // Ours, then overwritten by another instance: not removed at our exit.
        std::fs::remove_file(&p).unwrap();
        let f = PidFile::create(Some(&s)).unwrap();
        std::fs::write(&p, "1\n").unwrap();
        drop(f);
        assert!(p.exists(), "another process's file stays");
        std::fs::remove_file(&p).unwrap();
        // A stale one (a pid no process has) is replaced.
        std::fs::write(&p, format!("{}\n", i32::MAX)).unwrap();
        let f = PidFile::create(Some(&s)).unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap().trim(),
            std::process::id().to_string()
        );
        drop(f);
        assert!(!p.exists());
    }

    #[test]
    fn pid_file_is_renamed_and_removed_from_its_new_name() {
        let p = std::env::temp_dir().join(format!("gl-pid-mv-{}", std::process::id()));
        let s = p.to_str().unwrap().to_owned();
        let mut f = PidFile::create(Some(&s)).unwrap();
        let old = format!("{s}.oldbin");
        f.rename(old.clone()).unwrap();
        assert!(!p.exists());
        assert_eq!(f.path(), Some(old.as_str()));
        drop(f);
        assert!(!std::path::Path::new(&old).exists());
    }

    #[test]
    fn sd_notify_sends_to_the_socket() {
        let p = std::env::temp_dir().join(format!("gl-notify-{}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        let server = UnixDatagram::bind(&p).unwrap();
        sd_notify_to(p.to_str().unwrap(), "READY=1").unwrap();
        let mut buf = [0u8; 32];
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
        let _ = std::fs::remove_file(&p);
    }
}
