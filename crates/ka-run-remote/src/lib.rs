//! `ka-run-remote`: run one `ka.job` — locally or on a build host over SSH —
//! with its wall-clock cap and stall watcher, and report a `ka.job-result`.
//!
//! Every process of a job carries `KA_JOB=<job id>` in its environment (every
//! descendant inherits it, also across `setsid`), which is how the whole tree
//! is found and killed: TERM, a grace period, then KILL, rescanning
//! `/proc/*/environ` until none is left. Over SSH the scan is a small POSIX sh
//! script run on a second channel of the same session (nothing to install on
//! the build host); locally the same scan plus `killpg` on the job's process
//! group, with this process as child subreaper so orphans are reaped. After a
//! job ends normally the same sweep removes whatever it left running.
//!
//! Library use (ka-build): [`run_job`] / [`run_job_with`], [`upload`] /
//! [`download`] for staging folders over SFTP, [`is_host_key_refusal`] to
//! tell a `[ka:host-changed]` from other failures; [`remote`] for the
//! fleet's credentials, the transport to a host and the `Remote` seam.

pub mod local;
pub mod log;
pub mod quote;
pub mod remote;
pub mod ssh;

use anyhow::Context;
use clap::{CommandFactory, Parser};
use ka_core::duration::parse_duration;
use ka_core::error::{Error, ExitCode, Result, contract};
use ka_core::names::check_name;
use ka_schema::{Job, JobResult, JobResultKind, Transport, V1};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use ssh::{Captured, ConnectError, Connection, Target, Transfer, connect};

#[derive(Parser, Debug)]
#[command(
    name = "ka-run-remote",
    version,
    about = "Run one ka.job (local or over SSH) under its wall-clock and stall limits; prints ka.job-result",
    long_about = "Reads one ka.job document on stdin (or --job FILE), runs its argv and prints one \
ka.job-result on stdout.\n\n\
Transport local: the argv is spawned directly (never through a shell) in cwd with env, \
in its own process group. Transport ssh: the host key must match the job's known_hosts \
file exactly (an unknown or changed key is refused: the result then has \
host_key_refused: true and a transport_error saying why, the caller's cue for \
[ka:host-changed]); authentication uses \
the job's identity file only (no agent, nothing from ~/.ssh); the argv is quoted word by \
word for the remote POSIX login shell.\n\n\
stdout and stderr are appended to the job's log file as they arrive, whole lines \
interleaved. While stderr is a terminal, a progress line shows the elapsed time and the \
last log line.\n\n\
Every process of the job carries KA_JOB=<job id> in its environment. When the job runs \
past wall_clock, or prints nothing for stall, all of them (setsid grandchildren \
included) get TERM, then KILL after the grace period, until none is left; anything \
still tagged after a normal end is killed the same way.\n\n\
Exit status: 0 only when the command exited 0, was not killed by a signal, did not \
stall, was not capped and the transport held (the result is printed in every one of \
these cases); 1 otherwise; 2 usage or I/O error (e.g. a missing identity file); 3 the \
job document breaks the contract (bad JSON, unknown field, invalid host, user or env \
name, bad duration)."
)]
pub struct Cli {
    /// Read the job from FILE instead of stdin.
    #[arg(long, value_name = "FILE")]
    pub job: Option<PathBuf>,
    /// Time the job's processes get between TERM and KILL.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = duration_arg)]
    pub grace: Duration,
    /// Timeout for the TCP connect to a build host.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = duration_arg)]
    pub connect_timeout: Duration,
    /// Timeout for every blocking SSH call (handshake, auth, channel setup, close).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = duration_arg)]
    pub io_timeout: Duration,
    /// Show the progress line on stderr: auto (while stderr is a terminal), always, never.
    #[arg(long, value_name = "WHEN", default_value = "auto", value_parser = ["auto", "always", "never"])]
    pub progress: String,
}

/// A duration argument, parsed where clap reads it.
fn duration_arg(s: &str) -> Result<Duration> {
    parse_duration(s)
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let job: Job = match &cli.job {
        Some(p) => ka_core::stream::read_file(p)?,
        None => ka_core::stream::read_one(std::io::stdin().lock(), "stdin")?,
    };
    let opts = Options {
        connect_timeout: cli.connect_timeout,
        io_timeout: cli.io_timeout,
        grace: cli.grace,
    };
    let show = match cli.progress.as_str() {
        "always" => true,
        "never" => false,
        _ => std::io::stderr().is_terminal(),
    };
    let mut stderr = std::io::stderr();
    let progress: Option<&mut dyn std::io::Write> = if show { Some(&mut stderr) } else { None };
    let result = run_job_with(&job, &opts, progress)?;
    if let Some(e) = &result.transport_error {
        eprintln!("ka-run-remote: {}: {e}", job.id);
    }
    ka_core::stream::write_docs(std::slice::from_ref(&result)).context("stdout")?;
    Ok(if result.ok() {
        ExitCode::Ok
    } else {
        ExitCode::Negative
    })
}

