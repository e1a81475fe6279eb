//! From patch bytes to a list of file diffs: strip the mail around it, parse
//! with diffy, check nothing was lost, strip the path prefixes.

use crate::hunk::Hunk;
use diffy::binary::BinaryPatch;
use diffy::patch_set::{FileMode, FileOperation, ParseOptions, PatchKind, PatchSet};

/// What a file diff does, with paths relative to the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// `original` and `modified` differ only in traditional diffs
    /// (`--- old.txt` / `+++ new.txt`); then the one that exists is patched.
    Modify {
        original: String,
        modified: String,
    },
    Create(String),
    Delete(String),
    Rename {
        from: String,
        to: String,
    },
    Copy {
        from: String,
        to: String,
    },
}

#[derive(Debug, Clone)]
pub(crate) enum Body<'a> {
    Text(Vec<Hunk>),
    Binary(BinaryPatch<'a>),
    /// `Binary files a/x and b/x differ`: git left the data out.
    BinaryWithoutData,
}

#[derive(Debug, Clone)]
pub(crate) struct FileDiff<'a> {
    pub target: Target,
    pub body: Body<'a>,
    /// A plain (non-git) diff: creation and deletion are inferred from the
    /// hunks, as `git apply` and GNU patch do for `diff -ruN` output.
    pub traditional: bool,
    /// Blob ids from the `index <old>..<new>` line (git diffs only).
    pub old_id: Option<String>,
    pub new_id: Option<String>,
    /// Applying the reverse (already-applied test).
    pub reversed: bool,
    /// The modes before and after (git diffs only): from `old mode`/`new
    /// mode`, `new file mode`/`deleted file mode`, or the mode that ends an
    /// `index <old>..<new> <mode>` line when it does not change.
    pub old_mode: Option<FileMode>,
    pub new_mode: Option<FileMode>,
    /// The 1-based line of the patch file where this file diff starts (its
    /// `diff --git` line, or the `--- ` line of a plain diff).
    pub line: usize,
}

impl FileDiff<'_> {
    pub fn reversed(&self) -> Self {
        let target = match &self.target {
            Target::Modify { original, modified } => Target::Modify {
                original: modified.clone(),
                modified: original.clone(),
            },
            Target::Create(p) => Target::Delete(p.clone()),
            Target::Delete(p) => Target::Create(p.clone()),
            Target::Rename { from, to } => Target::Rename {
                from: to.clone(),
                to: from.clone(),
            },
            // Undoing a copy deletes the copy.
            Target::Copy { to, .. } => Target::Delete(to.clone()),
        };
        let body = match &self.body {
            Body::Text(hunks) => Body::Text(hunks.iter().map(Hunk::reversed).collect()),
            other => other.clone(),
        };
        FileDiff {
            target,
            body,
            traditional: self.traditional,
            old_id: self.new_id.clone(),
            new_id: self.old_id.clone(),
            reversed: !self.reversed,
            old_mode: self.new_mode,
            new_mode: self.old_mode,
            line: self.line,
        }
    }
}

/// Why a patch file cannot be used: a verdict on the patch (it fails), not a
/// failure to read anything.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    #[error("not a diff: the patch is empty")]
    Empty,
    #[error("not a diff: no `diff --git` or `---`/`+++` file header found")]
    NoHeader,
    /// The diff parser's own words.
    #[error("malformed patch: {0}")]
    Malformed(String),
    #[error("not a diff: no file header found")]
    NoFiles,
    #[error(
        "the patch has {headers} `---`/`+++` file headers but only {parsed} parsed as \
         file diffs (plain diffs mixed with `diff --git` ones?); refusing to drop files"
    )]
    DroppedFiles { headers: usize, parsed: usize },
    #[error("cannot strip the a/ b/ prefix from path {0:?}")]
    NoPrefix(String),
    #[error("path is not UTF-8: {0}")]
    NotUtf8(String),
    #[error("refusing path {0:?}: empty, absolute or with `..`")]
    UnsafePath(String),
}

