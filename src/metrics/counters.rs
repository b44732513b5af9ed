//! The per-worker counters and the hot-path recorder.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use super::statsd;

/// The `method` label's values: the methods of RFC 9110 and PATCH; anything else is
/// `other` (the label stays bounded whatever clients send).
pub(crate) const METHODS: [&str; 10] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE", "other",
];
/// The `status` label's values.
pub(crate) const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
/// Upper bounds of the request-duration histogram's finite buckets: (microseconds, the
/// `le` label in seconds). One more bucket, `+Inf`, counts the rest.
pub(crate) const BUCKETS: [(u64, &str); 11] = [
    (5_000, "0.005"),
    (10_000, "0.01"),
    (25_000, "0.025"),
    (50_000, "0.05"),
    (100_000, "0.1"),
    (250_000, "0.25"),
    (500_000, "0.5"),
    (1_000_000, "1"),
    (2_500_000, "2.5"),
    (5_000_000, "5"),
    (10_000_000, "10"),
];
const REQUEST_SLOTS: usize = METHODS.len() * CLASSES.len();
const BUCKET_SLOTS: usize = BUCKETS.len() + 1;
/// Marks a segment laid out as this build's [`WorkerCounters`] (a worker of another build
/// must not count into a layout it does not share).
const MAGIC: u64 = 0x676c_6d65_7472_6963 ^ std::mem::size_of::<WorkerCounters>() as u64;

/// Why a worker ended itself, as it says in its counters before exiting (the master
/// cannot tell an exit after `--max-requests` from one after an overflow otherwise).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub(crate) enum ExitCause {
    /// Nothing said.
    None = 0,
    /// `--max-requests` reached.
    MaxRequests = 1,
    /// A green thread overflowed its stack.
    Overflow = 2,
}

/// How many [`Shard`]s a worker's counters hold: the first `SHARDS - 1` OS threads that
/// count each own one; any further thread shares the last, with atomic adds.
pub(crate) const SHARDS: usize = 16;

/// The per-request counts one OS thread writes, on cache lines of their own.
///
/// Counting every request into one set of atomics made the threads of one process take
/// turns on the same cache lines: about 2.5 ns per request when each thread writes its
/// own shard, 80 to 120 ns with two threads adding into the same atomics (measured on 2
/// cores), and more with more threads. A `-w N` worker of one thread never paid it; one
/// process of `--threads N` did, on every request.
#[repr(C, align(64))]
struct Shard {
    /// Requests by `METHODS` index × `CLASSES.len()` + status class.
    requests: [AtomicU64; REQUEST_SLOTS],
    /// Requests per duration bucket (not cumulative: each request counts in one).
    buckets: [AtomicU64; BUCKET_SLOTS],
    /// Sum of request durations, microseconds.
    duration_us: AtomicU64,
    received_bytes: AtomicU64,
    sent_bytes: AtomicU64,
    /// Requests whose handler runs now: wrapping adds of 1 and -1, which may land in
    /// different shards (a handler can resume on another thread); only the sum means
    /// something.
    in_flight: AtomicU64,
}

/// A shard and whether this thread is its only writer.
#[derive(Clone, Copy)]
struct Writer<'a> {
    shard: &'a Shard,
    alone: bool,
}

impl Writer<'_> {
    /// Adds `v` (wrapping). The only writer of a shard loads and stores: no other thread
    /// writes it, and a reader (the master) sees each value whole either way.
    #[inline(always)]
    fn add(self, a: &AtomicU64, v: u64) {
        if self.alone {
            a.store(a.load(Relaxed).wrapping_add(v), Relaxed);
        } else {
            a.fetch_add(v, Relaxed);
        }
    }
}

/// Numbers the OS threads that count, in the order they first do.
static NEXT_THREAD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This OS thread's number among those that count (`usize::MAX`: not numbered yet).
    static THREAD: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// The shard this OS thread writes: its own among the first `SHARDS - 1` threads, else
/// the shared last one.
///
/// Read and used within one call, never across a yield: a green thread may resume on
/// another OS thread, and then writes that thread's shard.
#[inline]
fn this_thread() -> usize {
    THREAD.with(|t| {
        let mut n = t.get();
        if n == usize::MAX {
            n = NEXT_THREAD.fetch_add(1, Relaxed);
            t.set(n);
        }
        n.min(SHARDS - 1)
    })
}

