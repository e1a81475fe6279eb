//! ka-baseline with real git and tar: imports are reproducible and cached;
//! git baselines resolve refs; missing baselines are clear refusals.

use assert_cmd::Command;
use predicates::str::contains;
use std::fs;
use std::path::Path;
use std::process::Command as Std;

fn tarball(dir: &Path) -> std::path::PathBuf {
    let src = dir.join("linux-toy");
    fs::create_dir_all(src.join("drivers")).unwrap();
    fs::write(src.join("Makefile"), "VERSION = 6\n").unwrap();
    fs::write(src.join("drivers/a.c"), "int a;\n").unwrap();
    // CRLF bytes: a user's core.autocrlf would change them on import
    fs::write(src.join("drivers/dos.txt"), "a\r\nb\r\n").unwrap();
    // Debian's source tarballs carry a .gitignore that ignores the top level.
    fs::write(src.join(".gitignore"), "/*\n").unwrap();
    let t = dir.join("linux-toy.tar.xz");
    assert!(
        Std::new("tar")
            .arg("-cJf")
            .arg(&t)
            .arg("-C")
            .arg(dir)
            .arg("linux-toy")
            .status()
            .unwrap()
            .success()
    );
    t
}

fn cmd(root: &Path, home: &Path) -> Command {
    let mut c = Command::cargo_bin("ka-baseline").unwrap();
    c.env("KA_ROOT", root).env("HOME", home);
    c
}

fn pinned_commit(out: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(out).unwrap();
    v["commit"].as_str().unwrap().to_string()
}

#[test]
fn tarball_import_is_reproducible_cached_and_complete() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let t = tarball(tmp.path());
    let root_a = tmp.path().join("a");
    let root_b = tmp.path().join("b");
    let a = cmd(&root_a, home.path())
        .arg("--import")
        .arg(&t)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    // someone else's HOME with a git configuration that would change the
    // import if it were read
    let other_home = tmp.path().join("other-home");
    fs::create_dir_all(&other_home).unwrap();
    fs::write(other_home.join(".gitconfig"), "[core]\n\tautocrlf = true\n").unwrap();
    let b = cmd(&root_b, &other_home)
        .arg("--import")
        .arg(&t)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let commit = pinned_commit(&a);
    assert_eq!(
        commit,
        pinned_commit(&b),
        "same tarball, same commit on any machine"
    );
    // cached: the second run in the same root does not import again
    cmd(&root_a, home.path())
        .arg("--import")
        .arg(&t)
        .assert()
        .success()
        .stderr("");
    // every file is in the commit, ignored or not; no scratch folder is left
    let git_dir = root_a.join("baselines/linux-toy.git");
    // still cached after someone packs the refs
    assert!(
        Std::new("git")
            .arg("--git-dir")
            .arg(&git_dir)
            .args(["pack-refs", "--all"])
            .status()
            .unwrap()
            .success()
    );
    cmd(&root_a, home.path())
        .arg("--import")
        .arg(&t)
        .assert()
        .success()
        .stderr("");
    let ls = Std::new("git")
        .arg("--git-dir")
        .arg(&git_dir)
        .args(["ls-tree", "-r", "--name-only", &commit])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(ls.stdout).unwrap(),
        ".gitignore\nMakefile\ndrivers/a.c\ndrivers/dos.txt\n"
    );
    let leftovers: Vec<_> = fs::read_dir(root_a.join("baselines"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".import"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn plans_get_their_baseline_pinned() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let t = tarball(tmp.path());
    let plan = format!(
        r#"{{"kind":"ka.plan","version":1,"host":"h","repo":"/r","manifest":"fleet/h.yaml","manifest_b2sum":"x","baseline":{{"spec":{{"tarball":"{}"}}}},"patches":[]}}"#,
        t.display()
    );
    cmd(&tmp.path().join("root"), home.path())
        .write_stdin(format!("{plan}\n{plan}\n"))
        .assert()
        .success()
        .stdout(contains("\"commit\":\"").count(2))
        .stdout(contains("linux-toy.git"));
}

#[test]
fn missing_tarball_is_a_clear_refusal() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let plan = r#"{"kind":"ka.plan","version":1,"host":"h","repo":"/r","manifest":"fleet/h.yaml","manifest_b2sum":"x","baseline":{"spec":{"tarball":"/nonexistent/linux.tar.xz"}},"patches":[]}"#;
    cmd(&tmp.path().join("root"), home.path())
        .write_stdin(plan)
        .assert()
        .code(1)
        .stderr(contains(
            "h: fleet/h.yaml: baseline tarball /nonexistent/linux.tar.xz is missing",
        ))
        .stdout("");
    // a corrupt tarball
    let bad = tmp.path().join("broken.tar.xz");
    fs::write(&bad, b"not a tarball").unwrap();
    cmd(&tmp.path().join("root"), home.path())
        .arg("--import")
        .arg(&bad)
        .assert()
        .code(1)
        .stderr(contains("could not unpack"));
}

