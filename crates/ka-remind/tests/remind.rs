//! ka-remind and ka-snooze on real stores in a temp KA_ROOT. Time is an
//! input (--now): the ladder is walked without sleeping.

use assert_cmd::Command;
use ka_block::store::block_id;
use ka_schema::{
    Block, BlockKind, BlockState, Notice, NoticeKind, NoticeState, NoticeSubject, Subject, V1,
};
use ka_testkit::env::Env;
use predicates::prelude::*;
use predicates::str::contains;
use std::fs;
use std::path::PathBuf;

/// The kit's private KA_ROOT and HOME, whose commands never inherit a KA_NOW:
/// time here is only ever `--now`.
struct RemindEnv {
    env: Env,
}

const T0: &str = "2026-03-01T08:00:00Z";

fn at(hours: f64) -> String {
    let t0 = ka_core::time::parse_time(T0).unwrap();
    ka_core::time::rfc3339(t0 + (hours * 3600.0) as i64)
}

impl RemindEnv {
    fn new() -> RemindEnv {
        RemindEnv { env: Env::new() }
    }
    fn cmd(&self, bin: &str) -> Command {
        let mut c = self.env.cmd(bin);
        c.env_remove("KA_NOW");
        c
    }
    fn path(&self, rel: &str) -> PathBuf {
        self.env.root().join(rel)
    }
    /// Write a block record as the block store would.
    fn block(&self, host: &str, state: BlockState, opened_at: &str) -> String {
        let subject = Subject::Host { host: host.into() };
        let id = block_id(BlockKind::Regression, &subject);
        let b = Block {
            kind: Default::default(),
            version: V1,
            id: id.clone(),
            block: BlockKind::Regression,
            subject,
            title: format!("[ka:regression] {host} hangs at boot"),
            detail: String::new(),
            state,
            opened_at: opened_at.into(),
            updated_at: opened_at.into(),
            filings: 1,
            lifted_at: None,
            lift_reason: None,
        };
        write_json(&self.path(&format!("blocks/{id}.json")), &b);
        id
    }
    fn notice(&self, host: &str, version: &str, opened_at: &str) -> String {
        let subject = NoticeSubject::Package {
            host: host.into(),
            package: format!("linux-{host}"),
            version: version.into(),
        };
        let id = ka_notice::notice_id(NoticeKind::Installable, &subject);
        let n = Notice {
            kind: Default::default(),
            version: V1,
            id: id.clone(),
            notice: NoticeKind::Installable,
            subject,
            title: format!("[ka:installable] linux-{host} {version} for {host}"),
            detail: String::new(),
            state: NoticeState::Open,
            opened_at: opened_at.into(),
            updated_at: opened_at.into(),
            filings: 1,
            closed_at: None,
            close_reason: None,
        };
        write_json(&self.path(&format!("notices/{id}.json")), &n);
        id
    }
    /// What ka-remind prints at `now` (it must succeed).
    fn remind(&self, now: &str) -> String {
        let out = self
            .cmd("ka-remind")
            .args(["--now", now])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        String::from_utf8(out).unwrap()
    }
    fn snapshot(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let mut all = Vec::new();
        for dir in ["blocks", "notices", "remind"] {
            if let Ok(entries) = fs::read_dir(self.path(dir)) {
                for e in entries.flatten() {
                    all.push((e.path(), fs::read(e.path()).unwrap()));
                }
            }
        }
        all.sort();
        all
    }
}

fn write_json<T: serde::Serialize>(path: &std::path::Path, doc: &T) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, serde_json::to_vec_pretty(doc).unwrap()).unwrap();
}

#[test]
fn nothing_open_is_silent() {
    let e = RemindEnv::new();
    assert_eq!(e.remind(T0), "");
}

