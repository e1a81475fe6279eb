//! Publishing: `ka.publish`, the signed repositories a sign host serves.

use crate::{BlockRef, Status, V1};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

// ---------------------------------------------------------------- publish

doc_kind!(PublishKind = "ka.publish");

/// `ka.publish`: what `ka-sign` did with the packages of one build job: copied
/// them to the sign host, signed each one (a detached `.sig`), added them to
/// the repository of the target host's distro and architecture, and swapped
/// the repository to its new generation. Written to
/// `KA_ROOT/publish/<job-id>.json` (every attempt that ran) and, when it
/// succeeded, to `KA_ROOT/hosts/<host>/published.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Publish {
    pub kind: PublishKind,
    pub version: V1,
    /// The target host the packages were built for.
    pub host: String,
    /// The build job whose packages these are.
    pub job: String,
    /// `done`, `unchanged` (every package was published before, byte for
    /// byte), `dry-run`, `blocked` (by the gate), `failed`.
    pub status: Status,
    pub message: String,
    /// The host that signed and holds the repository.
    pub sign_host: String,
    /// The signing key's fingerprint.
    pub key: String,
    pub repo: PublishedRepo,
    /// The packages, as published (paths on the sign host).
    pub packages: Vec<PublishedPackage>,
    /// Every file written on the sign host, by the path readers use (through
    /// the repository's live symlink): packages, `.sig` files, the pacman
    /// databases and their signatures, or `Packages`, `Release`, `InRelease`
    /// and `Release.gpg`. Empty unless `done`.
    pub published: Vec<String>,
    /// Every local file written: this record and the job log.
    pub files: Vec<PathBuf>,
    /// Blocks that stopped the publish, or that it filed (`[ka:signing-fail]`).
    pub blocks: Vec<BlockRef>,
    /// Notices filed (`[ka:installable]` ids).
    pub notices: Vec<String>,
}

/// The repository a publish went into.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PublishedRepo {
    pub distro: crate::Distro,
    pub arch: crate::Arch,
    /// The live path on the sign host: a symlink to the current generation.
    pub path: String,
    /// The pacman repository name, or the apt suite.
    pub name: String,
    /// The generation folder the live symlink points at after this publish
    /// (under `<parent>/.<basename>.generations/`), when it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<String>,
}

/// One published package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PublishedPackage {
    /// The package name, e.g. `linux-fresnel-fourier`.
    pub package: String,
    /// `<pkgver>-<pkgrel>` (pacman) or the Debian version from the file name.
    pub version: String,
    /// The package's architecture as the file name says (`x86_64`, `any`,
    /// `amd64`, `all`, ...).
    pub arch: String,
    /// The package file on the sign host, as readers see it.
    pub file: String,
    /// Its detached signature.
    pub signature: String,
    pub size: u64,
    pub b2sum: String,
    /// The host's kernel package (the one `[ka:installable]` names).
    pub kernel: bool,
}
