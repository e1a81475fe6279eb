//! The `local` transport: the argv spawned directly (never through a shell) in
//! its own process group, tagged `KA_JOB=<id>`, with this process as child
//! subreaper so that grandchildren that call `setsid` are reparented to us and
//! can be reaped. Killing the tree: `killpg` on the job's group plus every
//! process whose environment carries the tag (TERM, grace, KILL, rescan).

use crate::log::{Log, Stream};
use crate::quote::{JOB_TAG, tag_entry};
use crate::{Limits, Outcome, Reason};
use ka_core::error::Result;
use ka_schema::Job;
use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;
use std::collections::BTreeSet;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// PIDs of the live processes (not zombies) whose environment holds exactly
/// `KA_JOB=<job_id>`, this process excluded. Only processes whose
/// `/proc/<pid>/environ` we may read are seen (our own user's, or all as root).
pub fn tagged_pids(job_id: &str) -> Vec<i32> {
    let want = tag_entry(job_id);
    let me = std::process::id() as i32;
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids = Vec::new();
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(env) = std::fs::read(e.path().join("environ")) else {
            continue;
        };
        if env.split(|b| *b == 0).any(|entry| entry == want.as_bytes()) {
            pids.push(pid);
        }
    }
    pids
}

/// Kills a job's process tree step by step, so the caller can keep draining
/// output meanwhile: TERM to the group and every tagged process, then after
/// `grace` (or as soon as none is left) KILL, rescanning until none remain.
pub(crate) struct Killer {
    job_id: String,
    pgid: Option<Pid>,
    grace: Duration,
    started: Option<Instant>,
    last_kill: Option<Instant>,
    /// Every process signalled, to reap the ones reparented to us.
    pub seen: BTreeSet<i32>,
}

impl Killer {
    pub fn new(job_id: &str, pgid: Option<Pid>, grace: Duration) -> Killer {
        Killer {
            job_id: job_id.to_string(),
            pgid,
            grace,
            started: None,
            last_kill: None,
            seen: BTreeSet::new(),
        }
    }

    /// The group is gone (its leader was reaped): stop signalling it.
    pub fn forget_group(&mut self) {
        self.pgid = None;
    }

    /// One step; true when no tagged process is left (and the group is gone).
    pub fn step(&mut self) -> bool {
        let now = Instant::now();
        let pids = tagged_pids(&self.job_id);
        self.seen.extend(pids.iter().copied());
        let group_alive = self.pgid.is_some_and(|g| killpg(g, None).is_ok());
        if pids.is_empty() && !group_alive {
            return true;
        }
        let sig = match self.started {
            None => {
                self.started = Some(now);
                Signal::SIGTERM
            }
            Some(t) if now.duration_since(t) < self.grace => return false,
            Some(_) => {
                if self
                    .last_kill
                    .is_some_and(|t| now.duration_since(t) < Duration::from_millis(100))
                {
                    return false;
                }
                self.last_kill = Some(now);
                Signal::SIGKILL
            }
        };
        if let Some(g) = self.pgid {
            let _ = killpg(g, sig);
        }
        for p in pids {
            let _ = kill(Pid::from_raw(p), sig);
        }
        false
    }

    /// Reap the signalled processes that became our children (subreaper),
    /// except `skip` (the direct child, which std's `Child` reaps).
    pub fn reap(&self, skip: Option<i32>) {
        for p in &self.seen {
            if Some(*p) != skip {
                let _ = waitpid(Pid::from_raw(*p), Some(WaitPidFlag::WNOHANG));
            }
        }
    }

