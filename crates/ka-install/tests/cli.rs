//! ka-install-run refusals and failures that need no VM: an unknown host,
//! nothing published, the gate, a bad signature, a stale plan hash, an
//! unreachable host, a changed host key, an ssh user that cannot become
//! root (against a real loopback sshd). Each says what is wrong, exits non-zero and changes
//! nothing (no backup, no block, no installed.json).

use ka_testkit::sshd;

use assert_cmd::Command;
use ka_schema::{BlockKind, Install, Status, Subject};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command as Std;

fn run(cmd: &mut Std, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

struct Gpg {
    dir: PathBuf,
    fpr: String,
}

impl Gpg {
    fn new(dir: PathBuf) -> Gpg {
        fs::create_dir_all(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
        let params = dir.join("params");
        fs::write(
            &params,
            "%no-protection\nKey-Type: eddsa\nKey-Curve: ed25519\nKey-Usage: sign\nName-Real: ka test\nName-Email: t@ka.invalid\nExpire-Date: 0\n%commit\n",
        )
        .unwrap();
        let mut g = Gpg {
            dir,
            fpr: String::new(),
        };
        run(g.gpg().arg("--gen-key").arg(&params), "gpg --gen-key");
        let list = run(
            g.gpg().args(["--list-secret-keys", "--with-colons"]),
            "list",
        );
        g.fpr = list
            .lines()
            .find_map(|l| l.strip_prefix("fpr:"))
            .map(|l| l.trim_matches(':').to_string())
            .unwrap();
        g
    }
    fn gpg(&self) -> Std {
        let mut c = Std::new("gpg");
        c.arg("--batch").env("GNUPGHOME", &self.dir);
        c
    }
    fn sign(&self, file: &Path) {
        let sig = format!("{}.sig", file.display());
        let _ = fs::remove_file(&sig);
        run(
            self.gpg()
                .args(["--detach-sign", "--no-armor", "-o", &sig])
                .arg(file),
            "sign",
        );
    }
    fn stop(&self) {
        let _ = Std::new("gpgconf")
            .args(["--kill", "all"])
            .env("GNUPGHOME", &self.dir)
            .status();
    }
}

struct Case {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    repo: PathBuf,
    home: PathBuf,
    pkg: PathBuf,
    fleet_key: Gpg,
    other_key: Gpg,
}

impl Drop for Case {
    fn drop(&mut self) {
        self.fleet_key.stop();
        self.other_key.stop();
    }
}

const PACKAGE: &str = "linux-image-6.1.158-tq";

impl Case {
    fn new() -> Case {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path().to_path_buf();
        let fleet_key = Gpg::new(t.join("gnupg"));
        let other_key = Gpg::new(t.join("other"));
        let c = Case {
            root: t.join("root"),
            repo: t.join("repo"),
            home: t.join("home"),
            pkg: t.join("srv").join(format!("{PACKAGE}_6.1.158-1_amd64.deb")),
            fleet_key,
            other_key,
            _tmp: tmp,
        };
        fs::create_dir_all(c.repo.join("fleet")).unwrap();
        fs::create_dir_all(&c.home).unwrap();
        fs::create_dir_all(c.pkg.parent().unwrap()).unwrap();
        // port 1 on loopback: nothing answers
        fs::write(
            c.repo.join("fleet/tq.yaml"),
            "host: tq\nrole: dev\narch: x86_64\ndistro: debian\nssh: { address: 127.0.0.1, port: 1, user: root }\nkernel:\n  pkgbase: linux-tq\n  suffix: tq\n  baseline: { tarball: /nonexistent.tar.xz }\ninstall: { mode: alongside, bootloader: extlinux, initramfs: none }\nverify: { heartbeat: 2s }\n",
        )
        .unwrap();
        fs::write(
            c.repo.join("fleet/signer.yaml"),
            format!(
                "host: signer\nrole: infra\narch: x86_64\ndistro: debian\nsign:\n  local: true\n  key: {}\n  gnupghome: {}\n  apt: {{ root: /nonexistent, suite: ka }}\n",
                c.fleet_key.fpr,
                c.fleet_key.dir.display()
            ),
        )
        .unwrap();
        run(
            c.fleet_key
                .gpg()
                .args(["--export", "-o"])
                .arg(c.repo.join("fleet/keyring.gpg"))
                .arg(&c.fleet_key.fpr),
            "export",
        );
        fs::write(&c.pkg, b"not really a deb, but signed bytes").unwrap();
        c.fleet_key.sign(&c.pkg);
        c.publish();
        c
    }

    fn publish(&self) {
        let bytes = fs::read(&self.pkg).unwrap();
        // a .deb is linux-image-<release>; anything else is tq's pacman package
        let (distro, package, arch) = if self.pkg.extension().is_some_and(|e| e == "deb") {
            ("debian", PACKAGE, "amd64")
        } else {
            ("arch", "linux-tq", "aarch64")
        };
        let doc = serde_json::json!({
            "kind": "ka.publish", "version": 1, "host": "tq", "job": "build-tq-1",
            "status": "done", "message": "published", "sign_host": "signer",
            "key": self.fleet_key.fpr,
            "repo": { "distro": distro, "arch": "x86_64", "path": "/nonexistent", "name": "ka" },
            "packages": [{
                "package": package, "version": "6.1.158-1", "arch": arch,
                "file": self.pkg, "signature": format!("{}.sig", self.pkg.display()),
                "size": bytes.len(), "b2sum": ka_core::hash::b2sum(&bytes), "kernel": true
            }],
            "published": [], "files": [], "blocks": [], "notices": []
        });
        let p = self.root.join("hosts/tq/published.json");
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    }

    fn cmd(&self, args: &[&str]) -> assert_cmd::assert::Assert {
        self.cmd_as(args, &self.repo.join("fleet/keyring.gpg"))
    }

    fn cmd_as(&self, args: &[&str], identity: &Path) -> assert_cmd::assert::Assert {
        Command::cargo_bin("ka-install-run")
            .unwrap()
            .args(args)
            .env("KA_ROOT", &self.root)
            .env("KA_REPO", &self.repo)
            .env("HOME", &self.home)
            .env("KA_SSH_IDENTITY", identity)
            .env_remove("KA_NOW")
            .assert()
    }

    /// Point tq at a real loopback sshd (its login user is not root).
    fn reach(&self, s: &sshd::Sshd) {
        let path = self.repo.join("fleet/tq.yaml");
        let m = fs::read_to_string(&path).unwrap().replace(
            "port: 1, user: root",
            &format!("port: {}, user: {}", s.port, s.user),
        );
        fs::write(path, m).unwrap();
        fs::copy(&s.known_hosts, self.repo.join("fleet/known_hosts")).unwrap();
    }

    fn open_blocks(&self) -> Vec<ka_schema::Block> {
        ka_block::store::Store::local(&ka_core::paths::Layout::new(self.root.clone()))
            .open_blocks()
            .unwrap()
    }

    fn doc(out: &[u8]) -> Install {
        serde_json::from_slice(out).unwrap()
    }

    /// Nothing an install writes exists.
    fn nothing_changed(&self) {
        assert!(!self.root.join("backups").exists(), "no backup");
        assert!(!self.root.join("hosts/tq/installed.json").exists());
        let leftovers: Vec<_> = fs::read_dir(self.root.join("hosts/tq"))
            .map(|d| d.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(
            leftovers
                .iter()
                .all(|n| !n.to_string_lossy().starts_with(".install-")),
            "no staging folder left: {leftovers:?}"
        );
        let store = ka_block::store::Store::local(&ka_core::paths::Layout::new(self.root.clone()));
        let open = store.open_blocks().unwrap_or_default();
        assert!(
            open.iter().all(|b| b.block != BlockKind::Regression),
            "no regression filed: {open:?}"
        );
    }

    fn plan_hash(&self) -> String {
        let out = self.cmd(&["--dry-run", "tq"]).success();
        Case::doc(&out.get_output().stdout).plan_hash
    }
}

#[test]
fn an_unknown_host_is_a_usage_error() {
    let c = Case::new();
    c.cmd(&["nosuch"])
        .code(2)
        .stderr(predicates::str::contains(format!(
            "ka-install-run: error: no host 'nosuch' in the fleet ({}/); hosts: ",
            c.repo.join("fleet").display()
        )));
    c.cmd(&["../tq"]).code(3);
    c.nothing_changed();
}

#[test]
fn nothing_published_is_a_usage_error() {
    let c = Case::new();
    fs::remove_file(c.root.join("hosts/tq/published.json")).unwrap();
    c.cmd(&["tq"]).code(2).stderr(
        predicates::str::contains("nothing published")
            .and(predicates::str::contains("ka-publish tq")),
    );
    c.nothing_changed();
}

#[test]
fn infra_and_the_gate_are_said_before_nothing_published() {
    let c = Case::new();
    fs::remove_file(c.root.join("hosts/tq/published.json")).unwrap();
    // an infra host without opt_in: its refusal, not "nothing published"
    let path = c.repo.join("fleet/tq.yaml");
    let dev = fs::read_to_string(&path).unwrap();
    fs::write(&path, dev.replace("role: dev", "role: infra")).unwrap();
    c.cmd(&["tq"]).code(1).stderr(
        "ka-install-run: error: fleet/tq.yaml: tq is an infra host; kernel-agent never targets infra hosts unless the manifest says opt_in: true\n",
    );
    fs::write(&path, &dev).unwrap();
    // a held host: the gate's refusal, not "nothing published"
    let store = ka_block::store::Store::local(&ka_core::paths::Layout::new(c.root.clone()));
    let b = store
        .file(
            BlockKind::HostDrifted,
            Subject::Host { host: "tq".into() },
            "tq: drifted",
            "by a test",
        )
        .unwrap();
    c.cmd(&["tq"]).code(1).stderr(format!(
        "ka-install-run: error: refused by the gate: {} [ka:host-drifted] holds installs to tq; nothing was changed\n",
        b.id
    ));
    c.nothing_changed();
}

use predicates::prelude::*;

#[test]
fn a_broken_published_json_is_bad_input() {
    let c = Case::new();
    fs::write(
        c.root.join("hosts/tq/published.json"),
        "{\"kind\": \"ka.publish\"",
    )
    .unwrap();
    c.cmd(&["tq"])
        .code(3)
        .stderr(predicates::str::contains("published.json"));
    c.nothing_changed();
}

#[test]
fn the_gate_refuses_while_drifted_or_regressed() {
    for kind in [BlockKind::HostDrifted, BlockKind::Regression] {
        let c = Case::new();
        let store = ka_block::store::Store::local(&ka_core::paths::Layout::new(c.root.clone()));
        let b = store
            .file(
                kind,
                Subject::Host { host: "tq".into() },
                "tq: held",
                "by a test",
            )
            .unwrap();
        let out = c.cmd(&["tq"]).code(1);
        let doc = Case::doc(&out.get_output().stdout);
        assert_eq!(doc.status, Status::Blocked);
        assert_eq!(doc.failed_phase.map(|p| p.as_str()), Some("gate"));
        assert_eq!(doc.blocks[0].id, b.id);
        assert!(doc.message.contains("nothing was changed"));
        assert!(!c.root.join("backups").exists());
        assert!(!c.root.join("hosts/tq/installs").exists());
        // a block on another host holds nothing here
        let c2 = Case::new();
        let store2 = ka_block::store::Store::local(&ka_core::paths::Layout::new(c2.root.clone()));
        store2
            .file(
                kind,
                Subject::Host {
                    host: "other".into(),
                },
                "other",
                "x",
            )
            .unwrap();
        c2.cmd(&["--dry-run", "tq"]).success();
    }
}

#[test]
fn a_stale_or_malformed_plan_hash_is_refused_and_changes_nothing() {
    let c = Case::new();
    let hash = c.plan_hash();
    assert_eq!(hash.len(), 16);
    // the package changes after the owner looked
    fs::write(&c.pkg, b"other bytes").unwrap();
    c.fleet_key.sign(&c.pkg);
    c.publish();
    assert_ne!(c.plan_hash(), hash, "the package digest is in the hash");
    let out = c.cmd(&["--plan", &hash, "tq"]).code(1);
    let doc = Case::doc(&out.get_output().stdout);
    assert_eq!(doc.status, Status::Blocked);
    assert!(doc.message.contains("does not match"), "{}", doc.message);
    assert!(doc.phases.iter().all(|p| p.phase == "gate"));
    c.nothing_changed();
    c.cmd(&["--plan", "xyz", "tq"])
        .code(2)
        .stderr(predicates::str::contains("16 hex digits"));
}

#[test]
fn the_plan_hash_covers_host_package_and_boot_change() {
    let a = ka_install::plan_hash("tq", "aa", "boot");
    assert_ne!(a, ka_install::plan_hash("tr", "aa", "boot"));
    assert_ne!(a, ka_install::plan_hash("tq", "ab", "boot"));
    assert_ne!(a, ka_install::plan_hash("tq", "aa", "boot2"));
    let c = Case::new();
    let out = c.cmd(&["--dry-run", "tq"]).success();
    let doc = Case::doc(&out.get_output().stdout);
    assert_eq!(doc.status, Status::DryRun);
    assert_eq!(doc.kernel_release, "6.1.158-tq");
    assert!(doc.boot_change.contains("DEFAULT linux-tq"));
    assert!(doc.message.contains("did not answer"), "{}", doc.message);
    assert_eq!(
        doc.plan_hash,
        ka_install::plan_hash("tq", &doc.b2sum, &doc.boot_change)
    );
    c.nothing_changed();
}

#[test]
fn a_signature_by_another_key_is_refused_before_the_host_is_contacted() {
    let c = Case::new();
    c.other_key.sign(&c.pkg);
    let out = c.cmd(&["tq"]).code(1);
    let doc = Case::doc(&out.get_output().stdout);
    assert_eq!(doc.status, Status::Blocked);
    assert_eq!(doc.failed_phase.map(|p| p.as_str()), Some("signature"));
    assert!(doc.message.contains("does not verify"), "{}", doc.message);
    assert!(!doc.phases.iter().any(|p| p.phase == "connect"));
    c.nothing_changed();
}

#[test]
fn a_package_that_is_not_the_published_one_is_refused() {
    let c = Case::new();
    fs::write(&c.pkg, b"replaced on the sign host").unwrap();
    let out = c.cmd(&["tq"]).code(1);
    let doc = Case::doc(&out.get_output().stdout);
    assert_eq!(doc.failed_phase.map(|p| p.as_str()), Some("fetch"));
    assert!(doc.message.contains("b2sum"), "{}", doc.message);
    c.nothing_changed();
}

#[test]
fn a_missing_keyring_is_named() {
    let c = Case::new();
    fs::remove_file(c.repo.join("fleet/keyring.gpg")).unwrap();
    let out = c.cmd(&["tq"]).code(1);
    let doc = Case::doc(&out.get_output().stdout);
    assert_eq!(doc.failed_phase.map(|p| p.as_str()), Some("signature"));
    assert!(doc.message.contains("gpg --export"), "{}", doc.message);
    c.nothing_changed();
}

#[test]
fn an_unreachable_host_fails_in_connect_and_files_nothing() {
    let c = Case::new();
    let out = c.cmd(&["tq"]).code(1);
    let doc = Case::doc(&out.get_output().stdout);
    assert_eq!(doc.status, Status::Failed);
    assert_eq!(doc.failed_phase.map(|p| p.as_str()), Some("connect"));
    let names: Vec<&str> = doc.phases.iter().map(|p| p.phase.as_str()).collect();
    assert_eq!(names, ["gate", "fetch", "signature", "connect"]);
    assert!(doc.phases.iter().take(3).all(|p| p.ok));
    assert!(doc.blocks.is_empty(), "the host was not touched");
    assert!(!c.root.join("backups").exists());
    // the attempt is recorded
    assert!(c.root.join("hosts/tq/installs").exists());
    assert!(!c.root.join("hosts/tq/installed.json").exists());
}

#[test]
fn a_changed_host_key_files_host_changed_and_changes_nothing() {
    let s = sshd::Sshd::start();
    let c = Case::new();
    c.reach(&s);
    let known = fs::read_to_string(&s.known_hosts).unwrap();
    s.rekey();
    fs::copy(&s.known_hosts, c.repo.join("fleet/known_hosts")).unwrap();
    let out = c.cmd_as(&["tq"], &s.identity).code(1);
    let doc = Case::doc(&out.get_output().stdout);
    assert_eq!(doc.status, Status::Failed);
    assert_eq!(doc.failed_phase.map(|p| p.as_str()), Some("connect"));
    assert!(doc.message.contains("host key"), "{}", doc.message);
    let kinds: Vec<BlockKind> = doc.blocks.iter().map(|b| b.block).collect();
    assert_eq!(kinds, [BlockKind::HostChanged]);
    let open = c.open_blocks();
    assert_eq!(open.len(), 1);
    assert!(
        open[0].detail.contains("fleet/known_hosts"),
        "{}",
        open[0].detail
    );
    c.nothing_changed();
    // the owner checked the key and restored the line: the next strict
    // connection lifts the block (and then the preflight refuses: below)
    fs::write(c.repo.join("fleet/known_hosts"), known).unwrap();
    let out = c.cmd_as(&["tq"], &s.identity).code(1);
    let doc = Case::doc(&out.get_output().stdout);
    assert_eq!(doc.lifted.len(), 1, "{doc:?}");
    assert_eq!(doc.lifted[0].block, BlockKind::HostChanged);
    assert!(c.open_blocks().is_empty());
}

#[test]
fn an_ssh_user_that_cannot_become_root_is_refused_in_preflight_and_nothing_changes() {
    let s = sshd::Sshd::start();
    assert_ne!(
        s.user, "root",
        "the loopback sshd logs in an unprivileged user"
    );
    let c = Case::new();
    c.reach(&s);
    let out = c.cmd_as(&["tq"], &s.identity).code(1);
    let doc = Case::doc(&out.get_output().stdout);
    assert_eq!(doc.status, Status::Failed);
    assert_eq!(doc.failed_phase.map(|p| p.as_str()), Some("preflight"));
    assert!(
        doc.message.contains("passwordless sudo") && doc.message.contains("nothing was changed"),
        "{}",
        doc.message
    );
    let names: Vec<&str> = doc.phases.iter().map(|p| p.phase.as_str()).collect();
    assert_eq!(
        names,
        [
            "gate",
            "fetch",
            "signature",
            "connect",
            "connect-facts",
            "preflight"
        ]
    );
    assert!(
        doc.blocks.is_empty(),
        "nothing was touched: {:?}",
        doc.blocks
    );
    assert!(c.open_blocks().is_empty());
    c.nothing_changed();
}

impl Case {
    /// tq copies over the LAN; the sign host gets `ssh` (None: none).
    fn lan(&self, sign_ssh: Option<&str>, copy_from: &str) {
        let path = self.repo.join("fleet/tq.yaml");
        let m = fs::read_to_string(&path).unwrap().replace(
            "initramfs: none }",
            &format!("initramfs: none, copy: lan{copy_from} }}"),
        );
        fs::write(&path, m).unwrap();
        if let Some(ssh) = sign_ssh {
            let path = self.repo.join("fleet/signer.yaml");
            let mut m = fs::read_to_string(&path).unwrap();
            m.push_str(&format!("ssh: {ssh}\n"));
            fs::write(path, m).unwrap();
        }
    }
}

#[test]
fn copy_lan_needs_the_sign_hosts_ssh_and_its_known_hosts_line() {
    let c = Case::new();
    c.lan(None, "");
    c.cmd(&["--dry-run", "tq"]).code(2).stderr(
        predicates::str::contains("install.copy: lan needs the sign host's ssh: section")
            .and(predicates::str::contains("fleet/signer.yaml")),
    );
    let c = Case::new();
    c.lan(Some("{ address: 127.0.0.1, port: 2222, user: ka }"), "");
    fs::write(c.repo.join("fleet/known_hosts"), "[127.0.0.1]:2223 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOsk2pZ+8bQ4Zbb0S4jv0Yzsq7GkC9bq4Rk7M8kYw2Vf\n").unwrap();
    c.cmd(&["--dry-run", "tq"])
        .code(2)
        .stderr(predicates::str::contains(
            "has no key for the sign host signer ([127.0.0.1]:2222)",
        ));
    fs::remove_file(c.repo.join("fleet/keyring.gpg")).unwrap();
    c.cmd(&["--dry-run", "tq"])
        .code(2)
        .stderr(predicates::str::contains(
            "gpg --export FPR > fleet/keyring.gpg",
        ));
    c.nothing_changed();
}

#[test]
fn copy_from_without_copy_lan_is_bad_input() {
    let c = Case::new();
    let path = c.repo.join("fleet/tq.yaml");
    let m = fs::read_to_string(&path).unwrap().replace(
        "initramfs: none }",
        "initramfs: none, copy_from: { address: 10.0.2.100 } }",
    );
    fs::write(&path, m).unwrap();
    c.cmd(&["--dry-run", "tq"])
        .code(3)
        .stderr(predicates::str::contains(
            "only used with install.copy: lan",
        ));
    c.nothing_changed();
}

#[test]
fn copy_lan_plans_and_skips_the_local_fetch() {
    let c = Case::new();
    c.lan(
        Some("{ address: 127.0.0.1, port: 2222, user: ka }"),
        ", copy_from: { address: 10.0.2.100, port: 22 }",
    );
    fs::write(c.repo.join("fleet/known_hosts"), "[127.0.0.1]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOsk2pZ+8bQ4Zbb0S4jv0Yzsq7GkC9bq4Rk7M8kYw2Vf\n").unwrap();
    c.cmd(&["--dry-run", "tq"])
        .success()
        .stdout(predicates::str::contains(
            "the host copies it from the sign host ka@10.0.2.100:22",
        ));
    // tq does not answer (port 1): the run stops in connect, and no fetch
    // or local signature phase ran before it
    let out = c.cmd(&["tq"]).code(1);
    let doc = Case::doc(&out.get_output().stdout);
    let names: Vec<&str> = doc.phases.iter().map(|p| p.phase.as_str()).collect();
    assert_eq!(names, ["gate", "connect"]);
    c.nothing_changed();
}

// ---------------------------------------------------------------- install.fdt

const DTB: &str = "rockchip/rk3399-pinebook-pro.dtb";

impl Case {
    /// tq becomes an aarch64 board of `distro` with install.fdt, and its
    /// published package a real one holding `dtbs` (paths below the dtbs
    /// folder), made by dpkg-deb or bsdtar and signed.
    fn board(&mut self, distro: &str, dtbs: &[&str]) {
        let path = self.repo.join("fleet/tq.yaml");
        let m = fs::read_to_string(&path)
            .unwrap()
            .replace(
                "arch: x86_64\ndistro: debian",
                &format!("arch: aarch64\ndistro: {distro}"),
            )
            .replace(
                "initramfs: none }",
                &format!("initramfs: none, fdt: {DTB} }}"),
            );
        fs::write(&path, m).unwrap();
        let tree = self.pkg.parent().unwrap().join("tree");
        let _ = fs::remove_dir_all(&tree);
        let dtb_dir = match distro {
            "debian" => tree.join("usr/lib/linux-image-6.1.158-tq"),
            _ => tree.join("boot/dtbs-tq"),
        };
        for d in dtbs {
            let f = dtb_dir.join(d);
            fs::create_dir_all(f.parent().unwrap()).unwrap();
            fs::write(f, b"\xd0\x0d\xfe\xed").unwrap();
        }
        let _ = fs::remove_file(&self.pkg);
        let _ = fs::remove_file(format!("{}.sig", self.pkg.display()));
        if distro == "debian" {
            fs::create_dir_all(tree.join("boot")).unwrap();
            fs::write(tree.join("boot/vmlinuz-6.1.158-tq"), b"kernel").unwrap();
            fs::create_dir_all(tree.join("DEBIAN")).unwrap();
            fs::write(
                tree.join("DEBIAN/control"),
                format!("Package: {PACKAGE}\nVersion: 6.1.158-1\nArchitecture: arm64\nMaintainer: t <t@ka.invalid>\nDescription: toy\n"),
            )
            .unwrap();
            run(
                Std::new("dpkg-deb")
                    .args(["--build", "--root-owner-group", "-Zgzip"])
                    .arg(&tree)
                    .arg(&self.pkg),
                "dpkg-deb --build",
            );
        } else {
            self.pkg = self
                .pkg
                .with_file_name("linux-tq-6.1.158-1-aarch64.pkg.tar.zst");
            fs::create_dir_all(tree.join("boot")).unwrap();
            fs::write(tree.join("boot/Image-tq"), b"kernel").unwrap();
            fs::write(
                tree.join(".PKGINFO"),
                "pkgname = linux-tq\npkgver = 6.1.158-1\n",
            )
            .unwrap();
            run(
                Std::new("bsdtar")
                    .args(["--zstd", "-cf"])
                    .arg(&self.pkg)
                    .arg("-C")
                    .arg(&tree)
                    .args([".PKGINFO", "boot"]),
                "bsdtar -c",
            );
        }
        self.fleet_key.sign(&self.pkg);
        self.publish();
    }
}

#[test]
fn a_package_without_the_install_fdt_device_tree_is_refused_before_the_host_is_contacted() {
    for (distro, member) in [
        ("debian", format!("usr/lib/linux-image-6.1.158-tq/{DTB}")),
        ("arch", format!("boot/dtbs-tq/{DTB}")),
    ] {
        let mut c = Case::new();
        c.board(distro, &["rockchip/rk3399-rockpro64.dtb"]);
        let out = c.cmd(&["tq"]).code(1);
        let doc = Case::doc(&out.get_output().stdout);
        assert_eq!(doc.status, Status::Blocked, "{distro}");
        assert_eq!(
            doc.failed_phase.map(|p| p.as_str()),
            Some("package"),
            "{distro}"
        );
        let names: Vec<&str> = doc.phases.iter().map(|p| p.phase.as_str()).collect();
        assert_eq!(names, ["gate", "fetch", "signature", "package"], "{distro}");
        for want in [
            format!("the package {} does not contain {member}", c.pkg.display()),
            format!("install.fdt: {DTB} in fleet/tq.yaml"),
            "nothing was changed, the host's boot entry is as it was".to_string(),
        ] {
            assert!(
                doc.message.contains(&want),
                "{distro}: {want}: {}",
                doc.message
            );
        }
        let stderr = String::from_utf8_lossy(&out.get_output().stderr);
        assert!(stderr.contains(&member), "{distro}: {stderr}");
        assert!(doc.blocks.is_empty());
        c.nothing_changed();
    }
}

#[test]
fn a_package_with_the_install_fdt_device_tree_goes_on_to_the_host() {
    for (distro, member) in [
        ("debian", format!("usr/lib/linux-image-6.1.158-tq/{DTB}")),
        ("arch", format!("boot/dtbs-tq/{DTB}")),
    ] {
        let mut c = Case::new();
        c.board(distro, &["rockchip/rk3399-rockpro64.dtb", DTB]);
        // tq does not answer (port 1): past the package check, stopped in connect
        let out = c.cmd(&["tq"]).code(1);
        let doc = Case::doc(&out.get_output().stdout);
        assert_eq!(
            doc.failed_phase.map(|p| p.as_str()),
            Some("connect"),
            "{distro}: {}",
            doc.message
        );
        let package = doc.phases.iter().find(|p| p.phase == "package").unwrap();
        assert!(package.ok);
        assert!(package.detail.contains(&member), "{}", package.detail);
        c.nothing_changed();
    }
}

#[test]
fn the_plan_and_the_dry_run_show_the_fdt_line() {
    let mut c = Case::new();
    let without = c.plan_hash();
    c.board("debian", &[DTB]);
    let out = c.cmd(&["--dry-run", "tq"]).success();
    let doc = Case::doc(&out.get_output().stdout);
    assert!(
        doc.boot_change.contains(&format!(
            "FDT dtbs-6.1.158-tq/{DTB} copied from /usr/lib/linux-image-6.1.158-tq/"
        )),
        "{}",
        doc.boot_change
    );
    assert!(
        doc.message.contains(&format!(
            "the entry will say FDT /boot/dtbs-6.1.158-tq/{DTB} (FDT /dtbs-6.1.158-tq/{DTB} when /boot is its own partition"
        )),
        "{}",
        doc.message
    );
    assert_ne!(doc.plan_hash, without, "the FDT line is in the plan");
    let mut c = Case::new();
    c.board("arch", &[DTB]);
    let out = c.cmd(&["--dry-run", "tq"]).success();
    let doc = Case::doc(&out.get_output().stdout);
    assert!(
        doc.boot_change.contains(&format!(
            "managed block linux-tq (FDT dtbs-tq/{DTB}) written by the package's hook"
        )),
        "{}",
        doc.boot_change
    );
    assert!(
        doc.message.contains(&format!("FDT /boot/dtbs-tq/{DTB}")),
        "{}",
        doc.message
    );
    c.nothing_changed();
}

#[test]
fn the_fdt_check_reads_dpkg_deb_and_bsdtar_listings() {
    use ka_schema::Distro;
    let plan = ka_install::FdtPlan {
        fdt: DTB.into(),
        manifest: "fleet/tq.yaml".into(),
        member: format!("usr/lib/linux-image-6.1.158-tq/{DTB}"),
        boot_path: format!("dtbs-6.1.158-tq/{DTB}"),
    };
    let deb = format!(
        "drwxr-xr-x root/root         0 2025-01-01 00:00 ./usr/lib/linux-image-6.1.158-tq/rockchip/\n-rw-r--r-- root/root     91234 2025-01-01 00:00 ./usr/lib/linux-image-6.1.158-tq/{DTB}\n"
    );
    assert!(ka_install::fdt_in_package(Distro::Debian, &deb, "/srv/p.deb", &plan).is_ok());
    let err = ka_install::fdt_in_package(Distro::Debian, "", "/srv/p.deb", &plan).unwrap_err();
    assert!(
        err.starts_with("the package /srv/p.deb does not contain usr/lib/"),
        "{err}"
    );
    // a directory of the same name, or the path in a symlink's target, is not the file
    let link = format!(
        "lrwxrwxrwx root/root 0 2025-01-01 00:00 ./usr/lib/x.dtb -> /usr/lib/linux-image-6.1.158-tq/{DTB}\n"
    );
    assert!(ka_install::fdt_in_package(Distro::Debian, &link, "p", &plan).is_err());
    let arch = ka_install::FdtPlan {
        member: format!("boot/dtbs-tq/{DTB}"),
        ..plan
    };
    let tar = format!(".PKGINFO\nboot/\nboot/dtbs-tq/\nboot/dtbs-tq/{DTB}\n");
    assert!(ka_install::fdt_in_package(Distro::Arch, &tar, "p", &arch).is_ok());
    let tar = format!("./boot/dtbs-tq/{DTB}\n");
    assert!(ka_install::fdt_in_package(Distro::Arch, &tar, "p", &arch).is_ok());
    assert!(ka_install::fdt_in_package(Distro::Arch, "boot/dtbs-tq/\n", "p", &arch).is_err());
    assert_eq!(
        arch.line("/boot"),
        format!("FDT /boot/dtbs-6.1.158-tq/{DTB}")
    );
}
