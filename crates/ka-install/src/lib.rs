//! `ka-install-run`: put a host's last published kernel package on it, with
//! the owner's consent already given (the `ka-install` verb asks for it).
//!
//! Phases, each with a time limit, each named when it fails: gate → fetch (the
//! package and its detached `.sig` from the sign host) → signature (gpgv
//! against the fleet keyring `fleet/keyring.gpg`, a temporary GNUPGHOME) →
//! package (with `install.fdt`: the package holds that device tree) →
//! connect → preflight (root works, /boot writable with room, nothing changed
//! yet) → backup (/boot as a tgz into `KA_ROOT/backups/<host>/<running
//! kernel>/` with its `ka.backup` record, before any change) → copy → install
//! (`dpkg -i` or `pacman -U`) → boot-config (the managed extlinux block and
//! `DEFAULT`) → pre-reboot (every file the entry names exists, the initramfs
//! is newer than the install, `sync`) → reboot → heartbeat (SSH back with a
//! new boot_id within `verify.heartbeat`) → proof (`uname -r` and the
//! manifest's device-tree values) → record (`installed.json`, the
//! `[ka:installable]` notice closed, `[ka:host-drifted]` lifted).
//! A failure once the host was touched files `[ka:regression]` and
//! `[ka:host-drifted]`; a host key other than fleet/known_hosts' files
//! `[ka:host-changed]` (and, after the reboot, `[ka:host-drifted]`).

pub mod extlinux;
mod host;
mod job;
mod outcome;
mod package;
mod plan;
pub mod remote;

pub use package::{fdt_in_package, verify_signature};
pub use plan::{FdtPlan, LanSource, Planned, plan, plan_hash};

