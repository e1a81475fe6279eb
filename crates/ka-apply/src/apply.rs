//! Apply one patch file to an [`Overlay`], all or nothing, and judge it.

use crate::ApplyError;
use crate::blob_id::git_blob_id;
use crate::hunk::Hunk;
use crate::overlay::Overlay;
use crate::parse::{Body, FileDiff, Target, parse_patch};
use crate::place::{Placed, apply_hunks};
use crate::regions::Change;
use crate::symlinks;
use diffy::binary::BinaryPatch;
use ka_schema::{FileCheck, FileOperation, HunkCheck, Verdict};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApplyOptions {
    /// Context lines a hunk may drop at each end (0: none, the default).
    pub fuzz: u32,
}

/// The lines one file diff changed, for conflict tracking with [`Regions`](crate::Regions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChanges {
    /// The path after the patch.
    pub path: String,
    /// The old path of a rename or copy.
    pub from: Option<String>,
    pub operation: FileOperation,
    /// In file order; old lines count in the file before this patch, new lines
    /// in the file as the patch left it. A binary change is one block 1..=1.
    pub changes: Vec<Change>,
}

/// The verdict on one patch file, and what it changed when it applied.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOutcome {
    pub verdict: Verdict,
    /// Why the patch fails (or why it counts as already applied).
    pub reason: Option<String>,
    pub files: Vec<FileCheck>,
    /// Empty unless the patch applied.
    pub changes: Vec<FileChanges>,
}

const NO_MATCH: &str = "context does not match at any position";
const MISSING: &str = "file does not exist";
const EXISTS: &str = "file already exists";

/// Apply `bytes` (one patch file, as given) to `overlay`. When any file diff
/// fails, the overlay is left unchanged and the verdict is `Fails` or, when
/// the reverse of the whole patch applies, `AlreadyApplied`.
///
/// `Err` only for failures to read the base tree.
pub fn apply_patch(
    overlay: &mut Overlay<'_>,
    bytes: &[u8],
    opts: &ApplyOptions,
) -> Result<PatchOutcome, ApplyError> {
    let diffs = match parse_patch(bytes) {
        Ok(d) => d,
        Err(reason) => {
            return Ok(PatchOutcome {
                verdict: Verdict::Fails,
                reason: Some(reason.to_string()),
                files: Vec::new(),
                changes: Vec::new(),
            });
        }
    };
    // A hostile patch is refused whatever the tree holds: no reverse test.
    let links = match symlinks::judge(&diffs, overlay)? {
        Ok(links) => links,
        Err(hostile) => {
            return Ok(PatchOutcome {
                verdict: Verdict::Fails,
                reason: Some(hostile.to_string()),
                files: Vec::new(),
                changes: Vec::new(),
            });
        }
    };
    let forward = attempt(overlay, &diffs, opts.fuzz)?;
    if forward.applies {
        let verdict = worst(forward.files.iter().map(|f| f.verdict));
        for (path, content) in forward.writes {
            overlay.write(&path, content);
        }
        for (path, target) in links {
            overlay.set_link(&path, target.is_some());
        }
        return Ok(PatchOutcome {
            verdict,
            reason: None,
            files: forward.files,
            changes: forward.changes,
        });
    }
    // Undo the files in reverse order; no fuzz, as `git apply -R --check`.
    let reverse: Vec<FileDiff<'_>> = diffs.iter().rev().map(FileDiff::reversed).collect();
    let backward = attempt(overlay, &reverse, 0)?;
    let (verdict, reason) = if backward.applies {
        (
            Verdict::AlreadyApplied,
            "does not apply, but its reverse does: the change is already in the tree".to_string(),
        )
    } else {
        (Verdict::Fails, failure_summary(&forward.files))
    };
    Ok(PatchOutcome {
        verdict,
        reason: Some(reason),
        files: forward.files,
        changes: Vec::new(),
    })
}

fn failure_summary(files: &[FileCheck]) -> String {
    let failed: Vec<String> = files
        .iter()
        .filter(|f| f.verdict == Verdict::Fails)
        .map(|f| match &f.reason {
            Some(r) => format!("{}: {r}", f.path),
            None => f.path.clone(),
        })
        .collect();
    format!("does not apply: {}", failed.join("; "))
}

