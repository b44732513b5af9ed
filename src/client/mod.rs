//! A blocking-style HTTP/1.1 client on green sockets: gevent's promise that the usual
//! clients cooperate.
//!
//! A request looks like plain blocking code, but every wait (DNS, connect, TLS handshake,
//! writing the request, reading the response) parks only the calling greenlet: the worker
//! thread goes on running the others. Called from a plain OS thread it simply blocks.
//!
//! - [`Client`] is cheap to clone; the clones share one keep-alive connection pool (idle
//!   connections bounded per host and in all).
//! - Redirects are followed up to [`ClientBuilder::max_redirects`] (10 by default): a 303
//!   turns the request into a GET (a HEAD stays a HEAD), so does a 301 or 302 to a POST; a
//!   307 or 308 keeps the method and sends the body again. `Authorization`,
//!   `Proxy-Authorization` and `Cookie` are dropped when a redirect leaves the origin
//!   (scheme, host and port).
//! - Timeouts: [`ClientBuilder::connect_timeout`], [`ClientBuilder::read_timeout`] and the
//!   overall [`ClientBuilder::timeout`] (also per request with
//!   [`RequestBuilder::timeout`]).
//! - `https://` goes through rustls, trusting the platform's root certificates and any added
//!   with [`ClientBuilder::add_root_certificate_pem`].
//! - A 4xx or 5xx answer is a [`Response`] like any other until
//!   [`Response::error_for_status`] is asked.
//! - Bodies are streamed ([`Response`] is a [`Read`](std::io::Read)); the helpers that read
//!   a whole body ([`Response::text`], [`Response::bytes`], `Response::json`) stop at a
//!   size limit.
//!
//! It is built on [ureq](https://docs.rs/ureq) with greenlight's own transport and
//! resolver; no ureq type appears in this API.
//!
//! ```
//! use greenlight::client::Client;
//! use greenlight::wsgi::{Body, Environ, StartResponse, WsgiServer};
//!
//! fn hello(env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
//!     let name = env.query().to_owned();
//!     start.status("200 OK").header("Content-Type", "text/plain");
//!     Body::from(format!("Hello, {name}!"))
//! }
//! let server = WsgiServer::new("127.0.0.1:0", hello).start().unwrap();
//! let url = format!("http://{}/?world", server.local_addr());
//!
//! let client = Client::new();
//! let pages: Vec<_> = (0..10)
//!     .map(|_| {
//!         let (client, url) = (client.clone(), url.clone());
//!         greenlight::spawn(move || client.get(&url).call()?.text())
//!     })
//!     .collect();
//! for page in pages {
//!     assert_eq!(page.join().unwrap().unwrap(), "Hello, world!");
//! }
//! # server.stop_now();
//! ```

mod error;
mod redirect;
mod request;
mod response;
mod transport;

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ureq::tls::{Certificate, RootCerts, TlsConfig};
use ureq::unversioned::transport::{Connector, RustlsConnector};

pub use error::{Error, ErrorKind};
pub use request::RequestBuilder;
pub use response::Response;

use transport::{GreenConnector, GreenResolver};

/// The largest body [`Response::text`], [`Response::bytes`] and `Response::json` read unless
/// told otherwise ([`Response::limit`]): 10 MiB.
pub const DEFAULT_BODY_LIMIT: u64 = 10 * 1024 * 1024;

/// An HTTP client: configuration and a keep-alive connection pool, shared by its clones.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let client = greenlight::client::Client::builder()
///     .timeout(Duration::from_secs(30))
///     .max_idle_per_host(20)
///     .build();
/// let same_pool = client.clone();
/// # drop(same_pool);
/// ```
#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    max_redirects: u32,
    timeout: Option<Duration>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("max_redirects", &self.max_redirects)
            .field("timeout", &self.timeout)
            .field(
                "max_idle_per_host",
                &self.agent.config().max_idle_connections_per_host(),
            )
            .finish_non_exhaustive()
    }
}

impl Default for Client {
    fn default() -> Self {
        Client::new()
    }
}

/// The process-wide client behind [`get`], [`post`] and [`request`].
fn shared() -> &'static Client {
    static SHARED: OnceLock<Client> = OnceLock::new();
    // Not `get_or_init`: building parks the greenlet (see `platform_roots`), and a second
    // caller must not block its worker thread meanwhile. Two may build; one is kept.
    if let Some(client) = SHARED.get() {
        return client;
    }
    let _ = SHARED.set(Client::new());
    SHARED.get().expect("set above")
}

