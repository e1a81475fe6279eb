//! Apply patches in memory on top of a pinned git commit, without a worktree
//! (ka-check(1)).
//!
//! - [`GitTree`] reads the blobs of one commit through a single long-running
//!   `git cat-file --batch`; it never writes into the repository.
//! - [`Overlay`] is the tree as the earlier patches left it: the base plus an
//!   in-memory map of changed files, with checkpoints to undo a branch.
//! - [`apply_patch`] parses one patch file with diffy, places every hunk with
//!   our own routine (GNU patch / `git apply` rules, see [`place`]), and
//!   applies it all-or-nothing.
//! - `symlinks` refuses a patch that makes a symbolic link pointing out of
//!   the tree, or writes through a link an earlier patch made.
//! - [`Regions`] tracks which lines earlier patches changed, for conflict
//!   detection between campaigns.

mod apply;
mod blob_id;
mod hunk;
mod overlay;
mod parse;
mod place;
mod regions;
mod relocate;
mod symlinks;
mod tree;

pub use apply::{ApplyOptions, FileChanges, PatchOutcome, apply_patch};
pub use blob_id::git_blob_id;
pub use overlay::{Checkpoint, Overlay};
pub use parse::PatchError;
pub use regions::{Change, LineSpan, Overlap, Regions, RegionsCheckpoint};
pub use relocate::{RelocateError, relocate_hunks};
pub use symlinks::{Hostile, SeriesLinks};
pub use tree::{BaseTree, GitTree, MemTree};

/// Whether `bytes` hold a usable patch, judged by the same parser
/// [`apply_patch`] uses: the number of file diffs in it, or why it is not one
/// (`not a diff: ...`, `malformed patch: ...`).
pub fn parse_check(bytes: &[u8]) -> Result<usize, PatchError> {
    parse::parse_patch(bytes).map(|diffs| diffs.len())
}

/// A failure to read the base tree (git missing, repository or commit missing).
/// A patch that does not apply is not an error: it is a verdict.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Git(String),
}

impl ApplyError {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        ApplyError::Io {
            context: context.into(),
            source,
        }
    }
}
