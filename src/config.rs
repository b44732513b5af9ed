//! gunicorn-style configuration, from the command line and the environment.
//!
//! Any binary built on greenlight accepts gunicorn's flags:
//!
//! ```no_run
//! let config = greenlight::Config::from_args(); // exits on --help, --version or a bad flag
//! for problem in config.unsupported() {
//!     eprintln!("error: {problem}");
//! }
//! ```
//!
//! [`Config::try_from_args`] is the same parser without the process-level effects, for
//! tests and for programs that want their own error handling.
//!
//! # Sources, in order of precedence (last wins)
//!
//! 1. gunicorn's defaults ([`Config::default`]);
//! 2. the environment: `PORT` (default bind `0.0.0.0:$PORT`), `WEB_CONCURRENCY` (default
//!    workers), `FORWARDED_ALLOW_IPS` (default `--forwarded-allow-ips`);
//! 3. `GUNICORN_CMD_ARGS`: flags, split on whitespace (single and double quotes group words);
//! 4. the command line.
//!
//! An environment variable that is set is always validated, even when a flag overrides it.
//!
//! # Differences from gunicorn
//!
//! - gunicorn treats `--limit-request-line 0` and `--limit-request-fields 0` as "unlimited"
//!   and silently caps values over 8190 bytes and 32768 fields. Here `0` means those caps;
//!   a request line may be set up to [`MAX_REQUEST_LINE`] (64 KiB, so gunicorn settings
//!   such as 8200 keep working), and a value over a maximum is an error.
//! - `--limit-request-field-size 0` means the default, 8190 bytes, as gunicorn's parser
//!   does in practice (its docs say "unlimited"); values up to [`MAX_FIELD_SIZE`] (64 KiB)
//!   are accepted, larger values are an error.
//! - `--header-timeout` and `--body-timeout` are greenlight's own (every read has a
//!   deadline); they must be greater than zero.
//! - Positional arguments (gunicorn's `APP_MODULE`) are rejected: the app is the program.

use std::fmt;
use std::time::Duration;

/// Most bytes `--limit-request-line` allows (also what `0` means): gunicorn's cap.
pub const MAX_REQUEST_LINE: usize = 65536;

/// What `--limit-request-line 0` means: gunicorn's cap, 8190 bytes.
pub const ZERO_REQUEST_LINE: usize = 8190;
/// Most header fields `--limit-request-fields` allows (also what `0` means): gunicorn's cap.
pub const MAX_REQUEST_FIELDS: usize = 32768;
/// Largest `--limit-request-field-size`.
pub const MAX_FIELD_SIZE: usize = 65536;

/// gunicorn's default longest header field, also what `--limit-request-field-size 0` means.
pub const DEFAULT_FIELD_SIZE: usize = 8190;
/// Smallest `--stack-size` accepted (the runtime's own floor).
pub const MIN_STACK_SIZE: usize = 8 * 1024;
/// Largest `--stack-size` accepted.
pub const MAX_STACK_SIZE: usize = 1024 * 1024 * 1024;

/// gunicorn's default access-log format.
pub const DEFAULT_ACCESS_LOG_FORMAT: &str =
    r#"%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s""#;

/// Server configuration, with gunicorn's flags and defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `-b/--bind`, repeatable. Default `127.0.0.1:8000`, or `0.0.0.0:$PORT` when `PORT` is set.
    pub binds: Vec<String>,
    /// `-w/--workers`: worker processes. Default 1, or `WEB_CONCURRENCY`.
    pub workers: usize,
    /// `--threads`: may worker threads per process; 0 means one per core.
    pub threads: usize,
    /// `--stack-size`: green-thread stack size in bytes.
    pub stack_size: usize,
    /// `--backlog`: the listen queue. Default 2048.
    pub backlog: u32,
    /// `--reuse-port`: set SO_REUSEPORT on listeners. Default off.
    pub reuse_port: bool,
    /// `--worker-connections`: concurrent connections per worker process. Default 1000.
    pub worker_connections: usize,
    /// `--keep-alive`: idle keep-alive timeout. Default 5 s.
    pub keep_alive: Duration,
    /// `--timeout`: worker heartbeat timeout. Default 30 s.
    pub timeout: Duration,
    /// `--graceful-timeout`: grace period on stop. Default 30 s.
    pub graceful_timeout: Duration,
    /// `--header-timeout`: time allowed to receive a whole request head. Default 10 s.
    pub header_timeout: Duration,
    /// `--body-timeout`: longest wait for the next piece of a request body. Default 30 s.
    pub body_timeout: Duration,
    /// `--limit-request-line`: longest request line in bytes. Default 4094 (0 = 8190, gunicorn's cap; at most 65536).
    /// The parser stores 8190 for `0`; [`Config::limits`] also maps a `0` set in code.
    pub limit_request_line: usize,
    /// `--limit-request-fields`: most header fields. Default 100 (0 = 32768, the max).
    pub limit_request_fields: usize,
    /// `--limit-request-field-size` (or `--limit-request-field_size`): longest header field.
    /// Default 8190 (0 means the default, 8190, as in gunicorn's parser).
    pub limit_request_field_size: usize,
    /// `--access-logfile`: `-` for stdout, a path, or `None` (off, the default).
    pub access_logfile: Option<String>,
    /// `--access-logformat`: gunicorn's atoms.
    pub access_log_format: String,
    /// `--error-logfile`: `-` (stderr, the default) or a path.
    pub error_logfile: String,
    /// `--log-level`: debug, info, warning (or warn), error, critical. Default info.
    /// `critical` maps to [`log::LevelFilter::Error`] (the `log` facade has no higher level).
    pub log_level: log::LevelFilter,
    /// `--forwarded-allow-ips`: peers trusted to set the scheme. Default `127.0.0.1,::1`, or
    /// `FORWARDED_ALLOW_IPS`. Each entry is an IP address, a CIDR network (`10.0.0.0/8`) or
    /// `*` (trust every peer); the parser has checked each one.
    pub forwarded_allow_ips: Vec<String>,
    /// `--proxy-protocol`: expect a PROXY protocol header on each connection.
    pub proxy_protocol: bool,
    /// `--proxy-allow-ips`: peers allowed to send a PROXY header. Default `127.0.0.1,::1`.
    /// Same syntax as `forwarded_allow_ips`.
    pub proxy_allow_ips: Vec<String>,
    /// `--max-requests`: recycle a worker after this many requests (0 = never).
    pub max_requests: u64,
    /// `--max-requests-jitter`: random extra requests before recycling.
    pub max_requests_jitter: u64,
    /// `--certfile`: TLS certificate chain (PEM).
    pub certfile: Option<String>,
    /// `--keyfile`: TLS private key (PEM).
    pub keyfile: Option<String>,
    /// `--ca-certs`: CA bundle for client certificates (PEM).
    pub ca_certs: Option<String>,
    /// `--pid`: write the master's pid to this file.
    pub pid: Option<String>,
}

