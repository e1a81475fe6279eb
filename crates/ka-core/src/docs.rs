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
doc_kind!(BurnInKind = "ka.burn-in");
doc_kind!(RebaseReportKind = "ka.rebase-report");
doc_kind!(KeepKind = "ka.keep");
doc_kind!(BackupKind = "ka.backup");
doc_kind!(ArchiveIndexKind = "ka.archive");
doc_kind!(PrunePauseKind = "ka.prune-pause");
doc_kind!(PruneReportKind = "ka.prune-report");
doc_kind!(TreeChangeKind = "ka.tree-change");
doc_kind!(JournalKind = "ka.tree-journal");

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
    /// The kernel config inputs, when the manifest names a base config or
    /// the tree has fragments for the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<PlanConfig>,
}

/// The inputs of a host's kernel config, in merge order: the manifest's base
/// config, then the `fragment.config` of each scope the manifest lists (in
/// scope order), then that of each series (in plan order). A later value of an
/// option wins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanConfig {
    /// The host's architecture (the manifest's `arch`).
    pub arch: crate::formats::Arch,
    /// `kernel.config` of the manifest, relative to the repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    pub fragments: Vec<PlannedFragment>,
}

/// A `fragment.config` of the tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigConflict {
    pub option: String,
    pub first_value: String,
    pub first: ConfigOrigin,
    pub second_value: String,
    pub second: ConfigOrigin,
}

/// A requested value that is not the final one, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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
    /// The checked kernel config (`config` beside the lock), when the host has
    /// one: the `.config` ka-render packages and the build uses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Artifact>,
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

/// `ka.result`: what a verb did for one host. `files` names every file written;
/// an unchanged promote writes nothing and names the promoted files in place
/// (`KA_ROOT/hosts/<host>/promoted/cumulative.patch` and `manifest.lock`).
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
    /// The kernel config check, when the verb checked the config (promote).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Box<ConfigCheck>>,
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

/// The kinds of block, and what each halts (`ka-gate(1)`).
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
    ConfigDrop,
}

impl BlockKind {
    pub const ALL: [BlockKind; 9] = [
        BlockKind::PatchFail,
        BlockKind::CampaignConflict,
        BlockKind::HostDrifted,
        BlockKind::BuildFail,
        BlockKind::BootstrapMissing,
        BlockKind::HostChanged,
        BlockKind::SigningFail,
        BlockKind::Regression,
        BlockKind::ConfigDrop,
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
            BlockKind::ConfigDrop => "config-drop",
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
            .ok_or_else(|| format!("unknown block kind {}", crate::error::quoted(s)))
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
    /// One option of one host's kernel config.
    Config { host: String, option: String },
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
            .ok_or_else(|| format!("unknown verb {}", crate::error::quoted(s)))
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
    /// The host's key is unknown or differs from the fleet known_hosts: we
    /// refused to connect (the caller's cue for `[ka:host-changed]`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub host_key_refused: bool,
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
    /// The build tree a build job used (set by `ka-build-run`): clean or
    /// incremental, and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tree: Option<TreeUse>,
    /// The b2sum of the built kernel image (`arch/<arch>/boot/bzImage` or
    /// `Image`), the bytes installed as `/boot/vmlinuz-<suffix>` or
    /// `/boot/Image-<suffix>`; set after a successful build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_b2sum: Option<String>,
    /// The b2sum of the module tree: of the `b2sum` listing (`<sum>  ./<path>`,
    /// sorted by path) of every `.ko` the build made; set after a successful build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modules_b2sum: Option<String>,
}

/// How a build used its persistent build tree on the build host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TreeMode {
    /// The tree was unpacked and patched afresh.
    Clean,
    /// Only the files whose content changed since the tree's last build were replaced.
    Incremental,
}

/// A build job's build tree: where, which mode, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TreeUse {
    /// The tree's folder on the build host (`<root>/trees/<host>-<arch>`).
    pub dir: String,
    pub mode: TreeMode,
    /// Why this mode (e.g. `config changed`, `no state marker: ...`).
    pub reason: String,
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

