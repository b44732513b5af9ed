//! The access log, in gunicorn's format and with its atoms.
//!
//! | atom | meaning |
//! |---|---|
//! | `h` | remote address (`REMOTE_ADDR`, after middleware) |
//! | `l` | `-` |
//! | `u` | user name (`-`) |
//! | `t` | date of the request, `[23/Nov/2026:19:36:00 +0000]` |
//! | `r` | request line, `GET /path?q HTTP/1.1` |
//! | `m` `U` `q` `H` | method, path, query string, protocol |
//! | `s` | status |
//! | `B` / `b` | response body bytes (`b`: `-` for 0) |
//! | `f` / `a` | referer / user agent |
//! | `T` `M` `D` `L` | request time in seconds, milliseconds, microseconds, decimal seconds |
//! | `p` | process id |
//! | `{name}i` / `{name}o` / `{KEY}e` | a request header / response header / environ key |
//!
//! With `--access-log-json` each line is instead one JSON object holding every atom as a
//! named field (see `AccessLog::format_json`).
//!
//! Lines go to a writer thread ([`crate::logging::LogSink`]): writing a log line never
//! blocks a green-thread worker.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::environ::latin1;
use super::response::ResponseHead;
use crate::http::request::{RequestHead, Version};
use crate::logging::{LogSink, UtcTime};

/// One piece of a parsed access-log format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Atom {
    Lit(String),
    Remote,
    Dash,
    Time,
    RequestLine,
    Method,
    Path,
    Query,
    Protocol,
    Status,
    BytesOrZero,
    BytesOrDash,
    Referer,
    Agent,
    Secs,
    Millis,
    Micros,
    DecimalSecs,
    Pid,
    ReqHeader(String),
    RespHeader(String),
    Env(String),
}

/// A parsed access-log format plus where lines go.
#[derive(Clone)]
pub(crate) struct AccessLog {
    atoms: Vec<Atom>,
    /// One JSON object per line instead of the format.
    json: bool,
    sink: LogSink,
    /// Environ keys the format needs (captured after the app ran, since middleware may
    /// have changed them).
    pub(crate) env_keys: Vec<String>,
}

/// What a log line needs from one exchange.
pub(crate) struct Entry<'a> {
    pub(crate) env_values: &'a [Option<String>],
    pub(crate) method: &'a str,
    pub(crate) target: &'a str,
    pub(crate) protocol: &'a str,
    pub(crate) status: u16,
    pub(crate) bytes: u64,
    pub(crate) request_header: &'a dyn Fn(&str) -> Option<String>,
    pub(crate) response_header: &'a dyn Fn(&str) -> Option<String>,
    pub(crate) started: SystemTime,
    pub(crate) took: Duration,
}

/// One request and its answer, as the connection saw them.
pub(crate) struct Exchange<'a> {
    pub(crate) head: &'a RequestHead,
    /// The bytes `head` indexes.
    pub(crate) buf: &'a [u8],
    pub(crate) resp: &'a ResponseHead,
    pub(crate) env_values: &'a [Option<String>],
    pub(crate) started: SystemTime,
    pub(crate) took: Duration,
}

