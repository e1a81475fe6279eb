//! ka-rebase on a toy upstream with two tags: every verdict (clean, offset,
//! needs-rebase, already-upstream by patch-id and by reverse-applying), a
//! tarball baseline, the human summary, and the refusals.

use assert_cmd::Command;
use ka_schema::{Proposal, RebaseReport, RebaseVerdict};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command as Std;

struct Case {
    tmp: tempfile::TempDir,
    upstream: PathBuf,
    repo: PathBuf,
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Std::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.org")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.org")
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

fn lines(name: &str) -> String {
    (1..=30).map(|i| format!("{name} line {i}\n")).collect()
}

/// Replace line `n` (1-based) of `file` with `text`.
fn edit(file: &Path, n: usize, text: &str) {
    let mut ls: Vec<String> = fs::read_to_string(file)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    ls[n - 1] = text.to_string();
    fs::write(file, ls.join("\n") + "\n").unwrap();
}

const PATCHES: [(&str, &str, usize, &str); 5] = [
    ("0001-a.patch", "a.c", 10, "a ours"),
    ("0002-b.patch", "b.c", 20, "b ours"),
    ("0003-c.patch", "c.c", 5, "c ours"),
    ("0004-d.patch", "d.c", 15, "d fixed"),
    ("0005-e.patch", "e.c", 12, "e fixed"),
];

impl Case {
    fn new() -> Case {
        let tmp = tempfile::tempdir().unwrap();
        let upstream = tmp.path().join("upstream");
        let repo = tmp.path().join("repo");
        fs::create_dir_all(&upstream).unwrap();
        git(&upstream, &["init", "-q", "-b", "main"]);
        for f in ["a", "b", "c", "d", "e"] {
            fs::write(upstream.join(format!("{f}.c")), lines(f)).unwrap();
        }
        git(&upstream, &["add", "-A"]);
        git(&upstream, &["commit", "-q", "-m", "v1"]);
        git(&upstream, &["tag", "v1"]);

        // our patches, made against v1
        let series = repo.join("patches/board/toy/s");
        fs::create_dir_all(&series).unwrap();
        fs::write(
            series.join("series.yaml"),
            "scope: board/toy\ncampaign: toy\n",
        )
        .unwrap();
        for (name, file, n, text) in PATCHES {
            edit(&upstream.join(file), n, text);
            fs::write(series.join(name), git(&upstream, &["diff"])).unwrap();
            git(&upstream, &["checkout", "-q", "--", "."]);
        }

        // upstream moves on to v2
        let commit = |msg: &str| {
            git(&upstream, &["commit", "-q", "-a", "-m", msg]);
        };
        let b = upstream.join("b.c");
        let text = fs::read_to_string(&b).unwrap();
        fs::write(&b, format!("new 1\nnew 2\nnew 3\n{text}")).unwrap();
        commit("b: three lines on top");
        edit(&upstream.join("c.c"), 5, "c theirs");
        commit("c: their change");
        edit(&upstream.join("d.c"), 15, "d fixed");
        commit("d: upstream fix");
        edit(&upstream.join("d.c"), 14, "d context moved on");
        commit("d: later change next to the fix");
        edit(&upstream.join("e.c"), 12, "e fixed");
        commit("e: taken upstream");
        git(&upstream, &["tag", "v2"]);

        fs::create_dir_all(repo.join("fleet")).unwrap();
        fs::write(
            repo.join("fleet/toy.yaml"),
            format!(
                "host: toy\nrole: dev\narch: aarch64\ndistro: arch\nkernel:\n  pkgbase: linux-toy\n  suffix: toy\n  baseline: {{ git: {}, ref: v1 }}\nscopes: [board/toy]\n",
                upstream.display()
            ),
        )
        .unwrap();
        fs::create_dir_all(tmp.path().join("home")).unwrap();
        Case {
            tmp,
            upstream,
            repo,
        }
    }

    fn plan(&self) -> String {
        let plan = ka_resolve::Tree::new(&self.repo)
            .unwrap()
            .resolve("toy")
            .unwrap();
        serde_json::to_string(&plan).unwrap() + "\n"
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::cargo_bin("ka-rebase").unwrap();
        c.env("KA_ROOT", self.tmp.path().join("root"))
            .env("HOME", self.tmp.path().join("home"))
            .args(args);
        c
    }

    fn reports(&self, args: &[&str]) -> (i32, Vec<RebaseReport>) {
        let out = self.cmd(args).write_stdin(self.plan()).output().unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        let reports = stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (out.status.code().unwrap(), reports)
    }
}

fn verdicts(r: &RebaseReport) -> Vec<(RebaseVerdict, Proposal, String)> {
    r.patches
        .iter()
        .map(|p| {
            (
                p.verdict,
                p.proposal,
                p.evidence.clone().unwrap_or_default(),
            )
        })
        .collect()
}

