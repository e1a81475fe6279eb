//! Making a [`Connection`]: the local files it needs, the TCP connect, the
//! SSH handshake, the strict host-key check against the job's known_hosts
//! file and public-key authentication with the job's identity.

use super::wait::acked;
use super::{ConnectError, Connection, HOST_KEY_REFUSED, Target, ms};
use crate::Options;
use ka_core::error::{Error, contract};
use ssh2::{CheckResult, HashType, KnownHostFileKind, MethodType, Session};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;

/// Connect, check the host key strictly, and authenticate with the identity.
pub fn connect(target: &Target, opts: &Options) -> Result<Connection, ConnectError> {
    let t = target;
    let kh_text = read_setup(t)?;
    let socket = dial(t, opts)?;
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

/// The local files a connection needs, checked before the network is
/// touched: the identity must exist, and the known_hosts text is returned.
fn read_setup(t: &Target) -> Result<String, ConnectError> {
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
    std::fs::read_to_string(&t.known_hosts).map_err(|e| {
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
    })
}

/// The TCP connection to the first address of the target that answers.
fn dial(t: &Target, opts: &Options) -> Result<TcpStream, ConnectError> {
    let addrs: Vec<_> = (t.address.as_str(), t.port)
        .to_socket_addrs()
        .map_err(|e| ConnectError::Transport(format!("{}: cannot resolve: {e}", t.label())))?
        .collect();
    let mut last = None;
    for a in &addrs {
        match TcpStream::connect_timeout(a, opts.connect_timeout) {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(ConnectError::Transport(format!(
        "{}: unreachable: {}",
        t.label(),
        last.map_or("no address".into(), |e| e.to_string())
    )))
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
