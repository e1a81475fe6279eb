//! Retention on the build hosts: job trees `<root>/source/<job-id>/` and the
//! source cache `<root>/cache/sources/<b2sum>`, reached over SSH through the
//! one transport (`ka_run_remote`, the fleet's credentials).
//!
//! Each build host is listed by one read-only job; what goes is decided here,
//! with the same records as `KA_ROOT` (keeps, job records); each item is then
//! removed by its own job. A host that cannot be reached is a problem of that
//! host only: the others are pruned.

use ka_core::error::{Error, Result};
use ka_core::paths::Layout;
use ka_run_remote::remote::Credentials;
use ka_schema::HostManifest;
use ka_schema::Transport;
use std::path::{Path, PathBuf};

/// The fleet's build hosts and where job logs of this run go (a scratch
/// folder: the listings and removals are not kept).
pub struct Remotes {
    pub hosts: Vec<BuildHost>,
    /// Manifests that could not be read: (fleet/<host>.yaml, error).
    pub unreadable: Vec<(PathBuf, Error)>,
    scratch: tempfile::TempDir,
}

#[derive(Debug, Clone)]
pub struct BuildHost {
    pub name: String,
    pub root: String,
    pub transport: Transport,
}

impl BuildHost {
    /// How an item on this host is shown: `<host>:<root>/<rel>`.
    pub fn shown(&self, rel: &str) -> PathBuf {
        PathBuf::from(format!(
            "{}:{}/{rel}",
            self.name,
            self.root.trim_end_matches('/')
        ))
    }
}

/// What a listing found on a build host.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Listing {
    /// `source/<name>/`: (name, mtime).
    pub trees: Vec<(String, i64)>,
    /// `source/.prune-<id>/`: folders an interrupted prune had begun to remove.
    pub leftovers: Vec<String>,
    /// `cache/sources/<name>`: (name, ctime, link count).
    pub cache: Vec<(String, i64, u64)>,
    /// Names the listing refused to print (characters outside `[A-Za-z0-9._-]`).
    pub odd: Vec<String>,
}

impl Remotes {
    /// Every fleet host with `build_host:` and `ssh:`.
    pub fn of_fleet(repo: &Path, layout: &Layout) -> Result<Remotes> {
        let credentials = Credentials::of_fleet(repo, layout)?;
        let mut hosts = Vec::new();
        let mut unreadable = Vec::new();
        for name in ka_schema::fleet::hosts(repo)? {
            let m = match ka_schema::fleet::manifest(repo, &name) {
                Ok((m, _)) => m,
                Err(e) => {
                    unreadable.push((repo.join("fleet").join(format!("{name}.yaml")), e));
                    continue;
                }
            };
            let HostManifest {
                ssh: Some(ssh),
                build_host: Some(spec),
                ..
            } = m
            else {
                continue;
            };
            hosts.push(BuildHost {
                transport: credentials.transport(&name, &ssh, &spec.user),
                name,
                root: spec.root,
            });
        }
        let scratch = tempfile::Builder::new()
            .prefix("ka-prune.")
            .tempdir()
            .map_err(|e| Error::io(std::env::temp_dir(), e))?;
        Ok(Remotes {
            hosts,
            unreadable,
            scratch,
        })
    }

    fn job(&self, host: &BuildHost, what: &str, argv: Vec<String>) -> ka_schema::Job {
        let id = format!("prune-{}-{what}", host.name);
        ka_schema::Job {
            kind: Default::default(),
            version: ka_schema::V1,
            log: self.scratch.path().join(format!("{id}.log")),
            id,
            transport: host.transport.clone(),
            argv,
            cwd: None,
            env: Default::default(),
            // rm -rf of a kernel tree prints nothing for minutes: the stall
            // limit is the cap
            wall_clock: ka_schema::Span::minutes(30),
            stall: ka_schema::Span::minutes(30),
        }
    }

