//! ka-close, ka-abandon, ka-migrate-tree: what they change, what they keep
//! (comments, untouched lines), every refusal, and kill -9 at every step.

mod common;
use common::*;
use predicates::str::contains;
use std::collections::BTreeMap;

type Snapshot = BTreeMap<String, Vec<u8>>;

// ------------------------------------------------------------------ close

#[test]
fn close_records_and_keeps_the_series() {
    let f = Fleet::new();
    f.cmd("ka-close")
        .args(["extra", "--status", "success", "--note", "done: \"all\""])
        .assert()
        .success()
        .stdout(contains("campaign extra closed as success"));
    let yaml = f.read("patches/board/one/extra/series.yaml");
    assert!(
        yaml.starts_with("scope: board/one\ncampaign: extra\n# must follow the wifi fix\n"),
        "{yaml}"
    );
    assert!(yaml.ends_with("closed:\n  status: success\n  at: \"2026-01-02T03:04:05Z\"\n  note: \"done: \\\"all\\\"\"\n"), "{yaml}");
    assert!(f.plan("alpha").unwrap().iter().any(|p| p.contains("extra")));
    f.cmd("ka-close")
        .args(["extra", "--status", "success"])
        .assert()
        .code(1)
        .stderr(contains("already closed (success at 2026-01-02T03:04:05Z"));
}

#[test]
fn close_of_an_unknown_campaign() {
    let f = Fleet::new();
    f.cmd("ka-close")
        .args(["nope", "--status", "success"])
        .assert()
        .code(2)
        .stderr(contains("unknown campaign \"nope\""))
        .stderr(contains("bringup, extra, wifi"));
    f.cmd("ka-close")
        .args(["wifi", "--status", "maybe"])
        .assert()
        .code(2);
}

// ------------------------------------------------------------------ abandon

#[test]
fn abandon_needs_exactly_one_way() {
    let f = Fleet::new();
    let before = f.snapshot();
    f.cmd("ka-abandon")
        .arg("wifi")
        .assert()
        .code(2)
        .stderr(contains("--keep-as-archive"));
    f.cmd("ka-abandon")
        .args(["wifi", "--keep-as-archive", "--purge-from-fleet"])
        .assert()
        .code(2)
        .stderr(contains("cannot be used with"));
    f.cmd("ka-abandon")
        .args(["nope", "--purge-from-fleet"])
        .assert()
        .code(2)
        .stderr(contains("unknown campaign \"nope\""));
    assert_eq!(f.snapshot(), before);
}

#[test]
fn abandon_as_archive_moves_and_drops_references() {
    let f = Fleet::new();
    let alpha_before = f.read("fleet/alpha.yaml");
    f.cmd("ka-abandon")
        .args(["wifi", "--keep-as-archive"])
        .assert()
        .success()
        .stdout(contains(
            "fleet/alpha.yaml no longer includes driver/wifi/fix",
        ))
        .stdout(contains(
            "patches/board/one/extra/series.yaml no longer comes after driver/wifi/fix",
        ));
    assert!(!f.exists("patches/driver/wifi/fix"));
    assert!(f.exists("archive/patches/driver/wifi/fix/0001-wifi.patch"));
    assert!(
        f.read("archive/patches/driver/wifi/fix/series.yaml")
            .contains("closed:\n  status: abandoned\n")
    );
    // only the include line changed; its comment stays
    let alpha = f.read("fleet/alpha.yaml");
    assert_eq!(
        alpha,
        alpha_before.replace(
            "include: [driver/wifi/fix]  # needed",
            "include: []  # needed"
        )
    );
    assert_eq!(
        f.read("patches/board/one/extra/series.yaml"),
        "scope: board/one\ncampaign: extra\n# must follow the wifi fix\nafter: []\n"
    );
    // the fleet resolves without it (beta keeps its driver/wifi scope, now empty)
    assert_eq!(f.plan("alpha").unwrap().len(), 2);
    assert_eq!(f.plan("beta").unwrap().len(), 1);
    // and closing it now says where it went
    f.cmd("ka-close")
        .args(["wifi", "--status", "success"])
        .assert()
        .code(2)
        .stderr(contains("it was abandoned"));
}

#[test]
fn abandon_purge_deletes_and_rewrites_block_lists() {
    let f = Fleet::new();
    let beta_before = f.read("fleet/beta.yaml");
    f.cmd("ka-abandon")
        .args(["extra", "--purge-from-fleet"])
        .assert()
        .success();
    assert!(!f.exists("patches/board/one/extra"));
    assert!(!f.exists("archive"));
    assert_eq!(
        f.read("fleet/beta.yaml"),
        beta_before.replace(
            "exclude:\n  - board/one/extra   # not on beta\n",
            "exclude: []\n"
        )
    );
    assert_eq!(f.plan("beta").unwrap().len(), 2);
}

