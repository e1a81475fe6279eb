//! Blocks as issue items for the Gitea mirror (`ka-gitea`). This crate only
//! queues events (a file write under `KA_ROOT/gitea/outbox/`); sending them is
//! `ka-gitea flush`, which [`try_flush`] runs as a separate program so that the
//! block store and the gate never link an HTTP client.

use crate::store::Store;
use ka_core::docs::{Block, BlockState, IssueItem, IssueState, Subject};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

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
pub fn try_flush(store: &Store, root: &Path, prog: &str) {
    if store.queued() == 0 {
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
        "{prog}: warning: {why}; the block store is updated, and {} Gitea event(s) stay queued in {} \
(`ka-gitea status` shows them, `ka-gitea flush` sends them)",
        store.queued(),
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
