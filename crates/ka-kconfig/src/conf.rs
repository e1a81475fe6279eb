//! The pinned baseline's own kconfig, run as kbuild runs it: `make
//! olddefconfig` in a tree that holds only what kconfig reads (the top
//! Makefile, `arch/*/Makefile*`, `scripts/` and every `Kconfig*` file, a
//! few MB instead of a worktree). The tree is extracted once per baseline
//! commit and the build folder (where kbuild compiles `conf`) once per
//! architecture, under `KA_ROOT/baselines/kconfig/<commit>/`; a result is
//! kept by the b2sum of everything that decides it (commit, ARCH, compiler,
//! merged input), so a second check of unchanged inputs runs no kconfig.
//!
//! A dry run writes nothing under `KA_ROOT`: what is not cached yet is made
//! in a temporary folder and thrown away.

use ka_core::error::{Error, Result, contract, usage};
use ka_core::hash::b2sum;
use ka_core::hostlock::HostLock;
use ka_core::paths::Layout;
use ka_schema::Arch;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Bump when the way a result is made changes, so old results are not reused.
const RESULT_FORMAT: &str = "ka-kconfig 1";

/// Whether kconfig reads `path` of a tree: the top Makefile (kbuild's
/// config targets), `arch/*/Makefile*` (which it includes), `scripts/`, and
/// every `Kconfig*` file.
fn kconfig_reads(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    path == "Makefile"
        || path.starts_with("scripts/")
        || name.starts_with("Kconfig")
        || (path.starts_with("arch/")
            && path.matches('/').count() == 2
            && name.starts_with("Makefile"))
}

/// The Kconfig tree of one baseline commit, ready to run.
pub struct Baseline {
    pub commit: String,
    /// The extracted tree (srctree).
    pub tree: PathBuf,
    /// Where build folders and results go (`KA_ROOT/baselines/kconfig/<commit>`),
    /// or a temporary folder in a dry run.
    home: PathBuf,
    dry_run: bool,
    temp: Option<tempfile::TempDir>,
}

/// One run's answer.
pub struct Outcome {
    pub config: String,
    /// Where the final config is kept (`None` in a dry run).
    pub path: Option<PathBuf>,
    pub cached: bool,
}

/// The compiler kconfig's toolchain tests use for `arch`, as kbuild would
/// pick it on this machine: the cross compiler `<arch>-linux-gnu-` when the
/// architectures differ and it is installed; otherwise this machine's own
/// gcc stands in (said in `describe`), since conf needs a compiler to run.
#[derive(Debug, Clone)]
pub struct Toolchain {
    pub cross_compile: String,
    pub version: String,
    pub stand_in: bool,
}

impl Toolchain {
    pub fn for_arch(arch: Arch) -> Result<Toolchain> {
        let machine = std::env::consts::ARCH;
        let want = if machine == arch.name() {
            String::new()
        } else {
            format!("{}-linux-gnu-", arch.name())
        };
        let version = |prefix: &str| -> Option<String> {
            let out = Command::new(format!("{prefix}gcc"))
                .arg("--version")
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .output()
                .ok()?;
            let text = String::from_utf8_lossy(&out.stdout);
            out.status
                .success()
                .then(|| text.lines().next().unwrap_or("").to_string())
        };
        if let Some(v) = version(&want) {
            return Ok(Toolchain {
                cross_compile: want,
                version: v,
                stand_in: false,
            });
        }
        match version("") {
            Some(v) if !want.is_empty() => Ok(Toolchain {
                cross_compile: String::new(),
                version: v,
                stand_in: true,
            }),
            _ => Err(usage(format!(
                "no C compiler {}gcc: the kernel's kconfig runs compiler tests; install gcc (scripts/debian-deps)",
                want
            ))),
        }
    }

    /// For the report: the compiler, and whether it stands in for another.
    pub fn describe(&self, arch: Arch) -> String {
        if self.stand_in {
            format!(
                "{} (stand-in: {}-linux-gnu-gcc is not installed here; toolchain tests may differ from the build host's)",
                self.version,
                arch.name()
            )
        } else {
            self.version.clone()
        }
    }
}

