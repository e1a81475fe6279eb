//! `ka-rebase`: before a baseline bump, every host's patches checked in order
//! against the new baseline, each with a verdict and a proposal.
//!
//! The check is ka-check's (in memory, no worktree, plans that share patches
//! share the work). On top of it, upstream evidence: when the old and the new
//! baseline are commits of one repository, the commits between them that touch
//! the patches' files are reduced to `git patch-id --stable`; a patch with the
//! same patch-id is already upstream, even where its context moved.

mod upstream;

use anyhow::Context as _;
use clap::{ArgGroup, CommandFactory, Parser};
use ka_baseline::Baselines;
use ka_core::ExitCode;
use ka_core::args::RootArg;
use ka_core::error::{Result, usage};
use ka_schema::{BaselineSource, BaselineSpec};
use ka_schema::{
    Check, GoneOption, LockedBaseline, NewSymbol, PatchCheck, Plan, Proposal, RebaseConfig,
    RebasePatch, RebaseReport, RebaseVerdict, V1, Verdict,
};
use std::io::Write;
use std::path::PathBuf;

const LONG_ABOUT: &str = "\
Reads `ka.plan` documents (as `ka-resolve` writes them) on stdin and checks
each host's patches, in order, against a new baseline: --ref REF (the same git
repository the host's baseline comes from, or --git URL) or --tarball PATH.
The new baseline is fetched or imported as ka-baseline does; the host's own
baseline is pinned too, to compare against.

Each patch gets a verdict and a proposal:
  clean             applies where it says                      keep
  offset            applies, some hunks moved (or with fuzz)   refresh
  needs-rebase      does not apply                             rebase
  already-upstream  reverse-applies, or an upstream commit     drop
                    between the two baselines has the same
                    patch-id (git patch-id --stable)

The evidence names the failing file and hunk, the offsets, or the upstream
commit. Patch-id evidence needs both baselines in one git repository (a tarball
baseline has no history: only reverse-applying counts there).

For a host with a kernel config, the config is checked on both baselines with
their own kconfig (as ka-kconfig does) and the report's `config` lists: the
requested options the new baseline no longer defines (gone, with the new
symbol that likely renames it), the requested values that stick now and would
not then (with the reason), and the symbols the new baseline adds with the
value the host's config takes.

Writes one `ka.rebase-report` per host on stdout (--summary: a human summary).
Exit status: 0 every patch carries over (keep or refresh) and every requested
config value still sticks; 1 some patch needs a rebase or can be dropped, a
config option is gone or would drop, or a baseline cannot be fetched; 2 usage or I/O
error (a host whose baseline kind does not fit the option, a patch file gone);
3 the input breaks the contract. One host's refusal does not stop the others.";

/// Check every host's patches against a new baseline.
#[derive(Debug, Parser)]
#[command(name = "ka-rebase", version, about, long_about = LONG_ABOUT)]
#[command(group(ArgGroup::new("to").required(true).args(["git_ref", "tarball"])))]
pub struct Cli {
    /// The new baseline: this ref of each host's git baseline (or of --git).
    #[arg(long = "ref", value_name = "REF")]
    pub git_ref: Option<String>,
    /// With --ref: the repository (URL or path) to take REF from, for hosts
    /// whose baseline is a tarball or another repository.
    #[arg(long, value_name = "URL", requires = "git_ref")]
    pub git: Option<String>,
    /// The new baseline: a kernel source tarball.
    #[arg(long, value_name = "PATH")]
    pub tarball: Option<String>,
    /// Context lines a hunk may drop at each end (as ka-check --fuzz).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub fuzz: u32,
    /// Print a human summary instead of JSON lines.
    #[arg(long)]
    pub summary: bool,
    #[command(flatten)]
    pub root: RootArg,
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let layout = cli.root.layout()?;
    let plans: Vec<Plan> = ka_core::stream::read_docs(std::io::stdin().lock(), "stdin")?;
    let baselines = Baselines::new(&layout, false);
    let mut code = ExitCode::Ok;
    let mut from = Vec::new();
    let mut retargeted = Vec::new();
    for plan in plans {
        match retarget(&cli, &baselines, plan) {
            Ok((old, plan)) => {
                from.push(old);
                retargeted.push(plan);
            }
            Err(e) => {
                eprintln!("ka-rebase: {e}");
                code = code.max(e.exit_code());
            }
        }
    }
    let checks = ka_check::check_plans(retargeted, cli.fuzz)?;
    let mut evidence = upstream::Evidence::default();
    let mut configs = ka_kconfig::Checker::new(layout.clone(), false);
    let mut reports = Vec::new();
    for (old, check) in from.into_iter().zip(checks) {
        let config = compare_configs(&mut configs, &old, &check.plan)?;
        let mut report = report(&mut evidence, old, check)?;
        report.config = config;
        if !report.carries_over() {
            code = code.max(ExitCode::Negative);
        }
        reports.push(report);
    }
    if cli.summary {
        let mut out = std::io::stdout().lock();
        for r in &reports {
            out.write_all(summary(r).as_bytes()).context("stdout")?;
        }
    } else {
        ka_core::stream::write_docs(&reports).context("writing to stdout")?;
    }
    Ok(code)
}

