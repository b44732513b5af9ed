//! gunicorn-style configuration, from the command line and the environment.
//!
//! Any binary built on greenlight accepts gunicorn's flags:
//!
//! ```no_run
//! let config = greenlight::config::Config::from_args(); // exits on --help, --version or a bad flag
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
//!    workers), `FORWARDED_ALLOW_IPS` (default `--forwarded-allow-ips`), each read without
//!    the whitespace around it;
//! 3. `GUNICORN_CMD_ARGS`: flags, split into words as Python's `shlex.split` does (as
//!    gunicorn does): single and double quotes group words, a backslash escapes;
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
//!
//! # Layout
//!
//! `flags.rs` holds the one table of flags: each entry has its names, help, parser and
//! setter, default shown in the help, and environment variable. `values.rs` reads the
//! kinds of values, `parse.rs` walks the command line, the environment and
//! `GUNICORN_CMD_ARGS`, `help.rs` writes `--help`, and `ip.rs` parses the entries of the
//! IP allowlists (for this parser and for `net::AllowList`).
//!
//! This module is the bottom layer: it imports nothing of greenlight but its
//! [`Error`](crate::Error) type.
//! The layers above build their own options from a [`Config`]'s plain fields.

use std::fmt;
use std::time::Duration;

mod flags;
mod help;
pub(crate) mod ip;
mod parse;
#[cfg(test)]
mod testing;
mod values;

/// Most bytes `--limit-request-line` allows.
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
/// Default green-thread stack size in bytes (256 KiB): `--stack-size` and the runtime's.
///
/// Measured: a request through the full WSGI path (parse, environ, app, encode) uses under
/// 16 KiB; `format!`-heavy handlers, serde, regex and TLS handshakes stay well under 128 KiB.
/// 256 KiB leaves headroom for user code while the resident cost of an idle connection stays
/// at the few pages it touched.
pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;

/// Default `--min-rate`: 500 bytes a second, as Apache's `mod_reqtimeout` `MinRate`.
pub const DEFAULT_MIN_RATE: u32 = 500;

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
    /// `--stack-size`: green-thread stack size in bytes. Default [`DEFAULT_STACK_SIZE`].
    pub stack_size: usize,
    /// `--backlog`: the listen queue. Default 2048.
    pub backlog: u32,
    /// `--reuse-port`: set SO_REUSEPORT on listeners. Default off.
    pub reuse_port: bool,
    /// `--worker-connections`: concurrent connections per worker process. Default 0: as many
    /// as the process can hold (see `net::connection_capacity`).
    pub worker_connections: usize,
    /// `--keep-alive`: idle keep-alive timeout. Default 5 s.
    pub keep_alive: Duration,
    /// `--timeout`: worker heartbeat timeout. Default 30 s.
    pub timeout: Duration,
    /// `--graceful-timeout`: grace period on stop. Default 30 s.
    pub graceful_timeout: Duration,
    /// `--header-timeout`: time allowed to receive a whole request head. Default 10 s.
    pub header_timeout: Duration,
    /// `--min-rate`: the slowest a request head or body may arrive once begun, bytes a
    /// second after a 2 s grace (0: no minimum). Default [`DEFAULT_MIN_RATE`].
    pub min_rate: u32,
    /// `--body-timeout`: longest wait for the next piece of a request body. Default 30 s.
    pub body_timeout: Duration,
    /// `--request-timeout`: a handler still running this long after its request arrived
    /// is cancelled at its next yield and the client gets 504 (zero, the default: none).
    pub request_timeout: Duration,
    /// `--max-blocking-time`: warn when a worker thread runs one request's code this long
    /// without yielding (zero, the default: no watchdog).
    pub max_blocking_time: Duration,
    /// `--limit-request-line`: longest request line in bytes. Default 4094 (0 = 8190, gunicorn's cap; at most 65536).
    /// The parser stores 8190 for `0`; [`Config::request_line_limit`] also maps a `0` set
    /// in code.
    pub limit_request_line: usize,
    /// `--limit-request-fields`: most header fields. Default 100 (0 = 32768, the max; see
    /// [`Config::request_fields_limit`]).
    pub limit_request_fields: usize,
    /// `--limit-request-field-size` (or `--limit-request-field_size`): longest header field.
    /// Default 8190 (0 means the default, 8190, as in gunicorn's parser; see
    /// [`Config::field_size_limit`]).
    pub limit_request_field_size: usize,
    /// `--limit-request-body`: the largest request body accepted, in bytes (0, the
    /// default: no limit beyond what each app reads); a larger one is answered 413.
    pub limit_request_body: u64,
    /// `--access-logfile`: `-` for stdout, a path, or `None` (off, the default).
    pub access_logfile: Option<String>,
    /// `--access-logformat`: gunicorn's atoms.
    pub access_log_format: String,
    /// `--access-log-json`: one JSON object per access-log line, every atom a named field.
    pub access_log_json: bool,
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
    ///
    /// The three TLS files go together: [`Config::tls_files`] checks how.
    pub ca_certs: Option<String>,
    /// `--pid`: write the master's pid to this file.
    pub pid: Option<String>,
    /// `--metrics-bind`: `HOST:PORT` where the master serves Prometheus metrics at
    /// `/metrics`, totals of every worker (`None`: no metrics endpoint).
    pub metrics_bind: Option<String>,
    /// `--statsd-host`: `HOST:PORT` to send gunicorn's statsd metrics to over UDP
    /// (`None`: no statsd).
    pub statsd_host: Option<String>,
    /// `--statsd-prefix`: put before every statsd metric name (a `.` is added when it
    /// does not end with one). Default empty.
    pub statsd_prefix: String,
}

