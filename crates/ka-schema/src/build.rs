//! Building: the `ka.job` record, the `ka.job-result` a build host hands back,
//! and `ka.render`, the package folder ka-render writes.

use crate::{Artifact, JobKind, JobResultKind, RenderKind, Span, V1};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

// ---------------------------------------------------------------- later stages

/// `ka.job`: one command to run on a host (`ka-run-remote`), with its limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
    pub wall_clock: Span,
    pub stall: Span,
    pub log: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum TreeMode {
    /// The tree was unpacked and patched afresh.
    Clean,
    /// Only the files whose content changed since the tree's last build were replaced.
    Incremental,
}

/// A build job's build tree: where, which mode, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Render {
    pub kind: RenderKind,
    pub version: V1,
    pub host: String,
    pub pkgbase: String,
    pub distro: crate::Distro,
    /// The b2sum of the manifest.lock it was rendered from.
    pub lock_b2sum: String,
    /// The folder holding the package sources (PKGBUILD or debian build script).
    pub dir: PathBuf,
    /// Every file in the folder with its size and b2sum.
    pub files: Vec<Artifact>,
}
