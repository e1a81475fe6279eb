//! Our verdicts, offsets and resulting trees agree with `git apply` run patch
//! by patch on a checked-out worktree of the same commit.

use ka_apply::{ApplyOptions, GitTree, Overlay, apply_patch};
use ka_schema::Verdict;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const ZOO: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/patch-zoo"
);

struct Repo {
    _tmp: tempfile::TempDir,
    home: PathBuf,
    work: PathBuf,
}

impl Repo {
    /// A repository with base.tar plus `extra` files, committed.
    fn new(extra: &[(&str, &[u8])]) -> Repo {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        let work = tmp.path().join("work");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&work).unwrap();
        let repo = Repo {
            _tmp: tmp,
            home,
            work,
        };
        repo.run("tar", &["xf", &format!("{ZOO}/base.tar")]);
        for (path, content) in extra {
            let p = repo.work.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, content).unwrap();
        }
        repo.git(&["init", "-q", "."]);
        repo.commit("base");
        repo
    }

    /// Commit the whole worktree.
    fn commit(&self, message: &str) {
        self.git(&["add", "-A"]);
        let identity = ["-c", "user.name=t", "-c", "user.email=t@t"];
        self.git(&[&identity[..], &["commit", "-qm", message]].concat());
    }

    /// The checked-out commit, read through one `git cat-file --batch`.
    fn head_tree(&self) -> GitTree {
        let head = String::from_utf8(self.git(&["rev-parse", "HEAD"]).stdout).unwrap();
        GitTree::open(&self.work.join(".git"), head.trim()).unwrap()
    }

    fn cmd(&self, program: &str, args: &[&str]) -> Command {
        let mut c = Command::new(program);
        c.args(args)
            .current_dir(&self.work)
            .env("HOME", &self.home)
            .env("KA_ROOT", &self.home)
            .env("GIT_CONFIG_NOSYSTEM", "1");
        c
    }

    fn run(&self, program: &str, args: &[&str]) -> Output {
        let out = self.cmd(program, args).output().unwrap();
        assert!(out.status.success(), "{program} {args:?}: {out:?}");
        out
    }

    fn git(&self, args: &[&str]) -> Output {
        self.run("git", args)
    }

    fn try_git(&self, args: &[&str]) -> Output {
        self.cmd("git", args).output().unwrap()
    }
}

/// `(file, hunk, offset)` for every hunk git reports at an offset.
fn git_offsets(stderr: &[u8]) -> Vec<(String, usize, i64)> {
    let text = String::from_utf8_lossy(stderr);
    let mut file = String::new();
    let mut found = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("Checking patch ") {
            let name = rest.trim_end_matches("...");
            file = name.rsplit(" => ").next().unwrap().to_string();
        } else if let Some(rest) = line.strip_prefix("Hunk #") {
            let (n, rest) = rest.split_once(' ').unwrap();
            if let Some((_, off)) = rest.split_once("(offset ") {
                let off = off.split(' ').next().unwrap();
                found.push((file.clone(), n.parse().unwrap(), off.parse().unwrap()));
            }
        }
    }
    found
}

