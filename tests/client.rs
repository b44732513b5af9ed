//! greenlight::client against real servers on loopback: a greenlight WsgiServer started
//! here, or a raw listener where a test needs a misbehaving server.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use greenlight::client::{Client, ErrorKind};
use greenlight::net::TlsConfig;
use greenlight::server::ServerHandle;
use greenlight::wsgi::{App, Body, Environ, StartResponse, WsgiServer};

/// Starts `app` on 127.0.0.1 and gives the server and its base URL.
fn serve<A: App>(app: A) -> (ServerHandle, String) {
    let server = WsgiServer::new("127.0.0.1:0", app).start().unwrap();
    let base = format!("http://{}", server.local_addr());
    (server, base)
}

/// Answers with the method, path, query, one header and the body it received.
fn echo(env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
    let mut body = String::new();
    env.input().read_to_string(&mut body).unwrap();
    let text = format!(
        "{} {} {} x-test={} type={} body={}",
        env.method(),
        env.path(),
        env.query(),
        env.get("HTTP_X_TEST").unwrap_or("-"),
        env.get("CONTENT_TYPE").unwrap_or("-"),
        body
    );
    start
        .status("200 OK")
        .header("Content-Type", "text/plain")
        .header("X-Echo", "yes");
    Body::from(text)
}

#[test]
fn get_and_post_with_bodies_and_headers() {
    let (server, base) = serve(echo);
    let client = Client::new();

    let r = client
        .get(&format!("{base}/a/b?x=1"))
        .header("X-Test", "t")
        .call()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.header("x-echo"), Some("yes"));
    assert_eq!(r.header("Content-Type"), Some("text/plain"));
    assert!(r.headers().any(|(n, v)| n == "x-echo" && v == "yes"));
    assert_eq!(r.text().unwrap(), "GET /a/b x=1 x-test=t type=- body=");

    let r = client.post(&format!("{base}/p")).send("hello").unwrap();
    assert_eq!(r.text().unwrap(), "POST /p  x-test=- type=- body=hello");

    let r = client.put(&format!("{base}/p")).send(b"bytes").unwrap();
    assert_eq!(r.text().unwrap(), "PUT /p  x-test=- type=- body=bytes");

    let r = client.delete(&format!("{base}/p")).call().unwrap();
    assert_eq!(r.text().unwrap(), "DELETE /p  x-test=- type=- body=");

    let r = client
        .request("PATCH", &format!("{base}/p"))
        .send("x")
        .unwrap();
    assert_eq!(r.text().unwrap(), "PATCH /p  x-test=- type=- body=x");

    let form = [("name", "Ada Lovelace"), ("lang", "a&b")];
    let r = client.post(&format!("{base}/f")).send_form(&form).unwrap();
    assert_eq!(
        r.text().unwrap(),
        "POST /f  x-test=- type=application/x-www-form-urlencoded body=name=Ada+Lovelace&lang=a%26b"
    );
    server.stop_now();
}

#[cfg(feature = "json")]
#[test]
fn json_in_and_out() {
    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Point {
        x: i32,
        y: i32,
    }
    let app = |env: &mut Environ<'_>, start: StartResponse<'_>| {
        let mut p: Point = serde_json::from_reader(&mut *env.input()).unwrap();
        p.x += 1;
        start
            .status("200 OK")
            .header("Content-Type", "application/json");
        Body::from(serde_json::to_vec(&p).unwrap())
    };
    let (server, base) = serve(app);
    let r = greenlight::client::post(&base)
        .send_json(&Point { x: 1, y: 2 })
        .unwrap();
    assert_eq!(r.json::<Point>().unwrap(), Point { x: 2, y: 2 });

    let r = greenlight::client::get(&base).call().unwrap();
    // The server fails on an empty body: a 500, which is not JSON.
    assert_eq!(r.status(), 500);
    assert_eq!(r.json::<Point>().unwrap_err().kind(), ErrorKind::Decode);
    server.stop_now();
}

