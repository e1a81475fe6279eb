//! A folder of JSON records, one `<id>.json` per record, each written
//! atomically. The block store, the notice store and the reminder state are
//! all folders of this kind; this is the one place that reads and writes them,
//! so they agree on ids, on what a corrupt record is, and on what is skipped.

use ka_core::atomic;
use ka_core::error::{Error, Result, contract, usage};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fs;
use std::path::{Path, PathBuf};

/// A record that knows its own id (its file is `<id>.json`).
pub trait Record {
    fn record_id(&self) -> &str;
}

impl Record for ka_schema::Block {
    fn record_id(&self) -> &str {
        &self.id
    }
}

impl Record for ka_schema::Notice {
    fn record_id(&self) -> &str {
        &self.id
    }
}

#[derive(Debug, Clone)]
pub struct RecordDir {
    dir: PathBuf,
    /// What the folder is, for errors: "block store", "notice store", ...
    what: &'static str,
    /// What one record is, for errors: "block", "notice", ...
    noun: &'static str,
}

/// Record ids: lower-case letters, digits and `-`, not starting with `-`.
pub fn check_id(noun: &str, id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && !id.starts_with('-')
        && id
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-');
    if ok {
        Ok(())
    } else {
        Err(usage(format!("invalid {noun} id {id:?}")))
    }
}

impl RecordDir {
    pub fn new(dir: PathBuf, what: &'static str, noun: &'static str) -> RecordDir {
        RecordDir { dir, what, noun }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of record `id` (the id is checked: it becomes a path).
    pub fn path(&self, id: &str) -> Result<PathBuf> {
        check_id(self.noun, id)?;
        Ok(self.dir.join(format!("{id}.json")))
    }

    /// Every record, ordered by id. A corrupt or half-written record is an
    /// error naming its file: a reader that skipped it could let through what
    /// it should halt, or forget what it should remind of. Dot files (the
    /// temp files of an atomic write in progress) are not records.
    pub fn all<T: DeserializeOwned + Record>(&self) -> Result<Vec<T>> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(&self.dir, e)),
        };
        let mut records = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(&self.dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || !name.ends_with(".json") {
                continue;
            }
            let path = entry.path();
            let record: T = self.read_path(&path)?;
            if format!("{}.json", record.record_id()) != name {
                return Err(contract(format!(
                    "{}: record id {} does not match its file name",
                    path.display(),
                    record.record_id()
                )));
            }
            records.push(record);
        }
        records.sort_by(|a, b| a.record_id().cmp(b.record_id()));
        Ok(records)
    }

    /// Record `id`, or `None` when there is none.
    pub fn get<T: DeserializeOwned>(&self, id: &str) -> Result<Option<T>> {
        let path = self.path(id)?;
        if !path.exists() {
            return Ok(None);
        }
        self.read_path(&path).map(Some)
    }

    /// Write record `id` atomically.
    pub fn put<T: Serialize>(&self, id: &str, record: &T) -> Result<()> {
        atomic::write_json(&self.path(id)?, record)
    }

    /// Remove record `id` (absent is fine).
    pub fn remove(&self, id: &str) -> Result<()> {
        let path = self.path(id)?;
        match fs::remove_file(&path) {
            Ok(()) => atomic::sync_dir(&self.dir),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    fn read_path<T: DeserializeOwned>(&self, path: &Path) -> Result<T> {
        ka_core::stream::read_file(path).map_err(|e| match e {
            Error::Io { .. } => e,
            e => contract(format!(
                "{} record is corrupt: {e}; repair or remove {}",
                self.what,
                path.display()
            )),
        })
    }
}