/// `ka.probe-report`: the verification bars of one host, as `ka-probe` saw
/// them at `at` (`ka-verify` keeps the last one in
/// `KA_ROOT/hosts/<host>/verify/last.json` and every one under `history/`).
/// `passed` is true when every bar result passed. A bar with no result was
/// not checked; `notes` says why (e.g. no `installed.json` yet for bar 2, or
/// bars 2–4 when the host did not answer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProbeReport {
    pub kind: ProbeReportKind,
    pub version: V1,
    pub host: String,
    /// RFC 3339 UTC time of the probe run.
    pub at: String,
    pub passed: bool,
    /// `/proc/sys/kernel/random/boot_id` of the running boot (bar 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_id: Option<String>,
    /// The running kernel's release, as `uname -r` prints it (read from
    /// `/proc/sys/kernel/osrelease`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_release: Option<String>,
    pub bars: Vec<BarResult>,
    /// The host answered with a host key other than the fleet's
    /// known_hosts entry (bar 1 failed; the cue for `[ka:host-changed]`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub host_key_refused: bool,
    /// What was not checked, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl ProbeReport {
    /// The results that failed.
    pub fn failures(&self) -> impl Iterator<Item = &BarResult> {
        self.bars.iter().filter(|b| !b.passed)
    }
}

/// One check of one bar: what was expected, what the host showed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BarResult {
    /// 1 heartbeat, 2 version, 3 device tree/sysfs, 4 per-patch probes, 5 burn-in.
    pub bar: u8,
    /// The probe in the probe language (`man 5 ka-probe`), or the check's
    /// name for bars 1, 2 and 5 (`heartbeat`, `package <name>`, `burn-in`).
    pub probe: String,
    pub passed: bool,
    pub expected: String,
    pub actual: String,
    /// Where the probe is written: `fleet/<host>.yaml:<line>` or
    /// `patches/<scope>/<series>/series.yaml:<line>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Set when the value could not be read at all (permission, a missing
    /// file, a read that timed out): the probe fails, this says why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The last run in which this probe passed (this run when it passed),
    /// carried over from the previous report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_pass: Option<String>,
    /// The first run of the current streak of failures; absent while it passes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_fail: Option<String>,
}

/// `ka.burn-in`: bar 5 for one install, in
/// `KA_ROOT/hosts/<host>/verify/burn-in.json`. `ka-verify --burn-in` re-runs
/// bars 1–4 once per call and counts the runs here until `ends_at`; a new
/// install (another `installed_at` or package version) starts a new record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BurnIn {
    pub kind: BurnInKind,
    pub version: V1,
    pub host: String,
    /// The install under burn-in (from `installed.json`).
    pub package: String,
    pub package_version: String,
    pub installed_at: String,
    /// `verify.burn_in` when the record was started, e.g. `24h`.
    pub duration: String,
    /// `installed_at` + `duration`.
    pub ends_at: String,
    pub state: BurnInState,
    /// Runs of bars 1–4 recorded, and how many of them failed.
    pub runs: u32,
    pub failed_runs: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_run_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run_at: Option<String>,
    /// The failing run: its time and what failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

/// Where a burn-in stands. `passed` and `failed` are final for the install.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum BurnInState {
    /// Runs are being recorded; `ends_at` is still ahead.
    Running,
    /// The duration is over and every run passed: bar 5 passes.
    Passed,
    /// A run failed: bar 5 fails (the regression was filed then).
    Failed,
}