#[test]
fn status_is_not_an_error_until_asked() {
    let app = |env: &mut Environ<'_>, start: StartResponse<'_>| {
        let code = env.path().trim_start_matches('/').to_owned();
        start.status(format!("{code} Whatever"));
        Body::from("details")
    };
    let (server, base) = serve(app);
    let r = greenlight::client::get(&format!("{base}/503"))
        .call()
        .unwrap();
    assert_eq!(r.status(), 503);
    assert!(!r.is_success());
    let err = r.error_for_status().unwrap_err();
    assert_eq!((err.kind(), err.status()), (ErrorKind::Status, Some(503)));

    let ok = greenlight::client::get(&format!("{base}/200"))
        .call()
        .unwrap();
    assert_eq!(ok.error_for_status().unwrap().text().unwrap(), "details");
    server.stop_now();
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let ports = Arc::new(Mutex::new(HashSet::new()));
    let seen = ports.clone();
    let app = move |env: &mut Environ<'_>, start: StartResponse<'_>| {
        let port = env.get("REMOTE_PORT").unwrap().to_owned();
        seen.lock().unwrap().insert(port);
        start.status("200 OK");
        Body::from("ok")
    };
    let (server, base) = serve(app);
    let client = Client::new();
    for _ in 0..5 {
        // Read each body to its end: that hands the connection back to the pool.
        assert_eq!(client.get(&base).call().unwrap().text().unwrap(), "ok");
    }
    // A clone shares the pool.
    assert_eq!(
        client.clone().get(&base).call().unwrap().text().unwrap(),
        "ok"
    );
    assert_eq!(
        ports.lock().unwrap().len(),
        1,
        "{:?}",
        ports.lock().unwrap()
    );

    // Another client has its own pool.
    Client::new().get(&base).call().unwrap().text().unwrap();
    assert_eq!(ports.lock().unwrap().len(), 2);
    server.stop_now();
}

/// `/301`, `/302`, `/303`, `/307`: redirect to `/target`; `/loop/N`: to `/loop/N+1`;
/// `/target`: the method it was reached with.
fn redirector(env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
    let path = env.path().to_owned();
    let mut body = String::new();
    env.input().read_to_string(&mut body).unwrap();
    if let Some(n) = path.strip_prefix("/loop/") {
        let next = format!("/loop/{}", n.parse::<u32>().unwrap() + 1);
        start.status("302 Found").header("Location", next);
        return Body::empty();
    }
    match path.as_str() {
        "/301" | "/302" | "/303" | "/307" => {
            let status = match path.as_str() {
                "/301" => "301 Moved Permanently",
                "/302" => "302 Found",
                "/303" => "303 See Other",
                _ => "307 Temporary Redirect",
            };
            start.status(status).header("Location", "/target");
            Body::empty()
        }
        _ => {
            start.status("200 OK");
            Body::from(format!("{} {path} {body}", env.method()))
        }
    }
}

#[test]
fn redirects_are_followed() {
    let (server, base) = serve(redirector);
    let client = Client::new();
    for code in ["301", "302", "303", "307"] {
        let r = client.get(&format!("{base}/{code}")).call().unwrap();
        assert_eq!(r.url(), format!("{base}/target"));
        assert_eq!(r.text().unwrap(), "GET /target ", "{code}");
    }
    // 303 turns a POST into a GET, without the body.
    let r = client.post(&format!("{base}/303")).send("data").unwrap();
    assert_eq!(r.text().unwrap(), "GET /target ");
    // 307 keeps the method and sends the body again.
    let r = client.post(&format!("{base}/307")).send("data").unwrap();
    assert_eq!(r.text().unwrap(), "POST /target data");
    // 301 and 302 turn a POST into a GET too.
    let r = client.post(&format!("{base}/301")).send("data").unwrap();
    assert_eq!(r.text().unwrap(), "GET /target ");
    server.stop_now();
}

#[test]
fn redirects_stop_at_the_maximum() {
    let (server, base) = serve(redirector);
    let three = Client::builder().max_redirects(3).build();
    let err = three.get(&format!("{base}/loop/0")).call().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooManyRedirects);
    // Three are fine: /loop/0 -> 1 -> 2 -> 3, then /loop/3 redirects once more.
    let err = three.get(&format!("{base}/loop/1")).call().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooManyRedirects);

    let none = Client::builder().max_redirects(0).build();
    let r = none.get(&format!("{base}/302")).call().unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(r.header("location"), Some("/target"));
    server.stop_now();
}

