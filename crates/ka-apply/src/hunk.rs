//! Our own view of a text hunk: diffy parses, we place. Lines keep their
//! terminating `\n` (absent on a line marked `\ No newline at end of file`),
//! so comparing lines byte for byte also compares the final newline. Lines are
//! copied out of diffy's hunks: diffy only lends them for as long as its
//! `Patch` lives, and patch text is small.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineKind {
    Context,
    Delete,
    Insert,
}

#[derive(Debug, Clone)]
pub(crate) struct Hunk {
    pub old_start: usize,
    pub old_len: usize,
    pub new_start: usize,
    pub new_len: usize,
    pub lines: Vec<(LineKind, Vec<u8>)>,
}

impl Hunk {
    pub fn from_diffy(h: &diffy::Hunk<'_, [u8]>) -> Self {
        let lines = h
            .lines()
            .iter()
            .map(|l| match *l {
                diffy::Line::Context(s) => (LineKind::Context, s.to_vec()),
                diffy::Line::Delete(s) => (LineKind::Delete, s.to_vec()),
                diffy::Line::Insert(s) => (LineKind::Insert, s.to_vec()),
            })
            .collect();
        Hunk {
            old_start: h.old_range().start(),
            old_len: h.old_range().len(),
            new_start: h.new_range().start(),
            new_len: h.new_range().len(),
            lines,
        }
    }

    /// The same hunk undoing the change (for the already-applied test).
    pub fn reversed(&self) -> Self {
        let lines = self
            .lines
            .iter()
            .map(|(k, s)| {
                let k = match k {
                    LineKind::Context => LineKind::Context,
                    LineKind::Delete => LineKind::Insert,
                    LineKind::Insert => LineKind::Delete,
                };
                (k, s.clone())
            })
            .collect();
        Hunk {
            old_start: self.new_start,
            old_len: self.new_len,
            new_start: self.old_start,
            new_len: self.old_len,
            lines,
        }
    }

    /// Context lines before the first change.
    pub fn leading(&self) -> usize {
        self.lines
            .iter()
            .take_while(|(k, _)| *k == LineKind::Context)
            .count()
    }

    /// Context lines after the last change.
    pub fn trailing(&self) -> usize {
        if self.lines.iter().all(|(k, _)| *k == LineKind::Context) {
            return 0;
        }
        self.lines
            .iter()
            .rev()
            .take_while(|(k, _)| *k == LineKind::Context)
            .count()
    }

    /// The lines the hunk expects (context and deleted), with `front` and
    /// `back` context lines dropped (fuzz).
    pub fn preimage(&self, front: usize, back: usize) -> Vec<&[u8]> {
        self.side(front, back, LineKind::Delete)
    }

    /// The lines the hunk leaves (context and inserted).
    pub fn postimage(&self, front: usize, back: usize) -> Vec<&[u8]> {
        self.side(front, back, LineKind::Insert)
    }

    fn side(&self, front: usize, back: usize, changed: LineKind) -> Vec<&[u8]> {
        let end = self.lines.len() - back;
        self.lines[front..end]
            .iter()
            .filter(|(k, _)| *k == LineKind::Context || *k == changed)
            .map(|(_, s)| s.as_slice())
            .collect()
    }
}

/// Split content into lines, each keeping its `\n`; a last line without one
/// is kept as is.
pub(crate) fn split_lines(content: &[u8]) -> Vec<&[u8]> {
    content.split_inclusive(|&b| b == b'\n').collect()
}