/// `ka-rebase`'s answer for one host: every patch of its plan checked, in
/// order, against a new baseline, with what to do about each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GoneOption {
    /// `CONFIG_<NAME>`.
    pub option: String,
    pub requested: String,
    pub at: ConfigOrigin,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renamed_to: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSymbol {
    /// `CONFIG_<NAME>`.
    pub option: String,
    /// As the final `.config` on the new baseline has it.
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Moved {
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportedPatch {
    pub path: String,
    /// The file (and mail number in an mbox) it came from.
    pub source: String,
    /// `git patch-id --stable` of the patch.
    pub patch_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Journal {
    pub kind: JournalKind,
    pub version: V1,
    pub verb: String,
    pub txid: String,
    pub ops: Vec<JournalOp>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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

// ---------------------------------------------------------------- notices

doc_kind!(NoticeDocKind = "ka.notice");
doc_kind!(ReminderKind = "ka.reminder");
doc_kind!(InstalledKind = "ka.installed");
doc_kind!(HostStatusKind = "ka.host-status");
doc_kind!(AuditKind = "ka.audit");

/// The kinds of notice: issue records that halt nothing but want the owner's
/// attention until something happens.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum NoticeKind {
    /// A package version was published for a host and is not installed there
    /// yet. Closed when that version is installed or a newer one supersedes it.
    Installable,
}

impl NoticeKind {
    pub const ALL: [NoticeKind; 1] = [NoticeKind::Installable];

    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::Installable => "installable",
        }
    }
}

impl std::str::FromStr for NoticeKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        NoticeKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown notice kind {}", crate::error::quoted(s)))
    }
}

/// What a notice is about; together with its kind this makes its id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "on", rename_all = "kebab-case", deny_unknown_fields)]
pub enum NoticeSubject {
    /// One version of one package for one host.
    Package {
        host: String,
        package: String,
        version: String,
    },
}

impl NoticeSubject {
    pub fn host(&self) -> &str {
        match self {
            NoticeSubject::Package { host, .. } => host,
        }
    }
}

/// `ka.notice`: one notice record of the store under `KA_ROOT/notices/`.
/// Same life as a block (filed, refreshed, closed, filed again), but it halts
/// nothing: the gate never reads notices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Notice {
    pub kind: NoticeDocKind,
    pub version: V1,
    /// Stable id derived from notice kind and subject: filing the same notice
    /// twice updates one record.
    pub id: String,
    pub notice: NoticeKind,
    pub subject: NoticeSubject,
    /// `[ka:<kind>] ...`, as issue titles read.
    pub title: String,
    pub detail: String,
    pub state: NoticeState,
    /// RFC 3339 UTC times.
    pub opened_at: String,
    pub updated_at: String,
    /// How many times it was filed while open.
    pub filings: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close_reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NoticeState {
    Open,
    Closed,
}

// ---------------------------------------------------------------- reminders

/// Which store an open record lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RecordStore {
    /// `KA_ROOT/blocks/` (`ka.block`).
    Block,
    /// `KA_ROOT/notices/` (`ka.notice`).
    Notice,
}

/// `ka.reminder`: one open record as `ka-remind` sees it at `now`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Reminder {
    pub kind: ReminderKind,
    pub version: V1,
    /// The record's id (what `ka-snooze` takes).
    pub id: String,
    pub store: RecordStore,
    /// The block or notice kind, e.g. `regression`, `installable`.
    pub record_kind: String,
    pub title: String,
    /// The host the record is about, when it is about one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// When the record was opened (RFC 3339).
    pub opened_at: String,
    /// The time the reminder was computed for (`--now`).
    pub now: String,
    /// Whether a reminder is due at `now`.
    pub due: bool,
    /// How many reminders were given before `now` (0: first sight).
    pub step: u32,
    /// When the next reminder falls due: `now` or earlier when `due`; after
    /// `ka-remind` (not `--peek`) reminded, the step after.
    pub next_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snoozed_until: Option<String>,
    /// What the owner can do about it, e.g. `ka-install fresnel`.
    pub hint: String,
}

// ---------------------------------------------------------------- host state

