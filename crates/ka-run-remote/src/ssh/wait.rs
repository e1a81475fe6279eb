//! Waiting on the session's socket without blocking forever: the quick ACK,
//! one libssh2 call driven to its end under a timeout, draining a channel
//! stream that is not ready, and a short poll for more input.

use super::Connection;
use ssh2::{ErrorCode, Session};
use std::io::{ErrorKind, Read};
use std::net::TcpStream;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

/// ACK at once what the socket has received, instead of up to 40 ms later.
///
/// sshd does not set TCP_NODELAY on a session without a tty, so when it
/// writes twice in a row (after authentication: the host-keys notice, then
/// the channel confirmation) Nagle holds the second write until the first
/// is acknowledged, and Linux delays that ACK while we wait with nothing to
/// send: a 40 ms stall per connection, measured. TCP_QUICKACK is not
/// sticky, so it is set again before every wait. Linux only; elsewhere a
/// no-op.
pub(super) fn quickack(socket: &TcpStream) {
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
pub(super) fn acked<T>(
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

pub(super) fn is_eagain(e: &ssh2::Error) -> bool {
    e.code() == ErrorCode::Session(-37)
}

/// Read all that is available on one stream of a channel without blocking.
/// Ok(true) when the stream is at its end.
pub(super) fn drain(
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
    /// Wait at most `timeout` for the socket to have something to read.
    pub(super) fn poll(&self, timeout: Duration) {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        let mut fds = [PollFd::new(self.socket.as_fd(), PollFlags::POLLIN)];
        let t = PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX);
        let _ = poll(&mut fds, t);
    }
}
