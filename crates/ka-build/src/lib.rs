//! `ka-build-run`: take a rendered package folder (`ka.render`) to a build host
//! and bring the packages back.
//!
//! Routing: the manifest's `build.host`, then its `fallback` hosts, in order. A
//! host is skipped when the gate blocks builds routed to it, when it cannot be
//! reached, or when its pre-flight finds something missing (filed as
//! `[ka:bootstrap-missing]`) or its host key changed (`[ka:host-changed]`).

pub mod build;
pub mod idle;
pub mod job;
pub mod preflight;
pub mod route;
pub mod source_cache;
pub mod tree;

use ka_run_remote::remote::{Credentials, SshRemote};

use anyhow::Context;
use clap::{CommandFactory, Parser};
use ka_block::store::Store;
use ka_core::args::StateArgs;
use ka_core::error::ExitCode;
use ka_core::hostlock::HostLock;
use ka_schema::Render;

#[derive(Parser, Debug)]
#[command(
    name = "ka-build-run",
    version,
    about = "Build rendered package sources (ka.render) on a build host over SSH; prints ka.result",
    long_about = "Reads ka.render documents (from ka-render) on stdin. For each: routes the build to \
the host manifest's build.host, else its build.fallback hosts in order, skipping a host the gate \
blocks for builds, one that cannot be woken or reached, one whose pre-flight finds something \
missing ([ka:bootstrap-missing]) and one whose host key changed ([ka:host-changed]). On the \
chosen host it copies the folder to <root>/source/<job-id>/, moves the host's build tree \
<root>/trees/<host>-<arch>/ to it (incremental: only files whose content changes are replaced; \
clean when the tree's state marker is missing or names another baseline, config or toolchain, \
or with --clean), runs makepkg (or build.sh for Debian) there as the build user, building in \
that tree, within the manifest's wall_clock and stall limits, writes the tree's marker last, \
and fetches out/ to KA_ROOT/output/<job-id>/. The job record keeps the tree's mode and why, and \
the b2sums of the kernel image and of the module tree. A failed build files [ka:build-fail] for that build host and \
keeps the tree; a success lifts it. The log is kept under KA_ROOT/logs/<build-host>/<job-id>/.\n\n\
SSH: host keys are checked strictly against <repo>/fleet/known_hosts; the identity is \
KA_SSH_IDENTITY or KA_ROOT/ssh/id_ed25519.\n\n\
Exit status: 0 built (or --dry-run found a build host), 1 blocked or failed (also: an infra \
host without opt_in: true), 2 usage or I/O (also: a host the fleet does not have), \
3 bad input."
)]
pub struct Cli {
    #[command(flatten)]
    pub state: StateArgs,
    /// Route and pre-flight only; stage and build nothing. Says whether the
    /// build would be incremental or clean, and why.
    #[arg(long)]
    pub dry_run: bool,
    /// Build in a clean tree (unpack and patch afresh) whatever the build
    /// tree's state.
    #[arg(long)]
    pub clean: bool,
    /// Build twice: as usual, then clean in another folder on the same build
    /// host; compare the kernel image and every module, and fail (exit 1)
    /// naming the first file that differs.
    #[arg(long)]
    pub check_reproducible: bool,
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let layout = cli.state.layout()?;
    let repo = cli.state.repo()?;
    let renders: Vec<Render> = ka_core::stream::read_docs(std::io::stdin().lock(), "stdin")?;
    // A dry run writes nothing under KA_ROOT: no mirror queue, no lock file,
    // logs in a scratch folder that goes away.
    let scratch = if cli.dry_run {
        Some(
            tempfile::Builder::new()
                .prefix("ka-build-dry-run.")
                .tempdir()
                .context("scratch folder")?,
        )
    } else {
        None
    };
    let store = match scratch {
        Some(_) => Store::local(&layout),
        None => Store::open(&layout)?,
    };
    let mut results = Vec::new();
    let mut code = ExitCode::Ok;
    for render in &renders {
        let (target, _) = ka_schema::fleet::target(&repo, &render.host)?;
        let _lock = match scratch {
            Some(_) => None,
            None => Some(HostLock::acquire(
                &layout.locks().join(format!("build-{}.lock", render.host)),
                &format!("ka-build {}", render.host),
            )?),
        };
        let mut builder = build::Builder {
            remote: SshRemote,
            layout: &layout,
            store: &store,
            repo: &repo,
            credentials: Credentials::of_fleet(&repo, &layout)?,
            job_id: ka_core::names::job_id(
                &render.host,
                ka_core::time::now_epoch()?,
                &render.lock_b2sum,
            ),
            dry_run: scratch.as_ref().map(|d| d.path().to_path_buf()),
            clean: cli.clean,
            check_reproducible: cli.check_reproducible,
        };
        let result = builder.build(render, &target)?;
        if matches!(
            result.status,
            ka_schema::Status::Blocked | ka_schema::Status::Failed
        ) {
            code = ExitCode::Negative;
        }
        results.push(result);
    }
    ka_core::stream::write_docs(&results).context("stdout")?;
    if scratch.is_none() {
        ka_block::mirror::try_flush(&store.mirror, &layout.root, "ka-build");
    }
    Ok(code)
}
