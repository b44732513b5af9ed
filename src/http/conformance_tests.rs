//! gunicorn's request corpus (`tests/data/gunicorn-requests.json`, MIT, licence beside it)
//! run through the sans-IO core: every valid case must parse to the expected requests and
//! bodies, every invalid case must be refused by the parser or the chunked decoder (or be
//! left incomplete at end of input, which the server answers by closing).
//!
//! Cases that need something outside this core are listed in [`NOT_APPLICABLE`] with the
//! reason; their number is asserted so that none is skipped silently.

use super::decode::{Chunk, ChunkedDecoder};
use super::proxy;
use super::request::{BodyLength, HeadStatus, Limits, RequestHead, Version};
use super::Error;

static CORPUS: &str = include_str!("../../tests/data/gunicorn-requests.json");

/// Cases the core cannot decide alone, and why.
const NOT_APPLICABLE: &[(&str, &str)] = &[
    // gunicorn-only lenient options we do not offer (h1probe reports them n/a as well).
    (
        "valid/028",
        "strip_header_spaces: we always refuse space before the colon",
    ),
    (
        "valid/031compat",
        "permit_unconventional_http_method + casefold_http_method",
    ),
    ("valid/031compat2", "permit_unconventional_http_method"),
    (
        "valid/compat_obs_fold",
        "permit_obsolete_folding: we always refuse obs-fold",
    ),
    (
        "valid/compat_obs_fold_huge",
        "permit_obsolete_folding: we always refuse obs-fold",
    ),
    (
        "valid/040_compat",
        "header_map=dangerous: the WSGI layer always drops '_' headers",
    ),
    (
        "invalid/040",
        "header_map=refuse: the WSGI layer drops '_' headers instead",
    ),
    (
        "invalid/chunked_07",
        "header_map=refuse: the WSGI layer drops '_' headers instead",
    ),
    // Conflicting X-Forwarded-Proto / X-Forwarded-Ssl from a trusted peer is judged where
    // forwarded_allow_ips is known: the WSGI layer.
    (
        "invalid/019",
        "InvalidSchemeHeaders: WSGI layer (forwarded_allow_ips)",
    ),
];

// ---------------------------------------------------------------------------------------
// A minimal JSON reader: enough for the corpus (objects, arrays, strings, numbers, bools).

#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn str(&self) -> &str {
        match self {
            Json::Str(s) => s,
            other => panic!("expected a string, got {other:?}"),
        }
    }

    fn arr(&self) -> &[Json] {
        match self {
            Json::Arr(items) => items,
            other => panic!("expected an array, got {other:?}"),
        }
    }
}

