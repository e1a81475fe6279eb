//! One build: route to a build host, pre-flight it, stage the sources, run the
//! package build there, fetch the packages, and file or lift blocks.
//!
//! [`Builder::build`] runs the steps in order (its crash points sit between
//! them); the steps live with their kin in `choose` (gate, wake, pre-flight),
//! `stage` (the job folder: upload, source cache, fetch), `in_tree` (the
//! build in the persistent tree) and `check` (`--check-reproducible`).

mod check;
mod choose;
mod in_tree;
mod stage;

use crate::preflight::Toolchain;
use crate::route::Candidate;
use crate::tree::{self, Decision};
use ka_block::store::Store;
use ka_core::error::Result;
use ka_core::paths::Layout;
use ka_run_remote::Transfer;
use ka_run_remote::remote::{Credentials, Remote};
use ka_schema::{Arch, Distro, HostManifest, Span};
use ka_schema::{
    BlockKind, BlockRef, Job, JobResult, Render, RenderRef, Status, Subject, Transport, V1,
    VerbResult,
};
use std::path::{Path, PathBuf};

pub struct Builder<'a, R: Remote> {
    pub remote: R,
    pub layout: &'a Layout,
    pub store: &'a Store,
    pub repo: &'a Path,
    pub credentials: Credentials,
    pub job_id: String,
    /// Route and pre-flight only: nothing under KA_ROOT is written, no block
    /// is filed or lifted (the message says which would be), and the
    /// pre-flight's log goes to this scratch folder, removed afterwards.
    pub dry_run: Option<PathBuf>,
    /// Build in a clean tree whatever the tree's state (`--clean`).
    pub clean: bool,
    /// Build a second time, clean, in another folder and compare the image
    /// and modules (`--check-reproducible`).
    pub check_reproducible: bool,
}

/// A build's image and module b2sums, as the commit job printed them.
struct Built {
    sums: Vec<(String, String)>,
}

/// Where one build runs, once a build host passed its pre-flight.
struct Site<'r> {
    host: Candidate,
    toolchain: Toolchain,
    render: &'r Render,
    target: &'r HostManifest,
    /// The persistent build tree (see crate::tree).
    tree_dir: String,
    /// The job folder on the build host the render folder is staged into.
    remote_dir: String,
}

impl<'r> Site<'r> {
    fn new(
        host: Candidate,
        toolchain: Toolchain,
        render: &'r Render,
        target: &'r HostManifest,
        job_id: &str,
    ) -> Site<'r> {
        let tree_dir = tree::dir(&host.spec.root, &render.host, target.arch);
        let remote_dir = format!("{}/source/{}", host.spec.root.trim_end_matches('/'), job_id);
        Site {
            host,
            toolchain,
            render,
            target,
            tree_dir,
            remote_dir,
        }
    }

    /// The manifest's wall-clock and stall limits, for the tree and build jobs.
    fn limits(&self) -> (&'r Span, &'r Span) {
        let build = self
            .target
            .build
            .as_ref()
            .expect("candidates() checked build:");
        (&build.wall_clock, &build.stall)
    }
}

