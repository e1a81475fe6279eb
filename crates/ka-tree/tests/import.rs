//! ka-import: every kind of source, the series it writes, the verdicts, and
//! every refusal (nothing written).

mod common;
use common::*;
use predicates::str::contains;

const DEP3: &str = "Description: wifi: fix line 12\n Longer text.\nAuthor: Someone <s@example.org>\nForwarded: not-needed\nLast-Update: 2024-01-04\n---\n";

#[test]
fn imports_mails_plain_and_dep3_keeping_bytes_and_checks_them() {
    let f = Fleet::new();
    let m1 = mail(
        "drivers/net/wifi.c",
        3,
        "line three",
        "wifi: three",
        "From here on it is fixed.\n\n",
    );
    let plain = change("drivers/net/wifi.c", 6, "line six");
    let dep3 = format!("{DEP3}{}", change("drivers/net/wifi.c", 26, "line 26!"));
    let a = f.outside("0001-three.patch", m1.as_bytes());
    let b = f.outside("six.diff", plain.as_bytes());
    let c = f.outside("debian-fix.patch", dep3.as_bytes());
    let out = f
        .cmd("ka-import")
        .args(["newwifi", "--to", "driver/wifi", "--json"])
        .args([&a, &b, &c])
        .assert()
        .success();
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["kind"], "ka.tree-change");
    let dir = "patches/driver/wifi/newwifi";
    let names: Vec<&str> = doc["imported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            format!("{dir}/0001-wifi-three.patch"),
            format!("{dir}/0002-six.patch"),
            format!("{dir}/0003-wifi-fix-line-12.patch"),
        ]
    );
    assert_eq!(f.read(names[0]), m1);
    assert_eq!(f.read(names[1]), plain);
    assert_eq!(f.read(names[2]), dep3);
    let yaml = f.read(&format!("{dir}/series.yaml"));
    assert!(
        yaml.starts_with("scope: driver/wifi\ncampaign: newwifi\norigin: "),
        "{yaml}"
    );
    // beta takes driver/wifi: checked there, clean
    let checks = doc["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 1, "{doc}");
    assert_eq!(checks[0]["host"], "beta");
    for v in checks[0]["verdicts"].as_array().unwrap() {
        assert_eq!(v["verdict"], "clean", "{doc}");
    }
    assert!(f.plan("beta").unwrap().contains(&names[2].to_string()));
}

#[test]
fn an_mbox_is_split_at_its_mails_only() {
    let f = Fleet::new();
    let m1 = mail(
        "drivers/net/wifi.c",
        3,
        "3",
        "one",
        "From the manual:\n>From an escaped line\n\n",
    );
    let m2 = mail("drivers/net/wifi.c", 6, "6", "two", "");
    let m3 = mail("drivers/net/wifi.c", 26, "26", "three", "");
    let mbox = format!("{m1}{m2}{m3}");
    let src = f.outside("series.mbox", mbox.as_bytes());
    f.cmd("ka-import")
        .args(["mb", "--to", "driver/wifi", "--series", "mb", "--no-check"])
        .arg(&src)
        .assert()
        .success()
        .stdout(contains("imported 3 patches as patches/driver/wifi/mb"));
    let dir = "patches/driver/wifi/mb";
    assert_eq!(f.read(&format!("{dir}/0001-one.patch")), m1);
    assert_eq!(f.read(&format!("{dir}/0002-two.patch")), m2);
    assert_eq!(f.read(&format!("{dir}/0003-three.patch")), m3);
}

#[test]
fn the_patch_zoo_mbox_and_folder() {
    let f = Fleet::new();
    let zoo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/patch-zoo/patches");
    f.cmd("ka-import")
        .args(["zoo", "--to", "subsystem/zoo", "--no-check"])
        .arg(zoo.join("mbox.patch"))
        .arg(zoo.join("plain-diff-ruN.diff"))
        .arg(zoo.join("similar-generated.diff"))
        .assert()
        .success()
        .stdout(contains("imported 5 patches"));
    let original = std::fs::read(zoo.join("plain-diff-ruN.diff")).unwrap();
    let written = std::fs::read_dir(f.repo().join("patches/subsystem/zoo/zoo"))
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .any(|b| b == original);
    assert!(written, "the diff -ruN bytes are kept");
    // the same mails again (another series name): refused as duplicates
    f.cmd("ka-import")
        .args(["zoo2", "--to", "subsystem/zoo", "--no-check"])
        .arg(zoo.join("mbox.patch"))
        .assert()
        .code(1)
        .stderr(contains("mail 1 of 3"))
        .stderr(contains("patches/subsystem/zoo/zoo/0001-"));
}

