//! The four commands: `ka-prune`, `ka-restore-archive`, `ka-pause-prune`,
//! `ka-resume-prune`.

use crate::archive;
use crate::build_hosts::Remotes;
use crate::human_age;
use crate::pause;
use crate::plan::plan;
use crate::policy::Policy;
use anyhow::Context;
use clap::{CommandFactory, Parser};
use ka_core::args::RootArg;
use ka_core::error::ExitCode;
use ka_core::hostlock::HostLock;
use ka_core::paths::Layout;
use ka_schema::{PruneReport, PruneVerb, Status, V1, VerbResult};
use std::io::Write;
use std::path::PathBuf;

const NOW_HELP: &str = "The time ages are measured against: YYYY-MM-DDTHH:MM:SSZ or seconds since the epoch (default: KA_NOW, else the clock)";

#[derive(Parser, Debug)]
#[command(
    name = "ka-prune",
    version,
    about = "Remove or archive what retention no longer keeps under KA_ROOT (for cron); prints every item",
    long_about = "Applies the retention periods to KA_ROOT and prints every item it removed or \
archived, with its class, age and why:\n\n\
  backups/<host>/<version>/      removed 7 days after its backup.json's created_at, never the \
newest backup of a host; a folder without a readable backup.json is reported and left alone\n\
  output/<job-id>/ + jobs/<job-id>.json   30 days after the job finished: archived into \
archive/<job-id>.tar (packages, job record, render id), then removed\n\
  archive/<job-id>.tar           removed 1 year after the job finished\n\
  logs/<build-host>/<job-id>/    removed 1 year after the job finished\n\
  hosts/<host>/render/<id>/      removed when it is not the host's current promotion and no job \
of the last 30 days built it (its linux.tar is a hard link: the shared baselines/archives/ \
copy stays)\n\n\
A job kept with ka-keep (KA_ROOT/keep/<job-id>.json, until absent or in the future) loses \
nothing: output, logs, archive, the render it built, the backup its install took. An expired \
keep is ignored. A record that cannot be read (keep, job, archive, backup) is named on stderr \
and what it describes is left alone.\n\n\
The periods can be changed in KA_ROOT/retention.yaml (keys backups, job_outputs, archives, logs, \
renders, build_trees, source_cache; durations such as 7d, 12h).\n\n\
With the fleet repository (--repo DIR or KA_REPO), every build host (a fleet host with \
build_host: and ssh:) is pruned too, over SSH with the fleet's credentials (strict host keys, \
the fleet identity), under its build_host.root:\n\n\
  source/<job-id>/               a job's tree, removed 7 days after the job finished (its \
record, else the start time in its id, else the folder's mtime); never the newest tree of a \
build host, a kept job's (ka-keep), or one of a host whose build is running now (its \
KA_ROOT/locks/build-<host>.lock is held; prune holds that lock while it removes)\n\
  cache/sources/<b2sum>          a source cache entry, removed 30 days after its last use \
(a build linking it, or the removal of a tree that did), never while a tree still links it\n\n\
A build host that cannot be reached (or whose host key changed) is reported and skipped; the \
others are pruned. Each host is listed by one read-only command (also with --dry-run, which \
changes nothing there); a tree is renamed to source/.prune-<job-id> before it is removed, and \
the next run removes such leftovers. Builds refuse a build host with less free space than its \
build_host.min_free_gib: prune it, or remove the folders ka-build's message names.\n\n\
Archiving copies, then removes: a kill at any point leaves the output or the archive or both, and \
the next run finishes it and removes leftover temp files. One prune runs at a time \
(KA_ROOT/locks/prune.lock). While ka-pause-prune's record exists, ka-prune refuses (exit 1) and \
a running prune stops before its next item.\n\n\
For cron, e.g. nightly: 17 3 * * *  KA_ROOT=/srv/kernel-agent KA_REPO=/srv/fleet ka-prune >>/var/log/ka-prune.log 2>&1\n\n\
Exit status: 0 done; 1 paused; 2 usage, or an item could not be removed, or a build host could \
not be reached (the others were done); \
3 a record could not be read (its item was left alone)."
)]
pub struct PruneCli {
    #[command(flatten)]
    pub root: RootArg,
    /// Print what would go; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print one ka.prune-report document instead of lines.
    #[arg(long)]
    pub json: bool,
    #[arg(long, value_name = "TIME", help = NOW_HELP)]
    pub now: Option<String>,
    /// Retention periods (YAML); default KA_ROOT/retention.yaml when it exists.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The fleet repository whose build hosts are pruned too (default:
    /// KA_REPO; without either, only KA_ROOT is pruned).
    #[arg(long, value_name = "DIR")]
    pub repo: Option<PathBuf>,
}

