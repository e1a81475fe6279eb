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
use ka_core::atomic;
use ka_core::error::{Error, ExitCode, Result, contract, negative, usage};
use ka_core::hash::{B2Hasher, b2sum};
use ka_core::hostlock::HostLock;
use ka_core::names::{check_file_name, check_name};
use ka_core::paths::{Layout, fleet_repo, runtime_root};
use ka_schema::{Artifact, Lock, Render, V1, Verb};
use ka_schema::{Distro, HostManifest};
use serde::Serialize;
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

mod tarball;
mod target;

pub use target::{KernelVersion, Target};

pub const LOCK: &str = "manifest.lock";
pub const CUMULATIVE: &str = "cumulative.patch";
pub const TARBALL: &str = "linux.tar";
pub const CONFIG: &str = "config";

/// The templates, embedded at build time from the repository's `templates/`.
pub mod templates {
    pub const PKGBUILD: &str = include_str!("../../../templates/arch/PKGBUILD.j2");
    pub const PRESET: &str = include_str!("../../../templates/arch/preset.j2");
    pub const INITRAMFS_HOOK: &str = include_str!("../../../templates/arch/initramfs.hook.j2");
    pub const INITRAMFS_REMOVE_HOOK: &str =
        include_str!("../../../templates/arch/initramfs-remove.hook.j2");
    pub const EXTLINUX_HOOK: &str = include_str!("../../../templates/arch/extlinux.hook.j2");
    pub const EXTLINUX_REMOVE_HOOK: &str =
        include_str!("../../../templates/arch/extlinux-remove.hook.j2");
    pub const EXTLINUX_SCRIPT: &str = include_str!("../../../templates/arch/ka-extlinux.sh.j2");
    pub const DEBIAN_BUILD: &str = include_str!("../../../templates/debian/build.sh.j2");
}

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
    /// The fleet repository (default: KA_REPO or the current directory).
    #[arg(long, value_name = "DIR")]
    pub repo: Option<PathBuf>,
    /// Runtime state (default: KA_ROOT or /srv/kernel-agent).
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
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
    let layout = Layout::new(runtime_root(cli.root.as_deref())?);
    let repo = fleet_repo(cli.repo.as_deref())?;
    let input = Input::load(&cli, &layout, &repo)?;
    let render = if cli.dry_run {
        render_dry(&layout, &repo, &input)?
    } else {
        render(&layout, &repo, &input)?
    };
    ka_core::stream::write_docs(&[render]).context("stdout")?;
    Ok(ExitCode::Ok)
}

/// A lock and the cumulative patch it names, checked against each other.
#[derive(Debug)]
pub struct Input {
    pub lock: Lock,
    /// The lock as `ka-concat` writes it (pretty JSON and a newline).
    pub lock_bytes: Vec<u8>,
    pub cumulative: Vec<u8>,
    /// The checked kernel config of the lock (`config` beside it).
    pub config: Vec<u8>,
}

