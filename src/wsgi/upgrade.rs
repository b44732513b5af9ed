//! Taking the connection over: `101 Switching Protocols`, then the raw byte stream (what
//! WebSocket and other upgraded protocols run on).

use std::cell::RefMut;
use std::io::{self, Read, Write};
use std::time::Duration;

use super::input::{Duplex, Input};
use super::{Environ, RequestError};
use crate::http::encode::{is_valid_header_name, is_valid_header_value};
use crate::net::IoWaker;

/// The connection after `101 Switching Protocols`: a byte stream to the client (through
/// TLS and after a PROXY header, as the request came), from [`Environ::upgrade`].
///
/// Reads and writes park the green thread. The request's deadline (`--request-timeout`)
/// is lifted at the upgrade. The connection leaves HTTP for good: it closes
/// when the handler returns, whatever [`Body`](super::Body) it returns. It keeps its place
/// in the server's connection count. While it waits for its peer, mark it
/// [`set_waiting`](Upgraded::set_waiting): a stopping server then closes its read side
/// (the next read sees the end of the stream and [`is_stopping`](Upgraded::is_stopping)
/// says why), and a full server never sheds it.
pub struct Upgraded<'e, 'a> {
    input: RefMut<'e, Input<'a>>,
}

impl<'a> Environ<'a> {
    /// Answers `101 Switching Protocols` with `headers` and hands over the connection.
    ///
    /// The caller checks the request first (`Upgrade`, `Connection`, the protocol's own
    /// headers) and answers a bad one as HTTP instead. Fails with
    /// [`RequestError::Malformed`] for a request with a body, a second upgrade, or an
    /// invalid header, and with [`RequestError::Disconnected`] if the `101` cannot be sent.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use greenlight::testing::TestClient;
    /// use greenlight::wsgi::{app_fn, Body, HttpError};
    ///
    /// // A toy protocol: after the 101, every byte received is echoed in upper case.
    /// let app = app_fn(|env, start| -> Result<Body, HttpError> {
    ///     if env.get("HTTP_UPGRADE") != Some("shout") {
    ///         start.status(426).header("Upgrade", "shout");
    ///         return Ok(Body::from("upgrade to shout\n"));
    ///     }
    ///     let mut conn = env.upgrade(&[("Upgrade", "shout"), ("Connection", "Upgrade")])?;
    ///     let mut buf = [0u8; 64];
    ///     loop {
    ///         let n = conn.read(&mut buf)?;
    ///         if n == 0 {
    ///             return Ok(Body::empty()); // the client is done
    ///         }
    ///         conn.write_all(&buf[..n].to_ascii_uppercase())?;
    ///     }
    /// });
    /// let client = TestClient::new(app);
    /// let r = client.send(
    ///     b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: shout\r\nConnection: Upgrade\r\n\r\nhello",
    ///     false,
    /// );
    /// assert_eq!(r.status(), 101);
    /// assert!(r.raw().ends_with(b"\r\n\r\nHELLO"));
    /// assert_eq!(client.get("/").status(), 426);
    /// ```
    pub fn upgrade(&self, headers: &[(&str, &str)]) -> Result<Upgraded<'_, 'a>, RequestError> {
        let mut head = b"HTTP/1.1 101 Switching Protocols\r\n".to_vec();
        for (name, value) in headers {
            if !is_valid_header_name(name) || !is_valid_header_value(value) {
                return Err(RequestError::Malformed(format!(
                    "invalid upgrade header {name:?}: {value:?}"
                )));
            }
            for part in [name.as_bytes(), b": ", value.as_bytes(), b"\r\n"] {
                head.extend_from_slice(part);
            }
        }
        head.extend_from_slice(b"\r\n");
        let mut input = self.input();
        let source = input
            .source()
            .ok_or_else(|| RequestError::Malformed("no connection to upgrade".into()))?;
        source.upgrade(&head).map_err(|e| match e.kind() {
            io::ErrorKind::InvalidInput => RequestError::Malformed(e.to_string()),
            _ => RequestError::Disconnected,
        })?;
        // A long-lived connection is not a slow request: `--request-timeout` no longer
        // applies (the handler may set a deadline of its own).
        self.set_request_deadline(None);
        Ok(Upgraded { input })
    }
}

impl Upgraded<'_, '_> {
    fn duplex(&mut self) -> &mut dyn Duplex {
        self.input
            .source()
            .and_then(|s| s.duplex())
            .expect("an upgraded connection has its stream")
    }

    /// Bounds each read (`None`: no limit); a read that waits longer fails with
    /// `TimedOut`. An idle timeout for the protocol.
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.duplex().set_read_timeout(timeout)
    }

    /// Whether the server is stopping: say goodbye in the protocol's terms and return.
    pub fn is_stopping(&mut self) -> bool {
        self.duplex().is_stopping()
    }

    /// Marks the connection as waiting for its peer (see the type's docs); `false`: the
    /// server already closed it (it is stopping).
    pub fn set_waiting(&mut self) -> bool {
        self.duplex().set_waiting()
    }

    /// Reads what has arrived without waiting: `Ok(None)` when nothing has.
    pub(crate) fn try_read(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        self.duplex().try_read(buf)
    }

    /// Parks until the connection is readable or its [`waker`](Self::waker) is called
    /// (may return early: loop on [`try_read`](Self::try_read)).
    pub(crate) fn wait_readable(&mut self) {
        self.duplex().wait_readable();
    }

    /// What ends a [`wait_readable`](Self::wait_readable) from another green thread;
    /// `None` for an in-memory connection (whose reads never wait).
    pub(crate) fn waker(&mut self) -> Option<IoWaker> {
        self.duplex().waker()
    }

    /// Marks the connection busy with an exchange (a stop lets it finish); `false`: the
    /// server already closed it.
    pub fn set_busy(&mut self) -> bool {
        self.duplex().set_busy()
    }
}

impl Read for Upgraded<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.duplex().read(buf)
    }
}

impl Write for Upgraded<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.duplex().write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.duplex().flush()
    }
}

impl std::fmt::Debug for Upgraded<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Upgraded")
    }
}
