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
pub mod remote;

use anyhow::Context;
use clap::{CommandFactory, Parser};
use ka_block::gate::{Request, blocking};
use ka_block::store::Store;
use ka_core::error::{Error, ExitCode, Result, contract, negative, usage};
use ka_core::hostlock::HostLock;
use ka_core::paths::{Layout, fleet_repo, runtime_root};
use ka_notice::NoticeStore;
use ka_run_remote::remote::Credentials;
use ka_schema::{Arch, Bootloader, CopyFrom, CopyMode, Distro, HostManifest, Span};
use ka_schema::{
    Artifact, Backup, BlockKind, BlockRef, Install, InstallPhase, Installed, Phase, Publish,
    PublishedPackage, Status, Subject, V1, Verb,
};
use remote::{Deadline, Remote};
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
    /// Runtime state (default: KA_ROOT or /srv/kernel-agent).
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// The fleet repository (default: KA_REPO or the current directory).
    #[arg(long, value_name = "DIR")]
    pub repo: Option<PathBuf>,
}

pub fn command() -> clap::Command {
    Cli::command()
}

/// Where packages wait on the target host.
pub const REMOTE_STAGING: &str = "/srv/kernel-agent/install";

const FETCH: Duration = Duration::from_secs(600);
const SIGNATURE: Duration = Duration::from_secs(60);
const CONNECT: Duration = Duration::from_secs(60);
const BACKUP: Duration = Duration::from_secs(600);
const COPY: Duration = Duration::from_secs(600);
const INSTALL: Duration = Duration::from_secs(900);
const SHORT: Duration = Duration::from_secs(60);
const PRE_REBOOT: Duration = Duration::from_secs(120);
const CONTENTS: Duration = Duration::from_secs(300);

const EXTLINUX_CONF: &str = "/boot/extlinux/extlinux.conf";

/// Everything known about the install before anything is touched.
pub struct Planned {
    pub manifest: HostManifest,
    pub publish: Publish,
    pub package: PublishedPackage,
    pub label: String,
    /// Debian: from the package name; arch: read from the package's files
    /// once installed.
    pub release: Option<String>,
    pub boot_change: String,
    pub plan_hash: String,
    /// `install.copy: lan`: where the host copies the package from.
    pub lan: Option<LanSource>,
    /// `install.fdt`: the device tree the entry names.
    pub fdt: Option<FdtPlan>,
}

/// `install.fdt` worked out for the package: what it must hold, what the
/// managed entry says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FdtPlan {
    /// As the manifest says it: relative to the kernel's dtbs folder.
    pub fdt: String,
    /// Where the manifest says it, e.g. `fleet/fresnel.yaml`.
    pub manifest: String,
    /// The package member that must exist (no leading `./`): arch
    /// `boot/dtbs-<suffix>/<fdt>`, debian `usr/lib/linux-image-<release>/<fdt>`.
    pub member: String,
    /// The file under /boot the entry's `FDT` names, `dtbs-<suffix or
    /// release>/<fdt>`, written `<prefix>/<boot_path>` (`/boot` prefix when
    /// /boot is on the root partition, none when it is its own).
    pub boot_path: String,
}

impl FdtPlan {
    /// The `FDT` line of the entry, with the partition prefix of
    /// [`extlinux::boot_prefix`].
    pub fn line(&self, prefix: &str) -> String {
        format!("FDT {prefix}/{}", self.boot_path)
    }
}

/// The sign host's sshd as the target host reaches it (`install.copy: lan`).
#[derive(Debug, Clone)]
pub struct LanSource {
    pub user: String,
    pub address: String,
    pub port: u16,
    /// The sign host's keys from fleet/known_hosts, as lines for the alias
    /// [`SIGN_HOST_ALIAS`] (the target checks them strictly).
    pub known_hosts: String,
}

/// The name the target's scp checks the sign host's key under.
const SIGN_HOST_ALIAS: &str = "ka-sign-host";

/// The plan hash: what consent is bound to.
pub fn plan_hash(host: &str, package_b2sum: &str, boot_change: &str) -> String {
    let text =
        format!("ka-install plan\nhost {host}\npackage {package_b2sum}\nboot {boot_change}\n");
    ka_core::hash::b2sum(text.as_bytes())[..16].to_string()
}

