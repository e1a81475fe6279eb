//! ka-concat: byte-exact cumulative, coreutils b2sum agreement, identical
//! outputs for identical inputs, atomic promotion, refusals that write nothing.

use assert_cmd::Command;
use predicates::str::contains;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command as Std;

struct Case {
    _tmp: tempfile::TempDir,
    repo: PathBuf,
    root: PathBuf,
    home: PathBuf,
}

const P1: &[u8] = b"From 1 Mon Sep 17 00:00:00 2001\nSubject: [PATCH] one\n\n---\n a | 2 +-\n\ndiff --git a/a b/a\n--- a/a\n+++ b/a\n@@ -1 +1 @@\n-x\n+y\n-- \n2.39.5\n\n";
// not UTF-8: must hash and concatenate byte-exactly
const P2: &[u8] = b"--- a/b\n+++ b/b\n@@ -1 +1 @@\n-\xff\xfe old\n+\xff\xfe new\n";

impl Case {
    fn new() -> Case {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("repo");
        let dir = repo.join("patches/board/b/s");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("0001-one.patch"), P1).unwrap();
        fs::write(dir.join("0002-two.patch"), P2).unwrap();
        Case {
            root: tmp.path().join("root"),
            home: tmp.path().join("home"),
            repo,
            _tmp: tmp,
        }
    }
    fn check(&self, verdict2: &str) -> String {
        let sum = |b: &[u8]| ka_core::hash::b2sum(b);
        format!(
            r#"{{"kind":"ka.check","version":1,"plan":{{"kind":"ka.plan","version":1,"host":"fresnel","repo":"{repo}","manifest":"fleet/fresnel.yaml","manifest_b2sum":"m","baseline":{{"spec":{{"tarball":"/t.tar.xz"}},"git_dir":"/g","commit":"0123456789abcdef"}},"patches":[{{"path":"patches/board/b/s/0001-one.patch","scope":"board/b","series":"board/b/s","campaign":"c1","size":{s1},"selected_by":"scope"}},{{"path":"patches/board/b/s/0002-two.patch","scope":"board/b","series":"board/b/s","campaign":"c1","size":{s2},"selected_by":"scope"}}]}},"fuzz_allowed":0,"patches":[{{"path":"patches/board/b/s/0001-one.patch","series":"board/b/s","campaign":"c1","b2sum":"{h1}","size":{s1},"verdict":"clean","files":[{hunk_a}]}},{{"path":"patches/board/b/s/0002-two.patch","series":"board/b/s","campaign":"c1","b2sum":"{h2}","size":{s2},"verdict":"{verdict2}","files":[{hunk_b}]}}],"conflicts":[]}}"#,
            repo = self.repo.display(),
            s1 = P1.len(),
            s2 = P2.len(),
            h1 = sum(P1),
            h2 = sum(P2),
            hunk_a = file_check("a", "clean"),
            hunk_b = file_check("b", verdict2),
        )
    }
    fn concat(&self, args: &[&str], stdin: String) -> assert_cmd::assert::Assert {
        fs::create_dir_all(&self.home).unwrap();
        Command::cargo_bin("ka-concat")
            .unwrap()
            .args(args)
            .env("KA_ROOT", &self.root)
            .env("HOME", &self.home)
            .write_stdin(stdin)
            .assert()
    }
    fn promoted(&self) -> PathBuf {
        self.root.join("hosts/fresnel/promoted")
    }
}

/// The check of a one-hunk file diff, the hunk where its header says.
fn file_check(path: &str, verdict: &str) -> String {
    format!(
        r#"{{"path":"{path}","operation":"modify","verdict":"{verdict}","hunks":[{{"hunk":1,"verdict":"{verdict}","line":1,"offset":0,"fuzz":0}}]}}"#
    )
}

