//! ka-render: the folder, its b2sums, the lessons of the first hand-made build,
//! the real makepkg and shellcheck on what is rendered, the extlinux script on
//! sample files, and refusals that write nothing.
//!
//! The baseline is a toy tree in a bare repository, pinned as ka-baseline pins;
//! its Makefile fakes the kernel targets the PKGBUILD and build.sh call, so the
//! whole packaging runs in seconds. No real kernel is built here.

use assert_cmd::Command;
use ka_core::hash::b2sum;
use ka_schema::BaselineSpec;
use ka_schema::{Artifact, Lock, LockedBaseline, LockedPatch, Render, V1};
use predicates::str::contains;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command as Std;

use ka_testkit::kbuild;
use kbuild::BuildDir;

const HOST: &str = "toy";
const PKGBASE: &str = "linux-toy";
const SUFFIX: &str = "toy-ka";

const TOY_MAKEFILE: &str = "\
# A toy kernel Makefile: the targets ka-render's packaging calls, nothing more.
VERSION = 6
PATCHLEVEL = 1
SUBLEVEL = 99
EXTRAVERSION =
KERNELRELEASE = $(VERSION).$(PATCHLEVEL).$(SUBLEVEL)$(EXTRAVERSION)$(LOCALVERSION)
BOOT = arch/$(ARCH)/boot

olddefconfig:
\ttest -f .config
kernelrelease:
\t@echo $(KERNELRELEASE)
Image bzImage:
\tmkdir -p $(BOOT) arch/$(ARCH)/kernel
\tcat hello.c drivers/toy/renamed.c > $(BOOT)/$@
\techo toy > System.map
\techo '/* offsets */' > arch/$(ARCH)/kernel/asm-offsets.s
dtbs:
\tmkdir -p $(BOOT)/dts/rockchip
\techo dtb > $(BOOT)/dts/rockchip/toy.dtb
dtbs_install:
\tmkdir -p $(INSTALL_DTBS_PATH)/rockchip
\tcp $(BOOT)/dts/rockchip/toy.dtb $(INSTALL_DTBS_PATH)/rockchip/
modules:
\techo mod > toy.ko
\techo > Module.symvers
modules_install:
\tmkdir -p $(INSTALL_MOD_PATH)/lib/modules/$(KERNELRELEASE)/kernel
\tcp toy.ko $(INSTALL_MOD_PATH)/lib/modules/$(KERNELRELEASE)/kernel/
\tln -sfn /nowhere $(INSTALL_MOD_PATH)/lib/modules/$(KERNELRELEASE)/build
bindeb-pkg:
\ttest -f .config
\ttest -f drivers/toy/renamed.c
\techo deb > ../linux-image-$(KERNELRELEASE)_$(KDEB_PKGVERSION)_amd64.deb
\techo deb > ../linux-headers-$(KERNELRELEASE)_$(KDEB_PKGVERSION)_amd64.deb
\techo deb > ../linux-libc-dev_$(KDEB_PKGVERSION)_amd64.deb
.PHONY: olddefconfig kernelrelease Image bzImage dtbs dtbs_install modules modules_install bindeb-pkg
";

/// Two patches concatenated: the second renames a file the first created,
/// which `git apply` cannot do in one input and patch(1) can.
const CUMULATIVE: &str = "\
From: Toy <toy@example.org>
Subject: [PATCH 1/2] toy: patch hello and add new.c

---
diff --git a/hello.c b/hello.c
--- a/hello.c
+++ b/hello.c
@@ -1 +1 @@
-int main(void) { return 0; }
+int main(void) { return 0; } /* patched */
diff --git a/drivers/toy/new.c b/drivers/toy/new.c
new file mode 100644
--- /dev/null
+++ b/drivers/toy/new.c
@@ -0,0 +1 @@
+/* new */
From: Toy <toy@example.org>
Subject: [PATCH 2/2] toy: rename new.c

diff --git a/drivers/toy/new.c b/drivers/toy/renamed.c
similarity index 100%
rename from drivers/toy/new.c
rename to drivers/toy/renamed.c
";

struct Case {
    tmp: tempfile::TempDir,
    root: PathBuf,
    repo: PathBuf,
    home: PathBuf,
    commit: String,
}

fn git(args: &[&str], env: &[(&str, &Path)]) -> String {
    let mut cmd = Std::new("git");
    cmd.env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "toy")
        .env("GIT_AUTHOR_EMAIL", "toy@example.org")
        .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
        .env("GIT_COMMITTER_NAME", "toy")
        .env("GIT_COMMITTER_EMAIL", "toy@example.org")
        .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z")
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn write(path: &Path, bytes: impl AsRef<[u8]>) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, bytes).unwrap();
}

