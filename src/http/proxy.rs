//! The PROXY protocol (HAProxy's, also spoken by AWS NLB), versions 1 and 2: the header a
//! TCP proxy sends before the client's bytes to say who the client is.
//!
//! ```text
//!   bytes ──> parse ──> Absent                (no PROXY header: an ordinary request)
//!               │ ──> Partial                 (a prefix of one: read more)
//!               │ ──> Complete(n, header)     (consume n bytes, then HTTP)
//!               └──> Err(BadProxyHeader)      (refuse the connection)
//! ```
//!
//! Quotes are from the specification, `proxy-protocol.txt` in HAProxy's sources.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::{Error, ErrorKind};

/// The v2 signature: "\x0D\x0A\x0D\x0A\x00\x0D\x0A\x51\x55\x49\x54\x0A".
pub const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// The v1 prefix.
const V1_PREFIX: &[u8; 6] = b"PROXY ";
/// "So a 108-byte buffer is always enough to store all the line and a trailing zero": the
/// longest v1 line, CRLF included.
pub const V1_MAX: usize = 107;
/// The longest v2 header: 16 fixed bytes and a 16-bit length.
pub const V2_MAX: usize = 16 + u16::MAX as usize;

/// What a PROXY header says about the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyHeader {
    /// A proxied TCP connection.
    Tcp {
        /// The client, as the proxy saw it (the connection's source).
        client: SocketAddr,
        /// The proxy's address the client connected to (the connection's destination).
        proxy: SocketAddr,
    },
    /// No addresses to use: v1 `UNKNOWN`, v2 `LOCAL` (the proxy's own health check), or a
    /// v2 family other than IPv4/IPv6. The connection's real endpoints stand.
    Local,
}

/// The outcome of [`parse`] on the first bytes of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyStatus {
    /// A complete header of this many bytes; the request starts after it.
    Complete(usize, ProxyHeader),
    /// The bytes so far are the start of a PROXY header (or too few to tell): read more.
    Partial,
    /// No PROXY header: the connection starts with the request itself.
    Absent,
}

fn bad(detail: &'static str) -> Error {
    Error::new(ErrorKind::BadProxyHeader, detail)
}

/// Parses a PROXY header (v1 or v2) at the start of `buf`.
pub fn parse(buf: &[u8]) -> Result<ProxyStatus, Error> {
    let starts = |sig: &[u8]| {
        let n = buf.len().min(sig.len());
        buf[..n] == sig[..n]
    };
    if starts(V2_SIGNATURE) {
        if buf.len() < 16 {
            return Ok(ProxyStatus::Partial);
        }
        return parse_v2(buf);
    }
    if starts(V1_PREFIX) {
        if buf.len() < V1_PREFIX.len() {
            return Ok(ProxyStatus::Partial);
        }
        return parse_v1(buf);
    }
    Ok(ProxyStatus::Absent)
}

fn parse_v1(buf: &[u8]) -> Result<ProxyStatus, Error> {
    // "If the CRLF sequence is not found in the first 107 characters, the receiver should
    // declare the line invalid."
    let window = &buf[..buf.len().min(V1_MAX)];
    let Some(end) = window.windows(2).position(|w| w == b"\r\n") else {
        if buf.len() >= V1_MAX {
            return Err(bad("PROXY v1 line longer than 107 bytes"));
        }
        // A lone LF is never valid inside the line: no need to wait for more.
        if window.contains(&b'\n') {
            return Err(bad("PROXY v1 line ends without CRLF"));
        }
        return Ok(ProxyStatus::Partial);
    };
    // The same lone LF once the CRLF has come: refused too, so that the answer does not
    // depend on how the bytes were split across reads (`UNKNOWN` would otherwise take it).
    if window[..end].contains(&b'\n') {
        return Err(bad("PROXY v1 line ends without CRLF"));
    }
    let line = &buf[V1_PREFIX.len()..end];
    let n = end + 2;
    // "exactly one space" separates the fields: split on single spaces, so that a doubled
    // space shows up as an empty field and is refused.
    let mut fields = line.split(|&c| c == b' ');
    let proto = fields.next().unwrap_or_default();
    if proto == b"UNKNOWN" {
        // "the receiver must ignore anything presented before the CRLF is found."
        return Ok(ProxyStatus::Complete(n, ProxyHeader::Local));
    }
    let v6 = match proto {
        b"TCP4" => false,
        b"TCP6" => true,
        _ => return Err(bad("PROXY v1 protocol is not TCP4, TCP6 or UNKNOWN")),
    };
    let (Some(src), Some(dst), Some(sport), Some(dport), None) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return Err(bad("PROXY v1 line does not have 6 fields"));
    };
    let src = v1_addr(src, v6)?;
    let dst = v1_addr(dst, v6)?;
    let sport = v1_port(sport)?;
    let dport = v1_port(dport)?;
    Ok(ProxyStatus::Complete(
        n,
        ProxyHeader::Tcp {
            client: SocketAddr::new(src, sport),
            proxy: SocketAddr::new(dst, dport),
        },
    ))
}

