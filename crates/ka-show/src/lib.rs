//! `ka-show`: the human side of a verb. Reads `ka.result` (and `ka.publish`)
//! documents and prints a few lines per host for the terminal; scripts read
//! the JSON instead.

use anyhow::Context;
use clap::{CommandFactory, Parser};
use ka_core::docs::{Install, Publish, Status, VerbResult, Verdict};
use ka_core::error::ExitCode;
use std::io::Write;

#[derive(Parser, Debug)]
#[command(
    name = "ka-show",
    version,
    about = "Print ka.result and ka.publish documents (stdin) as a short human summary",
    long_about = "Reads ka.result documents on stdin and prints, per host: what the verb did, \
the per-patch verdicts when there are any, the cumulative patch's size and b2sum, the \
blocks in the way, and the files written. ka.publish documents (ka-sign) print the packages, \
the repository and what was written on the sign host. Exit status 1 when any result is \
blocked or failed."
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

/// The kinds of document ka-show prints.
enum Doc {
    Result(VerbResult),
    Publish(Publish),
    Install(Box<Install>),
}

/// Only the kind of a document, to pick its type.
#[derive(serde::Deserialize)]
struct KindOf {
    kind: String,
}

/// Read the documents on `input`, each parsed as the type its `kind` names.
fn read_shown(input: &str) -> ka_core::Result<Vec<Doc>> {
    let mut docs = Vec::new();
    let mut stream = serde_json::Deserializer::from_str(input).into_iter::<serde::de::IgnoredAny>();
    let mut start = 0;
    let mut n = 0;
    while let Some(next) = stream.next() {
        n += 1;
        if let Err(e) = next {
            return Err(ka_core::error::contract(format!(
                "stdin: document {n}: {e}"
            )));
        }
        let end = stream.byte_offset();
        let text = &input[start..end];
        start = end;
        let kind = ka_core::stream::read_one::<KindOf>(text.as_bytes(), "stdin")
            .map_err(|e| ka_core::error::contract(format!("document {n}: {e}")))?
            .kind;
        let source = format!("stdin (document {n})");
        docs.push(match kind.as_str() {
            "ka.publish" => Doc::Publish(ka_core::stream::read_one(text.as_bytes(), &source)?),
            "ka.install" => Doc::Install(Box::new(ka_core::stream::read_one(
                text.as_bytes(),
                &source,
            )?)),
            _ => Doc::Result(ka_core::stream::read_one(text.as_bytes(), &source)?),
        });
    }
    Ok(docs)
}

pub fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let mut input = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin().lock(), &mut input).context("stdin")?;
    let mut results = Vec::new();
    let mut publishes = Vec::new();
    let mut installs = Vec::new();
    for doc in read_shown(&input)? {
        match doc {
            Doc::Result(r) => results.push(r),
            Doc::Publish(p) => publishes.push(p),
            Doc::Install(i) => installs.push(i),
        }
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut code = ExitCode::Ok;
    for p in &publishes {
        render_publish(&mut out, p).context("stdout")?;
        if matches!(p.status, Status::Blocked | Status::Failed) {
            code = ExitCode::Negative;
        }
    }
    for i in &installs {
        render_install(&mut out, i).context("stdout")?;
        if matches!(i.status, Status::Blocked | Status::Failed) {
            code = ExitCode::Negative;
        }
    }
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

pub fn render_publish(out: &mut impl Write, p: &Publish) -> std::io::Result<()> {
    writeln!(
        out,
        "publish {} (job {}): {} — {}",
        p.host,
        p.job,
        status_word(p.status),
        p.message
    )?;
    for k in &p.packages {
        writeln!(
            out,
            "  {:<8} {} {} ({} bytes, b2sum {})",
            if k.kernel { "kernel" } else { "package" },
            k.package,
            k.version,
            k.size,
            &k.b2sum[..k.b2sum.len().min(16)]
        )?;
    }
    for b in &p.blocks {
        writeln!(out, "  blocked by {} {}", b.id, b.title)?;
    }
    for n in &p.notices {
        writeln!(out, "  filed {n}")?;
    }
    for f in &p.published {
        writeln!(out, "  wrote {}:{f}", p.sign_host)?;
    }
    for f in &p.files {
        writeln!(out, "  wrote {}", f.display())?;
    }
    Ok(())
}

pub fn render_install(out: &mut impl Write, i: &Install) -> std::io::Result<()> {
    writeln!(
        out,
        "install {}: {} — {}",
        i.host,
        status_word(i.status),
        i.message
    )?;
    writeln!(
        out,
        "  package  {} {} ({} bytes, b2sum {})",
        i.package,
        i.package_version,
        i.size,
        &i.b2sum[..i.b2sum.len().min(16)]
    )?;
    writeln!(out, "  signed   by {}", i.key)?;
    if let Some(k) = &i.previous_kernel {
        writeln!(out, "  running  {k}")?;
    }
    writeln!(out, "  backup   /boot -> {}", i.backup)?;
    writeln!(out, "  boot     {}", i.boot_change)?;
    writeln!(
        out,
        "  reboot   yes, then SSH must answer with a new boot_id"
    )?;
    writeln!(out, "  plan     {}", i.plan_hash)?;
    for p in &i.phases {
        writeln!(
            out,
            "  {} {:<12} {:.1}s/{}s  {}",
            if p.ok { "ok  " } else { "FAIL" },
            p.phase,
            p.seconds,
            p.timeout_s,
            p.detail
        )?;
    }
    for b in &i.blocks {
        writeln!(out, "  block    {} {}", b.id, b.title)?;
    }
    for b in &i.lifted {
        writeln!(out, "  lifted   {} {}", b.id, b.title)?;
    }
    for n in &i.notices {
        writeln!(out, "  closed   {n}")?;
    }
    for f in &i.files {
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
