//! Pre-flight of a build host: one read-only shell script, run as the build user,
//! that reports every check as `ok ...` or `missing ...`. The script is constant
//! text; the values it needs are passed as arguments, quoted by the runner.

use ka_core::formats::{Arch, Distro};

pub const SCRIPT: &str = include_str!("preflight.sh");

/// The argv that runs the pre-flight on the build host.
pub fn argv(root: &str, arch: Arch, distro: Distro, min_free_gib: u32) -> Vec<String> {
    vec![
        "sh".into(),
        "-c".into(),
        SCRIPT.into(),
        "ka-preflight".into(),
        root.into(),
        arch_name(arch).into(),
        match distro {
            Distro::Arch => "arch",
            Distro::Debian => "debian",
        }
        .into(),
        min_free_gib.to_string(),
    ]
}

pub fn arch_name(arch: Arch) -> &'static str {
    match arch {
        Arch::Aarch64 => "aarch64",
        Arch::X86_64 => "x86_64",
    }
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

    fn run_here(root: &str, arch: Arch, gib: u32) -> Findings {
        let argv = argv(root, arch, Distro::Arch, gib);
        let out = Command::new(&argv[0]).args(&argv[1..]).output().unwrap();
        parse(&String::from_utf8_lossy(&out.stdout))
    }

    #[test]
    fn reports_what_is_missing_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("not-there");
        let f = run_here(root.to_str().unwrap(), Arch::Aarch64, 1_000_000);
        assert!(f.missing.iter().any(|m| m.starts_with("root: ")), "{f:?}");
        assert!(!root.exists(), "pre-flight must not create anything");
        if std::env::consts::ARCH == "x86_64" {
            assert!(
                f.missing
                    .iter()
                    .any(|m| m.contains("aarch64-linux-gnu-gcc")),
                "{f:?}"
            );
        }
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
