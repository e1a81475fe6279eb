//! One build: route to a build host, pre-flight it, stage the sources, run the
//! package build there, fetch the packages, and file or lift blocks.

use crate::preflight::{self, Toolchain};
use crate::route::{Candidate, candidates};
use crate::source_cache;
use crate::tree::{self, Decision, Want};
use ka_block::gate::{Request, blocking};
use ka_block::store::Store;
use ka_core::error::{Error, Result};
use ka_core::paths::Layout;
use ka_run_remote::Transfer;
use ka_run_remote::remote::{Credentials, Remote};
use ka_schema::{Arch, Distro, HostManifest, Span};
use ka_schema::{
    BlockKind, BlockRef, Job, JobResult, Render, RenderRef, Status, Subject, Transport, TreeMode,
    V1, Verb, VerbResult,
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

/// Why a candidate was passed over; reported in the result message.
fn skip(notes: &mut Vec<String>, host: &str, why: impl Into<String>) {
    notes.push(format!("{host}: {}", why.into()));
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
        let open = self.store.open_blocks()?;
        let mut chosen = None;
        for c in candidates(self.repo, target)? {
            let req = Request {
                host: &target.host,
                build_host: Some(&c.name),
                patches: &[],
            };
            let in_the_way = blocking(&open, Verb::Build, &req);
            if !in_the_way.is_empty() {
                let ids: Vec<&str> = in_the_way.iter().map(|b| b.id.as_str()).collect();
                skip(
                    &mut notes,
                    &c.name,
                    format!("blocked by {}", ids.join(", ")),
                );
                filed.extend(in_the_way.iter().map(|b| b.to_ref()));
                continue;
            }
            if let Some(wake) = &c.spec.wake {
                let mut job = self.job(
                    &c,
                    wake.clone(),
                    None,
                    (&Span::minutes(5), &Span::minutes(5)),
                    "wake.log",
                );
                job.transport = Transport::Local;
                let r = self.remote.run(&job)?;
                if !r.ok() {
                    skip(
                        &mut notes,
                        &c.name,
                        format!("wake command failed (log {})", r.log.display()),
                    );
                    continue;
                }
            }
            let argv = preflight::argv(
                &c.spec.root,
                target.arch,
                target.distro,
                c.spec.min_free_gib,
            );
            let job = self.job(
                &c,
                argv,
                None,
                (&Span::minutes(2), &Span::minutes(1)),
                "preflight.log",
            );
            let r = self.remote.run(&job)?;
            if let Some(err) = &r.transport_error {
                if ka_run_remote::is_host_key_refusal(&r) {
                    let b = self.file(
                        &mut notes,
                        BlockKind::HostChanged,
                        Subject::Host {
                            host: c.name.clone(),
                        },
                        &format!("{} host key changed", c.name),
                        &format!(
                            "{err}\nverify the new key, then update {}",
                            self.credentials.known_hosts.display()
                        ),
                    )?;
                    filed.extend(b);
                    skip(&mut notes, &c.name, err.clone());
                } else {
                    skip(&mut notes, &c.name, format!("unreachable: {err}"));
                }
                continue;
            }
            let output = std::fs::read_to_string(&r.log).map_err(|e| Error::io(&r.log, e))?;
            let findings = preflight::parse(&output);
            if !findings.passed() {
                let b = self.file(
                    &mut notes,
                    BlockKind::BootstrapMissing,
                    Subject::BuildHost {
                        host: c.name.clone(),
                    },
                    &format!(
                        "{} is missing {} thing(s) for a build",
                        c.name,
                        findings.missing.len()
                    ),
                    &findings.missing.join("\n"),
                )?;
                filed.extend(b);
                skip(
                    &mut notes,
                    &c.name,
                    format!("pre-flight: {}", findings.missing.join("; ")),
                );
                continue;
            }
            self.lift(
                &[BlockKind::BootstrapMissing],
                Subject::BuildHost {
                    host: c.name.clone(),
                },
                "pre-flight passes",
            )?;
            self.lift(
                &[BlockKind::HostChanged],
                Subject::Host {
                    host: c.name.clone(),
                },
                "pre-flight passes",
            )?;
            // the script always prints its machine; without it, build natively
            let toolchain = findings
                .machine()
                .map_or(Toolchain::Native, |m| Toolchain::for_target(m, target.arch));
            chosen = Some((c, toolchain));
            break;
        }
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

        let tree_dir = tree::dir(&c.spec.root, &render.host, target.arch);
        let decision = self.decide(&c, render, target, &toolchain, &tree_dir)?;
        if self.dry_run.is_some() {
            let mut message = format!(
                "would build on {} (pre-flight passed; {}; {} in {tree_dir})",
                c.name,
                toolchain.describe(target.arch),
                decision.describe()
            );
            if self.check_reproducible {
                message.push_str(&format!(
                    "; then again, clean, in {} to compare the image and modules",
                    tree::check_dir(&c.spec.root, &render.host, target.arch)
                ));
            }
            if !notes.is_empty() {
                message.push_str(&format!("; passed over {}", notes.join(" | ")));
            }
            return Ok(self.result(
                target,
                Status::DryRun,
                message,
                Vec::new(),
                filed,
                Some(&c.name),
            ));
        }
        let remote_dir = format!(
            "{}/source/{}",
            c.spec.root.trim_end_matches('/'),
            self.job_id
        );
        let transport = self.transport(&c);
        let big = source_cache::cacheable(&render.files);
        if !big.is_empty() {
            let argv = source_cache::link_argv(&c.spec.root, &remote_dir, &big);
            let job = self.job(
                &c,
                argv,
                None,
                (&Span::minutes(30), &Span::minutes(10)),
                "source-cache-link.log",
            );
            // The cache only saves an upload: whatever it did, the upload below
            // sends what is not in place.
            self.remote.run(&job)?;
        }
        let reuse: Vec<&str> = big.iter().map(|a| a.file.as_str()).collect();
        let sent = self
            .remote
            .upload(&transport, &render.dir, &remote_dir, &reuse)?;
        ka_core::crash::point("build:staged");
        let build = target.build.as_ref().expect("candidates() checked build:");
        let limits = (&build.wall_clock, &build.stall);
        let (mut r, decision, built) = self.build_in_tree(
            &c,
            render,
            target,
            &toolchain,
            (&tree_dir, decision),
            &remote_dir,
            limits,
            false,
        )?;
        ka_core::crash::point("build:built");
        r.render = Some(RenderRef {
            host: render.host.clone(),
            id: render
                .dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        });
        self.record(&r)?;
        ka_core::crash::point("build:recorded");
        crate::idle::record_use(self.layout, &c.name, c.spec.wake.is_some())?;
        if let Err(how) = &built {
            let how = how.clone();
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
            return Ok(self.result(
                target,
                Status::Failed,
                format!("build failed on {}: {}", c.name, notes.join(" | ")),
                vec![r.log.clone()],
                filed,
                Some(&c.name),
            ));
        }
        if !big.is_empty() {
            let argv = source_cache::keep_argv(&c.spec.root, &remote_dir, &big);
            let job = self.job(
                &c,
                argv,
                None,
                (&Span::minutes(30), &Span::minutes(10)),
                "source-cache-keep.log",
            );
            self.remote.run(&job)?;
        }
        let out = self.layout.output(&self.job_id);
        let mut files = self
            .remote
            .download(&transport, &format!("{remote_dir}/out"), &out)?;
        ka_core::crash::point("build:fetched");
        self.lift(
            &[BlockKind::BuildFail],
            Subject::BuildHost {
                host: c.name.clone(),
            },
            &format!("build {} succeeded", self.job_id),
        )?;
        files.push(r.log.clone());
        let mut message = format!(
            "built on {} ({}; {}; {} package file(s); sources: {})",
            c.name,
            toolchain.describe(target.arch),
            decision.describe(),
            files.len() - 1,
            describe_transfer(&sent)
        );
        if !notes.is_empty() {
            message.push_str(&format!("; passed over {}", notes.join(" | ")));
        }
        let mut status = Status::Done;
        if self.check_reproducible {
            let first = built.expect("failed above");
            let check_dir = tree::check_dir(&c.spec.root, &render.host, target.arch);
            let clean = Decision {
                mode: TreeMode::Clean,
                reason: "the reproducibility check's second build".into(),
            };
            let (r2, _, second) = self.build_in_tree(
                &c,
                render,
                target,
                &toolchain,
                (&check_dir, clean),
                &remote_dir,
                limits,
                true,
            )?;
            match second {
                Ok(second) => {
                    match tree::first_difference(&first.sums, &second.sums) {
                        None => {
                            message.push_str(&format!(
                                "; reproducible: a clean build in {check_dir} gave the same image and {} module(s)",
                                first.sums.len() - 1
                            ));
                            // the same bytes: the second tree has nothing to
                            // show, and holds a kernel's worth of disk (one
                            // that differs is kept to look into)
                            let argv =
                                vec!["rm".into(), "-rf".into(), "--".into(), check_dir.clone()];
                            let job = self.job(
                                &c,
                                argv,
                                None,
                                (&Span::minutes(30), &Span::minutes(10)),
                                "tree-remove-check.log",
                            );
                            self.remote.run(&job)?;
                        }
                        Some(path) => {
                            status = Status::Failed;
                            message.push_str(&format!(
                                "; NOT reproducible: {path} differs from a clean build of the same lock in {check_dir} (the first file that differs; logs {})",
                                self.log_dir(&c.name).display()
                            ));
                        }
                    }
                }
                Err(how) => {
                    status = Status::Failed;
                    message.push_str(&format!(
                        "; the reproducibility check's second build failed: {how} (log {})",
                        r2.log.display()
                    ));
                }
            }
        }
        Ok(self.result(target, status, message, files, filed, Some(&c.name)))
    }

    /// Read the tree's state on the build host and decide clean or incremental.
    fn decide(
        &mut self,
        c: &Candidate,
        render: &Render,
        target: &HostManifest,
        toolchain: &Toolchain,
        tree_dir: &str,
    ) -> Result<Decision> {
        let argv = tree::state_argv(tree_dir, toolchain.prefix());
        let job = self.job(
            c,
            argv,
            None,
            (&Span::minutes(2), &Span::minutes(1)),
            "tree-state.log",
        );
        let r = self.remote.run(&job)?;
        let output = std::fs::read_to_string(&r.log).map_err(|e| Error::io(&r.log, e))?;
        if !r.ok() {
            return Ok(Decision {
                mode: TreeMode::Clean,
                reason: format!(
                    "the tree's state could not be read ({})",
                    describe_failure(&r)
                ),
            });
        }
        let observed = tree::parse_state(&output);
        Ok(match Want::of(render, target.arch, &observed.toolchain) {
            Some(want) => tree::decide(&observed, &want, self.clean),
            None => Decision {
                mode: TreeMode::Clean,
                reason: "the render lacks linux.tar, config or cumulative.patch".into(),
            },
        })
    }

    /// Move the tree to the render's sources, build in it, and (built) write
    /// its marker and read the image's and modules' b2sums. The job result
    /// is the build's (or the tree step's that failed), with the tree and
    /// the b2sums recorded; `Built` only when everything succeeded.
    #[allow(clippy::too_many_arguments)]
    fn build_in_tree(
        &mut self,
        c: &Candidate,
        render: &Render,
        target: &HostManifest,
        toolchain: &Toolchain,
        (tree_dir, mut decision): (&str, Decision),
        remote_dir: &str,
        limits: (&Span, &Span),
        check: bool,
    ) -> Result<(JobResult, Decision, std::result::Result<Built, String>)> {
        let suffix = if check { "-check" } else { "" };
        let cumulative = render
            .files
            .iter()
            .find(|a| a.file == "cumulative.patch")
            .map(|a| a.b2sum.clone())
            .unwrap_or_default();
        let argv = tree::prepare_argv(tree_dir, remote_dir, decision.mode, &cumulative);
        let job = self.job(c, argv, None, limits, &format!("tree-prepare{suffix}.log"));
        let mut prepared = self.remote.run(&job)?;
        let output = std::fs::read_to_string(&prepared.log).unwrap_or_default();
        if let Some(why) = tree::fallback_reason(&output) {
            decision = Decision {
                mode: TreeMode::Clean,
                reason: why,
            };
        }
        if !prepared.ok() || tree::prepared_mode(&output).is_none() {
            prepared.tree = Some(decision.to_use(tree_dir));
            let said = output
                .lines()
                .rev()
                .find(|l| l.starts_with("error: "))
                .map_or_else(|| describe_failure(&prepared), str::to_string);
            let how = format!(
                "the build tree step failed before the build: {said} (log {})",
                prepared.log.display()
            );
            return Ok((prepared, decision, Err(how)));
        }
        let mut argv = build_argv(render.distro, target.arch, &c.spec.root, toolchain);
        argv[7] = tree_dir.trim_end_matches('/').to_string() + "/linux";
        if check && render.distro == Distro::Arch {
            // the same job folder built once already: makepkg would refuse
            argv.push("--force".into());
        }
        let job = self.job(
            c,
            argv,
            Some(remote_dir.to_string()),
            limits,
            &format!("build{suffix}.log"),
        );
        let mut r = self.remote.run(&job)?;
        r.tree = Some(decision.to_use(tree_dir));
        if !r.ok() {
            let how = describe_failure(&r);
            return Ok((r, decision, Err(how)));
        }
        let want = Want::of(render, target.arch, "");
        let marker = match (&want, check) {
            (Some(_), false) => {
                // the toolchain as the state job named it: read it again now,
                // so the marker says what this build was made with
                let argv = tree::state_argv(tree_dir, toolchain.prefix());
                let job = self.job(
                    c,
                    argv,
                    None,
                    (&Span::minutes(2), &Span::minutes(1)),
                    "tree-state-after.log",
                );
                let s = self.remote.run(&job)?;
                let out = std::fs::read_to_string(&s.log).unwrap_or_default();
                let seen = tree::parse_state(&out).toolchain;
                Want::of(render, target.arch, &seen)
                    .map(|w| w.marker(&self.job_id))
                    .unwrap_or_default()
            }
            _ => Vec::new(),
        };
        let argv = tree::commit_argv(tree_dir, target.arch, &marker);
        let job = self.job(
            c,
            argv,
            None,
            (&Span::minutes(30), &Span::minutes(10)),
            &format!("tree-commit{suffix}.log"),
        );
        let committed = self.remote.run(&job)?;
        let out = std::fs::read_to_string(&committed.log).unwrap_or_default();
        if !committed.ok() {
            let said = out
                .lines()
                .rev()
                .find(|l| l.starts_with("error: "))
                .map_or_else(|| describe_failure(&committed), str::to_string);
            let how = format!(
                "the build finished but its tree could not be recorded: {said} (log {})",
                committed.log.display()
            );
            return Ok((r, decision, Err(how)));
        }
        let sums = tree::parse_sums(&out);
        let (image, modules) = tree::digests(&sums, target.arch);
        r.image_b2sum = image;
        r.modules_b2sum = Some(modules);
        Ok((r, decision, Ok(Built { sums })))
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

fn describe_failure(r: &JobResult) -> String {
    if let Some(e) = &r.transport_error {
        return format!("connection lost: {e}");
    }
    if r.capped {
        return "ran past its wall-clock cap and was killed".into();
    }
    if r.stalled {
        return "printed nothing for the stall limit and was killed".into();
    }
    match (&r.signal, r.exit_code) {
        (Some(sig), _) => format!("killed by SIG{sig}"),
        (None, Some(code)) => format!("exited {code}"),
        (None, None) => "ended without an exit status".into(),
    }
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
