//! Host and port syntax (RFC 3986 §3.2.2-§3.2.3, RFC 9110 §7.2), shared by the
//! request-target checks of the parser and by the values a trusted proxy hands on
//! (`ProxyFix`).
//!
//! The two judge by the same grammar with one difference of degree, [`HostCheck`]: the
//! parser only refuses what cannot be an authority, while a proxy's value becomes the
//! app's `HTTP_HOST`, `SERVER_NAME` and `SERVER_PORT`, from which it builds URLs, so it must
//! also make sense.

use std::net::Ipv6Addr;

use super::chars::{is_host_byte, is_plain_host_byte};

/// How far a host is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HostCheck {
    /// RFC 3986's grammar: `port = *DIGIT` (empty too), an IP literal of hex digits,
    /// colons and dots (IPvFuture's `v` too), a reg-name of its bytes.
    Grammar,
    /// The grammar, and also: a port is a number in 1..=65535, an IP literal is an IPv6
    /// address, and a reg-name holds no comma. The comma is a sub-delim, but in
    /// `X-Forwarded-Host` and `Forwarded` it separates list elements, so a host with one
    /// is two values run together, not a host.
    Value,
}

/// The index of the colon before the port in `host[:port]`: the last colon, unless the
/// value ends in `]` (an IP literal without a port). werkzeug's rule, and RFC 3986's
/// `authority` read from the right.
#[inline]
pub(crate) fn port_colon(hostport: &[u8]) -> Option<usize> {
    if hostport.last() == Some(&b']') {
        return None;
    }
    hostport.iter().rposition(|&b| b == b':')
}

/// Splits `host[:port]` at [`port_colon`]; neither part is checked.
#[inline]
pub(crate) fn split_port(hostport: &[u8]) -> (&[u8], Option<&[u8]>) {
    match port_colon(hostport) {
        Some(i) => (&hostport[..i], Some(&hostport[i + 1..])),
        None => (hostport, None),
    }
}

/// A port number in 1..=65535, written as 1 to 5 digits.
pub(crate) fn parse_port(port: &[u8]) -> Option<u16> {
    if port.is_empty() || port.len() > 5 || !port.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = port.iter().fold(0u32, |n, &b| n * 10 + u32::from(b - b'0'));
    u16::try_from(n).ok().filter(|&p| p != 0)
}

/// Whether `port` is a port under `check` (RFC 3986 §3.2.3 `port = *DIGIT`, at most 5
/// digits).
pub(crate) fn is_port(port: &[u8], check: HostCheck) -> bool {
    match check {
        HostCheck::Grammar => port.len() <= 5 && port.iter().all(u8::is_ascii_digit),
        HostCheck::Value => parse_port(port).is_some(),
    }
}

/// RFC 3986 §3.2.2: `host = IP-literal / IPv4address / reg-name`, non-empty (RFC 9110
/// §4.2.1: "A recipient that processes such a URI reference [with an empty host] MUST
/// reject it as invalid").
pub(crate) fn is_host(host: &[u8], check: HostCheck) -> bool {
    match host {
        [] => false,
        [b'[', inner @ .., b']'] => {
            let grammar = !inner.is_empty()
                && inner
                    .iter()
                    .all(|&b| b.is_ascii_hexdigit() || matches!(b, b':' | b'.' | b'v' | b'V'));
            grammar
                && (check == HostCheck::Grammar
                    || std::str::from_utf8(inner).is_ok_and(|s| s.parse::<Ipv6Addr>().is_ok()))
        }
        _ => is_reg_name(host, check == HostCheck::Value),
    }
}

/// Whether `s` is a reg-name or IPv4 address: host bytes only (no comma if `no_comma`),
/// and every `%` starts a `pct-encoded` (RFC 3986 §2.1: `"%" HEXDIG HEXDIG`). One pass:
/// the Host of every request is checked here.
#[inline]
fn is_reg_name(s: &[u8], no_comma: bool) -> bool {
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        if !is_host_byte(b) || (no_comma && b == b',') {
            return false;
        }
        if b == b'%'
            && !s
                .get(i + 1..i + 3)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
        {
            return false;
        }
        i += 1;
    }
    true
}

