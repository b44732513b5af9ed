//! The middleware through [`TestClient`]: statuses and headers, no socket.

use std::path::PathBuf;

use super::lookup::SMALL;
use super::SharedData;
use crate::testing::{TestClient, TestRequest, TestResponse};
use crate::wsgi::{App, Body, Environ, StartResponse};

/// A fresh directory under the system's temporary one, removed on drop.
pub(super) struct TempDir(pub(super) PathBuf);

impl TempDir {
    pub(super) fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("greenlight-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(std::fs::canonicalize(p).unwrap())
    }

    fn write(&self, name: &str, bytes: impl AsRef<[u8]>) {
        let p = self.0.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn fallback(env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
    start.status(404);
    Body::from(format!("app: {}", env.path()))
}

/// A site under `/static/`: `hello.txt` (20 bytes), `big.bin` (larger than SMALL),
/// `style.css` with `.gz` and `.br` variants, `docs/index.html`, `.env`.
fn site(name: &str) -> (TempDir, TestClient<impl App>) {
    let t = TempDir::new(name);
    t.write("hello.txt", "0123456789abcdefghij");
    t.write("big.bin", big());
    t.write("style.css", "body{}");
    t.write("style.css.gz", "gzipped");
    t.write("style.css.br", "brotli");
    t.write("docs/index.html", "<p>docs</p>");
    t.write(".env", "SECRET=1");
    let app = SharedData::new(fallback).mount("/static/", &t.0).unwrap();
    (t, TestClient::new(app))
}

fn big() -> Vec<u8> {
    (0..SMALL as u32 * 5).map(|i| (i % 251) as u8).collect()
}

fn get(c: &TestClient<impl App>, target: &str, headers: &[(&str, &str)]) -> TestResponse {
    let mut r = TestRequest::get(target);
    for (k, v) in headers {
        r = r.header(k, v);
    }
    c.request(r)
}

#[test]
fn files_with_their_headers() {
    let (_t, c) = site("sd-headers");
    let r = c.get("/static/hello.txt");
    assert_eq!(
        (r.status(), r.text()),
        (200, "0123456789abcdefghij".to_owned())
    );
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(r.header("content-length"), Some("20"));
    assert_eq!(r.header("accept-ranges"), Some("bytes"));
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    assert!(r.header("etag").unwrap().starts_with("W/\""));
    assert!(r.header("last-modified").unwrap().ends_with(" GMT"));
    assert_eq!(r.header("vary"), None, "no variants of hello.txt");
    let b = c.get("/static/big.bin");
    assert_eq!(b.status(), 200);
    assert_eq!(b.header("content-type"), Some("application/octet-stream"));
    assert!(
        b.body() == big(),
        "a large file through the fallback path, intact"
    );
}

#[test]
fn head_sends_the_headers_only() {
    let (_t, c) = site("sd-head");
    for path in ["/static/hello.txt", "/static/big.bin"] {
        let r = c.request(TestRequest::new("HEAD", path));
        assert_eq!(r.status(), 200);
        assert!(r.body().is_empty());
        let len = if path.ends_with("txt") {
            20
        } else {
            big().len()
        };
        assert_eq!(r.header("content-length"), Some(len.to_string().as_str()));
    }
}

#[test]
fn other_methods_get_405_on_files_only() {
    let (_t, c) = site("sd-405");
    let r = c.request(TestRequest::post("/static/hello.txt"));
    assert_eq!((r.status(), r.header("allow")), (405, Some("GET, HEAD")));
    let r = c.request(TestRequest::post("/static/missing"));
    assert_eq!(
        (r.status(), r.text()),
        (404, "app: /static/missing".to_owned())
    );
}

#[test]
fn ranges() {
    let (_t, c) = site("sd-range");
    let r = get(&c, "/static/hello.txt", &[("Range", "bytes=10-19")]);
    assert_eq!((r.status(), r.text()), (206, "abcdefghij".to_owned()));
    assert_eq!(r.header("content-range"), Some("bytes 10-19/20"));
    assert_eq!(r.header("content-length"), Some("10"));
    let r = get(&c, "/static/hello.txt", &[("Range", "bytes=-3")]);
    assert_eq!((r.status(), r.text()), (206, "hij".to_owned()));
    let r = get(&c, "/static/big.bin", &[("Range", "bytes=70000-")]);
    assert_eq!(r.status(), 206);
    assert!(r.body() == &big()[70000..]);
    let r = get(&c, "/static/hello.txt", &[("Range", "bytes=20-")]);
    assert_eq!(
        (r.status(), r.header("content-range")),
        (416, Some("bytes */20"))
    );
    let r = get(&c, "/static/hello.txt", &[("Range", "bytes=0-1,5-6")]);
    assert_eq!(
        (r.status(), r.body().len()),
        (200, 20),
        "several ranges: the whole file"
    );
    let r = get(
        &c,
        "/static/hello.txt",
        &[("Range", "bytes=0-1"), ("Accept-Encoding", "gzip")],
    );
    assert_eq!(r.status(), 206);
}

#[test]
fn if_range_by_date_only() {
    let (_t, c) = site("sd-if-range");
    let first = c.get("/static/hello.txt");
    let (etag, modified) = (
        first.header("etag").unwrap(),
        first.header("last-modified").unwrap(),
    );
    let r = get(
        &c,
        "/static/hello.txt",
        &[("Range", "bytes=0-1"), ("If-Range", modified)],
    );
    assert_eq!((r.status(), r.text()), (206, "01".to_owned()));
    let r = get(
        &c,
        "/static/hello.txt",
        &[("Range", "bytes=0-1"), ("If-Range", etag)],
    );
    assert_eq!(r.status(), 200, "a weak tag fails If-Range: the whole file");
    let old = "Sun, 06 Nov 1994 08:49:37 GMT";
    let r = get(
        &c,
        "/static/hello.txt",
        &[("Range", "bytes=0-1"), ("If-Range", old)],
    );
    assert_eq!(r.status(), 200);
}

#[test]
fn conditional_requests() {
    let (_t, c) = site("sd-conditional");
    let first = c.get("/static/hello.txt");
    let (etag, modified) = (
        first.header("etag").unwrap(),
        first.header("last-modified").unwrap(),
    );
    let r = get(&c, "/static/hello.txt", &[("If-None-Match", etag)]);
    assert_eq!((r.status(), r.body().len()), (304, 0));
    assert_eq!(r.header("etag"), Some(etag));
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    let list = format!("\"nope\", {etag}");
    assert_eq!(
        get(&c, "/static/hello.txt", &[("If-None-Match", &list)]).status(),
        304
    );
    assert_eq!(
        get(&c, "/static/hello.txt", &[("If-None-Match", "*")]).status(),
        304
    );
    assert_eq!(
        get(&c, "/static/hello.txt", &[("If-Modified-Since", modified)]).status(),
        304
    );
    let both = [
        ("If-None-Match", "\"nope\""),
        ("If-Modified-Since", modified),
    ];
    assert_eq!(
        get(&c, "/static/hello.txt", &both).status(),
        200,
        "If-None-Match wins"
    );
    let old = "Sun, 06 Nov 1994 08:49:37 GMT";
    assert_eq!(
        get(&c, "/static/hello.txt", &[("If-Modified-Since", old)]).status(),
        200
    );
    assert_eq!(
        get(&c, "/static/hello.txt", &[("If-Unmodified-Since", old)]).status(),
        412
    );
    assert_eq!(
        get(&c, "/static/hello.txt", &[("If-Match", etag)]).status(),
        412
    );
}

#[test]
fn precompressed_variants() {
    let (_t, c) = site("sd-variants");
    let r = get(
        &c,
        "/static/style.css",
        &[("Accept-Encoding", "gzip, deflate")],
    );
    assert_eq!(
        (r.text(), r.header("content-encoding")),
        ("gzipped".to_owned(), Some("gzip"))
    );
    assert_eq!(r.header("content-type"), Some("text/css; charset=utf-8"));
    assert_eq!(r.header("vary"), Some("Accept-Encoding"));
    let gz_tag = r.header("etag").unwrap().to_owned();
    let r = get(&c, "/static/style.css", &[("Accept-Encoding", "gzip, br")]);
    assert_eq!(
        (r.text(), r.header("content-encoding")),
        ("brotli".to_owned(), Some("br"))
    );
    let r = get(
        &c,
        "/static/style.css",
        &[("Accept-Encoding", "br;q=0.5, gzip")],
    );
    assert_eq!(r.text(), "gzipped");
    let r = c.get("/static/style.css");
    assert_eq!(
        (r.text(), r.header("content-encoding")),
        ("body{}".to_owned(), None)
    );
    assert_eq!(r.header("vary"), Some("Accept-Encoding"));
    assert_ne!(r.header("etag"), Some(gz_tag.as_str()));
    let r = get(
        &c,
        "/static/style.css",
        &[("Accept-Encoding", "gzip"), ("If-None-Match", &gz_tag)],
    );
    assert_eq!(r.status(), 304);
}

#[test]
fn directories() {
    let (_t, c) = site("sd-dirs");
    let r = c.get("/static/docs/");
    assert_eq!(
        (r.status(), r.header("content-type")),
        (200, Some("text/html; charset=utf-8"))
    );
    let r = c.get("/static/docs?x=1");
    assert_eq!(
        (r.status(), r.header("location")),
        (301, Some("/static/docs/?x=1"))
    );
    assert_eq!(
        c.get("/static/").status(),
        404,
        "no index.html: the app answers"
    );
    assert_eq!(c.get("/static/").text(), "app: /static/");
}

#[test]
fn no_way_out_of_the_root() {
    let (t, c) = site("sd-escape");
    let outside = TempDir::new("sd-escape-outside");
    outside.write("secret.txt", "secret");
    std::os::unix::fs::symlink(outside.0.join("secret.txt"), t.0.join("link.txt")).unwrap();
    for bad in [
        "/static/../../etc/passwd",
        "/static/%2e%2e/%2e%2e/etc/passwd",
        "/static/%2E%2E/hello.txt",
        "/static/docs%2f..%2f..%2fhello.txt",
        "/static/..%5c..%5cetc%5cpasswd",
        "/static/hello.txt%00.png",
        "/static/.env",
        "/static/link.txt",
    ] {
        let r = c.get(bad);
        assert_eq!(r.status(), 404, "{bad}");
        assert!(
            !r.text().starts_with("app:"),
            "{bad}: refused, not passed on"
        );
        assert!(!r.text().contains("secret"), "{bad}");
    }
    assert_eq!(
        c.get("/static/docs/../hello.txt").status(),
        404,
        "even when it stays inside"
    );
}

#[test]
fn other_paths_reach_the_app() {
    let (_t, c) = site("sd-fallthrough");
    assert_eq!(
        c.get("/staticx/hello.txt").text(),
        "app: /staticx/hello.txt"
    );
    assert_eq!(c.get("/hello.txt").text(), "app: /hello.txt");
    assert_eq!(c.get("/static/nope.txt").text(), "app: /static/nope.txt");
}

#[test]
fn max_age_and_root_mounts() {
    let t = TempDir::new("sd-root");
    t.write("a.json", "{}");
    let app = SharedData::new(fallback)
        .mount("/", &t.0)
        .unwrap()
        .max_age(std::time::Duration::from_secs(60));
    let c = TestClient::new(app);
    let r = c.get("/a.json");
    assert_eq!(
        (r.status(), r.header("content-type")),
        (200, Some("application/json"))
    );
    assert_eq!(r.header("cache-control"), Some("public, max-age=60"));
    assert_eq!(c.get("/../a.json").status(), 404);
}
