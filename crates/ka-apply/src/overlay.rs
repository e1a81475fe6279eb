//! The tree as the earlier patches left it: a base tree plus the files they
//! changed, kept in memory. Reads look at the changes first, so a patch can
//! rename or edit a file an earlier patch created.

use crate::ApplyError;
use crate::symlinks::Links;
use crate::tree::BaseTree;
use std::collections::BTreeMap;

/// A point to come back to with [`Overlay::rollback`] (the depth-first walk
/// over plans that share a prefix of patches undoes a branch this way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint(usize);

/// One undo step: the path and what the change map (or the link map) held
/// for it before (`None` = no entry, the base tree showed through).
enum UndoStep {
    Content(String, Option<Option<Vec<u8>>>),
    Link(String, Option<bool>),
}

pub struct Overlay<'t> {
    base: &'t mut dyn BaseTree,
    /// path → new content, `None` = deleted.
    changes: BTreeMap<String, Option<Vec<u8>>>,
    /// path → whether a patch left it a symbolic link.
    links: BTreeMap<String, bool>,
    undo: Vec<UndoStep>,
}

impl<'t> Overlay<'t> {
    pub fn new(base: &'t mut dyn BaseTree) -> Self {
        Overlay {
            base,
            changes: BTreeMap::new(),
            links: BTreeMap::new(),
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
        self.undo.push(UndoStep::Content(path.to_string(), before));
    }

    /// Record that a patch made `path` a symbolic link, or made it something
    /// else (a file, or nothing).
    pub(crate) fn set_link(&mut self, path: &str, link: bool) {
        let before = self.links.insert(path.to_string(), link);
        self.undo.push(UndoStep::Link(path.to_string(), before));
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
            match self.undo.pop().expect("undo step") {
                UndoStep::Content(path, Some(content)) => {
                    self.changes.insert(path, content);
                }
                UndoStep::Content(path, None) => {
                    self.changes.remove(&path);
                }
                UndoStep::Link(path, Some(link)) => {
                    self.links.insert(path, link);
                }
                UndoStep::Link(path, None) => {
                    self.links.remove(&path);
                }
            }
        }
    }
}

impl Links for Overlay<'_> {
    fn made_link(&self, path: &str) -> bool {
        self.links.get(path) == Some(&true)
    }

    fn is_link(&mut self, path: &str) -> Result<bool, ApplyError> {
        match self.links.get(path) {
            Some(&link) => Ok(link),
            None if self.changes.contains_key(path) => Ok(false),
            None => self.base.is_link(path),
        }
    }

    fn read(&mut self, path: &str) -> Result<Option<Vec<u8>>, ApplyError> {
        Overlay::read(self, path)
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