/// Timeouts and the kill grace period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// TCP connect to the build host.
    pub connect_timeout: Duration,
    /// Every blocking libssh2 call (the session timeout).
    pub io_timeout: Duration,
    /// Between TERM and KILL.
    pub grace: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            connect_timeout: Duration::from_secs(30),
            io_timeout: Duration::from_secs(60),
            grace: Duration::from_secs(5),
        }
    }
}

/// Run `job` with default [`Options`]; see [`run_job_with`].
pub fn run_job(job: &Job, progress: Option<&mut dyn std::io::Write>) -> Result<JobResult> {
    run_job_with(job, &Options::default(), progress)
}

/// Run `job` to its end and report how it ended. A command that fails, is
/// killed, stalls, is capped, or whose transport breaks (including a refused
/// host key) is an `Ok` result with [`JobResult::ok`] false; `Err` means the
/// job could not be attempted: the document breaks the contract (exit 3:
/// names, env, durations, empty argv) or a local file is missing or unwritable
/// (exit 2). Nothing is written before the job is validated.
pub fn run_job_with(
    job: &Job,
    opts: &Options,
    progress: Option<&mut dyn std::io::Write>,
) -> Result<JobResult> {
    let limits = validate(job, opts)?;
    let target = ssh::Target::from_transport(&job.transport)?;
    ka_core::paths::refuse_home(&absolute(&job.log)?, "job log")?;
    let mut log = log::Log::open(&job.log, limits.start, progress)?;
    let out = match &target {
        None => local::run(job, &limits, &mut log),
        Some(t) => ssh::run(job, t, &limits, opts, &mut log),
    };
    let finished = log.finish();
    let out = out?;
    finished?;
    Ok(JobResult {
        kind: JobResultKind::Kind,
        version: V1,
        id: job.id.clone(),
        host: match &job.transport {
            Transport::Local => "local".into(),
            Transport::Ssh { host, .. } => host.clone(),
        },
        argv: job.argv.clone(),
        exit_code: out.exit_code,
        signal: out.signal,
        duration_ms: limits.start.elapsed().as_millis() as u64,
        stalled: out.stalled,
        capped: out.capped,
        transport_error: out.transport_error,
        host_key_refused: out.host_key_refused,
        log: job.log.clone(),
        finished_at: Some(ka_core::time::now_rfc3339()?),
        render: None,
        tree: None,
        image_b2sum: None,
        modules_b2sum: None,
    })
}

/// Whether a failed result is a host-key refusal: the caller files
/// `[ka:host-changed]` for the host.
pub fn is_host_key_refusal(result: &JobResult) -> bool {
    result.host_key_refused
}

/// Whether an error of [`upload`] or [`download`] is a host-key refusal
/// (their connection failed on the key, not on the network): the caller
/// files `[ka:host-changed]` for the host, as for a job's.
pub fn is_host_key_error(e: &Error) -> bool {
    matches!(e, Error::Negative(m) if m.starts_with(ssh::HOST_KEY_REFUSED))
}

/// Copy `local_dir` into `remote_dir` on the transport's host: SFTP for `ssh`
/// (host key checked as for a job), a plain copy for `local`. A top-level file
/// named in `reuse` that the destination already holds with the same size is
/// left in place (the caller put it there from a content-addressed cache); any
/// other file already there is replaced by a new file, never written through,
/// since it may be a hard link shared with such a cache.
pub fn upload(
    transport: &Transport,
    local_dir: &Path,
    remote_dir: &str,
    reuse: &[&str],
) -> Result<Transfer> {
    match ssh::Target::from_transport(transport)? {
        Some(t) => ssh::connect(&t, &Options::default())
            .map_err(ConnectError::into_error)?
            .upload(local_dir, remote_dir, reuse),
        None => copy_tree(local_dir, Path::new(remote_dir), reuse),
    }
}

/// Copy the folder `remote_dir` on the transport's host into `local_dir`.
pub fn download(transport: &Transport, remote_dir: &str, local_dir: &Path) -> Result<Transfer> {
    match ssh::Target::from_transport(transport)? {
        Some(t) => ssh::connect(&t, &Options::default())
            .map_err(ConnectError::into_error)?
            .download(remote_dir, local_dir),
        None => copy_tree(Path::new(remote_dir), local_dir, &[]),
    }
}

