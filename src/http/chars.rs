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

/// A `reg-name` byte that needs no further check: any but the `%` of a pct-encoding.
const fn plain_host_byte(b: u8) -> bool {
    host_byte(b) && b != b'%'
}

static TCHAR: [bool; 256] = table!(tchar);
static FIELD: [bool; 256] = table!(field_byte);
static TARGET: [bool; 256] = table!(target_byte);
static HOST: [bool; 256] = table!(host_byte);
static PLAIN_HOST: [bool; 256] = table!(plain_host_byte);

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// The next 8 bytes of `s` from `i` as a word (byte `i` lowest).
#[inline]
fn word(s: &[u8], i: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&s[i..i + 8]);
    u64::from_le_bytes(w)
}

/// The high bit of each byte of `w` that is zero, and possibly of bytes above (later than)
/// a zero byte: the lowest flagged byte is always a zero byte, and none is flagged if none
/// is zero.
#[inline]
fn zero_bytes(w: u64) -> u64 {
    w.wrapping_sub(LO) & !w & HI
}

/// Nonzero exactly when some byte of `w` is below `n` (`n <= 0x80`).
#[inline]
fn any_below(w: u64, n: u8) -> u64 {
    w.wrapping_sub(LO * n as u64) & !w & HI
}

/// The index of the first `needle` in `s`, 8 bytes a step (a head's lines are tens of
/// bytes: a byte-at-a-time search was the largest part of parsing a browser's request).
#[inline]
pub(crate) fn find_byte(s: &[u8], needle: u8) -> Option<usize> {
    let pat = LO * needle as u64;
    let mut i = 0;
    while i + 8 <= s.len() {
        let z = zero_bytes(word(s, i) ^ pat);
        if z != 0 {
            return Some(i + (z.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    if i == s.len() {
        return None;
    }
    if s.len() >= 8 {
        // The rest as the last word, overlapping bytes already known not to match: a
        // word's test is cheaper than the byte loop below.
        let last = s.len() - 8;
        let z = zero_bytes(word(s, last) ^ pat);
        return (z != 0).then(|| last + (z.trailing_zeros() / 8) as usize);
    }
    s[i..].iter().position(|&b| b == needle).map(|p| i + p)
}

/// The index of the first byte of `s` not in `class`, where `class` holds every byte from
/// `min` (`<= 0x80`) up except DEL (0x7F), and maybe some below `min`. Words of 8 bytes
/// with nothing below `min` and no DEL are skipped whole; others are checked byte by byte.
#[inline(always)]
fn position_not(s: &[u8], min: u8, class: &[bool; 256]) -> Option<usize> {
    let del = LO * 0x7f;
    let mut i = 0;
    while i + 8 <= s.len() {
        let w = word(s, i);
        if any_below(w, min) | zero_bytes(w ^ del) != 0 {
            if let Some(p) = s[i..i + 8].iter().position(|&b| !class[b as usize]) {
                return Some(i + p);
            }
        }
        i += 8;
    }
    if i == s.len() {
        return None;
    }
    if s.len() >= 8 {
        // The rest as the last word (overlapping bytes already passed): only a word that
        // may hold a byte outside the class is looked at byte by byte.
        let w = word(s, s.len() - 8);
        if any_below(w, min) | zero_bytes(w ^ del) == 0 {
            return None;
        }
    }
    s[i..]
        .iter()
        .position(|&b| !class[b as usize])
        .map(|p| i + p)
}

/// Whether every byte of `s` may appear in a field value ([`is_field_byte`]).
#[inline]
pub(crate) fn all_field_bytes(s: &[u8]) -> bool {
    position_not(s, 0x20, &FIELD).is_none()
}

/// The index of the first byte of `s` that is not a field-value byte.
#[inline]
pub(crate) fn position_not_field(s: &[u8]) -> Option<usize> {
    position_not(s, 0x20, &FIELD)
}

/// The index of the first byte of `s` that may not appear in a request-target (VCHAR or
/// obs-text).
#[inline]
pub(crate) fn position_not_target(s: &[u8]) -> Option<usize> {
    position_not(s, 0x21, &TARGET)
}

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

/// Whether `b` may appear in a request-target (the parser uses [`position_not_target`]).
#[cfg(test)]
fn is_target_byte(b: u8) -> bool {
    TARGET[b as usize]
}

/// Whether `b` may appear in a reg-name host or userinfo.
#[inline]
pub(crate) fn is_host_byte(b: u8) -> bool {
    HOST[b as usize]
}

/// Whether `b` is a `reg-name` byte other than `%` (the bytes of the usual Host value).
#[inline]
pub(crate) fn is_plain_host_byte(b: u8) -> bool {
    PLAIN_HOST[b as usize]
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every byte value at every position of lines of every length up to 40, against the
    /// byte-at-a-time definitions.
    #[test]
    fn word_at_a_time_scans_agree_with_the_tables() {
        for len in 0..40 {
            for at in 0..len {
                for b in 0..=255u8 {
                    let mut s = vec![b'a'; len];
                    s[at] = b;
                    if at + 1 < len {
                        s[at + 1] = b'\n'; // something interesting after it, too
                    }
                    assert_eq!(
                        find_byte(&s, b'\n'),
                        s.iter().position(|&c| c == b'\n'),
                        "{s:?}"
                    );
                    assert_eq!(find_byte(&s, b), s.iter().position(|&c| c == b), "{s:?}");
                    assert_eq!(
                        all_field_bytes(&s),
                        s.iter().all(|&c| is_field_byte(c)),
                        "{s:?}"
                    );
                    assert_eq!(
                        position_not_target(&s),
                        s.iter().position(|&c| !is_target_byte(c)),
                        "{s:?}"
                    );
                }
            }
        }
    }
}