/// Apply `patches` in order both ways and compare each step and the end tree.
fn agree(name: &str, extra: &[(&str, &[u8])], patches: &[(&str, Vec<u8>)]) {
    let repo = Repo::new(extra);
    let mut tree = repo.head_tree();
    let mut overlay = Overlay::new(&mut tree);
    let patch_dir = repo.home.join("patches");
    std::fs::create_dir_all(&patch_dir).unwrap();
    for (i, (label, bytes)) in patches.iter().enumerate() {
        let file = patch_dir.join(format!("{i}.patch"));
        std::fs::write(&file, bytes).unwrap();
        let file = file.to_str().unwrap();
        let ours = apply_patch(&mut overlay, bytes, &ApplyOptions::default()).unwrap();
        let check = repo.try_git(&["apply", "--check", file]);
        let what = format!("{name}: patch {i} ({label}): ours {ours:#?}\ngit: {check:?}");
        assert_eq!(ours.verdict.applies(), check.status.success(), "{what}");
        if check.status.success() {
            let applied = repo.git(&["apply", "-v", file]);
            let theirs = git_offsets(&applied.stderr);
            let mine: Vec<(String, usize, i64)> = ours
                .files
                .iter()
                .flat_map(|f| {
                    f.hunks
                        .iter()
                        .filter(|h| h.offset != 0)
                        .map(|h| (f.path.clone(), h.hunk, h.offset))
                })
                .collect();
            assert_eq!(mine, theirs, "{what}");
            let expect = if theirs.is_empty() {
                Verdict::Clean
            } else {
                Verdict::Offset
            };
            assert_eq!(ours.verdict, expect, "{what}");
        } else {
            let reverse = repo.try_git(&["apply", "-R", "--check", file]);
            assert_eq!(
                ours.verdict == Verdict::AlreadyApplied,
                reverse.status.success(),
                "{what}\nreverse: {reverse:?}"
            );
        }
    }
    // The trees agree: every file git has, and every file we changed.
    let listed = repo.git(&["ls-files", "--cached", "--others", "--exclude-standard"]);
    let mut paths: Vec<String> = String::from_utf8(listed.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    paths.extend(overlay.changes().keys().cloned());
    paths.sort();
    paths.dedup();
    for path in paths {
        // A link's content is its target, as in git.
        let file = repo.work.join(&path);
        let on_disk = match std::fs::read_link(&file) {
            Ok(target) => Some(target.into_os_string().into_encoded_bytes()),
            Err(_) => std::fs::read(&file).ok(),
        };
        let in_memory = overlay.read(&path).unwrap();
        assert!(
            on_disk == in_memory,
            "{name}: {path} differs from git's result"
        );
    }
}

fn zoo(name: &str) -> (&str, Vec<u8>) {
    let bytes = std::fs::read(Path::new(ZOO).join("patches").join(name)).unwrap();
    (name, bytes)
}

fn own(label: &'static str, text: &str) -> (&'static str, Vec<u8>) {
    (label, text.as_bytes().to_vec())
}

fn numbered(n: usize) -> String {
    (1..=n).map(|i| format!("line {i}\n")).collect()
}

#[test]
fn zoo_series_in_sequence() {
    let series = [
        zoo("0001-bes2600-add-hw-init-and-rename-header.patch"),
        zoo("0002-fw-update-blob.patch"),
        zoo("0003-literal.patch"),
    ];
    agree("0001..0003", &[], &series);
}

#[test]
fn zoo_patches_alone() {
    for name in [
        "mbox.patch",
        "git-diff-nobinary.diff",
        "multi-norename.diff",
        "plain-diff-ruN.diff",
        "similar-generated.diff",
    ] {
        agree(name, &[], &[zoo(name)]);
    }
}

#[test]
fn zoo_nl_fix() {
    // git patches the `+++` name of a traditional diff: give it that file.
    agree("nl-fix", &[("new.txt", b"a\nb\nc")], &[zoo("nl-fix.diff")]);
}

#[test]
fn a_patch_applied_twice_is_already_applied() {
    let p = zoo("0001-bes2600-add-hw-init-and-rename-header.patch");
    agree("0001 twice", &[], &[p.clone(), p]);
}

#[test]
fn own_tricky_cases() {
    let base = numbered(40);
    let extra: &[(&str, &[u8])] = &[("num.txt", base.as_bytes())];
    let offsets = own(
        "offsets forward and backward",
        "--- a/num.txt\n+++ b/num.txt\n\
         @@ -2,3 +2,4 @@\n line 5\n+five and a half\n line 6\n line 7\n\
         @@ -30,3 +31,3 @@\n line 20\n-line 21\n+twenty-one\n line 22\n",
    );
    let fails = own(
        "context nowhere",
        "--- a/num.txt\n+++ b/num.txt\n@@ -10,3 +10,3 @@\n line 10\n-line 11\n+eleven\n line 99\n",
    );
    let create = own(
        "create a file",
        "diff --git a/drivers/extra.c b/drivers/extra.c\nnew file mode 100644\nindex 0000000..1111111\n\
         --- /dev/null\n+++ b/drivers/extra.c\n@@ -0,0 +1,3 @@\n+a\n+b\n+c\n",
    );
    let rename = own(
        "rename the file created before, and edit it",
        "diff --git a/drivers/extra.c b/drivers/moved.c\nsimilarity index 70%\nrename from drivers/extra.c\n\
         rename to drivers/moved.c\n--- a/drivers/extra.c\n+++ b/drivers/moved.c\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n",
    );
    let near_end = own(
        "hunk at the end, file grew above",
        "--- a/num.txt\n+++ b/num.txt\n@@ -36,3 +36,4 @@\n line 38\n line 39\n line 40\n+line 41\n",
    );
    agree(
        "own",
        extra,
        &[
            offsets.clone(),
            fails,
            offsets,
            create.clone(),
            rename,
            create,
            near_end,
        ],
    );
}

// ---------------------------------------------------------- hostile symlinks

const HOSTILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/hostile-symlinks"
);

fn hostile_fixture(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(HOSTILE).join(name)).unwrap()
}

