//! The flag table: everything about each flag in one entry (names, help, the value's
//! parser and where it goes, the default the help shows, an environment variable).
//! Adding a flag is adding an entry here (and its field to [`Config`]).

use std::time::Duration;

use super::values::Arg;
use super::{
    zero_means, Config, ConfigError, DEFAULT_FIELD_SIZE, MAX_FIELD_SIZE, MAX_REQUEST_FIELDS,
    MAX_REQUEST_LINE, ZERO_REQUEST_LINE,
};

/// The help's sections, in the order they are printed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Group {
    Socket,
    Workers,
    Timeouts,
    Limits,
    Logging,
    Proxy,
    Tls,
    Other,
}

/// Each group and its title in the help.
pub(super) const GROUPS: &[(Group, &str)] = &[
    (Group::Socket, "Server socket"),
    (Group::Workers, "Worker processes"),
    (Group::Timeouts, "Timeouts (seconds; fractions allowed)"),
    (Group::Limits, "Limits"),
    (Group::Logging, "Logging"),
    (Group::Proxy, "Proxy"),
    (Group::Tls, "TLS"),
    (Group::Other, "Other"),
];

/// Reads a value into the configuration; the error names the flag (`arg.name`).
pub(super) type Setter = fn(&mut Config, &Arg) -> Result<(), ConfigError>;

/// What a flag takes.
#[derive(Clone, Copy)]
pub(super) enum Takes {
    /// Nothing: a switch, and what it turns on.
    Nothing(fn(&mut Config)),
    /// A value: its name in the help (`INT`, `FILE`), and its setter.
    Value(&'static str, Setter),
}

/// An environment variable that gives a flag's default.
#[derive(Clone, Copy)]
pub(super) struct EnvVar {
    pub name: &'static str,
    /// Its line in the help's "Environment" section.
    pub help: &'static str,
    pub set: Setter,
}

/// One command-line flag.
#[derive(Clone, Copy)]
pub(super) struct Flag {
    /// The name after `--`.
    pub long: &'static str,
    /// Other names after `--` (gunicorn's older spellings).
    pub aliases: &'static [&'static str],
    pub short: Option<char>,
    pub takes: Takes,
    pub group: Group,
    pub help: &'static str,
    /// The default the help shows, from [`Config::default`]; `None` shows none.
    pub default: Option<fn(&Config) -> String>,
    pub env: Option<EnvVar>,
}

impl Flag {
    /// A flag that takes a value.
    const fn value(
        long: &'static str,
        metavar: &'static str,
        group: Group,
        help: &'static str,
        set: Setter,
    ) -> Flag {
        Flag {
            long,
            aliases: &[],
            short: None,
            takes: Takes::Value(metavar, set),
            group,
            help,
            default: None,
            env: None,
        }
    }

    /// A flag that takes no value.
    const fn switch(
        long: &'static str,
        group: Group,
        help: &'static str,
        set: fn(&mut Config),
    ) -> Flag {
        Flag {
            long,
            aliases: &[],
            short: None,
            takes: Takes::Nothing(set),
            group,
            help,
            default: None,
            env: None,
        }
    }

    const fn short(mut self, c: char) -> Flag {
        self.short = Some(c);
        self
    }

    const fn aliases(mut self, aliases: &'static [&'static str]) -> Flag {
        self.aliases = aliases;
        self
    }

    const fn default(mut self, show: fn(&Config) -> String) -> Flag {
        self.default = Some(show);
        self
    }

    /// The variable `name` is read like the flag's value.
    const fn env(self, name: &'static str, help: &'static str) -> Flag {
        match self.takes {
            Takes::Value(_, set) => self.env_with(name, help, set),
            Takes::Nothing(_) => panic!("a switch has no value to read from the environment"),
        }
    }

    /// The variable `name` is read by `set`.
    const fn env_with(mut self, name: &'static str, help: &'static str, set: Setter) -> Flag {
        self.env = Some(EnvVar { name, help, set });
        self
    }

    /// The value's name in the help; `None` for a switch.
    pub fn metavar(&self) -> Option<&'static str> {
        match self.takes {
            Takes::Nothing(_) => None,
            Takes::Value(metavar, _) => Some(metavar),
        }
    }

    /// The flag named `key` (after `--`), by its name or an alias.
    pub fn by_long(key: &str) -> Option<&'static Flag> {
        FLAGS
            .iter()
            .find(|f| f.long == key || f.aliases.contains(&key))
    }

    /// The flag whose short form is `-c`.
    pub fn by_short(c: char) -> Option<&'static Flag> {
        FLAGS.iter().find(|f| f.short == Some(c))
    }
}