/// Read the manifest and published.json of `host` and work out the plan.
pub fn plan(repo: &Path, layout: &Layout, host: &str) -> Result<Planned> {
    let (manifest, shown) = ka_schema::fleet::target(repo, host)?;
    let kernel = manifest.kernel.as_ref().ok_or_else(|| {
        usage(format!(
            "{shown} has no kernel: section: kernel-agent installs no kernel on {host}"
        ))
    })?;
    if manifest.ssh.is_none() {
        return Err(usage(format!(
            "{shown}: no ssh: section, so {host} cannot be reached: add ssh: {{ address: ..., user: ... }}"
        )));
    }
    match manifest.install.as_ref().map(|i| i.bootloader) {
        Some(Bootloader::Extlinux) => {}
        Some(Bootloader::Grub) => {
            return Err(usage(format!(
                "{shown}: install.bootloader grub is not supported by ka-install yet (extlinux only)"
            )));
        }
        None => {
            return Err(usage(format!(
                "{shown}: no install: section: add install: {{ mode: ..., bootloader: extlinux, initramfs: ... }}"
            )));
        }
    }
    let published_path = layout.published(host);
    if !published_path.exists() {
        // the gate's refusal comes before "run ka-publish first"
        let open = Store::local(layout).open_blocks()?;
        let in_way = ka_block::gate::halted_before(&open, Verb::Install, host, &[]);
        if !in_way.is_empty() {
            return Err(negative(format!(
                "{}; nothing was changed",
                ka_block::gate::refusal(&in_way, &format!("installs to {host}"))
            )));
        }
        return Err(usage(format!(
            "{host}: nothing published: {} does not exist; run `ka-publish {host}` first",
            published_path.display()
        )));
    }
    let publish: Publish = ka_core::stream::read_file(&published_path)?;
    let bad = |m: String| contract(format!("{}: {m}", published_path.display()));
    if publish.host != host {
        return Err(bad(format!("records host {:?}, not {host}", publish.host)));
    }
    if publish.status != Status::Done && publish.status != Status::Unchanged {
        return Err(bad("is not a successful publish".into()));
    }
    let package = publish
        .packages
        .iter()
        .find(|p| p.kernel)
        .cloned()
        .ok_or_else(|| bad("names no kernel package (kernel: true)".into()))?;
    ka_core::names::check_name("package", &package.package).map_err(|e| bad(e.to_string()))?;
    ka_notice::store::check_version(&package.version).map_err(|e| bad(e.to_string()))?;
    let label = kernel.pkgbase.clone();
    let fdt = manifest.fdt().map(|fdt| {
        let (member, boot_path) = match manifest.distro {
            Distro::Arch => (
                format!("boot/dtbs-{}/{fdt}", kernel.suffix),
                format!("dtbs-{}/{fdt}", kernel.suffix),
            ),
            // bindeb-pkg installs the dtbs under /usr/lib/linux-image-<release>/;
            // the release is checked below, before it is used
            Distro::Debian => {
                let release = package
                    .package
                    .strip_prefix("linux-image-")
                    .unwrap_or_default();
                (
                    format!("usr/lib/linux-image-{release}/{fdt}"),
                    format!("dtbs-{release}/{fdt}"),
                )
            }
        };
        FdtPlan {
            fdt: fdt.to_string(),
            manifest: shown.clone(),
            member,
            boot_path,
        }
    });
    let fdt_change = |how: &str| match &fdt {
        Some(f) => format!(", FDT {}{how}", f.boot_path),
        None => String::new(),
    };
    let (release, boot_change) = match manifest.distro {
        Distro::Debian => {
            let release = package
                .package
                .strip_prefix("linux-image-")
                .filter(|r| !r.is_empty())
                .ok_or_else(|| {
                    bad(format!(
                        "the kernel package {} is not a linux-image-<release> package",
                        package.package
                    ))
                })?
                .to_string();
            let change = format!(
                "extlinux.conf: managed block {label} (LINUX vmlinuz-{release}, INITRD initrd.img-{release} if the package makes one{}) written by ka-install; DEFAULT {label}",
                fdt_change(&format!(" copied from /usr/lib/linux-image-{release}/"))
            );
            (Some(release), change)
        }
        Distro::Arch => (
            None,
            match &fdt {
                Some(f) => format!(
                    "extlinux.conf: managed block {label} (FDT {}) written by the package's hook (ka-extlinux-{label}); DEFAULT {label}",
                    f.boot_path
                ),
                None => format!(
                    "extlinux.conf: managed block {label} written by the package's hook (ka-extlinux-{label}); DEFAULT {label}"
                ),
            },
        ),
    };
    let plan_hash = plan_hash(host, &package.b2sum, &boot_change);
    let lan = match manifest
        .install
        .as_ref()
        .map(|i| (i.copy, i.copy_from.clone()))
    {
        Some((CopyMode::Lan, from)) => Some(lan_source(repo, &shown, from)?),
        _ => None,
    };
    Ok(Planned {
        manifest,
        publish,
        package,
        label,
        release,
        boot_change,
        plan_hash,
        lan,
        fdt,
    })
}

/// `install.copy: lan`: the sign host's ssh user, its address as the target
/// sees it, and its keys from fleet/known_hosts (looked up at the address
/// this machine uses, by `ssh-keygen -F`, so hashed lines work too).
fn lan_source(repo: &Path, shown: &str, from: Option<CopyFrom>) -> Result<LanSource> {
    let keyring = repo.join("fleet/keyring.gpg");
    if !keyring.exists() {
        return Err(usage(format!(
            "{shown}: install.copy: lan sends {} to the host for its signature check, and it does not exist: export the fleet's public key into it (`gpg --export FPR > fleet/keyring.gpg`)",
            keyring.display()
        )));
    }
    let sign = ka_schema::fleet::sign_host(repo)?;
    let ssh = sign.ssh.as_ref().ok_or_else(|| {
        usage(format!(
            "{shown}: install.copy: lan needs the sign host's ssh: section (fleet/{}.yaml: {{ address, user }}), the account the host copies from",
            sign.host
        ))
    })?;
    let known = ka_schema::fleet::known_hosts(repo);
    let pattern = if ssh.port == 22 {
        ssh.address.clone()
    } else {
        format!("[{}]:{}", ssh.address, ssh.port)
    };
    let out = std::process::Command::new("ssh-keygen")
        .arg("-F")
        .arg(&pattern)
        .arg("-f")
        .arg(&known)
        .output()
        .map_err(|e| usage(format!("ssh-keygen: {e} (install openssh-client)")))?;
    let keys: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with('@'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 3).then(|| format!("{SIGN_HOST_ALIAS} {} {}\n", f[1], f[2]))
        })
        .collect();
    if keys.is_empty() {
        return Err(usage(format!(
            "{shown}: install.copy: lan: {} has no key for the sign host {} ({pattern}); add its line (ssh-keyscan, checked on its console)",
            known.display(),
            sign.host
        )));
    }
    let (address, port) = match from {
        Some(f) => (f.address, f.port),
        None => (ssh.address.clone(), ssh.port),
    };
    Ok(LanSource {
        user: ssh.user.clone(),
        address,
        port,
        known_hosts: keys.concat(),
    })
}