/// Parse one patch file. `Err` carries the reason the patch cannot be used.
pub(crate) fn parse_patch(bytes: &[u8]) -> Result<Vec<FileDiff<'_>>, PatchError> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(PatchError::Empty);
    }
    let diff_part = strip_mail(bytes);
    let body = strip_signature(diff_part);
    let git = has_line_starting(body, b"diff --git ");
    let opts = if git {
        ParseOptions::gitdiff()
    } else {
        ParseOptions::unidiff()
    };
    let mut files = Vec::new();
    for parsed in PatchSet::parse_bytes(body, opts) {
        match parsed {
            Ok(f) => files.push(f),
            Err(e) if files.is_empty() && e.to_string().contains("no valid patches found") => {
                return Err(PatchError::NoHeader);
            }
            Err(e) => return Err(PatchError::Malformed(e.to_string())),
        }
    }
    if files.is_empty() {
        return Err(PatchError::NoFiles);
    }

    // Every `---`/`+++`/`@@` header must have become a file diff with hunks:
    // the git parser skips plain diffs mixed into git output.
    let header_lines = file_header_lines(body);
    let headers = header_lines.len();
    let with_hunks = files
        .iter()
        .filter(|f| matches!(f.patch(), PatchKind::Text(p) if !p.hunks().is_empty()))
        .count();
    if headers != with_hunks {
        return Err(PatchError::DroppedFiles {
            headers,
            parsed: with_hunks,
        });
    }

    // Lines of the patch file before the diff (the mail around it).
    let body_line = 1 + bytes[..bytes.len() - diff_part.len()]
        .iter()
        .filter(|&&b| b == b'\n')
        .count();
    let git_headers = if git { git_headers(body) } else { Vec::new() };
    let mut diffs = Vec::with_capacity(files.len());
    for (i, file) in files.into_iter().enumerate() {
        let header = git_headers.get(i).cloned().unwrap_or_default();
        let line = if git {
            header.line
        } else {
            header_lines.get(i).copied().unwrap_or(0)
        };
        let target = target_of(file.operation(), git)?;
        let old_mode = file.old_mode().copied().or(header.mode);
        let new_mode = file.new_mode().copied().or(header.mode);
        let body = match file.into_patch() {
            PatchKind::Text(p) => Body::Text(p.hunks().iter().map(Hunk::from_diffy).collect()),
            PatchKind::Binary(BinaryPatch::Marker) => Body::BinaryWithoutData,
            PatchKind::Binary(b) => Body::Binary(b),
        };
        diffs.push(FileDiff {
            target,
            body,
            traditional: !git,
            old_id: header.old_id,
            new_id: header.new_id,
            reversed: false,
            old_mode,
            new_mode,
            line: body_line + line,
        });
    }
    Ok(diffs)
}

fn target_of(op: &FileOperation<'_, [u8]>, git: bool) -> Result<Target, PatchError> {
    // Paths on `---`/`+++` and `diff --git` lines carry a prefix (`a/`, `b/`,
    // or a quilt tree name); `rename from`/`copy from` lines carry none.
    let prefixed = |p: &[u8]| -> Result<String, PatchError> {
        let p = path_str(p)?;
        match p.split_once('/') {
            Some((_, rest)) if !rest.is_empty() => Ok(rest.to_string()),
            // `--- old.txt`: no prefix to strip (git keeps such names too).
            _ if !git => Ok(p),
            _ => Err(PatchError::NoPrefix(p)),
        }
    };
    Ok(match op {
        FileOperation::Modify { original, modified } => Target::Modify {
            original: prefixed(original)?,
            modified: prefixed(modified)?,
        },
        FileOperation::Create(p) => Target::Create(prefixed(p)?),
        FileOperation::Delete(p) => Target::Delete(prefixed(p)?),
        FileOperation::Rename { from, to } => Target::Rename {
            from: path_str(from)?,
            to: path_str(to)?,
        },
        FileOperation::Copy { from, to } => Target::Copy {
            from: path_str(from)?,
            to: path_str(to)?,
        },
    })
}