/// Pin the host's own baseline and point its plan at the new one.
/// The host's own baseline, and the repository that pins it.
struct Old {
    baseline: LockedBaseline,
    git_dir: PathBuf,
}

fn retarget(cli: &Cli, baselines: &Baselines, mut plan: Plan) -> Result<(Old, Plan)> {
    let spec = match (&cli.tarball, &cli.git_ref) {
        (Some(t), _) => BaselineSpec {
            git: None,
            git_ref: None,
            tarball: Some(t.clone()),
        },
        (None, Some(r)) => {
            let url = match (&cli.git, plan.baseline.spec.source()?) {
                (Some(url), _) => url.clone(),
                (None, BaselineSource::Git { url, .. }) => url.to_string(),
                (None, BaselineSource::Tarball(t)) => {
                    return Err(usage(format!(
                        "{}: its baseline is the tarball {t}, which has no refs; give --git URL with --ref, or --tarball",
                        plan.host
                    )));
                }
            };
            BaselineSpec {
                git: Some(url),
                git_ref: Some(r.clone()),
                tarball: None,
            }
        }
        (None, None) => unreachable!("clap requires --ref or --tarball"),
    };
    let (old_dir, old_commit) = match (&plan.baseline.git_dir, &plan.baseline.commit) {
        (Some(d), Some(c)) => (d.clone(), c.clone()),
        _ => baselines.pin(&plan.baseline.spec)?,
    };
    let old = LockedBaseline {
        spec: std::mem::replace(&mut plan.baseline.spec, spec),
        commit: old_commit,
    };
    let (dir, commit) = baselines.pin(&plan.baseline.spec)?;
    plan.baseline.git_dir = Some(dir.clone());
    plan.baseline.commit = Some(commit);
    Ok((
        Old {
            baseline: old,
            git_dir: old_dir,
        },
        plan,
    ))
}

fn report(evidence: &mut upstream::Evidence, old: Old, check: Check) -> Result<RebaseReport> {
    let git_dir = check.plan.baseline.git_dir.clone().expect("retargeted");
    let to = LockedBaseline {
        spec: check.plan.baseline.spec.clone(),
        commit: check.plan.baseline.commit.clone().expect("retargeted"),
    };
    let from = old.baseline;
    // Patch-ids need the history between the two: one repository.
    let range = (old.git_dir == git_dir).then(|| upstream::Range {
        git_dir: git_dir.clone(),
        from: from.commit.clone(),
        to: to.commit.clone(),
    });
    let mut patches = Vec::new();
    for p in &check.patches {
        let upstream = match &range {
            Some(r) => evidence.upstream_commit(r, &check.plan.repo.join(&p.path), &check)?,
            None => None,
        };
        patches.push(judge(p, upstream));
    }
    Ok(RebaseReport {
        kind: Default::default(),
        version: V1,
        host: check.plan.host,
        from,
        to,
        patches,
        config: None,
    })
}

