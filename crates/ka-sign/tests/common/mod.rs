//! Real parts for the ka-sign tests: a throwaway GnuPG key, tiny packages
//! made by makepkg (as the build user kbuild) and dpkg-deb, a fleet with a
//! local sign host, and pacman / apt-get clients in temp roots.
#![allow(dead_code)]

use assert_cmd::Command;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command as Std;
use std::sync::OnceLock;

pub use ka_testkit::kbuild;
use kbuild::BuildDir;

pub fn run(cmd: &mut Std, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A GNUPGHOME of our own; its agent is stopped when dropped.
pub struct GpgHome {
    pub dir: PathBuf,
}

impl GpgHome {
    pub fn empty(dir: PathBuf) -> GpgHome {
        fs::create_dir_all(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
        GpgHome { dir }
    }

    /// A fresh ed25519 signing key without passphrase; returns its fingerprint.
    pub fn with_key(dir: PathBuf) -> (GpgHome, String) {
        let g = GpgHome::empty(dir);
        let params = g.dir.join("key-params");
        fs::write(
            &params,
            "%no-protection\nKey-Type: eddsa\nKey-Curve: ed25519\nKey-Usage: sign\n\
             Name-Real: kernel-agent test\nName-Email: test@kernel-agent.invalid\n\
             Expire-Date: 0\n%commit\n",
        )
        .unwrap();
        run(g.gpg().arg("--gen-key").arg(&params), "gpg --gen-key");
        let list = run(
            g.gpg().args(["--list-secret-keys", "--with-colons"]),
            "gpg --list-secret-keys",
        );
        let fpr = list
            .lines()
            .find_map(|l| l.strip_prefix("fpr:"))
            .map(|l| l.trim_matches(':').to_string())
            .expect("a fingerprint");
        (g, fpr)
    }

    pub fn gpg(&self) -> Std {
        let mut c = Std::new("gpg");
        c.arg("--batch").env("GNUPGHOME", &self.dir);
        c
    }

    /// The public key, binary (for apt's signed-by) or armored.
    pub fn export(&self, fpr: &str, to: &Path, armor: bool) {
        let mut c = self.gpg();
        if armor {
            c.arg("--armor");
        }
        c.arg("--output").arg(to).args(["--export", fpr]);
        run(&mut c, "gpg --export");
    }

    pub fn chown(&self, user: &str) {
        run(
            Std::new("chown")
                .arg("-R")
                .arg(format!("{user}:{user}"))
                .arg(&self.dir),
            "chown gnupghome",
        );
    }
}

impl Drop for GpgHome {
    fn drop(&mut self) {
        let _ = Std::new("gpgconf")
            .arg("--homedir")
            .arg(&self.dir)
            .args(["--kill", "all"])
            .output();
    }
}

/// The test packages, made once per test binary.
pub struct Packages {
    pub dir: PathBuf,
    /// linux-tiny 6.1-1 and 6.1-2 (x86_64), as makepkg named them.
    pub arch_v1: PathBuf,
    pub arch_v2: PathBuf,
    /// linux-image-tiny_6.1-1_amd64.deb
    pub deb: PathBuf,
}

pub fn packages() -> &'static Packages {
    static P: OnceLock<Packages> = OnceLock::new();
    P.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("ka-sign-packages-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let arch_v1 = makepkg(&dir, 1);
        let arch_v2 = makepkg(&dir, 2);
        let deb = dpkg_deb(&dir);
        Packages {
            dir,
            arch_v1,
            arch_v2,
            deb,
        }
    })
}

