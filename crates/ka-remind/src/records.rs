//! The open records reminders are about: blocks and notices, read from their
//! stores, in one shape.

use ka_block::Store;
use ka_core::error::Result;
use ka_core::paths::Layout;
use ka_notice::NoticeStore;
use ka_schema::{BlockKind, NoticeKind, RecordStore, Subject};

#[derive(Debug, Clone)]
pub struct OpenRecord {
    pub id: String,
    pub store: RecordStore,
    pub record_kind: String,
    pub title: String,
    pub host: Option<String>,
    pub opened_at: String,
    /// What the owner can do about it.
    pub hint: String,
}

/// Every open block and notice, blocks first, each ordered by id. A corrupt
/// record in either store is an error naming its file.
pub fn open_records(layout: &Layout) -> Result<Vec<OpenRecord>> {
    let mut out = Vec::new();
    for b in Store::local(layout).open_blocks()? {
        let host = match &b.subject {
            Subject::Host { host } | Subject::BuildHost { host } | Subject::Config { host, .. } => {
                Some(host.clone())
            }
            _ => None,
        };
        out.push(OpenRecord {
            hint: block_hint(b.block, host.as_deref(), &b.id),
            id: b.id,
            store: RecordStore::Block,
            record_kind: b.block.as_str().into(),
            title: b.title,
            host,
            opened_at: b.opened_at,
        });
    }
    for n in NoticeStore::local(layout).open_notices()? {
        let host = n.subject.host().to_string();
        out.push(OpenRecord {
            hint: match n.notice {
                NoticeKind::Installable => format!("ka-install {host}"),
            },
            id: n.id,
            store: RecordStore::Notice,
            record_kind: n.notice.as_str().into(),
            title: n.title,
            host: Some(host),
            opened_at: n.opened_at,
        });
    }
    Ok(out)
}

/// What the owner can run or do about an open block of `kind`.
pub fn block_hint(kind: BlockKind, host: Option<&str>, id: &str) -> String {
    let host = host.unwrap_or("?");
    match kind {
        BlockKind::PatchFail | BlockKind::CampaignConflict => {
            "fix or drop the patch, then ka-promote".into()
        }
        BlockKind::HostDrifted => format!("ka-install {host} converges it"),
        BlockKind::BuildFail => format!("ka-block list shows the log; ka-build again on {host}"),
        BlockKind::BootstrapMissing => format!("provision {host}; ka-build lifts it"),
        BlockKind::HostChanged => {
            format!("check {host}'s new host key, update fleet/known_hosts")
        }
        BlockKind::SigningFail => "fix signing; the next publish lifts it".into(),
        BlockKind::Regression => format!("triage, then ka-block lift {id} --reason ..."),
        BlockKind::ConfigDrop => {
            format!("meet the option's dependencies or drop it, then ka-promote {host}")
        }
    }
}