impl Input {
    fn load(cli: &Cli, layout: &Layout, repo: &Path) -> Result<Input> {
        // a host named on the command line is a fleet host kernel-agent may
        // target, whatever the lock says
        let manifest = match &cli.host {
            Some(h) => Some(ka_schema::fleet::target(repo, h)?.0),
            None => None,
        };
        let (lock, lock_dir): (Lock, Option<PathBuf>) = match (&cli.lock, &cli.host) {
            (Some(p), _) if p.as_os_str() == "-" => (
                ka_core::stream::read_one(std::io::stdin().lock(), "stdin")?,
                None,
            ),
            (Some(p), _) => (
                ka_core::stream::read_file(p)?,
                Some(
                    p.parent()
                        .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
                ),
            ),
            (None, Some(host)) => {
                let dir = layout.promoted(host);
                let path = dir.join(LOCK);
                if !path.is_file() {
                    refuse_by_gate(layout, manifest.as_ref().expect("the host's manifest"))?;
                    return Err(negative(format!(
                        "{}: {host} has no promoted lock; run ka-promote {host} first",
                        path.display()
                    )));
                }
                (ka_core::stream::read_file(&path)?, Some(dir))
            }
            (None, None) => {
                return Err(usage(
                    "name a HOST, or give the lock with --lock FILE (--lock - for stdin)",
                ));
            }
        };
        check_name("host", &lock.host).map_err(|e| contract(format!("lock: {e}")))?;
        if let Some(h) = &cli.host
            && *h != lock.host
        {
            return Err(contract(format!(
                "the lock is for host {:?}, not {h:?}",
                lock.host
            )));
        }
        check_file_name("cumulative file", &lock.cumulative.file)
            .map_err(|e| contract(format!("lock: {e}")))?;
        check_commit(&lock.baseline.commit)?;
        let dir = lock_dir.unwrap_or_else(|| layout.promoted(&lock.host));
        let cumulative_path = match &cli.cumulative {
            Some(p) => p.clone(),
            None => dir.join(&lock.cumulative.file),
        };
        let cumulative = fs::read(&cumulative_path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => negative(format!(
                "{}: the cumulative patch of the lock is missing; run ka-promote {} again",
                cumulative_path.display(),
                lock.host
            )),
            _ => Error::io(&cumulative_path, e),
        })?;
        let sum = b2sum(&cumulative);
        if sum != lock.cumulative.b2sum || cumulative.len() as u64 != lock.cumulative.size {
            return Err(negative(format!(
                "{}: b2sum {} differs from the lock's {} (the promotion was changed after ka-promote); run ka-promote {} again",
                cumulative_path.display(),
                &sum[..16],
                lock.cumulative
                    .b2sum
                    .get(..16)
                    .unwrap_or(&lock.cumulative.b2sum),
                lock.host
            )));
        }
        let config = checked_config(cli, &lock, &dir)?;
        let mut lock_bytes = serde_json::to_vec_pretty(&lock).expect("locks serialize");
        lock_bytes.push(b'\n');
        Ok(Input {
            lock,
            lock_bytes,
            cumulative,
            config,
        })
    }

    /// The render id: the first 16 hex digits of the lock's b2sum.
    pub fn id(&self) -> String {
        b2sum(&self.lock_bytes)[..16].to_string()
    }
}

/// The lock's checked kernel config (ka-promote checks it against the
/// baseline's own Kconfig and writes it beside the lock): the build uses
/// exactly these bytes, so they must match the lock.
fn checked_config(cli: &Cli, lock: &Lock, dir: &Path) -> Result<Vec<u8>> {
    let Some(artifact) = &lock.config else {
        return Err(negative(format!(
            "the lock of {} has no checked kernel config (it was promoted without one); add kernel.config to fleet/{}.yaml and run ka-promote {} again",
            lock.host, lock.host, lock.host
        )));
    };
    check_file_name("config file", &artifact.file).map_err(|e| contract(format!("lock: {e}")))?;
    let path = cli
        .config
        .clone()
        .unwrap_or_else(|| dir.join(&artifact.file));
    let bytes = fs::read(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => negative(format!(
            "{}: the checked config of the lock is missing; run ka-promote {} again",
            path.display(),
            lock.host
        )),
        _ => Error::io(&path, e),
    })?;
    if b2sum(&bytes) != artifact.b2sum {
        return Err(negative(format!(
            "{}: b2sum differs from the lock's (the promotion was changed after ka-promote); run ka-promote {} again",
            path.display(),
            lock.host
        )));
    }
    Ok(bytes)
}

/// The gate's refusal of a build of `m`'s host, said before anything about
/// what is missing for it: the open blocks that halt every build host it may
/// be routed to, or every build.
fn refuse_by_gate(layout: &Layout, m: &HostManifest) -> Result<()> {
    let open = ka_block::Store::local(layout).open_blocks()?;
    let routes: Vec<&str> = m
        .build
        .iter()
        .flat_map(|b| std::iter::once(&b.host).chain(&b.fallback))
        .map(String::as_str)
        .collect();
    let in_way = ka_block::gate::halted_before(&open, Verb::Build, &m.host, &routes);
    if in_way.is_empty() {
        return Ok(());
    }
    Err(negative(format!(
        "{}; nothing rendered (ka-gate(1) says what lifts each block)",
        ka_block::gate::refusal(&in_way, &format!("builds of {}", m.host))
    )))
}

fn check_commit(c: &str) -> Result<()> {
    if (c.len() == 40 || c.len() == 64) && c.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(contract(format!(
            "lock: baseline.commit {c:?} is not a full commit id"
        )))
    }
}

