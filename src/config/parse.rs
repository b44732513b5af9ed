//! Walking the sources of flags: the environment, `GUNICORN_CMD_ARGS` and the command line.

use super::flags::{Flag, Takes, FLAGS};
use super::help::{help_text, version_text};
use super::values::Arg;
use super::{Config, ConfigError};

/// The program's name and its arguments, from the process (arguments must be UTF-8).
pub(super) fn process_args() -> (String, Result<Vec<String>, ConfigError>) {
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
    let args = args
        .map(|a| {
            a.into_string().map_err(|bad| {
                ConfigError::Invalid(format!(
                    "argument '{}' is not valid UTF-8",
                    bad.to_string_lossy()
                ))
            })
        })
        .collect();
    (prog, args)
}

/// The configuration from the defaults, the environment, `GUNICORN_CMD_ARGS` and `args`,
/// in that order of precedence (last wins).
pub(super) fn parse(
    prog: &str,
    args: Vec<String>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let mut cfg = Config::default();
    // Every variable that is set is read, so a bad one is an error even when a flag
    // overrides it.
    for var in FLAGS.iter().filter_map(|f| f.env.as_ref()) {
        if let Some(value) = env(var.name) {
            let arg = Arg {
                name: var.name,
                value: value.trim(),
                first_in_source: true,
            };
            (var.set)(&mut cfg, &arg)?;
        }
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
    cfg.tls_files()?;
    Ok(cfg)
}

/// Whether a token looks like a flag rather than a value (`-` and `-1` are values).
fn looks_like_flag(s: &str) -> bool {
    s.starts_with("--") || (s.starts_with('-') && s[1..].starts_with(|c: char| c.is_alphabetic()))
}

/// Which flag `arg` names, the spelling to show in messages, and a value given with it
/// (`--x=v`, `-bv`, `-b=v`).
fn identify(arg: &str) -> Result<(&'static Flag, String, Option<&str>), ConfigError> {
    if let Some(rest) = arg.strip_prefix("--") {
        let (key, inline) = match rest.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (rest, None),
        };
        let flag = Flag::by_long(key)
            .filter(|_| !key.is_empty())
            .ok_or_else(|| ConfigError::Invalid(format!("unknown flag --{key}")))?;
        Ok((flag, format!("--{key}"), inline))
    } else if looks_like_flag(arg) {
        let c = arg[1..].chars().next().unwrap_or('-');
        let flag =
            Flag::by_short(c).ok_or_else(|| ConfigError::Invalid(format!("unknown flag -{c}")))?;
        let rest = &arg[1 + c.len_utf8()..];
        let rest = rest.strip_prefix('=').unwrap_or(rest);
        let inline = (!rest.is_empty()).then_some(rest);
        Ok((flag, format!("--{}", flag.long), inline))
    } else {
        Err(ConfigError::Invalid(format!(
            "unexpected argument '{arg}': no positional arguments are taken (the app is the \
             program itself)"
        )))
    }
}

/// Parses one source of flags into `cfg`.
fn parse_flags(cfg: &mut Config, args: &[String], prog: &str) -> Result<(), ConfigError> {
    // Which flags this source has used so far, by their place in the table.
    let mut used = vec![false; FLAGS.len()];
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_str();
        i += 1;
        match arg {
            "-h" | "--help" => return Err(ConfigError::Help(help_text(prog))),
            "-v" | "--version" => return Err(ConfigError::Version(version_text(prog))),
            _ => {}
        }
        let (flag, name, inline) = identify(arg)?;
        let first_in_source = !std::mem::replace(&mut used[index_of(flag)], true);
        match (flag.takes, inline) {
            (Takes::Nothing(_), Some(_)) => {
                return Err(ConfigError::Invalid(format!("{name} takes no value")));
            }
            (Takes::Nothing(set), None) => set(cfg),
            (Takes::Value(_, set), inline) => {
                let value = match inline {
                    Some(v) => v,
                    None => match args.get(i) {
                        Some(next) if !looks_like_flag(next) => {
                            i += 1;
                            next.as_str()
                        }
                        _ => return Err(ConfigError::Invalid(format!("missing value for {name}"))),
                    },
                };
                let arg = Arg {
                    name: &name,
                    value,
                    first_in_source,
                };
                set(cfg, &arg)?;
            }
        }
    }
    Ok(())
}

/// The place of `flag` in [`FLAGS`].
fn index_of(flag: &Flag) -> usize {
    FLAGS
        .iter()
        .position(|f| std::ptr::eq(f, flag))
        .expect("flags come from the table")
}

/// Splits `GUNICORN_CMD_ARGS` into words as Python's `shlex.split` does (gunicorn splits
/// it so): words end at a space, tab, CR or LF; single quotes keep everything up to the
/// next one; double quotes too, except that a backslash there escapes `"` and `\`;
/// outside quotes a backslash escapes any character.
fn split_words(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) if c == q => quote = None,
            Some('"') if c == '\\' => match chars.next() {
                Some(e @ ('"' | '\\')) => cur.push(e),
                Some(e) => {
                    cur.push('\\');
                    cur.push(e);
                }
                None => return Err("a final '\\' escapes nothing".to_owned()),
            },
            Some(_) => cur.push(c),
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                in_word = true;
            }
            None if c == '\\' => {
                cur.push(chars.next().ok_or("a final '\\' escapes nothing")?);
                in_word = true;
            }
            None if matches!(c, ' ' | '\t' | '\r' | '\n') => {
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

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    #[test]
    fn missing_values() {
        for flag in FLAGS.iter().filter(|f| f.metavar().is_some()) {
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
    fn words_split_like_shlex() {
        // Each answer is Python's `shlex.split` of the same text.
        let cases: &[(&str, &[&str])] = &[
            (r"a\ b", &["a b"]),
            (r#""a\"b""#, &["a\"b"]),
            (r#""a\xb""#, &[r"a\xb"]),
            (r"'a\b'", &[r"a\b"]),
            (r"x\\y", &[r"x\y"]),
            (r#""a\\b""#, &[r"a\b"]),
            ("a\x0cb\u{a0}c\td", &["a\x0cb\u{a0}c", "d"]),
            ("\r\n", &[]),
        ];
        for (text, words) in cases {
            assert_eq!(split_words(text).unwrap(), *words, "{text}");
        }
        for bad in [r"a\", r#""a\"#, "'a", r#"a"b"#] {
            assert!(split_words(bad).is_err(), "{bad}");
        }
    }
}
