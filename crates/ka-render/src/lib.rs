//! `ka-render`: a promoted lock and its host manifest become a package source
//! folder, `KA_ROOT/hosts/<host>/render/<id>/`, where `<id>` is the first 16 hex
//! digits of the lock's b2sum (the lock as `ka-concat` writes it, so the id is
//! the promotion id). The folder is self-contained: copy it to the build host and
//! build there as an unprivileged user. Nothing in it is fetched.
//!
//! # Inputs, and what is checked
//! - the lock: `KA_ROOT/hosts/<host>/promoted/manifest.lock`, or `--lock FILE|-`;
//! - the cumulative patch next to it (or `--cumulative FILE`); its b2sum must
//!   equal the lock's, else the promotion was tampered with (exit 1);
//! - the host manifest `lock.manifest` in the fleet repository; its b2sum must
//!   equal `lock.manifest_b2sum`, else it changed since the promote (exit 1:
//!   promote again);
//! - the checked kernel config `config` next to the lock (or `--config FILE`),
//!   written by ka-promote after the baseline's own kconfig made it; its b2sum
//!   must equal the lock's `config` entry (a lock without one is refused:
//!   promote again with `kernel.config`);
//! - the baseline: the bare repository under `KA_ROOT/baselines/*.git` that
//!   holds `refs/ka/pinned/<lock.baseline.commit>`. Its `Makefile`
//!   (`VERSION`, `PATCHLEVEL`, `SUBLEVEL`, `EXTRAVERSION`) gives the package
//!   version; without one, the version in the baseline's tarball name or git ref.
//!
//! # `distro: arch`
//! ```text
//! PKGBUILD                 pkgbase from the manifest; split packages <pkgbase>, <pkgbase>-headers
//! linux.tar                git archive --prefix=linux/ of the pinned commit
//! cumulative.patch         applied in prepare() with patch -Np1 -F0 (sequential, not git apply)
//! config                   the lock's checked config; make olddefconfig in prepare() (kbuild's own sync)
//! manifest.lock            the lock; the package installs it under /usr/share/kernel-agent/<pkgbase>/
//! <pkgbase>.preset         mkinitcpio preset (initramfs: mkinitcpio)
//! 90-<pkgbase>.hook        runs mkinitcpio -p <pkgbase> on Target = boot/<image>
//! 60-<pkgbase>-initramfs-remove.hook
//! ka-extlinux-<pkgbase>    managed extlinux.conf block (bootloader: extlinux)
//! 91-<pkgbase>-extlinux.hook, 60-<pkgbase>-extlinux-remove.hook
//! ```
//! Every source is listed in `source=()` with the b2sum we computed. The build
//! host runs `makepkg --nodeps --noconfirm` in a copy of the folder as the build
//! user (never `--syncdeps`: provisioning is not ours). Kernel files go to
//! alongside-install paths: `/boot/Image-<suffix>` (aarch64) or
//! `/boot/vmlinuz-<suffix>` (x86_64), `/boot/dtbs-<suffix>/`,
//! `/boot/initramfs-<suffix>.img`, modules under `/usr/lib/modules/<release>`
//! where `<release>` ends in `-<suffix>` (`LOCALVERSION`).
//!
//! # `distro: debian`
//! ```text
//! build.sh         checks b2sums, unpacks linux.tar into build/, patch -Np1 -F0, config,
//!                  make olddefconfig, make bindeb-pkg LOCALVERSION=-<suffix>
//!                  KDEB_PKGVERSION=<version>-1; moves the .debs to OUTDIR (./out)
//! b2sums           b2sum --check format, for linux.tar, cumulative.patch, config, manifest.lock
//! linux.tar, cumulative.patch, config, manifest.lock
//! ```
//! The build host runs `./build.sh [OUTDIR]` in a copy of the folder as the build
//! user; it makes `linux-image-<release>` and `linux-headers-<release>`.
//!
//! # Safety of what is rendered
//! Only validated names (host, pkgbase, suffix), hex digests and sanitized
//! versions reach the templates, and the template context is checked again
//! before rendering: a value outside `[A-Za-z0-9._+~/=-]` is refused.
//!
//! # Writing
//! The folder is built under a temp name beside its final place, every file
//! fsynced, then renamed into place. Rendering the same inputs again leaves the
//! folder as it is; different contents for the same id (e.g. a changed config)
//! replace it whole. `linux.tar` is archived once per baseline commit into
//! `KA_ROOT/baselines/archives/` and hard-linked into each folder.

