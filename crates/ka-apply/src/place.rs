//! Hunk placement, following GNU patch and `git apply` rather than diffy's
//! own apply:
//!
//! - hunks are applied in order to the file as the earlier hunks left it, so
//!   the expected position is the header's *new* start (as git does);
//! - the hunk goes where the header says if its context and deleted lines
//!   match byte for byte; otherwise the search goes outward one line at a
//!   time, forward first on ties;
//! - a hunk never lands above the end of the previous hunk of the file;
//! - uneven context anchors a hunk, with `git apply`'s rule (its
//!   `match_beginning`/`match_end`): a hunk whose old side starts at line 0
//!   or 1 must match at the start of the file, and one without trailing
//!   context must match at its end. GNU patch anchors any uneven context;
//!   git does not (checked in `tests/agree_with_git_apply.rs`), and we follow
//!   git, so a hunk made with short leading context in mid-file still moves;
//! - fuzz (off by default) drops up to N context lines from each end.

use crate::hunk::{Hunk, LineKind, split_lines};
use crate::regions::Change;

/// Where one hunk went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Placed {
    /// 1-based line in the file as it was before this patch.
    pub line: usize,
    /// Lines away from where the header says.
    pub offset: i64,
    pub fuzz: u32,
    /// The lines the hunk changed.
    pub change: Option<Change>,
}

/// The outcome of applying all hunks of one file.
#[derive(Debug, Clone)]
pub(crate) struct TextOutcome {
    /// The new content, when every hunk applied.
    pub content: Option<Vec<u8>>,
    /// Per hunk, in order: where it went, or `None` when it did not apply.
    pub hunks: Vec<Option<Placed>>,
}

pub(crate) fn apply_hunks(content: &[u8], hunks: &[Hunk], max_fuzz: u32) -> TextOutcome {
    let mut image: Vec<&[u8]> = split_lines(content);
    let mut results = Vec::with_capacity(hunks.len());
    // Lines added minus lines removed by the hunks applied so far: converts
    // positions in the partly patched image back to the original file.
    let mut delta: i64 = 0;
    // No hunk may start above the end of the previous one.
    let mut floor = 0usize;
    let mut all_applied = true;
    for hunk in hunks {
        match find_hunk(&image, hunk, floor, max_fuzz) {
            Some(found) => {
                let pre = hunk.preimage(found.front, found.back);
                let post = hunk.postimage(found.front, found.back);
                let change = changed_block(hunk, found.front, found.back).map(|b| Change {
                    old_start: (found.pos as i64 - delta) as usize + b.before + 1,
                    old_len: b.old_len,
                    new_start: found.pos + b.before + 1,
                    new_len: b.new_len,
                });
                results.push(Some(Placed {
                    line: (found.pos as i64 - delta) as usize + 1,
                    offset: found.pos as i64 - found.expected as i64,
                    fuzz: found.fuzz,
                    change,
                }));
                floor = found.pos + post.len();
                delta += post.len() as i64 - pre.len() as i64;
                image.splice(found.pos..found.pos + pre.len(), post);
            }
            None => {
                all_applied = false;
                results.push(None);
            }
        }
    }
    TextOutcome {
        content: all_applied.then(|| image.concat()),
        hunks: results,
    }
}

struct Found {
    /// 0-based position in the partly patched image.
    pos: usize,
    /// Where the header said, in the same image.
    expected: usize,
    fuzz: u32,
    /// Context lines dropped at each end.
    front: usize,
    back: usize,
}

fn find_hunk(image: &[&[u8]], hunk: &Hunk, floor: usize, max_fuzz: u32) -> Option<Found> {
    let leading = hunk.leading();
    let trailing = hunk.trailing();
    let header_pos = if hunk.new_len == 0 {
        // Nothing left of the hunk: the header names the line before it.
        hunk.new_start
    } else {
        hunk.new_start.saturating_sub(1)
    };
    let anchor_start = hunk.old_start <= 1;
    let anchor_end = trailing == 0;
    for fuzz in 0..=max_fuzz {
        let front = leading.min(fuzz as usize);
        let back = trailing.min(fuzz as usize);
        if fuzz > 0 && front == 0 && back == 0 {
            break; // dropping more context is impossible
        }
        let pre = hunk.preimage(front, back);
        let expected = header_pos + front;
        // Dropping context from an end frees that end from its anchor.
        let pos = search(
            image,
            &pre,
            expected,
            floor,
            anchor_start && front == 0,
            anchor_end && back == 0,
        );
        if let Some(pos) = pos {
            return Some(Found {
                pos,
                expected,
                fuzz,
                front,
                back,
            });
        }
        if fuzz as usize >= leading.max(trailing) {
            break;
        }
    }
    None
}