struct JsonParser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl JsonParser<'_> {
    fn parse(text: &str) -> Json {
        let mut p = JsonParser {
            s: text.as_bytes(),
            pos: 0,
        };
        let v = p.value();
        p.ws();
        assert_eq!(p.pos, p.s.len(), "trailing bytes after JSON");
        v
    }

    fn ws(&mut self) {
        while self.pos < self.s.len() && self.s[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    fn eat(&mut self, b: u8) -> bool {
        self.ws();
        if self.s.get(self.pos) == Some(&b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> Json {
        self.ws();
        match self.s[self.pos] {
            b'{' => {
                self.pos += 1;
                let mut fields = Vec::new();
                if !self.eat(b'}') {
                    loop {
                        self.ws();
                        let key = self.string();
                        assert!(self.eat(b':'), "expected ':' at {}", self.pos);
                        fields.push((key, self.value()));
                        if self.eat(b'}') {
                            break;
                        }
                        assert!(self.eat(b','), "expected ',' at {}", self.pos);
                    }
                }
                Json::Obj(fields)
            }
            b'[' => {
                self.pos += 1;
                let mut items = Vec::new();
                if !self.eat(b']') {
                    loop {
                        items.push(self.value());
                        if self.eat(b']') {
                            break;
                        }
                        assert!(self.eat(b','), "expected ',' at {}", self.pos);
                    }
                }
                Json::Arr(items)
            }
            b'"' => Json::Str(self.string()),
            b't' => self.word("true", Json::Bool(true)),
            b'f' => self.word("false", Json::Bool(false)),
            b'n' => self.word("null", Json::Null),
            _ => {
                let start = self.pos;
                while self.pos < self.s.len()
                    && matches!(
                        self.s[self.pos],
                        b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'
                    )
                {
                    self.pos += 1;
                }
                let text = std::str::from_utf8(&self.s[start..self.pos]).unwrap();
                Json::Num(
                    text.parse()
                        .unwrap_or_else(|_| panic!("bad number {text:?}")),
                )
            }
        }
    }

    fn word(&mut self, word: &str, v: Json) -> Json {
        assert!(self.s[self.pos..].starts_with(word.as_bytes()));
        self.pos += word.len();
        v
    }

    fn hex4(&mut self) -> u32 {
        let text = std::str::from_utf8(&self.s[self.pos..self.pos + 4]).unwrap();
        self.pos += 4;
        u32::from_str_radix(text, 16).unwrap()
    }

    fn string(&mut self) -> String {
        assert_eq!(self.s[self.pos], b'"');
        self.pos += 1;
        let mut out = String::new();
        loop {
            let start = self.pos;
            while !matches!(self.s[self.pos], b'"' | b'\\') {
                self.pos += 1;
            }
            out.push_str(std::str::from_utf8(&self.s[start..self.pos]).unwrap());
            let b = self.s[self.pos];
            self.pos += 1;
            if b == b'"' {
                return out;
            }
            let e = self.s[self.pos];
            self.pos += 1;
            match e {
                b'n' => out.push('\n'),
                b'r' => out.push('\r'),
                b't' => out.push('\t'),
                b'b' => out.push('\u{8}'),
                b'f' => out.push('\u{c}'),
                b'u' => {
                    let mut c = self.hex4();
                    if (0xd800..0xdc00).contains(&c) {
                        assert_eq!(&self.s[self.pos..self.pos + 2], b"\\u");
                        self.pos += 2;
                        let low = self.hex4();
                        c = 0x10000 + ((c - 0xd800) << 10) + (low - 0xdc00);
                    }
                    out.push(char::from_u32(c).unwrap());
                }
                other => out.push(other as char), // '"', '\\', '/'
            }
        }
    }
}

/// Decodes standard base64 (with padding).
fn base64(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => panic!("bad base64 byte {c}"),
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

/// The corpus's strings hold bytes as latin-1 characters.
fn latin1(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| u8::try_from(u32::from(c)).expect("latin-1 character"))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Driving the core over one connection's bytes.

/// One request as the core understood it.
#[derive(Debug)]
struct Got {
    method: Vec<u8>,
    uri: Vec<u8>,
    version: Version,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    body: Vec<u8>,
    trailers: Vec<(Vec<u8>, Vec<u8>)>,
    keep_alive: bool,
}

/// Why a connection's bytes did not yield only complete requests.
#[derive(Debug)]
enum Stop {
    /// A protocol error: the server answers with its status and closes.
    Error(Error),
    /// The input ended inside a request (head or body): the server closes.
    Eof,
    /// The last request did not allow keep-alive; what follows is never read.
    Close,
    /// All input consumed at a request boundary.
    Done,
}

/// A small deterministic generator for split points.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// Runs `raw` through head parsing and body decoding, like a connection would, feeding
/// chunked bodies in random pieces.
fn run(raw: &[u8], limits: &Limits, rng: &mut Rng) -> (Vec<Got>, Stop) {
    let mut got = Vec::new();
    let mut head = RequestHead::new();
    let mut pos = 0;
    loop {
        if pos == raw.len() {
            return (got, Stop::Done);
        }
        let buf = &raw[pos..];
        let n = match head.parse(buf, limits) {
            Ok(HeadStatus::Complete(n)) => n,
            Ok(HeadStatus::Partial) => return (got, Stop::Eof),
            Err(e) => return (got, Stop::Error(e)),
        };
        // Every shorter prefix of a complete head is Partial, never an error.
        for cut in [n / 2, n - 1] {
            assert_eq!(
                head.clone().parse(&buf[..cut], limits),
                Ok(HeadStatus::Partial)
            );
        }
        let mut req = Got::new(&head, buf);
        pos += n;
        let stop = match head.body {
            BodyLength::Empty => None,
            BodyLength::Length(len) => read_length(raw, &mut pos, len, &mut req),
            BodyLength::Chunked => read_chunked(raw, &mut pos, rng, &mut req),
        };
        let keep_alive = req.keep_alive;
        got.push(req);
        if let Some(stop) = stop {
            return (got, stop);
        }
        if !keep_alive {
            return (got, Stop::Close);
        }
    }
}

impl Got {
    /// The request `head` describes, parsed from `buf`, before its body is read.
    fn new(head: &RequestHead, buf: &[u8]) -> Got {
        Got {
            method: head.method.get(buf).to_vec(),
            uri: head.target.get(buf).to_vec(),
            version: head.version,
            headers: head
                .headers
                .iter()
                .map(|h| (h.name.get(buf).to_vec(), h.value.get(buf).to_vec()))
                .collect(),
            body: Vec::new(),
            trailers: Vec::new(),
            keep_alive: head.keep_alive,
        }
    }
}

/// Reads a body of `len` bytes at `raw[*pos..]` into `req`; `Some` if the input ends first.
fn read_length(raw: &[u8], pos: &mut usize, len: u64, req: &mut Got) -> Option<Stop> {
    let take = (raw.len() - *pos).min(len as usize);
    req.body.extend_from_slice(&raw[*pos..*pos + take]);
    *pos += take;
    (take < len as usize).then_some(Stop::Eof)
}

/// Decodes a chunked body at `raw[*pos..]` into `req`, in random pieces; `Some` if it
/// ends in an error or with the input.
fn read_chunked(raw: &[u8], pos: &mut usize, rng: &mut Rng, req: &mut Got) -> Option<Stop> {
    let mut dec = ChunkedDecoder::new();
    loop {
        let rest = &raw[*pos..];
        let piece = &rest[..rest.len().min(1 + rng.below(16))];
        match dec.decode(piece) {
            Ok((used, Chunk::Data(r))) => {
                assert_eq!(r.end, used);
                req.body.extend_from_slice(&piece[r]);
                *pos += used;
            }
            Ok((used, Chunk::More)) => {
                assert_eq!(used, piece.len());
                *pos += used;
                if *pos == raw.len() {
                    return Some(Stop::Eof);
                }
            }
            Ok((used, Chunk::End)) => {
                *pos += used;
                break;
            }
            Err(e) => return Some(Stop::Error(e)),
        }
    }
    assert!(dec.is_done());
    req.trailers = dec
        .trailers()
        .map(|(n, v)| (n.to_vec(), v.to_vec()))
        .collect();
    None
}

/// The statuses that count as the right refusal for a gunicorn error class (as h1probe).
fn allowed(class: &str) -> &'static [u16] {
    match class {
        "LimitRequestLine" => &[400, 414],
        "LimitRequestHeaders" => &[400, 431],
        "InvalidHTTPVersion" => &[400, 505],
        "UnsupportedTransferCoding" => &[400, 501],
        _ => &[400],
    }
}

fn limits_for(case: &Json) -> Limits {
    let mut limits = Limits::default();
    if let Some(Json::Obj(config)) = case.get("config") {
        for (key, value) in config {
            let n = || match value {
                Json::Num(n) => *n as usize,
                other => panic!("{key}: {other:?}"),
            };
            match key.as_str() {
                // gunicorn's 0 means "the default" for the field limits; so does ours.
                "limit_request_line" => limits.request_line = n(),
                "limit_request_fields" => limits.fields = n(),
                "limit_request_field_size" => limits.field_size = n(),
                _ => {}
            }
        }
    }
    limits
}

fn headers_of(list: &Json) -> Vec<(Vec<u8>, Vec<u8>)> {
    list.arr()
        .iter()
        .map(|pair| (latin1(pair.arr()[0].str()), latin1(pair.arr()[1].str())))
        .collect()
}

/// `headers` with names upper-cased, and without the `_` names the WSGI layer drops.
fn normalized(headers: &[(Vec<u8>, Vec<u8>)]) -> Vec<(Vec<u8>, Vec<u8>)> {
    headers
        .iter()
        .filter(|(n, _)| !n.contains(&b'_'))
        .map(|(n, v)| (n.to_ascii_uppercase(), v.clone()))
        .collect()
}

/// Why RFC 9112 has the server refuse a request the corpus lists as valid (gunicorn
/// accepts it), or `None`: an HTTP/1.1 request without Host (§3.2), or a Transfer-Encoding
/// whose last coding is not chunked (§6.3; 501 for an unknown coding, §6.1). h1probe
/// accepts the same refusals.
fn rfc_refusal(expect: &Json) -> Option<&'static str> {
    let version = expect.get("version").unwrap().arr();
    let headers = headers_of(expect.get("headers").unwrap());
    let named = |n: &'static [u8]| {
        headers
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(n))
    };
    if version == [Json::Num(1.0), Json::Num(1.0)] && named(b"host").next().is_none() {
        return Some("HTTP/1.1 without Host");
    }
    let te: Vec<&[u8]> = named(b"transfer-encoding")
        .flat_map(|(_, v)| v.split(|&b| b == b','))
        .map(|c| c.trim_ascii())
        .filter(|c| !c.is_empty())
        .collect();
    match te.last() {
        Some(last) if last.eq_ignore_ascii_case(b"chunked") => None,
        None if named(b"transfer-encoding").next().is_none() => None,
        _ => Some("Transfer-Encoding without chunked last"),
    }
}