/// "The advertised protocol family dictates what format to use." Rust's parsers refuse
/// leading zeroes in IPv4 ("Heading zeroes are not permitted in front of numbers").
fn v1_addr(field: &[u8], v6: bool) -> Result<IpAddr, Error> {
    let s = std::str::from_utf8(field).map_err(|_| bad("PROXY v1 address is not ASCII"))?;
    if v6 {
        s.parse::<Ipv6Addr>()
            .map(IpAddr::V6)
            .map_err(|_| bad("PROXY v1 TCP6 address is not an IPv6 address"))
    } else {
        s.parse::<Ipv4Addr>()
            .map(IpAddr::V4)
            .map_err(|_| bad("PROXY v1 TCP4 address is not an IPv4 address"))
    }
}

/// "a decimal integer in the range [0..65535] inclusive. Heading zeroes are not permitted
/// in front of numbers in order to avoid any possible confusion with octal numbers."
fn v1_port(field: &[u8]) -> Result<u16, Error> {
    let digits = !field.is_empty() && field.len() <= 5 && field.iter().all(u8::is_ascii_digit);
    if !digits || (field.len() > 1 && field[0] == b'0') {
        return Err(bad("PROXY v1 port is not a number in 0..65535"));
    }
    let n = field
        .iter()
        .fold(0u32, |n, &d| n * 10 + u32::from(d - b'0'));
    u16::try_from(n).map_err(|_| bad("PROXY v1 port is not a number in 0..65535"))
}