/// Whether `value` is a valid Host field value, RFC 9110 §7.2 `Host = uri-host [ ":" port
/// ]`, by RFC 3986's grammar read exactly: a reg-name or IPv4 address as under
/// [`HostCheck::Grammar`], an IP literal that is an IPv6 address or an `IPvFuture`. No
/// range is imposed on the port (`port = *DIGIT`, at most 5 digits).
pub(crate) fn is_host_field(value: &[u8]) -> bool {
    is_plain_host_field(value) || is_any_host_field(value)
}

/// Whether `value` is the usual Host, `reg-name-or-IPv4 [ ":" *5DIGIT ]` without a `%`,
/// in one pass (every request's Host is checked). `false` says nothing: the value may
/// still be valid, as [`is_any_host_field`] judges.
///
/// It accepts only what [`is_any_host_field`] accepts: the port's digits hold no colon,
/// so the first colon is the last (the one [`split_port`] splits at); the host is
/// non-empty, of host bytes, with no `%` to check and no `[` to start an IP literal.
#[inline]
fn is_plain_host_field(value: &[u8]) -> bool {
    let host = value
        .iter()
        .position(|&b| !is_plain_host_byte(b))
        .unwrap_or(value.len());
    host > 0
        && match &value[host..] {
            [] => true,
            [b':', digits @ ..] => digits.len() <= 5 && digits.iter().all(u8::is_ascii_digit),
            _ => false,
        }
}

/// [`is_host_field`] for any value.
fn is_any_host_field(value: &[u8]) -> bool {
    let (host, port) = split_port(value);
    port.map_or(true, |p| is_port(p, HostCheck::Grammar))
        && match host {
            [b'[', inner @ .., b']'] => is_ip_literal(inner),
            _ => is_host(host, HostCheck::Grammar),
        }
}

/// RFC 3986 §3.2.2: `IP-literal = "[" ( IPv6address / IPvFuture ) "]"`, `IPvFuture = "v"
/// 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )`; `inner` is without the brackets.
fn is_ip_literal(inner: &[u8]) -> bool {
    match inner {
        [b'v' | b'V', rest @ ..] => {
            let Some(dot) = rest.iter().position(|&b| b == b'.') else {
                return false;
            };
            let (version, tail) = (&rest[..dot], &rest[dot + 1..]);
            !version.is_empty()
                && version.iter().all(u8::is_ascii_hexdigit)
                && !tail.is_empty()
                && tail
                    .iter()
                    .all(|&b| b == b':' || (is_host_byte(b) && b != b'%'))
        }
        _ => std::str::from_utf8(inner).is_ok_and(|s| s.parse::<Ipv6Addr>().is_ok()),
    }
}