/// `ka.installed` (`KA_ROOT/hosts/<host>/installed.json`): what `ka-install`
/// last installed on the host. Written by ka-install after the package is in
/// place and the host came back; read by `ka-status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Installed {
    pub kind: InstalledKind,
    pub version: V1,
    pub host: String,
    /// Package name, e.g. `linux-fresnel-fourier`.
    pub package: String,
    /// Package version as the package manager writes it, e.g. `6.1.158-2`.
    pub package_version: String,
    /// RFC 3339 UTC time the install finished.
    pub installed_at: String,
    /// `/proc/sys/kernel/random/boot_id` after the reboot into the kernel, when
    /// the host came back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_id: Option<String>,
    /// The install job, when one ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// The b2sum of the manifest.lock the package was built from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock_b2sum: Option<String>,
    /// The kernel image's path on the host (`/boot/vmlinuz-<suffix>`, …),
    /// when the package installs the image as its build made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The b2sum the build job recorded for that image (`image_b2sum` of its
    /// `ka.job-result`): bar 2 compares the file on the host with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_b2sum: Option<String>,
}

/// `ka.host-status`: one fleet host as `ka-status` sees it from local files.
/// A field is absent when its source file does not exist yet; a source that
/// could not be read is named in `errors` and its field is absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HostStatus {
    pub kind: HostStatusKind,
    pub version: V1,
    pub host: String,
    /// The b2sum of the promoted manifest.lock (its first 16 hex digits are
    /// the promotion id, `KA_ROOT/hosts/<host>/promotions/<id>/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promoted: Option<String>,
    /// When the host was last promoted to that lock (RFC 3339 UTC): when its
    /// `promoted` link was last switched. A promote that changes nothing
    /// leaves it as it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promoted_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installed: Option<Installed>,
    /// The newest successful build job for the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub built: Option<Built>,
    /// The newest `[ka:installable]` notice filed for the host (open or closed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<PackageRef>,
    /// Open `[ka:installable]` notices: versions waiting for `ka-install`.
    pub installable: Vec<PackageRef>,
    /// An open `[ka:host-drifted]` block names the host.
    pub drifted: bool,
    /// Open blocks about the host (by subject host or build host).
    pub blocks: Vec<BlockRef>,
    /// The last verification (`KA_ROOT/hosts/<host>/verify/last.json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<VerifySummary>,
    /// Sources that could not be read, each naming its file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Built {
    pub job: String,
    /// When the job was started (from its id).
    pub at: String,
    /// The package version read from the built file names, when they follow
    /// the package manager's naming.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package_version: Option<String>,
    /// The package files under `KA_ROOT/output/<job>/`.
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PackageRef {
    /// The notice id.
    pub id: String,
    pub package: String,
    pub package_version: String,
    /// When it was filed (RFC 3339).
    pub at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifySummary {
    pub passed: bool,
    pub at: String,
    /// The bars that failed.
    pub failed_bars: Vec<u8>,
}

// ---------------------------------------------------------------- audit

/// How a verb ended, from its exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AuditResult {
    /// Exit 0.
    Ok,
    /// Exit 0 of a `--dry-run`: nothing changed.
    DryRun,
    /// Exit 1: a negative answer (blocked, declined, a build or check failed).
    Negative,
    /// Exit 2: usage or I/O error.
    Error,
    /// Exit 3: input broke the contract.
    BadInput,
    /// Any other status (killed by a signal, ...).
    Failed,
}

impl AuditResult {
    pub fn from_exit(code: i32, dry_run: bool) -> AuditResult {
        match code {
            0 if dry_run => AuditResult::DryRun,
            0 => AuditResult::Ok,
            1 => AuditResult::Negative,
            2 => AuditResult::Error,
            3 => AuditResult::BadInput,
            _ => AuditResult::Failed,
        }
    }
}

/// `ka.audit`: one verb run. Appended as one line to `KA_ROOT/audit/audit.log`
/// and written as the record `KA_ROOT/audit/records/<id>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditEntry {
    pub kind: AuditKind,
    pub version: V1,
    /// `<verb>-<UTC time>-<8 hex>`, unique per run.
    pub id: String,
    /// `[ka:<verb>] <arguments>`, as issue titles read.
    pub title: String,
    /// The verb without its `ka-` prefix, e.g. `promote`, `snooze`.
    pub verb: String,
    /// The arguments after the verb, as given.
    pub argv: Vec<String>,
    /// The machine the verb ran on, and the user who ran it.
    pub acting_host: String,
    pub user: String,
    /// The hosts the verb acted on (with `--all`: every host promoted when it
    /// ended). Absent in entries written before it was recorded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
    /// The run was a `--dry-run` (whatever its exit status). Absent: it was not.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    /// The promoted manifest.lock of each target host, as it was when the verb
    /// ended.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub locks: Vec<Artifact>,
    pub result: AuditResult,
    pub exit_code: i32,
    /// RFC 3339 UTC time the verb ended.
    pub at: String,
}