impl Default for Config {
    /// gunicorn's defaults (see each field), ignoring the environment.
    fn default() -> Self {
        Config {
            binds: vec!["127.0.0.1:8000".to_owned()],
            workers: 1,
            threads: 0,
            stack_size: crate::green::runtime::DEFAULT_STACK_SIZE,
            backlog: 2048,
            reuse_port: false,
            worker_connections: 1000,
            keep_alive: Duration::from_secs(5),
            timeout: Duration::from_secs(30),
            graceful_timeout: Duration::from_secs(30),
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            limit_request_line: 4094,
            limit_request_fields: 100,
            limit_request_field_size: 8190,
            access_logfile: None,
            access_log_format: DEFAULT_ACCESS_LOG_FORMAT.to_owned(),
            error_logfile: "-".to_owned(),
            log_level: log::LevelFilter::Info,
            forwarded_allow_ips: default_ips(),
            proxy_protocol: false,
            proxy_allow_ips: default_ips(),
            max_requests: 0,
            max_requests_jitter: 0,
            certfile: None,
            keyfile: None,
            ca_certs: None,
            pid: None,
        }
    }
}

fn default_ips() -> Vec<String> {
    vec!["127.0.0.1".to_owned(), "::1".to_owned()]
}

/// Why [`Config::try_from_args`] did not return a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// `--help` or `-h` was given: the help text, ready to print to stdout.
    Help(String),
    /// `--version` or `-v` was given: the version line, ready to print to stdout.
    Version(String),
    /// A bad flag, value or environment variable; the message names it, e.g.
    /// `invalid value 'abc' for --workers: expected a positive integer`.
    Invalid(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Help(text) | ConfigError::Version(text) => f.write_str(text),
            ConfigError::Invalid(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for ConfigError {}

impl From<ConfigError> for crate::Error {
    fn from(e: ConfigError) -> Self {
        crate::Error::Config(e.to_string())
    }
}

impl Config {
    /// Reads the process's command line and environment, gunicorn style.
    ///
    /// On `--help`/`-h` prints the help to stdout and exits 0; on `--version`/`-v` prints
    /// the version and exits 0; on a bad flag or value prints `error: <message>` and a hint
    /// to stderr and exits 2. Use [`Config::try_from_args`] to handle these yourself.
    ///
    /// Settings this build cannot honour are *not* checked here: see
    /// [`Config::unsupported`].
    pub fn from_args() -> Config {
        let mut args = std::env::args_os();
        let prog = args
            .next()
            .map(|a| {
                std::path::Path::new(&a)
                    .file_name()
                    .map_or_else(|| a.clone(), |n| n.to_owned())
                    .to_string_lossy()
                    .into_owned()
            })
            .unwrap_or_else(|| "greenlight".to_owned());
        let mut utf8 = Vec::new();
        let mut result = Ok(());
        for a in args {
            match a.into_string() {
                Ok(s) => utf8.push(s),
                Err(bad) => {
                    result = Err(ConfigError::Invalid(format!(
                        "argument '{}' is not valid UTF-8",
                        bad.to_string_lossy()
                    )));
                    break;
                }
            }
        }
        let env = |key: &str| std::env::var_os(key).map(|v| v.to_string_lossy().into_owned());
        let parsed = result.and_then(|()| parse(&prog, utf8, &env));
        match parsed {
            Ok(config) => config,
            Err(ConfigError::Help(text)) => {
                print!("{text}");
                std::process::exit(0)
            }
            Err(ConfigError::Version(text)) => {
                println!("{text}");
                std::process::exit(0)
            }
            Err(ConfigError::Invalid(msg)) => {
                eprintln!("error: {msg}\n\nFor more information, try '{prog} --help'.");
                std::process::exit(2)
            }
        }
    }

    /// Parses `args` (without the program name) over the environment that `env` reads.
    ///
    /// Values come, lowest precedence first, from the defaults, the environment (`PORT`,
    /// `WEB_CONCURRENCY`, `FORWARDED_ALLOW_IPS`), `GUNICORN_CMD_ARGS`, and `args`. Flags take
    /// their value as `--flag value` or `--flag=value`; the short forms `-b`, `-w` and `-t`
    /// also accept `-bVALUE`. A following word that looks like a flag (`--x`, `-x`) is not
    /// taken as a value (`-1` and `-` are); write `--flag=--value` for such a value.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Help`] / [`ConfigError::Version`] when asked for, and
    /// [`ConfigError::Invalid`] naming the flag (or variable) and the bad value.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenlight::config::{Config, ConfigError};
    /// use std::time::Duration;
    ///
    /// let args = ["-b", "0.0.0.0:5000", "--keep-alive=2.5", "--log-level", "DEBUG"];
    /// let env = |key: &str| (key == "WEB_CONCURRENCY").then(|| "1".to_owned());
    /// let config = Config::try_from_args(args.map(String::from), &env).unwrap();
    /// assert_eq!(config.binds, ["0.0.0.0:5000"]);
    /// assert_eq!(config.keep_alive, Duration::from_millis(2500));
    /// assert_eq!(config.log_level, log::LevelFilter::Debug);
    ///
    /// let err = Config::try_from_args(["-w".to_owned(), "abc".to_owned()], &|_| None);
    /// assert_eq!(
    ///     err.unwrap_err().to_string(),
    ///     "invalid value 'abc' for --workers: expected a positive integer"
    /// );
    /// ```
    pub fn try_from_args<I: IntoIterator<Item = String>>(
        args: I,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        parse("greenlight", args.into_iter().collect(), env)
    }

    /// Messages for the settings in `self` that this build cannot honour yet, one per
    /// setting; empty when everything can be honoured. The server refuses to start when
    /// this is not empty, so no setting is ever silently ignored.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenlight::Config;
    /// assert!(Config::default().unsupported().is_empty());
    /// // Every setting of this build is honoured; new features start out listed here.
    /// let config = Config { workers: 4, certfile: Some("c.pem".into()), ..Config::default() };
    /// assert!(config.unsupported().is_empty());
    /// ```
    pub fn unsupported(&self) -> Vec<String> {
        UNSUPPORTED.iter().filter_map(|check| check(self)).collect()
    }

    /// The request-head limits for the HTTP parser, with `0` mapped to each maximum.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenlight::Config;
    /// let limits = Config { limit_request_line: 0, ..Config::default() }.limits();
    /// assert_eq!((limits.request_line, limits.fields, limits.field_size), (8190, 100, 8190));
    /// ```
    pub fn limits(&self) -> crate::http::request::Limits {
        let or_max = |v: usize, max: usize| if v == 0 { max } else { v };
        crate::http::request::Limits {
            request_line: or_max(self.limit_request_line, ZERO_REQUEST_LINE),
            fields: or_max(self.limit_request_fields, MAX_REQUEST_FIELDS),
            field_size: or_max(self.limit_request_field_size, DEFAULT_FIELD_SIZE),
        }
    }

    /// The help text `--help` prints, for a program called `prog`.
    pub fn help(prog: &str) -> String {
        help_text(prog)
    }
}

/// Settings this build cannot honour yet. Delete an entry when its feature lands.
const UNSUPPORTED: &[fn(&Config) -> Option<String>] = &[];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Group {
    Socket,
    Workers,
    Timeouts,
    Limits,
    Logging,
    Proxy,
    Tls,
    Other,
}

const GROUPS: &[(Group, &str)] = &[
    (Group::Socket, "Server socket"),
    (Group::Workers, "Worker processes"),
    (Group::Timeouts, "Timeouts (seconds; fractions allowed)"),
    (Group::Limits, "Limits"),
    (Group::Logging, "Logging"),
    (Group::Proxy, "Proxy"),
    (Group::Tls, "TLS"),
    (Group::Other, "Other"),
];

/// One command-line flag.
struct Flag {
    long: &'static str,
    aliases: &'static [&'static str],
    short: Option<char>,
    /// The value's name in the help; `None` for a switch.
    value: Option<&'static str>,
    group: Group,
    help: &'static str,
}

const fn flag(
    long: &'static str,
    short: Option<char>,
    value: Option<&'static str>,
    group: Group,
    help: &'static str,
) -> Flag {
    Flag {
        long,
        aliases: &[],
        short,
        value,
        group,
        help,
    }
}

const FLAGS: &[Flag] = &[
    flag(
        "bind",
        Some('b'),
        Some("ADDRESS"),
        Group::Socket,
        "Socket to bind: HOST:PORT, [V6]:PORT, unix:PATH or fd://N. Repeatable; the first \
         -b replaces the default",
    ),
    flag(
        "backlog",
        None,
        Some("INT"),
        Group::Socket,
        "Most pending connections in the listen queue",
    ),
    flag(
        "reuse-port",
        None,
        None,
        Group::Socket,
        "Set SO_REUSEPORT on the listening sockets",
    ),
    flag(
        "workers",
        Some('w'),
        Some("INT"),
        Group::Workers,
        "Worker processes (only 1 is supported yet)",
    ),
    flag(
        "threads",
        None,
        Some("INT"),
        Group::Workers,
        "OS threads that run green threads in each process; 0 = one per core",
    ),
    flag(
        "stack-size",
        None,
        Some("BYTES"),
        Group::Workers,
        "Green-thread stack size: bytes, or with a k/KiB or m/MiB suffix; 8k to 1g",
    ),
    flag(
        "worker-connections",
        None,
        Some("INT"),
        Group::Workers,
        "Most simultaneous connections per worker process",
    ),
    flag(
        "max-requests",
        None,
        Some("INT"),
        Group::Workers,
        "Restart a worker after this many requests; 0 = never",
    ),
    flag(
        "max-requests-jitter",
        None,
        Some("INT"),
        Group::Workers,
        "Random extra requests (0..=N) before that restart",
    ),
    flag(
        "timeout",
        Some('t'),
        Some("SECONDS"),
        Group::Timeouts,
        "Worker heartbeat timeout; 0 = none",
    ),
    flag(
        "graceful-timeout",
        None,
        Some("SECONDS"),
        Group::Timeouts,
        "On stop, time in-flight requests get to finish before they are cancelled",
    ),
    flag(
        "keep-alive",
        None,
        Some("SECONDS"),
        Group::Timeouts,
        "Idle time allowed between requests on a connection; 0 = no keep-alive",
    ),
    flag(
        "header-timeout",
        None,
        Some("SECONDS"),
        Group::Timeouts,
        "Time allowed to receive a whole request head (> 0)",
    ),
    flag(
        "body-timeout",
        None,
        Some("SECONDS"),
        Group::Timeouts,
        "Longest wait for the next piece of a request body (> 0)",
    ),
    flag(
        "limit-request-line",
        None,
        Some("BYTES"),
        Group::Limits,
        "Longest request line, 0 to 65536; 0 = 8190",
    ),
    flag(
        "limit-request-fields",
        None,
        Some("INT"),
        Group::Limits,
        "Most header fields in a request, 0 to 32768; 0 = 32768",
    ),
    Flag {
        long: "limit-request-field-size",
        aliases: &["limit-request-field_size"],
        short: None,
        value: Some("BYTES"),
        group: Group::Limits,
        help: "Longest header field, 0 to 65536; 0 = the default, 8190. Alias: \
               --limit-request-field_size",
    },
    flag(
        "access-logfile",
        None,
        Some("FILE"),
        Group::Logging,
        "Access log: '-' for stdout, or a file (appended to). Off unless given",
    ),
    flag(
        "access-logformat",
        None,
        Some("STRING"),
        Group::Logging,
        "Access log format, with gunicorn's atoms",
    ),
    Flag {
        long: "error-logfile",
        aliases: &["log-file"],
        short: None,
        value: Some("FILE"),
        group: Group::Logging,
        help: "Error log: '-' for stderr, or a file (appended to). Alias: --log-file",
    },
    flag(
        "log-level",
        None,
        Some("LEVEL"),
        Group::Logging,
        "Error log level: debug, info, warning, error or critical",
    ),
    flag(
        "forwarded-allow-ips",
        None,
        Some("IPS"),
        Group::Proxy,
        "Comma-separated IPs or CIDR networks trusted to set X-Forwarded-* headers; '*' = all",
    ),
    flag(
        "proxy-protocol",
        None,
        None,
        Group::Proxy,
        "Expect a PROXY protocol header on each connection",
    ),
    flag(
        "proxy-allow-ips",
        None,
        Some("IPS"),
        Group::Proxy,
        "Comma-separated IPs or CIDR networks allowed to send a PROXY header; '*' = all",
    ),
    flag(
        "certfile",
        None,
        Some("FILE"),
        Group::Tls,
        "TLS certificate chain (PEM)",
    ),
    flag(
        "keyfile",
        None,
        Some("FILE"),
        Group::Tls,
        "TLS private key (PEM)",
    ),
    flag(
        "ca-certs",
        None,
        Some("FILE"),
        Group::Tls,
        "CA bundle to verify client certificates (PEM)",
    ),
    flag(
        "pid",
        None,
        Some("FILE"),
        Group::Other,
        "Write the master process's pid to this file",
    ),
];

/// The default a flag shows in the help, if any.
fn default_text(long: &str, d: &Config) -> Option<String> {
    let secs = |t: Duration| format!("{}", t.as_secs_f64());
    Some(match long {
        "bind" => format!("{}, or 0.0.0.0:$PORT", d.binds.join(",")),
        "backlog" => d.backlog.to_string(),
        "workers" => format!("{}, or $WEB_CONCURRENCY", d.workers),
        "threads" => d.threads.to_string(),
        "stack-size" => format!("{}k", d.stack_size / 1024),
        "worker-connections" => d.worker_connections.to_string(),
        "max-requests" => d.max_requests.to_string(),
        "max-requests-jitter" => d.max_requests_jitter.to_string(),
        "timeout" => secs(d.timeout),
        "graceful-timeout" => secs(d.graceful_timeout),
        "keep-alive" => secs(d.keep_alive),
        "header-timeout" => secs(d.header_timeout),
        "body-timeout" => secs(d.body_timeout),
        "limit-request-line" => d.limit_request_line.to_string(),
        "limit-request-fields" => d.limit_request_fields.to_string(),
        "limit-request-field-size" => d.limit_request_field_size.to_string(),
        "access-logformat" => d.access_log_format.clone(),
        "error-logfile" => d.error_logfile.clone(),
        "log-level" => d.log_level.to_string().to_lowercase(),
        "forwarded-allow-ips" => format!(
            "{}, or $FORWARDED_ALLOW_IPS",
            d.forwarded_allow_ips.join(",")
        ),
        "proxy-allow-ips" => d.proxy_allow_ips.join(","),
        _ => return None,
    })
}

fn help_text(prog: &str) -> String {
    use std::fmt::Write;
    let d = Config::default();
    let mut out = format!(
        "{prog}: a greenlight HTTP server (gunicorn-style options)\n\n\
         Usage: {prog} [OPTIONS]\n"
    );
    for (group, title) in GROUPS {
        let _ = write!(out, "\n{title}:\n");
        for f in FLAGS.iter().filter(|f| f.group == *group) {
            let mut left = match f.short {
                Some(c) => format!("  -{c}, --{}", f.long),
                None => format!("      --{}", f.long),
            };
            if let Some(v) = f.value {
                let _ = write!(left, " {v}");
            }
            let _ = write!(out, "{left:<38}");
            if left.len() >= 38 {
                let _ = write!(out, "\n{:<38}", "");
            }
            out.push_str(f.help);
            if let Some(default) = default_text(f.long, &d) {
                let _ = write!(out, " [default: {default}]");
            }
            out.push('\n');
        }
    }
    out.push_str(
        "\nGeneral:\n  \
           -h, --help                          Print this help and exit\n  \
           -v, --version                       Print the version and exit\n\
         \nEnvironment:\n  \
           PORT                                Default bind becomes 0.0.0.0:$PORT\n  \
           WEB_CONCURRENCY                     Default for --workers\n  \
           FORWARDED_ALLOW_IPS                 Default for --forwarded-allow-ips\n  \
           GUNICORN_CMD_ARGS                   Flags read before the command line's (which \
         override them); quotes group words\n",
    );
    out
}

fn version_text() -> String {
    format!("greenlight {}", env!("CARGO_PKG_VERSION"))
}

fn invalid(flag: &str, value: &str, expected: &str) -> ConfigError {
    ConfigError::Invalid(format!(
        "invalid value '{value}' for {flag}: expected {expected}"
    ))
}

/// An integer in `min..=max`.
fn int(flag: &str, v: &str, min: u64, max: u64) -> Result<u64, ConfigError> {
    let kind = if min == 0 {
        "a non-negative integer"
    } else {
        "a positive integer"
    };
    let n: u64 = v.parse().map_err(|_| invalid(flag, v, kind))?;
    if n < min || n > max {
        return Err(invalid(
            flag,
            v,
            &if max >= usize::MAX as u64 {
                kind.to_owned()
            } else {
                format!("an integer from {min} to {max}")
            },
        ));
    }
    Ok(n)
}

fn usize_in(flag: &str, v: &str, min: usize, max: usize) -> Result<usize, ConfigError> {
    // usize fits in u64 on every platform Rust supports with std.
    int(flag, v, min as u64, max as u64).map(|n| n as usize)
}

/// Longest duration accepted: a year (Instant arithmetic stays far from overflow).
const MAX_SECONDS: f64 = 365.0 * 24.0 * 3600.0;

fn seconds(flag: &str, v: &str, allow_zero: bool) -> Result<Duration, ConfigError> {
    let expected = if allow_zero {
        "a number of seconds from 0 to 31536000"
    } else {
        "a number of seconds greater than 0, up to 31536000"
    };
    let ok_chars = !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    let n: f64 = match v.parse() {
        Ok(n) if ok_chars => n,
        _ => return Err(invalid(flag, v, expected)),
    };
    if n > MAX_SECONDS || (n == 0.0 && !allow_zero) {
        return Err(invalid(flag, v, expected));
    }
    Duration::try_from_secs_f64(n).map_err(|_| invalid(flag, v, expected))
}

fn size(flag: &str, v: &str) -> Result<usize, ConfigError> {
    let expected = "a size in bytes from 8k to 1g, like 262144, 256k, 256KiB or 1m";
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (digits, suffix) = v.split_at(split);
    let unit: u64 = match suffix.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(invalid(flag, v, expected)),
    };
    let n: u64 = digits.parse().map_err(|_| invalid(flag, v, expected))?;
    match n.checked_mul(unit) {
        Some(bytes) if (MIN_STACK_SIZE as u64..=MAX_STACK_SIZE as u64).contains(&bytes) => {
            Ok(bytes as usize)
        }
        _ => Err(invalid(flag, v, expected)),
    }
}

