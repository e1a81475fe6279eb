//! A qemu test host for Rust tests: the Rust side of `tests/qemu/make-image`,
//! `start-guest`, `wait-guest`, `power-cycle` and `stop-guest` (see
//! `tests/qemu/README.md`).
//!
//! ```ignore
//! use ka_testkit::qemu;
//!
//! let guest = qemu::Guest::start();              // image from the cache (built once), booted, SSH up
//! let transport = guest.transport("planck");     // ka_schema::Transport::Ssh as root
//! let before = guest.boot_id();
//! let boot = guest.current_boot();
//! guest.ssh("systemctl reboot");                 // the supervisor power-cycles qemu
//! guest.wait_ssh(boot + 1, qemu::BOOT_TIMEOUT).unwrap();
//! assert_ne!(guest.boot_id(), before);
//! // a kernel that panics: guest.wait_off(..) returns the boot record, cause "panic"
//! // dropped: stop-guest stops exactly the supervisor and qemu it started
//! ```
//!
//! Needs root (debootstrap) and the packages of `scripts/debian-deps`; a
//! missing piece is a test failure naming the fix, never a silent skip.

use ka_schema::Transport;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// How long a boot to SSH may take on a loaded 2-core machine under TCG
/// (measured ~30-90 s; see tests/qemu/README.md), with a wide margin.
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(600);

pub struct Guest {
    /// The guest's folder: overlay, keys, known_hosts, console.log, boots.
    pub dir: PathBuf,
    /// The supervisor's PID (it owns qemu).
    pub pid: i32,
    pub port: u16,
    pub user: String,
    pub identity: PathBuf,
    pub known_hosts: PathBuf,
    /// `uname -r` of the image's own kernel.
    pub kernel_release: String,
    _tmp: tempfile::TempDir,
}

/// One ended boot, a line of `DIR/boots`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootRecord {
    pub boot: u32,
    pub start: u64,
    pub end: u64,
    pub exit: i32,
    /// reboot, power-cycle, panic, poweroff, stopped, error, too-many-boots
    pub cause: String,
    /// normal (U-Boot → extlinux) or rescue (the image's kernel given to qemu)
    pub mode: String,
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/qemu")
        .join(name)
}

fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// The value of `KEY=value` in the shell assignments a script printed.
fn assignment(text: &str, key: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in: {text}"))
        .to_string()
}

/// The cached test image's folder (make-image builds it the first time on
/// this machine, minutes; afterwards it returns at once).
pub fn image() -> PathBuf {
    let out = run(
        &mut Command::new(script("make-image")),
        "tests/qemu/make-image",
    );
    PathBuf::from(assignment(&out, "IMAGE_DIR"))
}

impl Guest {
    /// Boot the cached image in a fresh temp folder; SSH answers on return.
    pub fn start() -> Guest {
        Guest::start_from(&image())
    }

    /// Boot `image_dir` (a make-image folder) in a fresh temp folder.
    pub fn start_from(image_dir: &Path) -> Guest {
        let tmp = tempfile::Builder::new()
            .prefix("ka-guest-")
            .tempdir()
            .expect("temp dir");
        let dir = tmp.path().join("guest");
        let out = run(
            Command::new(script("start-guest")).arg(&dir).arg(image_dir),
            "tests/qemu/start-guest",
        );
        Guest {
            pid: assignment(&out, "GUEST_PID").parse().expect("pid"),
            port: assignment(&out, "GUEST_PORT").parse().expect("port"),
            user: assignment(&out, "GUEST_USER"),
            identity: dir.join("id_ed25519"),
            known_hosts: dir.join("known_hosts"),
            kernel_release: assignment(&out, "GUEST_KERNEL_RELEASE"),
            dir,
            _tmp: tmp,
        }
    }

    /// The SSH transport to this guest under the fleet name `host`.
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

    /// Run a shell command in the guest (strict host key, the guest's key).
    pub fn ssh(&self, command: &str) -> Output {
        Command::new(script("guest-ssh"))
            .arg(&self.dir)
            .arg(command)
            .output()
            .expect("run tests/qemu/guest-ssh")
    }

    /// Run a command that must succeed; its stdout, trimmed.
    pub fn ssh_ok(&self, command: &str) -> String {
        let out = self.ssh(command);
        assert!(
            out.status.success(),
            "`{command}` in the guest failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// The running kernel's boot id (changes with every boot).
    pub fn boot_id(&self) -> String {
        self.ssh_ok("cat /proc/sys/kernel/random/boot_id")
    }

    /// The number of the boot that runs now (or ran last): 1, 2, ...
    pub fn current_boot(&self) -> u32 {
        std::fs::read_to_string(self.dir.join("boot-current"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Every ended boot, oldest first.
    pub fn boots(&self) -> Vec<BootRecord> {
        std::fs::read_to_string(self.dir.join("boots"))
            .unwrap_or_default()
            .lines()
            .filter_map(parse_boot)
            .collect()
    }

    /// Wait until SSH answers in boot `boot` or later; Err says what was
    /// waited for and shows the end of the console.
    pub fn wait_ssh(&self, boot: u32, timeout: Duration) -> Result<(), String> {
        let out = Command::new(script("wait-guest"))
            .args(["--timeout", &timeout.as_secs().to_string()])
            .args(["--boot", &boot.to_string()])
            .arg(&self.dir)
            .output()
            .expect("run tests/qemu/wait-guest");
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// Wait until the guest is off for good (panic, poweroff, error) and
    /// return how its last boot ended.
    pub fn wait_off(&self, timeout: Duration) -> Result<BootRecord, String> {
        let out = Command::new(script("wait-guest"))
            .args(["--off", "--timeout", &timeout.as_secs().to_string()])
            .arg(&self.dir)
            .output()
            .expect("run tests/qemu/wait-guest");
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        let text = String::from_utf8_lossy(&out.stdout);
        parse_boot(text.trim()).ok_or_else(|| format!("no boot recorded: {text}"))
    }

    /// Pull the plug and switch on again (`rescue`: boot the image's kernel
    /// directly, bypassing extlinux); returns the boot number to wait for.
    pub fn power_cycle(&self, rescue: bool) -> u32 {
        let mut cmd = Command::new(script("power-cycle"));
        if rescue {
            cmd.arg("--rescue");
        }
        let out = run(cmd.arg(&self.dir), "tests/qemu/power-cycle");
        assignment(&out, "GUEST_BOOT").parse().expect("boot number")
    }

    /// The serial console of every boot so far.
    pub fn console(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(self.dir.join("console.log")).unwrap_or_default())
            .into_owned()
    }

    /// Switch the guest off (its overlay stays until the guest is dropped).
    pub fn stop(&self) {
        let _ = Command::new(script("stop-guest")).arg(&self.dir).status();
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        self.stop();
    }
}

fn parse_boot(line: &str) -> Option<BootRecord> {
    let field = |k: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(k)?.strip_prefix('='))
    };
    Some(BootRecord {
        boot: field("boot")?.parse().ok()?,
        start: field("start")?.parse().ok()?,
        end: field("end")?.parse().ok()?,
        exit: field("exit")?.parse().ok()?,
        cause: field("cause")?.to_string(),
        mode: field("mode")?.to_string(),
    })
}
