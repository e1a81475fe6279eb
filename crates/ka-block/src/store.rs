//! The local block store: one `ka.block` JSON file per block under
//! `KA_ROOT/blocks/`, written atomically. Filing is idempotent: the id derives
//! from kind and subject, so the same block filed twice is one record.

use ka_core::atomic;
use ka_core::docs::{Block, BlockKind, BlockState, IssueChange, Subject, V1};
use ka_core::error::{Error, Result, contract, usage};
use ka_core::formats::RuntimeConfig;
use ka_core::hash::b2sum;
use ka_core::hostlock::HostLock;
use ka_core::outbox::Outbox;
use ka_core::paths::Layout;
use std::cell::Cell;
use std::fs;
use std::path::PathBuf;

pub struct Store {
    dir: PathBuf,
    lock_path: PathBuf,
    /// Set when the config mirrors issue records to Gitea: every change is
    /// also queued here, after the local write.
    mirror: Option<Outbox>,
    queued: Cell<usize>,
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
        let mut store = Store::local(layout);
        if RuntimeConfig::load(&layout.root)?.gitea().is_some() {
            store.mirror = Some(Outbox::new(layout));
        }
        Ok(store)
    }

    /// The store without mirroring: for reading, and for applying changes
    /// that come from the mirror itself (they must not echo back).
    pub fn local(layout: &Layout) -> Store {
        Store {
            dir: layout.blocks(),
            lock_path: layout.locks().join("blocks.lock"),
            mirror: None,
            queued: Cell::new(0),
        }
    }

    /// Whether changes are queued for the Gitea mirror.
    pub fn is_mirrored(&self) -> bool {
        self.mirror.is_some()
    }

    /// How many mirror events this store queued since it was opened.
    pub fn queued(&self) -> usize {
        self.queued.get()
    }

    /// Queue a change for the mirror, after the local record is written. A
    /// failure here is reported but the local block stands: the gate trusts
    /// the local store.
    fn mirror(&self, change: IssueChange, b: &Block, comment: Option<String>) -> Result<()> {
        if let Some(outbox) = &self.mirror {
            outbox
                .enqueue(change, crate::mirror::block_item(b), comment)
                .map_err(|e| {
                    Error::Usage(format!(
                        "block {} is recorded locally, but its Gitea event could not be queued in {}: {e}",
                        b.id,
                        outbox.dir().display()
                    ))
                })?;
            self.queued.set(self.queued.get() + 1);
        }
        Ok(())
    }

    /// Every record, ordered by id. A corrupt record is an error naming its file:
    /// a gate that skipped it could let through what it should halt.
    pub fn all(&self) -> Result<Vec<Block>> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(&self.dir, e)),
        };
        let mut blocks = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(&self.dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || !name.ends_with(".json") {
                continue;
            }
            let path = entry.path();
            let block: Block = ka_core::stream::read_file(&path).map_err(|e| {
                contract(format!(
                    "block store record is corrupt: {e}; repair or remove {}",
                    path.display()
                ))
            })?;
            if format!("{}.json", block.id) != name {
                return Err(contract(format!(
                    "{}: record id {} does not match its file name",
                    path.display(),
                    block.id
                )));
            }
            blocks.push(block);
        }
        blocks.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(blocks)
    }

    pub fn open_blocks(&self) -> Result<Vec<Block>> {
        Ok(self
            .all()?
            .into_iter()
            .filter(|b| b.state == BlockState::Open)
            .collect())
    }

    pub fn get(&self, id: &str) -> Result<Block> {
        let path = self.record_path(id)?;
        if !path.exists() {
            return Err(usage(format!(
                "no block {id}; `ka-block list --all` shows them"
            )));
        }
        ka_core::stream::read_file(&path)
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
        let _guard = HostLock::acquire(&self.lock_path, "block store update")?;
        let now = ka_core::time::now_rfc3339()?;
        let id = block_id(kind, &subject);
        let path = self.record_path(&id)?;
        let mut change = IssueChange::Filed;
        let mut comment = None;
        let block = match path.exists() {
            true => {
                let mut b: Block = ka_core::stream::read_file(&path)?;
                let new_title = format!("[ka:{}] {title}", kind.as_str());
                if b.state == BlockState::Lifted {
                    change = IssueChange::Reopened;
                    comment = Some(crate::mirror::reopen_comment(detail));
                } else if b.detail != detail || b.title != new_title {
                    change = IssueChange::Refiled;
                    comment = Some(crate::mirror::refile_comment(b.filings + 1, detail));
                } else {
                    // The same block with the same words: counted locally only,
                    // so a promote run does not comment on every open issue.
                    change = IssueChange::Refiled;
                }
                if b.state == BlockState::Lifted {
                    b.state = BlockState::Open;
                    b.opened_at = now.clone();
                    b.filings = 0;
                    b.lifted_at = None;
                    b.lift_reason = None;
                }
                b.filings += 1;
                b.updated_at = now;
                b.title = format!("[ka:{}] {title}", kind.as_str());
                b.detail = detail.to_string();
                b
            }
            false => Block {
                kind: Default::default(),
                version: V1,
                id: id.clone(),
                block: kind,
                subject,
                title: format!("[ka:{}] {title}", kind.as_str()),
                detail: detail.to_string(),
                state: BlockState::Open,
                opened_at: now.clone(),
                updated_at: now,
                filings: 1,
                lifted_at: None,
                lift_reason: None,
            },
        };
        atomic::write_json(&path, &block)?;
        if change != IssueChange::Refiled || comment.is_some() {
            self.mirror(change, &block, comment)?;
        }
        Ok(block)
    }

    /// Lift an open block. Lifting a lifted block is a no-op.
    pub fn lift(&self, id: &str, reason: &str) -> Result<Block> {
        let _guard = HostLock::acquire(&self.lock_path, "block store update")?;
        let mut b = self.get(id)?;
        if b.state == BlockState::Open {
            let now = ka_core::time::now_rfc3339()?;
            b.state = BlockState::Lifted;
            b.lifted_at = Some(now.clone());
            b.updated_at = now;
            b.lift_reason = Some(reason.to_string());
            atomic::write_json(&self.record_path(id)?, &b)?;
            self.mirror(
                IssueChange::Lifted,
                &b,
                Some(crate::mirror::lift_comment(reason)),
            )?;
        }
        Ok(b)
    }

    /// Open a lifted block again because its mirror says so (an issue reopened
    /// in Gitea). Not mirrored back. Opening an open block is a no-op.
    pub fn reopen(&self, id: &str) -> Result<Block> {
        let _guard = HostLock::acquire(&self.lock_path, "block store update")?;
        let mut b = self.get(id)?;
        if b.state == BlockState::Lifted {
            let now = ka_core::time::now_rfc3339()?;
            b.state = BlockState::Open;
            b.opened_at = now.clone();
            b.updated_at = now;
            b.lifted_at = None;
            b.lift_reason = None;
            atomic::write_json(&self.record_path(id)?, &b)?;
        }
        Ok(b)
    }

    fn record_path(&self, id: &str) -> Result<PathBuf> {
        let ok = id
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
            && !id.is_empty()
            && !id.starts_with('-');
        if !ok {
            return Err(usage(format!("invalid block id {id:?}")));
        }
        Ok(self.dir.join(format!("{id}.json")))
    }
}
