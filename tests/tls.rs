//! TLS: curl and Python's `ssl` module against the example servers, with a CA, a server
//! certificate and a client certificate generated here by rcgen (no openssl CLI needed).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::http::{connect, exchange, Client};
use common::{example, run, start};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// PEM files in a fresh temporary directory: a CA, a server certificate for `localhost`
/// and 127.0.0.1 signed by it, and a client certificate signed by it.
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn new() -> Pki {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "greenlight-tls-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();

        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "greenlight test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();

        let leaf = |names: Vec<String>, cn: &str, eku: ExtendedKeyUsagePurpose, file: &str| {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(names).unwrap();
            params.distinguished_name.push(DnType::CommonName, cn);
            params.extended_key_usages = vec![eku];
            params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            let cert = params.signed_by(&key, &ca).unwrap();
            std::fs::write(dir.join(format!("{file}.pem")), cert.pem()).unwrap();
            std::fs::write(dir.join(format!("{file}-key.pem")), key.serialize_pem()).unwrap();
        };
        leaf(
            vec!["localhost".into(), "127.0.0.1".into()],
            "localhost",
            ExtendedKeyUsagePurpose::ServerAuth,
            "server",
        );
        leaf(
            Vec::new(),
            "a client",
            ExtendedKeyUsagePurpose::ClientAuth,
            "client",
        );
        Pki { dir }
    }

    fn path(&self, file: &str) -> String {
        self.dir.join(file).to_str().unwrap().to_owned()
    }

    /// `--certfile/--keyfile` for the server certificate.
    fn server_args(&self) -> Vec<String> {
        vec![
            "--certfile".into(),
            self.path("server.pem"),
            "--keyfile".into(),
            self.path("server-key.pem"),
        ]
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts example `name` on 127.0.0.1:0 with TLS and `extra` flags.
fn start_tls(name: &str, pki: &Pki, extra: &[&str]) -> common::Proc {
    let mut args: Vec<String> = vec!["-b".into(), "127.0.0.1:0".into()];
    args.extend(pki.server_args());
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    start(name, &args)
}

fn url(port: u16, path: &str) -> String {
    format!("https://localhost:{port}{path}")
}

/// `curl -s --cacert ca.pem` plus `args`.
fn curl(pki: &Pki, args: &[&str]) -> (bool, String, String) {
    let ca = pki.path("ca.pem");
    run(
        Command::new("curl")
            .args(["-s", "--max-time", "10", "--cacert", &ca])
            .args(args),
        20,
    )
}

#[test]
fn curl_https_hello_with_keep_alive() {
    let pki = Pki::new();
    let p = start_tls("hello", &pki, &[]);
    let port = p.port.expect("the Listening at line names the port");
    let (ok, out, err) = curl(
        &pki,
        &[
            "-w",
            "[%{http_version} %{num_connects}]",
            &url(port, "/a"),
            &url(port, "/b"),
        ],
    );
    assert!(ok, "{err}");
    // The second URL reuses the first connection (no new connect).
    assert_eq!(out, "Hello, World!\n[1.1 1]Hello, World!\n[1.1 0]");
    // HEAD over TLS.
    let (ok, out, err) = curl(&pki, &["-I", &url(port, "/")]);
    assert!(ok, "{err}");
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    // TLS 1.2 is served too.
    let (ok, out, err) = curl(
        &pki,
        &["--tlsv1.2", "--tls-max", "1.2", "-v", &url(port, "/")],
    );
    assert!(ok, "{err}");
    assert_eq!(out, "Hello, World!\n");
    assert!(err.contains("TLSv1.2"), "{err}");
}

#[test]
fn listening_line_says_https() {
    let pki = Pki::new();
    let p = start_tls("hello", &pki, &[]);
    // `start` consumed the line; the port came from its https:// URL.
    assert!(p.port.is_some());
    let plain = start("hello", &["-b", "127.0.0.1:0"]);
    assert!(plain.port.is_some());
}

const PYTHON_CLIENT: &str = r#"
import http.client, json, ssl, sys
port, ca = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=ca)
ctx.set_alpn_protocols(["h2", "http/1.1"])
c = http.client.HTTPSConnection("localhost", port, context=ctx, timeout=10)
out = []
for path in ["/one", "/two?x=1"]:
    c.request("GET", path)
    r = c.getresponse()
    out.append((r.status, r.read().decode()))