#[derive(Parser, Debug)]
#[command(
    name = "ka-restore-archive",
    version,
    about = "Restore KA_ROOT/output/<job-id>/ from the job's archive",
    long_about = "Extracts the packages of KA_ROOT/archive/<job-id>.tar into KA_ROOT/output/<job-id>/ \
(through a temp folder, each file checked against the archive's b2sums, then renamed into place), \
and puts the job record back in KA_ROOT/jobs/ when it is missing. The archive stays. A restored \
job older than the output retention is archived again by the next ka-prune unless kept \
(ka-keep --for DURATION <job-id>).\n\n\
Exit status: 0 restored; 1 refused (the output exists: nothing is overwritten); 2 no archive for \
that job, or I/O; 3 invalid job id or a damaged archive (nothing restored)."
)]
pub struct RestoreCli {
    #[command(flatten)]
    pub root: RootArg,
    /// Print one ka.result document.
    #[arg(long)]
    pub json: bool,
    pub job_id: String,
}

#[derive(Parser, Debug)]
#[command(
    name = "ka-pause-prune",
    version,
    about = "Pause ka-prune until ka-resume-prune",
    long_about = "Writes KA_ROOT/retention/pause.json (a ka.prune-pause: who, when, why). While it \
exists ka-prune refuses, naming who paused and since when, and a running prune stops before its \
next item. Pausing again keeps the first record. Exit status: 0 paused (or already paused)."
)]
pub struct PauseCli {
    #[command(flatten)]
    pub root: RootArg,
    /// Why, for whoever finds prune paused.
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    #[arg(long, value_name = "TIME", help = NOW_HELP)]
    pub now: Option<String>,
    /// Print one ka.result document.
    #[arg(long)]
    pub json: bool,
}

#[derive(Parser, Debug)]
#[command(
    name = "ka-resume-prune",
    version,
    about = "Resume ka-prune (remove the pause record); says whether it was paused",
    long_about = "Removes KA_ROOT/retention/pause.json, also when it is unreadable. Resuming when \
not paused changes nothing and says so. Exit status: 0."
)]
pub struct ResumeCli {
    #[command(flatten)]
    pub root: RootArg,
    /// Print one ka.result document.
    #[arg(long)]
    pub json: bool,
}

pub fn commands() -> Vec<clap::Command> {
    vec![
        PruneCli::command(),
        RestoreCli::command(),
        PauseCli::command(),
        ResumeCli::command(),
    ]
}

fn now_from(flag: Option<&str>) -> ka_core::Result<i64> {
    match flag {
        Some(t) => {
            ka_core::time::parse_time(t).map_err(|e| ka_core::error::usage(format!("--now: {e}")))
        }
        None => ka_core::time::now_epoch(),
    }
}

fn prune_lock(layout: &Layout) -> ka_core::Result<HostLock> {
    HostLock::acquire(&layout.locks().join("prune.lock"), "ka-prune")
}

pub fn prune() -> anyhow::Result<ExitCode> {
    let cli = PruneCli::parse();
    let now = now_from(cli.now.as_deref())?;
    let layout = cli.root.layout()?;
    if let Some(p) = pause::current(&layout)? {
        return Err(pause::refusal(&p).into());
    }
    let policy = Policy::load(&layout, cli.config.as_deref())?;
    // the build hosts only when the fleet is named: a cron line with KA_ROOT
    // alone prunes KA_ROOT alone, as before
    let repo = match (&cli.repo, ka_core::paths::env_var(ka_core::paths::KA_REPO)?) {
        (None, None) => None,
        (flag, _) => Some(ka_core::paths::fleet_repo(flag.as_deref())?),
    };
    let remotes = match &repo {
        Some(r) => Some(Remotes::of_fleet(r, &layout)?),
        None => None,
    };
    let _lock = prune_lock(&layout)?;
    let plan = plan(&layout, policy, now, remotes.as_ref());
    let (report, code) = crate::prune::execute(&layout, plan, now, cli.dry_run, remotes.as_ref());
    for p in &report.problems {
        eprintln!("ka-prune: error: {}", p.error);
    }
    if let Some(why) = &report.stopped {
        eprintln!("ka-prune: stopped: {why}");
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if cli.json {
        ka_core::stream::write_doc(&mut out, &report).context("stdout")?;
    } else {
        print_report(&mut out, &report).context("stdout")?;
    }
    out.flush().context("stdout")?;
    Ok(code)
}

fn print_report(out: &mut impl Write, r: &PruneReport) -> std::io::Result<()> {
    let class = |c| {
        serde_json::to_value(c)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    };
    let age = |a: Option<i64>| a.map(human_age).unwrap_or_else(|| "-".into());
    for a in &r.actions {
        let verb = match (a.action, r.dry_run) {
            (PruneVerb::Archive, false) => "archived",
            (PruneVerb::Remove, false) => "removed",
            (PruneVerb::Archive, true) => "would archive",
            (PruneVerb::Remove, true) => "would remove",
        };
        writeln!(
            out,
            "{verb:<13} {:<10} {:>5}  {}  ({})",
            class(a.class),
            age(a.age_secs),
            a.path.display(),
            a.why
        )?;
    }
    for h in &r.held {
        writeln!(
            out,
            "{:<13} {:<10} {:>5}  {}  ({})",
            "held",
            class(h.class),
            age(h.age_secs),
            h.path.display(),
            h.why
        )?;
    }
    let (archived, removed) = r.actions.iter().fold((0, 0), |(a, d), x| match x.action {
        PruneVerb::Archive => (a + 1, d),
        PruneVerb::Remove => (a, d + 1),
    });
    let (a, d) = if r.dry_run {
        ("to archive", "to remove")
    } else {
        ("archived", "removed")
    };
    writeln!(
        out,
        "ka-prune{}: {archived} {a}, {removed} {d}, {} held, {} problem(s) (now {})",
        if r.dry_run { " --dry-run" } else { "" },
        r.held.len(),
        r.problems.len(),
        r.now
    )
}

fn result(
    verb: &str,
    host: String,
    status: Status,
    message: String,
    files: Vec<PathBuf>,
    job: Option<String>,
) -> VerbResult {
    VerbResult {
        kind: Default::default(),
        version: V1,
        verb: verb.into(),
        host,
        status,
        message,
        files,
        blocks: Vec::new(),
        lock: None,
        verdicts: Vec::new(),
        job,
        build_host: None,
        config: None,
    }
}

fn emit(json: bool, r: &VerbResult) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if json {
        ka_core::stream::write_doc(&mut out, r).context("stdout")?;
    } else {
        writeln!(out, "{}", r.message).context("stdout")?;
    }
    out.flush().context("stdout")?;
    Ok(())
}