// ---------------------------------------------------------------- baseline

/// The bare repository under `KA_ROOT/baselines/` that pins `commit`.
pub fn find_baseline(layout: &Layout, commit: &str) -> Result<PathBuf> {
    let dir = layout.baselines();
    let mut candidates: Vec<PathBuf> = match fs::read_dir(&dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "git") && p.is_dir())
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(Error::io(&dir, e)),
    };
    candidates.sort();
    if let Some(git_dir) = candidates
        .into_iter()
        .find(|g| ka_core::paths::pins(g, commit))
    {
        return Ok(git_dir);
    }
    Err(negative(format!(
        "baseline commit {commit} is pinned in no repository under {}; run ka-promote again (ka-baseline imports it)",
        dir.display()
    )))
}

fn baseline_makefile(git_dir: &Path, commit: &str) -> Option<String> {
    let out = ka_core::git::command()
        .arg("--git-dir")
        .arg(git_dir)
        .args(["cat-file", "blob", &format!("{commit}:Makefile")])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The committer time of the pinned baseline commit, in seconds since the
/// epoch: the build's fixed time (`SOURCE_DATE_EPOCH`,
/// `KBUILD_BUILD_TIMESTAMP`). The commit is in the lock, so the same lock
/// always gives the same time, and a build never reads the clock.
fn commit_time(git_dir: &Path, commit: &str) -> Result<u64> {
    let out = ka_core::git::command()
        .arg("--git-dir")
        .arg(git_dir)
        .args(["show", "-s", "--format=%ct", commit])
        .output()
        .map_err(|e| Error::io("git", e))?;
    let text = String::from_utf8_lossy(&out.stdout);
    match text.trim().parse::<u64>() {
        Ok(t) if out.status.success() => Ok(t),
        _ => Err(usage(format!(
            "git show of baseline commit {commit} in {} gave no commit time: {}; run ka-promote again (ka-baseline imports it)",
            git_dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))),
    }
}

// ---------------------------------------------------------------- rendering

/// One rendered file: name in the folder, bytes (or already on disk), mode.
struct OutFile {
    name: String,
    bytes: Vec<u8>,
    exec: bool,
}

#[derive(Serialize)]
struct Source {
    file: String,
    b2sum: String,
}

#[derive(Serialize)]
struct Vars<'a> {
    #[serde(flatten)]
    target: &'a Target,
    lock_id: String,
    commit: String,
    pkgver: String,
    debver: String,
    pkgrel: u32,
    /// The baseline commit's time: the build's fixed clock (reproducible builds).
    epoch: u64,
    sources: Vec<Source>,
}

/// Refuse a context value that is not a plain token: only validated names,
/// digests and versions may reach a shell script.
fn check_context(value: &serde_json::Value, at: &str) -> Result<()> {
    match value {
        serde_json::Value::String(s) => {
            if s.bytes().all(|b| {
                b.is_ascii_alphanumeric()
                    || matches!(b, b'.' | b'_' | b'+' | b'~' | b'/' | b'=' | b'-')
            }) {
                Ok(())
            } else {
                Err(contract(format!(
                    "refusing to render {at} = {s:?}: only letters, digits and ._+~/=- may reach the package scripts"
                )))
            }
        }
        serde_json::Value::Array(a) => a
            .iter()
            .enumerate()
            .try_for_each(|(i, v)| check_context(v, &format!("{at}[{i}]"))),
        serde_json::Value::Object(o) => o
            .iter()
            .try_for_each(|(k, v)| check_context(v, &format!("{at}.{k}"))),
        _ => Ok(()),
    }
}

fn environment() -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.set_keep_trailing_newline(true);
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env
}

fn render_template(name: &str, source: &str, ctx: &serde_json::Value) -> Result<Vec<u8>> {
    let env = environment();
    env.render_str(source, ctx)
        .map(String::into_bytes)
        .map_err(|e| usage(format!("template {name}: {e:#}")))
}

