//! `ka-baseline`: pin each plan's baseline to a commit in a git repository under
//! `KA_ROOT/baselines/`, importing it first when needed.
//!
//! - `{ tarball: <path> }`: the tarball is unpacked once into a scratch folder and
//!   committed with a fixed author, committer and date, so the same tarball gives
//!   the same commit id on every machine. A sidecar records size, mtime and
//!   commit, so later runs reuse the import without reading the tarball.
//! - `{ git: <url or path>, ref: <ref> }`: fetched into a bare mirror; the ref is
//!   resolved to a commit once and remembered (`--refresh` fetches again).
//!
//! git runs with `GIT_CONFIG_GLOBAL=/dev/null` and `GIT_CONFIG_NOSYSTEM=1`: the
//! import must not depend on (or read) anyone's `$HOME/.gitconfig`.

use anyhow::Context;
use clap::{CommandFactory, Parser};
use ka_core::args::RootArg;
use ka_core::error::{Error, ExitCode, Result, negative, usage};
use ka_core::hostlock::HostLock;
use ka_core::paths::Layout;
use ka_schema::Plan;
use ka_schema::{BaselineSource, BaselineSpec};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[derive(Parser, Debug)]
#[command(
    name = "ka-baseline",
    version,
    about = "Pin each plan's baseline to a commit (importing it under KA_ROOT once)",
    long_about = "Reads ka.plan documents on stdin and writes them to stdout with \
baseline.git_dir and baseline.commit filled in. A tarball baseline (e.g. Debian's \
/usr/src/linux-source-6.1.tar.xz) is imported once into KA_ROOT/baselines/<name>.git \
with a fixed author and date, so the commit id is the same on every machine; a git \
baseline is fetched into a bare mirror and its ref resolved to a commit.\n\n\
With --import PATH, imports that tarball (or with --git URL --ref REF fetches that \
ref) without a plan and prints the pinned baseline.\n\n\
A missing tarball is refused (exit 1) with how to get it: for Debian's \
/usr/src/linux-source-<version>.tar.xz, `apt-get install linux-source-<version>` for \
the version the manifest asks for. A fetch or import that fails (a URL or ref that \
cannot be fetched, a tarball tar cannot unpack) is refused (exit 1) and leaves no \
repository under KA_ROOT/baselines/: a new repository is built beside and renamed \
into place only when complete."
)]
pub struct Cli {
    #[command(flatten)]
    pub root: RootArg,
    /// Fetch git baselines again even when the ref was resolved before.
    #[arg(long)]
    pub refresh: bool,
    /// Import this tarball and print the pinned baseline (no plan on stdin).
    #[arg(long, value_name = "TARBALL", conflicts_with_all = ["git"])]
    pub import: Option<PathBuf>,
    /// Fetch this git URL or path (with --ref) and print the pinned baseline.
    #[arg(long, value_name = "URL", requires = "git_ref")]
    pub git: Option<String>,
    #[arg(long = "ref", value_name = "REF")]
    pub git_ref: Option<String>,
    /// Import and fetch nothing, write nothing: pin a plan whose baseline is
    /// already under KA_ROOT, and mark any other as pending, saying what a
    /// real run would import or fetch (with the tarball's size).
    #[arg(long, conflicts_with_all = ["import", "git", "refresh"])]
    pub dry_run: bool,
}

pub fn command() -> clap::Command {
    Cli::command()
}

/// A pinned baseline, as `--import` prints it.
#[derive(Debug, Clone, Serialize)]
struct Pinned<'a> {
    spec: &'a BaselineSpec,
    git_dir: &'a Path,
    commit: &'a str,
}

