//! Differential test of the request-head parser against httparse, an independent parser
//! (hyper's), over generated requests.
//!
//! For every request both parsers see the same bytes. When both accept, they must agree on
//! the head's length, method, request-target, version and header fields. When only
//! httparse accepts, our refusal must fall in one of the explained classes below, and the
//! bytes (as httparse read them) must show the reason: httparse checks the syntax of lines
//! and bytes only, and leaves the meaning of fields, the request-target's form and some
//! leniencies to its caller. When only we accept, or a refusal has no explanation, the
//! test fails.
//!
//! The classes where we refuse and httparse accepts, each explained in [`explain`]:
//! a bare LF line end and more than 8 empty lines before the request line (leniencies
//! RFC 9112 §2.2 allows, which we do not take); a lower-case method; a request-target in a
//! form its method may not use, or a CONNECT port out of range; the Host rules of RFC 9112
//! §3.2 (missing in HTTP/1.1, repeated, invalid or empty, unlike the target's authority);
//! a repeated Content-Type; and the framing rules of RFC 9112 §6 (Content-Length invalid
//! or repeated, with Transfer-Encoding, a Transfer-Encoding without chunked last, unknown,
//! or in HTTP/1.0). There is no class where httparse refuses and we accept.
//!
//! The generator is a small deterministic one (xorshift), so a failure is reproducible;
//! it mixes well-formed requests with edge bytes, bad line endings and conflicting framing.

use greenlight::http::{Error, ErrorKind, HeadStatus, Limits, RequestHead, Version};

/// Requests generated per run: a few hundred milliseconds in a debug build.
const CASES: usize = 30_000;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True with probability `n` in 100.
    fn percent(&mut self, n: usize) -> bool {
        self.below(100) < n
    }

    fn pick<'a, T: ?Sized>(&mut self, items: &[&'a T]) -> &'a T {
        items[self.below(items.len())]
    }
}

const METHODS: &[&[u8]] = &[
    b"GET",
    b"GET",
    b"POST",
    b"PUT",
    b"HEAD",
    b"OPTIONS",
    b"CONNECT",
    b"DELETE",
    b"-BLARGH",
    b"get",
    b"Post",
    b"G\x00T",
    b"GET:",
    b"G\xc3\x9fT",
];

const TARGETS: &[&[u8]] = &[
    b"/",
    b"/a/b?c=d&e",
    b"/a%20b",
    b"//x",
    b"/with_\"quotes\"",
    b"/caf\xc3\xa9",
    b"/a#frag",
    b"*",
    b"example.com:443",
    b"example.com:0",
    b"example.com",
    b"[::1]:8080",
    b"http://example.com/x?y",
    b"https://example.com",
    b"http://user:pw@example.com:8080/p",
    b"http://[::1]:80/",
    b"http:///x",
    b"mailto:a@b",
    b"a/b",
    b"/a\x7fb",
    b"/a\x01b",
    b"/a\tb",
];

const VERSIONS: &[&[u8]] = &[
    b"HTTP/1.1",
    b"HTTP/1.1",
    b"HTTP/1.1",
    b"HTTP/1.0",
    b"HTTP/1.2",
    b"HTTP/2.0",
    b"HTTP/0.9",
    b"http/1.1",
    b"HTTP/1.1 ",
    b"HTTP/1.10",
    b"HTTPS/1.1",
];

const HOSTS: &[&[u8]] = &[
    b"example.com",
    b"example.com",
    b"EXAMPLE.com:443",
    b"example.com:8080",
    b"[::1]:8080",
    b"[::1]",
    b"192.0.2.1:80",
    b"",
    b"a b",
    b"a/b",
    b"u@example.com",
    b"example.com:99999x",
    b"a%zz",
    b"[::::1]",
    b"a, b",
];

const FIELDS: &[(&[u8], &[&[u8]])] = &[
    (
        b"Content-Length",
        &[
            b"5", b"0", b"00", b"-1", b"+1", b"5, 5", b"0x5", b"1 2", b"",
        ],
    ),
    (
        b"Transfer-Encoding",
        &[
            b"chunked",
            b"CHUNKED",
            b"gzip, chunked",
            b"identity, chunked",
            b"identity",
            b"gzip",
            b"chunked, gzip",
            b"br",
            b"",
            b"chunked;q=1",
        ],
    ),
    (
        b"Connection",
        &[b"close", b"keep-alive", b"Upgrade, close", b""],
    ),
    (b"Expect", &[b"100-continue", b"100-Continue", b"nothing"]),
    (b"Content-Type", &[b"text/plain", b"a"]),
    (b"Accept", &[b"*/*", b"text/html, application/xml;q=0.9"]),
    (
        b"X-Edge",
        &[
            b"plain",
            b"caf\xc3\xa9",
            b"\xff\x80",
            b"a\tb",
            b"a\x01b",
            b"a\x7fb",
            b"a\x00b",
            b"a\rb",
            b"  padded \t",
            b"\"quoted\"",
        ],
    ),
    (b"X_Under", &[b"1"]),
    (b"X.Tok|~!#$%&'*+^`", &[b"ok"]),
];