/// The worst verdict of a set of applying parts (Fuzz > Offset > Clean).
fn worst(verdicts: impl Iterator<Item = Verdict>) -> Verdict {
    let rank = |v: Verdict| match v {
        Verdict::Clean => 0,
        Verdict::Offset => 1,
        Verdict::Fuzz => 2,
        Verdict::AlreadyApplied => 3,
        Verdict::Fails => 4,
    };
    verdicts.max_by_key(|&v| rank(v)).unwrap_or(Verdict::Clean)
}

struct Attempt {
    applies: bool,
    files: Vec<FileCheck>,
    changes: Vec<FileChanges>,
    /// Writes in order, applied to the overlay only if everything applied.
    writes: Vec<(String, Option<Vec<u8>>)>,
}

/// Try every file diff against the overlay plus the writes of the earlier
/// file diffs of the same patch (a patch may rename a file, then edit it).
fn attempt(
    overlay: &mut Overlay<'_>,
    diffs: &[FileDiff<'_>],
    fuzz: u32,
) -> Result<Attempt, ApplyError> {
    let mut staged: BTreeMap<String, Option<Vec<u8>>> = BTreeMap::new();
    let mut out = Attempt {
        applies: true,
        files: Vec::new(),
        changes: Vec::new(),
        writes: Vec::new(),
    };
    for diff in diffs {
        let mut read = |path: &str| -> Result<Option<Vec<u8>>, ApplyError> {
            match staged.get(path) {
                Some(c) => Ok(c.clone()),
                None => overlay.read(path),
            }
        };
        let result = apply_file(&mut read, diff, fuzz)?;
        out.applies &= result.check.verdict.applies();
        if result.check.verdict.applies() {
            for (path, content) in &result.writes {
                staged.insert(path.clone(), content.clone());
            }
            out.writes.extend(result.writes);
            out.changes.push(result.changes);
        }
        out.files.push(result.check);
    }
    Ok(out)
}

struct FileResult {
    check: FileCheck,
    writes: Vec<(String, Option<Vec<u8>>)>,
    changes: FileChanges,
}

type Reader<'r> = dyn FnMut(&str) -> Result<Option<Vec<u8>>, ApplyError> + 'r;

/// One file diff against the tree: where it starts, its body applied, and
/// what it writes.
fn apply_file(
    read: &mut Reader<'_>,
    diff: &FileDiff<'_>,
    fuzz: u32,
) -> Result<FileResult, ApplyError> {
    let hunk_count = match &diff.body {
        Body::Text(h) => h.len(),
        _ => 0,
    };
    let mut check = FileCheck {
        path: String::new(),
        operation: FileOperation::Modify,
        from: None,
        verdict: Verdict::Fails,
        reason: None,
        hunks: Vec::new(),
    };
    let start = match start(read, diff)? {
        Ok(s) => s,
        Err(r) => {
            return Ok(refused(
                check,
                r.path,
                r.operation,
                r.from,
                &r.reason,
                hunk_count,
            ));
        }
    };
    let Start {
        operation,
        source,
        dest,
        before,
    } = start;
    check.path = dest.clone();
    check.operation = operation;
    if matches!(operation, FileOperation::Rename | FileOperation::Copy) {
        check.from = source.clone();
    }
    let Some((after, changes)) = apply_body(&mut check, diff, before, fuzz) else {
        return Ok(failed(check));
    };

    let Some(writes) = file_writes(&mut check, diff, source.as_ref(), &dest, after) else {
        return Ok(failed(check));
    };
    check.verdict = worst(check.hunks.iter().map(|h| h.verdict));
    Ok(FileResult {
        changes: FileChanges {
            path: dest,
            from: check.from.clone(),
            operation: check.operation,
            changes,
        },
        check,
        writes,
    })
}

/// What an applied file diff writes: `after` at `dest` (and the rename's
/// `source` removed), or `dest` removed for a deletion, which a plain diff
/// that empties the file is too. `None` (the reason in `check`) for a
/// deletion that leaves content behind.
fn file_writes(
    check: &mut FileCheck,
    diff: &FileDiff<'_>,
    source: Option<&String>,
    dest: &str,
    after: Vec<u8>,
) -> Option<Vec<(String, Option<Vec<u8>>)>> {
    let mut operation = check.operation;
    // A plain diff that empties a file deletes it (`diff -ruN`, as git does).
    if diff.traditional
        && operation == FileOperation::Modify
        && after.is_empty()
        && matches!(&diff.body, Body::Text(h) if !h.is_empty() && h.iter().all(|h| h.new_len == 0))
    {
        operation = FileOperation::Delete;
        check.operation = operation;
    }
    Some(match operation {
        FileOperation::Delete => {
            if !after.is_empty() {
                check.reason =
                    Some("the deletion does not remove the whole file: its content differs".into());
                return None;
            }
            vec![(dest.to_string(), None)]
        }
        FileOperation::Rename => vec![
            (source.expect("rename source").clone(), None),
            (dest.to_string(), Some(after)),
        ],
        _ => vec![(dest.to_string(), Some(after))],
    })
}

/// What a file diff starts from: its operation, the file it reads (if
/// any), the file it writes, and that file's content before.
struct Start {
    operation: FileOperation,
    source: Option<String>,
    dest: String,
    before: Vec<u8>,
}

/// Why a file diff cannot start: a file it needs is missing, or a file it
/// creates exists.
struct Refusal {
    path: String,
    operation: FileOperation,
    from: Option<String>,
    reason: String,
}

impl Refusal {
    fn new(path: &str, operation: FileOperation, from: Option<&String>, reason: &str) -> Refusal {
        Refusal {
            path: path.to_string(),
            operation,
            from: from.cloned(),
            reason: reason.to_string(),
        }
    }
}

/// Decide the operation and read the content it starts from.
fn start(read: &mut Reader<'_>, diff: &FileDiff<'_>) -> Result<Result<Start, Refusal>, ApplyError> {
    let start = |operation, source: Option<&String>, dest: &String, before| {
        Ok(Ok(Start {
            operation,
            source: source.cloned(),
            dest: dest.clone(),
            before,
        }))
    };
    match &diff.target {
        Target::Modify { original, modified } => {
            let modified_content = read(modified)?;
            let (path, content) = match modified_content {
                Some(c) => (modified, Some(c)),
                None if original != modified => (original, read(original)?),
                None => (modified, None),
            };
            match content {
                Some(c) => start(FileOperation::Modify, Some(path), path, c),
                // `diff -ruN` creates files with `--- a/x <epoch>` and `@@ -0,0`.
                None if diff.traditional && creates_from_nothing(&diff.body) => {
                    start(FileOperation::Create, None, modified, Vec::new())
                }
                None => Ok(Err(Refusal::new(
                    path,
                    FileOperation::Modify,
                    None,
                    MISSING,
                ))),
            }
        }
        Target::Create(path) => {
            if read(path)?.is_some() {
                return Ok(Err(Refusal::new(path, FileOperation::Create, None, EXISTS)));
            }
            start(FileOperation::Create, None, path, Vec::new())
        }
        Target::Delete(path) => match read(path)? {
            Some(c) => start(FileOperation::Delete, Some(path), path, c),
            None => Ok(Err(Refusal::new(
                path,
                FileOperation::Delete,
                None,
                MISSING,
            ))),
        },
        Target::Rename { from, to } | Target::Copy { from, to } => {
            let op = if matches!(diff.target, Target::Rename { .. }) {
                FileOperation::Rename
            } else {
                FileOperation::Copy
            };
            let Some(c) = read(from)? else {
                let reason = format!("{MISSING}: {from}");
                return Ok(Err(Refusal::new(to, op, Some(from), &reason)));
            };
            if read(to)?.is_some() {
                return Ok(Err(Refusal::new(to, op, Some(from), EXISTS)));
            }
            start(op, Some(from), to, c)
        }
    }
}

/// The content after the diff's body (text hunks placed like GNU patch, or
/// git's binary patch), and the line ranges it changed; `None` when it does
/// not apply, with `check` saying why.
fn apply_body(
    check: &mut FileCheck,
    diff: &FileDiff<'_>,
    before: Vec<u8>,
    fuzz: u32,
) -> Option<(Vec<u8>, Vec<Change>)> {
    match &diff.body {
        Body::Text(hunks) if hunks.is_empty() => Some((before, Vec::new())),
        Body::Text(hunks) => {
            let outcome = apply_hunks(&before, hunks, fuzz);
            check.hunks = outcome
                .hunks
                .iter()
                .enumerate()
                .map(|(i, placed)| hunk_check(i + 1, placed.as_ref()))
                .collect();
            let changes = outcome
                .hunks
                .iter()
                .flatten()
                .filter_map(|p| p.change)
                .collect();
            if outcome.content.is_none() {
                check.reason = Some(format!(
                    "{} of {} hunks do not apply",
                    outcome.hunks.iter().filter(|h| h.is_none()).count(),
                    hunks.len()
                ));
            }
            outcome.content.map(|c| (c, changes))
        }
        Body::BinaryWithoutData => {
            check.reason = Some(
                "binary change without data (`Binary files ... differ`): make the patch with \
                 `git format-patch --binary` / `git diff --binary`"
                    .into(),
            );
            None
        }
        Body::Binary(patch) => {
            if check.operation == FileOperation::Modify {
                check.operation = FileOperation::Binary;
            }
            match apply_binary(patch, diff, &before) {
                Ok(c) => {
                    let whole = Change {
                        old_start: 1,
                        old_len: 1,
                        new_start: 1,
                        new_len: 1,
                    };
                    Some((c, vec![whole]))
                }
                Err(reason) => {
                    check.reason = Some(reason);
                    None
                }
            }
        }
    }
}

fn creates_from_nothing(body: &Body<'_>) -> bool {
    matches!(body, Body::Text(h) if !h.is_empty() && h.iter().all(|h: &Hunk| h.old_len == 0 && h.old_start == 0))
}

fn hunk_check(number: usize, placed: Option<&Placed>) -> HunkCheck {
    match placed {
        Some(p) => HunkCheck {
            hunk: number,
            verdict: if p.fuzz > 0 {
                Verdict::Fuzz
            } else if p.offset != 0 {
                Verdict::Offset
            } else {
                Verdict::Clean
            },
            line: Some(p.line),
            offset: p.offset,
            fuzz: p.fuzz,
            reason: None,
        },
        None => HunkCheck {
            hunk: number,
            verdict: Verdict::Fails,
            line: None,
            offset: 0,
            fuzz: 0,
            reason: Some(NO_MATCH.into()),
        },
    }
}

/// A file diff refused before any hunk was tried.
fn refused(
    mut check: FileCheck,
    path: String,
    operation: FileOperation,
    from: Option<String>,
    reason: &str,
    hunks: usize,
) -> FileResult {
    check.path = path;
    check.operation = operation;
    check.from = from;
    check.reason = Some(reason.to_string());
    check.hunks = (1..=hunks)
        .map(|n| HunkCheck {
            hunk: n,
            verdict: Verdict::Fails,
            line: None,
            offset: 0,
            fuzz: 0,
            reason: Some(reason.to_string()),
        })
        .collect();
    failed(check)
}

fn failed(mut check: FileCheck) -> FileResult {
    check.verdict = Verdict::Fails;
    FileResult {
        changes: FileChanges {
            path: check.path.clone(),
            from: check.from.clone(),
            operation: check.operation,
            changes: Vec::new(),
        },
        check,
        writes: Vec::new(),
    }
}

/// Apply a `GIT binary patch`, checking the preimage and the result against
/// the blob ids of the `index` line as `git apply` does.
fn apply_binary(
    patch: &BinaryPatch<'_>,
    diff: &FileDiff<'_>,
    before: &[u8],
) -> Result<Vec<u8>, String> {
    if let Some(old) = diff.old_id.as_deref().filter(|id| usable_id(id)) {
        let have = git_blob_id(before);
        if !have.starts_with(old) {
            return Err(format!(
                "binary preimage differs: the patch expects blob {old}, the file is {}",
                &have[..12]
            ));
        }
    }
    let result = if diff.reversed {
        patch.apply_reverse(before)
    } else {
        patch.apply(before)
    }
    .map_err(|e| format!("binary patch does not apply: {e}"))?;
    if let Some(new) = diff.new_id.as_deref().filter(|id| usable_id(id))
        && !git_blob_id(&result).starts_with(new)
    {
        return Err(format!(
            "binary patch gives a different result than blob {new}"
        ));
    }
    Ok(result)
}

/// An abbreviated id long enough to check, and not the all-zero "no file" id.
fn usable_id(id: &str) -> bool {
    id.len() >= 7 && id.bytes().all(|b| b.is_ascii_hexdigit()) && id.bytes().any(|b| b != b'0')
}
