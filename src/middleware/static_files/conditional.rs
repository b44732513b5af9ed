//! Validators (`ETag`, `Last-Modified`) and the conditional headers that use them, in the
//! order RFC 9110 §13.2.2 evaluates them.

use std::time::{SystemTime, UNIX_EPOCH};

/// The request's conditional headers (absent ones `None`).
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Conditions<'a> {
    pub(super) if_match: Option<&'a str>,
    pub(super) if_none_match: Option<&'a str>,
    pub(super) if_modified_since: Option<&'a str>,
    pub(super) if_unmodified_since: Option<&'a str>,
}

/// What the conditions decide for a `GET` or `HEAD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Answer normally.
    Send,
    /// 304 Not Modified.
    NotModified,
    /// 412 Precondition Failed.
    Failed,
}

/// A file's validators: its weak entity tag and modification time (whole seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Validators {
    pub(super) etag: String,
    pub(super) modified: u64,
}

impl Validators {
    /// From the size and modification time of what is sent, and its coding (each variant
    /// of a file is its own representation with its own tag).
    pub(super) fn new(len: u64, mtime: SystemTime, coding: Option<&str>) -> Validators {
        let since = mtime.duration_since(UNIX_EPOCH).unwrap_or_default();
        let (secs, nanos) = (since.as_secs(), since.subsec_nanos());
        let etag = match coding {
            Some(c) => format!("W/\"{len:x}-{secs:x}.{nanos:x}-{c}\""),
            None => format!("W/\"{len:x}-{secs:x}.{nanos:x}\""),
        };
        Validators {
            etag,
            modified: secs,
        }
    }

    /// RFC 9110 §13.2.2: If-Match, else If-Unmodified-Since (412); then If-None-Match, else
    /// If-Modified-Since (304).
    pub(super) fn evaluate(&self, c: &Conditions<'_>) -> Verdict {
        if let Some(tags) = c.if_match {
            // Strong comparison: a weak tag never matches, only `*` does.
            if tags.trim() != "*" {
                return Verdict::Failed;
            }
        } else if let Some(date) = c.if_unmodified_since.and_then(parse_date) {
            if self.modified > date {
                return Verdict::Failed;
            }
        }
        if let Some(tags) = c.if_none_match {
            if self.none_match_hits(tags) {
                return Verdict::NotModified;
            }
        } else if let Some(date) = c.if_modified_since.and_then(parse_date) {
            if self.modified <= date {
                return Verdict::NotModified;
            }
        }
        Verdict::Send
    }

    /// Whether If-None-Match lists this tag (weak comparison) or is `*`.
    fn none_match_hits(&self, tags: &str) -> bool {
        let mine = opaque(&self.etag);
        tags.trim() == "*" || tags.split(',').any(|t| opaque(t.trim()) == mine)
    }

    /// Whether an `If-Range` lets a range be sent (else the whole file is): a date equal to
    /// `Last-Modified`. An entity tag needs strong comparison, which a weak tag never
    /// passes (and clients must not send weak tags there).
    pub(super) fn if_range_holds(&self, if_range: &str) -> bool {
        let v = if_range.trim();
        if v.starts_with('"') || v.starts_with("W/") {
            return false;
        }
        parse_date(v) == Some(self.modified)
    }
}

/// An entity tag without its weakness mark.
fn opaque(tag: &str) -> &str {
    tag.strip_prefix("W/").unwrap_or(tag)
}

