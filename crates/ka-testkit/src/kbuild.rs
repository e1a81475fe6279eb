//! Run commands as the unprivileged build user `kbuild` (made by
//! scripts/debian-deps), as on a build host; makepkg refuses root.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A folder owned by kbuild in a place kbuild can reach, and a HOME of its own.
pub struct BuildDir {
    _tmp: tempfile::TempDir,
    pub dir: PathBuf,
    pub home: PathBuf,
}

impl Default for BuildDir {
    fn default() -> BuildDir {
        BuildDir::new()
    }
}

impl BuildDir {
    /// An empty build folder.
    pub fn new() -> BuildDir {
        BuildDir::make(|build| fs::create_dir_all(build).unwrap())
    }

    /// A copy of `dir` (cp -a).
    pub fn copy_of(dir: &Path) -> BuildDir {
        BuildDir::make(|build| {
            let st = Command::new("cp")
                .arg("-a")
                .arg(dir)
                .arg(build)
                .status()
                .unwrap();
            assert!(st.success(), "cp -a {}", dir.display());
        })
    }

    fn make(fill: impl FnOnce(&Path)) -> BuildDir {
        let ok = Command::new("id")
            .arg("kbuild")
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            ok,
            "the build user kbuild is missing: run scripts/debian-deps as root"
        );
        let tmp = tempfile::tempdir().unwrap();
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let dir = tmp.path().join("pkg");
        let home = tmp.path().join("home");
        fs::create_dir_all(&home).unwrap();
        fill(&dir);
        let st = Command::new("chown")
            .args(["-R", "kbuild:kbuild"])
            .arg(&dir)
            .arg(&home)
            .status()
            .unwrap();
        assert!(st.success(), "chown kbuild");
        BuildDir {
            _tmp: tmp,
            dir,
            home,
        }
    }

    /// Write `name` into the folder (owned by kbuild).
    pub fn write(&self, name: &str, text: &str) {
        let path = self.dir.join(name);
        fs::write(&path, text).unwrap();
        let st = Command::new("chown")
            .arg("kbuild:kbuild")
            .arg(&path)
            .status()
            .unwrap();
        assert!(st.success(), "chown kbuild {name}");
    }

    /// `argv` as kbuild in the folder, with a clean environment plus HOME
    /// and `env`.
    pub fn run(&self, argv: &[&str], env: &[(&str, &str)]) -> Output {
        Command::new("setpriv")
            .args([
                "--reuid=kbuild",
                "--regid=kbuild",
                "--clear-groups",
                "--reset-env",
                "env",
            ])
            .arg(format!("HOME={}", self.home.display()))
            .args(env.iter().map(|(k, v)| format!("{k}={v}")))
            .args(argv)
            .current_dir(&self.dir)
            .output()
            .unwrap()
    }
}
