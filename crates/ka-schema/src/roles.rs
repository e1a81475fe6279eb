//! The fleet roles a host can take besides running a kernel: the
//! `build_host:` and `sign:` sections of `fleet/<host>.yaml` (see
//! [`crate::HostManifest`]), with the checks their types cannot make. Kept
//! apart from the manifest because they describe services a host offers the
//! fleet rather than the host's own kernel.

use crate::{Arch, Span};
use ka_core::error::{Result, contract, quoted};
use ka_core::names::check_name;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct BuildHostSpec {
    /// The unprivileged build user.
    pub user: String,
    /// Target architectures this host builds for (natively or with a cross toolchain).
    pub arches: Vec<Arch>,
    /// Optional wake command run locally before use (wake-on-LAN style).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wake: Option<Vec<String>>,
    /// Run locally to release a woken host (e.g. suspend it again) once it has
    /// been idle for `idle_release`; see `ka-job release-idle`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<Vec<String>>,
    /// Release the host after this long idle, e.g. `30m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_release: Option<Span>,
    /// kernel-agent's folder on the build host (sources, ccache, kept trees),
    /// provisioned by the host's owner and writable by `user`.
    #[serde(default = "default_build_root")]
    pub root: String,
    /// Free space (GiB) a build needs under `root` (default 20); below it
    /// the pre-flight files `[ka:bootstrap-missing]` naming the folders to
    /// prune (`ka-prune` removes old job trees and source cache entries).
    #[serde(default = "default_min_free_gib")]
    pub min_free_gib: u32,
}

fn default_build_root() -> String {
    ka_core::paths::DEFAULT_ROOT.to_string()
}

fn default_min_free_gib() -> u32 {
    20
}

/// `sign:` in the sign host's manifest: one key signs every package (a
/// detached `.sig`) and the repository indices, and the repositories live on
/// this host. Every path is on the sign host, absolute, and never under a home
/// folder; the publishing user (`ssh.user`) owns them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SignSpec {
    /// The full fingerprint of the signing key (40 hex digits).
    pub key: String,
    /// The GnuPG home holding the secret key (passphrase-less: signing runs
    /// unattended; a key that asks for a passphrase is a signing failure).
    pub gnupghome: String,
    /// `true`: the sign host is this machine and is reached without SSH
    /// (`ssh:` is then not used). Otherwise `ssh:` says how to reach it.
    #[serde(default)]
    pub local: bool,
    /// Uploaded packages wait in `<staging>/<job-id>/` until signed.
    #[serde(default = "default_sign_staging")]
    pub staging: String,
    /// Generations of each repository kept, the live one included (at least 2,
    /// so a reader in the middle of a download never loses its files).
    #[serde(default = "default_sign_keep")]
    pub keep: u32,
    /// The pacman repository (for `distro: arch` hosts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pacman: Option<PacmanRepoSpec>,
    /// The apt repository (for `distro: debian` hosts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apt: Option<AptRepoSpec>,
}

fn default_sign_staging() -> String {
    format!("{}/sign/staging", ka_core::paths::DEFAULT_ROOT)
}
fn default_sign_keep() -> u32 {
    3
}

/// A pacman repository: the packages of architecture `A` are served from
/// `<root>/<A>/` (`Server = .../$arch`), indexed by `<name>.db.tar.gz`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PacmanRepoSpec {
    /// The repository name (`[name]` in pacman.conf; `<name>.db`).
    pub name: String,
    pub root: String,
}

/// An apt repository at `<root>`: `pool/<component>/` and
/// `dists/<suite>/` with `InRelease` and `Release.gpg`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct AptRepoSpec {
    pub root: String,
    /// The suite (and codename) clients name in sources.list, e.g. `kernel-agent`.
    pub suite: String,
    #[serde(default = "default_apt_component")]
    pub component: String,
    /// `Origin:` and `Label:` of the Release file.
    #[serde(default = "default_apt_origin")]
    pub origin: String,
}

fn default_apt_component() -> String {
    "main".into()
}
fn default_apt_origin() -> String {
    "kernel-agent".into()
}

impl SignSpec {
    pub(crate) fn validate(&self) -> Result<()> {
        let key_ok = self.key.len() == 40 && self.key.bytes().all(|b| b.is_ascii_hexdigit());
        if !key_ok {
            return Err(contract(format!(
                "sign.key {}: give the key's full fingerprint (40 hex digits, `gpg --list-secret-keys --with-colons` prints it on the fpr line)",
                quoted(&self.key)
            )));
        }
        for (what, p) in [
            ("sign.gnupghome", &self.gnupghome),
            ("sign.staging", &self.staging),
        ]
        .into_iter()
        .chain(self.pacman.iter().map(|r| ("sign.pacman.root", &r.root)))
        .chain(self.apt.iter().map(|r| ("sign.apt.root", &r.root)))
        {
            check_sign_path(what, p)?;
        }
        if self.keep < 2 {
            return Err(contract(format!(
                "sign.keep {}: keep at least 2 generations (the live one and the one a reader may still be downloading from)",
                self.keep
            )));
        }
        if let Some(r) = &self.pacman {
            check_name("sign.pacman.name", &r.name)?;
        }
        if let Some(r) = &self.apt {
            check_name("sign.apt.suite", &r.suite)?;
            check_name("sign.apt.component", &r.component)?;
            check_name("sign.apt.origin", &r.origin)?;
        }
        if self.pacman.is_none() && self.apt.is_none() {
            return Err(contract(
                "sign: give a repository to publish into: pacman: { name, root } and/or apt: { root, suite }",
            ));
        }
        Ok(())
    }
}

/// A path on the sign host: absolute, plain (no `..`, no whitespace or shell
/// metacharacters) and not under a home folder. The sign host's `$HOME` is not
/// known here, so the usual places of home folders are refused.
fn check_sign_path(what: &str, p: &str) -> Result<()> {
    let plain = p.starts_with('/')
        && p.len() > 1
        && p.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'_' | b'+' | b'-'))
        && !p.split('/').any(|c| c == ".." || c == ".")
        && !p.ends_with('/');
    if !plain {
        return Err(contract(format!(
            "{what} {}: give an absolute path of letters, digits and / . _ + - (no '..', no trailing /)",
            quoted(p)
        )));
    }
    if p == "/root" || p.starts_with("/root/") || p.starts_with("/home/") {
        return Err(contract(format!(
            "{what} {} is under a home folder; kernel-agent never reads or writes under $HOME: use e.g. /srv/kernel-agent/sign/...",
            quoted(p)
        )));
    }
    Ok(())
}
