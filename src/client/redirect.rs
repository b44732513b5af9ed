//! Following redirects: the next request after a 3xx, by RFC 9110 §15.4 and what browsers
//! and requests do.
//!
//! We follow redirects ourselves rather than letting ureq do it, for two reasons: ureq drops
//! `Authorization` on every redirect or keeps it for the same host name whatever the port,
//! where the rule we want is the origin (scheme, host and port); and it refuses a 307/308
//! for a request with a body, which we can send again because we hold the body.

use ureq::http::{Method, Uri};

use super::error::{Error, ErrorKind};

/// One request of a chain of redirects.
#[derive(Debug, Clone)]
pub(crate) struct Hop<'b> {
    pub(crate) method: Method,
    pub(crate) url: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Option<&'b [u8]>,
}

/// Headers that describe a body, dropped with it.
const BODY_HEADERS: [&str; 3] = ["content-type", "content-length", "transfer-encoding"];
/// Credentials, never sent to another origin.
const CREDENTIALS: [&str; 3] = ["authorization", "proxy-authorization", "cookie"];

/// The request to make after `hop` was answered with `status` and `location`: `None` when
/// the answer is not a redirect to follow (not 301/302/303/307/308, or no `Location`).
pub(crate) fn next_hop<'b>(
    hop: &Hop<'b>,
    status: u16,
    location: Option<&str>,
) -> Result<Option<Hop<'b>>, Error> {
    if !matches!(status, 301 | 302 | 303 | 307 | 308) {
        return Ok(None);
    }
    let Some(location) = location else {
        return Ok(None);
    };
    let url = resolve(&hop.url, location)?;
    let method = match status {
        303 if hop.method != Method::HEAD => Method::GET,
        301 | 302 if hop.method == Method::POST => Method::GET,
        _ => hop.method.clone(),
    };
    let keep_body = matches!(status, 307 | 308);
    let same_origin = origin(&hop.url).is_some() && origin(&hop.url) == origin(&url);
    let headers = hop
        .headers
        .iter()
        .filter(|(name, _)| {
            let name = name.to_ascii_lowercase();
            (keep_body || !BODY_HEADERS.contains(&name.as_str()))
                && (same_origin || !CREDENTIALS.contains(&name.as_str()))
        })
        .cloned()
        .collect();
    Ok(Some(Hop {
        method,
        url,
        headers,
        body: if keep_body { hop.body } else { None },
    }))
}

/// Scheme, lower-case host and port (the scheme's default when absent).
fn origin(url: &str) -> Option<(String, String, u16)> {
    let uri: Uri = url.parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let authority = uri.authority()?;
    let default = if scheme == "https" { 443 } else { 80 };
    Some((
        scheme,
        authority.host().to_ascii_lowercase(),
        authority.port_u16().unwrap_or(default),
    ))
}

/// `location` made absolute against `base` (RFC 3986 §5.2, without dot-segment removal).
fn resolve(base: &str, location: &str) -> Result<String, Error> {
    let bad = || {
        Error::new(
            ErrorKind::Redirect,
            format!("{base}: unusable redirect Location {location:?}"),
        )
    };
    let location = location.split('#').next().unwrap_or_default().trim();
    if location.is_empty() {
        return Err(bad());
    }
    let base_uri: Uri = base.parse().map_err(|_| bad())?;
    let (scheme, authority) = match (base_uri.scheme_str(), base_uri.authority()) {
        (Some(s), Some(a)) => (s, a.as_str()),
        _ => return Err(bad()),
    };
    let url = if has_scheme(location) {
        location.to_owned()
    } else if let Some(rest) = location.strip_prefix("//") {
        format!("{scheme}://{rest}")
    } else if location.starts_with('/') {
        format!("{scheme}://{authority}{location}")
    } else if location.starts_with('?') {
        format!("{scheme}://{authority}{}{location}", base_uri.path())
    } else {
        let path = base_uri.path();
        let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
        let dir = if dir.is_empty() { "/" } else { dir };
        format!("{scheme}://{authority}{dir}{location}")
    };
    let uri: Uri = url.parse().map_err(|_| bad())?;
    match uri.scheme_str() {
        Some("http") | Some("https") if uri.authority().is_some() => Ok(url),
        _ => Err(bad()),
    }
}

