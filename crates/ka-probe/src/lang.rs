//! The probe language (`man 5 ka-probe`): one probe per line, parsed into a
//! typed [`Probe`]. Nothing here builds shell text: every probe compiles to
//! one fixed remote read ([`Read`]) whose data (a path, a package name, a
//! `cmd` probe's words) travels as argv words that ka-run-remote quotes.
//!
//! Read-only by construction: a path is checked lexically when the line is
//! parsed (absolute, no `.`/`..`/empty components, under the roots its
//! source allows, not one of the few files whose read has side effects or
//! that lead out of /proc), and the only remote commands are `cat -- PATH`,
//! `dmesg`, `test -e PATH`, the package manager's query, and — only where
//! the host's manifest opts in — a `cmd` probe's own argv. (To save round
//! trips and forks, `ka-probe` reads all files and tests all paths of a host
//! with one fixed script: the shell's `[ -e ]`, one `od` over all files; the
//! paths are its positional argv words: see `run::BATCH_READER`.)

mod error;
mod path;
mod syntax;

pub use error::{CompareError, ProbeSyntaxError};
pub use path::check_path;
pub use syntax::{check_allowed, parse, words};

use regex::Regex;
use std::fmt;

/// One parsed probe.
#[derive(Debug, Clone)]
pub enum Probe {
    /// `sysfs|procfs|dt PATH TEST`: read one file and test its value.
    Value {
        source: Source,
        path: String,
        test: Test,
    },
    /// `dmesg must-match RE` / `dmesg must-not-match RE`: a line of the kernel
    /// log matches, or none does.
    Dmesg { must_match: bool, pattern: Pattern },
    /// `module loaded NAME` / `module not-loaded NAME` (from /proc/modules).
    Module { name: String, loaded: bool },
    /// `file exists PATH` / `file missing PATH` (`test -e`).
    File { path: String, exists: bool },
    /// `cmd WORD... exit N` / `cmd WORD... output TEST`: runs a command; only
    /// where the manifest sets `verify.allow_cmd_probes: true`.
    Cmd { argv: Vec<String>, check: CmdCheck },
    /// `config CONFIG_X=y|m|n`: the running kernel's own config has this
    /// value (`/proc/config.gz`, else `/boot/config-$(uname -r)`); n is also
    /// an option that is not set.
    Config { name: String, value: String },
}

/// Which file system a value probe reads, and so which roots its path may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Sysfs,
    Procfs,
    /// Device tree: `/proc/device-tree/...`, `/sys/firmware/devicetree/base/...`,
    /// or a path relative to `/proc/device-tree`.
    Dt,
}

/// The probe word of the source (`sysfs`, `procfs`, `dt`), as messages name it.
impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

impl Source {
    pub fn word(self) -> &'static str {
        match self {
            Source::Sysfs => "sysfs",
            Source::Procfs => "procfs",
            Source::Dt => "dt",
        }
    }
}

#[derive(Debug, Clone)]
pub enum CmdCheck {
    Exit(i32),
    Output(Test),
}

/// A test of a value.
#[derive(Debug, Clone)]
pub enum Test {
    Eq(String),
    Ne(String),
    Match(Pattern),
    NoMatch(Pattern),
    Cmp(CmpOp, Number),
    /// One of the value's words (device tree: one of its strings) is exactly this.
    Contains(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    fn word(self) -> &'static str {
        match self {
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

/// A number: integers compare exactly, anything with a fraction as f64.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    Int(i128),
    Float(f64),
}

impl Number {
    pub fn parse(text: &str) -> Option<Number> {
        let t = text.trim();
        if let Ok(i) = t.parse::<i128>() {
            return Some(Number::Int(i));
        }
        let looks_decimal = !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'));
        if looks_decimal {
            t.parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map(Number::Float)
        } else {
            None
        }
    }

    fn cmp(self, other: Number) -> Option<std::cmp::Ordering> {
        match (self, other) {
            (Number::Int(a), Number::Int(b)) => Some(a.cmp(&b)),
            (a, b) => a.as_f64().partial_cmp(&b.as_f64()),
        }
    }

    fn as_f64(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::Float(f) => f,
        }
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Number::Int(i) => write!(f, "{i}"),
            Number::Float(x) => write!(f, "{x}"),
        }
    }
}

/// A regular expression (Rust `regex` syntax), with the text it was written as.
#[derive(Debug, Clone)]
pub struct Pattern {
    pub text: String,
    pub re: Regex,
}

impl Pattern {
    fn new(text: &str) -> Result<Pattern, ProbeSyntaxError> {
        let re = Regex::new(text).map_err(|e| {
            let e = e.to_string();
            ProbeSyntaxError::Regex {
                text: text.to_string(),
                reason: e.lines().last().unwrap_or_default().trim().to_string(),
            }
        })?;
        Ok(Pattern {
            text: text.to_string(),
            re,
        })
    }
}

/// The one remote read a probe needs. Equal reads within a run are done once.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Read {
    /// `cat -- PATH`
    Cat(String),
    /// `dmesg`
    Dmesg,
    /// `test -e PATH`
    Exists(String),
    /// The probe's own argv (a `cmd` probe).
    Cmd(Vec<String>),
    /// The running kernel's config: [`KERNEL_CONFIG_READER`].
    KernelConfig,
}

/// The one fixed script that prints the running kernel's config: the
/// kernel's own copy when it was built with IKCONFIG_PROC, else the one its
/// package installed beside it. Fixed text; no probe data goes into it.
pub const KERNEL_CONFIG_READER: &str = "if [ -r /proc/config.gz ]; then gzip -dc /proc/config.gz; \
else cat -- \"/boot/config-$(uname -r)\"; fi";

