//! The one conversion from gunicorn-style settings ([`Config`]) to the plain options of
//! each layer: the runtime, [`StreamServer`](crate::server::StreamServer), TLS and
//! [`WsgiServer`](crate::wsgi::WsgiServer).

use crate::config::Config;
use crate::error::{Error, Result};
use crate::green::RuntimeConfig;
use crate::http::request::Limits;
use crate::net::{AllowList, BindOptions, TlsConfig};
use crate::server::ServerOptions;
use crate::wsgi::WsgiOptions;

impl From<&Config> for RuntimeConfig {
    /// `--threads` and `--stack-size`.
    fn from(c: &Config) -> Self {
        RuntimeConfig {
            workers: c.threads,
            stack_size: c.stack_size,
        }
    }
}

impl From<&Config> for ServerOptions {
    /// `--backlog`, `--reuse-port`, `--worker-connections` (the connection limit) and
    /// `--graceful-timeout`.
    ///
    /// ```
    /// use greenlight::{config::Config, server::ServerOptions};
    /// let config = Config { worker_connections: 50, ..Config::default() };
    /// assert_eq!(ServerOptions::from(&config).max_connections, 50);
    /// ```
    fn from(c: &Config) -> Self {
        ServerOptions {
            bind: BindOptions {
                backlog: c.backlog,
                reuse_port: c.reuse_port,
            },
            max_connections: c.worker_connections,
            graceful_timeout: c.graceful_timeout,
            ..ServerOptions::default()
        }
    }
}

impl From<&Config> for Limits {
    /// The `--limit-request-*` flags, with `0` mapped to each maximum as gunicorn does.
    ///
    /// ```
    /// use greenlight::{config::Config, http::Limits};
    /// let limits = Limits::from(&Config { limit_request_line: 0, ..Config::default() });
    /// assert_eq!((limits.request_line, limits.fields, limits.field_size), (8190, 100, 8190));
    /// ```
    fn from(c: &Config) -> Self {
        Limits {
            request_line: c.request_line_limit(),
            fields: c.request_fields_limit(),
            field_size: c.field_size_limit(),
        }
    }
}

/// TLS from `--certfile`, `--keyfile` and `--ca-certs`, if configured (the rules for
/// which combinations are valid live in [`Config::tls_files`]).
pub(crate) fn tls(c: &Config) -> Result<Option<TlsConfig>> {
    match c.tls_files()? {
        Some(f) => {
            TlsConfig::from_pem_files(&f.certfile, &f.keyfile, f.ca_certs.as_deref()).map(Some)
        }
        None => Ok(None),
    }
}

/// An allow list from a flag's entries. The flag parser has validated each entry; a list
/// built in code may not have been.
fn allow_list(flag: &str, entries: &[String]) -> Result<AllowList> {
    AllowList::from_entries(entries)
        .map_err(|e| Error::Config(format!("invalid value for {flag}: {e}")))
}

impl TryFrom<&Config> for WsgiOptions {
    type Error = Error;

    /// Every setting of [`WsgiOptions`] from its flag. Fails when an IP list is invalid or
    /// a TLS file cannot be used.
    ///
    /// ```
    /// use greenlight::{config::Config, wsgi::WsgiOptions};
    /// let opts = WsgiOptions::try_from(&Config { keep_alive: std::time::Duration::ZERO, ..Config::default() })?;
    /// assert!(opts.keep_alive.is_zero());
    /// # Ok::<(), greenlight::Error>(())
    /// ```
    fn try_from(c: &Config) -> Result<Self> {
        let proxy_protocol = match c.proxy_protocol {
            true => Some(allow_list("--proxy-allow-ips", &c.proxy_allow_ips)?),
            false => None,
        };
        Ok(WsgiOptions {
            server: ServerOptions::from(c),
            runtime: RuntimeConfig::from(c),
            limits: Limits::from(c),
            keep_alive: c.keep_alive,
            header_timeout: c.header_timeout,
            body_timeout: c.body_timeout,
            min_rate: c.min_rate,
            max_body: (c.limit_request_body > 0).then_some(c.limit_request_body),
            request_timeout: c.request_timeout,
            max_blocking_time: c.max_blocking_time,
            script_name: String::new(),
            access_log: c.access_logfile.clone(),
            access_log_format: c.access_log_format.clone(),
            access_log_json: c.access_log_json,
            forwarded_allow_ips: allow_list("--forwarded-allow-ips", &c.forwarded_allow_ips)?,
            proxy_protocol,
            tls: tls(c)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Config`'s defaults and `WsgiOptions`' defaults describe the same server.
    #[test]
    fn defaults_agree() {
        let from = WsgiOptions::try_from(&Config::default()).unwrap();
        let d = WsgiOptions::default();
        assert_eq!(from.server, d.server);
        assert_eq!(from.runtime, d.runtime);
        assert_eq!(from.limits, d.limits);
        assert_eq!(
            (
                from.keep_alive,
                from.header_timeout,
                from.body_timeout,
                from.min_rate
            ),
            (d.keep_alive, d.header_timeout, d.body_timeout, d.min_rate)
        );
        assert_eq!(from.max_body, d.max_body);
        assert_eq!(from.request_timeout, d.request_timeout);
        assert_eq!(from.max_blocking_time, d.max_blocking_time);
        assert_eq!(from.access_log_format, d.access_log_format);
        assert_eq!(from.forwarded_allow_ips, d.forwarded_allow_ips);
        assert_eq!(from.proxy_protocol, d.proxy_protocol);
        assert!(from.tls.is_none() && from.access_log.is_none());
    }

    #[test]
    fn bad_lists_name_their_flag() {
        let c = Config {
            proxy_protocol: true,
            proxy_allow_ips: vec!["nope".into()],
            ..Config::default()
        };
        let e = WsgiOptions::try_from(&c).unwrap_err().to_string();
        assert!(e.contains("--proxy-allow-ips"), "{e}");
    }
}