/// Field lines that are malformed as lines, not as values.
const BAD_LINES: &[&[u8]] = &[
    b"Host : example.com",
    b"X-A\t: 1",
    b": empty-name",
    b"NoColon",
    b" leading-space: 1",
    b"\tfolded",
    b"Na\x00me: 1",
    b"N\xc3\xa4me: 1",
    b"X Y: 1",
];

const NINE_EMPTY_LINES: &[u8] = b"\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n";

/// One generated request: its bytes.
fn request(rng: &mut Rng) -> Vec<u8> {
    let clean = rng.percent(50);
    let mut buf = Vec::new();
    if !clean && rng.percent(15) {
        let leading: &[u8] = rng.pick(&[&b"\r\n"[..], b"\n", b"\r\n\r\n", NINE_EMPTY_LINES]);
        buf.extend_from_slice(leading);
    }
    let eol: &[u8] = if clean || rng.percent(85) {
        b"\r\n"
    } else {
        rng.pick(&[&b"\n"[..], b"\r", b"\r\r\n"])
    };
    let (method, target, version): (&[u8], &[u8], &[u8]) = if clean {
        let m = rng.pick(&[&b"GET"[..], b"POST", b"PUT", b"DELETE"]);
        (
            m,
            rng.pick(&TARGETS[..7]),
            rng.pick(&[&b"HTTP/1.1"[..], b"HTTP/1.0"]),
        )
    } else {
        (rng.pick(METHODS), rng.pick(TARGETS), rng.pick(VERSIONS))
    };
    let sep: &[u8] = if clean || rng.percent(95) {
        b" "
    } else {
        b"  "
    };
    buf.extend_from_slice(method);
    buf.extend_from_slice(sep);
    buf.extend_from_slice(target);
    buf.extend_from_slice(b" ");
    buf.extend_from_slice(version);
    buf.extend_from_slice(eol);

    let mut lines: Vec<Vec<u8>> = Vec::new();
    // Host: one when clean (the target is then in origin-form), else zero to two.
    let hosts = if clean {
        1
    } else {
        [0, 1, 1, 1, 2][rng.below(5)]
    };
    for _ in 0..hosts {
        let value = if clean {
            b"example.com"
        } else {
            rng.pick(HOSTS)
        };
        lines.push([b"Host: ", value].concat());
    }
    for _ in 0..rng.below(5) {
        let (name, values) = FIELDS[rng.below(FIELDS.len())];
        if clean && (name == b"Transfer-Encoding" || name == b"Content-Length") {
            continue;
        }
        let values = if clean { &values[..1] } else { values };
        let value = rng.pick(values);
        let colon: &[u8] = if rng.percent(80) { b": " } else { b":" };
        lines.push([name, colon, value].concat());
    }
    if clean && method != b"GET" && rng.percent(50) {
        lines.push(b"Content-Length: 5".to_vec());
    }
    if !clean && rng.percent(20) {
        let at = rng.below(lines.len() + 1);
        lines.insert(at, rng.pick(BAD_LINES).to_vec());
    }
    for line in &lines {
        buf.extend_from_slice(line);
        buf.extend_from_slice(eol);
    }
    buf.extend_from_slice(eol);
    buf
}

/// What httparse read, in the shape we compare.
#[derive(Debug, PartialEq)]
struct Head {
    len: usize,
    method: Vec<u8>,
    target: Vec<u8>,
    version: u8,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |i| i + 1);
    &v[start..end]
}

/// httparse's view: `Ok(Some(head))`, `Ok(None)` for partial, or its error.
fn theirs(buf: &[u8]) -> Result<Option<Head>, httparse::Error> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    Ok(match req.parse(buf)? {
        httparse::Status::Partial => None,
        httparse::Status::Complete(len) => Some(Head {
            len,
            method: req.method.unwrap().as_bytes().to_vec(),
            target: req.path.unwrap().as_bytes().to_vec(),
            version: req.version.unwrap(),
            headers: req
                .headers
                .iter()
                .map(|h| (h.name.as_bytes().to_vec(), trim(h.value).to_vec()))
                .collect(),
        }),
    })
}

/// Our view, in the same shape.
fn ours(buf: &[u8]) -> Result<Option<Head>, Error> {
    let mut head = RequestHead::new();
    Ok(match head.parse(buf, &Limits::default())? {
        HeadStatus::Partial => None,
        HeadStatus::Complete(len) => Some(Head {
            len,
            method: head.method.get(buf).to_vec(),
            target: head.target.get(buf).to_vec(),
            version: match head.version {
                Version::Http10 => 0,
                Version::Http11 => 1,
            },
            headers: head
                .headers
                .iter()
                .map(|h| (h.name.get(buf).to_vec(), h.value.get(buf).to_vec()))
                .collect(),
        }),
    })
}