pub fn run() -> anyhow::Result<ExitCode> {
    let mut cli = Cli::parse();
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
    let layout = Layout::new(runtime_root(cli.root.as_deref())?);
    let repo = fleet_repo(cli.repo.as_deref())?;
    let host = cli.host.as_str();
    let planned = plan(&repo, &layout, host)?;
    let verify = planned.manifest.verify.clone();
    let heartbeat = cli
        .heartbeat
        .clone()
        .or_else(|| verify.as_ref().map(|v| v.heartbeat.clone()))
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
    let now = ka_core::time::now_epoch()?;
    let id = format!(
        "install-{host}-{}",
        ka_core::time::rfc3339(now).replace([':', '-'], "")
    );
    let mut doc = Install {
        kind: Default::default(),
        version: V1,
        host: host.to_string(),
        id: id.clone(),
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
            layout.backups().join(host).display()
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
    };
    let store = Store::open(&layout)?;
    let notices = NoticeStore::open(&layout)?;

    // gate
    let started = Instant::now();
    let open = store.open_blocks()?;
    let req = Request {
        host,
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
        doc.status = Status::Blocked;
        doc.failed_phase = Some(Phase::Gate);
        doc.message = format!(
            "{}; nothing was changed",
            ka_block::gate::refusal(&halted, &format!("installs to {host}"))
        );
        doc.blocks = in_way;
        return finish(&layout, &doc, false);
    }
    if let Some(p) = &cli.plan
        && !p.eq_ignore_ascii_case(&planned.plan_hash)
    {
        doc.status = Status::Blocked;
        doc.message = format!(
            "plan hash {p} does not match the plan now ({}): the package or the boot-config change is not what was shown; nothing was changed. Look again with `ka-install --confirm {host}`",
            planned.plan_hash
        );
        return finish(&layout, &doc, false);
    }
    let target = target_of(&repo, &layout, &planned.manifest)?;
    if cli.dry_run {
        // the backup folder is named after the running kernel: ask the host
        // if it answers quickly, but a dry run never needs it to
        let mut fdt_prefix = None;
        match Remote::connect(&target, Duration::from_secs(10))
            .map_err(String::from)
            .and_then(|r| {
                let facts = r.facts(Deadline::after(SHORT))?;
                if planned.fdt.is_some() {
                    // the partition prefix the entry will use, as boot-config finds it
                    fdt_prefix = r
                        .run(&["cat", "--", EXTLINUX_CONF], Deadline::after(SHORT))
                        .ok()
                        .map(|c| extlinux::boot_prefix(&String::from_utf8_lossy(&c)));
                }
                Ok(facts)
            }) {
            Ok(f) => {
                doc.backup = layout
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
        return finish(&layout, &doc, false);
    }

    let _lock = HostLock::acquire(
        &layout.host_lock(host),
        &format!("ka-install {host} ({id})"),
    )?;
    ka_core::crash::point("install:gate");
    let mut job = Job {
        doc,
        layout: &layout,
        repo: &repo,
        planned: &planned,
        target,
        heartbeat,
        touched: false,
        connected: false,
        host_key_refused: None,
        sign_host_key: None,
    };
    let converged = job.run();
    let (touched, connected, host_key_refused) =
        (job.touched, job.connected, job.host_key_refused.take());
    let sign_host_key = job.sign_host_key.take();
    let mut doc = job.doc;
    let subject = Subject::Host {
        host: host.to_string(),
    };
    if let Some(why) = &host_key_refused {
        doc.blocks
            .push(file_host_changed(&store, &repo, &doc, &doc.host, why)?);
    } else if connected {
        lift_host_changed(&store, &mut doc, host)?;
    }
    // the sign host's key, as fetch met it: filed or lifted for the sign host
    match sign_host_key {
        Some((sign, Err(why))) => doc
            .blocks
            .push(file_host_changed(&store, &repo, &doc, &sign, &why)?),
        Some((sign, Ok(()))) => lift_host_changed(&store, &mut doc, &sign)?,
        None => {}
    }
    if converged {
        record(&layout, &store, &notices, &planned, &mut doc)?;
        ka_core::crash::point("install:recorded");
    } else if touched && host_key_refused.is_some() {
        // The host rebooted and answered with another key: what it runs is
        // unknown, not known bad. Drift halts installs; no regression.
        let drift = store.file(
            BlockKind::HostDrifted,
            subject,
            &format!("{host} drifted: its host key changed during ka-install ({id})"),
            &format!(
                "ka-install {host} ({id}) installed {} {} and rebooted the host, which then answered with another host key, so what it booted is unproven.\n\n{}\n\nVerify the key on the host's console, update fleet/known_hosts, run `ka-verify {host}`, then `ka-block lift`.",
                doc.package, doc.package_version, doc.message
            ),
        )?;
        doc.blocks.push(drift.to_ref());
    } else if touched {
        let phase = doc.failed_phase.map_or("?", Phase::as_str);
        let detail = format!(
            "ka-install {host} ({id}) failed in phase {phase}: {}\n\nThe package {} {} went on; the host may not boot what was installed. Restore /boot from {} (see ka-install(1)), then triage and `ka-block lift`.",
            doc.message, doc.package, doc.package_version, doc.backup
        );
        let reg = store.file(
            BlockKind::Regression,
            subject.clone(),
            &format!("{host}: install of {} failed in phase {phase}", doc.package),
            &detail,
        )?;
        let drift = store.file(
            BlockKind::HostDrifted,
            subject,
            &format!("{host} drifted: install failed in phase {phase}"),
            &detail,
        )?;
        doc.blocks.extend([reg.to_ref(), drift.to_ref()]);
    }
    ka_block::mirror::try_flush(&store.mirror, &layout.root, "ka-install-run");
    ka_block::mirror::try_flush(&notices.mirror, &layout.root, "ka-install-run");
    finish(&layout, &doc, true)
}

fn finish(layout: &Layout, doc: &Install, ran: bool) -> anyhow::Result<ExitCode> {
    let mut doc = doc.clone();
    if ran {
        let path = layout.installs(&doc.host).join(format!("{}.json", doc.id));
        doc.files.push(path.clone());
        ka_core::atomic::write_json(&path, &doc)?;
    }
    if doc.status != Status::DryRun && doc.status != Status::Done {
        eprintln!("ka-install-run: {}: {}", doc.host, doc.message);
    }
    ka_core::stream::write_docs(std::slice::from_ref(&doc)).context("stdout")?;
    Ok(match doc.status {
        Status::Done | Status::DryRun | Status::Unchanged => ExitCode::Ok,
        _ => ExitCode::Negative,
    })
}

/// `host` (the target, or the sign host met by fetch) answered with a key
/// fleet/known_hosts does not have: file `[ka:host-changed]` for it (what
/// to check is in the detail).
fn file_host_changed(
    store: &Store,
    repo: &Path,
    doc: &Install,
    host: &str,
    why: &str,
) -> Result<BlockRef> {
    let b = store.file(
        BlockKind::HostChanged,
        Subject::Host {
            host: host.to_string(),
        },
        &format!("{host} host key changed"),
        &format!(
            "ka-install {} ({}), phase {}: {why}\n\nCheck the new key on {host} itself (its console: `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`), then replace its line in {}. The next strict connection to it lifts this block.",
            doc.host,
            doc.id,
            doc.failed_phase.map_or("-", Phase::as_str),
            ka_schema::fleet::known_hosts(repo).display()
        ),
    )?;
    Ok(b.to_ref())
}

/// A strict connection to `host` succeeded: a `[ka:host-changed]` of it is
/// over (its pre-flight re-passed).
fn lift_host_changed(store: &Store, doc: &mut Install, host: &str) -> Result<()> {
    if let Some(b) = store.lift_open(
        BlockKind::HostChanged,
        &Subject::Host {
            host: host.to_string(),
        },
        &format!("{host} answered with its known host key ({})", doc.id),
    )? {
        doc.lifted.push(b.to_ref());
    }
    Ok(())
}

fn target_of(repo: &Path, layout: &Layout, m: &HostManifest) -> Result<ka_run_remote::Target> {
    let ssh = m.ssh.as_ref().expect("checked in plan");
    let t = ka_run_remote::Target::from_transport(
        &Credentials::of_fleet(repo, layout)?.transport(&m.host, ssh, &ssh.user),
    )?;
    Ok(t.expect("an ssh transport"))
}

/// Where the package put the kernel image on the host, and the b2sum its
/// build job recorded for it (`None` when either is unknown): the Arch
/// package installs kbuild's image itself as `/boot/<image>-<suffix>`, and
/// Debian's x86_64 package installs bzImage as `/boot/vmlinuz-<release>`.
/// (Debian's arm64 package installs a compressed `Image.gz`, other bytes.)
fn installed_image(layout: &Layout, planned: &Planned) -> Option<(String, String)> {
    let m = &planned.manifest;
    let path = match (m.distro, m.arch) {
        (Distro::Arch, arch) => {
            let suffix = &m.kernel.as_ref()?.suffix;
            match arch {
                Arch::X86_64 => format!("/boot/vmlinuz-{suffix}"),
                Arch::Aarch64 => format!("/boot/Image-{suffix}"),
            }
        }
        (Distro::Debian, Arch::X86_64) => format!("/boot/vmlinuz-{}", planned.release.as_ref()?),
        (Distro::Debian, Arch::Aarch64) => return None,
    };
    let job: ka_schema::JobResult =
        ka_core::stream::read_file(&layout.job_record(&planned.publish.job)).ok()?;
    Some((path, job.image_b2sum?))
}

/// After a converged install: installed.json, the notice closed, drift lifted.
fn record(
    layout: &Layout,
    store: &Store,
    notices: &NoticeStore,
    planned: &Planned,
    doc: &mut Install,
) -> Result<()> {
    let host = doc.host.clone();
    let (image, image_b2sum) = installed_image(layout, planned).unzip();
    let installed = Installed {
        kind: Default::default(),
        version: V1,
        host: host.clone(),
        package: doc.package.clone(),
        package_version: doc.package_version.clone(),
        installed_at: ka_core::time::now_rfc3339()?,
        boot_id: doc.boot_id_after.clone(),
        job: Some(doc.id.clone()),
        lock_b2sum: None,
        image,
        image_b2sum,
    };
    let path = layout.installed(&host);
    ka_core::atomic::write_json(&path, &installed)?;
    doc.files.push(path);
    let subject = ka_schema::NoticeSubject::Package {
        host: host.clone(),
        package: planned.package.package.clone(),
        version: planned.package.version.clone(),
    };
    let nid = ka_notice::store::notice_id(ka_schema::NoticeKind::Installable, &subject);
    if notices.open_notices()?.iter().any(|n| n.id == nid) {
        notices.close(&nid, &format!("installed by ka-install ({})", doc.id))?;
        doc.notices.push(nid);
    }
    if let Some(b) = store.lift_open(
        BlockKind::HostDrifted,
        &Subject::Host { host: host.clone() },
        &format!("a later install converged ({})", doc.id),
    )? {
        doc.lifted.push(b.to_ref());
    }
    doc.status = Status::Done;
    doc.message = format!(
        "{host} runs {} ({} {}): boot_id changed, uname -r matches",
        doc.kernel_release, doc.package, doc.package_version
    );
    Ok(())
}

/// One install in progress.
struct Job<'a> {
    doc: Install,
    layout: &'a Layout,
    repo: &'a Path,
    planned: &'a Planned,
    target: ka_run_remote::Target,
    heartbeat: Span,
    /// The host was changed (the install phase began).
    touched: bool,
    /// The host answered with its known host key.
    connected: bool,
    /// The host answered with another host key: why.
    host_key_refused: Option<String>,
    /// The sign host, when fetch connected to it: whether it answered with
    /// its known key (`Ok`) or another (`Err(why)`).
    sign_host_key: Option<(String, std::result::Result<(), String>)>,
}

impl Job<'_> {
    /// Keep a host-key refusal apart; the message is the phase's failure.
    fn unreached(&mut self, e: ka_run_remote::ConnectError) -> String {
        if let ka_run_remote::ConnectError::HostKey(m) = &e {
            self.host_key_refused = Some(m.clone());
        }
        e.to_string()
    }

    /// Run `f` as phase `name`; its outcome becomes a phase line, and a
    /// failure stops the install with the phase named.
    fn phase<T>(
        &mut self,
        name: Phase,
        timeout: Duration,
        f: impl FnOnce(&mut Self, Deadline) -> std::result::Result<(T, String), String>,
    ) -> Option<T> {
        let started = Instant::now();
        let out = f(self, Deadline::after(timeout));
        let seconds = started.elapsed().as_secs_f64();
        let (ok, detail, value) = match out {
            Ok((v, d)) => (true, d, Some(v)),
            Err(e) => (false, e, None),
        };
        if !ok {
            self.doc.status = Status::Failed;
            self.doc.failed_phase = Some(name);
            self.doc.message = format!("phase {name} failed: {detail}");
        }
        self.doc.phases.push(InstallPhase {
            phase: name,
            ok,
            timeout_s: timeout.as_secs(),
            seconds,
            detail,
        });
        if ok {
            // between this phase and the next (the crash tests' steps)
            ka_core::crash::point(&format!("install:{name}"));
        }
        value
    }

    /// The whole install after the gate; true when it converged.
    fn run(&mut self) -> bool {
        let host = self.doc.host.clone();
        let staging = match tempfile::Builder::new()
            .prefix(".install-")
            .tempdir_in(ensure_dir(&self.layout.host_dir(&host)))
        {
            Ok(t) => t,
            Err(e) => {
                self.doc.status = Status::Failed;
                self.doc.failed_phase = Some(Phase::Fetch);
                self.doc.message = format!("phase fetch failed: a staging folder: {e}");
                return false;
            }
        };
        let pkg_name = file_name(&self.planned.package.file);
        let sig_name = file_name(&self.planned.package.signature);
        let local_pkg = staging.path().join(&pkg_name);
        let local_sig = staging.path().join(&sig_name);
        let planned = self.planned;
        let keyring = self.repo.join("fleet/keyring.gpg");
        if planned.lan.is_none() {
            if self
                .phase(Phase::Fetch, FETCH, |j, t| {
                    fetch(
                        j.repo,
                        j.layout,
                        planned,
                        &local_pkg,
                        &local_sig,
                        t,
                        &mut j.sign_host_key,
                    )
                })
                .is_none()
            {
                return false;
            }
            if self
                .phase(Phase::Signature, SIGNATURE, |_, t| {
                    verify_signature(&keyring, &local_sig, &local_pkg, &planned.publish.key, t)
                })
                .is_none()
            {
                // a bad signature is a refusal, as the gate's
                self.doc.status = Status::Blocked;
                return false;
            }
            if let Some(fdt) = &planned.fdt {
                let distro = planned.manifest.distro;
                let shown = planned.package.file.clone();
                if self
                    .phase(Phase::Package, CONTENTS, |_, t| {
                        let listing = list_local(distro, &local_pkg, t)?;
                        fdt_in_package(distro, &listing, &shown, fdt).map(|d| ((), d))
                    })
                    .is_none()
                {
                    // a package that cannot boot the board is refused, as a bad signature
                    self.doc.status = Status::Blocked;
                    return false;
                }
            }
        } else {
            // copy: lan: the host fetches the package and checks its
            // signature itself; it gets the keyring and the sign host's keys
            let ready = std::fs::copy(&keyring, staging.path().join("keyring.gpg"))
                .map_err(|e| format!("{}: {e}", keyring.display()))
                .and_then(|_| {
                    let lan = planned.lan.as_ref().expect("lan");
                    std::fs::write(staging.path().join("sign_known_hosts"), &lan.known_hosts)
                        .map_err(|e| e.to_string())
                });
            if let Err(e) = ready {
                self.doc.status = Status::Failed;
                self.doc.failed_phase = Some(Phase::Copy);
                self.doc.message = format!("phase copy failed: what the host needs: {e}");
                return false;
            }
        }
        let target = self.target.clone();
        let Some(remote) = self.phase(Phase::Connect, CONNECT, |j, t| {
            let r = Remote::connect(&target, t.left()?).map_err(|e| j.unreached(e))?;
            j.connected = true;
            let d = format!("{} answered", target.label());
            Ok((r, d))
        }) else {
            return false;
        };
        let Some(before) = self.phase(Phase::ConnectFacts, SHORT, |_, t| {
            let f = remote.facts(t)?;
            let d = format!("running {} (boot_id {})", f.release, f.boot_id);
            Ok((f, d))
        }) else {
            return false;
        };
        self.doc.previous_kernel = Some(before.release.clone());
        self.doc.boot_id_before = Some(before.boot_id.clone());
        let size = planned.package.size;
        let lan = planned.lan.is_some();
        // copy: lan with install.fdt: the package is listed on the host
        let lister = match (lan, &planned.fdt, planned.manifest.distro) {
            (true, Some(_), Distro::Arch) => Some("bsdtar"),
            (true, Some(_), Distro::Debian) => Some("dpkg-deb"),
            _ => None,
        };
        if self
            .phase(Phase::Preflight, SHORT, |_, t| {
                preflight(&remote, size, lan, lister, t)
            })
            .is_none()
        {
            return false;
        }
        let backup_dir = self.layout.backups().join(&host).join(&before.release);
        self.doc.backup = format!("{}/", backup_dir.display());
        if self
            .phase(Phase::Backup, BACKUP, |j, t| {
                backup(j, &remote, &backup_dir, &before.release, t)
            })
            .is_none()
        {
            return false;
        }
        let remote_dir = format!("{REMOTE_STAGING}/{}", self.doc.id);
        let remote_pkg = format!("{remote_dir}/{pkg_name}");
        if self
            .phase(Phase::Copy, COPY, |_, t| {
                copy(
                    &remote,
                    planned,
                    staging.path(),
                    &remote_dir,
                    &remote_pkg,
                    t,
                )
            })
            .is_none()
        {
            let _ = remote.run_root(&["rm", "-rf", "--", &remote_dir], Deadline::after(SHORT));
            return false;
        }
        if lan {
            let remote_sig = format!("{remote_dir}/{sig_name}");
            if self
                .phase(Phase::Signature, SIGNATURE, |_, t| {
                    signature_on_host(&remote, &remote_dir, &remote_sig, &remote_pkg, planned, t)
                })
                .is_none()
            {
                let _ = remote.run_root(&["rm", "-rf", "--", &remote_dir], Deadline::after(SHORT));
                self.doc.status = Status::Blocked;
                return false;
            }
            if let Some(fdt) = &planned.fdt {
                // the package is only on the host: list it there (bsdtar comes
                // with pacman, dpkg-deb with dpkg)
                let distro = planned.manifest.distro;
                let shown = planned.package.file.clone();
                if self
                    .phase(Phase::Package, CONTENTS, |_, t| {
                        let listing = list_remote(&remote, distro, &remote_pkg, t)?;
                        fdt_in_package(distro, &listing, &shown, fdt)
                            .map(|d| ((), format!("{d} (listed on the host)")))
                    })
                    .is_none()
                {
                    let _ =
                        remote.run_root(&["rm", "-rf", "--", &remote_dir], Deadline::after(SHORT));
                    self.doc.status = Status::Blocked;
                    return false;
                }
            }
        }
        self.touched = true;
        let distro = self.planned.manifest.distro;
        let Some(install_epoch) = self.phase(Phase::Install, INSTALL, |_, t| {
            install(&remote, distro, &remote_pkg, &planned.package.package, t)
        }) else {
            return false;
        };
        let _ = remote.run_root(&["rm", "-rf", "--", &remote_dir], Deadline::after(SHORT));
        let label = self.planned.label.clone();
        let Some(release) = self.phase(Phase::BootConfig, SHORT, |j, t| {
            let release = match &j.planned.release {
                Some(r) => r.clone(),
                None => remote.arch_release(&planned.package.package, t)?,
            };
            let d = boot_config(&remote, distro, &label, &release, planned.fdt.as_ref(), t)?;
            Ok((release, d))
        }) else {
            return false;
        };
        self.doc.kernel_release = release.clone();
        if self
            .phase(Phase::PreReboot, PRE_REBOOT, |_, t| {
                pre_reboot(&remote, &label, install_epoch, t)
            })
            .is_none()
        {
            return false;
        }
        if self
            .phase(Phase::Reboot, SHORT, |_, t| {
                remote.reboot(t);
                Ok(((), "reboot sent".to_string()))
            })
            .is_none()
        {
            return false;
        }
        drop(remote);
        let hb = self.heartbeat.get();
        let hb_text = self.heartbeat.to_string();
        let Some((back, after)) = self.phase(Phase::Heartbeat, hb, |j, t| {
            let (r, f, took) = Remote::back_within(&target, &before.boot_id, t.left()?)
                .map_err(|e| j.unreached(e))?;
            let d = format!(
                "SSH answered with a new boot_id {} after {:.1}s (limit {hb_text})",
                f.boot_id,
                took.as_secs_f64()
            );
            Ok(((r, f), d))
        }) else {
            return false;
        };
        self.doc.boot_id_after = Some(after.boot_id.clone());
        let dt: Vec<(String, String)> = self
            .planned
            .manifest
            .verify
            .as_ref()
            .map(|v| v.dt.clone().into_iter().collect())
            .unwrap_or_default();
        self.phase(Phase::Proof, SHORT, |_, t| {
            proof(&back, &after, &release, &dt, t)
        })
        .is_some()
    }
}