pub fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let layout = cli.root.layout()?;
    let store = Baselines::new(&layout, cli.refresh);
    if cli.import.is_some() || cli.git.is_some() {
        let spec = match (&cli.import, &cli.git) {
            (Some(t), _) => BaselineSpec {
                git: None,
                git_ref: None,
                tarball: Some(t.to_string_lossy().into_owned()),
            },
            (None, Some(url)) => BaselineSpec {
                git: Some(url.clone()),
                git_ref: cli.git_ref.clone(),
                tarball: None,
            },
            _ => unreachable!("checked above"),
        };
        let (git_dir, commit) = store.pin(&spec)?;
        let pinned = Pinned {
            spec: &spec,
            git_dir: &git_dir,
            commit: &commit,
        };
        println!("{}", serde_json::to_string(&pinned).context("serialize")?);
        return Ok(ExitCode::Ok);
    }
    let mut plans: Vec<Plan> = ka_core::stream::read_docs(std::io::stdin().lock(), "stdin")?;
    let mut pinned: HashMap<BaselineSpec, (PathBuf, String)> = HashMap::new();
    for plan in &mut plans {
        let key = plan.baseline.spec.clone();
        if cli.dry_run {
            match store.lookup(&key).map_err(|e| in_plan(e, plan))? {
                Lookup::Pinned(git_dir, commit) => {
                    plan.baseline.git_dir = Some(git_dir);
                    plan.baseline.commit = Some(commit);
                }
                Lookup::Pending(what) => plan.baseline.pending = Some(what),
            }
            continue;
        }
        let (git_dir, commit) = match pinned.get(&key) {
            Some(p) => p.clone(),
            None => {
                let p = store.pin(&key).map_err(|e| in_plan(e, plan))?;
                pinned.insert(key, p.clone());
                p
            }
        };
        plan.baseline.git_dir = Some(git_dir);
        plan.baseline.commit = Some(commit);
    }
    ka_core::stream::write_docs(&plans).context("stdout")?;
    Ok(ExitCode::Ok)
}

/// A refusal about a plan's baseline names the host and its manifest.
fn in_plan(e: Error, plan: &Plan) -> Error {
    match e {
        Error::Negative(m) => negative(format!("{}: {}: {m}", plan.host, plan.manifest)),
        other => other,
    }
}

/// What a dry run finds for a baseline.
pub enum Lookup {
    /// Imported before: the repository and the pinned commit.
    Pinned(PathBuf, String),
    /// Not there yet: what a real run would do first.
    Pending(String),
}

/// Sidecar of an import: what was imported and the commit it became.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct ImportRecord {
    source: String,
    /// For tarballs: size and mtime identify the file without reading it.
    size: u64,
    mtime: i64,
    /// For git: the ref that was resolved.
    git_ref: String,
    commit: String,
}

/// How long a run waits for another run's import or fetch of the same
/// baseline (a kernel tarball imports in about a minute; a fetch can take
/// longer): promotes of different hosts on one baseline run in parallel.
const IMPORT_PATIENCE: std::time::Duration = std::time::Duration::from_secs(30 * 60);

pub struct Baselines {
    dir: PathBuf,
    locks: PathBuf,
    refresh: bool,
}

impl Baselines {
    pub fn new(layout: &Layout, refresh: bool) -> Baselines {
        Baselines {
            dir: layout.baselines(),
            locks: layout.locks(),
            refresh,
        }
    }

    /// The pinned commit of `spec` if it was imported before; else what a
    /// real run would do. Reads only: no lock, no folder, no fetch.
    pub fn lookup(&self, spec: &BaselineSpec) -> Result<Lookup> {
        match spec.source()? {
            BaselineSource::Tarball(t) => {
                let tarball = Path::new(t);
                let md = tarball_metadata(tarball)?;
                let (git_dir, record_path) = self.tarball_paths(tarball);
                let source = tarball.display().to_string();
                if let Some(r) = read_record(&record_path)?
                    && r.source == source
                    && r.size == md.len()
                    && r.mtime == md.mtime()
                    && ka_core::paths::pins(&git_dir, &r.commit)
                {
                    return Ok(Lookup::Pinned(git_dir, r.commit));
                }
                Ok(Lookup::Pending(format!(
                    "import {source} ({}) into {} once",
                    ka_core::term::size(md.len()),
                    git_dir.display()
                )))
            }
            BaselineSource::Git { url, git_ref } => {
                let (git_dir, record_path) = self.git_paths(url, git_ref);
                if let Some(r) = read_record(&record_path)?
                    && r.source == url
                    && r.git_ref == git_ref
                    && ka_core::paths::pins(&git_dir, &r.commit)
                {
                    return Ok(Lookup::Pinned(git_dir, r.commit));
                }
                Ok(Lookup::Pending(format!(
                    "fetch {git_ref} from {url} into {}",
                    git_dir.display()
                )))
            }
        }
    }

