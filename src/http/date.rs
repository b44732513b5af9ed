//! The `Date` header value, formatted once a second per OS thread.
//!
//! Each OS thread keeps the last value it formatted, in a `thread_local!` read and written
//! within [`now`] (no green thread can yield in between, so migrating between OS threads
//! cannot mix two threads' values). A thread that finds its value stale formats the new
//! one (a few dozen nanoseconds, once a second). A global cache shared by all threads
//! cost a visible part of a small request (an `AtomicCell` of 40 bytes is a sequence lock).

use std::cell::Cell;

use crate::green::clock::coarse_unix_secs;

/// An IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT` (29 bytes).
pub type HttpDate = [u8; 29];

std::thread_local! {
    /// This OS thread's last date: the second it was formatted for, and the text.
    static CACHE: Cell<(u64, HttpDate)> = const { Cell::new((u64::MAX, [b' '; 29])) };
}

/// The current date, formatted at most once a second on each OS thread.
#[inline]
pub fn now() -> HttpDate {
    at(second())
}

/// The current second since the Unix epoch, on the clock [`now`] reads: what to compare
/// to tell whether a date formatted earlier is still current.
#[inline]
pub(crate) fn second() -> u64 {
    coarse_unix_secs()
}

/// The date of `secs` (a [`second`] read just before), formatted at most once a second
/// on each OS thread.
#[inline]
pub(crate) fn at(secs: u64) -> HttpDate {
    CACHE.with(|c| {
        let (cached, date) = c.get();
        if cached == secs {
            return date;
        }
        let date = format(secs);
        c.set((secs, date));
        date
    })
}

const DAYS: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// Formats seconds since the Unix epoch as an IMF-fixdate (RFC 9110 §5.6.7):
/// `day-name "," SP day SP month SP year SP hour ":" minute ":" second SP "GMT"`.
pub fn format(secs: u64) -> HttpDate {
    let days = secs / 86400;
    let rem = secs % 86400;
    let (year, month, day) = crate::time::civil_from_days(days);
    let mut out = *b"Thu, 01 Jan 1970 00:00:00 GMT";
    // 1970-01-01 was a Thursday.
    out[..3].copy_from_slice(DAYS[(days % 7) as usize]);
    two(&mut out[5..7], u64::from(day));
    out[8..11].copy_from_slice(MONTHS[(month - 1) as usize]);
    // Years past 9999 do not fit the format; they are clamped rather than garbled.
    let year = year.min(9999);
    two(&mut out[12..14], year / 100);
    two(&mut out[14..16], year % 100);
    two(&mut out[17..19], rem / 3600);
    two(&mut out[20..22], rem / 60 % 60);
    two(&mut out[23..25], rem % 60);
    out
}

/// Writes `n` (< 100) as two digits.
fn two(out: &mut [u8], n: u64) {
    out[0] = b'0' + (n / 10) as u8;
    out[1] = b'0' + (n % 10) as u8;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{SystemTime, UNIX_EPOCH};

    #[test]
    fn known_dates() {
        let cases: &[(u64, &[u8])] = &[
            (0, b"Thu, 01 Jan 1970 00:00:00 GMT"),
            (784_111_777, b"Sun, 06 Nov 1994 08:49:37 GMT"),
            (951_782_400, b"Tue, 29 Feb 2000 00:00:00 GMT"),
            (1_709_208_000, b"Thu, 29 Feb 2024 12:00:00 GMT"),
            (1_735_689_599, b"Tue, 31 Dec 2024 23:59:59 GMT"),
            (4_102_444_800, b"Fri, 01 Jan 2100 00:00:00 GMT"),
            (253_402_300_799, b"Fri, 31 Dec 9999 23:59:59 GMT"),
        ];
        for &(secs, want) in cases {
            assert_eq!(&format(secs)[..], want, "{secs}");
        }
    }

    #[test]
    fn now_is_cached_and_well_formed() {
        let a = now();
        let b = now();
        assert!(a.ends_with(b" GMT") && b.ends_with(b" GMT"));
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        // Either the same second, or the cache moved on by one between the calls.
        assert!(format(secs) == b || format(secs - 1) == b);
    }

    #[test]
    fn now_from_many_threads() {
        let threads: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(|| {
                    let mut date = now();
                    for _ in 0..10_000 {
                        date = now();
                    }
                    date
                })
            })
            .collect();
        for t in threads {
            let date = t.join().unwrap();
            assert_eq!(&date[25..], b" GMT");
        }
    }
}
