//! The batch reader: the boot_id, every file read and every exists-test of
//! a host in one round trip, one remote shell and one `od`, and the parser
//! that splits its output back into one result per read.

use super::{MAX_OUTPUT, ReadResult};
use crate::lang::Read;
use crate::plan::Compiled;
use ka_run_remote::{Captured, Connection};
use std::collections::HashMap;
use std::time::Duration;

pub(super) const BOOT_ID: &str = "/proc/sys/kernel/random/boot_id";
pub(super) const OSRELEASE: &str = "/proc/sys/kernel/osrelease";

/// The reads of `probes` (and the boot_id and kernel release bar 1 needs)
/// that the batch reader could do at once, keyed as [`super::Reads`] asks
/// for them; empty when it could not, and each read then runs on its own.
pub(super) fn prefetch(
    conn: &Connection,
    probes: &[Compiled],
    timeout: Duration,
) -> HashMap<Read, ReadResult> {
    let mut cache = HashMap::new();
    let mut files: Vec<String> = vec![OSRELEASE.into()];
    let mut tests: Vec<String> = Vec::new();
    for c in probes {
        match c.probe.read() {
            Read::Cat(p) if p != BOOT_ID && !files.contains(&p) => files.push(p),
            Read::Exists(p) if !tests.contains(&p) => tests.push(p),
            _ => {}
        }
    }
    if let Some(got) = batch_read(conn, &files, &tests, timeout) {
        let paths = std::iter::once(BOOT_ID.to_string()).chain(files);
        for (path, c) in paths.zip(got.reads) {
            cache.insert(Read::Cat(path), Ok(c));
        }
        for (path, c) in tests.into_iter().zip(got.tests) {
            cache.insert(Read::Exists(path), Ok(c));
        }
    }
    cache
}

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
