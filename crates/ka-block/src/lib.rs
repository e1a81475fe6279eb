//! Blocks: what halts what (the table of ka-gate(1)). A local store of `ka.block` records under
//! `KA_ROOT/blocks/`, and the one gate function every verb asks first.

pub mod cli;
pub mod gate;
pub mod mirror;
pub mod outbox;
pub mod records;
pub mod store;
pub mod sync;

pub use gate::{Request, blocking};
pub use store::Store;
