//! The two binaries: `ka-probe` (the stage: probe hosts, print reports, write
//! nothing) and `ka-verify-run` (behind the `ka-verify` verb: probe, record,
//! file blocks, count burn-in runs).

use crate::plan::{HostPlan, plan};
use crate::run::{RunOptions, probe_all};
use crate::verify::{self, BurnInStep};
use anyhow::Context;
use clap::{Args, CommandFactory, Parser};
use ka_block::store::Store;
use ka_core::args::RepoArg;
use ka_core::args::RootArg;
use ka_core::error::{Error, ExitCode, Result};
use ka_core::hostlock::HostLock;
use ka_core::paths::Layout;
use ka_schema::{BurnInState, ProbeReport, Span, Status, V1, VerbResult};
use std::path::PathBuf;
use std::time::Duration;

const PROBE_ABOUT: &str =
    "Probe hosts over SSH for verification bars 1-4; prints one ka.probe-report per host";

#[derive(Parser, Debug)]
#[command(
    name = "ka-probe",
    version,
    about = PROBE_ABOUT,
    long_about = "For each host (concurrently, --jobs at a time) runs verification bars 1-4 over SSH \
and prints one ka.probe-report per host (JSON lines, in argument order). Writes nothing.\n\n\
Bar 1 heartbeat: SSH answers within verify.heartbeat (refused or unreachable connections are \
retried until it runs out; a host-key refusal fails at once); the boot_id and the kernel release \
are read. Bar 2: the package recorded in KA_ROOT/hosts/<host>/installed.json is installed in that \
version (pacman -Q on distro arch, dpkg-query -W on distro debian), and the kernel image it \
names has the b2sum its build recorded (where the host lets us read it). Bar 3: the manifest's \
verify.dt and verify.sysfs values. Bar 4: every probe of every series in the host's promoted \
manifest.lock (series.yaml probes:, read from the fleet repository now), in the probe language \
of ka-probe(5).\n\n\
Every probe is parsed before the host is contacted; a bad probe, a path outside the allowed \
roots or a cmd probe on a host without verify.allow_cmd_probes stops that host with \
file:line (exit 3). Probes are read-only by construction: each one is a fixed remote read \
(cat -- PATH, dmesg, test -e PATH, the package query) whose data travels as quoted argv words; \
all file reads and file exists|missing tests of a host go in one round trip and one remote \
process: a fixed sh script, the paths as its argv words, that tests with the shell's own [ -e ] \
and reads every file with one od (od per file only when some file cannot be read). \
A value that cannot be read (permission, missing file, a restricted kernel log) fails its probe \
and the report says why (error).\n\n\
Each result keeps last_pass and first_fail, carried over from the previous report in \
verify/last.json.\n\n\
SSH: the fleet known_hosts (fleet/known_hosts, strict) and the identity KA_SSH_IDENTITY or \
KA_ROOT/ssh/id_ed25519, through ka-run-remote.\n\n\
Exit status: 0 every bar of every host passed; 1 some bar failed; 2 usage or I/O error; \
3 bad input (a manifest, lock, series.yaml or probe that breaks the contract). A host that \
errs is named on stderr and the other hosts are still probed."
)]
pub struct ProbeCli {
    #[command(flatten)]
    pub common: Common,
    /// Hosts of the fleet (fleet/<host>.yaml).
    #[arg(required = true, value_name = "HOST")]
    pub hosts: Vec<String>,
}

#[derive(Args, Debug, Clone)]
pub struct Common {
    #[command(flatten)]
    pub repo: RepoArg,
    #[command(flatten)]
    pub root: RootArg,
    /// The time of the run: seconds since the epoch or YYYY-MM-DDTHH:MM:SSZ
    /// (default: KA_NOW or the clock).
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
    /// Override every host's verify.heartbeat, e.g. 30s.
    #[arg(long, value_name = "DURATION", value_parser = Span::positive)]
    pub heartbeat: Option<Span>,
    /// Time one remote read may take.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = duration_arg)]
    pub read_timeout: Duration,
    /// Hosts probed at once.
    #[arg(long, value_name = "N", default_value_t = 32)]
    pub jobs: usize,
}

fn duration_arg(s: &str) -> Result<Duration> {
    Span::positive(s).map(|s| s.get())
}

