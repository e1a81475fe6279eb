//! The host's side of an install: the commands run on it, from the
//! preflight that changes nothing to the proof after the reboot.

use crate::REMOTE_STAGING;
use crate::extlinux;
use crate::package::{file_name, judge_gpgv};
use crate::plan::{FdtPlan, Planned, SIGN_HOST_ALIAS};
use crate::remote::{self, Deadline, Remote};
use ka_core::error::{Error, Result};
use ka_schema::{Artifact, Backup, Distro, Install, V1};
use std::path::Path;

/// The loader config the managed entry goes into.
pub(crate) const EXTLINUX_CONF: &str = "/boot/extlinux/extlinux.conf";

/// Before anything changes on the host: root works (`sudo -n` for a
/// non-root ssh user), the loader config is there, root can create files in
/// /boot, /boot/extlinux and the staging folder, and there is room for the
/// package in both. A refusal here leaves the host as it was.
pub(crate) fn preflight(
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

/// /boot as a tgz with its `ka.backup` record into `dir` (filled under a
/// dot-name, the record written last, renamed into place).
pub(crate) fn backup(
    doc: &mut Install,
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
            host: doc.host.clone(),
            kernel_version: release.to_string(),
            created_at: ka_core::time::now_rfc3339()?,
            job: Some(doc.id.clone()),
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
    doc.files.push(dir.join("boot.tgz"));
    doc.files.push(dir.join("backup.json"));
    Ok((
        (),
        format!("/boot ({} bytes tgz) saved to {}", tgz.len(), dir.display()),
    ))
}

/// The package into `remote_dir` on the host: uploaded from here (direct),
/// or copied by the host from the sign host (lan); its b2sum checked there.
pub(crate) fn copy(
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
/// copy, in a GNUPGHOME of its own; judged as
/// [`verify_signature`](crate::package::verify_signature) judges.
pub(crate) fn signature_on_host(
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

/// `copy: lan`: list the package where it is, on the host.
pub(crate) fn list_remote(
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

/// Remove the package's staging folder on the host. Best effort: a folder
/// left over costs room, not correctness, so its failure is not the install's.
pub(crate) fn remove_staging(remote: &Remote, remote_dir: &str) {
    let _ = remote.run_root(
        &["rm", "-rf", "--", remote_dir],
        Deadline::after(crate::job::SHORT),
    );
}

/// Install the package; returns the host's clock when it began.
pub(crate) fn install(
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

pub(crate) fn boot_config(
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

pub(crate) fn pre_reboot(
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

pub(crate) fn proof(
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