/// On the zoo's base tree, apply `earlier` (both we and git apply them),
/// then check `patch`: we refuse it with `reason` at line `line` of the
/// patch file, and `git apply --check` refuses it when `git_refuses`.
fn refused(earlier: &[&str], patch: &[u8], git_refuses: bool, line: usize, reason: &str) {
    let repo = Repo::new(&[]);
    let mut tree = repo.head_tree();
    let mut overlay = Overlay::new(&mut tree);
    let opts = ApplyOptions::default();
    for name in earlier {
        let bytes = hostile_fixture(name);
        let ours = apply_patch(&mut overlay, &bytes, &opts).unwrap();
        assert_eq!(ours.verdict, Verdict::Clean, "{name}: {ours:?}");
        repo.git(&["apply", &format!("{HOSTILE}/{name}")]);
    }
    let file = repo.home.join("hostile.patch");
    std::fs::write(&file, patch).unwrap();
    let ours = apply_patch(&mut overlay, patch, &opts).unwrap();
    assert_eq!(ours.verdict, Verdict::Fails, "{ours:?}");
    let why = ours.reason.unwrap();
    assert!(why.starts_with(&format!("line {line}: ")), "{why}");
    assert!(why.contains(reason), "{why}");
    let git = repo.try_git(&["apply", "--check", file.to_str().unwrap()]);
    assert_eq!(!git.status.success(), git_refuses, "git apply: {git:?}");
    if git_refuses {
        let stderr = String::from_utf8_lossy(&git.stderr);
        assert!(stderr.contains("beyond a symbolic link"), "{stderr}");
    }
    // Nothing of the refused patch is in the overlay.
    assert!(
        overlay.changes().keys().all(|p| !p.ends_with("evil.sh")),
        "{:?}",
        overlay.changes().keys()
    );
}

// git apply accepts a link whatever its target: to git a link is a name it
// stores. The build host applies the series with `patch -p1` into a real
// tree, where GNU patch makes the link and a later patch (or the build)
// follows it out of the tree; so we refuse what git accepts here.

#[test]
fn a_link_to_an_absolute_target_is_refused() {
    let patch = hostile_fixture("link-absolute.patch");
    refused(
        &[],
        &patch,
        false,
        11,
        "creates the symbolic link drivers/bes2600/firmware -> /lib/firmware: an absolute target",
    );
}

#[test]
fn a_link_climbing_out_of_the_tree_is_refused() {
    let patch = hostile_fixture("link-climbs-out.patch");
    refused(
        &[],
        &patch,
        false,
        11,
        "drivers/bes2600/config -> ../../../etc: its `..` climb out of the tree",
    );
}

#[test]
fn renaming_or_retargeting_a_link_out_of_the_tree_is_refused() {
    let patch = hostile_fixture("link-renamed-out.patch");
    refused(
        &["link-inside.patch"],
        &patch,
        false,
        11,
        "renames a symbolic link to tools-link -> ../../scripts",
    );
    let patch = hostile_fixture("link-retargeted-out.patch");
    refused(
        &["link-inside.patch"],
        &patch,
        false,
        10,
        "changes the symbolic link drivers/bes2600/tools -> /usr/src: an absolute target",
    );
}

#[test]
fn writing_through_a_link_an_earlier_patch_made_is_refused_as_git_does() {
    let patch = hostile_fixture("write-through-link.patch");
    refused(
        &["link-inside.patch"],
        &patch,
        true,
        12,
        "drivers/bes2600/tools/evil.sh is beyond the symbolic link drivers/bes2600/tools",
    );
    // The link and the write in one patch: refused too (git as well).
    let mut both = hostile_fixture("link-inside.patch");
    let at = both.windows(5).position(|w| w == b"-- \n2").unwrap();
    both.truncate(at);
    let through = hostile_fixture("write-through-link.patch");
    let diff = through
        .windows(11)
        .position(|w| w == b"diff --git ")
        .unwrap();
    both.extend_from_slice(&through[diff..]);
    refused(
        &[],
        &both,
        true,
        19,
        "is beyond the symbolic link drivers/bes2600/tools",
    );
}

#[test]
fn a_link_inside_the_tree_applies_and_the_patches_after_it_too() {
    agree(
        "link inside the tree",
        &[],
        &[
            ("link-inside", hostile_fixture("link-inside.patch")),
            own(
                "change run.sh where it is",
                "--- a/scripts/run.sh\n+++ b/scripts/run.sh\n@@ -1,2 +1,3 @@\n #!/bin/sh\n echo hi\n+echo ok\n",
            ),
        ],
    );
}

#[test]
fn renaming_a_link_of_the_base_tree_out_of_it_is_refused() {
    // The base has drivers/bes2600/tools -> ../../scripts (in the tree); a
    // 100% rename shows no mode, so the base tree says it is a link.
    let repo = Repo::new(&[]);
    std::os::unix::fs::symlink("../../scripts", repo.work.join("drivers/bes2600/tools")).unwrap();
    repo.commit("link");
    let mut tree = repo.head_tree();
    let mut overlay = Overlay::new(&mut tree);
    let patch = hostile_fixture("link-renamed-out.patch");
    let ours = apply_patch(&mut overlay, &patch, &ApplyOptions::default()).unwrap();
    assert_eq!(ours.verdict, Verdict::Fails, "{ours:?}");
    let why = ours.reason.unwrap();
    assert!(
        why.starts_with("line 11: renames a symbolic link to tools-link -> ../../scripts"),
        "{why}"
    );
    // git apply accepts it (a link is a name to git); see above.
    let check = repo.try_git(&[
        "apply",
        "--check",
        &format!("{HOSTILE}/link-renamed-out.patch"),
    ]);
    assert!(check.status.success(), "{check:?}");
}
