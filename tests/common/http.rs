//! A small HTTP/1.1 client for tests: raw bytes or built requests over any byte stream
//! (TCP, a unix socket, a rustls stream), and a response reader that frames bodies by
//! Content-Length, chunked coding or the close of the connection, so that several
//! pipelined responses can be read in a row from one keep-alive connection.
//!
//! ```ignore
//! let r = common::http::get(port, "/")?;
//! assert_eq!((r.status, r.text().as_str()), (200, "Hello, World!\n"));
//!
//! let mut c = common::http::connect(port);
//! c.send(b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n");
//! let (one, two) = (c.read_response()?, c.read_response()?);
//! ```
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// How long a read or a write may block before the client gives up: long enough for a
/// loaded CI machine, short enough that a hung server fails the test instead of the run.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A parsed response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// `HTTP/1.1` or `HTTP/1.0`.
    pub version: String,
    pub status: u16,
    pub reason: String,
    /// Names lower-cased, values trimmed, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of header `name` (any case), in order.
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A request to build: method, target, headers (sent in order) and a body.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// `METHOD path HTTP/1.1` with `Host: x`; add headers and a body with the builders.
    pub fn new(method: &str, path: &str) -> Request {
        Request {
            method: method.to_owned(),
            path: path.to_owned(),
            headers: vec![("Host".to_owned(), "x".to_owned())],
            body: Vec::new(),
        }
    }

    pub fn get(path: &str) -> Request {
        Request::new("GET", path)
    }

    /// Adds a header (a `Host` replaces the default one).
    pub fn header(mut self, name: &str, value: &str) -> Request {
        if name.eq_ignore_ascii_case("host") {
            self.headers
                .retain(|(k, _)| !k.eq_ignore_ascii_case("host"));
        }
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// `Connection: close`.
    pub fn close(self) -> Request {
        self.header("Connection", "close")
    }

    /// A body with its Content-Length.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = body.into();
        let n = self.body.len().to_string();
        self.header("Content-Length", &n)
    }

    /// The request as bytes on the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("{} {} HTTP/1.1\r\n", self.method, self.path);
        for (k, v) in &self.headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str("\r\n");
        let mut out = out.into_bytes();
        out.extend_from_slice(&self.body);
        out
    }
}

/// A client connection over any stream. It buffers what it reads, so pipelined
/// responses are never lost; it is itself `Read + Write` for tests that speak raw bytes.
pub struct Client<S> {
    stream: S,
    buf: Vec<u8>,
    /// Read position in `buf`.
    pos: usize,
}

/// Connects to 127.0.0.1:`port` with [`TIMEOUT`]s; panics if it cannot.
pub fn connect(port: u16) -> Client<TcpStream> {
    Client::tcp(("127.0.0.1", port)).unwrap_or_else(|e| panic!("connect to port {port}: {e}"))
}

/// One `GET path` with `Connection: close` on a new connection to 127.0.0.1:`port`.
pub fn get(port: u16, path: &str) -> io::Result<Response> {
    Client::tcp(("127.0.0.1", port))?.request(&Request::get(path).close())
}

/// Sends `raw` on a new connection to 127.0.0.1:`port` and returns every byte the
/// server sends until it closes (an error, such as a reset, ends the reading too).
pub fn exchange(port: u16, raw: &[u8]) -> Vec<u8> {
    let mut c = connect(port);
    c.send(raw);
    c.read_until_close()
}

impl Client<TcpStream> {
    /// A TCP connection with [`TIMEOUT`]s.
    pub fn tcp(addr: impl ToSocketAddrs) -> io::Result<Self> {
        let s = TcpStream::connect(addr)?;
        s.set_read_timeout(Some(TIMEOUT))?;
        s.set_write_timeout(Some(TIMEOUT))?;
        s.set_nodelay(true)?;
        Ok(Client::new(s))
    }

    /// Sets the read timeout (for tests that expect no answer for a while).
    pub fn set_read_timeout(&self, d: Duration) {
        self.stream.set_read_timeout(Some(d)).unwrap();
    }
}

impl Client<UnixStream> {
    /// A unix socket connection with [`TIMEOUT`]s.
    pub fn unix(path: impl AsRef<Path>) -> io::Result<Self> {
        let s = UnixStream::connect(path)?;
        s.set_read_timeout(Some(TIMEOUT))?;
        s.set_write_timeout(Some(TIMEOUT))?;
        Ok(Client::new(s))
    }
}

impl<S: Read + Write> Client<S> {
    /// Wraps a connected stream; its timeouts are the caller's business.
    pub fn new(stream: S) -> Self {
        Client {
            stream,
            buf: Vec::new(),
            pos: 0,
        }
    }

    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// Writes raw bytes; panics if the write fails.
    pub fn send(&mut self, raw: &[u8]) {
        self.stream.write_all(raw).unwrap();
        self.stream.flush().unwrap();
    }

    /// Sends `req` and reads its response (without a body for HEAD).
    pub fn request(&mut self, req: &Request) -> io::Result<Response> {
        self.stream.write_all(&req.to_bytes())?;
        self.stream.flush()?;
        self.read_response_to(&req.method)
    }

