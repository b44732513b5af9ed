//! Allowlists of peer addresses: gunicorn's `--forwarded-allow-ips` and `--proxy-allow-ips`.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use crate::config::ip::{IpEntry, IpNet};

/// A set of trusted peers: IP addresses, CIDR networks (`10.0.0.0/8`, `fd00::/8`), or `*`
/// for every peer.
///
/// An IPv4-mapped IPv6 peer (`::ffff:10.0.0.1`, what a dual-stack listener reports for an
/// IPv4 client) matches the IPv4 entries.
///
/// # Examples
///
/// ```
/// use greenlight::net::AllowList;
///
/// let trusted: AllowList = "127.0.0.1, 10.0.0.0/8, fd00::/8".parse().unwrap();
/// assert!(trusted.contains("10.1.2.3".parse().unwrap()));
/// assert!(trusted.contains("::ffff:127.0.0.1".parse().unwrap()));
/// assert!(!trusted.contains("192.168.0.1".parse().unwrap()));
/// assert!(AllowList::any().contains("203.0.113.9".parse().unwrap()));
/// assert!("10.0.0.0/33".parse::<AllowList>().is_err());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    any: bool,
    nets: Vec<IpNet>,
}

/// An allowlist entry that is not an IP address, a CIDR network or `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowListError {
    entry: String,
}

impl fmt::Display for AllowListError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "'{}' is not an IP address, a CIDR network or '*'",
            self.entry
        )
    }
}

impl std::error::Error for AllowListError {}

impl AllowList {
    /// Trusts nobody.
    pub fn none() -> Self {
        AllowList::default()
    }

    /// Trusts every peer (`*`).
    pub fn any() -> Self {
        AllowList {
            any: true,
            nets: Vec::new(),
        }
    }

    /// Parses entries such as the config's `forwarded_allow_ips` (each an IP address, a
    /// CIDR network or `*`).
    ///
    /// ```
    /// use greenlight::net::AllowList;
    /// let l = AllowList::from_entries(["127.0.0.1", "::1"]).unwrap();
    /// assert!(l.contains("::1".parse().unwrap()));
    /// ```
    pub fn from_entries<I, S>(entries: I) -> Result<Self, AllowListError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut list = AllowList::none();
        for e in entries {
            let e = e.as_ref().trim();
            if e.is_empty() {
                continue;
            }
            match IpEntry::parse(e) {
                Some(IpEntry::Any) => list.any = true,
                Some(IpEntry::Net(net)) => list.nets.push(net),
                None => {
                    return Err(AllowListError {
                        entry: e.to_owned(),
                    })
                }
            }
        }
        Ok(list)
    }

    /// Whether `ip` is trusted.
    pub fn contains(&self, ip: IpAddr) -> bool {
        if self.any {
            return true;
        }
        let ip = canonical(ip);
        self.nets.iter().any(|n| n.contains(ip))
    }

    /// Whether the list trusts nobody.
    pub fn is_empty(&self) -> bool {
        !self.any && self.nets.is_empty()
    }
}

impl FromStr for AllowList {
    type Err = AllowListError;

    /// Parses a comma-separated list, as `--forwarded-allow-ips` takes it.
    fn from_str(s: &str) -> Result<Self, AllowListError> {
        AllowList::from_entries(s.split(','))
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it carries.
pub(crate) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn entries() {
        let l: AllowList = "127.0.0.1,::1".parse().unwrap();
        assert!(l.contains(ip("127.0.0.1")));
        assert!(l.contains(ip("::1")));
        assert!(l.contains(ip("::ffff:127.0.0.1")));
        assert!(!l.contains(ip("127.0.0.2")));
        assert!(!l.contains(ip("::2")));
    }

    #[test]
    fn cidrs() {
        let l: AllowList = "10.0.0.0/8, 192.168.1.7/24, fd00::/8, 0.0.0.0/0"
            .parse()
            .unwrap();
        assert!(l.contains(ip("10.255.0.1")));
        assert!(l.contains(ip("192.168.1.200")));
        assert!(l.contains(ip("fdab::1")));
        assert!(!l.contains(ip("fe80::1")));
        // 0.0.0.0/0 is every IPv4 peer, but no IPv6 one.
        assert!(l.contains(ip("8.8.8.8")));
        assert!(!l.contains(ip("2001:db8::1")));
        let l: AllowList = "10.1.0.0/16".parse().unwrap();
        assert!(l.contains(ip("::ffff:10.1.2.3")));
        assert!(!l.contains(ip("::ffff:10.2.2.3")));
        let l: AllowList = "::ffff:10.0.0.0/104".parse().unwrap();
        assert!(l.contains(ip("10.9.9.9")));
        assert!(!l.contains(ip("11.0.0.1")));
        let l: AllowList = "::/0".parse().unwrap();
        assert!(l.contains(ip("2001:db8::1")));
    }

    #[test]
    fn star_and_empty() {
        assert!(AllowList::from_str("*").unwrap().contains(ip("1.2.3.4")));
        assert!(AllowList::from_str("10.0.0.1,*")
            .unwrap()
            .contains(ip("::5")));
        let none = AllowList::from_str("").unwrap();
        assert!(none.is_empty());
        assert!(!none.contains(ip("127.0.0.1")));
        assert_eq!(none, AllowList::none());
    }

    #[test]
    fn invalid() {
        for bad in [
            "10.0.0.256",
            "10.0.0.0/33",
            "::1/129",
            "10.0.0.0/",
            "10.0.0.0/-1",
            "10.0.0.0/+8",
            "example.com",
            "**",
            "1.2.3.4,nope",
        ] {
            assert!(AllowList::from_str(bad).is_err(), "{bad}");
        }
        assert_eq!(
            AllowList::from_str("1.2.3.4,nope").unwrap_err().to_string(),
            "'nope' is not an IP address, a CIDR network or '*'"
        );
    }
}
