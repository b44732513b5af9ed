//! The pid file and systemd's readiness notification.

use std::io;
use std::os::unix::net::UnixDatagram;

/// Writes this process's pid to `path` (`--pid`); removes the file when dropped.
pub(crate) struct PidFile(Option<String>);

impl PidFile {
    pub(crate) fn create(path: Option<&str>) -> io::Result<PidFile> {
        if let Some(p) = path {
            std::fs::write(p, format!("{}\n", std::process::id()))?;
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
        if let Some(p) = &self.0 {
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