#[test]
fn the_ladder_first_sight_then_1h_6h_and_daily() {
    let e = RemindEnv::new();
    let id = e.notice("fresnel", "6.1.158-2", T0);
    // first sight: due at once
    let out = e.remind(&at(0.0));
    assert!(
        out.contains("[ka:installable] linux-fresnel 6.1.158-2 for fresnel"),
        "{out}"
    );
    assert!(out.contains(&format!("ka-snooze {id}")), "{out}");
    assert!(out.contains("ka-install fresnel"), "{out}");
    assert_eq!(out.lines().count(), 1);
    // the same prompt again, and half an hour later: silent
    assert_eq!(e.remind(&at(0.0)), "");
    assert_eq!(e.remind(&at(0.5)), "");
    // +1 h
    assert_ne!(e.remind(&at(1.0)), "");
    assert_eq!(e.remind(&at(6.9)), "");
    // +6 h after that reminder
    assert_ne!(e.remind(&at(7.0)), "");
    assert_eq!(e.remind(&at(30.9)), "");
    // then every 24 h
    assert_ne!(e.remind(&at(31.0)), "");
    assert_eq!(e.remind(&at(54.0)), "");
    assert_ne!(e.remind(&at(55.0)), "");
    let state: serde_json::Value =
        serde_json::from_slice(&fs::read(e.path(&format!("remind/{id}.json"))).unwrap()).unwrap();
    assert_eq!(state["step"], 5);
    assert_eq!(state["first_seen"], at(0.0));
    assert_eq!(state["last_reminded"], at(55.0));
}

#[test]
fn gaps_count_from_the_last_reminder_so_an_absence_gives_one_reminder() {
    let e = RemindEnv::new();
    e.block("ohm", BlockState::Open, T0);
    assert_ne!(e.remind(&at(0.0)), "");
    // away for three days: one reminder, then the 6 h rung from there
    assert_ne!(e.remind(&at(72.0)), "");
    assert_eq!(e.remind(&at(72.5)), "");
    assert_eq!(e.remind(&at(77.9)), "");
    assert_ne!(e.remind(&at(78.0)), "");
}

#[test]
fn peek_shows_every_open_record_and_advances_nothing() {
    let e = RemindEnv::new();
    let b = e.block("ohm", BlockState::Open, T0);
    let n = e.notice("fresnel", "6.1.158-2", T0);
    e.remind(&at(0.0));
    let before = e.snapshot();
    let out = e
        .cmd("ka-remind")
        .args(["--peek", "--now", &at(0.5)])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    assert!(
        out.contains(&format!("{b}  next {} (in 30m)", at(1.0))),
        "{out}"
    );
    assert!(out.contains(&n), "{out}");
    let out = e
        .cmd("ka-remind")
        .args(["--peek", "--json", "--now", &at(1.0)])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let docs: Vec<serde_json::Value> = serde_json::Deserializer::from_slice(&out)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(docs.len(), 2);
    assert!(
        docs.iter()
            .all(|d| d["kind"] == "ka.reminder" && d["due"] == true)
    );
    assert_eq!(e.snapshot(), before, "--peek wrote something");
}

#[test]
fn json_prints_reminder_documents_of_what_is_due() {
    let e = RemindEnv::new();
    let id = e.block("ohm", BlockState::Open, T0);
    let out = e
        .cmd("ka-remind")
        .args(["--json", "--now", T0])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(doc["kind"], "ka.reminder");
    assert_eq!(doc["id"], id);
    assert_eq!(doc["store"], "block");
    assert_eq!(doc["record_kind"], "regression");
    assert_eq!(doc["host"], "ohm");
    assert_eq!(doc["step"], 0);
    assert_eq!(doc["next_at"], at(1.0));
}

#[test]
fn snooze_defaults_to_the_next_rung_and_for_sets_its_length() {
    let e = RemindEnv::new();
    let id = e.block("ohm", BlockState::Open, T0);
    e.remind(&at(0.0));
    e.remind(&at(1.0)); // two reminders given: the next rung is 6 h
    e.cmd("ka-snooze")
        .args([&id, "--now", &at(1.5)])
        .assert()
        .success()
        .stdout(contains(format!("{id} snoozed until {}", at(7.5))));
    // the ladder alone would remind at 7.0; the snooze holds until 7.5
    assert_eq!(e.remind(&at(7.0)), "");
    assert_ne!(e.remind(&at(7.5)), "");
    // a longer snooze
    e.cmd("ka-snooze")
        .args([&id, "--for", "2d", "--now", &at(8.0)])
        .assert()
        .success();
    assert_eq!(
        e.remind(&at(31.5)),
        "",
        "the ladder's daily rung is snoozed"
    );
    assert_ne!(e.remind(&at(56.0)), "");
    // after the snooze the ladder goes on: daily
    assert_eq!(e.remind(&at(79.0)), "");
    assert_ne!(e.remind(&at(80.0)), "");
}