/// Whether `hostport` is `host [ ":" port ]` under `check`.
pub(crate) fn is_host_port(hostport: &[u8], check: HostCheck) -> bool {
    let (host, port) = split_port(hostport);
    port.map_or(true, |p| is_port(p, check)) && is_host(host, check)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one-pass check accepts only what the full check accepts, and the usual values.
    #[test]
    fn plain_host_fields_are_host_fields() {
        let bytes = b"a9.-_~%!$&'()*+,;=:[]v@/ \x80";
        let mut values: Vec<Vec<u8>> = vec![b"127.0.0.1:8000".to_vec(), b"example.com".to_vec()];
        // Every string of up to 3 of these bytes, and each after a host.
        for &a in bytes.iter() {
            values.push(vec![a]);
            for &b in bytes.iter() {
                values.push(vec![a, b]);
                for &c in bytes.iter() {
                    values.push(vec![a, b, c]);
                    values.push([b"h.x".as_slice(), &[a, b, c]].concat());
                }
            }
        }
        for v in &values {
            if is_plain_host_field(v) {
                assert!(is_any_host_field(v), "{:?}", String::from_utf8_lossy(v));
            }
        }
        for v in [
            &b"127.0.0.1:8000"[..],
            b"example.com",
            b"a:",
            b"a-b.c:65535",
        ] {
            assert!(is_plain_host_field(v), "{:?}", String::from_utf8_lossy(v));
        }
    }
    use HostCheck::*;

    #[test]
    fn split() {
        assert_eq!(split_port(b"a:80"), (&b"a"[..], Some(&b"80"[..])));
        assert_eq!(split_port(b"a:"), (&b"a"[..], Some(&b""[..])));
        assert_eq!(split_port(b"[::1]"), (&b"[::1]"[..], None));
        assert_eq!(split_port(b"[::1]:8"), (&b"[::1]"[..], Some(&b"8"[..])));
        assert_eq!(split_port(b"a:b:c"), (&b"a:b"[..], Some(&b"c"[..])));
        assert_eq!(split_port(b"a"), (&b"a"[..], None));
    }

    #[test]
    fn grammar_and_value() {
        // (input, under Grammar, under Value)
        let cases: &[(&[u8], bool, bool)] = &[
            (b"example.com", true, true),
            (b"EXAMPLE.com:1", true, true),
            (b"[::1]:8080", true, true),
            (b"10.0.0.1", true, true),
            (b"xn--bcher-kva.example", true, true),
            (b"a:", true, false),
            (b"a:0", true, false),
            (b"a:99999", true, false),
            (b"a:123456", false, false),
            (b"a:x", false, false),
            (b"a,b", true, false),
            (b"[v1.x]", false, false),
            (b"[v1.a]", true, false),
            (b"[nope]:80", false, false),
            (b"[::1", false, false),
            (b"[]", false, false),
            (b"a@b", false, false),
            (b"a b", false, false),
            (b"a:b:1", false, false),
            (b"", false, false),
        ];
        for &(v, grammar, value) in cases {
            let show = String::from_utf8_lossy(v);
            assert_eq!(is_host_port(v, Grammar), grammar, "{show}");
            assert_eq!(is_host_port(v, Value), value, "{show}");
        }
    }

    #[test]
    fn host_fields() {
        let good: &[&[u8]] = &[
            b"example.com",
            b"example.com:8080",
            b"a:",
            b"10.0.0.1:1",
            b"[::1]",
            b"[::ffff:192.0.2.1]:443",
            b"[v1.fe80::a+en1]",
            b"[V1F.x]:1",
            b"ex%41mple",
            b"a,b",
        ];
        let bad: &[&[u8]] = &[
            b"",
            b":80",
            b"[]",
            b"[::1",
            b"[:::1]",
            b"[1.2.3.4]",
            b"[v.x]",
            b"[v1.]",
            b"[v1]",
            b"[vg.x]",
            b"[v1.a%41]",
            b"a%4",
            b"a%zz",
            b"a b",
            b"u@a",
            b"a/b",
            b"a:1:2",
            b"a:123456",
            b"a:-1",
        ];
        for v in good {
            assert!(is_host_field(v), "{}", String::from_utf8_lossy(v));
        }
        for v in bad {
            assert!(!is_host_field(v), "{}", String::from_utf8_lossy(v));
        }
    }

    #[test]
    fn ports() {
        assert_eq!(parse_port(b"1"), Some(1));
        assert_eq!(parse_port(b"65535"), Some(65535));
        assert_eq!(parse_port(b"00080"), Some(80));
        for bad in [&b""[..], b"0", b"65536", b"99999", b"123456", b"+1", b"8 0"] {
            assert_eq!(parse_port(bad), None, "{bad:?}");
        }
    }
}