/// One worker's counts, laid out the same in every process of one build (`repr(C)`,
/// atomics only: any bit pattern is valid, and a zero-filled segment is a fresh one).
#[repr(C)]
pub(crate) struct WorkerCounters {
    magic: AtomicU64,
    /// Gauges the worker samples about once a second.
    pub(crate) connections_open: AtomicU64,
    pub(crate) connections_idle: AtomicU64,
    pub(crate) green_threads: AtomicU64,
    /// A counter the worker samples from the watchdog's own.
    pub(crate) watchdog_warnings: AtomicU64,
    exit_cause: AtomicU64,
    /// What each request adds, one shard per counting thread (see [`Shard`]).
    shards: [Shard; SHARDS],
}

impl WorkerCounters {
    /// Stamps a fresh (zeroed) segment as this build's layout.
    pub(crate) fn init(&self) {
        self.magic.store(MAGIC, Relaxed);
    }

    /// Whether the segment was stamped by [`init`](Self::init) in this build.
    pub(crate) fn is_valid(&self) -> bool {
        self.magic.load(Relaxed) == MAGIC
    }

    /// Says why this worker is about to end itself.
    pub(crate) fn set_exit_cause(&self, cause: ExitCause) {
        self.exit_cause.store(cause as u64, Relaxed);
    }

    /// Why the worker said it ended.
    pub(crate) fn exit_cause(&self) -> ExitCause {
        match self.exit_cause.load(Relaxed) {
            1 => ExitCause::MaxRequests,
            2 => ExitCause::Overflow,
            _ => ExitCause::None,
        }
    }

    /// The calling thread's shard.
    #[inline]
    fn writer(&self) -> Writer<'_> {
        let i = this_thread();
        Writer {
            shard: &self.shards[i],
            alone: i < SHARDS - 1,
        }
    }

    /// Counts one answered request.
    #[inline]
    fn record(&self, method: usize, status: u16, took: Duration) {
        let w = self.writer();
        let class = (status / 100).clamp(1, 5) as usize - 1;
        w.add(&w.shard.requests[method * CLASSES.len() + class], 1);
        let us = took.as_micros().min(u64::MAX as u128) as u64;
        let b = BUCKETS.iter().position(|(le, _)| us <= *le);
        w.add(&w.shard.buckets[b.unwrap_or(BUCKETS.len())], 1);
        w.add(&w.shard.duration_us, us);
    }

    /// Counts bytes received and sent on a connection.
    #[inline]
    pub(crate) fn add_bytes(&self, received: u64, sent: u64) {
        if received == 0 && sent == 0 {
            return;
        }
        let w = self.writer();
        w.add(&w.shard.received_bytes, received);
        w.add(&w.shard.sent_bytes, sent);
    }

    /// Adds `delta` (wrapping) to the handlers running now.
    #[inline]
    fn add_in_flight(&self, delta: u64) {
        let w = self.writer();
        w.add(&w.shard.in_flight, delta);
    }

    /// A copy of the counts now: the shards summed.
    pub(crate) fn snapshot(&self) -> Totals {
        let load = |a: &AtomicU64| a.load(Relaxed);
        let mut t = Totals {
            connections_open: load(&self.connections_open),
            connections_idle: load(&self.connections_idle),
            green_threads: load(&self.green_threads),
            watchdog_warnings: load(&self.watchdog_warnings),
            ..Totals::default()
        };
        let mut in_flight = 0u64;
        for s in &self.shards {
            for (a, b) in t.requests.iter_mut().zip(&s.requests) {
                *a = a.wrapping_add(load(b));
            }
            for (a, b) in t.buckets.iter_mut().zip(&s.buckets) {
                *a = a.wrapping_add(load(b));
            }
            t.duration_us = t.duration_us.wrapping_add(load(&s.duration_us));
            t.received_bytes = t.received_bytes.wrapping_add(load(&s.received_bytes));
            t.sent_bytes = t.sent_bytes.wrapping_add(load(&s.sent_bytes));
            in_flight = in_flight.wrapping_add(load(&s.in_flight));
        }
        t.in_flight = in_flight as i64;
        t
    }
}

