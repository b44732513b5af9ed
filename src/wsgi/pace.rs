//! The minimum data rate of a request (Apache's `mod_reqtimeout` `MinRate`): once a head or
//! a body has begun to arrive, the client must keep sending at least `min_rate` bytes a
//! second on average, after a short grace. A client dribbling a byte a second holds its
//! connection for about the grace, not for the whole header or body timeout.
//!
//! Only time spent waiting for the client counts: an app that pauses between reads of the
//! body does not use up its client's allowance. Nor does the wait for a body's first byte:
//! until then only the body timeout applies (as in Apache, whose first body byte gets the
//! whole `body=` timeout). A client that sends its head and then produces the body, such
//! as `tar c dir | curl -T - URL`, or one that waits for `100 Continue`, is not too slow.

use std::time::{Duration, Instant};

/// Time every head and body gets before its rate is judged.
pub(crate) const GRACE: Duration = Duration::from_secs(2);

/// How one head or body has arrived so far.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Pace {
    /// Time spent waiting for the client's bytes.
    waited: Duration,
    /// Bytes received while waiting.
    received: u64,
}

impl Pace {
    /// The pace of a head or body whose first `received` bytes are already in.
    pub(crate) fn new(received: usize) -> Self {
        Pace {
            waited: Duration::ZERO,
            received: received as u64,
        }
    }

    /// How much longer the next read may wait, at `min_rate` bytes a second (0: no
    /// minimum, `None`). `Some(ZERO)`: the client is too slow.
    pub(crate) fn allowance(&self, min_rate: u32) -> Option<Duration> {
        // Not begun: no rate to judge yet.
        if min_rate == 0 || self.received == 0 {
            return None;
        }
        let earned = Duration::from_secs_f64(self.received as f64 / f64::from(min_rate));
        Some((GRACE + earned).saturating_sub(self.waited))
    }

    /// The wait for the next read: the shorter of `timeout` and the allowance.
    pub(crate) fn limit(&self, min_rate: u32, timeout: Option<Duration>) -> Option<Duration> {
        match (self.allowance(min_rate), timeout) {
            (Some(a), Some(t)) => Some(a.min(t)),
            (a, t) => a.or(t),
        }
    }

    /// Whether the allowance is used up.
    pub(crate) fn is_too_slow(&self, min_rate: u32) -> bool {
        self.allowance(min_rate).is_some_and(|a| a.is_zero())
    }

    /// Counts a read that waited since `began` and brought `n` bytes. The wait for the
    /// first bytes is not counted: the grace starts when they arrive.
    pub(crate) fn record(&mut self, began: Instant, n: usize) {
        if self.received > 0 {
            self.waited += began.elapsed();
        }
        self.received += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pace(waited_ms: u64, received: u64) -> Pace {
        Pace {
            waited: Duration::from_millis(waited_ms),
            received,
        }
    }

    #[test]
    fn a_dribbling_client_runs_out_after_the_grace() {
        // 33 bytes at once, then a byte a second: out of allowance near 2.07 s.
        assert_eq!(
            pace(0, 33).allowance(500),
            Some(GRACE + Duration::from_millis(66))
        );
        assert!(!pace(2000, 35).is_too_slow(500));
        assert!(pace(2070, 35).is_too_slow(500));
    }

    #[test]
    fn a_steady_client_never_runs_out() {
        // 1 MB in 10 s of waiting is 100 KB/s, far above 500 B/s.
        let a = pace(10_000, 1_000_000).allowance(500).unwrap();
        assert!(a > Duration::from_secs(1000));
    }

    #[test]
    fn zero_means_no_minimum_and_the_timeout_still_applies() {
        let t = Some(Duration::from_secs(30));
        assert_eq!(pace(60_000, 0).allowance(0), None);
        assert_eq!(pace(60_000, 0).limit(0, t), t);
        assert_eq!(
            pace(0, 1).limit(500, t),
            Some(GRACE + Duration::from_millis(2))
        );
        assert_eq!(
            pace(0, 1).limit(500, None),
            Some(GRACE + Duration::from_millis(2))
        );
    }

    #[test]
    fn before_the_first_byte_only_the_timeout_applies() {
        let t = Some(Duration::from_secs(30));
        assert_eq!(Pace::default().limit(500, t), t);
        assert!(!Pace::default().is_too_slow(500));
        // A first read that waited long: the grace starts at its bytes.
        let mut p = Pace::default();
        p.record(Instant::now() - Duration::from_secs(20), 1);
        assert!(!p.is_too_slow(500));
        assert_eq!(p.allowance(500), Some(GRACE + Duration::from_millis(2)));
    }

    #[test]
    fn reads_are_counted() {
        let mut p = Pace::default();
        p.record(Instant::now(), 10);
        p.record(Instant::now() - Duration::from_millis(300), 5);
        assert_eq!(p.received, 15);
        assert!(p.waited >= Duration::from_millis(300) && p.waited < Duration::from_secs(1));
    }
}
