//! One install in progress, after the gate: its phases in order, each a line
//! of the `ka.install` document, the first failure the one named.

use crate::REMOTE_STAGING;
use crate::host::{
    backup, boot_config, copy, install, list_remote, pre_reboot, preflight, proof, remove_staging,
    signature_on_host,
};
use crate::package::{fdt_in_package, fetch, file_name, list_local, verify_signature};
use crate::plan::{LanSource, Planned};
use crate::remote::{Deadline, Facts, Remote};
use ka_core::paths::Layout;
use ka_schema::{Distro, Install, InstallPhase, Phase, Span, Status};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const FETCH: Duration = Duration::from_secs(600);
const SIGNATURE: Duration = Duration::from_secs(60);
const CONNECT: Duration = Duration::from_secs(60);
const BACKUP: Duration = Duration::from_secs(600);
const COPY: Duration = Duration::from_secs(600);
const INSTALL: Duration = Duration::from_secs(900);
pub(crate) const SHORT: Duration = Duration::from_secs(60);
const PRE_REBOOT: Duration = Duration::from_secs(120);
const CONTENTS: Duration = Duration::from_secs(300);

/// One install in progress.
pub(crate) struct Job<'a> {
    doc: Install,
    layout: &'a Layout,
    repo: &'a Path,
    planned: &'a Planned,
    target: ka_run_remote::Target,
    heartbeat: Span,
    met: Met,
}

/// What an install met on its way, which decides what is filed and lifted
/// after it (see `outcome::settle`).
#[derive(Default)]
pub(crate) struct Met {
    /// The host was changed (the install phase began).
    pub(crate) touched: bool,
    /// The host answered with its known host key.
    pub(crate) connected: bool,
    /// The host answered with another host key: why.
    pub(crate) host_key_refused: Option<String>,
    /// The sign host, when fetch connected to it: whether it answered with
    /// its known key (`Ok`) or another (`Err(why)`).
    pub(crate) sign_host_key: Option<(String, std::result::Result<(), String>)>,
}

/// How an install ended: what is filed, lifted and recorded after it.
pub(crate) struct Ended {
    pub(crate) doc: Install,
    /// The host runs the package's kernel, proven.
    pub(crate) converged: bool,
    pub(crate) met: Met,
}

/// Where the package's files are: here in a staging folder (removed when
/// this is dropped), and on the host.
struct Staged {
    dir: tempfile::TempDir,
    local_pkg: PathBuf,
    local_sig: PathBuf,
    remote_dir: String,
    remote_pkg: String,
    remote_sig: String,
}

impl Staged {
    fn new(dir: tempfile::TempDir, planned: &Planned, id: &str) -> Staged {
        let pkg_name = file_name(&planned.package.file);
        let sig_name = file_name(&planned.package.signature);
        let remote_dir = format!("{REMOTE_STAGING}/{id}");
        Staged {
            local_pkg: dir.path().join(&pkg_name),
            local_sig: dir.path().join(&sig_name),
            remote_pkg: format!("{remote_dir}/{pkg_name}"),
            remote_sig: format!("{remote_dir}/{sig_name}"),
            remote_dir,
            dir,
        }
    }
}

fn ensure_dir(p: &Path) -> &Path {
    let _ = std::fs::create_dir_all(p);
    p
}

