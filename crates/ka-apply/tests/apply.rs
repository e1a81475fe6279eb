//! apply_patch on an in-memory tree: file operations, verdicts, all-or-nothing.

use ka_apply::{ApplyOptions, MemTree, Overlay, apply_patch};
use ka_schema::{FileOperation, Verdict};

const OPTS: ApplyOptions = ApplyOptions { fuzz: 0 };

fn base() -> MemTree {
    MemTree::new([("a.txt", "one\ntwo\nthree\n"), ("b.txt", "alpha\nbeta\n")])
}

#[test]
fn create_of_an_existing_file_fails() {
    let mut tree = base();
    let mut o = Overlay::new(&mut tree);
    let p = b"diff --git a/a.txt b/a.txt\nnew file mode 100644\n--- /dev/null\n+++ b/a.txt\n@@ -0,0 +1 @@\n+x\n";
    let out = apply_patch(&mut o, p, &OPTS).unwrap();
    assert_eq!(out.verdict, Verdict::Fails);
    assert_eq!(out.files[0].reason.as_deref(), Some("file already exists"));
    assert_eq!(
        out.files[0].hunks[0].reason.as_deref(),
        Some("file already exists")
    );
}

#[test]
fn delete_with_different_content_fails() {
    let mut tree = base();
    let mut o = Overlay::new(&mut tree);
    let p = b"diff --git a/b.txt b/b.txt\ndeleted file mode 100644\n--- a/b.txt\n+++ /dev/null\n@@ -1,2 +0,0 @@\n-alpha\n-gamma\n";
    let out = apply_patch(&mut o, p, &OPTS).unwrap();
    assert_eq!(out.verdict, Verdict::Fails);
    assert_eq!(o.read("b.txt").unwrap().unwrap(), b"alpha\nbeta\n");
    let p = b"diff --git a/b.txt b/b.txt\ndeleted file mode 100644\n--- a/b.txt\n+++ /dev/null\n@@ -1,2 +0,0 @@\n-alpha\n-beta\n";
    let out = apply_patch(&mut o, p, &OPTS).unwrap();
    assert_eq!(out.verdict, Verdict::Clean);
    assert_eq!(out.files[0].operation, FileOperation::Delete);
    assert_eq!(o.read("b.txt").unwrap(), None);
}

#[test]
fn rename_of_a_file_an_earlier_patch_created() {
    let mut tree = base();
    let mut o = Overlay::new(&mut tree);
    let create = b"diff --git a/new.c b/new.c\nnew file mode 100644\n--- /dev/null\n+++ b/new.c\n@@ -0,0 +1,2 @@\n+int x;\n+int y;\n";
    assert_eq!(
        apply_patch(&mut o, create, &OPTS).unwrap().verdict,
        Verdict::Clean
    );
    let rename = b"diff --git a/new.c b/sub/renamed.c\nsimilarity index 60%\nrename from new.c\nrename to sub/renamed.c\n--- a/new.c\n+++ b/sub/renamed.c\n@@ -1,2 +1,2 @@\n int x;\n-int y;\n+int z;\n";
    let out = apply_patch(&mut o, rename, &OPTS).unwrap();
    assert_eq!(out.verdict, Verdict::Clean, "{out:?}");
    assert_eq!(out.files[0].operation, FileOperation::Rename);
    assert_eq!(out.files[0].from.as_deref(), Some("new.c"));
    assert_eq!(o.read("new.c").unwrap(), None);
    assert_eq!(
        o.read("sub/renamed.c").unwrap().unwrap(),
        b"int x;\nint z;\n"
    );
}

#[test]
fn all_or_nothing() {
    let mut tree = base();
    let mut o = Overlay::new(&mut tree);
    // a.txt applies, b.txt does not: nothing may change.
    let p = b"--- a/a.txt\n+++ b/a.txt\n@@ -1,3 +1,3 @@\n one\n-two\n+TWO\n three\n--- a/b.txt\n+++ b/b.txt\n@@ -1,2 +1,2 @@\n alpha\n-delta\n+DELTA\n";
    let out = apply_patch(&mut o, p, &OPTS).unwrap();
    assert_eq!(out.verdict, Verdict::Fails);
    assert_eq!(out.files[0].verdict, Verdict::Clean);
    assert_eq!(out.files[1].verdict, Verdict::Fails);
    assert_eq!(
        out.files[1].hunks[0].reason.as_deref(),
        Some("context does not match at any position")
    );
    assert!(out.changes.is_empty());
    assert!(o.changes().is_empty());
}

