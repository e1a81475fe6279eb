//! `ka-tree`: the verbs that keep the patch tree healthy — `ka-import`,
//! `ka-close`, `ka-abandon`, `ka-migrate-tree` and `ka-tree-recover`.
//!
//! Every change to the tree and the manifests goes through one [`journal`]:
//! staged, committed with one rename, applied as renames that are each
//! skipped once done, so a `kill -9` at any point leaves all-old or (after
//! the next tree command) all-new. Manifests and series.yaml files are edited
//! line-wise ([`yamledit`]) and re-parsed to check the edit means what was
//! intended; they are never re-serialized.

pub mod abandon;
pub mod close;
pub mod import;
pub mod journal;
pub mod migrate;
pub mod patchid;
pub mod refs;
pub mod repo;
pub mod sources;
pub mod yamledit;

use anyhow::Context;
use clap::{Args, CommandFactory, Parser};
use ka_core::args::RepoArg;
use ka_core::error::ExitCode;
use ka_schema::{Status, TreeChange, V1};
use std::io::Write;

/// Options every tree verb takes.
#[derive(Args, Debug, Clone)]
pub struct Common {
    #[command(flatten)]
    pub repo: RepoArg,
    /// Print one ka.tree-change document on stdout instead of a summary.
    #[arg(long)]
    pub json: bool,
}

/// Open the repository, take the tree lock, and finish any interrupted change.
pub fn start(
    verb: &str,
    common: &Common,
) -> ka_core::Result<(repo::Repo, journal::TreeLock, Vec<String>)> {
    let repo = repo::Repo::new(common.repo.repo.as_deref())?;
    let lock = journal::TreeLock::acquire(&repo.root, verb)?;
    let notes = journal::recover(&repo.root, &lock)?;
    for n in &notes {
        eprintln!("{verb}: {n}");
    }
    Ok((repo, lock, notes))
}

/// An empty change document for `verb`.
pub fn change(verb: &str) -> TreeChange {
    TreeChange {
        kind: Default::default(),
        version: V1,
        verb: verb.to_string(),
        status: Status::Done,
        message: String::new(),
        campaign: None,
        files: Vec::new(),
        moved: Vec::new(),
        removed: Vec::new(),
        imported: Vec::new(),
        checks: Vec::new(),
        diff: String::new(),
        recovered: Vec::new(),
    }
}

/// Print the change as JSON or as a short summary; the exit code follows the status.
pub fn emit(change: &TreeChange, json: bool) -> anyhow::Result<ExitCode> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if json {
        ka_core::stream::write_docs(std::slice::from_ref(change)).context("stdout")?;
    } else {
        render_to(&mut out, change).context("stdout")?;
    }
    out.flush().context("stdout")?;
    Ok(match change.status {
        Status::Failed | Status::Blocked => ExitCode::Negative,
        _ => ExitCode::Ok,
    })
}

pub fn render_to(out: &mut impl Write, c: &TreeChange) -> std::io::Result<()> {
    writeln!(out, "{}: {}", c.verb, c.message)?;
    for m in &c.moved {
        writeln!(out, "  move   {} -> {}", m.from, m.to)?;
    }
    for r in &c.removed {
        writeln!(out, "  delete {r}")?;
    }
    for p in &c.imported {
        writeln!(
            out,
            "  new    {}  (from {}, patch-id {})",
            p.path,
            p.source,
            &p.patch_id[..p.patch_id.len().min(12)]
        )?;
    }
    let imported: Vec<&String> = c.imported.iter().map(|p| &p.path).collect();
    for f in c.files.iter().filter(|f| !imported.contains(f)) {
        writeln!(out, "  write  {f}")?;
    }
    for h in &c.checks {
        match &h.error {
            Some(e) if h.verdicts.is_empty() => writeln!(out, "  check  {}: {e}", h.host)?,
            _ => {
                let worst = h.verdicts.iter().filter(|v| !v.verdict.applies()).count();
                writeln!(
                    out,
                    "  check  {}: {} of {} new patches apply",
                    h.host,
                    h.verdicts.len() - worst,
                    h.verdicts.len()
                )?;
                for v in h.verdicts.iter().filter(|v| !v.verdict.applies()) {
                    writeln!(
                        out,
                        "           {:?} {}: {}",
                        v.verdict,
                        v.path,
                        v.reason.as_deref().unwrap_or("does not apply")
                    )?;
                }
                if let Some(e) = &h.error {
                    writeln!(out, "           {e}")?;
                }
            }
        }
    }
    if !c.diff.is_empty() {
        writeln!(out)?;
        write!(out, "{}", c.diff)?;
    }
    Ok(())
}

// ------------------------------------------------------------ ka-tree-recover

/// Finish or roll back a tree change that was interrupted (`kill -9`, power loss).
#[derive(Parser, Debug)]
#[command(
    name = "ka-tree-recover",
    version,
    about = "Finish (or roll back) a tree change that was interrupted",
    long_about = "ka-import, ka-close, ka-abandon and ka-migrate-tree apply their change \
through a journal under <repo>/.ka-journal/. If one was killed, the tree is left with the \
journal: a change killed before its commit point is rolled back (nothing of it was \
applied), one killed after it is rolled forward to the end. Every tree verb does this \
first on its own; ka-resolve (and so ka-promote) refuses to read a tree with a change \
pending and names this command.\n\nExit status: 0 nothing to do or recovered; 1 the tree \
lock is held by a running tree verb; 2 I/O error; 3 a damaged journal (inspect it by hand)."
)]
pub struct RecoverCli {
    #[command(flatten)]
    pub common: Common,
}

pub fn recover_command() -> clap::Command {
    RecoverCli::command()
}

pub fn recover_run() -> anyhow::Result<ExitCode> {
    let cli = RecoverCli::parse();
    let verb = "ka-tree-recover";
    let (_repo, _lock, notes) = start(verb, &cli.common)?;
    let mut c = change(verb);
    c.message = if notes.is_empty() {
        "nothing to recover".into()
    } else {
        notes.join("; ")
    };
    c.recovered = notes;
    if cli.common.json {
        emit(&c, true)
    } else {
        println!("{verb}: {}", c.message);
        Ok(ExitCode::Ok)
    }
}
