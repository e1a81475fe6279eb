//! ka-gitea against a fake Gitea on 127.0.0.1 that checks every request
//! against Gitea's API description (tests/fixtures/gitea/). Blocks are filed
//! through the ka-block library, exactly as `ka-block file` does; flushing and
//! pulling run the real ka-gitea binary.

use assert_cmd::Command;
use ka_block::store::Store;
use ka_core::paths::Layout;
use ka_fake_gitea::{FakeGitea, FaultKind};
use ka_schema::{Block, BlockKind, BlockState, Subject};
use ka_testkit::env::Env;
use predicates::str::contains;
use std::fs;
use std::path::PathBuf;
use tempfile::TempDir;

const TOKEN: &str = "s3cr3t-token-value";

/// The kit's KA_ROOT and HOME, configured to mirror to a fake Gitea whose
/// token is in a secrets folder outside both.
struct MirrorEnv {
    env: Env,
    secrets: TempDir,
    fake: FakeGitea,
}

impl MirrorEnv {
    fn new() -> MirrorEnv {
        let e = MirrorEnv {
            env: Env::new(),
            secrets: tempfile::tempdir().unwrap(),
            fake: FakeGitea::start("owner", "fleet", TOKEN),
        };
        fs::write(e.token_file(), format!("{TOKEN}\n")).unwrap();
        e.config(&e.fake.url(), "fleet", "timeout: 5s\n    attempts: 3");
        e
    }

    fn token_file(&self) -> PathBuf {
        self.secrets.path().join("gitea-token")
    }

    /// Write config.yaml; `extra` is more keys of issues.gitea.
    fn config(&self, url: &str, repo: &str, extra: &str) {
        let text = format!(
            "issues:\n  backend: gitea\n  gitea:\n    url: {url}\n    owner: owner\n    repo: {repo}\n    token_file: {}\n    backoff: 0s\n    {extra}\n",
            self.token_file().display()
        );
        fs::write(self.env.root().join("config.yaml"), text).unwrap();
    }

    fn layout(&self) -> Layout {
        Layout::new(self.env.root().to_path_buf())
    }

    fn store(&self) -> Store {
        Store::open(&self.layout()).unwrap()
    }

    fn file(&self, host: &str, detail: &str) -> Block {
        self.store()
            .file(
                BlockKind::HostDrifted,
                Subject::Host { host: host.into() },
                &format!("{host} runs a kernel it was not given"),
                detail,
            )
            .unwrap()
    }

    fn lift(&self, id: &str, reason: &str) -> Block {
        self.store().lift(id, reason).unwrap()
    }

    fn block(&self, id: &str) -> Block {
        Store::local(&self.layout()).get(id).unwrap()
    }

    fn gitea(&self, args: &[&str]) -> Command {
        let mut c = self.env.cmd("ka-gitea");
        c.args(args)
            .env_remove("KA_CONFIG")
            .env_remove("http_proxy")
            .env_remove("HTTP_PROXY")
            .env_remove("ALL_PROXY")
            .env_remove("all_proxy");
        c
    }

