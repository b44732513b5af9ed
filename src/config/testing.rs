//! Helpers for the unit tests of the parser.

use std::time::Duration;

use super::{Config, ConfigError};

fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |key: &str| vars.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
}

/// `args` parsed over an environment of `vars` only.
pub(super) fn parse_env(args: &[&str], vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    Config::try_from_args(args.iter().map(|s| s.to_string()), &env_of(vars))
}

/// The configuration from `args`, which must be valid.
pub(super) fn ok(args: &[&str]) -> Config {
    parse_env(args, &[]).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

/// The message of the error `args` must give.
pub(super) fn err(args: &[&str]) -> String {
    match parse_env(args, &[]) {
        Err(ConfigError::Invalid(msg)) => msg,
        other => panic!("{args:?}: expected an error, got {other:?}"),
    }
}

/// Both `--flag value` and `--flag=value` give the same config.
pub(super) fn both(flag: &str, value: &str) -> Config {
    let a = ok(&[flag, value]);
    let b = ok(&[&format!("{flag}={value}")]);
    assert_eq!(a, b, "{flag} {value}");
    a
}

pub(super) fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// The three request-head limits in force.
pub(super) fn limits_of(c: &Config) -> (usize, usize, usize) {
    (
        c.request_line_limit(),
        c.request_fields_limit(),
        c.field_size_limit(),
    )
}
