//! Running a [`HostPlan`] against its host: bar 1 (SSH answers within the
//! heartbeat; boot_id and kernel release read), then bars 2–4 over the same
//! authenticated session through ka-run-remote (strict known_hosts, the
//! fleet identity, argv quoted word by word). Many hosts run concurrently.

use crate::lang::{CmdCheck, Probe, Read, Source, dt_value, text_value};
use crate::plan::HostPlan;
use ka_run_remote::{Captured, ConnectError, Connection, Options, Target};
use ka_schema::Distro;
use ka_schema::{BarResult, ProbeReport, V1};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Timeouts of a probe run.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    /// One remote read (a `cat`, `dmesg`, a package query, a `cmd` probe).
    pub read_timeout: Duration,
    /// How many hosts are probed at once.
    pub jobs: usize,
}

/// Keep this much of one read's output (a kernel log is at most a few MiB).
const MAX_OUTPUT: usize = 16 << 20;
/// Longest value shown in a report.
const SHOW: usize = 300;

/// The outcome of one remote read: what ran, or why it could not.
pub type ReadResult = std::result::Result<Captured, String>;

/// Probe every plan, at most `opts.jobs` at a time; reports in plan order.
pub fn probe_all(plans: &[HostPlan], opts: &RunOptions, at: &str) -> Vec<ProbeReport> {
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<Option<ProbeReport>>> = Mutex::new(vec![None; plans.len()]);
    std::thread::scope(|s| {
        for _ in 0..opts.jobs.clamp(1, plans.len().max(1)) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(plan) = plans.get(i) else { break };
                    let report = probe_host(plan, opts, at);
                    out.lock().expect("no panics while held")[i] = Some(report);
                }
            });
        }
    });
    out.into_inner()
        .expect("threads joined")
        .into_iter()
        .map(|r| r.expect("every host probed"))
        .collect()
}

/// Connect within the heartbeat: retry refused or unreachable connections
/// until it runs out (a rebooting host comes back during it); a host-key
/// refusal is final at once.
fn connect_within(
    target: &Target,
    heartbeat: Duration,
) -> Result<(Connection, Duration), ConnectError> {
    let start = Instant::now();
    let mut last;
    loop {
        let left = heartbeat.saturating_sub(start.elapsed());
        let opts = Options {
            connect_timeout: left.clamp(Duration::from_millis(100), Duration::from_secs(10)),
            io_timeout: left.clamp(Duration::from_secs(1), Duration::from_secs(30)),
            ..Options::default()
        };
        match ka_run_remote::connect(target, &opts) {
            Ok(c) => return Ok((c, start.elapsed())),
            Err(ConnectError::Transport(m)) => last = m,
            Err(final_error) => return Err(final_error),
        }
        let left = heartbeat.saturating_sub(start.elapsed());
        if left.is_zero() {
            return Err(ConnectError::Transport(format!(
                "no answer within {:.1}s: {last}",
                start.elapsed().as_secs_f64()
            )));
        }
        std::thread::sleep(left.min(Duration::from_millis(500)));
    }
}

