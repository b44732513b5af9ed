//! The kinds of values flags take, each read with the error message that names the flag.

use std::time::Duration;

use super::ip::IpEntry;
use super::{ConfigError, MAX_STACK_SIZE, MIN_STACK_SIZE};

/// One value for one flag (or environment variable), as a setter in the flag table gets it.
pub(super) struct Arg<'a> {
    /// The flag as the user spelled it (`--workers`, `--log-file`), or the variable's name:
    /// what error messages show.
    pub name: &'a str,
    /// The value; empty for a switch.
    pub value: &'a str,
    /// Whether this is the flag's first use in the current source (the environment,
    /// `GUNICORN_CMD_ARGS`, the command line): a repeatable flag then replaces what an
    /// earlier source gave instead of adding to it.
    pub first_in_source: bool,
}

/// Longest duration accepted: a year (Instant arithmetic stays far from overflow).
const MAX_SECONDS: f64 = 365.0 * 24.0 * 3600.0;

impl Arg<'_> {
    /// `invalid value 'V' for FLAG: expected EXPECTED`.
    pub fn invalid(&self, expected: &str) -> ConfigError {
        ConfigError::Invalid(format!(
            "invalid value '{}' for {}: expected {expected}",
            self.value, self.name
        ))
    }

    /// An integer in `min..=max`.
    pub fn int(&self, min: u64, max: u64) -> Result<u64, ConfigError> {
        let kind = if min == 0 {
            "a non-negative integer"
        } else {
            "a positive integer"
        };
        let n: u64 = self.value.parse().map_err(|_| self.invalid(kind))?;
        if n < min || n > max {
            return Err(self.invalid(&if max >= usize::MAX as u64 {
                kind.to_owned()
            } else {
                format!("an integer from {min} to {max}")
            }));
        }
        Ok(n)
    }

    /// An integer in `min..=max`, as a `usize`.
    pub fn usize(&self, min: usize, max: usize) -> Result<usize, ConfigError> {
        // usize fits in u64 on every platform Rust supports with std.
        self.int(min as u64, max as u64).map(|n| n as usize)
    }

    /// A number of seconds (fractions allowed, no exponent or sign), up to a year.
    pub fn seconds(&self, allow_zero: bool) -> Result<Duration, ConfigError> {
        let expected = if allow_zero {
            "a number of seconds from 0 to 31536000"
        } else {
            "a number of seconds greater than 0, up to 31536000"
        };
        let v = self.value;
        let ok_chars = !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit() || b == b'.');
        let n: f64 = match v.parse() {
            Ok(n) if ok_chars => n,
            _ => return Err(self.invalid(expected)),
        };
        if n > MAX_SECONDS || (n == 0.0 && !allow_zero) {
            return Err(self.invalid(expected));
        }
        Duration::try_from_secs_f64(n).map_err(|_| self.invalid(expected))
    }

    /// A stack size: bytes, or with a k/KiB, m/MiB or g/GiB suffix, in
    /// [`MIN_STACK_SIZE`]`..=`[`MAX_STACK_SIZE`].
    pub fn stack_size(&self) -> Result<usize, ConfigError> {
        let expected = "a size in bytes from 8k to 1g, like 262144, 256k, 256KiB or 1m";
        let n = self.size_within(MIN_STACK_SIZE as u64, MAX_STACK_SIZE as u64, expected)?;
        Ok(n as usize)
    }

    /// A size in bytes, or with a k/KiB, m/MiB or g/GiB suffix, in `min..=max`.
    pub fn size(&self, min: u64, max: u64) -> Result<u64, ConfigError> {
        let expected = "a size in bytes, like 1048576, 512k, 512KiB or 10m";
        self.size_within(min, max, expected)
    }

    fn size_within(&self, min: u64, max: u64, expected: &str) -> Result<u64, ConfigError> {
        let v = self.value;
        let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
        let (digits, suffix) = v.split_at(split);
        let unit: u64 = match suffix.to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" | "kib" => 1 << 10,
            "m" | "mb" | "mib" => 1 << 20,
            "g" | "gb" | "gib" => 1 << 30,
            _ => return Err(self.invalid(expected)),
        };
        let n: u64 = digits.parse().map_err(|_| self.invalid(expected))?;
        match n.checked_mul(unit) {
            Some(bytes) if (min..=max).contains(&bytes) => Ok(bytes),
            _ => Err(self.invalid(expected)),
        }
    }

    /// A log level, gunicorn's names (`critical` is the `log` facade's `Error`).
    pub fn level(&self) -> Result<log::LevelFilter, ConfigError> {
        use log::LevelFilter::*;
        Ok(match self.value.to_ascii_lowercase().as_str() {
            "debug" => Debug,
            "info" => Info,
            "warning" | "warn" => Warn,
            "error" | "critical" => Error,
            _ => return Err(self.invalid("one of debug, info, warning, error, critical")),
        })
    }

    /// A comma-separated list of IP addresses, CIDR networks or `*`; empty entries are
    /// skipped.
    pub fn ip_list(&self) -> Result<Vec<String>, ConfigError> {
        let entries: Vec<String> = self
            .value
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(str::to_owned)
            .collect();
        match entries.iter().find(|e| IpEntry::parse(e).is_none()) {
            Some(bad) => Err(ConfigError::Invalid(format!(
                "invalid value '{}' for {}: '{bad}' is not an IP address, a CIDR network or '*'",
                self.value, self.name
            ))),
            None => Ok(entries),
        }
    }

    /// The value, which must not be blank.
    pub fn non_empty(&self, expected: &str) -> Result<String, ConfigError> {
        if self.value.trim().is_empty() {
            Err(self.invalid(expected))
        } else {
            Ok(self.value.to_owned())
        }
    }

    /// A path (not blank).
    pub fn path(&self) -> Result<Option<String>, ConfigError> {
        self.non_empty("a path").map(Some)
    }
}