fn coreutils_b2sum(path: &Path) -> String {
    let out = Std::new("b2sum").arg(path).output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn promotes_byte_exact_and_b2sum_agrees_with_coreutils() {
    let c = Case::new();
    let out = c
        .concat(&[], c.check("offset"))
        .success()
        .get_output()
        .stdout
        .clone();
    let result: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(result["status"], "done");
    let cumulative = fs::read(c.promoted().join("cumulative.patch")).unwrap();
    // only the final signature of P1 is gone; P2's bytes are untouched
    let mut want = P1[..P1.len() - b"-- \n2.39.5\n\n".len()].to_vec();
    want.extend_from_slice(P2);
    assert_eq!(cumulative, want);
    let lock: serde_json::Value =
        serde_json::from_slice(&fs::read(c.promoted().join("manifest.lock")).unwrap()).unwrap();
    assert_eq!(lock["kind"], "ka.lock");
    assert_eq!(lock["baseline"]["commit"], "0123456789abcdef");
    assert_eq!(
        lock["cumulative"]["b2sum"],
        coreutils_b2sum(&c.promoted().join("cumulative.patch"))
    );
    assert_eq!(lock["cumulative"]["size"], cumulative.len());
    assert_eq!(
        lock["patches"][1]["b2sum"],
        coreutils_b2sum(&c.repo.join("patches/board/b/s/0002-two.patch"))
    );
    assert_eq!(lock["patches"][0]["size"], P1.len());
    // files named in the result exist
    for f in result["files"].as_array().unwrap() {
        assert!(Path::new(f.as_str().unwrap()).exists(), "{f}");
    }
}

#[test]
fn identical_inputs_give_identical_outputs_and_unchanged_status() {
    let c = Case::new();
    c.concat(&[], c.check("clean")).success();
    let lock1 = fs::read(c.promoted().join("manifest.lock")).unwrap();
    c.concat(&[], c.check("clean"))
        .success()
        .stdout(contains("\"status\":\"unchanged\""));
    assert_eq!(lock1, fs::read(c.promoted().join("manifest.lock")).unwrap());
    // --out twice into different folders: byte-identical
    let a = c.root.join("out-a");
    let b = c.root.join("out-b");
    c.concat(&["--out", a.to_str().unwrap()], c.check("clean"))
        .success();
    c.concat(&["--out", b.to_str().unwrap()], c.check("clean"))
        .success();
    for f in ["cumulative.patch", "manifest.lock"] {
        assert_eq!(fs::read(a.join(f)).unwrap(), fs::read(b.join(f)).unwrap());
    }
}

#[test]
fn a_failing_check_is_blocked_and_writes_nothing() {
    let c = Case::new();
    c.concat(&[], c.check("fails"))
        .code(1)
        .stdout(contains("\"status\":\"blocked\""));
    assert!(!c.root.join("hosts").exists());
}

#[test]
fn an_open_block_halts_and_the_old_promotion_stays() {
    let c = Case::new();
    c.concat(&[], c.check("clean")).success();
    let before = fs::read_link(c.promoted()).unwrap();
    // a block record as ka-block writes it
    let id = "patch-fail-000000000001";
    fs::create_dir_all(c.root.join("blocks")).unwrap();
    fs::write(
        c.root.join(format!("blocks/{id}.json")),
        format!(r#"{{"kind":"ka.block","version":1,"id":"{id}","block":"patch-fail","subject":{{"on":"patch","patch":"patches/board/b/s/0002-two.patch"}},"title":"[ka:patch-fail] x","detail":"","state":"open","opened_at":"t","updated_at":"t","filings":1}}"#),
    )
    .unwrap();
    c.concat(&[], c.check("clean")).code(1).stdout(contains(id));
    assert_eq!(fs::read_link(c.promoted()).unwrap(), before);
}

#[test]
fn a_patch_changed_since_it_was_checked_is_refused() {
    let c = Case::new();
    let check = c.check("clean");
    fs::write(
        c.repo.join("patches/board/b/s/0002-two.patch"),
        b"--- a/b\n+++ b/b\n",
    )
    .unwrap();
    c.concat(&[], check)
        .code(3)
        .stderr(contains("0002-two.patch: changed since it was checked"));
    assert!(!c.root.join("hosts").exists());
}

#[test]
fn bad_documents_are_contract_errors() {
    let c = Case::new();
    let good = c.check("clean");
    c.concat(&[], good[..good.len() / 2].to_string())
        .code(3)
        .stderr(contains("truncated"));
    c.concat(&[], String::new()).success().stdout("");
    c.concat(&[], good.replacen("ka.check", "ka.plan", 1))
        .code(3)
        .stderr(contains("unknown variant `ka.plan`"));
    c.concat(&[], good.replacen("\"version\":1", "\"version\":2", 1))
        .code(3)
        .stderr(contains("unsupported version 2"));
    c.concat(
        &[],
        good.replacen("\"fuzz_allowed\":0", "\"fuzz_allowed\":0,\"extra\":1", 1),
    )
    .code(3)
    .stderr(contains("unknown field `extra`"));
    let escaping = good.replace("patches/board/b/s/0001-one.patch", "../../etc/passwd");
    c.concat(&[], escaping)
        .code(3)
        .stderr(contains("escapes the repository"));
    let absolute = good.replace("patches/board/b/s/0001-one.patch", "/etc/passwd");
    c.concat(&[], absolute)
        .code(3)
        .stderr(contains("escapes the repository"));
    assert!(!c.root.join("hosts").exists());
}

#[test]
fn dry_run_writes_nothing() {
    let c = Case::new();
    c.concat(&["--dry-run"], c.check("clean"))
        .success()
        .stdout(contains("\"status\":\"dry-run\""))
        .stdout(contains("\"message\":\"would promote 2 patches\""));
    assert!(!c.root.exists() || !c.root.join("hosts").exists());
}

fn result_of(a: assert_cmd::assert::Assert) -> serde_json::Value {
    serde_json::from_slice(&a.get_output().stdout).unwrap()
}

#[test]
fn an_unchanged_promote_names_the_promoted_files_in_place() {
    let c = Case::new();
    c.concat(&[], c.check("clean")).success();
    let r = result_of(c.concat(&[], c.check("clean")).success());
    assert_eq!(r["status"], "unchanged");
    assert_eq!(r["message"], "already promoted (2 patches)");
    let files: Vec<&str> = r["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    let live = |f: &str| c.promoted().join(f).display().to_string();
    assert_eq!(files, [live("cumulative.patch"), live("manifest.lock")]);
    for f in files {
        assert!(Path::new(f).is_file(), "{f}");
    }
}

#[test]
fn a_dry_run_says_what_the_real_run_would_say() {
    let c = Case::new();
    c.concat(&[], c.check("clean")).success();
    let before = fs::read_link(c.promoted()).unwrap();
    // promoted already: the dry run says unchanged, as the real run does
    let r = result_of(c.concat(&["--dry-run"], c.check("clean")).success());
    assert_eq!(r["status"], "dry-run");
    assert_eq!(
        r["message"],
        "would be unchanged: already promoted (2 patches)"
    );
    assert_eq!(r["files"], serde_json::json!([]));
    let real = result_of(c.concat(&[], c.check("clean")).success());
    assert_eq!(real["status"], "unchanged");
    // a promotion folder that was damaged is rewritten, so not unchanged
    fs::write(c.promoted().join("cumulative.patch"), b"damaged").unwrap();
    let r = result_of(c.concat(&["--dry-run"], c.check("clean")).success());
    assert_eq!(r["message"], "would promote 2 patches");
    assert_eq!(fs::read_link(c.promoted()).unwrap(), before);
}