pub fn restore_archive() -> anyhow::Result<ExitCode> {
    let cli = RestoreCli::parse();
    let layout = cli.root.layout()?;
    ka_core::names::check_job_id(&cli.job_id)?;
    // not while a prune is archiving or removing
    let _lock = prune_lock(&layout)?;
    let r = archive::restore(&layout, &cli.job_id)?;
    let mut files = r.files.clone();
    files.extend(r.record.clone());
    let host = r
        .index
        .render
        .as_ref()
        .map(|x| x.host.clone())
        .unwrap_or_else(|| r.job.host.clone());
    let message = format!(
        "restored {} file(s) to {} from {}{}; the archive stays. The next ka-prune archives it again unless kept (ka-keep --for DURATION {})",
        r.files.len(),
        r.output.display(),
        layout.job_archive(&cli.job_id).display(),
        if r.record.is_some() {
            " with its job record"
        } else {
            ""
        },
        cli.job_id
    );
    emit(
        cli.json,
        &result(
            "restore-archive",
            host,
            Status::Done,
            message,
            files,
            Some(cli.job_id),
        ),
    )?;
    Ok(ExitCode::Ok)
}

pub fn pause_prune() -> anyhow::Result<ExitCode> {
    let cli = PauseCli::parse();
    let now = now_from(cli.now.as_deref())?;
    let layout = cli.root.layout()?;
    let (p, new) = pause::pause(&layout, now, cli.reason)?;
    let message = format!(
        "{} by {} since {}{}; ka-resume-prune resumes it",
        if new {
            "prune paused"
        } else {
            "prune was already paused"
        },
        p.by,
        p.at,
        p.reason
            .as_deref()
            .map(|r| format!(" (reason: {r})"))
            .unwrap_or_default()
    );
    let status = if new { Status::Done } else { Status::Unchanged };
    emit(
        cli.json,
        &result(
            "pause-prune",
            ka_core::names::this_host(),
            status,
            message,
            vec![layout.prune_pause()],
            None,
        ),
    )?;
    Ok(ExitCode::Ok)
}

pub fn resume_prune() -> anyhow::Result<ExitCode> {
    let cli = ResumeCli::parse();
    let layout = cli.root.layout()?;
    let (status, message) = match pause::resume(&layout)? {
        None => (
            Status::Unchanged,
            "prune was not paused; nothing changed".to_string(),
        ),
        Some(Some(p)) => (
            Status::Done,
            format!("prune resumed (it was paused by {} since {})", p.by, p.at),
        ),
        Some(None) => (
            Status::Done,
            "prune resumed (its unreadable pause record was removed)".to_string(),
        ),
    };
    emit(
        cli.json,
        &result(
            "resume-prune",
            ka_core::names::this_host(),
            status,
            message,
            vec![layout.prune_pause()],
            None,
        ),
    )?;
    Ok(ExitCode::Ok)
}
