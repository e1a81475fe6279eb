//! Which files of a build job's output are packages of the target host (their
//! names read by `ka_schema::PackageFile`), with their sizes and b2sums.

use ka_core::error::{Error, Result, contract, usage};
use ka_schema::{Arch, Distro, HostManifest, PackageFile};
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
        let Some(file) = PackageFile::parse(&name).filter(|p| p.distro == target.distro) else {
            continue;
        };
        let kernel = file.is_kernel(target.kernel.as_ref().map(|k| k.pkgbase.as_str()));
        let PackageFile {
            package,
            version,
            arch,
            ..
        } = file;
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