/// How many requests of the valid cases the RFC has us refuse ([`rfc_refusal`]).
const RFC_REFUSALS: usize = 21;

fn check_valid(name: &str, case: &Json, got: &[Got], stop: &Stop) -> usize {
    let expect = case.get("expect").unwrap().arr();
    // A request the RFC refuses ends the exchange there: the requests before it must be
    // right, and the refusal must be a 400 (or 501).
    if let Stop::Error(e) = stop {
        if let Some(why) = expect.get(got.len()).and_then(rfc_refusal) {
            assert!(
                [400, 501].contains(&e.status()),
                "{name}: {why}, refused with {e}"
            );
            check_valid(name, &without_tail(case, got.len()), got, &Stop::Done);
            return 1;
        }
    }
    assert_eq!(
        got.len(),
        expect.len(),
        "{name}: requests {got:?} stop {stop:?}"
    );
    for (i, (g, e)) in got.iter().zip(expect).enumerate() {
        let ctx = format!("{name} request {}", i + 1);
        assert_eq!(g.method, latin1(e.get("method").unwrap().str()), "{ctx}");
        assert_eq!(g.uri, latin1(e.get("uri").unwrap().str()), "{ctx}");
        let version = match e.get("version").unwrap().arr() {
            [Json::Num(a), Json::Num(b)] if *a == 1.0 && *b == 0.0 => Version::Http10,
            [Json::Num(a), Json::Num(b)] if *a == 1.0 && *b == 1.0 => Version::Http11,
            other => panic!("{ctx}: version {other:?}"),
        };
        assert_eq!(g.version, version, "{ctx}");
        let want = normalized(&headers_of(e.get("headers").unwrap()));
        assert_eq!(normalized(&g.headers), want, "{ctx}");
        let trailers = normalized(&headers_of(e.get("trailers").unwrap()));
        assert_eq!(normalized(&g.trailers), trailers, "{ctx}");
        assert_eq!(g.body, base64(e.get("body_b64").unwrap().str()), "{ctx}");
    }
    match stop {
        Stop::Done | Stop::Close => {}
        // A case whose body is shorter than its Content-Length (valid/099): gunicorn's
        // harness reads to EOF; the body bytes present were all checked above.
        Stop::Eof => assert!(
            matches!(got.last(), Some(g) if !g.body.is_empty()),
            "{name}: ended inside a head"
        ),
        Stop::Error(e) => panic!("{name}: refused: {e}"),
    }
    0
}