#[test]
fn every_verdict_against_a_new_tag_with_upstream_patch_ids() {
    let c = Case::new();
    let (code, reports) = c.reports(&["--ref", "v2"]);
    assert_eq!(code, 1, "some patches need work");
    assert_eq!(reports.len(), 1);
    let r = &reports[0];
    assert_eq!(r.host, "toy");
    assert_eq!(r.from.commit, git(&c.upstream, &["rev-parse", "v1"]).trim());
    assert_eq!(r.to.commit, git(&c.upstream, &["rev-parse", "v2"]).trim());
    let v = verdicts(r);
    assert_eq!((v[0].0, v[0].1), (RebaseVerdict::Clean, Proposal::Keep));
    assert_eq!((v[1].0, v[1].1), (RebaseVerdict::Offset, Proposal::Refresh));
    assert_eq!(v[1].2, "b.c hunk 1 at offset +3");
    assert_eq!(
        (v[2].0, v[2].1),
        (RebaseVerdict::NeedsRebase, Proposal::Rebase)
    );
    assert!(v[2].2.starts_with("c.c hunk 1"), "{}", v[2].2);
    // d no longer reverse-applies (its context moved), but the patch-id finds it
    assert_eq!(
        (v[3].0, v[3].1),
        (RebaseVerdict::AlreadyUpstream, Proposal::Drop)
    );
    assert!(v[3].2.contains("\"d: upstream fix\""), "{}", v[3].2);
    assert_eq!(
        (v[4].0, v[4].1),
        (RebaseVerdict::AlreadyUpstream, Proposal::Drop)
    );
    assert!(v[4].2.contains("\"e: taken upstream\""), "{}", v[4].2);
}

#[test]
fn a_tarball_has_no_history_so_only_reverse_applying_counts() {
    let c = Case::new();
    let tarball = c.tmp.path().join("toy-2.tar.gz");
    git(
        &c.upstream,
        &[
            "archive",
            "--prefix=toy-2/",
            "-o",
            tarball.to_str().unwrap(),
            "v2",
        ],
    );
    let (code, reports) = c.reports(&["--tarball", tarball.to_str().unwrap()]);
    assert_eq!(code, 1);
    let v = verdicts(&reports[0]);
    assert_eq!(v[3].0, RebaseVerdict::NeedsRebase);
    assert_eq!(
        (v[4].0, v[4].1),
        (RebaseVerdict::AlreadyUpstream, Proposal::Drop)
    );
    assert!(v[4].2.contains("reverse-applies"), "{}", v[4].2);
}

#[test]
fn the_same_tag_carries_every_patch_over_and_the_summary_says_so() {
    let c = Case::new();
    let out = c
        .cmd(&["--ref", "v1", "--summary"])
        .write_stdin(c.plan())
        .assert()
        .success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(text.starts_with("toy: v1 of "), "{text}");
    assert!(
        text.contains("  keep     patches/board/toy/s/0004-d.patch\n"),
        "{text}"
    );
    assert!(
        text.contains("5 patches: 5 keep, 0 refresh, 0 rebase, 0 drop"),
        "{text}"
    );
}

#[test]
fn summary_names_each_proposal_with_its_evidence() {
    let c = Case::new();
    let out = c
        .cmd(&["--ref", "v2", "--summary"])
        .write_stdin(c.plan())
        .assert()
        .code(1);
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(
        text.contains("  refresh  patches/board/toy/s/0002-b.patch  (b.c hunk 1 at offset +3)"),
        "{text}"
    );
    assert!(
        text.contains(
            "  drop     patches/board/toy/s/0005-e.patch  (same patch-id as upstream commit "
        ),
        "{text}"
    );
    assert!(
        text.contains("5 patches: 1 keep, 1 refresh, 1 rebase, 2 drop"),
        "{text}"
    );
}

#[test]
fn refusals() {
    let c = Case::new();
    // no new baseline named
    c.cmd(&[]).write_stdin(c.plan()).assert().code(2);
    // a ref that does not exist upstream
    c.cmd(&["--ref", "v9"])
        .write_stdin(c.plan())
        .assert()
        .code(1)
        .stderr(predicates::str::contains("v9"));
    // --ref for a host on a tarball baseline needs --git
    let plan = c.plan().replace(
        &format!("\"git\":\"{}\",\"ref\":\"v1\"", c.upstream.display()),
        "\"tarball\":\"/nonexistent/toy-1.tar.gz\"",
    );
    assert!(plan.contains("toy-1.tar.gz"), "{plan}");
    c.cmd(&["--ref", "v2"])
        .write_stdin(plan)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("give --git URL with --ref"));
    // the wrong document
    c.cmd(&["--ref", "v2"])
        .write_stdin("{\"kind\":\"ka.lock\",\"version\":1}\n")
        .assert()
        .code(3);
    // a patch that vanished since resolving
    let plan = c.plan();
    fs::remove_file(c.repo.join("patches/board/toy/s/0003-c.patch")).unwrap();
    c.cmd(&["--ref", "v2"])
        .write_stdin(plan)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("0003-c.patch"));
}