impl<R: Remote> Builder<'_, R> {
    fn transport(&self, c: &Candidate) -> Transport {
        self.credentials.transport(&c.name, &c.ssh, &c.spec.user)
    }

    fn log_dir(&self, build_host: &str) -> PathBuf {
        match &self.dry_run {
            Some(scratch) => scratch.join(build_host),
            None => self.layout.logs().join(build_host).join(&self.job_id),
        }
    }

    /// File a block, or in a dry run only say that a real run would.
    fn file(
        &self,
        notes: &mut Vec<String>,
        kind: BlockKind,
        subject: Subject,
        title: &str,
        detail: &str,
    ) -> Result<Option<BlockRef>> {
        if self.dry_run.is_some() {
            notes.push(format!("a real run files [ka:{}] {title}", kind.as_str()));
            return Ok(None);
        }
        Ok(Some(
            self.store.file(kind, subject, title, detail)?.to_ref(),
        ))
    }

    fn job(
        &self,
        c: &Candidate,
        argv: Vec<String>,
        cwd: Option<String>,
        limits: (&Span, &Span),
        log: &str,
    ) -> Job {
        Job {
            kind: Default::default(),
            version: V1,
            id: self.job_id.clone(),
            transport: self.transport(c),
            argv,
            cwd,
            env: Default::default(),
            wall_clock: limits.0.clone(),
            stall: limits.1.clone(),
            log: self.log_dir(&c.name).join(log),
        }
    }

    /// Build `render` for `target`; the result says what happened, blocks
    /// included. `Err` only for failures on our side (I/O, corrupt store).
    pub fn build(&mut self, render: &Render, target: &HostManifest) -> Result<VerbResult> {
        let mut notes = Vec::new();
        let mut filed: Vec<BlockRef> = Vec::new();
        let chosen = self.choose(target, &mut notes, &mut filed)?;
        if chosen.is_some() && self.dry_run.is_none() {
            ka_core::crash::point("build:preflight");
        }
        let Some((c, toolchain)) = chosen else {
            return Ok(self.result(
                target,
                Status::Blocked,
                format!("no build host could take the build: {}", notes.join(" | ")),
                Vec::new(),
                filed,
                None,
            ));
        };
        let site = Site::new(c, toolchain, render, target, &self.job_id);
        let decision = self.decide(&site)?;
        if self.dry_run.is_some() {
            return Ok(self.would_build(&site, &decision, &notes, filed));
        }
        let (sent, big) = self.stage(&site)?;
        ka_core::crash::point("build:staged");
        let (mut r, decision, built) =
            self.build_in_tree(&site, &site.tree_dir, decision, false)?;
        ka_core::crash::point("build:built");
        r.render = Some(render_ref(render));
        self.record(&r)?;
        ka_core::crash::point("build:recorded");
        crate::idle::record_use(self.layout, &site.host.name, site.host.spec.wake.is_some())?;
        let first = match built {
            Ok(first) => first,
            Err(how) => return self.failed(&site, &r, how, notes, filed),
        };
        self.keep_sources(&site, &big)?;
        let mut files = self.fetch(&site)?;
        ka_core::crash::point("build:fetched");
        self.lift(
            &[BlockKind::BuildFail],
            Subject::BuildHost {
                host: site.host.name.clone(),
            },
            &format!("build {} succeeded", self.job_id),
        )?;
        files.push(r.log.clone());
        let mut message = format!(
            "built on {} ({}; {}; {} package file(s); sources: {})",
            site.host.name,
            site.toolchain.describe(target.arch),
            decision.describe(),
            files.len() - 1,
            describe_transfer(&sent)
        );
        if !notes.is_empty() {
            message.push_str(&format!("; passed over {}", notes.join(" | ")));
        }
        let mut status = Status::Done;
        if self.check_reproducible {
            status = self.reproducibility_check(&site, first, &mut message)?;
        }
        Ok(self.result(target, status, message, files, filed, Some(&site.host.name)))
    }

    /// The dry run's answer: where and how the build would run, and what
    /// was passed over on the way.
    fn would_build(
        &self,
        site: &Site,
        decision: &Decision,
        notes: &[String],
        filed: Vec<BlockRef>,
    ) -> VerbResult {
        let (c, target, tree_dir) = (&site.host, site.target, &site.tree_dir);
        let mut message = format!(
            "would build on {} (pre-flight passed; {}; {} in {tree_dir})",
            c.name,
            site.toolchain.describe(target.arch),
            decision.describe()
        );
        if self.check_reproducible {
            message.push_str(&format!(
                "; then again, clean, in {} to compare the image and modules",
                tree::check_dir(&c.spec.root, &site.render.host, target.arch)
            ));
        }
        if !notes.is_empty() {
            message.push_str(&format!("; passed over {}", notes.join(" | ")));
        }
        self.result(
            target,
            Status::DryRun,
            message,
            Vec::new(),
            filed,
            Some(&c.name),
        )
    }

    /// A failed build files `[ka:build-fail]` for its build host; the job
    /// folder and the tree stay as they are, to look into.
    fn failed(
        &self,
        site: &Site,
        r: &JobResult,
        how: String,
        mut notes: Vec<String>,
        mut filed: Vec<BlockRef>,
    ) -> Result<VerbResult> {
        let (c, target) = (&site.host, site.target);
        let (remote_dir, tree_dir) = (&site.remote_dir, &site.tree_dir);
        let b = self.store.file(
            BlockKind::BuildFail,
            Subject::BuildHost {
                host: c.name.clone(),
            },
            &format!(
                "{} build of {} failed on {}",
                self.job_id, target.host, c.name
            ),
            &format!(
                "{how}\nlog: {}\nthe job folder is kept at {}:{remote_dir} (ka-debug {}); the kernel tree it built in is {tree_dir} until the next build of {} starts it clean",
                r.log.display(),
                c.name,
                self.job_id,
                target.host
            ),
        )?;
        filed.push(b.to_ref());
        notes.push(how);
        Ok(self.result(
            target,
            Status::Failed,
            format!("build failed on {}: {}", c.name, notes.join(" | ")),
            vec![r.log.clone()],
            filed,
            Some(&c.name),
        ))
    }

    fn lift(&self, kinds: &[BlockKind], subject: Subject, reason: &str) -> Result<()> {
        if self.dry_run.is_some() {
            return Ok(());
        }
        for &kind in kinds {
            self.store.lift_open(kind, &subject, reason)?;
        }
        Ok(())
    }

    /// Keep the job's result next to its log, for ka-keep and ka-debug.
    fn record(&self, r: &JobResult) -> Result<()> {
        ka_core::atomic::write_json(&self.layout.job_record(&self.job_id), r)
    }

    #[allow(clippy::too_many_arguments)]
    fn result(
        &self,
        target: &HostManifest,
        status: Status,
        message: String,
        files: Vec<PathBuf>,
        blocks: Vec<BlockRef>,
        build_host: Option<&str>,
    ) -> VerbResult {
        VerbResult {
            kind: Default::default(),
            version: V1,
            verb: "build".into(),
            host: target.host.clone(),
            status,
            message,
            files,
            blocks,
            lock: None,
            verdicts: Vec::new(),
            job: Some(self.job_id.clone()),
            build_host: build_host.map(str::to_string),
            config: None,
        }
    }
}

