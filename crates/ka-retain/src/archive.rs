//! Job archives: `KA_ROOT/archive/<job-id>.tar` holds `archive.json` (a
//! `ka.archive` index, first so its age is read cheaply), `job.json` (the job
//! record, byte for byte) and `output/<file>` for every package.

use crate::crash_point;
use ka_core::atomic::sync_dir;
use ka_core::error::{Error, Result, contract, negative, usage};
use ka_core::hash::B2Hasher;
use ka_core::paths::{Layout, safe_relative};
use ka_schema::{ArchiveIndex, Artifact, JobResult, V1};
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

const INDEX: &str = "archive.json";
const RECORD: &str = "job.json";
const OUTPUT: &str = "output/";
/// Bigger than any sane index or job record.
const MAX_DOC: u64 = 16 << 20;

/// The temp name an archive is written under; `ka-prune` removes leftovers.
pub fn temp_path(final_path: &Path) -> PathBuf {
    let name = final_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    final_path.with_file_name(format!(".{name}.tmp"))
}

/// Every regular file under `dir`, relative, sorted. Anything else (a
/// symlink, a device) is refused: an output holds packages only.
pub fn output_files(dir: &Path) -> Result<Vec<String>> {
    fn walk(base: &Path, rel: &Path, out: &mut Vec<String>) -> Result<()> {
        let here = base.join(rel);
        let mut entries: Vec<_> = fs::read_dir(&here)
            .map_err(|e| Error::io(&here, e))?
            .collect::<std::io::Result<_>>()
            .map_err(|e| Error::io(&here, e))?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let path = e.path();
            let ty = e.file_type().map_err(|err| Error::io(&path, err))?;
            let r = rel.join(e.file_name());
            if ty.is_dir() {
                walk(base, &r, out)?;
            } else if ty.is_file() {
                let text = r.to_str().ok_or_else(|| {
                    contract(format!("{}: file name is not UTF-8", path.display()))
                })?;
                out.push(text.to_string());
            } else {
                return Err(contract(format!(
                    "{}: not a regular file; a job output holds packages only (left alone)",
                    path.display()
                )));
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, Path::new(""), &mut out)?;
    Ok(out)
}

fn digest_file(path: &Path, rel: &str) -> Result<Artifact> {
    let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut h = B2Hasher::default();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        size += n as u64;
    }
    Ok(Artifact {
        file: rel.to_string(),
        size,
        b2sum: h.finish(),
    })
}

fn header(size: u64, mtime: i64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(mtime.max(0) as u64);
    h.set_entry_type(tar::EntryType::Regular);
    h
}