#[test]
fn abandon_dry_run_shows_the_diff_and_changes_nothing() {
    let f = Fleet::new();
    let before = f.snapshot();
    f.cmd("ka-abandon")
        .args(["wifi", "--purge-from-fleet", "--dry-run"])
        .assert()
        .success()
        .stdout(contains("-include: [driver/wifi/fix]  # needed"))
        .stdout(contains("+include: []  # needed"));
    assert_eq!(f.snapshot(), before);
}

// ------------------------------------------------------------------ migrate

#[test]
fn migrate_a_series_rewrites_tag_includes_and_afters() {
    let f = Fleet::new();
    let out = f
        .cmd("ka-migrate-tree")
        .args([
            "--from",
            "driver/wifi/fix",
            "--to",
            "patches/subsystem/net/wifi/fix",
        ])
        .assert()
        .success();
    let text = stdout(&out);
    assert!(
        text.contains("+include: [subsystem/net/wifi/fix]  # needed"),
        "{text}"
    );
    assert!(
        text.contains("beta no longer takes driver/wifi/fix"),
        "{text}"
    );
    assert!(!f.exists("patches/driver/wifi/fix"));
    assert_eq!(
        f.read("patches/subsystem/net/wifi/fix/series.yaml"),
        "scope: subsystem/net/wifi\ncampaign: wifi\norigin: \"wifi#1\"\n"
    );
    assert!(
        f.read("patches/board/one/extra/series.yaml")
            .contains("after: [subsystem/net/wifi/fix]\n")
    );
    assert!(
        f.read("fleet/alpha.yaml")
            .contains("include: [subsystem/net/wifi/fix]  # needed for the extra series\n")
    );
    assert!(
        f.plan("alpha")
            .unwrap()
            .contains(&"patches/subsystem/net/wifi/fix/0001-wifi.patch".to_string())
    );
}

#[test]
fn migrate_a_scope_rewrites_scopes_and_nested_refs() {
    let f = Fleet::new();
    let beta_before = f.read("fleet/beta.yaml");
    f.cmd("ka-migrate-tree")
        .args(["--from", "board/one", "--to", "board/uno"])
        .assert()
        .success()
        .stdout(contains("every host takes the same series as before"));
    assert_eq!(
        f.read("fleet/beta.yaml"),
        beta_before
            .replace("  - board/one\n", "  - board/uno\n")
            .replace(
                "  - board/one/extra   # not on beta",
                "  - board/uno/extra   # not on beta"
            )
    );
    assert!(
        f.read("patches/board/uno/extra/series.yaml")
            .starts_with("scope: board/uno\n")
    );
    assert_eq!(f.plan("alpha").unwrap().len(), 3);
    assert_eq!(f.plan("beta").unwrap().len(), 2);
}

#[test]
fn migrate_refusals_change_nothing() {
    let f = Fleet::new();
    f.series(
        "board/two/odd",
        "odd",
        "",
        &[("0001-x.patch", change("drivers/net/wifi.c", 15, "x"))],
    );
    // a tag that disagrees with its folder
    f.write(
        "patches/board/two/odd/series.yaml",
        "scope: board/one\ncampaign: odd\n",
    );
    let before = f.snapshot();
    let cases: &[(&str, &str, &str)] = &[
        ("board/one", "board/one", "onto itself"),
        ("board/one", "board/one/sub", "into its own subfolder"),
        ("board/none", "board/x", "no such series or scope folder"),
        ("board/one/base", "driver/wifi/fix", "exists already"),
        (
            "board/one/base",
            "board/one/extra/base",
            "inside the series patches/board/one/extra",
        ),
        (
            "board/one/base",
            "boards/x/base",
            "not a place for a series",
        ),
        ("board/one", "boards/one", "not a scope path"),
        (
            "board/two/odd",
            "board/three/odd",
            "disagrees with its folder",
        ),
    ];
    for (from, to, why) in cases {
        f.cmd("ka-migrate-tree")
            .args(["--from", from, "--to", to])
            .assert()
            .code(1)
            .stderr(contains(*why));
    }
    assert_eq!(f.snapshot(), before);
}

#[test]
fn migrate_dry_run_and_declined_confirm_change_nothing() {
    let f = Fleet::new();
    let before = f.snapshot();
    f.cmd("ka-migrate-tree")
        .args(["--from", "board/one", "--to", "board/uno", "--dry-run"])
        .assert()
        .success()
        .stdout(contains("-  - board/one\n"))
        .stdout(contains("+  - board/uno\n"));
    f.cmd("ka-migrate-tree")
        .args(["--from", "board/one", "--to", "board/uno", "--confirm"])
        .write_stdin("n\n")
        .assert()
        .code(1)
        .stderr(contains("declined; nothing changed"));
    assert_eq!(f.snapshot(), before);
}

// ------------------------------------------------------------------ kill -9

const STEPS: &[&str] = &[
    "staged",
    "committed",
    "op-1",
    "op-2",
    "op-3",
    "op-4",
    "applied",
];