impl Read {
    /// The argv run on the host; every word is quoted by ka-run-remote.
    pub fn argv(&self) -> Vec<String> {
        let v = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        match self {
            Read::Cat(p) => v(&["cat", "--", p]),
            Read::Dmesg => v(&["dmesg"]),
            Read::Exists(p) => v(&["test", "-e", p]),
            Read::Cmd(argv) => argv.clone(),
            Read::KernelConfig => v(&["sh", "-c", KERNEL_CONFIG_READER]),
        }
    }
}

impl Probe {
    /// The remote read this probe needs.
    pub fn read(&self) -> Read {
        match self {
            Probe::Value { path, .. } => Read::Cat(path.clone()),
            Probe::Dmesg { .. } => Read::Dmesg,
            Probe::Module { .. } => Read::Cat("/proc/modules".into()),
            Probe::File { path, .. } => Read::Exists(path.clone()),
            Probe::Cmd { argv, .. } => Read::Cmd(argv.clone()),
            Probe::Config { .. } => Read::KernelConfig,
        }
    }

    pub fn is_cmd(&self) -> bool {
        matches!(self, Probe::Cmd { .. })
    }

    /// What passing means, for the report's `expected`.
    pub fn expected(&self) -> String {
        match self {
            Probe::Value { test, .. } => test.describe(),
            Probe::Dmesg {
                must_match: true,
                pattern,
            } => format!("a kernel log line matching /{}/", pattern.text),
            Probe::Dmesg {
                must_match: false,
                pattern,
            } => format!("no kernel log line matching /{}/", pattern.text),
            Probe::Module { loaded: true, .. } => "loaded".into(),
            Probe::Module { loaded: false, .. } => "not loaded".into(),
            Probe::File { exists: true, .. } => "exists".into(),
            Probe::File { exists: false, .. } => "missing".into(),
            Probe::Cmd {
                check: CmdCheck::Exit(n),
                ..
            } => format!("exit {n}"),
            Probe::Cmd {
                check: CmdCheck::Output(t),
                ..
            } => format!("output {}", t.describe()),
            Probe::Config { name, value } => format!("CONFIG_{name}={value}"),
        }
    }
}

impl Test {
    pub fn describe(&self) -> String {
        match self {
            Test::Eq(v) => format!("== {v}"),
            Test::Ne(v) => format!("!= {v}"),
            Test::Match(p) => format!("~ {}", p.text),
            Test::NoMatch(p) => format!("!~ {}", p.text),
            Test::Cmp(op, n) => format!("{} {n}", op.word()),
            Test::Contains(w) => format!("contains {w}"),
        }
    }

    /// Does a value pass? `text` is the value as one string, `words` its words
    /// (device tree: its NUL-separated strings). `Err` says why a numeric test
    /// could not compare.
    pub fn check(&self, text: &str, words: &[String]) -> Result<bool, CompareError> {
        Ok(match self {
            Test::Eq(v) => text == v,
            Test::Ne(v) => text != v,
            Test::Match(p) => p.re.is_match(text),
            Test::NoMatch(p) => !p.re.is_match(text),
            Test::Contains(w) => words.iter().any(|x| x == w),
            Test::Cmp(op, want) => {
                let have = Number::parse(text)
                    .ok_or_else(|| CompareError::NotANumber(text.to_string()))?;
                let ord = have
                    .cmp(*want)
                    .ok_or(CompareError::Incomparable { have, want: *want })?;
                match op {
                    CmpOp::Lt => ord.is_lt(),
                    CmpOp::Le => ord.is_le(),
                    CmpOp::Gt => ord.is_gt(),
                    CmpOp::Ge => ord.is_ge(),
                }
            }
        })
    }
}

/// A device-tree value as text and words: its NUL-terminated strings (the
/// trailing NUL dropped), joined by one blank for `==`/`~`.
pub fn dt_value(bytes: &[u8]) -> (String, Vec<String>) {
    let mut words: Vec<String> = bytes
        .split(|b| *b == 0)
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect();
    while words.last().is_some_and(|w| w.is_empty()) {
        words.pop();
    }
    (words.join(" "), words)
}

/// A sysfs/procfs value as text (trailing newline and blanks dropped) and its
/// blank-separated words.
pub fn text_value(bytes: &[u8]) -> (String, Vec<String>) {
    let text = String::from_utf8_lossy(bytes).trim_end().to_string();
    let words = text.split_whitespace().map(str::to_string).collect();
    (text, words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        let (t, w) = dt_value(b"pine64,pinebook-pro\0rockchip,rk3399\0");
        assert_eq!(t, "pine64,pinebook-pro rockchip,rk3399");
        assert_eq!(w, ["pine64,pinebook-pro", "rockchip,rk3399"]);
        let t = Test::Contains("rockchip,rk3399".into());
        assert!(t.check("", &w).unwrap());
        let (t, _) = text_value(b"42000\n");
        assert!(
            Test::Cmp(CmpOp::Lt, Number::Int(85000))
                .check(&t, &[])
                .unwrap()
        );
        assert!(
            Test::Cmp(CmpOp::Ge, Number::Float(1.5))
                .check("1.5", &[])
                .unwrap()
        );
        assert!(
            Test::Cmp(CmpOp::Lt, Number::Int(1))
                .check("up", &[])
                .is_err()
        );
    }
}