#[derive(Parser, Debug)]
#[command(
    name = "ka-verify-run",
    version,
    about = "Probe hosts (bars 1-4, or the burn-in's next run) and record the reports; files regression and drift blocks on a failure",
    long_about = "The stage behind the ka-verify verb. For each host: probes bars 1-4 as ka-probe does \
(concurrently across hosts), writes the ka.probe-report to KA_ROOT/hosts/<host>/verify/last.json \
and verify/history/<time>.json (atomically), and prints one ka.result per host.\n\n\
A report with a failed bar files [ka:regression] and [ka:host-drifted] for the host; their \
detail names each failed bar, the probe, where it is written, expected and actual, and the \
last pass and first fail. A later passing verify lifts neither: the owner triages a \
regression (ka-block lift), and a drifted host converges by a later ka-install.\n\n\
A host that answers with a host key other than its fleet/known_hosts line files \
[ka:host-changed] and [ka:host-drifted] instead (no regression: what it runs is unknown, not \
known bad); a later verify whose heartbeat passes lifts [ka:host-changed].\n\n\
--burn-in (bar 5): count this run into KA_ROOT/hosts/<host>/verify/burn-in.json (ka.burn-in) \
for the install recorded in installed.json, until verify.burn_in has passed since installed_at. \
A failed run fails the burn-in at once (and files the blocks as above); when the duration is \
over and every run passed, bar 5 passes. Once decided, further calls probe nothing until the \
next install. verify.burn_in: 0h turns burn-in off. Meant for a cron line or a systemd timer.\n\n\
Exit status: 0 every host passed (or its burn-in is off, running or passed); 1 a bar failed \
(or the burn-in failed), or an infra host without opt_in: true (never probed); 2 usage or \
I/O error (also: an unknown host, named with the fleet's hosts; the host's verify lock is \
held); 3 bad input."
)]
pub struct VerifyCli {
    #[command(flatten)]
    pub common: Common,
    /// Count this run into the burn-in record (bar 5).
    #[arg(long)]
    pub burn_in: bool,
    /// Hosts of the fleet.
    #[arg(required = true, value_name = "HOST")]
    pub hosts: Vec<String>,
}

pub fn probe_command() -> clap::Command {
    ProbeCli::command()
}

pub fn verify_command() -> clap::Command {
    VerifyCli::command()
}

struct Env {
    layout: Layout,
    repo: PathBuf,
    now: i64,
    opts: RunOptions,
}

fn env(c: &Common) -> anyhow::Result<Env> {
    let layout = c.root.layout()?;
    let repo = c.repo.repo()?;
    let now = match &c.now {
        Some(t) => ka_core::time::parse_time(t)
            .map_err(|e| ka_core::error::usage(format!("--now: {e}")))?,
        None => ka_core::time::now_epoch()?,
    };
    if c.jobs == 0 {
        return Err(ka_core::error::usage("--jobs must be at least 1").into());
    }
    Ok(Env {
        layout,
        repo,
        now,
        opts: RunOptions {
            read_timeout: c.read_timeout,
            jobs: c.jobs,
        },
    })
}

/// Report a per-host error on stderr and keep the worst exit status.
fn host_error(prog: &str, host: &str, e: &Error, worst: &mut ExitCode) {
    eprintln!(
        "{prog}: error: {}: {}",
        ka_core::error::clip(host),
        ka_core::error::clip_quoted(&e.to_string())
    );
    let code = e.exit_code();
    if code as i32 > *worst as i32 {
        *worst = code;
    }
}

/// The plan of each host; with `targets`, an infra host without opt_in is
/// refused first (ka-verify acts on the hosts it verifies: it files blocks).
fn plans(
    prog: &str,
    env: &Env,
    hosts: &[String],
    heartbeat: Option<&Span>,
    targets: bool,
    worst: &mut ExitCode,
) -> Vec<HostPlan> {
    let mut out = Vec::new();
    for h in hosts {
        let planned = if targets {
            ka_schema::fleet::target(&env.repo, h).map(drop)
        } else {
            Ok(())
        }
        .and_then(|()| plan(&env.repo, &env.layout, h, heartbeat));
        match planned {
            Ok(p) => out.push(p),
            Err(e) => host_error(prog, h, &e, worst),
        }
    }
    out
}

