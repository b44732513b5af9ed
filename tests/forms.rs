//! Request helpers against bodies made by real clients over loopback: `curl -F` and
//! Python's `requests` send multipart uploads (files with CRLF and boundary-like bytes
//! inside), url-encoded forms, query strings, cookies and JSON to a greenlight server, whose
//! app reports what `Environ`'s helpers read.
//!
//! Python's `requests` comes from the virtual environment `.ci/run` makes in
//! `target/ci-venv` (or the one named by `GREENLIGHT_TEST_VENV`); without it the test fails.

mod common;

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::Command;

use common::run;
use greenlight::server::ServerHandle;
use greenlight::wsgi::{Body, Environ, HttpError, StartResponse, WsgiServer};

/// FNV-1a, 64 bit: the test and the app agree on it without a dependency.
struct Fnv(u64, u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf29ce484222325, 0)
    }
}

impl Write for Fnv {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        for &c in b {
            self.0 = (self.0 ^ c as u64).wrapping_mul(0x100000001b3);
        }
        self.1 += b.len() as u64;
        Ok(b.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn fnv(data: &[u8]) -> String {
    let mut h = Fnv::new();
    h.write_all(data).unwrap();
    format!("{}:{:016x}", h.1, h.0)
}

/// One line per part: `name|filename|content type|size:hash`, and `|text` for a field
/// (CR and LF shown as `\r` and `\n`).
/// Files are streamed through the hash, never held.
fn multipart(env: &Environ<'_>) -> Result<String, HttpError> {
    let mut mp = env.multipart()?.max_parts(50);
    let mut out = String::new();
    while let Some(mut part) = mp.next_part()? {
        let head = format!(
            "{}|{}|{}",
            part.name(),
            part.filename().unwrap_or("-"),
            part.content_type().unwrap_or("-")
        );
        if part.filename().is_some() {
            let mut h = Fnv::new();
            io::copy(&mut part, &mut h)?;
            out += &format!("{head}|{}:{:016x}\n", h.1, h.0);
        } else {
            let text = part.text(64 * 1024)?;
            let shown = text.replace('\r', "\\r").replace('\n', "\\n");
            out += &format!("{head}|{}|{shown}\n", fnv(text.as_bytes()));
        }
    }
    Ok(out)
}

fn lines<'p>(pairs: impl Iterator<Item = (&'p str, &'p str)>) -> String {
    pairs.map(|(k, v)| format!("{k}={v}\n")).collect()
}

/// What the app answers for each path, or the error it answers with.
fn handle(env: &Environ<'_>) -> Result<String, HttpError> {
    Ok(match env.path() {
        "/multipart" => multipart(env)?,
        "/form" => lines(env.form(1 << 20)?.iter()),
        "/query" => env
            .query_pairs()
            .map(|(k, v)| format!("{k}={v}\n"))
            .collect(),
        "/cookies" => env
            .cookies()
            .map(|c| format!("{}={}\n", c.name(), c.value_trimmed()))
            .collect(),
        #[cfg(feature = "json")]
        "/json" => {
            let v: serde_json::Value = env.json(1 << 20)?;
            format!("{v}\n")
        }
        _ => return Err(HttpError::not_found()),
    })
}

fn app(env: &mut Environ<'_>, start: StartResponse<'_>) -> Body {
    match handle(env) {
        Ok(text) => {
            start
                .status(200)
                .header("Content-Type", "text/plain; charset=utf-8");
            Body::from(text)
        }
        Err(e) => {
            start.status(e.status());
            Body::from(e.message().to_owned())
        }
    }
}

fn serve() -> (ServerHandle, u16) {
    let h = WsgiServer::new("127.0.0.1:0", app)
        .max_body_size(16 << 20)
        .start()
        .unwrap();
    let port = h.local_addr().port().unwrap();
    (h, port)
}

/// Bytes that look like the ends of parts: CRLFs, `--`, curl's and urllib3's boundary
/// prefixes, a boundary-like line cut short, around every byte value.
fn tricky(size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + 300);
    let pieces: [&[u8]; 5] = [
        b"\r\n--",
        b"\r\n------------------------",
        b"\r\n--------------------------d74496d66958873e\r\n",
        b"\r\r\n\n--\r\n\r\n",
        b"\r\n--e2ca8d4a9b1c0f3e--\r\n",
    ];
    let mut i = 0usize;
    while out.len() < size {
        out.extend((0..=255u8).cycle().skip(i % 256).take(97 + i % 200));
        out.extend_from_slice(pieces[i % pieces.len()]);
        i += 1;
    }
    out.truncate(size);
    out
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("greenlight-forms-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn curl(args: &[&str]) -> String {
    let (ok, out, err) = run(
        Command::new("curl")
            .args(["-sS", "--fail-with-body"])
            .args(args),
        60,
    );
    assert!(ok, "curl {args:?} failed: {out}{err}");
    out
}

#[test]
fn curl_multipart_files_and_fields() {
    let (_h, port) = serve();
    let big = tricky(1_500_000); // over 1 MiB: curl sends Expect: 100-continue
    let small = tricky(5000);
    let (big_path, small_path, empty_path) =
        (scratch("big.bin"), scratch("small.bin"), scratch("empty"));
    std::fs::write(&big_path, &big).unwrap();
    std::fs::write(&small_path, &small).unwrap();
    std::fs::write(&empty_path, b"").unwrap();
    let url = format!("http://127.0.0.1:{port}/multipart");
    let out = curl(&[
        "--form-string",
        "name=Jürgen",
        "--form-string",
        "lines=one\r\ntwo\r\n--three",
        "-F",
        &format!("big=@{};type=application/octet-stream", big_path.display()),
        "-F",
        &format!("small=@{};filename=naïve résumé.bin", small_path.display()),
        "-F",
        &format!("empty=@{};type=text/plain", empty_path.display()),
        "--form-string",
        "last=",
        &url,
    ]);
    let text_line = |name: &str, v: &str| {
        let shown = v.replace('\r', "\\r").replace('\n', "\\n");
        format!("{name}|-|-|{}|{shown}", fnv(v.as_bytes()))
    };
    let want = [
        text_line("name", "Jürgen"),
        text_line("lines", "one\r\ntwo\r\n--three"),
        format!("big|big.bin|application/octet-stream|{}", fnv(&big)),
        format!(
            "small|naïve résumé.bin|application/octet-stream|{}",
            fnv(&small)
        ),
        format!("empty|empty|text/plain|{}", fnv(b"")),
        text_line("last", ""),
    ];
    let got: Vec<&str> = out.lines().collect();
    assert_eq!(got, want.iter().map(String::as_str).collect::<Vec<_>>());
    let _ = std::fs::remove_dir_all(big_path.parent().unwrap());
}

#[test]
fn curl_forms_query_cookies_and_json() {
    let (_h, port) = serve();
    let url = |p: &str| format!("http://127.0.0.1:{port}{p}");
    let out = curl(&[
        "--data-urlencode",
        "who=Jürgen M",
        "--data-urlencode",
        "eq=a=b&c",
        "-d",
        "who=again",
        &url("/form?not=form"),
    ]);
    assert_eq!(out, "who=Jürgen M\neq=a=b&c\nwho=again\n");
    let out = curl(&[&url("/query?q=J%C3%BCrgen+M&tag=a&tag=b&bad=%FF&flag")]);
    assert_eq!(out, "q=Jürgen M\ntag=a\ntag=b\nbad=\u{fffd}\nflag=\n");
    let out = curl(&[
        "-b",
        "sid=abc; theme=\"dark%20blue\"; junk",
        &url("/cookies"),
    ]);
    assert_eq!(out, "sid=abc\ntheme=dark blue\n");
    let json = r#"{"name": "Jürgen", "n": [1, 2.5, null]}"#;
    let out = curl(&[
        "-H",
        "Content-Type: application/json",
        "-d",
        json,
        &url("/json"),
    ]);
    assert_eq!(out, "{\"n\":[1,2.5,null],\"name\":\"Jürgen\"}\n");
    // Errors keep their status through `?`.
    let (ok, out, _) = run(
        Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
            .args(["-H", "Content-Type: text/plain", "-d", "x", &url("/json")]),
        20,
    );
    assert!(ok);
    assert_eq!(out, "415");
    let (_, out, _) = run(
        Command::new("curl")
            .args(["-s", "-w", " %{http_code}"])
            .args([
                "-H",
                "Content-Type: application/json",
                "-d",
                "{",
                &url("/json"),
            ]),
        20,
    );
    assert!(out.ends_with(" 400") && out.contains("EOF"), "{out}");
}

/// Uploads with `requests` and checks the app's report against what was sent; prints
/// "ok" or the difference.
const PY_REQUESTS: &str = r#"
import sys, requests
base = f"http://127.0.0.1:{sys.argv[1]}"

def fnv(data):
    h = 0xcbf29ce484222325
    for c in data:
        h = ((h ^ c) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return f"{len(data)}:{h:016x}"

pieces = [b"\r\n--", b"\r\n--" + b"0" * 30, b"\r\r\n\n--\r\n", b"--\r\n\r\n"]
blob = b"".join(bytes(range(256)) + pieces[i % 4] for i in range(8000))
fails = []
def check(what, got, want):
    if got != want:
        fails.append(f"{what}:\n got  {got!r}\n want {want!r}")

files = [
    ("blob", ("blob.bin", blob, "application/octet-stream")),
    ("note", ("Jürgen's \"notes\".txt", "héllo\r\n".encode(), "text/plain; charset=utf-8")),
    ("blob", ("second.bin", blob[:1000], "image/png")),
]
data = {"field": "value with spaces & = signs", "utf": "Jürgen ✓\r\n--", "multi": ["1", "2"]}
r = requests.post(base + "/multipart", files=files, data=data, timeout=30)
want = []
for name, value in [("field", data["field"]), ("utf", data["utf"]), ("multi", "1"), ("multi", "2")]:
    shown = value.replace("\r", "\\r").replace("\n", "\\n")
    want.append(f"{name}|-|-|{fnv(value.encode())}|{shown}")
for name, (fname, content, ctype) in files:
    # urllib3 writes '"' in a filename as %22 (as browsers do, by the HTML standard);
    # the parser gives the filename as sent.
    want.append(f"{name}|{fname.replace(chr(34), '%22')}|{ctype}|{fnv(content)}")
check("multipart", (r.status_code, r.text.splitlines()), (200, want))

r = requests.post(base + "/form?q=1", data={"a": "x y", "b": "ü&=+"}, timeout=30)
check("form", r.text, "a=x y\nb=ü&=+\n")
r = requests.get(base + "/query", params={"q": "Jürgen M", "t": ["a", "b"]}, timeout=30)
check("query", r.text, "q=Jürgen M\nt=a\nt=b\n")
r = requests.get(base + "/cookies", cookies={"sid": "abc", "n": "1"}, timeout=30)
check("cookies", sorted(r.text.splitlines()), ["n=1", "sid=abc"])
r = requests.post(base + "/json", json={"k": ["ü", 1]}, timeout=30)
check("json", r.text, '{"k":["ü",1]}\n')
r = requests.post(base + "/form", json={"k": 1}, timeout=30)
check("form given json", r.status_code, 415)
print("\n".join(fails) if fails else "ok")
"#;

#[test]
fn python_requests_uploads() {
    let python = common::venv_python("requests");
    let (_h, port) = serve();
    let (ok, out, err) = run(
        Command::new(python).args(["-c", PY_REQUESTS, &port.to_string()]),
        60,
    );
    assert!(ok, "{out}{err}");
    assert_eq!(out.trim(), "ok");
}
