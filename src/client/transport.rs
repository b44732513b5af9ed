//! ureq's transport and resolver, on green sockets: the glue that makes ureq's pool,
//! redirects, timeouts and rustls wait cooperatively.
//!
//! ureq drives a connection through a [`Transport`]: "send these buffered bytes" and "wait
//! for input". Ours does both on a [`TcpStream`](crate::net::TcpStream), whose waits park
//! the green thread. ureq's rustls connector is chained after ours, so TLS runs on top of
//! this transport and never opens a socket of its own. Names are resolved by
//! [`lookup_host`](crate::net::lookup_host), on the thread pool.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, LazyBuffers, NextTimeout, Transport,
};

use super::error::{step_error, ErrorKind};
use crate::net::{lookup_host, lookup_host_timeout, TcpStream};

/// Opens green TCP connections for ureq.
#[derive(Debug, Default)]
pub(crate) struct GreenConnector;

impl Connector<()> for GreenConnector {
    type Out = GreenTransport;

    fn connect(
        &self,
        details: &ConnectionDetails,
        _chained: Option<()>,
    ) -> Result<Option<GreenTransport>, ureq::Error> {
        let deadline = std_timeout(details.timeout).map(|t| Instant::now() + t);
        let addrs: &[SocketAddr] = &details.addrs;
        let stream = TcpStream::connect_addrs(addrs, deadline).map_err(|e| {
            if e.kind() == io::ErrorKind::TimedOut {
                return ureq::Error::Timeout(details.timeout.reason);
            }
            let what = format!("connecting to {}", DisplayAddrs(addrs));
            ureq::Error::Io(step_error(ErrorKind::Connect, what, e))
        })?;
        if details.config.no_delay() {
            stream.set_nodelay(true)?;
        }
        let config = details.config;
        let buffers = LazyBuffers::new(config.input_buffer_size(), config.output_buffer_size());
        Ok(Some(GreenTransport {
            stream,
            buffers,
            read_timeout: None,
            write_timeout: None,
        }))
    }
}

struct DisplayAddrs<'a>(&'a [SocketAddr]);

impl fmt::Display for DisplayAddrs<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{a}")?;
        }
        Ok(())
    }
}

/// ureq's next deadline as a plain duration (`None`: no deadline).
fn std_timeout(t: NextTimeout) -> Option<Duration> {
    t.not_zero().map(|d| *d)
}

/// A green TCP connection with ureq's buffers.
pub(crate) struct GreenTransport {
    stream: TcpStream,
    buffers: LazyBuffers,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
}

impl fmt::Debug for GreenTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GreenTransport")
            .field("peer", &self.stream.peer_addr().ok())
            .finish()
    }
}

/// The error for a failed read or write: ureq's timeout when the deadline passed.
fn io_to_ureq(e: io::Error, timeout: NextTimeout) -> ureq::Error {
    match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => ureq::Error::Timeout(timeout.reason),
        _ => ureq::Error::Io(e),
    }
}

impl Transport for GreenTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        let t = std_timeout(timeout);
        if t != self.write_timeout {
            self.stream.set_write_timeout(t)?;
            self.write_timeout = t;
        }
        let output = &self.buffers.output()[..amount];
        self.stream
            .write_all(output)
            .map_err(|e| io_to_ureq(e, timeout))
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        let t = std_timeout(timeout);
        if t != self.read_timeout {
            self.stream.set_read_timeout(t)?;
            self.read_timeout = t;
        }
        let input = self.buffers.input_append_buf();
        let n = self
            .stream
            .read(input)
            .map_err(|e| io_to_ureq(e, timeout))?;
        self.buffers.input_appended(n);
        Ok(n > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.is_idle_open()
    }
}

/// Resolves the URL's host with [`lookup_host`], off the worker threads.
#[derive(Debug, Default)]
pub(crate) struct GreenResolver;

impl Resolver for GreenResolver {
    fn resolve(
        &self,
        uri: &Uri,
        _config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let (host, port) = host_and_port(uri)?;
        let found = match std_timeout(timeout) {
            Some(t) => lookup_host_timeout(host, port, t),
            None => lookup_host(host, port),
        };
        let addrs = found.map_err(|e| match e.kind() {
            io::ErrorKind::TimedOut => ureq::Error::Timeout(timeout.reason),
            _ => ureq::Error::Io(step_error(ErrorKind::Dns, format!("resolving {host}"), e)),
        })?;
        let mut result = self.empty();
        for addr in addrs.into_iter().take(16) {
            result.push(addr);
        }
        Ok(result)
    }
}

/// The host and port to connect to for an `http` or `https` URL.
pub(crate) fn host_and_port(uri: &Uri) -> Result<(&str, u16), ureq::Error> {
    let bad = |why: &str| ureq::Error::BadUri(format!("{uri}: {why}"));
    let default_port = match uri.scheme_str() {
        Some("http") => 80,
        Some("https") => 443,
        _ => return Err(bad("only http and https URLs are supported")),
    };
    let authority = uri.authority().ok_or_else(|| bad("no host"))?;
    if authority.host().is_empty() {
        return Err(bad("no host"));
    }
    Ok((
        authority.host(),
        authority.port_u16().unwrap_or(default_port),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hp(url: &str) -> Result<(String, u16), ureq::Error> {
        let uri: Uri = url.parse().unwrap();
        host_and_port(&uri).map(|(h, p)| (h.to_owned(), p))
    }

    #[test]
    fn default_ports_by_scheme() {
        assert_eq!(
            hp("http://example.com/x").unwrap(),
            ("example.com".into(), 80)
        );
        assert_eq!(
            hp("https://example.com").unwrap(),
            ("example.com".into(), 443)
        );
        assert_eq!(hp("http://[::1]:8080/").unwrap(), ("[::1]".into(), 8080));
        assert!(matches!(
            hp("ftp://example.com/"),
            Err(ureq::Error::BadUri(_))
        ));
        assert!(matches!(hp("/just/a/path"), Err(ureq::Error::BadUri(_))));
    }

    #[test]
    fn resolver_answers_literal_addresses_at_once() {
        let uri: Uri = "http://127.0.0.1:8000/".parse().unwrap();
        let config = Config::default();
        let timeout = NextTimeout {
            after: ureq::unversioned::transport::time::Duration::NotHappening,
            reason: ureq::Timeout::Resolve,
        };
        let addrs = GreenResolver.resolve(&uri, &config, timeout).unwrap();
        assert_eq!(
            &addrs[..],
            &["127.0.0.1:8000".parse::<SocketAddr>().unwrap()]
        );
    }
}
