//! `ka-sign`: take the packages of a successful build job to the sign host,
//! sign each one with the fleet's one key (a detached `.sig`), add them to the
//! signed repository of the target host's distro and architecture, and swap
//! that repository to its new generation in one rename. Files
//! `[ka:installable]` for the target host, or `[ka:signing-fail]` when signing
//! does not work.

pub mod packages;
pub mod publish;

use anyhow::Context;
use clap::{CommandFactory, Parser};
use ka_block::store::Store;
use ka_core::args::StateArgs;
use ka_core::error::{Error, ExitCode, Result, negative, usage};
use ka_core::hostlock::HostLock;
use ka_core::paths::Layout;
use ka_notice::NoticeStore;
use ka_run_remote::remote::{Credentials, SshRemote};
use ka_schema::{JobResult, Status, Verb};

/// The script run on the sign host (POSIX sh); see its header for the protocol.
pub const SCRIPT: &str = include_str!("sign.sh");

#[derive(Parser, Debug)]
#[command(
    name = "ka-sign",
    version,
    about = "Sign a build job's packages on the sign host and publish them into the signed repository; prints ka.publish",
    long_about = "Publishes the packages of one successful build job of HOST (the newest one unless \
--job names another): the job's KA_ROOT/output/<job-id>/ packages (*.pkg.tar.* for arch hosts, *.deb \
for debian hosts, one of them the host's kernel package) are copied with their b2sums to \
<sign.staging>/<job-id>/ on the sign host (the one fleet host whose manifest has sign:, over SSH \
or locally with sign.local: true). There the b2sums are checked, each package is signed with \
`gpg --detach-sign --no-armor` by sign.key from sign.gnupghome, and a new generation of the \
repository is made beside the live one (hard links of the current generation plus the new \
files): pacman repositories get `repo-add --sign --verify --remove --key KEY <name>.db.tar.gz`, \
apt repositories Packages from apt-ftparchive, a Release, a clearsigned InRelease and \
Release.gpg. Every signature is verified before the live symlink is swapped to the new \
generation by one rename, so readers see the old repository or the new one, never a mix, and a \
failure leaves the old one in place. sign.keep generations are kept.\n\n\
Afterwards: [ka:installable] is filed for HOST's kernel package and version; the ka.publish \
document (stdout) is also written to KA_ROOT/publish/<job-id>.json and \
KA_ROOT/hosts/<host>/published.json. A signing failure (missing tool or key, an expired or \
passphrase-protected key, gpg or repo-add failing) files the global [ka:signing-fail], which \
halts builds and publishing (ka-gate) until `ka-sign --check` finds that signing works again \
and lifts it. A damaged upload, a repository that cannot take the packages (a file name \
published before with other bytes) or a busy repository fail without a block.\n\n\
SSH: host keys are checked strictly against <repo>/fleet/known_hosts; the identity is \
KA_SSH_IDENTITY or KA_ROOT/ssh/id_ed25519. A sign host that answers with another host key \
files [ka:host-changed] for the sign host (nothing is sent or signed; exit 1); the next strict \
connection to it lifts it. One publish at a time: KA_ROOT/locks/publish.lock \
here, and a lock beside each repository on the sign host.\n\n\
Exit status: 0 published (or unchanged, or --dry-run, or --check passed), 1 blocked by the \
gate or an infra HOST without opt_in: true (both said before a missing build job), signing \
or publishing failed, the job did not succeed, or a publish is already running; 2 usage or \
I/O error (an unknown host, named with the fleet's hosts; unknown job, no packages, sign host \
unreachable); 3 bad input (a broken manifest or job record)."
)]
pub struct Cli {
    /// The target host whose packages to publish.
    #[arg(required_unless_present = "check", conflicts_with = "check")]
    pub host: Option<String>,
    /// The build job (default: the host's newest successful build job).
    #[arg(long, value_name = "JOB-ID")]
    pub job: Option<String>,
    /// Say what would be published; copy, sign and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Only test signing on the sign host: the key signs and the signature
    /// verifies. Lifts [ka:signing-fail] when it works; prints a ka.result.
    #[arg(long, conflicts_with_all = ["job", "dry_run"])]
    pub check: bool,
    #[command(flatten)]
    pub state: StateArgs,
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let layout = cli.state.layout()?;
    let repo = cli.state.repo()?;
    // an unknown or infra target is said before anything about the sign host
    let target = match cli.host.as_deref() {
        Some(host) if !cli.check => Some(ka_schema::fleet::target(&repo, host)?.0),
        _ => None,
    };
    let sign_host = ka_schema::fleet::sign_host(&repo)?;
    let store = Store::open(&layout)?;
    let notices = NoticeStore::open(&layout)?;
    let mut publisher = publish::Publisher {
        remote: SshRemote,
        layout: &layout,
        store: &store,
        notices: &notices,
        credentials: Credentials::of_fleet(&repo, &layout)?,
        sign_host: &sign_host,
        dry_run: cli.dry_run,
    };
    let ok = if cli.check {
        let _lock = HostLock::acquire(&layout.locks().join("publish.lock"), "ka-sign --check")?;
        let r = publisher.check()?;
        ka_core::stream::write_docs(std::slice::from_ref(&r)).context("stdout")?;
        r.status == Status::Done
    } else {
        let host = cli.host.as_deref().expect("clap: host or --check");
        let target = target.expect("loaded above");
        let job = match &cli.job {
            Some(id) => named_job(&layout, host, id),
            None => newest_job(&layout, host),
        };
        // the gate's refusal comes before "run ka-build first"
        let job = match job {
            Ok(job) => job,
            Err(e) => {
                let open = store.open_blocks()?;
                let halted = ka_block::gate::halted_before(&open, Verb::Sign, host, &[]);
                if !halted.is_empty() {
                    return Err(negative(publish::halted_message(&halted)).into());
                }
                return Err(e.into());
            }
        };
        let _lock = (!cli.dry_run)
            .then(|| {
                HostLock::acquire(
                    &layout.locks().join("publish.lock"),
                    &format!("ka-sign {host} (job {})", job.id),
                )
            })
            .transpose()?;
        let doc = publisher.publish(&target, &job)?;
        ka_core::stream::write_docs(std::slice::from_ref(&doc)).context("stdout")?;
        let ok = matches!(
            doc.status,
            Status::Done | Status::Unchanged | Status::DryRun
        );
        if !ok {
            // diagnostics on stderr, as every stage's refusal
            eprintln!("ka-sign: {host}: {}", doc.message);
        }
        ok
    };
    ka_block::mirror::try_flush(&store.mirror, &layout.root, "ka-sign");
    ka_block::mirror::try_flush(&notices.mirror, &layout.root, "ka-sign");
    Ok(if ok { ExitCode::Ok } else { ExitCode::Negative })
}

