//! The `ssh` transport (libssh2 through the ssh2 crate): strict host-key check
//! against the job's known_hosts file, public-key auth with the job's identity
//! only (no agent, nothing read from `~/.ssh`), a timeout on every blocking
//! call, stdout and stderr read interleaved from a non-blocking session, and
//! the kill of the job's whole remote tree by its `KA_JOB` tag on a second
//! channel of the same session. Also SFTP upload and download of folders.
//!
//! This file holds the types callers see; the work is in the submodules:
//! `connect` (TCP, handshake, host key, auth), `wait` (non-blocking I/O on
//! the socket), `exec` (short helper commands), `job` (a job's command under
//! its limits) and `sftp` (file transfers under a phase's deadline).

mod connect;
mod exec;
mod job;
mod sftp;
mod wait;

use ka_core::error::{Error, Result, contract, negative};
use ka_core::names::check_name;
use ka_schema::Transport;
use ssh2::Session;
use std::net::{IpAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub use connect::connect;
pub(crate) use job::run;

/// How every host-key refusal message starts (the result also says so in
/// `host_key_refused`, which is what callers check).
pub(crate) const HOST_KEY_REFUSED: &str = "host key";

/// The SSH fields of a job's transport, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub host: String,
    pub address: String,
    pub port: u16,
    pub user: String,
    pub known_hosts: PathBuf,
    pub identity: PathBuf,
}

impl Target {
    /// The SSH target of `transport`; `None` for `local`. Host, address and
    /// user names are checked (no leading `-`, no metacharacters): exit 3.
    pub fn from_transport(transport: &Transport) -> Result<Option<Target>> {
        let Transport::Ssh {
            host,
            address,
            port,
            user,
            known_hosts,
            identity,
        } = transport
        else {
            return Ok(None);
        };
        check_name("host", host)?;
        check_name("user", user)?;
        if address.parse::<IpAddr>().is_err() {
            check_name("address", address)?;
        }
        if *port == 0 {
            return Err(contract(format!("host {host}: port 0 is not a port")));
        }
        Ok(Some(Target {
            host: host.clone(),
            address: address.clone(),
            port: *port,
            user: user.clone(),
            known_hosts: known_hosts.clone(),
            identity: identity.clone(),
        }))
    }

    pub fn label(&self) -> String {
        format!(
            "{}@{} ({}:{})",
            self.user, self.host, self.address, self.port
        )
    }
}

/// Why a connection was not made.
#[derive(Debug)]
pub enum ConnectError {
    /// The host key is unknown or differs from the known_hosts entry: a refusal.
    HostKey(String),
    /// Unreachable, handshake or authentication failed: the host is not usable now.
    Transport(String),
    /// A local problem the operator must fix (a missing identity or known_hosts file).
    Setup(Error),
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::HostKey(m) | ConnectError::Transport(m) => f.write_str(m),
            ConnectError::Setup(e) => write!(f, "{e}"),
        }
    }
}

/// The message alone, for callers whose failures are strings.
impl From<ConnectError> for String {
    fn from(e: ConnectError) -> String {
        e.to_string()
    }
}

impl ConnectError {
    /// As a `ka_core::Error`: refusals and transport failures are negative
    /// answers (exit 1), setup problems keep their own class.
    pub fn into_error(self) -> Error {
        match self {
            ConnectError::HostKey(m) | ConnectError::Transport(m) => negative(m),
            ConnectError::Setup(e) => e,
        }
    }
}

/// An authenticated SSH session to a checked host.
pub struct Connection {
    pub session: Session,
    socket: TcpStream,
    pub target: Target,
    io_timeout: Duration,
    /// A phase's deadline over every SFTP call ([`Connection::set_deadline`]).
    deadline: std::cell::Cell<Option<Instant>>,
    /// The session's timeout is what the deadline left (not the io timeout).
    cut: std::cell::Cell<bool>,
}

/// libssh2's LIBSSH2_ERROR_TIMEOUT: a blocking call ran past the session timeout.
fn timed_out(e: &ssh2::Error) -> bool {
    e.code() == ssh2::ErrorCode::Session(-9)
}

fn ms(d: Duration) -> u32 {
    d.as_millis().clamp(1, u32::MAX as u128) as u32
}

/// What [`Connection::exec_argv`] collected: the exit status (or the signal
/// that ended the command) and its two output streams.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Captured {
    pub exit_code: Option<i32>,
    pub signal: Option<String>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// More output came than was kept.
    pub truncated: bool,
}

/// What a transfer moved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Transfer {
    pub files: u64,
    pub bytes: u64,
    /// Files left in place because the destination already held them
    /// (see `reuse` of [`upload`](crate::upload)), and their bytes.
    pub reused: u64,
    pub reused_bytes: u64,
}