// ---------------------------------------------------------------- issue mirror

doc_kind!(IssueEventKind = "ka.issue-event");
doc_kind!(IssueLinkKind = "ka.issue-link");
doc_kind!(MirrorStatusKind = "ka.mirror-status");

/// `ka.issue-event`: one change of a local record, queued as one file in
/// `KA_ROOT/gitea/outbox/` (written atomically) until `ka-gitea flush` has
/// mirrored it. Files are flushed in name order (`<8-digit sequence>-<event>.json`);
/// a flushed event's file is removed only after Gitea accepted it.
///
/// The item is a snapshot of the record at the time of the change, so an event
/// replays the same way however late it is flushed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueEvent {
    pub kind: IssueEventKind,
    pub version: V1,
    /// Unique id of this event (16 hex). A comment it posts carries it, so a
    /// flush interrupted after posting never posts the comment twice.
    pub event: String,
    /// When it was queued (RFC 3339 UTC).
    pub queued_at: String,
    pub change: IssueChange,
    pub item: IssueItem,
    /// A comment for an issue that already exists (re-filing with a new detail,
    /// lifting). Not posted when this event is what creates the issue: the body
    /// already says it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// What happened to the local record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum IssueChange {
    /// First filed: opens an issue.
    Filed,
    /// Filed again while open, with a new detail: a comment.
    Refiled,
    /// Filed again after it was lifted: the issue opens again, with a comment.
    Reopened,
    /// Lifted: a comment with the reason, and the issue is closed.
    Lifted,
}

/// The record-kind-neutral form of an issue record that the mirror works on.
/// Each record kind maps its records to this (blocks: `ka-block`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueItem {
    /// `<record kind>/<local id>`, e.g. `block/patch-fail-0123456789ab`:
    /// unique across record kinds. The issue body carries it as `ka-id: <id>`
    /// so a lost link is found again.
    pub id: String,
    /// `[ka:<kind>] ...`.
    pub title: String,
    /// Label names, e.g. `ka`, `ka:block`, `ka:patch-fail`; created in the
    /// repository when missing.
    pub labels: Vec<String>,
    /// Markdown body of a new issue.
    pub body: String,
    pub state: IssueState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum IssueState {
    Open,
    Closed,
}

impl IssueState {
    pub fn as_str(self) -> &'static str {
        match self {
            IssueState::Open => "open",
            IssueState::Closed => "closed",
        }
    }
}

/// `ka.issue-link`: which Gitea issue mirrors a local record, one file per
/// record under `KA_ROOT/gitea/issues/<record kind>/<local id>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueLink {
    pub kind: IssueLinkKind,
    pub version: V1,
    /// The item id, `<record kind>/<local id>`.
    pub item: String,
    /// The issue number (`#N`) in the repository.
    pub number: u64,
    /// The title and state Gitea last confirmed.
    pub title: String,
    pub state: IssueState,
    /// The event whose comment is being posted: written before the request, so a
    /// flush that died mid-request looks for the comment before posting again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub posting: Option<String>,
    pub updated_at: String,
}