#[test]
fn snoozing_a_record_never_reminded_starts_its_state() {
    let e = RemindEnv::new();
    let id = e.notice("fresnel", "6.1.158-2", T0);
    e.cmd("ka-snooze")
        .args([&id, "--for", "30m", "--now", T0])
        .assert()
        .success();
    assert_eq!(e.remind(&at(0.25)), "");
    assert_ne!(e.remind(&at(0.5)), "");
}

#[test]
fn a_snooze_is_audited_with_its_outcome() {
    let e = RemindEnv::new();
    let id = e.block("ohm", BlockState::Open, T0);
    e.cmd("ka-snooze")
        .args([&id, "--now", T0])
        .assert()
        .success();
    e.cmd("ka-snooze")
        .args(["regression-000000000000", "--now", T0])
        .assert()
        .code(2);
    let log = fs::read_to_string(e.path("audit/audit.log")).unwrap();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["verb"], "snooze");
    assert_eq!(lines[0]["result"], "ok");
    assert_eq!(lines[0]["at"], T0);
    assert_eq!(lines[0]["title"], format!("[ka:snooze] {id} --now {T0}"));
    assert_eq!(lines[1]["result"], "error");
    assert_eq!(lines[1]["exit_code"], 2);
    let records = fs::read_dir(e.path("audit/records")).unwrap().count();
    assert_eq!(records, 2);
}

#[test]
fn a_snooze_that_cannot_be_audited_says_so_and_fails() {
    let e = RemindEnv::new();
    let id = e.block("ohm", BlockState::Open, T0);
    fs::create_dir_all(e.path("audit/audit.log")).unwrap(); // a folder: not writable as a log
    e.cmd("ka-snooze")
        .args([&id, "--now", T0])
        .assert()
        .code(2)
        .stdout(contains("snoozed until"))
        .stderr(contains("auditing it failed"))
        .stderr(contains("audit.log"));
    // and a failing snooze keeps its own error first
    e.cmd("ka-snooze")
        .args(["nope-000000000000", "--now", T0])
        .assert()
        .code(2)
        .stderr(contains("no open record nope-000000000000"))
        .stderr(contains("auditing failed too"));
}

#[test]
fn snooze_of_an_unknown_id_names_it_and_writes_no_state() {
    let e = RemindEnv::new();
    e.block("ohm", BlockState::Open, T0);
    e.cmd("ka-snooze")
        .args(["installable-0123456789ab", "--now", T0])
        .assert()
        .code(2)
        .stderr(contains(
            "ka-snooze: error: no open record installable-0123456789ab; see ka-remind --peek",
        ));
    assert!(!e.path("remind").exists());
    // a lifted record is not open either
    let lifted = e.block("fresnel", BlockState::Lifted, T0);
    e.cmd("ka-snooze")
        .args([&lifted, "--now", T0])
        .assert()
        .code(2)
        .stderr(contains("no open record"));
    // an id that could not be a record at all
    e.cmd("ka-snooze")
        .args(["../../etc/passwd", "--now", T0])
        .assert()
        .code(2);
}

#[test]
fn a_duration_that_does_not_parse_is_refused_and_nothing_written() {
    let e = RemindEnv::new();
    let id = e.block("ohm", BlockState::Open, T0);
    e.remind(T0);
    let before = e.snapshot();
    for bad in ["5", "soon", "-1h", "1h30", ""] {
        e.cmd("ka-snooze")
            .args([id.clone(), format!("--for={bad}"), "--now".into(), at(0.5)])
            .assert()
            .code(2)
            .stderr(contains("duration"));
    }
    assert_eq!(e.snapshot(), before);
}

#[test]
fn time_going_backwards_is_refused_and_nothing_written() {
    let e = RemindEnv::new();
    let id = e.block("ohm", BlockState::Open, T0);
    e.remind(&at(2.0));
    let before = e.snapshot();
    e.cmd("ka-remind")
        .args(["--now", &at(1.0)])
        .assert()
        .code(2)
        .stdout("")
        .stderr(contains("time went backwards"))
        .stderr(contains(id.as_str()))
        .stderr(contains(at(2.0)));
    e.cmd("ka-snooze")
        .args([&id, "--now", &at(1.0)])
        .assert()
        .code(2)
        .stderr(contains("time went backwards"));
    assert_eq!(e.snapshot(), before);
    // an unparsable --now
    e.cmd("ka-remind")
        .args(["--now", "yesterday"])
        .assert()
        .code(2)
        .stderr(contains("YYYY-MM-DDTHH:MM:SSZ"));
}

