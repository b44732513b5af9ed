//! What comes before the first request on a connection: a PROXY protocol header (with
//! `--proxy-protocol`) and the TLS handshake, both within the header timeout.

use std::io;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::conn::Refusal;
use super::io::{is_timeout, ConnIo, Transport};
use super::trust::is_trusted;
use crate::http::proxy::{self, ProxyHeader};
use crate::net::AllowList;

/// The answer to plain HTTP on a TLS port.
pub(crate) const PLAINTEXT_ANSWER: &[u8] = b"HTTP/1.1 400 Bad Request\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Length: 23\r\n\
Connection: close\r\n\
\r\n\
This port speaks HTTPS\n";

/// Why the preface did not complete.
pub(crate) enum PrefaceError {
    /// The peer went away or stayed silent: close.
    Gone,
    /// The peer sent something to refuse with an answer.
    Refused(Refusal),
}

/// Reads the PROXY header, if the connection starts with one, within `timeout`. Only
/// peers in `allow` may send one (403 for others, as gunicorn answers its
/// `ForbiddenProxyRequest`).
///
/// On a TLS connection (`raw`) the header comes before the handshake: it is read from
/// beneath TLS.
pub(crate) fn read_proxy_header<T: Transport>(
    io: &mut ConnIo<T>,
    allow: &AllowList,
    peer_ip: Option<IpAddr>,
    timeout: Option<Duration>,
    raw: bool,
) -> Result<Option<ProxyHeader>, PrefaceError> {
    let deadline = timeout.map(|d| Instant::now() + d);
    loop {
        let parsed = proxy::parse(io.buffered());
        // Judged once the bytes are surely a PROXY header: a partial "P" may yet be "POST".
        let is_header = matches!(parsed, Ok(proxy::ProxyStatus::Complete(..)) | Err(_));
        if is_header && !is_trusted(allow, peer_ip) {
            return Err(PrefaceError::Refused(Refusal::new(
                403,
                "PROXY header from a peer not in the proxy allow list (--proxy-allow-ips)",
            )));
        }
        match parsed.map_err(|e| PrefaceError::Refused(e.into()))? {
            proxy::ProxyStatus::Complete(n, h) => {
                io.consume(n);
                return Ok(Some(h));
            }
            proxy::ProxyStatus::Absent => return Ok(None),
            proxy::ProxyStatus::Partial => {}
        }
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let res = match left {
            Some(l) if l.is_zero() => Err(io::ErrorKind::TimedOut.into()),
            _ if raw => io.fill_raw(proxy::V2_MAX, left),
            _ => io.fill(proxy::V2_MAX, left),
        };
        match res {
            Ok(0) => return Err(PrefaceError::Gone),
            Ok(_) => {}
            Err(e) if is_timeout(&e) && io.has_buffered() => {
                return Err(PrefaceError::Refused(Refusal::timeout()))
            }
            Err(_) => return Err(PrefaceError::Gone),
        }
    }
}