/// `ka.mirror-status`: what `ka-gitea status --json` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MirrorStatus {
    pub kind: MirrorStatusKind,
    pub version: V1,
    /// `local` or `gitea`.
    pub backend: String,
    /// `<url>/<owner>/<repo>` when the backend is Gitea.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// Events waiting in the outbox (corrupt files included).
    pub queued: u32,
    /// Outbox files that do not parse.
    pub corrupt: Vec<PathBuf>,
    /// Records linked to an issue.
    pub linked: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_flush_at: Option<String>,
    /// The error of the last flush or pull that failed, cleared by the next
    /// one that succeeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error_at: Option<String>,
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
    /// A job's tree on a build host, `<build-host>:<root>/source/<job-id>/`
    /// (an unreachable build host is a problem of this class).
    BuildTree,
    /// An entry of a build host's source cache,
    /// `<build-host>:<root>/cache/sources/<b2sum>`.
    SourceCache,
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

// ---------------------------------------------------------------- publish

doc_kind!(PublishKind = "ka.publish");

/// `ka.publish`: what `ka-sign` did with the packages of one build job: copied
/// them to the sign host, signed each one (a detached `.sig`), added them to
/// the repository of the target host's distro and architecture, and swapped
/// the repository to its new generation. Written to
/// `KA_ROOT/publish/<job-id>.json` (every attempt that ran) and, when it
/// succeeded, to `KA_ROOT/hosts/<host>/published.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Publish {
    pub kind: PublishKind,
    pub version: V1,
    /// The target host the packages were built for.
    pub host: String,
    /// The build job whose packages these are.
    pub job: String,
    /// `done`, `unchanged` (every package was published before, byte for
    /// byte), `dry-run`, `blocked` (by the gate), `failed`.
    pub status: Status,
    pub message: String,
    /// The host that signed and holds the repository.
    pub sign_host: String,
    /// The signing key's fingerprint.
    pub key: String,
    pub repo: PublishedRepo,
    /// The packages, as published (paths on the sign host).
    pub packages: Vec<PublishedPackage>,
    /// Every file written on the sign host, by the path readers use (through
    /// the repository's live symlink): packages, `.sig` files, the pacman
    /// databases and their signatures, or `Packages`, `Release`, `InRelease`
    /// and `Release.gpg`. Empty unless `done`.
    pub published: Vec<String>,
    /// Every local file written: this record and the job log.
    pub files: Vec<PathBuf>,
    /// Blocks that stopped the publish, or that it filed (`[ka:signing-fail]`).
    pub blocks: Vec<BlockRef>,
    /// Notices filed (`[ka:installable]` ids).
    pub notices: Vec<String>,
}

/// The repository a publish went into.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishedRepo {
    pub distro: crate::formats::Distro,
    pub arch: crate::formats::Arch,
    /// The live path on the sign host: a symlink to the current generation.
    pub path: String,
    /// The pacman repository name, or the apt suite.
    pub name: String,
    /// The generation folder the live symlink points at after this publish
    /// (under `<parent>/.<basename>.generations/`), when it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<String>,
}

/// One published package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishedPackage {
    /// The package name, e.g. `linux-fresnel-fourier`.
    pub package: String,
    /// `<pkgver>-<pkgrel>` (pacman) or the Debian version from the file name.
    pub version: String,
    /// The package's architecture as the file name says (`x86_64`, `any`,
    /// `amd64`, `all`, ...).
    pub arch: String,
    /// The package file on the sign host, as readers see it.
    pub file: String,
    /// Its detached signature.
    pub signature: String,
    pub size: u64,
    pub b2sum: String,
    /// The host's kernel package (the one `[ka:installable]` names).
    pub kernel: bool,
}

// ---------------------------------------------------------------- install

doc_kind!(InstallKind = "ka.install");

