//! One atomic step for changes that touch many files and folders of the fleet
//! repository (patch tree and manifests together).
//!
//! Layout, all under `<repo>/.ka-journal/` (same file system as the tree, so
//! every step is a `rename`):
//!
//! ```text
//! lock                    flock held by the running tree verb (names its holder)
//! <txid>.prep/            being staged: new file contents in staged/, then intent.json
//! <txid>/                 committed: intent.json (ka.tree-journal) + staged/ + trash/
//! <txid>.done/            applied; only cleanup is left
//! ```
//!
//! Protocol:
//! 1. stage every new file under `<txid>.prep/staged/`, write `intent.json`,
//!    fsync, then rename `<txid>.prep` to `<txid>`: the commit point;
//! 2. apply the ops in order; each is a rename and is skipped when already
//!    done, so applying again after a crash is safe;
//! 3. rename `<txid>` to `<txid>.done`, then delete it (trash included).
//!
//! Recovery ([`recover`]), run first by every tree verb and by
//! `ka-tree-recover`: a `.prep` folder is rolled back (deleted: nothing was
//! applied), a committed journal is rolled forward, a `.done` one deleted.
//! So a `kill -9` anywhere leaves the tree all-old (before the commit point)
//! or, after the next tree command, all-new; `ka-resolve` refuses to read a
//! tree with a committed journal pending, so nothing ever reads the middle.

use ka_core::atomic::{create_synced, sync_dir};
use ka_core::crash::point as crash_point;
use ka_core::error::{Error, Result, contract, negative};
use ka_core::hostlock::HostLock;
use ka_schema::{Journal, JournalOp, V1};
use std::fs;
use std::path::{Path, PathBuf};

pub const DIR: &str = ".ka-journal";

/// A change being put together: ops in order plus the staged file contents.
#[derive(Debug, Default)]
pub struct Transaction {
    ops: Vec<JournalOp>,
    staged: Vec<(String, Vec<u8>)>,
}

impl Transaction {
    pub fn new() -> Self {
        Self::default()
    }

    /// Put `bytes` at `path` (replacing what is there).
    pub fn write(&mut self, path: impl Into<String>, bytes: Vec<u8>) {
        let staged = format!("staged/{}", self.staged.len());
        self.ops.push(JournalOp::Write {
            path: path.into(),
            staged: staged.clone(),
        });
        self.staged.push((staged, bytes));
    }

    /// Rename `from` to `to`; `to` must not exist; parent folders are created.
    pub fn rename(&mut self, from: impl Into<String>, to: impl Into<String>) {
        self.ops.push(JournalOp::Move {
            from: from.into(),
            to: to.into(),
        });
    }

