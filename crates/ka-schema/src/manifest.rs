//! `fleet/<host>.yaml` ([`HostManifest`]): one host of the fleet, and the
//! checks its type cannot make. Unknown keys are errors that name file, line
//! and column. The `build_host:` and `sign:` sections, which describe what a
//! host does for the rest of the fleet, are in [`crate::roles`].

use crate::{BuildHostSpec, SignSpec, Span, check_series_ref, load_yaml};
use ka_core::error::{Error, Result, contract, quoted};
use ka_core::names::{check_name, check_scope};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// `fleet/<host>.yaml`: one host of the fleet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct HostManifest {
    /// The host's name; must equal the file name without `.yaml`.
    pub host: String,
    pub role: Role,
    /// `aarch64` or `x86_64`.
    pub arch: Arch,
    pub distro: Distro,
    /// Infra hosts are never targeted unless this is `true`.
    #[serde(default)]
    pub opt_in: bool,
    /// How to reach the host over SSH (build hosts, install/verify targets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh: Option<SshTarget>,
    /// The custom kernel this host runs. Hosts without it get no promotes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<KernelSpec>,
    /// Scopes whose series this host takes (every series under them).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Single series taken in addition to the scopes: `<scope>/<series>`.
    #[serde(default)]
    pub include: Vec<String>,
    /// Series dropped although a scope selects them: `<scope>/<series>`.
    #[serde(default)]
    pub exclude: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<BuildSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install: Option<InstallSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<VerifySpec>,
    /// This host builds kernels for others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_host: Option<BuildHostSpec>,
    /// This host signs and publishes the fleet's packages (exactly one host
    /// of the fleet has it; see `ka-sign(1)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign: Option<SignSpec>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Dev,
    Work,
    Infra,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum Arch {
    #[serde(rename = "aarch64")]
    Aarch64,
    #[serde(rename = "x86_64")]
    X86_64,
}

