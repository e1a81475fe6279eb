//! The fleet's transport as the verbs use it: the credentials every SSH
//! connection of kernel-agent uses, the [`Transport`] to a host built from
//! its manifest, and the [`Remote`] seam through which ka-build and ka-sign
//! run jobs and move folders ([`SshRemote`] is the real one; tests put a
//! faulty one in its place).

use crate::Transfer;
use ka_core::error::{Error, Result};
use ka_core::paths::Layout;
use ka_schema::SshTarget;
use ka_schema::{Job, JobResult, Transport};
use std::path::{Path, PathBuf};

/// Where SSH credentials live: the fleet's known_hosts (in the repository, so a
/// changed key is a reviewed change) and the identity (runtime state, never $HOME).
#[derive(Debug, Clone)]
pub struct Credentials {
    pub known_hosts: PathBuf,
    pub identity: PathBuf,
}

impl Credentials {
    /// The fleet's: `fleet/known_hosts` of the repository `repo`, and
    /// `KA_SSH_IDENTITY` or `KA_ROOT/ssh/id_ed25519` ([`Layout::ssh_identity`]).
    pub fn of_fleet(repo: &Path, layout: &Layout) -> Result<Credentials> {
        Ok(Credentials {
            known_hosts: ka_schema::fleet::known_hosts(repo),
            identity: layout.ssh_identity()?,
        })
    }

    /// The transport to fleet host `host` at its manifest's `ssh:`, logged in
    /// as `user` (the manifest's own user, or a build host's build user).
    pub fn transport(&self, host: &str, ssh: &SshTarget, user: &str) -> Transport {
        Transport::Ssh {
            host: host.to_string(),
            address: ssh.address.clone(),
            port: ssh.port,
            user: user.to_string(),
            known_hosts: self.known_hosts.clone(),
            identity: self.identity.clone(),
        }
    }
}

/// How jobs reach a build or sign host. The real one is SSH (this crate); the
/// trait keeps the routing and block logic readable on its own and lets tests
/// inject faults.
pub trait Remote {
    /// Run a job to its end; `Err` only for failures on our side.
    fn run(&mut self, job: &Job) -> Result<JobResult>;
    /// Copy a local folder to `remote` (created) on the job's host, leaving in
    /// place the files named in `reuse` that are already there (same size).
    fn upload(
        &mut self,
        to: &Transport,
        local: &Path,
        remote: &str,
        reuse: &[&str],
    ) -> Result<Transfer>;
    /// Copy the files of `remote` into `local` (created); returns the local paths.
    fn download(&mut self, from: &Transport, remote: &str, local: &Path) -> Result<Vec<PathBuf>>;
}

/// The real [`Remote`]: jobs and file transfer through this crate (SSH with
/// strict host keys, or local).
#[derive(Default)]
pub struct SshRemote;

impl Remote for SshRemote {
    fn run(&mut self, job: &Job) -> Result<JobResult> {
        // Progress (elapsed, last line) on stderr while it is a terminal.
        let mut stderr = std::io::stderr();
        let progress: Option<&mut dyn std::io::Write> =
            std::io::IsTerminal::is_terminal(&stderr).then_some(&mut stderr as _);
        crate::run_job(job, progress)
    }

    fn upload(
        &mut self,
        to: &Transport,
        local: &Path,
        remote: &str,
        reuse: &[&str],
    ) -> Result<Transfer> {
        crate::upload(to, local, remote, reuse)
    }

    fn download(&mut self, from: &Transport, remote: &str, local: &Path) -> Result<Vec<PathBuf>> {
        crate::download(from, remote, local)?;
        let mut files = Vec::new();
        for entry in std::fs::read_dir(local).map_err(|e| Error::io(local, e))? {
            let entry = entry.map_err(|e| Error::io(local, e))?;
            files.push(entry.path());
        }
        files.sort();
        Ok(files)
    }
}