/// Write `archive/<job-id>.tar` for a job: the output folder (if any) and the
/// record bytes. Written to a temp file, fsynced, renamed, folder fsynced.
pub fn write(
    layout: &Layout,
    id: &str,
    record_bytes: &[u8],
    job: &JobResult,
    finished: i64,
    now: i64,
) -> Result<PathBuf> {
    let out_dir = layout.output(id);
    let files = if out_dir.exists() {
        output_files(&out_dir)?
    } else {
        Vec::new()
    };
    let artifacts = files
        .iter()
        .map(|rel| digest_file(&out_dir.join(rel), rel))
        .collect::<Result<Vec<_>>>()?;
    let index = ArchiveIndex {
        kind: Default::default(),
        version: V1,
        job: id.to_string(),
        finished_at: ka_core::time::rfc3339(finished),
        archived_at: ka_core::time::rfc3339(now),
        render: job.render.clone(),
        files: artifacts.clone(),
    };
    let final_path = layout.job_archive(id);
    let dir = layout.job_archives();
    fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let tmp = temp_path(&final_path);
    let written = (|| -> Result<()> {
        let file = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        let mut tar = tar::Builder::new(std::io::BufWriter::new(file));
        let io = |e| Error::io(&tmp, e);
        let mut index_bytes = serde_json::to_vec_pretty(&index).expect("serializes");
        index_bytes.push(b'\n');
        tar.append_data(
            &mut header(index_bytes.len() as u64, now),
            INDEX,
            index_bytes.as_slice(),
        )
        .map_err(io)?;
        tar.append_data(
            &mut header(record_bytes.len() as u64, now),
            RECORD,
            record_bytes,
        )
        .map_err(io)?;
        for a in &artifacts {
            let src = out_dir.join(&a.file);
            let f = File::open(&src).map_err(|e| Error::io(&src, e))?;
            // the size we hashed: a file that changed since fails here
            // instead of writing a member that disagrees with the index
            tar.append_data(
                &mut header(a.size, now),
                format!("{OUTPUT}{}", a.file),
                f.take(a.size),
            )
            .map_err(|e| Error::io(&src, e))?;
        }
        let file = tar
            .into_inner()
            .map_err(io)?
            .into_inner()
            .map_err(|e| Error::io(&tmp, e.into_error()))?;
        file.sync_all().map_err(io)?;
        crash_point("archive-temp-written");
        fs::rename(&tmp, &final_path).map_err(|e| Error::io(&final_path, e))?;
        sync_dir(&dir)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(final_path)
}

fn not_an_archive(path: &Path, what: impl std::fmt::Display) -> Error {
    contract(format!(
        "{}: not a readable job archive: {what}",
        path.display()
    ))
}

fn read_member(path: &Path, entry: &mut tar::Entry<'_, File>) -> Result<Vec<u8>> {
    if entry.size() > MAX_DOC {
        return Err(not_an_archive(path, "a record member is too big"));
    }
    let mut bytes = Vec::new();
    entry
        .read_to_end(&mut bytes)
        .map_err(|e| not_an_archive(path, e))?;
    Ok(bytes)
}

/// The index of an archive (its first member), checked to name `id`.
pub fn read_index(path: &Path, id: &str) -> Result<ArchiveIndex> {
    let f = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut ar = tar::Archive::new(f);
    let mut entries = ar.entries().map_err(|e| not_an_archive(path, e))?;
    let mut first = match entries.next() {
        Some(Ok(e)) => e,
        Some(Err(e)) => return Err(not_an_archive(path, e)),
        None => return Err(not_an_archive(path, "empty")),
    };
    let name = first.path().map_err(|e| not_an_archive(path, e))?;
    if name != Path::new(INDEX) {
        return Err(not_an_archive(
            path,
            format!("first member is {}, not {INDEX}", name.display()),
        ));
    }
    let bytes = read_member(path, &mut first)?;
    let index: ArchiveIndex = serde_json::from_slice(&bytes)
        .map_err(|e| not_an_archive(path, format!("{INDEX}: {e}")))?;
    if index.job != id {
        return Err(not_an_archive(
            path,
            format!("{INDEX} names job {}, not {id}", index.job),
        ));
    }
    ka_core::time::parse_time(&index.finished_at)
        .map_err(|e| not_an_archive(path, format!("{INDEX}: finished_at: {e}")))?;
    Ok(index)
}

/// What a restore put back.
pub struct Restored {
    pub output: PathBuf,
    pub files: Vec<PathBuf>,
    /// The job record, when it was missing and was written back.
    pub record: Option<PathBuf>,
    pub index: ArchiveIndex,
    pub job: JobResult,
}

/// Restore `output/<job-id>/` (and `jobs/<job-id>.json` when missing) from
/// the job's archive, which stays in place. Refused when the output exists.
/// The files are extracted into `output/.restore-<job-id>/`, checked against
/// the index (size and b2sum), fsynced, and renamed into place.
pub fn restore(layout: &Layout, id: &str) -> Result<Restored> {
    ka_core::names::check_job_id(id)?;
    let tar_path = layout.job_archive(id);
    let out = layout.output(id);
    if !tar_path.exists() {
        let hint = if out.exists() {
            format!(
                " (its output {} is in place: nothing to restore)",
                out.display()
            )
        } else if layout.job_record(id).exists() {
            " (its job record is in place but it was never archived)".to_string()
        } else {
            format!(
                "; archived jobs are the *.tar files in {}",
                layout.job_archives().display()
            )
        };
        return Err(usage(format!(
            "no archive for job {id}: {} does not exist{hint}",
            tar_path.display()
        )));
    }
    if out.exists() {
        return Err(negative(format!(
            "refusing to restore job {id}: {} exists; nothing restored (move it away first if it should be replaced)",
            out.display()
        )));
    }
    let index = read_index(&tar_path, id)?;
    let parent = layout.outputs();
    fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, e))?;
    let tmp = parent.join(format!(".restore-{id}"));
    let _ = fs::remove_dir_all(&tmp);
    let result = extract(&tar_path, &tmp, &index);
    let (record_bytes, files) = match result {
        Ok(r) => r,
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    let job: JobResult = match serde_json::from_slice(&record_bytes) {
        Ok(j) => j,
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            return Err(not_an_archive(&tar_path, format!("{RECORD}: {e}")));
        }
    };
    // The record first: an output without its record would be left alone by
    // prune as an orphan, a record without its output is an archived job.
    let record_path = layout.job_record(id);
    let record = if record_path.exists() {
        None
    } else {
        if let Err(e) = ka_core::atomic::write(&record_path, &record_bytes) {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
        Some(record_path)
    };
    crash_point("restore-extracted");
    if let Err(e) = fs::rename(&tmp, &out) {
        let _ = fs::remove_dir_all(&tmp);
        return Err(Error::io(&out, e));
    }
    sync_dir(&parent)?;
    Ok(Restored {
        files: files.iter().map(|f| out.join(f)).collect(),
        output: out,
        record,
        index,
        job,
    })
}

/// Copy one member of the archive at `tar_path` into the new file `dest`,
/// synced; its size and b2sum.
fn write_member(tar_path: &Path, entry: &mut impl Read, dest: &Path) -> Result<(u64, String)> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(dest)
        .map_err(|e| Error::io(dest, e))?;
    let mut h = B2Hasher::default();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = entry
            .read(&mut buf)
            .map_err(|e| not_an_archive(tar_path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        file.write_all(&buf[..n]).map_err(|e| Error::io(dest, e))?;
        size += n as u64;
    }
    file.sync_all().map_err(|e| Error::io(dest, e))?;
    Ok((size, h.finish()))
}

/// Extract into `tmp` (created) and check every file against the index.
fn extract(tar_path: &Path, tmp: &Path, index: &ArchiveIndex) -> Result<(Vec<u8>, Vec<String>)> {
    fs::create_dir_all(tmp).map_err(|e| Error::io(tmp, e))?;
    let f = File::open(tar_path).map_err(|e| Error::io(tar_path, e))?;
    let mut ar = tar::Archive::new(f);
    let mut record = None;
    let mut got: Vec<Artifact> = Vec::new();
    let mut dirs = vec![tmp.to_path_buf()];
    for entry in ar.entries().map_err(|e| not_an_archive(tar_path, e))? {
        let mut entry = entry.map_err(|e| not_an_archive(tar_path, e))?;
        let name = entry
            .path()
            .map_err(|e| not_an_archive(tar_path, e))?
            .to_str()
            .map(str::to_string)
            .ok_or_else(|| not_an_archive(tar_path, "a member name is not UTF-8"))?;
        if name == INDEX {
            continue;
        }
        if name == RECORD {
            record = Some(read_member(tar_path, &mut entry)?);
            continue;
        }
        let Some(rel) = name.strip_prefix(OUTPUT) else {
            return Err(not_an_archive(
                tar_path,
                format!("unexpected member {name}"),
            ));
        };
        let rel_path = safe_relative("archive member", rel)?;
        if entry.header().entry_type() != tar::EntryType::Regular {
            return Err(not_an_archive(
                tar_path,
                format!("{name} is not a regular file"),
            ));
        }
        let dest = tmp.join(rel_path);
        if let Some(d) = dest.parent()
            && !d.exists()
        {
            fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
            dirs.push(d.to_path_buf());
        }
        let (size, b2sum) = write_member(tar_path, &mut entry, &dest)?;
        got.push(Artifact {
            file: rel.to_string(),
            size,
            b2sum,
        });
    }
    let record = record.ok_or_else(|| not_an_archive(tar_path, format!("no {RECORD}")))?;
    got.sort_by(|a, b| a.file.cmp(&b.file));
    let mut want = index.files.clone();
    want.sort_by(|a, b| a.file.cmp(&b.file));
    if got != want {
        return Err(not_an_archive(
            tar_path,
            "the packages in it disagree with its archive.json (damaged?); nothing restored",
        ));
    }
    for d in dirs.iter().rev() {
        sync_dir(d)?;
    }
    Ok((record, got.into_iter().map(|a| a.file).collect()))
}