/// Run `args` to the end on a fresh fleet: the before and after snapshots.
fn outcome(bin: &str, args: &[&str]) -> (Snapshot, Snapshot) {
    let f = Fleet::new();
    let before = f.snapshot();
    f.cmd(bin).args(args).assert().success();
    (before, f.snapshot())
}

/// Kill `bin` at every step; the next command must finish or undo it.
fn kill_at_every_step(bin: &str, args: &[&str]) {
    let (before, after) = outcome(bin, args);
    assert_ne!(before, after);
    for step in STEPS {
        let f = Fleet::new();
        let out = f
            .cmd(bin)
            .args(args)
            .env("KA_TEST_CRASH_AT", step)
            .output()
            .unwrap();
        use std::os::unix::process::ExitStatusExt;
        let killed = out.status.signal() == Some(9);
        if !killed {
            // fewer ops than this step: the change simply finished
            assert!(out.status.success(), "{step}: {out:?}");
            assert_eq!(f.snapshot(), after, "{step}");
            continue;
        }
        if *step != "staged" && *step != "applied" {
            let err = f.plan("alpha").unwrap_err();
            assert!(
                err.contains("an interrupted tree change is pending"),
                "{step}: {err}"
            );
        }
        f.cmd("ka-tree-recover").assert().success();
        let want = if *step == "staged" { &before } else { &after };
        assert!(
            f.snapshot() == *want,
            "{bin} killed at {step}: tree is neither all-old nor all-new"
        );
        assert!(f.plan("alpha").is_ok());
        // nothing left behind but the lock
        let left: Vec<_> = std::fs::read_dir(f.repo().join(".ka-journal"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["lock"], "{step}");
    }
}

#[test]
fn kill_9_during_purge() {
    kill_at_every_step("ka-abandon", &["wifi", "--purge-from-fleet"]);
}

#[test]
fn kill_9_during_archive() {
    kill_at_every_step("ka-abandon", &["wifi", "--keep-as-archive"]);
}

#[test]
fn kill_9_during_migrate() {
    kill_at_every_step(
        "ka-migrate-tree",
        &["--from", "board/one", "--to", "soc/one"],
    );
}

#[test]
fn kill_9_during_import_then_the_next_import_finishes_it() {
    let f = Fleet::new();
    let src = f.outside("a.patch", change("drivers/net/wifi.c", 3, "3").as_bytes());
    let out = f
        .cmd("ka-import")
        .args(["c", "--to", "board/one", "--no-check"])
        .arg(&src)
        .env("KA_TEST_CRASH_AT", "op-1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let other = f.outside("b.patch", change("drivers/net/wifi.c", 6, "6").as_bytes());
    f.cmd("ka-import")
        .args(["d", "--to", "board/one", "--no-check"])
        .arg(&other)
        .assert()
        .success()
        .stderr(contains("finished ka-import change"));
    assert!(f.exists("patches/board/one/c/0001-a.patch"));
    assert!(f.exists("patches/board/one/d/0001-b.patch"));
}

#[test]
fn a_real_sigkill_from_outside() {
    let f = Fleet::new();
    let (_, after) = outcome(
        "ka-migrate-tree",
        &["--from", "board/one", "--to", "soc/one"],
    );
    let marker = f.tmp.path().join("paused");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("ka-migrate-tree"))
        .args(["--from", "board/one", "--to", "soc/one"])
        .current_dir(f.repo())
        .env("HOME", f.tmp.path().join("home"))
        .env("KA_TEST_PAUSE_AT", "op-2")
        .env("KA_TEST_PAUSED", &marker)
        .env_remove("KA_REPO")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // wait for the marker (a condition, not a clock): the process is parked mid-change
    while !marker.exists() {
        if let Some(st) = child.try_wait().unwrap() {
            panic!("exited before pausing: {st}");
        }
        std::thread::yield_now();
    }
    child.kill().unwrap(); // SIGKILL
    let st = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(st.signal(), Some(9));
    assert!(f.plan("beta").is_err());
    f.cmd("ka-tree-recover")
        .assert()
        .success()
        .stdout(contains("finished ka-migrate-tree change"));
    assert!(f.snapshot() == after);
}

#[test]
fn a_second_tree_verb_waits_for_the_lock_holder() {
    let f = Fleet::new();
    let marker = f.tmp.path().join("paused");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("ka-close"))
        .args(["wifi", "--status", "success"])
        .current_dir(f.repo())
        .env("HOME", f.tmp.path().join("home"))
        .env("KA_TEST_PAUSE_AT", "committed")
        .env("KA_TEST_PAUSED", &marker)
        .env_remove("KA_REPO")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    while !marker.exists() {
        assert!(child.try_wait().unwrap().is_none());
        std::thread::yield_now();
    }
    f.cmd("ka-abandon")
        .args(["wifi", "--purge-from-fleet"])
        .assert()
        .code(1)
        .stderr(contains("is locked by"))
        .stderr(contains("ka-close"));
    child.kill().unwrap();
    child.wait().unwrap();
}