#[test]
fn a_broken_mail_in_the_middle_refuses_the_whole_mbox() {
    let f = Fleet::new();
    let before = f.snapshot();
    let m1 = mail("drivers/net/wifi.c", 3, "3", "one", "");
    let m3 = mail("drivers/net/wifi.c", 26, "26", "three", "");
    let broken = "From 1111111111111111111111111111111111111111 Mon Sep 17 00:00:00 2001\nFrom: X <x@example.org>\nSubject: [PATCH 2/3] lost its diff\n\nThe diff of this mail was cut off.\n---\n drivers/net/wifi.c | 2 +-\n\n";
    let src = f.outside("broken.mbox", format!("{m1}{broken}{m3}").as_bytes());
    let line = m1.lines().count() + 1;
    f.cmd("ka-import")
        .args(["mb", "--to", "driver/wifi"])
        .arg(&src)
        .assert()
        .code(1)
        .stderr(contains(format!("(mail 2 of 3), line {line}: not a diff")))
        .stderr(contains("nothing was imported"));
    assert_eq!(f.snapshot(), before);
}

#[test]
fn an_mbox_with_from_x_separators_is_split() {
    // the issue: `From x Mon Sep 17 …` (not a sha), and no blank line before
    // it (format-patch --no-signature files put together with cat)
    let f = Fleet::new();
    let strip = |m: String| {
        m.replace(
            "From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001",
            "From x Mon Sep 17 00:00:00 2001",
        )
        .replace("-- \n2.39.5\n\n", "")
    };
    let m1 = strip(mail("drivers/net/wifi.c", 3, "3", "one", ""));
    let m2 = strip(mail("drivers/net/wifi.c", 6, "6", "two", ""));
    let b4 = mail("drivers/net/wifi.c", 26, "26", "three", "").replace(
        "From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001",
        "From git@z Thu Jan  1 00:00:00 1970",
    );
    let src = f.outside("x.mbox", format!("{m1}{m2}{b4}").as_bytes());
    f.cmd("ka-import")
        .args(["mbx", "--to", "driver/wifi", "--no-check"])
        .arg(&src)
        .assert()
        .success()
        .stdout(contains("imported 3 patches as patches/driver/wifi/mbx"));
    let dir = "patches/driver/wifi/mbx";
    assert_eq!(f.read(&format!("{dir}/0001-one.patch")), m1);
    assert_eq!(f.read(&format!("{dir}/0002-two.patch")), m2);
    assert_eq!(f.read(&format!("{dir}/0003-three.patch")), b4);
}

#[test]
fn a_mail_header_block_inside_a_patch_is_refused() {
    let f = Fleet::new();
    let before = f.snapshot();
    let m1 = mail("drivers/net/wifi.c", 3, "3", "one", "");
    // the second mail lost its `From ` line: its headers follow the first mail
    let m2 = mail("drivers/net/wifi.c", 6, "6", "two", "");
    let m2 = m2.split_once('\n').unwrap().1;
    let m3 = mail("drivers/net/wifi.c", 26, "26", "three", "");
    let src = f.outside("lost.mbox", format!("{m1}{m2}{m3}").as_bytes());
    let line = m1.lines().count() + 1;
    f.cmd("ka-import")
        .args(["mb", "--to", "driver/wifi"])
        .arg(&src)
        .assert()
        .code(1)
        .stderr(contains(format!(
            "{}:{line}: mail 1 of 2 (from line 1) holds a mail header block",
            src.display()
        )))
        .stderr(contains(
            "separate the mails with a blank line and a `From ` line",
        ))
        .stderr(contains("nothing was imported"));
    assert_eq!(f.snapshot(), before);
}

#[test]
fn a_malformed_hunk_names_its_mail() {
    let f = Fleet::new();
    let before = f.snapshot();
    let m1 = mail("drivers/net/wifi.c", 3, "3", "one", "");
    let bad = "From 1111111111111111111111111111111111111111 Mon Sep 17 00:00:00 2001\nSubject: [PATCH 2/2] truncated\n\n---\ndiff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -1,5 +1,5 @@\n a\n-b\n";
    let src = f.outside("trunc.mbox", format!("{m1}{bad}").as_bytes());
    f.cmd("ka-import")
        .args(["mb", "--to", "driver/wifi"])
        .arg(&src)
        .assert()
        .code(1)
        .stderr(contains("(mail 2 of 2), line"));
    assert_eq!(f.snapshot(), before);
}

