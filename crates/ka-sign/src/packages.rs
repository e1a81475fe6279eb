//! Which files of a build job's output are packages, and what their names say.
//! makepkg names a package `<pkgname>-<pkgver>-<pkgrel>-<arch>.pkg.tar.<ext>`
//! (the extension is whatever PKGEXT says: Debian's makepkg writes `.gz`, Arch
//! `.zst`), dpkg-deb `<package>_<version>_<arch>.deb`.

use ka_core::error::{Error, Result, contract, usage};
use ka_schema::{Arch, Distro, HostManifest};
use std::path::{Path, PathBuf};

/// One package file of a job's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub file_name: String,
    pub path: PathBuf,
    pub package: String,
    pub version: String,
    pub arch: String,
    pub size: u64,
    pub b2sum: String,
    /// The host's kernel package.
    pub kernel: bool,
}

/// The name of `arch` as pacman and Debian spell it.
pub fn arch_names(arch: Arch) -> (&'static str, &'static str) {
    match arch {
        Arch::Aarch64 => ("aarch64", "arm64"),
        Arch::X86_64 => ("x86_64", "amd64"),
    }
}

/// Split a package file name into (package, version, arch); `None` when it
/// is not a package of `distro`.
pub fn parse_name(distro: Distro, name: &str) -> Option<(String, String, String)> {
    match distro {
        Distro::Arch => {
            if name.ends_with(".sig") {
                return None;
            }
            let stem = &name[..name.find(".pkg.tar")?];
            let mut parts = stem.rsplitn(4, '-');
            let (arch, rel, ver, pkg) =
                (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
            if [arch, rel, ver, pkg].iter().any(|p| p.is_empty()) {
                return None;
            }
            Some((pkg.into(), format!("{ver}-{rel}"), arch.into()))
        }
        Distro::Debian => {
            let stem = name.strip_suffix(".deb")?;
            let mut parts = stem.split('_');
            let (pkg, ver, arch) = (parts.next()?, parts.next()?, parts.next()?);
            if parts.next().is_some() || [pkg, ver, arch].iter().any(|p| p.is_empty()) {
                return None;
            }
            Some((pkg.into(), ver.into(), arch.into()))
        }
    }
}

/// A file name that travels into the sign host's shell script unquoted in a
/// word list: no blanks, no glob characters, no `/`.
fn check_file_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'+' | b'-' | b':' | b'~')
        });
    if ok {
        Ok(())
    } else {
        Err(contract(format!(
            "package file {name:?}: only letters, digits and . _ + - : ~ are published"
        )))
    }
}

/// The packages in `dir` (a job's output) for `target`, sorted by file name;
/// each checked against the target's architecture, with its size and b2sum.
/// Refused when there are none, or none of them is the host's kernel package.
pub fn select(dir: &Path, target: &HostManifest, job: &str) -> Result<Vec<Package>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(usage(format!(
                "{}: job {job} has no output folder (pruned? `ka-restore-archive {job}` brings an archived one back)",
                dir.display()
            )));
        }
        Err(e) => return Err(Error::io(dir, e)),
    };
    let (pacman_arch, deb_arch) = arch_names(target.arch);
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some((package, version, arch)) = parse_name(target.distro, &name) else {
            continue;
        };
        check_file_name(&name)?;
        let fits = match target.distro {
            Distro::Arch => arch == pacman_arch || arch == "any",
            Distro::Debian => arch == deb_arch || arch == "all",
        };
        if !fits {
            return Err(contract(format!(
                "{}: built for {arch}, but {} is {pacman_arch}",
                entry.path().display(),
                target.host
            )));
        }
        let kernel = match target.distro {
            Distro::Arch => target.kernel.as_ref().is_some_and(|k| k.pkgbase == package),
            Distro::Debian => package.starts_with("linux-image-") && !package.ends_with("-dbg"),
        };
        let path = entry.path();
        let (size, b2sum) = ka_core::hash::file_digest(&path)?;
        out.push(Package {
            file_name: name,
            path,
            package,
            version,
            arch,
            size,
            b2sum,
            kernel,
        });
    }
    out.sort_by(|a, b| a.file_name.cmp(&b.file_name));
    let what = match target.distro {
        Distro::Arch => "*.pkg.tar.*",
        Distro::Debian => "*.deb",
    };
    if out.is_empty() {
        return Err(usage(format!(
            "{}: job {job} left no packages ({what}) to publish",
            dir.display()
        )));
    }
    if !out.iter().any(|p| p.kernel) {
        let want = match (target.distro, &target.kernel) {
            (Distro::Arch, Some(k)) => k.pkgbase.clone(),
            (Distro::Arch, None) => "(no kernel: in the manifest)".into(),
            (Distro::Debian, _) => "linux-image-*".into(),
        };
        return Err(usage(format!(
            "{}: none of the packages of job {job} is {}'s kernel package {want}; found {}",
            dir.display(),
            target.host,
            out.iter()
                .map(|p| p.file_name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            parse_name(
                Distro::Arch,
                "linux-fresnel-fourier-7.0-1-aarch64.pkg.tar.zst"
            ),
            Some((
                "linux-fresnel-fourier".into(),
                "7.0-1".into(),
                "aarch64".into()
            ))
        );
        assert_eq!(
            parse_name(Distro::Arch, "linux-x-headers-6.1-3-x86_64.pkg.tar.gz"),
            Some(("linux-x-headers".into(), "6.1-3".into(), "x86_64".into()))
        );
        assert_eq!(
            parse_name(Distro::Arch, "linux-x-6.1-3-x86_64.pkg.tar.gz.sig"),
            None
        );
        assert_eq!(parse_name(Distro::Arch, "build.log"), None);
        assert_eq!(
            parse_name(Distro::Debian, "linux-image-6.1.0-ka_6.1.0-ka-1_amd64.deb"),
            Some((
                "linux-image-6.1.0-ka".into(),
                "6.1.0-ka-1".into(),
                "amd64".into()
            ))
        );
        assert_eq!(parse_name(Distro::Debian, "x_1.deb"), None);
        assert_eq!(parse_name(Distro::Debian, "x_1_amd64.buildinfo"), None);
    }
}
