//! Everything the site shows, read once from `KA_ROOT` and the fleet
//! repository. A file that cannot be read becomes a [`StateError`] naming it,
//! shown as an error row; reading goes on with the rest.
//!
//! The host lines come from ka-status's own reader (`ka_status::gather`), so
//! the site and `ka-status` cannot disagree about a host.

use ka_core::error::{Error, Result};
use ka_core::paths::Layout;
use ka_schema::SeriesMeta;
use ka_schema::{
    Block, BlockKind, BlockState, BurnIn, Install, JobResult, Lock, Notice, Plan, ProbeReport,
    Subject,
};
use ka_status::{Gathered, Shared, optional};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A state file that could not be read: the message names the file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct StateError(pub String);

impl From<&Error> for StateError {
    fn from(e: &Error) -> Self {
        StateError(e.to_string())
    }
}

/// Everything about one fleet host.
pub struct HostState {
    pub name: String,
    /// ka-status's line for the host (status, manifest, promoted lock, last verify).
    pub line: Gathered,
    /// `hosts/<host>/installs/*.json`, oldest first.
    pub installs: Vec<Install>,
    /// `hosts/<host>/verify/history/*.json`, oldest first.
    pub verify_runs: Vec<ProbeReport>,
    pub burn_in: Option<BurnIn>,
    /// What ka-resolve makes of the manifest now (none for hosts without a kernel).
    pub plan: Option<Plan>,
    /// Errors beyond the ones in `line` (installs, history, burn-in, plan).
    pub errors: Vec<StateError>,
}

impl HostState {
    /// Every error about this host, ka-status's first.
    pub fn all_errors(&self) -> Vec<StateError> {
        let mut all: Vec<StateError> = self.line.errors.iter().map(StateError::from).collect();
        all.extend(self.errors.iter().cloned());
        all
    }

    /// The host name is safe to use as a file name on the site (ka-status
    /// reads nothing else for a bad one, and the site makes no page for it).
    pub fn has_page(&self) -> bool {
        ka_core::names::check_name("host", &self.name).is_ok()
    }
}

/// A log file of a job, as the site publishes it.
pub struct LogFile {
    pub path: PathBuf,
    /// The file name in the job's log folder (`build.log`).
    pub name: String,
    pub size: u64,
    /// Its last lines, shown inline.
    pub tail: Vec<String>,
    /// Whether `tail` is not the whole file.
    pub clipped: bool,
}

/// One package a job left in `output/<job>/`.
pub struct PackageFile {
    pub name: String,
    pub size: u64,
    pub b2sum: String,
}

/// One job: its record, or (after retention archived the record) only its logs.
pub struct JobState {
    pub id: String,
    /// The target host, from the job id (`<host>-<time>-<hash>`).
    pub target: Option<String>,
    /// `jobs/<id>.json`, when it is still there.
    pub record: Option<JobResult>,
    /// The build host: the record's, else the log folder's name.
    pub build_host: String,
    /// When it finished (the record's `finished_at`, else the start in its id).
    pub finished: Option<i64>,
    pub logs: Vec<LogFile>,
    pub packages: Vec<PackageFile>,
    /// The lock the job built, from its render's promotion.
    pub lock: Option<Lock>,
    pub errors: Vec<StateError>,
}

impl JobState {
    /// `Some(true)` succeeded, `Some(false)` failed, `None` no record left.
    pub fn ok(&self) -> Option<bool> {
        self.record.as_ref().map(JobResult::ok)
    }
}

/// One series of the patch tree that some host takes.
pub struct SeriesInfo {
    pub meta: Option<SeriesMeta>,
}

/// The whole state the site is rendered from.
pub struct FleetState {
    pub hosts: Vec<HostState>,
    /// Newest first.
    pub jobs: Vec<JobState>,
    pub blocks: Vec<Block>,
    pub notices: Vec<Notice>,
    /// `<scope>/<series>` of every series a host's plan takes.
    pub series: BTreeMap<String, SeriesInfo>,
    /// Errors about no single host (the stores, the fleet folder, the patch tree).
    pub errors: Vec<StateError>,
    /// The time ages are counted to (seconds since the epoch).
    pub as_of: i64,
}

/// How much of a log is shown inline.
pub const TAIL_LINES: usize = 60;
const TAIL_BYTES: u64 = 64 * 1024;