/// `case` with only its first `n` expected requests.
fn without_tail(case: &Json, n: usize) -> Json {
    let Json::Obj(fields) = case else {
        panic!("a case is an object")
    };
    let fields = fields
        .iter()
        .map(|(k, v)| match (k.as_str(), v) {
            ("expect", Json::Arr(all)) => (k.clone(), Json::Arr(all[..n].to_vec())),
            _ => (k.clone(), v.clone()),
        })
        .collect();
    Json::Obj(fields)
}

fn check_invalid(name: &str, class: &str, stop: &Stop) {
    match stop {
        Stop::Error(e) => {
            // CORPUS_VERBOSE=1 lists which error each refusal came from.
            if std::env::var_os("CORPUS_VERBOSE").is_some() {
                eprintln!("{name:45} {class:28} -> {:?}: {e}", e.kind());
            }
            assert!(
                allowed(class).contains(&e.status()),
                "{name}: expected {class}, got {e}"
            );
        }
        // NoMoreData, ChunkMissingTerminator: the input ends inside a request; the server
        // closes the connection without a response, which counts as a refusal.
        Stop::Eof => {}
        other => panic!("{name}: expected {class}, but accepted ({other:?})"),
    }
}

#[test]
fn gunicorn_corpus() {
    let corpus = JsonParser::parse(CORPUS);
    let cases = corpus.arr();
    assert_eq!(cases.len(), 137);
    let (mut valid, mut invalid, mut na, mut refused) = (0, 0, 0, 0);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for case in cases {
        let name = case.get("name").unwrap().str();
        if NOT_APPLICABLE.iter().any(|(n, _)| *n == name) {
            na += 1;
            continue;
        }
        let raw = base64(case.get("raw_b64").unwrap().str());
        let limits = limits_for(case);
        // With proxy_protocol set, the server strips the PROXY header (if any) first, as
        // the connection loop does.
        let proxied = matches!(
            case.get("config").and_then(|c| c.get("proxy_protocol")),
            Some(Json::Bool(true))
        );
        let raw = if proxied {
            match proxy::parse(&raw) {
                Ok(proxy::ProxyStatus::Complete(n, _)) => raw[n..].to_vec(),
                Ok(proxy::ProxyStatus::Absent) => raw,
                Ok(proxy::ProxyStatus::Partial) => panic!("{name}: PROXY header cut short"),
                Err(e) => {
                    check_invalid(
                        name,
                        case.get("expect_error")
                            .expect("refused a valid case")
                            .str(),
                        &Stop::Error(e),
                    );
                    invalid += 1;
                    continue;
                }
            }
        } else {
            raw
        };
        // Several runs: the chunked bodies are cut at different random points each time.
        for _ in 0..8 {
            let (got, stop) = run(&raw, &limits, &mut rng);
            match case.get("expect_error") {
                Some(class) => check_invalid(name, class.str(), &stop),
                None => refused += check_valid(name, case, &got, &stop),
            }
        }
        if case.get("expect_error").is_some() {
            invalid += 1;
        } else {
            valid += 1;
        }
    }
    assert_eq!(
        na,
        NOT_APPLICABLE.len(),
        "a listed n/a case is missing from the corpus"
    );
    assert_eq!((valid, invalid, na), (57, 71, 9));
    // Each case runs 8 times.
    assert_eq!(
        refused,
        8 * RFC_REFUSALS,
        "requests refused as the RFC asks"
    );
}

#[test]
fn json_and_base64_helpers() {
    let v = JsonParser::parse(r#"{"a": [1, -2.5e1, true, null, "x\u00e9\"\\"], "b": {}}"#);
    assert_eq!(
        v.get("a").unwrap().arr(),
        &[
            Json::Num(1.0),
            Json::Num(-25.0),
            Json::Bool(true),
            Json::Null,
            Json::Str("x\u{e9}\"\\".into())
        ]
    );
    assert_eq!(base64("aGVsbG8gd29ybGQ="), b"hello world");
    assert_eq!(base64("YQ=="), b"a");
    assert_eq!(base64(""), b"");
}