fn read_job(layout: &Layout, id: &str) -> Result<Option<JobResult>> {
    let path = layout.job_record(id);
    if !path.exists() {
        return Ok(None);
    }
    ka_core::stream::read_file(&path).map(Some)
}

/// The build job `id`, which must have built `host`'s packages and succeeded.
pub fn named_job(layout: &Layout, host: &str, id: &str) -> Result<JobResult> {
    ka_core::names::check_job_id(id)?;
    let job = read_job(layout, id)?.ok_or_else(|| {
        usage(format!(
            "no job {id}: {} does not exist (`ka-build {host}` makes build jobs)",
            layout.job_record(id).display()
        ))
    })?;
    match &job.render {
        Some(r) if r.host == host => {}
        Some(r) => {
            return Err(usage(format!(
                "job {id} built the packages of {}, not of {host}",
                r.host
            )));
        }
        None => return Err(usage(format!("job {id} is not a build job"))),
    }
    if !job.ok() {
        return Err(negative(format!(
            "job {id} did not succeed ({}); only a successful build is published",
            match (job.exit_code, &job.signal, &job.transport_error) {
                (_, _, Some(e)) => format!("connection failed: {e}"),
                (_, Some(s), _) => format!("killed by SIG{s}"),
                _ if job.capped => "capped".into(),
                _ if job.stalled => "stalled".into(),
                (Some(c), _, _) => format!("exited {c}"),
                (None, None, None) => "no exit status".into(),
            }
        )));
    }
    Ok(job)
}

/// The newest successful build job of `host`, by finish time.
pub fn newest_job(layout: &Layout, host: &str) -> Result<JobResult> {
    let dir = layout.jobs();
    let mut best: Option<(String, JobResult)> = None;
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => Some(e),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io(&dir, e)),
    };
    for entry in entries.into_iter().flatten() {
        let entry = entry.map_err(|e| Error::io(&dir, e))?;
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let job: JobResult = ka_core::stream::read_file(&path)?;
        if !job.ok() || job.render.as_ref().is_none_or(|r| r.host != host) {
            continue;
        }
        let key = format!("{} {}", job.finished_at.clone().unwrap_or_default(), job.id);
        if best.as_ref().is_none_or(|(k, _)| key > *k) {
            best = Some((key, job));
        }
    }
    best.map(|(_, j)| j).ok_or_else(|| {
        negative(format!(
            "{host} has no successful build job in {}; run `ka-build {host}` first",
            dir.display()
        ))
    })
}
