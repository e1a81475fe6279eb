//! The options every stage that keeps state takes, written once: `--root`
//! (runtime state, `KA_ROOT`) and `--repo` (the fleet repository, `KA_REPO`).
//! A stage flattens one of these into its clap definition where the options
//! stand in its `--help`, and asks it for the [`Layout`] and the repository.

use crate::error::Result;
use crate::paths::{Layout, fleet_repo, runtime_root};
use std::path::PathBuf;

/// `--root DIR`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct RootArg {
    /// Runtime state (default: KA_ROOT or /srv/kernel-agent).
    #[arg(long, value_name = "DIR", global = true)]
    pub root: Option<PathBuf>,
}

impl RootArg {
    /// The runtime state's layout: `--root`, else `KA_ROOT`, else the default.
    pub fn layout(&self) -> Result<Layout> {
        Ok(Layout::new(runtime_root(self.root.as_deref())?))
    }
}

/// `--repo DIR`, for a stage that reads the fleet repository only.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct RepoArg {
    /// The fleet repository (default: KA_REPO or the current directory).
    #[arg(long, value_name = "DIR", global = true)]
    pub repo: Option<PathBuf>,
}

impl RepoArg {
    /// The fleet repository: `--repo`, else `KA_REPO`, else the current directory.
    pub fn repo(&self) -> Result<PathBuf> {
        fleet_repo(self.repo.as_deref())
    }
}

/// `--root DIR` and `--repo DIR`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct StateArgs {
    /// Runtime state (default: KA_ROOT or /srv/kernel-agent).
    #[arg(long, value_name = "DIR", global = true)]
    pub root: Option<PathBuf>,
    /// The fleet repository (default: KA_REPO or the current directory).
    #[arg(long, value_name = "DIR", global = true)]
    pub repo: Option<PathBuf>,
}

impl StateArgs {
    /// The runtime state's layout: `--root`, else `KA_ROOT`, else the default.
    pub fn layout(&self) -> Result<Layout> {
        Ok(Layout::new(runtime_root(self.root.as_deref())?))
    }

    /// The fleet repository: `--repo`, else `KA_REPO`, else the current directory.
    pub fn repo(&self) -> Result<PathBuf> {
        fleet_repo(self.repo.as_deref())
    }
}