fn path_str(p: &[u8]) -> Result<String, PatchError> {
    let s = String::from_utf8(p.to_vec())
        .map_err(|_| PatchError::NotUtf8(String::from_utf8_lossy(p).into_owned()))?;
    if s.is_empty() || s.starts_with('/') || s.split('/').any(|c| c == "..") {
        return Err(PatchError::UnsafePath(s));
    }
    Ok(s)
}

pub(crate) fn lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes.split_inclusive(|&b| b == b'\n')
}

fn has_line_starting(bytes: &[u8], prefix: &[u8]) -> bool {
    lines(bytes).any(|l| l.starts_with(prefix))
}

/// Strip the mail around a patch as `git am` does: the message ends at the
/// first `---` line. diffy does this only for mbox input (`From <sha> ...`);
/// this also covers a plain mail starting with headers (`From: `, `Subject: `).
/// Where the diff starts in `bytes`: after the mail around it, if any.
pub(crate) fn body_start(bytes: &[u8]) -> usize {
    bytes.len() - strip_mail(bytes).len()
}

fn strip_mail(bytes: &[u8]) -> &[u8] {
    let Some(first) = lines(bytes).next() else {
        return bytes;
    };
    if !(first.starts_with(b"From ") || is_mail_header(first)) {
        return bytes;
    }
    let mut offset = 0;
    for line in lines(bytes) {
        offset += line.len();
        if line == b"---\n" || line == b"---\r\n" || line == b"---" {
            return &bytes[offset..];
        }
    }
    bytes
}

/// Cut the `-- \n<version>` signature `git format-patch` ends a mail with,
/// when it follows a `\ No newline at end of file` line: diffy then takes
/// the `-- ` line for a deleted line that cannot come after the marker and
/// refuses the patch, though git applies it (a link's target, one line
/// without a newline, always ends so). Elsewhere diffy skips the signature
/// as text after the last hunk.
fn strip_signature(body: &[u8]) -> &[u8] {
    let all: Vec<&[u8]> = lines(body).collect();
    let Some(at) = all
        .iter()
        .rposition(|l| matches!(*l, b"-- \n" | b"-- \r\n" | b"-- "))
    else {
        return body;
    };
    let after_marker = at > 0 && all[at - 1].starts_with(b"\\ ");
    let only_text_after = all[at + 1..]
        .iter()
        .all(|l| !l.starts_with(b"@@") && !l.starts_with(b"diff ") && !l.starts_with(b"--- "));
    if after_marker && only_text_after {
        let cut: usize = all[..at].iter().map(|l| l.len()).sum();
        &body[..cut]
    } else {
        body
    }
}

/// `Name: value` with an RFC 5322 field name; quilt's `Index: path` is not mail.
fn is_mail_header(line: &[u8]) -> bool {
    let Some(colon) = line.iter().position(|&b| b == b':') else {
        return false;
    };
    let name = &line[..colon];
    !name.is_empty()
        && name != b"Index"
        && name[0].is_ascii_alphabetic()
        && name.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        && line.get(colon + 1) == Some(&b' ')
}

/// File headers of text diffs: a `--- ` line, a `+++ ` line, then a hunk.
/// Their 0-based line numbers in `bytes`.
fn file_header_lines(bytes: &[u8]) -> Vec<usize> {
    let all: Vec<&[u8]> = lines(bytes).collect();
    all.windows(3)
        .enumerate()
        .filter(|(_, w)| {
            w[0].starts_with(b"--- ") && w[1].starts_with(b"+++ ") && w[2].starts_with(b"@@ ")
        })
        .map(|(i, _)| i)
        .collect()
}

/// What one `diff --git` header says beyond what diffy returns.
#[derive(Debug, Clone, Default)]
struct GitHeader {
    /// 0-based line of the `diff --git` line.
    line: usize,
    /// The blob ids of the `index <old>..<new>` line.
    old_id: Option<String>,
    new_id: Option<String>,
    /// The unchanged mode that may end the `index` line (`... 120000`).
    mode: Option<FileMode>,
}

