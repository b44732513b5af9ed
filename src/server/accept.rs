//! The accept loop and the start of each connection's green thread.

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use may::sync::Semphore;

use super::conn::{Active, Conn, ConnEntry};
use super::shed::Shed;
use super::shutdown::Registry;
use crate::green::{is_cancel, panic_message, pause, spawn_raw, yield_now};
use crate::net::{self, Addr, TlsConfig};

/// Shares accepting among the processes that serve one listening socket (the workers of
/// one master): each publishes how many connections it serves, and one that serves more
/// than another that accepts too steps back for a moment.
pub(crate) trait AcceptGate: Send + Sync {
    /// This process serves `n` connections now.
    fn publish(&self, n: usize);
    /// How long to step back before accepting while serving `mine` connections, if at all.
    fn defer_for(&self, mine: usize) -> Option<Duration>;
    /// The longest a process steps back for one connection.
    fn max_defer(&self) -> Duration;
    /// Whether this process's accept loop takes connections now (false while it is full
    /// or stopped).
    fn waiting(&self, yes: bool);
}

/// A connection handler, as the server keeps it.
pub(crate) type Handler = dyn Fn(Conn, Addr) + Send + Sync + 'static;

/// How long the accept loop waits before retrying after running out of descriptors.
const EMFILE_BACKOFF: Duration = Duration::from_millis(100);
/// While the server is full, how often the accept loop looks for a waiting client.
const FULL_POLL: Duration = Duration::from_millis(20);
/// How long the connection shed to make room gets to end before another is shed.
const SHED_WAIT: Duration = Duration::from_secs(1);
/// How long a stopping listener that refuses new handshakes waits for those under way.
const HANDSHAKES_SETTLE: Duration = Duration::from_millis(5);
/// How long the accept loop waits after an unexpected accept error.
const ERROR_BACKOFF: Duration = Duration::from_millis(10);

/// What every connection accepted on one listener is served with.
pub(crate) struct Acceptor {
    pub(crate) listener: net::Acceptor,
    pub(crate) registry: Arc<Registry>,
    pub(crate) handler: Arc<Handler>,
    pub(crate) tls: Option<TlsConfig>,
    /// Connections accepted in a row before yielding.
    pub(crate) max_accept: usize,
}

impl Acceptor {
    /// Accepts and serves connections until the server stops, then serves what is left in
    /// the listen backlog before the listener closes.
    ///
    /// A stop wakes this green thread by cancelling it wherever it waits (in `accept`, or
    /// for a connection permit): the cancellation is caught here, and what follows never
    /// parks.
    pub(crate) fn run(self) {
        let r = catch_unwind(AssertUnwindSafe(|| self.accept_until_stopped()));
        if let Some(g) = &self.registry.gate {
            g.waiting(false);
        }
        if let Err(p) = r {
            if !is_cancel(&*p) {
                resume_unwind(p);
            }
        }
        // A socket this process alone holds ends here: no new handshake starts from now
        // on; those under way complete within a round trip (a short wait, blocking this
        // worker thread once per stop: this cancelled green thread may not park), and the
        // backlog taken then is all there is, so the close resets nothing.
        if self.listener.refuse_handshakes() {
            self.drain_backlog();
            std::thread::sleep(HANDSHAKES_SETTLE);
        }
        self.drain_backlog();
    }

    /// Serves every connection already waiting in the listen backlog, without waiting for
    /// more. The kernel completes handshakes on a listener until its last descriptor closes
    /// (and workers of one master share it), then resets whatever is still queued: each
    /// process that stops accepting takes its share first, so none of them is lost. Never
    /// parks (it runs after the stop's cancellation).
    fn drain_backlog(&self) {
        loop {
            match self.listener.try_accept() {
                Ok(Some((stream, peer))) => {
                    // Over the connection limit if need be: the alternative is a reset.
                    self.spawn_conn(stream, peer);
                }
                Ok(None) => return,
                Err(e) => match e.raw_os_error() {
                    Some(libc::ECONNABORTED | libc::EPROTO | libc::EINTR | libc::EPERM) => {}
                    _ => {
                        log::warn!("accepting the backlog while stopping: {e}");
                        return;
                    }
                },
            }
        }
    }

    /// Accepts and serves connections until the server stops.
    fn accept_until_stopped(&self) {
        let mut in_a_row = 0usize;
        let mut out_of_fds = false;
        let mut full = false;
        loop {
            if self.registry.is_stopping() {
                return;
            }
            // Take a connection permit first (see `permit`).
            let permit = match &self.registry.limit {
                Some(s) => match self.permit(s, &mut full) {
                    Some(p) => Some(p),
                    None => return,
                },
                None => None,
            };
            if self.registry.is_stopping() {
                return;
            }
            if let Some(g) = &self.registry.gate {
                self.take_turn(&**g);
            }
            let (stream, peer) = match self.listener.accept() {
                Ok(c) => c,
                Err(e) => {
                    drop(permit);
                    backoff(&e, &mut out_of_fds);
                    continue;
                }
            };
            // The permit travels into the connection's green thread as a count, released
            // there.
            std::mem::forget(permit);
            if self.registry.is_stopping() {
                // The stop path's wake-up connection, or a real client that got in as the
                // listener was closing (or, on a listener shared with other worker
                // processes, chose this one): serve it rather than drop it, then stop
                // accepting. A wake-up connection closes without a request and costs
                // nothing.
                self.spawn_conn(stream, peer);
                return;
            }
            if out_of_fds {
                log::info!("accepting again");
                out_of_fds = false;
            }
            self.spawn_conn(stream, peer);
            in_a_row += 1;
            if in_a_row >= self.max_accept {
                in_a_row = 0;
                yield_now();
            }
        }
    }

