//! `RequestHead::parse` on arbitrary bytes, under arbitrary limits.
//!
//! Invariants: it never panics; `Complete(n)` has `n <= len` and every span inside
//! `buf[..n]`; the head alone parses to the same result, and every prefix of it is
//! `Partial`; `Partial` only below `Limits::max_head`; a head that was reused gives the same answer as a fresh one; and the head
//! re-encoded in canonical form (`method SP target SP version CRLF`, `name: value CRLF`,
//! `CRLF`) parses again to an equivalent head.
#![no_main]

use greenlight::http::{HeadStatus, Limits, RequestHead, Span, Version};
use libfuzzer_sys::fuzz_target;

/// The limits under test: the defaults when the first byte's low bit is clear (what
/// servers run with), else small ones from the next bytes, so that every limit is hit.
fn limits(data: &[u8]) -> (Limits, &[u8]) {
    match data {
        [sel, a, b, c, rest @ ..] if sel & 1 == 1 => {
            let limits = Limits {
                request_line: usize::from(*a) * 4,
                fields: usize::from(*b % 32),
                field_size: usize::from(*c) * 2,
            };
            (limits, rest)
        }
        [_, rest @ ..] => (Limits::default(), rest),
        [] => (Limits::default(), data),
    }
}

/// What a parse found, without the spans: comparable across buffers.
#[derive(Debug, PartialEq)]
struct View<'a> {
    method: &'a [u8],
    target: &'a [u8],
    version: Version,
    headers: Vec<(&'a [u8], &'a [u8])>,
    body: greenlight::http::BodyLength,
    keep_alive: bool,
    expect_continue: bool,
}

fn view<'a>(head: &RequestHead, buf: &'a [u8]) -> View<'a> {
    View {
        method: head.method.get(buf),
        target: head.target.get(buf),
        version: head.version,
        headers: head
            .headers
            .iter()
            .map(|h| (h.name.get(buf), h.value.get(buf)))
            .collect(),
        body: head.body,
        keep_alive: head.keep_alive,
        expect_continue: head.expect_continue,
    }
}

fn inside(span: Span, n: usize) {
    assert!(span.start <= span.end, "span {span:?} is reversed");
    assert!(
        span.end as usize <= n,
        "span {span:?} leaves the head (length {n})"
    );
}

fn encode(v: &View<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(v.method);
    out.push(b' ');
    out.extend_from_slice(v.target);
    out.extend_from_slice(match v.version {
        Version::Http10 => b" HTTP/1.0\r\n",
        Version::Http11 => b" HTTP/1.1\r\n",
    });
    for (name, value) in &v.headers {
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

fn check_complete(buf: &[u8], n: usize, head: &RequestHead, limits: &Limits) {
    assert!(n <= buf.len(), "Complete({n}) past the end ({})", buf.len());
    inside(head.method, n);
    inside(head.target, n);
    assert!(!head.method.get(buf).is_empty() && !head.target.get(buf).is_empty());
    for h in &head.headers {
        inside(h.name, n);
        inside(h.value, n);
        let (name, value) = (h.name.get(buf), h.value.get(buf));
        assert!(!name.is_empty());
        // No line ends or NULs may survive into a field: a smuggling vector.
        assert!(!name
            .iter()
            .chain(value)
            .any(|b| matches!(b, b'\r' | b'\n' | 0)));
        assert!(!value.first().is_some_and(|b| *b == b' ' || *b == b'\t'));
        assert!(!value.last().is_some_and(|b| *b == b' ' || *b == b'\t'));
    }
    let got = view(head, buf);

    // The head alone is the same head; the parser never looks past it.
    let mut alone = RequestHead::new();
    assert_eq!(alone.parse(&buf[..n], limits), Ok(HeadStatus::Complete(n)));
    assert_eq!(view(&alone, buf), got);

    // A caller appends and parses again: no prefix of a good head may be refused. All
    // prefixes of short heads, a spread of them for long ones.
    let cuts: Vec<usize> = if n <= 128 {
        (0..n).collect()
    } else {
        (0..16).map(|i| i * n / 16).chain([n - 1, n - 2]).collect()
    };
    for cut in cuts {
        let r = alone.parse(&buf[..cut], limits);
        assert_eq!(
            r,
            Ok(HeadStatus::Partial),
            "prefix {cut} of a {n}-byte head"
        );
    }

    // Canonical re-encoding. `name:value` grows by the space, so allow one more byte per
    // field line (the fuzzed limits stay far below the ceilings).
    let encoded = encode(&got);
    let roomier = Limits {
        field_size: limits.field_size + usize::from(limits.field_size != 0),
        ..*limits
    };
    let mut again = RequestHead::new();
    match again.parse(&encoded, &roomier) {
        Ok(HeadStatus::Complete(m)) => {
            assert_eq!(m, encoded.len());
            assert_eq!(view(&again, &encoded), got, "re-encoded head differs");
        }
        other => panic!(
            "re-encoded head {:?} gave {other:?}",
            String::from_utf8_lossy(&encoded)
        ),
    }
}

fuzz_target!(|data: &[u8]| {
    let (limits, buf) = limits(data);
    let mut head = RequestHead::new();
    let first = head.parse(buf, &limits);
    if let Ok(HeadStatus::Complete(n)) = first {
        check_complete(buf, n, &head, &limits);
    }
    if first == Ok(HeadStatus::Partial) {
        // A caller buffers at most this much before getting an answer.
        assert!(
            buf.len() < limits.max_head(),
            "Partial at {} bytes",
            buf.len()
        );
    }
    if let Err(e) = &first {
        assert!(matches!(e.status(), 400 | 414 | 431 | 501 | 505), "{e:?}");
    }
    // A head reused across requests answers as a fresh one does.
    let mut reused = RequestHead::new();
    let _ = reused.parse(
        b"POST / HTTP/1.0\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n",
        &limits,
    );
    let second = reused.parse(buf, &limits);
    assert_eq!(first, second);
    if let Ok(HeadStatus::Complete(_)) = first {
        assert_eq!(view(&head, buf), view(&reused, buf));
    }
});
