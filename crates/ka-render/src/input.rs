//! The inputs of a render, read and checked: the lock (the host's promoted
//! one, a file or stdin), the cumulative patch and the checked config it
//! names, the host manifest it was promoted from, and the gate's refusal
//! said before anything is found missing.

use crate::{Cli, LOCK};
use ka_core::error::{Error, Result, contract, negative, usage};
use ka_core::hash::b2sum;
use ka_core::names::{check_file_name, check_name};
use ka_core::paths::Layout;
use ka_schema::{HostManifest, Lock, Verb};
use std::fs;
use std::path::{Path, PathBuf};

/// A lock and the cumulative patch it names, checked against each other.
#[derive(Debug)]
pub struct Input {
    pub lock: Lock,
    /// The lock as `ka-concat` writes it (pretty JSON and a newline).
    pub lock_bytes: Vec<u8>,
    pub cumulative: Vec<u8>,
    /// The checked kernel config of the lock (`config` beside it).
    pub config: Vec<u8>,
}

impl Input {
    pub(crate) fn load(cli: &Cli, layout: &Layout, repo: &Path) -> Result<Input> {
        // a host named on the command line is a fleet host kernel-agent may
        // target, whatever the lock says
        let manifest = match &cli.host {
            Some(h) => Some(ka_schema::fleet::target(repo, h)?.0),
            None => None,
        };
        let (lock, lock_dir) = read_lock(cli, layout, manifest.as_ref())?;
        check_name("host", &lock.host).map_err(|e| contract(format!("lock: {e}")))?;
        if let Some(h) = &cli.host
            && *h != lock.host
        {
            return Err(contract(format!(
                "the lock is for host {:?}, not {h:?}",
                lock.host
            )));
        }
        check_file_name("cumulative file", &lock.cumulative.file)
            .map_err(|e| contract(format!("lock: {e}")))?;
        check_commit(&lock.baseline.commit)?;
        let dir = lock_dir.unwrap_or_else(|| layout.promoted(&lock.host));
        let cumulative = read_cumulative(cli, &lock, &dir)?;
        let config = checked_config(cli, &lock, &dir)?;
        let mut lock_bytes = serde_json::to_vec_pretty(&lock).expect("locks serialize");
        lock_bytes.push(b'\n');
        Ok(Input {
            lock,
            lock_bytes,
            cumulative,
            config,
        })
    }

    /// The render id: the first 16 hex digits of the lock's b2sum.
    pub fn id(&self) -> String {
        b2sum(&self.lock_bytes)[..16].to_string()
    }
}

/// The lock to render, and the folder it was read from (`None` for stdin).
/// A host without a promoted lock hears first of a gate that halts its builds.
fn read_lock(
    cli: &Cli,
    layout: &Layout,
    manifest: Option<&HostManifest>,
) -> Result<(Lock, Option<PathBuf>)> {
    Ok(match (&cli.lock, &cli.host) {
        (Some(p), _) if p.as_os_str() == "-" => (
            ka_core::stream::read_one(std::io::stdin().lock(), "stdin")?,
            None,
        ),
        (Some(p), _) => (
            ka_core::stream::read_file(p)?,
            Some(
                p.parent()
                    .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
            ),
        ),
        (None, Some(host)) => {
            let dir = layout.promoted(host);
            let path = dir.join(LOCK);
            if !path.is_file() {
                refuse_by_gate(layout, manifest.expect("the host's manifest"))?;
                return Err(negative(format!(
                    "{}: {host} has no promoted lock; run ka-promote {host} first",
                    path.display()
                )));
            }
            (ka_core::stream::read_file(&path)?, Some(dir))
        }
        (None, None) => {
            return Err(usage(
                "name a HOST, or give the lock with --lock FILE (--lock - for stdin)",
            ));
        }
    })
}

