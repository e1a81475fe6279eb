//! The pause record, `KA_ROOT/retention/pause.json` (`ka.prune-pause`).

use ka_core::error::{Error, Result, contract, negative};
use ka_core::paths::Layout;
use ka_schema::{PrunePause, V1};

/// The pause in force, if any. A record that cannot be read still pauses:
/// it is an error that names the file (remove it with ka-resume-prune).
pub fn current(layout: &Layout) -> Result<Option<PrunePause>> {
    let path = layout.prune_pause();
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            contract(format!(
                "{}: unreadable pause record ({e}); prune stays paused until it is removed with ka-resume-prune",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(&path, e)),
    }
}

/// The refusal `ka-prune` gives while paused (exit 1).
pub fn refusal(p: &PrunePause) -> Error {
    negative(format!(
        "prune is paused by {} since {}{}; run ka-resume-prune to resume",
        p.by,
        p.at,
        p.reason
            .as_deref()
            .map(|r| format!(" (reason: {r})"))
            .unwrap_or_default()
    ))
}

/// `user@host` of whoever runs this.
pub fn who() -> String {
    let user = ["USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "unknown".into());
    format!("{user}@{}", ka_core::names::this_host())
}

/// Pause; an existing pause is left as it is and returned with `false`.
pub fn pause(layout: &Layout, now: i64, reason: Option<String>) -> Result<(PrunePause, bool)> {
    if let Some(p) = current(layout)? {
        return Ok((p, false));
    }
    let p = PrunePause {
        kind: Default::default(),
        version: V1,
        by: who(),
        at: ka_core::time::rfc3339(now),
        reason,
    };
    ka_core::atomic::write_json(&layout.prune_pause(), &p)?;
    Ok((p, true))
}

/// Resume; returns the pause that was removed (None: was not paused). An
/// unreadable record is removed too.
pub fn resume(layout: &Layout) -> Result<Option<Option<PrunePause>>> {
    let path = layout.prune_pause();
    if !path.exists() {
        return Ok(None);
    }
    let was = current(layout).ok().flatten();
    std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
    if let Some(dir) = path.parent() {
        ka_core::atomic::sync_dir(dir)?;
    }
    Ok(Some(was))
}
