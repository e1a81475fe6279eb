//! ka-job without a build host: keep, show, release-idle with time as input.

use assert_cmd::Command;
use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;
use std::fs;

fn setup() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let repo = tmp.path().join("repo");
    fs::create_dir_all(repo.join("fleet")).unwrap();
    fs::create_dir_all(tmp.path().join("home")).unwrap();
    (tmp, root, repo)
}

fn job_cmd(tmp: &tempfile::TempDir, root: &std::path::Path, repo: &std::path::Path) -> Command {
    let mut c = Command::cargo_bin("ka-job").unwrap();
    c.env("KA_ROOT", root)
        .env("KA_REPO", repo)
        .env("HOME", tmp.path().join("home"));
    c
}

#[test]
fn release_idle_runs_the_release_command_only_after_the_idle_time() {
    let (tmp, root, repo) = setup();
    let marker = tmp.path().join("released");
    fs::write(
        repo.join("fleet/ampere.yaml"),
        format!(
            "host: ampere\nrole: dev\narch: aarch64\ndistro: arch\nbuild_host:\n  user: kbuild\n  arches: [aarch64]\n  wake: [true]\n  release: [touch, {}]\n  idle_release: 30m\n",
            marker.display()
        ),
    )
    .unwrap();
    fs::create_dir_all(root.join("build-hosts")).unwrap();
    fs::write(
        root.join("build-hosts/ampere.json"),
        r#"{"host":"ampere","last_used":"2026-11-25T10:00:00Z","awake":true}"#,
    )
    .unwrap();
    // 29 minutes later: nothing
    job_cmd(&tmp, &root, &repo)
        .env("KA_NOW", "2026-11-25T10:29:00Z")
        .arg("release-idle")
        .assert()
        .success()
        .stdout("");
    assert!(!marker.exists());
    // 31 minutes later: released, once
    job_cmd(&tmp, &root, &repo)
        .env("KA_NOW", "2026-11-25T10:31:00Z")
        .arg("release-idle")
        .assert()
        .success()
        .stdout(contains("ampere: released after 1860 s idle"));
    assert!(marker.exists());
    fs::remove_file(&marker).unwrap();
    job_cmd(&tmp, &root, &repo)
        .env("KA_NOW", "2026-11-25T11:31:00Z")
        .arg("release-idle")
        .assert()
        .success()
        .stdout("");
    assert!(!marker.exists());
}

#[test]
fn unknown_and_invalid_jobs_are_refused() {
    let (tmp, root, repo) = setup();
    job_cmd(&tmp, &root, &repo)
        .args(["show", "planck-20261125T000000Z-deadbeef"])
        .assert()
        .code(2)
        .stderr(contains("no job"));
    job_cmd(&tmp, &root, &repo)
        .args(["keep", "../../etc"])
        .assert()
        .code(3)
        .stderr(contains("invalid job id"));
}

#[test]
fn keep_records_until() {
    let (tmp, root, repo) = setup();
    fs::create_dir_all(root.join("jobs")).unwrap();
    fs::write(
        root.join("jobs/j1.json"),
        r#"{"kind":"ka.job-result","version":1,"id":"j1","host":"buildbox","argv":["true"],"exit_code":0,"duration_ms":1,"stalled":false,"capped":false,"log":"/x"}"#,
    )
    .unwrap();
    job_cmd(&tmp, &root, &repo)
        .env("KA_NOW", "2026-11-25T10:00:00Z")
        .args(["keep", "j1", "--for", "7d"])
        .assert()
        .success()
        .stdout(contains("\"until\":\"2026-12-02T10:00:00Z\""));
    job_cmd(&tmp, &root, &repo)
        .args(["keep", "j1", "--for", "soon"])
        .assert()
        .code(2)
        .stderr(contains("duration"));
}

#[test]
fn an_archived_job_can_be_kept_and_show_points_to_the_restore() {
    let (tmp, root, repo) = setup();
    fs::create_dir_all(root.join("archive")).unwrap();
    fs::write(root.join("archive/j2.tar"), b"").unwrap();
    job_cmd(&tmp, &root, &repo)
        .args(["show", "j2"])
        .assert()
        .code(2)
        .stderr(contains("job j2 is archived").and(contains("ka-restore-archive j2")));
    job_cmd(&tmp, &root, &repo)
        .env("KA_NOW", "2026-11-25T10:00:00Z")
        .args(["keep", "j2"])
        .assert()
        .success()
        .stdout(contains(r#""kind":"ka.keep""#));
    let keep: ka_schema::Keep =
        serde_json::from_slice(&fs::read(root.join("keep/j2.json")).unwrap()).unwrap();
    assert_eq!(keep.job, "j2");
    assert_eq!(keep.until, None);
}