/// The host's config checked on its current baseline and on the new one:
/// what is gone (or renamed), what no longer sticks, and what is new.
fn compare_configs(
    checker: &mut ka_kconfig::Checker,
    old: &Old,
    plan: &Plan,
) -> Result<Option<RebaseConfig>> {
    let Some(arch) = plan.config.as_ref().map(|c| c.arch) else {
        return Ok(None);
    };
    let mut on_old = plan.clone();
    on_old.baseline.git_dir = Some(old.git_dir.clone());
    on_old.baseline.commit = Some(old.baseline.commit.clone());
    let (Some(before), Some(after)) = (checker.check(&on_old)?, checker.check(plan)?) else {
        return Ok(None);
    };
    let new_commit = plan.baseline.commit.as_deref().expect("retargeted");
    checker.symbols(&old.baseline.commit, arch)?;
    checker.symbols(new_commit, arch)?;
    let (Some(k_old), Some(k_new)) = (
        checker.parsed(&old.baseline.commit, arch),
        checker.parsed(new_commit, arch),
    ) else {
        return Ok(None);
    };
    let defined = |k: &ka_kconfig::kconfig::Kconfig, name: &str| {
        k.get(name).is_some_and(|s| !s.defs.is_empty())
    };
    let added: Vec<&str> = k_new
        .symbols
        .iter()
        .filter(|(name, s)| !s.defs.is_empty() && !defined(k_old, name))
        .map(|(name, _)| name.as_str())
        .collect();
    let mut gone = Vec::new();
    for (name, r) in &after.requested {
        if defined(k_old, name) && !defined(k_new, name) {
            gone.push(GoneOption {
                option: format!("CONFIG_{name}"),
                requested: r.value.clone(),
                at: r.origin.clone(),
                renamed_to: renamed(name, &added).map(|n| format!("CONFIG_{n}")),
            });
        }
    }
    let dropped_before: std::collections::HashSet<&str> = before
        .report
        .drops
        .iter()
        .map(|d| d.option.as_str())
        .collect();
    let dropped = after
        .report
        .drops
        .iter()
        .filter(|d| !dropped_before.contains(d.option.as_str()))
        .filter(|d| !gone.iter().any(|g| g.option == d.option))
        .cloned()
        .collect();
    let fin = ka_kconfig::values::Values::from_config(&after.final_config);
    let mut new_symbols: Vec<NewSymbol> = added
        .iter()
        .filter_map(|name| {
            fin.get(name).map(|v| NewSymbol {
                option: format!("CONFIG_{name}"),
                value: v.to_string(),
            })
        })
        .collect();
    new_symbols.sort_by(|a, b| a.option.cmp(&b.option));
    Ok(Some(RebaseConfig {
        gone,
        dropped,
        new_symbols,
    }))
}

/// The symbol the new baseline adds that most likely renames `name`: one
/// that holds it as a `_`-separated part (`WIFI` → `WIFI_DRV`), or is at
/// most 3 edits from it; the closest, then the first by name.
fn renamed<'a>(name: &str, added: &[&'a str]) -> Option<&'a str> {
    let part_of = |long: &str, short: &str| {
        long.starts_with(&format!("{short}_"))
            || long.ends_with(&format!("_{short}"))
            || long.contains(&format!("_{short}_"))
    };
    added
        .iter()
        .filter_map(|&a| {
            let d = if part_of(a, name) || part_of(name, a) {
                0
            } else {
                ka_kconfig::kconfig::distance(a, name)
            };
            (d <= 3).then_some((d, a))
        })
        .min()
        .map(|(_, a)| a)
}

