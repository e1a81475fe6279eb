//! Fault injection for the crash tests, the one mechanism every verb uses
//! (issue 13): a real `SIGKILL` at a named step, so nothing is cleaned up —
//! no destructor, no temp-file removal; only what the kernel does (locks
//! released, files closed).
//!
//! - `KA_TEST_CRASH_AT=<step>`: the process sends itself SIGKILL at that step.
//! - `KA_TEST_PAUSE_AT=<step>` with `KA_TEST_PAUSED=<file>`: at that step the
//!   process writes its pid to `<file>` and waits forever, for a test to kill
//!   it from outside.
//! - `KA_TEST_CRASH_POINTS=<file>`: every step reached is appended to
//!   `<file>`, one per line, so a test learns the steps from a clean run and
//!   loops over them (a new step is then covered without touching the test).
//!
//! Step names: the tree verbs' journal steps (`staged`, `committed`,
//! `op-<n>`, `applied`), prune's (`archive-written`, …), and the phase
//! boundaries of the pipeline verbs, named `<verb>:<phase>` (`build:staged`,
//! `publish:uploaded`, `install:backup`, …): the step is reached when that
//! phase has ended and the next has not begun.

use std::io::Write;

pub fn point(step: &str) {
    if let Some(file) = std::env::var_os("KA_TEST_CRASH_POINTS")
        && let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(file)
    {
        let _ = writeln!(f, "{step}");
    }
    if std::env::var("KA_TEST_CRASH_AT").is_ok_and(|s| s == step) {
        eprintln!("KA_TEST_CRASH_AT={step}: killing this process (SIGKILL)");
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
