//! dock's error: one line for the user, and the exit status docker would give.

use std::fmt;
use std::path::Path;

/// Exit status for dock's own failures in run/create/exec (docker's 125).
pub const EXIT_DOCK: i32 = 125;
/// The command was found but could not be invoked (docker's 126).
pub const EXIT_CANNOT_INVOKE: i32 = 126;
/// The command was not found (docker's 127).
pub const EXIT_NOT_FOUND: i32 = 127;

#[derive(Debug)]
pub struct Error {
    pub msg: String,
    /// `None`: the command's default (125 for run/exec, 1 for the others, as docker).
    pub code: Option<i32>,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(msg: impl Into<String>) -> Error {
        Error {
            msg: msg.into(),
            code: None,
        }
    }

    pub fn with_code(code: i32, msg: impl Into<String>) -> Error {
        Error {
            msg: msg.into(),
            code: Some(code),
        }
    }

    /// An I/O failure on a path: "what PATH: error".
    pub fn io(what: &str, path: &Path, err: impl fmt::Display) -> Error {
        Error::new(format!("{what} {}: {err}", path.display()))
    }

    /// Prefixes the message with context.
    pub fn context(mut self, ctx: impl fmt::Display) -> Error {
        self.msg = format!("{ctx}: {}", self.msg);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for Error {}

/// `bail!("...")`: return an `Error` built with `format!`.
#[macro_export]
macro_rules! bail {
    ($($arg:tt)*) => { return Err($crate::dock::Error::new(format!($($arg)*))) };
}

/// Adds "what PATH" context to an `io::Result`.
pub trait IoContext<T> {
    fn ctx(self, what: &str, path: &Path) -> Result<T>;
}

impl<T, E: fmt::Display> IoContext<T> for std::result::Result<T, E> {
    fn ctx(self, what: &str, path: &Path) -> Result<T> {
        self.map_err(|e| Error::io(what, path, e))
    }
}
