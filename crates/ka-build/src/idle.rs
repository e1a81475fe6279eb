//! Build hosts that are woken on demand are released again once idle: each
//! use is recorded in `KA_ROOT/build-hosts/<host>.json`, and `ka-job
//! release-idle` (for cron or a timer) runs a host's `build_host.release`
//! command when it has been idle for `build_host.idle_release`.

use ka_core::error::Result;
use ka_core::paths::Layout;
use ka_schema::{Job, Transport, V1};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// `KA_ROOT/build-hosts/<host>.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HostUse {
    pub host: String,
    /// RFC 3339.
    pub last_used: String,
    /// We woke it and have not released it since.
    pub awake: bool,
}

fn record_path(layout: &Layout, host: &str) -> PathBuf {
    layout.root.join("build-hosts").join(format!("{host}.json"))
}

/// Record that `host` was used now; `woken` when we ran its wake command.
pub fn record_use(layout: &Layout, host: &str, woken: bool) -> Result<()> {
    let path = record_path(layout, host);
    let before: Option<HostUse> = read(&path)?;
    let rec = HostUse {
        host: host.to_string(),
        last_used: ka_core::time::now_rfc3339()?,
        awake: woken || before.is_some_and(|b| b.awake),
    };
    ka_core::atomic::write_json(&path, &rec)
}

fn read(path: &Path) -> Result<Option<HostUse>> {
    if !path.exists() {
        return Ok(None);
    }
    ka_core::stream::read_file(path).map(Some)
}

/// Release every woken build host idle for longer than its `idle_release`.
/// Returns one line per host acted on.
pub fn release_idle(layout: &Layout, repo: &Path) -> Result<Vec<String>> {
    let now = ka_core::time::now_epoch()?;
    let dir = layout.root.join("build-hosts");
    let mut lines = Vec::new();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(lines);
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
    {
        let Some(mut rec) = read(path)? else { continue };
        if !rec.awake {
            continue;
        }
        let (m, _) = ka_schema::fleet::manifest(repo, &rec.host)?;
        let Some(spec) = m.build_host else { continue };
        let (Some(release), Some(idle)) = (spec.release, spec.idle_release) else {
            continue;
        };
        let idle = idle.as_secs() as i64;
        let last = ka_core::time::parse_time(&rec.last_used)?;
        if now - last < idle {
            continue;
        }
        let job = Job {
            kind: Default::default(),
            version: V1,
            id: format!("release-{}-{now}", rec.host),
            transport: Transport::Local,
            argv: release,
            cwd: None,
            env: Default::default(),
            wall_clock: ka_schema::Span::minutes(5),
            stall: ka_schema::Span::minutes(5),
            log: layout.root.join("logs").join(&rec.host).join("release.log"),
        };
        let r = ka_run_remote::run_job(&job, None)?;
        if r.ok() {
            rec.awake = false;
            ka_core::atomic::write_json(path, &rec)?;
            lines.push(format!(
                "{}: released after {} s idle",
                rec.host,
                now - last
            ));
        } else {
            lines.push(format!(
                "{}: release command failed (log {})",
                rec.host,
                r.log.display()
            ));
        }
    }
    Ok(lines)
}
