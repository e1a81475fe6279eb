//! Where things live: the fleet repository (manifests and patch tree) and the
//! runtime root (`KA_ROOT`, default `/srv/kernel-agent`). Nothing lives under `$HOME`.

use crate::error::{Result, usage};
use std::path::{Component, Path, PathBuf};

pub const DEFAULT_ROOT: &str = "/srv/kernel-agent";

/// The runtime root: `--root`, else `KA_ROOT`, else `/srv/kernel-agent`.
/// Refused when it lies inside `$HOME` (hard rule: never read or write under $HOME),
/// and when `KA_ROOT` is set but empty (see [`env_var`]).
pub fn runtime_root(flag: Option<&Path>) -> Result<PathBuf> {
    let root = match flag {
        Some(p) => p.to_path_buf(),
        None => match env_var(KA_ROOT)? {
            Some(v) => PathBuf::from(v),
            None => PathBuf::from(DEFAULT_ROOT),
        },
    };
    let root = absolute(&root)?;
    refuse_home(&root, "KA_ROOT")?;
    Ok(root)
}

/// The fleet repository: `--repo`, else `KA_REPO`, else the current directory.
/// It must hold `fleet/` and `patches/`.
pub fn fleet_repo(flag: Option<&Path>) -> Result<PathBuf> {
    let repo = match flag {
        Some(p) => p.to_path_buf(),
        None => match env_var(KA_REPO)? {
            Some(v) => PathBuf::from(v),
            None => PathBuf::from("."),
        },
    };
    let repo = absolute(&repo)?;
    if !repo.join("fleet").is_dir() {
        return Err(usage(format!(
            "{}: not a fleet repository (no fleet/ folder); run from the repository or pass --repo DIR / set KA_REPO",
            repo.display()
        )));
    }
    Ok(repo)
}

/// An environment variable kernel-agent reads, with what its default is and
/// what it should name: the words of the error when it is set but empty.
#[derive(Debug, Clone, Copy)]
pub struct EnvVar {
    pub name: &'static str,
    pub default: &'static str,
    pub names: &'static str,
}

pub const KA_ROOT: EnvVar = EnvVar {
    name: "KA_ROOT",
    default: "default /srv/kernel-agent",
    names: "a folder",
};
pub const KA_REPO: EnvVar = EnvVar {
    name: "KA_REPO",
    default: "default: the current directory",
    names: "the fleet repository",
};
pub const KA_SSH_IDENTITY: EnvVar = EnvVar {
    name: "KA_SSH_IDENTITY",
    default: "default KA_ROOT/ssh/id_ed25519",
    names: "the fleet's SSH private key",
};
pub const KA_CONFIG: EnvVar = EnvVar {
    name: "KA_CONFIG",
    default: "default KA_ROOT/config.yaml",
    names: "a config file",
};
pub const KA_NOW: EnvVar = EnvVar {
    name: "KA_NOW",
    default: "default: the clock",
    names: "a time, seconds since the epoch or YYYY-MM-DDTHH:MM:SSZ",
};

/// The value of `var` in the environment: `None` when unset. Every variable
/// kernel-agent reads is read here, and nowhere through clap, so the error
/// names the variable the user set, not a flag they never typed.
pub fn env_var(var: EnvVar) -> Result<Option<std::ffi::OsString>> {
    env_value(var, std::env::var_os(var.name))
}

/// [`env_var`] for a value already read: set but empty is refused (usage,
/// exit 2) naming the variable, as `KA_ROOT= ka-status` or
/// `KA_ROOT=$UNSET ka-build` set it by mistake; it never means the default.
pub fn env_value(
    var: EnvVar,
    value: Option<std::ffi::OsString>,
) -> Result<Option<std::ffi::OsString>> {
    match value {
        Some(v) if v.is_empty() => Err(usage(format!(
            "{} is set but empty; unset it ({}) or set it to {}",
            var.name, var.default, var.names
        ))),
        v => Ok(v),
    }
}

/// Refuse a path inside `$HOME`.
pub fn refuse_home(path: &Path, what: &str) -> Result<()> {
    if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty() && h != "/") {
        let home = lexical_normalize(Path::new(&home));
        if lexical_normalize(path).starts_with(&home) {
            return Err(usage(format!(
                "{what} {} is inside $HOME ({}); kernel-agent never reads or writes under $HOME: set KA_ROOT elsewhere (default {DEFAULT_ROOT})",
                path.display(),
                home.display()
            )));
        }
    }
    Ok(())
}

fn absolute(p: &Path) -> Result<PathBuf> {
    let abs = std::path::absolute(p).map_err(|e| crate::Error::io(p, e))?;
    Ok(lexical_normalize(&abs))
}