    /// Delete `path` (a file or a folder).
    pub fn remove(&mut self, path: impl Into<String>) {
        self.ops.push(JournalOp::Remove { path: path.into() });
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Stage, commit and apply the change as one step.
    pub fn commit(self, repo: &Path, verb: &str, _lock: &TreeLock) -> Result<()> {
        let root = repo.join(DIR);
        let txid = format!(
            "{}-{}",
            ka_core::time::now_epoch().unwrap_or(0),
            std::process::id()
        );
        let prep = root.join(format!("{txid}.prep"));
        let live = root.join(&txid);
        fs::create_dir_all(prep.join("staged")).map_err(|e| Error::io(&prep, e))?;
        fs::create_dir_all(prep.join("trash")).map_err(|e| Error::io(&prep, e))?;
        for (name, bytes) in &self.staged {
            create_synced(&prep.join(name), bytes)?;
        }
        sync_dir(&prep.join("staged"))?;
        let journal = Journal {
            kind: Default::default(),
            version: V1,
            verb: verb.to_string(),
            txid: txid.clone(),
            ops: self.ops,
        };
        let mut intent = serde_json::to_vec_pretty(&journal).expect("journal serializes");
        intent.push(b'\n');
        create_synced(&prep.join("intent.json"), &intent)?;
        sync_dir(&prep)?;
        crash_point("staged");
        fs::rename(&prep, &live).map_err(|e| Error::io(&live, e))?;
        sync_dir(&root)?;
        crash_point("committed");
        apply(repo, &live, &journal)?;
        finish(&root, &txid)
    }
}

/// The exclusive right to change the tree: `<repo>/.ka-journal/lock`.
pub struct TreeLock {
    _lock: HostLock,
}

impl TreeLock {
    pub fn acquire(repo: &Path, verb: &str) -> Result<TreeLock> {
        let path = repo.join(DIR).join("lock");
        Ok(TreeLock {
            _lock: HostLock::acquire(&path, verb)?,
        })
    }
}

fn apply(repo: &Path, live: &Path, journal: &Journal) -> Result<()> {
    for (i, op) in journal.ops.iter().enumerate() {
        apply_op(repo, live, i, op)?;
        crash_point(&format!("op-{}", i + 1));
    }
    Ok(())
}

/// Apply one op unless it is already done.
fn apply_op(repo: &Path, live: &Path, i: usize, op: &JournalOp) -> Result<()> {
    let trash = live.join("trash").join(i.to_string());
    match op {
        JournalOp::Move { from, to } => {
            let (from_p, to_p) = (repo.join(from), repo.join(to));
            match (exists(&from_p), exists(&to_p)) {
                (true, false) => rename(&from_p, &to_p),
                (false, true) => Ok(()), // done before the crash
                (true, true) => Err(negative(format!(
                    "journal {}: cannot move {from} to {to}: both exist; move one aside by hand, then run ka-tree-recover",
                    live.display()
                ))),
                (false, false) => Err(negative(format!(
                    "journal {}: cannot move {from} to {to}: neither exists",
                    live.display()
                ))),
            }
        }
        JournalOp::Write { path, staged } => {
            let staged_p = live.join(staged);
            if !exists(&staged_p) {
                return Ok(()); // already in place
            }
            let target = repo.join(path);
            if exists(&target) && !exists(&trash) {
                rename(&target, &trash)?;
            }
            rename(&staged_p, &target)
        }
        JournalOp::Remove { path } => {
            let target = repo.join(path);
            if exists(&target) && !exists(&trash) {
                rename(&target, &trash)?;
            }
            Ok(())
        }
    }
}

fn finish(root: &Path, txid: &str) -> Result<()> {
    let live = root.join(txid);
    let done = root.join(format!("{txid}.done"));
    fs::rename(&live, &done).map_err(|e| Error::io(&live, e))?;
    sync_dir(root)?;
    crash_point("applied");
    fs::remove_dir_all(&done).map_err(|e| Error::io(&done, e))
}

fn exists(p: &Path) -> bool {
    fs::symlink_metadata(p).is_ok()
}

/// `rename` that creates the target's parent folders and fsyncs both parents.
fn rename(from: &Path, to: &Path) -> Result<()> {
    let to_parent = to.parent().map(Path::to_path_buf).unwrap_or_default();
    fs::create_dir_all(&to_parent).map_err(|e| Error::io(&to_parent, e))?;
    fs::rename(from, to).map_err(|e| Error::io(to, e))?;
    sync_dir(&to_parent)?;
    if let Some(p) = from.parent()
        && p != to_parent
    {
        sync_dir(p)?;
    }
    Ok(())
}

/// Journals left behind by an interrupted change, by state.
fn leftovers(root: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    let entries = match fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io(root, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(root, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.path().is_dir() {
            out.push((name, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Whether a committed change is waiting to be rolled forward.
pub fn pending(repo: &Path) -> Result<Option<String>> {
    Ok(leftovers(&repo.join(DIR))?
        .into_iter()
        .map(|(name, _)| name)
        .find(|n| !n.ends_with(".prep") && !n.ends_with(".done")))
}

/// Roll back staged-only changes, roll forward committed ones, clean up
/// applied ones. Returns one line per journal handled. The caller holds the lock.
pub fn recover(repo: &Path, _lock: &TreeLock) -> Result<Vec<String>> {
    let root = repo.join(DIR);
    let mut notes = Vec::new();
    for (name, path) in leftovers(&root)? {
        if let Some(txid) = name.strip_suffix(".prep") {
            fs::remove_dir_all(&path).map_err(|e| Error::io(&path, e))?;
            notes.push(format!(
                "rolled back change {txid}: it was interrupted before it was committed; nothing of it was applied"
            ));
        } else if name.ends_with(".done") {
            fs::remove_dir_all(&path).map_err(|e| Error::io(&path, e))?;
        } else {
            let intent = path.join("intent.json");
            let text = fs::read(&intent).map_err(|e| Error::io(&intent, e))?;
            let journal: Journal = serde_json::from_slice(&text).map_err(|e| {
                contract(format!(
                    "{}: {e}; the journal is damaged: inspect it, finish or undo the change by hand, then delete the folder",
                    intent.display()
                ))
            })?;
            apply(repo, &path, &journal)?;
            finish(&root, &name)?;
            notes.push(format!(
                "finished {} change {name} that was interrupted ({} steps)",
                journal.verb,
                journal.ops.len()
            ));
        }
    }
    Ok(notes)
}
