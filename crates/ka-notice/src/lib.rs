//! Notices: issue records that halt nothing (the gate never reads them) but
//! want the owner's attention until something happens, such as
//! `[ka:installable]`: a package version published for a host and not yet
//! installed there. One `ka.notice` record per notice under `KA_ROOT/notices/`.

pub mod cli;
pub mod store;

pub use store::{NoticeStore, notice_id};
