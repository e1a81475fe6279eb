//! The pinned baseline a lock names: the bare repository under
//! `KA_ROOT/baselines/` that holds it, its `Makefile` and its commit time.

use ka_core::error::{Error, Result, negative, usage};
use ka_core::paths::Layout;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;

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

pub(crate) fn baseline_makefile(git_dir: &Path, commit: &str) -> Option<String> {
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
pub(crate) fn commit_time(git_dir: &Path, commit: &str) -> Result<u64> {
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