impl Case {
    /// A KA_ROOT with the toy baseline pinned and a promoted lock, and a fleet
    /// repository holding `manifest` as fleet/toy.yaml.
    fn new(manifest: &str) -> Case {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        let repo = tmp.path().join("repo");
        let home = tmp.path().join("home");
        fs::create_dir_all(&home).unwrap();

        // the baseline
        let wt = tmp.path().join("wt");
        write(&wt.join("Makefile"), TOY_MAKEFILE);
        write(&wt.join("hello.c"), "int main(void) { return 0; }\n");
        write(&wt.join("Kconfig"), "mainmenu \"toy\"\n");
        write(&wt.join("kernel/Makefile"), "obj-y += toy.o\n");
        write(&wt.join("include/linux/toy.h"), "#define TOY 1\n");
        write(&wt.join("scripts/toy.sh"), "#!/bin/sh\n");
        for karch in ["arm64", "x86"] {
            write(&wt.join(format!("arch/{karch}/Makefile")), "# arch\n");
            write(&wt.join(format!("arch/{karch}/Kconfig")), "# kconfig\n");
            write(
                &wt.join(format!("arch/{karch}/include/asm/toy.h")),
                "#define ASM 1\n",
            );
        }
        let git_dir = root.join("baselines/toy.git");
        fs::create_dir_all(&git_dir).unwrap();
        git(&["init", "-q", "--bare", git_dir.to_str().unwrap()], &[]);
        let genv = [("GIT_DIR", git_dir.as_path()), ("GIT_WORK_TREE", &wt)];
        git(&["add", "-A"], &genv);
        git(&["commit", "-q", "-m", "toy baseline"], &genv);
        let commit = git(&["rev-parse", "HEAD"], &genv);
        git(
            &["update-ref", &format!("refs/ka/pinned/{commit}"), &commit],
            &genv,
        );
        // another baseline that does not pin it, to be skipped
        git(
            &[
                "init",
                "-q",
                "--bare",
                root.join("baselines/other.git").to_str().unwrap(),
            ],
            &[],
        );

        // the fleet repository
        write(&repo.join("fleet/toy.yaml"), manifest);
        write(&repo.join("fleet/config/toy.config"), "CONFIG_MODULES=y\n");
        let c = Case {
            tmp,
            root,
            repo,
            home,
            commit,
        };
        c.promote(CUMULATIVE.as_bytes());
        c
    }

    fn lock(&self, cumulative: &[u8]) -> Lock {
        let manifest = fs::read(self.repo.join("fleet/toy.yaml")).unwrap();
        Lock {
            kind: Default::default(),
            version: V1,
            host: HOST.into(),
            manifest: "fleet/toy.yaml".into(),
            manifest_b2sum: b2sum(&manifest),
            baseline: LockedBaseline {
                spec: BaselineSpec {
                    git: None,
                    git_ref: None,
                    tarball: Some("/usr/src/linux-source-6.1.tar.xz".into()),
                },
                commit: self.commit.clone(),
            },
            patches: vec![LockedPatch {
                path: "patches/board/toy/s/0001-toy.patch".into(),
                scope: "board/toy".into(),
                series: "board/toy/s".into(),
                campaign: "toy".into(),
                size: cumulative.len() as u64,
                b2sum: b2sum(cumulative),
            }],
            cumulative: Artifact {
                file: "cumulative.patch".into(),
                size: cumulative.len() as u64,
                b2sum: b2sum(cumulative),
            },
            config: self.config().map(|c| Artifact {
                file: "config".into(),
                size: c.len() as u64,
                b2sum: b2sum(&c),
            }),
        }
    }

    /// The checked config ka-promote would write beside the lock: here the
    /// manifest's config as it is (the kconfig check has its own tests).
    fn config(&self) -> Option<Vec<u8>> {
        fs::read(self.repo.join("fleet/config/toy.config")).ok()
    }

    /// Write a promotion as ka-concat does and point `promoted` at it.
    fn promote(&self, cumulative: &[u8]) -> String {
        let bytes = lock_bytes(&self.lock(cumulative));
        let id = b2sum(&bytes)[..16].to_string();
        let host = self.root.join("hosts").join(HOST);
        let dir = host.join("promotions").join(&id);
        write(&dir.join("manifest.lock"), &bytes);
        write(&dir.join("cumulative.patch"), cumulative);
        if let Some(config) = self.config() {
            fs::write(dir.join("config"), config).unwrap();
        }
        let link = host.join("promoted");
        let _ = fs::remove_file(&link);
        std::os::unix::fs::symlink(format!("promotions/{id}"), &link).unwrap();
        id
    }

    fn promoted(&self) -> PathBuf {
        self.root.join("hosts").join(HOST).join("promoted")
    }

    fn render_root(&self) -> PathBuf {
        self.root.join("hosts").join(HOST).join("render")
    }

    fn cmd(&self) -> Command {
        let mut c = Command::cargo_bin("ka-render").unwrap();
        c.env("KA_ROOT", &self.root)
            .env("KA_REPO", &self.repo)
            .env("HOME", &self.home)
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE");
        c
    }

    fn render(&self) -> Render {
        let out = self.cmd().arg(HOST).assert().success();
        parse_render(&out.get_output().stdout)
    }

    /// Nothing rendered (no render folder, no temp folder left behind).
    fn nothing_written(&self) {
        let r = self.render_root();
        if r.exists() {
            let names: Vec<_> = fs::read_dir(&r).unwrap().collect();
            assert!(names.is_empty(), "left in {}: {names:?}", r.display());
        }
    }
}

fn lock_bytes(lock: &Lock) -> Vec<u8> {
    let mut b = serde_json::to_vec_pretty(lock).unwrap();
    b.push(b'\n');
    b
}

fn parse_render(stdout: &[u8]) -> Render {
    let text = std::str::from_utf8(stdout).unwrap();
    assert_eq!(text.lines().count(), 1, "one document: {text}");
    serde_json::from_str(text).unwrap()
}

fn manifest(arch: &str, distro: &str, extra: &str) -> String {
    format!(
        "host: toy
role: dev
arch: {arch}
distro: {distro}
kernel:
  pkgbase: {PKGBASE}
  suffix: {SUFFIX}
  baseline: {{ tarball: /usr/src/linux-source-6.1.tar.xz }}
{extra}scopes: [board/toy]
"
    )
}

fn arm_manifest() -> String {
    manifest(
        "aarch64",
        "arch",
        "  config: fleet/config/toy.config\ninstall: { mode: alongside, bootloader: extlinux, initramfs: mkinitcpio }\n",
    )
}

fn x86_manifest() -> String {
    manifest(
        "x86_64",
        "arch",
        "  config: fleet/config/toy.config\ninstall: { mode: alongside, bootloader: grub, initramfs: mkinitcpio }\n",
    )
}

fn debian_manifest() -> String {
    manifest(
        "x86_64",
        "debian",
        "  config: fleet/config/toy.config\ninstall: { mode: alongside, bootloader: grub, initramfs: initramfs-tools }\n",
    )
}

