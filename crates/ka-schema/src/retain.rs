//! Retention: keeps (`ka.keep`), install backups (`ka.backup`), job archives
//! (`ka.archive`), paused pruning and `ka.prune-report`.

use crate::{
    ArchiveIndexKind, Artifact, BackupKind, KeepKind, PrunePauseKind, PruneReportKind, RenderRef,
    V1,
};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

// ---------------------------------------------------------------- retention

/// `ka.keep`: `KA_ROOT/keep/<job-id>.json`, written by `ka-job keep` (`ka-keep`).
/// While it holds (no `until`, or `until` in the future) retention touches
/// nothing of the job: its output, its logs, its archive, the install backup
/// it made, and the render folder it built. An expired keep is ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Keep {
    pub kind: KeepKind,
    pub version: V1,
    pub job: String,
    /// RFC 3339 UTC.
    pub kept_at: String,
    /// RFC 3339 UTC; absent: kept until released by hand (remove the file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

/// `ka.backup`: the record inside every pre-install `/boot` backup,
/// `KA_ROOT/backups/<host>/<kernel_version>/backup.json`. Whoever writes a
/// backup (`ka-install`) fills the folder under a name starting with `.`,
/// writes this record last, and renames the folder into place. Retention ages
/// a backup by `created_at` and never removes the newest backup of a host; a
/// folder without a readable record, or whose record disagrees with its path,
/// is reported and left alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Backup {
    pub kind: BackupKind,
    pub version: V1,
    /// The host whose /boot was saved; equals the `<host>` folder.
    pub host: String,
    /// The kernel version the backup was taken before replacing; equals the
    /// `<kernel_version>` folder.
    pub kernel_version: String,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// The install job that took it; a keep on that job keeps the backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// The saved files, relative to the backup folder (e.g. `boot.tar`).
    pub files: Vec<Artifact>,
}

/// `ka.archive`: the first member (`archive.json`) of a job archive,
/// `KA_ROOT/archive/<job-id>.tar`. The tar then holds `job.json` (the job
/// record, byte for byte) and `output/<file>` for every fetched package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ArchiveIndex {
    pub kind: ArchiveIndexKind,
    pub version: V1,
    pub job: String,
    /// When the job ended (RFC 3339 UTC); the archive is aged by it.
    pub finished_at: String,
    /// When it was archived.
    pub archived_at: String,
    /// The render folder the job built, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub render: Option<RenderRef>,
    /// The files of `KA_ROOT/output/<job-id>/`, names relative to it.
    pub files: Vec<Artifact>,
}

/// `ka.prune-pause`: `KA_ROOT/retention/pause.json`, written by
/// `ka-pause-prune`; while it exists `ka-prune` refuses to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PrunePause {
    pub kind: PrunePauseKind,
    pub version: V1,
    /// `user@host` of whoever paused.
    pub by: String,
    /// RFC 3339 UTC.
    pub at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `ka.prune-report`: what one `ka-prune` run did (or, with `dry_run`, would do).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PruneReport {
    pub kind: PruneReportKind,
    pub version: V1,
    /// The time the ages were measured against (RFC 3339 UTC).
    pub now: String,
    pub dry_run: bool,
    /// Every item removed or archived, in the order it was done.
    pub actions: Vec<PruneAction>,
    /// Items old enough to go that were held back, and why.
    pub held: Vec<PruneHeld>,
    /// Items that could not be judged or removed; each leaves the run's
    /// exit status non-zero. The item was left as it was.
    pub problems: Vec<PruneProblem>,
    /// Why the run stopped before the end (a pause arrived while it ran).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

/// What kind of thing an item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum PruneClass {
    /// `KA_ROOT/backups/<host>/<version>/`.
    Backup,
    /// `KA_ROOT/output/<job-id>/` with `KA_ROOT/jobs/<job-id>.json`.
    JobOutput,
    /// `KA_ROOT/archive/<job-id>.tar`.
    Archive,
    /// `KA_ROOT/logs/<build-host>/<job-id>/`.
    Log,
    /// `KA_ROOT/hosts/<host>/render/<id>/`.
    Render,
    /// A temp file or folder an interrupted prune or restore left behind.
    Leftover,
    /// `KA_ROOT/keep/<job-id>.json` (only in problems: keeps are never pruned).
    Keep,
    /// A job's tree on a build host, `<build-host>:<root>/source/<job-id>/`
    /// (an unreachable build host is a problem of this class).
    BuildTree,
    /// An entry of a build host's source cache,
    /// `<build-host>:<root>/cache/sources/<b2sum>`.
    SourceCache,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum PruneVerb {
    /// Copied into `KA_ROOT/archive/<job-id>.tar`, then removed.
    Archive,
    Remove,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PruneAction {
    pub action: PruneVerb,
    pub class: PruneClass,
    pub path: PathBuf,
    /// Age in seconds at `now`, when the item has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_secs: Option<i64>,
    pub why: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PruneHeld {
    pub class: PruneClass,
    pub path: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_secs: Option<i64>,
    pub why: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PruneProblem {
    pub class: PruneClass,
    pub path: PathBuf,
    pub error: String,
}