#[test]
fn already_applied_is_recognised() {
    let mut tree = base();
    let mut o = Overlay::new(&mut tree);
    let p = b"--- a/a.txt\n+++ b/a.txt\n@@ -1,3 +1,3 @@\n one\n-two\n+TWO\n three\n";
    assert_eq!(
        apply_patch(&mut o, p, &OPTS).unwrap().verdict,
        Verdict::Clean
    );
    let again = apply_patch(&mut o, p, &OPTS).unwrap();
    assert_eq!(again.verdict, Verdict::AlreadyApplied);
    assert!(!again.verdict.applies());
}

#[test]
fn offsets_and_changed_lines_are_reported() {
    let mut tree = MemTree::new([("f", "0\n0\n1\n2\n3\n4\n5\n")]);
    let mut o = Overlay::new(&mut tree);
    let p = b"--- a/f\n+++ b/f\n@@ -2,2 +2,3 @@\n 2\n+2.5\n 3\n";
    let out = apply_patch(&mut o, p, &OPTS).unwrap();
    assert_eq!(out.verdict, Verdict::Offset);
    assert_eq!(out.files[0].hunks[0].offset, 2);
    assert_eq!(out.files[0].hunks[0].line, Some(4));
    let c = out.changes[0].changes[0];
    assert_eq!((c.new_start, c.new_len), (5, 1));
}

#[test]
fn traditional_diff_patches_the_name_that_exists() {
    // nl-fix.diff names old.txt and new.txt; GNU patch edits the existing one.
    let mut tree = MemTree::new([("old.txt", "a\nb\nc")]);
    let mut o = Overlay::new(&mut tree);
    let p = std::fs::read("../../tests/fixtures/patch-zoo/patches/nl-fix.diff").unwrap();
    let out = apply_patch(&mut o, &p, &OPTS).unwrap();
    assert_eq!(out.verdict, Verdict::Clean, "{out:?}");
    assert_eq!(o.read("old.txt").unwrap().unwrap(), b"a\nb\nc\n");
}

#[test]
fn binary_without_data_needs_binary_flag() {
    let mut tree = MemTree::new([("fw.bin", vec![0u8, 1, 2])]);
    let mut o = Overlay::new(&mut tree);
    let p = b"diff --git a/fw.bin b/fw.bin\nindex 1111111..2222222 100644\nBinary files a/fw.bin and b/fw.bin differ\n";
    let out = apply_patch(&mut o, p, &OPTS).unwrap();
    assert_eq!(out.verdict, Verdict::Fails);
    assert!(out.files[0].reason.as_deref().unwrap().contains("--binary"));
}

#[test]
fn mode_change_needs_the_file() {
    let mut tree = base();
    let mut o = Overlay::new(&mut tree);
    let p = b"diff --git a/run.sh b/run.sh\nold mode 100644\nnew mode 100755\n";
    let out = apply_patch(&mut o, p, &OPTS).unwrap();
    assert_eq!(out.verdict, Verdict::Fails);
    assert_eq!(out.files[0].reason.as_deref(), Some("file does not exist"));
    let p = b"diff --git a/a.txt b/a.txt\nold mode 100644\nnew mode 100755\n";
    assert_eq!(
        apply_patch(&mut o, p, &OPTS).unwrap().verdict,
        Verdict::Clean
    );
}

#[test]
fn non_utf8_content_applies() {
    let mut tree = MemTree::new([("l.txt", b"caf\xe9\nx\n".to_vec())]);
    let mut o = Overlay::new(&mut tree);
    let p = b"--- a/l.txt\n+++ b/l.txt\n@@ -1,2 +1,2 @@\n caf\xe9\n-x\n+\xff\xfe\n";
    let out = apply_patch(&mut o, p, &OPTS).unwrap();
    assert_eq!(out.verdict, Verdict::Clean, "{out:?}");
    assert_eq!(o.read("l.txt").unwrap().unwrap(), b"caf\xe9\n\xff\xfe\n");
}