print(json.dumps({"responses": out, "alpn": c.sock.selected_alpn_protocol(),
                  "version": c.sock.version()}))
"#;

#[test]
fn python_ssl_https_hello() {
    let pki = Pki::new();
    let p = start_tls("hello", &pki, &[]);
    let port = p.port.unwrap().to_string();
    let (ok, out, err) = run(
        Command::new("python3").args(["-c", PYTHON_CLIENT, &port, &pki.path("ca.pem")]),
        20,
    );
    assert!(ok, "{err}");
    assert!(
        out.contains(r#""responses": [[200, "Hello, World!\n"], [200, "Hello, World!\n"]]"#),
        "{out}"
    );
    assert!(out.contains(r#""alpn": "http/1.1""#), "{out}");
    assert!(out.contains(r#""version": "TLSv1.3""#), "{out}");
}

#[test]
fn url_scheme_is_https() {
    let pki = Pki::new();
    let p = start_tls("environ", &pki, &[]);
    let port = p.port.unwrap();
    let (ok, out, err) = curl(&pki, &[&url(port, "/x"), "-d", "body over tls"]);
    assert!(ok, "{err}");
    assert!(out.contains(r#""wsgi.url_scheme":"https""#), "{out}");
    assert!(out.contains(r#""body":"body over tls""#), "{out}");
    assert!(out.contains(&format!(r#""SERVER_PORT":"{port}""#)), "{out}");
}

#[test]
fn large_body_both_ways() {
    let pki = Pki::new();
    let p = start_tls("environ", &pki, &[]);
    let port = p.port.unwrap();
    let file = pki.dir.join("big.txt");
    let data: String = (0..400_000u32)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    std::fs::write(&file, &data).unwrap();
    let (ok, out, err) = curl(
        &pki,
        &[
            &url(port, "/up"),
            "--data-binary",
            &format!("@{}", file.display()),
        ],
    );
    assert!(ok, "{err}");
    assert!(
        out.contains(&format!(r#""body":"{data}""#)),
        "{}",
        out.len()
    );
}

#[test]
fn plain_http_to_the_tls_port_gets_400() {
    let pki = Pki::new();
    let p = start_tls("hello", &pki, &[]);
    let port = p.port.unwrap();
    let mut c = connect(port);
    c.send(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!((r.status, r.reason.as_str()), (400, "Bad Request"), "{r:?}");
    assert_eq!(r.header("connection"), Some("close"), "{r:?}");
    assert_eq!(r.text(), "This port speaks HTTPS\n");
    assert!(c.is_closed());
    // curl says the same.
    let (_, out, _) = run(
        Command::new("curl").args(["-s", &format!("http://127.0.0.1:{port}/")]),
        20,
    );
    assert_eq!(out, "This port speaks HTTPS\n");
    // Bytes that are neither TLS nor text: closed without an answer.
    assert_eq!(exchange(port, b"\x00\x01\x02\x03garbage"), b"");
    // And the server keeps serving TLS.
    let (ok, out, err) = curl(&pki, &[&url(port, "/")]);
    assert!(ok, "{err}");
    assert_eq!(out, "Hello, World!\n");
}

#[test]
fn silent_client_is_dropped_after_the_header_timeout() {
    let pki = Pki::new();
    let p = start_tls("hello", &pki, &["--header-timeout", "1"]);
    let port = p.port.unwrap();
    let t0 = Instant::now();
    let mut silent = connect(port);
    // Others are served meanwhile.
    let (ok, out, err) = curl(&pki, &[&url(port, "/")]);
    assert!(ok, "{err}");
    assert_eq!(out, "Hello, World!\n");
    // The silent one is closed (no answer) after about a second.
    assert!(silent.is_closed());
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(10),
        "{took:?}"
    );
    // A client that stalls half-way through its handshake is dropped too.
    let mut half = connect(port);
    half.send(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01]);
    assert!(half.is_closed());
    let (ok, _, err) = curl(&pki, &[&url(port, "/")]);
    assert!(ok, "{err}");
}

#[test]
fn client_certificates_with_ca_certs() {
    let pki = Pki::new();
    let ca = pki.path("ca.pem");
    let p = start_tls("hello", &pki, &["--ca-certs", &ca]);
    let port = p.port.unwrap();
    // Without a certificate: refused.
    let (ok, out, _) = curl(&pki, &[&url(port, "/")]);
    assert!(!ok && out.is_empty(), "{out}");
    // With one signed by the CA: served.
    let (ok, out, err) = curl(
        &pki,
        &[
            "--cert",
            &pki.path("client.pem"),
            "--key",
            &pki.path("client-key.pem"),
            &url(port, "/"),
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(out, "Hello, World!\n");
    // A client certificate signed by another CA: refused.
    let other = Pki::new();
    let (ok, _, _) = curl(
        &pki,
        &[
            "--cert",
            &other.path("client.pem"),
            "--key",
            &other.path("client-key.pem"),
            &url(port, "/"),
        ],
    );
    assert!(!ok);
    // Python, with the client certificate.
    let script = r#"
import http.client, ssl, sys
port, d = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=d + "/ca.pem")
ctx.load_cert_chain(d + "/client.pem", d + "/client-key.pem")
c = http.client.HTTPSConnection("localhost", port, context=ctx, timeout=10)
c.request("GET", "/")
r = c.getresponse()
print(r.status, r.read().decode(), end="")
"#;
    let (ok, out, err) = run(
        Command::new("python3").args(["-c", script, &port.to_string(), pki.dir.to_str().unwrap()]),
        20,
    );
    assert!(ok, "{err}");
    assert_eq!(out, "200 Hello, World!\n");
}

/// Runs the hello example with `args` (expecting it to exit); returns (exit code, stderr).
fn hello_fails(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(example("hello"))
        .args(["-b", "127.0.0.1:0"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn unusable_tls_files_are_reported() {
    let pki = Pki::new();
    let cert = pki.path("server.pem");
    let key = pki.path("server-key.pem");
    let missing = pki.path("missing.pem");
    let (code, err) = hello_fails(&["--certfile", &missing, "--keyfile", &key]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains(&format!("--certfile {missing}")), "{err}");
    // A key where the certificate should be.
    let (code, err) = hello_fails(&["--certfile", &key, "--keyfile", &key]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&format!("--certfile {key}: no certificate found")),
        "{err}"
    );
    // A certificate where the key should be.
    let (code, err) = hello_fails(&["--certfile", &cert, "--keyfile", &cert]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&format!("--keyfile {cert}: no private key found")),
        "{err}"
    );
    // The key of another certificate.
    let other = Pki::new();
    let (code, err) = hello_fails(&[
        "--certfile",
        &cert,
        "--keyfile",
        &other.path("server-key.pem"),
    ]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("cannot use this certificate and key"), "{err}");
    // One without the other.
    let (code, err) = hello_fails(&["--certfile", &cert]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--certfile needs --keyfile"), "{err}");
}

#[test]
fn proxy_header_before_the_handshake() {
    let pki = Pki::new();
    let p = start_tls("environ", &pki, &["--proxy-protocol"]);
    let port = p.port.unwrap();
    // The PROXY line and the ClientHello may arrive together or apart: both are tried.
    let script = r#"
import json, socket, ssl, sys, time
port, ca, pause = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
ctx = ssl.create_default_context(cafile=ca)
s = socket.create_connection(("127.0.0.1", port), timeout=10)
s.sendall(b"PROXY TCP4 203.0.113.7 127.0.0.1 4242 443\r\n")
time.sleep(pause)
t = ctx.wrap_socket(s, server_hostname="localhost")
t.sendall(b"GET /p HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
data = b""
while True:
    b = t.recv(65536)
    if not b:
        break
    data += b
env = json.loads(data.split(b"\r\n\r\n", 1)[1])
print(env["REMOTE_ADDR"], env["REMOTE_PORT"], env["PROXY_ADDR"], env["wsgi.url_scheme"])
"#;
    for pause in ["0", "0.2"] {
        let (ok, out, err) = run(
            Command::new("python3").args([
                "-c",
                script,
                &port.to_string(),
                &pki.path("ca.pem"),
                pause,
            ]),
            20,
        );
        assert!(ok, "{err}");
        assert_eq!(out, "203.0.113.7 4242 127.0.0.1 https\n");
    }
    // Without a PROXY header the handshake is the first thing.
    let (ok, out, err) = curl(&pki, &[&url(port, "/")]);
    assert!(ok, "{err}");
    assert!(out.contains(r#""REMOTE_ADDR":"127.0.0.1""#), "{out}");
}

/// A rustls client trusting the test CA.
fn rustls_client(pki: &Pki) -> std::sync::Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_file_iter(pki.path("ca.pem")).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    std::sync::Arc::new(cfg)
}

/// A rustls client connection to `localhost` on `port`, trusting the test CA.
fn rustls_connect(
    pki: &Pki,
    port: u16,
) -> Client<rustls::StreamOwned<rustls::ClientConnection, TcpStream>> {
    let sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
    sock.set_read_timeout(Some(common::http::TIMEOUT)).unwrap();
    sock.set_write_timeout(Some(common::http::TIMEOUT)).unwrap();
    let name = "localhost".try_into().unwrap();
    let client = rustls::ClientConnection::new(rustls_client(pki), name).unwrap();
    Client::new(rustls::StreamOwned::new(client, sock))
}

#[test]
fn stream_server_echo_over_tls() {
    use greenlight::net::{Stream, TlsConfig};
    use greenlight::server::StreamServer;
    let pki = Pki::new();
    let tls = TlsConfig::from_pem_files(&pki.path("server.pem"), &pki.path("server-key.pem"), None)
        .unwrap();
    // gevent's echo server, unchanged but for `.tls(...)`: the handshake runs on the
    // first read, in the connection's green thread.
    let srv = StreamServer::new("127.0.0.1:0", |mut conn, _peer| {
        assert!(conn.stream().is_tls());
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = conn.read(&mut buf) {
            if conn.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = conn.stream_mut().shutdown(std::net::Shutdown::Both);
        if let Stream::Tls(t) = conn.stream() {
            assert_eq!(t.connection().alpn_protocol(), None);
        }
    })
    .tls(tls)
    .start()
    .unwrap();
    let port = srv.local_addr().port().unwrap();
    let mut s = rustls_connect(&pki, port);
    for msg in [&b"hello"[..], &[7u8; 100_000][..]] {
        s.write_all(msg).unwrap();
        let mut back = vec![0u8; msg.len()];
        s.read_exact(&mut back).unwrap();
        assert_eq!(back, msg);
    }
    // A clean close: our close_notify, then the server's.
    s.get_mut().conn.send_close_notify();
    s.flush().unwrap();
    let mut rest = Vec::new();
    assert_eq!(s.read_to_end(&mut rest).unwrap(), 0);
    srv.stop(Duration::from_secs(1));
}

#[test]
fn wsgi_server_with_a_tls_config_built_in_code() {
    use greenlight::net::TlsConfig;
    use greenlight::wsgi::{Body, Environ, StartResponse, WsgiServer};
    let pki = Pki::new();
    let tls = TlsConfig::from_pem_files(&pki.path("server.pem"), &pki.path("server-key.pem"), None)
        .unwrap();
    let app = |env: &mut Environ<'_>, start: StartResponse<'_>| {
        let scheme = env.get("wsgi.url_scheme").unwrap_or("").to_owned();
        start.status("200 OK");
        Body::from(scheme)
    };
    let srv = WsgiServer::new("127.0.0.1:0", app)
        .tls(tls)
        .start()
        .unwrap();
    let port = srv.local_addr().port().unwrap();
    let mut s = rustls_connect(&pki, port);
    let r = s
        .request(
            &common::http::Request::get("/")
                .header("Host", "localhost")
                .close(),
        )
        .unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "https"), "{r:?}");
    // The server closes with close_notify: a clean end of stream.
    let mut rest = Vec::new();
    assert_eq!(s.read_to_end(&mut rest).unwrap(), 0);
    srv.stop(Duration::from_secs(1));
}

/// A `WsgiServer` over TLS answering `hello PATH`, with `keep_alive`.
fn tls_hello(pki: &Pki, keep_alive: Duration) -> (greenlight::server::ServerHandle, u16) {
    use greenlight::net::TlsConfig;
    use greenlight::wsgi::{Body, Environ, StartResponse, WsgiServer};
    let tls = TlsConfig::from_pem_files(&pki.path("server.pem"), &pki.path("server-key.pem"), None)
        .unwrap();
    let app = |env: &mut Environ<'_>, start: StartResponse<'_>| {
        start.status("200 OK");
        Body::from(format!("hello {}", env.path()))
    };
    let srv = WsgiServer::new("127.0.0.1:0", app)
        .tls(tls)
        .keep_alive(keep_alive)
        .start()
        .unwrap();
    let port = srv.local_addr().port().unwrap();
    (srv, port)
}

#[test]
fn idle_tls_connections_hibernate_and_are_served_again() {
    let pki = Pki::new();
    let (srv, port) = tls_hello(&pki, Duration::from_secs(30));
    let mut c = rustls_connect(&pki, port);
    let get = |path: &str| {
        common::http::Request::get(path)
            .header("Host", "localhost")
            .to_bytes()
    };
    for i in 0..3 {
        let r = c.get(&format!("/{i}")).unwrap();
        assert_eq!((r.status, r.text()), (200, format!("hello /{i}")));
        assert!(
            common::wait_until(10, || srv.hibernating_connections() == 1),
            "round {i}: the idle TLS connection did not hibernate"
        );
        assert_eq!(srv.connections(), 1, "a hibernated connection still counts");
    }
    // Two requests in one record, and one in two records sent apart: the first wakes the
    // connection, the rest comes as the server reads.
    let mut two = get("/a");
    two.extend(get("/b"));
    c.send(&two);
    assert_eq!(c.read_response().unwrap().text(), "hello /a");
    assert_eq!(c.read_response().unwrap().text(), "hello /b");
    assert!(common::wait_until(10, || srv.hibernating_connections() == 1));
    let pieces = get("/pieces");
    c.send(&pieces[..10]);
    std::thread::sleep(Duration::from_millis(50));
    c.send(&pieces[10..]);
    assert_eq!(c.read_response().unwrap().text(), "hello /pieces");
    // A stop closes it at once, with close_notify: a clean end of stream.
    assert!(common::wait_until(10, || srv.hibernating_connections() == 1));
    common::stops_at_once(&srv);
    let mut rest = Vec::new();
    assert_eq!(c.get_mut().read_to_end(&mut rest).unwrap(), 0);
}

#[test]
fn a_hibernated_tls_connection_closes_at_its_keep_alive_timeout() {
    let pki = Pki::new();
    let keep_alive = Duration::from_secs(2);
    let (srv, port) = tls_hello(&pki, keep_alive);
    let mut c = rustls_connect(&pki, port);
    assert_eq!(c.get("/").unwrap().status, 200);
    let idle_since = Instant::now();
    assert!(common::wait_until(10, || srv.hibernating_connections() == 1));
    let mut rest = Vec::new();
    assert_eq!(
        c.get_mut().read_to_end(&mut rest).unwrap(),
        0,
        "close_notify, then the end"
    );
    let took = idle_since.elapsed();
    assert!(
        took >= keep_alive - Duration::from_millis(100) && took < keep_alive * 3,
        "closed after {took:?} of idleness, for a keep-alive timeout of {keep_alive:?}"
    );
    assert!(
        common::wait_until(10, || srv.connections() == 0),
        "counted out"
    );
    srv.stop(Duration::from_secs(5));
}
