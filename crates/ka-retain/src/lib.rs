//! Retention: what kernel-agent keeps under `KA_ROOT`, and for how long.
//!
//! | what | where | kept | then |
//! | --- | --- | --- | --- |
//! | backup | `backups/<host>/<version>/` | 7 days by its `backup.json` | removed, never the newest of a host |
//! | job output | `output/<job-id>/` + `jobs/<job-id>.json` | 30 days after the job finished | archived into `archive/<job-id>.tar` |
//! | archive | `archive/<job-id>.tar` | 1 year after the job finished | removed |
//! | log | `logs/<build-host>/<job-id>/` | 1 year after the job finished | removed |
//! | render | `hosts/<host>/render/<id>/` | while the host's current promotion, or built by a job of the last 30 days | removed |
//!
//! A job kept with `ka-keep` (`keep/<job-id>.json`, until absent or in the
//! future) loses nothing: not its output, logs, archive, backup or render.
//! Records that cannot be read are reported and what they describe is left
//! alone: nothing is removed by guess.
//!
//! Crash safety: an output is archived by copy-then-remove (tar written to a
//! temp file, fsynced, renamed; then the output folder is renamed aside and
//! removed; then the job record). A kill at any point leaves the original or
//! the archive or both; the next prune finishes the job and removes temp files.
//! `KA_TEST_CRASH_AT=<step>` kills the process at a named step, for the tests
//! (`ka_core::crash`).

pub mod archive;
pub mod build_hosts;
pub mod cli;
pub mod pause;
pub mod plan;
pub mod policy;
pub mod prune;

pub use ka_core::crash::point as crash_point;

/// An age for humans: `41d`, `5h`, `12m`.
pub fn human_age(secs: i64) -> String {
    if secs >= 86_400 {
        format!("{}d", secs / 86_400)
    } else if secs >= 3600 {
        format!("{}h", secs / 3600)
    } else {
        format!("{}m", secs.max(0) / 60)
    }
}
