//! TLS with rustls: the server configuration from PEM files, and a TLS stream over a
//! green-thread socket.
//!
//! The socket's reads and writes park the green thread (never the OS thread), so rustls's
//! blocking-style API is the right one here: a handshake or a record read is plain code in
//! the connection's green thread, bounded by the socket's timeouts.

use std::fmt;
use std::io::{self, IoSlice, Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection};

use super::Stream;
use crate::config::TlsFiles;
use crate::error::{Error, Result};

/// The first byte of a TLS handshake record (a ClientHello starts with it).
const HANDSHAKE_RECORD: u8 = 0x16;

/// A TLS server configuration: certificate chain, private key, and optionally the CAs
/// that client certificates must be signed by. Cheap to clone.
///
/// ```no_run
/// use greenlight::net::TlsConfig;
/// let tls = TlsConfig::from_pem_files("cert.pem", "key.pem", None).unwrap();
/// ```
#[derive(Clone)]
pub struct TlsConfig {
    inner: Arc<ServerConfig>,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("alpn", &self.inner.alpn_protocols)
            .finish_non_exhaustive()
    }
}

impl From<Arc<ServerConfig>> for TlsConfig {
    /// Uses a rustls configuration built elsewhere as it is.
    fn from(inner: Arc<ServerConfig>) -> Self {
        TlsConfig { inner }
    }
}

impl TryFrom<&TlsFiles> for TlsConfig {
    type Error = Error;

    /// The TLS files of a [`Config`](crate::config::Config) (`--certfile`, `--keyfile`,
    /// `--ca-certs`), read with [`TlsConfig::from_pem_files`].
    ///
    /// ```no_run
    /// use greenlight::{config::Config, net::TlsConfig};
    /// let config = Config::from_args();
    /// let tls = match config.tls_files()? {
    ///     Some(files) => Some(TlsConfig::try_from(&files)?),
    ///     None => None,
    /// };
    /// # Ok::<(), greenlight::Error>(())
    /// ```
    fn try_from(f: &TlsFiles) -> Result<Self> {
        TlsConfig::from_pem_files(&f.certfile, &f.keyfile, f.ca_certs.as_deref())
    }
}

impl TlsConfig {
    /// Reads a certificate chain and a private key (PEM; the key in PKCS#8, PKCS#1 or SEC1
    /// form), and with `ca_certs` a CA bundle (PEM): clients must then present a
    /// certificate signed by one of those CAs. ALPN offers `http/1.1`.
    ///
    /// Errors name the file and the flag it came from (`--certfile`, `--keyfile`,
    /// `--ca-certs`).
    pub fn from_pem_files(certfile: &str, keyfile: &str, ca_certs: Option<&str>) -> Result<Self> {
        let certs = read_certs("--certfile", certfile)?;
        let key = PrivateKeyDer::from_pem_file(keyfile)
            .map_err(|e| pem_error("--keyfile", keyfile, "private key", e))?;
        let provider = CryptoProvider::get_default()
            .cloned()
            .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Config(format!("TLS: {e}")))?;
        let builder = match ca_certs {
            None => builder.with_no_client_auth(),
            Some(path) => {
                let mut roots = RootCertStore::empty();
                for cert in read_certs("--ca-certs", path)? {
                    roots.add(cert).map_err(|e| {
                        Error::Config(format!("--ca-certs {path}: unusable CA certificate: {e}"))
                    })?;
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .build()
                        .map_err(|e| Error::Config(format!("--ca-certs {path}: {e}")))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder.with_single_cert(certs, key).map_err(|e| {
            Error::Config(format!(
                "--certfile {certfile} / --keyfile {keyfile}: cannot use this certificate and key: {e}"
            ))
        })?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsConfig {
            inner: Arc::new(config),
        })
    }

    /// The rustls configuration.
    pub fn server_config(&self) -> &Arc<ServerConfig> {
        &self.inner
    }

    /// Wraps an accepted stream; the handshake runs on the first read or write, or when
    /// [`TlsStream::handshake`] is called.
    pub fn wrap(&self, sock: Stream) -> io::Result<Stream> {
        let conn = ServerConnection::new(self.inner.clone()).map_err(io::Error::other)?;
        Ok(Stream::Tls(Box::new(TlsStream { conn, sock })))
    }
}

fn read_certs(flag: &str, path: &str) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<std::result::Result<Vec<_>, _>>())
        .map_err(|e| pem_error(flag, path, "certificate", e))?;
    if certs.is_empty() {
        return Err(Error::Config(format!(
            "{flag} {path}: no certificate found (expected PEM \"BEGIN CERTIFICATE\" blocks)"
        )));
    }
    Ok(certs)
}