fn level(flag: &str, v: &str) -> Result<log::LevelFilter, ConfigError> {
    use log::LevelFilter::*;
    Ok(match v.to_ascii_lowercase().as_str() {
        "debug" => Debug,
        "info" => Info,
        "warning" | "warn" => Warn,
        "error" | "critical" => Error,
        _ => {
            return Err(invalid(
                flag,
                v,
                "one of debug, info, warning, error, critical",
            ))
        }
    })
}

/// Whether `entry` is an IP address, a CIDR network or `*` (the rules of
/// [`crate::net::AllowList`], which the server builds from these strings).
fn valid_ip_entry(entry: &str) -> bool {
    crate::net::AllowList::from_entries([entry]).is_ok()
}

fn ip_list(flag: &str, v: &str) -> Result<Vec<String>, ConfigError> {
    let entries: Vec<String> = v
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(str::to_owned)
        .collect();
    for e in &entries {
        if !valid_ip_entry(e) {
            return Err(ConfigError::Invalid(format!(
                "invalid value '{v}' for {flag}: '{e}' is not an IP address, a CIDR network \
                 or '*'"
            )));
        }
    }
    Ok(entries)
}

fn non_empty(flag: &str, v: &str, expected: &str) -> Result<String, ConfigError> {
    if v.trim().is_empty() {
        Err(invalid(flag, v, expected))
    } else {
        Ok(v.to_owned())
    }
}

