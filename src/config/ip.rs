//! The entries of gunicorn's IP allowlists (`--forwarded-allow-ips`, `--proxy-allow-ips`):
//! an IP address, a CIDR network, or `*`.
//!
//! The one parser of such entries: the flag parser validates with it, and
//! `net::AllowList` builds its matcher from what it returns.

use std::net::IpAddr;

/// One allowlist entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IpEntry {
    /// `*`: every peer.
    Any,
    /// An address or a network.
    Net(IpNet),
}

impl IpEntry {
    /// Parses one entry, already trimmed; `None` if it is not an IP address, a CIDR
    /// network or `*`.
    pub(crate) fn parse(e: &str) -> Option<IpEntry> {
        if e == "*" {
            Some(IpEntry::Any)
        } else {
            IpNet::parse(e).map(IpEntry::Net)
        }
    }
}

/// An address and a prefix length (32 or 128 for a single address), stored masked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IpNet {
    /// An IPv4 network (IPv4-mapped IPv6 entries are stored so too).
    V4(u32, u8),
    /// An IPv6 network.
    V6(u128, u8),
}

impl IpNet {
    /// Whether `ip` is in this network. An IPv4-mapped IPv6 `ip` matches IPv6 entries
    /// only: the caller canonicalises peers first when it wants them to match as IPv4.
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        match (*self, ip) {
            (IpNet::V4(net, len), IpAddr::V4(a)) => masked32(u32::from(a), len) == net,
            (IpNet::V6(net, len), IpAddr::V6(a)) => masked128(u128::from(a), len) == net,
            _ => false,
        }
    }

    fn parse(e: &str) -> Option<IpNet> {
        let (addr, prefix) = match e.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (e, None),
        };
        let prefix = match prefix {
            None => None,
            // `u8::from_str` accepts a leading `+`; a prefix is digits only.
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                Some(p.parse().ok()?)
            }
            Some(_) => return None,
        };
        match addr.parse::<IpAddr>().ok()? {
            IpAddr::V4(a) => {
                let len = prefix.unwrap_or(32);
                (len <= 32).then(|| IpNet::V4(masked32(u32::from(a), len), len))
            }
            IpAddr::V6(a) => {
                let len = prefix.unwrap_or(128);
                if len > 128 {
                    return None;
                }
                // `::ffff:10.0.0.0/104` means the IPv4 network `10.0.0.0/8`: peers are
                // compared in their canonical (IPv4) form.
                if let (Some(v4), true) = (a.to_ipv4_mapped(), len >= 96) {
                    let len = len - 96;
                    return Some(IpNet::V4(masked32(u32::from(v4), len), len));
                }
                Some(IpNet::V6(masked128(u128::from(a), len), len))
            }
        }
    }
}

fn masked32(a: u32, len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        a & (u32::MAX << (32 - u32::from(len)))
    }
}

fn masked128(a: u128, len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        a & (u128::MAX << (128 - u32::from(len)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries() {
        assert_eq!(IpEntry::parse("*"), Some(IpEntry::Any));
        assert_eq!(
            IpEntry::parse("10.1.2.3/8"),
            Some(IpEntry::Net(IpNet::V4(10 << 24, 8)))
        );
        assert_eq!(
            IpEntry::parse("::ffff:10.0.0.0/104"),
            Some(IpEntry::Net(IpNet::V4(10 << 24, 8)))
        );
        assert_eq!(IpEntry::parse("::1"), Some(IpEntry::Net(IpNet::V6(1, 128))));
        for bad in [
            "",
            "**",
            " 10.0.0.1",
            "10.0.0.0/+8",
            "10.0.0.0/33",
            "::/129",
        ] {
            assert_eq!(IpEntry::parse(bad), None, "{bad:?}");
        }
    }
}
