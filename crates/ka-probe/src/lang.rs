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
    fn new(text: &str) -> Result<Pattern, String> {
        let re = Regex::new(text).map_err(|e| {
            let e = e.to_string();
            let last = e.lines().last().unwrap_or_default().trim().to_string();
            format!("invalid regular expression {text:?}: {last}")
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
    pub fn check(&self, text: &str, words: &[String]) -> Result<bool, String> {
        Ok(match self {
            Test::Eq(v) => text == v,
            Test::Ne(v) => text != v,
            Test::Match(p) => p.re.is_match(text),
            Test::NoMatch(p) => !p.re.is_match(text),
            Test::Contains(w) => words.iter().any(|x| x == w),
            Test::Cmp(op, want) => {
                let have =
                    Number::parse(text).ok_or_else(|| format!("{text:?} is not a number"))?;
                let ord = have
                    .cmp(*want)
                    .ok_or_else(|| format!("{have} and {want} do not compare"))?;
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

/// Split a probe line into words: blanks separate words; `"..."` quotes
/// (with `\"` and `\\` as the only escapes, other backslashes stay as they
/// are, so regular expressions read naturally) and `'...'` quotes literally.
pub fn words(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        None => return Err("unterminated \"...\" quote".into()),
                        Some('"') => break,
                        Some('\\') => match chars.peek() {
                            Some('"') | Some('\\') => cur.push(chars.next().unwrap()),
                            _ => cur.push('\\'),
                        },
                        Some(c) => cur.push(c),
                    }
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        None => return Err("unterminated '...' quote".into()),
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                    }
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

const FORMS: &str = "a probe is one of: sysfs|procfs|dt PATH TEST; dmesg must-match|must-not-match REGEX; \
module loaded|not-loaded NAME; file exists|missing PATH; config CONFIG_NAME=y|m|n; cmd WORD... exit N; cmd WORD... output TEST \
(TEST: == VALUE, != VALUE, ~ REGEX, !~ REGEX, < <= > >= NUMBER, contains WORD); see man 5 ka-probe";

/// Parse one probe line. The error says what is wrong (the caller adds
/// `file:line`). `cmd` probes parse here; whether a host allows them is the
/// caller's check ([`check_allowed`]).
pub fn parse(line: &str) -> Result<Probe, String> {
    if line.contains(['\0', '\n', '\r']) {
        return Err("a probe is one line of text (no NUL, no line break)".into());
    }
    let w = words(line)?;
    let Some(first) = w.first() else {
        return Err(format!("empty probe: {FORMS}"));
    };
    let rest = &w[1..];
    match first.as_str() {
        "sysfs" | "procfs" | "dt" => {
            let source = match first.as_str() {
                "sysfs" => Source::Sysfs,
                "procfs" => Source::Procfs,
                _ => Source::Dt,
            };
            let [path, op, value] = rest else {
                return Err(format!(
                    "{first} takes PATH, an operator and a value (quote a value with blanks: \"...\"), e.g. `{first} {} == 1`",
                    match source {
                        Source::Sysfs => "/sys/class/net/eth0/carrier",
                        Source::Procfs => "/proc/sys/kernel/ostype",
                        Source::Dt => "model",
                    }
                ));
            };
            let path = value_path(source, path)?;
            let test = test(op, value)?;
            Ok(Probe::Value { source, path, test })
        }
        "dmesg" => {
            let [mode, re] = rest else {
                return Err(
                    "dmesg takes must-match or must-not-match and one regular expression (quote it when it has blanks)".into(),
                );
            };
            let must_match = match mode.as_str() {
                "must-match" => true,
                "must-not-match" => false,
                other => {
                    return Err(format!("dmesg {other}: write must-match or must-not-match"));
                }
            };
            Ok(Probe::Dmesg {
                must_match,
                pattern: Pattern::new(re)?,
            })
        }
        "module" => {
            let [mode, name] = rest else {
                return Err("module takes loaded or not-loaded and a module name".into());
            };
            let loaded = match mode.as_str() {
                "loaded" => true,
                "not-loaded" => false,
                other => return Err(format!("module {other}: write loaded or not-loaded")),
            };
            let ok = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !ok {
                return Err(format!(
                    "module name {name:?}: use letters, digits, '_' and '-'"
                ));
            }
            // /proc/modules writes '_' where a module's file name has '-'.
            Ok(Probe::Module {
                name: name.replace('-', "_"),
                loaded,
            })
        }
        "file" => {
            let [mode, path] = rest else {
                return Err("file takes exists or missing and one path".into());
            };
            let exists = match mode.as_str() {
                "exists" => true,
                "missing" => false,
                other => return Err(format!("file {other}: write exists or missing")),
            };
            check_path(path, FILE_ROOTS, "file")?;
            Ok(Probe::File {
                path: path.clone(),
                exists,
            })
        }
        "config" => {
            let [setting] = rest else {
                return Err(
                    "config takes one CONFIG_NAME=y|m|n, e.g. `config CONFIG_CW1200=m`".into(),
                );
            };
            let parsed = setting
                .strip_prefix("CONFIG_")
                .and_then(|s| s.split_once('='))
                .filter(|(name, value)| {
                    !name.is_empty()
                        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                        && matches!(*value, "y" | "m" | "n")
                });
            let Some((name, value)) = parsed else {
                return Err(format!(
                    "config {setting}: write CONFIG_NAME=y, =m or =n (the running kernel's config is checked for exactly that)"
                ));
            };
            Ok(Probe::Config {
                name: name.to_string(),
                value: value.to_string(),
            })
        }
        "cmd" => {
            let n = rest.len();
            let (argv, check) = if n >= 3 && rest[n - 2] == "exit" {
                let code = rest[n - 1].parse::<i32>().map_err(|_| {
                    format!("cmd ... exit {}: the exit status is a number", rest[n - 1])
                })?;
                (&rest[..n - 2], CmdCheck::Exit(code))
            } else if n >= 4 && rest[n - 3] == "output" {
                (
                    &rest[..n - 3],
                    CmdCheck::Output(test(&rest[n - 2], &rest[n - 1])?),
                )
            } else {
                return Err(
                    "cmd takes the command's words, then `exit N` or `output TEST`, e.g. `cmd uname -m output == x86_64`".into(),
                );
            };
            if argv[0].is_empty() {
                return Err("cmd: the command name is empty".into());
            }
            Ok(Probe::Cmd {
                argv: argv.to_vec(),
                check,
            })
        }
        other => Err(format!("unknown probe {other:?}: {FORMS}")),
    }
}

/// Refuse a `cmd` probe on a host whose manifest does not allow them.
pub fn check_allowed(probe: &Probe, allow_cmd: bool, manifest: &str) -> Result<(), String> {
    if probe.is_cmd() && !allow_cmd {
        return Err(format!(
            "cmd probes run a command on the host, and {manifest} does not allow them: set verify.allow_cmd_probes: true there, or use a read-only probe"
        ));
    }
    Ok(())
}

fn test(op: &str, value: &str) -> Result<Test, String> {
    Ok(match op {
        "==" => Test::Eq(value.to_string()),
        "!=" => Test::Ne(value.to_string()),
        "~" => Test::Match(Pattern::new(value)?),
        "!~" => Test::NoMatch(Pattern::new(value)?),
        "<" | "<=" | ">" | ">=" => {
            let n = Number::parse(value)
                .ok_or_else(|| format!("{op} {value}: {value:?} is not a number"))?;
            let op = match op {
                "<" => CmpOp::Lt,
                "<=" => CmpOp::Le,
                ">" => CmpOp::Gt,
                _ => CmpOp::Ge,
            };
            Test::Cmp(op, n)
        }
        "contains" => Test::Contains(value.to_string()),
        other => {
            return Err(format!(
                "unknown operator {other:?}: use ==, !=, ~, !~, <, <=, >, >= or contains"
            ));
        }
    })
}

const DT_ROOTS: &[&str] = &["/proc/device-tree", "/sys/firmware/devicetree/base"];
const FILE_ROOTS: &[&str] = &[
    "/sys",
    "/proc",
    "/dev",
    "/boot",
    "/lib/modules",
    "/usr/lib/modules",
    "/lib/firmware",
    "/usr/lib/firmware",
];

/// The absolute path a value probe reads, checked for its source.
fn value_path(source: Source, path: &str) -> Result<String, String> {
    match source {
        Source::Sysfs => check_path(path, &["/sys"], "sysfs").map(|_| path.to_string()),
        Source::Procfs => check_path(path, &["/proc"], "procfs").map(|_| path.to_string()),
        Source::Dt => {
            let abs = if path.starts_with('/') {
                path.to_string()
            } else {
                format!("/proc/device-tree/{path}")
            };
            check_path(&abs, DT_ROOTS, "dt")?;
            Ok(abs)
        }
    }
}

/// A path is absolute, plain (no empty, `.` or `..` component, no control
/// characters), strictly under one of `roots`, and not one of the refused files.
pub fn check_path(path: &str, roots: &[&str], what: &str) -> Result<(), String> {
    let allowed = || roots.join(", ");
    if !path.starts_with('/') {
        return Err(format!(
            "{what}: {path:?} is not an absolute path under {}",
            allowed()
        ));
    }
    if path.chars().any(|c| c.is_control()) {
        return Err(format!("{what}: {path:?} holds control characters"));
    }
    let parts: Vec<&str> = path[1..].split('/').collect();
    if parts
        .iter()
        .any(|p| p.is_empty() || *p == "." || *p == "..")
    {
        return Err(format!(
            "{what}: {path:?} has an empty, '.' or '..' component: write the plain path under {}",
            allowed()
        ));
    }
    let under = roots.iter().any(|r| {
        path.strip_prefix(r)
            .is_some_and(|rest| rest.starts_with('/') && rest.len() > 1)
    });
    if !under {
        return Err(format!(
            "{what}: {path:?} is outside the roots a {what} probe may read: name a file under {}",
            allowed()
        ));
    }
    refused(path).map_or(Ok(()), |why| {
        Err(format!("{what}: {path:?} is refused: {why}"))
    })
}

/// Files under the allowed roots that a probe still must not touch.
fn refused(path: &str) -> Option<&'static str> {
    let parts: Vec<&str> = path[1..].split('/').collect();
    if parts[0] == "proc" && parts.len() > 1 {
        let p1 = parts[1];
        if p1 == "self" || p1 == "thread-self" || p1.bytes().all(|b| b.is_ascii_digit()) {
            return Some(
                "per-process files are not kernel state, and their root, cwd and fd links lead out of /proc",
            );
        }
        if p1 == "kmsg" {
            return Some("reading /proc/kmsg consumes the kernel log: use `dmesg must-match ...`");
        }
        if p1 == "kcore" {
            return Some("/proc/kcore is the kernel's memory");
        }
    }
    let last = parts.last().copied().unwrap_or_default();
    if last.starts_with("trace_pipe") {
        return Some("reading a trace pipe consumes the trace and blocks");
    }
    None
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
    fn words_and_quotes() {
        assert_eq!(
            words(r#"dt model == "Pine64 Pinebook Pro""#).unwrap(),
            ["dt", "model", "==", "Pine64 Pinebook Pro"]
        );
        assert_eq!(
            words(r#"dmesg must-match "a \"q\" \d+""#).unwrap(),
            ["dmesg", "must-match", r#"a "q" \d+"#]
        );
        assert_eq!(words("a 'b c' \"\"").unwrap(), ["a", "b c", ""]);
        assert!(words("x \"open").is_err());
    }

    #[test]
    fn paths_are_checked() {
        assert!(parse("sysfs /sys/class/net/eth0/operstate == up").is_ok());
        for bad in [
            "sysfs /sys/../etc/shadow == x",
            "sysfs /etc/shadow == x",
            "sysfs /sys == x",
            "sysfs /sys//class == x",
            "sysfs /proc/cmdline == x",
            "procfs /proc/self/root/etc/shadow == x",
            "procfs /proc/1/environ == x",
            "procfs /proc/kmsg == x",
            "sysfs /sys/kernel/tracing/trace_pipe == x",
            "dt ../../etc/passwd == x",
            "file exists /etc/passwd",
            "file exists relative/path",
        ] {
            assert!(parse(bad).is_err(), "{bad} parsed");
        }
        match parse("dt compatible contains rockchip,rk3399").unwrap() {
            Probe::Value { path, .. } => assert_eq!(path, "/proc/device-tree/compatible"),
            p => panic!("{p:?}"),
        }
    }

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

    #[test]
    fn cmd_forms() {
        match parse("cmd uname -m output == x86_64").unwrap() {
            Probe::Cmd { argv, check } => {
                assert_eq!(argv, ["uname", "-m"]);
                assert!(matches!(check, CmdCheck::Output(Test::Eq(_))));
            }
            p => panic!("{p:?}"),
        }
        match parse("cmd true exit 0").unwrap() {
            Probe::Cmd { argv, check } => {
                assert_eq!(argv, ["true"]);
                assert!(matches!(check, CmdCheck::Exit(0)));
            }
            p => panic!("{p:?}"),
        }
        assert!(parse("cmd exit 0").is_err());
        assert!(parse("cmd ls").is_err());
    }
}
