//! The build in the persistent tree (see crate::tree): read the tree's state
//! and decide clean or incremental, move the tree to the render's sources,
//! run the package build in it, then write its marker and read the b2sums.

use super::{Builder, Built, Site, build_argv};
use crate::tree::{self, Decision, Want};
use ka_core::error::{Error, Result};
use ka_run_remote::remote::Remote;
use ka_schema::{Distro, JobResult, Span, TreeMode};

/// A build step's own failure, said as the result message and the
/// `[ka:build-fail]` block say it.
type Outcome<T> = std::result::Result<T, String>;

impl<R: Remote> Builder<'_, R> {
    /// Read the tree's state on the build host and decide clean or incremental.
    pub(super) fn decide(&mut self, site: &Site) -> Result<Decision> {
        let argv = tree::state_argv(&site.tree_dir, site.toolchain.prefix());
        let job = self.job(
            &site.host,
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
        Ok(
            match Want::of(site.render, site.target.arch, &observed.toolchain) {
                Some(want) => tree::decide(&observed, &want, self.clean),
                None => Decision {
                    mode: TreeMode::Clean,
                    reason: "the render lacks linux.tar, config or cumulative.patch".into(),
                },
            },
        )
    }

    /// Move the tree to the render's sources, build in it, and (built) write
    /// its marker and read the image's and modules' b2sums. The job result
    /// is the build's (or the tree step's that failed), with the tree and
    /// the b2sums recorded; `Built` only when everything succeeded. `check`:
    /// the reproducibility check's build (its own logs, no marker).
    pub(super) fn build_in_tree(
        &mut self,
        site: &Site,
        tree_dir: &str,
        mut decision: Decision,
        check: bool,
    ) -> Result<(JobResult, Decision, Outcome<Built>)> {
        let suffix = if check { "-check" } else { "" };
        if let Err((prepared, how)) = self.prepare_tree(site, tree_dir, &mut decision, suffix)? {
            return Ok((prepared, decision, Err(how)));
        }
        let mut r = self.package_build(site, tree_dir, check, suffix)?;
        r.tree = Some(decision.to_use(tree_dir));
        if !r.ok() {
            let how = describe_failure(&r);
            return Ok((r, decision, Err(how)));
        }
        let built = self.commit_tree(site, tree_dir, check, suffix, &mut r)?;
        Ok((r, decision, built))
    }

    /// The prepare job: the tree moved to the job folder's sources; the
    /// decision turns clean when the job fell back to a clean tree. `Err`:
    /// the failed job (its tree recorded) and what went wrong.
    fn prepare_tree(
        &mut self,
        site: &Site,
        tree_dir: &str,
        decision: &mut Decision,
        suffix: &str,
    ) -> Result<std::result::Result<(), (JobResult, String)>> {
        let cumulative = site
            .render
            .files
            .iter()
            .find(|a| a.file == "cumulative.patch")
            .map(|a| a.b2sum.clone())
            .unwrap_or_default();
        let argv = tree::prepare_argv(tree_dir, &site.remote_dir, decision.mode, &cumulative);
        let job = self.job(
            &site.host,
            argv,
            None,
            site.limits(),
            &format!("tree-prepare{suffix}.log"),
        );
        let mut prepared = self.remote.run(&job)?;
        let output = std::fs::read_to_string(&prepared.log).unwrap_or_default();
        if let Some(why) = tree::fallback_reason(&output) {
            *decision = Decision {
                mode: TreeMode::Clean,
                reason: why,
            };
        }
        if !prepared.ok() || tree::prepared_mode(&output).is_none() {
            prepared.tree = Some(decision.to_use(tree_dir));
            let how = format!(
                "the build tree step failed before the build: {} (log {})",
                last_error(&output, &prepared),
                prepared.log.display()
            );
            return Ok(Err((prepared, how)));
        }
        Ok(Ok(()))
    }

    /// The package build itself: run in the job folder, building in the tree.
    fn package_build(
        &mut self,
        site: &Site,
        tree_dir: &str,
        check: bool,
        suffix: &str,
    ) -> Result<JobResult> {
        let distro = site.render.distro;
        let mut argv = build_argv(
            distro,
            site.target.arch,
            &site.host.spec.root,
            &site.toolchain,
        );
        argv[7] = tree_dir.trim_end_matches('/').to_string() + "/linux";
        if check && distro == Distro::Arch {
            // the same job folder built once already: makepkg would refuse
            argv.push("--force".into());
        }
        let job = self.job(
            &site.host,
            argv,
            Some(site.remote_dir.clone()),
            site.limits(),
            &format!("build{suffix}.log"),
        );
        self.remote.run(&job)
    }

    /// After the build: the commit job writes the tree's marker (none for
    /// the check build, nor when the render lacks what a marker names) and
    /// prints the b2sums, which go into `r`.
    fn commit_tree(
        &mut self,
        site: &Site,
        tree_dir: &str,
        check: bool,
        suffix: &str,
        r: &mut JobResult,
    ) -> Result<Outcome<Built>> {
        let arch = site.target.arch;
        let marker = match (Want::of(site.render, arch, ""), check) {
            (Some(_), false) => self.marker(site, tree_dir)?,
            _ => Vec::new(),
        };
        let argv = tree::commit_argv(tree_dir, arch, &marker);
        let job = self.job(
            &site.host,
            argv,
            None,
            (&Span::minutes(30), &Span::minutes(10)),
            &format!("tree-commit{suffix}.log"),
        );
        let committed = self.remote.run(&job)?;
        let out = std::fs::read_to_string(&committed.log).unwrap_or_default();
        if !committed.ok() {
            return Ok(Err(format!(
                "the build finished but its tree could not be recorded: {} (log {})",
                last_error(&out, &committed),
                committed.log.display()
            )));
        }
        let sums = tree::parse_sums(&out);
        let (image, modules) = tree::digests(&sums, arch);
        r.image_b2sum = image;
        r.modules_b2sum = Some(modules);
        Ok(Ok(Built { sums }))
    }

    /// The marker for the tree this build leaves. The toolchain as the state
    /// job names it: read it again now, so the marker says what this build
    /// was made with.
    fn marker(&mut self, site: &Site, tree_dir: &str) -> Result<Vec<String>> {
        let argv = tree::state_argv(tree_dir, site.toolchain.prefix());
        let job = self.job(
            &site.host,
            argv,
            None,
            (&Span::minutes(2), &Span::minutes(1)),
            "tree-state-after.log",
        );
        let s = self.remote.run(&job)?;
        let out = std::fs::read_to_string(&s.log).unwrap_or_default();
        let seen = tree::parse_state(&out).toolchain;
        Ok(Want::of(site.render, site.target.arch, &seen)
            .map(|w| w.marker(&self.job_id))
            .unwrap_or_default())
    }
}

/// What a tree job said went wrong: its last `error: ` line, else how it ended.
fn last_error(output: &str, r: &JobResult) -> String {
    output
        .lines()
        .rev()
        .find(|l| l.starts_with("error: "))
        .map_or_else(|| describe_failure(r), str::to_string)
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