/// Render the folder's files (all but linux.tar, which is given by its digest).
fn render_files(
    target: &Target,
    input: &Input,
    config: &[u8],
    tarball_b2sum: &str,
    version: &KernelVersion,
    pkgrel: u32,
    epoch: u64,
) -> Result<Vec<OutFile>> {
    let mut files = vec![
        OutFile {
            name: CUMULATIVE.into(),
            bytes: input.cumulative.clone(),
            exec: false,
        },
        OutFile {
            name: CONFIG.into(),
            bytes: config.to_vec(),
            exec: false,
        },
        OutFile {
            name: LOCK.into(),
            bytes: input.lock_bytes.clone(),
            exec: false,
        },
    ];
    let mut ctx = Vars {
        target,
        lock_id: input.id(),
        commit: input.lock.baseline.commit.clone(),
        pkgver: version.pkgver(),
        debver: version.debver(),
        pkgrel,
        epoch,
        sources: Vec::new(),
    };
    let p = &target.pkgbase;
    let value = |ctx: &Vars| -> Result<serde_json::Value> {
        let v = serde_json::to_value(ctx).expect("contexts serialize");
        check_context(&v, "context")?;
        Ok(v)
    };
    match target.distro {
        Distro::Arch => {
            let mut extra: Vec<(String, &str, bool)> = Vec::new();
            if target.mkinitcpio {
                extra.push((format!("{p}.preset"), templates::PRESET, false));
                extra.push((format!("90-{p}.hook"), templates::INITRAMFS_HOOK, false));
                extra.push((
                    format!("60-{p}-initramfs-remove.hook"),
                    templates::INITRAMFS_REMOVE_HOOK,
                    false,
                ));
            }
            if target.extlinux {
                extra.push((format!("ka-extlinux-{p}"), templates::EXTLINUX_SCRIPT, true));
                extra.push((
                    format!("91-{p}-extlinux.hook"),
                    templates::EXTLINUX_HOOK,
                    false,
                ));
                extra.push((
                    format!("60-{p}-extlinux-remove.hook"),
                    templates::EXTLINUX_REMOVE_HOOK,
                    false,
                ));
            }
            let v = value(&ctx)?;
            for (name, tpl, exec) in extra {
                let bytes = render_template(&name, tpl, &v)?;
                files.push(OutFile { name, bytes, exec });
            }
            ctx.sources.push(Source {
                file: TARBALL.into(),
                b2sum: tarball_b2sum.into(),
            });
            for f in &files {
                ctx.sources.push(Source {
                    file: f.name.clone(),
                    b2sum: b2sum(&f.bytes),
                });
            }
            let bytes = render_template("PKGBUILD", templates::PKGBUILD, &value(&ctx)?)?;
            files.push(OutFile {
                name: "PKGBUILD".into(),
                bytes,
                exec: false,
            });
        }
        Distro::Debian => {
            let mut sums = format!("{tarball_b2sum}  {TARBALL}\n");
            for f in &files {
                sums.push_str(&format!("{}  {}\n", b2sum(&f.bytes), f.name));
            }
            let bytes = render_template("build.sh", templates::DEBIAN_BUILD, &value(&ctx)?)?;
            files.push(OutFile {
                name: "b2sums".into(),
                bytes: sums.into_bytes(),
                exec: false,
            });
            files.push(OutFile {
                name: "build.sh".into(),
                bytes,
                exec: true,
            });
        }
    }
    Ok(files)
}

/// Load and check the host manifest the lock was promoted from.
pub fn load_manifest(repo: &Path, lock: &Lock) -> Result<HostManifest> {
    let rel = ka_core::paths::safe_relative("lock.manifest", &lock.manifest)?;
    let path = repo.join(rel);
    let bytes = fs::read(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => negative(format!(
            "{}: the manifest the lock was promoted from is gone; check --repo / KA_REPO, or promote again",
            path.display()
        )),
        _ => Error::io(&path, e),
    })?;
    if b2sum(&bytes) != lock.manifest_b2sum {
        return Err(negative(format!(
            "{}: changed since it was promoted (b2sum differs from the lock's manifest_b2sum); run ka-promote {} again",
            lock.manifest, lock.host
        )));
    }
    let m = HostManifest::load(&path, &lock.manifest)?;
    ka_schema::fleet::refuse_infra(&m, &lock.manifest)?;
    if m.host != lock.host {
        return Err(contract(format!(
            "{}: host {:?} but the lock is for {:?}",
            lock.manifest, m.host, lock.host
        )));
    }
    Ok(m)
}

