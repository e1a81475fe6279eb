//! Patch ids, as `git patch-id --stable` computes them: a hash of the diff
//! with whitespace and line numbers ignored, so the same change has the same
//! id whatever its commit message, offsets or file order.
//!
//! git computes them (one `git patch-id --stable` process for a whole batch):
//! each patch is fed from its first `diff ` line on, behind a synthetic
//! `commit <index>` line, so that ids map back to patches even when a message
//! holds a `commit <sha> upstream` line. Plain diffs are first brought to
//! git's header shape, as git itself would have written them: a `diff --git`
//! line before each `---`/`+++` pair, no timestamps after a tab on those
//! lines, no quilt `Index:`/`====` lines. So a `diff -ruN` and a `git diff` of
//! the same modification share an id.

use ka_core::error::{Error, Result, usage};
use std::io::Write;
use std::process::Stdio;

/// The patch id of each patch (`None`: git found no diff in it).
pub fn patch_ids(patches: &[&[u8]]) -> Result<Vec<Option<String>>> {
    if patches.is_empty() {
        return Ok(Vec::new());
    }
    let mut feed = Vec::new();
    for (i, p) in patches.iter().enumerate() {
        feed.extend_from_slice(format!("commit {i:040x}\n").as_bytes());
        feed.extend_from_slice(&normalize(p));
        if !feed.ends_with(b"\n") {
            feed.push(b'\n');
        }
    }
    let mut child = ka_core::git::command()
        .args(["patch-id", "--stable"])
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| usage(format!("cannot run git patch-id: {e}; install git")))?;
    let mut stdin = child.stdin.take().expect("piped");
    let writer = std::thread::spawn(move || stdin.write_all(&feed));
    let out = child
        .wait_with_output()
        .map_err(|e| Error::io("git patch-id", e))?;
    let _ = writer.join();
    if !out.status.success() {
        return Err(usage(format!(
            "git patch-id failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let mut ids = vec![None; patches.len()];
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let mut words = line.split_whitespace();
        if let (Some(id), Some(commit)) = (words.next(), words.next())
            && let Ok(i) = usize::from_str_radix(commit, 16)
            && i < ids.len()
        {
            ids[i] = Some(id.to_string());
        }
    }
    Ok(ids)
}

/// The diff part of a patch, in the shape git hashes (see the module doc).
fn normalize(patch: &[u8]) -> Vec<u8> {
    let lines: Vec<&[u8]> = patch.split_inclusive(|&b| b == b'\n').collect();
    let git = lines.iter().any(|l| l.starts_with(b"diff --git "));
    let Some(start) = lines
        .iter()
        .position(|l| l.starts_with(b"diff ") || (!git && l.starts_with(b"--- ")))
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if git {
        for l in &lines[start..] {
            out.extend_from_slice(l);
        }
        return out;
    }
    let mut i = start;
    while i < lines.len() {
        let l = lines[i];
        if l.starts_with(b"Index: ") || l.starts_with(b"====") {
        } else if l.starts_with(b"diff ") {
            // `diff -ruN a/x b/x` → `diff --git a/x b/x`
            let text = String::from_utf8_lossy(l);
            let words: Vec<&str> = text.split_whitespace().collect();
            if words.len() >= 3 {
                let n = words.len();
                out.extend_from_slice(
                    format!("diff --git {} {}\n", words[n - 2], words[n - 1]).as_bytes(),
                );
            }
        } else if l.starts_with(b"--- ") && lines.get(i + 1).is_some_and(|n| n.starts_with(b"+++ "))
        {
            let old = header_path(&l[4..]);
            let new = header_path(&lines[i + 1][4..]);
            let prev_is_diff = out.ends_with(b"\n") && last_line(&out).starts_with(b"diff --git ");
            if !prev_is_diff {
                out.extend_from_slice(format!("diff --git {old} {new}\n").as_bytes());
            }
            out.extend_from_slice(format!("--- {old}\n+++ {new}\n").as_bytes());
            i += 2;
            continue;
        } else {
            out.extend_from_slice(l);
        }
        i += 1;
    }
    out
}

fn last_line(bytes: &[u8]) -> &[u8] {
    let body = &bytes[..bytes.len().saturating_sub(1)];
    match body.iter().rposition(|&b| b == b'\n') {
        Some(p) => &body[p + 1..],
        None => body,
    }
}

/// The path of a `---`/`+++` line: up to a tab (timestamps follow it).
fn header_path(rest: &[u8]) -> String {
    let text = String::from_utf8_lossy(rest);
    let text = text.trim_end_matches(['\n', '\r']);
    text.split('\t').next().unwrap_or("").trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_git_diff_share_an_id_and_messages_do_not_matter() {
        let git = b"From 1111111111111111111111111111111111111111 Mon Sep 17 00:00:00 2001\nSubject: [PATCH] x\n\ncommit 2222222222222222222222222222222222222222 upstream.\n---\ndiff --git a/f b/f\nindex 123..456 100644\n--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n-- \n2.39.5\n\n";
        let plain = b"--- a/f\t2024-01-01 00:00:00\n+++ b/f\t2024-01-02 00:00:00\n@@ -10,2 +10,2 @@\n a\n-b\n+c\n";
        let other = b"--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\n-b\n+d\n";
        let ids = patch_ids(&[git, plain, other, b"no diff here\n"]).unwrap();
        assert!(ids[0].is_some());
        assert_eq!(ids[0], ids[1]);
        assert_ne!(ids[0], ids[2]);
        assert_eq!(ids[3], None);
    }
}