use clap::{CommandFactory, Parser};
use host::EXTLINUX_CONF;
use job::{Job, SHORT};
use ka_block::gate::{Request, blocking};
use ka_block::store::Store;
use ka_core::args::StateArgs;
use ka_core::error::{ExitCode, Result, contract, usage};
use ka_core::hostlock::HostLock;
use ka_core::paths::Layout;
use ka_notice::NoticeStore;
use ka_run_remote::remote::Credentials;
use ka_schema::{BlockRef, HostManifest, Install, InstallPhase, Phase, Span, Status, V1, Verb};
use outcome::finish;
use remote::{Deadline, Facts, Remote};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(
    name = "ka-install-run",
    version,
    about = "Install HOST's last published kernel package: backup, install, extlinux, reboot, proof; prints ka.install",
    long_about = "Installs the kernel package of KA_ROOT/hosts/<host>/published.json (the last successful \
ka-publish) on HOST, in phases that each have a time limit and are named when they fail. A \
phase's limit bounds all its I/O: every command, and every SFTP call and chunk of a copy \
(fetch, copy, boot-config), get what is left of it:\n\n\
gate: refused while [ka:host-drifted] or [ka:regression] holds HOST (said before \
\"nothing published\", as is an infra host without opt_in: true).\n\
fetch: the package and its detached .sig from the sign host (a local copy with sign.local: \
true, else SFTP); the b2sum must equal the published one. A sign host that answers with \
another host key files [ka:host-changed] for the sign host (a strict connection to it lifts \
it).\n\
signature: `gpgv --keyring <repo>/fleet/keyring.gpg` (the fleet's public key, made with \
`gpg --export FPR > fleet/keyring.gpg`) in a temporary GNUPGHOME, never $HOME; the good \
signature must be by the published key's fingerprint.\n\
package: with install.fdt, the package must hold that device tree: arch \
boot/dtbs-<suffix>/<fdt> (`bsdtar -tf`), debian ./usr/lib/linux-image-<release>/<fdt> \
(`dpkg-deb -c`). A package without it is refused (exit 1), naming the package, the path and \
the setting; nothing on HOST was changed and its boot entry stays as it was.\n\
connect: SSH to HOST (strict fleet/known_hosts, the fleet identity); the running kernel and \
boot_id are read. A host key other than the known one files [ka:host-changed] for HOST; a \
strict connection lifts it again.\n\
preflight: root works (the ssh user, or `sudo -n`), /boot/extlinux/extlinux.conf exists, root can \
create a file in /boot, /boot/extlinux and /srv/kernel-agent/install, and both have room for the \
package. A refusal here changes nothing and files nothing.\n\
backup: /boot as boot.tgz into KA_ROOT/backups/<host>/<running kernel>/ with a ka.backup \
record (filled under a dot-name, the record written last, renamed into place) BEFORE any change.\n\
copy: the package to /srv/kernel-agent/install/<id>/ on HOST, its b2sum checked there. With \
install.copy: lan, fetch and signature are left out here: HOST copies package and .sig from \
the sign host itself (scp, the sign host's key from fleet/known_hosts, strict), then a \
signature phase runs gpgv on HOST against fleet/keyring.gpg (sent along), and the package \
phase lists the package there.\n\
install: `dpkg -i` (debian) or `pacman -U --noconfirm` (arch), as root (the ssh user, or \
`sudo -n` when it is not root).\n\
boot-config: debian: ka-install writes the managed block `# >>> <pkgbase> (managed) >>>` \
(LINUX /boot/vmlinuz-<release>, INITRD when the package's hooks made /boot/initrd.img-<release>, \
APPEND of the DEFAULT entry) itself, with install.fdt FDT <prefix>/dtbs-<release>/<fdt> after \
copying the .dtb from /usr/lib/linux-image-<release>/ to /boot/dtbs-<release>/ (U-Boot reads \
only the /boot partition when it is its own); arch: the package's hook wrote it (FDT \
<prefix>/dtbs-<suffix>/<fdt> with install.fdt, else FDTDIR). Then DEFAULT <pkgbase>. \
Written to a temp file, synced, renamed.\n\
pre-reboot: every file the entry names exists; an initramfs is newer than the install; sync.\n\
reboot, heartbeat: SSH must answer with a new boot_id within verify.heartbeat (default 10m, \
--heartbeat overrides).\n\
proof: `uname -r` equals the package's kernel release, and every verify.dt value matches.\n\
record: KA_ROOT/hosts/<host>/installed.json (ka.installed), the [ka:installable] notice of \
the package closed, [ka:host-drifted] lifted.\n\n\
A failure from the install phase on files [ka:regression] and [ka:host-drifted] for HOST \
(restore /boot from the backup); the connection lost during the install is such a failure, and \
nothing after it (no boot-config change, no reboot) is done. When the host answers the heartbeat \
with another host key, [ka:host-changed] and [ka:host-drifted] are filed instead (what it booted \
is unknown, not known bad). Consent: the ka.install document carries plan_hash, the \
b2sum (16 hex digits) of host, package b2sum and boot_change; with --plan HASH nothing is done \
unless the recomputed hash is HASH.\n\n\
The document is printed on stdout and, when the install ran, written to \
KA_ROOT/hosts/<host>/installs/<id>.json.\n\n\
Exit status: 0 converged (or --dry-run); 1 blocked (an infra host without opt_in: true, \
gate, signature, plan hash), a phase failed, or another install of HOST is running; 2 usage \
or I/O error (an unknown host, named with the fleet's hosts; nothing published; no keyring); \
3 bad input (a broken manifest or published.json)."
)]
pub struct Cli {
    /// The host to install.
    pub host: String,
    /// Install only if the plan hash is still HASH (what `--dry-run` or
    /// `ka-install --confirm` showed).
    #[arg(long, value_name = "HASH", conflicts_with = "plan_of")]
    pub plan: Option<String>,
    /// Install only if the plan is still the one in this `ka.install`
    /// document (`-`: stdin), as `--dry-run` printed it for `--confirm`.
    #[arg(long, value_name = "FILE")]
    pub plan_of: Option<PathBuf>,
    /// Say what would be done (and the plan hash); change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// How long the host may take to answer after the reboot (default:
    /// the manifest's verify.heartbeat).
    #[arg(long, value_name = "DURATION", value_parser = Span::positive)]
    pub heartbeat: Option<Span>,
    #[command(flatten)]
    pub state: StateArgs,
}

pub fn command() -> clap::Command {
    Cli::command()
}

/// Where packages wait on the target host.
pub const REMOTE_STAGING: &str = "/srv/kernel-agent/install";

/// What the command line and the fleet say, checked before the gate.
struct Invocation {
    host: String,
    /// `--plan` (or the hash of `--plan-of`'s document): what consent was
    /// given to.
    plan: Option<String>,
    dry_run: bool,
    heartbeat: Span,
    layout: Layout,
    repo: PathBuf,
    planned: Planned,
}

/// The verb: the options and the plan, the gate and the consent, then the
/// dry run or the install; the document printed either way.
pub fn run() -> anyhow::Result<ExitCode> {
    let inv = resolve(Cli::parse())?;
    let mut doc = new_document(&inv)?;
    let store = Store::open(&inv.layout)?;
    let notices = NoticeStore::open(&inv.layout)?;
    if !gate(&store, &mut doc)? || !plan_still_shown(&inv, &mut doc) {
        return finish(&inv.layout, &doc, false);
    }
    let target = target_of(&inv.repo, &inv.layout, &inv.planned.manifest)?;
    if inv.dry_run {
        dry_run(&inv, &target, &mut doc);
        return finish(&inv.layout, &doc, false);
    }
    run_for_real(&inv, target, doc, &store, &notices)
}

