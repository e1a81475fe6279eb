//! SFTP transfers on a [`Connection`]: folders up and down, one file down,
//! every call and every chunk bounded by the phase's deadline
//! ([`Connection::set_deadline`]) on top of the per-call io timeout.

use super::{Connection, Transfer, ms, timed_out};
use ka_core::error::{Error, Result, contract, negative};
use ssh2::{OpenFlags, OpenType};
use std::path::{Path, PathBuf};
use std::time::Instant;

impl Connection {
    /// Bound every later file transfer of this connection (each SFTP call,
    /// each chunk of a file) by `end`, a phase's deadline, on top of the
    /// per-call io timeout: a call gets what is left, and none starts once
    /// it is spent. `None` lifts it. Without it a transfer of many files or
    /// a big one is bounded only per call.
    pub fn set_deadline(&self, end: Option<Instant>) {
        self.deadline.set(end);
        if end.is_none() {
            self.cut.set(false);
            self.session.set_timeout(ms(self.io_timeout));
        }
    }

    /// Before a blocking SFTP call: the session's timeout cut to what the
    /// deadline leaves, or a refusal once it is spent.
    fn bound(&self, what: &Path) -> Result<()> {
        let Some(end) = self.deadline.get() else {
            return Ok(());
        };
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(negative(format!(
                "{}: {}: the phase's time limit ran out (during the file transfer)",
                self.target.label(),
                what.display()
            )));
        }
        self.cut.set(left < self.io_timeout);
        self.session.set_timeout(ms(left.min(self.io_timeout)));
        Ok(())
    }

    /// `std::io::copy` in chunks, each under [`Connection::bound`].
    fn copy_bounded(
        &self,
        what: &Path,
        src: &mut impl std::io::Read,
        dst: &mut impl std::io::Write,
    ) -> Result<u64> {
        let io = |e: std::io::Error| {
            negative(format!(
                "{}: copy {}: {e}{}",
                self.target.label(),
                what.display(),
                self.spent(e.to_string().contains("Timed out"))
            ))
        };
        let mut buf = vec![0u8; 256 * 1024];
        let mut n = 0u64;
        loop {
            self.bound(what)?;
            let got = src.read(&mut buf).map_err(io)?;
            if got == 0 {
                break;
            }
            self.bound(what)?;
            dst.write_all(&buf[..got]).map_err(io)?;
            n += got as u64;
        }
        self.bound(what)?;
        dst.flush().map_err(io)?;
        Ok(n)
    }

    /// The SFTP channel of this connection; a failure names the host and,
    /// when the phase's time ran out, says so.
    fn open_sftp(&self) -> Result<ssh2::Sftp> {
        self.session.sftp().map_err(|e| {
            negative(format!(
                "{}: sftp: {e}{}",
                self.target.label(),
                self.spent(timed_out(&e))
            ))
        })
    }

    /// Copy the remote file `remote` to `local` (SFTP), bounded as every
    /// transfer of this connection.
    pub fn fetch_file(&self, remote: &str, local: &Path) -> Result<u64> {
        let rp = Path::new(remote);
        self.session.set_blocking(true);
        self.bound(rp)?;
        let sftp = self.open_sftp()?;
        self.bound(rp)?;
        let mut src = sftp.open(rp).map_err(|e| self.sftp_err(rp, e))?;
        let mut dst = std::fs::File::create(local).map_err(|e| Error::io(local, e))?;
        self.copy_bounded(rp, &mut src, &mut dst)
    }

    /// Make `remote_dir` and its parents (SFTP), like `mkdir -p`.
    fn sftp_mkdir_p(&self, sftp: &ssh2::Sftp, dir: &Path) -> Result<()> {
        let mut cur = PathBuf::new();
        for c in dir.components() {
            cur.push(c);
            self.bound(&cur)?;
            if sftp.stat(&cur).is_ok() {
                continue;
            }
            sftp.mkdir(&cur, 0o755)
                .map_err(|e| self.sftp_err(&cur, e))?;
        }
        Ok(())
    }

    fn sftp_err(&self, path: &Path, e: ssh2::Error) -> Error {
        negative(format!(
            "{}: sftp {}: {e}{}",
            self.target.label(),
            path.display(),
            self.spent(timed_out(&e))
        ))
    }

    /// For a failed SFTP call: the note when the deadline cut it short (it
    /// timed out with what the deadline left as its timeout, or the
    /// deadline has passed).
    fn spent(&self, timed_out: bool) -> &'static str {
        let passed = self.deadline.get().is_some_and(|end| Instant::now() >= end);
        if passed || (timed_out && self.cut.get()) {
            " (the phase's time limit ran out)"
        } else {
            ""
        }
    }

    /// Copy the folder `local_dir` into `remote_dir` (created with parents),
    /// files and folders with their permission bits. Symlinks and special
    /// files are refused, nothing is deleted on the remote side.
    pub fn upload(&self, local_dir: &Path, remote_dir: &str, reuse: &[&str]) -> Result<Transfer> {
        let remote = absolute_remote(remote_dir)?;
        self.session.set_blocking(true);
        self.bound(&remote)?;
        let sftp = self.open_sftp()?;
        self.sftp_mkdir_p(&sftp, &remote)?;
        let mut stats = Transfer::default();
        self.upload_dir(&sftp, local_dir, &remote, reuse, &mut stats)?;
        Ok(stats)
    }

    fn upload_dir(
        &self,
        sftp: &ssh2::Sftp,
        local: &Path,
        remote: &Path,
        reuse: &[&str],
        stats: &mut Transfer,
    ) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let mut entries: Vec<_> = std::fs::read_dir(local)
            .map_err(|e| Error::io(local, e))?
            .collect::<std::io::Result<_>>()
            .map_err(|e| Error::io(local, e))?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let lp = e.path();
            let rp = remote.join(e.file_name());
            self.bound(&rp)?;
            let meta = std::fs::symlink_metadata(&lp).map_err(|err| Error::io(&lp, err))?;
            let mode = meta.permissions().mode() & 0o7777;
            if meta.is_dir() {
                if sftp.stat(&rp).is_err() {
                    sftp.mkdir(&rp, (mode | 0o700) as i32)
                        .map_err(|err| self.sftp_err(&rp, err))?;
                }
                self.upload_dir(sftp, &lp, &rp, &[], stats)?;
            } else if meta.is_file() {
                let reusable = reuse.iter().any(|r| e.file_name() == **r);
                self.upload_file(sftp, &lp, &rp, &meta, reusable, stats)?;
            } else {
                return Err(contract(format!(
                    "{}: only regular files and folders are uploaded (symlinks and special files are not)",
                    lp.display()
                )));
            }
        }
        Ok(())
    }

    /// One regular file of [`Connection::upload_dir`]: left in place when it
    /// is `reusable` and the remote one has its size, else written anew.
    fn upload_file(
        &self,
        sftp: &ssh2::Sftp,
        lp: &Path,
        rp: &Path,
        meta: &std::fs::Metadata,
        reusable: bool,
        stats: &mut Transfer,
    ) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o7777;
        if let Ok(there) = sftp.stat(rp) {
            if reusable && there.size == Some(meta.len()) {
                stats.reused += 1;
                stats.reused_bytes += meta.len();
                return Ok(());
            }
            // never write through a hard link someone else shares
            sftp.unlink(rp).map_err(|err| self.sftp_err(rp, err))?;
        }
        let mut src = std::fs::File::open(lp).map_err(|err| Error::io(lp, err))?;
        let mut dst = sftp
            .open_mode(
                rp,
                OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNCATE,
                mode as i32,
                OpenType::File,
            )
            .map_err(|err| self.sftp_err(rp, err))?;
        let n = self.copy_bounded(rp, &mut src, &mut dst)?;
        drop(dst);
        // open_mode's mode applies only to new files
        let _ = sftp.setstat(
            rp,
            ssh2::FileStat {
                size: None,
                uid: None,
                gid: None,
                perm: Some(mode),
                atime: None,
                mtime: None,
            },
        );
        stats.files += 1;
        stats.bytes += n;
        Ok(())
    }

    /// Copy the remote folder `remote_dir` into `local_dir` (created with
    /// parents), files and folders with their permission bits; each file is
    /// written under a temporary name and renamed into place.
    pub fn download(&self, remote_dir: &str, local_dir: &Path) -> Result<Transfer> {
        let remote = absolute_remote(remote_dir)?;
        self.session.set_blocking(true);
        self.bound(&remote)?;
        let sftp = self.open_sftp()?;
        let st = sftp.stat(&remote).map_err(|e| self.sftp_err(&remote, e))?;
        if !st.is_dir() {
            return Err(negative(format!(
                "{}: {} is not a folder",
                self.target.label(),
                remote.display()
            )));
        }
        let mut stats = Transfer::default();
        self.download_dir(&sftp, &remote, local_dir, &mut stats)?;
        Ok(stats)
    }

    fn download_dir(
        &self,
        sftp: &ssh2::Sftp,
        remote: &Path,
        local: &Path,
        stats: &mut Transfer,
    ) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(local).map_err(|e| Error::io(local, e))?;
        self.bound(remote)?;
        let mut entries = sftp.readdir(remote).map_err(|e| self.sftp_err(remote, e))?;
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        for (rp, st) in entries {
            let Some(name) = rp.file_name() else { continue };
            let lp = local.join(name);
            self.bound(&rp)?;
            let mode = st.perm.unwrap_or(0o644) & 0o7777;
            if st.is_dir() {
                self.download_dir(sftp, &rp, &lp, stats)?;
                let _ =
                    std::fs::set_permissions(&lp, std::fs::Permissions::from_mode(mode | 0o700));
            } else if st.is_file() {
                let mut src = sftp.open(&rp).map_err(|e| self.sftp_err(&rp, e))?;
                let tmp = local.join(format!(".{}.ka-part", name.to_string_lossy()));
                let mut dst = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
                let n = self.copy_bounded(&rp, &mut src, &mut dst)?;
                dst.sync_all().map_err(|e| Error::io(&tmp, e))?;
                drop(dst);
                std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))
                    .map_err(|e| Error::io(&tmp, e))?;
                std::fs::rename(&tmp, &lp).map_err(|e| Error::io(&lp, e))?;
                stats.files += 1;
                stats.bytes += n;
            } else {
                return Err(negative(format!(
                    "{}: {}: only regular files and folders are downloaded",
                    self.target.label(),
                    rp.display()
                )));
            }
        }
        Ok(())
    }
}

fn absolute_remote(dir: &str) -> Result<PathBuf> {
    let p = PathBuf::from(dir);
    if !p.is_absolute()
        || p.components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(contract(format!(
            "remote folder {dir:?}: give an absolute path without '..' (e.g. <root>/source/<job-id>)"
        )));
    }
    Ok(p)
}
