//! The one error type and exit-code policy shared by every binary.
//!
//! | code | meaning |
//! | ---- | ------- |
//! | 0 | ok |
//! | 1 | a negative answer: a check failed, a gate is blocked, a probe failed |
//! | 2 | usage or I/O error |
//! | 3 | the input breaks the contract (wrong kind/version, truncated JSON, bad YAML) |

use std::io;
use std::path::{Path, PathBuf};

/// Ordered by severity, so the worst of several is their `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExitCode {
    Ok = 0,
    Negative = 1,
    Usage = 2,
    Contract = 3,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A negative answer; the message says what was refused and why.
    #[error("{0}")]
    Negative(String),
    /// Bad command-line usage or an environment problem the operator must fix.
    #[error("{0}")]
    Usage(String),
    /// An I/O error on a named file.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The input breaks a contract: wrong document, malformed format, unknown key.
    #[error("{0}")]
    Contract(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn io(path: impl AsRef<Path>, source: io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Negative(_) => ExitCode::Negative,
            Error::Usage(_) | Error::Io { .. } => ExitCode::Usage,
            Error::Contract(_) => ExitCode::Contract,
        }
    }
}

/// Helpers to build errors tersely at call sites.
pub fn negative(msg: impl Into<String>) -> Error {
    Error::Negative(msg.into())
}
pub fn usage(msg: impl Into<String>) -> Error {
    Error::Usage(msg.into())
}
pub fn contract(msg: impl Into<String>) -> Error {
    Error::Contract(msg.into())
}

/// The exit code an `anyhow::Error` maps to: the innermost `ka_core::Error` decides;
/// anything else is an I/O-class failure (2).
pub fn exit_code_of(err: &anyhow::Error) -> ExitCode {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<Error>() {
            return e.exit_code();
        }
        if let Some(e) = cause.downcast_ref::<serde_json::Error>()
            && (e.is_syntax() || e.is_data() || e.is_eof())
        {
            return ExitCode::Contract;
        }
    }
    ExitCode::Usage
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<Error>().is_some_and(
                |e| matches!(e, Error::Io { source, .. } if source.kind() == io::ErrorKind::BrokenPipe),
            )
    })
}

/// Run a binary's `run()` and turn its outcome into the process exit status.
/// Errors are printed once, prefixed with the program name, on stderr; a
/// closed stdout (the reader went away) is not an error.
pub fn main_with(prog: &str, run: impl FnOnce() -> anyhow::Result<ExitCode>) -> ! {
    let code = match run() {
        Ok(code) => code,
        Err(err) if is_broken_pipe(&err) => ExitCode::Ok,
        Err(err) => {
            eprintln!("{prog}: error: {err:#}");
            exit_code_of(&err)
        }
    };
    std::process::exit(code as i32)
}