/// The options, the plan, and the heartbeat's limit; `--plan-of` read as
/// the `--plan` it carries.
fn resolve(mut cli: Cli) -> anyhow::Result<Invocation> {
    if let Some(path) = cli.plan_of.take() {
        let shown: Install = if path.as_os_str() == "-" {
            ka_core::stream::read_one(std::io::stdin().lock(), "stdin")?
        } else {
            ka_core::stream::read_file(&path)?
        };
        if shown.host != cli.host {
            return Err(usage(format!(
                "--plan-of: the plan shown is for {}, not {}",
                shown.host, cli.host
            ))
            .into());
        }
        cli.plan = Some(shown.plan_hash);
    }
    let layout = cli.state.layout()?;
    let repo = cli.state.repo()?;
    let host = cli.host.as_str();
    let planned = plan(&repo, &layout, host)?;
    let heartbeat = cli
        .heartbeat
        .clone()
        .or_else(|| {
            planned
                .manifest
                .verify
                .as_ref()
                .map(|v| v.heartbeat.clone())
        })
        .unwrap_or_else(|| Span::minutes(10));
    if heartbeat.is_zero() {
        return Err(contract(format!(
            "verify.heartbeat {:?} must be longer than zero",
            heartbeat.as_str()
        ))
        .into());
    }
    if let Some(p) = &cli.plan
        && (p.len() != 16 || !p.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Err(usage(format!(
            "--plan {p:?}: a plan hash is 16 hex digits, as `ka-install --dry-run {host}` prints it"
        ))
        .into());
    }
    Ok(Invocation {
        host: cli.host.clone(),
        plan: cli.plan,
        dry_run: cli.dry_run,
        heartbeat,
        layout,
        repo,
        planned,
    })
}

/// The `ka.install` document of this run, as the plan states it (blocked
/// until something decides otherwise).
fn new_document(inv: &Invocation) -> Result<Install> {
    let planned = &inv.planned;
    let host = inv.host.as_str();
    let now = ka_core::time::now_epoch()?;
    let id = format!(
        "install-{host}-{}",
        ka_core::time::rfc3339(now).replace([':', '-'], "")
    );
    Ok(Install {
        kind: Default::default(),
        version: V1,
        host: host.to_string(),
        id,
        status: Status::Blocked,
        message: String::new(),
        plan_hash: planned.plan_hash.clone(),
        package: planned.package.package.clone(),
        package_version: planned.package.version.clone(),
        kernel_release: planned.release.clone().unwrap_or_default(),
        file: planned.package.file.clone(),
        size: planned.package.size,
        b2sum: planned.package.b2sum.clone(),
        key: planned.publish.key.clone(),
        backup: format!(
            "{}/<running kernel>/",
            inv.layout.backups().join(host).display()
        ),
        boot_change: planned.boot_change.clone(),
        previous_kernel: None,
        boot_id_before: None,
        boot_id_after: None,
        phases: Vec::new(),
        failed_phase: None,
        files: Vec::new(),
        blocks: Vec::new(),
        lifted: Vec::new(),
        notices: Vec::new(),
    })
}