#[test]
fn cross_origin_redirects_drop_authorization() {
    let auth = |env: &mut Environ<'_>, start: StartResponse<'_>| {
        let seen = env.get("HTTP_AUTHORIZATION").unwrap_or("none").to_owned();
        start.status("200 OK");
        Body::from(seen)
    };
    let (target, target_base) = serve(auth);
    let target_port = target.local_addr().port().unwrap();
    let bounce = move |env: &mut Environ<'_>, start: StartResponse<'_>| {
        let location = match env.path() {
            "/same" => format!("http://127.0.0.1:{target_port}/"),
            _ => format!("http://localhost:{target_port}/"),
        };
        start.status("302 Found").header("Location", location);
        Body::empty()
    };
    let (bouncer, base) = serve(bounce);
    let client = Client::new();
    let get = |path: &str| {
        let r = client
            .get(&format!("{base}{path}"))
            .header("Authorization", "Bearer s3cret");
        r.call().unwrap().text().unwrap()
    };
    // Same host (127.0.0.1), another port: another origin, dropped.
    assert_eq!(get("/same"), "none");
    // Another host name: dropped.
    assert_eq!(get("/other"), "none");
    // Within the origin: kept.
    let path = |env: &mut Environ<'_>, start: StartResponse<'_>| {
        if env.path() == "/from" {
            start
                .status("308 Permanent Redirect")
                .header("Location", "/to");
            return Body::empty();
        }
        let seen = env.get("HTTP_AUTHORIZATION").unwrap_or("none").to_owned();
        start.status("200 OK");
        Body::from(seen)
    };
    let (same, same_base) = serve(path);
    let r = client
        .get(&format!("{same_base}/from"))
        .header("Authorization", "x")
        .call();
    assert_eq!(r.unwrap().text().unwrap(), "x");
    let direct = client
        .get(&target_base)
        .header("Authorization", "y")
        .call()
        .unwrap();
    assert_eq!(direct.text().unwrap(), "y");
    same.stop_now();
    bouncer.stop_now();
    target.stop_now();
}

#[test]
fn read_timeout_against_a_slow_handler() {
    let slow = |_: &mut Environ<'_>, start: StartResponse<'_>| {
        greenlight::sleep(Duration::from_secs(3));
        start.status("200 OK");
        Body::from("late")
    };
    let (server, base) = serve(slow);
    let client = Client::builder()
        .read_timeout(Duration::from_millis(200))
        .build();
    let start = Instant::now();
    let err = client.get(&base).call().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(err.is_timeout());
    assert!(
        start.elapsed() < Duration::from_millis(2500),
        "{:?}",
        start.elapsed()
    );

    // The per-request timeout, from a green thread.
    let g = greenlight::spawn(move || {
        let start = Instant::now();
        let err = Client::new()
            .get(&base)
            .timeout(Duration::from_millis(200))
            .call();
        (err.unwrap_err().kind(), start.elapsed())
    });
    let (kind, took) = g.join().unwrap();
    assert_eq!(kind, ErrorKind::Timeout);
    assert!(took < Duration::from_millis(2500), "{took:?}");
    server.stop_now();
}

#[test]
fn connection_refused_is_a_connect_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let err = Client::new()
        .get(&format!("http://127.0.0.1:{port}/"))
        .call()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connect, "{err}");
    assert!(err.to_string().contains(&port.to_string()), "{err}");
}

#[test]
fn localhost_is_resolved() {
    let (server, _) = serve(echo);
    let port = server.local_addr().port().unwrap();
    // `localhost` may resolve to ::1 first: the server only listens on 127.0.0.1, so this
    // also shows the next address being tried.
    let r = greenlight::spawn(move || {
        Client::new()
            .get(&format!("http://localhost:{port}/dns"))
            .call()?
            .text()
    });
    assert!(r.join().unwrap().unwrap().starts_with("GET /dns"));
    server.stop_now();
}

#[test]
fn a_truncated_body_is_a_protocol_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let peer = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut head = [0u8; 1024];
        let _ = conn.read(&mut head).unwrap();
        conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
            .unwrap();
    });
    let r = Client::new()
        .get(&format!("http://127.0.0.1:{port}/"))
        .call()
        .unwrap();
    peer.join().unwrap();
    assert_eq!(r.text().unwrap_err().kind(), ErrorKind::Protocol);
}

#[test]
fn body_helpers_are_bounded() {
    let big = |_: &mut Environ<'_>, start: StartResponse<'_>| {
        start.status("200 OK");
        Body::from(vec![b'x'; 100_000])
    };
    let (server, base) = serve(big);
    let client = Client::new();
    let err = client
        .get(&base)
        .call()
        .unwrap()
        .limit(1000)
        .text()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BodyTooLarge);
    assert_eq!(
        client.get(&base).call().unwrap().bytes().unwrap().len(),
        100_000
    );
    // Read streams without a limit.
    let mut r = client.get(&base).call().unwrap().limit(10);
    let mut n = 0;
    let mut buf = vec![0u8; 4096];
    loop {
        match r.read(&mut buf).unwrap() {
            0 => break,
            k => n += k,
        }
    }
    assert_eq!(n, 100_000);
    server.stop_now();
}