/// Counts of one worker or of many, as plain numbers.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Totals {
    /// Indexed as in [`WorkerCounters`].
    pub(crate) requests: [u64; REQUEST_SLOTS],
    /// Per bucket, not cumulative.
    pub(crate) buckets: [u64; BUCKET_SLOTS],
    pub(crate) duration_us: u64,
    pub(crate) received_bytes: u64,
    pub(crate) sent_bytes: u64,
    pub(crate) in_flight: i64,
    pub(crate) connections_open: u64,
    pub(crate) connections_idle: u64,
    pub(crate) green_threads: u64,
    pub(crate) watchdog_warnings: u64,
}

impl Default for Totals {
    fn default() -> Self {
        Totals {
            requests: [0; REQUEST_SLOTS],
            buckets: [0; BUCKET_SLOTS],
            duration_us: 0,
            received_bytes: 0,
            sent_bytes: 0,
            in_flight: 0,
            connections_open: 0,
            connections_idle: 0,
            green_threads: 0,
            watchdog_warnings: 0,
        }
    }
}

impl Totals {
    /// Adds `o`'s counters (what only grows), not its gauges: what a retired worker
    /// leaves behind.
    pub(crate) fn add_counters(&mut self, o: &Totals) {
        for (a, b) in self.requests.iter_mut().zip(&o.requests) {
            *a += b;
        }
        for (a, b) in self.buckets.iter_mut().zip(&o.buckets) {
            *a += b;
        }
        self.duration_us += o.duration_us;
        self.received_bytes += o.received_bytes;
        self.sent_bytes += o.sent_bytes;
        self.watchdog_warnings += o.watchdog_warnings;
    }

    /// Adds all of `o`: counters and gauges (a live worker).
    pub(crate) fn add(&mut self, o: &Totals) {
        self.add_counters(o);
        self.in_flight += o.in_flight;
        self.connections_open += o.connections_open;
        self.connections_idle += o.connections_idle;
        self.green_threads += o.green_threads;
    }

    /// Requests of `METHODS[m]` in status class `CLASSES[c]`.
    pub(crate) fn requests_of(&self, m: usize, c: usize) -> u64 {
        self.requests[m * CLASSES.len() + c]
    }

    /// All requests.
    #[cfg(test)]
    pub(crate) fn request_count(&self) -> u64 {
        self.requests.iter().sum()
    }
}

/// The index of a request method in [`METHODS`].
#[inline]
fn method_index(method: &[u8]) -> usize {
    match method {
        b"GET" => 0,
        b"HEAD" => 1,
        b"POST" => 2,
        b"PUT" => 3,
        b"DELETE" => 4,
        b"PATCH" => 5,
        b"OPTIONS" => 6,
        b"CONNECT" => 7,
        b"TRACE" => 8,
        _ => 9,
    }
}

/// What the connection code counts through: this worker's counters, and statsd when
/// configured.
pub(crate) struct Recorder {
    counters: &'static WorkerCounters,
    statsd: Option<statsd::Sender>,
}

impl Recorder {
    /// Counting into `counters`, and sending each request to `statsd` too.
    pub(crate) fn new(counters: &'static WorkerCounters, statsd: Option<statsd::Sender>) -> Self {
        Recorder { counters, statsd }
    }

    /// Counters of this process alone, on the heap (tests, a server without a master).
    pub(crate) fn in_process() -> Self {
        let c: &'static WorkerCounters = Box::leak(zeroed());
        c.init();
        Recorder::new(c, None)
    }

    /// The counters.
    pub(crate) fn counters(&self) -> &'static WorkerCounters {
        self.counters
    }

    /// Counts an answered request: its method, status and duration.
    #[inline]
    pub(crate) fn request(&self, method: &[u8], status: u16, took: Duration) {
        self.counters.record(method_index(method), status, took);
        if let Some(s) = &self.statsd {
            s.request(status, took);
        }
    }

    /// Counts a handler as running until the guard drops (also when its green thread
    /// unwinds from a cancellation).
    #[inline]
    pub(crate) fn enter(&self) -> InFlight {
        self.counters.add_in_flight(1);
        InFlight(self.counters)
    }
}

