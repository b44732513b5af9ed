//! What the server believes of a peer: which peers may send a PROXY header or set the
//! scheme with gunicorn's secure-scheme headers.

use std::net::IpAddr;

use super::conn::Refusal;
use crate::http::request::RequestHead;
use crate::net::AllowList;

/// Whether `allow` trusts `ip`; unix-socket peers (no IP) are always trusted, as gunicorn
/// does: only a local process can connect, and it is the proxy that was given the socket.
pub(crate) fn is_trusted(allow: &AllowList, ip: Option<IpAddr>) -> bool {
    ip.map_or(true, |ip| allow.contains(ip))
}

/// gunicorn's `secure_scheme_headers`: each header, and the value meaning https.
const SECURE_SCHEME_HEADERS: [(&str, &str); 3] = [
    ("x-forwarded-proto", "https"),
    ("x-forwarded-ssl", "on"),
    ("x-forwarded-protocol", "ssl"),
];

/// What the secure-scheme headers of a trusted peer said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ForwardedScheme {
    /// None of them was sent.
    Unset,
    /// They say `http` (any other value than the secure one).
    Http,
    /// They say `https`.
    Https,
    /// They disagree (gunicorn's `InvalidSchemeHeaders`): a request cannot be both.
    Conflict,
}

impl ForwardedScheme {
    /// The scheme to set, if any; a conflict is refused.
    pub(crate) fn scheme(self) -> Result<Option<&'static str>, Refusal> {
        match self {
            ForwardedScheme::Unset => Ok(None),
            ForwardedScheme::Http => Ok(Some("http")),
            ForwardedScheme::Https => Ok(Some("https")),
            ForwardedScheme::Conflict => Err(Refusal::new(
                400,
                "X-Forwarded-Proto, X-Forwarded-Ssl and X-Forwarded-Protocol disagree",
            )),
        }
    }
}

/// What the secure-scheme headers of a trusted peer say. Any other value than the secure
/// one means `http`, and headers that disagree are a [`ForwardedScheme::Conflict`].
///
/// Runs on every request from a trusted peer: it returns a byte (no `Result` to move
/// through memory) and compares a header's bytes only when its length matches.
pub(crate) fn forwarded_scheme(head: &RequestHead, buf: &[u8]) -> ForwardedScheme {
    let mut scheme = ForwardedScheme::Unset;
    for h in &head.headers {
        let name = h.name.get(buf);
        // Length first: most requests have none of these headers.
        let Some((_, secure)) = SECURE_SCHEME_HEADERS
            .iter()
            .find(|(n, _)| n.len() == name.len() && name.eq_ignore_ascii_case(n.as_bytes()))
        else {
            continue;
        };
        let this = if h.value.get(buf).eq_ignore_ascii_case(secure.as_bytes()) {
            ForwardedScheme::Https
        } else {
            ForwardedScheme::Http
        };
        if scheme != ForwardedScheme::Unset && scheme != this {
            return ForwardedScheme::Conflict;
        }
        scheme = this;
    }
    scheme
}
