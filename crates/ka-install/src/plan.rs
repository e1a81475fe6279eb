//! The plan: what the manifest and published.json say the install is, worked
//! out before anything is touched, and the hash consent is bound to.

use ka_block::store::Store;
use ka_core::error::{Error, Result, contract, negative, usage};
use ka_core::paths::Layout;
use ka_schema::{
    Bootloader, CopyFrom, CopyMode, Distro, HostManifest, KernelSpec, Publish, PublishedPackage,
    Status, Verb,
};
use std::path::Path;

/// Everything known about the install before anything is touched.
pub struct Planned {
    pub manifest: HostManifest,
    pub publish: Publish,
    pub package: PublishedPackage,
    pub label: String,
    /// Debian: from the package name; arch: read from the package's files
    /// once installed.
    pub release: Option<String>,
    pub boot_change: String,
    pub plan_hash: String,
    /// `install.copy: lan`: where the host copies the package from.
    pub lan: Option<LanSource>,
    /// `install.fdt`: the device tree the entry names.
    pub fdt: Option<FdtPlan>,
}

/// `install.fdt` worked out for the package: what it must hold, what the
/// managed entry says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FdtPlan {
    /// As the manifest says it: relative to the kernel's dtbs folder.
    pub fdt: String,
    /// Where the manifest says it, e.g. `fleet/fresnel.yaml`.
    pub manifest: String,
    /// The package member that must exist (no leading `./`): arch
    /// `boot/dtbs-<suffix>/<fdt>`, debian `usr/lib/linux-image-<release>/<fdt>`.
    pub member: String,
    /// The file under /boot the entry's `FDT` names, `dtbs-<suffix or
    /// release>/<fdt>`, written `<prefix>/<boot_path>` (`/boot` prefix when
    /// /boot is on the root partition, none when it is its own).
    pub boot_path: String,
}

impl FdtPlan {
    /// The `FDT` line of the entry, with the partition prefix of
    /// [`extlinux::boot_prefix`](crate::extlinux::boot_prefix).
    pub fn line(&self, prefix: &str) -> String {
        format!("FDT {prefix}/{}", self.boot_path)
    }
}

/// The sign host's sshd as the target host reaches it (`install.copy: lan`).
#[derive(Debug, Clone)]
pub struct LanSource {
    pub user: String,
    pub address: String,
    pub port: u16,
    /// The sign host's keys from fleet/known_hosts, as lines for the alias
    /// [`SIGN_HOST_ALIAS`] (the target checks them strictly).
    pub known_hosts: String,
}

/// The name the target's scp checks the sign host's key under.
pub(crate) const SIGN_HOST_ALIAS: &str = "ka-sign-host";

/// The plan hash: what consent is bound to.
pub fn plan_hash(host: &str, package_b2sum: &str, boot_change: &str) -> String {
    let text =
        format!("ka-install plan\nhost {host}\npackage {package_b2sum}\nboot {boot_change}\n");
    ka_core::hash::b2sum(text.as_bytes())[..16].to_string()
}

/// Read the manifest and published.json of `host` and work out the plan.
pub fn plan(repo: &Path, layout: &Layout, host: &str) -> Result<Planned> {
    let (manifest, shown) = ka_schema::fleet::target(repo, host)?;
    let kernel = installable(&manifest, &shown, host)?;
    let published_path = layout.published(host);
    let (publish, package) = read_published(layout, host, &published_path)?;
    let label = kernel.pkgbase.clone();
    let fdt = manifest
        .fdt()
        .map(|fdt| fdt_plan(&manifest, kernel, &package, &shown, fdt));
    let (release, boot_change) =
        boot_change(&manifest, &package, &label, fdt.as_ref(), &published_path)?;
    let plan_hash = plan_hash(host, &package.b2sum, &boot_change);
    let lan = match manifest
        .install
        .as_ref()
        .map(|i| (i.copy, i.copy_from.clone()))
    {
        Some((CopyMode::Lan, from)) => Some(lan_source(repo, &shown, from)?),
        _ => None,
    };
    Ok(Planned {
        manifest,
        publish,
        package,
        label,
        release,
        boot_change,
        plan_hash,
        lan,
        fdt,
    })
}

