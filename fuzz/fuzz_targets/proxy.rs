//! The PROXY protocol v1/v2 parser on arbitrary bytes.
//!
//! Invariants: it never panics; `Complete(n)` has `0 < n <= len`, at most a v1 line or a
//! v2 header long, and the header alone parses the same; every prefix of a complete
//! header is `Partial`; `Partial` only below the longest header (a bounded read);
//! `Absent` only when the bytes start neither signature; and a TCP header re-encoded as
//! v1 and as v2 parses to the same addresses.
#![no_main]

use std::net::{IpAddr, SocketAddr};

use greenlight::fuzzing::{parse_proxy, ProxyHeader, ProxyStatus, V1_MAX, V2_MAX, V2_SIGNATURE};
use greenlight::http::ErrorKind;
use libfuzzer_sys::fuzz_target;

fn starts_like(buf: &[u8], sig: &[u8]) -> bool {
    let n = buf.len().min(sig.len());
    buf[..n] == sig[..n]
}

fn v1(client: SocketAddr, proxy: SocketAddr) -> Vec<u8> {
    let proto = if client.is_ipv4() { "TCP4" } else { "TCP6" };
    format!(
        "PROXY {proto} {} {} {} {}\r\n",
        client.ip(),
        proxy.ip(),
        client.port(),
        proxy.port()
    )
    .into_bytes()
}

fn v2(client: SocketAddr, proxy: SocketAddr) -> Vec<u8> {
    let mut block = Vec::new();
    let fam = match (client.ip(), proxy.ip()) {
        (IpAddr::V4(c), IpAddr::V4(p)) => {
            block.extend_from_slice(&c.octets());
            block.extend_from_slice(&p.octets());
            0x11
        }
        (IpAddr::V6(c), IpAddr::V6(p)) => {
            block.extend_from_slice(&c.octets());
            block.extend_from_slice(&p.octets());
            0x21
        }
        _ => panic!("one family per header: {client} {proxy}"),
    };
    block.extend_from_slice(&client.port().to_be_bytes());
    block.extend_from_slice(&proxy.port().to_be_bytes());
    let mut out = V2_SIGNATURE.to_vec();
    out.extend_from_slice(&[0x21, fam]);
    out.extend_from_slice(&(block.len() as u16).to_be_bytes());
    out.extend_from_slice(&block);
    out
}

fn check_complete(buf: &[u8], n: usize, header: ProxyHeader) {
    assert!(n > 0 && n <= buf.len(), "Complete({n}) of {}", buf.len());
    let v2 = starts_like(buf, V2_SIGNATURE);
    assert!(n <= if v2 { V2_MAX } else { V1_MAX }, "{n}-byte header");
    assert_eq!(parse_proxy(&buf[..n]), Ok(ProxyStatus::Complete(n, header)));
    let cuts: Vec<usize> = if n <= 256 {
        (0..n).collect()
    } else {
        (0..32).map(|i| i * n / 32).chain([n - 1]).collect()
    };
    for cut in cuts {
        assert_eq!(
            parse_proxy(&buf[..cut]),
            Ok(ProxyStatus::Partial),
            "prefix {cut} of {n}"
        );
    }
    if let ProxyHeader::Tcp { client, proxy } = header {
        assert_eq!(client.is_ipv4(), proxy.is_ipv4(), "mixed families");
        for encoded in [v1(client, proxy), self::v2(client, proxy)] {
            let again = parse_proxy(&encoded);
            assert_eq!(again, Ok(ProxyStatus::Complete(encoded.len(), header)));
        }
    }
}

fuzz_target!(|buf: &[u8]| {
    let looks_v2 = starts_like(buf, V2_SIGNATURE);
    let looks_v1 = starts_like(buf, b"PROXY ");
    match parse_proxy(buf) {
        Ok(ProxyStatus::Complete(n, header)) => check_complete(buf, n, header),
        Ok(ProxyStatus::Partial) => {
            assert!(looks_v1 || looks_v2, "Partial without a signature");
            assert!(
                buf.len() < if looks_v2 { V2_MAX } else { V1_MAX },
                "Partial at {}",
                buf.len()
            );
        }
        Ok(ProxyStatus::Absent) => assert!(!looks_v1 && !looks_v2, "a signature is Absent"),
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::BadProxyHeader);
            assert!(looks_v1 || looks_v2, "refused without a signature");
        }
    }
});
