//! The wire documents between stages. Each is a JSON object with `kind` and
//! `version: 1`; inputs are parsed with `deny_unknown_fields`, so a stage fed the
//! wrong document, a newer version or a misspelt field stops with exit 3.
//! The doc comment on each type is its specification; `schemas/` holds the
//! generated JSON Schemas and `man 5 ka-formats` describes them.

use crate::formats::BaselineSpec;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

macro_rules! doc_kind {
    ($(#[$m:meta])* $name:ident = $lit:literal) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
        pub enum $name {
            #[default]
            #[serde(rename = $lit)]
            Kind,
        }
    };
}

doc_kind!(PlanKind = "ka.plan");
doc_kind!(CheckKind = "ka.check");
doc_kind!(LockKind = "ka.lock");
doc_kind!(ResultKind = "ka.result");
doc_kind!(BlockDocKind = "ka.block");
doc_kind!(GateKind = "ka.gate");
doc_kind!(JobKind = "ka.job");
doc_kind!(JobResultKind = "ka.job-result");
doc_kind!(RenderKind = "ka.render");
doc_kind!(ProbeReportKind = "ka.probe-report");
doc_kind!(KeepKind = "ka.keep");
doc_kind!(BackupKind = "ka.backup");
doc_kind!(ArchiveIndexKind = "ka.archive");
doc_kind!(PrunePauseKind = "ka.prune-pause");
doc_kind!(PruneReportKind = "ka.prune-report");

/// The contract version. Only `1` exists; anything else is refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct V1;

impl Serialize for V1 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(1)
    }
}

impl<'de> Deserialize<'de> for V1 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = u64::deserialize(d)?;
        if v == 1 {
            Ok(V1)
        } else {
            Err(serde::de::Error::custom(format!(
                "unsupported version {v}: this kernel-agent speaks version 1"
            )))
        }
    }
}

impl JsonSchema for V1 {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Version".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "integer", "const": 1 })
    }
}

// ---------------------------------------------------------------- plan

/// `ka.plan`: what `ka-resolve` makes of one host's manifest. The patches are in
/// application order (see `ka-resolve(1)` for the rules).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub kind: PlanKind,
    pub version: V1,
    pub host: String,
    /// Absolute path of the fleet repository the plan was resolved in.
    pub repo: PathBuf,
    /// The manifest, relative to `repo`, and its b2sum.
    pub manifest: String,
    pub manifest_b2sum: String,
    pub baseline: Baseline,
    pub patches: Vec<PlannedPatch>,
}

/// The baseline: the manifest's spec, and once `ka-baseline` has run, the git
/// repository holding it and the pinned commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    pub spec: BaselineSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_dir: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlannedPatch {
    /// Path relative to the repository, e.g. `patches/board/pinebook-pro/opp/0001-x.patch`.
    pub path: String,
    pub scope: String,
    /// The series reference `<scope>/<series>`.
    pub series: String,
    pub campaign: String,
    /// Size in bytes when resolved.
    pub size: u64,
    /// Why the host takes it: its scope is listed, or the series is included.
    pub selected_by: Selection,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Selection {
    Scope,
    Include,
}

// ---------------------------------------------------------------- check

/// `ka.check`: the plan applied in order to the pinned baseline, without a worktree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Check {
    pub kind: CheckKind,
    pub version: V1,
    pub plan: Plan,
    /// Whether fuzz was allowed (off by default, as `dpkg-source` applies).
    pub fuzz_allowed: u32,
    /// One entry per plan patch, in order.
    pub patches: Vec<PatchCheck>,
    /// Series of different campaigns that change overlapping lines of one file.
    pub conflicts: Vec<Conflict>,
}

