//! `ka-probe` and `ka-verify-run`: the verification bars (ka-verify(1)).
//!
//! - [`lang`]: the probe language of `man 5 ka-probe`, parsed into a typed AST.
//! - [`plan`]: what to check on a host, from local files, every probe parsed.
//! - [`run`]: the checks over SSH (ka-run-remote), many hosts at once.
//! - [`verify`]: recording reports, regression and drift blocks, burn-in.

pub mod cli;
pub mod lang;
pub mod plan;
pub mod run;
pub mod verify;

pub use cli::{probe_command, verify_command};
