//! ka-check end to end: contract errors, verdicts, byte-exact hashes, conflicts.

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::{Value, json};
use std::path::PathBuf;

struct Fleet {
    tmp: tempfile::TempDir,
    git_dir: PathBuf,
    commit: String,
}

impl Fleet {
    /// A baseline repository with `src.c` (lines 1..=20) and `lib.c`, and an
    /// empty fleet repository to put patches in.
    fn new() -> Fleet {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().join("baseline");
        std::fs::create_dir_all(&base).unwrap();
        let numbered: String = (1..=20).map(|i| format!("line {i}\n")).collect();
        std::fs::write(base.join("src.c"), numbered).unwrap();
        std::fs::write(base.join("lib.c"), b"caf\xe9\nend\n").unwrap();
        let git = |args: &[&str]| {
            let out = std::process::Command::new("git")
                .args(args)
                .current_dir(&base)
                .env("HOME", tmp.path())
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .output()
                .unwrap();
            assert!(out.status.success(), "git {args:?}: {out:?}");
            String::from_utf8(out.stdout).unwrap()
        };
        git(&["init", "-q", "."]);
        git(&["add", "-A"]);
        git(&[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-qm",
            "base",
        ]);
        let commit = git(&["rev-parse", "HEAD"]).trim().to_string();
        std::fs::create_dir_all(tmp.path().join("repo/patches")).unwrap();
        Fleet {
            git_dir: base.join(".git"),
            commit,
            tmp,
        }
    }

    fn repo(&self) -> PathBuf {
        self.tmp.path().join("repo")
    }

    fn patch(&self, name: &str, bytes: &[u8]) -> String {
        let rel = format!("patches/{name}");
        std::fs::write(self.repo().join(&rel), bytes).unwrap();
        rel
    }

    /// A plan taking `patches` as (path, campaign).
    fn plan(&self, host: &str, patches: &[(&str, &str)]) -> Value {
        json!({
            "kind": "ka.plan",
            "version": 1,
            "host": host,
            "repo": self.repo(),
            "manifest": format!("fleet/{host}.yaml"),
            "manifest_b2sum": "0",
            "baseline": {
                "spec": { "git": "https://example.invalid/linux.git", "ref": "v6.1" },
                "git_dir": self.git_dir,
                "commit": self.commit,
            },
            "patches": patches.iter().map(|(path, campaign)| json!({
                "path": path,
                "scope": "board",
                "series": format!("board/{campaign}"),
                "campaign": campaign,
                "size": std::fs::metadata(self.repo().join(path)).unwrap().len(),
                "selected_by": "scope",
            })).collect::<Vec<_>>(),
        })
    }

    fn ka_check(&self) -> Command {
        let mut cmd = Command::cargo_bin("ka-check").unwrap();
        cmd.env("HOME", self.tmp.path())
            .env("KA_ROOT", self.tmp.path().join("ka-root"))
            .env("GIT_CONFIG_NOSYSTEM", "1");
        cmd
    }
}

fn stdin_of(plans: &[Value]) -> String {
    plans.iter().map(|p| format!("{p}\n")).collect()
}

