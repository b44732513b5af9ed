//! Byte classes of RFC 9110 and RFC 3986, as 256-entry tables (one load per byte).

/// Builds a lookup table from a `const fn` byte predicate at compile time.
macro_rules! table {
    ($pred:ident) => {{
        let mut t = [false; 256];
        let mut i = 0;
        while i < 256 {
            t[i] = $pred(i as u8);
            i += 1;
        }
        t
    }};
}

/// RFC 9110 §5.6.2: `tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
/// "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA`.
const fn tchar(b: u8) -> bool {
    matches!(b,
        b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.'
        | b'^' | b'_' | b'`' | b'|' | b'~' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z')
}

/// RFC 9110 §5.5: `field-value = *field-content`, built of VCHAR, obs-text, SP and HTAB.
/// Everything else (NUL, CR, LF, other controls, DEL) is refused: RFC 9110 §5.5 "Field
/// values containing CR, LF, or NUL characters are invalid and dangerous".
const fn field_byte(b: u8) -> bool {
    matches!(b, b'\t' | 0x20..=0x7e | 0x80..=0xff)
}

/// A request-target byte: VCHAR or obs-text. No whitespace and no controls, so a target
/// cannot hide a second request line; `"` and raw UTF-8 are let through as gunicorn does
/// (corpus valid/014, valid/027) and left for the application to judge.
const fn target_byte(b: u8) -> bool {
    matches!(b, 0x21..=0x7e | 0x80..=0xff)
}

/// RFC 3986 §3.2.2 `reg-name` bytes: unreserved / pct-encoded ('%') / sub-delims.
const fn host_byte(b: u8) -> bool {
    matches!(b,
        b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'%'
        | b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=')
}

static TCHAR: [bool; 256] = table!(tchar);
static FIELD: [bool; 256] = table!(field_byte);
static TARGET: [bool; 256] = table!(target_byte);
static HOST: [bool; 256] = table!(host_byte);

/// Whether `b` may appear in a token (method, field name, transfer coding).
#[inline]
pub(crate) fn is_tchar(b: u8) -> bool {
    TCHAR[b as usize]
}

/// Whether `b` may appear in a field value.
#[inline]
pub(crate) fn is_field_byte(b: u8) -> bool {
    FIELD[b as usize]
}

/// Whether `b` may appear in a request-target.
#[inline]
pub(crate) fn is_target_byte(b: u8) -> bool {
    TARGET[b as usize]
}

/// Whether `b` may appear in a reg-name host or userinfo.
#[inline]
pub(crate) fn is_host_byte(b: u8) -> bool {
    HOST[b as usize]
}

/// Whether `s` is a non-empty token.
#[inline]
pub(crate) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// RFC 9110 §5.6.3: `OWS = *( SP / HTAB )`.
#[inline]
pub(crate) fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// `s` without leading and trailing OWS.
#[inline]
pub(crate) fn trim_ows(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| !is_ows(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|&b| !is_ows(b)).map_or(start, |i| i + 1);
    &s[start..end]
}