/// What to read and how.
pub struct ReadOptions<'a> {
    pub layout: &'a Layout,
    pub repo: &'a Path,
    /// `--now`/`KA_NOW`; otherwise the newest time recorded in the state.
    pub now: Option<i64>,
    /// Logs of jobs that finished longer ago than this are left out (the
    /// retention table's `logs` period).
    pub logs_kept: i64,
}

pub fn read(opts: &ReadOptions) -> FleetState {
    let mut errors = Vec::new();
    let shared = Shared::read(opts.layout, |e| errors.push(StateError::from(e)));
    let names = match ka_schema::fleet::hosts(opts.repo) {
        Ok(h) => h,
        Err(e) => {
            errors.push(StateError::from(&e));
            Vec::new()
        }
    };
    let tree = match ka_resolve::Tree::new(opts.repo) {
        Ok(t) => Some(t),
        Err(e) => {
            errors.push(StateError::from(&e));
            None
        }
    };
    let hosts: Vec<HostState> = names
        .iter()
        .map(|h| read_host(opts.layout, opts.repo, tree.as_ref(), h, &shared))
        .collect();
    let mut series = BTreeMap::new();
    for h in &hosts {
        for p in h.plan.iter().flat_map(|p| &p.patches) {
            series.entry(p.series.clone()).or_insert_with(|| {
                let path = opts
                    .repo
                    .join("patches")
                    .join(&p.series)
                    .join("series.yaml");
                let shown = format!("patches/{}/series.yaml", p.series);
                match SeriesMeta::load(&path, &shown) {
                    Ok(m) => SeriesInfo { meta: Some(m) },
                    Err(e) => {
                        errors.push(StateError::from(&e));
                        SeriesInfo { meta: None }
                    }
                }
            });
        }
    }
    let mut state = FleetState {
        hosts,
        jobs: Vec::new(),
        blocks: shared.blocks.unwrap_or_default(),
        notices: shared.notices.unwrap_or_default(),
        series,
        errors,
        as_of: 0,
    };
    let mut jobs = list_jobs(opts.layout, &names, &mut state.errors);
    state.as_of = opts
        .now
        .unwrap_or_else(|| newest_time(&state).max(newest_job_time(&jobs)));
    // The retention table: past the `logs` period a job leaves the site.
    jobs.retain(|j| j.finished.is_none_or(|f| state.as_of - f <= opts.logs_kept));
    for j in &mut jobs {
        j.read_files(opts.layout);
    }
    state.jobs = jobs;
    state
}

fn read_host(
    layout: &Layout,
    repo: &Path,
    tree: Option<&ka_resolve::Tree>,
    name: &str,
    shared: &Shared,
) -> HostState {
    let line = ka_status::gather(layout, repo, name, shared);
    let mut host = HostState {
        name: name.to_string(),
        line,
        installs: Vec::new(),
        verify_runs: Vec::new(),
        burn_in: None,
        plan: None,
        errors: Vec::new(),
    };
    if !host.has_page() {
        return host;
    }
    let errors = &mut host.errors;
    host.installs = read_folder(&layout.installs(name), "install record", errors);
    host.installs.sort_by(|a, b| a.id.cmp(&b.id));
    host.verify_runs = read_folder(&layout.verify_history(name), "verify report", errors);
    host.verify_runs.sort_by(|a, b| a.at.cmp(&b.at));
    match optional::<BurnIn>(&layout.burn_in(name), "burn-in record") {
        Ok(b) => host.burn_in = b,
        Err(e) => errors.push(StateError::from(&e)),
    }
    let takes_patches = host
        .line
        .manifest
        .as_ref()
        .is_some_and(|m| m.kernel.is_some() && (m.role != ka_schema::Role::Infra || m.opt_in));
    if let (Some(tree), true) = (tree, takes_patches) {
        match tree.resolve(name) {
            Ok(p) => host.plan = Some(p),
            Err(e) => errors.push(StateError::from(&e)),
        }
    }
    host
}

/// Every `*.json` document in `dir` (none when it does not exist), each
/// read with ka-status's reader; a corrupt one is an error naming it.
fn read_folder<T: serde::de::DeserializeOwned>(
    dir: &Path,
    what: &str,
    errors: &mut Vec<StateError>,
) -> Vec<T> {
    let mut docs = Vec::new();
    for path in json_files(dir, errors) {
        match optional::<T>(&path, what) {
            Ok(Some(d)) => docs.push(d),
            Ok(None) => {}
            Err(e) => errors.push(StateError::from(&e)),
        }
    }
    docs
}