    fn outbox(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = fs::read_dir(self.env.root().join("gitea/outbox"))
            .map(|d| {
                d.map(|e| e.unwrap().path())
                    .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    fn link_path(&self, block_id: &str) -> PathBuf {
        self.env
            .root()
            .join(format!("gitea/issues/block/{block_id}.json"))
    }

    fn count(&self, request_prefix: &str) -> usize {
        self.fake
            .requests()
            .iter()
            .filter(|r| {
                r.as_str() == request_prefix || r.starts_with(&format!("{request_prefix}?"))
            })
            .count()
    }

    /// Every request the tests made was valid under the API description.
    fn done(self) {
        let v = self.fake.violations();
        assert!(v.is_empty(), "requests broke the API description: {v:#?}");
    }
}

const ISSUES: &str = "POST /api/v1/repos/owner/fleet/issues";

#[test]
fn filing_opens_one_issue_with_prefix_labels_and_ka_id() {
    let e = MirrorEnv::new();
    let b = e.file("fresnel", "installed 6.1.0-x, expected 6.1.0-y");
    assert_eq!(e.outbox().len(), 1, "queued before any flush");
    e.gitea(&["flush"])
        .assert()
        .success()
        .stderr(contains("opened #1"))
        .stdout("");
    let issues = e.fake.issues();
    assert_eq!(issues.len(), 1);
    let i = &issues[0];
    assert_eq!(
        i.title,
        "[ka:host-drifted] fresnel runs a kernel it was not given"
    );
    assert_eq!(i.state, "open");
    assert!(i.body.contains("installed 6.1.0-x, expected 6.1.0-y"));
    assert!(i.body.contains(&format!("ka-id: block/{}", b.id)));
    assert_eq!(
        e.fake.label_names(i),
        vec!["ka", "ka:block", "ka:host-drifted"]
    );
    assert!(e.outbox().is_empty());
    assert!(e.link_path(&b.id).exists());
    e.gitea(&["status"])
        .assert()
        .success()
        .stdout(contains("queued:   0 event(s)"))
        .stdout(contains("linked:   1 record(s)"));
    // A second block reuses the labels: only its kind's label is new.
    e.file("boltzmann", "d");
    e.gitea(&["flush"]).assert().success();
    assert_eq!(e.fake.issues().len(), 2);
    assert_eq!(e.fake.state().labels.len(), 3);
    e.done();
}

#[test]
fn filing_the_same_block_again_is_one_issue_and_a_new_detail_is_a_comment() {
    let e = MirrorEnv::new();
    e.file("fresnel", "same words");
    e.gitea(&["flush"]).assert().success();
    let b = e.file("fresnel", "same words");
    assert_eq!(b.filings, 2);
    assert!(
        e.outbox().is_empty(),
        "a repeat with the same words queues nothing"
    );
    e.file("fresnel", "now it runs 6.1.0-z");
    e.gitea(&["flush"]).assert().success();
    // Queued twice before one flush: still one issue.
    e.file("fresnel", "detail three");
    e.file("fresnel", "detail four");
    e.gitea(&["flush"]).assert().success();
    assert_eq!(e.fake.issues().len(), 1);
    assert_eq!(e.count(ISSUES), 1);
    let comments = e.fake.comments_on(1);
    assert_eq!(comments.len(), 3, "{comments:?}");
    assert!(comments[0].starts_with("Filed again (filing 3):\n\nnow it runs 6.1.0-z"));
    assert!(comments[2].contains("detail four"));
    e.done();
}

#[test]
fn lifting_comments_and_closes_the_issue_and_refiling_reopens_it() {
    let e = MirrorEnv::new();
    let b = e.file("fresnel", "d");
    e.gitea(&["flush"]).assert().success();
    e.lift(&b.id, "a later install converged");
    e.gitea(&["flush"])
        .assert()
        .success()
        .stderr(contains("#1 is now closed"));
    let i = &e.fake.issues()[0];
    assert_eq!(i.state, "closed");
    assert!(e.fake.comments_on(1)[0].starts_with("Lifted: a later install converged"));
    e.file("fresnel", "drifted again");
    e.gitea(&["flush"]).assert().success();
    assert_eq!(e.fake.issues().len(), 1);
    assert_eq!(e.fake.issues()[0].state, "open");
    assert!(e.fake.comments_on(1)[1].contains("drifted again"));
    e.done();
}

#[test]
fn an_issue_closed_in_gitea_lifts_the_block_on_pull_and_reopened_opens_it() {
    let e = MirrorEnv::new();
    let b = e.file("fresnel", "d");
    e.gitea(&["flush"]).assert().success();
    e.gitea(&["pull"]).assert().success().stdout("");
    e.fake.set_state(1, "closed");
    let out = e.gitea(&["pull"]).assert().success().get_output().clone();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let pulled: Block = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(pulled.id, b.id);
    let local = e.block(&b.id);
    assert_eq!(local.state, BlockState::Lifted);
    assert_eq!(local.lift_reason.as_deref(), Some("closed in Gitea #1"));
    // The lift came from Gitea: nothing is queued back, no comment is posted.
    assert!(e.outbox().is_empty());
    e.gitea(&["pull"]).assert().success().stdout("");
    assert!(e.fake.comments_on(1).is_empty());
    e.fake.set_state(1, "open");
    e.gitea(&["pull"]).assert().success();
    assert_eq!(e.block(&b.id).state, BlockState::Open);
    e.done();
}

#[test]
fn pull_sends_queued_local_changes_first() {
    let e = MirrorEnv::new();
    let b = e.file("fresnel", "d");
    e.gitea(&["flush"]).assert().success();
    e.lift(&b.id, "fixed here");
    // The local lift is newer than Gitea's open state: it must not be undone.
    e.gitea(&["pull"]).assert().success();
    assert_eq!(e.block(&b.id).state, BlockState::Lifted);
    assert_eq!(e.fake.issues()[0].state, "closed");
    e.done();
}

#[test]
fn network_down_keeps_the_event_queued_and_a_later_flush_sends_it_once() {
    let e = MirrorEnv::new();
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    e.config(&dead, "fleet", "attempts: 2");
    let b = e.file("fresnel", "d");
    e.gitea(&["flush"])
        .assert()
        .code(2)
        .stderr(contains("no success after 2 attempt(s)"))
        .stderr(contains("still queued"));
    assert_eq!(e.outbox().len(), 1);
    assert_eq!(
        e.block(&b.id).state,
        BlockState::Open,
        "the local block stands"
    );
    e.gitea(&["status"])
        .assert()
        .success()
        .stdout(contains("queued:   1 event(s)"))
        .stdout(contains("no success after 2 attempt(s)"));
    e.lift(&b.id, "meanwhile fixed");
    e.config(&e.fake.url(), "fleet", "attempts: 2");
    e.gitea(&["flush"]).assert().success();
    e.gitea(&["flush"]).assert().success();
    assert_eq!(e.count(ISSUES), 1);
    assert_eq!(e.fake.issues().len(), 1);
    assert_eq!(e.fake.issues()[0].state, "closed");
    assert!(e.outbox().is_empty());
    e.gitea(&["status"])
        .assert()
        .success()
        .stdout(predicates::str::contains("error:").not());
    e.done();
}

use predicates::prelude::PredicateBooleanExt;

#[test]
fn a_500_is_retried_and_then_succeeds() {
    let e = MirrorEnv::new();
    e.fake.fault(
        FaultKind::Status(500, "database is locked".into()),
        Some("POST"),
        Some("/issues"),
        2,
    );
    e.file("fresnel", "d");
    e.gitea(&["flush"]).assert().success();
    assert_eq!(e.count(ISSUES), 3);
    assert_eq!(e.fake.issues().len(), 1);
    e.done();
}

#[test]
fn a_500_that_persists_leaves_the_event_queued_and_says_so() {
    let e = MirrorEnv::new();
    e.fake.fault(
        FaultKind::Status(500, "database is locked".into()),
        Some("POST"),
        Some("/issues"),
        3,
    );
    e.file("fresnel", "d");
    e.gitea(&["flush"]).assert().code(2).stderr(contains(
        "no success after 3 attempt(s), last: 500 database is locked",
    ));
    assert_eq!(e.outbox().len(), 1);
    assert!(e.fake.issues().is_empty());
    e.gitea(&["flush"]).assert().success();
    assert_eq!(e.fake.issues().len(), 1);
    e.done();
}

#[test]
fn a_401_is_not_retried_and_names_the_token_file_but_never_the_token() {
    let e = MirrorEnv::new();
    fs::write(e.token_file(), "wrong-token\n").unwrap();
    e.file("fresnel", "d");
    let out = e
        .gitea(&["flush"])
        .assert()
        .code(2)
        .stderr(contains("401 Unauthorized"))
        .stderr(contains(e.token_file().display().to_string()))
        .get_output()
        .clone();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        !stderr.contains("wrong-token") && !stderr.contains(TOKEN),
        "{stderr}"
    );
    assert_eq!(e.fake.requests().len(), 1, "not retried");
    assert_eq!(e.outbox().len(), 1);
    e.done();
}

#[test]
fn a_404_says_to_check_url_owner_and_repo() {
    let e = MirrorEnv::new();
    e.config(&e.fake.url(), "no-such-repo", "");
    e.file("fresnel", "d");
    e.gitea(&["flush"])
        .assert()
        .code(2)
        .stderr(contains("404 Not Found"))
        .stderr(contains("check issues.gitea url, owner and repo"));
    assert_eq!(e.fake.requests().len(), 1, "not retried");
    assert_eq!(e.outbox().len(), 1);
    e.done();
}

#[test]
fn a_422_shows_what_gitea_said_and_is_not_retried() {
    let e = MirrorEnv::new();
    e.fake.fault(
        FaultKind::Status(422, "[Title]: MaxSize".into()),
        Some("POST"),
        Some("/issues"),
        1,
    );
    e.file("fresnel", "d");
    e.gitea(&["flush"]).assert().code(2).stderr(contains(
        "422 Unprocessable Entity: Gitea refused the request: [Title]: MaxSize",
    ));
    assert_eq!(e.count(ISSUES), 1);
    assert_eq!(e.outbox().len(), 1);
    e.done();
}

#[test]
fn a_stalled_answer_times_out_and_stays_queued() {
    let e = MirrorEnv::new();
    e.config(&e.fake.url(), "fleet", "timeout: 1s\n    attempts: 2");
    e.fake.fault(FaultKind::Stall, None, None, 2);
    e.file("fresnel", "d");
    e.gitea(&["flush"])
        .assert()
        .code(2)
        .stderr(contains("timed out"));
    assert_eq!(e.outbox().len(), 1);
    e.gitea(&["flush"]).assert().success();
    assert_eq!(e.fake.issues().len(), 1);
    e.done();
}

#[test]
fn a_crash_between_creating_the_issue_and_saving_the_link_opens_no_second_issue() {
    let e = MirrorEnv::new();
    let b = e.file("fresnel", "d");
    let event = e.outbox()[0].clone();
    let saved = fs::read(&event).unwrap();
    e.gitea(&["flush"]).assert().success();
    // As if the flush had died right after Gitea created the issue.
    fs::remove_file(e.link_path(&b.id)).unwrap();
    fs::write(&event, saved).unwrap();
    e.gitea(&["flush"])
        .assert()
        .success()
        .stderr(contains("found #1 again by its ka-id"));
    assert_eq!(e.fake.issues().len(), 1);
    assert_eq!(e.count(ISSUES), 1);
    assert!(e.link_path(&b.id).exists());
    e.done();
}

#[test]
fn a_crash_after_posting_a_comment_does_not_post_it_twice() {
    let e = MirrorEnv::new();
    let b = e.file("fresnel", "d");
    e.gitea(&["flush"]).assert().success();
    e.file("fresnel", "new detail");
    let event_path = e.outbox()[0].clone();
    let saved = fs::read(&event_path).unwrap();
    let event: ka_schema::IssueEvent = serde_json::from_slice(&saved).unwrap();
    e.gitea(&["flush"]).assert().success();
    assert_eq!(e.fake.comments_on(1).len(), 1);
    // As if the flush had died after Gitea took the comment, before the
    // event file was removed: the link still announces the comment.
    let mut link: ka_schema::IssueLink =
        serde_json::from_slice(&fs::read(e.link_path(&b.id)).unwrap()).unwrap();
    link.posting = Some(event.event.clone());
    fs::write(e.link_path(&b.id), serde_json::to_vec(&link).unwrap()).unwrap();
    fs::write(&event_path, saved).unwrap();
    e.gitea(&["flush"]).assert().success();
    assert_eq!(e.fake.comments_on(1).len(), 1);
    assert!(e.outbox().is_empty());
    e.done();
}

#[test]
fn a_corrupt_outbox_file_is_named_and_left_and_the_other_events_are_sent() {
    let e = MirrorEnv::new();
    fs::create_dir_all(e.env.root().join("gitea/outbox")).unwrap();
    let bad = e.env.root().join("gitea/outbox/00000000-broken.json");
    fs::write(&bad, "{\"kind\": \"ka.issue-event\", \"vers").unwrap();
    e.file("fresnel", "d");
    e.gitea(&["flush"])
        .assert()
        .code(3)
        .stderr(contains(bad.display().to_string()))
        .stderr(contains("repair it or remove it"))
        .stderr(contains(
            "1 event(s) sent; 1 corrupt outbox file(s) left in place",
        ));
    assert_eq!(e.fake.issues().len(), 1);
    assert_eq!(e.outbox(), vec![bad.clone()]);
    e.gitea(&["status"])
        .assert()
        .success()
        .stdout(contains(format!("corrupt:  {}", bad.display())));
    fs::remove_file(&bad).unwrap();
    e.gitea(&["flush"]).assert().success();
    e.done();
}

#[test]
fn a_corrupt_config_names_file_line_and_column() {
    let e = MirrorEnv::new();
    fs::write(
        e.env.root().join("config.yaml"),
        "issues:\n  backend: gitea\n  gittea: {}\n",
    )
    .unwrap();
    e.gitea(&["status"])
        .assert()
        .code(3)
        .stderr(contains("config.yaml:3:3: issues: unknown field `gittea`"));
    fs::write(
        e.env.root().join("config.yaml"),
        "issues:\n  backend: gitea\n",
    )
    .unwrap();
    e.gitea(&["flush"])
        .assert()
        .code(3)
        .stderr(contains("issues.gitea is missing"));
    // The block store refuses to guess either.
    let err = Store::open(&e.layout()).err().unwrap().to_string();
    assert!(err.contains("issues.gitea is missing"), "{err}");
    e.done();
}

#[test]
fn a_token_file_under_home_is_refused() {
    let e = MirrorEnv::new();
    let in_home = e.env.home.path().join("token");
    fs::write(&in_home, TOKEN).unwrap();
    fs::write(
        e.env.root().join("config.yaml"),
        format!(
            "issues:\n  backend: gitea\n  gitea: {{ url: {}, owner: owner, repo: fleet, token_file: {} }}\n",
            e.fake.url(),
            in_home.display()
        ),
    )
    .unwrap();
    e.gitea(&["flush"])
        .assert()
        .code(2)
        .stderr(contains("is inside $HOME"));
    assert!(e.fake.requests().is_empty());
    e.done();
}

#[test]
fn the_token_can_come_from_the_environment() {
    let e = MirrorEnv::new();
    fs::write(
        e.env.root().join("config.yaml"),
        format!(
            "issues:\n  backend: gitea\n  gitea: {{ url: {}, owner: owner, repo: fleet, token_env: KA_TEST_GITEA_TOKEN }}\n",
            e.fake.url()
        ),
    )
    .unwrap();
    e.file("fresnel", "d");
    e.gitea(&["flush"])
        .assert()
        .code(2)
        .stderr(contains("the variable $KA_TEST_GITEA_TOKEN holds no token"));
    e.gitea(&["flush"])
        .env("KA_TEST_GITEA_TOKEN", TOKEN)
        .assert()
        .success();
    assert_eq!(e.fake.issues().len(), 1);
    e.done();
}

#[test]
fn the_local_backend_queues_nothing_and_refuses_to_drop_queued_events() {
    let e = MirrorEnv::new();
    fs::remove_file(e.env.root().join("config.yaml")).unwrap();
    e.file("fresnel", "d");
    assert!(e.outbox().is_empty());
    e.gitea(&["flush"])
        .assert()
        .success()
        .stderr(contains("local issue store is selected"));
    e.gitea(&["status", "--json"])
        .assert()
        .success()
        .stdout(contains("\"backend\":\"local\""));
    e.config(&e.fake.url(), "fleet", "");
    e.file("boltzmann", "d");
    fs::remove_file(e.env.root().join("config.yaml")).unwrap();
    e.gitea(&["flush"])
        .assert()
        .code(2)
        .stderr(contains("1 event(s) are queued"));
    e.gitea(&["pull"]).assert().code(2);
    e.done();
}

#[test]
fn issues_are_found_again_across_pages() {
    // More ka issues than one page (50): a lost link is still found.
    let e = MirrorEnv::new();
    let mut ids = Vec::new();
    for n in 0..55 {
        ids.push(e.file(&format!("h{n}"), "d").id);
    }
    e.gitea(&["flush"]).assert().success();
    assert_eq!(e.fake.issues().len(), 55);
    let first = &ids[0];
    fs::remove_file(e.link_path(first)).unwrap();
    e.lift(first, "fixed");
    e.gitea(&["flush"]).assert().success();
    assert_eq!(e.fake.issues().len(), 55);
    assert_eq!(e.fake.issues()[0].state, "closed");
    assert!(
        e.fake
            .requests()
            .iter()
            .any(|r| r.starts_with("GET /api/v1/repos/owner/fleet/issues?") && r.contains("page=2")),
        "the second page was read"
    );
    e.done();
}

/// `[ka:installable]` notices are issues too: filed → opened with their own
/// labels, superseded or closed → closed with the reason, dismissed in Gitea
/// → closed locally by pull.
#[test]
fn notices_are_mirrored_and_a_gitea_close_dismisses_them() {
    use ka_notice::store::NoticeStore;
    use ka_schema::{NoticeKind, NoticeState, NoticeSubject};
    let e = MirrorEnv::new();
    let notices = || NoticeStore::open(&e.layout()).unwrap();
    let pkg = |v: &str| NoticeSubject::Package {
        host: "fresnel".into(),
        package: "linux-fresnel".into(),
        version: v.into(),
    };
    let (first, _) = notices()
        .file(NoticeKind::Installable, pkg("6.1.158-1"), "published")
        .unwrap();
    e.gitea(&["flush"]).assert().success();
    let issues = e.fake.issues();
    assert_eq!(issues.len(), 1);
    assert_eq!(
        issues[0].title,
        "[ka:installable] linux-fresnel 6.1.158-1 for fresnel"
    );
    assert!(
        issues[0]
            .body
            .contains(&format!("ka-id: notice/{}", first.id))
    );
    let mut labels = e.fake.label_names(&issues[0]);
    labels.sort();
    assert_eq!(labels, ["ka", "ka:installable", "ka:notice"]);

    // a newer version supersedes the first: one new issue, the old one closed
    let (second, superseded) = notices()
        .file(NoticeKind::Installable, pkg("6.1.158-2"), "published")
        .unwrap();
    assert_eq!(superseded.len(), 1);
    e.gitea(&["flush"]).assert().success();
    let issues = e.fake.issues();
    assert_eq!(issues.len(), 2);
    assert_eq!(issues[0].state, "closed");
    assert!(e.fake.comments_on(1)[0].contains("superseded by linux-fresnel 6.1.158-2"));
    assert_eq!(issues[1].state, "open");

    // the owner dismisses the second in the web UI: pull closes it locally
    e.fake.set_state(2, "closed");
    let out = e.gitea(&["pull"]).assert().success().get_output().clone();
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"kind\":\"ka.notice\""));
    let local = NoticeStore::local(&e.layout()).get(&second.id).unwrap();
    assert_eq!(local.state, NoticeState::Closed);
    assert_eq!(local.close_reason.as_deref(), Some("closed in Gitea #2"));
    assert!(
        e.outbox().is_empty(),
        "a change from Gitea is not queued back"
    );
    e.done();
}

