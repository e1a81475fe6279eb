//! What a render is for: the host's kernel and install settings checked and
//! turned into template values ([`Target`]), and the package version of the
//! baseline ([`KernelVersion`]).

use ka_core::error::{Result, contract, negative};
use ka_core::names::check_name;
use ka_schema::{
    Arch, BaselineSource, BaselineSpec, Bootloader, Distro, HostManifest, Initramfs, InstallMode,
    KernelSpec,
};
use serde::Serialize;

/// What the templates need, derived from the manifest and checked.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub host: String,
    pub pkgbase: String,
    pub suffix: String,
    pub distro: Distro,
    /// `aarch64` or `x86_64` (pacman's arch).
    pub arch: &'static str,
    /// The kernel's `ARCH`: `arm64` or `x86`.
    pub karch: &'static str,
    /// `make` target and built file of the kernel image.
    pub image_target: &'static str,
    pub image_src: &'static str,
    /// Installed file name under /boot: `Image-<suffix>` or `vmlinuz-<suffix>`.
    pub image_name: String,
    pub dtbs: bool,
    pub mkinitcpio: bool,
    pub extlinux: bool,
    pub initramfs_name: String,
    /// For the extlinux script: empty when there is none.
    pub initrd_name: String,
    pub fdtdir: String,
    /// `install.fdt`, relative to `fdtdir`: the extlinux entry says
    /// `FDT <fdtdir>/<fdt>` instead of `FDTDIR <fdtdir>`; empty when unset.
    pub fdt: String,
}

impl Target {
    /// Check the manifest's kernel and install settings for `distro`.
    pub fn from_manifest(m: &HostManifest, shown_as: &str) -> Result<Target> {
        let k = m.kernel.as_ref().ok_or_else(|| {
            negative(format!(
                "{shown_as}: host {} has no kernel: section, so it gets no kernel packages; add kernel: {{ pkgbase, suffix, baseline, config }}",
                m.host
            ))
        })?;
        check_package_names(m, k, shown_as)?;
        let (mkinitcpio, extlinux) = boot_steps(m, shown_as)?;
        let names = ArchNames::of(m.arch);
        let dtbs = m.arch == Arch::Aarch64;
        let fdt = checked_fdt(m, shown_as)?;
        let initramfs_name = format!("initramfs-{}.img", k.suffix);
        Ok(Target {
            host: m.host.clone(),
            pkgbase: k.pkgbase.clone(),
            suffix: k.suffix.clone(),
            distro: m.distro,
            arch: names.arch,
            karch: names.karch,
            image_target: names.image_target,
            image_src: names.image_src,
            image_name: format!("{}-{}", names.image, k.suffix),
            dtbs,
            mkinitcpio,
            extlinux,
            initrd_name: if mkinitcpio {
                initramfs_name.clone()
            } else {
                String::new()
            },
            initramfs_name,
            fdtdir: if dtbs {
                format!("dtbs-{}", k.suffix)
            } else {
                String::new()
            },
            fdt: fdt.to_string(),
        })
    }
}

/// Check `kernel.pkgbase` and `kernel.suffix` as names, and as the parts of
/// a package name the distro's packager accepts (Debian puts the suffix in
/// the package name too).
fn check_package_names(m: &HostManifest, k: &KernelSpec, shown_as: &str) -> Result<()> {
    check_name("pkgbase", &k.pkgbase)?;
    check_name("suffix", &k.suffix)?;
    let lower = |what: &str, v: &str, extra: &[u8]| -> Result<()> {
        if v.len() >= 2
            && v.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || extra.contains(&b))
        {
            Ok(())
        } else {
            Err(contract(format!(
                "{shown_as}: kernel.{what} {v:?} is not a valid {} package name part: use lower-case letters, digits and {}",
                match m.distro {
                    Distro::Arch => "pacman",
                    Distro::Debian => "Debian",
                },
                String::from_utf8_lossy(extra)
            )))
        }
    };
    match m.distro {
        Distro::Arch => lower("pkgbase", &k.pkgbase, b"._+-")?,
        Distro::Debian => {
            lower("pkgbase", &k.pkgbase, b".+-")?;
            lower("suffix", &k.suffix, b".+-")?;
        }
    }
    Ok(())
}