#[test]
fn git_baseline_resolves_a_tag_and_refuses_an_unknown_ref() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let up = tmp.path().join("upstream");
    let git = |args: &[&str]| {
        let s = Std::new("git")
            .arg("-C")
            .arg(&up)
            .args(args)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@t")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@t")
            .output()
            .unwrap();
        assert!(s.status.success(), "{s:?}");
        String::from_utf8(s.stdout).unwrap().trim().to_string()
    };
    fs::create_dir_all(&up).unwrap();
    git(&["init", "-q"]);
    fs::write(up.join("f"), "x\n").unwrap();
    git(&["add", "f"]);
    git(&["commit", "-qm", "v"]);
    git(&["tag", "v6.10"]);
    let want = git(&["rev-parse", "HEAD"]);
    let root = tmp.path().join("root");
    let out = cmd(&root, home.path())
        .args(["--git", up.to_str().unwrap(), "--ref", "v6.10"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(pinned_commit(&out), want);
    cmd(&root, home.path())
        .args(["--git", up.to_str().unwrap(), "--ref", "v9.9"])
        .assert()
        .code(1)
        .stderr(contains("cannot be fetched"));
}

/// The folders and files under `root/baselines` (none when it is absent).
fn baselines(root: &Path) -> Vec<String> {
    match fs::read_dir(root.join("baselines")) {
        Ok(entries) => {
            let mut names: Vec<String> = entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        }
        Err(_) => Vec::new(),
    }
}

#[test]
fn a_refused_fetch_or_import_leaves_no_repository_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    // No network: a local URL that does not exist. A second try is refused
    // the same way, not "pinned" from an empty cache.
    for _try in 1..=2 {
        cmd(&root, home.path())
            .args(["--git", "file:///nonexistent/linux.git", "--ref", "v6.1"])
            .assert()
            .code(1)
            .stderr(contains("cannot be fetched"));
        assert_eq!(baselines(&root), Vec::<String>::new());
    }
    // A tarball tar cannot unpack: no repository either.
    let bad = tmp.path().join("linux-broken.tar.xz");
    fs::write(&bad, b"not a tarball").unwrap();
    cmd(&root, home.path())
        .arg("--import")
        .arg(&bad)
        .assert()
        .code(1)
        .stderr(contains("could not unpack"));
    assert_eq!(baselines(&root), Vec::<String>::new());
    // A leftover of a killed fetch is cleared by the next one, which works.
    let t = tarball(tmp.path());
    fs::create_dir_all(root.join("baselines/.linux-toy.git.new-1")).unwrap();
    cmd(&root, home.path())
        .arg("--import")
        .arg(&t)
        .assert()
        .success();
    assert_eq!(baselines(&root), ["linux-toy.git", "linux-toy.json"]);
}