#[test]
fn a_corrupt_state_or_record_file_is_named_and_nothing_changes() {
    let e = RemindEnv::new();
    let id = e.block("ohm", BlockState::Open, T0);
    e.notice("fresnel", "6.1.158-2", T0);
    e.remind(T0);
    let state = e.path(&format!("remind/{id}.json"));
    let text = fs::read_to_string(&state).unwrap();
    fs::write(&state, &text[..text.len() / 2]).unwrap();
    let before = e.snapshot();
    e.cmd("ka-remind")
        .args(["--now", &at(30.0)])
        .assert()
        .code(3)
        .stdout("")
        .stderr(contains("corrupt"))
        .stderr(contains(state.display().to_string()));
    assert_eq!(e.snapshot(), before);
    fs::write(&state, text).unwrap();

    // a half-written block record
    let block = e.path(&format!("blocks/{id}.json"));
    let text = fs::read_to_string(&block).unwrap();
    fs::write(&block, &text[..text.len() / 3]).unwrap();
    let before = e.snapshot();
    e.cmd("ka-remind")
        .args(["--now", &at(30.0)])
        .assert()
        .code(3)
        .stderr(contains(block.display().to_string()));
    assert_eq!(e.snapshot(), before);

    // a block of a kind this kernel-agent does not know
    fs::write(&block, text.replace("\"regression\"", "\"kernel-on-fire\"")).unwrap();
    e.cmd("ka-remind")
        .args(["--now", &at(30.0)])
        .assert()
        .code(3)
        .stderr(contains("kernel-on-fire"))
        .stderr(contains(block.display().to_string()));
    assert_eq!(
        e.snapshot()
            .iter()
            .filter(|(p, _)| p.starts_with(e.path("remind")))
            .count(),
        2
    );
}

#[test]
fn a_lifted_record_loses_its_state_and_a_reopened_one_starts_afresh() {
    let e = RemindEnv::new();
    let id = e.block("ohm", BlockState::Open, T0);
    e.remind(&at(0.0));
    e.remind(&at(1.0));
    assert!(e.path(&format!("remind/{id}.json")).exists());
    e.block("ohm", BlockState::Lifted, T0);
    assert_eq!(e.remind(&at(2.0)), "");
    assert!(!e.path(&format!("remind/{id}.json")).exists());
    // reopened: first sight again, then +1 h
    e.block("ohm", BlockState::Open, &at(3.0));
    assert_ne!(e.remind(&at(3.0)), "");
    assert_eq!(e.remind(&at(3.5)), "");
    assert_ne!(e.remind(&at(4.0)), "");
}

#[test]
fn reopened_between_two_runs_the_old_state_is_not_reused() {
    let e = RemindEnv::new();
    let id = e.block("ohm", BlockState::Open, T0);
    e.remind(&at(0.0));
    e.remind(&at(1.0));
    e.cmd("ka-snooze")
        .args([&id, "--for", "7d", "--now", &at(1.0)])
        .assert()
        .success();
    // lifted and filed again before ka-remind ran: a new opening
    e.block("ohm", BlockState::Open, &at(2.0));
    assert_ne!(
        e.remind(&at(2.0)),
        "",
        "the old snooze must not hide a new opening"
    );
}

#[test]
fn a_busy_reminder_lock_keeps_the_prompt_hook_silent() {
    let e = RemindEnv::new();
    e.block("ohm", BlockState::Open, T0);
    let lock =
        ka_core::hostlock::HostLock::acquire(&e.path("locks/remind.lock"), "another ka-remind")
            .unwrap();
    e.cmd("ka-remind")
        .args(["--now", T0])
        .assert()
        .success()
        .stdout("")
        .stderr("");
    e.cmd("ka-snooze")
        .args(["regression-000000000000", "--now", T0])
        .assert()
        .code(1)
        .stderr(contains("another ka-remind"));
    drop(lock);
    assert_ne!(e.remind(T0), "");
}

#[test]
fn a_root_inside_home_is_refused() {
    let e = RemindEnv::new();
    e.cmd("ka-remind")
        .env("KA_ROOT", e.env.home.path().join("ka"))
        .args(["--now", T0])
        .assert()
        .code(2)
        .stderr(contains("$HOME").and(contains("KA_ROOT")));
}