/// Probe one host: never panics, never errs; everything that goes wrong is a
/// failed bar in the report.
pub fn probe_host(plan: &HostPlan, opts: &RunOptions, at: &str) -> ProbeReport {
    let mut report = ProbeReport {
        kind: Default::default(),
        version: V1,
        host: plan.host.clone(),
        at: at.to_string(),
        passed: false,
        boot_id: None,
        kernel_release: None,
        bars: Vec::new(),
        host_key_refused: false,
        notes: plan.notes.clone(),
    };
    let expected = format!("SSH answers within {}", plan.heartbeat);
    let target = match Target::from_transport(&plan.transport) {
        Ok(Some(t)) => Ok(t),
        Ok(None) => Err("the host has no SSH transport".to_string()),
        Err(e) => Err(e.to_string()),
    };
    let conn = target.and_then(|t| {
        connect_within(&t, plan.heartbeat.get()).map_err(|e| {
            report.host_key_refused = matches!(e, ConnectError::HostKey(_));
            e.to_string()
        })
    });
    let (conn, took) = match conn {
        Ok(c) => c,
        Err(e) => {
            report
                .bars
                .push(bar_result(1, "heartbeat", &expected, Err(e), None));
            report
                .notes
                .push("bars 2–4 not checked: the host did not answer".into());
            return finish(report, plan.previous.as_ref());
        }
    };
    let mut cache: HashMap<Read, ReadResult> = HashMap::new();
    // The boot_id, every file read and every exists-test of the host in one
    // round trip and one remote process plus one `od` (a fixed script; see
    // [`BATCH_READER`]); on any surprise each read runs on its own instead.
    let mut files: Vec<String> = vec![OSRELEASE.into()];
    let mut tests: Vec<String> = Vec::new();
    for c in &plan.probes {
        match c.probe.read() {
            Read::Cat(p) if p != BOOT_ID && !files.contains(&p) => files.push(p),
            Read::Exists(p) if !tests.contains(&p) => tests.push(p),
            _ => {}
        }
    }
    if let Some(got) = batch_read(&conn, &files, &tests, opts.read_timeout) {
        let paths = std::iter::once(BOOT_ID.to_string()).chain(files);
        for (path, c) in paths.zip(got.reads) {
            cache.insert(Read::Cat(path), Ok(c));
        }
        for (path, c) in tests.into_iter().zip(got.tests) {
            cache.insert(Read::Exists(path), Ok(c));
        }
    }
    let mut read = |r: &Read| -> ReadResult {
        cache
            .entry(r.clone())
            .or_insert_with(|| conn.exec_argv(&r.argv(), opts.read_timeout, MAX_OUTPUT))
            .clone()
    };
    let boot = read(&Read::Cat(BOOT_ID.into()));
    let release = read(&Read::Cat(OSRELEASE.into()));
    let value = |r: &ReadResult| {
        r.as_ref()
            .ok()
            .filter(|c| c.exit_code == Some(0))
            .map(|c| text_value(&c.stdout).0)
    };
    report.boot_id = value(&boot);
    report.kernel_release = value(&release);
    let hb = match (&report.boot_id, &boot) {
        (Some(id), _) => Ok(format!(
            "answered in {:.1}s, boot_id {id}, kernel {}",
            took.as_secs_f64(),
            report.kernel_release.as_deref().unwrap_or("?")
        )),
        (None, r) => Err(format!(
            "connected, but reading the boot_id failed: {}",
            describe_failure(r)
        )),
    };
    report
        .bars
        .push(bar_result(1, "heartbeat", &expected, hb, None));

    if let Some(i) = &plan.installed {
        let argv = match plan.distro {
            Distro::Arch => Read::Cmd(vec!["pacman".into(), "-Q".into(), i.package.clone()]),
            Distro::Debian => Read::Cmd(vec![
                "dpkg-query".into(),
                "-W".into(),
                "-f=${Version}".into(),
                i.package.clone(),
            ]),
        };
        let r = read(&argv);
        let res = match &r {
            Ok(c) if c.exit_code == Some(0) => {
                let out = String::from_utf8_lossy(&c.stdout).trim().to_string();
                let version = match plan.distro {
                    // pacman -Q prints "name version"
                    Distro::Arch => out.split_whitespace().nth(1).unwrap_or("").to_string(),
                    Distro::Debian => out,
                };
                Check::Value {
                    passed: version == i.package_version,
                    actual: if version.is_empty() {
                        "(not installed)".into()
                    } else {
                        version
                    },
                }
            }
            Ok(c) if c.exit_code == Some(1) => Check::Value {
                passed: false,
                actual: format!("not installed ({})", first_line(&c.stderr)),
            },
            r => Check::Unreadable(describe_failure(r)),
        };
        report.bars.push(check_result(
            2,
            &format!("package {}", i.package),
            &i.package_version,
            res,
            Some(format!("hosts/{}/installed.json", plan.host)),
        ));
        // "installed" means these bytes: the image on the host is the one
        // the build recorded, where the host lets us read it
        if let (Some(path), Some(sum)) = (&i.image, &i.image_b2sum) {
            match read(&Read::Cmd(vec!["b2sum".into(), "--".into(), path.clone()])) {
                Ok(c) if c.exit_code == Some(0) => {
                    let out = String::from_utf8_lossy(&c.stdout);
                    let seen = out.split_whitespace().next().unwrap_or("").to_string();
                    report.bars.push(check_result(
                        2,
                        &format!("image {path} b2sum"),
                        sum,
                        Check::Value {
                            passed: seen == *sum,
                            actual: seen,
                        },
                        Some(format!("hosts/{}/installed.json", plan.host)),
                    ));
                }
                r => report.notes.push(format!(
                    "bar 2: the image {path} was not compared with the published b2sum: {}",
                    describe_failure(&r)
                )),
            }
        }
    }

    for c in &plan.probes {
        let r = read(&c.probe.read());
        let res = evaluate(&c.probe, &r);
        report.bars.push(check_result(
            c.bar,
            &c.text,
            &c.probe.expected(),
            res,
            Some(c.source.clone()),
        ));
    }
    let _ = conn.session.disconnect(None, "ka-probe: done", None);
    finish(report, plan.previous.as_ref())
}

