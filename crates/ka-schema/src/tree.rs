//! The patch tree's changes: `ka.rebase-report` (ka-rebase), `ka.tree-change`
//! and the journal (`ka.tree-journal`) that makes each tree verb resumable.

use crate::{
    ConfigDrop, ConfigOrigin, JournalKind, LockedBaseline, RebaseReportKind, Status,
    TreeChangeKind, V1, VerdictLine,
};
use serde::{Deserialize, Serialize};

/// `ka-rebase`'s answer for one host: every patch of its plan checked, in
/// order, against a new baseline, with what to do about each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RebaseReport {
    pub kind: RebaseReportKind,
    pub version: V1,
    pub host: String,
    /// The baseline the host is on now, and the one checked against.
    pub from: LockedBaseline,
    pub to: LockedBaseline,
    pub patches: Vec<RebasePatch>,
    /// How the host's kernel config fares on the new baseline, for a host with one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<RebaseConfig>,
}

impl RebaseReport {
    /// Whether every patch can stay as it is on the new baseline, and every
    /// requested config value still sticks there.
    pub fn carries_over(&self) -> bool {
        self.patches.iter().all(|p| p.proposal == Proposal::Keep)
            && self
                .config
                .as_ref()
                .is_none_or(|c| c.gone.is_empty() && c.dropped.is_empty())
    }
}

/// The kernel config on the new baseline, against the current one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RebaseConfig {
    /// Requested options the current baseline defines and the new one does
    /// not: dropped, or renamed (`renamed_to`: the nearest spelling there).
    pub gone: Vec<GoneOption>,
    /// Requested values that stick on the current baseline and not on the
    /// new one, with the new baseline's reason.
    pub dropped: Vec<ConfigDrop>,
    /// Symbols the new baseline adds, with the value the host's config takes.
    pub new_symbols: Vec<NewSymbol>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct GoneOption {
    /// `CONFIG_<NAME>`.
    pub option: String,
    pub requested: String,
    pub at: ConfigOrigin,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renamed_to: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct NewSymbol {
    /// `CONFIG_<NAME>`.
    pub option: String,
    /// As the final `.config` on the new baseline has it.
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RebasePatch {
    pub path: String,
    pub series: String,
    pub campaign: String,
    pub verdict: RebaseVerdict,
    pub proposal: Proposal,
    /// Why: the failing file and hunk, the upstream commit with the same
    /// patch-id, or that the patch reverse-applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum RebaseVerdict {
    /// Applies where it says.
    Clean,
    /// Applies, some hunks at an offset (or with the allowed fuzz).
    Offset,
    /// Does not apply: the patch must be rebased onto the new baseline.
    NeedsRebase,
    /// The change is in the new baseline already: it reverse-applies, or an
    /// upstream commit between the two baselines has the same patch-id.
    AlreadyUpstream,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Proposal {
    Keep,
    /// Applies with offsets or fuzz: refresh it so it applies cleanly.
    Refresh,
    Rebase,
    Drop,
}

// ---------------------------------------------------------------- tree edits

/// `ka.tree-change`: what a tree verb (`ka-import`, `ka-close`, `ka-abandon`,
/// `ka-migrate-tree`) did, or would do with `--dry-run`. Paths are relative to
/// the fleet repository; `files` names every file written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TreeChange {
    pub kind: TreeChangeKind,
    pub version: V1,
    pub verb: String,
    /// `done`, `dry-run`, or `failed` (an import whose check found a patch that
    /// does not apply: the import is kept, the verb exits 1).
    pub status: Status,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    /// Files written or rewritten.
    pub files: Vec<String>,
    /// Folders moved.
    pub moved: Vec<Moved>,
    /// Files and folders deleted.
    pub removed: Vec<String>,
    /// `ka-import`: the new patch files, where each came from, its patch-id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub imported: Vec<ImportedPatch>,
    /// `ka-import`: the verdicts of the new patches on every host that takes them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<HostVerdicts>,
    /// Unified diff of every manifest and series.yaml the change rewrites.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub diff: String,
    /// An interrupted earlier change that was rolled forward first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recovered: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Moved {
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ImportedPatch {
    pub path: String,
    /// The file (and mail number in an mbox) it came from.
    pub source: String,
    /// `git patch-id --stable` of the patch.
    pub patch_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct HostVerdicts {
    pub host: String,
    /// The verdicts of the new patches, in plan order.
    pub verdicts: Vec<VerdictLine>,
    /// Why the host could not be checked (resolve or baseline failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `ka.tree-journal`: the intent of one tree change, written before any of it
/// is applied (`<repo>/.ka-journal/<txid>/intent.json`). Every op is a rename,
/// so replaying the list after a crash (each op skipped once done) always ends
/// in the new state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Journal {
    pub kind: JournalKind,
    pub version: V1,
    pub verb: String,
    pub txid: String,
    pub ops: Vec<JournalOp>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "op", rename_all = "kebab-case", deny_unknown_fields)]
pub enum JournalOp {
    /// Rename the file or folder `from` to `to` (repository-relative).
    Move { from: String, to: String },
    /// Put the staged file `staged` (relative to the journal folder) at `path`;
    /// an existing file there is moved into the journal's trash first.
    Write { path: String, staged: String },
    /// Move `path` into the journal's trash (deleted with the journal).
    Remove { path: String },
}