/// Parsing state across one source of flags.
struct Sources {
    /// The next `-b` replaces the binds (set at the start of each source).
    fresh_binds: bool,
}

/// Applies one flag. `name` is the spelling to show in messages.
fn apply(
    cfg: &mut Config,
    st: &mut Sources,
    flag: &Flag,
    name: &str,
    value: Option<&str>,
) -> Result<(), ConfigError> {
    let v = value.unwrap_or("");
    let path = |v: &str| non_empty(name, v, "a path").map(Some);
    match flag.long {
        "bind" => {
            let b = non_empty(name, v, "an address like 127.0.0.1:8000")?;
            if st.fresh_binds {
                cfg.binds.clear();
                st.fresh_binds = false;
            }
            cfg.binds.push(b);
        }
        "backlog" => cfg.backlog = int(name, v, 1, u32::MAX as u64)? as u32,
        "reuse-port" => cfg.reuse_port = true,
        "workers" => cfg.workers = usize_in(name, v, 1, usize::MAX)?,
        "threads" => cfg.threads = usize_in(name, v, 0, usize::MAX)?,
        "stack-size" => cfg.stack_size = size(name, v)?,
        "worker-connections" => cfg.worker_connections = usize_in(name, v, 1, usize::MAX)?,
        "max-requests" => cfg.max_requests = int(name, v, 0, u64::MAX)?,
        "max-requests-jitter" => cfg.max_requests_jitter = int(name, v, 0, u64::MAX)?,
        "timeout" => cfg.timeout = seconds(name, v, true)?,
        "graceful-timeout" => cfg.graceful_timeout = seconds(name, v, true)?,
        "keep-alive" => cfg.keep_alive = seconds(name, v, true)?,
        "header-timeout" => cfg.header_timeout = seconds(name, v, false)?,
        "body-timeout" => cfg.body_timeout = seconds(name, v, false)?,
        "limit-request-line" => {
            cfg.limit_request_line = match usize_in(name, v, 0, MAX_REQUEST_LINE)? {
                0 => ZERO_REQUEST_LINE,
                n => n,
            }
        }
        "limit-request-fields" => {
            cfg.limit_request_fields = match usize_in(name, v, 0, MAX_REQUEST_FIELDS)? {
                0 => MAX_REQUEST_FIELDS,
                n => n,
            }
        }
        "limit-request-field-size" => {
            cfg.limit_request_field_size = match usize_in(name, v, 0, MAX_FIELD_SIZE)? {
                0 => DEFAULT_FIELD_SIZE,
                n => n,
            }
        }
        "access-logfile" => cfg.access_logfile = path(v)?,
        "access-logformat" => cfg.access_log_format = v.to_owned(),
        "error-logfile" => cfg.error_logfile = non_empty(name, v, "a path or '-'")?,
        "log-level" => cfg.log_level = level(name, v)?,
        "forwarded-allow-ips" => cfg.forwarded_allow_ips = ip_list(name, v)?,
        "proxy-protocol" => cfg.proxy_protocol = true,
        "proxy-allow-ips" => cfg.proxy_allow_ips = ip_list(name, v)?,
        "certfile" => cfg.certfile = path(v)?,
        "keyfile" => cfg.keyfile = path(v)?,
        "ca-certs" => cfg.ca_certs = path(v)?,
        "pid" => cfg.pid = path(v)?,
        other => unreachable!("flag --{other} has no handler"),
    }
    Ok(())
}

