//! `Config::try_from_args` over fuzzed argument lists and environment variables.
//!
//! The input, read as UTF-8 (lossily), is split on NUL into words; words starting with
//! `ENV:` set an environment variable (`PORT`, `WEB_CONCURRENCY`, `FORWARDED_ALLOW_IPS`,
//! `GUNICORN_CMD_ARGS`, picked by the next character), the rest are arguments.
//! Invariants: it never panics, nor do the accessors of a configuration it returns; an
//! error has a message; the answer does not change when asked twice; and the same words
//! given through `GUNICORN_CMD_ARGS`, quoted as Python's `shlex.quote` does, give the
//! same configuration (or the same error, prefixed with the variable's name), which
//! checks the splitter against its inverse.
#![no_main]

use greenlight::config::{Config, ConfigError};
use libfuzzer_sys::fuzz_target;

const VARS: [&str; 4] = [
    "PORT",
    "WEB_CONCURRENCY",
    "FORWARDED_ALLOW_IPS",
    "GUNICORN_CMD_ARGS",
];

/// `shlex.quote`: single quotes around everything, a quote itself as `'"'"'`.
fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', "'\"'\"'"))
}

fn parse(args: &[String], vars: &[(&str, String)]) -> Result<Config, ConfigError> {
    let env = |k: &str| {
        vars.iter()
            .rev()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.clone())
    };
    Config::try_from_args(args.iter().cloned(), &env)
}

fn use_config(c: &Config) {
    let _ = c.unsupported();
    let _ = c.request_line_limit();
    let _ = c.request_fields_limit();
    let _ = c.field_size_limit();
    let _ = c.tls_files();
    let _ = format!("{c:?}");
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut args = Vec::new();
    let mut vars = Vec::new();
    for word in text.split('\0') {
        match word.strip_prefix("ENV:") {
            Some(rest) => {
                let mut chars = rest.chars();
                let pick = chars.next().map_or(0, |c| c as usize % VARS.len());
                vars.push((VARS[pick], chars.as_str().to_owned()));
            }
            None => args.push(word.to_owned()),
        }
    }

    let got = parse(&args, &vars);
    match &got {
        Ok(c) => use_config(c),
        Err(ConfigError::Invalid(msg)) => assert!(!msg.is_empty()),
        Err(_) => {}
    }
    assert_eq!(parse(&args, &vars), got, "not deterministic");

    // The same words through GUNICORN_CMD_ARGS, where no other source sets it.
    if vars.iter().any(|(n, _)| *n == "GUNICORN_CMD_ARGS") {
        return;
    }
    let quoted: Vec<String> = args.iter().map(|w| quote(w)).collect();
    let mut via_env = vars.clone();
    via_env.push(("GUNICORN_CMD_ARGS", quoted.join(" ")));
    let through = parse(&[], &via_env);
    match (&got, &through) {
        (Err(ConfigError::Invalid(a)), Err(ConfigError::Invalid(b))) => {
            // Errors found after all flags were read (TLS files) carry no prefix.
            let prefixed = format!("GUNICORN_CMD_ARGS: {a}");
            assert!(*b == prefixed || b == a, "{a:?} vs {b:?}");
        }
        _ => assert_eq!(
            got, through,
            "words {args:?} vs GUNICORN_CMD_ARGS {quoted:?}"
        ),
    }
});