impl<'a> Job<'a> {
    pub(crate) fn new(
        doc: Install,
        layout: &'a Layout,
        repo: &'a Path,
        planned: &'a Planned,
        target: ka_run_remote::Target,
        heartbeat: Span,
    ) -> Job<'a> {
        Job {
            doc,
            layout,
            repo,
            planned,
            target,
            heartbeat,
            met: Met::default(),
        }
    }

    /// Keep a host-key refusal apart; the message is the phase's failure.
    fn unreached(&mut self, e: ka_run_remote::ConnectError) -> String {
        if let ka_run_remote::ConnectError::HostKey(m) = &e {
            self.met.host_key_refused = Some(m.clone());
        }
        e.to_string()
    }

    /// The install stops, failed in phase `name`: the one way a failure is
    /// written into the document.
    fn fail(&mut self, name: Phase, detail: &str) {
        self.doc.status = Status::Failed;
        self.doc.failed_phase = Some(name);
        self.doc.message = format!("phase {name} failed: {detail}");
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
            self.fail(name, &detail);
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

    /// As [`Job::phase`], for a check of the package itself: its failure is
    /// a refusal (status blocked), as the gate's, not a failed install.
    fn check<T>(
        &mut self,
        name: Phase,
        timeout: Duration,
        f: impl FnOnce(&mut Self, Deadline) -> std::result::Result<(T, String), String>,
    ) -> Option<T> {
        let value = self.phase(name, timeout, f);
        if value.is_none() {
            self.doc.status = Status::Blocked;
        }
        value
    }

    /// The whole install after the gate.
    pub(crate) fn run(mut self) -> Ended {
        let converged = self.phases().is_some();
        Ended {
            doc: self.doc,
            converged,
            met: self.met,
        }
    }

    /// The phases in order; `None` as soon as one fails (the document says
    /// which and why).
    fn phases(&mut self) -> Option<()> {
        let staged = self.stage()?;
        let planned = self.planned;
        match &planned.lan {
            None => self.check_here(&staged)?,
            Some(lan) => self.ready_for_lan(&staged, lan)?,
        }
        let (remote, before) = self.connect()?;
        self.prepare_host(&remote, &before, &staged)?;
        let release = self.change_host(&remote, &staged)?;
        self.reboot_and_prove(remote, &before, &release)
    }

    /// The staging folder here, under the host's runtime folder.
    fn stage(&mut self) -> Option<Staged> {
        let host_dir = self.layout.host_dir(&self.doc.host);
        match tempfile::Builder::new()
            .prefix(".install-")
            .tempdir_in(ensure_dir(&host_dir))
        {
            Ok(dir) => Some(Staged::new(dir, self.planned, &self.doc.id)),
            Err(e) => {
                self.fail(Phase::Fetch, &format!("a staging folder: {e}"));
                None
            }
        }
    }

    /// fetch, signature and package: the package here, checked before the
    /// host is touched.
    fn check_here(&mut self, staged: &Staged) -> Option<()> {
        let planned = self.planned;
        let (pkg, sig) = (&staged.local_pkg, &staged.local_sig);
        self.phase(Phase::Fetch, FETCH, |j, t| {
            fetch(
                j.repo,
                j.layout,
                planned,
                pkg,
                sig,
                t,
                &mut j.met.sign_host_key,
            )
        })?;
        let keyring = self.repo.join("fleet/keyring.gpg");
        // a bad signature is a refusal, as the gate's
        self.check(Phase::Signature, SIGNATURE, |_, t| {
            verify_signature(&keyring, sig, pkg, &planned.publish.key, t)
        })?;
        if let Some(fdt) = &planned.fdt {
            let distro = planned.manifest.distro;
            let shown = planned.package.file.clone();
            // a package that cannot boot the board is refused, as a bad signature
            self.check(Phase::Package, CONTENTS, |_, t| {
                let listing = list_local(distro, pkg, t)?;
                fdt_in_package(distro, &listing, &shown, fdt).map(|d| ((), d))
            })?;
        }
        Some(())
    }

    /// copy: lan: the host fetches the package and checks its signature
    /// itself; it gets the keyring and the sign host's keys.
    fn ready_for_lan(&mut self, staged: &Staged, lan: &LanSource) -> Option<()> {
        let keyring = self.repo.join("fleet/keyring.gpg");
        let ready = std::fs::copy(&keyring, staged.dir.path().join("keyring.gpg"))
            .map_err(|e| format!("{}: {e}", keyring.display()))
            .and_then(|_| {
                std::fs::write(staged.dir.path().join("sign_known_hosts"), &lan.known_hosts)
                    .map_err(|e| e.to_string())
            });
        if let Err(e) = ready {
            self.fail(Phase::Copy, &format!("what the host needs: {e}"));
            return None;
        }
        Some(())
    }

    /// connect and connect-facts: the host answers with its known key, and
    /// says what it runs before the install.
    fn connect(&mut self) -> Option<(Remote, Facts)> {
        let target = self.target.clone();
        let remote = self.phase(Phase::Connect, CONNECT, |j, t| {
            let r = Remote::connect(&target, t.left()?).map_err(|e| j.unreached(e))?;
            j.met.connected = true;
            let d = format!("{} answered", target.label());
            Ok((r, d))
        })?;
        let before = self.phase(Phase::ConnectFacts, SHORT, |_, t| {
            let f = remote.facts(t)?;
            let d = format!("running {} (boot_id {})", f.release, f.boot_id);
            Ok((f, d))
        })?;
        self.doc.previous_kernel = Some(before.release.clone());
        self.doc.boot_id_before = Some(before.boot_id.clone());
        Some((remote, before))
    }

    /// preflight, backup and copy (with copy: lan, the signature and package
    /// checks on the host too): all before the host's kernel or boot config
    /// changes.
    fn prepare_host(&mut self, remote: &Remote, before: &Facts, staged: &Staged) -> Option<()> {
        let planned = self.planned;
        let size = planned.package.size;
        let lan = planned.lan.is_some();
        // copy: lan with install.fdt: the package is listed on the host
        let lister = match (lan, &planned.fdt, planned.manifest.distro) {
            (true, Some(_), Distro::Arch) => Some("bsdtar"),
            (true, Some(_), Distro::Debian) => Some("dpkg-deb"),
            _ => None,
        };
        self.phase(Phase::Preflight, SHORT, |_, t| {
            preflight(remote, size, lan, lister, t)
        })?;
        let backup_dir = self
            .layout
            .backups()
            .join(&self.doc.host)
            .join(&before.release);
        self.doc.backup = format!("{}/", backup_dir.display());
        self.phase(Phase::Backup, BACKUP, |j, t| {
            backup(&mut j.doc, remote, &backup_dir, &before.release, t)
        })?;
        let copied = self.phase(Phase::Copy, COPY, |_, t| {
            let (dir, pkg) = (&staged.remote_dir, &staged.remote_pkg);
            copy(remote, planned, staged.dir.path(), dir, pkg, t)
        });
        if copied.is_none() {
            remove_staging(remote, &staged.remote_dir);
            return None;
        }
        if lan {
            self.check_on_host(remote, staged)?;
        }
        Some(())
    }

    /// copy: lan: signature and package, as [`Job::check_here`] checks
    /// them, where the package is: on the host.
    fn check_on_host(&mut self, remote: &Remote, staged: &Staged) -> Option<()> {
        let planned = self.planned;
        let (dir, pkg) = (&staged.remote_dir, &staged.remote_pkg);
        let mut checked = self.check(Phase::Signature, SIGNATURE, |_, t| {
            signature_on_host(remote, dir, &staged.remote_sig, pkg, planned, t)
        });
        if checked.is_some()
            && let Some(fdt) = &planned.fdt
        {
            // the package is only on the host: list it there (bsdtar comes
            // with pacman, dpkg-deb with dpkg)
            let distro = planned.manifest.distro;
            let shown = planned.package.file.clone();
            checked = self.check(Phase::Package, CONTENTS, |_, t| {
                let listing = list_remote(remote, distro, pkg, t)?;
                fdt_in_package(distro, &listing, &shown, fdt)
                    .map(|d| ((), format!("{d} (listed on the host)")))
            });
        }
        if checked.is_none() {
            remove_staging(remote, dir);
        }
        checked
    }

    /// install, boot-config and pre-reboot: the host changes. Returns the
    /// kernel release installed.
    fn change_host(&mut self, remote: &Remote, staged: &Staged) -> Option<String> {
        self.met.touched = true;
        let planned = self.planned;
        let distro = planned.manifest.distro;
        let install_epoch = self.phase(Phase::Install, INSTALL, |_, t| {
            install(
                remote,
                distro,
                &staged.remote_pkg,
                &planned.package.package,
                t,
            )
        })?;
        remove_staging(remote, &staged.remote_dir);
        let label = planned.label.clone();
        let release = self.phase(Phase::BootConfig, SHORT, |j, t| {
            let release = match &j.planned.release {
                Some(r) => r.clone(),
                None => remote.arch_release(&planned.package.package, t)?,
            };
            let d = boot_config(remote, distro, &label, &release, planned.fdt.as_ref(), t)?;
            Ok((release, d))
        })?;
        self.doc.kernel_release = release.clone();
        self.phase(Phase::PreReboot, PRE_REBOOT, |_, t| {
            pre_reboot(remote, &label, install_epoch, t)
        })?;
        Some(release)
    }

    /// reboot, heartbeat and proof: the host comes back with a new boot_id
    /// and runs `release`.
    fn reboot_and_prove(&mut self, remote: Remote, before: &Facts, release: &str) -> Option<()> {
        self.phase(Phase::Reboot, SHORT, |_, t| {
            remote.reboot(t);
            Ok(((), "reboot sent".to_string()))
        })?;
        drop(remote);
        let target = self.target.clone();
        let hb = self.heartbeat.get();
        let hb_text = self.heartbeat.to_string();
        let (back, after) = self.phase(Phase::Heartbeat, hb, |j, t| {
            let (r, f, took) = Remote::back_within(&target, &before.boot_id, t.left()?)
                .map_err(|e| j.unreached(e))?;
            let d = format!(
                "SSH answered with a new boot_id {} after {:.1}s (limit {hb_text})",
                f.boot_id,
                took.as_secs_f64()
            );
            Ok(((r, f), d))
        })?;
        self.doc.boot_id_after = Some(after.boot_id.clone());
        let dt: Vec<(String, String)> = self
            .planned
            .manifest
            .verify
            .as_ref()
            .map(|v| v.dt.clone().into_iter().collect())
            .unwrap_or_default();
        self.phase(Phase::Proof, SHORT, |_, t| {
            proof(&back, &after, release, &dt, t)
        })
    }
}