/// Whether a token looks like a flag rather than a value (`-` and `-1` are values).
fn looks_like_flag(s: &str) -> bool {
    s.starts_with("--") || (s.starts_with('-') && s[1..].starts_with(|c: char| c.is_alphabetic()))
}

/// Parses one source of flags into `cfg`.
fn parse_flags(cfg: &mut Config, args: &[String], prog: &str) -> Result<(), ConfigError> {
    let mut st = Sources { fresh_binds: true };
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_str();
        i += 1;
        match arg {
            "-h" | "--help" => return Err(ConfigError::Help(help_text(prog))),
            "-v" | "--version" => return Err(ConfigError::Version(version_text())),
            _ => {}
        }
        let (flag, name, inline) = if let Some(rest) = arg.strip_prefix("--") {
            let (key, inline) = match rest.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (rest, None),
            };
            let flag = FLAGS
                .iter()
                .find(|f| f.long == key || f.aliases.contains(&key))
                .filter(|_| !key.is_empty())
                .ok_or_else(|| ConfigError::Invalid(format!("unknown flag --{key}")))?;
            (flag, format!("--{key}"), inline)
        } else if looks_like_flag(arg) {
            let c = arg[1..].chars().next().unwrap_or('-');
            let flag = FLAGS
                .iter()
                .find(|f| f.short == Some(c))
                .ok_or_else(|| ConfigError::Invalid(format!("unknown flag -{c}")))?;
            let rest = &arg[1 + c.len_utf8()..];
            let rest = rest.strip_prefix('=').unwrap_or(rest);
            let inline = (!rest.is_empty()).then_some(rest);
            (flag, format!("--{}", flag.long), inline)
        } else {
            return Err(ConfigError::Invalid(format!(
                "unexpected argument '{arg}': no positional arguments are taken (the app is \
                 the program itself)"
            )));
        };
        let value = match (flag.value, inline) {
            (None, None) => None,
            (None, Some(_)) => {
                return Err(ConfigError::Invalid(format!("{name} takes no value")));
            }
            (Some(_), Some(v)) => Some(v),
            (Some(_), None) => match args.get(i) {
                Some(next) if !looks_like_flag(next) => {
                    i += 1;
                    Some(next.as_str())
                }
                _ => return Err(ConfigError::Invalid(format!("missing value for {name}"))),
            },
        };
        apply(cfg, &mut st, flag, &name, value)?;
    }
    Ok(())
}