fn reports(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8(stdout.to_vec())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

const EDIT_LINE_10: &[u8] =
    b"--- a/src.c\n+++ b/src.c\n@@ -9,3 +9,3 @@\n line 9\n-line 10\n+line ten\n line 11\n";
const EDIT_LINE_11: &[u8] =
    b"--- a/src.c\n+++ b/src.c\n@@ -10,3 +10,3 @@\n line ten\n-line 11\n+line eleven\n line 12\n";
const EDIT_LINE_10_AGAIN: &[u8] =
    b"--- a/src.c\n+++ b/src.c\n@@ -9,3 +9,3 @@\n line 9\n-line ten\n+line TEN\n line 11\n";
const EDIT_LINE_2: &[u8] =
    b"--- a/src.c\n+++ b/src.c\n@@ -1,3 +1,4 @@\n line 1\n+line 1.5\n line 2\n line 3\n";

#[test]
fn truncated_json_is_a_contract_error_naming_stdin() {
    let fleet = Fleet::new();
    fleet
        .ka_check()
        .write_stdin("{\"kind\": \"ka.plan\", \"vers")
        .assert()
        .code(3)
        .stderr(predicate::str::contains("stdin"));
}

#[test]
fn wrong_kind_and_version_are_contract_errors() {
    let fleet = Fleet::new();
    let mut plan = fleet.plan("h1", &[]);
    plan["kind"] = json!("ka.lock");
    fleet
        .ka_check()
        .write_stdin(stdin_of(&[plan]))
        .assert()
        .code(3);
    let mut plan = fleet.plan("h1", &[]);
    plan["version"] = json!(2);
    fleet
        .ka_check()
        .write_stdin(stdin_of(&[plan]))
        .assert()
        .code(3)
        .stderr(predicate::str::contains("version"));
}

#[test]
fn a_plan_without_pinned_baseline_is_refused() {
    let fleet = Fleet::new();
    let mut plan = fleet.plan("h1", &[]);
    plan["baseline"].as_object_mut().unwrap().remove("commit");
    fleet
        .ka_check()
        .write_stdin(stdin_of(&[plan]))
        .assert()
        .code(3)
        .stderr(predicate::str::contains(
            "plan for h1 has no pinned baseline; pipe it through ka-baseline first",
        ));
}

#[test]
fn a_missing_baseline_repository_is_an_io_error() {
    let fleet = Fleet::new();
    let mut plan = fleet.plan("h1", &[]);
    plan["baseline"]["git_dir"] = json!(fleet.tmp.path().join("nowhere"));
    fleet
        .ka_check()
        .write_stdin(stdin_of(&[plan]))
        .assert()
        .code(2);
}

#[test]
fn a_failing_patch_exits_1_with_the_full_report() {
    let fleet = Fleet::new();
    let good = fleet.patch("good.patch", EDIT_LINE_10);
    let bad = fleet.patch(
        "bad.patch",
        b"--- a/src.c\n+++ b/src.c\n@@ -5,3 +5,3 @@\n line 5\n-nothing like this\n+x\n line 7\n",
    );
    let plan = fleet.plan("h1", &[(&good, "c1"), (&bad, "c1")]);
    let out = fleet
        .ka_check()
        .write_stdin(stdin_of(&[plan]))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("bad.patch"))
        .get_output()
        .stdout
        .clone();
    let docs = reports(&out);
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0]["kind"], "ka.check");
    assert_eq!(docs[0]["patches"][0]["verdict"], "clean");
    assert_eq!(docs[0]["patches"][1]["verdict"], "fails");
    assert_eq!(
        docs[0]["patches"][1]["files"][0]["hunks"][0]["reason"],
        "context does not match at any position"
    );
}

#[test]
fn non_utf8_patch_applies_and_hashes_byte_exactly() {
    let fleet = Fleet::new();
    let bytes: &[u8] = b"--- a/lib.c\n+++ b/lib.c\n@@ -1,2 +1,2 @@\n caf\xe9\n-end\n+\xff\xfeend\n";
    let p = fleet.patch("latin1.patch", bytes);
    let plan = fleet.plan("h1", &[(&p, "c1")]);
    let out = fleet
        .ka_check()
        .write_stdin(stdin_of(&[plan]))
        .assert()
        .code(0);
    let docs = reports(&out.get_output().stdout);
    let patch = &docs[0]["patches"][0];
    assert_eq!(patch["verdict"], "clean");
    assert_eq!(patch["b2sum"], ka_core::hash::b2sum(bytes));
    assert_eq!(patch["size"], bytes.len());
}