#[test]
fn a_patch_without_a_diff_is_refused() {
    let f = Fleet::new();
    let before = f.snapshot();
    let good = f.outside(
        "good.patch",
        change("drivers/net/wifi.c", 3, "3").as_bytes(),
    );
    let prose = f.outside(
        "notes.patch",
        b"Subject: just words\n\nThis was meant to be a patch.\n",
    );
    f.cmd("ka-import")
        .args(["x", "--to", "driver/wifi"])
        .args([&good, &prose])
        .assert()
        .code(1)
        .stderr(contains(format!("{}, line 1: not a diff", prose.display())));
    assert_eq!(f.snapshot(), before);
}

#[test]
fn importing_the_same_series_twice_is_refused() {
    let f = Fleet::new();
    let src = f.outside(
        "a.patch",
        mail("drivers/net/wifi.c", 3, "3", "one", "").as_bytes(),
    );
    f.cmd("ka-import")
        .args(["c1", "--to", "driver/wifi", "--no-check"])
        .arg(&src)
        .assert()
        .success();
    let before = f.snapshot();
    // same campaign: the series exists
    f.cmd("ka-import")
        .args(["c1", "--to", "driver/wifi"])
        .arg(&src)
        .assert()
        .code(1)
        .stderr(contains("patches/driver/wifi/c1 exists; pass --append"));
    // even with --append, or under another name: the same patch-id is in the tree
    for args in [vec!["c1", "--append"], vec!["c2"]] {
        f.cmd("ka-import")
            .args(&args)
            .args(["--to", "driver/wifi"])
            .arg(&src)
            .assert()
            .code(1)
            .stderr(contains("is the same change"))
            .stderr(contains("as patches/driver/wifi/c1/0001-one.patch"));
    }
    // a reworded message is still the same change
    let reworded = f.outside(
        "b.patch",
        mail("drivers/net/wifi.c", 3, "3", "other words", "Body.\n").as_bytes(),
    );
    f.cmd("ka-import")
        .args(["c3", "--to", "board/one"])
        .arg(&reworded)
        .assert()
        .code(1)
        .stderr(contains("is the same change"));
    // and twice within one import
    let twin = f.outside(
        "c.patch",
        mail("drivers/net/wifi.c", 9, "9", "nine", "").as_bytes(),
    );
    f.cmd("ka-import")
        .args(["c4", "--to", "board/one"])
        .args([&twin, &twin])
        .assert()
        .code(1)
        .stderr(contains("is the same change"));
    assert_eq!(f.snapshot(), before);
}

#[test]
fn append_continues_the_numbering_of_the_same_campaign() {
    let f = Fleet::new();
    let a = f.outside("a.patch", change("drivers/net/wifi.c", 3, "3").as_bytes());
    let b = f.outside("b.patch", change("drivers/net/wifi.c", 6, "6").as_bytes());
    f.cmd("ka-import")
        .args([
            "wifi",
            "--to",
            "driver/wifi",
            "--series",
            "fix",
            "--append",
            "--no-check",
        ])
        .arg(&a)
        .assert()
        .success();
    assert!(f.exists("patches/driver/wifi/fix/0002-a.patch"));
    assert_eq!(
        f.read("patches/driver/wifi/fix/series.yaml"),
        "scope: driver/wifi\ncampaign: wifi\norigin: \"wifi#1\"\n"
    );
    f.cmd("ka-import")
        .args([
            "other",
            "--to",
            "driver/wifi",
            "--series",
            "fix",
            "--append",
        ])
        .arg(&b)
        .assert()
        .code(1)
        .stderr(contains("belongs to campaign wifi, not other"));
}

#[test]
fn usage_refusals() {
    let f = Fleet::new();
    let a = f.outside("a.patch", change("drivers/net/wifi.c", 3, "3").as_bytes());
    f.cmd("ka-import")
        .arg("c")
        .arg(&a)
        .assert()
        .code(2)
        .stderr(contains("--to"));
    f.cmd("ka-import")
        .args(["c", "--to", "boards/one"])
        .arg(&a)
        .assert()
        .code(2)
        .stderr(contains("it must start with one of arch, soc"));
    f.cmd("ka-import")
        .args(["c", "--to", "board/one/base"])
        .arg(&a)
        .assert()
        .code(1)
        .stderr(contains("patches/board/one/base is a series"));
    f.cmd("ka-import")
        .args(["c", "--to", "board/one", "/nonexistent/*.patch"])
        .assert()
        .code(2)
        .stderr(contains("no such file"));
}

