//! Property tests of the patch parser and engine: generated input never
//! panics or hangs (sizes are bounded), and a diff of two texts applies to
//! the first giving the second. `make test` runs proptest's default number
//! of cases; `make fuzz` many more (PROPTEST_CASES). A failure found here
//! becomes a named #[test] below with the minimized input.

use ka_apply::{ApplyOptions, MemTree, Overlay, SeriesLinks, apply_patch, parse_check};
use ka_schema::Verdict;
use proptest::prelude::*;

/// Lines a patch (or the mail around it) is made of, and some that break it.
const PATCH_LINES: &[&str] = &[
    "From 0123456789abcdef0123456789abcdef01234567 Mon Sep 17 00:00:00 2001",
    "From: A <a@example.org>",
    "Subject: [PATCH] x",
    "",
    "---",
    "-- ",
    "2.47.3",
    "diff --git a/f b/f",
    "diff --git a/l b/l",
    "diff --git a/l/x b/l/x",
    "diff --git a/f b/g",
    "new file mode 100644",
    "new file mode 120000",
    "deleted file mode 100644",
    "old mode 100644",
    "new mode 120000",
    "index 0000000..1234567",
    "index 1234567..89abcde 120000",
    "similarity index 100%",
    "rename from f",
    "rename to g",
    "copy from f",
    "copy to l",
    "--- a/f",
    "+++ b/f",
    "--- /dev/null",
    "+++ b/l",
    "+++ /dev/null",
    "--- a/l/x",
    "+++ b/l/x",
    "@@ -1 +1 @@",
    "@@ -0,0 +1 @@",
    "@@ -1,3 +1,3 @@",
    "@@ -1,0 +1,2 @@",
    "@@ -18446744073709551615,1 +1 @@",
    "@@ -1,18446744073709551615 +1 @@",
    "@@ -0,0 +0,0 @@",
    " one",
    " two",
    "-one",
    "-two",
    "+one",
    "+three",
    "+/etc",
    "+../..",
    "+l",
    "\\ No newline at end of file",
    "GIT binary patch",
    "literal 5",
    "delta 3",
    "literal 0",
    "HcmV?d00001",
    "zcmV?d00001",
    "Binary files a/f and b/f differ",
    "Index: f",
    "===================================================================",
];

/// A patch-shaped text: up to 40 lines drawn from [`PATCH_LINES`] and a few
/// arbitrary ones, with `\n` or `\r\n` line ends.
fn patch_text() -> impl Strategy<Value = Vec<u8>> {
    let line = prop_oneof![
        8 => prop::sample::select(PATCH_LINES).prop_map(str::to_string),
        1 => "[ -~]{0,12}",
    ];
    (prop::collection::vec(line, 0..40), any::<bool>()).prop_map(|(lines, crlf)| {
        let end = if crlf { "\r\n" } else { "\n" };
        lines
            .iter()
            .flat_map(|l| [l.as_str(), end])
            .collect::<String>()
            .into_bytes()
    })
}

fn base() -> MemTree {
    MemTree::new([("f", "one\ntwo\nthree\n"), ("l", "d"), ("d/x", "x\n")])
}

/// Parse, judge the links of and apply `bytes` on a small tree, twice in a
/// row (the second sees the first's changes): nothing may panic.
fn survives(bytes: &[u8]) {
    let _ = parse_check(bytes);
    let _ = SeriesLinks::new().add(bytes);
    let mut tree = base();
    let mut overlay = Overlay::new(&mut tree);
    for fuzz in [0, 2] {
        let out = apply_patch(&mut overlay, bytes, &ApplyOptions { fuzz }).unwrap();
        // A refusal always says why.
        if out.verdict == Verdict::Fails {
            assert!(out.reason.is_some() || out.files.iter().any(|f| f.reason.is_some()));
        }
    }
}

/// Lines of a small alphabet, so that diffs have context and repeats.
fn text() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(
            prop::sample::select(&["a", "b", "c", "", " x", "-", "+"][..]),
            0..30,
        ),
        any::<bool>(),
    )
        .prop_map(|(lines, final_newline)| {
            let mut t = lines.join("\n");
            if final_newline && !lines.is_empty() {
                t.push('\n');
            }
            t
        })
}

const PATHS: &[&str] = &["l", "l/x", "d/l", "d/l/y", "d/x", "g", "d/e/l"];
const TARGETS: &[&str] = &[
    "d", "x", "/etc", "..", "../d", "../..", "d/../..", "./d", "", "l/x",
];

