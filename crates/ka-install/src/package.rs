//! The local side of an install: the package and its signature fetched
//! here and checked here (gpgv, its listing) before the host is touched.

use crate::plan::{FdtPlan, Planned};
use crate::remote::{Deadline, Remote};
use ka_core::paths::Layout;
use ka_schema::Distro;
use std::path::Path;
use std::time::Duration;

/// Bring the package and its signature here, from the sign host.
pub(crate) fn fetch(
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
        let target = crate::target_of(repo, layout, &sign).map_err(|e| e.to_string())?;
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
pub(crate) fn judge_gpgv(
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

/// List the members of the package file here: `bsdtar -tf` (arch) or
/// `dpkg-deb -c` (debian), within the deadline.
pub(crate) fn list_local(
    distro: Distro,
    pkg: &Path,
    d: Deadline,
) -> std::result::Result<String, String> {
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

/// The member paths of a listing: `bsdtar -tf` prints one per line,
/// `dpkg-deb -c` an `ls -l`-like line ending in `./path` (`./a -> b` for a link).
pub(crate) fn listed_paths(distro: Distro, listing: &str) -> impl Iterator<Item = &str> {
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

/// The last part of a `/`-separated path.
pub(crate) fn file_name(path: &str) -> String {
    path.rsplit('/').next().unwrap_or(path).to_string()
}
