//! `ka-abandon <campaign> --keep-as-archive | --purge-from-fleet`.

use crate::close::{campaign_series, closed_text};
use crate::journal::Transaction;
use crate::refs::EditFn;
use crate::repo::{Repo, SeriesInfo, unified_diff};
use crate::yamledit::Edit;
use crate::{Common, change, emit, refs, start};
use clap::{ArgGroup, CommandFactory, Parser};
use ka_core::error::{ExitCode, Result, negative};
use ka_schema::{CloseStatus, Closure};
use ka_schema::{Moved, Status, TreeChange};
use std::collections::BTreeSet;

#[derive(Parser, Debug)]
#[command(
    name = "ka-abandon",
    version,
    about = "Retire a campaign: archive its series, or purge them from the fleet",
    long_about = "Takes every series of CAMPAIGN out of patches/ and drops every reference \
to them: `include:` and `exclude:` entries in fleet/*.yaml and `after:` entries in other \
series (each listed). Exactly one of the two flags is required:\n\n\
--keep-as-archive moves the series to archive/patches/<scope>/<series>/, which no manifest \
resolves, and records `closed: { status: abandoned }` in their series.yaml;\n\n\
--purge-from-fleet deletes them.\n\n\
Tree and manifests change in one atomic step (a journal under .ka-journal/): a kill at any \
point leaves all-old, or all-new after the next tree command. Manifests are edited \
line-wise: comments and untouched lines stay as they are.\n\n\
Refused: neither or both flags (exit 2); an unknown campaign (exit 2); an archive folder \
that already exists (exit 1); a manifest line this tool cannot edit safely (exit 3)."
)]
#[command(group(ArgGroup::new("how").required(true).multiple(false).args(["keep_as_archive", "purge_from_fleet"])))]
pub struct Cli {
    /// The campaign, as `campaign:` in series.yaml names it.
    pub campaign: String,
    /// Move the series to archive/patches/ (no manifest resolves them there).
    #[arg(long)]
    pub keep_as_archive: bool,
    /// Delete the series.
    #[arg(long)]
    pub purge_from_fleet: bool,
    /// Show what would change (with the manifest diff); write nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub common: Common,
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let verb = "ka-abandon";
    let (repo, lock, recovered) = start(verb, &cli.common)?;
    let mine = campaign_series(&repo, &cli.campaign)?;
    let gone: BTreeSet<String> = mine.iter().map(|s| s.reference.clone()).collect();
    let drop_gone = |r: &str| {
        if gone.contains(r) {
            Edit::Drop
        } else {
            Edit::Keep
        }
    };

    let mut c = change(verb);
    c.campaign = Some(cli.campaign.clone());
    c.recovered = recovered;
    let mut tx = Transaction::new();
    let mut notes = Vec::new();

    if cli.keep_as_archive {
        archive_series(&repo, &mine, &mut c, &mut tx)?;
    } else {
        for s in &mine {
            tx.remove(s.dir());
            c.removed.push(s.dir());
        }
    }
    drop_after(&repo, &gone, &drop_gone, &mut c, &mut tx, &mut notes)?;
    drop_from_manifests(&repo, &gone, &drop_gone, &mut c, &mut tx, &mut notes)?;

    let how = if cli.keep_as_archive {
        "archived under archive/patches/"
    } else {
        "purged"
    };
    let mut what = format!("campaign {}: {} series {how}", cli.campaign, mine.len());
    if !notes.is_empty() {
        what.push_str(&format!("; {}", notes.join("; ")));
    }
    if cli.dry_run {
        c.status = Status::DryRun;
        c.message = format!("dry run, nothing changed: {what}");
        c.files.clear();
        return emit(&c, cli.common.json);
    }
    tx.commit(&repo.root, verb, &lock)?;
    c.message = what;
    emit(&c, cli.common.json)
}

/// Move the campaign's series under archive/patches/, marking those not
/// closed yet as abandoned; refused when an archive of one exists already.
fn archive_series(
    repo: &Repo,
    mine: &[SeriesInfo],
    c: &mut TreeChange,
    tx: &mut Transaction,
) -> Result<()> {
    let at = ka_core::time::now_rfc3339()?;
    for s in mine {
        let dest = format!("archive/patches/{}", s.reference);
        if repo.exists(&dest) {
            return Err(negative(format!(
                "{dest} exists already (an earlier archive of the same series?); move it away first; nothing was changed"
            )));
        }
        tx.rename(s.dir(), dest.clone());
        c.moved.push(Moved {
            from: s.dir(),
            to: dest.clone(),
        });
        if s.meta.closed.is_none() {
            let closure = Closure {
                status: CloseStatus::Abandoned,
                at: at.clone(),
                note: None,
            };
            let rel = format!("{dest}/series.yaml");
            let text = closed_text(s, &closure, &rel)?;
            c.diff.push_str(&unified_diff(&rel, &s.text, &text));
            c.files.push(rel.clone());
            tx.write(rel, text.into_bytes());
        }
    }
    Ok(())
}

/// Drop the gone series from the `after:` of the other series.
fn drop_after(
    repo: &Repo,
    gone: &BTreeSet<String>,
    drop_gone: EditFn,
    c: &mut TreeChange,
    tx: &mut Transaction,
    notes: &mut Vec<String>,
) -> Result<()> {
    for s in repo
        .series()?
        .iter()
        .filter(|s| !gone.contains(&s.reference))
    {
        if let Some(text) = refs::series_yaml(s, drop_gone, None)? {
            for a in s.meta.after.iter().filter(|a| gone.contains(*a)) {
                notes.push(format!("{} no longer comes after {a}", s.yaml()));
            }
            c.diff.push_str(&unified_diff(&s.yaml(), &s.text, &text));
            c.files.push(s.yaml());
            tx.write(s.yaml(), text.into_bytes());
        }
    }
    Ok(())
}

/// Drop the gone series from the manifests' `include:` and `exclude:`.
fn drop_from_manifests(
    repo: &Repo,
    gone: &BTreeSet<String>,
    drop_gone: EditFn,
    c: &mut TreeChange,
    tx: &mut Transaction,
    notes: &mut Vec<String>,
) -> Result<()> {
    let keep = |_: &str| Edit::Keep;
    for m in repo.manifests()? {
        if let Some(text) = refs::manifest(&m, &keep, drop_gone)? {
            for r in m.manifest.include.iter().filter(|r| gone.contains(*r)) {
                notes.push(format!("{} no longer includes {r}", m.rel));
            }
            for r in m.manifest.exclude.iter().filter(|r| gone.contains(*r)) {
                notes.push(format!("{} no longer excludes {r}", m.rel));
            }
            c.diff.push_str(&unified_diff(&m.rel, &m.text, &text));
            c.files.push(m.rel.clone());
            tx.write(m.rel.clone(), text.into_bytes());
        }
    }
    Ok(())
}
