//! The `ssh` transport (libssh2 through the ssh2 crate): strict host-key check
//! against the job's known_hosts file, public-key auth with the job's identity
//! only (no agent, nothing read from `~/.ssh`), a timeout on every blocking
//! call, stdout and stderr read interleaved from a non-blocking session, and
//! the kill of the job's whole remote tree by its `KA_JOB` tag on a second
//! channel of the same session. Also SFTP upload and download of folders.

use crate::log::{Log, Stream};
use crate::quote::{kill_command, remote_command};
use crate::{Limits, Options, Outcome};
use ka_core::error::{Error, Result, contract, negative};
use ka_core::names::check_name;
use ka_schema::{Job, Transport};
use ssh2::{
    CheckResult, ErrorCode, HashType, KnownHostFileKind, MethodType, OpenFlags, OpenType, Session,
};
use std::io::{ErrorKind, Read};
use std::net::{IpAddr, TcpStream, ToSocketAddrs};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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

/// Connect, check the host key strictly, and authenticate with the identity.
pub fn connect(target: &Target, opts: &Options) -> Result<Connection, ConnectError> {
    let t = target;
    std::fs::metadata(&t.identity).map_err(|e| {
        ConnectError::Setup(usage_io(
            &t.identity,
            e,
            &format!(
                "the SSH identity (private key) kernel-agent logs in with; make one with \
                 `ssh-keygen -t ed25519 -N '' -f {}`, add its .pub to {}'s authorized_keys on {}, \
                 or point KA_SSH_IDENTITY at an existing key",
                t.identity.display(),
                t.user,
                t.address
            ),
        ))
    })?;
    let kh_text = std::fs::read_to_string(&t.known_hosts).map_err(|e| {
        ConnectError::Setup(usage_io(
            &t.known_hosts,
            e,
            &format!(
                "the fleet's known_hosts with the key of {}; add it with \
                 `ssh-keyscan -p {} {} >> {}` after checking the fingerprint",
                t.label(),
                t.port,
                t.address,
                t.known_hosts.display()
            ),
        ))
    })?;
    let addrs: Vec<_> = (t.address.as_str(), t.port)
        .to_socket_addrs()
        .map_err(|e| ConnectError::Transport(format!("{}: cannot resolve: {e}", t.label())))?
        .collect();
    let mut last = None;
    let mut socket = None;
    for a in &addrs {
        match TcpStream::connect_timeout(a, opts.connect_timeout) {
            Ok(s) => {
                socket = Some(s);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let socket = socket.ok_or_else(|| {
        ConnectError::Transport(format!(
            "{}: unreachable: {}",
            t.label(),
            last.map_or("no address".into(), |e| e.to_string())
        ))
    })?;
    let _ = socket.set_nodelay(true);
    let mut sess = Session::new()
        .map_err(|e| ConnectError::Transport(format!("{}: libssh2: {e}", t.label())))?;
    sess.set_tcp_stream(
        socket
            .try_clone()
            .map_err(|e| ConnectError::Setup(Error::io("socket", e)))?,
    );
    sess.set_timeout(ms(opts.io_timeout));
    let types = host_key_types(&kh_text, t);
    if !types.is_empty() {
        // Ask for a key type the known_hosts file has, or a host with several
        // keys would offer one we cannot check.
        let _ = sess.method_pref(MethodType::HostKey, &types.join(","));
    }
    // (handshake wants `&mut`; a clone is the same session)
    let mut shaker = sess.clone();
    acked(&sess, &socket, opts.io_timeout, || shaker.handshake()).map_err(|e| {
        ConnectError::Transport(format!("{}: SSH handshake failed: {e}", t.label()))
    })?;
    check_host_key(&sess, t)?;
    acked(&sess, &socket, opts.io_timeout, || {
        sess.userauth_pubkey_file(&t.user, None, &t.identity, None)
    })
    .map_err(|e| {
            ConnectError::Transport(format!(
                "{}: public-key authentication with {} refused: {e}; is its public key in the build user's authorized_keys?",
                t.label(),
                t.identity.display()
            ))
        })?;
    if !sess.authenticated() {
        return Err(ConnectError::Transport(format!(
            "{}: not authenticated with {}",
            t.label(),
            t.identity.display()
        )));
    }
    Ok(Connection {
        session: sess,
        socket,
        target: t.clone(),
        io_timeout: opts.io_timeout,
        deadline: std::cell::Cell::new(None),
        cut: std::cell::Cell::new(false),
    })
}

fn usage_io(path: &Path, e: std::io::Error, what: &str) -> Error {
    ka_core::error::usage(format!("{}: {e}: it should be {what}", path.display()))
}

/// Key types of the plain (unhashed) known_hosts entries that name this target.
fn host_key_types(text: &str, t: &Target) -> Vec<String> {
    let names = patterns(t);
    let mut types = Vec::new();
    for line in text.lines() {
        let mut f = line.split_whitespace();
        let Some(mut hosts) = f.next() else { continue };
        if hosts.starts_with('#') {
            continue;
        }
        if hosts.starts_with('@') {
            // @revoked / @cert-authority: not a plain key for this host
            continue;
        }
        let Some(kind) = f.next() else { continue };
        if hosts.starts_with('|') {
            continue;
        }
        hosts = hosts.trim();
        if hosts.split(',').any(|h| names.iter().any(|n| n == h)) {
            let add: &[&str] = if kind == "ssh-rsa" {
                &["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"]
            } else {
                &[kind][..]
            };
            for k in add {
                if !types.iter().any(|x| x == k) {
                    types.push(k.to_string());
                }
            }
        }
    }
    types
}

fn patterns(t: &Target) -> Vec<String> {
    [&t.address, &t.host]
        .iter()
        .map(|n| {
            if t.port == 22 {
                n.to_string()
            } else {
                format!("[{n}]:{}", t.port)
            }
        })
        .collect()
}

fn check_host_key(sess: &Session, t: &Target) -> Result<(), ConnectError> {
    let (key, _) = sess.host_key().ok_or_else(|| {
        ConnectError::Transport(format!("{}: the server sent no host key", t.label()))
    })?;
    let fp = sess
        .host_key_hash(HashType::Sha256)
        .map(|h| format!("SHA256:{}", base64(h)))
        .unwrap_or_default();
    let mut kh = sess
        .known_hosts()
        .map_err(|e| ConnectError::Transport(format!("libssh2 known_hosts: {e}")))?;
    kh.read_file(&t.known_hosts, KnownHostFileKind::OpenSSH)
        .map_err(|e| {
            ConnectError::Setup(contract(format!(
                "{}: not a known_hosts file libssh2 can read: {e}",
                t.known_hosts.display()
            )))
        })?;
    let mut found = false;
    // The address we connect to, then the fleet's host name: a mismatch under
    // either name is a refusal; a match under one and no entry under the other is fine.
    for name in [&t.address, &t.host] {
        match kh.check_port(name, t.port, key) {
            CheckResult::Match => found = true,
            CheckResult::NotFound => {}
            CheckResult::Mismatch => {
                return Err(ConnectError::HostKey(format!(
                    "{HOST_KEY_REFUSED} of {} changed: the server offers {fp}, which does not match the entry for {} in {}. Refusing to connect. If the build host was really reinstalled, check the new key out of band and replace its entry; otherwise something is in the way",
                    t.label(),
                    patterns(t).join(" / "),
                    t.known_hosts.display()
                )));
            }
            CheckResult::Failure => {
                return Err(ConnectError::HostKey(format!(
                    "{HOST_KEY_REFUSED} of {} could not be checked against {}",
                    t.label(),
                    t.known_hosts.display()
                )));
            }
        }
    }
    if !found {
        return Err(ConnectError::HostKey(format!(
            "{HOST_KEY_REFUSED} of {} is unknown: {} has no entry for {} (the server offers {fp}). Refusing to connect: no trust on first use; add the host's key to the fleet known_hosts after checking it out of band",
            t.label(),
            t.known_hosts.display(),
            patterns(t).join(" or ")
        )));
    }
    Ok(())
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in bytes.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..=c.len() {
            s.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    s // unpadded, as ssh-keygen prints fingerprints
}

/// ACK at once what the socket has received, instead of up to 40 ms later.
///
/// sshd does not set TCP_NODELAY on a session without a tty, so when it
/// writes twice in a row (after authentication: the host-keys notice, then
/// the channel confirmation) Nagle holds the second write until the first
/// is acknowledged, and Linux delays that ACK while we wait with nothing to
/// send: a 40 ms stall per connection, measured. TCP_QUICKACK is not
/// sticky, so it is set again before every wait. Linux only; elsewhere a
/// no-op.
fn quickack(socket: &TcpStream) {
    #[cfg(target_os = "linux")]
    {
        use nix::libc;
        use std::os::fd::AsRawFd;
        let one: libc::c_int = 1;
        // SAFETY: the fd is a live TCP socket owned by `socket`, and the
        // option value points to a c_int whose size is passed along.
        let _ = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_QUICKACK,
                (&raw const one).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
    }
    #[cfg(not(target_os = "linux"))]
    let _ = socket;
}

/// Run one libssh2 call to its end in non-blocking mode, ACKing at once
/// (see [`quickack`]) and polling the socket in the direction libssh2 waits
/// for, at most `timeout`; the session is blocking again afterwards.
fn acked<T>(
    sess: &Session,
    socket: &TcpStream,
    timeout: Duration,
    mut call: impl FnMut() -> std::result::Result<T, ssh2::Error>,
) -> std::result::Result<T, ssh2::Error> {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let start = Instant::now();
    sess.set_blocking(false);
    let result = loop {
        match call() {
            Err(e) if is_eagain(&e) => {
                let left = timeout.saturating_sub(start.elapsed());
                if left.is_zero() {
                    break Err(ssh2::Error::new(
                        ErrorCode::Session(-9),
                        "timed out waiting for the server",
                    ));
                }
                quickack(socket);
                let dirs = sess.block_directions();
                let mut flags = PollFlags::empty();
                if matches!(
                    dirs,
                    ssh2::BlockDirections::Inbound | ssh2::BlockDirections::Both
                ) {
                    flags |= PollFlags::POLLIN;
                }
                if matches!(
                    dirs,
                    ssh2::BlockDirections::Outbound | ssh2::BlockDirections::Both
                ) {
                    flags |= PollFlags::POLLOUT;
                }
                if flags.is_empty() {
                    flags = PollFlags::POLLIN;
                }
                let mut fds = [PollFd::new(socket.as_fd(), flags)];
                let t = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
                let _ = poll(&mut fds, t);
            }
            r => break r,
        }
    };
    sess.set_blocking(true);
    result
}

fn would_block(e: &std::io::Error) -> bool {
    e.kind() == ErrorKind::WouldBlock
}

fn is_eagain(e: &ssh2::Error) -> bool {
    e.code() == ErrorCode::Session(-37)
}

/// Read all that is available on one stream of a channel without blocking.
/// Ok(true) when the stream is at its end.
fn drain(
    stream: &mut impl Read,
    buf: &mut [u8],
    mut sink: impl FnMut(&[u8]),
) -> std::io::Result<(bool, bool)> {
    let mut got = false;
    loop {
        match stream.read(buf) {
            Ok(0) => return Ok((true, got)),
            Ok(n) => {
                got = true;
                sink(&buf[..n]);
            }
            Err(e) if would_block(&e) => return Ok((false, got)),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

impl Connection {
    fn poll(&self, timeout: Duration) {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        let mut fds = [PollFd::new(self.socket.as_fd(), PollFlags::POLLIN)];
        let t = PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX);
        let _ = poll(&mut fds, t);
    }

    /// Run `command` (already quoted) and read its output to the end, in
    /// blocking mode with the session timeout: for short helpers.
    pub fn exec_capture(&self, command: &str) -> std::result::Result<(i32, Vec<u8>), String> {
        self.session.set_blocking(true);
        let mut ch = self.session.channel_session().map_err(|e| e.to_string())?;
        ch.exec(command).map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        ch.read_to_end(&mut out).map_err(|e| e.to_string())?;
        ch.stderr()
            .read_to_end(&mut out)
            .map_err(|e| e.to_string())?;
        ch.wait_close().map_err(|e| e.to_string())?;
        let code = ch.exit_status().map_err(|e| e.to_string())?;
        Ok((code, out))
    }

    /// Run `argv` (each word quoted for the remote POSIX shell, so data never
    /// becomes shell syntax) and collect stdout and stderr apart, read
    /// interleaved so neither can fill up and stall the other. At most
    /// `max_output` bytes of each stream are kept (the rest is read and
    /// dropped, `truncated` says so). A command still running after
    /// `timeout` has its channel closed and is an `Err` saying so; for short,
    /// read-only helpers such as `ka-probe`'s reads.
    pub fn exec_argv(
        &self,
        argv: &[String],
        timeout: Duration,
        max_output: usize,
    ) -> std::result::Result<Captured, String> {
        if argv.is_empty() {
            return Err("empty argv".into());
        }
        let command = format!(
            "exec {}",
            argv.iter()
                .map(|a| crate::quote::sh_quote(a))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let started = Instant::now();
        let (sess, socket, io) = (&self.session, &self.socket, self.io_timeout);
        let mut ch =
            acked(sess, socket, io, || sess.channel_session()).map_err(|e| e.to_string())?;
        acked(sess, socket, io, || ch.exec(&command)).map_err(|e| e.to_string())?;
        acked(sess, socket, io, || ch.send_eof()).map_err(|e| e.to_string())?;
        self.session.set_blocking(false);
        let mut cap = Captured::default();
        let mut buf = vec![0u8; 64 * 1024];
        let keep = |to: &mut Vec<u8>, truncated: &mut bool, d: &[u8]| {
            let room = max_output.saturating_sub(to.len());
            to.extend_from_slice(&d[..d.len().min(room)]);
            *truncated |= d.len() > room;
        };
        let result = loop {
            let step = (|| -> std::io::Result<(bool, bool)> {
                let (eof_out, got_out) = drain(&mut ch, &mut buf, |d| {
                    keep(&mut cap.stdout, &mut cap.truncated, d)
                })?;
                let (eof_err, got_err) = drain(&mut ch.stderr(), &mut buf, |d| {
                    keep(&mut cap.stderr, &mut cap.truncated, d)
                })?;
                Ok((eof_out && eof_err && ch.eof(), got_out || got_err))
            })();
            match step {
                Err(e) => break Err(format!("{}: connection lost: {e}", self.target.label())),
                Ok((true, _)) => break Ok(()),
                Ok((false, got)) => {
                    if started.elapsed() >= timeout {
                        break Err(format!(
                            "{}: {} did not finish within {}s",
                            self.target.label(),
                            argv[0],
                            timeout.as_secs_f64()
                        ));
                    }
                    if !got {
                        quickack(&self.socket);
                        self.poll(Duration::from_millis(50).min(timeout));
                    }
                }
            }
        };
        self.session.set_blocking(true);
        if let Err(e) = result {
            let _ = ch.close();
            return Err(e);
        }
        ch.wait_close().map_err(|e| e.to_string())?;
        let sig = ch.exit_signal().ok().and_then(|s| s.exit_signal);
        if let Some(s) = sig.filter(|s| !s.is_empty()) {
            cap.signal = Some(s.trim_start_matches("SIG").to_string());
        } else {
            cap.exit_code = Some(ch.exit_status().map_err(|e| e.to_string())?);
        }
        Ok(cap)
    }

    /// Bound every later file transfer of this connection (each SFTP call,
    /// each chunk of a file) by `end`, a phase's deadline, on top of the
    /// per-call io timeout: a call gets what is left, and none starts once
    /// it is spent. `None` lifts it. Without it a transfer of many files or
    /// a big one is bounded only per call.
    pub fn set_deadline(&self, end: Option<Instant>) {
        self.deadline.set(end);
        if end.is_none() {
            self.cut.set(false);
            self.session.set_timeout(ms(self.io_timeout));
        }
    }

    /// Before a blocking SFTP call: the session's timeout cut to what the
    /// deadline leaves, or a refusal once it is spent.
    fn bound(&self, what: &Path) -> Result<()> {
        let Some(end) = self.deadline.get() else {
            return Ok(());
        };
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(negative(format!(
                "{}: {}: the phase's time limit ran out (during the file transfer)",
                self.target.label(),
                what.display()
            )));
        }
        self.cut.set(left < self.io_timeout);
        self.session.set_timeout(ms(left.min(self.io_timeout)));
        Ok(())
    }

    /// `std::io::copy` in chunks, each under [`Connection::bound`].
    fn copy_bounded(
        &self,
        what: &Path,
        src: &mut impl std::io::Read,
        dst: &mut impl std::io::Write,
    ) -> Result<u64> {
        let io = |e: std::io::Error| {
            negative(format!(
                "{}: copy {}: {e}{}",
                self.target.label(),
                what.display(),
                self.spent(e.to_string().contains("Timed out"))
            ))
        };
        let mut buf = vec![0u8; 256 * 1024];
        let mut n = 0u64;
        loop {
            self.bound(what)?;
            let got = src.read(&mut buf).map_err(io)?;
            if got == 0 {
                break;
            }
            self.bound(what)?;
            dst.write_all(&buf[..got]).map_err(io)?;
            n += got as u64;
        }
        self.bound(what)?;
        dst.flush().map_err(io)?;
        Ok(n)
    }

    /// The SFTP channel of this connection; a failure names the host and,
    /// when the phase's time ran out, says so.
    fn open_sftp(&self) -> Result<ssh2::Sftp> {
        self.session.sftp().map_err(|e| {
            negative(format!(
                "{}: sftp: {e}{}",
                self.target.label(),
                self.spent(timed_out(&e))
            ))
        })
    }

    /// Copy the remote file `remote` to `local` (SFTP), bounded as every
    /// transfer of this connection.
    pub fn fetch_file(&self, remote: &str, local: &Path) -> Result<u64> {
        let rp = Path::new(remote);
        self.session.set_blocking(true);
        self.bound(rp)?;
        let sftp = self.open_sftp()?;
        self.bound(rp)?;
        let mut src = sftp.open(rp).map_err(|e| self.sftp_err(rp, e))?;
        let mut dst = std::fs::File::create(local).map_err(|e| Error::io(local, e))?;
        self.copy_bounded(rp, &mut src, &mut dst)
    }

    /// Make `remote_dir` and its parents (SFTP), like `mkdir -p`.
    fn sftp_mkdir_p(&self, sftp: &ssh2::Sftp, dir: &Path) -> Result<()> {
        let mut cur = PathBuf::new();
        for c in dir.components() {
            cur.push(c);
            self.bound(&cur)?;
            if sftp.stat(&cur).is_ok() {
                continue;
            }
            sftp.mkdir(&cur, 0o755)
                .map_err(|e| self.sftp_err(&cur, e))?;
        }
        Ok(())
    }

    fn sftp_err(&self, path: &Path, e: ssh2::Error) -> Error {
        negative(format!(
            "{}: sftp {}: {e}{}",
            self.target.label(),
            path.display(),
            self.spent(timed_out(&e))
        ))
    }

    /// For a failed SFTP call: the note when the deadline cut it short (it
    /// timed out with what the deadline left as its timeout, or the
    /// deadline has passed).
    fn spent(&self, timed_out: bool) -> &'static str {
        let passed = self.deadline.get().is_some_and(|end| Instant::now() >= end);
        if passed || (timed_out && self.cut.get()) {
            " (the phase's time limit ran out)"
        } else {
            ""
        }
    }

    /// Copy the folder `local_dir` into `remote_dir` (created with parents),
    /// files and folders with their permission bits. Symlinks and special
    /// files are refused, nothing is deleted on the remote side.
    pub fn upload(&self, local_dir: &Path, remote_dir: &str, reuse: &[&str]) -> Result<Transfer> {
        let remote = absolute_remote(remote_dir)?;
        self.session.set_blocking(true);
        self.bound(&remote)?;
        let sftp = self.open_sftp()?;
        self.sftp_mkdir_p(&sftp, &remote)?;
        let mut stats = Transfer::default();
        self.upload_dir(&sftp, local_dir, &remote, reuse, &mut stats)?;
        Ok(stats)
    }

    fn upload_dir(
        &self,
        sftp: &ssh2::Sftp,
        local: &Path,
        remote: &Path,
        reuse: &[&str],
        stats: &mut Transfer,
    ) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let mut entries: Vec<_> = std::fs::read_dir(local)
            .map_err(|e| Error::io(local, e))?
            .collect::<std::io::Result<_>>()
            .map_err(|e| Error::io(local, e))?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let lp = e.path();
            let rp = remote.join(e.file_name());
            self.bound(&rp)?;
            let meta = std::fs::symlink_metadata(&lp).map_err(|err| Error::io(&lp, err))?;
            let mode = meta.permissions().mode() & 0o7777;
            if meta.is_dir() {
                if sftp.stat(&rp).is_err() {
                    sftp.mkdir(&rp, (mode | 0o700) as i32)
                        .map_err(|err| self.sftp_err(&rp, err))?;
                }
                self.upload_dir(sftp, &lp, &rp, &[], stats)?;
            } else if meta.is_file() {
                if let Ok(there) = sftp.stat(&rp) {
                    if reuse.iter().any(|r| e.file_name() == **r) && there.size == Some(meta.len())
                    {
                        stats.reused += 1;
                        stats.reused_bytes += meta.len();
                        continue;
                    }
                    // never write through a hard link someone else shares
                    sftp.unlink(&rp).map_err(|err| self.sftp_err(&rp, err))?;
                }
                let mut src = std::fs::File::open(&lp).map_err(|err| Error::io(&lp, err))?;
                let mut dst = sftp
                    .open_mode(
                        &rp,
                        OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNCATE,
                        mode as i32,
                        OpenType::File,
                    )
                    .map_err(|err| self.sftp_err(&rp, err))?;
                let n = self.copy_bounded(&rp, &mut src, &mut dst)?;
                drop(dst);
                // open_mode's mode applies only to new files
                let _ = sftp.setstat(
                    &rp,
                    ssh2::FileStat {
                        size: None,
                        uid: None,
                        gid: None,
                        perm: Some(mode),
                        atime: None,
                        mtime: None,
                    },
                );
                stats.files += 1;
                stats.bytes += n;
            } else {
                return Err(contract(format!(
                    "{}: only regular files and folders are uploaded (symlinks and special files are not)",
                    lp.display()
                )));
            }
        }
        Ok(())
    }

    /// Copy the remote folder `remote_dir` into `local_dir` (created with
    /// parents), files and folders with their permission bits; each file is
    /// written under a temporary name and renamed into place.
    pub fn download(&self, remote_dir: &str, local_dir: &Path) -> Result<Transfer> {
        let remote = absolute_remote(remote_dir)?;
        self.session.set_blocking(true);
        self.bound(&remote)?;
        let sftp = self.open_sftp()?;
        let st = sftp.stat(&remote).map_err(|e| self.sftp_err(&remote, e))?;
        if !st.is_dir() {
            return Err(negative(format!(
                "{}: {} is not a folder",
                self.target.label(),
                remote.display()
            )));
        }
        let mut stats = Transfer::default();
        self.download_dir(&sftp, &remote, local_dir, &mut stats)?;
        Ok(stats)
    }

    fn download_dir(
        &self,
        sftp: &ssh2::Sftp,
        remote: &Path,
        local: &Path,
        stats: &mut Transfer,
    ) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(local).map_err(|e| Error::io(local, e))?;
        self.bound(remote)?;
        let mut entries = sftp.readdir(remote).map_err(|e| self.sftp_err(remote, e))?;
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        for (rp, st) in entries {
            let Some(name) = rp.file_name() else { continue };
            let lp = local.join(name);
            self.bound(&rp)?;
            let mode = st.perm.unwrap_or(0o644) & 0o7777;
            if st.is_dir() {
                self.download_dir(sftp, &rp, &lp, stats)?;
                let _ =
                    std::fs::set_permissions(&lp, std::fs::Permissions::from_mode(mode | 0o700));
            } else if st.is_file() {
                let mut src = sftp.open(&rp).map_err(|e| self.sftp_err(&rp, e))?;
                let tmp = local.join(format!(".{}.ka-part", name.to_string_lossy()));
                let mut dst = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
                let n = self.copy_bounded(&rp, &mut src, &mut dst)?;
                dst.sync_all().map_err(|e| Error::io(&tmp, e))?;
                drop(dst);
                std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))
                    .map_err(|e| Error::io(&tmp, e))?;
                std::fs::rename(&tmp, &lp).map_err(|e| Error::io(&lp, e))?;
                stats.files += 1;
                stats.bytes += n;
            } else {
                return Err(negative(format!(
                    "{}: {}: only regular files and folders are downloaded",
                    self.target.label(),
                    rp.display()
                )));
            }
        }
        Ok(())
    }
}