/// The manifest (`shown` as its path) says how to reach and boot the host:
/// its kernel, ssh and extlinux install sections.
fn installable<'m>(manifest: &'m HostManifest, shown: &str, host: &str) -> Result<&'m KernelSpec> {
    let kernel = manifest.kernel.as_ref().ok_or_else(|| {
        usage(format!(
            "{shown} has no kernel: section: kernel-agent installs no kernel on {host}"
        ))
    })?;
    if manifest.ssh.is_none() {
        return Err(usage(format!(
            "{shown}: no ssh: section, so {host} cannot be reached: add ssh: {{ address: ..., user: ... }}"
        )));
    }
    match manifest.install.as_ref().map(|i| i.bootloader) {
        Some(Bootloader::Extlinux) => {}
        Some(Bootloader::Grub) => {
            return Err(usage(format!(
                "{shown}: install.bootloader grub is not supported by ka-install yet (extlinux only)"
            )));
        }
        None => {
            return Err(usage(format!(
                "{shown}: no install: section: add install: {{ mode: ..., bootloader: extlinux, initramfs: ... }}"
            )));
        }
    }
    Ok(kernel)
}

/// A broken published.json, named.
fn bad_published(published_path: &Path, m: String) -> Error {
    contract(format!("{}: {m}", published_path.display()))
}

/// The last successful publish of `host` and its kernel package.
fn read_published(
    layout: &Layout,
    host: &str,
    published_path: &Path,
) -> Result<(Publish, PublishedPackage)> {
    if !published_path.exists() {
        // the gate's refusal comes before "run ka-publish first"
        let open = Store::local(layout).open_blocks()?;
        let in_way = ka_block::gate::halted_before(&open, Verb::Install, host, &[]);
        if !in_way.is_empty() {
            return Err(negative(format!(
                "{}; nothing was changed",
                ka_block::gate::refusal(&in_way, &format!("installs to {host}"))
            )));
        }
        return Err(usage(format!(
            "{host}: nothing published: {} does not exist; run `ka-publish {host}` first",
            published_path.display()
        )));
    }
    let publish: Publish = ka_core::stream::read_file(published_path)?;
    let bad = |m: String| bad_published(published_path, m);
    if publish.host != host {
        return Err(bad(format!("records host {:?}, not {host}", publish.host)));
    }
    if publish.status != Status::Done && publish.status != Status::Unchanged {
        return Err(bad("is not a successful publish".into()));
    }
    let package = publish
        .packages
        .iter()
        .find(|p| p.kernel)
        .cloned()
        .ok_or_else(|| bad("names no kernel package (kernel: true)".into()))?;
    ka_core::names::check_name("package", &package.package).map_err(|e| bad(e.to_string()))?;
    ka_notice::store::check_version(&package.version).map_err(|e| bad(e.to_string()))?;
    Ok((publish, package))
}

/// `install.fdt` (`fdt`) for this package: the member it must hold and the
/// file under /boot the entry names.
fn fdt_plan(
    manifest: &HostManifest,
    kernel: &KernelSpec,
    package: &PublishedPackage,
    shown: &str,
    fdt: &str,
) -> FdtPlan {
    let (member, boot_path) = match manifest.distro {
        Distro::Arch => (
            format!("boot/dtbs-{}/{fdt}", kernel.suffix),
            format!("dtbs-{}/{fdt}", kernel.suffix),
        ),
        // bindeb-pkg installs the dtbs under /usr/lib/linux-image-<release>/;
        // the release is checked in boot_change, before it is used
        Distro::Debian => {
            let release = package
                .package
                .strip_prefix("linux-image-")
                .unwrap_or_default();
            (
                format!("usr/lib/linux-image-{release}/{fdt}"),
                format!("dtbs-{release}/{fdt}"),
            )
        }
    };
    FdtPlan {
        fdt: fdt.to_string(),
        manifest: shown.to_string(),
        member,
        boot_path,
    }
}