    fn tarball_paths(&self, tarball: &Path) -> (PathBuf, PathBuf) {
        let name = baseline_name(&tarball.file_name().unwrap_or_default().to_string_lossy());
        (
            self.dir.join(format!("{name}.git")),
            self.dir.join(format!("{name}.json")),
        )
    }

    fn git_paths(&self, url: &str, git_ref: &str) -> (PathBuf, PathBuf) {
        let name = baseline_name(url.trim_end_matches('/').trim_end_matches(".git"));
        (
            self.dir.join(format!("{name}.git")),
            self.dir
                .join(format!("{name}@{}.json", baseline_name(git_ref))),
        )
    }

    /// The bare repository and pinned commit of `spec`.
    pub fn pin(&self, spec: &BaselineSpec) -> Result<(PathBuf, String)> {
        match spec.source()? {
            BaselineSource::Tarball(t) => self.pin_tarball(Path::new(t)),
            BaselineSource::Git { url, git_ref } => self.pin_git(url, git_ref),
        }
    }

    fn pin_tarball(&self, tarball: &Path) -> Result<(PathBuf, String)> {
        let md = tarball_metadata(tarball)?;
        let (git_dir, record_path) = self.tarball_paths(tarball);
        let name = baseline_name(&tarball.file_name().unwrap_or_default().to_string_lossy());
        let _lock = HostLock::acquire_waiting(
            &self.locks.join(format!("baseline-{name}.lock")),
            "baseline import",
            IMPORT_PATIENCE,
        )?;
        let source = tarball.display().to_string();
        if let Some(r) = read_record(&record_path)?
            && r.source == source
            && r.size == md.len()
            && r.mtime == md.mtime()
            && ka_core::paths::pins(&git_dir, &r.commit)
        {
            return Ok((git_dir, r.commit));
        }
        eprintln!(
            "ka-baseline: importing {source} into {} (once)",
            git_dir.display()
        );
        let commit = in_repository(&git_dir, |repo| import_tarball(tarball, repo, &self.dir))?;
        ka_core::atomic::write_json(
            &record_path,
            &ImportRecord {
                source,
                size: md.len(),
                mtime: md.mtime(),
                git_ref: String::new(),
                commit: commit.clone(),
            },
        )?;
        Ok((git_dir, commit))
    }

    fn pin_git(&self, url: &str, git_ref: &str) -> Result<(PathBuf, String)> {
        if url.starts_with('-') || git_ref.starts_with('-') {
            return Err(usage(format!(
                "baseline git {url:?} ref {git_ref:?}: may not start with '-'"
            )));
        }
        let name = baseline_name(url.trim_end_matches('/').trim_end_matches(".git"));
        let (git_dir, record_path) = self.git_paths(url, git_ref);
        let _lock = HostLock::acquire_waiting(
            &self.locks.join(format!("baseline-{name}.lock")),
            "baseline fetch",
            IMPORT_PATIENCE,
        )?;
        if !self.refresh
            && let Some(r) = read_record(&record_path)?
            && r.source == url
            && r.git_ref == git_ref
            && ka_core::paths::pins(&git_dir, &r.commit)
        {
            return Ok((git_dir, r.commit));
        }
        eprintln!("ka-baseline: fetching {git_ref} from {url}");
        let commit = in_repository(&git_dir, |repo| {
            let fetched = git(
                &["fetch", "-q", "--no-tags", "--", url, git_ref],
                Some(repo),
                None,
            );
            if let Err(e) = fetched {
                return Err(negative(format!(
                    "baseline {git_ref} of {url} cannot be fetched: {e}; check the URL and ref in kernel.baseline"
                )));
            }
            let commit = git(&["rev-parse", "FETCH_HEAD^{commit}"], Some(repo), None)?;
            git(
                &["update-ref", &format!("refs/ka/pinned/{commit}"), &commit],
                Some(repo),
                None,
            )?;
            Ok(commit)
        })?;
        ka_core::atomic::write_json(
            &record_path,
            &ImportRecord {
                source: url.to_string(),
                size: 0,
                mtime: 0,
                git_ref: git_ref.to_string(),
                commit: commit.clone(),
            },
        )?;
        Ok((git_dir, commit))
    }
}

