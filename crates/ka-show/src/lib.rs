//! `ka-show`: the human side of a verb. Reads `ka.result` documents and prints
//! a few lines per host for the terminal; scripts read the JSON instead.

use anyhow::Context;
use clap::{CommandFactory, Parser};
use ka_core::docs::{Status, VerbResult, Verdict};
use ka_core::error::ExitCode;
use std::io::Write;

#[derive(Parser, Debug)]
#[command(
    name = "ka-show",
    version,
    about = "Print ka.result documents (stdin) as a short human summary",
    long_about = "Reads ka.result documents on stdin and prints, per host: what the verb did, \
the per-patch verdicts when there are any, the cumulative patch's size and b2sum, the \
blocks in the way, and the files written. Exit status 1 when any result is blocked."
)]
pub struct Cli {
    /// Print every patch, not only those that did not apply cleanly.
    #[arg(long, short)]
    pub verbose: bool,
    /// First print the fleet impact view: hosts whose resolved plans are
    /// identical (same pinned baseline, same patch bytes in the same order)
    /// grouped together, since each group is checked and built once.
    #[arg(long)]
    pub groups: bool,
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let results: Vec<VerbResult> = ka_core::stream::read_docs(std::io::stdin().lock(), "stdin")?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut code = ExitCode::Ok;
    if cli.groups {
        render_groups(&mut out, &results).context("stdout")?;
    }
    for r in &results {
        render(&mut out, r, cli.verbose).context("stdout")?;
        if matches!(r.status, Status::Blocked | Status::Failed) {
            code = ExitCode::Negative;
        }
    }
    out.flush().context("stdout")?;
    Ok(code)
}

fn status_word(s: Status) -> &'static str {
    match s {
        Status::Done => "done",
        Status::Unchanged => "unchanged",
        Status::DryRun => "dry-run",
        Status::Blocked => "BLOCKED",
        Status::Failed => "FAILED",
    }
}

fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Clean => "clean",
        Verdict::Offset => "offset",
        Verdict::Fuzz => "fuzz",
        Verdict::Fails => "FAILS",
        Verdict::AlreadyApplied => "UPSTREAM",
    }
}

pub fn render(out: &mut impl Write, r: &VerbResult, verbose: bool) -> std::io::Result<()> {
    writeln!(
        out,
        "{} {}: {} — {}",
        r.verb,
        r.host,
        status_word(r.status),
        r.message
    )?;
    if let Some(lock) = &r.lock {
        writeln!(
            out,
            "  baseline {} ({})",
            &lock.baseline.commit[..lock.baseline.commit.len().min(12)],
            lock.baseline.spec.describe()
        )?;
        writeln!(
            out,
            "  {} patches, {} {} bytes, b2sum {}",
            lock.patches.len(),
            lock.cumulative.file,
            lock.cumulative.size,
            &lock.cumulative.b2sum[..32]
        )?;
    }
    let mut quiet = 0;
    for v in &r.verdicts {
        if verbose || v.verdict != Verdict::Clean {
            write!(out, "  {:<8} {}", verdict_word(v.verdict), v.path)?;
            if let Some(reason) = &v.reason {
                write!(out, ": {reason}")?;
            }
            writeln!(out)?;
        } else {
            quiet += 1;
        }
    }
    if quiet > 0 {
        writeln!(out, "  {quiet} clean (-v lists them)")?;
    }
    for b in &r.blocks {
        writeln!(out, "  blocked by {} {}", b.id, b.title)?;
    }
    for f in &r.files {
        writeln!(out, "  wrote {}", f.display())?;
    }
    Ok(())
}

/// Hosts whose plans are identical: same baseline commit, same patches (b2sum) in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub hosts: Vec<String>,
    pub baseline: String,
    pub baseline_spec: String,
    pub patches: usize,
    pub cumulative_b2sum: String,
}

/// The groups of identical plans, largest first (then by first host); hosts
/// without a lock (nothing resolved) are left out.
pub fn groups(results: &[VerbResult]) -> Vec<Group> {
    let mut by_key: Vec<((String, Vec<String>), Group)> = Vec::new();
    for r in results {
        let Some(lock) = &r.lock else { continue };
        let key = (
            lock.baseline.commit.clone(),
            lock.patches
                .iter()
                .map(|p| p.b2sum.clone())
                .collect::<Vec<_>>(),
        );
        match by_key.iter_mut().find(|(k, _)| *k == key) {
            Some((_, g)) => g.hosts.push(r.host.clone()),
            None => by_key.push((
                key,
                Group {
                    hosts: vec![r.host.clone()],
                    baseline: lock.baseline.commit.clone(),
                    baseline_spec: lock.baseline.spec.describe(),
                    patches: lock.patches.len(),
                    cumulative_b2sum: lock.cumulative.b2sum.clone(),
                },
            )),
        }
    }
    let mut out: Vec<Group> = by_key.into_iter().map(|(_, g)| g).collect();
    out.sort_by(|a, b| {
        b.hosts
            .len()
            .cmp(&a.hosts.len())
            .then(a.hosts.cmp(&b.hosts))
    });
    out
}

pub fn render_groups(out: &mut impl Write, results: &[VerbResult]) -> std::io::Result<()> {
    let groups = groups(results);
    let hosts: usize = groups.iter().map(|g| g.hosts.len()).sum();
    writeln!(
        out,
        "fleet impact: {hosts} hosts, {} distinct plans (each checked once, one cumulative.patch each)",
        groups.len()
    )?;
    for (i, g) in groups.iter().enumerate() {
        writeln!(
            out,
            "  group {}: {} — baseline {} ({}), {} patches, cumulative b2sum {}",
            i + 1,
            g.hosts.join(", "),
            &g.baseline[..g.baseline.len().min(12)],
            g.baseline_spec,
            g.patches,
            &g.cumulative_b2sum[..g.cumulative_b2sum.len().min(16)]
        )?;
    }
    let without: Vec<&str> = results
        .iter()
        .filter(|r| r.lock.is_none())
        .map(|r| r.host.as_str())
        .collect();
    if !without.is_empty() {
        writeln!(out, "  not grouped (no plan): {}", without.join(", "))?;
    }
    writeln!(out)
}