/// Render the folder for `input` and return its `ka.render` document.
/// The package release of a promotion: `KA_ROOT/hosts/<host>/releases.json`
/// remembers the number each promotion id got per kernel version, so a new
/// promotion on the same baseline gets the next number (pacman and apt see an
/// upgrade) and rendering the same promotion again keeps its number.
fn release_number(layout: &Layout, host: &str, pkgver: &str, id: &str) -> Result<u32> {
    let (n, releases, path) = next_release(layout, host, pkgver, id)?;
    if let Some(releases) = releases {
        atomic::write_json(&path, &releases)?;
    }
    Ok(n)
}

type Releases = std::collections::BTreeMap<String, std::collections::BTreeMap<String, u32>>;

/// The release number of promotion `id`, and the table to write when it is new.
fn next_release(
    layout: &Layout,
    host: &str,
    pkgver: &str,
    id: &str,
) -> Result<(u32, Option<Releases>, PathBuf)> {
    let path = layout.host_dir(host).join("releases.json");
    let mut releases: Releases = match fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            contract(format!(
                "{}: {e}; repair it or remove it (package releases restart at 1)",
                path.display()
            ))
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Releases::new(),
        Err(e) => return Err(Error::io(&path, e)),
    };
    let numbers = releases.entry(pkgver.to_string()).or_default();
    if let Some(&n) = numbers.get(id) {
        return Ok((n, None, path));
    }
    let n = numbers.values().max().copied().unwrap_or(0) + 1;
    numbers.insert(id.to_string(), n);
    Ok((n, Some(releases), path))
}

/// What a render needs besides the lock: read from the fleet repository and
/// the pinned baseline, the same for a real and a dry run.
struct Prepared {
    target: Target,
    config: Vec<u8>,
    git_dir: PathBuf,
    version: KernelVersion,
    epoch: u64,
}

fn prepare(layout: &Layout, repo: &Path, input: &Input) -> Result<Prepared> {
    let lock = &input.lock;
    let manifest = load_manifest(repo, lock)?;
    let target = Target::from_manifest(&manifest, &lock.manifest)?;
    let config = input.config.clone();
    let commit = &lock.baseline.commit;
    let git_dir = find_baseline(layout, commit)?;
    let version = baseline_makefile(&git_dir, commit)
        .and_then(|t| KernelVersion::from_makefile(&t))
        .or_else(|| KernelVersion::from_spec(&lock.baseline.spec))
        .ok_or_else(|| {
            negative(format!(
                "cannot tell the kernel version of baseline {}: its Makefile has no VERSION and neither its tarball name nor its ref holds one",
                lock.baseline.spec.describe()
            ))
        })?;
    let epoch = commit_time(&git_dir, commit)?;
    Ok(Prepared {
        target,
        config,
        git_dir,
        version,
        epoch,
    })
}

/// A render that writes nothing (`--dry-run`): the files are rendered in
/// memory so the document lists them with their real sizes and b2sums.
pub fn render_dry(layout: &Layout, repo: &Path, input: &Input) -> Result<Render> {
    let lock = &input.lock;
    let Prepared {
        target,
        config,
        git_dir,
        version,
        epoch,
    } = prepare(layout, repo, input)?;
    let id = input.id();
    let (pkgrel, _, _) = next_release(layout, &lock.host, &version.pkgver(), &id)?;
    let commit = &lock.baseline.commit;
    let mut files = Vec::new();
    let tarball_sum = match tarball::lookup(layout, commit) {
        Some((_, archive)) => {
            files.push(Artifact {
                file: TARBALL.into(),
                size: archive.size,
                b2sum: archive.b2sum.clone(),
            });
            archive.b2sum
        }
        None => {
            let bytes = tarball::estimate(&git_dir, commit)?;
            eprintln!(
                "ka-render: dry run: a real run archives baseline {} once into {} (about {})",
                &commit[..12.min(commit.len())],
                layout.archives().display(),
                ka_core::term::size(bytes)
            );
            String::new()
        }
    };
    for f in render_files(
        &target,
        input,
        &config,
        &tarball_sum,
        &version,
        pkgrel,
        epoch,
    )? {
        files.push(Artifact {
            size: f.bytes.len() as u64,
            b2sum: b2sum(&f.bytes),
            file: f.name,
        });
    }
    files.sort_by(|a, b| a.file.cmp(&b.file));
    let dir = layout.host_dir(&lock.host).join("render").join(id);
    Ok(document(input, &target, dir, files))
}

