//! `ka-concat`: a checked plan becomes `cumulative.patch` and `manifest.lock`.
//!
//! Each patch's bytes go into the cumulative unchanged, with two exceptions:
//! the final format-patch signature (`-- \n<version>\n`) is stripped, since
//! patch(1) rejects it in the middle of a cumulative patch; and every hunk
//! header says where ka-check placed the hunk at the pinned baseline
//! ([`ka_apply::relocate_hunks`]), so the build host's `patch -F0` applies the
//! cumulative with no offset, whichever point release a patch was made against. The lock holds no timestamps, so
//! identical inputs give byte-identical outputs.
//!
//! Writing is all or nothing: the two files go into a content-addressed folder
//! `promotions/<id>/` (written under a temp name, fsynced, renamed), then the
//! `promoted` symlink is swapped to it in one rename. A reader sees the old pair
//! or the new pair, never a mix.

use anyhow::Context;
use clap::{CommandFactory, Parser};
use ka_block::gate::{Request, blocking};
use ka_block::store::Store;
use ka_core::args::RootArg;
use ka_core::atomic;
use ka_core::error::{Error, ExitCode, Result, contract};
use ka_core::hash::b2sum;
use ka_core::hostlock::HostLock;
use ka_core::names::check_name;
use ka_core::paths::Layout;
use ka_schema::{
    Artifact, BlockRef, Check, ConfigCheck, Lock, LockedBaseline, LockedPatch, Status, V1, Verb,
    VerbResult, VerdictLine,
};
use std::fs;
use std::path::{Path, PathBuf};

pub const CUMULATIVE: &str = "cumulative.patch";
pub const LOCK: &str = "manifest.lock";
/// The checked kernel config beside the lock (`ka-kconfig`'s final `.config`).
pub const CONFIG: &str = "config";

#[derive(Parser, Debug)]
#[command(
    name = "ka-concat",
    version,
    about = "Checked plan (ka.check) to cumulative.patch + manifest.lock, atomically; prints ka.result",
    long_about = "Reads ka.check documents on stdin (from ka-check). For each host: re-reads every \
patch and refuses (exit 3) if its bytes changed since they were checked; concatenates \
them, stripping each patch's final format-patch signature and moving each hunk header \
to where ka-check placed the hunk (so patch -F0 applies it with no offset); builds the lock \
(baseline commit, every patch's path, size and b2sum in order, the cumulative's size and \
b2sum); asks the gate (verb promote); and writes both files under \
KA_ROOT/hosts/<host>/promotions/<id>/, then points KA_ROOT/hosts/<host>/promoted at them \
in one atomic rename. Prints one ka.result per host naming the files written.\n\n\
A host already promoted to the same lock gets status unchanged: nothing is written, and its \
ka.result names the promoted files in place (KA_ROOT/hosts/<host>/promoted/cumulative.patch \
and manifest.lock). With --dry-run the message says what the real run would do: \
\"would promote N patches\", or \"would be unchanged\".\n\n\
A host whose check did not pass, or whose patches an open [ka:patch-fail] or \
[ka:campaign-conflict] block halts, gets status blocked and nothing is written for it \
(exit 1). Other hosts go on."
)]
pub struct Cli {
    #[command(flatten)]
    pub root: RootArg,
    /// Compute and report everything, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Write the two files into DIR instead of the promotion store (no gate, no symlink).
    #[arg(long, value_name = "DIR", conflicts_with = "dry_run")]
    pub out: Option<PathBuf>,
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let checks: Vec<Check> = ka_core::stream::read_docs(std::io::stdin().lock(), "stdin")?;
    let layout = cli.root.layout()?;
    let store = Store::local(&layout);
    let mut results = Vec::new();
    let mut code = ExitCode::Ok;
    for check in &checks {
        if let Some(pending) = &check.plan.baseline.pending {
            results.push(pending_result(check, pending, cli.dry_run)?);
            continue;
        }
        let built = Cumulative::build(check)?;
        let result = match &cli.out {
            Some(dir) => built.write_to(dir)?,
            None => built.promote(&layout, &store, check, cli.dry_run)?,
        };
        if result.status == Status::Blocked {
            code = ExitCode::Negative;
        }
        results.push(result);
    }
    ka_core::stream::write_docs(&results).context("stdout")?;
    Ok(code)
}

