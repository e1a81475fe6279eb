//! The outbox of the issue mirror: every change of a mirrored record is first
//! queued here as one `ka.issue-event` file, then flushed by `ka-gitea`. Queueing
//! is a plain atomic file write, so the stages that file records need no HTTP.

use ka_core::error::{Error, Result, contract};
use ka_core::paths::Layout;
use ka_schema::{IssueChange, IssueEvent, IssueItem, V1};
use std::fs;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Outbox {
    dir: PathBuf,
}

impl Outbox {
    pub fn new(layout: &Layout) -> Outbox {
        Outbox {
            dir: layout.outbox(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Queue one change; returns the event file. Sequence numbers are taken
    /// under a lock so that concurrent writers never reuse one.
    pub fn enqueue(
        &self,
        change: IssueChange,
        item: IssueItem,
        comment: Option<String>,
    ) -> Result<PathBuf> {
        fs::create_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        let lock_path = self.dir.join(".lock");
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| Error::io(&lock_path, e))?;
        // Blocking: queueing waits a moment for another writer, it never fails for it.
        lock.lock().map_err(|e| Error::io(&lock_path, e))?;
        let seq = self
            .entries()?
            .iter()
            .filter_map(|p| sequence_of(p))
            .max()
            .unwrap_or(0)
            + 1;
        let queued_at = ka_core::time::now_rfc3339()?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let seed = format!(
            "{}\n{queued_at}\n{seq}\n{}\n{nanos}\n{:?}\n{comment:?}",
            item.id,
            std::process::id(),
            change
        );
        let event = ka_core::hash::b2sum(seed.as_bytes())[..16].to_string();
        let doc = IssueEvent {
            kind: Default::default(),
            version: V1,
            event: event.clone(),
            queued_at,
            change,
            item,
            comment,
        };
        let path = self.dir.join(format!("{seq:08}-{event}.json"));
        ka_core::atomic::write_json(&path, &doc)?;
        Ok(path)
    }

    /// The queued event files in flush order. Temp files (dot files) are not events.
    pub fn entries(&self) -> Result<Vec<PathBuf>> {
        let rd = match fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(&self.dir, e)),
        };
        let mut out = Vec::new();
        for entry in rd {
            let entry = entry.map_err(|e| Error::io(&self.dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || !name.ends_with(".json") {
                continue;
            }
            out.push(entry.path());
        }
        out.sort();
        Ok(out)
    }

    /// Read one event; a file that does not parse is an error naming it.
    pub fn read(path: &Path) -> Result<IssueEvent> {
        ka_core::stream::read_file(path).map_err(|e| match e {
            Error::Io { .. } => e,
            other => contract(format!(
                "outbox event {} is corrupt: {other}; repair it or remove it (the change it held is then not mirrored)",
                path.display()
            )),
        })
    }

    /// Remove a flushed event.
    pub fn remove(path: &Path) -> Result<()> {
        fs::remove_file(path).map_err(|e| Error::io(path, e))?;
        if let Some(dir) = path.parent() {
            ka_core::atomic::sync_dir(dir)?;
        }
        Ok(())
    }
}

fn sequence_of(path: &Path) -> Option<u64> {
    path.file_name()?.to_str()?.split('-').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ka_schema::IssueState;

    fn item(id: &str) -> IssueItem {
        IssueItem {
            id: id.into(),
            title: "[ka:x] t".into(),
            labels: vec!["ka".into()],
            body: "b".into(),
            state: IssueState::Open,
        }
    }

    #[test]
    fn events_queue_in_order_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let ob = Outbox::new(&Layout::new(dir.path().to_path_buf()));
        let a = ob
            .enqueue(IssueChange::Filed, item("block/a"), None)
            .unwrap();
        let b = ob
            .enqueue(IssueChange::Lifted, item("block/a"), Some("gone".into()))
            .unwrap();
        assert_eq!(ob.entries().unwrap(), vec![a.clone(), b.clone()]);
        assert_eq!(Outbox::read(&b).unwrap().comment.as_deref(), Some("gone"));
        Outbox::remove(&a).unwrap();
        let c = ob
            .enqueue(IssueChange::Filed, item("block/c"), None)
            .unwrap();
        assert_eq!(ob.entries().unwrap(), vec![b, c]);
    }
}