/// Every audited verb run is one closed issue `[ka:<verb>] ...`; a dry run
/// changed nothing and stays in the local log.
#[test]
fn audit_records_are_closed_issues_and_dry_runs_stay_local() {
    let e = MirrorEnv::new();
    let run = |argv: &[&str], code: i32, dry_run: bool| ka_audit::Run {
        verb: "ka-promote".into(),
        argv: argv.iter().map(|s| s.to_string()).collect(),
        exit_code: code,
        dry_run,
        targets: vec!["fresnel".into()],
        all_targets: false,
        at: None,
    };
    let entry = ka_audit::record(&e.layout(), &run(&["fresnel"], 1, false)).unwrap();
    ka_audit::record(&e.layout(), &run(&["--dry-run", "fresnel"], 0, true)).unwrap();
    e.gitea(&["flush"]).assert().success();
    let issues = e.fake.issues();
    assert_eq!(issues.len(), 1, "the dry run is not mirrored");
    assert_eq!(issues[0].title, entry.title);
    assert_eq!(issues[0].state, "closed");
    assert!(
        issues[0].body.contains("Negative (exit 1)"),
        "{}",
        issues[0].body
    );
    let mut labels = e.fake.label_names(&issues[0]);
    labels.sort();
    assert_eq!(labels, ["ka", "ka:audit", "ka:promote"]);
    // pull leaves audit records alone, and knows them
    e.gitea(&["pull"])
        .assert()
        .success()
        .stdout("")
        .stderr(predicates::str::contains("warning").not());
    e.done();
}