/// `(mkinitcpio, extlinux)`: whether the package makes an initramfs with
/// mkinitcpio and writes an extlinux entry, from the `install:` section
/// (neither on Debian).
fn boot_steps(m: &HostManifest, shown_as: &str) -> Result<(bool, bool)> {
    match (m.distro, &m.install) {
        (_, Some(i)) if i.mode == InstallMode::Replace => Err(negative(format!(
            "{shown_as}: install.mode replace is not supported by ka-render; kernels are installed alongside the distro kernel (install.mode: alongside)"
        ))),
        (Distro::Debian, _) => Ok((false, false)),
        (Distro::Arch, None) => Err(negative(format!(
            "{shown_as}: no install: section; say how this host boots, e.g. install: {{ mode: alongside, bootloader: extlinux, initramfs: mkinitcpio }}"
        ))),
        (Distro::Arch, Some(i)) => {
            let mkinitcpio = match i.initramfs {
                Initramfs::Mkinitcpio => true,
                Initramfs::None => false,
                other => {
                    return Err(negative(format!(
                        "{shown_as}: install.initramfs {other:?} is not supported for distro arch; use mkinitcpio or none"
                    )));
                }
            };
            Ok((mkinitcpio, i.bootloader == Bootloader::Extlinux))
        }
    }
}

/// The architecture's names as pacman, the kernel build and /boot use them.
struct ArchNames {
    /// pacman's arch.
    arch: &'static str,
    /// The kernel's `ARCH`.
    karch: &'static str,
    /// `make` target and built file of the kernel image.
    image_target: &'static str,
    image_src: &'static str,
    /// The installed image's name before `-<suffix>`.
    image: &'static str,
}

impl ArchNames {
    /// The names for `arch`.
    fn of(arch: Arch) -> ArchNames {
        match arch {
            Arch::Aarch64 => ArchNames {
                arch: "aarch64",
                karch: "arm64",
                image_target: "Image",
                image_src: "arch/arm64/boot/Image",
                image: "Image",
            },
            Arch::X86_64 => ArchNames {
                arch: "x86_64",
                karch: "x86",
                image_target: "bzImage",
                image_src: "arch/x86/boot/bzImage",
                image: "vmlinuz",
            },
        }
    }
}

/// `install.fdt` (empty when unset), checked again against the arch and
/// bootloader: it was checked when the manifest was loaded, but it reaches a
/// script.
fn checked_fdt<'m>(m: &'m HostManifest, shown_as: &str) -> Result<&'m str> {
    let fdt = m.fdt().unwrap_or_default();
    if !fdt.is_empty() {
        let bootloader = m
            .install
            .as_ref()
            .map_or(Bootloader::Extlinux, |i| i.bootloader);
        ka_schema::check_fdt(fdt, m.arch, bootloader)
            .map_err(|e| contract(format!("{shown_as}: {e}")))?;
    }
    Ok(fdt)
}

// ---------------------------------------------------------------- versions

/// The kernel version of a baseline: `6.1.158` and its extra part (`-rc3`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelVersion {
    pub version: String,
    pub extra: String,
}

