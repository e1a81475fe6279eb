//! Pre-flight of a build host: one read-only shell script, run as the build user,
//! that reports every check as `ok ...` or `missing ...`. The script is constant
//! text; the values it needs are passed as arguments, quoted by the runner.

use ka_schema::{Arch, Distro};

pub const SCRIPT: &str = include_str!("preflight.sh");

/// The argv that runs the pre-flight on the build host.
pub fn argv(root: &str, arch: Arch, distro: Distro, min_free_gib: u32) -> Vec<String> {
    vec![
        "sh".into(),
        "-c".into(),
        SCRIPT.into(),
        "ka-preflight".into(),
        root.into(),
        arch.name().into(),
        match distro {
            Distro::Arch => "arch",
            Distro::Debian => "debian",
        }
        .into(),
        min_free_gib.to_string(),
    ]
}

/// What the pre-flight found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Findings {
    pub ok: Vec<String>,
    pub missing: Vec<String>,
}

impl Findings {
    pub fn passed(&self) -> bool {
        self.missing.is_empty() && !self.ok.is_empty()
    }

    /// The build host's architecture as `uname -m` printed it there.
    pub fn machine(&self) -> Option<&str> {
        self.ok.iter().find_map(|o| o.strip_prefix("machine "))
    }
}

/// How a build host builds for a target: natively with its own gcc, or with
/// the cross compiler `<arch>-linux-gnu-gcc` when its architecture differs
/// (an x86_64 build host building the aarch64 boards' kernels).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Toolchain {
    Native,
    /// `CROSS_COMPILE` for the kernel, e.g. `aarch64-linux-gnu-`.
    Cross {
        prefix: String,
        machine: String,
    },
}

impl Toolchain {
    /// `CROSS_COMPILE`'s value: empty for a native build.
    pub fn prefix(&self) -> &str {
        match self {
            Toolchain::Native => "",
            Toolchain::Cross { prefix, .. } => prefix,
        }
    }

    pub fn for_target(machine: &str, target: Arch) -> Toolchain {
        let arch = target.name();
        if machine == arch {
            Toolchain::Native
        } else {
            Toolchain::Cross {
                prefix: format!("{arch}-linux-gnu-"),
                machine: machine.to_string(),
            }
        }
    }

    /// For messages: "native aarch64", "cross aarch64 on x86_64 (aarch64-linux-gnu-gcc)".
    pub fn describe(&self, target: Arch) -> String {
        match self {
            Toolchain::Native => format!("native {}", target.name()),
            Toolchain::Cross { prefix, machine } => {
                format!("cross {} on {machine} ({prefix}gcc)", target.name())
            }
        }
    }
}