/// The job record's pointer to the render it built: the host and the
/// render folder's name.
fn render_ref(render: &Render) -> RenderRef {
    RenderRef {
        host: render.host.clone(),
        id: render
            .dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    }
}

/// The package build, run in the staged folder as the build user. The script
/// is constant text; the ccache folder and the cross compiler's prefix come in
/// as arguments. Packages land in `out/` (makepkg's PKGDEST; build.sh moves
/// the .debs there).
///
/// A cross build exports `CROSS_COMPILE` (kbuild reads it from the
/// environment; the rendered files pass `ARCH` themselves) and, for makepkg,
/// `CARCH` of the target (makepkg keeps an exported CARCH over its
/// makepkg.conf), so the package is `*-aarch64.pkg.tar.*` with `arch =
/// aarch64` in its .PKGINFO — not `--ignorearch`, which would label it with the
/// build host's architecture.
pub fn build_argv(distro: Distro, arch: Arch, root: &str, toolchain: &Toolchain) -> Vec<String> {
    // Every job builds in its own folder, so ccache must not hash the folder:
    // CCACHE_BASEDIR turns the job's absolute paths into relative ones and
    // NOHASHDIR keeps the working directory out of the hash. Measured on
    // linux-source-6.1 built in two folders: every kernel object hits; only
    // tools/objtool (built with absolute include paths) misses.
    //
    // With a build tree ($4, see crate::tree) the package build builds there
    // (KA_TREE, read by the rendered PKGBUILD and build.sh), and ccache's
    // base folder is the tree.
    const SCRIPT: &str = r#"export CCACHE_DIR="$1/ccache" CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1 PKGDEST="$PWD/out" PATH="/usr/lib/ccache:$PATH"
mkdir -p out "$CCACHE_DIR"
if [ -n "$2" ]; then export CROSS_COMPILE="$2"; fi
if [ -n "$3" ]; then export CARCH="$3"; fi
if [ -n "$4" ]; then export KA_TREE="$4" CCACHE_BASEDIR="$4"; fi
shift 4
exec "$@""#;
    let (prefix, carch) = match toolchain {
        Toolchain::Native => (String::new(), String::new()),
        Toolchain::Cross { prefix, .. } => (
            prefix.clone(),
            match distro {
                Distro::Arch => arch.name().to_string(),
                Distro::Debian => String::new(),
            },
        ),
    };
    let mut argv = vec![
        "sh".into(),
        "-c".into(),
        SCRIPT.into(),
        "ka-build".into(),
        root.trim_end_matches('/').into(),
        prefix,
        carch,
        String::new(),
    ];
    match distro {
        Distro::Arch => {
            argv.extend(["makepkg", "--noconfirm", "--nodeps", "--nocolor"].map(String::from))
        }
        Distro::Debian => argv.extend(["bash", "build.sh"].map(String::from)),
    }
    argv
}