#[test]
fn a_failing_verdict_is_reported_and_the_import_kept() {
    let f = Fleet::new();
    // line 10 was already changed by driver/wifi/fix, which beta applies first
    let src = f.outside(
        "late.patch",
        change("drivers/net/wifi.c", 10, "line TEN").as_bytes(),
    );
    f.cmd("ka-import")
        .args(["late", "--to", "driver/wifi"])
        .arg(&src)
        .assert()
        .code(1)
        .stdout(contains("does NOT apply cleanly on beta"))
        .stdout(contains("Fails patches/driver/wifi/late/0001-late.patch"))
        .stdout(contains("the import is kept"));
    assert!(f.exists("patches/driver/wifi/late/0001-late.patch"));
    // a new series that breaks a patch applied after it (board/one/extra on alpha)
    let early = f.outside(
        "early.patch",
        change("drivers/net/wifi.c", 20, "line XX").as_bytes(),
    );
    f.cmd("ka-import")
        .args(["aaa", "--to", "board/one"])
        .arg(&early)
        .assert()
        .code(1)
        .stdout(contains(
            "these patches do not apply: patches/board/one/extra/0001-extra.patch",
        ));
}

#[test]
fn dry_run_writes_nothing() {
    let f = Fleet::new();
    let before = f.snapshot();
    let src = f.outside("a.patch", change("drivers/net/wifi.c", 3, "3").as_bytes());
    f.cmd("ka-import")
        .args(["c", "--to", "board/one", "--dry-run"])
        .arg(&src)
        .assert()
        .success()
        .stdout(contains("would import 1 patches as patches/board/one/c"));
    assert_eq!(f.snapshot(), before);
}

#[test]
fn a_git_range() {
    let f = Fleet::new();
    let g = f.tmp.path().join("git");
    let git = |args: &[&str]| {
        let st = std::process::Command::new("git")
            .arg("-C")
            .arg(&g)
            .args(args)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "A")
            .env("GIT_AUTHOR_EMAIL", "a@example.org")
            .env("GIT_COMMITTER_NAME", "A")
            .env("GIT_COMMITTER_EMAIL", "a@example.org")
            .output()
            .unwrap();
        assert!(st.status.success(), "{:?}", st);
    };
    std::fs::create_dir_all(g.join("drivers/net")).unwrap();
    git(&["init", "-q"]);
    let mut text: String = (1..=30).map(|n| format!("line {n}\n")).collect();
    std::fs::write(g.join("drivers/net/wifi.c"), &text).unwrap();
    git(&["add", "."]);
    git(&["commit", "-qm", "base"]);
    git(&["tag", "base"]);
    for (n, msg) in [(24, "wifi: four"), (27, "wifi: seven")] {
        text = text.replace(&format!("line {n}\n"), &format!("LINE {n}\n"));
        std::fs::write(g.join("drivers/net/wifi.c"), &text).unwrap();
        git(&["commit", "-qam", msg]);
    }
    f.cmd("ka-import")
        .args([
            "ranged",
            "--to",
            "driver/wifi",
            "--git-range",
            "base..HEAD",
            "--git-repo",
        ])
        .arg(&g)
        .assert()
        .success()
        .stdout(contains("imported 2 patches"))
        .stdout(contains("applies on every host that takes it (beta)"));
    assert!(
        f.read("patches/driver/wifi/ranged/0002-wifi-seven.patch")
            .starts_with("From ")
    );
}

const HOSTILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/hostile-symlinks"
);

fn hostile(name: &str) -> Vec<u8> {
    std::fs::read(format!("{HOSTILE}/{name}")).unwrap()
}