    /// `GET path` on this connection, kept alive.
    pub fn get(&mut self, path: &str) -> io::Result<Response> {
        self.request(&Request::get(path))
    }

    /// Reads one response to a request that was not HEAD. A 1xx comes back on its own.
    pub fn read_response(&mut self) -> io::Result<Response> {
        self.read_response_to("GET")
    }

    /// Reads one response to a HEAD: headers only, whatever they announce.
    pub fn read_head_response(&mut self) -> io::Result<Response> {
        self.read_response_to("HEAD")
    }

    fn read_response_to(&mut self, method: &str) -> io::Result<Response> {
        let head = self.read_head()?;
        let mut r = parse_head(&head)?;
        let bodiless = method == "HEAD"
            || (100..200).contains(&r.status)
            || r.status == 204
            || r.status == 304;
        if bodiless {
            return Ok(r);
        }
        if let Some(n) = r.header("content-length") {
            let n = n.parse().map_err(|_| bad("a bad Content-Length"))?;
            r.body = self.read_exact_vec(n)?;
        } else if r
            .header("transfer-encoding")
            .is_some_and(|te| te.eq_ignore_ascii_case("chunked"))
        {
            r.body = self.read_chunked()?;
        } else {
            r.body = self.read_until_close_strict()?;
        }
        Ok(r)
    }

    /// True when the server closed the connection (end of stream or a reset) with
    /// nothing more to read; false if bytes arrive or the read times out.
    pub fn is_closed(&mut self) -> bool {
        if self.pos < self.buf.len() {
            return false;
        }
        match self.fill() {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => !matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ),
        }
    }

    /// Everything until the server closes; a read error (a reset, a timeout) ends it too.
    pub fn read_until_close(&mut self) -> Vec<u8> {
        let mut out = self.buf.split_off(self.pos);
        self.buf.clear();
        self.pos = 0;
        let _ = self.stream.read_to_end(&mut out);
        out
    }

    /// Everything until the server closes, as text.
    pub fn read_text_until_close(&mut self) -> String {
        String::from_utf8_lossy(&self.read_until_close()).into_owned()
    }

    fn read_until_close_strict(&mut self) -> io::Result<Vec<u8>> {
        let mut out = self.buf.split_off(self.pos);
        self.buf.clear();
        self.pos = 0;
        self.stream.read_to_end(&mut out)?;
        Ok(out)
    }

    /// Reads more into the buffer; Ok(0) at the end of the stream.
    fn fill(&mut self) -> io::Result<usize> {
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// Reads up to and including the first `delim`, returning what came before it.
    fn read_through(&mut self, delim: &[u8], limit: usize) -> io::Result<Vec<u8>> {
        // Unread bytes already searched without finding where `delim` starts.
        let mut searched = 0;
        loop {
            let unread = &self.buf[self.pos..];
            if let Some(i) = unread[searched..]
                .windows(delim.len())
                .position(|w| w == delim)
            {
                let end = self.pos + searched + i;
                let out = self.buf[self.pos..end].to_vec();
                self.pos = end + delim.len();
                return Ok(out);
            }
            if unread.len() > limit {
                return Err(bad("no delimiter within the limit"));
            }
            searched = unread.len().saturating_sub(delim.len() - 1);
            if self.fill()? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    fn read_head(&mut self) -> io::Result<Vec<u8>> {
        self.read_through(b"\r\n\r\n", 1 << 20)
    }

    fn read_exact_vec(&mut self, n: usize) -> io::Result<Vec<u8>> {
        let mut out = vec![0u8; n];
        self.read_exact(&mut out)?;
        Ok(out)
    }

    fn read_chunked(&mut self) -> io::Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let line = self.read_through(b"\r\n", 4096)?;
            let line = String::from_utf8_lossy(&line);
            let size = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size, 16).map_err(|_| bad("a bad chunk size"))?;
            if size == 0 {
                // Trailers, up to the empty line.
                while !self.read_through(b"\r\n", 8192)?.is_empty() {}
                return Ok(body);
            }
            body.extend_from_slice(&self.read_exact_vec(size)?);
            if !self.read_through(b"\r\n", 2)?.is_empty() {
                return Err(bad("chunk data longer than its size"));
            }
        }
    }
}

impl<S: Read + Write> Read for Client<S> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos < self.buf.len() {
            let n = out.len().min(self.buf.len() - self.pos);
            out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
            self.pos += n;
            return Ok(n);
        }
        self.stream.read(out)
    }
}

impl<S: Read + Write> Write for Client<S> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.stream.write(data)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

fn parse_head(head: &[u8]) -> io::Result<Response> {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("").to_owned();
    if !version.starts_with("HTTP/") {
        return Err(bad("not an HTTP status line"));
    }
    let status = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status code"))?;
    let reason = parts.next().unwrap_or("").to_owned();
    let mut headers = Vec::new();
    for l in lines.filter(|l| !l.is_empty()) {
        let (k, v) = l
            .split_once(':')
            .ok_or_else(|| bad("a header without ':'"))?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
    }
    Ok(Response {
        version,
        status,
        reason,
        headers,
        body: Vec::new(),
    })
}