/// The `*.json` files of `dir`, sorted; none when it does not exist.
fn json_files(dir: &Path, errors: &mut Vec<StateError>) -> Vec<PathBuf> {
    entries(dir, errors)
        .into_iter()
        .filter(|(name, is_dir)| !is_dir && name.ends_with(".json") && !name.starts_with('.'))
        .map(|(name, _)| dir.join(name))
        .collect()
}

/// (name, is a folder) of `dir`'s entries, sorted; none when it does not exist.
fn entries(dir: &Path, errors: &mut Vec<StateError>) -> Vec<(String, bool)> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            errors.push(StateError::from(&Error::io(dir, e)));
            return Vec::new();
        }
    };
    let mut out: Vec<(String, bool)> = rd
        .flatten()
        .map(|e| {
            let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
            (e.file_name().to_string_lossy().into_owned(), is_dir)
        })
        .collect();
    out.sort();
    out
}

/// Every job with a record or a log folder, newest first; nothing of its
/// files read yet.
fn list_jobs(layout: &Layout, hosts: &[String], errors: &mut Vec<StateError>) -> Vec<JobState> {
    let mut jobs: BTreeMap<String, JobState> = BTreeMap::new();
    for path in json_files(&layout.jobs(), errors) {
        let id = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut job = JobState::new(&id, hosts);
        match optional::<JobResult>(&path, "build job record") {
            Ok(Some(r)) => {
                job.build_host = r.host.clone();
                job.finished = r
                    .finished_at
                    .as_deref()
                    .and_then(|t| ka_core::time::parse_time(t).ok())
                    .or(job.finished);
                job.record = Some(r);
            }
            Ok(None) => {}
            Err(e) => job.errors.push(StateError::from(&e)),
        }
        jobs.insert(id, job);
    }
    // Job records are archived after 30 days, their logs kept for the `logs`
    // period: a log folder without a record is still a job on the site.
    for (build_host, is_dir) in entries(&layout.logs(), errors) {
        if !is_dir || build_host.starts_with('.') {
            continue;
        }
        let dir = layout.logs().join(&build_host);
        for (id, is_dir) in entries(&dir, errors) {
            if !is_dir || id.starts_with('.') {
                continue;
            }
            jobs.entry(id.clone()).or_insert_with(|| {
                let mut j = JobState::new(&id, hosts);
                j.build_host = build_host.clone();
                j
            });
        }
    }
    let mut out: Vec<JobState> = jobs
        .into_values()
        // A name that is not a job id cannot become a page; it is named.
        .filter(|j| match ka_core::names::check_job_id(&j.id) {
            Ok(()) => true,
            Err(e) => {
                errors.push(StateError(format!("{}: {e}", layout.jobs().display())));
                false
            }
        })
        .collect();
    out.sort_by(|a, b| (b.finished, &b.id).cmp(&(a.finished, &a.id)));
    out
}

impl JobState {
    fn new(id: &str, hosts: &[String]) -> JobState {
        // `<host>-<time>-<hash>`: the host is everything before the last two parts.
        let target = id
            .rsplitn(3, '-')
            .nth(2)
            .filter(|h| hosts.iter().any(|x| x == h))
            .map(str::to_string);
        JobState {
            id: id.to_string(),
            target,
            record: None,
            build_host: String::new(),
            finished: ka_core::names::job_id_time(id),
            logs: Vec::new(),
            packages: Vec::new(),
            lock: None,
            errors: Vec::new(),
        }
    }