/// A dry run whose baseline is not imported yet (`ka-baseline --dry-run`):
/// nothing could be checked, so say what a real run would do first.
fn pending_result(check: &Check, pending: &str, dry_run: bool) -> Result<VerbResult> {
    let plan = &check.plan;
    if !dry_run {
        return Err(contract(format!(
            "plan for {} has no pinned baseline (a dry run's plan: {pending}); pipe it through ka-baseline without --dry-run",
            plan.host
        )));
    }
    Ok(VerbResult {
        kind: Default::default(),
        version: V1,
        verb: "promote".into(),
        host: plan.host.clone(),
        status: Status::DryRun,
        message: format!(
            "would {pending}, then check and promote {} (the patches are checked once the baseline is imported)",
            count_patches(plan.patches.len())
        ),
        files: Vec::new(),
        blocks: Vec::new(),
        lock: None,
        verdicts: Vec::new(),
        job: None,
        build_host: None,
        config: None,
    })
}

/// The cumulative patch and lock of one host, in memory.
pub struct Cumulative {
    pub host: String,
    pub patch: Vec<u8>,
    pub lock: Lock,
    pub lock_bytes: Vec<u8>,
    pub verdicts: Vec<VerdictLine>,
    /// The final `.config`, when the host has a checked config (absent in a
    /// dry run, which keeps none: the lock still names its b2sum).
    pub config: Option<Vec<u8>>,
    pub config_check: Option<ConfigCheck>,
}

/// The host's cumulative patch (every patch's body, its hunks moved to where
/// the check placed them) and the lock entries of its patches; refused when
/// a patch is out of the check's order or changed since it was checked.
fn cumulative_patch(check: &Check) -> Result<(Vec<u8>, Vec<LockedPatch>)> {
    let plan = &check.plan;
    let mut cumulative = Vec::new();
    let mut locked = Vec::new();
    for (planned, checked) in plan.patches.iter().zip(&check.patches) {
        if planned.path != checked.path {
            return Err(contract(format!(
                "check of {} is out of order: plan has {} where the check has {}",
                plan.host, planned.path, checked.path
            )));
        }
        let rel = ka_core::paths::safe_relative("patch path", &planned.path)?;
        let path = plan.repo.join(rel);
        let bytes = fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let sum = b2sum(&bytes);
        if sum != checked.b2sum {
            return Err(contract(format!(
                "{}: changed since it was checked; run ka-promote again",
                planned.path
            )));
        }
        let offsets: Vec<i64> = checked
            .files
            .iter()
            .flat_map(|f| f.hunks.iter().map(|h| h.offset))
            .collect();
        // A patch that does not apply is never written (the host is
        // blocked), and its check may place fewer hunks than it has.
        let body = if checked.verdict.applies() {
            ka_apply::relocate_hunks(strip_signature(&bytes), &offsets)
                .map_err(|e| contract(format!("{}: {e}; run ka-promote again", planned.path)))?
        } else {
            std::borrow::Cow::Borrowed(strip_signature(&bytes))
        };
        cumulative.extend_from_slice(&body);
        if !body.is_empty() && !body.ends_with(b"\n") {
            // Keep the next patch's first line a line of its own.
            cumulative.push(b'\n');
        }
        locked.push(LockedPatch {
            path: planned.path.clone(),
            scope: planned.scope.clone(),
            series: planned.series.clone(),
            campaign: planned.campaign.clone(),
            size: bytes.len() as u64,
            b2sum: sum,
        });
    }
    Ok((cumulative, locked))
}

