//! One publish: a build job's packages to the sign host, signed, into the
//! repository; blocks and notices filed or lifted. The work on the sign host
//! is one constant script ([`crate::SCRIPT`]) run through ka-run-remote.

mod report;

pub use report::{EXIT_BUSY, EXIT_REPO, EXIT_SIGNING, EXIT_TRANSFER};

use crate::packages::{self, Package, arch_names};
use ka_block::gate::{Request, blocking};
use ka_block::store::Store;
use ka_core::error::{Error, Result, usage};
use ka_core::paths::Layout;
use ka_notice::NoticeStore;
use ka_run_remote::remote::{Credentials, Remote};
use ka_schema::{
    BlockKind, BlockRef, Job, JobResult, NoticeKind, NoticeSubject, Publish, PublishedPackage,
    PublishedRepo, Status, Subject, Transport, V1, Verb, VerbResult,
};
use ka_schema::{Distro, HostManifest, SignSpec, Span};
use report::{ScriptReport, describe, read_report};
use std::path::{Path, PathBuf};

/// How long the sign host may take, and may stay silent.
/// What a job on the sign host may take: its wall clock, and its stall.
fn wall_clock() -> Span {
    Span::hours(1)
}
fn stall() -> Span {
    Span::minutes(15)
}

pub struct Publisher<'a, R: Remote> {
    pub remote: R,
    pub layout: &'a Layout,
    pub store: &'a Store,
    pub notices: &'a NoticeStore,
    pub credentials: Credentials,
    /// The manifest of the host with `sign:`.
    pub sign_host: &'a HostManifest,
    pub dry_run: bool,
}

/// Where a target's packages go.
struct Destination {
    live: String,
    /// pacman repository name or apt suite.
    name: String,
    /// The folder below `live` the package files go into.
    package_dir: String,
    /// The script's mode and trailing arguments.
    mode: &'static str,
    arch: String,
    extra: Vec<String>,
}

/// One publish under way: the build job, its packages, and where they go.
struct Batch<'j> {
    spec: SignSpec,
    dest: Destination,
    pkgs: Vec<Package>,
    target: &'j HostManifest,
    job: &'j JobResult,
}

