//! A throwaway OpenSSH sshd for Rust tests: the Rust side of `tests/sshd/start-sshd`.
//!
//! ```ignore
//! use ka_testkit::sshd;
//!
//! let server = sshd::Sshd::start();               // panics with a message saying what to fix
//! let transport = server.transport("boltzmann");  // ka_schema::Transport::Ssh
//! // ... run jobs, upload to server.remote (a folder the login user owns) ...
//! server.rekey();       // the host's key "changes": known_hosts now holds another key
//! server.kill_sshd();   // sshd dies (listener and connection processes), jobs keep running
//! // dropped: the server is stopped by its PID (only processes it started)
//! ```
//!
//! As root the login user is `kbuild` (made by `scripts/debian-deps`); a missing
//! user is a test failure with that advice, never a silent skip.

use ka_schema::Transport;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Sshd {
    /// The folder holding config, keys, known_hosts, log.
    pub dir: PathBuf,
    pub pid: i32,
    pub port: u16,
    pub user: String,
    pub identity: PathBuf,
    pub known_hosts: PathBuf,
    /// A scratch folder owned by the login user (a build host's root).
    pub remote: PathBuf,
    _tmp: tempfile::TempDir,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/sshd/start-sshd")
}

impl Sshd {
    /// Start a server in a fresh temp folder; ready (banner read) on return.
    pub fn start() -> Sshd {
        let tmp = tempfile::Builder::new()
            .prefix("ka-sshd-")
            .tempdir()
            .expect("temp dir");
        // The login user must traverse it to read authorized_keys.
        set_mode(tmp.path(), 0o755);
        let dir = tmp.path().join("sshd");
        let out = Command::new(script())
            .arg(&dir)
            .output()
            .expect("run tests/sshd/start-sshd");
        assert!(
            out.status.success(),
            "tests/sshd/start-sshd failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).expect("utf-8");
        let get = |k: &str| -> String {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}=")))
                .unwrap_or_else(|| panic!("start-sshd printed no {k}: {text}"))
                .to_string()
        };
        Sshd {
            pid: get("SSHD_PID").parse().expect("pid"),
            port: get("SSHD_PORT").parse().expect("port"),
            user: get("SSHD_USER"),
            identity: dir.join("id_ed25519"),
            known_hosts: dir.join("known_hosts"),
            remote: dir.join("remote"),
            dir,
            _tmp: tmp,
        }
    }

    /// The SSH transport of a job to this server, under the fleet name `host`.
    pub fn transport(&self, host: &str) -> Transport {
        Transport::Ssh {
            host: host.into(),
            address: "127.0.0.1".into(),
            port: self.port,
            user: self.user.clone(),
            known_hosts: self.known_hosts.clone(),
            identity: self.identity.clone(),
        }
    }

    /// The known_hosts line for this server.
    pub fn known_hosts_line(&self) -> String {
        std::fs::read_to_string(&self.known_hosts).expect("known_hosts")
    }

    /// Simulate a changed host key: the fleet known_hosts entry for
    /// `[127.0.0.1]:PORT` now holds a freshly generated, different key.
    pub fn rekey(&self) {
        let other = self.dir.join("other_host_key");
        let _ = std::fs::remove_file(&other);
        let _ = std::fs::remove_file(other.with_extension("pub"));
        let st = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&other)
            .status()
            .expect("ssh-keygen");
        assert!(st.success());
        let pubkey = std::fs::read_to_string(other.with_extension("pub")).unwrap();
        let mut f = pubkey.split_whitespace();
        let line = format!(
            "[127.0.0.1]:{} {} {}\n",
            self.port,
            f.next().unwrap(),
            f.next().unwrap()
        );
        std::fs::write(&self.known_hosts, line).unwrap();
    }

    /// The sshd processes of this server: the listener and its descendants
    /// that are sshd (per-connection processes), not the users' commands.
    pub fn sshd_pids(&self) -> Vec<i32> {
        let mut all = vec![self.pid];
        all.extend(descendants(self.pid));
        all.into_iter()
            .filter(|p| {
                std::fs::read_to_string(format!("/proc/{p}/comm"))
                    .is_ok_and(|c| c.trim() == "sshd" || c.trim().starts_with("sshd"))
            })
            .collect()
    }

    /// Kill sshd (listener and connection processes, KILL) as if the build
    /// host's sshd died; the users' commands are left running.
    pub fn kill_sshd(&self) {
        for p in self.sshd_pids() {
            signal(p, "KILL");
        }
    }

    /// The server's log (sshd -e), for assertion messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        for p in self.sshd_pids() {
            signal(p, "TERM");
        }
    }
}

fn signal(pid: i32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}

fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Parent PID from /proc/<pid>/stat (the field after the parenthesised comm).
fn ppid(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(1)?.parse().ok()
}

/// Every live descendant of `root`.
pub fn descendants(root: i32) -> Vec<i32> {
    let pids: Vec<(i32, i32)> = std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
                .filter_map(|p| Some((p, ppid(p)?)))
                .collect()
        })
        .unwrap_or_default();
    let mut out = Vec::new();
    let mut frontier = vec![root];
    while let Some(p) = frontier.pop() {
        for (c, pp) in &pids {
            if *pp == p && !out.contains(c) {
                out.push(*c);
                frontier.push(*c);
            }
        }
    }
    out
}