fn copy_tree(from: &Path, to: &Path, reuse: &[&str]) -> Result<Transfer> {
    use std::os::unix::fs::PermissionsExt;
    let mut stats = Transfer::default();
    std::fs::create_dir_all(to).map_err(|e| Error::io(to, e))?;
    let mut entries: Vec<_> = std::fs::read_dir(from)
        .map_err(|e| Error::io(from, e))?
        .collect::<std::io::Result<_>>()
        .map_err(|e| Error::io(from, e))?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let src = e.path();
        let dst = to.join(e.file_name());
        let meta = std::fs::symlink_metadata(&src).map_err(|err| Error::io(&src, err))?;
        if meta.is_dir() {
            let sub = copy_tree(&src, &dst, &[])?;
            std::fs::set_permissions(&dst, meta.permissions())
                .map_err(|err| Error::io(&dst, err))?;
            stats.files += sub.files;
            stats.bytes += sub.bytes;
        } else if meta.is_file() {
            if let Ok(there) = std::fs::symlink_metadata(&dst) {
                if reuse.iter().any(|r| e.file_name() == **r)
                    && there.is_file()
                    && there.len() == meta.len()
                {
                    stats.reused += 1;
                    stats.reused_bytes += meta.len();
                    continue;
                }
                // never write through a hard link someone else shares
                std::fs::remove_file(&dst).map_err(|err| Error::io(&dst, err))?;
            }
            stats.bytes += std::fs::copy(&src, &dst).map_err(|err| Error::io(&dst, err))?;
            std::fs::set_permissions(
                &dst,
                std::fs::Permissions::from_mode(meta.permissions().mode()),
            )
            .map_err(|err| Error::io(&dst, err))?;
            stats.files += 1;
        } else {
            return Err(contract(format!(
                "{}: only regular files and folders are copied (symlinks and special files are not)",
                src.display()
            )));
        }
    }
    Ok(stats)
}

fn absolute(p: &Path) -> Result<PathBuf> {
    std::path::absolute(p).map_err(|e| Error::io(p, e))
}

fn validate(job: &Job, opts: &Options) -> Result<Limits> {
    check_name("job id", &job.id)?;
    if job.argv.is_empty() {
        return Err(contract(format!(
            "job {}: argv is empty: name the command to run",
            job.id
        )));
    }
    for k in job.env.keys() {
        quote::check_env_name(k)?;
    }
    let positive = |what: &str, span: &ka_schema::Span| -> Result<Duration> {
        if span.is_zero() {
            return Err(contract(format!(
                "job {}: {what} {span} must be longer than zero",
                job.id
            )));
        }
        Ok(span.get())
    };
    let cap = positive("wall_clock", &job.wall_clock)?;
    let stall = positive("stall", &job.stall)?;
    quote::remote_command(job)?;
    Ok(Limits {
        start: Instant::now(),
        cap,
        stall,
        grace: opts.grace,
    })
}

/// The job's limits, shared by both transports.
pub(crate) struct Limits {
    pub start: Instant,
    pub cap: Duration,
    pub stall: Duration,
    pub grace: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    Stall,
    Cap,
}

impl Limits {
    /// Is a limit reached, given the time of the last output?
    pub fn due(&self, last_output: Instant) -> Option<Reason> {
        if self.start.elapsed() >= self.cap {
            Some(Reason::Cap)
        } else if last_output.elapsed() >= self.stall {
            Some(Reason::Stall)
        } else {
            None
        }
    }

    pub fn kill_note(&self, reason: Reason) -> String {
        match reason {
            Reason::Cap => format!(
                "wall-clock cap of {}s reached: killing every process of the job (TERM, {}s grace, KILL)",
                self.cap.as_secs(),
                self.grace.as_secs()
            ),
            Reason::Stall => format!(
                "stalled: no output for {}s: killing every process of the job (TERM, {}s grace, KILL)",
                self.stall.as_secs(),
                self.grace.as_secs()
            ),
        }
    }
}

/// How a command ended, before it becomes a `JobResult`.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub exit_code: Option<i32>,
    pub signal: Option<String>,
    pub stalled: bool,
    pub capped: bool,
    pub transport_error: Option<String>,
    pub host_key_refused: bool,
}

impl Outcome {
    fn failed(msg: String) -> Outcome {
        Outcome {
            transport_error: Some(msg),
            ..Outcome::default()
        }
    }
}
