//! A host's own state: what was installed (`ka.installed`), how an install went
//! (`ka.install`), what verification saw (`ka.probe-report`, `ka.burn-in`) and
//! the one-line status (`ka.host-status`).

use crate::{
    BlockRef, BurnInKind, HostStatusKind, InstalledKind, ProbeReportKind, Span, Status, V1,
};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// `ka.probe-report`: the verification bars of one host, as `ka-probe` saw
/// them at `at` (`ka-verify` keeps the last one in
/// `KA_ROOT/hosts/<host>/verify/last.json` and every one under `history/`).
/// `passed` is true when every bar result passed. A bar with no result was
/// not checked; `notes` says why (e.g. no `installed.json` yet for bar 2, or
/// bars 2–4 when the host did not answer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
    pub duration: Span,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum BurnInState {
    /// Runs are being recorded; `ends_at` is still ahead.
    Running,
    /// The duration is over and every run passed: bar 5 passes.
    Passed,
    /// A run failed: bar 5 fails (the regression was filed then).
    Failed,
}

// ---------------------------------------------------------------- host state

/// `ka.installed` (`KA_ROOT/hosts/<host>/installed.json`): what `ka-install`
/// last installed on the host. Written by ka-install after the package is in
/// place and the host came back; read by `ka-status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PackageRef {
    /// The notice id.
    pub id: String,
    pub package: String,
    pub package_version: String,
    /// When it was filed (RFC 3339).
    pub at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct VerifySummary {
    pub passed: bool,
    pub at: String,
    /// The bars that failed.
    pub failed_bars: Vec<u8>,
}

// ---------------------------------------------------------------- install

doc_kind!(InstallKind = "ka.install");

/// `ka.install`: what `ka-install-run` did (or, with `--dry-run`, would do)
/// to put a host's last published kernel package on it. Consent is bound to
/// `plan_hash`: the b2sum (first 16 hex digits) of the host, the package's
/// b2sum and `boot_change`; `--plan HASH` installs only while it is the same.
/// Written to `KA_ROOT/hosts/<host>/installs/<id>.json` when the install ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct InstallPhase {
    pub phase: Phase,
    pub ok: bool,
    /// Its time limit in seconds.
    pub timeout_s: u64,
    pub seconds: f64,
    pub detail: String,
}