fn show_secs(t: Duration) -> String {
    format!("{}", t.as_secs_f64())
}

/// Every flag, in the help's order within each group.
pub(super) static FLAGS: &[Flag] = &[
    Flag::value(
        "bind",
        "ADDRESS",
        Group::Socket,
        "Socket to bind: HOST:PORT, [V6]:PORT, unix:PATH or fd://N. Repeatable; the first \
         -b replaces the default",
        |c, a| {
            let bind = a.non_empty("an address like 127.0.0.1:8000")?;
            if a.first_in_source {
                c.binds.clear();
            }
            c.binds.push(bind);
            Ok(())
        },
    )
    .short('b')
    .default(|d| format!("{}, or 0.0.0.0:$PORT", d.binds.join(",")))
    .env_with("PORT", "Default bind becomes 0.0.0.0:$PORT", |c, a| {
        let port: u16 = a
            .value
            .parse()
            .map_err(|_| a.invalid("a port number from 0 to 65535"))?;
        c.binds = vec![format!("0.0.0.0:{port}")];
        Ok(())
    }),
    Flag::value(
        "backlog",
        "INT",
        Group::Socket,
        "Most pending connections in the listen queue",
        |c, a| a.int(1, u32::MAX.into()).map(|n| c.backlog = n as u32),
    )
    .default(|d| d.backlog.to_string()),
    Flag::switch(
        "reuse-port",
        Group::Socket,
        "Set SO_REUSEPORT on the listening sockets",
        |c| c.reuse_port = true,
    ),
    Flag::value(
        "workers",
        "INT",
        Group::Workers,
        "Worker processes. A master process starts them (even 1), replaces any that \
         dies, and handles gunicorn's signals",
        |c, a| a.usize(1, usize::MAX).map(|n| c.workers = n),
    )
    .short('w')
    .default(|d| format!("{}, or $WEB_CONCURRENCY", d.workers))
    .env("WEB_CONCURRENCY", "Default for --workers"),
    Flag::value(
        "threads",
        "INT",
        Group::Workers,
        "OS threads that run green threads in each process; 0 = one per core",
        |c, a| a.usize(0, usize::MAX).map(|n| c.threads = n),
    )
    .default(|d| d.threads.to_string()),
    Flag::value(
        "stack-size",
        "BYTES",
        Group::Workers,
        "Green-thread stack size: bytes, or with a k/KiB or m/MiB suffix; 8k to 1g",
        |c, a| a.stack_size().map(|n| c.stack_size = n),
    )
    .default(|d| format!("{}k", d.stack_size / 1024)),
    Flag::value(
        "worker-connections",
        "INT",
        Group::Workers,
        "Most simultaneous connections per worker process; 0 = as many as the open-file \
         and memory-map limits allow (the open-file limit is raised to its hard limit). When \
         full, idle and then slowest-sending connections are closed to make room",
        |c, a| a.usize(0, usize::MAX).map(|n| c.worker_connections = n),
    )
    .default(|d| match d.worker_connections {
        0 => "0 (automatic)".to_owned(),
        n => n.to_string(),
    }),
    Flag::value(
        "max-requests",
        "INT",
        Group::Workers,
        "Restart a worker after this many requests; 0 = never",
        |c, a| a.int(0, u64::MAX).map(|n| c.max_requests = n),
    )
    .default(|d| d.max_requests.to_string()),
    Flag::value(
        "max-requests-jitter",
        "INT",
        Group::Workers,
        "Random extra requests (0..=N) before that restart",
        |c, a| a.int(0, u64::MAX).map(|n| c.max_requests_jitter = n),
    )
    .default(|d| d.max_requests_jitter.to_string()),
    Flag::value(
        "timeout",
        "SECONDS",
        Group::Timeouts,
        "A worker silent this long is killed and replaced by the master; 0 = never",
        |c, a| a.seconds(true).map(|t| c.timeout = t),
    )
    .short('t')
    .default(|d| show_secs(d.timeout)),
    Flag::value(
        "graceful-timeout",
        "SECONDS",
        Group::Timeouts,
        "On stop, time in-flight requests get to finish before they are cancelled",
        |c, a| a.seconds(true).map(|t| c.graceful_timeout = t),
    )
    .default(|d| show_secs(d.graceful_timeout)),
    Flag::value(
        "request-timeout",
        "SECONDS",
        Group::Timeouts,
        "A handler still running this long is cancelled at its next yield (green sleep, \
         socket, queue) and the client gets 504 (or the connection closes mid-response); \
         other requests are unaffected. 0 = none",
        |c, a| a.seconds(true).map(|t| c.request_timeout = t),
    )
    .default(|d| show_secs(d.request_timeout)),
    Flag::value(
        "max-blocking-time",
        "SECONDS",
        Group::Timeouts,
        "Warn (once per stall, naming the request) when a worker thread runs one request's \
         code this long without yielding: a blocking call stalls every green thread on it. \
         0 = off",
        |c, a| a.seconds(true).map(|t| c.max_blocking_time = t),
    )
    .default(|d| show_secs(d.max_blocking_time)),
    Flag::value(
        "keep-alive",
        "SECONDS",
        Group::Timeouts,
        "Idle time allowed between requests on a connection; 0 = no keep-alive",
        |c, a| a.seconds(true).map(|t| c.keep_alive = t),
    )
    .default(|d| show_secs(d.keep_alive)),
    Flag::value(
        "header-timeout",
        "SECONDS",
        Group::Timeouts,
        "Time allowed to receive a whole request head (> 0)",
        |c, a| a.seconds(false).map(|t| c.header_timeout = t),
    )
    .default(|d| show_secs(d.header_timeout)),
    Flag::value(
        "min-rate",
        "BYTES",
        Group::Timeouts,
        "Slowest a client may send a request head or body once begun, in bytes per second \
         on average after a 2 s grace; a slower one gets 408 and is closed (0 = no minimum)",
        |c, a| a.int(0, u64::from(u32::MAX)).map(|n| c.min_rate = n as u32),
    )
    .default(|d| d.min_rate.to_string()),
    Flag::value(
        "body-timeout",
        "SECONDS",
        Group::Timeouts,
        "Longest wait for the next piece of a request body (> 0)",
        |c, a| a.seconds(false).map(|t| c.body_timeout = t),
    )
    .default(|d| show_secs(d.body_timeout)),
    Flag::value(
        "limit-request-line",
        "BYTES",
        Group::Limits,
        "Longest request line, 0 to 65536; 0 = 8190",
        |c, a| {
            a.usize(0, MAX_REQUEST_LINE)
                .map(|n| c.limit_request_line = zero_means(n, ZERO_REQUEST_LINE))
        },
    )
    .default(|d| d.limit_request_line.to_string()),
    Flag::value(
        "limit-request-fields",
        "INT",
        Group::Limits,
        "Most header fields in a request, 0 to 32768; 0 = 32768",
        |c, a| {
            a.usize(0, MAX_REQUEST_FIELDS)
                .map(|n| c.limit_request_fields = zero_means(n, MAX_REQUEST_FIELDS))
        },
    )
    .default(|d| d.limit_request_fields.to_string()),
    Flag::value(
        "limit-request-field-size",
        "BYTES",
        Group::Limits,
        "Longest header field, 0 to 65536; 0 = the default, 8190. Alias: \
         --limit-request-field_size",
        |c, a| {
            a.usize(0, MAX_FIELD_SIZE)
                .map(|n| c.limit_request_field_size = zero_means(n, DEFAULT_FIELD_SIZE))
        },
    )
    .aliases(&["limit-request-field_size"])
    .default(|d| d.limit_request_field_size.to_string()),
    Flag::value(
        "limit-request-body",
        "BYTES",
        Group::Limits,
        "Largest request body (like nginx's client_max_body_size: 1048576, 512k, 10m); a \
         larger one gets 413 before it is read. 0 = no limit but each app's own",
        |c, a| a.size(0, u64::MAX).map(|n| c.limit_request_body = n),
    )
    .default(|d| d.limit_request_body.to_string()),
    Flag::value(
        "access-logfile",
        "FILE",
        Group::Logging,
        "Access log: '-' for stdout, or a file (appended to). Off unless given",
        |c, a| a.path().map(|p| c.access_logfile = p),
    ),
    Flag::value(
        "access-logformat",
        "STRING",
        Group::Logging,
        "Access log format, with gunicorn's atoms",
        |c, a| {
            c.access_log_format = a.value.to_owned();
            Ok(())
        },
    )
    .default(|d| d.access_log_format.clone()),
    Flag::switch(
        "access-log-json",
        Group::Logging,
        "Write each access-log line as one JSON object: every atom a named field \
         (remote_addr, time, request, method, path, query, protocol, status, bytes, \
         referer, user_agent, request_time[_s|_ms|_us], pid), plus the {name}i/o/e atoms \
         of --access-logformat",
        |c| c.access_log_json = true,
    ),
    Flag::value(
        "error-logfile",
        "FILE",
        Group::Logging,
        "Error log: '-' for stderr, or a file (appended to). Alias: --log-file",
        |c, a| a.non_empty("a path or '-'").map(|p| c.error_logfile = p),
    )
    .aliases(&["log-file"])
    .default(|d| d.error_logfile.clone()),
    Flag::value(
        "log-level",
        "LEVEL",
        Group::Logging,
        "Error log level: debug, info, warning, error or critical",
        |c, a| a.level().map(|l| c.log_level = l),
    )
    .default(|d| d.log_level.to_string().to_lowercase()),
    Flag::value(
        "forwarded-allow-ips",
        "IPS",
        Group::Proxy,
        "Comma-separated IPs or CIDR networks whose X-Forwarded-Proto, X-Forwarded-Ssl and \
         X-Forwarded-Protocol headers set the scheme; '*' = all",
        |c, a| a.ip_list().map(|l| c.forwarded_allow_ips = l),
    )
    .default(|d| {
        format!(
            "{}, or $FORWARDED_ALLOW_IPS",
            d.forwarded_allow_ips.join(",")
        )
    })
    .env("FORWARDED_ALLOW_IPS", "Default for --forwarded-allow-ips"),
    Flag::switch(
        "proxy-protocol",
        Group::Proxy,
        "Expect a PROXY protocol header (v1 or v2) on each connection",
        |c| c.proxy_protocol = true,
    ),
    Flag::value(
        "proxy-allow-ips",
        "IPS",
        Group::Proxy,
        "Comma-separated IPs or CIDR networks allowed to send a PROXY header; '*' = all",
        |c, a| a.ip_list().map(|l| c.proxy_allow_ips = l),
    )
    .default(|d| d.proxy_allow_ips.join(",")),
    Flag::value(
        "certfile",
        "FILE",
        Group::Tls,
        "TLS certificate chain (PEM); serve HTTPS. Needs --keyfile",
        |c, a| a.path().map(|p| c.certfile = p),
    ),
    Flag::value(
        "keyfile",
        "FILE",
        Group::Tls,
        "TLS private key (PEM: PKCS#8, PKCS#1 or SEC1)",
        |c, a| a.path().map(|p| c.keyfile = p),
    ),
    Flag::value(
        "ca-certs",
        "FILE",
        Group::Tls,
        "CA bundle (PEM): clients must present a certificate signed by one of these CAs",
        |c, a| a.path().map(|p| c.ca_certs = p),
    ),
    Flag::value(
        "metrics-bind",
        "ADDRESS",
        Group::Logging,
        "Serve Prometheus metrics at http://ADDRESS/metrics from the master (HOST:PORT): \
         requests, durations, connections, bytes and restarts, totals of every worker",
        |c, a| {
            a.non_empty("an address like 127.0.0.1:9100")
                .map(|b| c.metrics_bind = Some(b))
        },
    ),
    Flag::value(
        "statsd-host",
        "ADDRESS",
        Group::Logging,
        "Send gunicorn's statsd metrics (requests, durations, statuses, workers) over UDP to \
         HOST:PORT",
        |c, a| {
            a.non_empty("an address like localhost:8125")
                .map(|h| c.statsd_host = Some(h))
        },
    ),
    Flag::value(
        "statsd-prefix",
        "STRING",
        Group::Logging,
        "Prefix of every statsd metric name",
        |c, a| {
            c.statsd_prefix = a.value.to_owned();
            Ok(())
        },
    ),
    Flag::value(
        "pid",
        "FILE",
        Group::Other,
        "Write the master's pid to this file; removed on exit",
        |c, a| a.path().map(|p| c.pid = p),
    ),
];

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use std::time::Duration;

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
        for zero_is_bad in ["--workers", "--backlog"] {
            assert!(err(&[zero_is_bad, "0"]).contains(zero_is_bad));
        }
        // 0 connections means automatic (as many as the process can hold).
        assert_eq!(both("--worker-connections", "0").worker_connections, 0);
        assert_eq!(both("--min-rate", "0").min_rate, 0);
        assert_eq!(both("--min-rate", "2000").min_rate, 2000);
        assert!(err(&["--min-rate", "-1"]).contains("--min-rate"));
        assert!(err(&["--min-rate", "4294967296"]).contains("--min-rate"));
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
    fn limit_request_body() {
        assert_eq!(ok(&[]).limit_request_body, 0);
        assert_eq!(
            both("--limit-request-body", "10m").limit_request_body,
            10 << 20
        );
        assert_eq!(
            both("--limit-request-body", "1500").limit_request_body,
            1500
        );
        assert!(err(&["--limit-request-body", "ten"]).contains("a size in bytes"));
        let c = ok(&["--limit-request-body", "64k"]);
        let opts = crate::wsgi::WsgiOptions::try_from(&c).unwrap();
        assert_eq!(opts.max_body, Some(64 << 10));
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
        assert_eq!(c.request_line_limit(), 100);
        assert_eq!(both("--limit-request-line", "0").limit_request_line, 8190);
        assert_eq!(
            both("--limit-request-line", "8190").limit_request_line,
            8190
        );
        assert_eq!(
            both("--limit-request-line", "8200").request_line_limit(),
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

        let l = limits_of(&ok(&[
            "--limit-request-line=1",
            "--limit-request-fields=2",
            "--limit-request-field-size=3",
        ]));
        assert_eq!(l, (1, 2, 3));
        let zero = limits_of(&Config {
            limit_request_line: 0,
            limit_request_fields: 0,
            limit_request_field_size: 0,
            ..Config::default()
        });
        assert_eq!(zero, (8190, 32768, 8190));
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
    fn metrics_and_statsd_flags() {
        let c = both("--metrics-bind", "127.0.0.1:9100");
        assert_eq!(c.metrics_bind.as_deref(), Some("127.0.0.1:9100"));
        let c = both("--statsd-host", "localhost:8125");
        assert_eq!(c.statsd_host.as_deref(), Some("localhost:8125"));
        assert_eq!(both("--statsd-prefix", "web").statsd_prefix, "web");
        assert!(err(&["--metrics-bind="]).contains("--metrics-bind"));
        assert!(err(&["--statsd-host="]).contains("--statsd-host"));
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
}
