//! The crate's error type.

use std::fmt;
use std::io;

/// The result type of greenlight's fallible operations.
pub type Result<T> = std::result::Result<T, Error>;

/// What went wrong, in words a user can act on.
#[derive(Debug)]
pub enum Error {
    /// An I/O error, with what was being done when it happened.
    Io {
        /// What was being done ("binding 127.0.0.1:8000").
        context: String,
        /// The underlying error.
        source: io::Error,
    },
    /// A configuration value that cannot be used.
    Config(String),
}

impl Error {
    /// Wraps an I/O error with the action that failed.
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { context, source } => write!(f, "{context}: {source}"),
            Error::Config(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            Error::Config(_) => None,
        }
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        match e {
            Error::Io { context, source } => {
                io::Error::new(source.kind(), format!("{context}: {source}"))
            }
            Error::Config(msg) => io::Error::new(io::ErrorKind::InvalidInput, msg),
        }
    }
}