/// makepkg as kbuild (it refuses root), as on a build host.
fn makepkg(into: &Path, pkgrel: u32) -> PathBuf {
    let b = BuildDir::new();
    b.write(
        "PKGBUILD",
        &format!(
            "pkgname=linux-tiny\npkgver=6.1\npkgrel={pkgrel}\npkgdesc='kernel-agent test package'\n\
             arch=(x86_64)\nlicense=(GPL2)\n\
             package() {{\n\tinstall -d \"$pkgdir/boot\"\n\techo \"tiny $pkgver-$pkgrel\" >\"$pkgdir/boot/tiny\"\n}}\n"
        ),
    );
    let out = b.run(
        &["makepkg", "--nodeps", "--noconfirm", "--nocolor"],
        &[("PKGDEST", &format!("{}/out", b.dir.display()))],
    );
    assert!(
        out.status.success(),
        "makepkg: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // never assume PKGEXT: take what makepkg produced
    let made: Vec<PathBuf> = fs::read_dir(b.dir.join("out"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(made.len(), 1, "{made:?}");
    let to = into.join(made[0].file_name().unwrap());
    fs::copy(&made[0], &to).unwrap();
    to
}

fn dpkg_deb(into: &Path) -> PathBuf {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("deb");
    fs::create_dir_all(root.join("DEBIAN")).unwrap();
    fs::create_dir_all(root.join("boot")).unwrap();
    fs::write(
        root.join("DEBIAN/control"),
        "Package: linux-image-tiny\nVersion: 6.1-1\nArchitecture: amd64\n\
         Maintainer: kernel-agent <test@kernel-agent.invalid>\nDescription: kernel-agent test package\n",
    )
    .unwrap();
    fs::write(root.join("boot/tiny"), "tiny 6.1-1\n").unwrap();
    let to = into.join("linux-image-tiny_6.1-1_amd64.deb");
    run(
        Std::new("dpkg-deb")
            .args(["--root-owner-group", "-Zgzip", "--build"])
            .arg(&root)
            .arg(&to),
        "dpkg-deb",
    );
    to
}

/// A fleet with an arch host `tiny`, a debian host `tinydeb` and a local
/// sign host `signer`; KA_ROOT, HOME and the sign host's folders in one temp dir.
pub struct Case {
    pub tmp: tempfile::TempDir,
    pub root: PathBuf,
    pub repo: PathBuf,
    pub home: PathBuf,
    pub srv: PathBuf,
    pub gnupg: GpgHome,
    pub fpr: String,
}

impl Case {
    pub fn new() -> Case {
        let tmp = tempfile::tempdir().unwrap();
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let t = tmp.path().to_path_buf();
        let (gnupg, fpr) = GpgHome::with_key(t.join("gnupg"));
        let c = Case {
            root: t.join("root"),
            repo: t.join("repo"),
            home: t.join("home"),
            srv: t.join("srv"),
            gnupg,
            fpr,
            tmp,
        };
        fs::create_dir_all(c.repo.join("fleet")).unwrap();
        fs::create_dir_all(&c.home).unwrap();
        fs::create_dir_all(&c.srv).unwrap();
        for (host, distro) in [("tiny", "arch"), ("tinydeb", "debian")] {
            fs::write(
                c.repo.join(format!("fleet/{host}.yaml")),
                format!(
                    "host: {host}\nrole: dev\narch: x86_64\ndistro: {distro}\nkernel:\n  pkgbase: linux-{host}\n  suffix: {host}\n  baseline: {{ tarball: /nonexistent.tar.xz }}\n"
                ),
            )
            .unwrap();
        }
        c.sign_host(&c.local_sign());
        c
    }

    /// The `sign:` block of a local sign host using our key.
    pub fn local_sign(&self) -> String {
        format!(
            "sign:\n  local: true\n  key: {}\n  gnupghome: {}\n  staging: {}/staging\n  keep: 2\n  pacman: {{ name: ka, root: {}/arch }}\n  apt: {{ root: {}/debian, suite: ka }}\n",
            self.fpr,
            self.gnupg.dir.display(),
            self.srv.display(),
            self.srv.display(),
            self.srv.display()
        )
    }

    /// (Re)write fleet/signer.yaml with `rest` (a sign: block, maybe ssh:).
    pub fn sign_host(&self, rest: &str) {
        fs::write(
            self.repo.join("fleet/signer.yaml"),
            format!("host: signer\nrole: infra\narch: x86_64\ndistro: debian\n{rest}"),
        )
        .unwrap();
    }

    /// A build job of `host` with `files` in its output; `finished` orders jobs.
    pub fn job(&self, host: &str, id: &str, files: &[&Path], finished: &str, exit_code: i32) {
        let out = self.root.join("output").join(id);
        fs::create_dir_all(&out).unwrap();
        for f in files {
            fs::copy(f, out.join(f.file_name().unwrap())).unwrap();
        }
        fs::create_dir_all(self.root.join("jobs")).unwrap();
        fs::write(
            self.root.join(format!("jobs/{id}.json")),
            format!(
                r#"{{"kind":"ka.job-result","version":1,"id":"{id}","host":"local","argv":["makepkg"],"exit_code":{exit_code},"duration_ms":1,"stalled":false,"capped":false,"log":"/dev/null","finished_at":"{finished}","render":{{"host":"{host}","id":"0123456789abcdef"}}}}"#
            ),
        )
        .unwrap();
    }

    pub fn cmd(&self, bin: &str) -> Command {
        let mut c = Command::cargo_bin(bin).unwrap();
        c.env("KA_ROOT", &self.root)
            .env("KA_REPO", &self.repo)
            .env("HOME", &self.home)
            .env_remove("KA_CONFIG")
            .env_remove("KA_SSH_IDENTITY")
            .env_remove("GNUPGHOME");
        c
    }

    pub fn sign(&self, args: &[&str]) -> assert_cmd::assert::Assert {
        self.cmd("ka-sign").args(args).assert()
    }

    /// The pacman repository's live path.
    pub fn arch_repo(&self) -> PathBuf {
        self.srv.join("arch/x86_64")
    }

    pub fn apt_repo(&self) -> PathBuf {
        self.srv.join("debian")
    }
}

pub fn publish_doc(out: &[u8]) -> ka_schema::Publish {
    serde_json::from_slice(out)
        .unwrap_or_else(|e| panic!("not a ka.publish: {e}\n{}", String::from_utf8_lossy(out)))
}

/// Flip one byte in the middle of a file, writing a new file (the old one
/// may be hard-linked into older generations).
pub fn flip_byte(path: &Path) {
    let mut b = fs::read(path).unwrap();
    let i = b.len() / 2;
    b[i] ^= 0x01;
    let tmp = path.with_extension("tampered");
    fs::write(&tmp, &b).unwrap();
    fs::rename(&tmp, path).unwrap();
}

/// pacman in a temp root, trusting our key (pacman-key --add + --lsign-key).
pub struct Pacman {
    pub dir: PathBuf,
    gpg: GpgHome,
}

impl Pacman {
    pub fn new(dir: PathBuf, key: &GpgHome, fpr: &str, server: &str) -> Pacman {
        for d in ["root", "db", "cache"] {
            fs::create_dir_all(dir.join(d)).unwrap();
        }
        let gpg = GpgHome::empty(dir.join("gpg"));
        fs::write(
            dir.join("pacman.conf"),
            format!(
                "[options]\nArchitecture = x86_64\nSigLevel = Required DatabaseRequired\n\
                 LocalFileSigLevel = Required\n\n[ka]\nServer = {server}\n"
            ),
        )
        .unwrap();
        let public = dir.join("key.asc");
        key.export(fpr, &public, true);
        let key_cmd = |args: &[&str]| {
            let mut c = Std::new("pacman-key");
            c.arg("--gpgdir").arg(&gpg.dir).args(args);
            c
        };
        run(&mut key_cmd(&["--init"]), "pacman-key --init");
        run(key_cmd(&["--add"]).arg(&public), "pacman-key --add");
        run(
            &mut key_cmd(&["--lsign-key", fpr]),
            "pacman-key --lsign-key",
        );
        Pacman { dir, gpg }
    }

    pub fn cmd(&self, args: &[&str]) -> std::process::Output {
        Std::new("pacman")
            .arg("--noconfirm")
            .arg("--root")
            .arg(self.dir.join("root"))
            .arg("--dbpath")
            .arg(self.dir.join("db"))
            .arg("--cachedir")
            .arg(self.dir.join("cache"))
            .arg("--config")
            .arg(self.dir.join("pacman.conf"))
            .arg("--gpgdir")
            .arg(&self.gpg.dir)
            .args(args)
            .output()
            .unwrap()
    }

    /// Forget downloaded packages, so the next install fetches again.
    pub fn clear_cache(&self) {
        for e in fs::read_dir(self.dir.join("cache")).unwrap() {
            let _ = fs::remove_file(e.unwrap().path());
        }
    }
}

/// apt-get in a temp root whose one source is our repository, signed-by our key.
pub struct Apt {
    pub dir: PathBuf,
}

impl Apt {
    pub fn new(dir: PathBuf, key: &GpgHome, fpr: &str, repo: &Path) -> Apt {
        for d in [
            "etc/apt/trusted.gpg.d",
            "etc/apt/preferences.d",
            "etc/apt/apt.conf.d",
            "var/lib/apt/lists/partial",
            "var/cache/apt/archives/partial",
            "var/lib/dpkg",
        ] {
            fs::create_dir_all(dir.join(d)).unwrap();
        }
        fs::write(dir.join("var/lib/dpkg/status"), "").unwrap();
        let public = dir.join("key.gpg");
        key.export(fpr, &public, false);
        fs::write(
            dir.join("etc/apt/sources.list"),
            format!(
                "deb [signed-by={}] file:{} ka main\n",
                public.display(),
                repo.display()
            ),
        )
        .unwrap();
        Apt { dir }
    }

    fn base(&self, tool: &str) -> Std {
        let d = self.dir.display();
        let mut c = Std::new(tool);
        c.arg("-o")
            .arg(format!("Dir={d}"))
            .arg("-o")
            .arg(format!("Dir::State::status={d}/var/lib/dpkg/status"))
            // trust nothing but the source's signed-by key
            .arg("-o")
            .arg(format!("Dir::Etc::trusted={d}/etc/apt/none.gpg"))
            .arg("-o")
            .arg(format!("Dir::Etc::trustedparts={d}/etc/apt/trusted.gpg.d"))
            .args(["-o", "APT::Sandbox::User=root", "-o", "Debug::NoLocking=1"]);
        c
    }

    /// `apt-get update` from scratch (no lists kept from an earlier run).
    pub fn update(&self) -> std::process::Output {
        let lists = self.dir.join("var/lib/apt/lists");
        let _ = fs::remove_dir_all(&lists);
        fs::create_dir_all(lists.join("partial")).unwrap();
        self.base("apt-get").arg("update").output().unwrap()
    }

    pub fn show(&self, package: &str) -> std::process::Output {
        self.base("apt-cache")
            .args(["show", package])
            .output()
            .unwrap()
    }
}

pub fn text(out: &std::process::Output) -> String {
    format!(
        "{}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
