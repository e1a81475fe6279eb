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
