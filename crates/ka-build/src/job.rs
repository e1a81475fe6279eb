//! `ka-job`: what is known about a build job, and the two things an operator
//! does with one: keep its tree (`keep`) and open a shell in it (`ssh-argv`,
//! which `ka-debug` executes).

use anyhow::Context;
use clap::{CommandFactory, Parser, Subcommand};
use ka_core::args::StateArgs;
use ka_core::error::{ExitCode, Result, usage};
use ka_core::paths::Layout;
use ka_run_remote::remote::Credentials;
use ka_schema::{JobResult, Keep, V1};
use std::io::Write;
use std::path::Path;

#[derive(Parser, Debug)]
#[command(
    name = "ka-job",
    version,
    about = "Show a build job, keep its tree, or print the ssh argv that opens a shell in it",
    long_about = "Jobs are recorded under KA_ROOT/jobs/<job-id>.json (a ka.job-result) by \
ka-build-run. A failed build's tree stays on the build host under <root>/source/<job-id>/.\n\n\
  ka-job show ID            print the job's ka.job-result\n\
  ka-job keep ID [--for D]  keep the job (KA_ROOT/keep/ID.json, a ka.keep): ka-prune then \
leaves its output, logs, archive, backup and render folder alone; without --for, until the \
file is removed\n\
  ka-job release-idle       release woken build hosts idle past build_host.idle_release\n\
  ka-job ssh-argv ID        print, NUL-separated, the OpenSSH command that opens a login \
shell in the job's folder on its build host, checking the host key strictly against the \
fleet's known_hosts (ka-debug runs it)"
)]
pub struct Cli {
    #[command(flatten)]
    pub state: StateArgs,
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    Show {
        id: String,
    },
    Keep {
        id: String,
        /// How long to keep it, e.g. 7d; forever without it.
        #[arg(long = "for", value_name = "DURATION")]
        keep_for: Option<ka_schema::Span>,
    },
    SshArgv {
        id: String,
    },
    /// Run the release command of every woken build host idle past its
    /// idle_release (for cron or a systemd timer).
    ReleaseIdle,
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn load(layout: &Layout, id: &str) -> Result<JobResult> {
    ka_core::names::check_job_id(id)?;
    let path = layout.job_record(id);
    if !path.exists() {
        if layout.job_archive(id).exists() {
            return Err(usage(format!(
                "job {id} is archived ({}); ka-restore-archive {id} brings back its record and output",
                layout.job_archive(id).display()
            )));
        }
        return Err(usage(format!(
            "no job {id} (no {}); job ids are in ka-build's output",
            path.display()
        )));
    }
    ka_core::stream::read_file(&path)
}

/// A keep may name a job whose record is in place or archived.
fn check_keepable(layout: &Layout, id: &str) -> Result<()> {
    ka_core::names::check_job_id(id)?;
    if layout.job_archive(id).exists() {
        return Ok(());
    }
    load(layout, id).map(drop)
}

pub fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let layout = cli.state.layout()?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match cli.cmd {
        Cmd::Show { id } => {
            let job = load(&layout, &id)?;
            ka_core::stream::write_doc(&mut out, &job).context("stdout")?;
        }
        Cmd::Keep { id, keep_for } => {
            check_keepable(&layout, &id)?;
            let now = ka_core::time::now_epoch()?;
            let until = keep_for.map(|d| ka_core::time::rfc3339(now + d.as_secs() as i64));
            let keep = Keep {
                kind: Default::default(),
                version: V1,
                job: id.clone(),
                kept_at: ka_core::time::rfc3339(now),
                until,
            };
            ka_core::atomic::write_json(&layout.keep(&id), &keep)?;
            writeln!(out, "{}", serde_json::to_string(&keep).context("json")?).context("stdout")?;
        }
        Cmd::ReleaseIdle => {
            let repo = cli.state.repo()?;
            for line in crate::idle::release_idle(&layout, &repo)? {
                writeln!(out, "{line}").context("stdout")?;
            }
        }
        Cmd::SshArgv { id } => {
            let job = load(&layout, &id)?;
            let repo = cli.state.repo()?;
            for arg in ssh_argv(&repo, &layout, &job)? {
                out.write_all(arg.as_bytes()).context("stdout")?;
                out.write_all(b"\0").context("stdout")?;
            }
        }
    }
    out.flush().context("stdout")?;
    Ok(ExitCode::Ok)
}

/// `ssh` with strict host key checking against the fleet's known_hosts, the
/// fleet identity, and a remote command that changes into the job's folder.
pub fn ssh_argv(repo: &Path, layout: &Layout, job: &JobResult) -> Result<Vec<String>> {
    let (m, shown) = ka_schema::fleet::manifest(repo, &job.host)?;
    let (Some(ssh), Some(spec)) = (&m.ssh, &m.build_host) else {
        return Err(usage(format!(
            "{shown}: not a build host with an ssh: target"
        )));
    };
    let dir = format!("{}/source/{}", spec.root.trim_end_matches('/'), job.id);
    let Credentials {
        known_hosts,
        identity,
    } = Credentials::of_fleet(repo, layout)?;
    Ok(vec![
        "ssh".into(),
        "-t".into(),
        "-o".into(),
        "StrictHostKeyChecking=yes".into(),
        "-o".into(),
        format!("UserKnownHostsFile={}", known_hosts.display()),
        "-o".into(),
        "IdentitiesOnly=yes".into(),
        "-F".into(),
        "/dev/null".into(),
        "-i".into(),
        identity.display().to_string(),
        "-p".into(),
        ssh.port.to_string(),
        "-l".into(),
        spec.user.clone(),
        "--".into(),
        ssh.address.clone(),
        // one remote shell word list, quoted: cd into the folder, then a login shell
        format!(
            "cd {} && exec \"${{SHELL:-sh}}\" -l",
            ka_run_remote::quote::sh_quote(&dir)
        ),
    ])
}
