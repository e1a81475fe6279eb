//! Reminder state: `KA_ROOT/remind/<record-id>.json`, one per open record
//! that was seen, apart from the record itself.

use ka_block::records::{Record, RecordDir};
use ka_core::paths::Layout;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// One record's place on the ladder (see `man 5 ka-formats`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemindState {
    /// The record's id.
    pub id: String,
    /// The record's `opened_at` when this state began: a record closed and
    /// opened again starts the ladder afresh.
    pub opened_at: String,
    /// RFC 3339 UTC times.
    pub first_seen: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_reminded: Option<String>,
    /// Reminders given so far.
    pub step: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snoozed_until: Option<String>,
}

impl Record for RemindState {
    fn record_id(&self) -> &str {
        &self.id
    }
}

pub fn dir(layout: &Layout) -> RecordDir {
    RecordDir::new(layout.remind(), "reminder state", "record")
}

/// The one lock every writer of reminder state takes.
pub fn lock_path(layout: &Layout) -> PathBuf {
    layout.locks().join("remind.lock")
}
