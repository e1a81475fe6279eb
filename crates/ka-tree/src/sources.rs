//! What `ka-import` accepts, split into single patches with their bytes kept.
//!
//! - a file: one patch (a `git format-patch` mail, a DEP-3 headed patch, a
//!   plain or `git diff`), or an mbox of several mails;
//! - a folder: its `*.patch` and `*.diff` files in name order (or in the order
//!   of a quilt `series` file, when the folder has one);
//! - `--git-range A..B --git-repo PATH`: `git format-patch --stdout A..B`.
//!
//! How a file is split into mails is the `mbox` module's (below).

use ka_core::error::{Error, Result, negative, usage};
use std::fs;
use std::path::{Path, PathBuf};

mod mbox;

pub use mbox::split_into;

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
        let mut s = self.full_subject()?;
        while s.starts_with('[') {
            match s.find(']') {
                Some(end) => s = s[end + 1..].trim_start().to_string(),
                None => break,
            }
        }
        (!s.is_empty()).then_some(s)
    }

    /// A cover letter: its subject's `[...]` prefix numbers it 0 of N
    /// (`[PATCH 0/3]`, `[PATCH v2 00/12]`, `[RFC PATCH net-next 0/2]`).
    pub fn is_cover_letter(&self) -> bool {
        let Some(s) = self.full_subject() else {
            return false;
        };
        let Some(prefix) = s.strip_prefix('[').and_then(|r| r.split_once(']')) else {
            return false;
        };
        prefix.0.split_whitespace().any(|word| {
            word.split_once('/').is_some_and(|(n, of)| {
                !n.is_empty()
                    && n.bytes().all(|b| b == b'0')
                    && !of.is_empty()
                    && of.bytes().all(|b| b.is_ascii_digit())
            })
        })
    }

    /// The subject as written, `[PATCH ...]` prefixes included.
    fn full_subject(&self) -> Option<String> {
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
        found.or(description)
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
    fn cover_letters_are_numbered_zero() {
        let mail = |subject: &str| Incoming {
            source: "s".into(),
            line: 1,
            bytes: format!("From x Mon Sep 17 00:00:00 2001\nSubject: {subject}\n\ntext\n")
                .into_bytes(),
            stem: "x".into(),
        };
        for cover in [
            "[PATCH 0/3] wifi: fixes",
            "[PATCH v2 00/12] arm64: dts",
            "[RFC PATCH net-next 0/2] x",
        ] {
            assert!(mail(cover).is_cover_letter(), "{cover}");
        }
        for patch in [
            "[PATCH 1/3] wifi",
            "[PATCH] 0/3 of the work",
            "no prefix 0/3",
            "[PATCH 0/] x",
        ] {
            assert!(!mail(patch).is_cover_letter(), "{patch}");
        }
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
