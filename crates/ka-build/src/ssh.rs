//! The real [`Remote`](crate::build::Remote): jobs and file transfer through
//! ka-run-remote (SSH with strict host keys, or local).

use crate::build::Remote;
use ka_core::docs::{Job, JobResult, Transport};
use ka_core::error::{Error, Result};
use ka_run_remote::Transfer;
use std::path::{Path, PathBuf};

#[derive(Default)]
pub struct SshRemote;

impl Remote for SshRemote {
    fn run(&mut self, job: &Job) -> Result<JobResult> {
        // Progress (elapsed, last line) on stderr while it is a terminal.
        let mut stderr = std::io::stderr();
        let progress: Option<&mut dyn std::io::Write> =
            std::io::IsTerminal::is_terminal(&stderr).then_some(&mut stderr as _);
        ka_run_remote::run_job(job, progress)
    }

    fn upload(
        &mut self,
        to: &Transport,
        local: &Path,
        remote: &str,
        reuse: &[&str],
    ) -> Result<Transfer> {
        ka_run_remote::upload(to, local, remote, reuse)
    }

    fn download(&mut self, from: &Transport, remote: &str, local: &Path) -> Result<Vec<PathBuf>> {
        ka_run_remote::download(from, remote, local)?;
        let mut files = Vec::new();
        for entry in std::fs::read_dir(local).map_err(|e| Error::io(local, e))? {
            let entry = entry.map_err(|e| Error::io(local, e))?;
            files.push(entry.path());
        }
        files.sort();
        Ok(files)
    }
}

/// Whether a result is a host key refusal (file `[ka:host-changed]`).
pub fn host_key_refused(r: &JobResult) -> bool {
    ka_run_remote::is_host_key_refusal(r)
}
