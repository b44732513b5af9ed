//! Turning a request path into a path under the root, refusing every way out.
//!
//! Checked on the text: `..` segments (after percent-decoding, so `%2e%2e` too), encoded
//! separators `%2f` and `%5c` (a decoded `/` inside a segment), backslashes, NUL, and
//! hidden names (`.git`, `.env`) unless allowed. Absolute paths cannot arise: the path is
//! split on `/` and only plain names are joined onto the root. Symlinks are checked on the
//! filesystem ([`super::lookup`]): the target must lie under the canonical root.

use std::path::PathBuf;

/// A request path below the mount point, made safe.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Relative {
    /// Plain names only: no `..`, `.`, separators or root.
    pub(super) path: PathBuf,
    /// Whether the request path ended with `/` (a directory's index is served there).
    pub(super) trailing_slash: bool,
}

/// Whether the raw request-target encodes a separator or NUL in its path (`%2f`, `%5c`,
/// `%00`, any case): decoded, such a path would not split as it reads.
pub(super) fn encodes_separator(raw_target: &str) -> bool {
    let path = raw_target.split('?').next().unwrap_or("").as_bytes();
    path.windows(3).any(|w| {
        w[0] == b'%'
            && matches!(
                (w[1], w[2].to_ascii_lowercase()),
                (b'2', b'f') | (b'5', b'c') | (b'0', b'0')
            )
    })
}

/// `rest` (the decoded `PATH_INFO` below the mount, latin-1 as the environ holds it) as
/// a relative path of plain names; `None` when it tries to leave the root or is not a
/// name a file here could have (not UTF-8, NUL, backslash, hidden).
pub(super) fn relative(rest: &str, allow_hidden: bool) -> Option<Relative> {
    // The environ holds each decoded byte as one char: back to bytes, then UTF-8.
    let bytes: Vec<u8> = rest
        .chars()
        .map(u8::try_from)
        .collect::<Result<_, _>>()
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    if text.contains(['\0', '\\']) {
        return None;
    }
    let mut path = PathBuf::new();
    for segment in text.split('/') {
        match segment {
            "" | "." => {}
            ".." => return None,
            s if s.starts_with('.') && !allow_hidden => return None,
            s => path.push(s),
        }
    }
    Some(Relative {
        path,
        trailing_slash: text.is_empty() || text.ends_with('/'),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(s: &str) -> Option<String> {
        relative(s, false).map(|r| r.path.to_string_lossy().into_owned())
    }

    #[test]
    fn plain_paths() {
        assert_eq!(rel("/a/b.txt").as_deref(), Some("a/b.txt"));
        assert_eq!(rel("a//./b.txt").as_deref(), Some("a/b.txt"));
        assert_eq!(rel("").as_deref(), Some(""));
        assert!(relative("/docs/", false).unwrap().trailing_slash);
        assert!(!relative("/docs", false).unwrap().trailing_slash);
        // PATH_INFO holds "é" (UTF-8 c3 a9) as two latin-1 chars.
        assert_eq!(rel("/caf\u{c3}\u{a9}").as_deref(), Some("café"));
    }

    #[test]
    fn ways_out_are_refused() {
        for bad in [
            "/../etc/passwd",
            "/../../etc/passwd",
            "/a/../../etc/passwd",
            "/a/..",
            "..",
            "/a\\..\\..\\etc",
            "/a\0b",
            "/.git/config",
            "/a/.env",
            "/\u{ff}\u{fe}",
            "/\u{100}",
        ] {
            assert_eq!(rel(bad), None, "{bad:?}");
        }
        assert_eq!(
            relative("/.well-known/x", true).unwrap().path,
            PathBuf::from(".well-known/x")
        );
        assert_eq!(
            relative("/../x", true),
            None,
            "hidden names allowed, .. never"
        );
    }

    #[test]
    fn absolute_paths_stay_below_the_root() {
        // A doubled slash cannot make the joined path absolute.
        assert_eq!(rel("//etc/passwd").as_deref(), Some("etc/passwd"));
        assert!(PathBuf::from("/root")
            .join(rel("//etc/passwd").unwrap())
            .starts_with("/root"));
    }

    #[test]
    fn encoded_separators_in_the_raw_target() {
        assert!(encodes_separator("/static/a%2fb"));
        assert!(encodes_separator("/static/a%2Fb"));
        assert!(encodes_separator("/static/..%5c..%5cx"));
        assert!(encodes_separator("/static/a%00.txt"));
        assert!(
            !encodes_separator("/static/%2e%2e/x"),
            "dots are caught after decoding"
        );
        assert!(
            !encodes_separator("/static/a.txt?next=%2f"),
            "the query is not the path"
        );
        assert!(!encodes_separator("/static/100%25"));
    }
}
