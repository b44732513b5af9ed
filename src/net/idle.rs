//! The idle watcher: one OS thread per process, with an epoll instance of its own, that
//! watches sockets nobody is reading for their next bytes.
//!
//! A keep-alive connection that stays idle does not need a green thread: its stack pages
//! (and the page `may`'s stack sampling touches at the bottom) are most of what an idle
//! connection costs. The server hands such a connection here and lets its green thread
//! end; when the peer sends again (or hangs up, or an error is pending) or the deadline
//! passes, the watcher calls the connection's continuation, which starts a green thread
//! again. The continuation owns the socket meanwhile, so the descriptor stays open while
//! it is registered.
//!
//! Registration is level-triggered and one-shot: bytes that arrived before the socket was
//! registered are reported at once, and a socket is reported once.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io;
use std::os::unix::io::RawFd;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// What to call when a watched socket is ready (`true`) or its deadline passed (`false`).
/// It runs on the watcher thread: it must be quick and must not block (start a green
/// thread and return).
pub(crate) type Then = Box<dyn FnOnce(bool) + Send>;

/// How often the watcher looks at deadlines when no socket is ready; also their
/// resolution.
const TICK: Duration = Duration::from_millis(50);
/// How often the heap may be trimmed, and after how many new idle connections.
const TRIM_EVERY: Duration = Duration::from_secs(1);
const TRIM_AFTER: usize = 256;
/// Events taken per `epoll_wait`.
const EVENTS: usize = 256;

struct Watched {
    fd: RawFd,
    then: Then,
}

#[derive(Default)]
struct Table {
    /// Sockets taken since the last heap trim.
    since_trim: usize,
    next: u64,
    watched: HashMap<u64, Watched>,
    deadlines: BinaryHeap<Reverse<(Instant, u64)>>,
}

struct Watcher {
    epfd: RawFd,
    table: Mutex<Table>,
}

/// The process's watcher, started on first use.
fn watcher() -> io::Result<&'static Watcher> {
    static WATCHER: OnceLock<Result<&'static Watcher, String>> = OnceLock::new();
    let w = WATCHER.get_or_init(|| {
        // SAFETY: epoll_create1 takes no pointers.
        let epfd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if epfd < 0 {
            return Err(io::Error::last_os_error().to_string());
        }
        let w: &'static Watcher = Box::leak(Box::new(Watcher {
            epfd,
            table: Mutex::new(Table::default()),
        }));
        std::thread::Builder::new()
            .name("greenlight-idle".into())
            .spawn(move || w.run())
            .map_err(|e| e.to_string())?;
        Ok(w)
    });
    w.as_ref().copied().map_err(|e| io::Error::other(e.clone()))
}

/// Watches `fd` until it is readable (or hung up, or in error), then calls `then(true)`;
/// at `deadline` (if any) first, calls `then(false)`. `then` must keep `fd` open until it
/// runs. On failure `then` is handed back, not called.
pub(crate) fn watch(fd: RawFd, deadline: Option<Instant>, then: Then) -> Result<(), Then> {
    let Ok(w) = watcher() else {
        return Err(then);
    };
    // Under the table's lock, so that the deadline cannot fire before the socket is
    // registered (its continuation may close the socket).
    let mut t = w.table.lock().expect("idle table lock");
    let token = t.next;
    let mut ev = libc::epoll_event {
        events: (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLONESHOT) as u32,
        u64: token,
    };
    // SAFETY: `ev` is a live local the kernel only reads; `fd` is open (the caller's
    // `then` owns it).
    if unsafe { libc::epoll_ctl(w.epfd, libc::EPOLL_CTL_ADD, fd, &mut ev) } < 0 {
        return Err(then);
    }
    t.next += 1;
    t.since_trim += 1;
    t.watched.insert(token, Watched { fd, then });
    if let Some(d) = deadline {
        t.deadlines.push(Reverse((d, token)));
    }
    Ok(())
}

