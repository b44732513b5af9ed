//! The per-worker counters and the hot-path recorder.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
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

/// One worker's counts, laid out the same in every process of one build (`repr(C)`,
/// atomics only: any bit pattern is valid, and a zero-filled segment is a fresh one).
#[repr(C)]
pub(crate) struct WorkerCounters {
    magic: AtomicU64,
    /// Requests by `METHODS` index × `CLASSES.len()` + status class.
    requests: [AtomicU64; REQUEST_SLOTS],
    /// Requests per duration bucket (not cumulative: each request counts in one).
    buckets: [AtomicU64; BUCKET_SLOTS],
    /// Sum of request durations, microseconds.
    duration_us: AtomicU64,
    received_bytes: AtomicU64,
    sent_bytes: AtomicU64,
    /// Requests whose handler runs now (wrapping adds of 1 and -1).
    in_flight: AtomicU64,
    /// Gauges the worker samples about once a second.
    pub(crate) connections_open: AtomicU64,
    pub(crate) connections_idle: AtomicU64,
    pub(crate) green_threads: AtomicU64,
    /// A counter the worker samples from the watchdog's own.
    pub(crate) watchdog_warnings: AtomicU64,
    exit_cause: AtomicU64,
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

    /// Counts one answered request.
    #[inline]
    fn record(&self, method: usize, status: u16, took: Duration) {
        let class = (status / 100).clamp(1, 5) as usize - 1;
        self.requests[method * CLASSES.len() + class].fetch_add(1, Relaxed);
        let us = took.as_micros().min(u64::MAX as u128) as u64;
        let b = BUCKETS.iter().position(|(le, _)| us <= *le);
        self.buckets[b.unwrap_or(BUCKETS.len())].fetch_add(1, Relaxed);
        self.duration_us.fetch_add(us, Relaxed);
    }

    /// Counts bytes received and sent on a connection.
    #[inline]
    pub(crate) fn add_bytes(&self, received: u64, sent: u64) {
        if received > 0 {
            self.received_bytes.fetch_add(received, Relaxed);
        }
        if sent > 0 {
            self.sent_bytes.fetch_add(sent, Relaxed);
        }
    }

    /// A copy of the counts now.
    pub(crate) fn snapshot(&self) -> Totals {
        let load = |a: &AtomicU64| a.load(Relaxed);
        Totals {
            requests: self.requests.each_ref().map(load),
            buckets: self.buckets.each_ref().map(load),
            duration_us: load(&self.duration_us),
            received_bytes: load(&self.received_bytes),
            sent_bytes: load(&self.sent_bytes),
            in_flight: load(&self.in_flight) as i64,
            connections_open: load(&self.connections_open),
            connections_idle: load(&self.connections_idle),
            green_threads: load(&self.green_threads),
            watchdog_warnings: load(&self.watchdog_warnings),
        }
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
        let c: &'static WorkerCounters = Box::leak(Box::new(zeroed()));
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
        self.counters.in_flight.fetch_add(1, Relaxed);
        InFlight(&self.counters.in_flight)
    }
}

/// A request counted in flight; counted out on drop.
pub(crate) struct InFlight(&'static AtomicU64);

impl Drop for InFlight {
    #[inline]
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

/// Zeroed counters (atomics: zero is a valid value of each field).
fn zeroed() -> WorkerCounters {
    // SAFETY: `WorkerCounters` is `repr(C)` and made only of `AtomicU64`s (and arrays of
    // them), for which all-zero bytes are a valid value.
    unsafe { std::mem::zeroed() }
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