fn describe_transfer(t: &Transfer) -> String {
    let mib = |b: u64| b as f64 / (1u64 << 20) as f64;
    if t.reused == 0 {
        return format!("{:.1} MiB sent", mib(t.bytes));
    }
    format!(
        "{:.1} MiB sent, {:.1} MiB from the build host's source cache",
        mib(t.bytes),
        mib(t.reused_bytes)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Run the build script with `env` in place of makepkg/build.sh, in a
    /// scratch folder: what the build would see.
    fn environment_of(distro: Distro, toolchain: &Toolchain) -> String {
        let dir = tempfile::tempdir().unwrap();
        let mut argv = build_argv(
            distro,
            Arch::Aarch64,
            dir.path().to_str().unwrap(),
            toolchain,
        );
        argv.truncate(8);
        argv.push("env".into());
        let out = std::process::Command::new(&argv[0])
            .args(&argv[1..])
            .current_dir(dir.path())
            .env_remove("CROSS_COMPILE")
            .env_remove("CARCH")
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn a_cross_build_exports_the_compiler_prefix_and_the_package_arch() {
        let cross = Toolchain::for_target("x86_64", Arch::Aarch64);
        let env = environment_of(Distro::Arch, &cross);
        assert!(
            env.lines().any(|l| l == "CROSS_COMPILE=aarch64-linux-gnu-"),
            "{env}"
        );
        assert!(env.lines().any(|l| l == "CARCH=aarch64"), "{env}");
        // Debian: bindeb-pkg takes the package architecture from ARCH itself
        let env = environment_of(Distro::Debian, &cross);
        assert!(
            env.lines().any(|l| l == "CROSS_COMPILE=aarch64-linux-gnu-"),
            "{env}"
        );
        assert!(!env.lines().any(|l| l.starts_with("CARCH=")), "{env}");
    }

    #[test]
    fn a_native_build_sets_neither() {
        let env = environment_of(Distro::Arch, &Toolchain::Native);
        assert!(
            !env.lines()
                .any(|l| l.starts_with("CROSS_COMPILE=") || l.starts_with("CARCH=")),
            "{env}"
        );
        assert!(env.lines().any(|l| l.starts_with("CCACHE_DIR=")), "{env}");
    }
}
