//! The records of the fleet's state: blocks and the gate, notices, reminders,
//! the audit log and the issue mirror's outbox events and links.

use crate::{Artifact, BlockDocKind, BlockRef, GateKind, V1};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

// ---------------------------------------------------------------- blocks

/// The kinds of block, and what each halts (`ka-gate(1)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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

/// A name that is none of a closed list's (a block kind, a verb, a notice
/// kind): usage, exit 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownName {
    pub what: &'static str,
    pub name: String,
}

impl UnknownName {
    fn new(what: &'static str, name: &str) -> UnknownName {
        UnknownName {
            what,
            name: name.to_string(),
        }
    }
}

impl std::fmt::Display for UnknownName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "unknown {} {}",
            self.what,
            ka_core::error::quoted(&self.name)
        )
    }
}

impl std::error::Error for UnknownName {}

impl ka_core::error::Coded for UnknownName {
    fn code(&self) -> ka_core::ExitCode {
        ka_core::ExitCode::Usage
    }
}

impl std::str::FromStr for BlockKind {
    type Err = UnknownName;
    /// The kebab-case names the JSON uses, e.g. `patch-fail`.
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        BlockKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownName::new("block kind", s))
    }
}

/// What a block is about; together with its kind this decides what it halts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        Verb::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| UnknownName::new("verb", s))
    }
}

/// `ka.gate`: may `verb` act on `host` (with `build_host`, with `patches`)?
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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

// ---------------------------------------------------------------- notices

doc_kind!(NoticeDocKind = "ka.notice");
doc_kind!(ReminderKind = "ka.reminder");
doc_kind!(InstalledKind = "ka.installed");
doc_kind!(HostStatusKind = "ka.host-status");
doc_kind!(AuditKind = "ka.audit");

/// The kinds of notice: issue records that halt nothing but want the owner's
/// attention until something happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        NoticeKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownName::new("notice kind", s))
    }
}

/// What a notice is about; together with its kind this makes its id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum NoticeState {
    Open,
    Closed,
}

// ---------------------------------------------------------------- reminders

/// Which store an open record lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum RecordStore {
    /// `KA_ROOT/blocks/` (`ka.block`).
    Block,
    /// `KA_ROOT/notices/` (`ka.notice`).
    Notice,
}

/// `ka.reminder`: one open record as `ka-remind` sees it at `now`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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

// ---------------------------------------------------------------- audit

/// How a verb ended, from its exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back_and_an_unknown_one_is_usage() {
        for k in BlockKind::ALL {
            assert_eq!(k.as_str().parse::<BlockKind>(), Ok(k));
        }
        for v in Verb::ALL {
            assert_eq!(v.as_str().parse::<Verb>(), Ok(v));
        }
        let e = ka_core::Error::from("patch-fial".parse::<BlockKind>().unwrap_err());
        assert_eq!(e.to_string(), "unknown block kind \"patch-fial\"");
        assert_eq!(e.exit_code(), ka_core::ExitCode::Usage);
        assert!("x".parse::<NoticeKind>().is_err());
    }
}
