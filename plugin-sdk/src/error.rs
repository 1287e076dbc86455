//! The error type of plugin hooks and file reads: a message the host shows
//! next to the plugin's name and the hook, and for reads what went wrong
//! ([`ErrorKind`]), so a plugin can tell "not there" from "broken".

use std::fmt;

/// What kind of failure a read was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrorKind {
    /// No object (or attribute) at that path.
    NotFound,
    /// The object exists but cannot be read that way (a group, a compound).
    UnsupportedType,
    /// A slice outside the dataset's shape.
    OutOfBounds,
    /// The read would exceed the plugin's memory limit: read in slices.
    TooLarge,
    /// Anything else (and every error a plugin makes itself).
    #[default]
    Other,
}

/// A failure, shown by the host as `plugin <name>: <hook> failed: <message>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

/// `Result` with the SDK's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error with this message.
    pub fn msg(message: impl fmt::Display) -> Self {
        Error {
            kind: ErrorKind::Other,
            message: message.to_string(),
        }
    }

    /// An error of a given kind.
    pub fn new(kind: ErrorKind, message: impl fmt::Display) -> Self {
        Error {
            kind,
            message: message.to_string(),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// What kind of failure it is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Whether nothing was at the path read (as opposed to a broken read).
    pub fn is_not_found(&self) -> bool {
        self.kind == ErrorKind::NotFound
    }

    /// Prefixes the message with what was being done: `"{what}: {message}"`.
    pub fn context(self, what: impl fmt::Display) -> Self {
        Error {
            kind: self.kind,
            message: format!("{what}: {}", self.message),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<String> for Error {
    fn from(message: String) -> Self {
        Error::msg(message)
    }
}

impl From<&str> for Error {
    fn from(message: &str) -> Self {
        Error::msg(message)
    }
}

macro_rules! from_error {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Self {
                Error::msg(e)
            }
        }
    )*};
}

from_error!(
    serde_json::Error,
    std::num::ParseIntError,
    std::num::ParseFloatError,
    std::fmt::Error,
    std::str::Utf8Error,
    std::string::FromUtf8Error
);

/// Adds context to failures: `file.read_f64s(p).context("temperature log")?`,
/// or turns a missing value into an error: `map.get("x").context("no x")?`.
pub trait Context<T> {
    fn context(self, what: impl fmt::Display) -> Result<T>;
}

impl<T, E: fmt::Display + 'static> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl fmt::Display) -> Result<T> {
        self.map_err(|e| {
            // An SDK error keeps its kind (a missing dataset stays "not found").
            let kind = (&e as &dyn std::any::Any)
                .downcast_ref::<Error>()
                .map_or(ErrorKind::Other, Error::kind);
            Error::new(kind, format!("{what}: {e}"))
        })
    }
}

impl<T> Context<T> for Option<T> {
    fn context(self, what: impl fmt::Display) -> Result<T> {
        self.ok_or_else(|| Error::msg(what))
    }
}

/// Returns early with an error built like `format!`: `bail!("no {name}")`.
#[macro_export]
macro_rules! bail {
    ($($arg:tt)*) => {
        return ::core::result::Result::Err($crate::Error::msg(::std::format!($($arg)*)))
    };
}