fn pem_error(flag: &str, path: &str, what: &str, e: rustls::pki_types::pem::Error) -> Error {
    use rustls::pki_types::pem::Error as E;
    match e {
        E::Io(e) => Error::io(format!("{flag} {path}: reading the {what}"), e),
        E::NoItemsFound => Error::Config(format!("{flag} {path}: no {what} found (PEM)")),
        e => Error::Config(format!("{flag} {path}: invalid PEM: {e}")),
    }
}

/// How a server-side handshake ended, when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handshake {
    /// The connection is secured.
    Done,
    /// The client's first byte was an ASCII letter: it speaks plain text (HTTP, most
    /// likely) to a TLS port. Nothing was sent; the caller may answer on the raw socket
    /// ([`TlsStream::get_mut`]) and close.
    Plaintext,
}

/// A server-side TLS connection over a [`Stream`].
pub struct TlsStream {
    conn: ServerConnection,
    sock: Stream,
}

impl fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsStream")
            .field("sock", &self.sock)
            .field("handshaking", &self.conn.is_handshaking())
            .finish_non_exhaustive()
    }
}

/// Reads from the socket, remembering the first byte received.
struct FirstByte<'a> {
    sock: &'a mut Stream,
    first: Option<u8>,
}

impl Read for FirstByte<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.sock.read(buf)?;
        if n > 0 && self.first.is_none() {
            self.first = Some(buf[0]);
        }
        Ok(n)
    }
}