/// The cumulative patch the lock names (beside it, or `--cumulative`),
/// refused unless its b2sum and size are the lock's.
fn read_cumulative(cli: &Cli, lock: &Lock, dir: &Path) -> Result<Vec<u8>> {
    let cumulative_path = match &cli.cumulative {
        Some(p) => p.clone(),
        None => dir.join(&lock.cumulative.file),
    };
    let cumulative = fs::read(&cumulative_path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => negative(format!(
            "{}: the cumulative patch of the lock is missing; run ka-promote {} again",
            cumulative_path.display(),
            lock.host
        )),
        _ => Error::io(&cumulative_path, e),
    })?;
    let sum = b2sum(&cumulative);
    if sum != lock.cumulative.b2sum || cumulative.len() as u64 != lock.cumulative.size {
        return Err(negative(format!(
            "{}: b2sum {} differs from the lock's {} (the promotion was changed after ka-promote); run ka-promote {} again",
            cumulative_path.display(),
            &sum[..16],
            lock.cumulative
                .b2sum
                .get(..16)
                .unwrap_or(&lock.cumulative.b2sum),
            lock.host
        )));
    }
    Ok(cumulative)
}

/// The lock's checked kernel config (ka-promote checks it against the
/// baseline's own Kconfig and writes it beside the lock): the build uses
/// exactly these bytes, so they must match the lock.
fn checked_config(cli: &Cli, lock: &Lock, dir: &Path) -> Result<Vec<u8>> {
    let Some(artifact) = &lock.config else {
        return Err(negative(format!(
            "the lock of {} has no checked kernel config (it was promoted without one); add kernel.config to fleet/{}.yaml and run ka-promote {} again",
            lock.host, lock.host, lock.host
        )));
    };
    check_file_name("config file", &artifact.file).map_err(|e| contract(format!("lock: {e}")))?;
    let path = cli
        .config
        .clone()
        .unwrap_or_else(|| dir.join(&artifact.file));
    let bytes = fs::read(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => negative(format!(
            "{}: the checked config of the lock is missing; run ka-promote {} again",
            path.display(),
            lock.host
        )),
        _ => Error::io(&path, e),
    })?;
    if b2sum(&bytes) != artifact.b2sum {
        return Err(negative(format!(
            "{}: b2sum differs from the lock's (the promotion was changed after ka-promote); run ka-promote {} again",
            path.display(),
            lock.host
        )));
    }
    Ok(bytes)
}

/// The gate's refusal of a build of `m`'s host, said before anything about
/// what is missing for it: the open blocks that halt every build host it may
/// be routed to, or every build.
fn refuse_by_gate(layout: &Layout, m: &HostManifest) -> Result<()> {
    let open = ka_block::Store::local(layout).open_blocks()?;
    let routes: Vec<&str> = m
        .build
        .iter()
        .flat_map(|b| std::iter::once(&b.host).chain(&b.fallback))
        .map(String::as_str)
        .collect();
    let in_way = ka_block::gate::halted_before(&open, Verb::Build, &m.host, &routes);
    if in_way.is_empty() {
        return Ok(());
    }
    Err(negative(format!(
        "{}; nothing rendered (ka-gate(1) says what lifts each block)",
        ka_block::gate::refusal(&in_way, &format!("builds of {}", m.host))
    )))
}

fn check_commit(c: &str) -> Result<()> {
    if (c.len() == 40 || c.len() == 64) && c.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(contract(format!(
            "lock: baseline.commit {c:?} is not a full commit id"
        )))
    }
}

/// Load and check the host manifest the lock was promoted from.
pub fn load_manifest(repo: &Path, lock: &Lock) -> Result<HostManifest> {
    let rel = ka_core::paths::safe_relative("lock.manifest", &lock.manifest)?;
    let path = repo.join(rel);
    let bytes = fs::read(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => negative(format!(
            "{}: the manifest the lock was promoted from is gone; check --repo / KA_REPO, or promote again",
            path.display()
        )),
        _ => Error::io(&path, e),
    })?;
    if b2sum(&bytes) != lock.manifest_b2sum {
        return Err(negative(format!(
            "{}: changed since it was promoted (b2sum differs from the lock's manifest_b2sum); run ka-promote {} again",
            lock.manifest, lock.host
        )));
    }
    let m = HostManifest::load(&path, &lock.manifest)?;
    ka_schema::fleet::refuse_infra(&m, &lock.manifest)?;
    if m.host != lock.host {
        return Err(contract(format!(
            "{}: host {:?} but the lock is for {:?}",
            lock.manifest, m.host, lock.host
        )));
    }
    Ok(m)
}
