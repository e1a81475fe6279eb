//! `ka-check`: apply each host's plan, in order, to its pinned baseline commit
//! without a worktree, and report per patch, file and hunk whether it applies,
//! and which campaigns change the same lines.
//!
//! Plans that share a prefix of identical patches on the same baseline share
//! the work: see [`trie`].

mod conflicts;
mod patches;
pub mod trie;

use anyhow::Context as _;
use clap::{CommandFactory, Parser};
use ka_core::ExitCode;
use ka_core::error::contract;
use ka_schema::{Check, CheckKind, Plan, V1};

const LONG_ABOUT: &str = "\
Reads `ka.plan` documents (one per host, as `ka-baseline` writes them, with the
baseline pinned to a commit) on stdin. For each plan it applies the patches in
order to the pinned commit entirely in memory: blobs are read from the baseline
repository through one `git cat-file --batch`, nothing is checked out and
nothing is written to the repository.

Hunks are placed as GNU patch and `git apply` place them: where the header
says, else the nearest position where the context matches byte for byte
(forward first), never above the previous hunk. Fuzz is off unless --fuzz is
given. A patch applies all or nothing; one that does not apply but whose
reverse does is reported as already-applied.

A patch that makes a symbolic link (new, renamed, copied or retargeted) whose
target is absolute or climbs out of the tree with `..`, or that touches a path
beyond a link made earlier in the plan, fails, naming the line of the patch
file: `git apply` refuses the latter (\"beyond a symbolic link\"), and
`patch -p1` on the build host would follow either out of the tree.

Writes one `ka.check` document per plan, one per line, on stdout. When two
series of different campaigns change overlapping lines of one file, the check
lists the conflict.

Exit status: 0 every plan applies without conflicts; 1 some patch fails or
conflicts (the report is still written in full); 2 usage or I/O error (git
missing, baseline repository or patch file missing); 3 the input breaks the
contract (not a ka.plan, unsupported version, truncated JSON, no pinned
baseline).";

/// Check that each host's patch plan applies to its pinned baseline.
#[derive(Debug, Parser)]
#[command(name = "ka-check", version, about, long_about = LONG_ABOUT)]
pub struct Cli {
    /// Context lines a hunk may drop at each end to apply (GNU patch's
    /// --fuzz). 0, the default, applies exactly as `dpkg-source` does.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub fuzz: u32,
}

/// The command-line definition, for man pages and completions.
pub fn command() -> clap::Command {
    Cli::command()
}

pub fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let plans: Vec<Plan> = ka_core::stream::read_docs(std::io::stdin().lock(), "stdin")?;
    let checks = check_plans(plans, cli.fuzz)?;
    ka_core::stream::write_docs(&checks).context("writing to stdout")?;
    let mut code = ExitCode::Ok;
    for check in checks.iter().filter(|c| !c.passes()) {
        code = ExitCode::Negative;
        for p in check.patches.iter().filter(|p| !p.verdict.applies()) {
            eprintln!(
                "ka-check: {}: {}: {}",
                check.plan.host,
                p.path,
                p.reason.as_deref().unwrap_or("does not apply")
            );
        }
        for c in &check.conflicts {
            eprintln!(
                "ka-check: {}: {}: {} ({}) and {} ({}) change the same lines",
                check.plan.host,
                c.file,
                c.first.patch,
                c.first.campaign,
                c.second.patch,
                c.second.campaign
            );
        }
    }
    Ok(code)
}

/// Check every plan; the result is in the order of `plans`, plans whose
/// baseline is pending (dry run) last.
pub fn check_plans(plans: Vec<Plan>, fuzz: u32) -> anyhow::Result<Vec<Check>> {
    // A dry run's plan whose baseline is not imported yet cannot be checked:
    // it passes through with no verdicts, and ka-concat --dry-run says what a
    // real run would do first.
    let (pending, plans): (Vec<Plan>, Vec<Plan>) = plans
        .into_iter()
        .partition(|p| p.baseline.pending.is_some() && p.baseline.commit.is_none());
    let mut checks = check_pinned(plans, fuzz)?;
    checks.extend(pending.into_iter().map(|plan| Check {
        kind: CheckKind::Kind,
        version: V1,
        plan,
        fuzz_allowed: fuzz,
        patches: Vec::new(),
        conflicts: Vec::new(),
        config: None,
    }));
    Ok(checks)
}

fn check_pinned(plans: Vec<Plan>, fuzz: u32) -> anyhow::Result<Vec<Check>> {
    for plan in &plans {
        if plan.baseline.git_dir.is_none() || plan.baseline.commit.is_none() {
            return Err(contract(format!(
                "plan for {} has no pinned baseline; pipe it through ka-baseline first",
                plan.host
            ))
            .into());
        }
    }
    let store = patches::PatchStore::load(&plans)?;
    let results = trie::check_all(&plans, &store, fuzz)?;
    Ok(plans
        .into_iter()
        .zip(results)
        .map(|(plan, (patches, conflicts))| Check {
            kind: CheckKind::Kind,
            version: V1,
            plan,
            fuzz_allowed: fuzz,
            patches,
            conflicts,
            config: None,
        })
        .collect())
}
