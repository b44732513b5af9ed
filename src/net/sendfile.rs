//! `sendfile(2)` on a green socket: file pages go from the page cache to the socket without
//! a copy through user space, and the green thread parks (not the worker thread) while the
//! socket's send buffer is full.
//!
//! The wait honours the socket's write timeout, as may's own writes do: `may`'s
//! [`WaitIo::wait_io`] has no deadline, so a wait that may be long gets a small timer
//! greenlet that wakes it when the time is up (spawned only when the socket is full, and
//! gone as soon as the wait ends).

use std::fs::File;
use std::io;
use std::os::unix::io::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use may::io::{WaitIo, WaitIoWaker};

use crate::green::event::Event;
use crate::green::{in_greenlet, spawn, Greenlet};

/// Sends up to `len` bytes of `file` from `offset` on the non-blocking socket `sock`,
/// parking the green thread while the socket is full, at most `timeout` (`None`: no limit)
/// at a time. Returns the bytes sent: fewer than `len` when the socket took less, 0 when
/// `offset` is at or past the file's end.
pub(crate) fn send_file<S: AsRawFd + WaitIo>(
    sock: &S,
    timeout: Option<Duration>,
    file: &File,
    offset: u64,
    len: usize,
) -> io::Result<usize> {
    let mut timer: Option<Timer> = None;
    loop {
        match sendfile_once(sock.as_raw_fd(), file.as_raw_fd(), offset, len) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            r => return r,
        }
        if !in_greenlet() {
            // A plain thread may block: wait in poll(2).
            poll_writable(sock.as_raw_fd(), timeout)?;
            continue;
        }
        if let Some(t) = timeout {
            if timer
                .get_or_insert_with(|| Timer::start(sock.waker(), t))
                .expired()
            {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "write timed out"));
            }
        }
        // Returns at once if the socket became writable since the call above (may's event
        // flag is set by every readiness edge and cleared here), else parks until it does
        // (or the timer, or a cancellation, wakes it; the loop then looks again).
        sock.wait_io();
    }
}

/// One `sendfile(2)` call.
fn sendfile_once(out: RawFd, file: RawFd, offset: u64, len: usize) -> io::Result<usize> {
    let mut off = libc::off_t::try_from(offset)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file offset too large"))?;
    // SAFETY: sendfile(2) copies from `file` to `out`, both descriptors open for the whole
    // call (borrowed from the `File` and the socket the caller holds); the only pointer is
    // to `off`, a live local the kernel reads and updates.
    let n = unsafe { libc::sendfile(out, file, &mut off, len) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Waits on a plain thread until `fd` is writable, at most `timeout`.
fn poll_writable(fd: RawFd, timeout: Option<Duration>) -> io::Result<()> {
    let ms = timeout.map_or(-1, |t| t.as_millis().clamp(1, i32::MAX as u128) as i32);
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: `p` is one valid pollfd, and the count given is 1.
    match unsafe { libc::poll(&mut p, 1, ms) } {
        0 => Err(io::Error::new(io::ErrorKind::TimedOut, "write timed out")),
        n if n < 0 => {
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted => Ok(()),
                _ => Err(e),
            }
        }
        _ => Ok(()),
    }
}

/// A greenlet that wakes the waiting green thread once `timeout` has passed, unless
/// dropped first (which ends it at once, without a cancellation).
struct Timer {
    done: Arc<Event>,
    expired: Arc<AtomicBool>,
    greenlet: Option<Greenlet<()>>,
}

impl Timer {
    fn start(waker: WaitIoWaker, timeout: Duration) -> Timer {
        let done = Arc::new(Event::new());
        let expired = Arc::new(AtomicBool::new(false));
        let (d, e) = (done.clone(), expired.clone());
        let greenlet = spawn(move || {
            if d.wait_timeout(timeout).is_err() {
                e.store(true, Ordering::Release);
                waker.wakeup();
            }
        });
        Timer {
            done,
            expired,
            greenlet: Some(greenlet),
        }
    }

    fn expired(&self) -> bool {
        self.expired.load(Ordering::Acquire)
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        self.done.set();
        if let Some(g) = self.greenlet.take() {
            g.detach();
        }
    }
}

/// A file holding `bytes`, already unlinked (for tests of file bodies).
#[cfg(test)]
pub(crate) fn temp_file(bytes: &[u8]) -> File {
    use std::io::Write;
    let path = std::env::temp_dir().join(format!(
        "greenlight-file-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let mut f = File::create(&path).unwrap();
    f.write_all(bytes).unwrap();
    let f = File::open(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn sends_a_slice_of_a_file_through_a_full_socket() {
        // A body larger than the socket buffers: the sender must park and resume.
        let data: Vec<u8> = (0..4_000_000u32).map(|i| (i % 251) as u8).collect();
        let file = temp_file(&data);
        let (a, mut b) = may::os::unix::net::UnixStream::pair().unwrap();
        let sender = crate::green::spawn(move || {
            let (mut at, end) = (10u64, 3_999_990u64);
            while at < end {
                let n = send_file(
                    &a,
                    Some(Duration::from_secs(5)),
                    &file,
                    at,
                    (end - at) as usize,
                )
                .unwrap();
                assert!(n > 0);
                at += n as u64;
            }
        });
        let mut got = Vec::new();
        b.read_to_end(&mut got).unwrap();
        sender.join().unwrap();
        assert_eq!(got.len(), 3_999_980);
        assert!(got == data[10..3_999_990]);
    }

    #[test]
    fn a_peer_that_reads_nothing_times_the_wait_out() {
        let file = temp_file(&vec![7u8; 8 << 20]);
        let (a, _b) = may::os::unix::net::UnixStream::pair().unwrap();
        let g = crate::green::spawn(move || {
            let mut at = 0u64;
            loop {
                match send_file(&a, Some(Duration::from_millis(50)), &file, at, 1 << 20) {
                    Ok(n) => at += n as u64,
                    Err(e) => return (e.kind(), at),
                }
            }
        });
        let (kind, at) = g.join().unwrap();
        assert_eq!(kind, io::ErrorKind::TimedOut);
        assert!(at < 8 << 20, "the unread socket cannot take it all");
    }
}
