//! `ka-show`: the human side of a verb. Reads `ka.result` (and `ka.publish`)
//! documents and prints a few lines per host for the terminal; scripts read
//! the JSON instead.

use anyhow::Context;
use clap::{CommandFactory, Parser};
use ka_core::error::ExitCode;
use ka_schema::{ConfigCheck, Install, Publish, Status, VerbResult, Verdict};
use std::io::Write;

#[derive(Parser, Debug)]
#[command(
    name = "ka-show",
    version,
    about = "Print ka.result and ka.publish documents (stdin) as a short human summary",
    long_about = "Reads ka.result documents on stdin and prints, per host: what the verb did, \
the per-patch verdicts when there are any, the cumulative patch's size and b2sum, the \
kernel config check (what was checked; every value that did not stick, as config-drop when \
it halts the promote or warning for the base config's, with the reason, the condition and \
the symbols that decide it; conflicts; overrides with --verbose), the \
blocks in the way, and the files written (for an unchanged result, which writes nothing, the \
files in place). ka.publish documents (ka-sign) print the packages, \
the repository and what was written on the sign host. Exit status 1 when any result is \
blocked or failed.\n\n\
A dry run is headed \"<verb> <host>: dry-run — <what it would do>\". With --plan (the \
preview a wrapper's --confirm shows before it asks) it is headed \"plan for <host>: <what it \
would do>\" instead: the plan the question is about, not a finished dry run."
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
    /// Head dry-run documents "plan for <host>: ...": the preview shown before
    /// a --confirm question.
    #[arg(long)]
    pub plan: bool,
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
        render_publish(&mut out, p, cli.plan).context("stdout")?;
        if matches!(p.status, Status::Blocked | Status::Failed) {
            code = ExitCode::Negative;
        }
    }
    for i in &installs {
        render_install(&mut out, i, cli.plan).context("stdout")?;
        if matches!(i.status, Status::Blocked | Status::Failed) {
            code = ExitCode::Negative;
        }
    }
    if cli.groups {
        render_groups(&mut out, &results).context("stdout")?;
    }
    for r in &results {
        render(&mut out, r, cli.verbose, cli.plan).context("stdout")?;
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

/// The first line of a document about `host`: "<verb> <host>: <status> —
/// <message>", or for a dry run shown as a plan, "plan for <host>: <message>".
fn heading(
    out: &mut impl Write,
    verb: &str,
    host: &str,
    status: Status,
    message: &str,
    plan: bool,
) -> std::io::Result<()> {
    if plan && status == Status::DryRun {
        writeln!(out, "plan for {host}: {message}")
    } else {
        writeln!(out, "{verb} {host}: {} — {message}", status_word(status))
    }
}

/// The files a ka.result names: written, or for an unchanged result (which
/// wrote nothing), in place.
fn files(
    out: &mut impl Write,
    status: Status,
    files: &[std::path::PathBuf],
) -> std::io::Result<()> {
    let word = if status == Status::Unchanged {
        "in place"
    } else {
        "wrote"
    };
    for f in files {
        writeln!(out, "  {word} {}", f.display())?;
    }
    Ok(())
}

pub fn render(
    out: &mut impl Write,
    r: &VerbResult,
    verbose: bool,
    plan: bool,
) -> std::io::Result<()> {
    heading(out, &r.verb, &r.host, r.status, &r.message, plan)?;
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
    if let Some(c) = &r.config {
        render_config(out, c, verbose)?;
    }
    for b in &r.blocks {
        writeln!(out, "  blocked by {} {}", b.id, b.title)?;
    }
    files(out, r.status, &r.files)
}

/// The config check: one line of what was checked, then every value that did
/// not stick (a halting drop as `config-drop`, a base config's as `warning`)
/// with its reason, then conflicts; overrides with --verbose.
fn render_config(out: &mut impl Write, c: &ConfigCheck, verbose: bool) -> std::io::Result<()> {
    writeln!(
        out,
        "  config: {} options asked, ARCH={}, {}; final .config b2sum {}{}",
        c.requested,
        c.arch,
        c.toolchain,
        &c.b2sum[..c.b2sum.len().min(32)],
        if c.cached { " (cached)" } else { "" }
    )?;
    for d in &c.drops {
        let word = if d.halts { "config-drop" } else { "warning" };
        writeln!(
            out,
            "  {word} {}={} ({}) is {}: {}",
            d.option, d.requested, d.at, d.actual, d.reason
        )?;
        if let Some(cond) = &d.condition {
            writeln!(out, "      {cond}")?;
        }
        if !d.blocking.is_empty() {
            writeln!(out, "      because {}", d.blocking.join(", "))?;
        }
    }
    for x in &c.conflicts {
        writeln!(
            out,
            "  conflict {}: {} ({}) vs {} ({})",
            x.option, x.first_value, x.first, x.second_value, x.second
        )?;
    }
    if verbose {
        for o in &c.overrides {
            writeln!(
                out,
                "  override {}: {} ({}) → {} ({})",
                o.option, o.value, o.at, o.by_value, o.by
            )?;
        }
    } else if !c.overrides.is_empty() {
        writeln!(
            out,
            "  {} config override(s) (-v lists them)",
            c.overrides.len()
        )?;
    }
    Ok(())
}

pub fn render_publish(out: &mut impl Write, p: &Publish, plan: bool) -> std::io::Result<()> {
    heading(
        out,
        "publish",
        &format!("{} (job {})", p.host, p.job),
        p.status,
        &p.message,
        plan,
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

pub fn render_install(out: &mut impl Write, i: &Install, plan: bool) -> std::io::Result<()> {
    heading(out, "install", &i.host, i.status, &i.message, plan)?;
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
    if !results.is_empty()
        && results
            .iter()
            .all(|r| r.lock.is_none() && r.status == Status::DryRun)
    {
        // a dry run before the baseline is imported: nothing was checked yet
        return writeln!(
            out,
            "fleet impact: not known until the baseline is imported (each host below says what a real run would import)\n"
        );
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn result(status: Status, message: &str, files: &[&str]) -> VerbResult {
        VerbResult {
            kind: Default::default(),
            version: ka_schema::V1,
            verb: "promote".into(),
            host: "fresnel".into(),
            status,
            message: message.into(),
            files: files.iter().map(Into::into).collect(),
            blocks: Vec::new(),
            lock: None,
            verdicts: Vec::new(),
            job: None,
            build_host: None,
            config: None,
        }
    }

    fn shown(r: &VerbResult, plan: bool) -> String {
        let mut out = Vec::new();
        render(&mut out, r, false, plan).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_dry_run_shown_as_a_plan_is_headed_plan_for_the_host() {
        let r = result(Status::DryRun, "would promote 6 patches", &[]);
        assert_eq!(
            shown(&r, false),
            "promote fresnel: dry-run — would promote 6 patches\n"
        );
        assert_eq!(
            shown(&r, true),
            "plan for fresnel: would promote 6 patches\n"
        );
        // what is not a dry run keeps its heading
        let r = result(Status::Blocked, "not promoted: 1 open block(s)", &[]);
        assert_eq!(
            shown(&r, true),
            "promote fresnel: BLOCKED — not promoted: 1 open block(s)\n"
        );
        let mut out = Vec::new();
        heading(
            &mut out,
            "publish",
            "toy (job toy-1)",
            Status::DryRun,
            "would copy 1 package(s)",
            true,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "plan for toy (job toy-1): would copy 1 package(s)\n"
        );
    }

    #[test]
    fn an_unchanged_result_names_its_files_in_place_not_written() {
        let r = result(
            Status::Unchanged,
            "already promoted (6 patches)",
            &["/r/hosts/fresnel/promoted/cumulative.patch"],
        );
        assert_eq!(
            shown(&r, false),
            "promote fresnel: unchanged — already promoted (6 patches)\n  \
             in place /r/hosts/fresnel/promoted/cumulative.patch\n"
        );
        let r = result(Status::Done, "promoted 6 patches", &["/r/x"]);
        assert!(shown(&r, false).ends_with("  wrote /r/x\n"));
    }
}
