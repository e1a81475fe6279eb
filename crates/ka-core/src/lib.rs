//! kernel-agent's shared core: the wire types every stage reads and writes, the
//! YAML formats of the fleet repository, and the one error and exit-code policy.
//!
//! Nothing here talks to the network; heavy dependencies live in the crates that
//! need them.

pub mod atomic;
pub mod crash;
pub mod docs;
pub mod duration;
pub mod error;
pub mod fleet;
pub mod formats;
pub mod git;
pub mod hash;
pub mod hostlock;
pub mod names;
pub mod outbox;
pub mod paths;
pub mod stream;
pub mod term;
pub mod time;

pub use error::{Error, ExitCode, Result};