impl Default for Config {
    /// gunicorn's defaults (see each field), ignoring the environment.
    fn default() -> Self {
        Config {
            binds: vec!["127.0.0.1:8000".to_owned()],
            workers: 1,
            threads: 0,
            stack_size: DEFAULT_STACK_SIZE,
            backlog: 2048,
            reuse_port: false,
            worker_connections: 0,
            keep_alive: Duration::from_secs(5),
            timeout: Duration::from_secs(30),
            graceful_timeout: Duration::from_secs(30),
            header_timeout: Duration::from_secs(10),
            min_rate: DEFAULT_MIN_RATE,
            body_timeout: Duration::from_secs(30),
            request_timeout: Duration::ZERO,
            max_blocking_time: Duration::ZERO,
            limit_request_line: 4094,
            limit_request_fields: 100,
            limit_request_field_size: 8190,
            limit_request_body: 0,
            access_logfile: None,
            access_log_format: DEFAULT_ACCESS_LOG_FORMAT.to_owned(),
            access_log_json: false,
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
            metrics_bind: None,
            statsd_host: None,
            statsd_prefix: String::new(),
        }
    }
}

fn default_ips() -> Vec<String> {
    vec!["127.0.0.1".to_owned(), "::1".to_owned()]
}

/// The app's name and version, for `--version` and the startup log line; made by
/// [`app_info!`](crate::app_info) from the app's `Cargo.toml`.
///
/// ```
/// let info = greenlight::app_info!();
/// assert_eq!(info.name, env!("CARGO_PKG_NAME"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppInfo {
    /// The crate name (`CARGO_PKG_NAME`).
    pub name: &'static str,
    /// Its version (`CARGO_PKG_VERSION`).
    pub version: &'static str,
}

static APP_INFO: std::sync::OnceLock<AppInfo> = std::sync::OnceLock::new();

impl AppInfo {
    /// Makes this the process's app, named by `--version` and at startup (the first call
    /// wins; [`run!`](crate::run!) calls it).
    pub fn install(self) {
        let _ = APP_INFO.set(self);
    }

    /// The app installed, if any.
    pub fn current() -> Option<AppInfo> {
        APP_INFO.get().copied()
    }
}