fn ensure_dir(p: &Path) -> &Path {
    let _ = std::fs::create_dir_all(p);
    p
}

fn file_name(path: &str) -> String {
    path.rsplit('/').next().unwrap_or(path).to_string()
}

/// Bring the package and its signature here, from the sign host.
fn fetch(
    repo: &Path,
    layout: &Layout,
    planned: &Planned,
    pkg: &Path,
    sig: &Path,
    d: Deadline,
    sign_host_key: &mut Option<(String, std::result::Result<(), String>)>,
) -> std::result::Result<((), String), String> {
    let sign = ka_schema::fleet::sign_host(repo).map_err(|e| e.to_string())?;
    let p = &planned.package;
    let local = sign.sign.as_ref().is_some_and(|s| s.local);
    if local {
        for (from, to) in [(&p.file, pkg), (&p.signature, sig)] {
            std::fs::copy(from, to).map_err(|e| format!("copy {from}: {e}"))?;
        }
    } else {
        let target = target_of(repo, layout, &sign).map_err(|e| e.to_string())?;
        let r = match Remote::connect(&target, d.left()?) {
            Ok(r) => r,
            Err(ka_run_remote::ConnectError::HostKey(why)) => {
                *sign_host_key = Some((sign.host.clone(), Err(why.clone())));
                return Err(format!("the sign host {}: {why}", sign.host));
            }
            Err(e) => return Err(e.into()),
        };
        *sign_host_key = Some((sign.host.clone(), Ok(())));
        r.fetch(&p.file, pkg, d)?;
        r.fetch(&p.signature, sig, d)?;
    }
    let bytes = std::fs::read(pkg).map_err(|e| format!("{}: {e}", pkg.display()))?;
    let got = ka_core::hash::b2sum(&bytes);
    if got != p.b2sum {
        return Err(format!(
            "{} from {} has b2sum {}, published.json says {}: damaged or replaced; not installing",
            p.file,
            sign.host,
            &got[..16],
            &p.b2sum[..16.min(p.b2sum.len())]
        ));
    }
    Ok((
        (),
        format!(
            "{} and its .sig from {}{} ({} bytes, b2sum matches)",
            p.file,
            sign.host,
            if local { " (local)" } else { " over SSH" },
            bytes.len()
        ),
    ))
}

