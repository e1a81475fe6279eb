//! The one error type and exit-code policy shared by every binary.
//!
//! | code | meaning |
//! | ---- | ------- |
//! | 0 | ok |
//! | 1 | a negative answer: a check failed, a gate is blocked, a probe failed |
//! | 2 | usage or I/O error |
//! | 3 | the input breaks the contract (wrong kind/version, truncated JSON, bad YAML) |

use std::borrow::Cow;
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
    /// An error of a crate's own type, which says its exit code itself.
    #[error("{0}")]
    Coded(Box<dyn Coded>),
}

/// An error type of a crate's own (a parser's, a reader's), in the manner of
/// uucore's `UError`: it knows which exit code it means, so a caller passes
/// it on with `?` instead of flattening it into a message and choosing a
/// code again at every call site.
pub trait Coded: std::error::Error + Send + Sync + 'static {
    fn code(&self) -> ExitCode;
}

impl<E: Coded> From<E> for Error {
    fn from(e: E) -> Error {
        Error::Coded(Box::new(e))
    }
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
            Error::Coded(e) => e.code(),
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

/// At most this many characters of an input are quoted in an error message:
/// a 60 MB manifest must not come back whole on stderr.
pub const QUOTE_MAX: usize = 200;

/// Where to cut `text` for quoting: after [`QUOTE_MAX`] characters, when
/// it has more than one more (so a text clipped once, which ends in `…`, is
/// not clipped again).
fn cut(text: &str) -> Option<usize> {
    let mut chars = text.char_indices().skip(QUOTE_MAX);
    let at = chars.next()?.0;
    chars.next().map(|_| at)
}

/// `text` as an error quotes it: whole up to [`QUOTE_MAX`] characters, else
/// its first [`QUOTE_MAX`] characters and `… (N bytes more)`.
pub fn clip(text: &str) -> Cow<'_, str> {
    match cut(text) {
        None => Cow::Borrowed(text),
        Some(at) => Cow::Owned(format!("{}… ({} bytes more)", &text[..at], text.len() - at)),
    }
}

/// An input value quoted for an error message, as `{:?}` quotes it, but
/// clipped like [`clip`]: `"abc…" (N bytes more)`.
pub fn quoted(text: &str) -> String {
    match cut(text) {
        None => format!("{text:?}"),
        Some(at) => format!("{:?}… ({} bytes more)", &text[..at], text.len() - at),
    }
}

/// A message that quotes input it does not control (a parser's error, which
/// quotes the offending value in "..." or `...`): every quoted part longer
/// than [`QUOTE_MAX`] characters is clipped like [`clip`]; the rest is kept.
pub fn clip_quoted(msg: &str) -> Cow<'_, str> {
    if msg.len() <= QUOTE_MAX {
        return Cow::Borrowed(msg);
    }
    let mut out = String::with_capacity(msg.len().min(4 * QUOTE_MAX));
    let mut changed = false;
    let mut rest = msg;
    while let Some(open) = rest.find(['"', '`']) {
        let quote = rest.as_bytes()[open];
        let body = &rest[open + 1..];
        // the closing quote; a `"` may be escaped with a backslash
        let mut close = None;
        let mut escaped = false;
        for (i, b) in body.bytes().enumerate() {
            match b {
                b'\\' if quote == b'"' && !escaped => escaped = true,
                _ if b == quote && !escaped => {
                    close = Some(i);
                    break;
                }
                _ => escaped = false,
            }
        }
        // an unterminated quote runs to the end of the message
        let end = close.unwrap_or(body.len());
        let inner = &body[..end];
        out.push_str(&rest[..=open]);
        match cut(inner) {
            None => out.push_str(inner),
            Some(at) => {
                changed = true;
                out.push_str(&inner[..at]);
                out.push('…');
                if close.is_some() {
                    out.push(quote as char);
                }
                out.push_str(&format!(" ({} bytes more)", inner.len() - at));
                rest = close.map_or("", |c| &body[c + 1..]);
                continue;
            }
        }
        match close {
            Some(c) => {
                out.push(quote as char);
                rest = &body[c + 1..];
            }
            None => rest = "",
        }
    }
    out.push_str(rest);
    if changed {
        Cow::Owned(out)
    } else {
        Cow::Borrowed(msg)
    }
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
            // the net under every quoted input: no error repeats a huge one
            eprintln!("{prog}: error: {}", clip_quoted(&format!("{err:#}")));
            exit_code_of(&err)
        }
    };
    std::process::exit(code as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("a line that does not parse")]
    struct Syntax;

    impl Coded for Syntax {
        fn code(&self) -> ExitCode {
            ExitCode::Contract
        }
    }

    #[test]
    fn a_coded_error_keeps_its_message_and_its_code() {
        let e: Error = Syntax.into();
        assert_eq!(e.to_string(), "a line that does not parse");
        assert_eq!(e.exit_code(), ExitCode::Contract);
        let any = anyhow::Error::from(e).context("reading Kconfig");
        assert_eq!(exit_code_of(&any), ExitCode::Contract);
    }

    #[test]
    fn short_text_is_quoted_whole() {
        assert_eq!(clip("abc"), "abc");
        assert_eq!(quoted("a\"b"), r#""a\"b""#);
        let msg = "unknown field `scoeps`, expected one of `host`, `role`";
        assert_eq!(clip_quoted(msg), msg);
    }

    #[test]
    fn long_text_is_clipped_with_what_is_left() {
        let long = "é".repeat(QUOTE_MAX + 10);
        let c = clip(&long);
        assert!(c.starts_with(&"é".repeat(QUOTE_MAX)));
        assert!(c.ends_with("… (20 bytes more)"), "{c}");
        let q = quoted(&long);
        assert!(q.ends_with("\"… (20 bytes more)"), "{q}");
    }

    #[test]
    fn parser_messages_keep_their_words_and_clip_their_quotes() {
        let big = "x".repeat(3_000_000);
        let msg = format!(
            "fleet/big.yaml:1:1: invalid type: string {big:?}, expected struct HostManifest"
        );
        let c = clip_quoted(&msg);
        assert!(c.len() < 400, "{}", c.len());
        assert!(c.starts_with("fleet/big.yaml:1:1: invalid type: string \"xxx"));
        assert!(c.ends_with(&format!(
            "x…\" ({} bytes more), expected struct HostManifest",
            3_000_000 - QUOTE_MAX
        )));
        // backticks, escaped quotes and an unterminated quote
        let esc = format!(
            "a `{big}` b \"{}\\\"{}\" c",
            "y".repeat(10),
            "z".repeat(300)
        );
        let c = clip_quoted(&esc);
        assert!(
            c.starts_with(&format!("a `{}…` (", "x".repeat(QUOTE_MAX))),
            "{c}"
        );
        assert!(
            c.contains(&format!("\"{}\\\"{}…\" (", "y".repeat(10), "z".repeat(188))),
            "{c}"
        );
        assert!(c.ends_with(" c"), "{c}");
        // clipping twice changes nothing
        let once = clip_quoted(&msg).into_owned();
        assert_eq!(clip_quoted(&once), once);
        let open = format!("tail: \"{big}");
        assert!(clip_quoted(&open).ends_with(" bytes more)"));
        assert!(clip_quoted(&open).len() < 300);
    }
}