    /// Run a job; its output, or why it failed (the transport's error, or
    /// the script's exit and output). `Err` only for failures on our side.
    fn run(&self, job: &ka_schema::Job) -> Result<std::result::Result<String, String>> {
        let _ = std::fs::remove_file(&job.log);
        let r = ka_run_remote::run_job(job, None)?;
        let output = std::fs::read_to_string(&r.log).unwrap_or_default();
        if let Some(err) = &r.transport_error {
            let what = if ka_run_remote::is_host_key_refusal(&r) {
                format!(
                    "its host key changed ({err}); verify the new key, then update {}",
                    match &job.transport {
                        Transport::Ssh { known_hosts, .. } => known_hosts.display().to_string(),
                        Transport::Local => "fleet/known_hosts".into(),
                    }
                )
            } else {
                format!("unreachable: {err}")
            };
            return Ok(Err(what));
        }
        if !r.ok() {
            let tail: Vec<&str> = output.lines().rev().take(5).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            return Ok(Err(format!(
                "{} ended {}: {}",
                job.argv.get(3).map(String::as_str).unwrap_or("the job"),
                r.exit_code
                    .map(|c| format!("with exit {c}"))
                    .or(r.signal.as_ref().map(|s| format!("by SIG{s}")))
                    .unwrap_or_else(|| "without a status".into()),
                tail.join(" / ")
            )));
        }
        Ok(Ok(output))
    }

    /// List the trees and the source cache of `host` (read-only).
    pub fn list(&self, host: &BuildHost) -> Result<std::result::Result<Listing, String>> {
        let argv = vec![
            "sh".into(),
            "-c".into(),
            LIST.into(),
            "ka-prune-list".into(),
            host.root.clone(),
        ];
        Ok(self
            .run(&self.job(host, "list", argv))?
            .map(|out| parse(&out)))
    }

    /// Remove one item (`tree`, `leftover` or `cache`) named `name`.
    pub fn remove(
        &self,
        host: &BuildHost,
        what: &str,
        name: &str,
    ) -> Result<std::result::Result<(), String>> {
        let argv = vec![
            "sh".into(),
            "-c".into(),
            REMOVE.into(),
            "ka-prune-remove".into(),
            host.root.clone(),
            what.into(),
            name.into(),
        ];
        Ok(self.run(&self.job(host, "remove", argv))?.map(drop))
    }
}

/// The listing: one line per item, the name last. A name with a character
/// outside `[A-Za-z0-9._-]` (a newline could forge a line) is only counted.
/// GNU stat: build hosts are Linux (Arch or Debian).
const LIST: &str = r#"root=$1
cd "$root" 2>/dev/null || { echo "no-root"; exit 0; }
for d in source/* source/.prune-*; do
  [ -d "$d" ] && [ ! -L "$d" ] || continue
  n=${d#source/}
  case $n in *[!A-Za-z0-9._-]*) echo "odd source"; continue ;; esac
  case $n in
  .prune-*) echo "leftover $n" ;;
  .*) ;;
  *) echo "tree $(stat -c %Y "$d") $n" ;;
  esac
done
for f in cache/sources/*; do
  [ -f "$f" ] && [ ! -L "$f" ] || continue
  n=${f#cache/sources/}
  case $n in *[!A-Za-z0-9._-]*) echo "odd cache/sources"; continue ;; esac
  echo "cache $(stat -c '%Z %h' "$f") $n"
done
exit 0"#;

/// Removal of one item. A tree is renamed aside first, so a half-removed
/// folder never looks like a job's tree; the next prune removes what an
/// interrupted one left (`source/.prune-*`).
const REMOVE: &str = r#"root=$1 what=$2 name=$3
case $name in ''|.|..|*/*) echo "refusing the name '$name'"; exit 3 ;; esac
cd "$root" || exit 2
gone() { rm -rf -- "$1" 2>/dev/null || { chmod -R u+w -- "$1" && rm -rf -- "$1"; }; }
case $what in
tree)
  [ -d "source/$name" ] || exit 0
  mv -- "source/$name" "source/.prune-$name" || exit 2
  gone "source/.prune-$name" ;;