/// The calling crate's [`AppInfo`](crate::config::AppInfo): its name and version from `Cargo.toml`.
///
/// ```
/// let info = greenlight::app_info!();
/// println!("{} {}", info.name, info.version);
/// ```
#[macro_export]
macro_rules! app_info {
    () => {
        $crate::config::AppInfo {
            name: env!("CARGO_PKG_NAME"),
            version: env!("CARGO_PKG_VERSION"),
        }
    };
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
        let (prog, args) = parse::process_args();
        let env = |key: &str| std::env::var_os(key).map(|v| v.to_string_lossy().into_owned());
        match args.and_then(|args| parse::parse(&prog, args, &env)) {
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
        parse::parse("greenlight", args.into_iter().collect(), env)
    }

    /// Messages for the settings in `self` that this build cannot honour yet, one per
    /// setting; empty when everything can be honoured. The server refuses to start when
    /// this is not empty, so no setting is ever silently ignored.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenlight::config::Config;
    /// assert!(Config::default().unsupported().is_empty());
    /// // Every setting of this build is honoured; new features start out listed here.
    /// let config = Config { workers: 4, certfile: Some("c.pem".into()), ..Config::default() };
    /// assert!(config.unsupported().is_empty());
    /// ```
    pub fn unsupported(&self) -> Vec<String> {
        UNSUPPORTED.iter().filter_map(|check| check(self)).collect()
    }

    /// The help text `--help` prints, for a program called `prog`.
    ///
    /// # Examples
    ///
    /// ```
    /// let help = greenlight::config::Config::help("myapp");
    /// assert!(help.starts_with("myapp: a greenlight HTTP server"));
    /// assert!(help.contains("  -w, --workers INT"));
    /// ```
    pub fn help(prog: &str) -> String {
        help::help_text(prog)
    }

    /// The longest request line to accept, in bytes: `limit_request_line`, with `0`
    /// meaning gunicorn's cap ([`ZERO_REQUEST_LINE`], 8190).
    ///
    /// # Examples
    ///
    /// ```
    /// use greenlight::config::Config;
    /// assert_eq!(Config::default().request_line_limit(), 4094);
    /// assert_eq!(Config { limit_request_line: 0, ..Config::default() }.request_line_limit(), 8190);
    /// ```
    pub fn request_line_limit(&self) -> usize {
        zero_means(self.limit_request_line, ZERO_REQUEST_LINE)
    }

    /// The most header fields to accept: `limit_request_fields`, with `0` meaning
    /// [`MAX_REQUEST_FIELDS`].
    ///
    /// # Examples
    ///
    /// ```
    /// use greenlight::config::Config;
    /// let config = Config { limit_request_fields: 0, ..Config::default() };
    /// assert_eq!(config.request_fields_limit(), 32768);
    /// ```
    pub fn request_fields_limit(&self) -> usize {
        zero_means(self.limit_request_fields, MAX_REQUEST_FIELDS)
    }

    /// The longest header field to accept, in bytes: `limit_request_field_size`, with `0`
    /// meaning the default, [`DEFAULT_FIELD_SIZE`].
    ///
    /// # Examples
    ///
    /// ```
    /// use greenlight::config::Config;
    /// let config = Config { limit_request_field_size: 0, ..Config::default() };
    /// assert_eq!(config.field_size_limit(), 8190);
    /// ```
    pub fn field_size_limit(&self) -> usize {
        zero_means(self.limit_request_field_size, DEFAULT_FIELD_SIZE)
    }

    /// The TLS files to serve with: `None` for plain HTTP, or the certificate chain and key
    /// (and the CA bundle for client certificates). The one place that knows which
    /// combinations of `--certfile`, `--keyfile` and `--ca-certs` make sense; the parser
    /// checks with it, and whoever builds TLS from a `Config` reads the files from it.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] when a certificate lacks its key or the other way round, or
    /// when a CA bundle is given without both.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenlight::config::{Config, TlsFiles};
    ///
    /// assert_eq!(Config::default().tls_files(), Ok(None));
    /// let config = Config {
    ///     certfile: Some("cert.pem".into()),
    ///     keyfile: Some("key.pem".into()),
    ///     ..Config::default()
    /// };
    /// let files = TlsFiles { certfile: "cert.pem".into(), keyfile: "key.pem".into(), ca_certs: None };
    /// assert_eq!(config.tls_files(), Ok(Some(files)));
    /// let half = Config { keyfile: None, ..config };
    /// assert!(half.tls_files().unwrap_err().to_string().starts_with("--certfile needs --keyfile"));
    /// ```
    pub fn tls_files(&self) -> Result<Option<TlsFiles>, ConfigError> {
        let msg = match (&self.certfile, &self.keyfile, &self.ca_certs) {
            (Some(certfile), Some(keyfile), ca_certs) => {
                return Ok(Some(TlsFiles {
                    certfile: certfile.clone(),
                    keyfile: keyfile.clone(),
                    ca_certs: ca_certs.clone(),
                }))
            }
            (None, None, None) => return Ok(None),
            (Some(_), None, _) => "--certfile needs --keyfile (the certificate's private key)",
            (None, Some(_), _) => "--keyfile needs --certfile (the certificate chain)",
            (None, None, Some(_)) => {
                "--ca-certs needs --certfile and --keyfile (it verifies client certificates of a \
                 TLS server)"
            }
        };
        Err(ConfigError::Invalid(msg.to_owned()))
    }
}