/// Why the gate refuses to sign: the blocks in the way and what lifts them.
pub fn halted_message(in_the_way: &[&ka_schema::Block]) -> String {
    format!(
        "signing is halted by {}; once the key works again, `ka-publish --check` tests it and lifts the block",
        in_the_way
            .iter()
            .map(|b| b.id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// A compact UTC time (`20260518T120000Z`), from `KA_NOW` when set.
fn stamp() -> Result<String> {
    Ok(ka_core::time::rfc3339(ka_core::time::now_epoch()?)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect())
}

impl<R: Remote> Publisher<'_, R> {
    fn spec(&self) -> &SignSpec {
        self.sign_host
            .sign
            .as_ref()
            .expect("the sign host has sign:")
    }

    fn transport(&self) -> Transport {
        let h = self.sign_host;
        match (&h.ssh, self.spec().local) {
            (Some(ssh), false) => self.credentials.transport(&h.host, ssh, &ssh.user),
            // HostManifest::load refuses a sign host with neither.
            _ => Transport::Local,
        }
    }

    /// A job on the sign host. Its id tags every process it starts (see
    /// ka-run-remote), so it must be unique to this run: the time and our pid.
    fn job(&self, what: &str, stamp: &str, argv: Vec<String>, log: PathBuf) -> Job {
        Job {
            kind: Default::default(),
            version: V1,
            id: format!("{what}-{stamp}-{}", std::process::id()),
            transport: self.transport(),
            argv,
            cwd: None,
            env: Default::default(),
            wall_clock: wall_clock(),
            stall: stall(),
            log,
        }
    }

    fn destination(&self, target: &HostManifest) -> Result<Destination> {
        let spec = self.spec();
        let (pacman_arch, deb_arch) = arch_names(target.arch);
        match target.distro {
            Distro::Arch => {
                let r = spec.pacman.as_ref().ok_or_else(|| {
                    usage(format!(
                        "{} is an arch host, but the sign host {} has no sign.pacman repository; add sign.pacman: {{ name, root }} to fleet/{}.yaml",
                        target.host, self.sign_host.host, self.sign_host.host
                    ))
                })?;
                Ok(Destination {
                    live: format!("{}/{pacman_arch}", r.root),
                    name: r.name.clone(),
                    package_dir: String::new(),
                    mode: "pacman",
                    arch: pacman_arch.into(),
                    extra: Vec::new(),
                })
            }
            Distro::Debian => {
                let r = spec.apt.as_ref().ok_or_else(|| {
                    usage(format!(
                        "{} is a debian host, but the sign host {} has no sign.apt repository; add sign.apt: {{ root, suite }} to fleet/{}.yaml",
                        target.host, self.sign_host.host, self.sign_host.host
                    ))
                })?;
                Ok(Destination {
                    live: r.root.clone(),
                    name: r.suite.clone(),
                    package_dir: format!("pool/{}/", r.component),
                    mode: "apt",
                    arch: deb_arch.into(),
                    extra: vec![r.component.clone(), r.origin.clone()],
                })
            }
        }
    }

    /// Publish the packages of the successful build `job` for `target`.
    /// `Err` only for failures on our side or bad input (nothing is written
    /// then); a refusal or a failure on the sign host is a `Publish` whose
    /// status says so.
    pub fn publish(&mut self, target: &HostManifest, job: &JobResult) -> Result<Publish> {
        let batch = Batch {
            spec: self.spec().clone(),
            dest: self.destination(target)?,
            pkgs: packages::select(&self.layout.output(&job.id), target, &job.id)?,
            target,
            job,
        };
        let mut doc = self.planned(&batch);
        if self.halted(&batch, &mut doc)? {
            return Ok(doc);
        }
        if self.dry_run {
            self.would_publish(&batch, &mut doc);
            return Ok(doc);
        }
        let staging = format!("{}/{}", batch.spec.staging, job.id);
        if !self.upload(&batch, &staging, &mut doc)? {
            return Ok(doc);
        }
        ka_core::crash::point("publish:uploaded");
        let r = self.sign(&batch, staging)?;
        ka_core::crash::point("publish:signed");
        let report = read_report(&r.log)?;
        doc.files.push(r.log.clone());
        doc.repo.generation = report.generation.clone();
        if !r.ok() {
            self.failed(&batch, &r, &report, &mut doc)?;
            return Ok(doc);
        }
        self.swapped_in(&batch, &report, &mut doc)?;
        doc.notices.push(self.notice_installable(&batch)?);
        ka_core::crash::point("publish:noticed");
        let latest = self.layout.published(&target.host);
        doc.files.push(self.layout.publish_record(&job.id));
        doc.files.push(latest.clone());
        ka_core::atomic::write_json(&self.layout.publish_record(&job.id), &doc)?;
        ka_core::crash::point("publish:recorded");
        ka_core::atomic::write_json(&latest, &doc)?;
        Ok(doc)
    }

    /// The publish document as planned: where each package goes, nothing
    /// done yet.
    fn planned(&self, b: &Batch) -> Publish {
        let (target, dest) = (b.target, &b.dest);
        Publish {
            kind: Default::default(),
            version: V1,
            host: target.host.clone(),
            job: b.job.id.clone(),
            status: Status::Done,
            message: String::new(),
            sign_host: self.sign_host.host.clone(),
            key: b.spec.key.clone(),
            repo: PublishedRepo {
                distro: target.distro,
                arch: target.arch,
                path: dest.live.clone(),
                name: dest.name.clone(),
                generation: None,
            },
            packages: b
                .pkgs
                .iter()
                .map(|p| {
                    let file = format!("{}/{}{}", dest.live, dest.package_dir, p.file_name);
                    PublishedPackage {
                        package: p.package.clone(),
                        version: p.version.clone(),
                        arch: p.arch.clone(),
                        signature: format!("{file}.sig"),
                        file,
                        size: p.size,
                        b2sum: p.b2sum.clone(),
                        kernel: p.kernel,
                    }
                })
                .collect(),
            published: Vec::new(),
            files: Vec::new(),
            blocks: Vec::new(),
            notices: Vec::new(),
        }
    }

    /// Whether the gate halts signing for the target; `doc` then says by
    /// which blocks.
    fn halted(&self, b: &Batch, doc: &mut Publish) -> Result<bool> {
        let open = self.store.open_blocks()?;
        let req = Request {
            host: &b.target.host,
            build_host: None,
            patches: &[],
        };
        let in_the_way = blocking(&open, Verb::Sign, &req);
        if in_the_way.is_empty() {
            return Ok(false);
        }
        doc.status = Status::Blocked;
        doc.blocks = in_the_way.iter().map(|b| b.to_ref()).collect();
        doc.message = halted_message(&in_the_way);
        Ok(true)
    }

    /// The dry run's answer: what would be copied where and signed with what.
    fn would_publish(&self, b: &Batch, doc: &mut Publish) {
        let to = match self.transport() {
            Transport::Local => "this machine".to_string(),
            Transport::Ssh { host, .. } => host,
        };
        doc.status = Status::DryRun;
        doc.message = format!(
            "would copy {} package(s) of job {} to {} ({to}), sign them with {} and publish them into {}",
            b.pkgs.len(),
            b.job.id,
            self.sign_host.host,
            b.spec.key,
            b.dest.live
        );
    }

    /// Copy the packages and their B2SUMS to `staging` on the sign host.
    /// `false` when the sign host's key changed: nothing was sent, and `doc`
    /// says so and is recorded.
    fn upload(&mut self, b: &Batch, staging: &str, doc: &mut Publish) -> Result<bool> {
        let job = &b.job.id;
        let upload = self.layout.publish_upload(job);
        stage_upload(&upload, &b.pkgs)?;
        let transport = self.transport();
        let sent = self.remote.upload(&transport, &upload, staging, &[]);
        let _ = std::fs::remove_dir_all(&upload);
        match sent {
            Err(e) if ka_run_remote::is_host_key_error(&e) => {
                doc.status = Status::Failed;
                doc.blocks.push(self.file_host_changed(&e.to_string())?);
                doc.message =
                    format!("publishing job {job} failed: {e}; nothing was sent or signed");
                doc.files.push(self.layout.publish_record(job));
                ka_core::atomic::write_json(&self.layout.publish_record(job), doc)?;
                Ok(false)
            }
            Err(e) => Err(e),
            Ok(_) => {
                self.lift_host_changed(&format!("job {job} uploaded"))?;
                Ok(true)
            }
        }
    }

    /// The sign script on the sign host: check the upload, sign it, and swap
    /// the repository in (or leave it as it was).
    fn sign(&mut self, b: &Batch, staging: String) -> Result<JobResult> {
        let (spec, dest) = (&b.spec, &b.dest);
        let stamp = stamp()?;
        let log = self
            .layout
            .logs()
            .join(&self.sign_host.host)
            .join(&b.job.id)
            .join(format!("publish-{stamp}-{}.log", std::process::id()));
        let mut argv: Vec<String> = vec![
            "sh".into(),
            "-c".into(),
            crate::SCRIPT.into(),
            "ka-sign".into(),
            "publish".into(),
            dest.mode.into(),
            spec.gnupghome.clone(),
            spec.key.clone(),
            staging,
            dest.live.clone(),
            dest.name.clone(),
            dest.arch.clone(),
            spec.keep.to_string(),
            stamp.clone(),
        ];
        argv.extend(dest.extra.iter().cloned());
        self.remote.run(&self.job("publish", &stamp, argv, log))
    }

    /// The repository took the packages (or had them already, byte for
    /// byte): `doc` says which; a signing that worked lifts
    /// `[ka:signing-fail]`.
    fn swapped_in(&self, b: &Batch, report: &ScriptReport, doc: &mut Publish) -> Result<()> {
        let dest = &b.dest;
        if report.unchanged {
            doc.status = Status::Unchanged;
            doc.message = format!(
                "every package of job {} is already in {}:{}, byte for byte",
                b.job.id, self.sign_host.host, dest.live
            );
            return Ok(());
        }
        doc.published = report
            .wrote
            .iter()
            .map(|w| format!("{}/{w}", dest.live))
            .collect();
        doc.message = format!(
            "signed {} package(s) with {} and published them into {}:{} (generation {})",
            b.pkgs.len(),
            b.spec.key,
            self.sign_host.host,
            dest.live,
            report.generation.as_deref().unwrap_or("?")
        );
        self.lift_signing_fail(&format!("job {} signed and published", b.job.id))?;
        Ok(())
    }

    /// File the `installable` notice for the kernel package; returns its id.
    fn notice_installable(&self, b: &Batch) -> Result<String> {
        let kernel = b.pkgs.iter().find(|p| p.kernel).expect("select() checked");
        let (notice, _) = self.notices.file(
            NoticeKind::Installable,
            NoticeSubject::Package {
                host: b.target.host.clone(),
                package: kernel.package.clone(),
                version: kernel.version.clone(),
            },
            &format!(
                "{} {} is published in {}:{} (job {}); install it with `ka-install {}`",
                kernel.package,
                kernel.version,
                self.sign_host.host,
                b.dest.live,
                b.job.id,
                b.target.host
            ),
        )?;
        Ok(notice.id)
    }

    /// The sign script failed: the repository was left as it was. File what
    /// the failure calls for (a changed host key, a signing that failed),
    /// say why in `doc`, and record it.
    fn failed(
        &self,
        b: &Batch,
        r: &JobResult,
        report: &ScriptReport,
        doc: &mut Publish,
    ) -> Result<()> {
        let (job, dest) = (&b.job.id, &b.dest);
        doc.status = Status::Failed;
        let why = describe(r, report);
        if ka_run_remote::is_host_key_refusal(r) {
            doc.blocks.push(self.file_host_changed(&why)?);
        }
        if let Some(block) = self.file_signing_fail(
            r,
            &why,
            &format!(
                "the repository {} was left as it was. Fix the key, then run `ka-publish --check`: a signing that works lifts this block.",
                dest.live
            ),
        )? {
            doc.blocks.push(block);
        }
        doc.message = format!(
            "publishing job {} failed on {}: {why}; the repository {} was left as it was (log {})",
            job,
            self.sign_host.host,
            dest.live,
            r.log.display()
        );
        doc.files.push(self.layout.publish_record(job));
        ka_core::atomic::write_json(&self.layout.publish_record(job), doc)?;
        Ok(())
    }

    /// Test signing on the sign host (key there, usable, signature verifies);
    /// a signing that works lifts `[ka:signing-fail]`, one that fails files it.
    pub fn check(&mut self) -> Result<VerbResult> {
        let spec = self.spec().clone();
        let stamp = stamp()?;
        let log = self
            .layout
            .logs()
            .join(&self.sign_host.host)
            .join(format!("sign-check-{stamp}-{}.log", std::process::id()));
        let argv = vec![
            "sh".into(),
            "-c".into(),
            crate::SCRIPT.into(),
            "ka-sign".into(),
            "check".into(),
            spec.gnupghome.clone(),
            spec.key.clone(),
            spec.staging.clone(),
        ];
        let r = self
            .remote
            .run(&self.job("sign-check", &stamp, argv, log))?;
        let report = read_report(&r.log)?;
        let mut result = VerbResult {
            kind: Default::default(),
            version: V1,
            verb: "sign-check".into(),
            host: self.sign_host.host.clone(),
            status: Status::Done,
            message: String::new(),
            files: vec![r.log.clone()],
            blocks: Vec::new(),
            lock: None,
            verdicts: Vec::new(),
            job: None,
            build_host: None,
            config: None,
        };
        if r.transport_error.is_none() {
            self.lift_host_changed("ka-publish --check reached it")?;
        }
        if r.ok() {
            let lifted = self.lift_signing_fail("ka-publish --check: signing works again")?;
            result.message = format!(
                "signing works: {} in {}{}",
                spec.key,
                spec.gnupghome,
                if lifted.is_empty() {
                    String::new()
                } else {
                    format!("; lifted {}", lifted[0].id)
                }
            );
            result.blocks = lifted;
            return Ok(result);
        }
        result.status = Status::Failed;
        let why = describe(&r, &report);
        if ka_run_remote::is_host_key_refusal(&r) {
            result.blocks.push(self.file_host_changed(&why)?);
        }
        if let Some(b) = self.file_signing_fail(
            &r,
            &why,
            "Fix the key, then run `ka-publish --check` again.",
        )? {
            result.blocks.push(b);
        }
        result.message = format!("signing does not work on {}: {why}", self.sign_host.host);
        Ok(result)
    }

    /// File (or refresh) the global `[ka:signing-fail]` when the sign-host
    /// script said signing failed: why, the key and log, then what to do.
    fn file_signing_fail(&self, r: &JobResult, why: &str, then: &str) -> Result<Option<BlockRef>> {
        if r.transport_error.is_some() || r.exit_code != Some(EXIT_SIGNING) {
            return Ok(None);
        }
        let spec = self.spec();
        let b = self.store.file(
            BlockKind::SigningFail,
            Subject::Global,
            &format!("signing failed on {}", self.sign_host.host),
            &format!(
                "{why}\nkey {} in {} on {}; log: {}\n{then}",
                spec.key,
                spec.gnupghome,
                self.sign_host.host,
                r.log.display()
            ),
        )?;
        Ok(Some(b.to_ref()))
    }

    /// The sign host answered with a key fleet/known_hosts does not have:
    /// `[ka:host-changed]` for the sign host, as every verb that meets it
    /// files (ka-install's fetch too).
    fn file_host_changed(&self, why: &str) -> Result<BlockRef> {
        let host = &self.sign_host.host;
        let b = self.store.file(
            BlockKind::HostChanged,
            Subject::Host { host: host.clone() },
            &format!("{host} host key changed"),
            &format!(
                "ka-publish: {why}\n\nCheck the sign host's key on the host itself (its console: `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`), then replace its line in {}. The next strict connection to {host} (ka-publish, ka-install) lifts this block.",
                self.credentials.known_hosts.display()
            ),
        )?;
        Ok(b.to_ref())
    }

    /// A strict connection to the sign host worked: its `[ka:host-changed]` is over.
    fn lift_host_changed(&self, reason: &str) -> Result<()> {
        if matches!(self.transport(), Transport::Ssh { .. }) {
            self.store.lift_open(
                BlockKind::HostChanged,
                &Subject::Host {
                    host: self.sign_host.host.clone(),
                },
                reason,
            )?;
        }
        Ok(())
    }

    /// Lift an open `[ka:signing-fail]`; returns it when one was lifted.
    fn lift_signing_fail(&self, reason: &str) -> Result<Vec<BlockRef>> {
        Ok(self
            .store
            .lift_open(BlockKind::SigningFail, &Subject::Global, reason)?
            .map(|b| b.to_ref())
            .into_iter()
            .collect())
    }
}

/// The upload folder: the packages (hard links, or copies across file
/// systems) and B2SUMS, which the sign host checks before signing anything.
fn stage_upload(dir: &Path, pkgs: &[Package]) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut sums = String::new();
    for p in pkgs {
        let to = dir.join(&p.file_name);
        if std::fs::hard_link(&p.path, &to).is_err() {
            std::fs::copy(&p.path, &to).map_err(|e| Error::io(&to, e))?;
        }
        sums.push_str(&format!("{}  {}\n", p.b2sum, p.file_name));
    }
    ka_core::atomic::write(&dir.join("B2SUMS"), sums.as_bytes())
}
