//! The errors of the probe language: a line that does not parse or is not
//! allowed ([`ProbeSyntaxError`]), and a value a numeric test cannot compare
//! ([`CompareError`]).

use super::{Number, Source};
use ka_core::ExitCode;

/// The forms of the language, the hint of a line that is none of them.
const FORMS: &str = "a probe is one of: sysfs|procfs|dt PATH TEST; dmesg must-match|must-not-match REGEX; \
module loaded|not-loaded NAME; file exists|missing PATH; config CONFIG_NAME=y|m|n; cmd WORD... exit N; cmd WORD... output TEST \
(TEST: == VALUE, != VALUE, ~ REGEX, !~ REGEX, < <= > >= NUMBER, contains WORD); see man 5 ka-probe";

/// A probe line that does not parse, or that its host does not allow. Each
/// text is the whole message; the caller adds `file:line`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeSyntaxError {
    #[error("unterminated \"...\" quote")]
    UnterminatedDoubleQuote,
    #[error("unterminated '...' quote")]
    UnterminatedSingleQuote,
    #[error("a probe is one line of text (no NUL, no line break)")]
    NotOneLine,
    #[error("empty probe: {forms}", forms = FORMS)]
    Empty,
    #[error("unknown probe {0:?}: {forms}", forms = FORMS)]
    UnknownProbe(String),
    /// A `sysfs|procfs|dt` probe without exactly PATH, operator and value.
    #[error(
        "{0} takes PATH, an operator and a value (quote a value with blanks: \"...\"), e.g. `{0} {example} == 1`",
        example = .0.example()
    )]
    ValueForm(Source),
    #[error(
        "dmesg takes must-match or must-not-match and one regular expression (quote it when it has blanks)"
    )]
    DmesgForm,
    #[error("dmesg {0}: write must-match or must-not-match")]
    DmesgMode(String),
    #[error("module takes loaded or not-loaded and a module name")]
    ModuleForm,
    #[error("module {0}: write loaded or not-loaded")]
    ModuleMode(String),
    #[error("module name {0:?}: use letters, digits, '_' and '-'")]
    ModuleName(String),
    #[error("file takes exists or missing and one path")]
    FileForm,
    #[error("file {0}: write exists or missing")]
    FileMode(String),
    #[error("config takes one CONFIG_NAME=y|m|n, e.g. `config CONFIG_CW1200=m`")]
    ConfigForm,
    #[error(
        "config {0}: write CONFIG_NAME=y, =m or =n (the running kernel's config is checked for exactly that)"
    )]
    ConfigSetting(String),
    #[error(
        "cmd takes the command's words, then `exit N` or `output TEST`, e.g. `cmd uname -m output == x86_64`"
    )]
    CmdForm,
    #[error("cmd ... exit {0}: the exit status is a number")]
    CmdExitStatus(String),
    #[error("cmd: the command name is empty")]
    CmdEmptyName,
    /// A `cmd` probe on a host whose manifest (named) does not opt in.
    #[error(
        "cmd probes run a command on the host, and {manifest} does not allow them: set verify.allow_cmd_probes: true there, or use a read-only probe"
    )]
    CmdNotAllowed { manifest: String },
    #[error("unknown operator {0:?}: use ==, !=, ~, !~, <, <=, >, >= or contains")]
    UnknownOperator(String),
    /// A `< <= > >=` test whose value is not a number.
    #[error("{op} {value}: {value:?} is not a number")]
    NotANumber { op: String, value: String },
    /// `reason` is the last line of the regex crate's message (the one that
    /// says what is wrong; the lines above it repeat the pattern).
    #[error("invalid regular expression {text:?}: {reason}")]
    Regex { text: String, reason: String },
    // The path checks: `what` is the probe word (or the caller's name for
    // the path), `roots` the roots it may read, as `check_path` was given them.
    #[error("{what}: {path:?} is not an absolute path under {}", .roots.join(", "))]
    NotAbsolute {
        what: String,
        path: String,
        roots: Vec<String>,
    },
    #[error("{what}: {path:?} holds control characters")]
    ControlCharacters { what: String, path: String },
    #[error(
        "{what}: {path:?} has an empty, '.' or '..' component: write the plain path under {}",
        .roots.join(", ")
    )]
    NotPlain {
        what: String,
        path: String,
        roots: Vec<String>,
    },
    #[error(
        "{what}: {path:?} is outside the roots a {what} probe may read: name a file under {}",
        .roots.join(", ")
    )]
    OutsideRoots {
        what: String,
        path: String,
        roots: Vec<String>,
    },
    /// Under an allowed root, but one of the files no probe may touch.
    #[error("{what}: {path:?} is refused: {why}")]
    Refused {
        what: String,
        path: String,
        why: &'static str,
    },
}

/// Callers stop a host on it as the contract error it is (plan.rs gathers
/// every bad line of a host into one `contract` error, code 3).
impl ka_core::error::Coded for ProbeSyntaxError {
    fn code(&self) -> ExitCode {
        ExitCode::Contract
    }
}

impl Source {
    /// A path of this source for the hint of [`ProbeSyntaxError::ValueForm`].
    fn example(self) -> &'static str {
        match self {
            Source::Sysfs => "/sys/class/net/eth0/carrier",
            Source::Procfs => "/proc/sys/kernel/ostype",
            Source::Dt => "model",
        }
    }
}

/// Why a numeric test could not compare the value a host returned. Not a
/// syntax error: the probe is fine, the value is not; the report shows this
/// text as the probe's actual value, and the probe fails.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CompareError {
    #[error("{0:?} is not a number")]
    NotANumber(String),
    #[error("{have} and {want} do not compare")]
    Incomparable { have: Number, want: Number },
}
