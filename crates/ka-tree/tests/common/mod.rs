//! A small fleet repository in a temp folder: two hosts, three series, a toy
//! baseline tarball, a private KA_ROOT and HOME.
#![allow(dead_code)]

use assert_cmd::Command;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use tempfile::TempDir;

pub struct Fleet {
    pub tmp: TempDir,
}

/// Line `n` of a toy baseline file.
pub fn base_line(file: &str, n: usize) -> String {
    if file.ends_with(".dts") {
        format!("node {n};")
    } else {
        format!("line {n}")
    }
}

/// A unified diff replacing line `line` of `file` by `new`, one line of context.
pub fn change(file: &str, line: usize, new: &str) -> String {
    format!(
        "--- a/{file}\n+++ b/{file}\n@@ -{s},3 +{s},3 @@\n {}\n-{}\n+{new}\n {}\n",
        base_line(file, line - 1),
        base_line(file, line),
        base_line(file, line + 1),
        s = line - 1
    )
}

/// The same as a `git format-patch` mail.
pub fn mail(file: &str, line: usize, new: &str, subject: &str, body: &str) -> String {
    format!(
        "From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\nFrom: Example <example@kernel-agent.invalid>\nDate: Thu, 4 Jan 2024 10:00:00 +0000\nSubject: [PATCH] {subject}\n\n{body}---\n {file} | 2 +-\n\ndiff --git a/{file} b/{file}\n{}-- \n2.39.5\n\n",
        change(file, line, new)
    )
}

pub const ALPHA: &str = "\
# alpha: the board, plus the wifi fix by name
host: alpha
role: dev
arch: aarch64
distro: arch
kernel:
  pkgbase: linux-alpha
  suffix: alpha
  baseline: { tarball: TARBALL }
scopes: [board/one]   # the board
include: [driver/wifi/fix]  # needed for the extra series
exclude: []
";

pub const BETA: &str = "\
host: beta
role: dev
arch: aarch64
distro: arch
kernel:
  pkgbase: linux-beta
  suffix: beta
  baseline: { tarball: TARBALL }
scopes:
  - board/one
  # wifi by scope
  - driver/wifi
include: []
exclude:
  - board/one/extra   # not on beta
";

impl Fleet {
    pub fn new() -> Fleet {
        let f = Fleet {
            tmp: tempfile::tempdir().unwrap(),
        };
        for d in [
            "repo/fleet",
            "repo/patches",
            "home",
            "root",
            "src/linux-toy/drivers/net",
            "src/linux-toy/arch/arm64/boot/dts",
        ] {
            fs::create_dir_all(f.tmp.path().join(d)).unwrap();
        }
        let wifi: String = (1..=30).map(|n| format!("line {n}\n")).collect();
        let dts: String = (1..=20).map(|n| format!("node {n};\n")).collect();
        fs::write(f.tmp.path().join("src/linux-toy/drivers/net/wifi.c"), wifi).unwrap();
        fs::write(
            f.tmp
                .path()
                .join("src/linux-toy/arch/arm64/boot/dts/board.dts"),
            dts,
        )
        .unwrap();
        let st = std::process::Command::new("tar")
            .arg("-cJf")
            .arg(f.tmp.path().join("linux-toy.tar.xz"))
            .arg("-C")
            .arg(f.tmp.path().join("src"))
            .arg("linux-toy")
            .status()
            .unwrap();
        assert!(st.success());
        let tarball = f.tmp.path().join("linux-toy.tar.xz");
        let t = tarball.to_str().unwrap();
        f.write("fleet/alpha.yaml", &ALPHA.replace("TARBALL", t));
        f.write("fleet/beta.yaml", &BETA.replace("TARBALL", t));
        f.series(
            "board/one/base",
            "bringup",
            "",
            &[(
                "0001-dts.patch",
                change("arch/arm64/boot/dts/board.dts", 5, "node five;"),
            )],
        );
        f.series(
            "driver/wifi/fix",
            "wifi",
            "origin: \"wifi#1\"\n",
            &[(
                "0001-wifi.patch",
                change("drivers/net/wifi.c", 10, "line ten"),
            )],
        );
        f.series(
            "board/one/extra",
            "extra",
            "# must follow the wifi fix\nafter: [driver/wifi/fix]\n",
            &[(
                "0001-extra.patch",
                change("drivers/net/wifi.c", 20, "line twenty"),
            )],
        );
        f
    }

    pub fn repo(&self) -> PathBuf {
        self.tmp.path().join("repo")
    }

    pub fn write(&self, rel: &str, text: &str) {
        let p = self.repo().join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    pub fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.repo().join(rel)).unwrap()
    }

    pub fn exists(&self, rel: &str) -> bool {
        self.repo().join(rel).exists()
    }

    pub fn series(&self, reference: &str, campaign: &str, extra: &str, patches: &[(&str, String)]) {
        let scope = reference.rsplit_once('/').unwrap().0;
        self.write(
            &format!("patches/{reference}/series.yaml"),
            &format!("scope: {scope}\ncampaign: {campaign}\n{extra}"),
        );
        for (name, text) in patches {
            self.write(&format!("patches/{reference}/{name}"), text);
        }
    }

    /// A file outside the repository (an import source).
    pub fn outside(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.tmp.path().join("in").join(name);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, bytes).unwrap();
        p
    }

    pub fn cmd(&self, bin: &str) -> Command {
        let mut c = Command::cargo_bin(bin).unwrap();
        c.current_dir(self.repo())
            .env("HOME", self.tmp.path().join("home"))
            .env("KA_ROOT", self.tmp.path().join("root"))
            .env("KA_NOW", "2026-01-02T03:04:05Z")
            .env_remove("KA_REPO")
            .env_remove("KA_TEST_CRASH_AT")
            .env_remove("KA_TEST_PAUSE_AT");
        c
    }

    /// Every file of the repository (not the journal) and its bytes.
    /// The temp folder's path reads `TMP`, so that fleets compare.
    pub fn snapshot(&self) -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        walk(&self.repo(), "", &mut out);
        let tmp = self.tmp.path().to_str().unwrap();
        out.into_iter()
            .map(|(k, v)| {
                let v = match String::from_utf8(v) {
                    Ok(t) => t.replace(tmp, "TMP").into_bytes(),
                    Err(e) => e.into_bytes(),
                };
                (k, v)
            })
            .collect()
    }

    /// The patches alpha's plan holds, through ka-resolve's library.
    pub fn plan(&self, host: &str) -> Result<Vec<String>, String> {
        let tree = ka_resolve::Tree::new(&self.repo()).map_err(|e| e.to_string())?;
        tree.resolve(host)
            .map(|p| p.patches.into_iter().map(|p| p.path).collect())
            .map_err(|e| e.to_string())
    }
}

fn walk(dir: &Path, rel: &str, out: &mut BTreeMap<String, Vec<u8>>) {
    let mut entries: Vec<_> = fs::read_dir(dir).unwrap().map(|e| e.unwrap()).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        if name == ".ka-journal" {
            continue;
        }
        let r = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        if e.path().is_dir() {
            out.insert(format!("{r}/"), Vec::new());
            walk(&e.path(), &r, out);
        } else {
            out.insert(r, fs::read(e.path()).unwrap());
        }
    }
}

pub fn stderr(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).into_owned()
}

pub fn stdout(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stdout).into_owned()
}
