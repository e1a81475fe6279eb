//! What `ka-import` accepts, split into single patches with their bytes kept.
//!
//! - a file: one patch (a `git format-patch` mail, a DEP-3 headed patch, a
//!   plain or `git diff`), or an mbox of several mails;
//! - a folder: its `*.patch` and `*.diff` files in name order (or in the order
//!   of a quilt `series` file, when the folder has one);
//! - `--git-range A..B --git-repo PATH`: `git format-patch --stdout A..B`.
//!
//! Mails are split at mbox `From ` lines: `From <40 hex> Mon Sep 17 00:00:00
//! 2001` (what format-patch writes) anywhere, or `From <sender> <asctime
//! date>` at the start or after a blank line (mboxo/mboxrd from a mail
//! client). Any other `From ` line, in a message or escaped as `>From `, is
//! message text and never a split. Each mail keeps its bytes exactly (from
//! its `From ` line to the next one); `>From ` escapes stay as written — they
//! can only be in the message, since diff lines start with ' ', '+', '-'.

use ka_core::error::{Error, Result, negative, usage};
use std::fs;
use std::path::{Path, PathBuf};

/// One patch to import.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// Where it came from: `file`, or `file (mail N of M)`.
    pub source: String,
    /// The 1-based line of `source` where it starts.
    pub line: usize,
    pub bytes: Vec<u8>,
    /// The file name stem, a fallback for naming.
    pub stem: String,
}

impl Incoming {
    /// The subject (mail `Subject:`, DEP-3 `Subject:`/`Description:`),
    /// without `[PATCH ...]` prefixes.
    pub fn subject(&self) -> Option<String> {
        let text = String::from_utf8_lossy(&self.bytes);
        let mut lines = text.lines().peekable();
        if lines.peek().is_some_and(|l| l.starts_with("From ")) {
            lines.next();
        }
        let mut found: Option<String> = None;
        let mut description: Option<String> = None;
        let mut in_subject = false;
        for line in lines {
            if line.trim().is_empty() || line.starts_with("---") || line.starts_with("diff ") {
                break;
            }
            if in_subject && line.starts_with([' ', '\t']) {
                if let Some(s) = found.as_mut() {
                    s.push(' ');
                    s.push_str(line.trim());
                }
                continue;
            }
            in_subject = false;
            if let Some(s) = line.strip_prefix("Subject:") {
                found = Some(s.trim().to_string());
                in_subject = true;
            } else if let Some(s) = line.strip_prefix("Description:") {
                description.get_or_insert_with(|| s.trim().to_string());
            }
        }
        let mut s = found.or(description)?;
        while s.starts_with('[') {
            match s.find(']') {
                Some(end) => s = s[end + 1..].trim_start().to_string(),
                None => break,
            }
        }
        (!s.is_empty()).then_some(s)
    }

    /// A file-name slug as `git format-patch` makes one: runs of other
    /// characters become `-`, at most 52 characters.
    pub fn slug(&self) -> String {
        let base = self.subject().unwrap_or_else(|| {
            let s = self.stem.as_str();
            // drop a leading NNNN- numbering
            match s.split_once('-') {
                Some((n, rest)) if n.len() == 4 && n.bytes().all(|b| b.is_ascii_digit()) => {
                    rest.to_string()
                }
                _ => s.to_string(),
            }
        });
        let mut slug = String::new();
        for c in base.chars() {
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
                slug.push(c);
            } else if !slug.ends_with('-') {
                slug.push('-');
            }
        }
        let mut slug: String = slug
            .trim_matches(['-', '.', '_'])
            .chars()
            .take(52)
            .collect();
        while slug.ends_with(['-', '.', '_']) {
            slug.pop();
        }
        if slug.is_empty() {
            "patch".into()
        } else {
            slug
        }
    }
}

/// Read every source in order.
pub fn collect(sources: &[PathBuf]) -> Result<Vec<Incoming>> {
    let mut out = Vec::new();
    for src in sources {
        let md = fs::metadata(src).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => usage(format!(
                "{}: no such file or folder (a glob must match files: the shell expands it)",
                src.display()
            )),
            _ => Error::io(src, e),
        })?;
        if md.is_dir() {
            for file in folder_patches(src)? {
                read_file(&file, &mut out)?;
            }
        } else {
            read_file(src, &mut out)?;
        }
    }
    Ok(out)
}

/// A folder's patches: quilt `series` order if there is one, else name order.
fn folder_patches(dir: &Path) -> Result<Vec<PathBuf>> {
    let series = dir.join("series");
    if series.is_file() {
        let text = fs::read_to_string(&series).map_err(|e| Error::io(&series, e))?;
        let files: Vec<PathBuf> = text
            .lines()
            .map(|l| l.split('#').next().unwrap_or("").trim())
            .filter(|l| !l.is_empty())
            .map(|l| dir.join(l.split_whitespace().next().unwrap_or(l)))
            .collect();
        return Ok(files);
    }
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if crate::repo::is_patch_name(&name) && entry.path().is_file() {
            files.push(entry.path());
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(negative(format!(
            "{}: no *.patch or *.diff files in this folder",
            dir.display()
        )));
    }
    Ok(files)
}

fn read_file(path: &Path, out: &mut Vec<Incoming>) -> Result<()> {
    let bytes = fs::read(path).map_err(|e| Error::io(path, e))?;
    let shown = path.display().to_string();
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    split_into(&bytes, &shown, &stem, out)
}