/// gpgv against the fleet keyring in a throwaway GNUPGHOME; the good
/// signature must be by `fingerprint`.
pub fn verify_signature(
    keyring: &Path,
    sig: &Path,
    file: &Path,
    fingerprint: &str,
    d: Deadline,
) -> std::result::Result<((), String), String> {
    if !keyring.exists() {
        return Err(format!(
            "no fleet keyring {}: export the fleet's public key into it (`gpg --export {fingerprint} > fleet/keyring.gpg`)",
            keyring.display()
        ));
    }
    let home = tempfile::tempdir().map_err(|e| format!("a GNUPGHOME: {e}"))?;
    let keyring = std::path::absolute(keyring).map_err(|e| e.to_string())?;
    let mut child = std::process::Command::new("gpgv")
        .env("GNUPGHOME", home.path())
        .arg("--homedir")
        .arg(home.path())
        .arg("--status-fd")
        .arg("1")
        .arg("--keyring")
        .arg(&keyring)
        .arg(sig)
        .arg(file)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("gpgv: {e} (install gpgv)"))?;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if d.left().is_err() => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "gpgv did not finish within {}s",
                    d.limit().as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("gpgv: {e}")),
        }
    }
    let out = child.wait_with_output().map_err(|e| format!("gpgv: {e}"))?;
    judge_gpgv(
        out.status.success(),
        &String::from_utf8_lossy(&out.stdout),
        &String::from_utf8_lossy(&out.stderr),
        &file_name(&file.to_string_lossy()),
        &keyring.display().to_string(),
        fingerprint,
    )
    .map(|d| ((), d))
}