impl Check {
    /// True when every patch applies and no campaigns conflict.
    pub fn passes(&self) -> bool {
        self.conflicts.is_empty() && self.patches.iter().all(|p| p.verdict.applies())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchCheck {
    pub path: String,
    pub series: String,
    pub campaign: String,
    /// b2sum of the bytes that were checked; `ka-concat` refuses if they changed since.
    pub b2sum: String,
    pub size: u64,
    pub verdict: Verdict,
    /// Why the patch fails (when it does and no single hunk is to blame).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub files: Vec<FileCheck>,
}

/// A patch's verdict against the tree as it is after the earlier patches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Every hunk applies where the patch says.
    Clean,
    /// Every hunk applies, some at an offset.
    Offset,
    /// Applies only with fuzz (only when fuzz is allowed).
    Fuzz,
    /// Does not apply.
    Fails,
    /// Does not apply, but reverse-applies: the change is already in the tree.
    AlreadyApplied,
}

impl Verdict {
    pub fn applies(self) -> bool {
        matches!(self, Verdict::Clean | Verdict::Offset | Verdict::Fuzz)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileCheck {
    /// The path after the patch (the new name of a rename).
    pub path: String,
    pub operation: FileOperation,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    pub verdict: Verdict,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub hunks: Vec<HunkCheck>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum FileOperation {
    Modify,
    Create,
    Delete,
    Rename,
    Copy,
    Binary,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HunkCheck {
    /// 1-based, as patch(1) counts.
    pub hunk: usize,
    pub verdict: Verdict,
    /// 1-based line in the file (as it was before this patch) where the hunk applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// Lines away from where the header says (patch(1)'s "offset N lines").
    pub offset: i64,
    pub fuzz: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Two series of different campaigns changing overlapping lines of one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Conflict {
    pub file: String,
    pub first: ConflictSide,
    pub second: ConflictSide,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConflictSide {
    pub patch: String,
    pub series: String,
    pub campaign: String,
    /// First and last changed line, in the file as that patch left it.
    pub lines: (usize, usize),
}

// ---------------------------------------------------------------- lock

/// `ka.lock` (`manifest.lock`): exactly what a promote produced. Identical
/// inputs give a byte-identical lock; it holds no timestamps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    pub kind: LockKind,
    pub version: V1,
    pub host: String,
    pub manifest: String,
    pub manifest_b2sum: String,
    pub baseline: LockedBaseline,
    pub patches: Vec<LockedPatch>,
    pub cumulative: Artifact,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LockedBaseline {
    pub spec: BaselineSpec,
    pub commit: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LockedPatch {
    pub path: String,
    pub scope: String,
    pub series: String,
    pub campaign: String,
    pub size: u64,
    pub b2sum: String,
}

/// A file and its digest; `b2sum <file>` prints the same digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Artifact {
    pub file: String,
    pub size: u64,
    pub b2sum: String,
}

// ---------------------------------------------------------------- result

/// `ka.result`: what a verb did for one host. `files` names every file written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VerbResult {
    pub kind: ResultKind,
    pub version: V1,
    pub verb: String,
    pub host: String,
    pub status: Status,
    pub message: String,
    pub files: Vec<PathBuf>,
    /// Blocks that stopped the verb, or that it filed.
    pub blocks: Vec<BlockRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock: Option<Lock>,
    /// Per-patch verdicts, when the verb checked patches.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verdicts: Vec<VerdictLine>,
    /// The job id, when the verb ran a job (build, install).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// The build host a build ran on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_host: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Done, files written.
    Done,
    /// Done before: the result is identical to what is already in place.
    Unchanged,
    /// Nothing written (`--dry-run`).
    DryRun,
    /// Refused by the gate or a failed check.
    Blocked,
    /// Tried and failed (a build that broke); a block records it.
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VerdictLine {
    pub path: String,
    pub verdict: Verdict,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockRef {
    pub id: String,
    pub block: BlockKind,
    pub title: String,
}

// ---------------------------------------------------------------- blocks

/// The kinds of block, and what each halts (DESIGN §7, `ka-gate(1)`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum BlockKind {
    PatchFail,
    CampaignConflict,
    HostDrifted,
    BuildFail,
    BootstrapMissing,
    HostChanged,
    SigningFail,
    Regression,
}

impl BlockKind {
    pub const ALL: [BlockKind; 8] = [
        BlockKind::PatchFail,
        BlockKind::CampaignConflict,
        BlockKind::HostDrifted,
        BlockKind::BuildFail,
        BlockKind::BootstrapMissing,
        BlockKind::HostChanged,
        BlockKind::SigningFail,
        BlockKind::Regression,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BlockKind::PatchFail => "patch-fail",
            BlockKind::CampaignConflict => "campaign-conflict",
            BlockKind::HostDrifted => "host-drifted",
            BlockKind::BuildFail => "build-fail",
            BlockKind::BootstrapMissing => "bootstrap-missing",
            BlockKind::HostChanged => "host-changed",
            BlockKind::SigningFail => "signing-fail",
            BlockKind::Regression => "regression",
        }
    }
}

impl std::str::FromStr for BlockKind {
    type Err = String;
    /// The kebab-case names the JSON uses, e.g. `patch-fail`.
    fn from_str(s: &str) -> Result<Self, String> {
        BlockKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown block kind {s:?}"))
    }
}

/// What a block is about; together with its kind this decides what it halts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "on", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Subject {
    /// One patch (repository-relative path).
    Patch { patch: String },
    /// A set of patches that conflict when applied together.
    Patches { patches: Vec<String> },
    /// A target host.
    Host { host: String },
    /// A build host.
    BuildHost { host: String },
    /// Everything.
    Global,
}

/// `ka.block`: one block record of the store under `KA_ROOT/blocks/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Block {
    pub kind: BlockDocKind,
    pub version: V1,
    /// Stable id derived from block kind and subject: filing the same block twice
    /// updates one record.
    pub id: String,
    pub block: BlockKind,
    pub subject: Subject,
    /// `[ka:<kind>] ...`, as issue titles read.
    pub title: String,
    pub detail: String,
    pub state: BlockState,
    /// RFC 3339 UTC times.
    pub opened_at: String,
    pub updated_at: String,
    /// How many times it was filed while open.
    pub filings: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifted_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lift_reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum BlockState {
    Open,
    Lifted,
}

impl Block {
    pub fn to_ref(&self) -> BlockRef {
        BlockRef {
            id: self.id.clone(),
            block: self.block,
            title: self.title.clone(),
        }
    }
}

/// The verbs the gate answers for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Verb {
    Promote,
    Build,
    Sign,
    Install,
    Verify,
}

impl Verb {
    pub const ALL: [Verb; 5] = [
        Verb::Promote,
        Verb::Build,
        Verb::Sign,
        Verb::Install,
        Verb::Verify,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Promote => "promote",
            Verb::Build => "build",
            Verb::Sign => "sign",
            Verb::Install => "install",
            Verb::Verify => "verify",
        }
    }
}

impl std::str::FromStr for Verb {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Verb::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| format!("unknown verb {s:?}"))
    }
}

/// `ka.gate`: may `verb` act on `host` (with `build_host`, with `patches`)?
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Gate {
    pub kind: GateKind,
    pub version: V1,
    pub verb: Verb,
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_host: Option<String>,
    pub patches: Vec<String>,
    pub allowed: bool,
    /// The open blocks in the way (empty when allowed).
    pub blocked_by: Vec<Block>,
}

// ---------------------------------------------------------------- later stages

/// `ka.job`: one command to run on a host (`ka-run-remote`), with its limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Job {
    pub kind: JobKind,
    pub version: V1,
    pub id: String,
    /// `local`, or an SSH target checked against `known_hosts`.
    pub transport: Transport,
    /// The command as an argument vector; never a shell string built from data.
    pub argv: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
    /// Absolute cap and no-output limit, e.g. `4h` and `5m`.
    pub wall_clock: String,
    pub stall: String,
    pub log: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum Transport {
    Local,
    Ssh {
        host: String,
        address: String,
        port: u16,
        user: String,
        known_hosts: PathBuf,
        identity: PathBuf,
    },
}

/// `ka.job-result`: how a job ended. A job succeeded only when it exited 0, was
/// not killed by a signal, did not stall and was not capped (see [`JobResult::ok`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobResult {
    pub kind: JobResultKind,
    pub version: V1,
    pub id: String,
    /// `local`, or the SSH host name.
    pub host: String,
    pub argv: Vec<String>,
    /// The exit status, when the command exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// The signal that killed it (e.g. `TERM`, `KILL`), when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    pub duration_ms: u64,
    /// Killed because it printed nothing for the job's `stall`.
    pub stalled: bool,
    /// Killed because it ran past the job's `wall_clock`.
    pub capped: bool,
    /// The connection or transport failed (e.g. sshd went away mid-job).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport_error: Option<String>,
    /// The combined stdout and stderr, interleaved as they arrived.
    pub log: PathBuf,
    /// RFC 3339 UTC time the job ended (`KA_NOW` when set). Retention ages a
    /// job by it; records written before it existed are aged by the start
    /// time in their job id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// The render folder a build job built (set by `ka-build-run`), so
    /// retention knows which render folders recent jobs still use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub render: Option<RenderRef>,
}

