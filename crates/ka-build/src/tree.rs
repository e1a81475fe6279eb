//! The persistent build tree on a build host: `<root>/trees/<host>-<arch>/`,
//! one per target host and architecture, holding
//!
//! ```text
//! linux/             the kernel source and kbuild's objects
//! cumulative.patch   the patch linux/ holds (applied to the baseline)
//! state              the marker: what linux/ is, written last, after a build
//! ```
//!
//! Each job first reads the tree's state (a read-only job, also in dry runs),
//! then [`decide`]s between an incremental and a clean tree. Incremental: the
//! files either cumulative patch touches are reverted to the baseline in a
//! staging folder, the new patch is applied there, and only files whose
//! content differs replace the tree's (new mtime, so kbuild rebuilds what
//! depends on them, and only that). Clean: the tree is removed, unpacked from
//! `linux.tar` and patched. The marker is removed before the tree is touched
//! and written again only after a successful build, so a job that fails or is
//! killed anywhere in between leaves a tree without a marker: the next job
//! starts clean, never from a half-updated tree.
//!
//! The baseline (tarball b2sum), config (b2sum of the rendered config,
//! whatever its source), toolchain (compiler and linker versions) and target
//! are recorded in the marker: a change of any of them means a clean tree,
//! so the tree's identity is (host, baseline, arch, toolchain) while one
//! folder per (host, arch) keeps the build host's disk bounded.
//!
//! The scripts are constant text; paths and digests come in as arguments.
//! They, and the readers of what they print, are in `scripts`; this module
//! holds the tree's paths, its marker and the decision.

mod scripts;

pub use scripts::{
    COMMIT, PREPARE, STATE, commit_argv, digests, fallback_reason, first_difference, parse_state,
    parse_sums, prepare_argv, prepared_mode, state_argv,
};

use ka_schema::Arch;
use ka_schema::{Render, TreeMode, TreeUse};
use std::collections::BTreeMap;

/// The marker's first line: its format.
pub const MARKER_FORMAT: &str = "ka-tree 1";

/// The tree's folder for `host` on the build host rooted at `root`.
pub fn dir(root: &str, host: &str, arch: Arch) -> String {
    format!(
        "{}/trees/{host}-{}",
        root.trim_end_matches('/'),
        arch.name()
    )
}

/// The folder `--check-reproducible` builds its second, clean build in: a
/// different path, so paths that leak into the output show as a difference.
pub fn check_dir(root: &str, host: &str, arch: Arch) -> String {
    format!("{}-check", dir(root, host, arch))
}

/// The kernel image kbuild makes, relative to the source tree.
pub fn image_path(arch: Arch) -> &'static str {
    match arch {
        Arch::Aarch64 => "arch/arm64/boot/Image",
        Arch::X86_64 => "arch/x86/boot/bzImage",
    }
}

/// What a job needs the tree to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Want {
    pub host: String,
    pub arch: String,
    /// b2sum of `linux.tar` (one per baseline commit).
    pub baseline: String,
    /// b2sum of the rendered `config`.
    pub config: String,
    /// From the state job: the compiler and linker versions, hashed.
    pub toolchain: String,
    pub lock: String,
    pub cumulative: String,
}

impl Want {
    /// From the render and the toolchain the state job saw; `None` when the
    /// render lacks a file every build has (then the build builds clean).
    pub fn of(render: &Render, arch: Arch, toolchain: &str) -> Option<Want> {
        let sum = |name: &str| {
            render
                .files
                .iter()
                .find(|a| a.file == name)
                .map(|a| a.b2sum.clone())
        };
        Some(Want {
            host: render.host.clone(),
            arch: arch.name().to_string(),
            baseline: sum("linux.tar")?,
            config: sum("config")?,
            toolchain: toolchain.to_string(),
            lock: render.lock_b2sum.clone(),
            cumulative: sum("cumulative.patch")?,
        })
    }

    /// The marker that says the tree holds this: written after the build.
    pub fn marker(&self, job: &str) -> Vec<String> {
        vec![
            MARKER_FORMAT.to_string(),
            format!("host {}", self.host),
            format!("arch {}", self.arch),
            format!("baseline {}", self.baseline),
            format!("config {}", self.config),
            format!("toolchain {}", self.toolchain),
            format!("lock {}", self.lock),
            format!("cumulative {}", self.cumulative),
            format!("job {job}"),
        ]
    }
}

/// What the state job found on the build host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    pub toolchain: String,
    /// The tree's source folder exists.
    pub present: bool,
    /// The marker's lines, as written (`None`: no marker).
    pub marker: Option<Vec<String>>,
    /// b2sum of the tree's kept cumulative.patch, when there is one.
    pub kept: Option<String>,
}