fn tarball_metadata(tarball: &Path) -> Result<fs::Metadata> {
    fs::metadata(tarball).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => negative(format!(
            "baseline tarball {} is missing; {} or fix kernel.baseline",
            tarball.display(),
            missing_tarball_hint(tarball)
        )),
        _ => Error::io(tarball, e),
    })
}

/// How to get a missing baseline tarball, for the version it names: Debian's
/// `/usr/src/linux-source-6.12.tar.xz` comes with `apt-get install
/// linux-source-6.12`; any other tarball is the owner's to put there.
fn missing_tarball_hint(tarball: &Path) -> String {
    let name = tarball
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let version = name
        .strip_prefix("linux-source-")
        .and_then(|rest| rest.split_once(".tar"))
        .map(|(version, _)| version);
    match version {
        Some(v) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit() || b == b'.') => {
            format!("install it (apt-get install linux-source-{v})")
        }
        _ => "put the tarball there".to_string(),
    }
}

/// A file-system safe name for a baseline: `linux-source-6.1.tar.xz` →
/// `linux-source-6.1`, a URL → its last components.
fn baseline_name(raw: &str) -> String {
    let mut s = raw.to_string();
    for ext in [".tar.xz", ".tar.gz", ".tar.bz2", ".tar.zst", ".tgz", ".tar"] {
        if let Some(stem) = s.strip_suffix(ext) {
            s = stem.to_string();
            break;
        }
    }
    let cleaned: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let cleaned = cleaned.trim_start_matches(['.', '_', '-']).to_string();
    let tail: String = cleaned
        .chars()
        .rev()
        .take(80)
        .collect::<String>()
        .chars()
        .rev()
        .collect();
    if tail.is_empty() {
        "baseline".into()
    } else {
        tail
    }
}

