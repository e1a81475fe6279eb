//! The sign script's side of a publish or a check: its exit statuses, the
//! `ka-publish: ` lines it prints for us, and a failure said in words.

use super::{stall, wall_clock};
use ka_core::error::{Error, Result};
use ka_schema::JobResult;
use std::path::Path;

/// The sign script's exit statuses.
pub const EXIT_TRANSFER: i32 = 10;
pub const EXIT_SIGNING: i32 = 11;
pub const EXIT_REPO: i32 = 12;
pub const EXIT_BUSY: i32 = 13;

/// What the sign script printed for the caller.
#[derive(Debug, Default)]
pub(super) struct ScriptReport {
    pub(super) generation: Option<String>,
    pub(super) wrote: Vec<String>,
    pub(super) unchanged: bool,
    errors: Vec<String>,
}

/// The report lines of the sign job's log; a job that never started leaves
/// no log, and so an empty report.
pub(super) fn read_report(log: &Path) -> Result<ScriptReport> {
    let text = match std::fs::read(log) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Error::io(log, e)),
    };
    let mut r = ScriptReport::default();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("ka-publish: ") else {
            continue;
        };
        if let Some(g) = rest.strip_prefix("generation ") {
            r.generation = Some(g.to_string());
        } else if let Some(w) = rest.strip_prefix("wrote ") {
            r.wrote.push(w.to_string());
        } else if rest == "unchanged" {
            r.unchanged = true;
        } else if let Some(e) = rest.strip_prefix("error ") {
            r.errors.push(e.to_string());
        }
    }
    Ok(r)
}

/// Why the sign job failed, in words, for the message and the blocks.
pub(super) fn describe(r: &JobResult, report: &ScriptReport) -> String {
    if let Some(e) = &r.transport_error {
        return format!("the sign host could not be reached or the connection broke: {e}");
    }
    if r.capped || r.stalled {
        return format!(
            "the sign host took too long (wall clock {}, stall {}) and the job was killed",
            wall_clock(),
            stall()
        );
    }
    let said = report.errors.join("; ");
    match r.exit_code {
        Some(EXIT_TRANSFER) => format!("the upload arrived damaged: {said}"),
        Some(EXIT_SIGNING) => format!("signing failed: {said}"),
        Some(EXIT_REPO) => format!("the repository cannot take the packages: {said}"),
        Some(EXIT_BUSY) => format!("the repository is busy: {said}"),
        Some(code) => format!("the sign script exited {code}: {said}"),
        None => match &r.signal {
            Some(s) => format!("the sign script was killed by SIG{s}"),
            None => "the sign script ended without an exit status".into(),
        },
    }
}
