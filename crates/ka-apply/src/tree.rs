//! Base trees: where an [`Overlay`](crate::Overlay) reads files no earlier
//! patch has touched.

use crate::ApplyError;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Stdio};

/// Read-only access to the files of one tree. `Ok(None)` means the file does
/// not exist in the tree.
pub trait BaseTree {
    fn read(&mut self, path: &str) -> Result<Option<Vec<u8>>, ApplyError>;

    /// Whether `path` is a symbolic link in the tree. Asked only for the
    /// source of a rename or copy, whose diff may not show the mode.
    fn is_link(&mut self, _path: &str) -> Result<bool, ApplyError> {
        Ok(false)
    }
}

/// A tree held in memory (tests, and callers that already have the files).
#[derive(Debug, Default, Clone)]
pub struct MemTree(pub BTreeMap<String, Vec<u8>>);

impl MemTree {
    pub fn new<P: Into<String>, C: Into<Vec<u8>>>(files: impl IntoIterator<Item = (P, C)>) -> Self {
        MemTree(
            files
                .into_iter()
                .map(|(p, c)| (p.into(), c.into()))
                .collect(),
        )
    }
}

impl BaseTree for MemTree {
    fn read(&mut self, path: &str) -> Result<Option<Vec<u8>>, ApplyError> {
        Ok(self.0.get(path).cloned())
    }
}

/// The files of one pinned commit, read through ONE `git cat-file --batch`
/// child for the lifetime of the value. Nothing is cached: the overlay keeps
/// what patches change, and the rest is read on demand.
pub struct GitTree {
    git_dir: PathBuf,
    commit: String,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl GitTree {
    /// Start the reader and check that `commit` names a commit of `git_dir`.
    /// The commit is resolved to its full id so a moving ref cannot change the
    /// tree mid-run.
    pub fn open(git_dir: &Path, commit: &str) -> Result<Self, ApplyError> {
        if !git_dir.exists() {
            return Err(ApplyError::Git(format!(
                "{}: baseline repository does not exist (run ka-baseline again?)",
                git_dir.display()
            )));
        }
        let mut child = ka_core::git::command()
            .arg(format!("--git-dir={}", git_dir.display()))
            .args(["cat-file", "--batch"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| ApplyError::io("cannot run git (is it installed?)", e))?;
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut tree = GitTree {
            git_dir: git_dir.to_path_buf(),
            commit: commit.to_string(),
            child,
            stdin: Some(stdin),
            stdout,
        };
        match tree.query(&format!("{commit}^{{commit}}"))? {
            Some((oid, kind, _)) if kind == "commit" => tree.commit = oid,
            _ => {
                return Err(ApplyError::Git(format!(
                    "{}: no commit {commit} (run ka-baseline again?)",
                    git_dir.display()
                )));
            }
        }
        Ok(tree)
    }

    /// The full id of the pinned commit.
    pub fn commit(&self) -> &str {
        &self.commit
    }

    /// Ask for one object; returns its id, type and content.
    fn query(&mut self, spec: &str) -> Result<Option<(String, String, Vec<u8>)>, ApplyError> {
        let ctx = || format!("git cat-file --batch in {}", self.git_dir.display());
        // A newline in the spec would desynchronise the protocol.
        if spec.contains('\n') {
            return Ok(None);
        }
        let stdin = self.stdin.as_mut().expect("stdin is open until drop");
        stdin
            .write_all(format!("{spec}\n").as_bytes())
            .and_then(|_| stdin.flush())
            .map_err(|e| ApplyError::io(ctx(), e))?;
        let mut header = String::new();
        let n = self
            .stdout
            .read_line(&mut header)
            .map_err(|e| ApplyError::io(ctx(), e))?;
        if n == 0 {
            return Err(ApplyError::Git(format!(
                "{}: git exited unexpectedly",
                ctx()
            )));
        }
        let header = header.trim_end_matches('\n');
        if header.ends_with(" missing") || header.ends_with(" ambiguous") {
            return Ok(None);
        }
        let mut fields = header.split(' ');
        let (Some(oid), Some(kind), Some(size)) = (fields.next(), fields.next(), fields.next())
        else {
            return Err(ApplyError::Git(format!("{}: bad reply {header:?}", ctx())));
        };
        let size: usize = size
            .parse()
            .map_err(|_| ApplyError::Git(format!("{}: bad reply {header:?}", ctx())))?;
        // Content plus the terminating newline.
        let mut content = vec![0; size + 1];
        self.stdout
            .read_exact(&mut content)
            .map_err(|e| ApplyError::io(ctx(), e))?;
        content.pop();
        Ok(Some((oid.to_string(), kind.to_string(), content)))
    }
}

impl BaseTree for GitTree {
    fn read(&mut self, path: &str) -> Result<Option<Vec<u8>>, ApplyError> {
        let spec = format!("{}:{path}", self.commit);
        match self.query(&spec)? {
            // A directory or submodule at that path is not a file a patch can edit.
            Some((_, kind, content)) if kind == "blob" => Ok(Some(content)),
            _ => Ok(None),
        }
    }

    fn is_link(&mut self, path: &str) -> Result<bool, ApplyError> {
        Ok(self.ls_tree_mode(path)?.as_deref() == Some("120000"))
    }
}

impl GitTree {
    /// `git ls-tree` of one path: one process per call, fine for the few
    /// renames and copies of a series.
    fn ls_tree_mode(&self, path: &str) -> Result<Option<String>, ApplyError> {
        let out = ka_core::git::command()
            .arg(format!("--git-dir={}", self.git_dir.display()))
            .args(["ls-tree", "-z", &self.commit, "--", path])
            .output()
            .map_err(|e| ApplyError::io("cannot run git (is it installed?)", e))?;
        if !out.status.success() {
            return Err(ApplyError::Git(format!(
                "git ls-tree {} -- {path} in {}: {}",
                self.commit,
                self.git_dir.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let entry = String::from_utf8_lossy(&out.stdout);
        Ok(entry
            .split(' ')
            .next()
            .filter(|m| !m.is_empty())
            .map(str::to_string))
    }
}

impl Drop for GitTree {
    fn drop(&mut self) {
        // Closing stdin ends `cat-file --batch`; wait so no zombie is left.
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}