/// `ka.install`: what `ka-install-run` did (or, with `--dry-run`, would do)
/// to put a host's last published kernel package on it. Consent is bound to
/// `plan_hash`: the b2sum (first 16 hex digits) of the host, the package's
/// b2sum and `boot_change`; `--plan HASH` installs only while it is the same.
/// Written to `KA_ROOT/hosts/<host>/installs/<id>.json` when the install ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Install {
    pub kind: InstallKind,
    pub version: V1,
    pub host: String,
    /// `install-<host>-<UTC time>`: names the remote staging folder and the
    /// backup's job.
    pub id: String,
    /// `done` (converged), `dry-run`, `blocked` (gate, signature, plan hash)
    /// or `failed` (a phase failed; `failed_phase` names it).
    pub status: Status,
    pub message: String,
    pub plan_hash: String,
    /// The kernel package from `hosts/<host>/published.json`.
    pub package: String,
    pub package_version: String,
    /// The kernel release the package installs (`uname -r` after the reboot).
    pub kernel_release: String,
    /// The package file on the sign host.
    pub file: String,
    pub size: u64,
    pub b2sum: String,
    /// The fingerprint the detached signature must verify with.
    pub key: String,
    /// The backup folder: `KA_ROOT/backups/<host>/<running kernel>/`
    /// (the running kernel is known once the host answered).
    pub backup: String,
    /// What changes in the boot configuration, in words (part of the plan hash).
    pub boot_change: String,
    /// The kernel that ran before and the boot_ids before and after the reboot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_kernel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_id_before: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_id_after: Option<String>,
    /// Every phase that ran, in order; the last one failed when `failed`.
    pub phases: Vec<InstallPhase>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_phase: Option<Phase>,
    /// Every local file written.
    pub files: Vec<PathBuf>,
    /// Blocks that stopped the install, or that it filed.
    pub blocks: Vec<BlockRef>,
    /// Blocks it lifted (`[ka:host-drifted]` once converged).
    pub lifted: Vec<BlockRef>,
    /// Notices it closed (`[ka:installable]` ids).
    pub notices: Vec<String>,
}

/// The phases of an install, in the order they run (`signature` and
/// `package` run after `copy` instead when the host copies the package over
/// the LAN). The one list: the schema, ka-install(1)'s PHASES, the README and
/// ARCHITECTURE.md are checked against it (crates/ka-man/tests/registry.rs).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// The gate, the published package, the consent hash.
    Gate,
    /// The package and its signature from the sign host, b2sum checked.
    Fetch,
    /// `gpgv` against the fleet's keyring.
    Signature,
    /// With `install.fdt`: the package holds the device tree the entry names.
    Package,
    /// SSH to the host, strict host keys.
    Connect,
    /// The running kernel and boot_id, before anything changes.
    ConnectFacts,
    /// Root, /boot writable, room for the package; a refusal changes nothing.
    Preflight,
    /// /boot saved with its record, before any change.
    Backup,
    /// The package onto the host, b2sum checked there.
    Copy,
    /// `dpkg -i` or `pacman -U`.
    Install,
    /// The managed extlinux block and DEFAULT.
    BootConfig,
    /// Every file the entry names exists; sync.
    PreReboot,
    Reboot,
    /// SSH back with a new boot_id.
    Heartbeat,
    /// `uname -r` and `verify.dt` say the new kernel runs.
    Proof,
}

impl Phase {
    pub const ALL: [Phase; 15] = [
        Phase::Gate,
        Phase::Fetch,
        Phase::Signature,
        Phase::Package,
        Phase::Connect,
        Phase::ConnectFacts,
        Phase::Preflight,
        Phase::Backup,
        Phase::Copy,
        Phase::Install,
        Phase::BootConfig,
        Phase::PreReboot,
        Phase::Reboot,
        Phase::Heartbeat,
        Phase::Proof,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Gate => "gate",
            Phase::Fetch => "fetch",
            Phase::Signature => "signature",
            Phase::Package => "package",
            Phase::Connect => "connect",
            Phase::ConnectFacts => "connect-facts",
            Phase::Preflight => "preflight",
            Phase::Backup => "backup",
            Phase::Copy => "copy",
            Phase::Install => "install",
            Phase::BootConfig => "boot-config",
            Phase::PreReboot => "pre-reboot",
            Phase::Reboot => "reboot",
            Phase::Heartbeat => "heartbeat",
            Phase::Proof => "proof",
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for Phase {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// One phase of an install and how it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InstallPhase {
    pub phase: Phase,
    pub ok: bool,
    /// Its time limit in seconds.
    pub timeout_s: u64,
    pub seconds: f64,
    pub detail: String,
}