#[test]
fn symlinks_out_of_the_tree_and_writes_through_them_are_refused_with_file_and_line() {
    let f = Fleet::new();
    let before = f.snapshot();
    // (source files, the refused one, its line, what is said)
    let cases: [(&[&str], &str, usize, &str); 5] = [
        (
            &[],
            "link-absolute.patch",
            11,
            "creates the symbolic link drivers/bes2600/firmware -> /lib/firmware: an absolute target",
        ),
        (
            &[],
            "link-climbs-out.patch",
            11,
            "creates the symbolic link drivers/bes2600/config -> ../../../etc: its `..` climb out of the tree",
        ),
        (
            &["link-inside.patch"],
            "link-renamed-out.patch",
            11,
            "renames a symbolic link to tools-link -> ../../scripts",
        ),
        (
            &["link-inside.patch"],
            "link-retargeted-out.patch",
            10,
            "changes the symbolic link drivers/bes2600/tools -> /usr/src",
        ),
        (
            &["link-inside.patch"],
            "write-through-link.patch",
            12,
            "drivers/bes2600/tools/evil.sh is beyond the symbolic link drivers/bes2600/tools",
        ),
    ];
    for (earlier, refused, line, said) in cases {
        let mut args: Vec<std::path::PathBuf> =
            earlier.iter().map(|n| f.outside(n, &hostile(n))).collect();
        let bad = f.outside(refused, &hostile(refused));
        args.push(bad.clone());
        f.cmd("ka-import")
            .args(["links", "--to", "driver/wifi"])
            .args(&args)
            .assert()
            .code(1)
            .stderr(contains(format!("{}, line {line}: {said}", bad.display())))
            .stderr(contains("nothing was imported"));
        assert_eq!(f.snapshot(), before, "{refused}");
    }
    // In an mbox, the line counts from the top of the file.
    let mbox = [
        hostile("link-inside.patch"),
        hostile("write-through-link.patch"),
    ]
    .concat();
    let first = hostile("link-inside.patch").split(|&b| b == b'\n').count() - 1;
    let src = f.outside("links.mbox", &mbox);
    f.cmd("ka-import")
        .args(["links", "--to", "driver/wifi"])
        .arg(&src)
        .assert()
        .code(1)
        .stderr(contains(format!(
            "{} (mail 2 of 2), line {}: drivers/bes2600/tools/evil.sh is beyond",
            src.display(),
            first + 12
        )));
    assert_eq!(f.snapshot(), before);
    // A link inside the tree is imported.
    let inside = f.outside("link-inside.patch", &hostile("link-inside.patch"));
    f.cmd("ka-import")
        .args(["links", "--to", "driver/wifi", "--no-check"])
        .arg(&inside)
        .assert()
        .success();
    // ... and a write through it in a later --append is refused.
    let through = f.outside(
        "write-through-link.patch",
        &hostile("write-through-link.patch"),
    );
    let after_first = f.snapshot();
    f.cmd("ka-import")
        .args(["links", "--to", "driver/wifi", "--append", "--no-check"])
        .arg(&through)
        .assert()
        .code(1)
        .stderr(contains(
            "is beyond the symbolic link drivers/bes2600/tools",
        ));
    assert_eq!(f.snapshot(), after_first);
}

#[test]
fn a_cover_letter_is_said_and_skipped_any_other_mail_without_a_diff_refused() {
    let f = Fleet::new();
    let cover = "From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\nFrom: Example <example@kernel-agent.invalid>\nSubject: [PATCH v2 0/2] wifi: two fixes\n\nThe cover letter.\n\nExample (2):\n  one\n  two\n\n drivers/net/wifi.c | 4 ++--\n\n-- \n2.39.5\n\n";
    let m1 = mail("drivers/net/wifi.c", 3, "3", "one", "");
    let m2 = mail("drivers/net/wifi.c", 26, "26", "two", "");
    let src = f.outside("b4.mbox", format!("{cover}{m1}{m2}").as_bytes());
    f.cmd("ka-import")
        .args(["wifi2", "--to", "driver/wifi", "--no-check"])
        .arg(&src)
        .assert()
        .success()
        .stdout(contains("imported 2 patches as patches/driver/wifi/wifi2"))
        .stderr(contains(format!(
            "ka-import: {} (mail 1 of 3), line 1: skipping the cover letter \"wifi: two fixes\" (it holds no diff)",
            src.display()
        )));
    assert_eq!(
        f.read("patches/driver/wifi/wifi2/0001-one.patch"),
        m1,
        "the first patch is the first mail after the cover letter"
    );
    // A cover letter alone is no import.
    let before = f.snapshot();
    let alone = f.outside("cover.mbox", cover.as_bytes());
    f.cmd("ka-import")
        .args(["wifi3", "--to", "driver/wifi"])
        .arg(&alone)
        .assert()
        .code(1)
        .stderr(contains("only cover letters were given, no patches"));
    // A [PATCH 1/2] without a diff is refused, not skipped.
    let lost = cover.replace("[PATCH v2 0/2]", "[PATCH v2 1/2]");
    let src = f.outside("lost.mbox", format!("{lost}{m2}").as_bytes());
    f.cmd("ka-import")
        .args(["wifi3", "--to", "driver/wifi"])
        .arg(&src)
        .assert()
        .code(1)
        .stderr(contains("(mail 1 of 2), line 1: not a diff"))
        .stderr(contains(
            "only a cover letter (`[PATCH 0/N]`) may come without a diff",
        ));
    assert_eq!(f.snapshot(), before);
}
