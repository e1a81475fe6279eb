//! Reminders of open records (blocks and notices) on an escalating ladder:
//! at first sight, then 1 h after that reminder, 6 h after the next, then
//! every 24 h, never while snoozed. The state lives apart from the records,
//! one file per record under `KA_ROOT/remind/`, so reminding never rewrites
//! a block or a notice.

pub mod cli;
pub mod ladder;
pub mod records;
pub mod state;
