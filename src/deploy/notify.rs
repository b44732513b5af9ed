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