impl Arch {
    /// The machine name, as `uname -m` and Arch Linux's `CARCH` say it.
    pub fn name(self) -> &'static str {
        match self {
            Arch::Aarch64 => "aarch64",
            Arch::X86_64 => "x86_64",
        }
    }

    /// The kernel's `ARCH=` (its `arch/<ARCH>/` folder).
    pub fn kernel_arch(self) -> &'static str {
        match self {
            Arch::Aarch64 => "arm64",
            Arch::X86_64 => "x86",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Distro {
    Arch,
    Debian,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SshTarget {
    /// Address or DNS name.
    pub address: String,
    #[serde(default = "default_ssh_port")]
    pub port: u16,
    pub user: String,
}

fn default_ssh_port() -> u16 {
    22
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct KernelSpec {
    /// Package base name, e.g. `linux-fresnel-fourier`.
    pub pkgbase: String,
    /// Alongside-install suffix: `/boot/Image-<suffix>`, `/boot/dtbs-<suffix>/`, ...
    pub suffix: String,
    pub baseline: BaselineSpec,
    /// Kernel config, relative to the fleet repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
}

/// Where the upstream tree comes from: `git` (a URL or local path) with `ref`, or
/// `tarball` (e.g. Debian's `/usr/src/linux-source-6.1.tar.xz`, imported once into a
/// git repository with a reproducible commit). A struct rather than an untagged enum
/// so that a bare `ref: 6.10` stays the string "6.10".
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct BaselineSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<String>,
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub git_ref: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tarball: Option<String>,
}

/// The two kinds of baseline, after validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaselineSource<'a> {
    Git { url: &'a str, git_ref: &'a str },
    Tarball(&'a str),
}

impl BaselineSpec {
    pub fn source(&self) -> Result<BaselineSource<'_>> {
        match (&self.git, &self.git_ref, &self.tarball) {
            (Some(url), Some(r), None) => Ok(BaselineSource::Git { url, git_ref: r }),
            (None, None, Some(t)) => Ok(BaselineSource::Tarball(t)),
            _ => Err(contract(
                "baseline: give either { git: <url or path>, ref: <ref> } or { tarball: <path> }",
            )),
        }
    }

    /// A short human name, e.g. `/usr/src/linux-source-6.1.tar.xz` or `v7.0 of <url>`.
    pub fn describe(&self) -> String {
        match self.source() {
            Ok(BaselineSource::Git { url, git_ref }) => format!("{git_ref} of {url}"),
            Ok(BaselineSource::Tarball(t)) => t.to_string(),
            Err(_) => "(invalid baseline)".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct BuildSpec {
    /// The primary build host (a host of the fleet with `build_host:`).
    pub host: String,
    #[serde(default)]
    pub fallback: Vec<String>,
    /// Absolute cap, e.g. `4h`.
    #[serde(default = "default_wall_clock")]
    pub wall_clock: Span,
    /// No output for this long counts as a stall, e.g. `5m`.
    #[serde(default = "default_stall")]
    pub stall: Span,
}

fn default_wall_clock() -> Span {
    Span::hours(4)
}
fn default_stall() -> Span {
    Span::minutes(5)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct InstallSpec {
    pub mode: InstallMode,
    pub bootloader: Bootloader,
    pub initramfs: Initramfs,
    /// How the package reaches the host (`ka-install(1)`): `direct` (default)
    /// from the sign host through the machine running ka-install; `lan`: the
    /// host copies it from the sign host itself (scp), for a ka-install
    /// machine on a slow link.
    #[serde(default)]
    pub copy: CopyMode,
    /// With `copy: lan`: how this host reaches the sign host's sshd, when not
    /// at the sign host's own `ssh:` address and port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy_from: Option<CopyFrom>,
    /// aarch64 with `bootloader: extlinux`: the one device tree the board
    /// boots, relative to the kernel's dtbs folder, e.g.
    /// `rockchip/rk3399-pinebook-pro.dtb`. The managed extlinux entry then
    /// says `FDT <that file>` instead of `FDTDIR` (which leaves the choice to
    /// U-Boot's `fdtfile` variable), and ka-install refuses a package without
    /// it. Not for x86_64 hosts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fdt: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum CopyMode {
    #[default]
    Direct,
    Lan,
}

/// The sign host's sshd as a fleet host sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CopyFrom {
    pub address: String,
    #[serde(default = "default_ssh_port")]
    pub port: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum InstallMode {
    /// Next to the distro kernel, under suffixed paths.
    Alongside,
    /// Replaces the distro kernel.
    Replace,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Bootloader {
    Extlinux,
    Grub,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Initramfs {
    Mkinitcpio,
    InitramfsTools,
    Dracut,
    None,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct VerifySpec {
    /// SSH must answer within this long after a reboot (bar 1), e.g. `10m`.
    #[serde(default = "default_heartbeat")]
    pub heartbeat: Span,
    /// Device-tree files and the values they must hold (bar 3).
    #[serde(default)]
    pub dt: BTreeMap<String, String>,
    /// sysfs/procfs files and the values they must hold (bar 3).
    #[serde(default)]
    pub sysfs: BTreeMap<String, String>,
    /// Burn-in duration (bar 5); `0h` turns it off.
    #[serde(default = "default_burn_in")]
    pub burn_in: Span,
    /// Allow `cmd` probes on this host (they run a command; everything else is read-only).
    #[serde(default)]
    pub allow_cmd_probes: bool,
}

fn default_heartbeat() -> Span {
    Span::minutes(10)
}
fn default_burn_in() -> Span {
    Span::hours(0)
}

impl HostManifest {
    /// Load `fleet/<host>.yaml` and check what the type cannot: names and scopes.
    pub fn load(path: &Path, shown_as: &str) -> Result<HostManifest> {
        let m: HostManifest = load_yaml(path, shown_as)?;
        m.validate(path, shown_as)?;
        Ok(m)
    }

    /// `install.fdt`, when the manifest sets it.
    pub fn fdt(&self) -> Option<&str> {
        self.install.as_ref().and_then(|i| i.fdt.as_deref())
    }

    fn validate(&self, path: &Path, shown_as: &str) -> Result<()> {
        let at = |e: Error| contract(format!("{shown_as}: {e}"));
        check_name("host", &self.host).map_err(at)?;
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        if stem != self.host {
            return Err(contract(format!(
                "{shown_as}: host: {} does not match the file name; rename the file to fleet/{}.yaml or fix host:",
                quoted(&self.host),
                self.host
            )));
        }
        for s in &self.scopes {
            check_scope(s).map_err(at)?;
        }
        for s in self.include.iter().chain(&self.exclude) {
            check_series_ref(s).map_err(at)?;
        }
        if let Some(k) = &self.kernel {
            k.baseline.source().map_err(at)?;
            check_name("pkgbase", &k.pkgbase).map_err(at)?;
            check_name("suffix", &k.suffix).map_err(at)?;
        }
        if let Some(ssh) = &self.ssh {
            check_name("ssh user", &ssh.user).map_err(at)?;
            check_name("ssh address", &ssh.address).map_err(at)?;
        }
        if let Some(i) = &self.install
            && let Some(from) = &i.copy_from
        {
            check_name("install.copy_from address", &from.address).map_err(at)?;
            if i.copy != CopyMode::Lan {
                return Err(contract(format!(
                    "{shown_as}: install.copy_from is only used with install.copy: lan; add copy: lan or remove copy_from"
                )));
            }
        }
        if let Some(i) = &self.install
            && let Some(fdt) = &i.fdt
        {
            let shown_at = match key_line(path, "fdt") {
                Some(line) => format!("{shown_as}:{line}"),
                None => shown_as.to_string(),
            };
            check_fdt(fdt, self.arch, i.bootloader)
                .map_err(|e| contract(format!("{shown_at}: {e}")))?;
        }
        if let Some(b) = &self.build {
            for h in std::iter::once(&b.host).chain(&b.fallback) {
                check_name("build host", h).map_err(at)?;
            }
        }
        if let Some(b) = &self.build_host {
            check_name("build user", &b.user).map_err(at)?;
        }
        if let Some(sign) = &self.sign {
            sign.validate().map_err(at)?;
            if !sign.local && self.ssh.is_none() {
                return Err(contract(format!(
                    "{shown_as}: sign: the sign host needs ssh: {{ address, user }} (or sign.local: true when it is this machine)"
                )));
            }
            if sign.local {
                ka_core::paths::refuse_home(Path::new(&sign.gnupghome), "sign.gnupghome")
                    .map_err(at)?;
            }
        }
        Ok(())
    }
}

/// `install.fdt`: a path below the kernel's dtbs folder (no `..`, not
/// absolute) naming a `.dtb`, in characters that may reach a package script
/// and an extlinux line as they are; only for aarch64 hosts booted by extlinux.
pub fn check_fdt(fdt: &str, arch: Arch, bootloader: Bootloader) -> Result<()> {
    if arch == Arch::X86_64 {
        return Err(contract(format!(
            "install.fdt {} is set on an x86_64 host, which boots no device tree; remove it (it names an aarch64 board's .dtb)",
            quoted(fdt)
        )));
    }
    if bootloader != Bootloader::Extlinux {
        return Err(contract(format!(
            "install.fdt {} is written into the extlinux entry, and this host boots with bootloader: grub; remove it or use bootloader: extlinux",
            quoted(fdt)
        )));
    }
    let chars_ok = fdt
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'+' | b'-' | b'/'));
    if ka_core::paths::safe_relative("install.fdt", fdt).is_err()
        || !chars_ok
        || !fdt.ends_with(".dtb")
        || fdt.ends_with("/.dtb")
        || fdt == ".dtb"
    {
        return Err(contract(format!(
            "install.fdt {} is not a device-tree file below the kernel's dtbs folder: write a relative path without '..' that ends in .dtb, in letters, digits and ._+-/, e.g. rockchip/rk3399-pinebook-pro.dtb",
            quoted(fdt)
        )));
    }
    Ok(())
}

/// The 1-based line of the first `key:` in the file at `path` (block or flow
/// style), for errors found after parsing; None when it cannot be read.
fn key_line(path: &Path, key: &str) -> Option<usize> {
    let text = std::fs::read_to_string(path).ok()?;
    let want = format!("{key}:");
    text.lines()
        .position(|l| {
            let l = l.split('#').next().unwrap_or_default();
            l.match_indices(&want)
                .any(|(i, _)| i == 0 || matches!(l.as_bytes()[i - 1], b' ' | b'\t' | b'{' | b','))
        })
        .map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_yaml;

    #[test]
    fn install_fdt_is_a_dtb_below_the_dtbs_folder_of_an_aarch64_host() {
        let dir = tempfile::tempdir().unwrap();
        let load = |arch: &str, install: &str| {
            let path = dir.path().join("pbp.yaml");
            std::fs::write(
                &path,
                format!(
                    "host: pbp\nrole: dev\narch: {arch}\ndistro: arch\ninstall:\n  mode: alongside\n  bootloader: extlinux\n  initramfs: mkinitcpio\n{install}"
                ),
            )
            .unwrap();
            HostManifest::load(&path, "fleet/pbp.yaml").map_err(|e| e.to_string())
        };
        let m = load("aarch64", "  fdt: rockchip/rk3399-pinebook-pro.dtb\n").unwrap();
        assert_eq!(m.fdt(), Some("rockchip/rk3399-pinebook-pro.dtb"));
        assert_eq!(load("aarch64", "").unwrap().fdt(), None);
        assert_eq!(load("x86_64", "").unwrap().fdt(), None);
        // refused with the file and the line of fdt:
        let err = load("x86_64", "  fdt: rockchip/rk3399-pinebook-pro.dtb\n").unwrap_err();
        assert!(
            err.starts_with("fleet/pbp.yaml:9: install.fdt \"rockchip/rk3399-pinebook-pro.dtb\" is set on an x86_64 host"),
            "{err}"
        );
        for bad in [
            "../rockchip/x.dtb",
            "/boot/dtbs/rockchip/x.dtb",
            "rockchip/../x.dtb",
            "./x.dtb",
            "rockchip/x.dts",
            "rockchip/",
            "rockchip/.dtb",
            "rock chip/x.dtb",
            "rockchip/x;reboot.dtb",
            "''",
        ] {
            let err = load("aarch64", &format!("  fdt: {bad}\n")).unwrap_err();
            assert!(
                err.starts_with("fleet/pbp.yaml:9: install.fdt ")
                    && err.contains("is not a device-tree file below the kernel's dtbs folder"),
                "{bad}: {err}"
            );
        }
        // flow style: the line of the install: mapping
        let path = dir.path().join("pbp.yaml");
        std::fs::write(
            &path,
            "host: pbp\nrole: dev\narch: x86_64\ndistro: arch\ninstall: { mode: alongside, bootloader: extlinux, initramfs: none, fdt: a/b.dtb }\n",
        )
        .unwrap();
        let err = HostManifest::load(&path, "fleet/pbp.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("fleet/pbp.yaml:5: install.fdt"), "{err}");
        assert!(
            check_fdt("a/b.dtb", Arch::Aarch64, Bootloader::Grub)
                .unwrap_err()
                .to_string()
                .contains("bootloader: grub")
        );
    }

    #[test]
    fn baseline_ref_stays_a_string() {
        let b: BaselineSpec = parse_yaml("{ git: /src/linux, ref: 6.10 }", "x").unwrap();
        assert_eq!(
            b.source().unwrap(),
            BaselineSource::Git {
                url: "/src/linux",
                git_ref: "6.10"
            }
        );
    }
}
