//! Parsing a probe line: its words and quoting, then one function per
//! probe form, each refusing a mistake with its own [`ProbeSyntaxError`].

use super::path::{FILE_ROOTS, check_path, value_path};
use super::{CmdCheck, CmpOp, Number, Pattern, Probe, ProbeSyntaxError, Source, Test};

/// Split a probe line into words: blanks separate words; `"..."` quotes
/// (with `\"` and `\\` as the only escapes, other backslashes stay as they
/// are, so regular expressions read naturally) and `'...'` quotes literally.
pub fn words(line: &str) -> Result<Vec<String>, ProbeSyntaxError> {
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
                        None => return Err(ProbeSyntaxError::UnterminatedDoubleQuote),
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
                        None => return Err(ProbeSyntaxError::UnterminatedSingleQuote),
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

/// Parse one probe line. The error says what is wrong (the caller adds
/// `file:line`). `cmd` probes parse here; whether a host allows them is the
/// caller's check ([`check_allowed`]).
pub fn parse(line: &str) -> Result<Probe, ProbeSyntaxError> {
    if line.contains(['\0', '\n', '\r']) {
        return Err(ProbeSyntaxError::NotOneLine);
    }
    let w = words(line)?;
    let Some(first) = w.first() else {
        return Err(ProbeSyntaxError::Empty);
    };
    let rest = &w[1..];
    match first.as_str() {
        "sysfs" => parse_value(Source::Sysfs, rest),
        "procfs" => parse_value(Source::Procfs, rest),
        "dt" => parse_value(Source::Dt, rest),
        "dmesg" => parse_dmesg(rest),
        "module" => parse_module(rest),
        "file" => parse_file(rest),
        "config" => parse_config(rest),
        "cmd" => parse_cmd(rest),
        other => Err(ProbeSyntaxError::UnknownProbe(other.to_string())),
    }
}

/// `sysfs|procfs|dt PATH OP VALUE`, after the first word.
fn parse_value(source: Source, rest: &[String]) -> Result<Probe, ProbeSyntaxError> {
    let [path, op, value] = rest else {
        return Err(ProbeSyntaxError::ValueForm(source));
    };
    let path = value_path(source, path)?;
    let test = test(op, value)?;
    Ok(Probe::Value { source, path, test })
}

/// `dmesg must-match|must-not-match RE`, after the first word.
fn parse_dmesg(rest: &[String]) -> Result<Probe, ProbeSyntaxError> {
    let [mode, re] = rest else {
        return Err(ProbeSyntaxError::DmesgForm);
    };
    let must_match = match mode.as_str() {
        "must-match" => true,
        "must-not-match" => false,
        other => return Err(ProbeSyntaxError::DmesgMode(other.to_string())),
    };
    Ok(Probe::Dmesg {
        must_match,
        pattern: Pattern::new(re)?,
    })
}

/// `module loaded|not-loaded NAME`, after the first word.
fn parse_module(rest: &[String]) -> Result<Probe, ProbeSyntaxError> {
    let [mode, name] = rest else {
        return Err(ProbeSyntaxError::ModuleForm);
    };
    let loaded = match mode.as_str() {
        "loaded" => true,
        "not-loaded" => false,
        other => return Err(ProbeSyntaxError::ModuleMode(other.to_string())),
    };
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !ok {
        return Err(ProbeSyntaxError::ModuleName(name.clone()));
    }
    // /proc/modules writes '_' where a module's file name has '-'.
    Ok(Probe::Module {
        name: name.replace('-', "_"),
        loaded,
    })
}

/// `file exists|missing PATH`, after the first word.
fn parse_file(rest: &[String]) -> Result<Probe, ProbeSyntaxError> {
    let [mode, path] = rest else {
        return Err(ProbeSyntaxError::FileForm);
    };
    let exists = match mode.as_str() {
        "exists" => true,
        "missing" => false,
        other => return Err(ProbeSyntaxError::FileMode(other.to_string())),
    };
    check_path(path, FILE_ROOTS, "file")?;
    Ok(Probe::File {
        path: path.clone(),
        exists,
    })
}

/// `config CONFIG_NAME=y|m|n`, after the first word.
fn parse_config(rest: &[String]) -> Result<Probe, ProbeSyntaxError> {
    let [setting] = rest else {
        return Err(ProbeSyntaxError::ConfigForm);
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
        return Err(ProbeSyntaxError::ConfigSetting(setting.clone()));
    };
    Ok(Probe::Config {
        name: name.to_string(),
        value: value.to_string(),
    })
}

/// `cmd WORD... exit N` / `cmd WORD... output TEST`, after the first word.
fn parse_cmd(rest: &[String]) -> Result<Probe, ProbeSyntaxError> {
    let n = rest.len();
    let (argv, check) = if n >= 3 && rest[n - 2] == "exit" {
        let code = rest[n - 1]
            .parse::<i32>()
            .map_err(|_| ProbeSyntaxError::CmdExitStatus(rest[n - 1].clone()))?;
        (&rest[..n - 2], CmdCheck::Exit(code))
    } else if n >= 4 && rest[n - 3] == "output" {
        (
            &rest[..n - 3],
            CmdCheck::Output(test(&rest[n - 2], &rest[n - 1])?),
        )
    } else {
        return Err(ProbeSyntaxError::CmdForm);
    };
    if argv[0].is_empty() {
        return Err(ProbeSyntaxError::CmdEmptyName);
    }
    Ok(Probe::Cmd {
        argv: argv.to_vec(),
        check,
    })
}

/// Refuse a `cmd` probe on a host whose manifest does not allow them.
pub fn check_allowed(
    probe: &Probe,
    allow_cmd: bool,
    manifest: &str,
) -> Result<(), ProbeSyntaxError> {
    if probe.is_cmd() && !allow_cmd {
        return Err(ProbeSyntaxError::CmdNotAllowed {
            manifest: manifest.to_string(),
        });
    }
    Ok(())
}

fn test(op: &str, value: &str) -> Result<Test, ProbeSyntaxError> {
    Ok(match op {
        "==" => Test::Eq(value.to_string()),
        "!=" => Test::Ne(value.to_string()),
        "~" => Test::Match(Pattern::new(value)?),
        "!~" => Test::NoMatch(Pattern::new(value)?),
        "<" | "<=" | ">" | ">=" => {
            let n = Number::parse(value).ok_or_else(|| ProbeSyntaxError::NotANumber {
                op: op.to_string(),
                value: value.to_string(),
            })?;
            let op = match op {
                "<" => CmpOp::Lt,
                "<=" => CmpOp::Le,
                ">" => CmpOp::Gt,
                _ => CmpOp::Ge,
            };
            Test::Cmp(op, n)
        }
        "contains" => Test::Contains(value.to_string()),
        other => return Err(ProbeSyntaxError::UnknownOperator(other.to_string())),
    })
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
