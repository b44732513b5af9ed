//! `ProxyFix` over an environ built from fuzzed forwarding headers.
//!
//! The first two bytes choose the settings (each count 0 to 3, `X-Real-IP` on or off, a
//! trusted list or not) and the peer; each following line is a header, its first byte
//! choosing the name (`X-Forwarded-*`, `Forwarded`, `X-Real-IP`) and the rest its value.
//! Invariants: it never panics; the originals are kept; an untrusted peer, or all
//! settings off, changes nothing; whatever it writes is well formed (an address in its
//! canonical form, `http` or `https`, a host without separators or controls, a port in
//! 1..=65535, a path prefix); a plain IPv4 `X-Forwarded-For` value is believed; and the
//! same request gives the same result twice.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use greenlight::fuzzing::environ;
use greenlight::http::{HeadStatus, Limits, RequestHead};
use greenlight::middleware::{ProxyFix, ProxyFixOrig};
use greenlight::net::AllowList;
use greenlight::wsgi::{Body, ConnInfo, Environ, StartResponse};
use libfuzzer_sys::fuzz_target;

type Fix = ProxyFix<fn(&mut Environ<'_>, StartResponse<'_>) -> Body>;

const NAMES: [&str; 7] = [
    "X-Forwarded-For",
    "X-Forwarded-Proto",
    "X-Forwarded-Host",
    "X-Forwarded-Port",
    "X-Forwarded-Prefix",
    "Forwarded",
    "X-Real-IP",
];
const PEERS: [&str; 4] = ["10.0.0.7", "127.0.0.1", "::1", ""];
const KEYS: [&str; 6] = [
    "REMOTE_ADDR",
    "wsgi.url_scheme",
    "HTTP_HOST",
    "SERVER_NAME",
    "SERVER_PORT",
    "SCRIPT_NAME",
];

fn noop(_: &mut Environ<'_>, _: StartResponse<'_>) -> Body {
    Body::empty()
}

struct Settings {
    counts: [usize; 6],
    real_ip: bool,
    trusted: bool,
}

fn build(s: &Settings) -> Fix {
    let fix = ProxyFix::new(noop as fn(&mut Environ<'_>, StartResponse<'_>) -> Body)
        .x_for(s.counts[0])
        .x_proto(s.counts[1])
        .x_host(s.counts[2])
        .x_port(s.counts[3])
        .x_prefix(s.counts[4])
        .forwarded(s.counts[5])
        .x_real_ip(s.real_ip);
    if s.trusted {
        fix.trusted(AllowList::from_entries(["127.0.0.1", "::1"]).expect("valid list"))
    } else {
        fix
    }
}

/// The keys under test after running `fix`, and the originals it kept.
fn run(
    fix: &Fix,
    buf: &[u8],
    head: &RequestHead,
    conn: &ConnInfo,
) -> (Vec<Option<String>>, ProxyFixOrig) {
    let mut env = environ(buf, head, conn);
    fix.fix(&mut env);
    let got = KEYS.iter().map(|k| env.get(k).map(str::to_owned)).collect();
    let orig = env
        .extension::<ProxyFixOrig>()
        .cloned()
        .expect("originals kept");
    (got, orig)
}

fn well_formed_host(h: &str) -> bool {
    !h.is_empty()
        && h.bytes().all(|b| {
            b.is_ascii_graphic() && !matches!(b, b',' | b'/' | b'@' | b'?' | b'#' | b'"' | b'\\')
        })
}

fn check(before: &[Option<String>], after: &[Option<String>]) {
    let changed = |i: usize| before[i] != after[i];
    if changed(0) {
        let a = after[0].as_deref().expect("REMOTE_ADDR set");
        let ip: IpAddr = a.parse().unwrap_or_else(|_| panic!("REMOTE_ADDR {a:?}"));
        assert_eq!(ip.to_string(), a, "REMOTE_ADDR not canonical");
    }
    let scheme = after[1].as_deref();
    assert!(
        matches!(scheme, Some("http" | "https")),
        "scheme {scheme:?}"
    );
    if changed(2) {
        let h = after[2].as_deref().expect("HTTP_HOST set");
        assert!(well_formed_host(h), "HTTP_HOST {h:?}");
    }
    if changed(3) {
        let n = after[3].as_deref().expect("SERVER_NAME set");
        assert!(well_formed_host(n), "SERVER_NAME {n:?}");
    }
    if changed(4) {
        let p = after[4].as_deref().expect("SERVER_PORT set");
        let ok = p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok_and(|p| p > 0);
        assert!(ok, "SERVER_PORT {p:?}");
    }
    if changed(5) {
        let s = after[5].as_deref().expect("SCRIPT_NAME set");
        let ok = s.is_empty()
            || (s.starts_with('/')
                && !s.ends_with('/')
                && s.bytes().all(|b| b.is_ascii_graphic() || b >= 0x80));
        assert!(ok, "SCRIPT_NAME {s:?}");
    }
}

