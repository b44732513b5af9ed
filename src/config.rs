//! gunicorn-style configuration, from the command line and the environment.
//!
//! (Parsing is being written; this file fixes the shape other modules use.)

use std::time::Duration;

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
    /// `--limit-request-line`: longest request line in bytes. Default 4094 (0 = 8190, the max).
    pub limit_request_line: usize,
    /// `--limit-request-fields`: most header fields. Default 100 (max 32768).
    pub limit_request_fields: usize,
    /// `--limit-request-field-size` (or `--limit-request-field_size`): longest header field.
    /// Default 8190 (0 = unlimited up to the head limit).
    pub limit_request_field_size: usize,
    /// `--access-logfile`: `-` for stdout, a path, or `None` (off, the default).
    pub access_logfile: Option<String>,
    /// `--access-logformat`: gunicorn's atoms.
    pub access_log_format: String,
    /// `--error-logfile`: `-` (stderr, the default) or a path.
    pub error_logfile: String,
    /// `--log-level`: debug, info, warning, error, critical. Default info.
    pub log_level: log::LevelFilter,
    /// `--forwarded-allow-ips`: peers trusted to set the scheme. Default `127.0.0.1,::1`.
    pub forwarded_allow_ips: Vec<String>,
    /// `--proxy-protocol`: expect a PROXY protocol header on each connection.
    pub proxy_protocol: bool,
    /// `--proxy-allow-ips`: peers allowed to send a PROXY header. Default `127.0.0.1,::1`.
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