/// Clean or incremental, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub mode: TreeMode,
    pub reason: String,
}

impl Decision {
    fn clean(reason: impl Into<String>) -> Decision {
        Decision {
            mode: TreeMode::Clean,
            reason: reason.into(),
        }
    }

    pub fn to_use(&self, dir: &str) -> TreeUse {
        TreeUse {
            dir: dir.to_string(),
            mode: self.mode,
            reason: self.reason.clone(),
        }
    }

    /// For messages: "incremental (from lock …)", "clean (config changed …)".
    pub fn describe(&self) -> String {
        let mode = match self.mode {
            TreeMode::Clean => "clean",
            TreeMode::Incremental => "incremental",
        };
        format!("{mode} build: {}", self.reason)
    }
}

fn short(sum: &str) -> &str {
    &sum[..sum.len().min(16)]
}

/// The tree decision: incremental only when the marker says the tree holds a
/// complete, successful build of the same host, arch, baseline, config and
/// toolchain, and the patch kept beside it is the one the marker names.
pub fn decide(observed: &Observed, want: &Want, force_clean: bool) -> Decision {
    if force_clean {
        return Decision::clean("--clean asked for one");
    }
    if !observed.present {
        return Decision::clean("no build tree for this host on the build host yet");
    }
    let Some(lines) = &observed.marker else {
        return Decision::clean(
            "the tree has no state marker: the last job on it failed, was killed or did not finish",
        );
    };
    if lines.first().map(String::as_str) != Some(MARKER_FORMAT) {
        return Decision::clean(format!(
            "the tree's state marker is not a {MARKER_FORMAT:?} marker"
        ));
    }
    let mut fields = BTreeMap::new();
    for l in &lines[1..] {
        let (k, v) = l.split_once(' ').unwrap_or((l.as_str(), ""));
        if fields.insert(k, v).is_some() {
            return Decision::clean(format!("the tree's state marker names {k} twice"));
        }
    }
    let wanted = [
        ("host", want.host.as_str(), "host"),
        ("arch", want.arch.as_str(), "architecture"),
        ("baseline", want.baseline.as_str(), "baseline"),
        ("toolchain", want.toolchain.as_str(), "toolchain"),
        ("config", want.config.as_str(), "config"),
    ];
    for (key, value, what) in wanted {
        match fields.get(key) {
            None => {
                return Decision::clean(format!("the tree's state marker has no {key}"));
            }
            Some(had) if *had != value => {
                return Decision::clean(format!(
                    "{what} changed ({} → {})",
                    short(had),
                    short(value)
                ));
            }
            Some(_) => {}
        }
    }
    let (Some(lock), Some(cumulative)) = (fields.get("lock"), fields.get("cumulative")) else {
        return Decision::clean("the tree's state marker names no lock or patch");
    };
    if observed.kept.as_deref() != Some(*cumulative) {
        return Decision::clean(format!(
            "the tree's patch is not the one its state marker names (marker from another lock {})",
            short(lock)
        ));
    }
    Decision {
        mode: TreeMode::Incremental,
        reason: if *lock == want.lock {
            format!(
                "the tree holds this lock ({}) already; kbuild rebuilds nothing it finds up to date",
                short(lock)
            )
        } else {
            format!(
                "from lock {} to {}; only files whose content changes are replaced",
                short(lock),
                short(&want.lock)
            )
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn want() -> Want {
        Want {
            host: "planck".into(),
            arch: "x86_64".into(),
            baseline: "b".repeat(128),
            config: "c".repeat(128),
            toolchain: "t".repeat(32),
            lock: "1".repeat(128),
            cumulative: "p".repeat(128),
        }
    }

    /// The state a tree has after a successful build of `w`.
    fn built(w: &Want) -> Observed {
        Observed {
            toolchain: w.toolchain.clone(),
            present: true,
            marker: Some(w.marker("planck-20260101T000000Z-11111111")),
            kept: Some(w.cumulative.clone()),
        }
    }

    fn next_lock() -> Want {
        Want {
            lock: "2".repeat(128),
            cumulative: "q".repeat(128),
            ..want()
        }
    }

    #[test]
    fn a_built_tree_of_an_earlier_lock_is_updated_incrementally() {
        let d = decide(&built(&want()), &next_lock(), false);
        assert_eq!(d.mode, TreeMode::Incremental, "{d:?}");
        assert!(
            d.reason
                .contains("from lock 1111111111111111 to 2222222222222222")
        );
        // the same lock again: incremental too (nothing to replace)
        let d = decide(&built(&want()), &want(), false);
        assert_eq!(d.mode, TreeMode::Incremental);
        assert!(d.reason.contains("holds this lock"));
    }

    #[test]
    fn clean_when_asked_or_there_is_no_tree_or_no_marker() {
        assert_eq!(
            decide(&built(&want()), &next_lock(), true),
            Decision::clean("--clean asked for one")
        );
        let none = Observed::default();
        assert!(
            decide(&none, &want(), false)
                .reason
                .contains("no build tree")
        );
        // a failed or killed job removed the marker first and never wrote it
        let killed = Observed {
            marker: None,
            ..built(&want())
        };
        let d = decide(&killed, &next_lock(), false);
        assert_eq!(d.mode, TreeMode::Clean);
        assert!(d.reason.contains("failed, was killed"), "{}", d.reason);
    }

    #[test]
    fn a_change_of_baseline_config_toolchain_host_or_arch_is_clean() {
        let base = built(&want());
        for (changed, what) in [
            (
                Want {
                    baseline: "B".repeat(128),
                    ..next_lock()
                },
                "baseline changed",
            ),
            (
                Want {
                    config: "C".repeat(128),
                    ..next_lock()
                },
                "config changed (cccccccccccccccc → CCCCCCCCCCCCCCCC)",
            ),
            (
                Want {
                    toolchain: "T".repeat(32),
                    ..next_lock()
                },
                "toolchain changed",
            ),
            (
                Want {
                    host: "fermat".into(),
                    ..next_lock()
                },
                "host changed",
            ),
            (
                Want {
                    arch: "aarch64".into(),
                    ..next_lock()
                },
                "architecture changed",
            ),
        ] {
            let d = decide(&base, &changed, false);
            assert_eq!(d.mode, TreeMode::Clean, "{what}");
            assert!(d.reason.starts_with(what), "{what}: {}", d.reason);
        }
    }

    #[test]
    fn a_marker_that_does_not_describe_the_tree_is_clean() {
        // the kept patch is not the marker's: a marker from another lock
        let other = Observed {
            kept: Some("x".repeat(128)),
            ..built(&want())
        };
        let d = decide(&other, &next_lock(), false);
        assert_eq!(d.mode, TreeMode::Clean);
        assert!(
            d.reason.contains("marker from another lock"),
            "{}",
            d.reason
        );
        // no kept patch at all
        let d = decide(
            &Observed {
                kept: None,
                ..built(&want())
            },
            &next_lock(),
            false,
        );
        assert_eq!(d.mode, TreeMode::Clean);
        // cut short, unknown format, a field twice, a field missing
        let mut lines = want().marker("j");
        let cut = Observed {
            marker: Some(lines[..4].to_vec()),
            ..built(&want())
        };
        assert!(
            decide(&cut, &next_lock(), false)
                .reason
                .contains("no toolchain")
        );
        let mut other_format = lines.clone();
        other_format[0] = "ka-tree 0".into();
        let d = decide(
            &Observed {
                marker: Some(other_format),
                ..built(&want())
            },
            &next_lock(),
            false,
        );
        assert!(d.reason.contains("not a"), "{}", d.reason);
        lines.push(format!("config {}", "c".repeat(128)));
        let d = decide(
            &Observed {
                marker: Some(lines),
                ..built(&want())
            },
            &next_lock(),
            false,
        );
        assert!(d.reason.contains("config twice"), "{}", d.reason);
        let d = decide(
            &Observed {
                marker: Some(vec![String::new()]),
                ..built(&want())
            },
            &next_lock(),
            false,
        );
        assert_eq!(d.mode, TreeMode::Clean);
    }

    #[test]
    fn the_state_job_output_is_read_back() {
        let w = want();
        let mut out = format!("toolchain {}\ntree present\n", w.toolchain);
        for l in w.marker("j") {
            out.push_str(&format!("state {l}\n"));
        }
        out.push_str(&format!("kept {}\n", w.cumulative));
        let o = parse_state(&out);
        assert_eq!(o.marker.as_ref().unwrap()[0], MARKER_FORMAT);
        assert_eq!(decide(&o, &next_lock(), false).mode, TreeMode::Incremental);
        // the state script run for real on a folder with no tree
        let tmp = tempfile::tempdir().unwrap();
        let argv = state_argv(tmp.path().join("t").to_str().unwrap(), "");
        let run = std::process::Command::new(&argv[0])
            .args(&argv[1..])
            .output()
            .unwrap();
        let o = parse_state(&String::from_utf8(run.stdout).unwrap());
        assert!(!o.present && o.marker.is_none() && o.kept.is_none());
        assert_eq!(o.toolchain.len(), 32);
    }
}