/// A GET request on a shared default [`Client`].
///
/// # Examples
///
/// ```
/// let err = greenlight::client::get("http://127.0.0.1:1/").call().unwrap_err();
/// assert_eq!(err.kind(), greenlight::client::ErrorKind::Connect);
/// ```
pub fn get(url: &str) -> RequestBuilder {
    shared().get(url)
}

/// A POST request on a shared default [`Client`].
///
/// # Examples
///
/// ```
/// let err = greenlight::client::post("http://127.0.0.1:1/").send("x").unwrap_err();
/// assert_eq!(err.kind(), greenlight::client::ErrorKind::Connect);
/// ```
pub fn post(url: &str) -> RequestBuilder {
    shared().post(url)
}

/// A request with any method on a shared default [`Client`].
///
/// # Examples
///
/// ```
/// let err = greenlight::client::request("OPTIONS", "http://127.0.0.1:1/").call().unwrap_err();
/// assert_eq!(err.kind(), greenlight::client::ErrorKind::Connect);
/// ```
pub fn request(method: &str, url: &str) -> RequestBuilder {
    shared().request(method, url)
}

impl Client {
    /// A client with the default settings (see [`ClientBuilder`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let client = greenlight::client::Client::new();
    /// # drop(client);
    /// ```
    pub fn new() -> Client {
        ClientBuilder::new().build()
    }

    /// Settings for a new client.
    ///
    /// # Examples
    ///
    /// ```
    /// let client = greenlight::client::Client::builder().max_redirects(0).build();
    /// # drop(client);
    /// ```
    pub fn builder() -> ClientBuilder {
        ClientBuilder::new()
    }

    /// A GET request.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenlight::wsgi::{Body, WsgiServer};
    /// let server = WsgiServer::new("127.0.0.1:0", |_: &mut greenlight::wsgi::Environ<'_>, start: greenlight::wsgi::StartResponse<'_>| {
    ///     start.status("200 OK");
    ///     Body::from("ok")
    /// })
    /// .start()
    /// .unwrap();
    /// let client = greenlight::client::Client::new();
    /// let response = client.get(&format!("http://{}/", server.local_addr())).call().unwrap();
    /// assert_eq!(response.status(), 200);
    /// # server.stop_now();
    /// ```
    pub fn get(&self, url: &str) -> RequestBuilder {
        self.request("GET", url)
    }

    /// A POST request; send its body with [`RequestBuilder::send`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Read;
    /// use greenlight::wsgi::{Body, WsgiServer};
    /// let server = WsgiServer::new("127.0.0.1:0", |env: &mut greenlight::wsgi::Environ<'_>, start: greenlight::wsgi::StartResponse<'_>| {
    ///     let mut body = String::new();
    ///     env.input().read_to_string(&mut body).unwrap();
    ///     start.status("200 OK");
    ///     Body::from(body.to_uppercase())
    /// })
    /// .start()
    /// .unwrap();
    /// let client = greenlight::client::Client::new();
    /// let url = format!("http://{}/", server.local_addr());
    /// assert_eq!(client.post(&url).send("shout").unwrap().text().unwrap(), "SHOUT");
    /// # server.stop_now();
    /// ```
    pub fn post(&self, url: &str) -> RequestBuilder {
        self.request("POST", url)
    }

    /// A PUT request.
    ///
    /// # Examples
    ///
    /// ```
    /// let client = greenlight::client::Client::new();
    /// let err = client.put("http://127.0.0.1:1/item").send(b"bytes").unwrap_err();
    /// assert_eq!(err.kind(), greenlight::client::ErrorKind::Connect);
    /// ```
    pub fn put(&self, url: &str) -> RequestBuilder {
        self.request("PUT", url)
    }

    /// A DELETE request.
    ///
    /// # Examples
    ///
    /// ```
    /// let client = greenlight::client::Client::new();
    /// let err = client.delete("http://127.0.0.1:1/item").call().unwrap_err();
    /// assert_eq!(err.kind(), greenlight::client::ErrorKind::Connect);
    /// ```
    pub fn delete(&self, url: &str) -> RequestBuilder {
        self.request("DELETE", url)
    }

    /// A HEAD request.
    ///
    /// # Examples
    ///
    /// ```
    /// let client = greenlight::client::Client::new();
    /// assert!(client.head("http://127.0.0.1:1/").call().is_err());
    /// ```
    pub fn head(&self, url: &str) -> RequestBuilder {
        self.request("HEAD", url)
    }