pub fn probe() -> anyhow::Result<ExitCode> {
    let cli = ProbeCli::parse();
    let env = env(&cli.common)?;
    let mut worst = ExitCode::Ok;
    let plans = plans(
        "ka-probe",
        &env,
        &cli.hosts,
        cli.common.heartbeat.as_ref(),
        false,
        &mut worst,
    );
    let reports = probe_all(&plans, &env.opts, &ka_core::time::rfc3339(env.now));
    if reports.iter().any(|r| !r.passed) && (worst as i32) < ExitCode::Negative as i32 {
        worst = ExitCode::Negative;
    }
    ka_core::stream::write_docs(&reports).context("stdout")?;
    Ok(worst)
}

/// The `ka-verify-run` stage: plan every host, admit each (lock, burn-in
/// step), probe the admitted ones together, record each report, and print the
/// results in argument order.
pub fn verify() -> anyhow::Result<ExitCode> {
    let cli = VerifyCli::parse();
    let env = env(&cli.common)?;
    let store = Store::open(&env.layout)?;
    let prog = "ka-verify-run";
    let mut worst = ExitCode::Ok;
    let all = plans(
        prog,
        &env,
        &cli.hosts,
        cli.common.heartbeat.as_ref(),
        true,
        &mut worst,
    );
    let mut results: Vec<VerbResult> = Vec::new();
    let mut to_probe: Vec<Pending> = Vec::new();
    for p in all {
        match admit(prog, &env, p, cli.burn_in, &mut worst) {
            Some(Admission::Probe(pending)) => to_probe.push(*pending),
            Some(Admission::Settled(result)) => results.push(*result),
            None => {}
        }
    }
    let plans: Vec<HostPlan> = to_probe.iter().map(|p| p.plan.clone()).collect();
    let at = ka_core::time::rfc3339(env.now);
    let reports = probe_all(&plans, &env.opts, &at);
    for (pending, report) in to_probe.into_iter().zip(reports) {
        results.extend(record_probed(
            prog, &env, &store, pending, report, &mut worst,
        ));
    }
    // Results in argument order.
    results.sort_by_key(|r| cli.hosts.iter().position(|h| *h == r.host));
    ka_core::stream::write_docs(&results).context("stdout")?;
    ka_block::mirror::try_flush(&store.mirror, &env.layout.root, prog);
    Ok(worst)
}

/// A host to probe now, with its verify lock (held until its report is
/// recorded) and, with `--burn-in`, the burn-in record this run counts into.
struct Pending {
    plan: HostPlan,
    _lock: HostLock,
    burn: Option<ka_schema::BurnIn>,
}

/// What `ka-verify-run` does with one planned host (both boxed: each is
/// large, and they differ in size).
enum Admission {
    /// Probe it now.
    Probe(Box<Pending>),
    /// Its burn-in is off or already decided: this result, nothing probed.
    Settled(Box<VerbResult>),
}

/// Take `p`'s verify lock and, with `burn_in`, decide its burn-in step;
/// None (the error reported on stderr, `worst` raised) when the host cannot
/// be verified now.
fn admit(
    prog: &str,
    env: &Env,
    p: HostPlan,
    burn_in: bool,
    worst: &mut ExitCode,
) -> Option<Admission> {
    let lock = match verify_lock(&env.layout, &p.host) {
        Ok(l) => l,
        Err(e) => {
            host_error(prog, &p.host, &e, worst);
            return None;
        }
    };
    if !burn_in {
        return Some(Admission::Probe(Box::new(Pending {
            plan: p,
            _lock: lock,
            burn: None,
        })));
    }
    let Some(installed) = p.installed.clone() else {
        host_error(
            prog,
            &p.host,
            &ka_core::error::usage(format!(
                "--burn-in: {} does not exist: a burn-in starts at an install (ka-install {})",
                env.layout.installed(&p.host).display(),
                p.host
            )),
            worst,
        );
        return None;
    };
    match verify::burn_in_step(&env.layout, &p.host, &installed, &p.burn_in) {
        Ok(BurnInStep::Run(b)) => Some(Admission::Probe(Box::new(Pending {
            plan: p,
            _lock: lock,
            burn: Some(b),
        }))),
        Ok(BurnInStep::Settled { record, why }) => {
            let failed = record
                .as_ref()
                .is_some_and(|b| b.state == BurnInState::Failed);
            if failed && (*worst as i32) < ExitCode::Negative as i32 {
                *worst = ExitCode::Negative;
            }
            let status = if failed {
                Status::Failed
            } else {
                Status::Unchanged
            };
            let message = format!("{why}; nothing probed");
            Some(Admission::Settled(Box::new(verify_result(
                &p.host,
                status,
                message,
                vec![],
                vec![],
            ))))
        }
        Err(e) => {
            host_error(prog, &p.host, &e, worst);
            None
        }
    }
}