impl Baseline {
    /// The Kconfig tree of `commit` in `git_dir`: from the cache, or
    /// extracted into it (or into a temporary folder in a dry run).
    /// `shown` names the baseline in errors.
    pub fn open(
        layout: &Layout,
        git_dir: &Path,
        commit: &str,
        shown: &str,
        dry_run: bool,
    ) -> Result<Baseline> {
        ka_core::names::check_name("baseline commit", commit)?;
        let home = layout.baselines().join("kconfig").join(commit);
        let tree = home.join("tree");
        if home.join("ready").is_file() {
            return Ok(Baseline {
                commit: commit.into(),
                tree,
                home,
                dry_run,
                temp: None,
            });
        }
        if dry_run {
            let temp = tempfile::Builder::new()
                .prefix("ka-kconfig.")
                .tempdir()
                .map_err(|e| Error::io(std::env::temp_dir(), e))?;
            let tree = temp.path().join("tree");
            extract(git_dir, commit, &tree, shown)?;
            return Ok(Baseline {
                commit: commit.into(),
                tree,
                home: temp.path().to_path_buf(),
                dry_run,
                temp: Some(temp),
            });
        }
        let parent = home.parent().expect("under baselines");
        let _lock = HostLock::acquire_waiting(
            &parent.join(format!("{commit}.lock")),
            "ka-kconfig: extracting the Kconfig tree",
            Duration::from_secs(600),
        )?;
        if !home.join("ready").is_file() {
            // a leftover of a run that stopped half-way is never reused
            if home.exists() {
                fs::remove_dir_all(&home).map_err(|e| Error::io(&home, e))?;
            }
            let tmp = parent.join(format!("{commit}.tmp-{}", std::process::id()));
            let _ = fs::remove_dir_all(&tmp);
            let made = extract(git_dir, commit, &tmp.join("tree"), shown)
                .and_then(|()| ka_core::atomic::create_synced(&tmp.join("ready"), b"ok\n"))
                .and_then(|()| fs::rename(&tmp, &home).map_err(|e| Error::io(&home, e)));
            if let Err(e) = made {
                let _ = fs::remove_dir_all(&tmp);
                return Err(e);
            }
        }
        Ok(Baseline {
            commit: commit.into(),
            tree,
            home,
            dry_run,
            temp: None,
        })
    }

    /// `make olddefconfig` of `input` for `arch` with `tc`: the final
    /// `.config`, from the result cache when nothing that decides it changed.
    pub fn olddefconfig(&self, arch: Arch, tc: &Toolchain, input: &str) -> Result<Outcome> {
        let kept = self.kept_path(arch, tc, input, "config");
        if let Some(outcome) = self.kept(arch, tc, input) {
            return Ok(outcome);
        }
        let out_dir = self.home.join(format!("build-{}", arch.kernel_arch()));
        let work = tempfile::Builder::new()
            .prefix("ka-kconfig.")
            .tempdir()
            .map_err(|e| Error::io(std::env::temp_dir(), e))?;
        // a dry run builds conf in a copy of the build folder (or anew)
        let (out_dir, _lock) = if self.dry_run && self.temp.is_none() {
            let copy = work.path().join("build");
            if out_dir.is_dir() {
                copy_dir(&out_dir, &copy)?;
            }
            (copy, None)
        } else {
            let lock = HostLock::acquire_waiting(
                &self.home.join(format!("build-{}.lock", arch.kernel_arch())),
                "ka-kconfig: make olddefconfig",
                Duration::from_secs(600),
            )?;
            (out_dir, Some(lock))
        };
        fs::create_dir_all(&out_dir).map_err(|e| Error::io(&out_dir, e))?;
        let config = work.path().join("config");
        fs::write(&config, input).map_err(|e| Error::io(&config, e))?;
        let mut cmd = Command::new("make");
        cmd.arg("-s")
            .arg("-C")
            .arg(&self.tree)
            .arg(format!("O={}", out_dir.display()))
            .arg(format!("ARCH={}", arch.kernel_arch()))
            .arg(format!("KCONFIG_CONFIG={}", config.display()));
        if !tc.cross_compile.is_empty() {
            cmd.arg(format!("CROSS_COMPILE={}", tc.cross_compile));
        }
        cmd.arg("olddefconfig")
            .env_remove("MAKEFLAGS")
            .env_remove("MAKELEVEL")
            .env_remove("KCONFIG_CONFIG")
            .env("LC_ALL", "C")
            .stdin(Stdio::null());
        let out = cmd
            .output()
            .map_err(|e| usage(format!("make: {e}; install make (scripts/debian-deps)")))?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let tail: Vec<&str> = stderr.lines().rev().take(12).collect();
            return Err(usage(format!(
                "make olddefconfig (ARCH={}) failed in the kconfig tree of {}:\n  {}",
                arch.kernel_arch(),
                self.commit,
                tail.into_iter().rev().collect::<Vec<_>>().join("\n  ")
            )));
        }
        let final_config = fs::read_to_string(&config).map_err(|e| Error::io(&config, e))?;
        if self.dry_run {
            return Ok(Outcome {
                config: final_config,
                path: None,
                cached: false,
            });
        }
        ka_core::atomic::write(&kept, final_config.as_bytes())?;
        Ok(Outcome {
            config: final_config,
            path: Some(kept),
            cached: false,
        })
    }
}

impl Baseline {
    /// Where a result of `input` is kept: `results/<key>.<ext>`, the key
    /// being the b2sum of everything that decides it.
    fn kept_path(&self, arch: Arch, tc: &Toolchain, input: &str, ext: &str) -> PathBuf {
        let key = b2sum(
            format!(
                "{RESULT_FORMAT}\n{}\n{}\n{}\n{}\n{input}",
                self.commit,
                arch.kernel_arch(),
                tc.cross_compile,
                tc.version
            )
            .as_bytes(),
        );
        self.home
            .join("results")
            .join(format!("{}.{ext}", &key[..32]))
    }