/// A request counted in flight; counted out on drop, into the shard of the thread that
/// drops it.
pub(crate) struct InFlight(&'static WorkerCounters);

impl Drop for InFlight {
    #[inline]
    fn drop(&mut self) {
        self.0.add_in_flight(1u64.wrapping_neg());
    }
}

/// Zeroed counters on the heap, never on a stack (they take about 9 KiB; atomics: zero
/// is a valid value of each field).
fn zeroed() -> Box<WorkerCounters> {
    let layout = std::alloc::Layout::new::<WorkerCounters>();
    // SAFETY: the layout is not zero-sized. `WorkerCounters` is `repr(C)` and made only of
    // `AtomicU64`s (in arrays and `repr(C)` shards), for which all-zero bytes are a valid
    // value, so the zeroed allocation is a valid `WorkerCounters` that the `Box` owns with
    // the layout it was allocated with.
    unsafe {
        let p = std::alloc::alloc_zeroed(layout).cast::<WorkerCounters>();
        if p.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        Box::from_raw(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_land_in_their_method_class_and_bucket() {
        let r = Recorder::in_process();
        r.request(b"GET", 200, Duration::from_millis(3));
        r.request(b"GET", 404, Duration::from_millis(30));
        r.request(b"BREW", 503, Duration::from_secs(11));
        {
            let _g = r.enter();
            assert_eq!(r.counters().snapshot().in_flight, 1);
        }
        let t = r.counters().snapshot();
        assert_eq!(t.in_flight, 0);
        assert_eq!(t.requests_of(0, 1), 1);
        assert_eq!(t.requests_of(0, 3), 1);
        assert_eq!(t.requests_of(9, 4), 1);
        assert_eq!(t.request_count(), 3);
        assert_eq!(t.buckets[0], 1);
        assert_eq!(t.buckets[3], 1); // 30 ms <= 0.05
        assert_eq!(t.buckets[BUCKETS.len()], 1);
        assert_eq!(t.duration_us, 3_000 + 30_000 + 11_000_000);
    }

    #[test]
    fn threads_counting_at_once_lose_nothing_whether_they_own_a_shard_or_share_one() {
        // More threads than shards: the first ones own theirs, the rest share the last
        // one (atomic adds), all at the same time.
        let r = Recorder::in_process();
        let threads = SHARDS + 4;
        let each = 20_000u64;
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    for _ in 0..each {
                        let running = r.enter();
                        r.request(b"GET", 200, Duration::from_micros(7));
                        r.counters().add_bytes(40, 131);
                        drop(running);
                    }
                });
            }
        });
        let t = r.counters().snapshot();
        let n = threads as u64 * each;
        assert_eq!(t.requests_of(0, 1), n);
        assert_eq!(t.request_count(), n);
        assert_eq!(t.buckets[0], n);
        assert_eq!(t.duration_us, 7 * n);
        assert_eq!((t.received_bytes, t.sent_bytes), (40 * n, 131 * n));
        assert_eq!(t.in_flight, 0);
    }

    #[test]
    fn a_request_counted_in_on_one_thread_and_out_on_another_is_no_longer_in_flight() {
        // A handler's green thread can resume on another OS thread: the guard drops there.
        let r = Recorder::in_process();
        let running = r.enter();
        assert_eq!(r.counters().snapshot().in_flight, 1);
        std::thread::spawn(move || drop(running)).join().unwrap();
        assert_eq!(r.counters().snapshot().in_flight, 0);
    }

    #[test]
    fn each_shard_sits_on_cache_lines_of_its_own() {
        assert_eq!(std::mem::align_of::<Shard>(), 64);
        assert_eq!(std::mem::size_of::<Shard>() % 64, 0);
        let c = zeroed();
        let first = &c.shards[0] as *const Shard as usize;
        assert_eq!(first % 64, 0);
    }

    #[test]
    fn a_retired_worker_leaves_its_counters_not_its_gauges() {
        let r = Recorder::in_process();
        r.request(b"POST", 201, Duration::ZERO);
        r.counters().connections_open.store(7, Relaxed);
        let mut total = Totals::default();
        total.add_counters(&r.counters().snapshot());
        assert_eq!(total.request_count(), 1);
        assert_eq!(total.connections_open, 0);
        total.add(&r.counters().snapshot());
        assert_eq!((total.request_count(), total.connections_open), (2, 7));
    }
}