impl KernelVersion {
    /// From the top-level Makefile (`VERSION = 6`, `PATCHLEVEL = 1`, ...), as
    /// the kernel's own `KERNELVERSION` is made.
    pub fn from_makefile(text: &str) -> Option<KernelVersion> {
        let var = |name: &str| {
            text.lines().find_map(|l| {
                let (k, v) = l.split_once('=')?;
                (k.trim() == name).then(|| v.trim().to_string())
            })
        };
        let version = var("VERSION").filter(|v| !v.is_empty())?;
        let mut out = version;
        if let Some(p) = var("PATCHLEVEL").filter(|v| !v.is_empty()) {
            out = format!("{out}.{p}");
            if let Some(s) = var("SUBLEVEL").filter(|v| !v.is_empty()) {
                out = format!("{out}.{s}");
            }
        }
        if !out.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return None;
        }
        Some(KernelVersion {
            version: out,
            extra: var("EXTRAVERSION").unwrap_or_default(),
        })
    }

    /// From the baseline spec: the version in a tarball's name
    /// (`linux-source-6.1.tar.xz` → 6.1) or a git ref (`v7.0`, `v6.10-rc3`).
    pub fn from_spec(spec: &BaselineSpec) -> Option<KernelVersion> {
        let raw = match spec.source().ok()? {
            BaselineSource::Tarball(t) => {
                let name = t.rsplit('/').next().unwrap_or(t);
                let stem = [".tar.xz", ".tar.gz", ".tar.bz2", ".tar.zst", ".tgz", ".tar"]
                    .iter()
                    .find_map(|e| name.strip_suffix(e))
                    .unwrap_or(name);
                let b = stem.as_bytes();
                let start = (0..b.len()).find(|&i| {
                    b[i].is_ascii_digit() && (i == 0 || !b[i - 1].is_ascii_alphanumeric())
                })?;
                stem[start..].to_string()
            }
            BaselineSource::Git { git_ref, .. } => {
                let last = git_ref.rsplit('/').next().unwrap_or(git_ref);
                let last = last.strip_prefix('v').unwrap_or(last);
                if !last.starts_with(|c: char| c.is_ascii_digit()) {
                    return None;
                }
                last.to_string()
            }
        };
        let (version, extra) = match raw.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
            Some(i) => (raw[..i].to_string(), raw[i..].to_string()),
            None => (raw, String::new()),
        };
        let version = version.trim_end_matches('.').to_string();
        (!version.is_empty()).then_some(KernelVersion { version, extra })
    }

    /// pacman's pkgver: no `-`, `:`, `/` or spaces (`6.10-rc3` → `6.10rc3`).
    pub fn pkgver(&self) -> String {
        let extra: String = self
            .extra
            .chars()
            .filter_map(|c| match c {
                '-' => None,
                c if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+') => Some(c),
                _ => Some('_'),
            })
            .collect();
        format!("{}{extra}", self.version)
    }

    /// Debian's upstream version: `-` becomes `~`, so `6.10~rc3` sorts before `6.10`.
    pub fn debver(&self) -> String {
        let extra: String = self
            .extra
            .chars()
            .filter_map(|c| match c {
                '-' | '_' => Some('~'),
                c if c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '~') => Some(c),
                _ => None,
            })
            .collect();
        format!("{}{extra}", self.version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_from_makefile() {
        let mk = "# SPDX\nVERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 158\nEXTRAVERSION =\nNAME = Curry Ramen\n";
        let v = KernelVersion::from_makefile(mk).unwrap();
        assert_eq!(v.pkgver(), "6.1.158");
        assert_eq!(v.debver(), "6.1.158");
        let rc = "VERSION = 6\nPATCHLEVEL = 10\nSUBLEVEL = 0\nEXTRAVERSION = -rc3\n";
        let v = KernelVersion::from_makefile(rc).unwrap();
        assert_eq!(v.pkgver(), "6.10.0rc3");
        assert_eq!(v.debver(), "6.10.0~rc3");
        assert!(KernelVersion::from_makefile("all:\n\ttrue\n").is_none());
    }

    #[test]
    fn version_from_spec() {
        let t = |s: &str| BaselineSpec {
            git: None,
            git_ref: None,
            tarball: Some(s.into()),
        };
        let g = |r: &str| BaselineSpec {
            git: Some("https://git.kernel.org/linux".into()),
            git_ref: Some(r.into()),
            tarball: None,
        };
        let pv = |s: BaselineSpec| KernelVersion::from_spec(&s).map(|v| v.pkgver());
        assert_eq!(pv(t("/usr/src/linux-source-6.1.tar.xz")).unwrap(), "6.1");
        assert_eq!(pv(g("v7.0")).unwrap(), "7.0");
        assert_eq!(pv(g("refs/tags/v6.10-rc3")).unwrap(), "6.10rc3");
        assert_eq!(
            KernelVersion::from_spec(&g("v6.10-rc3")).unwrap().debver(),
            "6.10~rc3"
        );
        assert!(pv(g("master")).is_none());
        assert!(pv(t("/srv/linux.tar")).is_none());
    }
}