    /// The kept final config of `input`, if a run made it before.
    pub fn kept(&self, arch: Arch, tc: &Toolchain, input: &str) -> Option<Outcome> {
        let kept = self.kept_path(arch, tc, input, "config");
        let config = fs::read_to_string(&kept).ok()?;
        Some(Outcome {
            config,
            path: (!self.dry_run).then_some(kept),
            cached: true,
        })
    }

    /// The kept explanation of `input`'s drops (JSON), if a run made it:
    /// the same inputs give the same reasons, so a warm check reads no
    /// Kconfig file.
    pub fn kept_drops(&self, arch: Arch, tc: &Toolchain, input: &str) -> Option<String> {
        fs::read_to_string(self.kept_path(arch, tc, input, "drops.json")).ok()
    }

    /// Keep the explanation of `input`'s drops (not in a dry run).
    pub fn keep_drops(&self, arch: Arch, tc: &Toolchain, input: &str, json: &str) -> Result<()> {
        if self.dry_run {
            return Ok(());
        }
        ka_core::atomic::write(
            &self.kept_path(arch, tc, input, "drops.json"),
            json.as_bytes(),
        )
    }
}

/// `git archive` the files kconfig reads into `dest`, and refuse a tree
/// kconfig cannot run in.
fn extract(git_dir: &Path, commit: &str, dest: &Path, shown: &str) -> Result<()> {
    let listed = ka_core::git::command()
        .arg("--git-dir")
        .arg(git_dir)
        .args(["ls-tree", "-r", "-z", "--name-only", commit])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| usage(format!("git: {e}")))?;
    if !listed.status.success() {
        return Err(usage(format!(
            "git ls-tree {commit} in {}: {}",
            git_dir.display(),
            String::from_utf8_lossy(&listed.stderr).trim()
        )));
    }
    let files: Vec<&str> = listed
        .stdout
        .split(|&b| b == 0)
        .filter_map(|p| std::str::from_utf8(p).ok())
        .filter(|p| kconfig_reads(p))
        .collect();
    if !files.contains(&"Kconfig") || !files.contains(&"scripts/kconfig/conf.c") {
        return Err(no_kconfig(shown, commit));
    }
    fs::create_dir_all(dest).map_err(|e| Error::io(dest, e))?;
    // the paths go in as literal pathspecs, one argv word each
    let mut archive = ka_core::git::command()
        .arg("--git-dir")
        .arg(git_dir)
        .arg("--literal-pathspecs")
        .args(["archive", "--format=tar", commit, "--"])
        .args(&files)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| usage(format!("git: {e}")))?;
    let stdout = archive.stdout.take().expect("piped");
    let untar = Command::new("tar")
        .arg("-x")
        .arg("-C")
        .arg(dest)
        .stdin(stdout)
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| usage(format!("tar: {e}")))?;
    let git = archive
        .wait_with_output()
        .map_err(|e| usage(format!("git: {e}")))?;
    if !git.status.success() || !untar.status.success() {
        return Err(usage(format!(
            "extracting the Kconfig files of {shown} at {commit} failed: {}{}",
            String::from_utf8_lossy(&git.stderr).trim(),
            String::from_utf8_lossy(&untar.stderr).trim()
        )));
    }
    if !dest.join("scripts/kconfig/conf.c").is_file() || !dest.join("Kconfig").is_file() {
        return Err(no_kconfig(shown, commit));
    }
    Ok(())
}

fn no_kconfig(shown: &str, commit: &str) -> Error {
    contract(format!(
        "baseline {shown} (commit {}) has no scripts/kconfig or no top-level Kconfig, so its own kconfig cannot check the config; pin a kernel tree as the baseline, or remove kernel.config and the fragments from this host",
        &commit[..commit.len().min(12)]
    ))
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .map_err(|e| usage(format!("cp: {e}")))?;
    if !status.success() {
        return Err(usage(format!(
            "cp -a {} {} failed",
            from.display(),
            to.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::kconfig_reads;

    #[test]
    fn only_what_kconfig_reads_is_extracted() {
        for p in [
            "Makefile",
            "Kconfig",
            "init/Kconfig",
            "arch/arm64/Kconfig.platforms",
            "arch/x86/Makefile",
            "arch/x86/Makefile_32.cpu",
            "scripts/kconfig/conf.c",
            "scripts/Kconfig.include",
        ] {
            assert!(kconfig_reads(p), "{p}");
        }
        for p in [
            "drivers/net/Makefile",
            "arch/x86/boot/Makefile",
            "init/main.c",
            "README",
        ] {
            assert!(!kconfig_reads(p), "{p}");
        }
    }
}
