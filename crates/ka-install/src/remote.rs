//! The target (and sign) host over SSH, only through ka-run-remote: strict
//! fleet known_hosts, the fleet identity, argv quoted word by word, every
//! command with a time limit.

use ka_run_remote::{ConnectError, Connection, Options, Target};
use std::path::Path;
use std::time::{Duration, Instant};

type R<T> = std::result::Result<T, String>;

/// A phase's time limit, shared by every remote command the phase runs:
/// each gets what is left, and none starts once it is spent.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    end: Instant,
    limit: Duration,
}

impl Deadline {
    pub fn after(limit: Duration) -> Deadline {
        Deadline {
            end: Instant::now() + limit,
            limit,
        }
    }

    /// The time left, or why there is none.
    pub fn left(&self) -> R<Duration> {
        let left = self.end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(format!(
                "the phase's limit of {}s is spent",
                self.limit.as_secs()
            ))
        } else {
            Ok(left)
        }
    }

    pub fn limit(&self) -> Duration {
        self.limit
    }

    pub fn end(&self) -> Instant {
        self.end
    }
}

/// Most a command's output may be (a /boot tgz is tens of MiB).
const MAX_OUTPUT: usize = 1 << 30;

/// What identifies the running boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub release: String,
    pub boot_id: String,
}

pub struct Remote {
    conn: Connection,
    root: bool,
}

fn options(timeout: Duration) -> Options {
    Options {
        connect_timeout: timeout.clamp(Duration::from_millis(100), Duration::from_secs(30)),
        io_timeout: timeout.clamp(Duration::from_secs(1), Duration::from_secs(60)),
        ..Options::default()
    }
}

impl Remote {
    /// Connect; a host-key refusal stays [`ConnectError::HostKey`] (it files
    /// `[ka:host-changed]`, and waiting longer never cures it).
    pub fn connect(target: &Target, timeout: Duration) -> Result<Remote, ConnectError> {
        ka_run_remote::connect(target, &options(timeout)).map(|conn| Remote {
            root: target.user == "root",
            conn,
        })
    }

    /// Wait until the host answers SSH with a boot_id other than `old` (a
    /// host still going down answers with the old one); a host-key refusal
    /// ends the wait at once.
    pub fn back_within(
        target: &Target,
        old: &str,
        limit: Duration,
    ) -> Result<(Remote, Facts, Duration), ConnectError> {
        let start = Instant::now();
        let mut last = String::from("no attempt");
        loop {
            let left = limit.saturating_sub(start.elapsed());
            if left.is_zero() {
                return Err(ConnectError::Transport(format!(
                    "no heartbeat within {:.0}s: {last}",
                    limit.as_secs_f64()
                )));
            }
            match Remote::connect(target, left) {
                Ok(r) => match r.facts(Deadline::after(left.min(Duration::from_secs(30)))) {
                    Ok(f) if f.boot_id != old => return Ok((r, f, start.elapsed())),
                    Ok(_) => last = "the host still runs the old boot".into(),
                    Err(e) => last = e,
                },
                Err(ConnectError::HostKey(m)) => {
                    return Err(ConnectError::HostKey(format!(
                        "the host answered with another host key: {m}"
                    )));
                }
                Err(ConnectError::Transport(m)) => last = m,
                Err(setup) => return Err(setup),
            }
            let left = limit.saturating_sub(start.elapsed());
            std::thread::sleep(left.min(Duration::from_secs(1)));
        }
    }

    /// Run `argv`; its stdout when it exits 0, else why not.
    pub fn run(&self, argv: &[&str], d: Deadline) -> R<Vec<u8>> {
        let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
        let c = self.conn.exec_argv(&argv, d.left()?, MAX_OUTPUT)?;
        if c.truncated {
            return Err(format!("{}: more output than {MAX_OUTPUT} bytes", argv[0]));
        }
        match (c.exit_code, &c.signal) {
            (Some(0), None) => Ok(c.stdout),
            (code, sig) => {
                let err = String::from_utf8_lossy(&c.stderr);
                Err(format!(
                    "`{}` {}: {}",
                    argv.join(" "),
                    match (code, sig) {
                        (_, Some(s)) => format!("killed by SIG{s}"),
                        (Some(c), _) => format!("exited {c}"),
                        _ => "ended without a status".into(),
                    },
                    err.trim().lines().last().unwrap_or("")
                ))
            }
        }
    }

    /// Run `argv` and keep whatever it said, whatever its exit.
    pub fn capture(&self, argv: &[&str], d: Deadline) -> R<ka_run_remote::Captured> {
        let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
        self.conn.exec_argv(&argv, d.left()?, MAX_OUTPUT)
    }

    /// As root: the ssh user itself, or through `sudo -n`.
    pub fn run_root(&self, argv: &[&str], d: Deadline) -> R<Vec<u8>> {
        if self.root {
            self.run(argv, d)
        } else {
            let mut v = vec!["sudo", "-n", "--"];
            v.extend_from_slice(argv);
            self.run(&v, d)
        }
    }

    pub fn facts(&self, d: Deadline) -> R<Facts> {
        let out = self.run(
            &[
                "cat",
                "/proc/sys/kernel/random/boot_id",
                "/proc/sys/kernel/osrelease",
            ],
            d,
        )?;
        let text = String::from_utf8_lossy(&out);
        let mut lines = text.lines();
        match (lines.next(), lines.next()) {
            (Some(b), Some(r)) if !b.is_empty() && !r.is_empty() => Ok(Facts {
                boot_id: b.trim().to_string(),
                release: r.trim().to_string(),
            }),
            _ => Err("could not read boot_id and osrelease".into()),
        }
    }

