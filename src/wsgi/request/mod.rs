//! Reading a request the way apps want it: the decoded query string, url-encoded forms,
//! streamed `multipart/form-data`, cookies and JSON, as methods on [`Environ`].
//!
//! Each helper that reads the body takes a limit in bytes and fails with a
//! [`RequestError`] that says which of the ways it went wrong (413, 400, 415, ...), so a
//! handler returning `Result<Body, HttpError>` answers with the right status through `?`.
//!
//! The query string ([`Environ::query_pairs`]) and the form body ([`Environ::form`]) are
//! kept apart, as werkzeug keeps `request.args` and `request.form`: a GET has no form, and
//! a POST's form does not include its query.
//!
//! [`Environ`]: super::Environ
//! [`RequestError`]: super::RequestError

mod cookies;
mod form;
#[cfg(feature = "json")]
mod json;
mod multipart;
mod query;

use std::borrow::Cow;

pub use form::Form;
pub use multipart::{Multipart, Part};
pub use query::QueryPairs;

/// The bytes a WSGI string stands for: as in PEP 3333 (and werkzeug), environ strings hold
/// bytes as latin-1 characters; a character beyond latin-1 (set by middleware) is taken as
/// UTF-8.
pub(crate) fn wsgi_bytes(s: &str) -> Cow<'_, [u8]> {
    if s.is_ascii() {
        return Cow::Borrowed(s.as_bytes());
    }
    let mut out = Vec::with_capacity(s.len());
    for c in s.chars() {
        match u8::try_from(u32::from(c)) {
            Ok(b) => out.push(b),
            Err(_) => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
    Cow::Owned(out)
}

/// A media type split into its essence (lowercase `type/subtype`) and its parameters.
#[derive(Debug)]
pub(crate) struct MediaType<'s> {
    pub(crate) essence: String,
    params: &'s str,
}

impl<'s> MediaType<'s> {
    /// Parses a `Content-Type` value (RFC 9110 §8.3.1).
    pub(crate) fn parse(value: &'s str) -> MediaType<'s> {
        let (essence, params) = value.split_once(';').unwrap_or((value, ""));
        MediaType {
            essence: essence.trim().to_ascii_lowercase(),
            params,
        }
    }

    /// The value of parameter `name` (any case), unquoted.
    pub(crate) fn param(&self, name: &str) -> Option<String> {
        params(self.params)
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
}

/// The `; name=value` parameters of a header value, values unquoted (a quoted-string's
/// `\` escapes removed). Lenient: a piece without `=` is skipped.
pub(crate) fn params(mut s: &str) -> impl Iterator<Item = (&str, String)> {
    std::iter::from_fn(move || loop {
        s = s.trim_start_matches(|c: char| c == ';' || c.is_ascii_whitespace());
        if s.is_empty() {
            return None;
        }
        let end = s.find([';', '=']).unwrap_or(s.len());
        let name = s[..end].trim();
        if !s[end..].starts_with('=') {
            s = &s[end..];
            continue;
        }
        let rest = s[end + 1..].trim_start();
        let (value, used) = match rest.strip_prefix('"') {
            Some(q) => unquote(q),
            None => {
                let v = rest.find(';').unwrap_or(rest.len());
                (rest[..v].trim_end().to_owned(), v)
            }
        };
        s = &rest[used..];
        return Some((name, value));
    })
}

/// A quoted-string's content (`q` follows the opening quote) and how many bytes of `q`
/// plus the opening quote it spans. An unclosed quote runs to the end. `\"` and `\\` are
/// unescaped; any other `\` is kept (Windows paths sent as filenames unescaped).
fn unquote(q: &str) -> (String, usize) {
    let mut out = String::new();
    let mut chars = q.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return (out, i + 2),
            '\\' => match chars.peek() {
                Some(&(_, e @ ('"' | '\\'))) => {
                    out.push(e);
                    chars.next();
                }
                _ => out.push('\\'),
            },
            c => out.push(c),
        }
    }
    (out, q.len() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_and_params() {
        let m = MediaType::parse("Multipart/Form-Data; charset=utf-8; BOUNDARY=\"a b;\\\"c\"");
        assert_eq!(m.essence, "multipart/form-data");
        assert_eq!(m.param("boundary").as_deref(), Some("a b;\"c"));
        assert_eq!(m.param("charset").as_deref(), Some("utf-8"));
        assert_eq!(m.param("none"), None);
        let m = MediaType::parse(r#"form-data; filename="C:\dir\a.txt"; x="\\""#);
        assert_eq!(m.param("filename").as_deref(), Some(r"C:\dir\a.txt"));
        assert_eq!(m.param("x").as_deref(), Some("\\"));
        let m = MediaType::parse("text/plain");
        assert_eq!((m.essence.as_str(), m.param("x")), ("text/plain", None));
        let got: Vec<_> = params("; x ; a=1;b = \"2\" ;c=\"unclosed").collect();
        assert_eq!(
            got,
            [
                ("a", "1".to_owned()),
                ("b", "2".to_owned()),
                ("c", "unclosed".to_owned())
            ]
        );
    }

    #[test]
    fn wsgi_strings_are_latin1_bytes() {
        assert_eq!(&*wsgi_bytes("abc"), b"abc");
        assert_eq!(&*wsgi_bytes("J\u{c3}\u{bc}rgen"), "Jürgen".as_bytes());
        assert_eq!(&*wsgi_bytes("€"), "€".as_bytes());
    }
}