/// A repository-relative path that stays inside the repository: not empty,
/// not absolute, no `.` or `..`. `what` names the field in the error.
pub fn safe_relative<'a>(what: &str, p: &'a str) -> Result<&'a Path> {
    let path = Path::new(p);
    if !p.is_empty() && path.components().all(|c| matches!(c, Component::Normal(_))) {
        Ok(path)
    } else {
        Err(crate::error::contract(format!(
            "{what} {} escapes the repository; paths are relative, without '..'",
            crate::error::quoted(p)
        )))
    }
}

/// Whether the baseline repository `git_dir` pins `commit`: ka-baseline marks
/// every import with the ref `refs/ka/pinned/<commit>`, loose or (after
/// `git pack-refs`) packed. Read as files: much cheaper than starting git.
pub fn pins(git_dir: &Path, commit: &str) -> bool {
    if commit.is_empty() || !commit.bytes().all(|b| b.is_ascii_hexdigit()) {
        return false;
    }
    let name = format!("refs/ka/pinned/{commit}");
    if std::fs::read_to_string(git_dir.join(&name)).is_ok_and(|id| id.trim() == commit) {
        return true;
    }
    std::fs::read_to_string(git_dir.join("packed-refs"))
        .is_ok_and(|refs| refs.lines().any(|l| l == format!("{commit} {name}")))
}

/// Remove `.` and resolve `..` without touching the file system.
pub fn lexical_normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The runtime layout under the root. One place names every path, so verbs agree.
#[derive(Debug, Clone)]
pub struct Layout {
    pub root: PathBuf,
}