/// One patch's verdict, proposal and evidence.
fn judge(p: &PatchCheck, upstream: Option<upstream::Commit>) -> RebasePatch {
    let (verdict, proposal, evidence) = match (upstream, p.verdict) {
        (Some(c), _) => (
            RebaseVerdict::AlreadyUpstream,
            Proposal::Drop,
            Some(format!(
                "same patch-id as upstream commit {} \"{}\"",
                &c.id[..12.min(c.id.len())],
                c.subject
            )),
        ),
        (None, Verdict::AlreadyApplied) => (
            RebaseVerdict::AlreadyUpstream,
            Proposal::Drop,
            Some("reverse-applies to the new baseline: the change is in it".into()),
        ),
        (None, Verdict::Clean) => (RebaseVerdict::Clean, Proposal::Keep, None),
        (None, Verdict::Offset | Verdict::Fuzz) => (
            RebaseVerdict::Offset,
            Proposal::Refresh,
            Some(moved_hunks(p)),
        ),
        (None, Verdict::Fails) => (
            RebaseVerdict::NeedsRebase,
            Proposal::Rebase,
            Some(failure(p)),
        ),
    };
    RebasePatch {
        path: p.path.clone(),
        series: p.series.clone(),
        campaign: p.campaign.clone(),
        verdict,
        proposal,
        evidence,
    }
}

fn moved_hunks(p: &PatchCheck) -> String {
    let mut parts = Vec::new();
    for f in &p.files {
        for h in f.hunks.iter().filter(|h| h.offset != 0 || h.fuzz != 0) {
            let mut s = format!("{} hunk {} at offset {:+}", f.path, h.hunk, h.offset);
            if h.fuzz != 0 {
                s.push_str(&format!(" with fuzz {}", h.fuzz));
            }
            parts.push(s);
        }
    }
    parts.join("; ")
}

fn failure(p: &PatchCheck) -> String {
    for f in &p.files {
        if f.verdict == Verdict::Fails {
            if let Some(h) = f.hunks.iter().find(|h| h.verdict == Verdict::Fails) {
                let why = h.reason.as_deref().unwrap_or("does not apply");
                return format!("{} hunk {}: {why}", f.path, h.hunk);
            }
            if let Some(r) = &f.reason {
                return format!("{}: {r}", f.path);
            }
        }
    }
    p.reason.clone().unwrap_or_else(|| "does not apply".into())
}

fn short(b: &LockedBaseline) -> String {
    format!(
        "{} ({})",
        b.spec.describe(),
        &b.commit[..12.min(b.commit.len())]
    )
}

/// The human form: one block per host, one line per patch.
pub fn summary(r: &RebaseReport) -> String {
    let mut s = format!("{}: {} -> {}\n", r.host, short(&r.from), short(&r.to));
    let mut counts = [0usize; 4];
    for p in &r.patches {
        let (word, i) = match p.proposal {
            Proposal::Keep => ("keep", 0),
            Proposal::Refresh => ("refresh", 1),
            Proposal::Rebase => ("rebase", 2),
            Proposal::Drop => ("drop", 3),
        };
        counts[i] += 1;
        s.push_str(&format!("  {word:<8} {}", p.path));
        if let Some(e) = &p.evidence {
            s.push_str(&format!("  ({e})"));
        }
        s.push('\n');
    }
    s.push_str(&format!(
        "  {} patches: {} keep, {} refresh, {} rebase, {} drop\n",
        r.patches.len(),
        counts[0],
        counts[1],
        counts[2],
        counts[3]
    ));
    if let Some(c) = &r.config {
        for g in &c.gone {
            s.push_str(&format!(
                "  gone     {}={} ({}): the new baseline does not define it{}\n",
                g.option,
                g.requested,
                g.at,
                g.renamed_to
                    .as_deref()
                    .map(|n| format!("; renamed to {n}?"))
                    .unwrap_or_default()
            ));
        }
        for d in &c.dropped {
            s.push_str(&format!(
                "  dropped  {}={} ({}) would be {}: {}\n",
                d.option, d.requested, d.at, d.actual, d.reason
            ));
        }
        const SHOWN: usize = 20;
        for n in c.new_symbols.iter().take(SHOWN) {
            s.push_str(&format!("  new      {}={}\n", n.option, n.value));
        }
        if c.new_symbols.len() > SHOWN {
            s.push_str(&format!(
                "  new      ... {} more (--json lists them)\n",
                c.new_symbols.len() - SHOWN
            ));
        }
        s.push_str(&format!(
            "  config: {} gone, {} no longer stick, {} new symbols\n",
            c.gone.len(),
            c.dropped.len(),
            c.new_symbols.len()
        ));
    }
    s
}