const BOOT_ID: &str = "/proc/sys/kernel/random/boot_id";
const OSRELEASE: &str = "/proc/sys/kernel/osrelease";

/// The one shell text ka-probe sends for all file reads and `file
/// exists|missing` tests of a host, and it is fixed: what to do comes after
/// it as positional argv words (each quoted by ka-run-remote), `e:PATH` for a
/// `[ -e ]` test and `c:PATH` for a read, so no data ever becomes shell
/// syntax. It runs in ONE process on the host plus ONE `od` for all reads
/// (no fork per file: on a small board and on a loopback server alike, the
/// forks were most of the host's work).
///
/// Output: `e` and one `0`/`1` per test (as `test -e` exits), a newline; then
/// either `a` and the hex dump (`od -tx1`, binary-safe: device-tree values
/// hold NULs) of `B F1 B F2 … B Fn B`, where B is the boot_id file, or, when
/// that `od` failed (a file that cannot be read), `f` and, for B and every
/// path, `=`, its own `od` dump or od's error message, and `?<exit status>`.
///
/// Why B between the files: one `od` over several files prints one stream
/// with no boundaries, and sizes cannot be asked first (a /proc file says 0,
/// a sysfs file 4096, and a value may change between two reads). The
/// boot_id is a random UUID line fixed for the boot and read with the same
/// `od`: the stream starts with it, and each later copy ends one file. A
/// file holding that exact line would add a piece; the count then differs
/// and the parser refuses the output rather than guess (see
/// [`parse_batch`]). A UUID line also has no border (its only newline is its
/// last byte), so the leftmost matches are exactly the separators.
pub const BATCH_READER: &str = r#"m=/proc/sys/kernel/random/boot_id e=
for a do
shift
case $a in
e:*) if [ -e "${a#e:}" ]; then e=${e}0; else e=${e}1; fi ;;
*) set -- "$@" "$m" "${a#c:}" ;;
esac
done
printf 'e%s\n' "$e"
if x=$(od -An -v -tx1 -- "$@" "$m" 2>/dev/null); then
printf 'a\n%s\n' "$x"
else
printf 'f\n'
set -- "$m" "$m" "$@"
while [ "$#" -gt 1 ]; do
printf '=\n'; od -An -v -tx1 -- "$2" 2>&1; printf '?%s\n' "$?"; shift 2
done
fi"#;

/// What one [`BATCH_READER`] run found: the boot_id and every read path (in
/// the order given), and every `[ -e ]` test.
#[derive(Debug)]
pub struct Batch {
    pub reads: Vec<Captured>,
    pub tests: Vec<Captured>,
}

/// Read the boot_id and every file of `paths`, and test every path of
/// `tests`, in one remote command; `None` when the host could not run it as
/// expected (no `od`, a transport error, output that does not split), and
/// the caller reads each file on its own.
fn batch_read(
    conn: &Connection,
    paths: &[String],
    tests: &[String],
    timeout: Duration,
) -> Option<Batch> {
    let mut argv = vec![
        "sh".to_string(),
        "-c".into(),
        BATCH_READER.into(),
        "sh".into(),
    ];
    argv.extend(tests.iter().map(|p| format!("e:{p}")));
    argv.extend(paths.iter().map(|p| format!("c:{p}")));
    let out = conn.exec_argv(&argv, timeout, MAX_OUTPUT).ok()?;
    if out.exit_code != Some(0) || out.truncated {
        return None;
    }
    parse_batch(&out.stdout, paths.len(), tests.len())
}

