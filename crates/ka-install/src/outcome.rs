//! What an install leaves behind: `installed.json` and the notice closed
//! when it converged, the blocks filed or lifted for how it ended, and the
//! `ka.install` document itself.

use crate::job::{Ended, Met};
use crate::plan::Planned;
use anyhow::Context;
use ka_block::store::Store;
use ka_core::error::{ExitCode, Result};
use ka_core::paths::Layout;
use ka_notice::NoticeStore;
use ka_schema::{
    Arch, BlockKind, BlockRef, Distro, Install, Installed, Phase, Status, Subject, V1,
};
use std::path::Path;

/// After the install ran: the host keys met filed or lifted, then a
/// converged install recorded, or a touched host's failure filed.
pub(crate) fn settle(
    ended: Ended,
    layout: &Layout,
    repo: &Path,
    planned: &Planned,
    store: &Store,
    notices: &NoticeStore,
) -> Result<Install> {
    let Ended {
        mut doc,
        converged,
        met:
            Met {
                touched,
                connected,
                host_key_refused,
                sign_host_key,
            },
    } = ended;
    let host = doc.host.clone();
    if let Some(why) = &host_key_refused {
        doc.blocks
            .push(file_host_changed(store, repo, &doc, &doc.host, why)?);
    } else if connected {
        lift_host_changed(store, &mut doc, &host)?;
    }
    // the sign host's key, as fetch met it: filed or lifted for the sign host
    match sign_host_key {
        Some((sign, Err(why))) => doc
            .blocks
            .push(file_host_changed(store, repo, &doc, &sign, &why)?),
        Some((sign, Ok(()))) => lift_host_changed(store, &mut doc, &sign)?,
        None => {}
    }
    if converged {
        record(layout, store, notices, planned, &mut doc)?;
        ka_core::crash::point("install:recorded");
    } else if touched && host_key_refused.is_some() {
        file_unproven(store, &mut doc)?;
    } else if touched {
        file_failed(store, &mut doc)?;
    }
    Ok(doc)
}

/// The host rebooted and answered with another key: what it runs is
/// unknown, not known bad. Drift halts installs; no regression.
fn file_unproven(store: &Store, doc: &mut Install) -> Result<()> {
    let (host, id) = (&doc.host, &doc.id);
    let drift = store.file(
        BlockKind::HostDrifted,
        Subject::Host {
            host: host.to_string(),
        },
        &format!("{host} drifted: its host key changed during ka-install ({id})"),
        &format!(
            "ka-install {host} ({id}) installed {} {} and rebooted the host, which then answered with another host key, so what it booted is unproven.\n\n{}\n\nVerify the key on the host's console, update fleet/known_hosts, run `ka-verify {host}`, then `ka-block lift`.",
            doc.package, doc.package_version, doc.message
        ),
    )?;
    doc.blocks.push(drift.to_ref());
    Ok(())
}

/// The install failed after it changed the host: `[ka:regression]` and
/// `[ka:host-drifted]`, with how to restore /boot.
fn file_failed(store: &Store, doc: &mut Install) -> Result<()> {
    let (host, id) = (&doc.host, &doc.id);
    let subject = Subject::Host {
        host: host.to_string(),
    };
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
    Ok(())
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

/// The document on stdout (and, when the install ran, under
/// `installs/`), the failure on stderr, and the exit status it means.
pub(crate) fn finish(layout: &Layout, doc: &Install, ran: bool) -> anyhow::Result<ExitCode> {
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
