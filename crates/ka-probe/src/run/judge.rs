//! Bars 3 and 4: judging each probe from the result of its one read, and
//! the texts a report shows for a value or for why there was none.

use super::ReadResult;
use crate::lang::{CmdCheck, Pattern, Probe, Source, Test, dt_value, text_value};
use ka_run_remote::Captured;

/// Longest value shown in a report.
const SHOW: usize = 300;

/// How one probe came out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    Value {
        passed: bool,
        actual: String,
    },
    /// The value could not be read: the probe fails, the text says why.
    Unreadable(String),
}

/// Judge one probe from the result of its read.
pub fn evaluate(probe: &Probe, r: &ReadResult) -> Check {
    match probe {
        Probe::Value { source, test, .. } => value(*source, test, r),
        Probe::Dmesg {
            must_match,
            pattern,
        } => dmesg(*must_match, pattern, r),
        Probe::Module { name, loaded } => module(name, *loaded, r),
        Probe::Config { name, value } => config(name, value, r),
        Probe::File { exists, .. } => file(*exists, r),
        Probe::Cmd { check, .. } => cmd(check, r),
    }
}

/// The read ran and exited 0.
fn ok(c: &Captured) -> bool {
    c.exit_code == Some(0)
}

/// A value `test` on the text (device tree: the strings) of what was read;
/// a value a numeric test cannot compare fails, and says why as its value.
fn tested(test: &Test, text: &str, words: &[String], truncated: bool) -> Check {
    match test.check(text, words) {
        Ok(passed) => Check::Value {
            passed,
            actual: show(text, truncated),
        },
        Err(e) => Check::Value {
            passed: false,
            actual: e.to_string(),
        },
    }
}

fn value(source: Source, test: &Test, r: &ReadResult) -> Check {
    match r {
        Ok(c) if ok(c) => {
            let (text, words) = match source {
                Source::Dt => dt_value(&c.stdout),
                _ => text_value(&c.stdout),
            };
            tested(test, &text, &words, c.truncated)
        }
        r => Check::Unreadable(describe_failure(r)),
    }
}

fn dmesg(must_match: bool, pattern: &Pattern, r: &ReadResult) -> Check {
    match r {
        Ok(c) if ok(c) => {
            let text = String::from_utf8_lossy(&c.stdout);
            let hit = text.lines().find(|l| pattern.re.is_match(l));
            Check::Value {
                passed: hit.is_some() == must_match,
                actual: match hit {
                    Some(l) => show(l, false),
                    None => format!("no line matches ({} lines read)", text.lines().count()),
                },
            }
        }
        r => Check::Unreadable(format!(
            "{} (the login user may not read the kernel log: kernel.dmesg_restrict=1 allows it to root and CAP_SYSLOG only; a dmesg probe never passes on a log it cannot read)",
            describe_failure(r)
        )),
    }
}

fn module(name: &str, loaded: bool, r: &ReadResult) -> Check {
    match r {
        Ok(c) if ok(c) => {
            let text = String::from_utf8_lossy(&c.stdout);
            let is = text
                .lines()
                .any(|l| l.split_whitespace().next() == Some(name));
            Check::Value {
                passed: is == loaded,
                actual: if is { "loaded" } else { "not loaded" }.into(),
            }
        }
        // No /proc/modules: a kernel without loadable-module support.
        Ok(c)
            if c.exit_code == Some(1)
                && String::from_utf8_lossy(&c.stderr).contains("No such file") =>
        {
            Check::Value {
                passed: !loaded,
                actual: "not loaded (no /proc/modules: the kernel has no loadable-module support)"
                    .into(),
            }
        }
        r => Check::Unreadable(describe_failure(r)),
    }
}

fn config(name: &str, value: &str, r: &ReadResult) -> Check {
    match r {
        Ok(c) if ok(c) => {
            let text = String::from_utf8_lossy(&c.stdout);
            let set = format!("CONFIG_{name}=");
            let actual = text
                .lines()
                .find_map(|l| l.strip_prefix(set.as_str()))
                .unwrap_or("n");
            Check::Value {
                passed: actual == value,
                actual: format!("CONFIG_{name}={actual}"),
            }
        }
        r => Check::Unreadable(format!(
            "{} (the running kernel's config is in /proc/config.gz with CONFIG_IKCONFIG_PROC=y, or in /boot/config-<release>)",
            describe_failure(r)
        )),
    }
}

fn file(exists: bool, r: &ReadResult) -> Check {
    match r {
        Ok(c) if c.exit_code == Some(0) || c.exit_code == Some(1) => {
            let is = c.exit_code == Some(0);
            Check::Value {
                passed: is == exists,
                actual: if is { "exists" } else { "missing" }.into(),
            }
        }
        r => Check::Unreadable(describe_failure(r)),
    }
}

