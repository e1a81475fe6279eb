//! Test support shared by the crates' integration tests (a dev-dependency
//! only): each module is the Rust side of a test fixture that the bats tests
//! use too.
//!
//! - [`sshd`]: a throwaway OpenSSH sshd on 127.0.0.1 (`tests/sshd/start-sshd`);
//! - [`kbuild`]: commands as the unprivileged build user, as on a build host;
//! - [`qemu`]: a qemu test host booted through U-Boot (`tests/qemu/`);
//! - [`env`]: a private `KA_ROOT` and `HOME` for running a stage.

pub mod env;
pub mod kbuild;
pub mod qemu;
pub mod sshd;
