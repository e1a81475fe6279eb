//! kernel-agent's process policy, shared by every binary: the one error and
//! exit-code policy (`main_with`), atomic writes, locks, paths, git, time.
//! It defines no document: those are in `ka-schema`.
//!
//! Nothing here talks to the network; heavy dependencies live in the crates that
//! need them.

pub mod args;
pub mod atomic;
pub mod crash;
pub mod duration;
pub mod error;
pub mod git;
pub mod hash;
pub mod hostlock;
pub mod names;
pub mod paths;
pub mod stream;
pub mod term;
pub mod time;

pub use error::{Error, ExitCode, Result};
