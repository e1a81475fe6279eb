//! Fault injection for the crash tests: a real `SIGKILL` at a named step.
//!
//! - `KA_TEST_CRASH_AT=<step>`: the process sends itself SIGKILL at that step.
//! - `KA_TEST_PAUSE_AT=<step>` with `KA_TEST_PAUSED=<file>`: at that step the
//!   process creates `<file>` and waits forever, for a test to kill it from outside.
//!
//! Steps: `staged` (journal written, not committed), `committed`, `op-<n>`
//! (after the n-th rename), `applied` (all renames done, journal not yet deleted).

pub fn crash_point(step: &str) {
    if std::env::var("KA_TEST_CRASH_AT").is_ok_and(|s| s == step) {
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    }
    if std::env::var("KA_TEST_PAUSE_AT").is_ok_and(|s| s == step)
        && let Some(marker) = std::env::var_os("KA_TEST_PAUSED")
    {
        let _ = std::fs::write(marker, std::process::id().to_string());
        loop {
            std::thread::park();
        }
    }
}
