//! Advisory locks per host (or per job) that name their holder, so a refusal can
//! say who holds the lock.

use crate::error::{Error, Result, negative};
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

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
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(negative(format!(
                    "{} is locked by {}; wait for it to finish",
                    path.display(),
                    if holder.is_empty() {
                        "another process"
                    } else {
                        holder
                    }
                )));
            }
            Err(TryLockError::Error(e)) => return Err(Error::io(path, e)),
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
}
