//! [`PackageFile`]: what a package file's name says. makepkg names a package
//! `<pkgname>-<pkgver>-<pkgrel>-<arch>.pkg.tar.<ext>` (the extension is what
//! PKGEXT says: Debian's makepkg writes `.gz`, Arch `.zst`), dpkg-deb
//! `<package>_<version>_<arch>.deb`. The one reader of those names: the sign
//! host's selection and the status line agree on which file is the kernel.

use crate::Distro;

/// A package file name, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageFile {
    /// Which packager's name it is (`.pkg.tar.*` or `.deb`).
    pub distro: Distro,
    pub package: String,
    /// pacman's `<pkgver>-<pkgrel>`, or the Debian version.
    pub version: String,
    pub arch: String,
}

impl PackageFile {
    /// Split `name`; `None` when it is no package file (a log, a `.sig`,
    /// a `.buildinfo`, a name with a part missing).
    pub fn parse(name: &str) -> Option<PackageFile> {
        if let Some(stem) = name.strip_suffix(".deb") {
            let mut parts = stem.split('_');
            let (pkg, ver, arch) = (parts.next()?, parts.next()?, parts.next()?);
            if parts.next().is_some() || [pkg, ver, arch].iter().any(|p| p.is_empty()) {
                return None;
            }
            return Some(PackageFile {
                distro: Distro::Debian,
                package: pkg.into(),
                version: ver.into(),
                arch: arch.into(),
            });
        }
        if name.ends_with(".sig") {
            return None;
        }
        let stem = &name[..name.find(".pkg.tar")?];
        // pkgver and pkgrel hold no '-'; a package name may
        let mut parts = stem.rsplitn(4, '-');
        let (arch, rel, ver, pkg) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if [arch, rel, ver, pkg].iter().any(|p| p.is_empty()) {
            return None;
        }
        Some(PackageFile {
            distro: Distro::Arch,
            package: pkg.into(),
            version: format!("{ver}-{rel}"),
            arch: arch.into(),
        })
    }

    /// Whether it is a host's kernel package: pacman's is the manifest's
    /// `kernel.pkgbase` (not `<pkgbase>-headers`), Debian's the kernel image
    /// of `make bindeb-pkg` (`linux-image-*`, not its `-dbg` twin).
    pub fn is_kernel(&self, pkgbase: Option<&str>) -> bool {
        match self.distro {
            Distro::Arch => pkgbase == Some(self.package.as_str()),
            Distro::Debian => {
                self.package.starts_with("linux-image-") && !self.package.ends_with("-dbg")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(name: &str) -> Option<(Distro, String, String, String)> {
        PackageFile::parse(name).map(|p| (p.distro, p.package, p.version, p.arch))
    }

    #[test]
    fn names() {
        assert_eq!(
            split("linux-fresnel-fourier-7.0-1-aarch64.pkg.tar.zst"),
            Some((
                Distro::Arch,
                "linux-fresnel-fourier".into(),
                "7.0-1".into(),
                "aarch64".into()
            ))
        );
        assert_eq!(
            split("linux-x-headers-6.1-3-x86_64.pkg.tar.gz"),
            Some((
                Distro::Arch,
                "linux-x-headers".into(),
                "6.1-3".into(),
                "x86_64".into()
            ))
        );
        assert_eq!(split("linux-x-6.1-3-x86_64.pkg.tar.gz.sig"), None);
        assert_eq!(split("build.log"), None);
        assert_eq!(split("-6.1-3-x86_64.pkg.tar.gz"), None);
        assert_eq!(
            split("linux-image-6.1.0-ka_6.1.0-ka-1_amd64.deb"),
            Some((
                Distro::Debian,
                "linux-image-6.1.0-ka".into(),
                "6.1.0-ka-1".into(),
                "amd64".into()
            ))
        );
        assert_eq!(split("x_1.deb"), None);
        assert_eq!(split("x_1_amd64_more.deb"), None);
        assert_eq!(split("x_1_amd64.buildinfo"), None);
    }

    #[test]
    fn the_kernel_package_and_not_its_twins() {
        let k = |name: &str, base| PackageFile::parse(name).unwrap().is_kernel(base);
        assert!(k(
            "linux-fresnel-6.1.158-2-aarch64.pkg.tar.zst",
            Some("linux-fresnel")
        ));
        assert!(!k(
            "linux-fresnel-headers-6.1.158-2-aarch64.pkg.tar.gz",
            Some("linux-fresnel")
        ));
        assert!(!k("other-6.1-1-x86_64.pkg.tar.gz", Some("linux-fresnel")));
        assert!(!k("linux-fresnel-6.1.158-2-aarch64.pkg.tar.zst", None));
        assert!(k("linux-image-6.1.0-ka_6.1.0-ka-1_amd64.deb", None));
        assert!(!k("linux-image-6.1.0-ka-dbg_6.1.0-ka-1_amd64.deb", None));
        assert!(!k("linux-headers-6.1.0-ka_6.1.0-ka-1_amd64.deb", None));
    }
}