/// The kernel release when the package name says it (debian), and the
/// boot-config change as the plan states it.
fn boot_change(
    manifest: &HostManifest,
    package: &PublishedPackage,
    label: &str,
    fdt: Option<&FdtPlan>,
    published_path: &Path,
) -> Result<(Option<String>, String)> {
    let fdt_change = |how: &str| match fdt {
        Some(f) => format!(", FDT {}{how}", f.boot_path),
        None => String::new(),
    };
    Ok(match manifest.distro {
        Distro::Debian => {
            let release = package
                .package
                .strip_prefix("linux-image-")
                .filter(|r| !r.is_empty())
                .ok_or_else(|| {
                    bad_published(
                        published_path,
                        format!(
                            "the kernel package {} is not a linux-image-<release> package",
                            package.package
                        ),
                    )
                })?
                .to_string();
            let change = format!(
                "extlinux.conf: managed block {label} (LINUX vmlinuz-{release}, INITRD initrd.img-{release} if the package makes one{}) written by ka-install; DEFAULT {label}",
                fdt_change(&format!(" copied from /usr/lib/linux-image-{release}/"))
            );
            (Some(release), change)
        }
        Distro::Arch => (
            None,
            match fdt {
                Some(f) => format!(
                    "extlinux.conf: managed block {label} (FDT {}) written by the package's hook (ka-extlinux-{label}); DEFAULT {label}",
                    f.boot_path
                ),
                None => format!(
                    "extlinux.conf: managed block {label} written by the package's hook (ka-extlinux-{label}); DEFAULT {label}"
                ),
            },
        ),
    })
}

/// `install.copy: lan`: the sign host's ssh user, its address as the target
/// sees it, and its keys from fleet/known_hosts (looked up at the address
/// this machine uses, by `ssh-keygen -F`, so hashed lines work too).
fn lan_source(repo: &Path, shown: &str, from: Option<CopyFrom>) -> Result<LanSource> {
    let keyring = repo.join("fleet/keyring.gpg");
    if !keyring.exists() {
        return Err(usage(format!(
            "{shown}: install.copy: lan sends {} to the host for its signature check, and it does not exist: export the fleet's public key into it (`gpg --export FPR > fleet/keyring.gpg`)",
            keyring.display()
        )));
    }
    let sign = ka_schema::fleet::sign_host(repo)?;
    let ssh = sign.ssh.as_ref().ok_or_else(|| {
        usage(format!(
            "{shown}: install.copy: lan needs the sign host's ssh: section (fleet/{}.yaml: {{ address, user }}), the account the host copies from",
            sign.host
        ))
    })?;
    let known = ka_schema::fleet::known_hosts(repo);
    let pattern = if ssh.port == 22 {
        ssh.address.clone()
    } else {
        format!("[{}]:{}", ssh.address, ssh.port)
    };
    let out = std::process::Command::new("ssh-keygen")
        .arg("-F")
        .arg(&pattern)
        .arg("-f")
        .arg(&known)
        .output()
        .map_err(|e| usage(format!("ssh-keygen: {e} (install openssh-client)")))?;
    let keys: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with('@'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 3).then(|| format!("{SIGN_HOST_ALIAS} {} {}\n", f[1], f[2]))
        })
        .collect();
    if keys.is_empty() {
        return Err(usage(format!(
            "{shown}: install.copy: lan: {} has no key for the sign host {} ({pattern}); add its line (ssh-keyscan, checked on its console)",
            known.display(),
            sign.host
        )));
    }
    let (address, port) = match from {
        Some(f) => (f.address, f.port),
        None => (ssh.address.clone(), ssh.port),
    };
    Ok(LanSource {
        user: ssh.user.clone(),
        address,
        port,
        known_hosts: keys.concat(),
    })
}