fn fields<'h>(head: &'h Head, name: &'h str) -> impl Iterator<Item = &'h [u8]> + 'h {
    head.headers
        .iter()
        .filter(move |(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
        .map(|(_, v)| v.as_slice())
}

/// Why we refuse a request httparse accepts, checked against what httparse read; `None`
/// if the refusal is not explained.
fn explain(err: &Error, buf: &[u8], head: &Head) -> Option<&'static str> {
    let count = |name| fields(head, name).count();
    let detail = err.detail();
    let target = head.target.as_slice();
    let explained = match err.kind() {
        // httparse accepts a LF alone as a line end (RFC 9112 §2.2: "a recipient MAY
        // recognize a single LF as a line terminator"); we refuse it, as a proxy in front
        // that reads it otherwise is a smuggling vector. Likewise for any number of empty
        // lines before the request line, where we stop at 8.
        ErrorKind::BadRequestLine | ErrorKind::BadHeader
            if buf.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r') || buf[0] == b'\n' =>
        {
            Some("bare LF line end: httparse allows it (RFC 9112 §2.2 MAY), we refuse")
        }
        ErrorKind::BadRequestLine if detail == "too many empty lines" => {
            Some("more than 8 empty lines before the request line: httparse skips any number")
        }
        // httparse takes any token as a method; RFC 9110 §9.1 makes methods
        // case-sensitive, and we refuse lower case as gunicorn does.
        ErrorKind::BadRequestLine if head.method.iter().any(u8::is_ascii_lowercase) => {
            Some("lower-case method: httparse accepts any token")
        }
        // httparse checks the target's bytes only; RFC 9112 §3.2 gives its four forms and
        // which method may use which, and RFC 9110 §9.3.6 the port of a CONNECT.
        ErrorKind::BadRequestLine if target[0] != b'/' || head.method == b"CONNECT" => {
            Some("request-target form (RFC 9112 §3.2, RFC 9110 §9.3.6): httparse checks bytes only")
        }
        // httparse does not read fields. RFC 9112 §3.2: Host missing in HTTP/1.1,
        // repeated, or invalid: 400; and unlike the target's authority (§3.2, §3.2.2).
        ErrorKind::BadHeader if detail == "missing Host" => {
            (head.version == 1 && count("host") == 0).then_some("Host missing in HTTP/1.1")
        }
        ErrorKind::BadHeader if detail == "repeated Host" => {
            (count("host") > 1).then_some("Host repeated")
        }
        ErrorKind::BadHeader if detail == "empty Host" || detail == "invalid Host" => {
            (count("host") == 1).then_some("Host value invalid or empty")
        }
        ErrorKind::BadHeader if detail == "Host differs from the request-target's authority" => {
            (target[0] != b'/').then_some("Host unlike the absolute-form or CONNECT authority")
        }
        // RFC 9110 §5.3: a field that is not a list may not be repeated.
        ErrorKind::BadHeader if detail == "repeated Content-Type" => {
            (count("content-type") > 1).then_some("Content-Type repeated")
        }
        // Framing (RFC 9112 §6), which httparse leaves to its caller.
        ErrorKind::BadContentLength => {
            (count("content-length") > 0).then_some("Content-Length invalid or repeated")
        }
        ErrorKind::LengthAndTransferEncoding => (count("content-length") > 0
            && count("transfer-encoding") > 0)
            .then_some("Content-Length with Transfer-Encoding"),
        ErrorKind::ChunkedNotLast
        | ErrorKind::UnknownTransferCoding
        | ErrorKind::TransferEncodingInHttp10 => (count("transfer-encoding") > 0)
            .then_some("Transfer-Encoding not ending in chunked, unknown, or in HTTP/1.0"),
        _ => None,
    };
    explained
}

#[test]
fn httparse_agrees_or_we_are_stricter_for_a_reason() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut tally: std::collections::BTreeMap<&'static str, usize> = Default::default();
    for i in 0..CASES {
        let buf = request(&mut rng);
        let show = || format!("case {i}: {:?}", String::from_utf8_lossy(&buf));
        let class = match (ours(&buf), theirs(&buf)) {
            (Ok(Some(a)), Ok(Some(b))) => {
                assert_eq!(a, b, "{}", show());
                "both accept, same head"
            }
            (Err(_), Err(_)) | (Err(_), Ok(None)) | (Ok(None), Ok(None)) => "both refuse",
            // A bare CR inside a line: httparse waits or fails later than we do.
            (Ok(None), Err(_)) => "both refuse",
            (Err(e), Ok(Some(head))) => match explain(&e, &buf, &head) {
                Some(why) => why,
                None => panic!("unexplained refusal ({e}, {:?}): {}", e.kind(), show()),
            },
            (Ok(a), b) => panic!("we accept ({a:?}), httparse does not ({b:?}): {}", show()),
        };
        *tally.entry(class).or_default() += 1;
    }
    // Something of everything was generated: the agreement and the main classes.
    for class in [
        "both accept, same head",
        "both refuse",
        "Host missing in HTTP/1.1",
        "Host value invalid or empty",
        "Content-Length invalid or repeated",
    ] {
        assert!(
            tally.get(class).copied().unwrap_or(0) > 20,
            "{class}: {tally:#?}"
        );
    }
    eprintln!("{tally:#?}");
}