/// Splits `GUNICORN_CMD_ARGS` on whitespace; single or double quotes group words.
fn split_words(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in s.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                in_word = true;
            }
            None if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            None => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if let Some(q) = quote {
        return Err(format!("unterminated {q} quote"));
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

fn parse(
    prog: &str,
    args: Vec<String>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let mut cfg = Config::default();
    if let Some(port) = env("PORT") {
        let p: u16 = port
            .trim()
            .parse()
            .map_err(|_| invalid("PORT", &port, "a port number from 0 to 65535"))?;
        cfg.binds = vec![format!("0.0.0.0:{p}")];
    }
    if let Some(n) = env("WEB_CONCURRENCY") {
        cfg.workers = usize_in("WEB_CONCURRENCY", n.trim(), 1, usize::MAX)?;
    }
    if let Some(ips) = env("FORWARDED_ALLOW_IPS") {
        cfg.forwarded_allow_ips = ip_list("FORWARDED_ALLOW_IPS", &ips)?;
    }
    if let Some(extra) = env("GUNICORN_CMD_ARGS") {
        let words = split_words(&extra).map_err(|e| {
            ConfigError::Invalid(format!(
                "invalid value '{extra}' for GUNICORN_CMD_ARGS: {e}"
            ))
        })?;
        parse_flags(&mut cfg, &words, prog).map_err(|e| match e {
            ConfigError::Invalid(msg) => ConfigError::Invalid(format!("GUNICORN_CMD_ARGS: {msg}")),
            other => other,
        })?;
    }
    parse_flags(&mut cfg, &args, prog)?;
    check_tls(&cfg)?;
    Ok(cfg)
}

/// The TLS flags go together: a certificate needs its key, and `--ca-certs` needs both.
fn check_tls(cfg: &Config) -> Result<(), ConfigError> {
    let msg = match (&cfg.certfile, &cfg.keyfile, &cfg.ca_certs) {
        (Some(_), None, _) => "--certfile needs --keyfile (the certificate's private key)",
        (None, Some(_), _) => "--keyfile needs --certfile (the certificate chain)",
        (None, None, Some(_)) => {
            "--ca-certs needs --certfile and --keyfile (it verifies client certificates of a \
             TLS server)"
        }
        _ => return Ok(()),
    };
    Err(ConfigError::Invalid(msg.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |key: &str| vars.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    }

    fn parse_env(args: &[&str], vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::try_from_args(args.iter().map(|s| s.to_string()), &env_of(vars))
    }

    fn ok(args: &[&str]) -> Config {
        parse_env(args, &[]).unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    fn err(args: &[&str]) -> String {
        match parse_env(args, &[]) {
            Err(ConfigError::Invalid(msg)) => msg,
            other => panic!("{args:?}: expected an error, got {other:?}"),
        }
    }

    /// Both `--flag value` and `--flag=value` give the same config.
    fn both(flag: &str, value: &str) -> Config {
        let a = ok(&[flag, value]);
        let b = ok(&[&format!("{flag}={value}")]);
        assert_eq!(a, b, "{flag} {value}");
        a
    }

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn defaults() {
        let c = ok(&[]);
        assert_eq!(c, Config::default());
        assert_eq!(c.binds, ["127.0.0.1:8000"]);
        assert_eq!(c.workers, 1);
        assert_eq!(c.threads, 0);
        assert_eq!(c.stack_size, crate::green::runtime::DEFAULT_STACK_SIZE);
        assert_eq!(c.backlog, 2048);
        assert!(!c.reuse_port);
        assert_eq!(c.worker_connections, 1000);
        assert_eq!(c.keep_alive, secs(5.0));
        assert_eq!(c.timeout, secs(30.0));
        assert_eq!(c.graceful_timeout, secs(30.0));
        assert_eq!(c.header_timeout, secs(10.0));
        assert_eq!(c.body_timeout, secs(30.0));
        assert_eq!(
            (
                c.limit_request_line,
                c.limit_request_fields,
                c.limit_request_field_size
            ),
            (4094, 100, 8190)
        );
        assert_eq!(c.access_logfile, None);
        assert_eq!(
            c.access_log_format,
            r#"%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s""#
        );
        assert_eq!(c.error_logfile, "-");
        assert_eq!(c.log_level, log::LevelFilter::Info);
        assert_eq!(c.forwarded_allow_ips, ["127.0.0.1", "::1"]);
        assert!(!c.proxy_protocol);
        assert_eq!(c.proxy_allow_ips, ["127.0.0.1", "::1"]);
        assert_eq!((c.max_requests, c.max_requests_jitter), (0, 0));
        assert_eq!(
            (&c.certfile, &c.keyfile, &c.ca_certs, &c.pid),
            (&None, &None, &None, &None)
        );
        assert!(c.unsupported().is_empty());
        assert_eq!(c.limits(), crate::http::request::Limits::default());
    }

    #[test]
    fn bind_forms_and_repetition() {
        assert_eq!(both("--bind", "0.0.0.0:80").binds, ["0.0.0.0:80"]);
        assert_eq!(both("-b", "[::1]:80").binds, ["[::1]:80"]);
        assert_eq!(ok(&["-bunix:/tmp/s"]).binds, ["unix:/tmp/s"]);
        assert_eq!(
            ok(&["-b", "a:1", "--bind", "b:2", "-b=c:3"]).binds,
            ["a:1", "b:2", "c:3"]
        );
        assert!(err(&["--bind", ""]).contains("--bind"));
    }

    #[test]
    fn integer_flags() {
        assert_eq!(both("--workers", "1").workers, 1);
        assert_eq!(both("-w", "3").workers, 3);
        assert_eq!(ok(&["-w4"]).workers, 4);
        assert_eq!(both("--threads", "0").threads, 0);
        assert_eq!(both("--threads", "8").threads, 8);
        assert_eq!(both("--backlog", "64").backlog, 64);
        assert_eq!(
            both("--worker-connections", "10000").worker_connections,
            10000
        );
        assert_eq!(both("--max-requests", "500").max_requests, 500);
        assert_eq!(both("--max-requests-jitter", "50").max_requests_jitter, 50);
    }

    #[test]
    fn bad_integers_name_the_flag() {
        for flag in [
            "--workers",
            "-w",
            "--threads",
            "--backlog",
            "--worker-connections",
            "--max-requests",
            "--max-requests-jitter",
            "--limit-request-line",
            "--limit-request-fields",
            "--limit-request-field-size",
        ] {
            let long = if flag == "-w" { "--workers" } else { flag };
            for bad in ["abc", "-1", "1.5", "", "99999999999999999999999"] {
                let msg = if flag == "-w" {
                    err(&[flag, bad])
                } else {
                    err(&[&format!("{flag}={bad}")])
                };
                assert!(
                    msg.starts_with(&format!("invalid value '{bad}' for {long}: expected ")),
                    "{flag}={bad}: {msg}"
                );
            }
            // The separate form too, with a negative number taken as a value.
            assert!(err(&[flag, "-5"]).contains(long));
        }
        assert_eq!(
            err(&["--workers", "abc"]),
            "invalid value 'abc' for --workers: expected a positive integer"
        );
        assert_eq!(
            err(&["--threads", "-1"]),
            "invalid value '-1' for --threads: expected a non-negative integer"
        );
        for zero_is_bad in ["--workers", "--backlog", "--worker-connections"] {
            assert!(err(&[zero_is_bad, "0"]).contains(zero_is_bad));
        }
        assert!(err(&["--backlog", "4294967296"]).contains("--backlog"));
    }

    #[test]
    fn switches() {
        assert!(ok(&["--reuse-port"]).reuse_port);
        assert!(ok(&["--proxy-protocol"]).proxy_protocol);
        assert_eq!(err(&["--reuse-port=yes"]), "--reuse-port takes no value");
        assert!(err(&["--proxy-protocol=1"]).contains("--proxy-protocol"));
    }

    #[test]
    fn stack_size() {
        assert_eq!(both("--stack-size", "65536").stack_size, 65536);
        for (v, n) in [
            ("64k", 64 << 10),
            ("64K", 64 << 10),
            ("64KiB", 64 << 10),
            ("64kb", 64 << 10),
            ("2m", 2 << 20),
            ("2M", 2 << 20),
            ("2MiB", 2 << 20),
            ("1g", 1 << 30),
            ("8k", 8 << 10),
        ] {
            assert_eq!(both("--stack-size", v).stack_size, n, "{v}");
        }
        for bad in [
            "abc",
            "-1",
            "4k",
            "0",
            "2g",
            "64x",
            "k",
            "1.5m",
            "99999999999999999999m",
        ] {
            let msg = err(&["--stack-size", bad]);
            assert!(
                msg.starts_with(&format!("invalid value '{bad}' for --stack-size")),
                "{msg}"
            );
        }
    }

    #[test]
    fn timeouts() {
        assert_eq!(both("--keep-alive", "2").keep_alive, secs(2.0));
        assert_eq!(both("--keep-alive", "0.25").keep_alive, secs(0.25));
        assert_eq!(both("--keep-alive", "0").keep_alive, Duration::ZERO);
        assert_eq!(both("--timeout", "60").timeout, secs(60.0));
        assert_eq!(both("-t", "0").timeout, Duration::ZERO);
        assert_eq!(ok(&["-t90"]).timeout, secs(90.0));
        assert_eq!(
            both("--graceful-timeout", "1.5").graceful_timeout,
            secs(1.5)
        );
        assert_eq!(both("--header-timeout", "3").header_timeout, secs(3.0));
        assert_eq!(both("--body-timeout", "0.5").body_timeout, secs(0.5));
        for flag in [
            "--keep-alive",
            "--timeout",
            "--graceful-timeout",
            "--header-timeout",
            "--body-timeout",
        ] {
            for bad in ["abc", "-1", "inf", "NaN", "1e3", "5s", "99999999999", ""] {
                let msg = err(&[&format!("{flag}={bad}")]);
                assert!(
                    msg.starts_with(&format!("invalid value '{bad}' for {flag}: expected")),
                    "{msg}"
                );
            }
        }
        assert!(err(&["--header-timeout", "0"]).contains("--header-timeout"));
        assert!(err(&["--body-timeout", "0.0"]).contains("--body-timeout"));
    }

    #[test]
    fn limits() {
        let c = both("--limit-request-line", "100");
        assert_eq!(c.limit_request_line, 100);
        assert_eq!(c.limits().request_line, 100);
        assert_eq!(both("--limit-request-line", "0").limit_request_line, 8190);
        assert_eq!(
            both("--limit-request-line", "8190").limit_request_line,
            8190
        );
        assert_eq!(
            both("--limit-request-line", "8200").limits().request_line,
            8200
        );
        assert!(err(&["--limit-request-line", "65537"]).contains("--limit-request-line"));

        assert_eq!(
            both("--limit-request-fields", "10").limit_request_fields,
            10
        );
        assert_eq!(
            both("--limit-request-fields", "0").limit_request_fields,
            32768
        );
        assert!(err(&["--limit-request-fields", "32769"]).contains("--limit-request-fields"));

        assert_eq!(
            both("--limit-request-field-size", "100").limit_request_field_size,
            100
        );
        assert_eq!(
            both("--limit-request-field_size", "200").limit_request_field_size,
            200
        );
        assert_eq!(
            both("--limit-request-field-size", "0").limit_request_field_size,
            DEFAULT_FIELD_SIZE
        );
        assert!(
            err(&["--limit-request-field_size", "65537"]).contains("--limit-request-field_size")
        );

        let l = ok(&[
            "--limit-request-line=1",
            "--limit-request-fields=2",
            "--limit-request-field-size=3",
        ])
        .limits();
        assert_eq!((l.request_line, l.fields, l.field_size), (1, 2, 3));
        let zero = Config {
            limit_request_line: 0,
            limit_request_fields: 0,
            limit_request_field_size: 0,
            ..Config::default()
        }
        .limits();
        assert_eq!(
            (zero.request_line, zero.fields, zero.field_size),
            (8190, 32768, 8190)
        );
    }

    #[test]
    fn logging_flags() {
        assert_eq!(
            both("--access-logfile", "-").access_logfile.as_deref(),
            Some("-")
        );
        assert_eq!(
            both("--access-logfile", "/var/log/a.log")
                .access_logfile
                .as_deref(),
            Some("/var/log/a.log")
        );
        assert_eq!(
            both("--access-logformat", "%(h)s %(r)s").access_log_format,
            "%(h)s %(r)s"
        );
        assert_eq!(ok(&["--access-logformat=a=b"]).access_log_format, "a=b");
        assert_eq!(
            both("--error-logfile", "/tmp/e.log").error_logfile,
            "/tmp/e.log"
        );
        assert_eq!(both("--log-file", "-").error_logfile, "-");
        assert!(err(&["--error-logfile", ""]).contains("--error-logfile"));
        assert!(err(&["--access-logfile="]).contains("--access-logfile"));
        use log::LevelFilter::*;
        for (v, l) in [
            ("debug", Debug),
            ("INFO", Info),
            ("Warning", Warn),
            ("warn", Warn),
            ("error", Error),
            ("CRITICAL", Error),
        ] {
            assert_eq!(both("--log-level", v).log_level, l, "{v}");
        }
        assert_eq!(
            err(&["--log-level", "loud"]),
            "invalid value 'loud' for --log-level: expected one of debug, info, warning, \
             error, critical"
        );
    }

    #[test]
    fn ip_lists() {
        let c = both(
            "--forwarded-allow-ips",
            "10.0.0.1, 192.168.0.0/16,::1,fd00::/8",
        );
        assert_eq!(
            c.forwarded_allow_ips,
            ["10.0.0.1", "192.168.0.0/16", "::1", "fd00::/8"]
        );
        assert_eq!(
            both("--forwarded-allow-ips", "*").forwarded_allow_ips,
            ["*"]
        );
        assert!(ok(&["--forwarded-allow-ips="])
            .forwarded_allow_ips
            .is_empty());
        assert_eq!(
            both("--proxy-allow-ips", "10.1.2.3").proxy_allow_ips,
            ["10.1.2.3"]
        );
        for flag in ["--forwarded-allow-ips", "--proxy-allow-ips"] {
            for bad in [
                "10.0.0.256",
                "10.0.0.0/33",
                "::1/129",
                "10.0.0.0/",
                "10.0.0.0/-1",
                "example.com",
                "1.2.3.4,nope",
                "**",
            ] {
                let msg = err(&[flag, bad]);
                assert!(
                    msg.starts_with(&format!("invalid value '{bad}' for {flag}: '")),
                    "{msg}"
                );
            }
        }
        assert_eq!(
            err(&["--forwarded-allow-ips", "1.2.3.4,nope"]),
            "invalid value '1.2.3.4,nope' for --forwarded-allow-ips: 'nope' is not an IP \
             address, a CIDR network or '*'"
        );
    }

    #[test]
    fn tls_and_pid() {
        let c = ok(&[
            "--certfile",
            "c.pem",
            "--keyfile=k.pem",
            "--ca-certs",
            "ca.pem",
            "--pid=/run/g.pid",
        ]);
        assert_eq!(c.certfile.as_deref(), Some("c.pem"));
        assert_eq!(c.keyfile.as_deref(), Some("k.pem"));
        assert_eq!(c.ca_certs.as_deref(), Some("ca.pem"));
        assert_eq!(c.pid.as_deref(), Some("/run/g.pid"));
        for flag in ["--certfile", "--keyfile", "--ca-certs", "--pid"] {
            assert!(err(&[&format!("{flag}=")]).contains(flag));
        }
        // The TLS flags go together.
        assert!(err(&["--certfile", "c.pem"]).starts_with("--certfile needs --keyfile"));
        assert!(err(&["--keyfile", "k.pem"]).starts_with("--keyfile needs --certfile"));
        assert!(err(&["--ca-certs", "ca.pem"]).starts_with("--ca-certs needs --certfile"));
        let c = ok(&["--certfile", "c.pem", "--keyfile", "k.pem"]);
        assert_eq!(c.ca_certs, None);
        assert!(c.unsupported().is_empty());
    }

    #[test]
    fn missing_values() {
        for flag in FLAGS.iter().filter(|f| f.value.is_some()) {
            let name = format!("--{}", flag.long);
            assert_eq!(err(&[&name]), format!("missing value for {name}"));
            // A following flag is not taken as the value.
            assert_eq!(
                err(&[&name, "--reuse-port"]),
                format!("missing value for {name}")
            );
        }
        assert_eq!(err(&["-b"]), "missing value for --bind");
        assert_eq!(err(&["-w", "-t", "5"]), "missing value for --workers");
        assert_eq!(err(&["--log-file"]), "missing value for --log-file");
    }

    #[test]
    fn dash_is_a_value() {
        assert_eq!(
            ok(&["--access-logfile", "-"]).access_logfile.as_deref(),
            Some("-")
        );
        assert_eq!(ok(&["--error-logfile", "-"]).error_logfile, "-");
    }

    #[test]
    fn unknown_flags_and_positionals() {
        assert_eq!(err(&["--foo"]), "unknown flag --foo");
        assert_eq!(err(&["--foo=1"]), "unknown flag --foo");
        assert_eq!(err(&["-x"]), "unknown flag -x");
        assert_eq!(err(&["-k", "gevent"]), "unknown flag -k");
        assert!(err(&["--"]).contains("unknown flag --"));
        assert!(err(&["myapp:app"]).starts_with("unexpected argument 'myapp:app'"));
        assert!(err(&["-w", "2", "extra"]).starts_with("unexpected argument 'extra'"));
        assert!(err(&["-"]).starts_with("unexpected argument '-'"));
    }

    #[test]
    fn help_and_version() {
        let Err(ConfigError::Help(text)) = parse_env(&["-w", "2", "--help"], &[]) else {
            panic!("no help")
        };
        assert_eq!(
            parse_env(&["-h"], &[]),
            Err(ConfigError::Help(text.clone()))
        );
        for f in FLAGS {
            assert!(text.contains(&format!("--{}", f.long)), "{}", f.long);
        }
        for title in [
            "Server socket:",
            "Worker processes:",
            "Timeouts",
            "Limits:",
            "Logging:",
            "Proxy:",
            "TLS:",
            "PORT",
            "WEB_CONCURRENCY",
            "GUNICORN_CMD_ARGS",
            "[default: 127.0.0.1:8000",
            "[default: 2048]",
            "[default: 256k]",
            "[default: 4094]",
            "[default: info]",
        ] {
            assert!(text.contains(title), "help lacks {title}:\n{text}");
        }
        let Err(ConfigError::Version(v)) = parse_env(&["--version"], &[]) else {
            panic!("no version")
        };
        assert_eq!(v, format!("greenlight {}", env!("CARGO_PKG_VERSION")));
        assert_eq!(parse_env(&["-v"], &[]), Err(ConfigError::Version(v)));
        // Errors before --help win, as with clap.
        assert!(matches!(
            parse_env(&["-w", "x", "--help"], &[]),
            Err(ConfigError::Invalid(_))
        ));
    }

    #[test]
    fn environment() {
        let c = parse_env(&[], &[("PORT", "5000"), ("WEB_CONCURRENCY", "3")]).unwrap();
        assert_eq!(c.binds, ["0.0.0.0:5000"]);
        assert_eq!(c.workers, 3);
        let c = parse_env(
            &["-b", ":9000", "-w", "2"],
            &[("PORT", "5000"), ("WEB_CONCURRENCY", "3")],
        )
        .unwrap();
        assert_eq!(c.binds, [":9000"]);
        assert_eq!(c.workers, 2);
        let c = parse_env(&[], &[("FORWARDED_ALLOW_IPS", "*")]).unwrap();
        assert_eq!(c.forwarded_allow_ips, ["*"]);

        for (var, val) in [
            ("PORT", "http"),
            ("PORT", "65536"),
            ("PORT", "-1"),
            ("WEB_CONCURRENCY", "0"),
            ("WEB_CONCURRENCY", "many"),
            ("FORWARDED_ALLOW_IPS", "x"),
        ] {
            match parse_env(&[], &[(var, val)]) {
                Err(ConfigError::Invalid(msg)) => {
                    assert!(msg.contains(var) && msg.contains(val), "{msg}")
                }
                other => panic!("{var}={val}: {other:?}"),
            }
        }
    }

    #[test]
    fn gunicorn_cmd_args() {
        let vars = [(
            "GUNICORN_CMD_ARGS",
            r#"--bind=127.0.0.1:1 -b 127.0.0.1:2 --workers 3 --access-logformat '%(h)s "%(r)s"' --timeout "7""#,
        )];
        let c = parse_env(&[], &vars).unwrap();
        assert_eq!(c.binds, ["127.0.0.1:1", "127.0.0.1:2"]);
        assert_eq!(c.workers, 3);
        assert_eq!(c.access_log_format, r#"%(h)s "%(r)s""#);
        assert_eq!(c.timeout, secs(7.0));
        // The command line overrides, and its first -b replaces the env's binds.
        let c = parse_env(&["-w", "1", "-b", "[::]:3"], &vars).unwrap();
        assert_eq!(c.binds, ["[::]:3"]);
        assert_eq!(c.workers, 1);
        assert_eq!(c.timeout, secs(7.0));
        // Over PORT and WEB_CONCURRENCY too.
        let c = parse_env(
            &[],
            &[
                ("PORT", "80"),
                ("WEB_CONCURRENCY", "9"),
                ("GUNICORN_CMD_ARGS", "-w 2"),
            ],
        )
        .unwrap();
        assert_eq!((c.binds[0].as_str(), c.workers), ("0.0.0.0:80", 2));

        match parse_env(&[], &[("GUNICORN_CMD_ARGS", "--workers nope")]) {
            Err(ConfigError::Invalid(msg)) => assert_eq!(
                msg,
                "GUNICORN_CMD_ARGS: invalid value 'nope' for --workers: expected a positive integer"
            ),
            other => panic!("{other:?}"),
        }
        // A flag at the end of GUNICORN_CMD_ARGS does not take the command line's first word.
        match parse_env(&["2"], &[("GUNICORN_CMD_ARGS", "-w")]) {
            Err(ConfigError::Invalid(msg)) => {
                assert_eq!(msg, "GUNICORN_CMD_ARGS: missing value for --workers")
            }
            other => panic!("{other:?}"),
        }
        match parse_env(&[], &[("GUNICORN_CMD_ARGS", "--bind 'x")]) {
            Err(ConfigError::Invalid(msg)) => {
                assert!(msg.contains("GUNICORN_CMD_ARGS") && msg.contains("unterminated"))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            split_words("  a  'b c' \"d'e\" f''g ''").unwrap(),
            ["a", "b c", "d'e", "fg", ""]
        );
    }

    #[test]
    fn unsupported_settings() {
        let c = ok(&[
            "-w",
            "2",
            "--certfile",
            "c",
            "--keyfile",
            "k",
            "--max-requests",
            "5",
            "--pid",
            "p",
        ]);
        let msgs = c.unsupported();
        assert!(msgs.is_empty(), "{msgs:?}");
        let tls = ["--certfile", "c", "--keyfile", "k", "--ca-certs", "ca"];
        assert!(ok(&tls).unsupported().is_empty());
        // Settings that are honoured are not reported.
        assert!(ok(&[
            "-w",
            "4",
            "--max-requests",
            "100",
            "--max-requests-jitter",
            "10",
            "--pid",
            "p",
            "--threads",
            "4",
            "--reuse-port",
            "--proxy-protocol"
        ])
        .unsupported()
        .is_empty());
    }

    #[test]
    fn error_type() {
        let e = ConfigError::Invalid("bad".into());
        assert_eq!(e.to_string(), "bad");
        let boxed: Box<dyn std::error::Error> = Box::new(e.clone());
        assert_eq!(boxed.to_string(), "bad");
        assert_eq!(crate::Error::from(e).to_string(), "bad");
    }
}
