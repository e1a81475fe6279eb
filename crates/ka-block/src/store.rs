//! The local block store: one `ka.block` JSON file per block under
//! `KA_ROOT/blocks/`, written atomically. Filing is idempotent: the id derives
//! from kind and subject, so the same block filed twice is one record.
//! When `KA_ROOT/config.yaml` selects Gitea, every change is also queued for
//! the mirror (`ka-gitea`), after the local write: the gate trusts the local
//! store.

use crate::mirror::{Queue, block_item};
use crate::records::RecordDir;
use ka_core::error::{Result, usage};
use ka_core::hash::b2sum;
use ka_core::hostlock::{HostLock, STORE_PATIENCE};
use ka_core::paths::Layout;
use ka_schema::{Block, BlockKind, BlockState, IssueChange, Subject, V1};
use std::path::PathBuf;

pub struct Store {
    records: RecordDir,
    lock_path: PathBuf,
    /// Where changes are queued for the Gitea mirror, after the local write.
    pub mirror: Queue,
}

/// The stable id of a block: `<kind>-<12 hex of b2sum(kind, subject)>`.
pub fn block_id(kind: BlockKind, subject: &Subject) -> String {
    let key = format!(
        "{}\n{}",
        kind.as_str(),
        serde_json::to_string(subject).expect("subjects serialize")
    );
    format!("{}-{}", kind.as_str(), &b2sum(key.as_bytes())[..12])
}

impl Store {
    /// The store under `layout`, mirrored when `KA_ROOT/config.yaml` selects
    /// the Gitea backend (a broken config is an error, not a silent local store).
    pub fn open(layout: &Layout) -> Result<Store> {
        Ok(Store {
            mirror: Queue::from_config(layout)?,
            ..Store::local(layout)
        })
    }

    /// The store without mirroring: for reading, and for applying changes
    /// that come from the mirror itself (they must not echo back).
    pub fn local(layout: &Layout) -> Store {
        Store {
            records: RecordDir::new(layout.blocks(), "block store", "block"),
            lock_path: layout.locks().join("blocks.lock"),
            mirror: Queue::none(),
        }
    }

    /// Every record, ordered by id. A corrupt record is an error naming its file:
    /// a gate that skipped it could let through what it should halt.
    pub fn all(&self) -> Result<Vec<Block>> {
        self.records.all()
    }

    pub fn open_blocks(&self) -> Result<Vec<Block>> {
        Ok(self
            .all()?
            .into_iter()
            .filter(|b| b.state == BlockState::Open)
            .collect())
    }

    pub fn get(&self, id: &str) -> Result<Block> {
        self.records
            .get(id)?
            .ok_or_else(|| usage(format!("no block {id}; `ka-block list --all` shows them")))
    }

    /// File a block, or refresh the open one with the same kind and subject.
    /// A lifted block filed again opens again.
    pub fn file(
        &self,
        kind: BlockKind,
        subject: Subject,
        title: &str,
        detail: &str,
    ) -> Result<Block> {
        if !crate::gate::subject_fits(kind, &subject) {
            return Err(usage(format!(
                "a {} block cannot be about {}",
                kind.as_str(),
                serde_json::to_string(&subject).unwrap_or_default()
            )));
        }
        let _guard =
            HostLock::acquire_waiting(&self.lock_path, "block store update", STORE_PATIENCE)?;
        let now = ka_core::time::now_rfc3339()?;
        let id = block_id(kind, &subject);
        let title = format!("[ka:{}] {title}", kind.as_str());
        let mut change = IssueChange::Filed;
        let mut comment = None;
        let block = match self.records.get::<Block>(&id)? {
            Some(mut b) => {
                if b.state == BlockState::Lifted {
                    change = IssueChange::Reopened;
                    comment = Some(crate::mirror::reopen_comment(detail));
                    b.state = BlockState::Open;
                    b.opened_at = now.clone();
                    b.filings = 0;
                    b.lifted_at = None;
                    b.lift_reason = None;
                } else {
                    change = IssueChange::Refiled;
                    // The same block in the same words is counted locally
                    // only, so a promote run does not comment on every issue.
                    if b.detail != detail || b.title != title {
                        comment = Some(crate::mirror::refile_comment(b.filings + 1, detail));
                    }
                }
                b.filings += 1;
                b.updated_at = now;
                b.title = title;
                b.detail = detail.to_string();
                b
            }
            None => Block {
                kind: Default::default(),
                version: V1,
                id: id.clone(),
                block: kind,
                subject,
                title,
                detail: detail.to_string(),
                state: BlockState::Open,
                opened_at: now.clone(),
                updated_at: now,
                filings: 1,
                lifted_at: None,
                lift_reason: None,
            },
        };
        self.records.put(&id, &block)?;
        if change != IssueChange::Refiled || comment.is_some() {
            self.mirror.push(change, block_item(&block), comment)?;
        }
        Ok(block)
    }

