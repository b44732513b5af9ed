//! The `--help` and `--version` texts, written from the flag table.

use std::fmt::Write;

use super::flags::{Flag, FLAGS, GROUPS};
use super::Config;

/// Where the descriptions start.
const COLUMN: usize = 38;

/// One line: `left`, then `text` at [`COLUMN`] (on the next line if `left` is too long).
fn row(out: &mut String, left: &str, text: &str) {
    let _ = write!(out, "{left:<COLUMN$}");
    if left.len() >= COLUMN {
        let _ = write!(out, "\n{:<COLUMN$}", "");
    }
    out.push_str(text);
    out.push('\n');
}

fn flag_row(out: &mut String, f: &Flag, defaults: &Config) {
    let mut left = match f.short {
        Some(c) => format!("  -{c}, --{}", f.long),
        None => format!("      --{}", f.long),
    };
    if let Some(v) = f.metavar() {
        let _ = write!(left, " {v}");
    }
    let mut text = f.help.to_owned();
    if let Some(show) = f.default {
        let _ = write!(text, " [default: {}]", show(defaults));
    }
    row(out, &left, &text);
}

pub(super) fn help_text(prog: &str) -> String {
    let defaults = Config::default();
    let mut out = format!(
        "{prog}: a greenlight HTTP server (gunicorn-style options)\n\n\
         Usage: {prog} [OPTIONS]\n"
    );
    for (group, title) in GROUPS {
        let _ = write!(out, "\n{title}:\n");
        for f in FLAGS.iter().filter(|f| f.group == *group) {
            flag_row(&mut out, f, &defaults);
        }
    }
    out.push_str("\nGeneral:\n");
    row(&mut out, "  -h, --help", "Print this help and exit");
    row(&mut out, "  -v, --version", "Print the version and exit");
    out.push_str("\nEnvironment:\n");
    for var in FLAGS.iter().filter_map(|f| f.env.as_ref()) {
        row(&mut out, &format!("  {}", var.name), var.help);
    }
    row(
        &mut out,
        "  GUNICORN_CMD_ARGS",
        "Flags read before the command line's (which override them); split into words as \
         a POSIX shell does (quotes, backslashes)",
    );
    out
}

/// The `--version` line: the app's name and version when it gave them (`myapp 1.2.0
/// (greenlight 0.1.0)`), else the program's name.
pub(super) fn version_text(prog: &str) -> String {
    let ours = concat!("greenlight ", env!("CARGO_PKG_VERSION"));
    match super::AppInfo::current() {
        Some(app) if app.name != "greenlight" => format!("{} {} ({ours})", app.name, app.version),
        _ => {
            let prog = std::path::Path::new(prog)
                .file_name()
                .map_or(prog.into(), |n| n.to_string_lossy());
            if prog == "greenlight" {
                ours.to_owned()
            } else {
                format!("{prog} ({ours})")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::flags::FLAGS;
    use super::super::testing::*;
    use super::super::ConfigError;

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
        let named = super::version_text("/usr/bin/myapp");
        assert_eq!(
            named,
            format!("myapp (greenlight {})", env!("CARGO_PKG_VERSION"))
        );
        assert_eq!(parse_env(&["-v"], &[]), Err(ConfigError::Version(v)));
        // Errors before --help win, as with clap.
        assert!(matches!(
            parse_env(&["-w", "x", "--help"], &[]),
            Err(ConfigError::Invalid(_))
        ));
    }
}