/// Why a host is not promoted, one phrase per reason: patches that do not
/// apply, conflicts, config values that do not stick, open blocks.
fn why_blocked(check: &Check, in_the_way: &[BlockRef]) -> Vec<String> {
    let failing = check
        .patches
        .iter()
        .filter(|p| !p.verdict.applies())
        .count();
    let mut why = Vec::new();
    if failing > 0 {
        why.push(format!("{failing} patch(es) do not apply"));
    }
    if !check.conflicts.is_empty() {
        why.push(format!("{} campaign conflict(s)", check.conflicts.len()));
    }
    if let Some(c) = &check.config {
        let drops = c.drops.iter().filter(|d| d.halts).count();
        if drops > 0 {
            why.push(format!("{drops} config value(s) do not stick"));
        }
        if !c.conflicts.is_empty() {
            why.push(format!("{} config conflict(s)", c.conflicts.len()));
        }
    }
    if !in_the_way.is_empty() {
        why.push(format!("{} open block(s)", in_the_way.len()));
    }
    why
}

impl Cumulative {
    pub fn build(check: &Check) -> Result<Cumulative> {
        let plan = &check.plan;
        check_name("host", &plan.host)?;
        let commit = plan.baseline.commit.clone().ok_or_else(|| {
            contract(format!(
                "check of {} has no pinned baseline commit; run ka-baseline and ka-check first",
                plan.host
            ))
        })?;
        if check.patches.len() != plan.patches.len() {
            return Err(contract(format!(
                "check of {} covers {} patches but its plan has {}",
                plan.host,
                check.patches.len(),
                plan.patches.len()
            )));
        }
        let (cumulative, locked) = cumulative_patch(check)?;
        let (config, config_artifact) = checked_config(check)?;
        let lock = Lock {
            kind: Default::default(),
            version: V1,
            host: plan.host.clone(),
            manifest: plan.manifest.clone(),
            manifest_b2sum: plan.manifest_b2sum.clone(),
            baseline: LockedBaseline {
                spec: plan.baseline.spec.clone(),
                commit,
            },
            patches: locked,
            cumulative: Artifact {
                file: CUMULATIVE.into(),
                size: cumulative.len() as u64,
                b2sum: b2sum(&cumulative),
            },
            config: config_artifact,
        };
        let mut lock_bytes = serde_json::to_vec_pretty(&lock).expect("locks serialize");
        lock_bytes.push(b'\n');
        let verdicts = check
            .patches
            .iter()
            .map(|p| VerdictLine {
                path: p.path.clone(),
                verdict: p.verdict,
                reason: p.reason.clone(),
            })
            .collect();
        Ok(Cumulative {
            host: plan.host.clone(),
            patch: cumulative,
            lock,
            lock_bytes,
            verdicts,
            config,
            config_check: check.config.clone(),
        })
    }

    /// The promotion id: the first 16 hex digits of the lock's b2sum.
    pub fn id(&self) -> String {
        b2sum(&self.lock_bytes)[..16].to_string()
    }

    fn result(&self, status: Status, message: String, files: Vec<PathBuf>) -> VerbResult {
        VerbResult {
            kind: Default::default(),
            version: V1,
            verb: "promote".into(),
            host: self.host.clone(),
            status,
            message,
            files,
            blocks: Vec::new(),
            lock: Some(self.lock.clone()),
            verdicts: self.verdicts.clone(),
            job: None,
            build_host: None,
            config: self.config_check.clone().map(Box::new),
        }
    }