leftover) gone "source/$name" ;;
cache) rm -f -- "cache/sources/$name" ;;
*) echo "unknown item kind $what"; exit 3 ;;
esac"#;

pub fn parse(out: &str) -> Listing {
    let mut l = Listing::default();
    for line in out.lines() {
        let w: Vec<&str> = line.split(' ').collect();
        match w.as_slice() {
            ["tree", t, name] => {
                if let Ok(t) = t.parse() {
                    l.trees.push((name.to_string(), t));
                }
            }
            ["leftover", name] => l.leftovers.push(name.to_string()),
            ["cache", t, links, name] => {
                if let (Ok(t), Ok(n)) = (t.parse(), links.parse()) {
                    l.cache.push((name.to_string(), t, n));
                }
            }
            ["odd", dir] => l.odd.push(dir.to_string()),
            _ => {} // a login banner, say
        }
    }
    l
}

/// The target host of a job id `<host>-<time>-<sum>` (whose build lock a
/// running build of it holds).
pub fn target_of(id: &str) -> Option<&str> {
    ka_core::names::job_id_time(id)?;
    id.rsplitn(3, '-').nth(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listing_parses_and_ignores_banners() {
        let l = parse(
            "Welcome\ntree 100 a-20260101T000000Z-0123abcd\nleftover .prune-x\ncache 5 2 ab12\nodd source\ntree x y\n",
        );
        assert_eq!(l.trees, [("a-20260101T000000Z-0123abcd".into(), 100)]);
        assert_eq!(l.leftovers, [".prune-x"]);
        assert_eq!(l.cache, [("ab12".into(), 5, 2)]);
        assert_eq!(l.odd, ["source"]);
    }

    #[test]
    fn target_of_a_job_id() {
        assert_eq!(
            target_of("pine-book-20260101T000000Z-0123abcd"),
            Some("pine-book")
        );
        assert_eq!(target_of("no-time-here"), None);
    }

    /// The scripts against a real folder, run locally with sh.
    #[test]
    fn list_then_remove_on_a_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir_all(root.join("source/j1/sub")).unwrap();
        std::fs::create_dir_all(root.join("source/.prune-j0")).unwrap();
        std::fs::create_dir_all(root.join("source/bad name")).unwrap();
        std::fs::create_dir_all(root.join("cache/sources")).unwrap();
        std::fs::write(root.join("cache/sources/ab12"), b"x").unwrap();
        // a read-only folder inside a tree (kbuild leaves some) is removed too
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            root.join("source/j1/sub"),
            std::fs::Permissions::from_mode(0o555),
        )
        .unwrap();
        let sh = |script: &str, args: &[&str]| {
            let out = std::process::Command::new("sh")
                .args(["-c", script, "t"])
                .args(args)
                .output()
                .unwrap();
            (out.status.code(), String::from_utf8(out.stdout).unwrap())
        };
        let r = root.to_str().unwrap();
        let (_, out) = sh(LIST, &[r]);
        let l = parse(&out);
        assert_eq!(l.trees.len(), 1, "{out}");
        assert_eq!(l.leftovers, [".prune-j0"]);
        assert_eq!(l.cache[0].0, "ab12");
        assert_eq!(l.cache[0].2, 1);
        assert_eq!(l.odd, ["source"]);
        assert_eq!(sh(REMOVE, &[r, "tree", "j1"]).0, Some(0));
        assert_eq!(sh(REMOVE, &[r, "leftover", ".prune-j0"]).0, Some(0));
        assert_eq!(sh(REMOVE, &[r, "cache", "ab12"]).0, Some(0));
        assert_eq!(sh(REMOVE, &[r, "tree", "../x"]).0, Some(3));
        assert!(!root.join("source/j1").exists());
        assert!(!root.join("source/.prune-j1").exists());
        assert!(!root.join("source/.prune-j0").exists());
        assert!(!root.join("cache/sources/ab12").exists());
        assert!(root.join("source/bad name").exists());
        let (_, out) = sh(LIST, &[root.join("nothing").to_str().unwrap()]);
        assert_eq!(out, "no-root\n");
    }
}