/// Split one file's bytes into mails; a file without `From ` lines is one patch.
pub fn split_into(bytes: &[u8], shown: &str, stem: &str, out: &mut Vec<Incoming>) -> Result<()> {
    let starts = mail_starts(bytes);
    if starts.is_empty() {
        out.push(Incoming {
            source: shown.to_string(),
            line: 1,
            bytes: bytes.to_vec(),
            stem: stem.to_string(),
        });
        return Ok(());
    }
    let (first_off, first_line) = starts[0];
    if !bytes[..first_off].iter().all(u8::is_ascii_whitespace) {
        return Err(negative(format!(
            "{shown}:1: text before the first mail (line {first_line}); not an mbox nor a single patch: nothing was imported"
        )));
    }
    let n = starts.len();
    for (i, &(off, line)) in starts.iter().enumerate() {
        let end = starts.get(i + 1).map(|&(o, _)| o).unwrap_or(bytes.len());
        let source = if n == 1 {
            shown.to_string()
        } else {
            format!("{shown} (mail {} of {n})", i + 1)
        };
        out.push(Incoming {
            source,
            line,
            bytes: bytes[off..end].to_vec(),
            stem: stem.to_string(),
        });
    }
    Ok(())
}

/// Byte offsets and 1-based line numbers of the `From ` lines that start mails.
fn mail_starts(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut starts = Vec::new();
    let mut off = 0;
    let mut prev_blank = true;
    for (i, line) in bytes.split_inclusive(|&b| b == b'\n').enumerate() {
        let text = String::from_utf8_lossy(line);
        let text = text.trim_end_matches(['\n', '\r']);
        if is_format_patch_from(text) || (prev_blank && is_mbox_from(text)) {
            starts.push((off, i + 1));
        }
        prev_blank = text.trim().is_empty();
        off += line.len();
    }
    starts
}

/// `From <40 hex> Mon Sep 17 00:00:00 2001`: git format-patch's fixed line.
fn is_format_patch_from(line: &str) -> bool {
    line.strip_prefix("From ")
        .and_then(|r| r.split_once(' '))
        .is_some_and(|(sha, date)| {
            sha.len() == 40
                && sha.bytes().all(|b| b.is_ascii_hexdigit())
                && date == "Mon Sep 17 00:00:00 2001"
        })
}

/// `From <sender> <Www Mmm dd hh:mm:ss yyyy>`: an mbox envelope line.
fn is_mbox_from(line: &str) -> bool {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let Some(rest) = line.strip_prefix("From ") else {
        return false;
    };
    let w: Vec<&str> = rest.split_whitespace().collect();
    w.len() >= 6
        && DAYS.contains(&w[1])
        && MONTHS.contains(&w[2])
        && w[3].parse::<u8>().is_ok()
        && w[4].split(':').count() >= 2
        && w[4]
            .split(':')
            .all(|p| p.len() == 2 && p.parse::<u8>().is_ok())
        && w[5].len() == 4
        && w[5].parse::<u16>().is_ok()
}

/// `git format-patch --stdout A..B` in `repo`.
pub fn git_range(repo: &Path, range: &str) -> Result<Vec<Incoming>> {
    if range.starts_with('-') || !range.contains("..") {
        return Err(usage(format!(
            "--git-range {range:?}: give a range A..B (e.g. v6.1..my-branch)"
        )));
    }
    let out = ka_core::git::command()
        .arg("-C")
        .arg(repo)
        .args([
            "format-patch",
            "--stdout",
            "--no-color",
            "--no-signature",
            range,
            "--",
        ])
        .output()
        .map_err(|e| usage(format!("cannot run git: {e}; install git")))?;
    if !out.status.success() {
        return Err(usage(format!(
            "git format-patch {range} in {}: {}",
            repo.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    if out.stdout.is_empty() {
        return Err(negative(format!(
            "--git-range {range} in {} holds no commits",
            repo.display()
        )));
    }
    let mut v = Vec::new();
    split_into(
        &out.stdout,
        &format!("{}@{range}", repo.display()),
        "patch",
        &mut v,
    )?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_in_a_message_is_not_a_split() {
        let mbox = b"From 1111111111111111111111111111111111111111 Mon Sep 17 00:00:00 2001\nSubject: [PATCH 1/2] one\n\nFrom here on it works.\n>From an escaped line\n\nFrom the manual: x\n---\n--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n\nFrom 2222222222222222222222222222222222222222 Mon Sep 17 00:00:00 2001\nSubject: [PATCH 2/2] two\n\n---\n--- a/g\n+++ b/g\n@@ -1 +1 @@\n-a\n+b\n";
        let mut v = Vec::new();
        split_into(mbox, "m", "m", &mut v).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[1].line, 15);
        assert_eq!(v[0].subject().as_deref(), Some("one"));
        assert_eq!(v[0].slug(), "one");
        let joined: Vec<u8> = v.iter().flat_map(|p| p.bytes.clone()).collect();
        assert_eq!(joined, mbox);
    }

    #[test]
    fn mboxrd_envelope_lines_split() {
        let mbox = b"From a@b Thu Jan  4 10:00:00 2024\nSubject: x\n\nbody\n\nFrom b@c Fri Jan  5 10:00:00 2024\nSubject: y\n\nbody\n";
        let mut v = Vec::new();
        split_into(mbox, "m", "m", &mut v).unwrap();
        assert_eq!(v.len(), 2);
    }

    #[test]
    fn slugs() {
        let p = Incoming {
            source: "s".into(),
            line: 1,
            bytes: b"Subject: [PATCH v2 3/7] arm64: dts: rockchip: add the\n thing (again)!\n\n"
                .to_vec(),
            stem: "x".into(),
        };
        assert_eq!(p.slug(), "arm64-dts-rockchip-add-the-thing-again");
        let q = Incoming {
            source: "s".into(),
            line: 1,
            bytes: b"--- a/f\n".to_vec(),
            stem: "0003-fix-it".into(),
        };
        assert_eq!(q.slug(), "fix-it");
    }
}