    /// Steps back while another process sharing the listener serves fewer connections
    /// and accepts too (at most the gate's limit), then says this one accepts (until it
    /// is full or stops).
    fn take_turn(&self, g: &dyn AcceptGate) {
        let mut waited = Duration::ZERO;
        while waited < g.max_defer() && !self.registry.is_stopping() {
            match g.defer_for(self.registry.active()) {
                Some(step) => {
                    pause(step);
                    waited += step;
                }
                None => break,
            }
        }
        g.waiting(true);
    }

    /// A connection permit. When the server is full and a client is waiting to be
    /// accepted, makes room by shedding a connection that costs the others (idle, or slow
    /// to send its request); when none can be shed, waits, and the kernel's backlog holds
    /// new connections (or hands them to another worker process) until one finishes.
    /// `None`: the server is stopping.
    fn permit<'s>(&self, s: &'s Semphore, full: &mut bool) -> Option<Permit<'s>> {
        if s.try_wait() {
            *full = false;
            return Some(Permit(s));
        }
        // Full: other workers should not step back for this one.
        if let Some(g) = &self.registry.gate {
            g.waiting(false);
        }
        while !self.registry.is_stopping() {
            let wait = if self.listener.has_pending() {
                self.make_room(full);
                SHED_WAIT
            } else {
                FULL_POLL
            };
            if s.wait_timeout(wait) {
                return Some(Permit(s));
            }
        }
        None
    }

    /// Sheds a connection to make room; when none can be, says so once until the server
    /// has room again (`full`).
    fn make_room(&self, full: &mut bool) {
        if self.registry.shed_one() == Shed::Nothing && !std::mem::replace(full, true) {
            log::warn!(
                "connection limit reached and every connection is busy: new connections wait \
                 in the listen backlog (raise --worker-connections or the open-file limit)"
            );
        }
    }

    /// Starts the green thread that serves one connection.
    fn spawn_conn(&self, stream: net::Stream, peer: Addr) {
        let entry = Arc::new(ConnEntry::new(&stream, &peer));
        let id = self.registry.register(entry.clone());
        let guard = Active(self.registry.clone());
        let (handler, tls) = (self.handler.clone(), self.tls.clone());
        let their_entry = entry.clone();
        // One box for what the green thread starts with: may keeps the closure at the top
        // of the stack and moves it through several frames (480 bytes of stack less than
        // with its parts captured one by one), and a stack page touched once stays
        // resident for the connection's life.
        let start = Box::new((stream, peer, their_entry, tls, guard, handler));
        let r = spawn_raw(None, move || {
            let (stream, peer, entry, tls, guard, handler) = *start;
            serve(stream, peer, entry, id, tls, guard, &*handler)
        });
        match r {
            Ok(h) => *entry.thread.lock().expect("entry lock") = Some(h),
            Err(e) => {
                // The closure (with the stream, the guard and the Conn-to-be) was dropped:
                // only the registration is left to undo.
                self.registry.deregister(id);
                log::error!("cannot start a green thread for a connection: {e}");
            }
        }
    }
}

/// Waits after an accept error when waiting helps: out of descriptors (logged once until
/// accepting works again), or an unexpected error.
fn backoff(e: &std::io::Error, out_of_fds: &mut bool) {
    match e.raw_os_error() {
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) => {
            if !*out_of_fds {
                log::error!(
                    "accept failed: {e}; pausing accepts and retrying every {} ms",
                    EMFILE_BACKOFF.as_millis()
                );
                *out_of_fds = true;
            }
            pause(EMFILE_BACKOFF);
        }
        // The peer gave up before we accepted: nothing to do.
        Some(libc::ECONNABORTED | libc::EPROTO | libc::EINTR | libc::EPERM) => {}
        _ => {
            log::error!("accept failed: {e}");
            pause(ERROR_BACKOFF);
        }
    }
}

/// The body of a connection's green thread: TLS wrapping, then the handler. A panic in the
/// handler is logged and ends only this connection; a cancellation keeps unwinding.
fn serve(
    stream: net::Stream,
    peer: Addr,
    entry: Arc<ConnEntry>,
    id: u64,
    tls: Option<TlsConfig>,
    active: Active,
    handler: &Handler,
) {
    let stream = match tls {
        // No I/O yet: the handshake runs on the handler's first read or write.
        Some(tls) => match tls.wrap(stream) {
            Ok(s) => s,
            Err(e) => {
                active.0.deregister(id);
                log::error!("cannot start TLS for {peer}: {e}");
                return;
            }
        },
        None => stream,
    };
    let me = entry.clone();
    let conn = Conn::new(stream, entry, id, active);
    guarded(&me.peer, || handler(conn, peer));
}

/// Runs a connection's handler (or its continuation after an idle wait): a panic is
/// logged and ends only this connection; a cancellation keeps unwinding.
pub(super) fn guarded(peer: &str, f: impl FnOnce()) {
    if let Err(p) = catch_unwind(AssertUnwindSafe(f)) {
        if is_cancel(&*p) {
            resume_unwind(p);
        }
        log::error!(
            "connection handler for {peer} panicked: {}",
            panic_message(&*p)
        );
    }
}

/// Gives back a connection permit when dropped.
struct Permit<'a>(&'a Semphore);

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.0.post();
    }
}