fn cmd(check: &CmdCheck, r: &ReadResult) -> Check {
    match (check, r) {
        (CmdCheck::Exit(n), Ok(c)) if c.exit_code.is_some() => Check::Value {
            passed: c.exit_code == Some(*n),
            actual: format!(
                "exit {}{}",
                c.exit_code.unwrap_or_default(),
                if c.stderr.is_empty() {
                    String::new()
                } else {
                    format!(": {}", first_line(&c.stderr))
                }
            ),
        },
        (CmdCheck::Output(test), Ok(c)) if ok(c) => {
            let (text, words) = text_value(&c.stdout);
            tested(test, &text, &words, c.truncated)
        }
        (_, r) => Check::Unreadable(describe_failure(r)),
    }
}

pub(super) fn first_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn show(text: &str, truncated: bool) -> String {
    let mut s: String = text.chars().take(SHOW).collect();
    if truncated || s.len() < text.len() {
        s.push_str(" …");
    }
    s
}

/// Why a read gave no value: the transport error, the signal, or the exit
/// status with the command's first line of stderr.
pub(super) fn describe_failure(r: &ReadResult) -> String {
    match r {
        Err(e) => e.clone(),
        Ok(c) => match (&c.signal, c.exit_code) {
            (Some(s), _) => format!("killed by SIG{s}"),
            (None, code) => {
                let err = first_line(&c.stderr);
                format!(
                    "exit {}{}",
                    code.map_or("?".into(), |c| c.to_string()),
                    if err.is_empty() {
                        String::new()
                    } else {
                        format!(": {err}")
                    }
                )
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::parse;

    fn out(code: i32, stdout: &[u8], stderr: &[u8]) -> ReadResult {
        Ok(Captured {
            exit_code: Some(code),
            stdout: stdout.to_vec(),
            stderr: stderr.to_vec(),
            ..Captured::default()
        })
    }

    #[test]
    fn judged() {
        let p = parse("procfs /proc/sys/kernel/ostype == Linux").unwrap();
        assert_eq!(
            evaluate(&p, &out(0, b"Linux\n", b"")),
            Check::Value {
                passed: true,
                actual: "Linux".into()
            }
        );
        assert!(matches!(
            evaluate(&p, &out(1, b"", b"cat: x: Permission denied\n")),
            Check::Unreadable(e) if e.contains("Permission denied")
        ));
        let p = parse("dmesg must-not-match Oops").unwrap();
        assert!(matches!(
            evaluate(&p, &out(1, b"", b"dmesg: read kernel buffer failed: Operation not permitted")),
            Check::Unreadable(e) if e.contains("dmesg_restrict")
        ));
        assert_eq!(
            evaluate(&p, &out(0, b"[1.0] ok\n[2.0] Oops: 0000\n", b"")),
            Check::Value {
                passed: false,
                actual: "[2.0] Oops: 0000".into()
            }
        );
        let p = parse("module loaded brcmfmac").unwrap();
        assert_eq!(
            evaluate(&p, &out(0, b"brcmfmac 1 0 - Live 0x0\n", b"")),
            Check::Value {
                passed: true,
                actual: "loaded".into()
            }
        );
        let p = parse("dt compatible contains rockchip,rk3399").unwrap();
        assert!(matches!(
            evaluate(&p, &out(0, b"pine64,pinebook-pro\0rockchip,rk3399\0", b"")),
            Check::Value { passed: true, .. }
        ));
        assert!(matches!(
            evaluate(&p, &Err("timed out".into())),
            Check::Unreadable(_)
        ));
    }

    #[test]
    fn config_probes_read_the_running_kernels_config() {
        let p = parse("config CONFIG_CW1200=m").unwrap();
        assert_eq!(p.read().argv()[..2], ["sh", "-c"]);
        let config = b"CONFIG_CW1200=m\n# CONFIG_MMC_DW is not set\nCONFIG_MMC=y\n";
        assert_eq!(
            evaluate(&p, &out(0, config, b"")),
            Check::Value {
                passed: true,
                actual: "CONFIG_CW1200=m".into()
            }
        );
        let p = parse("config CONFIG_MMC_DW=y").unwrap();
        assert_eq!(
            evaluate(&p, &out(0, config, b"")),
            Check::Value {
                passed: false,
                actual: "CONFIG_MMC_DW=n".into()
            }
        );
        // not set, or not there at all, is n
        for name in ["MMC_DW", "GONE"] {
            let p = parse(&format!("config CONFIG_{name}=n")).unwrap();
            assert!(matches!(
                evaluate(&p, &out(0, config, b"")),
                Check::Value { passed: true, .. }
            ));
        }
        // no /proc/config.gz and no /boot/config-<release>
        assert!(matches!(
            evaluate(&p, &out(1, b"", b"cat: /boot/config-6.1.0: No such file or directory\n")),
            Check::Unreadable(e) if e.contains("IKCONFIG_PROC")
        ));
        for bad in [
            "config MMC=y",
            "config CONFIG_MMC=2",
            "config CONFIG_MMC",
            "config CONFIG_A=y CONFIG_B=y",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
