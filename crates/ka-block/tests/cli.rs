//! ka-block and ka-gate on a real store in a temp KA_ROOT.

use ka_testkit::env::Env;
use predicates::str::contains;
use std::fs;

/// What these tests read of the store.
trait StoreFiles {
    fn records(&self) -> usize;
}

impl StoreFiles for Env {
    fn records(&self) -> usize {
        fs::read_dir(self.root().join("blocks"))
            .map(|d| d.count())
            .unwrap_or(0)
    }
}

#[test]
fn filing_twice_is_one_record_and_the_gate_sees_it() {
    let e = Env::new();
    for _ in 0..2 {
        e.cmd("ka-block")
            .args([
                "file",
                "--kind",
                "host-drifted",
                "--host",
                "fresnel",
                "--title",
                "fresnel drifted",
            ])
            .assert()
            .success()
            .stdout(contains("\"title\":\"[ka:host-drifted] fresnel drifted\""));
    }
    assert_eq!(e.records(), 1);
    let out = e
        .cmd("ka-block")
        .args(["list"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(text.lines().count(), 1);
    assert!(text.contains("\"filings\":2"));

    e.cmd("ka-gate")
        .args(["--verb", "install", "--host", "fresnel"])
        .assert()
        .code(1)
        .stdout(contains("\"allowed\":false"));
    // no propagation: another host, and builds for this host, go on
    e.cmd("ka-gate")
        .args(["--verb", "install", "--host", "ohm"])
        .assert()
        .success();
    e.cmd("ka-gate")
        .args([
            "--verb",
            "build",
            "--host",
            "fresnel",
            "--build-host",
            "boltzmann",
        ])
        .assert()
        .success()
        .stdout(contains("\"allowed\":true"));
}

#[test]
fn lift_opens_the_gate_and_refiling_reopens() {
    let e = Env::new();
    let out = e
        .cmd("ka-block")
        .args([
            "file",
            "--kind",
            "signing-fail",
            "--title",
            "gpg agent gone",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let id = v["id"].as_str().unwrap().to_string();
    e.cmd("ka-gate")
        .args(["--verb", "sign", "--host", "hertz"])
        .assert()
        .code(1);
    e.cmd("ka-block")
        .args(["lift", &id, "--reason", "key back"])
        .assert()
        .success();
    e.cmd("ka-gate")
        .args(["--verb", "sign", "--host", "hertz"])
        .assert()
        .success();
    e.cmd("ka-block")
        .args(["list"])
        .assert()
        .success()
        .stdout("");
    e.cmd("ka-block")
        .args(["list", "--all"])
        .assert()
        .success()
        .stdout(contains("\"state\":\"lifted\""));
    e.cmd("ka-block")
        .args(["file", "--kind", "signing-fail", "--title", "again"])
        .assert()
        .success()
        .stdout(contains("\"state\":\"open\""));
    assert_eq!(e.records(), 1);
}

#[test]
fn bad_input_is_refused_and_writes_nothing() {
    let e = Env::new();
    e.cmd("ka-block")
        .args(["lift", "patch-fail-000000000000", "--reason", "x"])
        .assert()
        .code(2)
        .stderr(contains("no block"));
    e.cmd("ka-block")
        .args(["lift", "../../etc/passwd", "--reason", "x"])
        .assert()
        .code(2)
        .stderr(contains("invalid block id"));
    e.cmd("ka-block")
        .args(["file", "--kind", "host-drifted", "--title", "t"])
        .assert()
        .code(2)
        .stderr(contains("needs --host"));
    e.cmd("ka-block")
        .args(["file", "--kind", "nonsense", "--title", "t"])
        .assert()
        .code(2);
    e.cmd("ka-block")
        .args(["file", "--kind", "regression", "--host=-rf", "--title", "t"])
        .assert()
        .code(3);
    assert_eq!(e.records(), 0);
    e.cmd("ka-gate")
        .args(["--verb", "install", "--host", "a;b"])
        .assert()
        .code(3);
}

#[test]
fn a_corrupt_record_stops_the_gate_naming_the_file() {
    let e = Env::new();
    e.cmd("ka-block")
        .args([
            "file",
            "--kind",
            "regression",
            "--host",
            "ohm",
            "--title",
            "t",
        ])
        .assert()
        .success();
    let dir = e.root().join("blocks");
    let rec = fs::read_dir(&dir).unwrap().next().unwrap().unwrap().path();
    let text = fs::read_to_string(&rec).unwrap();
    fs::write(&rec, &text[..text.len() / 2]).unwrap();
    e.cmd("ka-gate")
        .args(["--verb", "install", "--host", "fresnel"])
        .assert()
        .code(3)
        .stderr(contains("corrupt"))
        .stderr(contains(rec.file_name().unwrap().to_str().unwrap()));
}

#[test]
fn sync_files_and_lifts_from_check_reports() {
    let e = Env::new();
    let check = |verdict: &str| {
        format!(
            r#"{{"kind":"ka.check","version":1,"plan":{{"kind":"ka.plan","version":1,"host":"fresnel","repo":"/r","manifest":"fleet/fresnel.yaml","manifest_b2sum":"x","baseline":{{"spec":{{"tarball":"/t.tar.xz"}},"git_dir":"/g","commit":"abc"}},"patches":[{{"path":"patches/board/b/s/0001-a.patch","scope":"board/b","series":"board/b/s","campaign":"c","size":1,"selected_by":"scope"}}]}},"fuzz_allowed":0,"patches":[{{"path":"patches/board/b/s/0001-a.patch","series":"board/b/s","campaign":"c","b2sum":"y","size":1,"verdict":"{verdict}","files":[]}}],"conflicts":[]}}"#
        )
    };
    let failing = check("fails");
    e.cmd("ka-block")
        .arg("sync")
        .write_stdin(failing.clone())
        .assert()
        .success()
        .stdout(contains("\"kind\":\"ka.check\""));
    e.cmd("ka-gate")
        .args([
            "--verb",
            "promote",
            "--host",
            "ohm",
            "--patch",
            "patches/board/b/s/0001-a.patch",
        ])
        .assert()
        .code(1);
    e.cmd("ka-block")
        .arg("sync")
        .write_stdin(check("offset"))
        .assert()
        .success()
        .stderr(contains("lifted"));
    e.cmd("ka-gate")
        .args([
            "--verb",
            "promote",
            "--host",
            "ohm",
            "--patch",
            "patches/board/b/s/0001-a.patch",
        ])
        .assert()
        .success();
    // truncated input between stages: exit 3, nothing filed
    let e2 = Env::new();
    e2.cmd("ka-block")
        .arg("sync")
        .write_stdin(&failing[..failing.len() - 20])
        .assert()
        .code(3)
        .stderr(contains("stdin"));
    assert_eq!(e2.records(), 0);
    // no documents (every host was refused upstream): nothing to do
    e2.cmd("ka-block")
        .arg("sync")
        .write_stdin("")
        .assert()
        .success()
        .stdout("");
    e2.cmd("ka-block")
        .arg("sync")
        .write_stdin(failing.replace("\"version\":1,\"plan\"", "\"version\":2,\"plan\""))
        .assert()
        .code(3)
        .stderr(contains("unsupported version 2"));
    e2.cmd("ka-block")
        .arg("sync")
        .write_stdin(failing.replace("ka.check", "ka.lock"))
        .assert()
        .code(3)
        .stderr(contains("ka.lock"));
}

#[test]
fn a_root_inside_home_is_refused() {
    let home = tempfile::tempdir().unwrap();
    assert_cmd::Command::cargo_bin("ka-block")
        .unwrap()
        .env("HOME", home.path())
        .env("KA_ROOT", home.path().join("ka"))
        .args(["list"])
        .assert()
        .code(2)
        .stderr(contains("inside $HOME"));
    assert!(!home.path().join("ka").exists());
}

/// With the Gitea backend selected, a change is queued in the outbox after the
/// local write; when the flush cannot reach Gitea (or ka-gitea is missing),
/// the block is still filed, the command succeeds, and stderr says the event
/// stays queued.
#[test]
fn a_gitea_backend_that_cannot_be_reached_leaves_the_block_filed_and_the_event_queued() {
    let e = Env::new();
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let secrets = tempfile::tempdir().unwrap();
    fs::write(secrets.path().join("token"), "t\n").unwrap();
    fs::write(
        e.root().join("config.yaml"),
        format!(
            "issues:\n  backend: gitea\n  gitea: {{ url: {dead}, owner: o, repo: r, token_file: {}, attempts: 1, backoff: 0s }}\n",
            secrets.path().join("token").display()
        ),
    )
    .unwrap();
    let file = |e: &Env| {
        e.cmd("ka-block")
            .args(["file", "--kind", "host-drifted", "--host", "fresnel"])
            .args(["--title", "drifted", "--detail", "d"])
            .assert()
    };
    file(&e)
        .success()
        .stdout(contains("\"state\":\"open\""))
        .stderr(contains("stay queued"));
    assert_eq!(e.records(), 1);
    let outbox = e.root().join("gitea/outbox");
    let queued = |p: &std::path::Path| {
        fs::read_dir(p)
            .unwrap()
            .filter(|f| {
                !f.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with('.')
            })
            .count()
    };
    assert_eq!(queued(&outbox), 1);
    // The same words again: counted locally, nothing new to mirror.
    file(&e).success();
    assert_eq!(queued(&outbox), 1);
    e.cmd("ka-block")
        .args(["lift", "host-drifted-77e2fb38550b", "--reason", "converged"])
        .assert()
        .success()
        .stderr(contains("stay queued"));
    assert_eq!(queued(&outbox), 2);
}

#[test]
fn a_broken_config_stops_filing_with_file_and_line() {
    let e = Env::new();
    fs::write(e.root().join("config.yaml"), "issues:\n  backend: github\n").unwrap();
    e.cmd("ka-block")
        .args(["file", "--kind", "signing-fail", "--title", "t"])
        .assert()
        .code(3)
        .stderr(contains(
            "config.yaml:2:12: issues.backend: unknown variant `github`",
        ));
    assert_eq!(e.records(), 0);
    // Reading needs no config.
    e.cmd("ka-block").arg("list").assert().success();
}

#[test]
fn an_empty_ka_root_is_named_not_taken_for_a_flag() {
    let e = Env::new();
    for args in [
        &["list"][..],
        &["file", "--kind", "signing-fail", "--title", "t"],
    ] {
        e.cmd("ka-block")
            .env("KA_ROOT", "")
            .args(args)
            .assert()
            .code(2)
            .stderr(
                "ka-block: error: KA_ROOT is set but empty; unset it (default /srv/kernel-agent) or set it to a folder\n",
            );
    }
    e.cmd("ka-gate")
        .env("KA_ROOT", "")
        .args(["--verb", "install", "--host", "h"])
        .assert()
        .code(2)
        .stderr(contains("KA_ROOT is set but empty"));
    // an empty --root is the flag the user typed, and clap says so
    e.cmd("ka-block")
        .args(["list", "--root", ""])
        .assert()
        .code(2)
        .stderr(contains("a value is required for '--root <DIR>'"));
    assert_eq!(e.records(), 0);
}