    pub fn exists(&self, path: &str, d: Deadline) -> R<bool> {
        let argv = vec!["test".to_string(), "-e".to_string(), path.to_string()];
        let c = self.conn.exec_argv(&argv, d.left()?, 4096)?;
        match c.exit_code {
            Some(0) => Ok(true),
            Some(1) => Ok(false),
            _ => Err(format!("test -e {path} failed")),
        }
    }

    /// Make `dir` on the host (as root: it lives under /srv) and give it to
    /// the ssh user, whose SFTP uploads into it.
    pub fn staging_dir(&self, dir: &str, d: Deadline) -> R<()> {
        self.run_root(&["mkdir", "-p", "--", dir], d)?;
        if !self.root {
            let user = self.conn.target.user.as_str();
            self.run_root(&["chown", "--", user, dir], d)?;
        }
        Ok(())
    }

    /// The folders of `dirs` in which root cannot create a file, each with
    /// the shell's reason ("Read-only file system", ...).
    pub fn not_writable(&self, dirs: &[&str], d: Deadline) -> R<Vec<(String, String)>> {
        let script = "for d do t=\"$d/.ka-preflight-$$\"; \
            if err=$( { : >\"$t\"; } 2>&1 ); then rm -f -- \"$t\"; \
            else printf '%s\\t%s\\n' \"$d\" \"${err##*: }\"; fi; done";
        let mut argv = vec!["sh", "-c", script, "sh"];
        argv.extend_from_slice(dirs);
        let out = self.run_root(&argv, d)?;
        Ok(String::from_utf8_lossy(&out)
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .map(|(d, why)| (d.to_string(), why.to_string()))
            .collect())
    }

    /// Free bytes in the file system that holds `path` (`df -Pk`).
    pub fn free_bytes(&self, path: &str, d: Deadline) -> R<u64> {
        let out = self.run(&["df", "-Pk", "--", path], d)?;
        let text = String::from_utf8_lossy(&out);
        text.lines()
            .nth(1)
            .and_then(|l| l.split_whitespace().nth(3))
            .and_then(|k| k.parse::<u64>().ok())
            .map(|k| k * 1024)
            .ok_or_else(|| format!("`df -Pk {path}` printed no free space: {}", text.trim()))
    }

    /// Replace `path` on the host: a temp file beside it, synced, renamed.
    pub fn write_file(&self, path: &str, bytes: &[u8], d: Deadline) -> R<()> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        std::fs::write(dir.path().join("new"), bytes).map_err(|e| e.to_string())?;
        let staging = format!("{}/.ka-write-{}", crate::REMOTE_STAGING, std::process::id());
        self.staging_dir(&staging, d)?;
        self.upload(dir.path(), &staging, d)?;
        let tmp = format!("{path}.ka-new");
        let script = "cp -- \"$1\" \"$2\" && chmod --reference=\"$3\" -- \"$2\" 2>/dev/null; sync \"$2\" && mv -f -- \"$2\" \"$3\" && sync \"$(dirname \"$3\")\"; s=$?; rm -rf -- \"$4\"; exit $s";
        let new = format!("{staging}/new");
        self.run_root(&["sh", "-c", script, "sh", &new, &tmp, path, &staging], d)?;
        Ok(())
    }

    /// Copy a local folder's files into `remote_dir` within the phase's
    /// deadline (every SFTP call and chunk); bytes moved.
    pub fn upload(&self, local_dir: &Path, remote_dir: &str, d: Deadline) -> R<u64> {
        d.left()?;
        self.conn.set_deadline(Some(d.end()));
        let r = self.conn.upload(local_dir, remote_dir, &[]);
        self.conn.set_deadline(None);
        r.map(|t| t.bytes).map_err(|e| e.to_string())
    }

    /// Copy one file from the host (SFTP) within the phase's deadline.
    pub fn fetch(&self, remote: &str, local: &Path, d: Deadline) -> R<()> {
        d.left()?;
        self.conn.set_deadline(Some(d.end()));
        let r = self.conn.fetch_file(remote, local);
        self.conn.set_deadline(None);
        r.map(drop).map_err(|e| e.to_string())
    }

    /// The kernel release an Arch package installs: its
    /// `usr/lib/modules/<release>/` folder.
    pub fn arch_release(&self, package: &str, d: Deadline) -> R<String> {
        let out = self.run(&["pacman", "-Qlq", "--", package], d)?;
        let text = String::from_utf8_lossy(&out);
        let mut found: Vec<String> = text
            .lines()
            .filter_map(|l| l.strip_prefix("/usr/lib/modules/"))
            .filter_map(|l| l.split('/').next())
            .filter(|r| !r.is_empty())
            .map(str::to_string)
            .collect();
        found.sort();
        found.dedup();
        match found.as_slice() {
            [one] => Ok(one.clone()),
            _ => Err(format!(
                "{package} owns {} /usr/lib/modules/<release>/ folders; expected one",
                found.len()
            )),
        }
    }

    /// Ask the host to reboot. The connection may drop before an answer: the
    /// heartbeat decides whether it came back.
    pub fn reboot(&self, d: Deadline) {
        let _ = self.run_root(
            &[
                "sh",
                "-c",
                "sync; (sleep 1; reboot) >/dev/null 2>&1 </dev/null &",
            ],
            d,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_gives_what_is_left_and_refuses_once_spent() {
        let d = Deadline::after(Duration::from_secs(60));
        let left = d.left().unwrap();
        assert!(left <= Duration::from_secs(60) && !left.is_zero());
        let spent = Deadline::after(Duration::ZERO);
        let e = spent.left().unwrap_err();
        assert!(e.contains("limit of 0s is spent"), "{e}");
    }
}
