//! Blocks as issue items for the Gitea mirror (`ka-gitea`). This crate only
//! queues events (a file write under `KA_ROOT/gitea/outbox/`); sending them is
//! `ka-gitea flush`, which [`try_flush`] runs as a separate program so that the
//! block store and the gate never link an HTTP client.

use crate::outbox::Outbox;
use ka_core::error::{Error, Result};
use ka_core::paths::Layout;
use ka_schema::RuntimeConfig;
use ka_schema::{Block, BlockState, IssueChange, IssueItem, IssueState, Subject};
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The mirror side of a record store: when `KA_ROOT/config.yaml` selects
/// Gitea, each change is queued in the outbox after the local record is
/// written. Every record store (blocks, notices) queues through this.
#[derive(Default)]
pub struct Queue {
    outbox: Option<Outbox>,
    queued: Cell<usize>,
}

impl Queue {
    /// Queue for `layout` when the config selects Gitea (a broken config is an
    /// error, not a silent local store).
    pub fn from_config(layout: &Layout) -> Result<Queue> {
        let outbox = RuntimeConfig::load(&layout.root)?
            .gitea()
            .is_some()
            .then(|| Outbox::new(layout));
        Ok(Queue {
            outbox,
            queued: Cell::new(0),
        })
    }

    /// Never queues: for reading, and for changes that come from the mirror.
    pub fn none() -> Queue {
        Queue::default()
    }

    pub fn is_mirrored(&self) -> bool {
        self.outbox.is_some()
    }

    /// How many events were queued since the store was opened.
    pub fn queued(&self) -> usize {
        self.queued.get()
    }

    /// Queue one change of `item`. A failure is an error saying the local
    /// record stands: the gate and the reminders trust the local store.
    pub fn push(
        &self,
        change: IssueChange,
        item: IssueItem,
        comment: Option<String>,
    ) -> Result<()> {
        if let Some(outbox) = &self.outbox {
            let id = item.id.clone();
            outbox.enqueue(change, item, comment).map_err(|e| {
                Error::Usage(format!(
                    "{id} is recorded locally, but its Gitea event could not be queued in {}: {e}",
                    outbox.dir().display()
                ))
            })?;
            self.queued.set(self.queued.get() + 1);
        }
        Ok(())
    }
}

/// The record kind of blocks in item ids: `block/<block id>`.
pub const RECORD: &str = "block";

pub fn item_id(block_id: &str) -> String {
    format!("{RECORD}/{block_id}")
}

/// The block id of an item id, when the item is a block.
pub fn block_id_of(item_id: &str) -> Option<&str> {
    item_id.strip_prefix("block/")
}

pub fn block_item(b: &Block) -> IssueItem {
    let about = match &b.subject {
        Subject::Patch { patch } => format!("patch `{patch}`"),
        Subject::Patches { patches } => format!(
            "patches {}",
            patches
                .iter()
                .map(|p| format!("`{p}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Subject::Host { host } => format!("host `{host}`"),
        Subject::BuildHost { host } => format!("build host `{host}`"),
        Subject::Global => "everything (global)".to_string(),
        Subject::Config { host, option } => format!("`{option}` of host `{host}`"),
    };
    let body = format!(
        "{detail}\n\n---\nBlock `{id}` on {about}, opened {opened}. It halts what `man ka-gate` lists for {kind}; \
it is lifted with `ka-block lift {id} --reason ...`, or by closing this issue and running `ka-gitea pull`.\n\nka-id: {item}\n",
        detail = if b.detail.is_empty() {
            "(no detail)"
        } else {
            &b.detail
        },
        id = b.id,
        opened = b.opened_at,
        kind = b.block.as_str(),
        item = item_id(&b.id),
    );
    IssueItem {
        id: item_id(&b.id),
        title: b.title.clone(),
        labels: vec![
            "ka".to_string(),
            format!("ka:{RECORD}"),
            format!("ka:{}", b.block.as_str()),
        ],
        body,
        state: match b.state {
            BlockState::Open => IssueState::Open,
            BlockState::Lifted => IssueState::Closed,
        },
    }
}

pub fn refile_comment(filing: u32, detail: &str) -> String {
    format!("Filed again (filing {filing}):\n\n{detail}")
}

pub fn reopen_comment(detail: &str) -> String {
    format!("Filed again after it was lifted:\n\n{detail}")
}

pub fn lift_comment(reason: &str) -> String {
    format!("Lifted: {reason}")
}

/// After a command queued mirror events, try to send them now by running
/// `ka-gitea flush` (next to this program, else on PATH). Its report goes to
/// stderr; a failure leaves the events queued and is reported, never fatal:
/// the local store already holds the change.
pub fn try_flush(queue: &Queue, root: &Path, prog: &str) {
    if queue.queued() == 0 {
        return;
    }
    let exe = gitea_program();
    let status = Command::new(&exe)
        .arg("flush")
        .env("KA_ROOT", root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status();
    let why = match status {
        Ok(s) if s.success() => return,
        Ok(s) => format!("`ka-gitea flush` failed ({s})"),
        Err(e) => format!("cannot run {}: {e}", exe.display()),
    };
    eprintln!(
        "{prog}: warning: {why}; the local records are updated, and {} Gitea event(s) stay queued in {} \
(`ka-gitea status` shows them, `ka-gitea flush` sends them)",
        queue.queued(),
        root.join("gitea/outbox").display()
    );
}

fn gitea_program() -> PathBuf {
    if let Ok(me) = std::env::current_exe() {
        let sibling = me.with_file_name("ka-gitea");
        if sibling.is_file() {
            return sibling;
        }
    }
    PathBuf::from("ka-gitea")
}