impl Watcher {
    fn run(&self) {
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; EVENTS];
        let mut trimmed = Instant::now();
        loop {
            if trimmed.elapsed() >= TRIM_EVERY {
                self.trim();
                trimmed = Instant::now();
            }
            let ms = TICK.as_millis() as i32;
            // SAFETY: the kernel writes at most `EVENTS` entries into `events`, which
            // holds that many.
            let n = unsafe { libc::epoll_wait(self.epfd, events.as_mut_ptr(), EVENTS as i32, ms) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    log::error!("the idle watcher's epoll_wait failed: {e}");
                    std::thread::sleep(TICK);
                }
                continue;
            }
            for ev in &events[..n as usize] {
                let token = ev.u64;
                self.fire(token, true);
            }
            self.expire(Instant::now());
        }
    }

    /// Gives the allocator's free pages back to the system after many connections went
    /// idle: each gave back its buffers, and the heap they grew in (while the connections
    /// were busy together) would otherwise stay resident, fragmented by the connections'
    /// own state. Runs here, off the worker threads.
    fn trim(&self) {
        let many = {
            let mut t = self.table.lock().expect("idle table lock");
            std::mem::take(&mut t.since_trim) >= TRIM_AFTER
        };
        if many {
            #[cfg(all(target_os = "linux", target_env = "gnu"))]
            // SAFETY: malloc_trim takes no pointers; glibc's allocator locks each arena.
            unsafe {
                libc::malloc_trim(0);
            }
        }
    }

    /// Takes `token` out of the table (if it is still there) and calls its continuation.
    fn fire(&self, token: u64, ready: bool) {
        let Some(w) = self
            .table
            .lock()
            .expect("idle table lock")
            .watched
            .remove(&token)
        else {
            return;
        };
        // SAFETY: `w.fd` is still open (its owner is `w.then`, not yet called); a null
        // event is allowed for EPOLL_CTL_DEL.
        unsafe { libc::epoll_ctl(self.epfd, libc::EPOLL_CTL_DEL, w.fd, std::ptr::null_mut()) };
        (w.then)(ready);
    }

    /// Calls the continuations whose deadline passed.
    fn expire(&self, now: Instant) {
        loop {
            let token = {
                let mut t = self.table.lock().expect("idle table lock");
                match t.deadlines.peek() {
                    Some(Reverse((d, _))) if *d <= now => {}
                    _ => return,
                }
                let Reverse((_, token)) = t.deadlines.pop().expect("peeked");
                token
            };
            self.fire(token, false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::io::AsRawFd;
    use std::os::unix::net::UnixStream;
    use std::sync::mpsc;

    #[test]
    fn reports_a_socket_once_readable_and_a_deadline_once_passed() {
        let (a, mut b) = UnixStream::pair().unwrap();
        let (tx, rx) = mpsc::channel();
        let fd = a.as_raw_fd();
        let tx1 = tx.clone();
        watch(
            fd,
            None,
            Box::new(move |ready| tx1.send((ready, a)).unwrap()),
        )
        .unwrap_or_else(|_| panic!("watch"));
        assert!(
            rx.recv_timeout(Duration::from_millis(200)).is_err(),
            "nothing sent yet"
        );
        b.write_all(b"x").unwrap();
        let (ready, _a) = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(ready);

        let (c, _d) = UnixStream::pair().unwrap();
        let fd = c.as_raw_fd();
        let t0 = Instant::now();
        let deadline = Some(t0 + Duration::from_millis(100));
        watch(
            fd,
            deadline,
            Box::new(move |ready| tx.send((ready, c)).unwrap()),
        )
        .unwrap_or_else(|_| panic!("watch"));
        let (ready, _c) = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(!ready, "the deadline, not readiness");
        assert!(t0.elapsed() >= Duration::from_millis(100));
    }

    #[test]
    fn bytes_sent_before_the_watch_are_reported_at_once() {
        let (a, mut b) = UnixStream::pair().unwrap();
        b.write_all(b"early").unwrap();
        let (tx, rx) = mpsc::channel();
        let fd = a.as_raw_fd();
        watch(
            fd,
            None,
            Box::new(move |ready| tx.send((ready, a)).unwrap()),
        )
        .unwrap_or_else(|_| panic!("watch"));
        assert!(rx.recv_timeout(Duration::from_secs(5)).unwrap().0);
    }
}