fn parse_v2(buf: &[u8]) -> Result<ProxyStatus, Error> {
    let ver_cmd = buf[12];
    let fam = buf[13];
    let len = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    // "The highest four bits contains the version. [...] Receivers must drop connections
    // presenting unexpected values here."
    if ver_cmd >> 4 != 2 {
        return Err(bad("PROXY v2 header with a version other than 2"));
    }
    let local = match ver_cmd & 0x0f {
        0x0 => true,
        0x1 => false,
        _ => return Err(bad("PROXY v2 command is neither LOCAL nor PROXY")),
    };
    let n = 16 + len;
    if buf.len() < n {
        return Ok(ProxyStatus::Partial);
    }
    // "the receiver must accept this connection as valid and must use the real connection
    // endpoints and discard the protocol block including the family which is ignored."
    if local {
        return Ok(ProxyStatus::Complete(n, ProxyHeader::Local));
    }
    let block = &buf[16..n];
    let (family, transport) = (fam >> 4, fam & 0x0f);
    let header = match family {
        // AF_INET: "4 + 4 + 2 + 2"; AF_INET6: "16 + 16 + 2 + 2". "the receiver must
        // verify that len is at least the address block size"; TLVs after it are skipped.
        0x1 | 0x2 => {
            // Only a stream can stand behind our stream connection.
            if transport != 0x1 {
                return Err(bad("PROXY v2 transport is not STREAM"));
            }
            let alen = if family == 0x1 { 4 } else { 16 };
            if block.len() < 2 * alen + 4 {
                return Err(bad("PROXY v2 address block shorter than its family needs"));
            }
            let ip = |b: &[u8]| -> IpAddr {
                if alen == 4 {
                    IpAddr::from(<[u8; 4]>::try_from(b).expect("4 bytes"))
                } else {
                    IpAddr::from(<[u8; 16]>::try_from(b).expect("16 bytes"))
                }
            };
            let port = |b: &[u8]| u16::from_be_bytes([b[0], b[1]]);
            ProxyHeader::Tcp {
                client: SocketAddr::new(ip(&block[..alen]), port(&block[2 * alen..])),
                proxy: SocketAddr::new(ip(&block[alen..2 * alen]), port(&block[2 * alen + 2..])),
            }
        }
        // AF_UNSPEC: "the receiver should ignore address information"; AF_UNIX carries
        // paths, not addresses a client can be identified by: keep the real endpoints.
        0x0 | 0x3 => ProxyHeader::Local,
        _ => return Err(bad("PROXY v2 address family is unknown")),
    };
    Ok(ProxyStatus::Complete(n, header))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(client: &str, proxy: &str) -> ProxyHeader {
        ProxyHeader::Tcp {
            client: client.parse().unwrap(),
            proxy: proxy.parse().unwrap(),
        }
    }

    fn v2(ver_cmd: u8, fam: u8, block: &[u8]) -> Vec<u8> {
        let mut b = V2_SIGNATURE.to_vec();
        b.push(ver_cmd);
        b.push(fam);
        b.extend_from_slice(&(block.len() as u16).to_be_bytes());
        b.extend_from_slice(block);
        b
    }

    /// The example once in the doc comment of this crate-private function.
    #[test]
    fn doc_example() {
        let buf = b"PROXY TCP4 192.0.2.1 192.0.2.11 56324 443\r\nGET / HTTP/1.1\r\n";
        let Ok(ProxyStatus::Complete(n, ProxyHeader::Tcp { client, proxy })) = parse(buf) else {
            panic!("not parsed")
        };
        assert_eq!(client.to_string(), "192.0.2.1:56324");
        assert_eq!(proxy.to_string(), "192.0.2.11:443");
        assert!(buf[n..].starts_with(b"GET"));
        assert_eq!(parse(b"PROXY TCP4 192.0"), Ok(ProxyStatus::Partial));
        assert_eq!(parse(b"GET / HTTP/1.1\r\n"), Ok(ProxyStatus::Absent));
        assert!(parse(b"PROXY TCP4 not-an-ip 192.0.2.11 1 2\r\n").is_err());
    }

    #[test]
    fn v1_valid() {
        let cases: &[(&[u8], ProxyHeader)] = &[
            (
                b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n",
                tcp("192.168.0.1:56324", "192.168.0.11:443"),
            ),
            (
                b"PROXY TCP6 2001:db8::1 ::1 0 65535\r\n",
                tcp("[2001:db8::1]:0", "[::1]:65535"),
            ),
            (b"PROXY UNKNOWN\r\n", ProxyHeader::Local),
            (
                b"PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n",
                ProxyHeader::Local,
            ),
        ];
        for (raw, want) in cases {
            let mut buf = raw.to_vec();
            buf.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
            assert_eq!(
                parse(&buf),
                Ok(ProxyStatus::Complete(raw.len(), *want)),
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[test]
    fn v1_invalid() {
        let cases: &[&[u8]] = &[
            // The corpus's invalid/pp_01..03.
            b"PROXY TCP4 192.168.0.1 192.16...\r\n",
            b"PROXY TCP4 192.168.0.1 192.168.0.11 65iii 100000\r\n",
            b"PROXY TCP4 not-an-ip 192.168.0.11 56324 443\r\n",
            b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 65536\r\n",
            b"PROXY TCP4 192.168.0.1 192.168.0.11 056324 443\r\n",
            b"PROXY TCP4 192.168.0.1 192.168.0.11 -1 443\r\n",
            b"PROXY TCP4 192.168.0.1 192.168.0.11 +1 443\r\n",
            b"PROXY TCP4 192.168.0.1 192.168.0.11  443\r\n",
            b"PROXY TCP4 192.168.0.1  192.168.0.11 1 443\r\n",
            b"PROXY TCP4 192.168.0.1 192.168.0.11 1 443 extra\r\n",
            b"PROXY TCP4 192.168.0.1 192.168.0.11 1\r\n",
            b"PROXY TCP4 192.168.000.1 192.168.0.11 1 443\r\n",
            b"PROXY TCP4 ::1 ::1 1 443\r\n",
            b"PROXY TCP6 192.168.0.1 192.168.0.11 1 443\r\n",
            b"PROXY TCP6 [::1] ::1 1 443\r\n",
            b"PROXY UDP4 192.168.0.1 192.168.0.11 1 443\r\n",
            b"PROXY tcp4 192.168.0.1 192.168.0.11 1 443\r\n",
            b"PROXY \r\n",
            b"PROXY TCP4 192.168.0.1 192.168.0.11 1 443\n",
            b"PROXY TCP4 192.168.0.1 192.168.0.11 1 443 \r\n",
        ];
        for raw in cases {
            let r = parse(raw);
            assert!(
                matches!(&r, Err(e) if e.kind() == ErrorKind::BadProxyHeader && e.status() == 400),
                "{}: {r:?}",
                String::from_utf8_lossy(raw)
            );
        }
        // No CRLF within 107 bytes.
        let mut long = b"PROXY UNKNOWN ".to_vec();
        long.resize(V1_MAX, b'x');
        assert!(parse(&long).is_err());
        long.truncate(V1_MAX - 1);
        assert_eq!(parse(&long), Ok(ProxyStatus::Partial));
        // The longest valid line is accepted.
        let mut max = b"PROXY UNKNOWN ".to_vec();
        max.resize(V1_MAX - 2, b'x');
        max.extend_from_slice(b"\r\n");
        assert_eq!(
            parse(&max),
            Ok(ProxyStatus::Complete(V1_MAX, ProxyHeader::Local))
        );
    }

    #[test]
    fn v1_partial_at_every_cut() {
        let raw = b"PROXY TCP6 2001:db8::1 2001:db8::2 1234 443\r\n";
        for cut in 0..raw.len() {
            assert_eq!(parse(&raw[..cut]), Ok(ProxyStatus::Partial), "cut {cut}");
        }
        assert!(matches!(parse(raw), Ok(ProxyStatus::Complete(n, _)) if n == raw.len()));
    }

    /// Found by the `proxy` fuzz target: an `UNKNOWN` line holding a lone LF was refused
    /// while its CRLF had not arrived, and accepted once it had.
    #[test]
    fn v1_lone_lf_is_refused_however_split() {
        let raw = b"PROXY UNKNOWN \xd2ff 0  \r\x1c\0\n2\r\n";
        for cut in 0..raw.len() {
            let r = parse(&raw[..=cut]);
            let lf = raw[..=cut].contains(&b'\n');
            assert_eq!(r.is_err(), lf, "cut {cut}: {r:?}");
        }
    }

    #[test]
    fn absent() {
        for raw in [
            &b"GET / HTTP/1.1\r\n\r\n"[..],
            b"PROXZ",
            b"PROX ",
            b"\r\nGET / HTTP/1.1\r\n\r\n",
            b"\r\n\r\nGET",
            b"proxy TCP4",
        ] {
            assert_eq!(parse(raw), Ok(ProxyStatus::Absent), "{raw:?}");
        }
    }

    #[test]
    fn v2_corpus() {
        // valid/pp_04: PROXY, INET STREAM, 192.168.1.10:12345 -> 192.168.1.1:443.
        let mut buf = v2(
            0x21,
            0x11,
            &[192, 168, 1, 10, 192, 168, 1, 1, 0x30, 0x39, 1, 0xbb],
        );
        let n = buf.len();
        buf.extend_from_slice(b"GET /proxy/v2/ipv4 HTTP/1.1\r\n");
        assert_eq!(
            parse(&buf),
            Ok(ProxyStatus::Complete(
                n,
                tcp("192.168.1.10:12345", "192.168.1.1:443")
            ))
        );
        // valid/pp_05: INET6.
        let mut block = vec![0x20, 0x01, 0x0d, 0xb8];
        block.extend_from_slice(&[0; 11]);
        block.push(1);
        block.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        block.extend_from_slice(&[0; 11]);
        block.push(2);
        block.extend_from_slice(&[0xd4, 0x31, 0x00, 0x50]);
        let buf = v2(0x21, 0x21, &block);
        assert_eq!(
            parse(&buf),
            Ok(ProxyStatus::Complete(
                buf.len(),
                tcp("[2001:db8::1]:54321", "[2001:db8::2]:80")
            ))
        );
    }

    #[test]
    fn v2_local_unspec_unix_and_tlvs() {
        // LOCAL: the block is discarded whatever the family.
        let buf = v2(0x20, 0x11, &[1, 2, 3]);
        assert_eq!(
            parse(&buf),
            Ok(ProxyStatus::Complete(buf.len(), ProxyHeader::Local))
        );
        let buf = v2(0x20, 0x00, &[]);
        assert_eq!(
            parse(&buf),
            Ok(ProxyStatus::Complete(16, ProxyHeader::Local))
        );
        // PROXY with AF_UNSPEC or AF_UNIX: keep the real endpoints.
        let buf = v2(0x21, 0x00, &[]);
        assert_eq!(
            parse(&buf),
            Ok(ProxyStatus::Complete(16, ProxyHeader::Local))
        );
        let buf = v2(0x21, 0x31, &[0; 216]);
        assert_eq!(
            parse(&buf),
            Ok(ProxyStatus::Complete(232, ProxyHeader::Local))
        );
        // TLVs after the addresses are skipped.
        let mut block = vec![10, 0, 0, 1, 10, 0, 0, 2, 0, 80, 0, 81];
        block.extend_from_slice(&[0x04, 0x00, 0x03, b'a', b'b', b'c']);
        let buf = v2(0x21, 0x11, &block);
        assert_eq!(
            parse(&buf),
            Ok(ProxyStatus::Complete(
                buf.len(),
                tcp("10.0.0.1:80", "10.0.0.2:81")
            ))
        );
    }

    #[test]
    fn v2_invalid() {
        let ipv4 = [10, 0, 0, 1, 10, 0, 0, 2, 0, 80, 0, 81];
        for buf in [
            v2(0x11, 0x11, &ipv4),       // version 1 in a v2 header
            v2(0x31, 0x11, &ipv4),       // version 3
            v2(0x22, 0x11, &ipv4),       // command 2
            v2(0x21, 0x12, &ipv4),       // DGRAM
            v2(0x21, 0x10, &ipv4),       // INET, transport UNSPEC
            v2(0x21, 0x41, &ipv4),       // family 4
            v2(0x21, 0x11, &ipv4[..11]), // short IPv4 block
            v2(0x21, 0x21, &[0; 35]),    // short IPv6 block
        ] {
            let r = parse(&buf);
            assert!(
                matches!(&r, Err(e) if e.kind() == ErrorKind::BadProxyHeader),
                "{buf:?}: {r:?}"
            );
        }
    }

    #[test]
    fn v2_partial_at_every_cut() {
        let buf = v2(0x21, 0x11, &[10, 0, 0, 1, 10, 0, 0, 2, 0, 80, 0, 81]);
        for cut in 0..buf.len() {
            assert_eq!(parse(&buf[..cut]), Ok(ProxyStatus::Partial), "cut {cut}");
        }
        // A declared length beyond what arrived: wait for it.
        let mut long = v2(0x21, 0x11, &[0; 300]);
        long.truncate(200);
        assert_eq!(parse(&long), Ok(ProxyStatus::Partial));
    }
}