/// Parses gunicorn's `%(x)s` format.
pub(crate) fn parse_format(fmt: &str) -> Vec<Atom> {
    let mut atoms = Vec::new();
    let mut lit = String::new();
    let mut rest = fmt;
    while let Some(p) = rest.find("%(") {
        lit.push_str(&rest[..p]);
        let after = &rest[p + 2..];
        let Some(close) = after.find(")s") else {
            lit.push_str(&rest[p..]);
            rest = "";
            break;
        };
        let name = &after[..close];
        let atom = match name {
            "h" => Some(Atom::Remote),
            "l" | "u" => Some(Atom::Dash),
            "t" => Some(Atom::Time),
            "r" => Some(Atom::RequestLine),
            "m" => Some(Atom::Method),
            "U" => Some(Atom::Path),
            "q" => Some(Atom::Query),
            "H" => Some(Atom::Protocol),
            "s" => Some(Atom::Status),
            "B" => Some(Atom::BytesOrZero),
            "b" => Some(Atom::BytesOrDash),
            "f" => Some(Atom::Referer),
            "a" => Some(Atom::Agent),
            "T" => Some(Atom::Secs),
            "M" => Some(Atom::Millis),
            "D" => Some(Atom::Micros),
            "L" => Some(Atom::DecimalSecs),
            "p" => Some(Atom::Pid),
            n if n.starts_with('{') && n.len() > 3 => {
                let (inner, kind) = n[1..].split_at(n.len() - 2);
                let inner = inner.strip_suffix('}');
                match (inner, kind) {
                    (Some(h), "i") => Some(Atom::ReqHeader(h.to_owned())),
                    (Some(h), "o") => Some(Atom::RespHeader(h.to_owned())),
                    (Some(k), "e") => Some(Atom::Env(k.to_owned())),
                    _ => None,
                }
            }
            _ => None,
        };
        match atom {
            Some(a) => {
                if !lit.is_empty() {
                    atoms.push(Atom::Lit(std::mem::take(&mut lit)));
                }
                atoms.push(a);
            }
            // gunicorn prints unknown atoms as "-".
            None => lit.push('-'),
        }
        rest = &after[close + 2..];
    }
    lit.push_str(rest);
    if !lit.is_empty() {
        atoms.push(Atom::Lit(lit));
    }
    atoms
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

impl AccessLog {
    /// A log in `format`, or, with `json`, one JSON object per line (with the header and
    /// environ atoms of `format` as extra fields).
    pub(crate) fn with_json(format: &str, json: bool, sink: LogSink) -> Self {
        let atoms = parse_format(format);
        let mut env_keys = vec!["REMOTE_ADDR".to_owned()];
        for a in &atoms {
            if let Atom::Env(k) = a {
                env_keys.push(k.clone());
            }
        }
        AccessLog {
            atoms,
            json,
            sink,
            env_keys,
        }
    }

    /// Logs one answered request: `env_values` are the values of
    /// [`env_keys`](Self::env_keys) the environ held after the app ran.
    pub(crate) fn log_exchange(&self, x: &Exchange<'_>, status: u16, bytes: u64) {
        let rh = |name: &str| {
            x.head
                .headers
                .iter()
                .find(|h| h.name.get(x.buf).eq_ignore_ascii_case(name.as_bytes()))
                .map(|h| latin1(h.value.get(x.buf)).into_owned())
        };
        let oh = |name: &str| x.resp.header(name).map(str::to_owned);
        let method = latin1(x.head.method.get(x.buf));
        let target = latin1(x.head.target.get(x.buf));
        self.log(&Entry {
            env_values: x.env_values,
            method: &method,
            target: &target,
            protocol: match x.head.version {
                Version::Http10 => "HTTP/1.0",
                Version::Http11 => "HTTP/1.1",
            },
            status,
            bytes,
            request_header: &rh,
            response_header: &oh,
            started: x.started,
            took: x.took,
        });
    }

    /// Formats and queues one line.
    pub(crate) fn log(&self, e: &Entry<'_>) {
        let line = if self.json {
            self.format_json(e)
        } else {
            self.format(e)
        };
        self.sink.write_line(line);
    }

    pub(crate) fn format(&self, e: &Entry<'_>) -> String {
        let mut s = String::with_capacity(128);
        let dash = |v: Option<String>| v.filter(|v| !v.is_empty()).unwrap_or_else(|| "-".into());
        let mut env_i = 1; // env_values[0] is REMOTE_ADDR
        for a in &self.atoms {
            match a {
                Atom::Lit(l) => s.push_str(l),
                Atom::Remote => s.push_str(&dash(e.env_values.first().cloned().flatten())),
                Atom::Dash => s.push('-'),
                Atom::Time => {
                    let secs = e
                        .started
                        .duration_since(UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs());
                    let t = UtcTime::from_unix(secs);
                    let _ = write!(
                        s,
                        "[{:02}/{}/{}:{:02}:{:02}:{:02} +0000]",
                        t.day,
                        MONTHS[(t.month as usize).clamp(1, 12) - 1],
                        t.year,
                        t.hour,
                        t.minute,
                        t.second
                    );
                }
                Atom::RequestLine => {
                    let _ = write!(s, "{} {} {}", e.method, e.target, e.protocol);
                }
                Atom::Method => s.push_str(e.method),
                Atom::Path => s.push_str(e.target.split('?').next().unwrap_or("")),
                Atom::Query => s.push_str(e.target.split_once('?').map_or("", |(_, q)| q)),
                Atom::Protocol => s.push_str(e.protocol),
                Atom::Status => {
                    let _ = write!(s, "{}", e.status);
                }
                Atom::BytesOrZero => {
                    let _ = write!(s, "{}", e.bytes);
                }
                Atom::BytesOrDash => {
                    if e.bytes == 0 {
                        s.push('-');
                    } else {
                        let _ = write!(s, "{}", e.bytes);
                    }
                }
                Atom::Referer => s.push_str(&dash((e.request_header)("referer"))),
                Atom::Agent => s.push_str(&dash((e.request_header)("user-agent"))),
                Atom::Secs => {
                    let _ = write!(s, "{}", e.took.as_secs());
                }
                Atom::Millis => {
                    let _ = write!(s, "{}", e.took.as_millis());
                }
                Atom::Micros => {
                    let _ = write!(s, "{}", e.took.as_micros());
                }
                Atom::DecimalSecs => {
                    let _ = write!(s, "{:.6}", e.took.as_secs_f64());
                }
                Atom::Pid => {
                    let _ = write!(s, "<{}>", std::process::id());
                }
                Atom::ReqHeader(h) => s.push_str(&dash((e.request_header)(h))),
                Atom::RespHeader(h) => s.push_str(&dash((e.response_header)(h))),
                Atom::Env(_) => {
                    s.push_str(&dash(e.env_values.get(env_i).cloned().flatten()));
                    env_i += 1;
                }
            }
        }
        s
    }
}

impl AccessLog {
    /// One exchange as a JSON object, every gunicorn atom a named field: `h` remote_addr,
    /// `t` time (RFC 3339, UTC), `r` request, `m` method, `U` path, `q` query, `H`
    /// protocol, `f` referer, `a` user_agent (absent headers `null`), `s` status, `B`
    /// bytes, `L` request_time, `T` request_time_s, `M` request_time_ms, `D`
    /// request_time_us, `p` pid (numbers as numbers); then the format's `{name}i`,
    /// `{name}o` and `{KEY}e` atoms as `req.name`, `resp.name` and `env.KEY`. Strings are
    /// escaped for any byte a client can send (bytes outside ASCII arrive as latin-1
    /// characters and leave as their UTF-8).
    pub(crate) fn format_json(&self, e: &Entry<'_>) -> String {
        let mut s = String::with_capacity(320);
        let secs = e
            .started
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let t = UtcTime::from_unix(secs);
        let time = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            t.year, t.month, t.day, t.hour, t.minute, t.second
        );
        let request = format!("{} {} {}", e.method, e.target, e.protocol);
        let remote = e.env_values.first().cloned().flatten();
        let (referer, agent) = (
            (e.request_header)("referer"),
            (e.request_header)("user-agent"),
        );
        let texts: [(&str, Option<&str>); 9] = [
            ("remote_addr", remote.as_deref()),
            ("time", Some(&time)),
            ("request", Some(&request)),
            ("method", Some(e.method)),
            ("path", Some(e.target.split('?').next().unwrap_or(""))),
            (
                "query",
                Some(e.target.split_once('?').map_or("", |(_, q)| q)),
            ),
            ("protocol", Some(e.protocol)),
            ("referer", referer.as_deref()),
            ("user_agent", agent.as_deref()),
        ];
        s.push('{');
        for (i, (name, value)) in texts.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            json_field(&mut s, name, *value);
        }
        let _ = write!(
            s,
            ",\"status\":{},\"bytes\":{},\"request_time\":{:.6},\"request_time_s\":{},\
             \"request_time_ms\":{},\"request_time_us\":{},\"pid\":{}",
            e.status,
            e.bytes,
            e.took.as_secs_f64(),
            e.took.as_secs(),
            e.took.as_millis(),
            e.took.as_micros(),
            std::process::id()
        );
        let mut env_i = 1;
        for a in &self.atoms {
            let (name, value) = match a {
                Atom::ReqHeader(h) => (format!("req.{h}"), (e.request_header)(h)),
                Atom::RespHeader(h) => (format!("resp.{h}"), (e.response_header)(h)),
                Atom::Env(k) => {
                    env_i += 1;
                    (
                        format!("env.{k}"),
                        e.env_values.get(env_i - 1).cloned().flatten(),
                    )
                }
                _ => continue,
            };
            s.push(',');
            json_field(&mut s, &name, value.as_deref());
        }
        s.push('}');
        s
    }
}