impl TlsStream {
    /// The rustls connection (negotiated protocol, SNI name, client certificates...).
    pub fn connection(&self) -> &ServerConnection {
        &self.conn
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &Stream {
        &self.sock
    }

    /// The underlying stream, mutably: bytes written here bypass TLS.
    pub fn get_mut(&mut self) -> &mut Stream {
        &mut self.sock
    }

    /// Completes the handshake within `timeout` (`None`: no limit) and leaves the read
    /// timeout set to what is left of it. Looks at the client's first byte before
    /// anything is sent: a letter means plain text, reported as [`Handshake::Plaintext`].
    /// A failed handshake is an error (with rustls's alert sent, when there is one).
    pub fn handshake(&mut self, timeout: Option<Duration>) -> io::Result<Handshake> {
        self.handshake_after(&[], timeout)
    }

    /// [`handshake`](Self::handshake), when the first bytes of it were already read from
    /// the socket (behind a PROXY header, say): `received` is handed to rustls first.
    pub fn handshake_after(
        &mut self,
        received: &[u8],
        timeout: Option<Duration>,
    ) -> io::Result<Handshake> {
        let deadline = timeout.map(|d| Instant::now() + d);
        let set_timeout = |sock: &Stream| -> io::Result<()> {
            let left = match deadline {
                None => None,
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(l) if !l.is_zero() => Some(l),
                    _ => return Err(io::ErrorKind::TimedOut.into()),
                },
            };
            sock.set_read_timeout(left)
        };
        if !self.conn.is_handshaking() {
            return Ok(Handshake::Done);
        }
        // The first bytes, looked at before rustls judges them.
        let first = match received.first() {
            Some(&b) => b,
            None => {
                set_timeout(&self.sock)?;
                let mut rd = FirstByte {
                    sock: &mut self.sock,
                    first: None,
                };
                let n = loop {
                    match self.conn.read_tls(&mut rd) {
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        r => break r?,
                    }
                };
                match rd.first {
                    Some(b) if n > 0 => b,
                    _ => return Err(io::ErrorKind::UnexpectedEof.into()),
                }
            }
        };
        match first {
            HANDSHAKE_RECORD => {}
            b if b.is_ascii_alphabetic() => return Ok(Handshake::Plaintext),
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "not a TLS handshake",
                ))
            }
        }
        let mut rest = received;
        loop {
            if !rest.is_empty() && self.conn.read_tls(&mut rest)? == 0 {
                return Err(io::Error::other("TLS: the handshake data was not accepted"));
            }
            if let Err(e) = self.conn.process_new_packets() {
                let _ = self.conn.write_tls(&mut self.sock);
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
            if rest.is_empty() {
                break;
            }
        }
        while self.conn.is_handshaking() {
            set_timeout(&self.sock)?;
            let (rd, wr) = self.conn.complete_io(&mut self.sock)?;
            if rd == 0 && wr == 0 && self.conn.is_handshaking() {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        // TLS 1.3 session tickets and the like go out now, not with the first response.
        while self.conn.wants_write() {
            self.conn.write_tls(&mut self.sock)?;
        }
        set_timeout(&self.sock)?;
        Ok(Handshake::Done)
    }

    /// Sends `close_notify` (best effort), then shuts down the socket's `how` halves.
    pub fn shutdown(&mut self, how: std::net::Shutdown) -> io::Result<()> {
        if !self.conn.is_handshaking() {
            self.conn.send_close_notify();
            while self.conn.wants_write() {
                if self.conn.write_tls(&mut self.sock)? == 0 {
                    break;
                }
            }
        }
        self.sock.shutdown(how)
    }

    /// Whether nothing waits inside TLS: the handshake done, no decrypted bytes unread, no
    /// close_notify received, no records left to send. Then the socket alone says when
    /// the peer sends again (the rest of a record begun, or a new one), and the
    /// connection may wait for it without a green thread.
    pub(crate) fn is_quiet(&self) -> bool {
        !self.conn.is_handshaking() && self.conn.wants_read() && !self.conn.wants_write()
    }

    /// [`Stream::try_read`] through TLS: plaintext already decrypted, else what the
    /// socket has now. Queued TLS records (alerts, session tickets) go out before the
    /// socket is read, never after (see [`Stream`]'s notes on waiting).
    pub(crate) fn try_read(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        struct NonBlocking<'s>(&'s mut Stream);
        impl Read for NonBlocking<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.0
                    .try_read(buf)?
                    .ok_or_else(|| io::ErrorKind::WouldBlock.into())
            }
        }
        loop {
            match self.conn.reader().read(buf) {
                Ok(n) => return Ok(Some(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            while self.conn.wants_write() {
                self.conn.write_tls(&mut self.sock)?;
            }
            match self.conn.read_tls(&mut NonBlocking(&mut self.sock)) {
                // The end beneath TLS (a stop shuts the read side down): the end here.
                Ok(0) => return Ok(Some(0)),
                Ok(_) => {}
                Err(e) => return super::stream::ready(Err(e)),
            }
            if let Err(e) = self.conn.process_new_packets() {
                let _ = self.conn.write_tls(&mut self.sock);
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
        }
    }

    fn io(&mut self) -> rustls::Stream<'_, ServerConnection, Stream> {
        rustls::Stream::new(&mut self.conn, &mut self.sock)
    }
}

impl Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.io().read(buf)
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // An empty write would make rustls wait to read (nothing to send, wants to read).
        if buf.is_empty() {
            return Ok(0);
        }
        // rustls encrypts and writes through to the socket; on a write error the records
        // stay queued and the error surfaces on the next write or flush.
        self.io().write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        if bufs.iter().all(|b| b.is_empty()) {
            return Ok(0);
        }
        self.io().write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.io().flush()
    }
}