impl Layout {
    pub fn new(root: PathBuf) -> Self {
        Layout { root }
    }
    /// For read-only views: when the state folder does not exist yet, say so
    /// on stderr, so empty output is not mistaken for an empty fleet state.
    /// Only a real run of a verb creates it; dry runs and views never do.
    pub fn note_if_missing(&self, prog: &str) {
        if !self.root.exists() {
            eprintln!(
                "{prog}: no state at {} yet (a real run of ka-promote creates it)",
                self.root.display()
            );
        }
    }
    pub fn baselines(&self) -> PathBuf {
        self.root.join("baselines")
    }
    /// `git archive` tarballs of pinned baseline commits, one per commit,
    /// shared (hard-linked) by every render on that commit.
    pub fn archives(&self) -> PathBuf {
        self.baselines().join("archives")
    }
    pub fn blocks(&self) -> PathBuf {
        self.root.join("blocks")
    }
    pub fn locks(&self) -> PathBuf {
        self.root.join("locks")
    }
    pub fn host_lock(&self, host: &str) -> PathBuf {
        self.locks().join(format!("host-{host}.lock"))
    }
    pub fn host_dir(&self, host: &str) -> PathBuf {
        self.root.join("hosts").join(host)
    }
    /// The promoted `cumulative.patch` + `manifest.lock` of a host (a symlink to
    /// the content-addressed promotion folder).
    pub fn promoted(&self, host: &str) -> PathBuf {
        self.host_dir(host).join("promoted")
    }
    pub fn promotions(&self, host: &str) -> PathBuf {
        self.host_dir(host).join("promotions")
    }
    /// `ka.installed`: what ka-install last installed on the host.
    pub fn installed(&self, host: &str) -> PathBuf {
        self.host_dir(host).join("installed.json")
    }
    /// `installs/<id>.json`: the `ka.install` of every install that ran.
    pub fn installs(&self, host: &str) -> PathBuf {
        self.host_dir(host).join("installs")
    }
    /// `ka.probe-report` of the host's last verification.
    pub fn last_verify(&self, host: &str) -> PathBuf {
        self.verify_dir(host).join("last.json")
    }
    /// `hosts/<host>/verify/`: the verify reports and the burn-in record.
    pub fn verify_dir(&self, host: &str) -> PathBuf {
        self.host_dir(host).join("verify")
    }
    /// `verify/history/<time>.json`: every `ka.probe-report` ka-verify recorded.
    pub fn verify_history(&self, host: &str) -> PathBuf {
        self.verify_dir(host).join("history")
    }
    /// `verify/burn-in.json`: the `ka.burn-in` record of the current install.
    pub fn burn_in(&self, host: &str) -> PathBuf {
        self.verify_dir(host).join("burn-in.json")
    }
    /// The fleet's SSH identity (private key): `KA_SSH_IDENTITY`, else
    /// `KA_ROOT/ssh/id_ed25519` (runtime state, never under $HOME). A set but
    /// empty `KA_SSH_IDENTITY` is refused.
    pub fn ssh_identity(&self) -> Result<PathBuf> {
        Ok(match env_var(KA_SSH_IDENTITY)? {
            Some(p) => PathBuf::from(p),
            None => self.root.join("ssh/id_ed25519"),
        })
    }
    /// `ka.notice` records (they halt nothing; see `ka-notice(1)`).
    pub fn notices(&self) -> PathBuf {
        self.root.join("notices")
    }
    /// Reminder state per open record (`ka-remind(1)`).
    pub fn remind(&self) -> PathBuf {
        self.root.join("remind")
    }
    /// The append-only audit log and its records.
    pub fn audit(&self) -> PathBuf {
        self.root.join("audit")
    }
    /// The Gitea mirror's state: `outbox/`, `issues/`, `state.json`.
    pub fn gitea(&self) -> PathBuf {
        self.root.join("gitea")
    }
    /// Queued `ka.issue-event` files, one per change, flushed in name order.
    pub fn outbox(&self) -> PathBuf {
        self.gitea().join("outbox")
    }
    /// `hosts/<host>/render/<id>/`: rendered package sources.
    pub fn renders(&self, host: &str) -> PathBuf {
        self.host_dir(host).join("render")
    }
    /// `jobs/<job-id>.json`: the `ka.job-result` of each build job.
    pub fn jobs(&self) -> PathBuf {
        self.root.join("jobs")
    }
    pub fn job_record(&self, job: &str) -> PathBuf {
        self.jobs().join(format!("{job}.json"))
    }
    /// `output/<job-id>/`: the packages a build job fetched.
    pub fn outputs(&self) -> PathBuf {
        self.root.join("output")
    }
    pub fn output(&self, job: &str) -> PathBuf {
        self.outputs().join(job)
    }
    /// `logs/<build-host>/<job-id>/`.
    pub fn logs(&self) -> PathBuf {
        self.root.join("logs")
    }
    /// `keep/<job-id>.json`: `ka.keep` records.
    pub fn keeps(&self) -> PathBuf {
        self.root.join("keep")
    }
    pub fn keep(&self, job: &str) -> PathBuf {
        self.keeps().join(format!("{job}.json"))
    }
    /// `archive/<job-id>.tar`: archived job outputs (not the baseline
    /// tarballs of [`Layout::archives`]).
    pub fn job_archives(&self) -> PathBuf {
        self.root.join("archive")
    }
    pub fn job_archive(&self, job: &str) -> PathBuf {
        self.job_archives().join(format!("{job}.tar"))
    }
    /// `backups/<host>/<kernel-version>/`: pre-install /boot backups.
    pub fn backups(&self) -> PathBuf {
        self.root.join("backups")
    }
    /// `publish/<job-id>.json`: the `ka.publish` record of a job's last publish
    /// attempt; `publish/<job-id>.upload/` the packages and B2SUMS on their way
    /// to the sign host (removed once published).
    pub fn publishes(&self) -> PathBuf {
        self.root.join("publish")
    }
    pub fn publish_record(&self, job: &str) -> PathBuf {
        self.publishes().join(format!("{job}.json"))
    }
    pub fn publish_upload(&self, job: &str) -> PathBuf {
        self.publishes().join(format!("{job}.upload"))
    }
    /// `ka.publish` of the host's last successful publish.
    pub fn published(&self, host: &str) -> PathBuf {
        self.host_dir(host).join("published.json")
    }
    /// `retention/pause.json`: while it exists, prune refuses to run.
    pub fn prune_pause(&self) -> PathBuf {
        self.root.join("retention/pause.json")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_variable_is_named_not_defaulted() {
        let e = env_value(KA_ROOT, Some("".into())).unwrap_err();
        assert_eq!(e.exit_code(), crate::ExitCode::Usage);
        assert_eq!(
            e.to_string(),
            "KA_ROOT is set but empty; unset it (default /srv/kernel-agent) or set it to a folder"
        );
        let e = env_value(KA_REPO, Some("".into())).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("KA_REPO is set but empty; unset it")
        );
        assert_eq!(env_value(KA_ROOT, None).unwrap(), None);
        assert_eq!(
            env_value(KA_ROOT, Some("/x".into())).unwrap(),
            Some("/x".into())
        );
    }

    #[test]
    fn normalize() {
        assert_eq!(
            lexical_normalize(Path::new("/a/./b/../c")),
            Path::new("/a/c")
        );
    }
}

#[cfg(test)]
mod default_root_tests {
    /// The wrappers say when a real run creates the state folder; they must
    /// name the same default as the stages.
    #[test]
    fn the_wrappers_know_the_same_default_root() {
        let lib = include_str!("../../../bin-wrappers/ka-lib.sh");
        assert!(
            lib.contains(&format!("${{KA_ROOT:-{}}}", super::DEFAULT_ROOT)),
            "bin-wrappers/ka-lib.sh must default KA_ROOT to {}",
            super::DEFAULT_ROOT
        );
    }
}