/// `"name":"value"` (or `null`).
fn json_field(s: &mut String, name: &str, value: Option<&str>) {
    crate::logging::push_json_string(s, name);
    s.push(':');
    match value {
        Some(v) => crate::logging::push_json_string(s, v),
        None => s.push_str("null"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "json")]
    #[test]
    fn json_lines_name_every_atom_and_escape_any_byte() {
        let log = AccessLog::with_json(
            "%(h)s %({x-id}i)s %({Server}o)s %({PATH_INFO}e)s",
            true,
            LogSink::open_stderr().unwrap(),
        );
        let env = [Some("10.0.0.1".to_owned()), Some("/a/b".to_owned())];
        // What a client can send: quotes, backslashes, control bytes, latin-1 bytes.
        let rh = |h: &str| match h {
            "user-agent" => Some("evil\"\\\u{1}\u{1b}[31m\u{e9}\u{ff}".to_owned()),
            "x-id" => Some("7".to_owned()),
            _ => None,
        };
        let oh = |h: &str| (h == "Server").then(|| "gl".to_owned());
        let line = log.format_json(&entry(&env, &rh, &oh));
        assert!(!line.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).expect(&line);
        assert_eq!(v["remote_addr"], "10.0.0.1");
        assert_eq!(v["time"], "1994-11-06T08:49:37Z");
        assert_eq!(v["request"], "GET /a/b?x=1 HTTP/1.1");
        assert_eq!(
            (v["path"].as_str(), v["query"].as_str()),
            (Some("/a/b"), Some("x=1"))
        );
        assert_eq!(
            (v["status"].as_u64(), v["bytes"].as_u64()),
            (Some(200), Some(12))
        );
        assert_eq!(v["request_time_us"].as_u64(), Some(1534));
        assert_eq!(v["referer"], serde_json::Value::Null);
        assert_eq!(v["user_agent"], "evil\"\\\u{1}\u{1b}[31m\u{e9}\u{ff}");
        assert_eq!(
            (v["req.x-id"].as_str(), v["resp.Server"].as_str()),
            (Some("7"), Some("gl"))
        );
        assert_eq!(v["env.PATH_INFO"], "/a/b");
        assert_eq!(v["pid"].as_u64(), Some(u64::from(std::process::id())));
    }

    fn entry<'a>(
        env: &'a [Option<String>],
        rh: &'a dyn Fn(&str) -> Option<String>,
        oh: &'a dyn Fn(&str) -> Option<String>,
    ) -> Entry<'a> {
        Entry {
            env_values: env,
            method: "GET",
            target: "/a/b?x=1",
            protocol: "HTTP/1.1",
            status: 200,
            bytes: 12,
            request_header: rh,
            response_header: oh,
            started: UNIX_EPOCH + Duration::from_secs(784111777),
            took: Duration::from_micros(1534),
        }
    }

    #[test]
    fn gunicorn_default_format() {
        let log = AccessLog::with_json(
            crate::config::DEFAULT_ACCESS_LOG_FORMAT,
            false,
            LogSink::open_stderr().unwrap(),
        );
        let env = [Some("10.0.0.1".to_owned())];
        let rh = |h: &str| (h == "user-agent").then(|| "curl/8".to_owned());
        let oh = |_: &str| None;
        assert_eq!(
            log.format(&entry(&env, &rh, &oh)),
            r#"10.0.0.1 - - [06/Nov/1994:08:49:37 +0000] "GET /a/b?x=1 HTTP/1.1" 200 12 "-" "curl/8""#
        );
    }

    #[test]
    fn every_atom() {
        let log = AccessLog::with_json(
            "%(m)s|%(U)s|%(q)s|%(H)s|%(s)s|%(B)s|%(T)s|%(M)s|%(D)s|%(L)s|%({x-id}i)s|%({Server}o)s|%({PATH_INFO}e)s|%(zz)s",
            false,
            LogSink::open_stderr().unwrap(),
        );
        assert_eq!(log.env_keys, ["REMOTE_ADDR", "PATH_INFO"]);
        let env = [None, Some("/a/b".to_owned())];
        let rh = |h: &str| (h == "x-id").then(|| "7".to_owned());
        let oh = |h: &str| (h == "Server").then(|| "gl".to_owned());
        assert_eq!(
            log.format(&entry(&env, &rh, &oh)),
            "GET|/a/b|x=1|HTTP/1.1|200|12|0|1|1534|0.001534|7|gl|/a/b|-"
        );
    }
}