/// A render folder: `KA_ROOT/hosts/<host>/render/<id>/`, `<id>` being the
/// promotion id (the first 16 hex digits of the lock's b2sum).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RenderRef {
    /// The target host (whose lock was rendered).
    pub host: String,
    pub id: String,
}

impl JobResult {
    pub fn ok(&self) -> bool {
        self.exit_code == Some(0)
            && self.signal.is_none()
            && !self.stalled
            && !self.capped
            && self.transport_error.is_none()
    }
}

/// `ka.render`: a package source folder rendered from a lock and a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Render {
    pub kind: RenderKind,
    pub version: V1,
    pub host: String,
    pub pkgbase: String,
    pub distro: crate::formats::Distro,
    /// The b2sum of the manifest.lock it was rendered from.
    pub lock_b2sum: String,
    /// The folder holding the package sources (PKGBUILD or debian build script).
    pub dir: PathBuf,
    /// Every file in the folder with its size and b2sum.
    pub files: Vec<Artifact>,
}

/// `ka.probe-report`: the verification bars of one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProbeReport {
    pub kind: ProbeReportKind,
    pub version: V1,
    pub host: String,
    pub at: String,
    pub passed: bool,
    pub bars: Vec<BarResult>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BarResult {
    /// 1 heartbeat, 2 version, 3 device tree/sysfs, 4 per-patch probes, 5 burn-in.
    pub bar: u8,
    pub probe: String,
    pub passed: bool,
    pub expected: String,
    pub actual: String,
}

// ---------------------------------------------------------------- retention

/// `ka.keep`: `KA_ROOT/keep/<job-id>.json`, written by `ka-job keep` (`ka-keep`).
/// While it holds (no `until`, or `until` in the future) retention touches
/// nothing of the job: its output, its logs, its archive, the install backup
/// it made, and the render folder it built. An expired keep is ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PruneVerb {
    /// Copied into `KA_ROOT/archive/<job-id>.tar`, then removed.
    Archive,
    Remove,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PruneHeld {
    pub class: PruneClass,
    pub path: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_secs: Option<i64>,
    pub why: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PruneProblem {
    pub class: PruneClass,
    pub path: PathBuf,
    pub error: String,
}
