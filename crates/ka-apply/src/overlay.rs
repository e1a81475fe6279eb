//! The tree as the earlier patches left it: a base tree plus the files they
//! changed, kept in memory. Reads look at the changes first, so a patch can
//! rename or edit a file an earlier patch created.

use crate::ApplyError;
use crate::tree::BaseTree;
use std::collections::BTreeMap;

/// A point to come back to with [`Overlay::rollback`] (the depth-first walk
/// over plans that share a prefix of patches undoes a branch this way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint(usize);

/// One undo step: the path and what the change map held for it before
/// (`None` = no entry, the base tree showed through).
type UndoStep = (String, Option<Option<Vec<u8>>>);

pub struct Overlay<'t> {
    base: &'t mut dyn BaseTree,
    /// path → new content, `None` = deleted.
    changes: BTreeMap<String, Option<Vec<u8>>>,
    undo: Vec<UndoStep>,
}

impl<'t> Overlay<'t> {
    pub fn new(base: &'t mut dyn BaseTree) -> Self {
        Overlay {
            base,
            changes: BTreeMap::new(),
            undo: Vec::new(),
        }
    }

    /// The file's current content, `None` when it does not exist.
    pub fn read(&mut self, path: &str) -> Result<Option<Vec<u8>>, ApplyError> {
        match self.changes.get(path) {
            Some(content) => Ok(content.clone()),
            None => self.base.read(path),
        }
    }

    /// Set a file's content (`None` deletes it).
    pub fn write(&mut self, path: &str, content: Option<Vec<u8>>) {
        let before = self.changes.insert(path.to_string(), content);
        self.undo.push((path.to_string(), before));
    }

    /// The changes made so far, path → content (`None` = deleted).
    pub fn changes(&self) -> &BTreeMap<String, Option<Vec<u8>>> {
        &self.changes
    }

    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint(self.undo.len())
    }

    /// Undo every write made since `checkpoint`.
    pub fn rollback(&mut self, checkpoint: Checkpoint) {
        while self.undo.len() > checkpoint.0 {
            let (path, before) = self.undo.pop().expect("undo step");
            match before {
                Some(content) => {
                    self.changes.insert(path, content);
                }
                None => {
                    self.changes.remove(&path);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemTree;

    #[test]
    fn reads_prefer_changes_and_rollback_restores() {
        let mut base = MemTree::new([("a", "base\n")]);
        let mut o = Overlay::new(&mut base);
        let cp = o.checkpoint();
        o.write("a", Some(b"one\n".to_vec()));
        o.write("b", Some(b"new\n".to_vec()));
        let mid = o.checkpoint();
        o.write("a", None);
        assert_eq!(o.read("a").unwrap(), None);
        o.rollback(mid);
        assert_eq!(o.read("a").unwrap().unwrap(), b"one\n");
        o.rollback(cp);
        assert_eq!(o.read("a").unwrap().unwrap(), b"base\n");
        assert_eq!(o.read("b").unwrap(), None);
        assert!(o.changes().is_empty());
    }
}
