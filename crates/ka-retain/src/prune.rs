//! Carrying out a plan: one step at a time, a failed step reported and the
//! others carried on, the pause record checked before every step.

use crate::archive;
use crate::build_hosts::Remotes;
use crate::crash_point;
use crate::plan::{Op, Plan, Problem};
use ka_core::atomic::sync_dir;
use ka_core::error::{Error, ExitCode, Result, contract};
use ka_core::hostlock::HostLock;
use ka_core::paths::Layout;
use ka_schema::{PruneProblem, PruneReport, V1};
use std::fs;
use std::path::Path;

/// The report and the exit status: 0, or the worst problem's code (1 when a
/// pause stopped the run).
pub fn execute(
    layout: &Layout,
    plan: Plan,
    now: i64,
    dry_run: bool,
    remotes: Option<&Remotes>,
) -> (PruneReport, ExitCode) {
    let Plan {
        steps,
        mut held,
        mut problems,
    } = plan;
    let mut actions = Vec::new();
    let mut stopped = None;
    for step in steps {
        if !dry_run {
            match crate::pause::current(layout) {
                Ok(None) => {}
                Ok(Some(p)) => {
                    stopped = Some(format!(
                        "paused by {} at {} while running; run ka-resume-prune, then ka-prune again",
                        p.by, p.at
                    ));
                    break;
                }
                Err(e) => {
                    stopped = Some(e.to_string());
                    break;
                }
            }
        }
        if dry_run {
            actions.push(step.action);
            continue;
        }
        match run(layout, &step.op, now, remotes) {
            Ok(Done::Yes) => actions.push(step.action),
            Ok(Done::InUse(why)) => held.push(ka_schema::PruneHeld {
                class: step.action.class,
                path: step.action.path,
                age_secs: step.action.age_secs,
                why,
            }),
            Err(e) => problems.push(Problem {
                code: e.exit_code(),
                doc: PruneProblem {
                    class: step.action.class,
                    path: step.action.path,
                    error: e.to_string(),
                },
            }),
        }
    }
    let mut code = problems
        .iter()
        .map(|p| p.code)
        .max_by_key(|c| *c as i32)
        .unwrap_or(ExitCode::Ok);
    if stopped.is_some() && code == ExitCode::Ok {
        code = ExitCode::Negative;
    }
    let report = PruneReport {
        kind: Default::default(),
        version: V1,
        now: ka_core::time::rfc3339(now),
        dry_run,
        actions,
        held,
        problems: problems.into_iter().map(|p| p.doc).collect(),
        stopped,
    };
    (report, code)
}

enum Done {
    Yes,
    /// Left for now: a ka-render or ka-build holds the host.
    InUse(String),
}

fn remove_dir(path: &Path) -> Result<()> {
    match fs::remove_dir_all(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(path, e)),
    }
    sync_parent(path)
}

fn remove_file(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(path, e)),
    }
    sync_parent(path)
}

fn sync_parent(path: &Path) -> Result<()> {
    match path.parent() {
        Some(dir) if dir.exists() => sync_dir(dir),
        _ => Ok(()),
    }
}

fn run(layout: &Layout, op: &Op, now: i64, remotes: Option<&Remotes>) -> Result<Done> {
    match op {
        Op::RemoveDir(p) => remove_dir(p).map(|()| Done::Yes),
        Op::RemoveFile(p) => remove_file(p).map(|()| Done::Yes),
        Op::RemoveRender { host, dir } => {
            // the locks ka-render and ka-build-run hold while they use the folder
            let mut held = Vec::new();
            for name in [format!("render-{host}.lock"), format!("build-{host}.lock")] {
                match HostLock::acquire(
                    &layout.locks().join(name),
                    &format!("ka-prune render {host}"),
                ) {
                    Ok(l) => held.push(l),
                    Err(Error::Negative(why)) => return Ok(Done::InUse(format!("in use: {why}"))),
                    Err(e) => return Err(e),
                }
            }
            // the hard-linked linux.tar goes with the folder; the shared copy
            // under baselines/archives/ stays
            remove_dir(dir).map(|()| Done::Yes)
        }
        Op::RemoveRemote {
            host,
            what,
            name,
            target,
        } => {
            let remotes = remotes.expect("remote steps are planned only with the build hosts");
            // a build of the tree's host must not start (or run) meanwhile
            let _lock = match target {
                Some(t) => match HostLock::acquire(
                    &layout.locks().join(format!("build-{t}.lock")),
                    &format!("ka-prune build trees of {t}"),
                ) {
                    Ok(l) => Some(l),
                    Err(Error::Negative(why)) => {
                        return Ok(Done::InUse(format!("a build of {t} is running: {why}")));
                    }
                    Err(e) => return Err(e),
                },
                None => None,
            };
            match remotes.remove(host, what, name)? {
                Ok(()) => Ok(Done::Yes),
                Err(why) => Err(ka_core::error::usage(format!(
                    "{}: {why}; left there (the next run tries again)",
                    host.name
                ))),
            }
        }
        Op::ArchiveJob {
            id,
            finished,
            write_archive,
        } => archive_job(layout, id, *finished, *write_archive, now).map(|()| Done::Yes),
    }
}

/// Copy, then remove: the archive is in place (renamed from a fsynced temp)
/// before the output is touched; the output is renamed aside before it is
/// removed, so a half-removed folder never looks like an output; the job
/// record goes last. Each step survives a crash: the next prune sees the
/// archive and finishes.
fn archive_job(
    layout: &Layout,
    id: &str,
    finished: i64,
    write_archive: bool,
    now: i64,
) -> Result<()> {
    let record_path = layout.job_record(id);
    let record_bytes = fs::read(&record_path).map_err(|e| Error::io(&record_path, e))?;
    let job: ka_schema::JobResult = serde_json::from_slice(&record_bytes)
        .map_err(|e| contract(format!("{}: {e}", record_path.display())))?;
    let tar = layout.job_archive(id);
    if write_archive {
        archive::write(layout, id, &record_bytes, &job, finished, now)?;
    }
    // never remove an original without a readable archive of it
    archive::read_index(&tar, id)?;
    crash_point("archive-written");
    let out = layout.output(id);
    if out.exists() {
        let aside = layout.outputs().join(format!(".prune-{id}"));
        fs::rename(&out, &aside).map_err(|e| Error::io(&out, e))?;
        sync_dir(&layout.outputs())?;
        crash_point("output-moved-aside");
        remove_dir(&aside)?;
    }
    crash_point("output-removed");
    remove_file(&record_path)
}