    /// Gate, then write into the promotion store and swap the `promoted` link.
    fn promote(
        &self,
        layout: &Layout,
        store: &Store,
        check: &Check,
        dry_run: bool,
    ) -> Result<VerbResult> {
        let in_the_way = self.blocks_in_the_way(store, check)?;
        if !check.passes() || !in_the_way.is_empty() {
            let why = why_blocked(check, &in_the_way);
            let mut r = self.result(
                Status::Blocked,
                format!("not promoted: {}; nothing written", why.join(", ")),
                Vec::new(),
            );
            r.blocks = in_the_way;
            return Ok(r);
        }
        let dir = layout.promotions(&self.host).join(self.id());
        let link = layout.promoted(&self.host);
        let mut files = vec![dir.join(CUMULATIVE), dir.join(LOCK)];
        if self.config.is_some() {
            files.push(dir.join(CONFIG));
        }
        files.push(link.clone());
        let patches = count_patches(self.lock.patches.len());
        // A dry run says what the real run would say: the same check, read only.
        if dry_run {
            let message = if self.is_promoted(&link, &dir) {
                format!("would be unchanged: already promoted ({patches})")
            } else {
                format!("would promote {patches}")
            };
            return Ok(self.result(Status::DryRun, message, Vec::new()));
        }
        let _lock = HostLock::acquire(
            &layout.host_lock(&self.host),
            &format!("ka-promote {}", self.host),
        )?;
        if self.is_promoted(&link, &dir) {
            // Nothing written; `files` names the promoted pair in place, so
            // `.files[]` lists them whether or not this run wrote them.
            let mut files = vec![link.join(CUMULATIVE), link.join(LOCK)];
            if self.config.is_some() {
                files.push(link.join(CONFIG));
            }
            return Ok(self.result(
                Status::Unchanged,
                format!("already promoted ({patches})"),
                files,
            ));
        }
        if !self.matches_on_disk(&dir) {
            self.write_folder(&dir)?;
        }
        atomic::replace_symlink(&self.link_target(), &link)?;
        Ok(self.result(Status::Done, format!("promoted {patches}"), files))
    }

    /// The open blocks that halt promoting this host: on its patches, and on
    /// its config fragments (a conflict between two fragments halts the
    /// promote of a plan that has both, as one between patches does).
    fn blocks_in_the_way(&self, store: &Store, check: &Check) -> Result<Vec<BlockRef>> {
        let mut patches: Vec<String> = self.lock.patches.iter().map(|p| p.path.clone()).collect();
        if let Some(c) = &check.plan.config {
            patches.extend(c.fragments.iter().map(|f| f.path.clone()));
        }
        let open = store.open_blocks()?;
        let req = Request {
            host: &self.host,
            build_host: None,
            patches: &patches,
        };
        Ok(blocking(&open, Verb::Promote, &req)
            .into_iter()
            .map(|b| b.to_ref())
            .collect())
    }

    /// What the `promoted` link points at for this promotion.
    fn link_target(&self) -> PathBuf {
        PathBuf::from("promotions").join(self.id())
    }

    /// Whether `link` already points at this promotion's folder `dir` and the
    /// folder holds its files: promoting again would change nothing.
    fn is_promoted(&self, link: &Path, dir: &Path) -> bool {
        fs::read_link(link).is_ok_and(|t| t == self.link_target()) && self.matches_on_disk(dir)
    }

    fn matches_on_disk(&self, dir: &Path) -> bool {
        fs::read(dir.join(LOCK)).is_ok_and(|b| b == self.lock_bytes)
            && fs::read(dir.join(CUMULATIVE)).is_ok_and(|b| b2sum(&b) == self.lock.cumulative.b2sum)
            && self
                .lock
                .config
                .as_ref()
                .is_none_or(|c| fs::read(dir.join(CONFIG)).is_ok_and(|b| b2sum(&b) == c.b2sum))
    }

    /// Write both files into a temp folder beside `dir`, then rename it into place.
    fn write_folder(&self, dir: &Path) -> Result<()> {
        let parent = dir.parent().expect("promotion folders have a parent");
        let tmp = parent.join(format!(".tmp-{}-{}", self.id(), std::process::id()));
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        atomic::create_synced(&tmp.join(CUMULATIVE), &self.patch)?;
        atomic::create_synced(&tmp.join(LOCK), &self.lock_bytes)?;
        if let Some(config) = &self.config {
            atomic::create_synced(&tmp.join(CONFIG), config)?;
        }
        atomic::sync_dir(&tmp)?;
        // A stale or damaged folder for the same id is replaced whole.
        atomic::replace_dir(&tmp, dir)
    }

