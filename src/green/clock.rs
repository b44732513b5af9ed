//! The wall clock, read cheaply: the one clock read that needs `unsafe`, kept here so that
//! the protocol code above (`http::date`) can forbid it.

use std::time::{SystemTime, UNIX_EPOCH};

/// Whole seconds since the Unix epoch. On Linux from `CLOCK_REALTIME_COARSE`: the time as
/// of the last scheduler tick (a few ms behind at most), read without the TSC, several
/// times cheaper than `SystemTime::now()`, which was a visible part of a small request's
/// cost. For callers with one-second resolution (a `Date` header), the tick does not
/// matter.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn coarse_unix_secs() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    if unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut ts) } == 0 {
        u64::try_from(ts.tv_sec).unwrap_or(0)
    } else {
        precise_unix_secs()
    }
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
    fn coarse_is_within_a_second_of_precise() {
        let coarse = coarse_unix_secs();
        let precise = precise_unix_secs();
        // The coarse clock lags by at most a tick; allow for a second boundary in between.
        assert!(precise.abs_diff(coarse) <= 1, "{coarse} vs {precise}");
    }
}
