//! The baseline tarball of a render: `git archive --format=tar --prefix=linux/`
//! of the pinned commit. Archiving and hashing a kernel (1.3 GB) takes several
//! seconds, and every promotion on the same baseline needs the same bytes, so
//! each commit is archived once into `KA_ROOT/baselines/archives/<commit>.tar`
//! (with `<commit>.json` holding its size and b2sum, written after the tarball)
//! and render folders hard-link it.

use ka_core::error::{Error, Result, usage};
use ka_core::hash::B2Hasher;
use ka_core::paths::Layout;
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// What is known of a cached tarball without reading it again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Archive {
    pub size: u64,
    pub b2sum: String,
}

/// The cached tarball of `commit`, if it is there (read only: for dry runs).
pub fn lookup(layout: &Layout, commit: &str) -> Option<(PathBuf, Archive)> {
    let dir = layout.archives();
    let tar = dir.join(format!("{commit}.tar"));
    let meta = dir.join(format!("{commit}.json"));
    let archive = serde_json::from_slice::<Archive>(&fs::read(&meta).ok()?).ok()?;
    fs::metadata(&tar)
        .is_ok_and(|m| m.is_file() && m.len() == archive.size)
        .then_some((tar, archive))
}

/// The bytes of the files of `commit`: about the size its tarball would have.
/// `git ls-tree -r -l` reads only trees, so this costs a second, not an archive.
pub fn estimate(git_dir: &Path, commit: &str) -> Result<u64> {
    let out = ka_core::git::command()
        .arg("--git-dir")
        .arg(git_dir)
        .args(["ls-tree", "-r", "-l", "-z", commit])
        .output()
        .map_err(|e| Error::io("git", e))?;
    if !out.status.success() {
        return Err(usage(format!(
            "git ls-tree of {commit} in {} failed: {}",
            git_dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    // "<mode> blob <id> <size>\t<path>\0"; submodules and trees show "-"
    Ok(out
        .stdout
        .split(|&b| b == 0)
        .filter_map(|entry| {
            let meta = entry.split(|&b| b == b'\t').next()?;
            std::str::from_utf8(meta)
                .ok()?
                .split_whitespace()
                .nth(3)?
                .parse::<u64>()
                .ok()
        })
        .sum())
}

/// The cached tarball of `commit` and its size and b2sum, made on first use.
/// A cache entry whose tarball is missing or has another size is made again.
pub fn cached(layout: &Layout, git_dir: &Path, commit: &str) -> Result<(PathBuf, Archive)> {
    let dir = layout.archives();
    let tar = dir.join(format!("{commit}.tar"));
    let meta = dir.join(format!("{commit}.json"));
    if let Ok(bytes) = fs::read(&meta)
        && let Ok(archive) = serde_json::from_slice::<Archive>(&bytes)
        && fs::metadata(&tar).is_ok_and(|m| m.is_file() && m.len() == archive.size)
    {
        return Ok((tar, archive));
    }
    fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let tmp = dir.join(format!(".{commit}.tar.{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    let archive = match write_tarball(git_dir, commit, &tmp) {
        Ok(a) => a,
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
    };
    // The tarball first, then the record naming its size: a crash in between
    // leaves a tarball without a record, which is made again.
    fs::rename(&tmp, &tar).map_err(|e| Error::io(&tar, e))?;
    ka_core::atomic::write_json(&meta, &archive)?;
    Ok((tar, archive))
}

/// Put the cached tarball at `dest` (new): a hard link, or a copy when the
/// render folder is on another file system.
pub fn place(cached: &Path, dest: &Path) -> Result<()> {
    if fs::hard_link(cached, dest).is_ok() {
        return Ok(());
    }
    fs::copy(cached, dest).map_err(|e| Error::io(dest, e))?;
    fs::File::open(dest)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io(dest, e))
}

/// Whether `path` is the cached tarball itself (the same inode), so a render
/// folder holding it need not be hashed again.
pub fn is_same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (fs::metadata(a), fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// Stream `git archive` of `commit` into `path` (created new, fsynced),
/// hashing on the way.
fn write_tarball(git_dir: &Path, commit: &str, path: &Path) -> Result<Archive> {
    let mut child = ka_core::git::command()
        .arg("--git-dir")
        .arg(git_dir)
        .args(["archive", "--format=tar", "--prefix=linux/", commit])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::io("git", e))?;
    let mut stdout = child.stdout.take().expect("piped");
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    let mut hasher = B2Hasher::default();
    let mut size = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    let copied: std::io::Result<()> = (|| {
        loop {
            let n = stdout.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            file.write_all(&buf[..n])?;
            size += n as u64;
        }
        file.sync_all()
    })();
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    let status = child.wait().map_err(|e| Error::io("git", e))?;
    copied.map_err(|e| Error::io(path, e))?;
    if !status.success() {
        return Err(usage(format!(
            "git archive of {commit} in {} failed: {}",
            git_dir.display(),
            err.trim()
        )));
    }
    Ok(Archive {
        size,
        b2sum: hasher.finish(),
    })
}