use anyhow::Context as _;
use clap::{CommandFactory, Parser};
use ka_core::args::RepoArg;
use ka_core::args::RootArg;
use ka_core::error::ExitCode;
use std::path::PathBuf;

mod baseline;
mod files;
mod folder;
mod input;
mod tarball;
mod target;
pub mod templates;

pub use baseline::find_baseline;
pub use folder::{render, render_dry};
pub use input::{Input, load_manifest};
pub use target::{KernelVersion, Target};

pub const LOCK: &str = "manifest.lock";
pub const CUMULATIVE: &str = "cumulative.patch";
pub const TARBALL: &str = "linux.tar";
pub const CONFIG: &str = "config";

#[derive(Parser, Debug)]
#[command(
    name = "ka-render",
    version,
    about = "Promoted lock + host manifest to a package source folder; prints ka.render",
    long_about = "Reads the promoted lock of HOST (KA_ROOT/hosts/HOST/promoted/manifest.lock, or \
--lock FILE, or --lock - for stdin), the cumulative patch and the checked kernel config \
next to it (ka-promote writes the config the baseline's own kconfig made), the host manifest \
from the fleet repository, and the pinned baseline from KA_ROOT/baselines/*.git. Refuses \
(exit 1) when the cumulative's or the config's b2sum differs from the lock's (tampered \
promotion), when the manifest changed since the promote (promote again), when the manifest \
has no kernel section, or when the lock has no checked config (promoted without \
kernel.config). A HOST the fleet does not have is \
named, with the fleet's hosts (exit 2); an infra host without opt_in: true, and a build the \
gate halts on every build host HOST may be routed to (or on all, [ka:signing-fail]), are \
refused (exit 1) before a missing promoted lock is.\n\n\
Writes KA_ROOT/hosts/HOST/render/ID/ atomically, ID being the first 16 hex digits of the \
lock's b2sum, and prints one ka.render document naming the folder and every file in it with \
size and b2sum.\n\n\
distro: arch gets a PKGBUILD (split packages PKGBASE and PKGBASE-headers, sources linux.tar = \
git archive of the pinned commit, cumulative.patch applied with patch -Np1 -F0, config, hooks, \
b2sums we computed), the mkinitcpio preset and alpm hook, and the managed extlinux.conf script \
and hooks; build it with `makepkg --nodeps --noconfirm` as the build user in a copy of the \
folder. distro: debian gets build.sh (make bindeb-pkg with LOCALVERSION=-SUFFIX) and b2sums; \
run `./build.sh [OUTDIR]`.\n\n\
Exit codes: 0 rendered · 1 refused · 2 usage or I/O error · 3 input breaks the contract."
)]
pub struct Cli {
    /// The host to render; defaults to the host of --lock.
    #[arg(value_name = "HOST")]
    pub host: Option<String>,
    /// Read the lock from FILE ('-': stdin) instead of the host's promoted one.
    #[arg(long, value_name = "FILE")]
    pub lock: Option<PathBuf>,
    /// The cumulative patch (default: next to the lock; with --lock -, the host's promoted one).
    #[arg(long, value_name = "FILE")]
    pub cumulative: Option<PathBuf>,
    /// The checked kernel config (default: next to the lock; with --lock -, the host's promoted one).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub repo: RepoArg,
    #[command(flatten)]
    pub root: RootArg,
    /// Print the ka.render document (the default: ka-render is a stage).
    #[arg(long)]
    pub json: bool,
    /// Render in memory and write nothing: no folder, no baseline tarball, no
    /// release number. The document names the folder a real run would write;
    /// a tarball not archived yet is left out of its files and said on stderr
    /// with its size.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let layout = cli.root.layout()?;
    let repo = cli.repo.repo()?;
    let input = Input::load(&cli, &layout, &repo)?;
    let render = if cli.dry_run {
        render_dry(&layout, &repo, &input)?
    } else {
        render(&layout, &repo, &input)?
    };
    ka_core::stream::write_docs(&[render]).context("stdout")?;
    Ok(ExitCode::Ok)
}