/// werkzeug's rule for the value a count selects, for the oracle.
fn nth_from_right(v: &str, n: usize) -> Option<&str> {
    let parts: Vec<&str> = v.split(',').collect();
    (n >= 1 && parts.len() >= n).then(|| parts[parts.len() - n].trim())
}

fuzz_target!(|data: &[u8]| {
    let [a, b, lines @ ..] = data else {
        return;
    };
    let settings = Settings {
        counts: [
            a & 3,
            (a >> 2) & 3,
            (a >> 4) & 3,
            (a >> 6) & 3,
            b & 3,
            (b >> 2) & 3,
        ]
        .map(usize::from),
        real_ip: b & 0x10 != 0,
        trusted: b & 0x20 != 0,
    };
    let peer = PEERS[usize::from(b >> 6)];

    let mut raw = b"GET /p HTTP/1.1\r\nHost: backend:8000\r\n".to_vec();
    let mut xff = Vec::new();
    for line in lines.split(|&c| c == b'\n') {
        let Some((&sel, value)) = line.split_first() else {
            continue;
        };
        let name = NAMES[usize::from(sel) % NAMES.len()];
        if name == "X-Forwarded-For" {
            xff.push(value);
        }
        raw.extend_from_slice(name.as_bytes());
        raw.extend_from_slice(b": ");
        raw.extend_from_slice(value);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"\r\n");
    let mut head = RequestHead::new();
    let limits = Limits {
        fields: 1000,
        ..Limits::default()
    };
    if !matches!(head.parse(&raw, &limits), Ok(HeadStatus::Complete(_))) {
        return;
    }
    let conn = ConnInfo {
        remote_addr: peer.to_owned(),
        remote_port: "5555".to_owned(),
        server_name: "127.0.0.1".to_owned(),
        server_port: "8000".to_owned(),
        scheme: "http",
        script_name: String::new(),
        ..ConnInfo::default()
    };

    let before: Vec<Option<String>> = {
        let env = environ(&raw, &head, &conn);
        KEYS.iter().map(|k| env.get(k).map(str::to_owned)).collect()
    };
    let fix = build(&settings);
    let (after, orig) = run(&fix, &raw, &head, &conn);
    assert_eq!(orig.remote_addr, before[0]);
    assert_eq!(orig.scheme, before[1]);
    assert_eq!(orig.host, before[2]);
    assert_eq!(orig.server_name, before[3]);
    assert_eq!(orig.server_port, before[4]);
    assert_eq!(orig.script_name, before[5]);
    check(&before, &after);
    assert_eq!(run(&fix, &raw, &head, &conn).0, after, "not deterministic");

    let untrusted = settings.trusted && matches!(peer, "10.0.0.7");
    let off = settings.counts == [0; 6] && !settings.real_ip;
    if untrusted || off {
        assert_eq!(before, after, "changed the environ while off or untrusted");
    }

    // The oracle: a plain IPv4 address as the selected X-Forwarded-For value is believed
    // when nothing later (X-Real-IP, Forwarded) may override it. Repeated fields are
    // joined with ',' in the environ, as the selection sees them.
    let n = settings.counts[0];
    if !untrusted && !settings.real_ip && settings.counts[5] == 0 && !xff.is_empty() {
        // Decoded as the environ decodes header bytes: ISO-8859-1, one char a byte (as
        // UTF-8, the bytes C2 85 would read as a NEL, which `trim` strips, where the
        // environ holds "\u{c2}\u{85}", which is no address).
        let joined: Vec<u8> = xff.join(&b","[..]);
        let joined: String = joined.iter().map(|&b| char::from(b)).collect();
        if let Some(v) = nth_from_right(&joined, n) {
            if let Ok(ip) = v.parse::<Ipv4Addr>() {
                assert_eq!(
                    after[0].as_deref(),
                    Some(ip.to_string().as_str()),
                    "X-Forwarded-For {joined:?}"
                );
            }
        }
    }
});