    /// Run to completion (nothing to drain), bounded by `limit`.
    pub fn run_to_end(&mut self, limit: Duration) -> bool {
        let until = Instant::now() + limit;
        loop {
            if self.step() {
                return true;
            }
            if Instant::now() >= until {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

enum Msg {
    Data(Stream, Vec<u8>),
    Eof,
}

fn reader(mut r: impl Read + Send + 'static, stream: Stream, tx: mpsc::Sender<Msg>) {
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match r.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if tx.send(Msg::Data(stream, buf[..n].to_vec())).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        let _ = tx.send(Msg::Eof);
    });
}

/// Run the job's argv here, draining its output into `log` and killing its
/// process tree when a limit is due or when it leaves processes behind.
pub(crate) fn run(job: &Job, limits: &Limits, log: &mut Log<'_>) -> Result<Outcome> {
    // Orphaned grandchildren (setsid or not) come to us, not to init.
    let _ = nix::sys::prctl::set_child_subreaper(true);
    let mut child = match spawn(job, log)? {
        Ok(c) => c,
        Err(not_run) => return Ok(not_run),
    };
    let pid = child.id() as i32;
    let (tx, rx) = mpsc::channel();
    reader(
        child.stdout.take().expect("piped"),
        Stream::Stdout,
        tx.clone(),
    );
    reader(child.stderr.take().expect("piped"), Stream::Stderr, tx);

    let mut out = Outcome::default();
    let mut killer = Killer::new(&job.id, Some(Pid::from_raw(pid)), limits.grace);
    let (st, killing) = drain(&mut child, &rx, &mut killer, limits, log, &mut out)?;
    out.exit_code = st.code();
    out.signal = st.signal().map(signal_name);
    sweep(&mut killer, limits, log, killing)?;
    killer.reap(Some(pid));
    Ok(out)
}

/// Spawn the job's argv in its own process group, tagged, its output piped;
/// `Ok(Err(outcome))` when it cannot run (exit 127 or 126, as a shell says,
/// with a note in the log).
fn spawn(job: &Job, log: &mut Log<'_>) -> Result<std::result::Result<Child, Outcome>> {
    let mut cmd = Command::new(&job.argv[0]);
    cmd.args(&job.argv[1..])
        .envs(&job.env)
        .env(JOB_TAG, &job.id)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    if let Some(cwd) = &job.cwd {
        cmd.current_dir(cwd);
    }
    match cmd.spawn() {
        Ok(c) => Ok(Ok(c)),
        Err(e) => {
            // As a shell would: 127 not found, 126 found but not runnable.
            let code = if e.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            };
            log.note(&format!(
                "cannot run {:?}{}: {e}",
                job.argv[0],
                job.cwd
                    .as_deref()
                    .map(|c| format!(" in {c}"))
                    .unwrap_or_default()
            ))?;
            Ok(Err(Outcome {
                exit_code: Some(code),
                ..Outcome::default()
            }))
        }
    }
}

/// Log the child's output until both streams end and it has exited; when a
/// limit falls due (marked in `out`), kill its tree meanwhile. Its exit
/// status, and whether it was being killed.
fn drain(
    child: &mut Child,
    rx: &mpsc::Receiver<Msg>,
    killer: &mut Killer,
    limits: &Limits,
    log: &mut Log<'_>,
    out: &mut Outcome,
) -> Result<(std::process::ExitStatus, bool)> {
    let mut killing = false;
    let mut eofs = 0;
    let mut status = None;
    let mut last_output = Instant::now();
    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(Msg::Data(s, d)) => {
                last_output = Instant::now();
                log.data(s, &d)?;
            }
            Ok(Msg::Eof) => eofs += 1,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => eofs = 2,
        }
        log.tick()?;
        if status.is_none()
            && let Some(st) = child
                .try_wait()
                .map_err(|e| ka_core::Error::io("wait", e))?
        {
            status = Some(st);
            killer.forget_group();
        }
        if eofs >= 2 && status.is_some() {
            break;
        }
        if !killing && let Some(reason) = limits.due(last_output) {
            killing = true;
            match reason {
                Reason::Stall => out.stalled = true,
                Reason::Cap => out.capped = true,
            }
            log.note(&limits.kill_note(reason))?;
        }
        if killing {
            killer.step();
        }
    }
    Ok((status.expect("exited"), killing))
}

/// After the command ended: anything still carrying the tag is a leftover
/// (a background process); kill it so a job never leaves processes behind.
fn sweep(killer: &mut Killer, limits: &Limits, log: &mut Log<'_>, killing: bool) -> Result<()> {
    let left = tagged_pids(&killer.job_id);
    if left.is_empty() {
        return Ok(());
    }
    if !killing {
        log.note(&format!(
            "the command left {} process(es) running: killing them",
            left.len()
        ))?;
    }
    if !killer.run_to_end(limits.grace + Duration::from_secs(30)) {
        log.note(&format!(
            "still running after KILL: {:?}",
            tagged_pids(&killer.job_id)
        ))?;
    }
    Ok(())
}

/// `TERM` for signal 15: the name as SSH reports it (no `SIG` prefix).
pub fn signal_name(sig: i32) -> String {
    match Signal::try_from(sig) {
        Ok(s) => s.as_str().trim_start_matches("SIG").to_string(),
        Err(_) => sig.to_string(),
    }
}