/// Parse the script's output. Lines that are neither `ok` nor `missing` (a
/// login banner, say) are ignored; an output without a single `ok` line means
/// the script did not run and counts as a miss.
pub fn parse(output: &str) -> Findings {
    let mut f = Findings::default();
    for line in output.lines() {
        if let Some(rest) = line.strip_prefix("ok ") {
            f.ok.push(rest.to_string());
        } else if let Some(rest) = line.strip_prefix("missing ") {
            f.missing.push(rest.to_string());
        }
    }
    if f.ok.is_empty() && f.missing.is_empty() {
        f.missing
            .push("pre-flight: the check script printed nothing; is sh on the build host?".into());
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// Run the script with PATH holding only `tools` (symlinks to the real
    /// ones) and stubs: `uname` answering `machine`, and each of `fakes` an
    /// empty program. The outcome then depends on nothing installed here.
    fn run_with(root: &str, arch: Arch, machine: &str, fakes: &[&str]) -> Findings {
        use std::os::unix::fs::PermissionsExt;
        let bin = tempfile::tempdir().unwrap();
        for tool in ["id", "df", "awk"] {
            let real = ["/usr/bin", "/bin"]
                .iter()
                .map(|d| std::path::Path::new(d).join(tool))
                .find(|p| p.exists())
                .unwrap();
            std::os::unix::fs::symlink(real, bin.path().join(tool)).unwrap();
        }
        let stub = |name: &str, body: &str| {
            let p = bin.path().join(name);
            std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        };
        stub("uname", &format!("echo {machine}"));
        for fake in fakes {
            stub(fake, "exit 0");
        }
        let argv = argv(root, arch, Distro::Arch, 1_000_000);
        let out = Command::new("/bin/sh")
            .args(&argv[1..])
            .env("PATH", bin.path())
            .output()
            .unwrap();
        parse(&String::from_utf8_lossy(&out.stdout))
    }

    #[test]
    fn reports_what_is_missing_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("not-there");
        let root = root.to_str().unwrap();
        let f = run_with(root, Arch::Aarch64, "x86_64", &[]);
        assert!(f.missing.iter().any(|m| m.starts_with("root: ")), "{f:?}");
        assert!(
            !std::path::Path::new(root).exists(),
            "pre-flight must not create anything"
        );
        assert!(
            f.missing
                .iter()
                .any(|m| m.contains("aarch64-linux-gnu-gcc") && m.contains("gcc-aarch64-linux-gnu")),
            "a missing cross compiler names the package: {f:?}"
        );
        let ccache = format!("tool: ccache (rebuilds reuse its cache under {root}/ccache)");
        assert!(f.missing.contains(&ccache), "{f:?}");
    }

    #[test]
    fn the_compiler_follows_the_build_hosts_own_architecture() {
        let root = "/nonexistent/ka-root";
        // x86_64 build host, aarch64 target: the cross compiler, found
        let f = run_with(root, Arch::Aarch64, "x86_64", &["aarch64-linux-gnu-gcc"]);
        assert!(
            f.ok.iter()
                .any(|o| o == "toolchain aarch64-linux-gnu-gcc (aarch64 on x86_64)"),
            "{f:?}"
        );
        assert_eq!(f.machine(), Some("x86_64"));
        assert_eq!(
            Toolchain::for_target(f.machine().unwrap(), Arch::Aarch64),
            Toolchain::Cross {
                prefix: "aarch64-linux-gnu-".into(),
                machine: "x86_64".into()
            }
        );
        // a native aarch64 build host builds natively with gcc
        let f = run_with(root, Arch::Aarch64, "aarch64", &["gcc"]);
        assert!(
            f.ok.iter()
                .any(|o| o == "toolchain gcc (aarch64 on aarch64)"),
            "{f:?}"
        );
        assert_eq!(
            Toolchain::for_target(f.machine().unwrap(), Arch::Aarch64),
            Toolchain::Native
        );
        let f = run_with(root, Arch::Aarch64, "aarch64", &["aarch64-linux-gnu-gcc"]);
        assert!(
            f.missing.iter().any(|m| m.starts_with("toolchain: gcc ")),
            "{f:?}"
        );
        // an x86_64 target on an x86_64 host
        let f = run_with(root, Arch::X86_64, "x86_64", &["gcc"]);
        assert!(
            f.ok.iter().any(|o| o == "toolchain gcc (x86_64 on x86_64)"),
            "{f:?}"
        );
    }

    #[test]
    fn too_little_free_space_names_the_folders_to_prune() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_str().unwrap();
        // run_with asks for 1000000 GiB
        let f = run_with(root, Arch::X86_64, "x86_64", &["gcc"]);
        let disk = f
            .missing
            .iter()
            .find(|m| m.starts_with("disk: "))
            .unwrap_or_else(|| panic!("{f:?}"));
        assert!(disk.contains("a build needs 1000000G"), "{disk}");
        assert!(
            disk.contains(&format!("prune {root}/source/ (old job trees)")),
            "{disk}"
        );
        assert!(disk.contains(&format!("{root}/cache/sources/")), "{disk}");
        assert!(disk.contains("ka-prune"), "{disk}");
    }

    #[test]
    fn parse_ignores_banners() {
        let f = parse("Welcome!\nok user kbuild\nmissing tool: bsdtar (x)\n");
        assert_eq!(f.ok, ["user kbuild"]);
        assert_eq!(f.missing, ["tool: bsdtar (x)"]);
        assert!(!f.passed());
        assert!(!parse("").passed());
    }
}