/// An HTTP date (IMF-fixdate, or the obsolete RFC 850 and asctime forms) as seconds since
/// the epoch.
fn parse_date(s: &str) -> Option<u64> {
    let t = httpdate::parse_http_date(s.trim()).ok()?;
    Some(t.duration_since(UNIX_EPOCH).ok()?.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    // 784111777 = Sun, 06 Nov 1994 08:49:37 GMT
    fn file() -> Validators {
        Validators::new(10, UNIX_EPOCH + Duration::new(784_111_777, 5), None)
    }

    fn when(c: Conditions<'_>) -> Verdict {
        file().evaluate(&c)
    }

    #[test]
    fn tags_differ_by_size_time_and_coding() {
        let f = file();
        assert_eq!(f.etag, "W/\"a-2ebc98a1.5\"");
        assert_eq!(f.modified, 784_111_777);
        let gz = Validators::new(10, UNIX_EPOCH + Duration::new(784_111_777, 5), Some("gzip"));
        assert_ne!(gz.etag, f.etag);
        let later = Validators::new(10, UNIX_EPOCH + Duration::new(784_111_777, 6), None);
        assert_ne!(later.etag, f.etag);
    }

    #[test]
    fn if_none_match() {
        let tag = file().etag;
        let hit = |h: &str| {
            when(Conditions {
                if_none_match: Some(h),
                ..Default::default()
            })
        };
        assert_eq!(hit(&tag), Verdict::NotModified);
        assert_eq!(hit(&format!("\"x\", {tag} ,\"y\"")), Verdict::NotModified);
        assert_eq!(
            hit(tag.strip_prefix("W/").unwrap()),
            Verdict::NotModified,
            "weak comparison"
        );
        assert_eq!(hit("*"), Verdict::NotModified);
        assert_eq!(hit("\"other\""), Verdict::Send);
    }

    #[test]
    fn if_modified_since_in_every_date_form() {
        let ims = |h: &str| {
            when(Conditions {
                if_modified_since: Some(h),
                ..Default::default()
            })
        };
        assert_eq!(ims("Sun, 06 Nov 1994 08:49:37 GMT"), Verdict::NotModified);
        assert_eq!(ims("Sunday, 06-Nov-94 08:49:37 GMT"), Verdict::NotModified);
        assert_eq!(ims("Sun Nov  6 08:49:37 1994"), Verdict::NotModified);
        assert_eq!(ims("Sun, 06 Nov 1994 09:00:00 GMT"), Verdict::NotModified);
        assert_eq!(ims("Sun, 06 Nov 1994 08:49:36 GMT"), Verdict::Send);
        assert_eq!(
            ims("yesterday"),
            Verdict::Send,
            "an invalid date is ignored"
        );
    }

    #[test]
    fn if_none_match_wins_over_if_modified_since() {
        let c = Conditions {
            if_none_match: Some("\"other\""),
            if_modified_since: Some("Sun, 06 Nov 1994 09:00:00 GMT"),
            ..Default::default()
        };
        assert_eq!(when(c), Verdict::Send);
    }

    #[test]
    fn preconditions_fail_with_412() {
        let tag = file().etag;
        let c = |m: Option<&'static str>, u: Option<&'static str>| Conditions {
            if_match: m,
            if_unmodified_since: u,
            ..Default::default()
        };
        assert_eq!(when(c(Some("*"), None)), Verdict::Send);
        assert_eq!(
            file().evaluate(&Conditions {
                if_match: Some(&tag),
                ..Default::default()
            }),
            Verdict::Failed,
            "a weak tag fails strong comparison"
        );
        assert_eq!(
            when(c(None, Some("Sun, 06 Nov 1994 08:49:36 GMT"))),
            Verdict::Failed
        );
        assert_eq!(
            when(c(None, Some("Sun, 06 Nov 1994 08:49:37 GMT"))),
            Verdict::Send
        );
    }

    #[test]
    fn if_range() {
        let f = file();
        assert!(f.if_range_holds("Sun, 06 Nov 1994 08:49:37 GMT"));
        assert!(
            !f.if_range_holds("Sun, 06 Nov 1994 08:49:38 GMT"),
            "only an exact date"
        );
        assert!(!f.if_range_holds(&f.etag));
        assert!(!f.if_range_holds("\"a-2ebc98a1.5\""));
    }
}