fn read_record(path: &Path) -> Result<Option<ImportRecord>> {
    match fs::read(path) {
        Ok(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Run `fill` on the bare repository `git_dir`. When it does not exist yet,
/// it is made beside (`.<name>.new-<pid>`) and renamed into place only once
/// `fill` succeeded: a refused fetch or import leaves no empty repository
/// that a later run would take for a cache. Leftovers of a killed run are
/// removed first (the caller holds the baseline's lock).
fn in_repository<T>(git_dir: &Path, fill: impl FnOnce(&Path) -> Result<T>) -> Result<T> {
    if git_dir.exists() {
        return fill(git_dir);
    }
    let dir = git_dir
        .parent()
        .expect("a baseline repository has a folder");
    let name = git_dir.file_name().unwrap_or_default().to_string_lossy();
    let prefix = format!(".{name}.new-");
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))?.flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
    let building = dir.join(format!("{prefix}{}", std::process::id()));
    let result =
        git(&["init", "-q", "--bare"], Some(&building), None).and_then(|_| fill(&building));
    match result {
        Ok(value) => {
            fs::rename(&building, git_dir).map_err(|e| Error::io(git_dir, e))?;
            Ok(value)
        }
        Err(e) => {
            let _ = fs::remove_dir_all(&building);
            Err(e)
        }
    }
}

/// Unpack `tarball` into a scratch folder next to the repositories, commit its
/// single top-level folder (or its root) with a fixed identity and date, and
/// remove the scratch folder.
fn import_tarball(tarball: &Path, git_dir: &Path, dir: &Path) -> Result<String> {
    let scratch = dir.join(format!(".import-{}", std::process::id()));
    let _ = fs::remove_dir_all(&scratch);
    fs::create_dir_all(&scratch).map_err(|e| Error::io(&scratch, e))?;
    let result = (|| {
        let status = Command::new("tar")
            .arg("-xf")
            .arg(tarball)
            .arg("-C")
            .arg(&scratch)
            .arg("--no-same-owner")
            .status()
            .map_err(|e| Error::io("tar", e))?;
        if !status.success() {
            return Err(negative(format!(
                "{}: tar could not unpack it ({status}); is it a complete tarball?",
                tarball.display()
            )));
        }
        let mut top: Vec<PathBuf> = fs::read_dir(&scratch)
            .map_err(|e| Error::io(&scratch, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        let work = if top.len() == 1 && top[0].is_dir() {
            top.remove(0)
        } else {
            scratch.clone()
        };
        let index = scratch.join(".ka-index");
        let env = [
            ("GIT_WORK_TREE", work.as_os_str()),
            ("GIT_INDEX_FILE", index.as_os_str()),
        ];
        // -f: the tarball's own .gitignore (Debian's ignores everything at the top) must not drop files.
        git(&["add", "-f", "-A", "."], Some(git_dir), Some(&env))?;
        let tree = git(&["write-tree"], Some(git_dir), Some(&env))?;
        let message = format!(
            "import {}",
            tarball.file_name().unwrap_or_default().to_string_lossy()
        );
        let commit = git(
            &["commit-tree", &tree, "-m", &message],
            Some(git_dir),
            Some(&env),
        )?;
        git(
            &["update-ref", &format!("refs/ka/pinned/{commit}"), &commit],
            Some(git_dir),
            None,
        )?;
        Ok(commit)
    })();
    let _ = fs::remove_dir_all(&scratch);
    result
}

/// Run git against `git_dir` with a clean configuration and a fixed identity.
/// Returns trimmed stdout.
fn git(
    args: &[&str],
    git_dir: Option<&Path>,
    env: Option<&[(&str, &std::ffi::OsStr)]>,
) -> Result<String> {
    let mut cmd = ka_core::git::command();
    if let Some(d) = git_dir {
        if args.first() == Some(&"init") {
            cmd.args(args).arg(d);
        } else {
            cmd.arg("--git-dir").arg(d).args(args);
        }
    } else {
        cmd.args(args);
    }
    cmd.env("GIT_AUTHOR_NAME", "kernel-agent")
        .env("GIT_AUTHOR_EMAIL", "kernel-agent@localhost")
        .env("GIT_AUTHOR_DATE", "1970-01-01T00:00:00Z")
        .env("GIT_COMMITTER_NAME", "kernel-agent")
        .env("GIT_COMMITTER_EMAIL", "kernel-agent@localhost")
        .env("GIT_COMMITTER_DATE", "1970-01-01T00:00:00Z")
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .stdout(Stdio::piped());
    if let Some(env) = env {
        for (k, v) in env {
            cmd.env(k, v);
        }
    }
    let out = cmd.output().map_err(|e| Error::io("git", e))?;
    if !out.status.success() {
        return Err(Error::Usage(format!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::{baseline_name, missing_tarball_hint};
    use std::path::Path;

    #[test]
    fn names() {
        assert_eq!(baseline_name("linux-source-6.1.tar.xz"), "linux-source-6.1");
        assert_eq!(
            baseline_name("https://git.kernel.org/a/linux"),
            "https___git.kernel.org_a_linux"
        );
        assert_eq!(baseline_name("../x"), "x");
    }

    #[test]
    fn the_missing_tarball_hint_names_the_version_asked_for() {
        let hint = |p: &str| missing_tarball_hint(Path::new(p));
        assert_eq!(
            hint("/usr/src/linux-source-6.12.tar.xz"),
            "install it (apt-get install linux-source-6.12)"
        );
        assert_eq!(
            hint("/usr/src/linux-source-6.1.tar.bz2"),
            "install it (apt-get install linux-source-6.1)"
        );
        assert_eq!(hint("/srv/linux-6.12.3.tar.xz"), "put the tarball there");
        assert_eq!(
            hint("/x/linux-source-6.1;rm.tar.xz"),
            "put the tarball there"
        );
    }
}