/// The verify lock of `host`. A held lock is a refusal to act, which is a
/// usage-level answer here (nothing was verified), so it is an `Error::Usage`.
fn verify_lock(layout: &Layout, host: &str) -> Result<HostLock> {
    HostLock::acquire(
        &layout.locks().join(format!("verify-{host}.lock")),
        &format!("ka-verify {host}"),
    )
    .map_err(|e| match e {
        Error::Negative(m) => Error::Usage(m),
        e => e,
    })
}

/// Count the run into the burn-in (if any), record the report (and the
/// burn-in record) and return the host's result; None (the error reported on
/// stderr, `worst` raised) when recording failed.
fn record_probed(
    prog: &str,
    env: &Env,
    store: &Store,
    pending: Pending,
    mut report: ProbeReport,
    worst: &mut ExitCode,
) -> Option<VerbResult> {
    // The verify lock stays held until the report is recorded.
    let Pending {
        plan: p,
        _lock,
        mut burn,
    } = pending;
    if let Some(b) = burn.as_mut() {
        verify::count_run(b, &mut report, env.now);
        report = crate::run::finish(report, p.previous.as_ref());
    }
    let outcome = verify::record(&env.layout, store, &report).and_then(|mut rec| {
        if let Some(b) = &burn {
            let path = env.layout.burn_in(&p.host);
            ka_core::atomic::write_json(&path, b)?;
            rec.files.push(path);
        }
        Ok(rec)
    });
    let rec = match outcome {
        Ok(r) => r,
        Err(e) => {
            host_error(prog, &p.host, &e, worst);
            return None;
        }
    };
    if !report.passed && (*worst as i32) < ExitCode::Negative as i32 {
        *worst = ExitCode::Negative;
    }
    let status = if report.passed {
        Status::Done
    } else {
        Status::Failed
    };
    let message = message(&report, burn.as_ref())
        + &rec
            .lifted
            .iter()
            .map(|b| format!("; lifted {} ({})", b.id, b.title))
            .collect::<String>();
    Some(verify_result(
        &p.host, status, message, rec.files, rec.blocks,
    ))
}

/// The `ka.result` of verb `verify` for `host`.
fn verify_result(
    host: &str,
    status: Status,
    message: String,
    files: Vec<PathBuf>,
    blocks: Vec<ka_schema::BlockRef>,
) -> VerbResult {
    VerbResult {
        kind: Default::default(),
        version: V1,
        verb: "verify".into(),
        host: host.to_string(),
        status,
        message,
        files,
        blocks,
        lock: None,
        verdicts: vec![],
        job: None,
        build_host: None,
        config: None,
    }
}

/// The one-paragraph summary: what passed, then every failure on its own line.
fn message(report: &ProbeReport, burn: Option<&ka_schema::BurnIn>) -> String {
    let count = |bar: u8| report.bars.iter().filter(|b| b.bar == bar).count();
    let mut s = if report.passed {
        format!(
            "passed: heartbeat, {} package, {} dt/sysfs, {} probe{}",
            count(2),
            count(3),
            count(4),
            if count(4) == 1 { "" } else { "s" }
        )
    } else {
        let n = report.failures().count();
        format!("{n} check{} failed", if n == 1 { "" } else { "s" })
    };
    if let Some(b) = burn {
        s.push_str(&format!(
            "; burn-in {}: {}",
            verify::state_word(b.state),
            verify::summary(b)
        ));
    }
    for line in verify::failure_lines(report) {
        s.push_str("\n    ");
        s.push_str(&line);
    }
    for n in &report.notes {
        s.push_str("\n    note: ");
        s.push_str(n);
    }
    s
}