/// Whether `s` starts with `scheme:` (RFC 3986 §3.1).
fn has_scheme(s: &str) -> bool {
    match s.find(':') {
        Some(i) if i > 0 => {
            let scheme = &s[..i];
            scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hop(method: Method, url: &str) -> Hop<'static> {
        Hop {
            method,
            url: url.into(),
            headers: vec![
                ("Authorization".into(), "Bearer x".into()),
                ("Content-Type".into(), "text/plain".into()),
                ("X-Other".into(), "y".into()),
            ],
            body: Some(b"data"),
        }
    }

    fn names<'a>(h: &'a Hop<'_>) -> Vec<&'a str> {
        h.headers.iter().map(|(n, _)| n.as_str()).collect()
    }

    #[test]
    fn locations_resolve_against_the_request_url() {
        let r = |loc| resolve("http://h:8/a/b?q=1", loc).unwrap();
        assert_eq!(r("https://other/x"), "https://other/x");
        assert_eq!(r("//other/x"), "http://other/x");
        assert_eq!(r("/root"), "http://h:8/root");
        assert_eq!(r("c"), "http://h:8/a/c");
        assert_eq!(r("?p=2"), "http://h:8/a/b?p=2");
        assert_eq!(r("/x#frag"), "http://h:8/x");
        assert_eq!(resolve("http://h", "c").unwrap(), "http://h/c");
        let kind = |loc| resolve("http://h/", loc).unwrap_err().kind();
        assert_eq!(kind(""), ErrorKind::Redirect);
        assert_eq!(kind("ftp://h/x"), ErrorKind::Redirect);
        assert_eq!(kind("javascript:alert(1)"), ErrorKind::Redirect);
    }

    #[test]
    fn methods_and_bodies_by_status() {
        let post = hop(Method::POST, "http://h/a");
        for (status, method, body) in [
            (301, Method::GET, false),
            (302, Method::GET, false),
            (303, Method::GET, false),
            (307, Method::POST, true),
            (308, Method::POST, true),
        ] {
            let next = next_hop(&post, status, Some("/b")).unwrap().unwrap();
            assert_eq!(next.method, method, "{status}");
            assert_eq!(next.body.is_some(), body, "{status}");
            assert_eq!(names(&next).contains(&"Content-Type"), body, "{status}");
        }
        let head = hop(Method::HEAD, "http://h/a");
        assert_eq!(
            next_hop(&head, 303, Some("/b")).unwrap().unwrap().method,
            Method::HEAD
        );
        let put = hop(Method::PUT, "http://h/a");
        assert_eq!(
            next_hop(&put, 302, Some("/b")).unwrap().unwrap().method,
            Method::PUT
        );
    }

    #[test]
    fn not_redirects() {
        let get = hop(Method::GET, "http://h/a");
        assert!(next_hop(&get, 200, Some("/b")).unwrap().is_none());
        assert!(next_hop(&get, 304, Some("/b")).unwrap().is_none());
        assert!(next_hop(&get, 302, None).unwrap().is_none());
    }

    #[test]
    fn credentials_stay_within_the_origin() {
        let get = hop(Method::GET, "http://h/a");
        let kept = |loc| {
            names(&next_hop(&get, 302, Some(loc)).unwrap().unwrap()).contains(&"Authorization")
        };
        assert!(kept("/b"));
        assert!(kept("http://H:80/b"));
        assert!(!kept("http://h:81/b"));
        assert!(!kept("https://h/b"));
        assert!(!kept("http://other/b"));
        let next = next_hop(&get, 302, Some("http://other/b"))
            .unwrap()
            .unwrap();
        assert!(names(&next).contains(&"X-Other"));
    }
}