/// The `ka.render` document of a folder, written (or, dry, not).
fn document(input: &Input, target: &Target, dir: PathBuf, files: Vec<Artifact>) -> Render {
    Render {
        kind: Default::default(),
        version: V1,
        host: input.lock.host.clone(),
        pkgbase: target.pkgbase.clone(),
        distro: target.distro,
        lock_b2sum: b2sum(&input.lock_bytes),
        dir,
        files,
    }
}

pub fn render(layout: &Layout, repo: &Path, input: &Input) -> Result<Render> {
    let lock = &input.lock;
    let Prepared {
        target,
        config,
        git_dir,
        version,
        epoch,
    } = prepare(layout, repo, input)?;
    let commit = &lock.baseline.commit;
    let id = input.id();
    let parent = layout.host_dir(&lock.host).join("render");
    let dir = parent.join(&id);
    fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, e))?;
    let _held = HostLock::acquire(
        &layout.locks().join(format!("render-{}.lock", lock.host)),
        &format!("ka-render {}", lock.host),
    )?;
    let pkgrel = release_number(layout, &lock.host, &version.pkgver(), &id)?;
    let (archive_path, archive) = tarball::cached(layout, &git_dir, commit)?;
    let tmp = parent.join(format!(".tmp-{id}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let built = (|| -> Result<Vec<Artifact>> {
        tarball::place(&archive_path, &tmp.join(TARBALL))?;
        let sum = archive.b2sum.clone();
        let mut artifacts = vec![Artifact {
            file: TARBALL.into(),
            size: archive.size,
            b2sum: sum.clone(),
        }];
        for f in render_files(&target, input, &config, &sum, &version, pkgrel, epoch)? {
            let path = tmp.join(&f.name);
            atomic::create_synced(&path, &f.bytes)?;
            let mode = if f.exec { 0o755 } else { 0o644 };
            fs::set_permissions(&path, fs::Permissions::from_mode(mode))
                .map_err(|e| Error::io(&path, e))?;
            artifacts.push(Artifact {
                file: f.name,
                size: f.bytes.len() as u64,
                b2sum: b2sum(&f.bytes),
            });
        }
        artifacts.sort_by(|a, b| a.file.cmp(&b.file));
        atomic::sync_dir(&tmp)?;
        Ok(artifacts)
    })();
    let files = match built {
        Ok(f) => f,
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    if dir.exists() && matches_on_disk(&dir, &files, &archive_path) {
        let _ = fs::remove_dir_all(&tmp);
    } else {
        atomic::replace_dir(&tmp, &dir)?;
    }
    Ok(document(input, &target, dir, files))
}

/// Whether every file we would write is already in `dir` with the same content.
/// The tarball is the cached one itself when it is the same inode.
fn matches_on_disk(dir: &Path, files: &[Artifact], archive: &Path) -> bool {
    files.iter().all(|a| {
        let p = dir.join(&a.file);
        if a.file == TARBALL && tarball::is_same_file(&p, archive) {
            return true;
        }
        let Ok(mut f) = fs::File::open(&p) else {
            return false;
        };
        let mut h = B2Hasher::default();
        let mut buf = vec![0u8; 1 << 20];
        let mut size = 0u64;
        loop {
            match f.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    h.update(&buf[..n]);
                    size += n as u64;
                }
                Err(_) => return false,
            }
        }
        size == a.size && h.finish() == a.b2sum
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_refuses_shell_metacharacters() {
        let ok = serde_json::json!({"a": "linux-x_1.2+3", "b": ["x/y=z"], "n": 1});
        check_context(&ok, "ctx").unwrap();
        for bad in ["a b", "a;b", "$(x)", "a'b", "a\nb", "`x`", "a\"b"] {
            let v = serde_json::json!({ "k": bad });
            assert!(check_context(&v, "ctx").is_err(), "{bad:?}");
        }
    }
}
