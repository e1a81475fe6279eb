//! ka-prune, ka-restore-archive, ka-pause-prune, ka-resume-prune on a private
//! KA_ROOT, with time as an input (`--now`, KA_NOW).

use assert_cmd::Command;
use ka_schema::{PruneClass, PruneReport, PruneVerb};
use predicates::str::contains;
use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;

const NOW: &str = "2027-06-01T00:00:00Z";

struct Root {
    tmp: tempfile::TempDir,
    root: PathBuf,
}

impl Root {
    fn new() -> Root {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        fs::create_dir_all(tmp.path().join("home")).unwrap();
        fs::create_dir_all(&root).unwrap();
        Root { tmp, root }
    }

    fn p(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    fn cmd(&self, bin: &str) -> Command {
        let mut c = Command::cargo_bin(bin).unwrap();
        c.env("KA_ROOT", &self.root)
            .env("HOME", self.tmp.path().join("home"))
            .env("USER", "tester")
            .env_remove("KA_NOW")
            .env_remove("KA_TEST_CRASH_AT");
        c
    }

    fn prune(&self, args: &[&str]) -> Command {
        let mut c = self.cmd("ka-prune");
        if !args.contains(&"--now") {
            c.args(["--now", NOW]);
        }
        c.args(args);
        c
    }

    fn report(&self, args: &[&str], code: i32) -> PruneReport {
        let out = self.prune(&[&["--json"], args].concat()).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(code),
            "stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("one ka.prune-report")
    }

    fn write(&self, rel: &str, bytes: &[u8]) {
        let p = self.p(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, bytes).unwrap();
    }

    /// A build job: record, two packages, a log.
    fn job(&self, id: &str, finished: &str, render: Option<(&str, &str)>) {
        let render = render
            .map(|(h, r)| format!(r#","render":{{"host":"{h}","id":"{r}"}}"#))
            .unwrap_or_default();
        self.write(
            &format!("jobs/{id}.json"),
            format!(
                r#"{{"kind":"ka.job-result","version":1,"id":"{id}","host":"boltzmann","argv":["makepkg"],"exit_code":0,"duration_ms":1000,"stalled":false,"capped":false,"log":"/x/build.log","finished_at":"{finished}"{render}}}"#
            )
            .as_bytes(),
        );
        self.write(&format!("output/{id}/linux-{id}.pkg.tar.gz"), id.as_bytes());
        self.write(
            &format!("output/{id}/linux-{id}-headers.pkg.tar.gz"),
            b"headers\n",
        );
        self.write(&format!("logs/boltzmann/{id}/build.log"), b"log\n");
    }

    fn keep(&self, id: &str, until: Option<&str>) {
        let until = until
            .map(|u| format!(r#","until":"{u}""#))
            .unwrap_or_default();
        self.write(
            &format!("keep/{id}.json"),
            format!(
                r#"{{"kind":"ka.keep","version":1,"job":"{id}","kept_at":"2026-01-01T00:00:00Z"{until}}}"#
            )
            .as_bytes(),
        );
    }

    fn backup(&self, host: &str, version: &str, created: &str) {
        self.write(&format!("backups/{host}/{version}/boot.tar"), b"boot");
        self.write(
            &format!("backups/{host}/{version}/backup.json"),
            format!(
                r#"{{"kind":"ka.backup","version":1,"host":"{host}","kernel_version":"{version}","created_at":"{created}","files":[{{"file":"boot.tar","size":4,"b2sum":"x"}}]}}"#
            )
            .as_bytes(),
        );
    }
}

fn paths(r: &PruneReport, class: PruneClass) -> Vec<String> {
    r.actions
        .iter()
        .filter(|a| a.class == class)
        .map(|a| a.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

fn held(r: &PruneReport) -> Vec<(String, String)> {
    r.held
        .iter()
        .map(|h| {
            (
                h.path.file_name().unwrap().to_string_lossy().into_owned(),
                h.why.clone(),
            )
        })
        .collect()
}

// 2027-06-01 minus: 10 days, 40 days, 400 days
const YOUNG: &str = "2027-05-22T00:00:00Z";
const OLD: &str = "2027-04-22T00:00:00Z";
const ANCIENT: &str = "2026-04-27T00:00:00Z";

#[test]
fn old_outputs_are_archived_and_restored_byte_for_byte() {
    let r = Root::new();
    r.job("young", YOUNG, None);
    r.job("old", OLD, Some(("fresnel", "0123456789abcdef")));
    let report = r.report(&[], 0);
    assert_eq!(paths(&report, PruneClass::JobOutput), ["old"]);
    assert_eq!(report.actions[0].action, PruneVerb::Archive);
    assert_eq!(report.actions[0].age_secs, Some(40 * 86400));
    assert!(r.p("archive/old.tar").is_file());
    assert!(!r.p("output/old").exists());
    assert!(!r.p("jobs/old.json").exists());
    // logs stay a year, the young job stays whole
    assert!(r.p("logs/boltzmann/old/build.log").exists());
    assert!(r.p("output/young").is_dir() && r.p("jobs/young.json").exists());
    // nothing left over
    assert_eq!(fs::read_dir(r.p("archive")).unwrap().count(), 1);
    assert_eq!(fs::read_dir(r.p("output")).unwrap().count(), 1);

    r.cmd("ka-restore-archive")
        .arg("old")
        .assert()
        .success()
        .stdout(contains("restored 2 file(s)").and(contains("ka-keep")));
    assert_eq!(
        fs::read(r.p("output/old/linux-old.pkg.tar.gz")).unwrap(),
        b"old"
    );
    assert_eq!(
        fs::read(r.p("output/old/linux-old-headers.pkg.tar.gz")).unwrap(),
        b"headers\n"
    );
    let record = fs::read_to_string(r.p("jobs/old.json")).unwrap();
    assert!(record.contains(r#""render":{"host":"fresnel","id":"0123456789abcdef"}"#));
    assert!(r.p("archive/old.tar").is_file(), "the archive stays");

    // onto an existing output: refused, nothing touched
    r.cmd("ka-restore-archive")
        .arg("old")
        .assert()
        .code(1)
        .stderr(contains("ka-restore-archive: error: refusing").and(contains("output/old exists")));
    assert_eq!(
        fs::read(r.p("output/old/linux-old.pkg.tar.gz")).unwrap(),
        b"old"
    );
    // archiving it again is idempotent
    r.report(&[], 0);
    assert!(!r.p("output/old").exists() && r.p("archive/old.tar").is_file());
}

use predicates::prelude::PredicateBooleanExt;

#[test]
fn restore_of_an_unknown_or_invalid_job_is_refused() {
    let r = Root::new();
    r.cmd("ka-restore-archive")
        .arg("nosuch-20270101T000000Z-deadbeef")
        .assert()
        .code(2)
        .stderr(contains(
            "no archive for job nosuch-20270101T000000Z-deadbeef",
        ));
    r.job("young", YOUNG, None);
    r.cmd("ka-restore-archive")
        .arg("young")
        .assert()
        .code(2)
        .stderr(contains("is in place: nothing to restore"));
    r.cmd("ka-restore-archive")
        .arg("../etc")
        .assert()
        .code(3)
        .stderr(contains("invalid job id"));
    // a damaged archive: nothing restored
    r.write("archive/bad.tar", b"not a tar at all");
    r.cmd("ka-restore-archive")
        .arg("bad")
        .assert()
        .code(3)
        .stderr(contains("not a readable job archive"));
    assert!(!r.p("output/bad").exists());
    assert!(!r.p("output/.restore-bad").exists());
}

#[test]
fn dry_run_changes_nothing() {
    let r = Root::new();
    r.job("old", OLD, None);
    r.backup("fresnel", "6.1.1", ANCIENT);
    r.backup("fresnel", "6.1.2", OLD);
    r.prune(&["--dry-run"]).assert().success().stdout(
        contains("would archive")
            .and(contains("output/old"))
            .and(contains("would remove"))
            .and(contains("backups/fresnel/6.1.1"))
            .and(contains("1 to archive, 1 to remove, 1 held")),
    );
    assert!(r.p("output/old").is_dir() && r.p("jobs/old.json").is_file());
    assert!(r.p("backups/fresnel/6.1.1").is_dir());
    assert!(!r.p("archive").exists());
}

#[test]
fn kept_jobs_lose_nothing_and_an_expired_keep_is_ignored() {
    let r = Root::new();
    for id in ["forever", "until-later", "expired"] {
        r.job(id, ANCIENT, None);
    }
    r.keep("forever", None);
    r.keep("until-later", Some("2027-07-01T00:00:00Z"));
    r.keep("expired", Some("2027-05-01T00:00:00Z"));
    // an old archive and old logs of a kept job
    r.write("logs/boltzmann/forever/build.log", b"log\n");
    let report = r.report(&[], 0);
    assert_eq!(paths(&report, PruneClass::JobOutput), ["expired"]);
    assert_eq!(paths(&report, PruneClass::Log), ["expired"]);
    for id in ["forever", "until-later"] {
        assert!(r.p(&format!("output/{id}")).is_dir(), "{id}");
        assert!(r.p(&format!("logs/boltzmann/{id}")).is_dir(), "{id}");
    }
    let held = held(&report);
    assert!(held.contains(&("forever".into(), "kept (ka-keep, without an end)".into())));
    assert!(held.contains(&(
        "until-later".into(),
        "kept until 2027-07-01T00:00:00Z".into()
    )));

    // the archive of a kept job stays past a year
    r.keep("expired", None);
    let report = r.report(&["--now", "2028-06-01T00:00:00Z"], 0);
    assert!(paths(&report, PruneClass::Archive).is_empty());
    assert!(r.p("archive/expired.tar").is_file());
    fs::remove_file(r.p("keep/expired.json")).unwrap();
    let report = r.report(&["--now", "2028-06-01T00:00:00Z"], 0);
    // until-later's keep ran out in the meantime: archived the run before, now removed
    assert_eq!(
        paths(&report, PruneClass::Archive),
        ["expired.tar", "until-later.tar"]
    );
    assert!(!r.p("archive/expired.tar").exists());
    assert!(r.p("output/forever").is_dir() && r.p("logs/boltzmann/forever").is_dir());
}

#[test]
fn archives_and_logs_go_after_a_year() {
    let r = Root::new();
    r.job("a", OLD, None);
    r.report(&[], 0);
    assert!(r.p("archive/a.tar").is_file());
    // 364 days after it finished: still there
    let report = r.report(&["--now", "2028-04-20T00:00:00Z"], 0);
    assert!(report.actions.is_empty(), "{:?}", report.actions);
    let report = r.report(&["--now", "2028-04-23T00:00:00Z"], 0);
    assert_eq!(paths(&report, PruneClass::Archive), ["a.tar"]);
    assert_eq!(paths(&report, PruneClass::Log), ["a"]);
    assert!(!r.p("archive/a.tar").exists());
    assert!(!r.p("logs/boltzmann/a").exists());
}

#[test]
fn legacy_records_are_aged_by_the_time_in_their_id_and_odd_logs_are_reported() {
    let r = Root::new();
    let id = "fresnel-20260101T000000Z-01234567";
    r.write(
        &format!("jobs/{id}.json"),
        format!(r#"{{"kind":"ka.job-result","version":1,"id":"{id}","host":"b","argv":["true"],"exit_code":0,"duration_ms":1,"stalled":false,"capped":false,"log":"/x"}}"#).as_bytes(),
    );
    r.write(&format!("output/{id}/p.pkg"), b"p");
    // a log of a job with no record: its id tells its age
    r.write(
        "logs/boltzmann/fresnel-20260102T000000Z-89abcdef/build.log",
        b"x",
    );
    // a file directly under logs/<host>/ is not a job log
    r.write("logs/boltzmann/release.log", b"x");
    // a log folder whose age nobody can tell
    r.write("logs/boltzmann/mystery/build.log", b"x");
    let report = r.report(&[], 3);
    assert_eq!(paths(&report, PruneClass::JobOutput), [id]);
    assert_eq!(
        paths(&report, PruneClass::Log),
        ["fresnel-20260102T000000Z-89abcdef"]
    );
    assert_eq!(report.problems.len(), 1);
    assert!(report.problems[0].error.contains("cannot tell its age"));
    assert!(r.p("logs/boltzmann/mystery").is_dir());
    assert!(r.p("logs/boltzmann/release.log").is_file());
}

#[test]
fn backups_go_after_seven_days_but_never_the_newest_and_never_by_guess() {
    let r = Root::new();
    r.backup("fresnel", "6.1.1", "2027-05-01T00:00:00Z");
    r.backup("fresnel", "6.1.2", "2027-05-15T00:00:00Z");
    r.backup("fresnel", "6.1.3", "2027-05-27T00:00:00Z"); // 5 days old
    r.backup("fresnel", "6.1.4", "2027-05-30T00:00:00Z"); // 2 days old
    r.backup("euler", "6.6.0", "2026-01-01T00:00:00Z"); // the only one: stays
    // a folder without a record, one with a corrupt record, one whose record lies
    r.write("backups/euler/6.5.0/boot.tar", b"boot");
    r.write(
        "backups/euler/6.4.0/backup.json",
        b"{\"kind\":\"ka.backup\",",
    );
    r.backup("euler", "6.3.0", "2026-01-01T00:00:00Z");
    fs::write(
        r.p("backups/euler/6.3.0/backup.json"),
        r#"{"kind":"ka.backup","version":1,"host":"fresnel","kernel_version":"6.3.0","created_at":"2026-01-01T00:00:00Z","files":[]}"#,
    )
    .unwrap();
    // a backup being written (dot name) is not looked at
    r.write("backups/euler/.6.7.0.tmp/boot.tar", b"boot");
    let out = r.prune(&[]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("backups/euler/6.5.0/backup.json"),
        "{stderr}"
    );
    assert!(
        stderr.contains("backups/euler/6.4.0/backup.json"),
        "{stderr}"
    );
    assert!(stderr.contains("names host fresnel"), "{stderr}");
    assert!(
        stderr.contains("never removed without a readable record"),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("removed       backup"), "{stdout}");
    assert!(stdout.contains("held          backup"), "{stdout}");
    assert!(stdout.contains("the newest backup of euler"), "{stdout}");
    for gone in ["fresnel/6.1.1", "fresnel/6.1.2"] {
        assert!(!r.p(&format!("backups/{gone}")).exists(), "{gone}");
    }
    for stays in [
        "fresnel/6.1.3",
        "fresnel/6.1.4",
        "euler/6.6.0",
        "euler/6.5.0",
        "euler/6.4.0",
        "euler/6.3.0",
        "euler/.6.7.0.tmp",
    ] {
        assert!(r.p(&format!("backups/{stays}")).is_dir(), "{stays}");
    }
}

#[test]
fn a_backup_made_by_a_kept_install_job_stays() {
    let r = Root::new();
    r.backup("fresnel", "6.1.1", "2027-01-01T00:00:00Z");
    r.backup("fresnel", "6.1.2", "2027-05-30T00:00:00Z");
    fs::write(
        r.p("backups/fresnel/6.1.1/backup.json"),
        r#"{"kind":"ka.backup","version":1,"host":"fresnel","kernel_version":"6.1.1","created_at":"2027-01-01T00:00:00Z","job":"install-1","files":[]}"#,
    )
    .unwrap();
    r.keep("install-1", None);
    let report = r.report(&[], 0);
    assert!(report.actions.is_empty());
    assert!(held(&report)[0].1.contains("install job install-1"));
}

#[test]
fn render_folders_go_unless_current_or_used_by_a_recent_or_kept_job() {
    let r = Root::new();
    let renders = r.p("hosts/fresnel/render");
    let shared = r.p("baselines/archives/abc.tar");
    r.write("baselines/archives/abc.tar", b"baseline tarball");
    for id in [
        "current0000000000",
        "recent0000000000",
        "oldjob0000000000",
        "nojob00000000000",
        "kept000000000000",
    ] {
        fs::create_dir_all(renders.join(id)).unwrap();
        fs::hard_link(&shared, renders.join(id).join("linux.tar")).unwrap();
    }
    fs::create_dir_all(r.p("hosts/fresnel/promotions/current0000000000")).unwrap();
    std::os::unix::fs::symlink(
        "promotions/current0000000000",
        r.p("hosts/fresnel/promoted"),
    )
    .unwrap();
    r.job("j-recent", YOUNG, Some(("fresnel", "recent0000000000")));
    r.job("j-old", OLD, Some(("fresnel", "oldjob0000000000")));
    r.job("j-kept", ANCIENT, Some(("fresnel", "kept000000000000")));
    r.keep("j-kept", None);
    // ka-render's own temp folder is not ours
    fs::create_dir_all(renders.join(".tmp-x-1")).unwrap();
    let report = r.report(&[], 0);
    let mut gone = paths(&report, PruneClass::Render);
    gone.sort();
    assert_eq!(gone, ["nojob00000000000", "oldjob0000000000"]);
    for id in [
        "current0000000000",
        "recent0000000000",
        "kept000000000000",
        ".tmp-x-1",
    ] {
        assert!(renders.join(id).is_dir(), "{id}");
    }
    assert_eq!(fs::read(&shared).unwrap(), b"baseline tarball");
    assert!(
        held(&report)
            .iter()
            .any(|(p, why)| p == "kept000000000000" && why.contains("job j-kept built it"))
    );
}

#[test]
fn a_render_in_use_by_ka_build_is_left_for_the_next_run() {
    let r = Root::new();
    fs::create_dir_all(r.p("hosts/fresnel/render/old0000000000000")).unwrap();
    let _busy =
        ka_core::hostlock::HostLock::acquire(&r.p("locks/build-fresnel.lock"), "ka-build fresnel")
            .unwrap();
    let report = r.report(&[], 0);
    assert!(report.actions.is_empty());
    assert!(held(&report)[0].1.contains("ka-build fresnel"));
    assert!(r.p("hosts/fresnel/render/old0000000000000").is_dir());
}

#[test]
fn a_corrupt_keep_record_holds_its_job_and_fails_the_run() {
    let r = Root::new();
    r.job("j1", ANCIENT, None);
    r.job("j2", ANCIENT, None);
    r.write("keep/j1.json", b"{\"job\":\"j1\"");
    let out = r.prune(&[]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("keep/j1.json"), "{stderr}");
    assert!(stderr.contains("held as if kept"), "{stderr}");
    assert!(r.p("output/j1").is_dir() && r.p("logs/boltzmann/j1").is_dir());
    // the others went on
    assert!(r.p("archive/j2.tar").is_file() && !r.p("output/j2").exists());
}

#[test]
fn a_corrupt_job_record_is_named_and_its_job_left_alone() {
    let r = Root::new();
    r.job("j1", ANCIENT, None);
    r.job("j2", ANCIENT, None);
    r.write(
        "jobs/j1.json",
        b"{\"kind\":\"ka.job-result\",\"version\":1,\"id\":\"j1\"}",
    );
    let out = r.prune(&[]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("jobs/j1.json"), "{stderr}");
    assert!(stderr.contains("left alone"), "{stderr}");
    assert!(r.p("output/j1").is_dir() && r.p("logs/boltzmann/j1").is_dir());
    assert!(r.p("archive/j2.tar").is_file());
}

#[test]
fn an_item_that_cannot_be_archived_is_reported_and_the_others_go_on() {
    let r = Root::new();
    r.job("j1", ANCIENT, None);
    r.job("j2", ANCIENT, None);
    std::os::unix::fs::symlink("/etc/hostname", r.p("output/j1/link")).unwrap();
    let out = r.prune(&[]).output().unwrap();
    assert_ne!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("output/j1/link: not a regular file"),
        "{stderr}"
    );
    assert!(r.p("output/j1").is_dir() && r.p("jobs/j1.json").is_file());
    assert!(!r.p("archive/j1.tar").exists());
    assert!(!r.p("archive/.j1.tar.tmp").exists());
    assert!(r.p("archive/j2.tar").is_file() && !r.p("output/j2").exists());
}

#[test]
fn bad_now_and_bad_config_are_refused_before_anything_happens() {
    let r = Root::new();
    r.job("j1", ANCIENT, None);
    r.cmd("ka-prune")
        .args(["--now", "last tuesday"])
        .assert()
        .code(2)
        .stderr(contains("ka-prune: error: --now: time \"last tuesday\""));
    r.cmd("ka-prune")
        .env("KA_NOW", "soon")
        .assert()
        .code(2)
        .stderr(contains("time \"soon\""));
    r.write("retention.yaml", b"logs: 1y\n");
    r.prune(&[])
        .assert()
        .code(3)
        .stderr(contains("retention.yaml:1:7: logs: duration \"1y\""));
    r.write("retention.yaml", b"log: 30d\n");
    r.prune(&[])
        .assert()
        .code(3)
        .stderr(contains("retention.yaml:1:1: unknown field `log`"));
    assert!(r.p("output/j1").is_dir());
    // a valid config changes the periods
    r.write("retention.yaml", b"job_outputs: 500d\nlogs: 500d\n");
    let report = r.report(&[], 0);
    assert!(report.actions.is_empty(), "{:?}", report.actions);
    let report = r.report(
        &["--now", "2027-06-01T00:00:00Z", "--config", "/dev/null"],
        0,
    );
    assert_eq!(paths(&report, PruneClass::JobOutput), ["j1"]);
}

#[test]
fn pause_and_resume() {
    let r = Root::new();
    r.job("j1", ANCIENT, None);
    r.cmd("ka-resume-prune")
        .assert()
        .success()
        .stdout(contains("was not paused"));
    r.cmd("ka-pause-prune")
        .args([
            "--reason",
            "bisecting 6.1.2",
            "--now",
            "2027-05-31T12:00:00Z",
        ])
        .assert()
        .success()
        .stdout(contains("prune paused by tester@"));
    r.cmd("ka-pause-prune")
        .assert()
        .success()
        .stdout(contains("already paused"));
    r.prune(&[]).assert().code(1).stderr(
        contains("paused by tester@")
            .and(contains("since 2027-05-31T12:00:00Z"))
            .and(contains("bisecting 6.1.2"))
            .and(contains("ka-resume-prune")),
    );
    assert!(r.p("output/j1").is_dir());
    let out = r.cmd("ka-resume-prune").arg("--json").output().unwrap();
    assert!(out.status.success());
    let doc: ka_schema::VerbResult = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        doc.message.contains("resumed (it was paused by tester@"),
        "{}",
        doc.message
    );
    r.cmd("ka-resume-prune")
        .assert()
        .success()
        .stdout(contains("was not paused"));
    r.report(&[], 0);
    assert!(!r.p("output/j1").exists());
}

#[test]
fn two_prunes_never_run_at_once() {
    let r = Root::new();
    let _held = ka_core::hostlock::HostLock::acquire(&r.p("locks/prune.lock"), "ka-prune").unwrap();
    r.prune(&[])
        .assert()
        .code(1)
        .stderr(contains("locked by").and(contains("ka-prune")));
    r.cmd("ka-restore-archive")
        .arg("j1")
        .assert()
        .code(1)
        .stderr(contains("locked by"));
}

/// Kill the prune at each step of archiving: afterwards the packages are in
/// the output or the archive (or both), and the next prune finishes the job.
#[test]
fn a_crash_at_any_step_of_archiving_loses_nothing() {
    for step in [
        "archive-temp-written",
        "archive-written",
        "output-moved-aside",
        "output-removed",
    ] {
        let r = Root::new();
        r.job("j1", OLD, None);
        let out = r.prune(&[]).env("KA_TEST_CRASH_AT", step).output().unwrap();
        assert_eq!(out.status.signal(), Some(9), "{step}: {out:?}");
        let in_output = r.p("output/j1/linux-j1.pkg.tar.gz").is_file();
        let in_archive = r.p("archive/j1.tar").is_file();
        assert!(
            in_output || in_archive,
            "{step}: neither output nor archive"
        );

        let report = r.report(&[], 0);
        assert!(
            report
                .actions
                .iter()
                .any(|a| a.class == PruneClass::JobOutput),
            "{step}: {:?}",
            report.actions
        );
        if step == "archive-temp-written" || step == "output-moved-aside" {
            assert!(
                report
                    .actions
                    .iter()
                    .any(|a| a.class == PruneClass::Leftover),
                "{step}: {:?}",
                report.actions
            );
        }
        assert!(!r.p("output/j1").exists(), "{step}");
        assert!(!r.p("jobs/j1.json").exists(), "{step}");
        let leftovers: Vec<_> = fs::read_dir(r.p("output"))
            .unwrap()
            .chain(fs::read_dir(r.p("archive")).unwrap())
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, ["j1.tar"], "{step}");
        r.cmd("ka-restore-archive").arg("j1").assert().success();
        assert_eq!(
            fs::read(r.p("output/j1/linux-j1.pkg.tar.gz")).unwrap(),
            b"j1",
            "{step}"
        );
    }
}

#[test]
fn a_crash_in_the_middle_of_a_restore_is_cleaned_up() {
    let r = Root::new();
    r.job("j1", OLD, None);
    r.report(&[], 0);
    let out = r
        .cmd("ka-restore-archive")
        .arg("j1")
        .env("KA_TEST_CRASH_AT", "restore-extracted")
        .output()
        .unwrap();
    assert_eq!(out.status.signal(), Some(9));
    assert!(r.p("archive/j1.tar").is_file());
    assert!(r.p("output/.restore-j1").is_dir());
    let report = r.report(&[], 0);
    assert!(
        report
            .actions
            .iter()
            .any(|a| a.class == PruneClass::Leftover)
    );
    assert!(!r.p("output/.restore-j1").exists());
    r.cmd("ka-restore-archive").arg("j1").assert().success();
    assert!(r.p("output/j1/linux-j1.pkg.tar.gz").is_file());
}

#[test]
fn a_leftover_moved_aside_without_its_archive_is_never_removed() {
    let r = Root::new();
    r.write("output/.prune-j9/p.pkg", b"p");
    let report = r.report(&[], 3);
    assert!(report.actions.is_empty());
    assert!(report.problems[0].error.contains("left alone"));
    assert!(r.p("output/.prune-j9/p.pkg").is_file());
}

#[test]
fn an_output_without_its_job_record_is_reported_and_kept() {
    let r = Root::new();
    r.write("output/orphan/p.pkg", b"p");
    let report = r.report(&[], 3);
    assert!(report.problems[0].error.contains("without its job record"));
    assert!(r.p("output/orphan/p.pkg").is_file());
}
