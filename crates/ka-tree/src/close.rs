//! `ka-close <campaign> --status success`: record that a campaign is over.

use crate::journal::Transaction;
use crate::repo::{Repo, SeriesInfo, unified_diff, verify};
use crate::{Common, change, emit, start, yamledit};
use clap::{CommandFactory, Parser, ValueEnum};
use ka_core::error::{ExitCode, Result, negative, usage};
use ka_schema::Status;
use ka_schema::{CloseStatus, Closure};

#[derive(Parser, Debug)]
#[command(
    name = "ka-close",
    version,
    about = "Mark a campaign closed; its series stay in the tree and the fleet",
    long_about = "Appends a `closed:` block (status, time, note) to the series.yaml of \
every series of CAMPAIGN under patches/, in one atomic step. The series stay where they \
are and hosts keep taking them: closing records the outcome, it removes nothing (use \
ka-abandon for that). Time comes from KA_NOW when set.\n\n\
Refused: an unknown campaign (exit 2, the campaigns in the tree are listed); a campaign \
already closed (exit 1, says when and how)."
)]
pub struct Cli {
    /// The campaign, as `campaign:` in series.yaml names it.
    pub campaign: String,
    /// How it ended.
    #[arg(long, value_enum)]
    pub status: CloseAs,
    /// A line saying why, kept in series.yaml.
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
    /// Show what would change; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CloseAs {
    /// It did what it set out to do.
    Success,
    /// Its patches were merged upstream.
    Upstreamed,
    /// Replaced by another campaign.
    Superseded,
}

impl CloseAs {
    fn status(self) -> CloseStatus {
        match self {
            CloseAs::Success => CloseStatus::Success,
            CloseAs::Upstreamed => CloseStatus::Upstreamed,
            CloseAs::Superseded => CloseStatus::Superseded,
        }
    }
}

pub fn command() -> clap::Command {
    Cli::command()
}

/// The series of `campaign` under patches/, or an error listing the campaigns there are.
pub fn campaign_series(repo: &Repo, campaign: &str) -> Result<Vec<SeriesInfo>> {
    ka_core::names::check_name("campaign", campaign).map_err(|e| usage(e.to_string()))?;
    let all = repo.series()?;
    let mine: Vec<SeriesInfo> = all
        .iter()
        .filter(|s| s.meta.campaign == campaign)
        .cloned()
        .collect();
    if mine.is_empty() {
        let mut known: Vec<&str> = all.iter().map(|s| s.meta.campaign.as_str()).collect();
        known.sort();
        known.dedup();
        let archived = repo
            .series_under("archive/patches")?
            .iter()
            .any(|s| s.meta.campaign == campaign);
        let hint = if archived {
            " (its series are under archive/: it was abandoned)"
        } else {
            ""
        };
        return Err(usage(format!(
            "unknown campaign {campaign:?}: no series under patches/ has campaign: {campaign}{hint}; campaigns in the tree: {}",
            known.join(", ")
        )));
    }
    Ok(mine)
}

/// series.yaml with a `closed:` block appended, checked by re-parsing.
pub fn closed_text(s: &SeriesInfo, closure: &Closure, rel: &str) -> Result<String> {
    let mut block = format!(
        "closed:\n  status: {}\n  at: \"{}\"\n",
        closure.status.as_str(),
        closure.at
    );
    if let Some(note) = &closure.note {
        // a JSON string is a valid YAML double-quoted scalar
        block.push_str(&format!(
            "  note: {}\n",
            serde_json::to_string(note).expect("strings serialize")
        ));
    }
    let text = yamledit::append(&s.text, &block);
    let mut want = s.meta.clone();
    want.closed = Some(closure.clone());
    verify(rel, &text, &want)?;
    Ok(text)
}

pub fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let verb = "ka-close";
    let (repo, lock, recovered) = start(verb, &cli.common)?;
    let series = campaign_series(&repo, &cli.campaign)?;
    if let Some(s) = series.iter().find(|s| s.meta.closed.is_some()) {
        let c = s.meta.closed.as_ref().expect("found");
        return Err(negative(format!(
            "campaign {} is already closed ({} at {}, in {}); nothing was changed",
            cli.campaign,
            c.status.as_str(),
            c.at,
            s.yaml()
        ))
        .into());
    }
    let closure = Closure {
        status: cli.status.status(),
        at: ka_core::time::now_rfc3339()?,
        note: cli.note.clone(),
    };
    let mut c = change(verb);
    c.campaign = Some(cli.campaign.clone());
    c.recovered = recovered;
    let mut tx = Transaction::new();
    for s in &series {
        let rel = s.yaml();
        let text = closed_text(s, &closure, &rel)?;
        c.diff.push_str(&unified_diff(&rel, &s.text, &text));
        c.files.push(rel.clone());
        tx.write(rel, text.into_bytes());
    }
    let what = format!(
        "campaign {} closed as {} ({} series; they stay in the tree)",
        cli.campaign,
        closure.status.as_str(),
        series.len()
    );
    if cli.dry_run {
        c.status = Status::DryRun;
        c.message = format!("would mark {what}");
        c.files.clear();
        return emit(&c, cli.common.json);
    }
    tx.commit(&repo.root, verb, &lock)?;
    c.message = what;
    emit(&c, cli.common.json)
}
