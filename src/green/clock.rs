//! The clocks, read cheaply: the clock reads that need `unsafe`, kept here so that the
//! protocol and server code above (`http::date`, the shedding ages) can forbid it.

use std::time::{SystemTime, UNIX_EPOCH};

/// `clock` as of the last scheduler tick, read without the TSC: (seconds, nanoseconds),
/// or `None` if the system refuses.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn read_coarse(clock: libc::clockid_t) -> Option<(u64, u64)> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
        return None;
    }
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    Some((secs, u64::try_from(ts.tv_nsec).unwrap_or(0)))
}

/// Whole seconds since the Unix epoch. On Linux from `CLOCK_REALTIME_COARSE`: the time as
/// of the last scheduler tick (a few ms behind at most), read without the TSC, several
/// times cheaper than `SystemTime::now()`, which was a visible part of a small request's
/// cost. For callers with one-second resolution (a `Date` header), the tick does not
/// matter.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn coarse_unix_secs() -> u64 {
    match read_coarse(libc::CLOCK_REALTIME_COARSE) {
        Some((secs, _)) => secs,
        None => precise_unix_secs(),
    }
}

/// Milliseconds on a monotonic clock with an arbitrary start. On Linux from
/// `CLOCK_MONOTONIC_COARSE`: as of the last scheduler tick (1 to 4 ms behind), read
/// without the TSC. For ages that a tick does not change (how long a connection has been
/// idle or receiving), read several times per request: `Instant::now()` was a visible
/// part of a keep-alive request's cost.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn coarse_monotonic_ms() -> u64 {
    match read_coarse(libc::CLOCK_MONOTONIC_COARSE) {
        Some((secs, nanos)) => secs * 1000 + nanos / 1_000_000,
        None => precise_monotonic_ms(),
    }
}

/// Milliseconds on a monotonic clock (no coarse clock on this system).
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn coarse_monotonic_ms() -> u64 {
    precise_monotonic_ms()
}

fn precise_monotonic_ms() -> u64 {
    static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    EPOCH
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_millis() as u64
}

/// Whole seconds since the Unix epoch (no coarse clock on this system).
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn coarse_unix_secs() -> u64 {
    precise_unix_secs()
}

fn precise_unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coarse_monotonic_ms_keeps_up() {
        let a = coarse_monotonic_ms();
        std::thread::sleep(std::time::Duration::from_millis(30));
        let b = coarse_monotonic_ms();
        // A tick is at most 10 ms (HZ >= 100).
        assert!((20..1000).contains(&(b - a)), "{a} -> {b}");
    }

    #[test]
    fn coarse_is_within_a_second_of_precise() {
        let coarse = coarse_unix_secs();
        let precise = precise_unix_secs();
        // The coarse clock lags by at most a tick; allow for a second boundary in between.
        assert!(precise.abs_diff(coarse) <= 1, "{coarse} vs {precise}");
    }
}