fn absolute_remote(dir: &str) -> Result<PathBuf> {
    let p = PathBuf::from(dir);
    if !p.is_absolute()
        || p.components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(contract(format!(
            "remote folder {dir:?}: give an absolute path without '..' (e.g. <root>/source/<job-id>)"
        )));
    }
    Ok(p)
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

/// Run a job over SSH. Connection failures and refusals come back as
/// `transport_error`, local setup problems as `Err`.
pub(crate) fn run(
    job: &Job,
    target: &Target,
    limits: &Limits,
    opts: &Options,
    log: &mut Log<'_>,
) -> Result<Outcome> {
    let command = remote_command(job)?;
    let conn = match connect(target, opts) {
        Ok(c) => c,
        Err(ConnectError::Setup(e)) => return Err(e),
        Err(ConnectError::HostKey(m)) => {
            log.note(&m)?;
            return Ok(Outcome {
                host_key_refused: true,
                ..Outcome::failed(m)
            });
        }
        Err(ConnectError::Transport(m)) => {
            log.note(&m)?;
            return Ok(Outcome::failed(m));
        }
    };
    let sess = &conn.session;
    let start = || -> std::result::Result<ssh2::Channel, ssh2::Error> {
        let mut ch = sess.channel_session()?;
        ch.exec(&command)?;
        ch.send_eof()?;
        Ok(ch)
    };
    let mut ch = match start() {
        Ok(ch) => ch,
        Err(e) => {
            let m = format!("{}: could not start the command: {e}", target.label());
            log.note(&m)?;
            return Ok(Outcome::failed(m));
        }
    };
    let mut out = Outcome::default();
    let mut buf = vec![0u8; 64 * 1024];
    let mut last_output = Instant::now();
    let mut killer: Option<ssh2::Channel> = None;
    let mut kill_output = Vec::new();
    let mut kill_done: Option<Instant> = None;
    let mut last_keepalive = Instant::now();
    sess.set_keepalive(false, 15);
    sess.set_blocking(false);
    let lost = |out: &mut Outcome, log: &mut Log<'_>, what: String| -> Result<()> {
        let m = format!("{}: connection lost: {what}", target.label());
        log.note(&m)?;
        out.transport_error = Some(m);
        Ok(())
    };
    loop {
        let mut sink_err: Option<Error> = None;
        let mut io_result = (|| -> std::io::Result<(bool, bool)> {
            let (eof_out, got_out) = drain(&mut ch, &mut buf, |d| {
                if let Err(e) = log.data(Stream::Stdout, d) {
                    sink_err.get_or_insert(e);
                }
            })?;
            let (eof_err, got_err) = drain(&mut ch.stderr(), &mut buf, |d| {
                if let Err(e) = log.data(Stream::Stderr, d) {
                    sink_err.get_or_insert(e);
                }
            })?;
            Ok((eof_out && eof_err && ch.eof(), got_out || got_err))
        })();
        if let Some(e) = sink_err {
            return Err(e);
        }
        if let Some(kc) = killer.as_mut() {
            let r = drain(kc, &mut buf, |d| kill_output.extend_from_slice(d)).and_then(|_| {
                drain(&mut kc.stderr(), &mut buf, |d| {
                    kill_output.extend_from_slice(d)
                })
            });
            match r {
                Ok(_) if kc.eof() && kill_done.is_none() => {
                    kill_done = Some(Instant::now());
                    let text = String::from_utf8_lossy(&kill_output).trim().to_string();
                    if !text.is_empty() {
                        log.note(&format!("kill on {}: {text}", target.host))?;
                    }
                }
                Ok(_) => {}
                Err(e) => io_result = Err(e),
            }
        }
        let (done, got) = match io_result {
            Ok(v) => v,
            Err(e) => {
                lost(&mut out, log, e.to_string())?;
                break;
            }
        };
        if got {
            last_output = Instant::now();
        }
        if done {
            break;
        }
        if killer.is_none()
            && let Some(reason) = limits.due(last_output)
        {
            match reason {
                crate::Reason::Stall => out.stalled = true,
                crate::Reason::Cap => out.capped = true,
            }
            log.note(&limits.kill_note(reason))?;
            sess.set_blocking(true);
            let started = (|| -> std::result::Result<ssh2::Channel, ssh2::Error> {
                let mut kc = sess.channel_session()?;
                kc.exec(&kill_command(&job.id, limits.grace.as_secs().max(1), 30))?;
                kc.send_eof()?;
                Ok(kc)
            })();
            sess.set_blocking(false);
            match started {
                Ok(kc) => killer = Some(kc),
                Err(e) => {
                    lost(&mut out, log, format!("could not start the kill: {e}"))?;
                    break;
                }
            }
        }
        if let Some(t) = kill_done
            && t.elapsed() > conn.io_timeout
        {
            let m = format!(
                "{}: the session did not end within {}s after the job's processes were killed",
                target.label(),
                conn.io_timeout.as_secs()
            );
            log.note(&m)?;
            out.transport_error = Some(m);
            break;
        }
        if last_keepalive.elapsed() >= Duration::from_secs(15) {
            last_keepalive = Instant::now();
            if let Err(e) = sess.keepalive_send()
                && !is_eagain(&e)
            {
                lost(&mut out, log, e.to_string())?;
                break;
            }
        }
        log.tick()?;
        if !got {
            conn.poll(Duration::from_millis(100));
        }
    }
    sess.set_blocking(true);
    if out.transport_error.is_none() {
        match ch.wait_close() {
            Ok(()) => {
                let sig = ch.exit_signal().ok().and_then(|s| s.exit_signal);
                if let Some(s) = sig.filter(|s| !s.is_empty()) {
                    out.signal = Some(s.trim_start_matches("SIG").to_string());
                } else {
                    match ch.exit_status() {
                        Ok(c) => out.exit_code = Some(c),
                        Err(e) => lost(&mut out, log, format!("no exit status: {e}"))?,
                    }
                }
            }
            Err(e) => lost(
                &mut out,
                log,
                format!("waiting for the channel to close: {e}"),
            )?,
        }
        // Anything still carrying the tag is a leftover: a job leaves nothing behind.
        if out.transport_error.is_none() && killer.is_none() {
            match conn.exec_capture(&kill_command(&job.id, limits.grace.as_secs().max(1), 30)) {
                Ok((code, text)) => {
                    let text = String::from_utf8_lossy(&text).trim().to_string();
                    if !text.is_empty() || code != 0 {
                        log.note(&format!(
                            "leftover processes on {}: {text} (exit {code})",
                            target.host
                        ))?;
                    }
                }
                Err(e) => log.note(&format!(
                    "could not check {} for leftover processes: {e}",
                    target.host
                ))?,
            }
        }
    }
    let _ = sess.disconnect(None, "ka-run-remote: done", None);
    Ok(out)
}