/// `n`, or `zero` when `n` is 0 (what a limit of 0 means differs from limit to limit).
fn zero_means(n: usize, zero: usize) -> usize {
    if n == 0 {
        zero
    } else {
        n
    }
}

/// The files of a TLS server, as `--certfile`, `--keyfile` and `--ca-certs` name them; see
/// [`Config::tls_files`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain (PEM).
    pub certfile: String,
    /// The certificate's private key (PEM).
    pub keyfile: String,
    /// A CA bundle (PEM): clients must then present a certificate signed by one of its CAs.
    pub ca_certs: Option<String>,
}

/// Settings this build cannot honour yet. Delete an entry when its feature lands.
const UNSUPPORTED: &[fn(&Config) -> Option<String>] = &[];

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    #[test]
    fn defaults() {
        let c = ok(&[]);
        assert_eq!(c, Config::default());
        assert_eq!(c.binds, ["127.0.0.1:8000"]);
        assert_eq!(c.workers, 1);
        assert_eq!(c.threads, 0);
        assert_eq!(c.stack_size, DEFAULT_STACK_SIZE);
        assert_eq!(c.backlog, 2048);
        assert!(!c.reuse_port);
        assert_eq!(c.worker_connections, 0);
        assert_eq!(c.keep_alive, secs(5.0));
        assert_eq!(c.timeout, secs(30.0));
        assert_eq!(c.graceful_timeout, secs(30.0));
        assert_eq!(c.header_timeout, secs(10.0));
        assert_eq!(c.min_rate, 500);
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
        assert_eq!(limits_of(&c), (4094, 100, 8190));
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

    #[test]
    fn tls_files() {
        let files = |c: Option<&str>, k: Option<&str>, ca: Option<&str>| {
            Config {
                certfile: c.map(str::to_owned),
                keyfile: k.map(str::to_owned),
                ca_certs: ca.map(str::to_owned),
                ..Config::default()
            }
            .tls_files()
        };
        assert_eq!(files(None, None, None), Ok(None));
        assert_eq!(
            files(Some("c"), Some("k"), Some("ca")),
            Ok(Some(TlsFiles {
                certfile: "c".into(),
                keyfile: "k".into(),
                ca_certs: Some("ca".into()),
            }))
        );
        let msg = |r: Result<Option<TlsFiles>, ConfigError>| r.unwrap_err().to_string();
        assert_eq!(
            msg(files(Some("c"), None, Some("ca"))),
            "--certfile needs --keyfile (the certificate's private key)"
        );
        assert_eq!(
            msg(files(None, Some("k"), None)),
            "--keyfile needs --certfile (the certificate chain)"
        );
        assert_eq!(
            msg(files(None, None, Some("ca"))),
            "--ca-certs needs --certfile and --keyfile (it verifies client certificates of a \
             TLS server)"
        );
    }
}