/// The position where `pre` matches: `expected` first, then outward one line
/// at a time, forward before backward; never below `floor`.
fn search(
    image: &[&[u8]],
    pre: &[&[u8]],
    expected: usize,
    floor: usize,
    anchor_start: bool,
    anchor_end: bool,
) -> Option<usize> {
    let last = image.len().checked_sub(pre.len())?;
    let matches = |pos: usize| pos >= floor && pos <= last && image[pos..pos + pre.len()] == *pre;
    if anchor_start || anchor_end {
        let pos = if anchor_start { 0 } else { last };
        let both_ok = !(anchor_start && anchor_end) || pre.len() == image.len();
        return (both_ok && matches(pos)).then_some(pos);
    }
    let mut distance = 0usize;
    loop {
        let forward = expected + distance;
        let backward = expected.checked_sub(distance);
        if forward <= last && matches(forward) {
            return Some(forward);
        }
        if distance > 0
            && let Some(b) = backward.filter(|&b| b >= floor)
            && matches(b)
        {
            return Some(b);
        }
        let backward_done = backward.is_none_or(|b| b <= floor);
        if forward >= last && backward_done {
            return None;
        }
        distance += 1;
    }
}

struct Block {
    /// Preimage lines before the first change.
    before: usize,
    old_len: usize,
    new_len: usize,
}

