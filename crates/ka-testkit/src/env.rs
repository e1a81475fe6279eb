//! A private `KA_ROOT` and `HOME` for running a stage in a test, so nothing
//! of the real machine's state is read or written; a fixed `KA_NOW` when the
//! test needs times it can predict.

use std::path::Path;
use tempfile::TempDir;

pub struct Env {
    pub root: TempDir,
    pub home: TempDir,
    now: Option<String>,
}

impl Env {
    pub fn new() -> Env {
        Env {
            root: tempfile::tempdir().expect("a temp KA_ROOT"),
            home: tempfile::tempdir().expect("a temp HOME"),
            now: None,
        }
    }

    /// Every command runs with `KA_NOW=time` (RFC 3339).
    pub fn now(mut self, time: &str) -> Env {
        self.now = Some(time.to_string());
        self
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// The workspace binary `bin` with this environment.
    pub fn cmd(&self, bin: &str) -> assert_cmd::Command {
        let mut c = assert_cmd::Command::cargo_bin(bin)
            .unwrap_or_else(|e| panic!("{bin}: {e} (build the workspace first)"));
        c.env("KA_ROOT", self.root.path())
            .env("HOME", self.home.path());
        if let Some(now) = &self.now {
            c.env("KA_NOW", now);
        }
        c
    }
}

impl Default for Env {
    fn default() -> Env {
        Env::new()
    }
}