/// For each `diff --git` block in order, its line and its `index` line.
fn git_headers(bytes: &[u8]) -> Vec<GitHeader> {
    let mut blocks: Vec<GitHeader> = Vec::new();
    let mut in_header = false;
    for (n, line) in lines(bytes).enumerate() {
        if line.starts_with(b"diff --git ") {
            blocks.push(GitHeader {
                line: n,
                ..GitHeader::default()
            });
            in_header = true;
        } else if in_header && line.starts_with(b"index ") {
            let text = String::from_utf8_lossy(&line[6..]);
            let mut words = text.split_whitespace();
            let ids = words.next().unwrap_or("");
            let last = blocks.last_mut().expect("inside a block");
            if let Some((old, new)) = ids.split_once("..") {
                last.old_id = Some(old.to_string());
                last.new_id = Some(new.to_string());
            }
            last.mode = words.next().and_then(|m| m.parse().ok());
        } else if line.starts_with(b"--- ")
            || line.starts_with(b"@@ ")
            || line.starts_with(b"GIT binary patch")
            || line.starts_with(b"Binary files ")
        {
            in_header = false;
        }
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_mail_preamble_is_stripped() {
        let mail = b"From: A <a@b>\nSubject: x\n\nmessage\n--- not a header\n---\n f | 1 +\n\n--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n";
        let diffs = parse_patch(mail).unwrap();
        assert_eq!(diffs.len(), 1);
        assert_eq!(
            diffs[0].target,
            Target::Modify {
                original: "f".into(),
                modified: "f".into()
            }
        );
    }

    #[test]
    fn quilt_index_lines_and_tree_prefix() {
        let p = b"Index: linux-6.1/drivers/x.c\n===================================================================\n--- linux-6.1.orig/drivers/x.c\n+++ linux-6.1/drivers/x.c\n@@ -1 +1 @@\n-a\n+b\n";
        let diffs = parse_patch(p).unwrap();
        assert_eq!(
            diffs[0].target,
            Target::Modify {
                original: "drivers/x.c".into(),
                modified: "drivers/x.c".into()
            }
        );
    }

    #[test]
    fn mixed_git_and_plain_diffs_are_refused() {
        let p = b"diff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n--- a/g\n+++ b/g\n@@ -1 +1 @@\n-a\n+b\n";
        let err = parse_patch(p).unwrap_err();
        assert_eq!(
            err,
            PatchError::DroppedFiles {
                headers: 2,
                parsed: 1
            }
        );
        assert!(
            err.to_string().contains("2 `---`/`+++` file headers"),
            "{err}"
        );
    }

    #[test]
    fn empty_and_prose_are_not_diffs() {
        assert_eq!(parse_patch(b"").unwrap_err(), PatchError::Empty);
        assert!(parse_patch(b"").unwrap_err().to_string().contains("empty"));
        assert!(
            parse_patch(b"hello\nworld\n")
                .unwrap_err()
                .to_string()
                .contains("not a diff")
        );
    }

    #[test]
    fn a_signature_after_a_no_newline_marker_is_not_a_deleted_line() {
        let p = b"diff --git a/l b/l\nindex c5efc95..6149f7d 120000\n--- a/l\n+++ b/l\n@@ -1 +1 @@\n-../x\n\\ No newline at end of file\n+y\n\\ No newline at end of file\n-- \n2.47.3\n\n";
        let diffs = parse_patch(p).unwrap();
        assert_eq!(diffs.len(), 1);
        assert_eq!(diffs[0].new_mode, Some(FileMode::Symlink));
    }

    #[test]
    fn rename_paths_have_no_prefix() {
        let p = b"diff --git a/d/old.h b/d/new.h\nsimilarity index 100%\nrename from d/old.h\nrename to d/new.h\n";
        let diffs = parse_patch(p).unwrap();
        assert_eq!(
            diffs[0].target,
            Target::Rename {
                from: "d/old.h".into(),
                to: "d/new.h".into()
            }
        );
    }
}
