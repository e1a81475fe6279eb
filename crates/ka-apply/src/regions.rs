//! Which lines earlier patches changed, kept in step with later edits, so a
//! caller can tell when two patches touch the same lines of a file.

use std::collections::BTreeMap;

/// Lines `first..=last`, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineSpan {
    pub first: usize,
    pub last: usize,
}

impl LineSpan {
    pub fn overlaps(&self, other: &LineSpan) -> bool {
        self.first <= other.last && other.first <= self.last
    }
}

/// One hunk's changed block: from its first to its last added or removed line.
/// `old_*` count lines of the file before the patch, `new_*` after it; a
/// length of 0 means a pure insertion (or deletion) before line `*_start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    pub old_start: usize,
    pub old_len: usize,
    pub new_start: usize,
    pub new_len: usize,
}

impl Change {
    /// The lines of the file before the patch that the change touches. A pure
    /// insertion touches the two lines around it.
    pub fn old_span(&self) -> LineSpan {
        span(self.old_start, self.old_len)
    }

    /// The lines the change left (a pure deletion: the two lines around it).
    pub fn new_span(&self) -> LineSpan {
        span(self.new_start, self.new_len)
    }
}

fn span(start: usize, len: usize) -> LineSpan {
    if len == 0 {
        LineSpan {
            first: start.saturating_sub(1).max(1),
            last: start.max(1),
        }
    } else {
        LineSpan {
            first: start,
            last: start + len - 1,
        }
    }
}

#[derive(Debug, Clone)]
struct Tracked<T> {
    /// Where the lines are now.
    current: LineSpan,
    /// Where they were when the owner's patch left them.
    original: LineSpan,
    owner: T,
}

/// Changed spans per file, each with its owner (e.g. the patch that made it).
#[derive(Debug, Clone)]
pub struct Regions<T> {
    files: BTreeMap<String, Vec<Tracked<T>>>,
    /// Undo log: a file's spans as they were before each change, so a walk
    /// over many plans can return to an earlier state without copying all
    /// spans at every step.
    journal: Vec<(String, Option<Vec<Tracked<T>>>)>,
}

/// A point in the regions' history to roll back to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegionsCheckpoint(usize);

impl<T> Default for Regions<T> {
    fn default() -> Self {
        Regions {
            files: BTreeMap::new(),
            journal: Vec::new(),
        }
    }
}

/// A stored span that a new change overlaps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlap<'r, T> {
    pub owner: &'r T,
    /// The stored lines as their owner's patch left them.
    pub original: LineSpan,
    pub change: Change,
}

impl<T: Clone> Regions<T> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Stored spans of `path` that `changes` (in the file's current lines) touch.
    pub fn overlapping(&self, path: &str, changes: &[Change]) -> Vec<Overlap<'_, T>> {
        let Some(tracked) = self.files.get(path) else {
            return Vec::new();
        };
        let mut found = Vec::new();
        for change in changes {
            let touched = change.old_span();
            for t in tracked.iter().filter(|t| t.current.overlaps(&touched)) {
                found.push(Overlap {
                    owner: &t.owner,
                    original: t.original,
                    change: *change,
                });
            }
        }
        found
    }

    /// A patch made `changes` to `path`: shift the stored spans below them and
    /// store the new ones under `owner`. `changes` must be in file order.
    pub fn record(&mut self, path: &str, changes: &[Change], owner: &T) {
        self.save(path);
        let tracked = self.files.entry(path.to_string()).or_default();
        for t in tracked.iter_mut() {
            t.current = LineSpan {
                first: shift(t.current.first, changes, false),
                last: shift(t.current.last, changes, true),
            };
        }
        for change in changes {
            let span = change.new_span();
            tracked.push(Tracked {
                current: span,
                original: span,
                owner: owner.clone(),
            });
        }
    }

    /// The file was renamed: its spans follow it.
    pub fn rename(&mut self, from: &str, to: &str) {
        self.save(from);
        self.save(to);
        if let Some(tracked) = self.files.remove(from) {
            self.files
                .entry(to.to_string())
                .or_default()
                .extend(tracked);
        }
    }

    /// The file was deleted.
    pub fn remove(&mut self, path: &str) {
        self.save(path);
        self.files.remove(path);
    }

    pub fn checkpoint(&self) -> RegionsCheckpoint {
        RegionsCheckpoint(self.journal.len())
    }

    /// Undo every change made since `checkpoint`.
    pub fn rollback(&mut self, checkpoint: RegionsCheckpoint) {
        while self.journal.len() > checkpoint.0 {
            let (path, before) = self.journal.pop().expect("len checked");
            match before {
                Some(spans) => self.files.insert(path, spans),
                None => self.files.remove(&path),
            };
        }
    }

    fn save(&mut self, path: &str) {
        let before = self.files.get(path).cloned();
        self.journal.push((path.to_string(), before));
    }
}

/// Where line `line` of the file before the patch is after it. A line inside
/// a changed block maps to the block's first line (or last, when `end`).
fn shift(line: usize, changes: &[Change], end: bool) -> usize {
    let mut delta: i64 = 0;
    for c in changes {
        if line >= c.old_start + c.old_len {
            delta += c.new_len as i64 - c.old_len as i64;
        } else if line >= c.old_start {
            return if end {
                c.new_start + c.new_len.max(1) - 1
            } else {
                c.new_start
            };
        } else {
            break;
        }
    }
    (line as i64 + delta).max(1) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(old: (usize, usize), new: (usize, usize)) -> Change {
        Change {
            old_start: old.0,
            old_len: old.1,
            new_start: new.0,
            new_len: new.1,
        }
    }

    #[test]
    fn later_insertions_above_shift_stored_spans() {
        let mut r = Regions::new();
        r.record("f", &[change((10, 2), (10, 3))], &"first");
        // Three lines inserted at line 2: the stored span 10..=12 moves to 13..=15.
        r.record("f", &[change((2, 0), (2, 3))], &"second");
        assert!(r.overlapping("f", &[change((12, 1), (12, 1))]).is_empty());
        let hits = r.overlapping("f", &[change((14, 1), (14, 1))]);
        assert_eq!(hits.len(), 1);
        assert_eq!(*hits[0].owner, "first");
        assert_eq!(
            hits[0].original,
            LineSpan {
                first: 10,
                last: 12
            }
        );
    }

    #[test]
    fn rename_moves_and_delete_drops() {
        let mut r = Regions::new();
        r.record("a", &[change((1, 1), (1, 1))], &1);
        r.rename("a", "b");
        assert!(r.overlapping("a", &[change((1, 1), (1, 1))]).is_empty());
        assert_eq!(r.overlapping("b", &[change((1, 1), (1, 1))]).len(), 1);
        r.remove("b");
        assert!(r.overlapping("b", &[change((1, 1), (1, 1))]).is_empty());
    }
}