    /// `--out DIR`: write the two files (atomically each) into DIR.
    fn write_to(&self, dir: &Path) -> Result<VerbResult> {
        let mut files = vec![dir.join(CUMULATIVE), dir.join(LOCK)];
        atomic::write(&files[0], &self.patch)?;
        atomic::write(&files[1], &self.lock_bytes)?;
        if let Some(config) = &self.config {
            files.push(dir.join(CONFIG));
            atomic::write(&files[2], config)?;
        }
        Ok(self.result(
            Status::Done,
            format!("wrote {}", count_patches(self.lock.patches.len())),
            files,
        ))
    }
}

/// The checked config of a check: its bytes (read back from ka-kconfig's
/// cache and compared with the b2sum it reported) and its lock entry. A plan
/// with config inputs whose check has no config section did not go through
/// ka-kconfig.
fn checked_config(check: &Check) -> Result<(Option<Vec<u8>>, Option<Artifact>)> {
    let plan = &check.plan;
    let Some(c) = &check.config else {
        if plan.config.is_some() {
            return Err(contract(format!(
                "plan of {} has config inputs but its check has no config section; pipe it through ka-kconfig",
                plan.host
            )));
        }
        return Ok((None, None));
    };
    let artifact = Artifact {
        file: CONFIG.into(),
        size: c.size,
        b2sum: c.b2sum.clone(),
    };
    let Some(kept) = &c.kept else {
        return Ok((None, Some(artifact)));
    };
    let bytes = fs::read(kept).map_err(|e| Error::io(kept, e))?;
    if b2sum(&bytes) != c.b2sum {
        return Err(contract(format!(
            "{}: the checked config of {} changed since ka-kconfig wrote it; run ka-promote again",
            kept.display(),
            plan.host
        )));
    }
    Ok((Some(bytes), Some(artifact)))
}

fn count_patches(n: usize) -> String {
    if n == 1 {
        "1 patch".into()
    } else {
        format!("{n} patches")
    }
}

/// Strip the final format-patch signature: a last `-- ` line followed by one
/// version line (and blank lines). Nothing else is touched; a `-- ` anywhere
/// but at the very end stays.
pub fn strip_signature(bytes: &[u8]) -> &[u8] {
    let mut end = bytes.len();
    while end > 0 && bytes[end - 1] == b'\n' {
        end -= 1;
    }
    // the version line: bytes[line_start..end]
    let line_start = bytes[..end]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let version = &bytes[line_start..end];
    let looks_like_version = !version.is_empty()
        && !matches!(version[0], b' ' | b'+' | b'-' | b'@' | b'\\')
        && !version.contains(&b' ');
    if !looks_like_version || line_start < 4 {
        return bytes;
    }
    if &bytes[line_start - 4..line_start] == b"-- \n"
        && (line_start == 4 || bytes[line_start - 5] == b'\n')
    {
        return &bytes[..line_start - 4];
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::strip_signature;

    #[test]
    fn strips_only_the_final_signature() {
        let p = b"@@ -1 +1 @@\n-a\n+b\n-- \n2.39.2\n\n";
        assert_eq!(strip_signature(p), b"@@ -1 +1 @@\n-a\n+b\n");
        let no_blank = b"+b\n-- \n2.54.0\n";
        assert_eq!(strip_signature(no_blank), b"+b\n");
        // a deleted line "- " followed by a context line is patch content
        let content = b"@@ -1,2 +1 @@\n-- \n x\n";
        assert_eq!(strip_signature(content), content);
        // a "-- " earlier in the patch stays
        let mid = b"-- \n2.1\n+x\n";
        assert_eq!(strip_signature(mid), mid);
        assert_eq!(strip_signature(b""), b"");
        assert_eq!(strip_signature(b"-- \n2.1\n"), b"");
    }
}
