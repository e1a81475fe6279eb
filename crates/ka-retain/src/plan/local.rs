//! The records under `KA_ROOT`, one class at a time: keeps (what is held),
//! job records, archives, job outputs, logs, render folders and backups.

use super::*;

impl Scan<'_> {
    pub(super) fn keeps(&mut self) {
        let dir = self.layout.keeps();
        for (id, path) in self.job_records(PruneClass::Keep, &dir) {
            let id = id.as_str();
            let unreadable = |what: String| {
                contract(format!(
                    "{what}; job {id} is held as if kept until this is fixed (ka-keep {id} rewrites it)"
                ))
            };
            let keep: Keep = match ka_core::stream::read_file(&path) {
                Ok(k) => k,
                Err(e) => {
                    self.holds
                        .insert(id.into(), "its keep record is unreadable".into());
                    self.problem(PruneClass::Keep, &path, unreadable(e.to_string()));
                    continue;
                }
            };
            if keep.job != id {
                self.holds
                    .insert(id.into(), "its keep record names another job".into());
                self.problem(
                    PruneClass::Keep,
                    &path,
                    unreadable(format!("{}: names job {}", path.display(), keep.job)),
                );
                continue;
            }
            match keep.until.as_deref().map(parse_time) {
                None => {
                    self.holds
                        .insert(id.into(), "kept (ka-keep, without an end)".into());
                }
                Some(Ok(t)) if t > self.now => {
                    self.holds
                        .insert(id.into(), format!("kept until {}", keep.until.unwrap()));
                }
                Some(Ok(_)) => {} // expired: a normal item again
                Some(Err(e)) => {
                    self.holds
                        .insert(id.into(), "its keep record is unreadable".into());
                    self.problem(
                        PruneClass::Keep,
                        &path,
                        unreadable(format!("{}: until: {e}", path.display())),
                    );
                }
            }
        }
    }

    pub(super) fn jobs(&mut self) {
        let dir = self.layout.jobs();
        for (id, path) in self.job_records(PruneClass::JobOutput, &dir) {
            let id = id.as_str();
            let left_alone = |what: String| {
                contract(format!(
                    "{what}; the job's output, logs and record are left alone until it is fixed"
                ))
            };
            let job: JobResult = match ka_core::stream::read_file(&path) {
                Ok(j) => j,
                Err(e) => {
                    self.holds
                        .insert(id.into(), "its job record is unreadable".into());
                    self.problem(PruneClass::JobOutput, &path, left_alone(e.to_string()));
                    continue;
                }
            };
            let finished = match (&job.finished_at, ka_core::names::job_id_time(id)) {
                (Some(t), _) => parse_time(t).map_err(|e| format!("finished_at: {e}")),
                // written before records had finished_at: the start in the id
                (None, Some(start)) => Ok(start + (job.duration_ms / 1000) as i64),
                (None, None) => Err("no finished_at and no start time in its id".to_string()),
            };
            let finished = match (job.id == id, finished) {
                (false, _) => Err(format!("names job {}", job.id)),
                (true, f) => f,
            };
            match finished {
                Ok(finished) => {
                    self.jobs.insert(
                        id.into(),
                        JobInfo {
                            finished,
                            render: job.render,
                        },
                    );
                }
                Err(what) => {
                    self.holds
                        .insert(id.into(), "its job record is unreadable".into());
                    self.problem(
                        PruneClass::JobOutput,
                        &path,
                        left_alone(format!("{}: {what}", path.display())),
                    );
                }
            }
        }
    }

    pub(super) fn archives(&mut self) {
        let dir = self.layout.job_archives();
        for (name, ty) in self.list_or_report(PruneClass::Archive, &dir) {
            let path = dir.join(&name);
            if is_hidden(&name) {
                if name.ends_with(".tar.tmp") && ty.is_file() {
                    self.step(
                        PruneVerb::Remove,
                        PruneClass::Leftover,
                        path.clone(),
                        None,
                        "a temp archive left by an interrupted prune".into(),
                        Op::RemoveFile(path),
                    );
                }
                continue;
            }
            let Some(id) = name.strip_suffix(".tar") else {
                continue;
            };
            if let Err(e) = ka_core::names::check_job_id(id) {
                self.problem(PruneClass::Archive, &path, e);
                continue;
            }
            let index = match archive::read_index(&path, id) {
                Ok(i) => i,
                Err(e) => {
                    self.holds
                        .insert(id.into(), "its archive is unreadable".into());
                    self.problem(PruneClass::Archive, &path, e);
                    continue;
                }
            };
            let finished = parse_time(&index.finished_at).expect("read_index checked it");
            self.archives.insert(id.into(), index);
            let age = self.now - finished;
            if age <= self.policy.archives {
                continue;
            }
            if let Some(why) = self.holds.get(id).cloned() {
                self.held(PruneClass::Archive, path, Some(age), why);
                continue;
            }
            let why = format!(
                "job finished {} ago; archives are kept {}",
                human_age(age),
                human_age(self.policy.archives)
            );
            self.step(
                PruneVerb::Remove,
                PruneClass::Archive,
                path.clone(),
                Some(age),
                why,
                Op::RemoveFile(path),
            );
        }
    }

    /// The job outputs: leftovers and strays in the outputs folder, then
    /// the outputs of jobs older than the policy (archived).
    pub(super) fn outputs(&mut self) {
        self.output_folders();
        self.old_outputs();
    }

    /// The outputs folder's entries: leftovers of an interrupted prune or
    /// restore (removed, or a problem when their archive is missing) and
    /// outputs without a job record (a problem, left alone).
    fn output_folders(&mut self) {
        let dir = self.layout.outputs();
        for (name, ty) in self.list_or_report(PruneClass::JobOutput, &dir) {
            let path = dir.join(&name);
            if !ty.is_dir() {
                continue;
            }
            if let Some(id) = name.strip_prefix(".prune-") {
                if self.archives.contains_key(id) {
                    self.step(
                        PruneVerb::Remove,
                        PruneClass::Leftover,
                        path.clone(),
                        None,
                        format!(
                            "an output an interrupted prune had archived to {}",
                            self.layout.job_archive(id).display()
                        ),
                        Op::RemoveDir(path),
                    );
                } else {
                    let msg = format!(
                        "{}: left by an interrupted prune, but {} is missing or unreadable; left alone (rename it to {} to have it back)",
                        path.display(),
                        self.layout.job_archive(id).display(),
                        self.layout.output(id).display()
                    );
                    self.problem(PruneClass::Leftover, &path, contract(msg));
                }
                continue;
            }
            if name.starts_with(".restore-") {
                self.step(
                    PruneVerb::Remove,
                    PruneClass::Leftover,
                    path.clone(),
                    None,
                    "a temp folder left by an interrupted ka-restore-archive".into(),
                    Op::RemoveDir(path),
                );
                continue;
            }
            if is_hidden(&name) || self.jobs.contains_key(&name) || self.holds.contains_key(&name) {
                continue;
            }
            let msg = format!(
                "{}: an output without its job record {}; left alone",
                path.display(),
                self.layout.job_record(&name).display()
            );
            self.problem(PruneClass::JobOutput, &path, contract(msg));
        }
    }

    /// The outputs (or job records) of jobs finished longer ago than the
    /// policy: archived, unless a hold keeps them.
    fn old_outputs(&mut self) {
        let old: Vec<(String, i64)> = self
            .jobs
            .iter()
            .map(|(id, j)| (id.clone(), self.now - j.finished))
            .filter(|(_, age)| *age > self.policy.job_outputs)
            .collect();
        for (id, age) in old {
            let out = self.layout.output(&id);
            let shown = if out.exists() {
                out.clone()
            } else {
                self.layout.job_record(&id)
            };
            if let Some(why) = self.holds.get(&id).cloned() {
                self.held(PruneClass::JobOutput, shown, Some(age), why);
                continue;
            }
            let tar = self.layout.job_archive(&id);
            let already = self.archives.contains_key(&id);
            let why = if !out.exists() && already {
                format!(
                    "already in {}; removing the job record an interrupted prune left",
                    tar.display()
                )
            } else {
                format!(
                    "job finished {} ago; outputs are kept {}; into {}",
                    human_age(age),
                    human_age(self.policy.job_outputs),
                    tar.display()
                )
            };
            let finished = self.jobs[&id].finished;
            self.step(
                PruneVerb::Archive,
                PruneClass::JobOutput,
                shown,
                Some(age),
                why,
                Op::ArchiveJob {
                    id,
                    finished,
                    write_archive: out.exists() || !already,
                },
            );
        }
    }

    pub(super) fn logs(&mut self) {
        let root = self.layout.logs();
        for (host, ty) in self.list_or_report(PruneClass::Log, &root) {
            if is_hidden(&host) || !ty.is_dir() {
                continue;
            }
            let dir = root.join(&host);
            for (id, ty) in self.list_or_report(PruneClass::Log, &dir) {
                // plain files (e.g. release.log of a woken build host) are not job logs
                if is_hidden(&id) || !ty.is_dir() {
                    continue;
                }
                let path = dir.join(&id);
                let finished = self
                    .jobs
                    .get(&id)
                    .map(|j| j.finished)
                    .or_else(|| {
                        self.archives
                            .get(&id)
                            .and_then(|a| parse_time(&a.finished_at).ok())
                    })
                    .or_else(|| ka_core::names::job_id_time(&id));
                if let Some(why) = self.holds.get(&id).cloned() {
                    if finished.is_none_or(|f| self.now - f > self.policy.logs) {
                        self.held(PruneClass::Log, path, finished.map(|f| self.now - f), why);
                    }
                    continue;
                }
                let Some(finished) = finished else {
                    let msg = format!(
                        "{}: cannot tell its age (no job record, no archive, no time in its name); left alone",
                        path.display()
                    );
                    self.problem(PruneClass::Log, &path, contract(msg));
                    continue;
                };
                let age = self.now - finished;
                if age > self.policy.logs {
                    let why = format!(
                        "job finished {} ago; logs are kept {}",
                        human_age(age),
                        human_age(self.policy.logs)
                    );
                    self.step(
                        PruneVerb::Remove,
                        PruneClass::Log,
                        path.clone(),
                        Some(age),
                        why,
                        Op::RemoveDir(path),
                    );
                }
            }
        }
    }

    /// Each render the jobs name: the newest finish of a job that built it,
    /// and why a kept job that did is kept.
    fn render_users(&self) -> BTreeMap<RenderRef, (i64, Option<String>)> {
        let mut users: BTreeMap<RenderRef, (i64, Option<String>)> = BTreeMap::new();
        for (id, j) in &self.jobs {
            let r = match &j.render {
                Some(r) => r.clone(),
                None => continue,
            };
            let e = users.entry(r).or_insert((i64::MIN, None));
            e.0 = e.0.max(j.finished);
            if let Some(why) = self.holds.get(id) {
                e.1 = Some(format!("job {id} built it and is {why}"));
            }
        }
        users
    }

    /// The renders of every host but its promoted one: removed when no job
    /// of the policy's time built them, unless a kept job did.
    pub(super) fn renders(&mut self) {
        let users = self.render_users();
        // jobs recorded before `render` existed: `<host>-<time>-<first 8 of the
        // lock b2sum>`, and a render id starts with those 8 digits
        let legacy: Vec<(String, i64)> = self
            .jobs
            .iter()
            .filter(|(_, j)| j.render.is_none())
            .map(|(id, j)| (id.clone(), j.finished))
            .collect();
        let hosts_dir = self.layout.root.join("hosts");
        for (host, ty) in self.list_or_report(PruneClass::Render, &hosts_dir) {
            if is_hidden(&host) || !ty.is_dir() {
                continue;
            }
            let dir = self.layout.renders(&host);
            let current = fs::read_link(self.layout.promoted(&host))
                .ok()
                .and_then(|t| t.file_name().map(|n| n.to_string_lossy().into_owned()));
            for (id, ty) in self.list_or_report(PruneClass::Render, &dir) {
                // dot folders are ka-render's own temp and old folders
                if is_hidden(&id) || !ty.is_dir() || current.as_deref() == Some(id.as_str()) {
                    continue;
                }
                let path = dir.join(&id);
                let key = RenderRef {
                    host: host.clone(),
                    id: id.clone(),
                };
                let (mut newest, mut kept) = users.get(&key).cloned().unwrap_or((i64::MIN, None));
                for (job, finished) in &legacy {
                    let matches = job.strip_prefix(&format!("{host}-")).is_some_and(|rest| {
                        rest.rsplit('-')
                            .next()
                            .is_some_and(|sum| sum.len() == 8 && id.starts_with(sum))
                    });
                    if matches {
                        newest = newest.max(*finished);
                        if let Some(why) = self.holds.get(job) {
                            kept = Some(format!("job {job} built it and is {why}"));
                        }
                    }
                }
                let age = (newest != i64::MIN).then(|| self.now - newest);
                if age.is_some_and(|a| a <= self.policy.renders) {
                    continue;
                }
                if let Some(why) = kept {
                    self.held(PruneClass::Render, path, age, why);
                    continue;
                }
                let why = format!(
                    "not the current promotion of {host}{}, and no job of the last {} built it",
                    current
                        .as_deref()
                        .map(|c| format!(" ({c})"))
                        .unwrap_or_default(),
                    human_age(self.policy.renders)
                );
                self.step(
                    PruneVerb::Remove,
                    PruneClass::Render,
                    path.clone(),
                    age,
                    why,
                    Op::RemoveRender {
                        host: host.clone(),
                        dir: path,
                    },
                );
            }
        }
    }

    /// The backups of `host` in `dir` whose record reads and names them:
    /// (created, version, record); a problem for each other one.
    fn readable_backups(&mut self, host: &str, dir: &Path) -> Vec<(i64, String, Backup)> {
        let mut readable: Vec<(i64, String, Backup)> = Vec::new();
        // a backup is only ever removed on the word of its own record
        for (version, ty) in self.list_or_report(PruneClass::Backup, dir) {
            if is_hidden(&version) || !ty.is_dir() {
                continue;
            }
            let path = dir.join(&version);
            let record = path.join("backup.json");
            let left_alone = |what: String| {
                contract(format!(
                    "{what}; a backup is never removed without a readable record: left alone"
                ))
            };
            let b: Backup = match ka_core::stream::read_file(&record) {
                Ok(b) => b,
                Err(e) => {
                    self.problem(PruneClass::Backup, &path, left_alone(e.to_string()));
                    continue;
                }
            };
            let checked = if b.host != host || b.kernel_version != version {
                Err(format!(
                    "names host {} version {}, not its folder",
                    b.host, b.kernel_version
                ))
            } else {
                parse_time(&b.created_at).map_err(|e| format!("created_at: {e}"))
            };
            match checked {
                Ok(t) => readable.push((t, version, b)),
                Err(what) => {
                    let msg = format!("{}: {what}", record.display());
                    self.problem(PruneClass::Backup, &path, left_alone(msg));
                }
            }
        }
        readable
    }

    /// The backups of every host older than the policy: removed, but the
    /// newest of each host and those of kept install jobs.
    pub(super) fn backups(&mut self) {
        let root = self.layout.backups();
        for (host, ty) in self.list_or_report(PruneClass::Backup, &root) {
            if is_hidden(&host) || !ty.is_dir() {
                continue;
            }
            let dir = root.join(&host);
            let mut readable = self.readable_backups(&host, &dir);
            readable.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
            let newest = readable.last().map(|r| r.1.clone());
            for (created, version, b) in readable {
                let age = self.now - created;
                if age <= self.policy.backups {
                    continue;
                }
                let path = dir.join(&version);
                if newest.as_deref() == Some(version.as_str()) {
                    self.held(
                        PruneClass::Backup,
                        path,
                        Some(age),
                        format!("the newest backup of {host}"),
                    );
                    continue;
                }
                if let Some(why) = b.job.as_deref().and_then(|j| self.holds.get(j)) {
                    let why = format!(
                        "its install job {} is {why}",
                        b.job.as_deref().unwrap_or("")
                    );
                    self.held(PruneClass::Backup, path, Some(age), why);
                    continue;
                }
                let why = format!(
                    "taken {} ago; backups are kept {} and {host} has a newer one",
                    human_age(age),
                    human_age(self.policy.backups)
                );
                self.step(
                    PruneVerb::Remove,
                    PruneClass::Backup,
                    path.clone(),
                    Some(age),
                    why,
                    Op::RemoveDir(path),
                );
            }
        }
    }
}
