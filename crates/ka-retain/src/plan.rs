//! Deciding what goes: read every record under `KA_ROOT` and list the steps,
//! the items held back, and the records that could not be judged. Nothing is
//! changed here; `--dry-run` prints exactly this plan.

use crate::archive;
use crate::build_hosts::{BuildHost, Remotes, target_of};
use crate::human_age;
use crate::policy::Policy;
use ka_core::error::{Error, ExitCode, contract, usage};
use ka_core::paths::Layout;
use ka_core::time::parse_time;
use ka_schema::{
    ArchiveIndex, Backup, JobResult, Keep, PruneAction, PruneClass, PruneHeld, PruneProblem,
    PruneVerb, RenderRef,
};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

mod local;
mod remote;

/// What a step does when it runs.
#[derive(Debug, Clone)]
pub enum Op {
    /// Archive a job: write `archive/<id>.tar` (unless only the record is
    /// left and the archive is already there), remove the output, then the record.
    ArchiveJob {
        id: String,
        finished: i64,
        write_archive: bool,
    },
    RemoveDir(PathBuf),
    RemoveFile(PathBuf),
    /// Remove a render folder while holding the host's render and build locks.
    RemoveRender {
        host: String,
        dir: PathBuf,
    },
    /// Remove an item on a build host (`what`: `tree`, `leftover`, `cache`),
    /// a tree while holding the build lock of the host it was built for.
    RemoveRemote {
        host: BuildHost,
        what: &'static str,
        name: String,
        target: Option<String>,
    },
}

#[derive(Debug, Clone)]
pub struct Step {
    pub action: PruneAction,
    pub op: Op,
}

#[derive(Debug, Clone)]
pub struct Problem {
    pub doc: PruneProblem,
    pub code: ExitCode,
}

#[derive(Debug, Default)]
pub struct Plan {
    pub steps: Vec<Step>,
    pub held: Vec<PruneHeld>,
    pub problems: Vec<Problem>,
}

struct JobInfo {
    finished: i64,
    render: Option<RenderRef>,
}

struct Scan<'a> {
    layout: &'a Layout,
    policy: Policy,
    now: i64,
    plan: Plan,
    /// Jobs nothing may be taken from, and why: kept, or a record about
    /// them could not be read.
    holds: BTreeMap<String, String>,
    jobs: BTreeMap<String, JobInfo>,
    archives: BTreeMap<String, ArchiveIndex>,
    remotes: Option<&'a Remotes>,
}

/// Names in a folder with their kind; a missing folder has none.
fn list(dir: &Path) -> Result<Vec<(String, fs::FileType)>, Error> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(dir, e)),
    };
    let mut out = Vec::new();
    for e in rd {
        let e = e.map_err(|err| Error::io(dir, err))?;
        let ty = e.file_type().map_err(|err| Error::io(e.path(), err))?;
        out.push((e.file_name().to_string_lossy().into_owned(), ty));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn is_hidden(name: &str) -> bool {
    name.starts_with('.')
}

impl Scan<'_> {
    fn problem(&mut self, class: PruneClass, path: &Path, err: Error) {
        self.plan.problems.push(Problem {
            code: err.exit_code(),
            doc: PruneProblem {
                class,
                path: path.to_path_buf(),
                error: err.to_string(),
            },
        });
    }

    fn step(
        &mut self,
        verb: PruneVerb,
        class: PruneClass,
        path: PathBuf,
        age: Option<i64>,
        why: String,
        op: Op,
    ) {
        self.plan.steps.push(Step {
            action: PruneAction {
                action: verb,
                class,
                path,
                age_secs: age,
                why,
            },
            op,
        });
    }

    fn held(&mut self, class: PruneClass, path: PathBuf, age: Option<i64>, why: String) {
        self.plan.held.push(PruneHeld {
            class,
            path,
            age_secs: age,
            why,
        });
    }

    /// `list`, reporting an unreadable folder as a problem of `class`.
    fn list_or_report(&mut self, class: PruneClass, dir: &Path) -> Vec<(String, fs::FileType)> {
        match list(dir) {
            Ok(l) => l,
            Err(e) => {
                self.problem(class, dir, e);
                Vec::new()
            }
        }
    }

    /// The `<job-id>.json` records in `dir`, ids checked (a bad name is
    /// reported under `class` and skipped).
    fn job_records(&mut self, class: PruneClass, dir: &Path) -> Vec<(String, PathBuf)> {
        let mut records = Vec::new();
        for (name, ty) in self.list_or_report(class, dir) {
            let Some(id) = name.strip_suffix(".json") else {
                continue;
            };
            if is_hidden(&name) || !ty.is_file() {
                continue;
            }
            let path = dir.join(&name);
            match ka_core::names::check_job_id(id) {
                Ok(()) => records.push((id.to_string(), path)),
                Err(e) => self.problem(class, &path, e),
            }
        }
        records
    }
}

/// Read everything and decide. Leftovers come first (so an interrupted
/// archive is finished before anything else), then archives, job outputs,
/// logs, render folders and backups.
pub fn plan(layout: &Layout, policy: Policy, now: i64, remotes: Option<&Remotes>) -> Plan {
    let mut scan = Scan {
        layout,
        policy,
        now,
        plan: Plan::default(),
        holds: BTreeMap::new(),
        jobs: BTreeMap::new(),
        archives: BTreeMap::new(),
        remotes,
    };
    scan.keeps();
    scan.jobs();
    scan.archives();
    scan.outputs();
    scan.logs();
    scan.renders();
    scan.backups();
    scan.build_hosts();
    let mut plan = scan.plan;
    // leftovers first, keeping each group's order
    plan.steps
        .sort_by_key(|s| s.action.class != ka_schema::PruneClass::Leftover);
    plan
}