/// The span from the first to the last changed line of a (trimmed) hunk.
fn changed_block(hunk: &Hunk, front: usize, back: usize) -> Option<Block> {
    let lines = &hunk.lines[front..hunk.lines.len() - back];
    let first = lines.iter().position(|(k, _)| *k != LineKind::Context)?;
    let last = lines.iter().rposition(|(k, _)| *k != LineKind::Context)?;
    let block = &lines[first..=last];
    Some(Block {
        before: first,
        old_len: block.iter().filter(|(k, _)| *k != LineKind::Insert).count(),
        new_len: block.iter().filter(|(k, _)| *k != LineKind::Delete).count(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hunk::LineKind::{Context as C, Delete as D, Insert as I};

    fn hunk(old: (usize, usize), new: (usize, usize), lines: &[(LineKind, &str)]) -> Hunk {
        Hunk {
            old_start: old.0,
            old_len: old.1,
            new_start: new.0,
            new_len: new.1,
            lines: lines
                .iter()
                .map(|&(k, s)| (k, s.as_bytes().to_vec()))
                .collect(),
        }
    }

    fn numbered(n: usize) -> String {
        (1..=n).map(|i| format!("{i}\n")).collect()
    }

    #[test]
    fn clean_at_the_stated_position() {
        let h = hunk(
            (4, 3),
            (4, 3),
            &[(C, "4\n"), (D, "5\n"), (I, "five\n"), (C, "6\n")],
        );
        let out = apply_hunks(numbered(10).as_bytes(), &[h], 0);
        let p = out.hunks[0].clone().unwrap();
        assert_eq!((p.line, p.offset, p.fuzz), (4, 0, 0));
        assert!(
            String::from_utf8(out.content.unwrap())
                .unwrap()
                .contains("4\nfive\n6\n")
        );
        let c = p.change.unwrap();
        assert_eq!(
            (c.old_start, c.old_len, c.new_start, c.new_len),
            (5, 1, 5, 1)
        );
    }

    #[test]
    fn tie_goes_forward() {
        // "x\ny\n" at 0-based lines 0 and 6; the header says 3: both are 3 away.
        let file = "x\ny\na\nb\nc\nd\nx\ny\n";
        let h = hunk((4, 2), (4, 3), &[(C, "x\n"), (I, "new\n"), (C, "y\n")]);
        let p = apply_hunks(file.as_bytes(), &[h], 0).hunks[0]
            .clone()
            .unwrap();
        assert_eq!((p.line, p.offset), (7, 3));
        // Stated at 0-based 2: line 0 is nearer (2 back) than line 6 (4 forward).
        let h = hunk((3, 2), (3, 3), &[(C, "x\n"), (I, "new\n"), (C, "y\n")]);
        let p = apply_hunks(file.as_bytes(), &[h], 0).hunks[0]
            .clone()
            .unwrap();
        assert_eq!((p.line, p.offset), (1, -2));
    }

    #[test]
    fn offset_backward() {
        let h = hunk(
            (7, 4),
            (7, 5),
            &[(C, "3\n"), (C, "4\n"), (I, "x\n"), (C, "5\n"), (C, "6\n")],
        );
        let p = apply_hunks(numbered(10).as_bytes(), &[h], 0).hunks[0]
            .clone()
            .unwrap();
        assert_eq!((p.line, p.offset), (3, -4));
    }

    #[test]
    fn never_above_the_previous_hunk() {
        // Both hunks want "a\nb\n"; the second is stated above the first's end.
        let file = "a\nb\nz\nz\nz\nz\n";
        let h1 = hunk((1, 2), (1, 3), &[(C, "a\n"), (I, "1\n"), (C, "b\n")]);
        let h2 = hunk((3, 2), (4, 3), &[(C, "a\n"), (I, "2\n"), (C, "b\n")]);
        let out = apply_hunks(file.as_bytes(), &[h1, h2], 0);
        assert!(out.hunks[0].is_some());
        assert!(
            out.hunks[1].is_none(),
            "second hunk must not go above the first"
        );
        assert!(out.content.is_none());
    }

    #[test]
    fn uneven_context_anchors_to_the_end() {
        // Trailing context 0 < leading 2: the hunk must match at the end of the file.
        let h = hunk((4, 2), (4, 3), &[(C, "x\n"), (C, "y\n"), (I, "end\n")]);
        let file = "1\nx\ny\n2\n3\n";
        assert!(apply_hunks(file.as_bytes(), std::slice::from_ref(&h), 0).hunks[0].is_none());
        let file = "1\nx\ny\n2\nx\ny\n";
        let p = apply_hunks(file.as_bytes(), &[h], 0).hunks[0]
            .clone()
            .unwrap();
        assert_eq!((p.line, p.offset), (5, 1));
    }

    #[test]
    fn a_hunk_at_line_one_anchors_to_the_start() {
        let h = hunk((1, 2), (1, 3), &[(I, "top\n"), (C, "x\n"), (C, "y\n")]);
        let file = "1\n2\nx\ny\n";
        assert!(apply_hunks(file.as_bytes(), std::slice::from_ref(&h), 0).hunks[0].is_none());
        let file = "x\ny\n1\n";
        let p = apply_hunks(file.as_bytes(), &[h], 0).hunks[0]
            .clone()
            .unwrap();
        assert_eq!(p.line, 1);
        // Short leading context elsewhere does not anchor (git's rule).
        let h = hunk((5, 2), (5, 3), &[(I, "top\n"), (C, "x\n"), (C, "y\n")]);
        let p = apply_hunks(b"1\n2\nx\ny\n", &[h], 0).hunks[0]
            .clone()
            .unwrap();
        assert_eq!((p.line, p.offset), (3, -2));
    }

    #[test]
    fn no_newline_markers_on_both_sides() {
        // "c" without final newline becomes "c\n".
        let h = hunk(
            (1, 3),
            (1, 3),
            &[(C, "a\n"), (C, "b\n"), (D, "c"), (I, "c\n")],
        );
        let out = apply_hunks(b"a\nb\nc", std::slice::from_ref(&h), 0);
        assert_eq!(out.content.unwrap(), b"a\nb\nc\n");
        // The file already ends with a newline: the preimage does not match.
        assert!(
            apply_hunks(b"a\nb\nc\n", std::slice::from_ref(&h), 0)
                .content
                .is_none()
        );
        let back = apply_hunks(b"a\nb\nc\n", &[h.reversed()], 0);
        assert_eq!(back.content.unwrap(), b"a\nb\nc");
    }

    #[test]
    fn crlf_does_not_match_lf() {
        let h = hunk((1, 2), (1, 2), &[(C, "a\n"), (D, "b\n"), (I, "B\n")]);
        assert!(apply_hunks(b"a\r\nb\r\n", &[h], 0).content.is_none());
    }

    #[test]
    fn fuzz_drops_context_when_allowed() {
        let h = hunk(
            (4, 5),
            (4, 5),
            &[
                (C, "4\n"),
                (C, "5\n"),
                (D, "6\n"),
                (I, "six\n"),
                (C, "7\n"),
                (C, "CHANGED\n"),
            ],
        );
        let file = numbered(10);
        assert!(
            apply_hunks(file.as_bytes(), std::slice::from_ref(&h), 0)
                .content
                .is_none()
        );
        let out = apply_hunks(file.as_bytes(), &[h], 1);
        let p = out.hunks[0].clone().unwrap();
        assert_eq!((p.fuzz, p.offset, p.line), (1, 0, 5));
        assert!(
            String::from_utf8(out.content.unwrap())
                .unwrap()
                .contains("5\nsix\n7\n8\n")
        );
    }
}