#[test]
fn empty_and_prose_patches_fail_clearly() {
    let fleet = Fleet::new();
    let empty = fleet.patch("empty.patch", b"");
    let prose = fleet.patch(
        "prose.patch",
        b"Please apply this fix to line 10.\nThanks!\n",
    );
    let plan = fleet.plan("h1", &[(&empty, "c1"), (&prose, "c1")]);
    let out = fleet
        .ka_check()
        .write_stdin(stdin_of(&[plan]))
        .assert()
        .code(1);
    let docs = reports(&out.get_output().stdout);
    let reason = |i: usize| {
        docs[0]["patches"][i]["reason"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(docs[0]["patches"][0]["verdict"], "fails");
    assert!(reason(0).contains("empty"), "{}", reason(0));
    assert_eq!(docs[0]["patches"][1]["verdict"], "fails");
    assert!(reason(1).contains("not a diff"), "{}", reason(1));
}

#[test]
fn campaigns_touching_the_same_lines_conflict() {
    let fleet = Fleet::new();
    let a = fleet.patch("a.patch", EDIT_LINE_10);
    let b = fleet.patch("b.patch", EDIT_LINE_10_AGAIN);
    let c = fleet.patch("c.patch", EDIT_LINE_2);
    let d = fleet.patch("d.patch", EDIT_LINE_11);
    // Same campaign: no conflict.
    let same = fleet.plan("same", &[(&a, "c1"), (&b, "c1")]);
    // Different campaigns on the same line 10: conflict.
    let diff = fleet.plan("diff", &[(&a, "c1"), (&b, "c2")]);
    // Different campaigns far apart, and on the next line: no conflict.
    let apart = fleet.plan("apart", &[(&a, "c1"), (&c, "c2"), (&d, "c3")]);
    let out = fleet
        .ka_check()
        .write_stdin(stdin_of(&[same, diff, apart]))
        .assert()
        .code(1);
    let docs = reports(&out.get_output().stdout);
    assert_eq!(docs.len(), 3);
    assert_eq!(docs[0]["conflicts"], json!([]));
    assert_eq!(docs[2]["conflicts"], json!([]), "{}", docs[2]);
    assert_eq!(docs[2]["patches"][2]["verdict"], "offset");
    let conflict = &docs[1]["conflicts"][0];
    assert_eq!(conflict["file"], "src.c");
    assert_eq!(conflict["first"]["patch"], a.as_str());
    assert_eq!(conflict["first"]["campaign"], "c1");
    assert_eq!(conflict["first"]["lines"], json!([10, 10]));
    assert_eq!(conflict["second"]["patch"], b.as_str());
    assert_eq!(conflict["second"]["lines"], json!([10, 10]));
}

#[test]
fn hosts_sharing_a_prefix_get_the_same_answers() {
    let fleet = Fleet::new();
    let a = fleet.patch("a.patch", EDIT_LINE_10);
    let b = fleet.patch("b.patch", EDIT_LINE_11);
    let c = fleet.patch("c.patch", EDIT_LINE_2);
    let plans = [
        fleet.plan("h1", &[(&a, "c1"), (&b, "c1")]),
        fleet.plan("h2", &[(&a, "c1"), (&c, "c1")]),
        fleet.plan("h3", &[(&a, "c1"), (&b, "c1"), (&c, "c1")]),
        // b without a: its context ("line ten") is missing.
        fleet.plan("h4", &[(&b, "c1")]),
    ];
    let out = fleet
        .ka_check()
        .write_stdin(stdin_of(&plans))
        .assert()
        .code(1);
    let docs = reports(&out.get_output().stdout);
    let verdicts: Vec<Vec<String>> = docs
        .iter()
        .map(|d| {
            d["patches"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["verdict"].as_str().unwrap().to_string())
                .collect()
        })
        .collect();
    assert_eq!(
        verdicts,
        [
            vec!["clean", "clean"],
            vec!["clean", "clean"],
            vec!["clean", "clean", "clean"],
            vec!["fails"],
        ]
    );
    let hosts: Vec<&str> = docs
        .iter()
        .map(|d| d["plan"]["host"].as_str().unwrap())
        .collect();
    assert_eq!(hosts, ["h1", "h2", "h3", "h4"]);
}

#[test]
fn help_describes_the_tool() {
    let fleet = Fleet::new();
    fleet
        .ka_check()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("--fuzz").and(predicate::str::contains("ka.check")));
}
