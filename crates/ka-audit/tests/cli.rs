//! ka-audit on a temp KA_ROOT.

use ka_testkit::env::Env;
use predicates::str::contains;
use std::fs;

/// What these tests read of the store.
trait AuditLog {
    fn log(&self) -> Vec<serde_json::Value>;
}

impl AuditLog for Env {
    fn log(&self) -> Vec<serde_json::Value> {
        fs::read_to_string(self.root().join("audit/audit.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

#[test]
fn a_run_is_one_log_line_and_one_record_with_a_ka_title() {
    let e = Env::new().now("2026-03-01T08:00:00Z");
    e.cmd("ka-audit")
        .args(["record", "--verb", "ka-promote", "--exit-code", "0"])
        .args(["--", "--json", "fresnel", "two words"])
        .assert()
        .success()
        .stdout("");
    let log = e.log();
    assert_eq!(log.len(), 1);
    let entry = &log[0];
    assert_eq!(entry["kind"], "ka.audit");
    assert_eq!(entry["verb"], "promote");
    assert_eq!(entry["title"], "[ka:promote] --json fresnel 'two words'");
    assert_eq!(entry["argv"][2], "two words");
    assert_eq!(entry["result"], "ok");
    assert_eq!(entry["exit_code"], 0);
    assert_eq!(entry["at"], "2026-03-01T08:00:00Z");
    assert!(!entry["user"].as_str().unwrap().is_empty());
    assert!(!entry["acting_host"].as_str().unwrap().is_empty());
    let id = entry["id"].as_str().unwrap();
    assert!(id.starts_with("promote-20260301t080000z-"), "{id}");
    let record: serde_json::Value = serde_json::from_slice(
        &fs::read(e.root().join(format!("audit/records/{id}.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(&record, entry);
}

#[test]
fn results_follow_the_exit_status_and_dry_run() {
    let e = Env::new().now("2026-03-01T08:00:00Z");
    for (code, dry, want) in [
        ("0", true, "dry-run"),
        ("1", true, "negative"),
        ("1", false, "negative"),
        ("2", false, "error"),
        ("3", false, "bad-input"),
        ("130", false, "failed"),
    ] {
        let mut c = e.cmd("ka-audit");
        c.args(["record", "--verb", "build", "--exit-code", code]);
        if dry {
            c.arg("--dry-run");
        }
        c.args(["--", "fresnel"]).assert().success();
        assert_eq!(e.log().last().unwrap()["result"], want, "exit {code}");
    }
    // each run its own record, even within one second
    let ids: std::collections::BTreeSet<String> = e
        .log()
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 6);
    assert_eq!(
        fs::read_dir(e.root().join("audit/records"))
            .unwrap()
            .count(),
        6
    );
}

#[test]
fn target_locks_are_hashed_as_b2sum_does() {
    let e = Env::new().now("2026-03-01T08:00:00Z");
    let lock = e.root().join("hosts/fresnel/promoted/manifest.lock");
    fs::create_dir_all(lock.parent().unwrap()).unwrap();
    fs::write(&lock, b"{\"kind\":\"ka.lock\"}\n").unwrap();
    e.cmd("ka-audit")
        .args(["record", "--verb", "build", "--exit-code", "0"])
        .args(["--target", "fresnel", "--target", "ohm", "--", "fresnel"])
        .assert()
        .success();
    let entry = &e.log()[0];
    let locks = entry["locks"].as_array().unwrap();
    assert_eq!(locks.len(), 1, "ohm has no promoted lock");
    assert_eq!(
        locks[0]["b2sum"],
        ka_core::hash::b2sum(b"{\"kind\":\"ka.lock\"}\n")
    );
    assert_eq!(locks[0]["file"], lock.display().to_string());
    e.cmd("ka-audit")
        .args([
            "record",
            "--verb",
            "promote",
            "--exit-code",
            "0",
            "--all-targets",
        ])
        .args(["--", "--all"])
        .assert()
        .success();
    assert_eq!(e.log()[1]["locks"].as_array().unwrap().len(), 1);
}

#[test]
fn a_torn_last_line_does_not_swallow_the_next_entry() {
    let e = Env::new().now("2026-03-01T08:00:00Z");
    e.cmd("ka-audit")
        .args(["record", "--verb", "keep", "--exit-code", "0", "--", "j1"])
        .assert()
        .success();
    let path = e.root().join("audit/audit.log");
    let mut text = fs::read_to_string(&path).unwrap();
    text.push_str("{\"kind\":\"ka.au"); // a crash in the middle of a write
    fs::write(&path, &text).unwrap();
    e.cmd("ka-audit")
        .args(["record", "--verb", "keep", "--exit-code", "0", "--", "j2"])
        .assert()
        .success();
    let lines: Vec<String> = fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(lines.len(), 3);
    let last: serde_json::Value = serde_json::from_str(&lines[2]).unwrap();
    assert_eq!(last["argv"][0], "j2");
    // list names the torn line
    e.cmd("ka-audit")
        .arg("list")
        .assert()
        .code(3)
        .stderr(contains(format!("{}:2:", path.display())));
}

#[test]
fn a_broken_log_is_an_error_naming_it_and_writes_no_record() {
    let e = Env::new().now("2026-03-01T08:00:00Z");
    let log = e.root().join("audit/audit.log");
    fs::create_dir_all(&log).unwrap();
    e.cmd("ka-audit")
        .args(["record", "--verb", "keep", "--exit-code", "0", "--", "j1"])
        .assert()
        .code(2)
        .stderr(contains(log.display().to_string()));
    assert!(!e.root().join("audit/records").exists());
}

#[test]
fn bad_verbs_are_refused() {
    let e = Env::new().now("2026-03-01T08:00:00Z");
    for verb in ["", "Promote", "../x", "a b"] {
        e.cmd("ka-audit")
            .args(["record", "--verb", verb, "--exit-code", "0", "--", "x"])
            .assert()
            .code(2);
    }
    assert!(e.log().is_empty());
}

#[test]
fn list_filters_by_verb() {
    let e = Env::new().now("2026-03-01T08:00:00Z");
    for verb in ["promote", "build", "promote"] {
        e.cmd("ka-audit")
            .args(["record", "--verb", verb, "--exit-code", "0", "--", "h"])
            .assert()
            .success();
    }
    let out = e
        .cmd("ka-audit")
        .args(["list", "--json", "--verb", "ka-promote"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let lines: Vec<serde_json::Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert!(lines.iter().all(|l| l["verb"] == "promote"));
    // the table: a header and one line per entry
    let out = e
        .cmd("ka-audit")
        .args(["list", "--verb", "promote"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 3);
}

fn stdout(e: &Env, args: &[&str]) -> String {
    let out = e
        .cmd("ka-audit")
        .args(args)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    String::from_utf8(out).unwrap()
}

#[test]
fn list_is_a_table_a_person_reads_and_json_lines_with_json() {
    let e = Env::new().now("2026-03-01T08:00:00Z");
    let lock = e.root().join("hosts/fresnel/promoted/manifest.lock");
    fs::create_dir_all(lock.parent().unwrap()).unwrap();
    fs::write(&lock, b"{}\n").unwrap();
    e.cmd("ka-audit")
        .args(["record", "--verb", "promote", "--exit-code", "0"])
        .args(["--target", "fresnel", "--", "--json", "fresnel"])
        .assert()
        .success();
    e.cmd("ka-audit")
        .args([
            "record",
            "--verb",
            "promote",
            "--exit-code",
            "1",
            "--dry-run",
        ])
        .args(["--all-targets", "--", "--all", "--dry-run"])
        .assert()
        .success();
    e.cmd("ka-audit")
        .args(["record", "--verb", "keep", "--exit-code", "2"])
        .args(["--", "no-such-job"])
        .assert()
        .success();
    let text = stdout(&e, &["list"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    let cols = |l: &str| -> Vec<String> {
        l.split("  ")
            .filter(|c| !c.is_empty())
            .map(|c| c.trim().to_string())
            .collect()
    };
    assert_eq!(
        cols(lines[0]),
        [
            "WHEN",
            "VERB",
            "TARGET",
            "DRY-RUN",
            "EXIT",
            "RESULT",
            "BY",
            "ARGUMENTS"
        ]
    );
    let by = format!(
        "{}@{}",
        e.log()[0]["user"].as_str().unwrap(),
        e.log()[0]["acting_host"].as_str().unwrap()
    );
    let at = "2026-03-01T08:00:00Z";
    assert_eq!(
        cols(lines[1]),
        [
            at,
            "promote",
            "fresnel",
            "no",
            "0",
            "ok",
            &by,
            "--json fresnel"
        ]
    );
    // a dry run that was refused is still a dry run; --all names the promoted hosts
    assert_eq!(
        cols(lines[2]),
        [
            at,
            "promote",
            "fresnel",
            "yes",
            "1",
            "negative",
            &by,
            "--all --dry-run"
        ]
    );
    assert_eq!(
        cols(lines[3]),
        [at, "keep", "—", "no", "2", "error", &by, "no-such-job"]
    );
    // --json: the log's own lines, unchanged
    let json = stdout(&e, &["list", "--json"]);
    let log = fs::read_to_string(e.root().join("audit/audit.log")).unwrap();
    assert_eq!(json, log);
    assert_eq!(e.log()[1]["dry_run"], true);
    assert_eq!(e.log()[1]["targets"], serde_json::json!(["fresnel"]));
    assert!(e.log()[0].get("dry_run").is_none(), "absent when false");
}

#[test]
fn an_empty_log_lists_nothing_when_piped() {
    let e = Env::new().now("2026-03-01T08:00:00Z");
    // stdout is a pipe here; on a terminal it says "no audit entries"
    // (tests/wrappers/output.bats)
    assert_eq!(stdout(&e, &["list"]), "");
    assert_eq!(stdout(&e, &["list", "--json"]), "");
    e.cmd("ka-audit")
        .args(["record", "--verb", "build", "--exit-code", "0", "--", "h"])
        .assert()
        .success();
    assert_eq!(stdout(&e, &["list", "--verb", "promote"]), "");
}