/// The gate: no block holds installs to the host. A refusal is written
/// into `doc`; false then.
fn gate(store: &Store, doc: &mut Install) -> Result<bool> {
    let host = doc.host.clone();
    let started = Instant::now();
    let open = store.open_blocks()?;
    let req = Request {
        host: &host,
        ..Request::default()
    };
    let halted = blocking(&open, Verb::Install, &req);
    let in_way: Vec<BlockRef> = halted.iter().map(|b| b.to_ref()).collect();
    let gate_ok = in_way.is_empty();
    doc.phases.push(InstallPhase {
        phase: Phase::Gate,
        ok: gate_ok,
        timeout_s: 10,
        seconds: started.elapsed().as_secs_f64(),
        detail: if gate_ok {
            format!("no block holds installs to {host}")
        } else {
            format!(
                "held by {}",
                in_way
                    .iter()
                    .map(|b| format!("{} ({})", b.id, b.title))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
    });
    if !gate_ok {
        // blocked, not failed: no job runs yet, and the message is the
        // gate's refusal, not a phase's failure
        doc.status = Status::Blocked;
        doc.failed_phase = Some(Phase::Gate);
        doc.message = format!(
            "{}; nothing was changed",
            ka_block::gate::refusal(&halted, &format!("installs to {host}"))
        );
        doc.blocks = in_way;
    }
    Ok(gate_ok)
}

/// Consent: with `--plan`, the plan now must be the one shown. A mismatch
/// is written into `doc`; false then.
fn plan_still_shown(inv: &Invocation, doc: &mut Install) -> bool {
    let Some(p) = &inv.plan else { return true };
    if p.eq_ignore_ascii_case(&inv.planned.plan_hash) {
        return true;
    }
    doc.status = Status::Blocked;
    doc.message = format!(
        "plan hash {p} does not match the plan now ({}): the package or the boot-config change is not what was shown; nothing was changed. Look again with `ka-install --confirm {}`",
        inv.planned.plan_hash, inv.host
    );
    false
}

/// `--dry-run`: what would be done, into `doc`; nothing is changed.
fn dry_run(inv: &Invocation, target: &ka_run_remote::Target, doc: &mut Install) {
    let host = inv.host.as_str();
    let planned = &inv.planned;
    let (facts, fdt_prefix) = ask_host(target, planned.fdt.is_some());
    match facts {
        Ok(f) => {
            doc.backup = inv
                .layout
                .backups()
                .join(host)
                .join(&f.release)
                .display()
                .to_string()
                + "/";
            doc.previous_kernel = Some(f.release);
            doc.boot_id_before = Some(f.boot_id);
        }
        Err(e) => doc.message = format!("({host} did not answer: {e}) "),
    }
    doc.status = Status::DryRun;
    let copy = match &planned.lan {
        Some(l) => format!(
            " (the host copies it from the sign host {}@{}:{})",
            l.user, l.address, l.port
        ),
        None => String::new(),
    };
    let fdt = match (&planned.fdt, fdt_prefix) {
        (None, _) => String::new(),
        (Some(f), Some(prefix)) => format!(
            "; the entry will say {} (install.fdt, checked in the package before anything changes)",
            f.line(prefix)
        ),
        (Some(f), None) => format!(
            "; the entry will say {} ({} when /boot is its own partition; install.fdt, checked in the package before anything changes)",
            f.line("/boot"),
            f.line("")
        ),
    };
    doc.message.push_str(&format!(
        "would install {} {} on {host}{copy}, back up /boot first, change the boot config and reboot{fdt}; plan {}",
        doc.package, doc.package_version, doc.plan_hash
    ));
}

/// The dry run's look at the host: the backup folder is named after the
/// running kernel, so ask the host if it answers quickly, but a dry run
/// never needs it to. With `want_prefix`, also the partition prefix the
/// entry will use, as boot-config finds it.
fn ask_host(
    target: &ka_run_remote::Target,
    want_prefix: bool,
) -> (std::result::Result<Facts, String>, Option<&'static str>) {
    let mut prefix = None;
    let facts = Remote::connect(target, Duration::from_secs(10))
        .map_err(String::from)
        .and_then(|r| {
            let facts = r.facts(Deadline::after(SHORT))?;
            if want_prefix {
                prefix = r
                    .run(&["cat", "--", EXTLINUX_CONF], Deadline::after(SHORT))
                    .ok()
                    .map(|c| extlinux::boot_prefix(&String::from_utf8_lossy(&c)));
            }
            Ok(facts)
        });
    (facts, prefix)
}

/// The install for real: under the host's lock, the job, then what it
/// leaves behind, and the document.
fn run_for_real(
    inv: &Invocation,
    target: ka_run_remote::Target,
    doc: Install,
    store: &Store,
    notices: &NoticeStore,
) -> anyhow::Result<ExitCode> {
    let host = inv.host.as_str();
    let _lock = HostLock::acquire(
        &inv.layout.host_lock(host),
        &format!("ka-install {host} ({})", doc.id),
    )?;
    ka_core::crash::point("install:gate");
    let job = Job::new(
        doc,
        &inv.layout,
        &inv.repo,
        &inv.planned,
        target,
        inv.heartbeat.clone(),
    );
    let ended = job.run();
    let doc = outcome::settle(ended, &inv.layout, &inv.repo, &inv.planned, store, notices)?;
    ka_block::mirror::try_flush(&store.mirror, &inv.layout.root, "ka-install-run");
    ka_block::mirror::try_flush(&notices.mirror, &inv.layout.root, "ka-install-run");
    finish(&inv.layout, &doc, true)
}

/// How to reach the host `m` describes (the sign host too), with the
/// fleet's credentials.
pub(crate) fn target_of(
    repo: &Path,
    layout: &Layout,
    m: &HostManifest,
) -> Result<ka_run_remote::Target> {
    let ssh = m.ssh.as_ref().expect("checked in plan");
    let t = ka_run_remote::Target::from_transport(
        &Credentials::of_fleet(repo, layout)?.transport(&m.host, ssh, &ssh.user),
    )?;
    Ok(t.expect("an ssh transport"))
}
