//! Hunk headers moved to where the hunks were found.
//!
//! A patch made against another point release applies to the pinned baseline
//! at an offset. `ka-concat` writes the cumulative with every hunk header
//! saying where `ka-check` placed the hunk, so the build host's `patch -F0`
//! finds each hunk exactly where the check did and never searches: what was
//! checked is what is applied, whatever release the patch was made against.
//! Only the line numbers of `@@ -a,b +c,d @@` change; every other byte stays.

use crate::parse::{body_start, lines};
use std::borrow::Cow;

/// Why a checked patch's hunk headers could not be moved to where the check
/// placed them (the check and the patch disagree: promote again).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelocateError {
    #[error("the patch has {headers} hunk headers but the check placed {placed} hunks")]
    HunkCount { headers: usize, placed: usize },
    #[error("hunk header {0:?} is not UTF-8")]
    NotUtf8(String),
    #[error("malformed hunk header {0:?}")]
    Malformed(String),
    #[error("hunk header {header:?} moved by {offset} lines starts before the file")]
    BeforeFile { header: String, offset: i64 },
}

/// `bytes` with the `n`-th hunk header moved by `offsets[n]` lines (old and
/// new start alike), in patch order across all file diffs. `Err` when the
/// patch's hunk headers do not match `offsets` one to one.
pub fn relocate_hunks<'a>(
    bytes: &'a [u8],
    offsets: &[i64],
) -> Result<Cow<'a, [u8]>, RelocateError> {
    let start = body_start(bytes);
    // Inside a diff a line starting with "@@ -" is always a hunk header:
    // hunk lines start with ' ', '+', '-' or '\', base85 lines with a letter.
    let headers = lines(&bytes[start..])
        .scan(start, |at, line| {
            let here = *at;
            *at += line.len();
            Some((here, line))
        })
        .filter(|(_, line)| line.starts_with(b"@@ -"))
        .collect::<Vec<_>>();
    if headers.len() != offsets.len() {
        return Err(RelocateError::HunkCount {
            headers: headers.len(),
            placed: offsets.len(),
        });
    }
    if offsets.iter().all(|&o| o == 0) {
        return Ok(Cow::Borrowed(bytes));
    }
    let mut out = Vec::with_capacity(bytes.len() + 16 * headers.len());
    let mut copied = 0;
    for (&(at, line), &offset) in headers.iter().zip(offsets) {
        out.extend_from_slice(&bytes[copied..at]);
        out.extend_from_slice(&moved_header(line, offset)?);
        copied = at + line.len();
    }
    out.extend_from_slice(&bytes[copied..]);
    Ok(Cow::Owned(out))
}

/// `@@ -a[,b] +c[,d] @@rest` with `a` and `c` moved by `offset`.
fn moved_header(line: &[u8], offset: i64) -> Result<Vec<u8>, RelocateError> {
    let shown = || String::from_utf8_lossy(line).trim_end().to_string();
    let text = std::str::from_utf8(line).map_err(|_| RelocateError::NotUtf8(shown()))?;
    let malformed = || RelocateError::Malformed(shown());
    let rest = &text["@@ -".len()..];
    let (old, rest) = rest.split_once(" +").ok_or_else(malformed)?;
    let (new, tail) = rest.split_once(" @@").ok_or_else(malformed)?;
    let moved = |range: &str| -> Result<String, RelocateError> {
        let (start, len) = match range.split_once(',') {
            Some((s, l)) => (s, Some(l)),
            None => (range, None),
        };
        let start: i64 = start.parse().map_err(|_| malformed())?;
        let start = start + offset;
        if start < 0 {
            return Err(RelocateError::BeforeFile {
                header: shown(),
                offset,
            });
        }
        Ok(match len {
            Some(l) => format!("{start},{l}"),
            None => start.to_string(),
        })
    };
    Ok(format!("@@ -{} +{} @@{tail}", moved(old)?, moved(new)?).into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ApplyOptions, MemTree, Overlay, apply_patch};

    // Each line written out: a `\` line continuation would eat the leading
    // space of context lines.
    const MAIL: &[u8] = concat!(
        "From 1111111111111111111111111111111111111111 Mon Sep 17 00:00:00 2001\n",
        "Subject: [PATCH] two files\n",
        "\n",
        "@@ -1 +1 @@ in a commit message is text, not a hunk\n",
        "---\n",
        "diff --git a/f b/f\n",
        "--- a/f\n",
        "+++ b/f\n",
        "@@ -2,3 +2,3 @@ fn f()\n",
        " b\n",
        "-c\n",
        "+C\n",
        " d\n",
        "@@ -8 +8,2 @@\n",
        " h\n",
        "+i\n",
        "diff --git a/g b/g\n",
        "--- a/g\n",
        "+++ b/g\n",
        "@@ -1,2 +1,2 @@\n",
        "-x\n",
        "+X\n",
        " y\n",
    )
    .as_bytes();

    #[test]
    fn moves_only_the_line_numbers_and_keeps_every_other_byte() {
        let out = relocate_hunks(MAIL, &[3, -1, 0]).unwrap();
        let text = String::from_utf8(out.into_owned()).unwrap();
        assert!(text.contains("\n@@ -5,3 +5,3 @@ fn f()\n"), "{text}");
        assert!(text.contains("\n@@ -7 +7,2 @@\n"), "{text}");
        assert!(text.contains("\n@@ -1,2 +1,2 @@\n-x\n"), "{text}");
        assert!(text.contains("\n@@ -1 +1 @@ in a commit message"), "{text}");
        assert_eq!(text.len(), MAIL.len());
    }

    #[test]
    fn no_offsets_borrow_the_bytes() {
        assert!(matches!(
            relocate_hunks(MAIL, &[0, 0, 0]),
            Ok(Cow::Borrowed(_))
        ));
    }

    #[test]
    fn a_count_that_disagrees_is_refused() {
        let e = relocate_hunks(MAIL, &[1, 2]).unwrap_err();
        assert_eq!(
            e,
            RelocateError::HunkCount {
                headers: 3,
                placed: 2
            }
        );
        assert!(
            e.to_string()
                .contains("3 hunk headers but the check placed 2"),
            "{e}"
        );
        assert!(
            relocate_hunks(MAIL, &[0, -9, 0])
                .unwrap_err()
                .to_string()
                .contains("before the file")
        );
    }

    #[test]
    fn the_relocated_patch_applies_with_no_offset() {
        // the file as another release has it: three lines more on top
        let f = b"new1\nnew2\nnew3\na\nb\nc\nd\ne\nf\ng\nh\n".to_vec();
        let g = b"x\ny\n".to_vec();
        let offsets = |patch: &[u8]| {
            let mut base = MemTree::new([("f", f.clone()), ("g", g.clone())]);
            let mut tree = Overlay::new(&mut base);
            let outcome = apply_patch(&mut tree, patch, &ApplyOptions::default()).unwrap();
            assert!(outcome.verdict.applies(), "{:?}", outcome.reason);
            outcome
                .files
                .iter()
                .flat_map(|f| f.hunks.iter().map(|h| h.offset))
                .collect::<Vec<_>>()
        };
        let found = offsets(MAIL);
        assert_eq!(found, [3, 3, 0]);
        let moved = relocate_hunks(MAIL, &found).unwrap();
        assert_eq!(offsets(&moved), [0, 0, 0]);
    }
}
