//! Writing the package folder: the release number of a promotion, what a
//! render reads besides the lock, the real render (built under a temp name,
//! renamed into place) and the dry one, and the `ka.render` document.

use crate::baseline::{baseline_makefile, commit_time, find_baseline};
use crate::files::render_files;
use crate::input::{Input, load_manifest};
use crate::{KernelVersion, TARBALL, Target, tarball};
use ka_core::atomic;
use ka_core::error::{Error, Result, contract, negative};
use ka_core::hash::{B2Hasher, b2sum};
use ka_core::hostlock::HostLock;
use ka_core::paths::Layout;
use ka_schema::{Artifact, Render, V1};
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

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

/// Render the folder for `input` and return its `ka.render` document.
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