/// gpgv's verdict from its exit and `--status-fd` lines: a VALIDSIG by
/// `fingerprint`, or why not.
fn judge_gpgv(
    ok: bool,
    status: &str,
    stderr: &str,
    file: &str,
    keyring: &str,
    fingerprint: &str,
) -> std::result::Result<String, String> {
    let valid: Vec<&str> = status
        .lines()
        .filter_map(|l| l.strip_prefix("[GNUPG:] VALIDSIG "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    if !ok || valid.is_empty() {
        return Err(format!(
            "the signature of {file} does not verify against {keyring}: {}",
            stderr.lines().last().unwrap_or("gpgv failed").trim()
        ));
    }
    if !valid.iter().any(|v| v.eq_ignore_ascii_case(fingerprint)) {
        return Err(format!(
            "good signature, but by {} and not by the fleet key {fingerprint}",
            valid.join(", ")
        ));
    }
    Ok(format!("good signature by {fingerprint}"))
}

fn backup(
    j: &mut Job<'_>,
    remote: &Remote,
    dir: &Path,
    release: &str,
    d: Deadline,
) -> std::result::Result<((), String), String> {
    ka_core::names::check_name("kernel version", release).map_err(|e| e.to_string())?;
    let parent = dir.parent().expect("backups/<host>");
    std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    // as root: Debian's System.map-* and some initramfs are 0600
    let tgz = remote.run_root(&["tar", "-czf", "-", "-C", "/", "boot"], d)?;
    let tmp = parent.join(format!(".{release}.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let write = || -> Result<()> {
        std::fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        ka_core::atomic::create_synced(&tmp.join("boot.tgz"), &tgz)?;
        let record = Backup {
            kind: Default::default(),
            version: V1,
            host: j.doc.host.clone(),
            kernel_version: release.to_string(),
            created_at: ka_core::time::now_rfc3339()?,
            job: Some(j.doc.id.clone()),
            files: vec![Artifact {
                file: "boot.tgz".into(),
                size: tgz.len() as u64,
                b2sum: ka_core::hash::b2sum(&tgz),
            }],
        };
        ka_core::atomic::write_json(&tmp.join("backup.json"), &record)?;
        ka_core::atomic::sync_dir(&tmp)?;
        ka_core::atomic::replace_dir(&tmp, dir)
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e.to_string());
    }
    j.doc.files.push(dir.join("boot.tgz"));
    j.doc.files.push(dir.join("backup.json"));
    Ok((
        (),
        format!("/boot ({} bytes tgz) saved to {}", tgz.len(), dir.display()),
    ))
}

/// Before anything changes on the host: root works (`sudo -n` for a
/// non-root ssh user), the loader config is there, root can create files in
/// /boot, /boot/extlinux and the staging folder, and there is room for the
/// package in both. A refusal here leaves the host as it was.
fn preflight(
    remote: &Remote,
    package_size: u64,
    lan: bool,
    lister: Option<&str>,
    d: Deadline,
) -> std::result::Result<((), String), String> {
    remote.run_root(&["true"], d).map_err(|e| {
        format!("cannot act as root on the host ({e}): the ssh user needs root or passwordless sudo (`sudo -n`); nothing was changed")
    })?;
    if lan {
        let script = "for t do command -v \"$t\" >/dev/null || echo \"$t\"; done";
        let mut argv = vec!["sh", "-c", script, "sh", "scp", "gpgv", "b2sum"];
        argv.extend(lister);
        let out = remote.run(&argv, d)?;
        let missing = String::from_utf8_lossy(&out)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(", ");
        if !missing.is_empty() {
            return Err(format!(
                "install.copy: lan needs {missing} on the host (packages openssh-client, gpgv, coreutils{}); nothing was changed",
                match lister {
                    Some("bsdtar") => ", libarchive: it lists the package for install.fdt",
                    Some(_) => ", dpkg: it lists the package for install.fdt",
                    None => "",
                }
            ));
        }
    }
    let conf = "/boot/extlinux/extlinux.conf";
    if !remote.exists(conf, d)? {
        return Err(format!(
            "{conf} does not exist on the host: ka-install writes extlinux entries only; nothing was changed"
        ));
    }
    remote.run_root(&["mkdir", "-p", "--", REMOTE_STAGING], d)?;
    let dirs = ["/boot", "/boot/extlinux", REMOTE_STAGING];
    let bad = remote.not_writable(&dirs, d)?;
    if !bad.is_empty() {
        return Err(format!(
            "not writable on the host: {}; nothing was changed (remount read-write, then run ka-install again)",
            bad.iter()
                .map(|(d, why)| format!("{d} ({why})"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let mut room = Vec::new();
    for dir in ["/boot", REMOTE_STAGING] {
        let free = remote.free_bytes(dir, d)?;
        if free < package_size {
            return Err(format!(
                "{dir} has {} free on the host, less than the package's {}; nothing was changed (make room, then run ka-install again)",
                mib(free),
                mib(package_size)
            ));
        }
        room.push(format!("{dir} {} free", mib(free)));
    }
    Ok((
        (),
        format!(
            "root works; /boot, /boot/extlinux, {REMOTE_STAGING} writable; {}",
            room.join(", ")
        ),
    ))
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / 1048576.0)
}

/// The package into `remote_dir` on the host: uploaded from here (direct),
/// or copied by the host from the sign host (lan); its b2sum checked there.
fn copy(
    remote: &Remote,
    planned: &Planned,
    local_dir: &Path,
    remote_dir: &str,
    remote_pkg: &str,
    d: Deadline,
) -> std::result::Result<((), String), String> {
    remote.staging_dir(remote_dir, d)?;
    let moved = remote.upload(local_dir, remote_dir, d)?;
    let how = match &planned.lan {
        None => format!("{moved} bytes sent to {remote_dir}"),
        Some(lan) => {
            let p = &planned.package;
            let from = |f: &str| format!("{}@{}:{f}", lan.user, lan.address);
            let port = lan.port.to_string();
            let known = format!("UserKnownHostsFile={remote_dir}/sign_known_hosts");
            let alias = format!("HostKeyAlias={SIGN_HOST_ALIAS}");
            let (pkg, sig) = (from(&p.file), from(&p.signature));
            let argv = [
                "scp",
                "-q",
                "-B",
                "-P",
                &port,
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                &known,
                "-o",
                "GlobalKnownHostsFile=/dev/null",
                "-o",
                &alias,
                "-o",
                "ConnectTimeout=30",
                "--",
                &pkg,
                &sig,
                remote_dir,
            ];
            remote.run(&argv, d).map_err(|e| {
                format!(
                    "the host could not copy from the sign host {}@{}:{} ({e}); its ssh user's key must be in the sign host's authorized_keys",
                    lan.user, lan.address, lan.port
                )
            })?;
            format!(
                "{} bytes copied by the host from the sign host {}:{} over the LAN into {remote_dir}",
                p.size, lan.address, lan.port
            )
        }
    };
    let out = remote.run(&["b2sum", "--", remote_pkg], d)?;
    let got = String::from_utf8_lossy(&out);
    if got.split_whitespace().next() != Some(planned.package.b2sum.as_str()) {
        return Err(format!(
            "{remote_pkg} on the host does not have the published b2sum (damaged in transfer or replaced on the sign host); not installing"
        ));
    }
    Ok(((), format!("{how}; b2sum checked there")))
}

/// `copy: lan`: gpgv on the host, against the fleet keyring sent with the
/// copy, in a GNUPGHOME of its own; judged as [`verify_signature`] judges.
fn signature_on_host(
    remote: &Remote,
    remote_dir: &str,
    sig: &str,
    pkg: &str,
    planned: &Planned,
    d: Deadline,
) -> std::result::Result<((), String), String> {
    let script = "mkdir -m 700 \"$1/gnupg\" && exec gpgv --homedir \"$1/gnupg\" --status-fd 1 --keyring \"$1/keyring.gpg\" -- \"$2\" \"$3\"";
    let c = remote.capture(&["sh", "-c", script, "sh", remote_dir, sig, pkg], d)?;
    judge_gpgv(
        c.exit_code == Some(0),
        &String::from_utf8_lossy(&c.stdout),
        &String::from_utf8_lossy(&c.stderr),
        &file_name(pkg),
        "fleet/keyring.gpg (on the host)",
        &planned.publish.key,
    )
    .map(|d| ((), format!("{d} (gpgv on the host)")))
}

/// Install the package; returns the host's clock when it began.
fn install(
    remote: &Remote,
    distro: Distro,
    pkg: &str,
    name: &str,
    d: Deadline,
) -> std::result::Result<(i64, String), String> {
    let now = remote.run(&["date", "+%s"], d)?;
    let epoch: i64 = String::from_utf8_lossy(&now)
        .trim()
        .parse()
        .map_err(|_| "the host's `date +%s` is not a number".to_string())?;
    let argv: Vec<&str> = match distro {
        Distro::Debian => vec!["dpkg", "-i", "--", pkg],
        Distro::Arch => vec!["pacman", "-U", "--noconfirm", "--", pkg],
    };
    remote.run_root(&argv, d)?;
    Ok((epoch, format!("{} installed {name}", argv[0])))
}

fn boot_config(
    remote: &Remote,
    distro: Distro,
    label: &str,
    release: &str,
    fdt: Option<&FdtPlan>,
    d: Deadline,
) -> std::result::Result<String, String> {
    let conf_path = EXTLINUX_CONF;
    let conf = String::from_utf8(remote.run(&["cat", "--", conf_path], d)?)
        .map_err(|_| format!("{conf_path} is not UTF-8"))?;
    let entry = match distro {
        Distro::Debian => {
            let prefix = extlinux::boot_prefix(&conf);
            let initrd = format!("/boot/initrd.img-{release}");
            let has_initrd = remote.exists(&initrd, d)?;
            // install.fdt: bindeb-pkg puts the dtbs under
            // /usr/lib/linux-image-<release>/, which U-Boot cannot read when
            // /boot is its own partition. Always copying the one .dtb to
            // /boot/dtbs-<release>/ is correct for both layouts, so there is
            // one path shape (the Arch package's) and nothing to guess about
            // the partitions; the copy is ka-install's, as the block is.
            let fdt_path = match fdt {
                Some(f) => {
                    let from = format!("/{}", f.member);
                    let to = format!("/boot/{}", f.boot_path);
                    remote
                        .run_root(&["install", "-D", "-m", "0644", "--", &from, &to], d)
                        .map_err(|e| format!("copying the device tree {from} to {to}: {e}"))?;
                    Some(format!("{prefix}/{}", f.boot_path))
                }
                None => None,
            };
            Some(extlinux::Entry {
                label: label.to_string(),
                release: release.to_string(),
                kernel: format!("{prefix}/vmlinuz-{release}"),
                initrd: has_initrd.then(|| format!("{prefix}/initrd.img-{release}")),
                fdtdir: None,
                fdt: fdt_path,
            })
        }
        Distro::Arch => None,
    };
    let new = extlinux::update(&conf, label, entry.as_ref())?;
    if new == conf {
        return Ok(format!("{conf_path} already boots {label}"));
    }
    remote.write_file(conf_path, new.as_bytes(), d)?;
    Ok(format!(
        "{conf_path}: managed block {label}, DEFAULT {label}"
    ))
}

/// List the members of the package file here: `bsdtar -tf` (arch) or
/// `dpkg-deb -c` (debian), within the deadline.
fn list_local(distro: Distro, pkg: &Path, d: Deadline) -> std::result::Result<String, String> {
    use std::io::Read;
    let (tool, flag, hint) = match distro {
        Distro::Arch => ("bsdtar", "-tf", "libarchive-tools or libarchive"),
        Distro::Debian => ("dpkg-deb", "-c", "dpkg"),
    };
    let mut child = std::process::Command::new(tool)
        .arg(flag)
        .arg(pkg)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("{tool}: {e} (install {hint}): it lists the package to check install.fdt; nothing was changed"))?;
    // read while waiting: a kernel package lists thousands of files
    let mut stdout = child.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = stdout.read_to_end(&mut out);
        out
    });
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if d.left().is_err() => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{tool} {flag} did not finish within {}s; nothing was changed",
                    d.limit().as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("{tool}: {e}")),
        }
    };
    let out = reader.join().unwrap_or_default();
    if !status.success() {
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        return Err(format!(
            "{tool} {flag} {} failed: {}; nothing was changed",
            pkg.display(),
            err.lines().last().unwrap_or("no message").trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// `copy: lan`: list the package where it is, on the host.
fn list_remote(
    remote: &Remote,
    distro: Distro,
    pkg: &str,
    d: Deadline,
) -> std::result::Result<String, String> {
    let argv = match distro {
        Distro::Arch => ["bsdtar", "-tf", pkg],
        Distro::Debian => ["dpkg-deb", "-c", pkg],
    };
    remote
        .run(&argv, d)
        .map(|o| String::from_utf8_lossy(&o).into_owned())
        .map_err(|e| {
            format!(
                "{} {} on the host: {e}; nothing was changed",
                argv[0], argv[1]
            )
        })
}

/// The member paths of a listing: `bsdtar -tf` prints one per line,
/// `dpkg-deb -c` an `ls -l`-like line ending in `./path` (`./a -> b` for a link).
fn listed_paths(distro: Distro, listing: &str) -> impl Iterator<Item = &str> {
    listing.lines().filter_map(move |l| {
        let p = match distro {
            Distro::Arch => l,
            Distro::Debian => l.split_whitespace().nth(5)?,
        };
        Some(p.trim_start_matches("./").trim_start_matches('/'))
    })
}

/// Whether the package (its `listing`) holds the device tree install.fdt
/// names; the refusal names the package, the missing path and the setting.
pub fn fdt_in_package(
    distro: Distro,
    listing: &str,
    package_file: &str,
    fdt: &FdtPlan,
) -> std::result::Result<String, String> {
    if listed_paths(distro, listing).any(|p| p == fdt.member) {
        return Ok(format!(
            "{} holds {} (install.fdt: {})",
            file_name(package_file),
            fdt.member,
            fdt.fdt
        ));
    }
    Err(format!(
        "the package {package_file} does not contain {}, the device tree that install.fdt: {} in {} names; nothing was changed, the host's boot entry is as it was. Build a kernel whose config makes that .dtb (promote, build, publish again), or fix install.fdt",
        fdt.member, fdt.fdt, fdt.manifest
    ))
}

fn pre_reboot(
    remote: &Remote,
    label: &str,
    install_epoch: i64,
    d: Deadline,
) -> std::result::Result<((), String), String> {
    let conf =
        String::from_utf8_lossy(&remote.run(&["cat", "--", "/boot/extlinux/extlinux.conf"], d)?)
            .into_owned();
    let files = extlinux::named_files(&conf, label)?;
    let mut seen = Vec::new();
    for (k, p) in &files {
        let on_host = extlinux::on_host(p);
        if !remote.exists(&on_host, d)? {
            return Err(format!(
                "the {label} entry's {k} {p} does not exist on the host ({on_host}); not rebooting"
            ));
        }
        if k == "INITRD" {
            let m = remote.run(&["stat", "-c", "%Y", "--", &on_host], d)?;
            let mtime: i64 = String::from_utf8_lossy(&m).trim().parse().unwrap_or(0);
            if mtime < install_epoch {
                return Err(format!(
                    "the initramfs {on_host} is older than the install (it was not regenerated); not rebooting"
                ));
            }
        }
        seen.push(format!("{k} {p}"));
    }
    remote.run(&["sync"], d)?;
    Ok(((), format!("{} exist; synced", seen.join(", "))))
}

fn proof(
    remote: &Remote,
    after: &remote::Facts,
    release: &str,
    dt: &[(String, String)],
    d: Deadline,
) -> std::result::Result<((), String), String> {
    if after.release != release {
        return Err(format!(
            "the host came back running {}, not the installed {release}",
            after.release
        ));
    }
    let mut ok = vec![format!("uname -r {release}")];
    for (path, want) in dt {
        let got = remote.run(&["cat", "--", path], d)?;
        let got = String::from_utf8_lossy(&got);
        let got = got.trim_end_matches(['\0', '\n']);
        if got != want {
            return Err(format!("{path} is {got:?}, the manifest says {want:?}"));
        }
        ok.push(format!("{path} {want:?}"));
    }
    Ok(((), ok.join(", ")))
}