    /// Lift an open block. Lifting a lifted block is a no-op.
    pub fn lift(&self, id: &str, reason: &str) -> Result<Block> {
        let _guard =
            HostLock::acquire_waiting(&self.lock_path, "block store update", STORE_PATIENCE)?;
        let mut b = self.get(id)?;
        if b.state == BlockState::Open {
            let now = ka_core::time::now_rfc3339()?;
            b.state = BlockState::Lifted;
            b.lifted_at = Some(now.clone());
            b.updated_at = now;
            b.lift_reason = Some(reason.to_string());
            self.records.put(id, &b)?;
            self.mirror.push(
                IssueChange::Lifted,
                block_item(&b),
                Some(crate::mirror::lift_comment(reason)),
            )?;
        }
        Ok(b)
    }

    /// Lift the block of `kind` about `subject` when one is open; `None`
    /// when there is none (or it is lifted already).
    pub fn lift_open(
        &self,
        kind: BlockKind,
        subject: &Subject,
        reason: &str,
    ) -> Result<Option<Block>> {
        let id = block_id(kind, subject);
        match self.records.get::<Block>(&id)? {
            Some(b) if b.state == BlockState::Open => self.lift(&id, reason).map(Some),
            _ => Ok(None),
        }
    }

    /// Open a lifted block again because its mirror says so (an issue reopened
    /// in Gitea). Not mirrored back. Opening an open block is a no-op.
    pub fn reopen(&self, id: &str) -> Result<Block> {
        let _guard =
            HostLock::acquire_waiting(&self.lock_path, "block store update", STORE_PATIENCE)?;
        let mut b = self.get(id)?;
        if b.state == BlockState::Lifted {
            let now = ka_core::time::now_rfc3339()?;
            b.state = BlockState::Open;
            b.opened_at = now.clone();
            b.updated_at = now;
            b.lifted_at = None;
            b.lift_reason = None;
            self.records.put(id, &b)?;
        }
        Ok(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lift_open_lifts_only_an_open_block_of_that_kind_and_subject() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::local(&Layout::new(tmp.path().to_path_buf()));
        let ohm = Subject::Host { host: "ohm".into() };
        let none = store
            .lift_open(BlockKind::HostChanged, &ohm, "nothing filed")
            .unwrap();
        assert!(none.is_none());
        store
            .file(BlockKind::HostChanged, ohm.clone(), "ohm", "key")
            .unwrap();
        store
            .file(BlockKind::HostDrifted, ohm.clone(), "ohm", "drift")
            .unwrap();
        let other = Subject::Host {
            host: "fresnel".into(),
        };
        assert!(
            store
                .lift_open(BlockKind::HostChanged, &other, "another host")
                .unwrap()
                .is_none()
        );
        let lifted = store
            .lift_open(BlockKind::HostChanged, &ohm, "key checked")
            .unwrap()
            .expect("the open block");
        assert_eq!(lifted.state, BlockState::Lifted);
        assert_eq!(lifted.lift_reason.as_deref(), Some("key checked"));
        // lifted already: nothing more to do; drift stays open
        assert!(
            store
                .lift_open(BlockKind::HostChanged, &ohm, "again")
                .unwrap()
                .is_none()
        );
        let open: Vec<BlockKind> = store
            .open_blocks()
            .unwrap()
            .iter()
            .map(|b| b.block)
            .collect();
        assert_eq!(open, [BlockKind::HostDrifted]);
    }
}
