//! The retention periods: defaults, or `KA_ROOT/retention.yaml`.

use ka_core::error::Result;
use ka_core::paths::Layout;
use ka_schema::{RetentionConfig, Span, load_yaml};
use std::path::Path;

/// Periods in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub backups: i64,
    pub job_outputs: i64,
    pub archives: i64,
    pub logs: i64,
    pub renders: i64,
    /// Job trees on build hosts.
    pub build_trees: i64,
    /// Build hosts' source cache entries, by last use.
    pub source_cache: i64,
}

const DAY: i64 = 86_400;

impl Default for Policy {
    fn default() -> Self {
        Policy {
            backups: 7 * DAY,
            job_outputs: 30 * DAY,
            archives: 365 * DAY,
            logs: 365 * DAY,
            renders: 30 * DAY,
            // a kernel tree is GBs: a week is enough to ka-debug a failure
            build_trees: 7 * DAY,
            source_cache: 30 * DAY,
        }
    }
}

impl Policy {
    /// `--config FILE` when given (it must exist), else
    /// `KA_ROOT/retention.yaml` when it exists, else the defaults.
    pub fn load(layout: &Layout, config: Option<&Path>) -> Result<Policy> {
        let default_path = layout.root.join("retention.yaml");
        let path = match config {
            Some(p) => p.to_path_buf(),
            None if default_path.exists() => default_path,
            None => return Ok(Policy::default()),
        };
        let shown = path.display().to_string();
        let cfg: RetentionConfig = load_yaml(&path, &shown)?;
        Ok(Policy::from_config(&cfg))
    }

    /// The policy of a read retention.yaml (its spans were checked when it
    /// was read); a key left out takes its default.
    pub fn from_config(cfg: &RetentionConfig) -> Policy {
        let d = Policy::default();
        let get =
            |v: &Option<Span>, default: i64| v.as_ref().map_or(default, |s| s.as_secs() as i64);
        Policy {
            backups: get(&cfg.backups, d.backups),
            job_outputs: get(&cfg.job_outputs, d.job_outputs),
            archives: get(&cfg.archives, d.archives),
            logs: get(&cfg.logs, d.logs),
            renders: get(&cfg.renders, d.renders),
            build_trees: get(&cfg.build_trees, d.build_trees),
            source_cache: get(&cfg.source_cache, d.source_cache),
        }
    }
}