    /// The logs, packages and lock of the job.
    fn read_files(&mut self, layout: &Layout) {
        let errors = &mut self.errors;
        let log_dir = match &self.record {
            Some(r) => r.log.parent().map(Path::to_path_buf),
            None => Some(layout.logs().join(&self.build_host).join(&self.id)),
        };
        if let Some(dir) = log_dir {
            let recorded = self.record.as_ref().map(|r| r.log.clone());
            let mut names: Vec<String> = entries(&dir, errors)
                .into_iter()
                .filter(|(n, is_dir)| !is_dir && !n.starts_with('.'))
                .map(|(n, _)| n)
                .collect();
            // The recorded log (build.log) first, the others by name.
            if let Some(main) = recorded.as_ref().and_then(|p| p.file_name())
                && let Some(i) = names.iter().position(|n| main == n.as_str())
            {
                let n = names.remove(i);
                names.insert(0, n);
            }
            for name in names {
                match read_log(&dir.join(&name), &name) {
                    Ok(l) => self.logs.push(l),
                    Err(e) => errors.push(StateError::from(&e)),
                }
            }
            if let Some(log) = recorded
                && self.logs.first().is_none_or(|l| l.path != log)
            {
                errors.push(StateError(format!(
                    "{}: the job's log is missing (pruned, or the job never started)",
                    log.display()
                )));
            }
        }
        for (name, is_dir) in entries(&layout.output(&self.id), errors) {
            if is_dir || name.starts_with('.') {
                continue;
            }
            match ka_core::hash::file_digest(&layout.output(&self.id).join(&name)) {
                Ok((size, b2sum)) => self.packages.push(PackageFile { name, size, b2sum }),
                Err(e) => errors.push(StateError::from(&e)),
            }
        }
        let render = self.record.as_ref().and_then(|r| r.render.clone());
        if let Some(r) = render {
            let path = layout.promotions(&r.host).join(&r.id).join("manifest.lock");
            match optional::<Lock>(&path, "promoted manifest.lock") {
                Ok(l) => self.lock = l,
                Err(e) => errors.push(StateError::from(&e)),
            }
        }
    }
}

/// The tail of a log: its last [`TAIL_LINES`] lines within its last 64 KiB.
fn read_log(path: &Path, name: &str) -> Result<LogFile> {
    use std::io::{Read, Seek, SeekFrom};
    let io = |e| Error::io(path, e);
    let mut f = std::fs::File::open(path).map_err(io)?;
    let size = f.metadata().map_err(io)?.len();
    let start = size.saturating_sub(TAIL_BYTES);
    f.seek(SeekFrom::Start(start)).map_err(io)?;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes).map_err(io)?;
    let text = String::from_utf8_lossy(&bytes);
    let mut lines: Vec<&str> = text.lines().collect();
    // A tail that starts mid-file starts mid-line: that piece goes.
    if start > 0 && !lines.is_empty() {
        lines.remove(0);
    }
    let clipped = start > 0 || lines.len() > TAIL_LINES;
    let from = lines.len().saturating_sub(TAIL_LINES);
    Ok(LogFile {
        path: path.to_path_buf(),
        name: name.to_string(),
        size,
        tail: lines[from..].iter().map(|l| l.to_string()).collect(),
        clipped,
    })
}

/// The newest time the state records: what "now" is for a site rendered
/// without `--now`, so the same state gives the same pages.
fn newest_time(state: &FleetState) -> i64 {
    let mut times: Vec<&str> = Vec::new();
    for b in &state.blocks {
        times.extend([b.opened_at.as_str(), b.updated_at.as_str()]);
        times.extend(b.lifted_at.as_deref());
    }
    for n in &state.notices {
        times.extend([n.opened_at.as_str(), n.updated_at.as_str()]);
        times.extend(n.closed_at.as_deref());
    }
    for h in &state.hosts {
        let st = &h.line.status;
        times.extend(st.promoted_at.as_deref());
        times.extend(st.installed.as_ref().map(|i| i.installed_at.as_str()));
        times.extend(h.verify_runs.iter().map(|r| r.at.as_str()));
        times.extend(h.line.verify_report.as_ref().map(|r| r.at.as_str()));
        times.extend(h.burn_in.as_ref().and_then(|b| b.last_run_at.as_deref()));
    }
    times
        .into_iter()
        .filter_map(|t| ka_core::time::parse_time(t).ok())
        .max()
        .unwrap_or(0)
}

fn newest_job_time(jobs: &[JobState]) -> i64 {
    jobs.iter().filter_map(|j| j.finished).max().unwrap_or(0)
}

/// Whether an open block halts the patches of `series` (`<scope>/<series>`).
pub fn blocks_series<'a>(blocks: &'a [Block], series: &str) -> Option<&'a Block> {
    let prefix = format!("patches/{series}/");
    blocks.iter().find(|b| {
        b.state == BlockState::Open
            && matches!(b.block, BlockKind::PatchFail | BlockKind::CampaignConflict)
            && match &b.subject {
                Subject::Patch { patch } => patch.starts_with(&prefix),
                Subject::Patches { patches } => patches.iter().any(|p| p.starts_with(&prefix)),
                _ => false,
            }
    })
}
