//! The promote pipeline: `ka.plan` (ka-resolve), `ka.check` (ka-check, with the
//! config check of ka-kconfig), `ka.lock` (ka-concat) and `ka.result`, the one
//! answer every verb prints.

use crate::{BaselineSpec, BlockKind, CheckKind, LockKind, PlanKind, ResultKind, V1};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

// ---------------------------------------------------------------- plan

/// `ka.plan`: what `ka-resolve` makes of one host's manifest. The patches are in
/// application order (see `ka-resolve(1)` for the rules).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
    /// The kernel config inputs, when the manifest names a base config or
    /// the tree has fragments for the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<PlanConfig>,
}

/// The inputs of a host's kernel config, in merge order: the manifest's base
/// config, then the `fragment.config` of each scope the manifest lists (in
/// scope order), then that of each series (in plan order). A later value of an
/// option wins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PlanConfig {
    /// The host's architecture (the manifest's `arch`).
    pub arch: crate::Arch,
    /// `kernel.config` of the manifest, relative to the repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    pub fragments: Vec<PlannedFragment>,
}

/// A `fragment.config` of the tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PlannedFragment {
    /// Relative to the repository, e.g. `patches/driver/cw1200/fix/fragment.config`.
    pub path: String,
    pub scope: String,
    /// The series `<scope>/<series>`, for a series' fragment; absent for a scope's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series: Option<String>,
    /// The series' campaign, for a series' fragment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    pub b2sum: String,
}

/// The baseline: the manifest's spec, and once `ka-baseline` has run, the git
/// repository holding it and the pinned commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    pub spec: BaselineSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_dir: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// Set only by `ka-baseline --dry-run` for a baseline not imported yet:
    /// what a real run would do first (import or fetch, with the size), e.g.
    /// "import /usr/src/linux-source-6.1.tar.xz (148 MB) into …". Such a plan
    /// has no commit, so its patches cannot be checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Selection {
    Scope,
    Include,
}

// ---------------------------------------------------------------- check

/// `ka.check`: the plan applied in order to the pinned baseline, without a worktree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
    /// The kernel config check (`ka-kconfig`), for a plan with config inputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ConfigCheck>,
}

impl Check {
    /// True when every patch applies, no campaigns conflict, and every value
    /// the tree asks of the kernel config sticks.
    pub fn passes(&self) -> bool {
        self.conflicts.is_empty()
            && self.patches.iter().all(|p| p.verdict.applies())
            && self.config.as_ref().is_none_or(ConfigCheck::passes)
    }
}

// ---------------------------------------------------------------- config check

/// What `ka-kconfig` made of a plan's config inputs: the merged request, the
/// final `.config` the pinned baseline's own kconfig (`make olddefconfig`)
/// made of it, and every requested value that did not stick, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ConfigCheck {
    /// The kernel's `ARCH`, e.g. `arm64`.
    pub arch: String,
    /// The C compiler kconfig's toolchain tests ran with (`$CC --version`'s first line).
    pub toolchain: String,
    /// How many options the inputs set.
    pub requested: u32,
    /// The final `.config`'s size and b2sum.
    pub size: u64,
    pub b2sum: String,
    /// Where the final `.config` is kept (in the kconfig cache under
    /// `KA_ROOT/baselines/kconfig/`); absent in a dry run, which keeps nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept: Option<PathBuf>,
    /// A later input changed a value an earlier one set.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<ConfigOverride>,
    /// Two campaigns ask for different values of one option.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<ConfigConflict>,
    /// Requested values that differ in the final `.config`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drops: Vec<ConfigDrop>,
    /// Whether the result came from the cache (same baseline, inputs and toolchain).
    pub cached: bool,
}

impl ConfigCheck {
    /// No conflict, and no value asked by the tree (a scope or a series) dropped.
    pub fn passes(&self) -> bool {
        self.conflicts.is_empty() && self.drops.iter().all(|d| !d.halts)
    }
}

/// Where a value was asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ConfigOrigin {
    /// Relative to the repository.
    pub file: String,
    pub line: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
}

impl std::fmt::Display for ConfigOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ConfigOverride {
    /// `CONFIG_<NAME>`.
    pub option: String,
    pub value: String,
    pub at: ConfigOrigin,
    /// The later value that won, and where.
    pub by_value: String,
    pub by: ConfigOrigin,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ConfigConflict {
    pub option: String,
    pub first_value: String,
    pub first: ConfigOrigin,
    pub second_value: String,
    pub second: ConfigOrigin,
}

/// A requested value that is not the final one, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ConfigDrop {
    /// `CONFIG_<NAME>`.
    pub option: String,
    /// As requested: `y`, `m`, `n`, a number or a quoted string.
    pub requested: String,
    /// In the final `.config` (`n` when it is not set there).
    pub actual: String,
    pub at: ConfigOrigin,
    /// One sentence: the `depends on`, prompt, choice or `select` that decided,
    /// or "unknown symbol".
    pub reason: String,
    /// The condition with each symbol's value, e.g. `MMC [=n] && CFG80211 [=m]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// The symbols that make the condition false (or the selectors that force
    /// the value up), e.g. `MMC=n`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blocking: Vec<String>,
    /// Whether it halts the promote: a value asked by a scope or series does
    /// (`[ka:config-drop]`); a value of the base config only warns.
    pub halts: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum FileOperation {
    Modify,
    Create,
    Delete,
    Rename,
    Copy,
    Binary,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Conflict {
    pub file: String,
    pub first: ConflictSide,
    pub second: ConflictSide,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
    /// The checked kernel config (`config` beside the lock), when the host has
    /// one: the `.config` ka-render packages and the build uses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Artifact>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct LockedBaseline {
    pub spec: BaselineSpec,
    pub commit: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Artifact {
    pub file: String,
    pub size: u64,
    pub b2sum: String,
}

// ---------------------------------------------------------------- result

/// `ka.result`: what a verb did for one host. `files` names every file written;
/// an unchanged promote writes nothing and names the promoted files in place
/// (`KA_ROOT/hosts/<host>/promoted/cumulative.patch` and `manifest.lock`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
    /// The kernel config check, when the verb checked the config (promote).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Box<ConfigCheck>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct VerdictLine {
    pub path: String,
    pub verdict: Verdict,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct BlockRef {
    pub id: String,
    pub block: BlockKind,
    pub title: String,
}