/// One git file diff touching links: create a file or a link, delete,
/// rename, or retarget.
fn link_diff() -> impl Strategy<Value = String> {
    let path = || prop::sample::select(PATHS);
    let target = || prop::sample::select(TARGETS);
    prop_oneof![
        (path(), target()).prop_map(|(p, t)| format!(
            "diff --git a/{p} b/{p}\nnew file mode 120000\nindex 0000000..1111111\n--- /dev/null\n+++ b/{p}\n@@ -0,0 +1 @@\n+{t}\n\\ No newline at end of file\n"
        )),
        path().prop_map(|p| format!(
            "diff --git a/{p} b/{p}\nnew file mode 100644\nindex 0000000..1111111\n--- /dev/null\n+++ b/{p}\n@@ -0,0 +1 @@\n+x\n"
        )),
        (path(), path()).prop_map(|(a, b)| format!(
            "diff --git a/{a} b/{b}\nsimilarity index 100%\nrename from {a}\nrename to {b}\n"
        )),
        (path(), target(), target()).prop_map(|(p, old, new)| format!(
            "diff --git a/{p} b/{p}\nindex 1111111..2222222 120000\n--- a/{p}\n+++ b/{p}\n@@ -1 +1 @@\n-{old}\n\\ No newline at end of file\n+{new}\n\\ No newline at end of file\n"
        )),
        (path(), target()).prop_map(|(p, t)| format!(
            "diff --git a/{p} b/{p}\ndeleted file mode 120000\nindex 1111111..0000000\n--- a/{p}\n+++ /dev/null\n@@ -1 +0,0 @@\n-{t}\n\\ No newline at end of file\n"
        )),
    ]
}

/// A series of up to 5 patches of up to 3 such file diffs each.
fn link_series() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(
        prop::collection::vec(link_diff(), 1..4).prop_map(|d| d.concat()),
        1..6,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn fuzz_arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        survives(&bytes);
    }

    #[test]
    fn fuzz_patch_shaped_text_never_panics(bytes in patch_text()) {
        survives(&bytes);
    }

    /// diff(old, new) applied to old gives new, as a plain and as a git diff.
    #[test]
    fn fuzz_a_diff_applies_to_its_old_text_giving_the_new(old in text(), new in text(), git in any::<bool>()) {
        prop_assume!(old != new);
        let made = diffy::create_patch(&old, &new).to_string();
        let hunks = made.split_once("+++ modified\n").expect("diffy's header").1;
        let header = if git { "diff --git a/f b/f\n--- a/f\n+++ b/f\n" } else { "--- a/f\n+++ b/f\n" };
        let patch = format!("{header}{hunks}");
        let mut tree = MemTree::new([("f", old.as_str())]);
        let mut overlay = Overlay::new(&mut tree);
        let out = apply_patch(&mut overlay, patch.as_bytes(), &ApplyOptions::default()).unwrap();
        prop_assert_eq!(out.verdict, Verdict::Clean, "{}\n{:?}", patch, out);
        let after = overlay.read("f").unwrap();
        // A plain diff that empties a file deletes it, as git and GNU patch do.
        let expected = (git || !new.is_empty()).then(|| new.clone().into_bytes());
        prop_assert_eq!(after, expected, "{}", patch);
    }

    /// A diff made inside a file applies where the file moved down (lines
    /// added above it): at an offset, giving the new text below the added
    /// lines. (As in git apply, a hunk at line 1 or without trailing context
    /// may not move: the fixed head and tail lines keep hunks off both.)
    #[test]
    fn fuzz_a_diff_applies_at_an_offset(mid_old in text(), mid_new in text(), above in 1usize..20) {
        let frame = |mid: &str| {
            let sep = if mid.is_empty() || mid.ends_with('\n') { "" } else { "\n" };
            format!("h1\nh2\nh3\nh4\n{mid}{sep}t1\nt2\nt3\nt4\n")
        };
        let (old, new) = (frame(&mid_old), frame(&mid_new));
        prop_assume!(old != new);
        let made = diffy::create_patch(&old, &new).to_string();
        let hunks = made.split_once("+++ modified\n").expect("diffy's header").1;
        let patch = format!("diff --git a/f b/f\n--- a/f\n+++ b/f\n{hunks}");
        let prefix: String = (0..above).map(|i| format!("p{i}\n")).collect();
        let mut tree = MemTree::new([("f", format!("{prefix}{old}"))]);
        let mut overlay = Overlay::new(&mut tree);
        let out = apply_patch(&mut overlay, patch.as_bytes(), &ApplyOptions::default()).unwrap();
        prop_assert_eq!(out.verdict, Verdict::Offset, "{}\n{:?}", patch, out);
        prop_assert_eq!(overlay.read("f").unwrap(), Some(format!("{prefix}{new}").into_bytes()), "{}", patch);
    }

    /// ka-import (the patches alone) and ka-check (on a tree) refuse the
    /// same patches for the same reason, as long as every earlier patch
    /// applied (ka-import cannot know which would not).
    #[test]
    fn fuzz_import_and_check_judge_links_alike(series in link_series()) {
        let mut links = SeriesLinks::new();
        let mut tree = base_without_links();
        let mut overlay = Overlay::new(&mut tree);
        for patch in &series {
            let import = links.add(patch.as_bytes());
            let check = apply_patch(&mut overlay, patch.as_bytes(), &ApplyOptions::default()).unwrap();
            match import {
                Err(hostile) => {
                    prop_assert_eq!(check.verdict, Verdict::Fails);
                    prop_assert_eq!(check.reason, Some(hostile.to_string()), "{}", patch);
                    break;
                }
                Ok(()) => {
                    let check_refused = check.reason.as_deref().is_some_and(|r| r.starts_with("line "));
                    prop_assert!(!check_refused, "{}\n{:?}", patch, check);
                    if !check.verdict.applies() {
                        break;
                    }
                }
            }
        }
    }
}

/// A tree with files but no links: the base answers "not a link" for all.
fn base_without_links() -> MemTree {
    MemTree::new([("f", "one\n"), ("d/x", "x\n"), ("g", "x\n")])
}
