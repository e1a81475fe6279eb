//! Advisory locks per host (or per job) that name their holder, so a refusal can
//! say who holds the lock.

use crate::error::{Error, Result, negative};
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a run waits for a record store (blocks, notices) that another
/// run is updating: such updates take milliseconds.
pub const STORE_PATIENCE: Duration = Duration::from_secs(60);

/// An exclusive lock held until dropped. The lock file keeps the last holder's
/// line after release; only the kernel lock decides who holds it now.
#[derive(Debug)]
pub struct HostLock {
    file: File,
    path: PathBuf,
}

impl HostLock {
    /// Take the lock at `path` without waiting. `purpose` says what the holder is
    /// doing (e.g. `ka-promote fresnel`). A busy lock is a negative answer (exit 1)
    /// naming the holder.
    pub fn acquire(path: &Path, purpose: &str) -> Result<HostLock> {
        Self::acquire_waiting(path, purpose, Duration::ZERO)
    }

    /// Take the lock at `path`, waiting up to `patience` while another
    /// process holds it (said once on stderr, naming the holder); then a
    /// negative answer as [`acquire`](Self::acquire). For locks over state
    /// that runs for different hosts share briefly (a baseline import, a
    /// record store): refusing there would make parallel runs fail each other.
    pub fn acquire_waiting(path: &Path, purpose: &str, patience: Duration) -> Result<HostLock> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        let deadline = Instant::now() + patience;
        let mut said = false;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) => {
                    let holder = holder(&mut file);
                    if Instant::now() >= deadline {
                        return Err(negative(format!(
                            "{} is locked by {holder}; wait for it to finish",
                            path.display(),
                        )));
                    }
                    if !said {
                        eprintln!(
                            "{}: waiting for {holder} to finish (at most {}s)",
                            path.display(),
                            patience.as_secs()
                        );
                        said = true;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(TryLockError::Error(e)) => return Err(Error::io(path, e)),
            }
        }
        let line = format!(
            "pid {} on {}: {}\n",
            std::process::id(),
            crate::names::this_host(),
            purpose
        );
        (|| {
            file.set_len(0)?;
            file.rewind()?;
            file.write_all(line.as_bytes())?;
            file.sync_data()
        })()
        .map_err(|e| Error::io(path, e))?;
        Ok(HostLock {
            file,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The holder's line of a busy lock file.
fn holder(file: &mut File) -> String {
    let mut line = String::new();
    let _ = file.rewind();
    let _ = file.read_to_string(&mut line);
    match line.trim() {
        "" => "another process".to_string(),
        held => held.to_string(),
    }
}

impl Drop for HostLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_with_the_first_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("locks/fresnel.lock");
        let held = HostLock::acquire(&p, "ka-promote fresnel").unwrap();
        let err = HostLock::acquire(&p, "ka-build fresnel").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("ka-promote fresnel"), "{msg}");
        assert_eq!(err.exit_code(), crate::ExitCode::Negative);
        drop(held);
        HostLock::acquire(&p, "ka-build fresnel").unwrap();
    }

    #[test]
    fn a_waiting_taker_gets_the_lock_once_released_or_is_refused_in_time() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("locks/baseline.lock");
        let held = HostLock::acquire(&p, "baseline import").unwrap();
        let start = Instant::now();
        let err = HostLock::acquire_waiting(&p, "x", Duration::from_millis(200)).unwrap_err();
        assert!(start.elapsed() >= Duration::from_millis(200));
        assert!(err.to_string().contains("baseline import"), "{err}");
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            drop(held);
        });
        HostLock::acquire_waiting(&p, "y", Duration::from_secs(10)).unwrap();
        releaser.join().unwrap();
    }
}