fn coreutils_b2sum(path: &Path) -> String {
    let out = Std::new("b2sum").arg(path).output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn shellcheck(args: &[&str], file: &Path) {
    let out = Std::new("shellcheck")
        .args(args)
        .arg(file)
        .output()
        .expect("shellcheck is installed (scripts/debian-deps)");
    assert!(
        out.status.success(),
        "shellcheck {}:\n{}",
        file.display(),
        String::from_utf8_lossy(&out.stdout)
    );
}

// ---------------------------------------------------------------- the folder

#[test]
fn renders_arch_folder_with_b2sums_that_coreutils_agrees_with() {
    let c = Case::new(&arm_manifest());
    let r = c.render();
    let lock = fs::read(c.promoted().join("manifest.lock")).unwrap();
    let id = &b2sum(&lock)[..16];
    assert_eq!(r.dir, c.render_root().join(id));
    assert_eq!(r.lock_b2sum, b2sum(&lock));
    assert_eq!(r.host, HOST);
    assert_eq!(r.pkgbase, PKGBASE);
    let names: Vec<&str> = r.files.iter().map(|f| f.file.as_str()).collect();
    assert_eq!(
        names,
        [
            "60-linux-toy-extlinux-remove.hook",
            "60-linux-toy-initramfs-remove.hook",
            "90-linux-toy.hook",
            "91-linux-toy-extlinux.hook",
            "PKGBUILD",
            "cumulative.patch",
            "config",
            "ka-extlinux-linux-toy",
            "linux-toy.preset",
            "linux.tar",
            "manifest.lock",
        ]
        .iter()
        .copied()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect::<Vec<_>>()
    );
    // every file in the folder is named, with coreutils' digest and its size
    let on_disk = fs::read_dir(&r.dir).unwrap().count();
    assert_eq!(on_disk, r.files.len());
    for f in &r.files {
        let p = r.dir.join(&f.file);
        assert_eq!(coreutils_b2sum(&p), f.b2sum, "{}", f.file);
        assert_eq!(fs::metadata(&p).unwrap().len(), f.size, "{}", f.file);
    }
    assert_eq!(fs::read(r.dir.join("manifest.lock")).unwrap(), lock);
    assert_eq!(read(&r.dir.join("cumulative.patch")), CUMULATIVE);
    let exec = fs::metadata(r.dir.join("ka-extlinux-linux-toy"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(exec & 0o777, 0o755);
    // linux.tar is the pinned commit under linux/
    let list = Std::new("tar")
        .args(["-tf"])
        .arg(r.dir.join("linux.tar"))
        .output()
        .unwrap();
    let list = String::from_utf8(list.stdout).unwrap();
    assert!(list.lines().any(|l| l == "linux/Makefile"), "{list}");
    assert!(list.lines().all(|l| l.starts_with("linux/")), "{list}");
    // the PKGBUILD lists every source with its b2sum
    let pkgbuild = read(&r.dir.join("PKGBUILD"));
    for f in r.files.iter().filter(|f| f.file != "PKGBUILD") {
        assert!(
            pkgbuild.contains(&format!("  '{}'\n", f.file)),
            "{}",
            f.file
        );
        assert!(
            pkgbuild.contains(&format!("  '{}'\n", f.b2sum)),
            "{}",
            f.file
        );
    }
    // no temp folders left
    let left: Vec<_> = fs::read_dir(c.render_root()).unwrap().collect();
    assert_eq!(left.len(), 1);
}

#[test]
fn rendering_again_is_unchanged_and_stdin_gives_the_same_folder() {
    let c = Case::new(&arm_manifest());
    let first = c.render();
    let ino = |p: &Path| std::os::unix::fs::MetadataExt::ino(&fs::metadata(p).unwrap());
    let before = ino(&first.dir.join("PKGBUILD"));
    let second = c.render();
    assert_eq!(first, second);
    assert_eq!(ino(&second.dir.join("PKGBUILD")), before, "not rewritten");

    // the lock on stdin, compact: same id, same folder
    let lock: Lock =
        serde_json::from_slice(&fs::read(c.promoted().join("manifest.lock")).unwrap()).unwrap();
    let out = c
        .cmd()
        .args(["--lock", "-"])
        .write_stdin(serde_json::to_string(&lock).unwrap())
        .assert()
        .success();
    assert_eq!(parse_render(&out.get_output().stdout), first);

    // the config is the lock's: a promoted config changed after the
    // promote is refused, and the rendered folder stays
    fs::write(
        c.promoted().join("config"),
        "CONFIG_MODULES=y\nCONFIG_X=y\n",
    )
    .unwrap();
    c.cmd()
        .arg(HOST)
        .assert()
        .code(1)
        .stderr(contains("config: b2sum differs from the lock's"));
    assert_eq!(read(&first.dir.join("config")), "CONFIG_MODULES=y\n");
    assert_eq!(fs::read_dir(c.render_root()).unwrap().count(), 1);
}

#[test]
fn a_new_promotion_gets_the_next_pkgrel_and_the_same_one_keeps_its_own() {
    let c = Case::new(&arm_manifest());
    let pkgrel = |r: &Render| {
        read(&r.dir.join("PKGBUILD"))
            .lines()
            .find_map(|l| l.strip_prefix("pkgrel=").map(str::to_string))
            .unwrap()
    };
    let first = c.render();
    assert_eq!(pkgrel(&first), "1");
    // another cumulative on the same baseline: pacman must see an upgrade
    c.promote(b"");
    let second = c.render();
    assert_ne!(second.dir, first.dir);
    assert_eq!(pkgrel(&second), "2");
    // back to the first promotion: it keeps 1
    c.promote(&fs::read(first.dir.join("cumulative.patch")).unwrap());
    assert_eq!(pkgrel(&c.render()), "1");
    // a corrupt register is refused, not silently restarted
    fs::write(c.root.join("hosts").join(HOST).join("releases.json"), "{").unwrap();
    c.cmd()
        .arg(HOST)
        .assert()
        .code(3)
        .stderr(predicates::str::contains("releases.json"));
}

#[test]
fn the_baseline_is_archived_once_and_shared_by_every_render_on_it() {
    use std::os::unix::fs::MetadataExt;
    let c = Case::new(&arm_manifest());
    let first = c.render();
    c.promote(b"");
    let second = c.render();
    let archives = c.root.join("baselines/archives");
    let cached = archives.join(format!("{}.tar", c.commit));
    let inode = |p: &Path| fs::metadata(p).unwrap().ino();
    assert_eq!(inode(&first.dir.join("linux.tar")), inode(&cached));
    assert_eq!(inode(&second.dir.join("linux.tar")), inode(&cached));
    let tar = |r: &Render| {
        r.files
            .iter()
            .find(|f| f.file == "linux.tar")
            .unwrap()
            .clone()
    };
    assert_eq!(tar(&first), tar(&second));
    assert_eq!(tar(&first).b2sum, coreutils_b2sum(&cached));

    // a cache entry whose tarball lost bytes is archived again, not trusted
    fs::remove_dir_all(&second.dir).unwrap();
    let f = fs::OpenOptions::new().write(true).open(&cached).unwrap();
    f.set_len(10).unwrap();
    drop(f);
    let again = c.render();
    assert_eq!(tar(&again), tar(&first));
    assert_eq!(
        coreutils_b2sum(&again.dir.join("linux.tar")),
        tar(&first).b2sum
    );
    // and nothing but the tarball and its record is left in the cache
    let mut names: Vec<_> = fs::read_dir(&archives)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [format!("{}.json", c.commit), format!("{}.tar", c.commit)]
    );
}

#[test]
fn pkgbuild_bakes_in_the_lessons() {
    let c = Case::new(&arm_manifest());
    let r = c.render();
    let p = read(&r.dir.join("PKGBUILD"));
    assert!(p.contains("pkgbase='linux-toy'\n"), "{p}");
    assert!(p.contains("pkgname=('linux-toy' 'linux-toy-headers')\n"));
    assert!(p.contains("pkgver='6.1.99'\n"), "version from the Makefile");
    assert!(p.contains("pkgrel=1\n"));
    assert!(p.contains("arch=('aarch64')\n"));
    assert!(p.contains("_localversion='-toy-ka'\n"));
    assert!(p.contains("LOCALVERSION=\"$_localversion\""));
    // a real sequential patch, without fuzz, not git apply
    assert!(p.contains("patch -Np1 -F0 --no-backup-if-mismatch -i \"$srcdir/cumulative.patch\""));
    assert!(
        p.lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .all(|l| !l.contains("git apply"))
    );
    assert!(p.contains("_make olddefconfig"));
    assert!(p.contains("_make Image dtbs\n"));
    // alongside-install paths only
    assert!(p.contains("\"$pkgdir/boot/Image-toy-ka\""));
    assert!(p.contains("INSTALL_DTBS_PATH=\"$pkgdir/boot/dtbs-toy-ka\""));
    for line in p.lines().filter(|l| l.contains("$pkgdir/boot")) {
        assert!(line.contains("-toy-ka"), "unsuffixed /boot path: {line}");
    }
    // headers: usr/src made before ln -sr
    let mkdir = p
        .find("install -d \"$pkgdir/usr/src\"")
        .expect("install -d usr/src");
    let ln = p
        .find("ln -sr \"$builddir\" \"$pkgdir/usr/src/$pkgbase\"")
        .expect("ln -sr");
    assert!(mkdir < ln);
    // the hook that the stock mkinitcpio hook is not, and the preset
    let hook = read(&r.dir.join("90-linux-toy.hook"));
    assert!(hook.contains("Target = boot/Image-toy-ka\n"), "{hook}");
    assert!(hook.contains("Exec = /usr/bin/mkinitcpio -p linux-toy\n"));
    assert!(hook.contains("When = PostTransaction\n"));
    let preset = read(&r.dir.join("linux-toy.preset"));
    assert!(
        preset.contains("ALL_kver='/boot/Image-toy-ka'\n"),
        "{preset}"
    );
    assert!(preset.contains("default_image='/boot/initramfs-toy-ka.img'\n"));
    assert!(p.contains("\"$pkgdir/etc/mkinitcpio.d/linux-toy.preset\""));
    assert!(p.contains("\"$pkgdir/usr/share/libalpm/hooks/90-linux-toy.hook\""));
    let ext = read(&r.dir.join("91-linux-toy-extlinux.hook"));
    assert!(ext.contains("Target = boot/Image-toy-ka\n"));
    assert!(ext.contains("Exec = /usr/bin/ka-extlinux-linux-toy install\n"));
    let rm = read(&r.dir.join("60-linux-toy-extlinux-remove.hook"));
    assert!(rm.contains("Operation = Remove\n") && rm.contains("When = PreTransaction\n"));
    assert!(p.contains("\"$pkgdir/usr/bin/ka-extlinux-linux-toy\""));
}

#[test]
fn x86_renders_vmlinuz_and_no_dtbs_or_extlinux() {
    let c = Case::new(&x86_manifest());
    let r = c.render();
    let p = read(&r.dir.join("PKGBUILD"));
    assert!(p.contains("arch=('x86_64')\n"));
    assert!(p.contains("_karch='x86'\n"));
    assert!(p.contains("_make bzImage\n"));
    assert!(p.contains("install -Dm644 'arch/x86/boot/bzImage' \"$pkgdir/boot/vmlinuz-toy-ka\""));
    assert!(!p.contains("dtbs"));
    let preset = read(&r.dir.join("linux-toy.preset"));
    assert!(preset.contains("ALL_kver='/boot/vmlinuz-toy-ka'\n"));
    assert!(read(&r.dir.join("90-linux-toy.hook")).contains("Target = boot/vmlinuz-toy-ka\n"));
    assert!(!r.dir.join("ka-extlinux-linux-toy").exists(), "grub host");
}

#[test]
fn shellcheck_is_clean_on_everything_rendered() {
    let c = Case::new(&arm_manifest());
    let r = c.render();
    // PKGBUILD: makepkg assigns srcdir/pkgdir and reads pkgname & co.
    shellcheck(
        &["-s", "bash", "-e", "SC2034,SC2154"],
        &r.dir.join("PKGBUILD"),
    );
    shellcheck(&[], &r.dir.join("ka-extlinux-linux-toy"));
    shellcheck(&[], &r.dir.join("linux-toy.preset"));
    let d = Case::new(&debian_manifest());
    let r = d.render();
    shellcheck(&[], &r.dir.join("build.sh"));
}

// ---------------------------------------------------------------- makepkg

fn ok(out: &std::process::Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}: {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn makepkg_printsrcinfo_and_verifysource_accept_the_folder() {
    let c = Case::new(&arm_manifest());
    let r = c.render();
    let b = BuildDir::copy_of(&r.dir);
    let info = ok(
        &b.run(&["makepkg", "--printsrcinfo"], &[]),
        "makepkg --printsrcinfo",
    );
    assert!(info.contains("pkgbase = linux-toy\n"), "{info}");
    assert!(info.contains("\tpkgver = 6.1.99\n"));
    assert!(info.contains("pkgname = linux-toy\n"));
    assert!(info.contains("pkgname = linux-toy-headers\n"));
    let tar = r.files.iter().find(|f| f.file == "linux.tar").unwrap();
    assert!(
        info.contains(&format!("\tb2sums = {}\n", tar.b2sum)),
        "{info}"
    );
    ok(
        &b.run(
            &["makepkg", "--verifysource", "--ignorearch", "--nodeps"],
            &[],
        ),
        "makepkg --verifysource",
    );

    // a changed source fails verification
    fs::write(b.dir.join("config"), "CONFIG_EVIL=y\n").unwrap();
    let out = b.run(
        &["makepkg", "--verifysource", "--ignorearch", "--nodeps"],
        &[],
    );
    assert!(!out.status.success(), "a tampered source passed");
}

/// The whole PKGBUILD on the toy tree: prepare applies the cumulative (with a
/// rename of a file the same input created), build and both package functions
/// run, and the packages hold the alongside paths, hooks and the usr/src link.
#[test]
fn makepkg_builds_the_toy_packages_as_the_build_user() {
    let c = Case::new(&arm_manifest());
    let r = c.render();
    let b = BuildDir::copy_of(&r.dir);
    ok(
        &b.run(
            &[
                "makepkg",
                "--nodeps",
                "--noconfirm",
                "--ignorearch",
                "--noprogressbar",
            ],
            &[],
        ),
        "makepkg",
    );
    // never assume PKGEXT: read what makepkg produced
    let mut pkgs: Vec<PathBuf> = fs::read_dir(&b.dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .contains(".pkg.tar")
        })
        .collect();
    pkgs.sort();
    assert_eq!(pkgs.len(), 2, "{pkgs:?}");
    let list = |p: &Path| {
        let out = Std::new("bsdtar").arg("-tvf").arg(p).output().unwrap();
        ok(&out, "bsdtar")
    };
    let name = |p: &Path| p.file_name().unwrap().to_string_lossy().into_owned();
    let (headers, kernel) = if name(&pkgs[0]).starts_with("linux-toy-headers-") {
        (&pkgs[0], &pkgs[1])
    } else {
        (&pkgs[1], &pkgs[0])
    };
    assert!(
        name(kernel).starts_with("linux-toy-6.1.99-1-"), // CARCH is the build host's (--ignorearch)
        "{pkgs:?}"
    );
    let k = list(kernel);
    for entry in [
        " boot/Image-toy-ka\n",
        " boot/dtbs-toy-ka/rockchip/toy.dtb\n",
        " usr/lib/modules/6.1.99-toy-ka/kernel/toy.ko\n",
        " usr/lib/modules/6.1.99-toy-ka/pkgbase\n",
        " etc/mkinitcpio.d/linux-toy.preset\n",
        " usr/share/libalpm/hooks/90-linux-toy.hook\n",
        " usr/share/libalpm/hooks/91-linux-toy-extlinux.hook\n",
        " usr/bin/ka-extlinux-linux-toy\n",
        " usr/share/kernel-agent/linux-toy/manifest.lock\n",
    ] {
        assert!(k.contains(entry), "{entry:?} missing from\n{k}");
    }
    assert!(
        !k.contains("6.1.99-toy-ka/build"),
        "dangling build link shipped:\n{k}"
    );
    assert!(!k.contains(" boot/Image\n") && !k.contains(" boot/vmlinuz"));
    let h = list(headers);
    assert!(
        h.contains(" usr/src/linux-toy -> ../lib/modules/6.1.99-toy-ka/build\n"),
        "{h}"
    );
    assert!(h.contains(" usr/lib/modules/6.1.99-toy-ka/build/Module.symvers\n"));
    assert!(h.contains(" usr/lib/modules/6.1.99-toy-ka/build/arch/arm64/include/asm/toy.h\n"));
    // the image is the patched tree: hello.c patched, new.c renamed by the same input
    let image = Std::new("bsdtar")
        .args(["-xOf"])
        .arg(kernel)
        .arg("boot/Image-toy-ka")
        .output()
        .unwrap();
    assert_eq!(
        ok(&image, "bsdtar -x"),
        "int main(void) { return 0; } /* patched */\n/* new */\n"
    );
}

// ---------------------------------------------------------------- extlinux

const EXTLINUX: &str = "\
# U-Boot extlinux for toy
DEFAULT distro
MENU TITLE Boot menu
TIMEOUT 3

LABEL distro
\tMENU LABEL Distro kernel
\tLINUX /boot/Image
\tINITRD /boot/initramfs-linux.img
\tFDTDIR /boot/dtbs
\tAPPEND root=UUID=1234 rw console=ttyS2,1500000
";

const BLOCK: &str = "\
# >>> linux-toy (managed) >>>
LABEL linux-toy
\tMENU LABEL linux-toy (toy-ka)
\tLINUX /boot/Image-toy-ka
\tINITRD /boot/initramfs-toy-ka.img
\tFDTDIR /boot/dtbs-toy-ka
\tAPPEND root=UUID=1234 rw console=ttyS2,1500000
# <<< linux-toy (managed) <<<
";

fn extlinux(script: &Path, action: &str, conf: &Path) -> std::process::Output {
    Std::new("bash")
        .arg(script)
        .arg(action)
        .arg(conf)
        .output()
        .unwrap()
}

#[test]
fn extlinux_script_is_idempotent_and_leaves_the_rest_alone() {
    let c = Case::new(&arm_manifest());
    let r = c.render();
    let script = r.dir.join("ka-extlinux-linux-toy");
    let conf = c.tmp.path().join("extlinux.conf");
    fs::write(&conf, EXTLINUX).unwrap();

    ok(&extlinux(&script, "install", &conf), "install");
    assert_eq!(read(&conf), format!("{EXTLINUX}{BLOCK}"));
    let ino = |p: &Path| std::os::unix::fs::MetadataExt::ino(&fs::metadata(p).unwrap());
    let before = ino(&conf);
    ok(&extlinux(&script, "install", &conf), "install again");
    assert_eq!(read(&conf), format!("{EXTLINUX}{BLOCK}"));
    assert_eq!(ino(&conf), before, "an unchanged file is not rewritten");

    ok(&extlinux(&script, "remove", &conf), "remove");
    assert_eq!(read(&conf), EXTLINUX);
    ok(&extlinux(&script, "remove", &conf), "remove again");
    assert_eq!(read(&conf), EXTLINUX);

    // a stale block in the middle is refreshed in place; the entries after it,
    // and a last line without a newline, stay byte for byte
    let stale = BLOCK.replace("Image-toy-ka", "Image-old");
    let after = "\nLABEL rescue\n\tLINUX /boot/Image-rescue\n\tAPPEND quiet";
    fs::write(&conf, format!("{EXTLINUX}{stale}{after}")).unwrap();
    ok(&extlinux(&script, "install", &conf), "refresh");
    assert_eq!(read(&conf), format!("{EXTLINUX}{BLOCK}{after}"));
    ok(
        &extlinux(&script, "remove", &conf),
        "remove from the middle",
    );
    assert_eq!(read(&conf), format!("{EXTLINUX}{after}"));
}

#[test]
fn extlinux_script_follows_the_file_and_refuses_broken_markers() {
    let c = Case::new(&arm_manifest());
    let r = c.render();
    let script = r.dir.join("ka-extlinux-linux-toy");
    let conf = c.tmp.path().join("extlinux.conf");

    // /boot as its own partition: paths without /boot; APPEND of the DEFAULT entry
    let own = "DEFAULT b\nLABEL a\n  KERNEL /Image\n  APPEND a=1\nLABEL b\n  LINUX /Image\n  APPEND root=/dev/mmcblk0p2\n";
    fs::write(&conf, own).unwrap();
    ok(&extlinux(&script, "install", &conf), "install");
    let text = read(&conf);
    assert!(text.starts_with(own));
    assert!(text.contains("\tLINUX /Image-toy-ka\n\tINITRD /initramfs-toy-ka.img\n\tFDTDIR /dtbs-toy-ka\n\tAPPEND root=/dev/mmcblk0p2\n"), "{text}");

    // broken markers: exit 1, file unchanged
    let broken = format!("{EXTLINUX}# >>> linux-toy (managed) >>>\nLABEL linux-toy\n");
    fs::write(&conf, &broken).unwrap();
    let out = extlinux(&script, "install", &conf);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("markers"));
    assert_eq!(read(&conf), broken);

    // no extlinux.conf: install refuses to create one, remove has nothing to do
    let missing = c.tmp.path().join("none/extlinux.conf");
    let out = extlinux(&script, "install", &missing);
    assert_eq!(out.status.code(), Some(1));
    assert!(!missing.exists());
    ok(
        &extlinux(&script, "remove", &missing),
        "remove without a file",
    );
    assert_eq!(
        extlinux(&script, "frobnicate", &conf).status.code(),
        Some(1)
    );
}

#[test]
fn extlinux_script_writes_fdt_for_install_fdt_and_is_idempotent() {
    let m = arm_manifest().replace(
        "initramfs: mkinitcpio }",
        "initramfs: mkinitcpio, fdt: rockchip/rk3399-pinebook-pro.dtb }",
    );
    let c = Case::new(&m);
    let r = c.render();
    let script = r.dir.join("ka-extlinux-linux-toy");
    assert!(read(&script).contains("\nfdt='rockchip/rk3399-pinebook-pro.dtb'\n"));
    shellcheck(&[], &script);
    let conf = c.tmp.path().join("extlinux.conf");
    fs::write(&conf, EXTLINUX).unwrap();
    let block = BLOCK.replace(
        "\tFDTDIR /boot/dtbs-toy-ka\n",
        "\tFDT /boot/dtbs-toy-ka/rockchip/rk3399-pinebook-pro.dtb\n",
    );
    ok(&extlinux(&script, "install", &conf), "install");
    assert_eq!(read(&conf), format!("{EXTLINUX}{block}"));
    ok(&extlinux(&script, "install", &conf), "install again");
    assert_eq!(read(&conf), format!("{EXTLINUX}{block}"));
    // a block written before install.fdt was set (FDTDIR) is refreshed in place
    fs::write(&conf, format!("{EXTLINUX}{BLOCK}")).unwrap();
    ok(&extlinux(&script, "install", &conf), "refresh");
    assert_eq!(read(&conf), format!("{EXTLINUX}{block}"));
    // /boot as its own partition: the path without /boot
    let own = "DEFAULT b\nLABEL b\n  LINUX /Image\n  APPEND root=/dev/mmcblk0p2\n";
    fs::write(&conf, own).unwrap();
    ok(&extlinux(&script, "install", &conf), "install");
    assert!(
        read(&conf).contains("\tFDT /dtbs-toy-ka/rockchip/rk3399-pinebook-pro.dtb\n\tAPPEND"),
        "{}",
        read(&conf)
    );
    ok(&extlinux(&script, "remove", &conf), "remove");
    assert_eq!(read(&conf), own);
}

#[test]
fn refuses_install_fdt_on_an_x86_host_naming_the_line() {
    let m = manifest(
        "x86_64",
        "arch",
        "  config: fleet/config/toy.config\ninstall:\n  mode: alongside\n  bootloader: extlinux\n  initramfs: mkinitcpio\n  fdt: rockchip/rk3399-pinebook-pro.dtb\n",
    );
    let c = Case::new(&m);
    c.cmd()
        .arg(HOST)
        .assert()
        .code(3)
        .stderr(contains(
            "fleet/toy.yaml:14: install.fdt \"rockchip/rk3399-pinebook-pro.dtb\" is set on an x86_64 host",
        ));
    c.nothing_written();
}

// ---------------------------------------------------------------- debian

#[test]
fn debian_folder_builds_debs_with_bindeb_pkg() {
    let c = Case::new(&debian_manifest());
    let r = c.render();
    let names: Vec<&str> = r.files.iter().map(|f| f.file.as_str()).collect();
    assert_eq!(
        names,
        [
            "b2sums",
            "build.sh",
            "config",
            "cumulative.patch",
            "linux.tar",
            "manifest.lock"
        ]
    );
    let sh = read(&r.dir.join("build.sh"));
    assert!(sh.starts_with("#!/bin/bash\n"));
    assert!(sh.contains("set -euo pipefail\n"));
    assert!(sh.contains("patch -Np1 -F0 --no-backup-if-mismatch -i \"$here/cumulative.patch\""));
    assert!(sh.contains("localversion='-toy-ka'\n"));
    assert!(sh.contains("bindeb-pkg"));
    assert!(sh.contains("KDEB_PKGVERSION='6.1.99-1'"));
    assert_eq!(
        fs::metadata(r.dir.join("build.sh"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o755
    );
    // the b2sums file checks with coreutils
    let st = Std::new("b2sum")
        .args(["--check", "--strict", "--quiet", "b2sums"])
        .current_dir(&r.dir)
        .status()
        .unwrap();
    assert!(st.success());
    // run it (toy Makefile) in a copy, as the build user
    let b = BuildDir::copy_of(&r.dir);
    let out = ok(&b.run(&["./build.sh"], &[]), "build.sh");
    assert!(
        out.contains("/out/linux-image-6.1.99-toy-ka_6.1.99-1_amd64.deb"),
        "{out}"
    );
    assert!(
        b.dir
            .join("out/linux-headers-6.1.99-toy-ka_6.1.99-1_amd64.deb")
            .exists()
    );
    // the shared userspace headers stay behind: only the kernel's packages
    assert!(!b.dir.join("out/linux-libc-dev_6.1.99-1_amd64.deb").exists());
    // a tampered source stops it before anything is built
    fs::write(b.dir.join("cumulative.patch"), "x").unwrap();
    let out = b.run(&["./build.sh"], &[]);
    assert!(!out.status.success());
}

// ---------------------------------------------------------------- refusals

#[test]
fn refuses_a_host_without_a_promoted_lock() {
    let c = Case::new(&arm_manifest());
    fs::remove_file(c.promoted()).unwrap();
    c.cmd()
        .arg(HOST)
        .assert()
        .code(1)
        .stderr(contains("no promoted lock; run ka-promote toy first"));
    c.nothing_written();
}

#[test]
fn refuses_a_tampered_cumulative() {
    let c = Case::new(&arm_manifest());
    let p = c.promoted().join("cumulative.patch");
    fs::write(&p, CUMULATIVE.replace("patched", "evil")).unwrap();
    c.cmd()
        .arg(HOST)
        .assert()
        .code(1)
        .stderr(contains("cumulative.patch: b2sum"))
        .stderr(contains("run ka-promote toy again"));
    c.nothing_written();
}

#[test]
fn refuses_a_manifest_changed_since_promote() {
    let c = Case::new(&arm_manifest());
    let m = c.repo.join("fleet/toy.yaml");
    fs::write(&m, format!("{}# edited\n", read(&m))).unwrap();
    c.cmd()
        .arg(HOST)
        .assert()
        .code(1)
        .stderr(contains("fleet/toy.yaml: changed since it was promoted"))
        .stderr(contains("ka-promote toy again"));
    c.nothing_written();
}

#[test]
fn refuses_a_missing_config() {
    // the manifest names no config
    let c = Case::new(&manifest(
        "aarch64",
        "arch",
        "install: { mode: alongside, bootloader: extlinux, initramfs: mkinitcpio }\n",
    ));
    fs::remove_file(c.repo.join("fleet/config/toy.config")).unwrap();
    c.promote(CUMULATIVE.as_bytes());
    c.cmd().arg(HOST).assert().code(1).stderr(contains(
        "the lock of toy has no checked kernel config (it was promoted without one)",
    ));
    c.nothing_written();
    // the lock names a checked config that is not beside it
    let c = Case::new(&arm_manifest());
    fs::remove_file(c.promoted().join("config")).unwrap();
    c.cmd().arg(HOST).assert().code(1).stderr(contains(
        "config: the checked config of the lock is missing; run ka-promote toy again",
    ));
    c.nothing_written();
}

#[test]
fn refuses_the_wrong_document_on_stdin() {
    let c = Case::new(&arm_manifest());
    c.cmd()
        .args(["--lock", "-"])
        .write_stdin(r#"{"kind":"ka.plan","version":1}"#)
        .assert()
        .code(3)
        .stderr(contains("stdin: document 1"));
    c.cmd()
        .args(["--lock", "-"])
        .write_stdin("")
        .assert()
        .code(3)
        .stderr(contains("stdin: empty"));
    // a lock for another host than the one named
    let lock = read(&c.promoted().join("manifest.lock"));
    write(
        &c.repo.join("fleet/fresnel.yaml"),
        arm_manifest().replace("host: toy", "host: fresnel"),
    );
    c.cmd()
        .args(["--lock", "-", "fresnel"])
        .write_stdin(lock)
        .assert()
        .code(3)
        .stderr(contains("the lock is for host \"toy\", not \"fresnel\""));
    c.nothing_written();
}

#[test]
fn refuses_a_host_without_kernel_section() {
    let c = Case::new("host: toy\nrole: dev\narch: aarch64\ndistro: arch\n");
    c.cmd()
        .arg(HOST)
        .assert()
        .code(1)
        .stderr(contains("host toy has no kernel: section"));
    c.nothing_written();
}

#[test]
fn refuses_an_unpinned_baseline_and_replace_mode() {
    let c = Case::new(&arm_manifest());
    fs::remove_dir_all(c.root.join("baselines/toy.git")).unwrap();
    c.cmd()
        .arg(HOST)
        .assert()
        .code(1)
        .stderr(contains("is pinned in no repository"));
    c.nothing_written();

    let c = Case::new(&manifest(
        "aarch64",
        "arch",
        "  config: fleet/config/toy.config\ninstall: { mode: replace, bootloader: extlinux, initramfs: mkinitcpio }\n",
    ));
    c.cmd()
        .arg(HOST)
        .assert()
        .code(1)
        .stderr(contains("install.mode replace is not supported"));
    c.nothing_written();
}

#[test]
fn usage_and_help() {
    let c = Case::new(&arm_manifest());
    c.cmd()
        .assert()
        .code(2)
        .stderr(contains("name a HOST, or give the lock with --lock FILE"));
    c.cmd().arg("-rf").assert().code(2);
    c.cmd()
        .arg("--help")
        .assert()
        .success()
        .stdout(contains("makepkg --nodeps --noconfirm"))
        .stdout(contains("Exit codes"));
    // KA_ROOT inside HOME is refused (hard rule)
    c.cmd()
        .env("HOME", c.tmp.path())
        .arg(HOST)
        .assert()
        .code(2)
        .stderr(contains("inside $HOME"));
}

#[test]
fn an_unknown_host_is_named_with_the_fleet_before_any_missing_lock() {
    let c = Case::new(&arm_manifest());
    c.cmd().arg("toyy").assert().code(2).stderr(format!(
        "ka-render: error: no host 'toyy' in the fleet ({}/); hosts: toy\n",
        c.repo.join("fleet").display()
    ));
    c.nothing_written();
}

#[test]
fn the_gate_and_infra_refusals_come_before_no_promoted_lock() {
    let c = Case::new(&arm_manifest());
    fs::remove_file(c.promoted()).unwrap();
    c.cmd().arg(HOST).assert().code(1).stderr(contains(
        "toy has no promoted lock; run ka-promote toy first",
    ));
    // an infra host without opt_in: refused as such, lock or not
    let infra = arm_manifest().replace("role: dev", "role: infra");
    write(&c.repo.join("fleet/toy.yaml"), &infra);
    c.cmd().arg(HOST).assert().code(1).stderr(contains(
        "fleet/toy.yaml: toy is an infra host; kernel-agent never targets infra hosts unless the manifest says opt_in: true",
    ));
    write(&c.repo.join("fleet/toy.yaml"), arm_manifest());
    // [ka:signing-fail] halts every build: it is said, not the missing lock
    let store = ka_block::store::Store::local(&ka_core::paths::Layout::new(c.root.clone()));
    let b = store
        .file(
            ka_schema::BlockKind::SigningFail,
            ka_schema::Subject::Global,
            "key expired",
            "by a test",
        )
        .unwrap();
    let out = c.cmd().arg(HOST).assert().code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.starts_with(&format!(
            "ka-render: error: refused by the gate: {} [ka:signing-fail] holds builds of toy;",
            b.id
        )),
        "{err}"
    );
    assert!(!err.contains("promoted lock"), "{err}");
    c.nothing_written();

    // a build is halted when every build host it may be routed to is
    let c = Case::new(&format!(
        "{}build: {{ host: bh, fallback: [bh2] }}\n",
        arm_manifest()
    ));
    fs::remove_file(c.promoted()).unwrap();
    let store = ka_block::store::Store::local(&ka_core::paths::Layout::new(c.root.clone()));
    let fail = |host: &str| {
        store
            .file(
                ka_schema::BlockKind::BuildFail,
                ka_schema::Subject::BuildHost { host: host.into() },
                "build failed",
                "by a test",
            )
            .unwrap()
    };
    let b1 = fail("bh");
    c.cmd()
        .arg(HOST)
        .assert()
        .code(1)
        .stderr(contains("run ka-promote toy first"));
    let b2 = fail("bh2");
    c.cmd().arg(HOST).assert().code(1).stderr(contains(format!(
        "refused by the gate: {} [ka:build-fail], {} [ka:build-fail] hold builds of toy",
        b1.id, b2.id
    )));
}
