//! Upstream evidence by patch-id: the commits between two baselines that
//! touch the files of the patches, reduced with `git patch-id --stable` (which
//! ignores line numbers and whitespace), looked up by each patch's own id.

use ka_core::error::{Error, Result, usage};
use ka_schema::Check;
use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// Two commits of one repository.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Range {
    pub git_dir: PathBuf,
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone)]
pub struct Commit {
    pub id: String,
    pub subject: String,
}

/// Patch-ids of the upstream commits of each range, computed once per range
/// and file set (hosts on the same baselines share it).
#[derive(Default)]
pub struct Evidence {
    ranges: HashMap<(Range, BTreeSet<String>), HashMap<String, Commit>>,
}

impl Evidence {
    /// The upstream commit in `range` with the same patch-id as `patch`.
    pub fn upstream_commit(
        &mut self,
        range: &Range,
        patch: &Path,
        check: &Check,
    ) -> Result<Option<Commit>> {
        let Some(id) = patch_id(&range.git_dir, &read(patch)?)? else {
            return Ok(None);
        };
        let files = files_of(check);
        let key = (range.clone(), files);
        if !self.ranges.contains_key(&key) {
            let ids = upstream_ids(range, &key.1)?;
            self.ranges.insert(key.clone(), ids);
        }
        Ok(self.ranges[&key].get(&id).cloned())
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

/// Every file any patch of the plan touches (both names of a rename).
fn files_of(check: &Check) -> BTreeSet<String> {
    let mut files = BTreeSet::new();
    for p in &check.patches {
        for f in &p.files {
            files.insert(f.path.clone());
            if let Some(from) = &f.from {
                files.insert(from.clone());
            }
        }
    }
    files
}

/// `git patch-id --stable` of one patch; `None` for a patch without a diff.
fn patch_id(git_dir: &Path, bytes: &[u8]) -> Result<Option<String>> {
    let out = git_with_input(git_dir, &["patch-id", "--stable"], bytes)?;
    Ok(out
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().next())
        .map(str::to_string))
}

/// Patch-id → commit for the non-merge commits in `from..to` touching `files`.
fn upstream_ids(range: &Range, files: &BTreeSet<String>) -> Result<HashMap<String, Commit>> {
    let mut ids = HashMap::new();
    if files.is_empty() {
        return Ok(ids);
    }
    let mut args: Vec<String> = [
        "log",
        "-p",
        "--no-merges",
        "--no-color",
        "--no-ext-diff",
        "--format=commit %H%n    %s",
    ]
    .map(String::from)
    .to_vec();
    args.push(format!("{}..{}", range.from, range.to));
    args.push("--".into());
    args.extend(files.iter().cloned());
    let log = git(&range.git_dir, &args, None)?;
    if log.is_empty() {
        return Ok(ids);
    }
    // The subject follows each `commit` line, indented like a log message
    // (patch-id skips the message up to the diff).
    let mut subjects = HashMap::new();
    let mut lines = log.lines();
    while let Some(line) = lines.next() {
        if let Some(commit) = line.strip_prefix("commit ") {
            let subject = lines.next().unwrap_or("").trim();
            subjects.insert(commit.to_string(), subject.to_string());
        }
    }
    let pairs = git_with_input(&range.git_dir, &["patch-id", "--stable"], log.as_bytes())?;
    for line in pairs.lines() {
        let mut it = line.split_whitespace();
        if let (Some(pid), Some(commit)) = (it.next(), it.next()) {
            ids.insert(
                pid.to_string(),
                Commit {
                    id: commit.to_string(),
                    subject: subjects.get(commit).cloned().unwrap_or_default(),
                },
            );
        }
    }
    Ok(ids)
}

fn git_with_input(git_dir: &Path, args: &[&str], input: &[u8]) -> Result<String> {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    git(git_dir, &args, Some(input))
}

fn git(git_dir: &Path, args: &[String], input: Option<&[u8]>) -> Result<String> {
    let mut child = ka_core::git::command()
        .arg("--git-dir")
        .arg(git_dir)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::io("git", e))?;
    // Feed stdin from a thread: git patch-id writes while it reads.
    let feeder = input.map(|bytes| {
        let mut stdin = child.stdin.take().expect("piped");
        let bytes = bytes.to_vec();
        std::thread::spawn(move || {
            let _ = stdin.write_all(&bytes);
        })
    });
    let out = child.wait_with_output().map_err(|e| Error::io("git", e))?;
    if let Some(f) = feeder {
        let _ = f.join();
    }
    if !out.status.success() {
        return Err(usage(format!(
            "git {} in {} failed: {}",
            args.first().map(String::as_str).unwrap_or(""),
            git_dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