#[test]
fn many_green_fetches_overlap() {
    const GREENLETS: usize = 100;
    const ROUNDS: usize = 3;
    const THINK: Duration = Duration::from_millis(50);
    let think = |_: &mut Environ<'_>, start: StartResponse<'_>| {
        greenlight::sleep(THINK);
        start.status("200 OK");
        Body::from("done")
    };
    let (server, base) = serve(think);
    let client = Client::builder().max_idle_per_host(GREENLETS).build();
    let start = Instant::now();
    let fetchers: Vec<_> = (0..GREENLETS)
        .map(|_| {
            let (client, base) = (client.clone(), base.clone());
            greenlight::spawn(move || {
                for _ in 0..ROUNDS {
                    assert_eq!(client.get(&base).call().unwrap().text().unwrap(), "done");
                }
            })
        })
        .collect();
    greenlight::joinall(&fetchers, None).unwrap();
    for f in fetchers {
        f.join().unwrap();
    }
    let took = start.elapsed();
    // 300 fetches of 50 ms each: 15 s one after another, ~150 ms when they overlap. The
    // bound is loose for a small, loaded machine.
    assert!(took < Duration::from_secs(5), "took {took:?}");
    server.stop_now();
}

/// A CA and a server certificate for `localhost` and 127.0.0.1 signed by it, made here.
fn test_pki() -> (String, TlsConfig) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    use rcgen::{DnType, KeyUsagePurpose};
    use rustls::pki_types::PrivateKeyDer;

    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "greenlight client test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();

    let key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert = params.signed_by(&key, &ca).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
        )
        .unwrap();
    (ca.pem(), TlsConfig::from(Arc::new(config)))
}

#[test]
fn https_with_a_custom_root() {
    let (ca_pem, tls) = test_pki();
    let scheme = |env: &mut Environ<'_>, start: StartResponse<'_>| {
        let scheme = env.get("wsgi.url_scheme").unwrap_or("?").to_owned();
        start.status("200 OK");
        Body::from(scheme)
    };
    let server = WsgiServer::new("127.0.0.1:0", scheme)
        .tls(tls)
        .start()
        .unwrap();
    let port = server.local_addr().port().unwrap();
    let trusting = Client::builder()
        .platform_roots(false)
        .add_root_certificate_pem(ca_pem.as_bytes())
        .unwrap()
        .build();
    for host in ["localhost", "127.0.0.1"] {
        let url = format!("https://{host}:{port}/");
        let r = trusting.get(&url).call().unwrap();
        assert_eq!(r.text().unwrap(), "https", "{url}");
    }
    // From green threads, several at once, over the pool.
    let fetches: Vec<_> = (0..5)
        .map(|_| {
            let c = trusting.clone();
            greenlight::spawn(move || c.get(&format!("https://localhost:{port}/")).call()?.text())
        })
        .collect();
    for f in fetches {
        assert_eq!(f.join().unwrap().unwrap(), "https");
    }

    // Without the CA, the certificate is not trusted.
    let err = Client::new()
        .get(&format!("https://localhost:{port}/"))
        .call()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
    server.stop_now();
}

#[test]
fn green_tcp_stream_talks_http() {
    let (server, _) = serve(echo);
    let addr = server.local_addr().as_tcp().unwrap();
    let g = greenlight::spawn(move || {
        let mut conn = greenlight::net::TcpStream::connect(("localhost", addr.port()))?;
        conn.set_read_timeout(Some(Duration::from_secs(5)))?;
        conn.write_all(b"GET /raw HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
        let mut reply = String::new();
        conn.read_to_string(&mut reply)?;
        Ok::<_, std::io::Error>(reply)
    });
    let reply = g.join().unwrap().unwrap();
    assert!(reply.starts_with("HTTP/1.1 200 OK"), "{reply}");
    assert!(
        reply.ends_with("GET /raw  x-test=- type=- body="),
        "{reply}"
    );
    server.stop_now();
}

/// The real use: a handler, on its connection's green thread (the server's default stack),
/// calls another service over TLS with a fresh client, so the handshake, certificate
/// checks and the whole exchange run there.
#[test]
fn a_handler_calls_another_service_over_tls() {
    let (ca_pem, tls) = test_pki();
    let backend = |_: &mut Environ<'_>, start: StartResponse<'_>| {
        start.status(200);
        Body::from("from the backend")
    };
    let backend = WsgiServer::new("127.0.0.1:0", backend)
        .tls(tls)
        .start()
        .unwrap();
    let url = format!(
        "https://localhost:{}/",
        backend.local_addr().port().unwrap()
    );
    let front = move |_: &mut Environ<'_>, start: StartResponse<'_>| {
        let client = Client::builder()
            .platform_roots(false)
            .add_root_certificate_pem(ca_pem.as_bytes())
            .unwrap()
            .build();
        let text = client.get(&url).call().and_then(|r| r.text());
        start.status(200);
        Body::from(text.unwrap_or_else(|e| format!("failed: {e}")))
    };
    let (front, base) = serve(front);
    for _ in 0..3 {
        let r = Client::new().get(&base).call().unwrap();
        assert_eq!(r.text().unwrap(), "from the backend");
    }
    front.stop_now();
    backend.stop_now();
}
