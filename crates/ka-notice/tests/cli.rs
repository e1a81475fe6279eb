//! ka-notice on a real store in a temp KA_ROOT.

use ka_testkit::env::Env;
use predicates::str::contains;
use std::fs;

/// What these tests read of the store.
trait Notices {
    fn file(&self, host: &str, version: &str) -> serde_json::Value;
    fn list(&self, args: &[&str]) -> Vec<serde_json::Value>;
    fn records(&self) -> Vec<(String, Vec<u8>)>;
}

impl Notices for Env {
    fn file(&self, host: &str, version: &str) -> serde_json::Value {
        let out = self
            .cmd("ka-notice")
            .args(["file", "--kind", "installable", "--host", host])
            .args(["--package", &format!("linux-{host}"), "--version", version])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        serde_json::from_slice(&out).unwrap()
    }
    fn list(&self, args: &[&str]) -> Vec<serde_json::Value> {
        let out = self
            .cmd("ka-notice")
            .arg("list")
            .args(args)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        serde_json::Deserializer::from_slice(&out)
            .into_iter()
            .map(Result::unwrap)
            .collect()
    }
    fn records(&self) -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<_> = fs::read_dir(self.root().join("notices"))
            .map(|d| {
                d.flatten()
                    .map(|e| {
                        (
                            e.file_name().to_string_lossy().into_owned(),
                            fs::read(e.path()).unwrap(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }
}

#[test]
fn filing_twice_is_one_record() {
    let e = Env::new().now("2026-03-01T08:00:00Z");
    let first = e.file("fresnel", "6.1.158-2");
    assert_eq!(first["kind"], "ka.notice");
    assert_eq!(
        first["title"],
        "[ka:installable] linux-fresnel 6.1.158-2 for fresnel"
    );
    assert_eq!(first["state"], "open");
    let again = e.file("fresnel", "6.1.158-2");
    assert_eq!(again["id"], first["id"]);
    assert_eq!(again["filings"], 2);
    assert_eq!(e.records().len(), 1);
    assert!(first["id"].as_str().unwrap().starts_with("installable-"));
}

#[test]
fn a_newer_version_supersedes_the_older_one_of_the_same_host_only() {
    let e = Env::new().now("2026-03-01T08:00:00Z");
    let old = e.file("fresnel", "6.1.158-1");
    e.file("ohm", "6.1.158-1");
    let new = e.file("fresnel", "6.1.158-2");
    let open = e.list(&[]);
    let ids: Vec<&str> = open.iter().map(|n| n["id"].as_str().unwrap()).collect();
    assert_eq!(open.len(), 2, "{ids:?}");
    assert!(ids.contains(&new["id"].as_str().unwrap()));
    assert!(!ids.contains(&old["id"].as_str().unwrap()));
    let all = e.list(&["--all"]);
    let closed = all.iter().find(|n| n["id"] == old["id"]).unwrap();
    assert_eq!(closed["state"], "closed");
    assert_eq!(
        closed["close_reason"],
        "superseded by linux-fresnel 6.1.158-2"
    );
    assert_eq!(e.list(&["--host", "ohm"]).len(), 1);
}

#[test]
fn close_by_id_or_by_subject_and_refile_reopens() {
    let e = Env::new().now("2026-03-01T08:00:00Z");
    let n = e.file("fresnel", "6.1.158-2");
    let id = n["id"].as_str().unwrap();
    e.cmd("ka-notice")
        .args(["close", id, "--reason", "installed"])
        .assert()
        .success()
        .stdout(contains("\"state\":\"closed\""))
        .stdout(contains("\"close_reason\":\"installed\""));
    assert!(e.list(&[]).is_empty());
    // closing again is a no-op
    e.cmd("ka-notice")
        .args(["close", id, "--reason", "again"])
        .assert()
        .success()
        .stdout(contains("\"close_reason\":\"installed\""));
    let reopened = e.file("fresnel", "6.1.158-2");
    assert_eq!(reopened["state"], "open");
    assert_eq!(reopened["filings"], 1);
    e.cmd("ka-notice")
        .args(["close", "--host", "fresnel", "--package", "linux-fresnel"])
        .args(["--version", "6.1.158-2", "--reason", "installed"])
        .assert()
        .success()
        .stdout(contains(id));
    assert!(e.list(&[]).is_empty());
}

#[test]
fn bad_input_is_refused_and_writes_nothing() {
    let e = Env::new().now("2026-03-01T08:00:00Z");
    e.file("fresnel", "6.1.158-2");
    let before = e.records();
    // an unknown notice kind
    e.cmd("ka-notice")
        .args(["file", "--kind", "upgradable", "--host", "fresnel"])
        .args(["--package", "p", "--version", "1"])
        .assert()
        .code(2)
        .stderr(contains("upgradable"));
    // names that would become paths or shell words
    for (host, package, version) in [
        ("a;b", "p", "1"),
        ("fresnel", "../p", "1"),
        ("fresnel", "p", "1 2"),
        ("fresnel", "p", "$(x)"),
    ] {
        e.cmd("ka-notice")
            .args(["file", "--kind", "installable", "--host", host])
            .args(["--package", package, "--version", version])
            .assert()
            .code(3);
    }
    // closing what does not exist
    e.cmd("ka-notice")
        .args(["close", "installable-000000000000", "--reason", "x"])
        .assert()
        .code(2)
        .stderr(contains("no notice installable-000000000000"));
    e.cmd("ka-notice")
        .args(["close", "../x", "--reason", "x"])
        .assert()
        .code(2)
        .stderr(contains("invalid notice id"));
    e.cmd("ka-notice")
        .args(["close", "--reason", "x"])
        .assert()
        .code(2);
    e.cmd("ka-notice")
        .args(["close", "--host", "fresnel", "--reason", "x"])
        .assert()
        .code(2);
    assert_eq!(e.records(), before);
}

#[test]
fn a_corrupt_record_is_named_and_nothing_else_changes() {
    let e = Env::new().now("2026-03-01T08:00:00Z");
    e.file("fresnel", "6.1.158-1");
    let rec = fs::read_dir(e.root().join("notices"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let text = fs::read_to_string(&rec).unwrap();
    fs::write(&rec, &text[..text.len() / 2]).unwrap();
    let before = e.records();
    e.cmd("ka-notice")
        .arg("list")
        .assert()
        .code(3)
        .stderr(contains("notice store record is corrupt"))
        .stderr(contains(rec.display().to_string()));
    // filing a newer version must read the store to supersede: it stops too
    e.cmd("ka-notice")
        .args(["file", "--kind", "installable", "--host", "fresnel"])
        .args(["--package", "linux-fresnel", "--version", "6.1.158-2"])
        .assert()
        .code(3)
        .stderr(contains(rec.display().to_string()));
    assert_eq!(e.records(), before);
}