    /// A request with any method (`PATCH`, `OPTIONS`, WebDAV's `PROPFIND`...). An invalid
    /// method is reported when the request is sent.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenlight::client::{Client, ErrorKind};
    /// let client = Client::new();
    /// let err = client.request("BAD METHOD", "http://127.0.0.1:1/").call().unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    /// ```
    pub fn request(&self, method: &str, url: &str) -> RequestBuilder {
        RequestBuilder::new(self.clone(), method, url)
    }

    pub(crate) fn agent(&self) -> &ureq::Agent {
        &self.agent
    }
}

/// Settings for a [`Client`].
///
/// | setting                 | default                                   |
/// |-------------------------|-------------------------------------------|
/// | `timeout`               | none (the whole request, body included)   |
/// | `connect_timeout`       | 30 s (DNS and connect together)           |
/// | `read_timeout`          | none                                      |
/// | `max_redirects`         | 10                                        |
/// | `max_idle_per_host`     | 10 idle keep-alive connections per host   |
/// | `max_idle`              | 100 idle keep-alive connections in all    |
/// | `platform_roots`        | yes: trust the system's CA certificates   |
/// | `user_agent`            | `greenlight/VERSION`                      |
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use greenlight::client::Client;
/// let client = Client::builder()
///     .connect_timeout(Duration::from_secs(2))
///     .read_timeout(Duration::from_secs(10))
///     .user_agent("my-crawler/1.0")
///     .build();
/// # drop(client);
/// ```
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    timeout: Option<Duration>,
    connect_timeout: Option<Duration>,
    read_timeout: Option<Duration>,
    max_redirects: u32,
    max_idle_per_host: usize,
    max_idle: usize,
    platform_roots: bool,
    roots: Vec<Certificate<'static>>,
    user_agent: String,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder::new()
    }
}

