//! The `Range` header (RFC 9110 §14.2): one byte range of a representation.

use std::ops::Range;

/// What a `Range` header asks of a representation of `len` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ByteRange {
    /// The whole representation: no range, one that is not understood (another unit, bad
    /// syntax), several ranges (answered whole, which RFC 9110 allows), or an empty file.
    Whole,
    /// These bytes: a 206.
    Part(Range<u64>),
    /// A range that starts at or past the end: a 416.
    Unsatisfiable,
}

/// Parses `bytes=a-b`, `bytes=a-` or `bytes=-n` against a length of `len`.
pub(super) fn parse(header: &str, len: u64) -> ByteRange {
    let Some((unit, spec)) = header.trim().split_once('=') else {
        return ByteRange::Whole;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") || spec.contains(',') || len == 0 {
        return ByteRange::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return ByteRange::Whole;
    };
    let (first, last) = (first.trim(), last.trim());
    match (number(first), number(last)) {
        // A suffix: the last n bytes.
        (None, Some(n)) if first.is_empty() => match n {
            0 => ByteRange::Unsatisfiable,
            n => ByteRange::Part(len - n.min(len)..len),
        },
        (Some(a), None) if last.is_empty() => from(a, len, len),
        (Some(a), Some(b)) if a <= b => from(a, b.saturating_add(1).min(len), len),
        _ => ByteRange::Whole,
    }
}

fn from(start: u64, end: u64, len: u64) -> ByteRange {
    if start >= len {
        ByteRange::Unsatisfiable
    } else {
        ByteRange::Part(start..end)
    }
}

/// 1*DIGIT as a number (`None` for anything else, or one too large).
fn number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::ByteRange::{Part, Unsatisfiable, Whole};
    use super::*;

    #[test]
    fn single_ranges() {
        assert_eq!(parse("bytes=10-19", 100), Part(10..20));
        assert_eq!(parse("bytes=0-0", 100), Part(0..1));
        assert_eq!(parse(" bytes = 10 - 19 ", 100), Part(10..20));
        assert_eq!(parse("BYTES=10-", 100), Part(10..100));
        assert_eq!(parse("bytes=-10", 100), Part(90..100));
        assert_eq!(
            parse("bytes=-1000", 100),
            Part(0..100),
            "a suffix longer than the file"
        );
        assert_eq!(
            parse("bytes=90-1000", 100),
            Part(90..100),
            "an end past the file"
        );
        assert_eq!(parse("bytes=99-99", 100), Part(99..100));
    }

    #[test]
    fn unsatisfiable_ranges() {
        assert_eq!(parse("bytes=100-", 100), Unsatisfiable);
        assert_eq!(parse("bytes=100-200", 100), Unsatisfiable);
        assert_eq!(parse("bytes=-0", 100), Unsatisfiable);
    }

    #[test]
    fn what_is_ignored() {
        for h in [
            "",
            "bytes",
            "bytes=",
            "bytes=-",
            "bytes=20-10",
            "bytes=a-b",
            "bytes=+1-2",
            "bytes=0x1-2",
            "bytes=1-2,4-5",
            "items=1-2",
            "bytes=99999999999999999999999-",
        ] {
            assert_eq!(parse(h, 100), Whole, "{h:?}");
        }
        assert_eq!(parse("bytes=0-10", 0), Whole, "an empty file is sent whole");
    }
}