/// Split [`BATCH_READER`]'s output: the boot_id and `reads` files, and
/// `tests` exists-tests. `None` on anything unexpected.
pub fn parse_batch(out: &[u8], reads: usize, tests: usize) -> Option<Batch> {
    let text = std::str::from_utf8(out).ok()?;
    let (first, rest) = text.split_once('\n')?;
    let codes = first.strip_prefix('e')?;
    if codes.len() != tests {
        return None;
    }
    let tests = codes
        .bytes()
        .map(|c| match c {
            b'0' | b'1' => Some(Captured {
                exit_code: Some(i32::from(c - b'0')),
                ..Captured::default()
            }),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()?;
    let reads = if let Some(dump) = rest.strip_prefix("a\n") {
        split_on_boot_id(&unhex(dump)?, reads)?
            .into_iter()
            .map(|stdout| Captured {
                exit_code: Some(0),
                stdout,
                ..Captured::default()
            })
            .collect()
    } else {
        parse_each(rest.strip_prefix("f\n")?, reads + 1)?
    };
    Some(Batch { reads, tests })
}

/// The bytes of an `od -An -v -tx1` dump: lines of space-separated pairs.
fn unhex(dump: &str) -> Option<Vec<u8>> {
    let mut bytes = Vec::with_capacity(dump.len() / 3);
    for line in dump.lines() {
        if !line.starts_with(' ') {
            return None;
        }
        for w in line.split_whitespace() {
            if w.len() != 2 {
                return None;
            }
            bytes.push(u8::from_str_radix(w, 16).ok()?);
        }
    }
    Some(bytes)
}

/// `B F1 B F2 … B Fn B` → `[B, F1, …, Fn]`, where B is the boot_id line (a
/// UUID and a newline). `None` when B is not such a line or the stream does
/// not split into exactly `n` files.
fn split_on_boot_id(stream: &[u8], n: usize) -> Option<Vec<Vec<u8>>> {
    let uuid = |b: &[u8]| {
        b.len() == 37
            && b[36] == b'\n'
            && b[..36].iter().enumerate().all(|(i, c)| match i {
                8 | 13 | 18 | 23 => *c == b'-',
                _ => c.is_ascii_hexdigit(),
            })
    };
    let sep = stream.get(..37).filter(|b| uuid(b))?;
    let mut pieces = vec![sep.to_vec()];
    let mut rest = &stream[37..];
    while let Some(at) = rest.windows(sep.len()).position(|w| w == sep) {
        pieces.push(rest[..at].to_vec());
        rest = &rest[at + sep.len()..];
    }
    (rest.is_empty() && pieces.len() == n + 1).then_some(pieces)
}

/// Split the per-file part of [`BATCH_READER`]'s output (`=`, dump or
/// error, `?status`, per file) into `n` results.
fn parse_each(text: &str, n: usize) -> Option<Vec<Captured>> {
    let mut got = Vec::with_capacity(n);
    let mut cur: Option<Captured> = None;
    for line in text.lines() {
        if line == "=" {
            if cur.is_some() {
                return None;
            }
            cur = Some(Captured::default());
            continue;
        }
        let c = cur.as_mut()?;
        if let Some(code) = line.strip_prefix('?') {
            c.exit_code = Some(code.parse().ok()?);
            got.push(cur.take()?);
        } else if !line.is_empty()
            && line.starts_with(' ')
            && line.split_whitespace().all(|w| w.len() == 2)
        {
            for w in line.split_whitespace() {
                c.stdout.push(u8::from_str_radix(w, 16).ok()?);
            }
        } else {
            c.stderr.extend_from_slice(line.as_bytes());
            c.stderr.push(b'\n');
        }
    }
    (cur.is_none() && got.len() == n).then_some(got)
}

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
    let ok = |c: &Captured| c.exit_code == Some(0);
    match probe {
        Probe::Value { source, test, .. } => match r {
            Ok(c) if ok(c) => {
                let (text, words) = match source {
                    Source::Dt => dt_value(&c.stdout),
                    _ => text_value(&c.stdout),
                };
                match test.check(&text, &words) {
                    Ok(passed) => Check::Value {
                        passed,
                        actual: show(&text, c.truncated),
                    },
                    Err(e) => Check::Value {
                        passed: false,
                        actual: e,
                    },
                }
            }
            r => Check::Unreadable(describe_failure(r)),
        },
        Probe::Dmesg {
            must_match,
            pattern,
        } => match r {
            Ok(c) if ok(c) => {
                let text = String::from_utf8_lossy(&c.stdout);
                let hit = text.lines().find(|l| pattern.re.is_match(l));
                Check::Value {
                    passed: hit.is_some() == *must_match,
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
        },
        Probe::Module { name, loaded } => match r {
            Ok(c) if ok(c) => {
                let text = String::from_utf8_lossy(&c.stdout);
                let is = text
                    .lines()
                    .any(|l| l.split_whitespace().next() == Some(name));
                Check::Value {
                    passed: is == *loaded,
                    actual: if is { "loaded" } else { "not loaded" }.into(),
                }
            }
            // No /proc/modules: a kernel without loadable-module support.
            Ok(c)
                if c.exit_code == Some(1)
                    && String::from_utf8_lossy(&c.stderr).contains("No such file") =>
            {
                Check::Value {
                    passed: !*loaded,
                    actual:
                        "not loaded (no /proc/modules: the kernel has no loadable-module support)"
                            .into(),
                }
            }
            r => Check::Unreadable(describe_failure(r)),
        },
        Probe::Config { name, value } => match r {
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
        },
        Probe::File { exists, .. } => match r {
            Ok(c) if c.exit_code == Some(0) || c.exit_code == Some(1) => {
                let is = c.exit_code == Some(0);
                Check::Value {
                    passed: is == *exists,
                    actual: if is { "exists" } else { "missing" }.into(),
                }
            }
            r => Check::Unreadable(describe_failure(r)),
        },
        Probe::Cmd { check, .. } => match (check, r) {
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
                match test.check(&text, &words) {
                    Ok(passed) => Check::Value {
                        passed,
                        actual: show(&text, c.truncated),
                    },
                    Err(e) => Check::Value {
                        passed: false,
                        actual: e,
                    },
                }
            }
            (_, r) => Check::Unreadable(describe_failure(r)),
        },
    }
}

fn first_line(bytes: &[u8]) -> String {
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
fn describe_failure(r: &ReadResult) -> String {
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

fn check_result(
    bar: u8,
    probe: &str,
    expected: &str,
    c: Check,
    source: Option<String>,
) -> BarResult {
    match c {
        Check::Value { passed, actual } => BarResult {
            bar,
            probe: probe.into(),
            passed,
            expected: expected.into(),
            actual,
            source,
            error: None,
            last_pass: None,
            first_fail: None,
        },
        Check::Unreadable(why) => BarResult {
            bar,
            probe: probe.into(),
            passed: false,
            expected: expected.into(),
            actual: "(not readable)".into(),
            source,
            error: Some(why),
            last_pass: None,
            first_fail: None,
        },
    }
}

fn bar_result(
    bar: u8,
    probe: &str,
    expected: &str,
    r: std::result::Result<String, String>,
    source: Option<String>,
) -> BarResult {
    match r {
        Ok(actual) => check_result(
            bar,
            probe,
            expected,
            Check::Value {
                passed: true,
                actual,
            },
            source,
        ),
        Err(e) => check_result(bar, probe, expected, Check::Unreadable(e), source),
    }
}

/// Set `passed`, and carry last pass / first fail over from the previous
/// report (matched by bar and probe text).
pub fn finish(mut report: ProbeReport, previous: Option<&ProbeReport>) -> ProbeReport {
    let at = report.at.clone();
    for b in &mut report.bars {
        let prev =
            previous.and_then(|p| p.bars.iter().find(|x| x.bar == b.bar && x.probe == b.probe));
        if b.passed {
            b.last_pass = Some(at.clone());
            b.first_fail = None;
        } else {
            b.last_pass = prev.and_then(|p| p.last_pass.clone());
            b.first_fail = prev
                .filter(|p| !p.passed)
                .and_then(|p| p.first_fail.clone())
                .or_else(|| Some(at.clone()));
        }
    }
    report.passed = !report.bars.is_empty() && report.bars.iter().all(|b| b.passed);
    report
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

    const B: &str = "0a1b2c3d-0000-4000-8000-00000000abcd\n";

    fn hex(bytes: &[u8]) -> String {
        // as od -An -v -tx1 prints it: 16 bytes per line, each with a space
        bytes
            .chunks(16)
            .map(|l| l.iter().map(|b| format!(" {b:02x}")).collect::<String>() + "\n")
            .collect()
    }

    #[test]
    fn one_dump_is_split_on_the_boot_id() {
        let stream = [
            B.as_bytes(),
            b"Linux\n",
            B.as_bytes(),
            b"a\0b\0",
            B.as_bytes(),
            b"",
            B.as_bytes(),
        ]
        .concat();
        let out = format!("e01\na\n{}", hex(&stream));
        let got = parse_batch(out.as_bytes(), 3, 2).unwrap();
        assert_eq!(got.reads.len(), 4);
        assert_eq!(got.reads[0].stdout, B.as_bytes());
        assert_eq!(got.reads[1].stdout, b"Linux\n");
        assert_eq!(got.reads[2].stdout, b"a\0b\0");
        assert_eq!(got.reads[3].stdout, b"");
        assert!(got.reads.iter().all(|c| c.exit_code == Some(0)));
        assert_eq!(got.tests[0].exit_code, Some(0));
        assert_eq!(got.tests[1].exit_code, Some(1));
        // no reads, no tests: the boot_id alone
        let got = parse_batch(format!("e\na\n{}", hex(B.as_bytes())).as_bytes(), 0, 0).unwrap();
        assert_eq!(got.reads[0].stdout, B.as_bytes());
        assert!(got.tests.is_empty());
    }

    #[test]
    fn a_dump_that_does_not_split_exactly_is_refused() {
        // a file holding the boot_id line adds a piece: refused, not guessed
        let stream = [B, "x", B, "y", B, B].concat();
        let out = format!("e\na\n{}", hex(stream.as_bytes()));
        assert!(parse_batch(out.as_bytes(), 2, 0).is_none());
        assert!(parse_batch(out.as_bytes(), 3, 0).is_some());
        // bytes after the last separator
        let stream = [B, "x", B, "tail"].concat();
        assert!(
            parse_batch(format!("e\na\n{}", hex(stream.as_bytes())).as_bytes(), 1, 0).is_none()
        );
        // a first line that is not a UUID line
        let stream = "not-a-uuid\nx\nnot-a-uuid\n";
        assert!(
            parse_batch(format!("e\na\n{}", hex(stream.as_bytes())).as_bytes(), 1, 0).is_none()
        );
        // wrong number of tests, a test code that is not 0/1, no dump at all
        let ok = format!("e0\na\n{}", hex([B, "x", B].concat().as_bytes()));
        assert!(parse_batch(ok.as_bytes(), 1, 1).is_some());
        assert!(parse_batch(ok.as_bytes(), 1, 2).is_none());
        assert!(parse_batch(ok.replace("e0", "e2").as_bytes(), 1, 1).is_none());
        assert!(parse_batch(b"e0\n", 1, 1).is_none());
        assert!(parse_batch(b"sh: od: not found\n", 1, 0).is_none());
        assert!(parse_batch(format!("e\na\n{}*\n", hex(B.as_bytes())).as_bytes(), 0, 0).is_none());
    }

    #[test]
    fn after_a_failed_read_each_file_has_its_own_result() {
        let out = format!(
            "e1\nf\n=\n{}?0\n=\n 4c 69 6e 75 78 0a\n?0\n=\nod: /sys/x: No such file or directory\n?1\n=\n 61 00 62 00\n?0\n",
            hex(B.as_bytes())
        );
        let got = parse_batch(out.as_bytes(), 3, 1).unwrap();
        assert_eq!(got.reads[0].stdout, B.as_bytes());
        assert_eq!(got.reads[1].stdout, b"Linux\n");
        assert_eq!(got.reads[1].exit_code, Some(0));
        assert_eq!(got.reads[2].exit_code, Some(1));
        assert!(String::from_utf8_lossy(&got.reads[2].stderr).contains("No such file"));
        assert_eq!(got.reads[3].stdout, b"a\0b\0");
        assert!(parse_batch(out.as_bytes(), 2, 1).is_none());
        assert!(parse_batch(b"e\nf\n=\n 4c\n", 0, 0).is_none());
    }

    /// The fixed script itself, run by the local POSIX sh on real files: one
    /// `od` when every file reads, per-file results when one does not.
    #[test]
    fn the_batch_reader_runs_in_sh() {
        let dir = tempfile::tempdir().unwrap();
        let nul = dir.path().join("compatible");
        std::fs::write(&nul, b"pine64,pinebook-pro\0rockchip,rk3399\0").unwrap();
        let empty = dir.path().join("empty");
        std::fs::write(&empty, b"").unwrap();
        let odd = dir.path().join("e:odd c:name\n'$(x)");
        std::fs::write(&odd, b"odd\n").unwrap();
        let run = |args: &[String]| {
            let out = std::process::Command::new("sh")
                .args(["-c", BATCH_READER, "sh"])
                .args(args)
                .output()
                .unwrap();
            assert!(out.status.success());
            out.stdout
        };
        let p = |p: &std::path::Path| p.to_str().unwrap().to_string();
        let reads = [OSRELEASE.to_string(), p(&nul), p(&empty), p(&odd)];
        let tests = [
            "/dev/null".to_string(),
            p(&dir.path().join("none")),
            p(&odd),
        ];
        let args: Vec<String> = tests
            .iter()
            .map(|t| format!("e:{t}"))
            .chain(reads.iter().map(|r| format!("c:{r}")))
            .collect();
        let out = run(&args);
        assert!(
            out.starts_with(b"e010\na\n"),
            "{}",
            String::from_utf8_lossy(&out)
        );
        let got = parse_batch(&out, reads.len(), tests.len()).unwrap();
        let boot = std::fs::read(BOOT_ID).unwrap();
        assert_eq!(got.reads[0].stdout, boot);
        assert_eq!(got.reads[1].stdout, std::fs::read(OSRELEASE).unwrap());
        assert_eq!(
            got.reads[2].stdout,
            b"pine64,pinebook-pro\0rockchip,rk3399\0"
        );
        assert_eq!(got.reads[3].stdout, b"");
        assert_eq!(got.reads[4].stdout, b"odd\n");
        let codes: Vec<_> = got.tests.iter().map(|t| t.exit_code).collect();
        assert_eq!(codes, [Some(0), Some(1), Some(0)]);

        // one missing file: every file gets its own result, the missing one its reason
        let missing = p(&dir.path().join("missing"));
        let out = run(&[format!("c:{}", p(&nul)), format!("c:{missing}")]);
        assert!(
            out.starts_with(b"e\nf\n"),
            "{}",
            String::from_utf8_lossy(&out)
        );
        let got = parse_batch(&out, 2, 0).unwrap();
        assert_eq!(got.reads[0].stdout, boot);
        assert_eq!(
            got.reads[1].stdout,
            b"pine64,pinebook-pro\0rockchip,rk3399\0"
        );
        assert_eq!(got.reads[1].exit_code, Some(0));
        assert_ne!(got.reads[2].exit_code, Some(0));
        assert!(String::from_utf8_lossy(&got.reads[2].stderr).contains("No such file"));
    }

    #[test]
    fn times_carry_over() {
        let r = |at: &str, passed: bool| ProbeReport {
            kind: Default::default(),
            version: V1,
            host: "h".into(),
            at: at.into(),
            passed,
            boot_id: None,
            kernel_release: None,
            bars: vec![check_result(
                4,
                "p",
                "e",
                Check::Value {
                    passed,
                    actual: "a".into(),
                },
                None,
            )],
            host_key_refused: false,
            notes: vec![],
        };
        let a = finish(r("t1", true), None);
        assert_eq!(a.bars[0].last_pass.as_deref(), Some("t1"));
        let b = finish(r("t2", false), Some(&a));
        assert_eq!(b.bars[0].last_pass.as_deref(), Some("t1"));
        assert_eq!(b.bars[0].first_fail.as_deref(), Some("t2"));
        let c = finish(r("t3", false), Some(&b));
        assert_eq!(c.bars[0].first_fail.as_deref(), Some("t2"));
        assert_eq!(c.bars[0].last_pass.as_deref(), Some("t1"));
        let d = finish(r("t4", true), Some(&c));
        assert_eq!(d.bars[0].last_pass.as_deref(), Some("t4"));
        assert_eq!(d.bars[0].first_fail, None);
    }
}