impl ClientBuilder {
    /// The default settings (see the table above).
    ///
    /// # Examples
    ///
    /// ```
    /// let client = greenlight::client::ClientBuilder::new().build();
    /// # drop(client);
    /// ```
    pub fn new() -> ClientBuilder {
        ClientBuilder {
            timeout: None,
            connect_timeout: Some(Duration::from_secs(30)),
            read_timeout: None,
            max_redirects: 10,
            max_idle_per_host: 10,
            max_idle: 100,
            platform_roots: true,
            roots: Vec::new(),
            user_agent: concat!("greenlight/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }

    /// Bounds a whole request: DNS, connect, redirects, sending, and reading the response
    /// body to its end. Past it, the call or the body read fails with
    /// [`ErrorKind::Timeout`].
    ///
    /// # Examples
    ///
    /// ```
    /// let client = greenlight::client::Client::builder()
    ///     .timeout(std::time::Duration::from_secs(5))
    ///     .build();
    /// # drop(client);
    /// ```
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = Some(d);
        self
    }

    /// Bounds resolving the host and connecting to it.
    ///
    /// # Examples
    ///
    /// ```
    /// let client = greenlight::client::Client::builder()
    ///     .connect_timeout(std::time::Duration::from_secs(1))
    ///     .build();
    /// # drop(client);
    /// ```
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = Some(d);
        self
    }

    /// Bounds the wait for the response head and, separately, for the response body.
    ///
    /// # Examples
    ///
    /// ```
    /// let client = greenlight::client::Client::builder()
    ///     .read_timeout(std::time::Duration::from_secs(10))
    ///     .build();
    /// # drop(client);
    /// ```
    pub fn read_timeout(mut self, d: Duration) -> Self {
        self.read_timeout = Some(d);
        self
    }

    /// Follows at most `n` redirects; one more is [`ErrorKind::TooManyRedirects`]. With 0,
    /// redirects are not followed: the 3xx response comes back as it is.
    ///
    /// # Examples
    ///
    /// ```
    /// let client = greenlight::client::Client::builder().max_redirects(3).build();
    /// # drop(client);
    /// ```
    pub fn max_redirects(mut self, n: u32) -> Self {
        self.max_redirects = n;
        self
    }

    /// Keeps at most `n` idle keep-alive connections to one host (scheme, host and port).
    ///
    /// # Examples
    ///
    /// ```
    /// let client = greenlight::client::Client::builder().max_idle_per_host(100).build();
    /// # drop(client);
    /// ```
    pub fn max_idle_per_host(mut self, n: usize) -> Self {
        self.max_idle_per_host = n;
        self
    }

    /// Keeps at most `n` idle keep-alive connections in all.
    ///
    /// # Examples
    ///
    /// ```
    /// let client = greenlight::client::Client::builder().max_idle(1000).build();
    /// # drop(client);
    /// ```
    pub fn max_idle(mut self, n: usize) -> Self {
        self.max_idle = n;
        self
    }

    /// Whether to trust the platform's root certificates for `https://` (default yes).
    /// Turn it off to trust only the roots added here.
    ///
    /// # Examples
    ///
    /// ```
    /// let client = greenlight::client::Client::builder().platform_roots(false).build();
    /// # drop(client);
    /// ```
    pub fn platform_roots(mut self, yes: bool) -> Self {
        self.platform_roots = yes;
        self
    }

    /// Also trusts the CA certificates in `pem` (one or more PEM blocks), say a private
    /// CA's or a test CA's.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Tls`] when `pem` holds no certificate or a malformed one.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = greenlight::client::Client::builder()
    ///     .add_root_certificate_pem(b"not a certificate")
    ///     .unwrap_err();
    /// assert_eq!(err.kind(), greenlight::client::ErrorKind::Tls);
    /// ```
    pub fn add_root_certificate_pem(mut self, pem: &[u8]) -> Result<Self, Error> {
        let mut found = 0;
        for item in ureq::tls::parse_pem(pem) {
            if let ureq::tls::PemItem::Certificate(cert) = item.map_err(Error::from)? {
                self.roots.push(cert);
                found += 1;
            }
        }
        if found == 0 {
            return Err(Error::new(ErrorKind::Tls, "no certificate in the PEM data"));
        }
        Ok(self)
    }

    /// Also trusts the CA certificate `der` (DER-encoded).
    ///
    /// # Examples
    ///
    /// ```
    /// let client = greenlight::client::Client::builder()
    ///     .add_root_certificate_der(vec![0x30, 0x00])
    ///     .build(); // a bad certificate fails the handshakes that would need it
    /// # drop(client);
    /// ```
    pub fn add_root_certificate_der(mut self, der: impl Into<Vec<u8>>) -> Self {
        let der = der.into();
        self.roots.push(Certificate::from_der(&der).to_owned());
        self
    }

    /// The `User-Agent` header sent with each request.
    ///
    /// # Examples
    ///
    /// ```
    /// let client = greenlight::client::Client::builder().user_agent("bot/2").build();
    /// # drop(client);
    /// ```
    pub fn user_agent(mut self, value: impl Into<String>) -> Self {
        self.user_agent = value.into();
        self
    }

    /// The client. Reading the platform's root certificates happens here, once per process
    /// (on the thread pool: it is file I/O).
    ///
    /// # Examples
    ///
    /// ```
    /// let client = greenlight::client::ClientBuilder::new().build();
    /// # drop(client);
    /// ```
    pub fn build(self) -> Client {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .allow_non_standard_methods(true)
            .max_redirects(0) // followed in request.rs (see redirect.rs)
            .max_idle_connections(self.max_idle)
            .max_idle_connections_per_host(self.max_idle_per_host)
            .user_agent(self.user_agent.as_str())
            .timeout_resolve(self.connect_timeout)
            .timeout_connect(self.connect_timeout)
            .timeout_recv_response(self.read_timeout)
            .timeout_recv_body(self.read_timeout)
            .tls_config(self.tls_config())
            .build();
        let connector = GreenConnector.chain(RustlsConnector::default());
        Client {
            agent: ureq::Agent::with_parts(config, connector, GreenResolver),
            max_redirects: self.max_redirects,
            timeout: self.timeout,
        }
    }

    fn tls_config(&self) -> TlsConfig {
        let mut roots = Vec::new();
        if self.platform_roots {
            roots.extend(platform_roots().iter().cloned());
        }
        roots.extend(self.roots.iter().cloned());
        TlsConfig::builder()
            .root_certs(RootCerts::Specific(Arc::new(roots)))
            .unversioned_rustls_crypto_provider(crypto_provider())
            .build()
    }
}

/// The process's default rustls provider, or ring's.
fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()))
}

/// The platform's trusted CA certificates, read once (on the thread pool).
fn platform_roots() -> &'static [Certificate<'static>] {
    static ROOTS: OnceLock<Vec<Certificate<'static>>> = OnceLock::new();
    // Not `get_or_init`, which would block the worker thread of a second caller while the
    // first is parked on the thread pool. Two may read the files; one result is kept.
    if let Some(roots) = ROOTS.get() {
        return roots;
    }
    let load = || {
        let found = rustls_native_certs::load_native_certs();
        for e in &found.errors {
            log::debug!("platform root certificates: {e}");
        }
        found
            .certs
            .iter()
            .map(|c| Certificate::from_der(c.as_ref()).to_owned())
            .collect::<Vec<_>>()
    };
    let roots = crate::green::threadpool::spawn_blocking(load).unwrap_or_default();
    let _ = ROOTS.set(roots);
    ROOTS.get().expect("set above")
}
