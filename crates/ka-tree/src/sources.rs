//! What `ka-import` accepts, split into single patches with their bytes kept.
//!
//! - a file: one patch (a `git format-patch` mail, a DEP-3 headed patch, a
//!   plain or `git diff`), or an mbox of several mails;
//! - a folder: its `*.patch` and `*.diff` files in name order (or in the order
//!   of a quilt `series` file, when the folder has one);
//! - `--git-range A..B --git-repo PATH`: `git format-patch --stdout A..B`.
//!
//! # Splitting an mbox
//!
//! Mails are split at `From ` lines, the mboxo/mboxrd way that git
//! format-patch, b4 and mutt write them. A `From ` line starts a mail when
//! both hold:
//!
//! 1. **A mail header block follows it**: `Name: value` fields (RFC 5322
//!    field names: printable ASCII but `:`, no spaces; folded lines allowed),
//!    holding a `From:` or `Subject:` field, up to a blank line or the end of
//!    the file. Every mail has one; a commit message that says "From the
//!    manual:" after a blank line, or `From upstream` above its trailers
//!    (which end at `---`, not at a blank line), does not.
//! 2. **It is where a mail can start**: at the start of the file or after a
//!    blank line, whatever follows `From ` (the mboxo/mboxrd rule: `From
//!    user@host Mon Jan  1 …` of mutt, `From git@z Thu Jan  1 00:00:00 1970`
//!    of b4, `From <sha> Mon Sep 17 00:00:00 2001` of git); or anywhere when
//!    the line is an envelope line `From <sender> <Www Mmm dd hh:mm:ss yyyy>`
//!    (any one-word sender: a sha, `000…` of `--zero-commit`, `x`, `git@z`),
//!    because `cat`-ing `git format-patch --no-signature` files puts the next
//!    mail's `From ` line right after the last diff line, with no blank line.
//!
//! Any other `From ` line is message text, and so is `>From ` (the mboxrd
//! escape). Each mail keeps its bytes exactly (from its `From ` line to the
//! next one); `>From ` escapes stay as written — they can only be in the
//! message, since diff lines start with ' ', '+', '-'.
//!
//! # Refusing a missed separator
//!
//! A separator that is still missed (a mail without its `From ` line, or one
//! glued to the previous mail's text) leaves the next mail inside a patch,
//! which would be imported as one patch with two mails in it. So the message
//! and the diff of every mail (and of a file that is no mbox) are read after
//! its own headers, and a mail header block there — a `From ` line followed
//! by fields, or two or more fields, holding `From:` or `Subject:` and ending
//! at a blank line — refuses the import with the file, the mail number and
//! the line. The in-body headers that `git am` takes are no such block
//! (`From:`, `Subject:`, `Date:` as the first paragraph of the body, or right
//! after a scissors line `-- >8 --`), nor are trailers (they end at `---`).
//! The lines of diff hunks are content and never match: they start with a
//! space, `+`, `-` or `\`.

use ka_core::error::{Error, Result, negative, usage};
use std::fs;
use std::path::{Path, PathBuf};

/// One patch to import.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// Where it came from: `file`, or `file (mail N of M)`.
    pub source: String,
    /// The 1-based line of `source` where it starts.
    pub line: usize,
    pub bytes: Vec<u8>,
    /// The file name stem, a fallback for naming.
    pub stem: String,
}

impl Incoming {
    /// The subject (mail `Subject:`, DEP-3 `Subject:`/`Description:`),
    /// without `[PATCH ...]` prefixes.
    pub fn subject(&self) -> Option<String> {
        let mut s = self.full_subject()?;
        while s.starts_with('[') {
            match s.find(']') {
                Some(end) => s = s[end + 1..].trim_start().to_string(),
                None => break,
            }
        }
        (!s.is_empty()).then_some(s)
    }

    /// A cover letter: its subject's `[...]` prefix numbers it 0 of N
    /// (`[PATCH 0/3]`, `[PATCH v2 00/12]`, `[RFC PATCH net-next 0/2]`).
    pub fn is_cover_letter(&self) -> bool {
        let Some(s) = self.full_subject() else {
            return false;
        };
        let Some(prefix) = s.strip_prefix('[').and_then(|r| r.split_once(']')) else {
            return false;
        };
        prefix.0.split_whitespace().any(|word| {
            word.split_once('/').is_some_and(|(n, of)| {
                !n.is_empty()
                    && n.bytes().all(|b| b == b'0')
                    && !of.is_empty()
                    && of.bytes().all(|b| b.is_ascii_digit())
            })
        })
    }

    /// The subject as written, `[PATCH ...]` prefixes included.
    fn full_subject(&self) -> Option<String> {
        let text = String::from_utf8_lossy(&self.bytes);
        let mut lines = text.lines().peekable();
        if lines.peek().is_some_and(|l| l.starts_with("From ")) {
            lines.next();
        }
        let mut found: Option<String> = None;
        let mut description: Option<String> = None;
        let mut in_subject = false;
        for line in lines {
            if line.trim().is_empty() || line.starts_with("---") || line.starts_with("diff ") {
                break;
            }
            if in_subject && line.starts_with([' ', '\t']) {
                if let Some(s) = found.as_mut() {
                    s.push(' ');
                    s.push_str(line.trim());
                }
                continue;
            }
            in_subject = false;
            if let Some(s) = line.strip_prefix("Subject:") {
                found = Some(s.trim().to_string());
                in_subject = true;
            } else if let Some(s) = line.strip_prefix("Description:") {
                description.get_or_insert_with(|| s.trim().to_string());
            }
        }
        found.or(description)
    }

    /// A file-name slug as `git format-patch` makes one: runs of other
    /// characters become `-`, at most 52 characters.
    pub fn slug(&self) -> String {
        let base = self.subject().unwrap_or_else(|| {
            let s = self.stem.as_str();
            // drop a leading NNNN- numbering
            match s.split_once('-') {
                Some((n, rest)) if n.len() == 4 && n.bytes().all(|b| b.is_ascii_digit()) => {
                    rest.to_string()
                }
                _ => s.to_string(),
            }
        });
        let mut slug = String::new();
        for c in base.chars() {
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
                slug.push(c);
            } else if !slug.ends_with('-') {
                slug.push('-');
            }
        }
        let mut slug: String = slug
            .trim_matches(['-', '.', '_'])
            .chars()
            .take(52)
            .collect();
        while slug.ends_with(['-', '.', '_']) {
            slug.pop();
        }
        if slug.is_empty() {
            "patch".into()
        } else {
            slug
        }
    }
}

/// Read every source in order.
pub fn collect(sources: &[PathBuf]) -> Result<Vec<Incoming>> {
    let mut out = Vec::new();
    for src in sources {
        let md = fs::metadata(src).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => usage(format!(
                "{}: no such file or folder (a glob must match files: the shell expands it)",
                src.display()
            )),
            _ => Error::io(src, e),
        })?;
        if md.is_dir() {
            for file in folder_patches(src)? {
                read_file(&file, &mut out)?;
            }
        } else {
            read_file(src, &mut out)?;
        }
    }
    Ok(out)
}

/// A folder's patches: quilt `series` order if there is one, else name order.
fn folder_patches(dir: &Path) -> Result<Vec<PathBuf>> {
    let series = dir.join("series");
    if series.is_file() {
        let text = fs::read_to_string(&series).map_err(|e| Error::io(&series, e))?;
        let files: Vec<PathBuf> = text
            .lines()
            .map(|l| l.split('#').next().unwrap_or("").trim())
            .filter(|l| !l.is_empty())
            .map(|l| dir.join(l.split_whitespace().next().unwrap_or(l)))
            .collect();
        return Ok(files);
    }
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if crate::repo::is_patch_name(&name) && entry.path().is_file() {
            files.push(entry.path());
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(negative(format!(
            "{}: no *.patch or *.diff files in this folder",
            dir.display()
        )));
    }
    Ok(files)
}

fn read_file(path: &Path, out: &mut Vec<Incoming>) -> Result<()> {
    let bytes = fs::read(path).map_err(|e| Error::io(path, e))?;
    let shown = path.display().to_string();
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    split_into(&bytes, &shown, &stem, out)
}

/// Split one file's bytes into mails; a file without `From ` lines is one patch.
/// Refused, nothing added: text before the first mail, a mail header block
/// inside a patch (a missed separator).
pub fn split_into(bytes: &[u8], shown: &str, stem: &str, out: &mut Vec<Incoming>) -> Result<()> {
    let lines = lines_of(bytes);
    let starts = mail_starts(&lines);
    if starts.is_empty() {
        if let Some(at) = hidden_header_block(&lines, 0, lines.len()) {
            return Err(negative(format!(
                "{shown}:{}: a mail header block inside the patch, after its own headers: a second mail whose `From ` line is missing; {MISSED_FIX}; nothing was imported",
                at + 1
            )));
        }
        out.push(Incoming {
            source: shown.to_string(),
            line: 1,
            bytes: bytes.to_vec(),
            stem: stem.to_string(),
        });
        return Ok(());
    }
    let first = starts[0];
    if !bytes[..lines[first].off]
        .iter()
        .all(u8::is_ascii_whitespace)
    {
        return Err(negative(format!(
            "{shown}:1: text before the first mail (line {}); not an mbox nor a single patch: nothing was imported",
            first + 1
        )));
    }
    let n = starts.len();
    let end_of = |i: usize| starts.get(i + 1).copied().unwrap_or(lines.len());
    for (i, &start) in starts.iter().enumerate() {
        if let Some(at) = hidden_header_block(&lines, start, end_of(i)) {
            return Err(negative(format!(
                "{shown}:{}: mail {} of {n} (from line {}) holds a mail header block after its own headers: the `From ` line of the next mail is missing or not recognised; {MISSED_FIX}; nothing was imported",
                at + 1,
                i + 1,
                start + 1
            )));
        }
    }
    for (i, &start) in starts.iter().enumerate() {
        let off = lines[start].off;
        let end = lines.get(end_of(i)).map_or(bytes.len(), |l| l.off);
        let source = if n == 1 {
            shown.to_string()
        } else {
            format!("{shown} (mail {} of {n})", i + 1)
        };
        out.push(Incoming {
            source,
            line: start + 1,
            bytes: bytes[off..end].to_vec(),
            stem: stem.to_string(),
        });
    }
    Ok(())
}

/// What to do about a missed separator.
const MISSED_FIX: &str = "separate the mails with a blank line and a `From ` line (e.g. `From x Mon Sep 17 00:00:00 2001`), or import them one file each";

/// One line of a file: its byte offset and its text without the line end.
struct Line {
    off: usize,
    text: String,
}

fn lines_of(bytes: &[u8]) -> Vec<Line> {
    let mut off = 0;
    let mut lines = Vec::new();
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        let text = String::from_utf8_lossy(line);
        lines.push(Line {
            off,
            text: text.trim_end_matches(['\n', '\r']).to_string(),
        });
        off += line.len();
    }
    lines
}

fn is_blank(line: &str) -> bool {
    line.trim().is_empty()
}

/// The indices of the `From ` lines that start mails (the module's rule).
fn mail_starts(lines: &[Line]) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut prev_blank = true;
    for (i, line) in lines.iter().enumerate() {
        let text = line.text.as_str();
        if text.starts_with("From ")
            && (prev_blank || is_mbox_from(text))
            && header_block(lines, i + 1, lines.len()).is_some()
        {
            starts.push(i);
        }
        prev_blank = is_blank(text);
    }
    starts
}

/// The field name of a `Name: value` header line (RFC 5322: printable
/// ASCII but `:`, so no spaces).
fn field_name(line: &str) -> Option<&str> {
    let (name, _) = line.split_once(':')?;
    (!name.is_empty() && name.bytes().all(|b| (33..=126).contains(&b))).then_some(name)
}

/// A mail header block starting at line `i` (before `end`): fields and their
/// folded lines, holding `From:` or `Subject:`, up to a blank line or `end`.
/// Returns where it ends (the blank line) and how many fields it holds.
fn header_block(lines: &[Line], i: usize, end: usize) -> Option<(usize, usize)> {
    let mut j = i;
    let mut fields = 0;
    let mut mail_field = false;
    while j < end {
        let text = lines[j].text.as_str();
        if let Some(name) = field_name(text) {
            fields += 1;
            mail_field |= name.eq_ignore_ascii_case("From") || name.eq_ignore_ascii_case("Subject");
        } else if !(fields > 0 && text.starts_with([' ', '\t']) && !is_blank(text)) {
            break;
        }
        j += 1;
    }
    (mail_field && (j == end || is_blank(&lines[j].text))).then_some((j, fields))
}

/// A `git am` scissors line: `-- >8 --`, `--8<--`, ….
fn is_scissors(line: &str) -> bool {
    [">8", "8<", ">%", "%<"].iter().any(|m| line.contains(m))
        && line.bytes().filter(|&b| b == b'-').count() >= 2
}

/// The first line of a mail header block inside the mail (or patch) of
/// lines `start..end`, after its own `From ` line and headers: a missed
/// separator. `git am` in-body headers are not one. Diff hunk lines need no
/// care: they start with a space, `+`, `-` or `\`, so none is a `From:` or
/// `Subject:` field or a `From ` line.
fn hidden_header_block(lines: &[Line], start: usize, end: usize) -> Option<usize> {
    let mut i = start;
    if i < end && lines[i].text.starts_with("From ") {
        i += 1;
    }
    // its own headers (a DEP-3 header too, in a file that is no mail)
    let own = i;
    while i < end {
        let text = lines[i].text.as_str();
        let folded = i > own && text.starts_with([' ', '\t']) && !is_blank(text);
        if field_name(text).is_none() && !folded {
            break;
        }
        i += 1;
    }
    // in-body headers may open the body, or follow a scissors line
    let mut in_body_headers = true;
    while i < end {
        let text = lines[i].text.as_str();
        if is_blank(text) {
            // a blank line keeps what may come next
        } else if is_scissors(text) {
            in_body_headers = true;
        } else if text.starts_with("From ") && header_block(lines, i + 1, end).is_some() {
            return Some(i);
        } else if let Some((block_end, fields)) = header_block(lines, i, end) {
            if fields >= 2 && !in_body_headers {
                return Some(i);
            }
            in_body_headers = false;
            i = block_end;
            continue;
        } else {
            in_body_headers = false;
        }
        i += 1;
    }
    None
}

/// `From <sender> <Www Mmm dd hh:mm:ss yyyy>`: an mbox envelope line (git
/// format-patch's `From <sha> Mon Sep 17 00:00:00 2001` is one; the day may
/// be padded with a space, `Jan  1`).
fn is_mbox_from(line: &str) -> bool {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let Some(rest) = line.strip_prefix("From ") else {
        return false;
    };
    let w: Vec<&str> = rest.split_whitespace().collect();
    w.len() >= 6
        && DAYS.contains(&w[1])
        && MONTHS.contains(&w[2])
        && w[3].parse::<u8>().is_ok()
        && w[4].split(':').count() >= 2
        && w[4]
            .split(':')
            .all(|p| p.len() == 2 && p.parse::<u8>().is_ok())
        && w[5].len() == 4
        && w[5].parse::<u16>().is_ok()
}

/// `git format-patch --stdout A..B` in `repo`.
pub fn git_range(repo: &Path, range: &str) -> Result<Vec<Incoming>> {
    if range.starts_with('-') || !range.contains("..") {
        return Err(usage(format!(
            "--git-range {range:?}: give a range A..B (e.g. v6.1..my-branch)"
        )));
    }
    let out = ka_core::git::command()
        .arg("-C")
        .arg(repo)
        .args([
            "format-patch",
            "--stdout",
            "--no-color",
            "--no-signature",
            range,
            "--",
        ])
        .output()
        .map_err(|e| usage(format!("cannot run git: {e}; install git")))?;
    if !out.status.success() {
        return Err(usage(format!(
            "git format-patch {range} in {}: {}",
            repo.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    if out.stdout.is_empty() {
        return Err(negative(format!(
            "--git-range {range} in {} holds no commits",
            repo.display()
        )));
    }
    let mut v = Vec::new();
    split_into(
        &out.stdout,
        &format!("{}@{range}", repo.display()),
        "patch",
        &mut v,
    )?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_in_a_message_is_not_a_split() {
        let mbox = b"From 1111111111111111111111111111111111111111 Mon Sep 17 00:00:00 2001\nSubject: [PATCH 1/2] one\n\nFrom here on it works.\n>From an escaped line\n\nFrom the manual: x\n---\n--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n\nFrom 2222222222222222222222222222222222222222 Mon Sep 17 00:00:00 2001\nSubject: [PATCH 2/2] two\n\n---\n--- a/g\n+++ b/g\n@@ -1 +1 @@\n-a\n+b\n";
        let mut v = Vec::new();
        split_into(mbox, "m", "m", &mut v).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[1].line, 15);
        assert_eq!(v[0].subject().as_deref(), Some("one"));
        assert_eq!(v[0].slug(), "one");
        let joined: Vec<u8> = v.iter().flat_map(|p| p.bytes.clone()).collect();
        assert_eq!(joined, mbox);
    }

    /// Found by fuzz_mbox_shaped_text_splits_or_refuses: blank lines before
    /// the first mail are not part of it (its patch file starts at `From `).
    #[test]
    fn blank_lines_before_the_first_mail_are_dropped() {
        let mbox = b"\n\r\nFrom 0123456789abcdef0123456789abcdef01234567 Mon Sep 17 00:00:00 2001\nFrom: A <a@example.org>\n";
        let mut v = Vec::new();
        split_into(mbox, "m", "m", &mut v).unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].bytes, &mbox[3..]);
        assert_eq!(v[0].line, 3);
    }

    #[test]
    fn mboxrd_envelope_lines_split() {
        let mbox = b"From a@b Thu Jan  4 10:00:00 2024\nSubject: x\n\nbody\n\nFrom b@c Fri Jan  5 10:00:00 2024\nSubject: y\n\nbody\n";
        let mut v = Vec::new();
        split_into(mbox, "m", "m", &mut v).unwrap();
        assert_eq!(v.len(), 2);
    }

    /// A mail as `git format-patch --no-signature` writes it, starting at
    /// `from_line`, changing line `n` of `f`, without a trailing blank line.
    fn mail(from_line: &str, n: usize, body: &str) -> String {
        format!(
            "{from_line}\nFrom: A <a@example.org>\nDate: Thu, 4 Jan 2024 10:00:00 +0000\nSubject: [PATCH] change {n}\n\n{body}---\n f | 2 +-\n\ndiff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -{n},3 +{n},3 @@\n a\n-b{n}\n+c{n}\n d\n"
        )
    }

    fn split(mbox: &str) -> Result<Vec<Incoming>> {
        let mut v = Vec::new();
        split_into(mbox.as_bytes(), "m", "m", &mut v)?;
        Ok(v)
    }

    fn refused(mbox: &str) -> String {
        match split(mbox) {
            Ok(v) => panic!("split into {} instead of refused", v.len()),
            Err(e) => {
                assert!(matches!(e, Error::Negative(_)), "{e}");
                e.to_string()
            }
        }
    }

    /// The mails keep their bytes and lines, and start where expected.
    fn assert_mails(mbox: &str, lines: &[usize]) {
        let v = split(mbox).unwrap();
        assert_eq!(
            v.iter().map(|p| p.line).collect::<Vec<_>>(),
            lines,
            "{mbox}"
        );
        let joined: Vec<u8> = v.iter().flat_map(|p| p.bytes.clone()).collect();
        assert_eq!(joined, mbox.as_bytes());
        for (i, p) in v.iter().enumerate() {
            assert!(
                p.source
                    .ends_with(&format!("(mail {} of {})", i + 1, v.len()))
                    || v.len() == 1
            );
            assert!(ka_apply::parse_check(&p.bytes).is_ok(), "{}", p.source);
        }
    }

    const SHA: &str = "From 0123456789abcdef0123456789abcdef01234567 Mon Sep 17 00:00:00 2001";

    #[test]
    fn format_patch_mails_split_with_or_without_a_blank_line() {
        // git format-patch --stdout: a blank line between the mails
        let m1 = mail(SHA, 1, "Text.\n\n");
        let m2 = mail(SHA, 5, "");
        assert_mails(&format!("{m1}\n{m2}"), &[1, 20]);
        // cat 000*.patch of --no-signature files: no blank line
        assert_mails(&format!("{m1}{m2}"), &[1, 19]);
        // any sender token, --zero-commit too
        for from in [
            "From x Mon Sep 17 00:00:00 2001",
            "From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001",
        ] {
            let mbox = format!(
                "{}{}{}",
                mail(from, 1, ""),
                mail(from, 5, ""),
                mail(from, 9, "")
            );
            assert_mails(&mbox, &[1, 17, 33]);
        }
    }

    #[test]
    fn b4_mails_split() {
        let from = "From git@z Thu Jan  1 00:00:00 1970";
        assert!(is_mbox_from(from));
        let m1 = mail(from, 1, "");
        let m2 = mail(from, 5, "Link: https://lore.kernel.org/r/x\n\n");
        assert_mails(&format!("{m1}\n{m2}"), &[1, 18]);
        assert_mails(&format!("{m1}{m2}"), &[1, 17]);
    }

    #[test]
    fn mboxrd_from_mutt_keeps_escaped_from_lines_in_its_mail() {
        let head = |who: &str| {
            format!(
                "From {who}@example.org Fri Jan  5 10:00:00 2024\nReturn-Path: <{who}@example.org>\nReceived: from mail.example.org (mail.example.org [192.0.2.1])\n\tby mx.example.org; Fri, 5 Jan 2024 10:00:00 +0000\nFrom: {who} <{who}@example.org>\nSubject: [PATCH] {who}\n"
            )
        };
        let body = "\n>From the manual: it was wrong.\n>>From a quote\n---\n--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n\n";
        let mbox = format!("{}{body}{}{body}", head("ann"), head("bob"));
        assert_mails(&mbox, &[1, 17]);
        // one mail alone is one mail, its escapes kept
        let one = format!("{}{body}", head("ann"));
        let v = split(&one).unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].bytes, one.as_bytes());
        // CRLF line ends too
        assert_mails(&mbox.replace('\n', "\r\n"), &[1, 17]);
    }

    #[test]
    fn from_text_after_a_blank_line_is_not_a_split() {
        let body = "From the manual: the bit is sticky.\n\nFrom the manual:\nNote: not a mail\n\nFrom upstream commit 1234\nSigned-off-by: A <a@example.org>\n";
        let mbox = format!("{}\n{}", mail(SHA, 1, body), mail(SHA, 5, ""));
        assert_mails(&mbox, &[1, 25]);
    }

    #[test]
    fn a_header_block_inside_a_mail_is_refused_with_mail_and_line() {
        let m1 = mail(SHA, 1, "");
        let m3 = mail(SHA, 9, "");
        // the second mail lost its `From ` line
        let m2 = mail(SHA, 5, "");
        let m2 = m2.split_once('\n').unwrap().1;
        let e = refused(&format!("{m1}\n{m2}\n{m3}"));
        assert!(
            e.starts_with("m:18: mail 1 of 2 (from line 1) holds a mail header block"),
            "{e}"
        );
        assert!(e.contains("separate the mails with a blank line and a `From ` line"));
        assert!(e.ends_with("nothing was imported"), "{e}");
        // a `From ` line that is no envelope line, glued to the diff
        let glued = format!("{m1}From someone on 2024-01-05\n{m2}");
        let e = refused(&glued);
        assert!(e.starts_with("m:17: mail 1 of 1 (from line 1)"), "{e}");
        // in the message, after the first mail
        let quoted = format!(
            "{m1}\n{}",
            mail(
                SHA,
                5,
                "Why:\n\nFrom: B <b@example.org>\nSubject: old\n\ntext\n\n"
            )
        );
        let e = refused(&quoted);
        assert!(e.starts_with("m:25: mail 2 of 2 (from line 18)"), "{e}");
        // and in a file that is no mbox at all: two mails without `From ` lines
        let m = mail(SHA, 1, "");
        let m = m.split_once('\n').unwrap().1;
        let e = refused(&format!("{m}{m2}"));
        assert!(
            e.starts_with("m:16: a mail header block inside the patch"),
            "{e}"
        );
    }

    #[test]
    fn in_body_headers_and_trailers_are_not_refused() {
        // git am's in-body headers: the first paragraph, or after scissors
        let body = "From: Real Author <r@example.org>\nDate: Wed, 3 Jan 2024 10:00:00 +0000\n\nText.\n\n-- >8 --\nFrom: Other <o@example.org>\nSubject: really this\n\nMore.\n\nReported-by: R <r@example.org>\nSubject: not a mail, trailers end at ---\nSigned-off-by: A <a@example.org>\n";
        assert_mails(
            &format!("{}\n{}", mail(SHA, 1, body), mail(SHA, 5, "")),
            &[1, 32],
        );
        // a plain diff and a DEP-3 patch
        assert_mails("--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n", &[1]);
        let dep3 = "Description: fix it\n Longer.\nAuthor: A <a@example.org>\nForwarded: no\n\nFrom: not a second mail, one field\n\n--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n";
        assert_mails(dep3, &[1]);
    }

    #[test]
    fn a_patch_adding_an_mbox_is_one_mail() {
        // hunk lines start with ' ', '+', '-': never a field nor a `From ` line
        let mbox = format!(
            "{SHA}\nFrom: A <a@example.org>\nSubject: [PATCH] mbox fixture\n\n---\n--- /dev/null\n+++ b/t.mbox\n@@ -0,0 +1,6 @@\n+{SHA}\n+From: B <b@example.org>\n+Subject: fixture\n+\n+>From the text\n+\n"
        );
        assert_mails(&mbox, &[1]);
    }

    #[test]
    fn cover_letters_are_numbered_zero() {
        let mail = |subject: &str| Incoming {
            source: "s".into(),
            line: 1,
            bytes: format!("From x Mon Sep 17 00:00:00 2001\nSubject: {subject}\n\ntext\n")
                .into_bytes(),
            stem: "x".into(),
        };
        for cover in [
            "[PATCH 0/3] wifi: fixes",
            "[PATCH v2 00/12] arm64: dts",
            "[RFC PATCH net-next 0/2] x",
        ] {
            assert!(mail(cover).is_cover_letter(), "{cover}");
        }
        for patch in [
            "[PATCH 1/3] wifi",
            "[PATCH] 0/3 of the work",
            "no prefix 0/3",
            "[PATCH 0/] x",
        ] {
            assert!(!mail(patch).is_cover_letter(), "{patch}");
        }
    }

    #[test]
    fn slugs() {
        let p = Incoming {
            source: "s".into(),
            line: 1,
            bytes: b"Subject: [PATCH v2 3/7] arm64: dts: rockchip: add the\n thing (again)!\n\n"
                .to_vec(),
            stem: "x".into(),
        };
        assert_eq!(p.slug(), "arm64-dts-rockchip-add-the-thing-again");
        let q = Incoming {
            source: "s".into(),
            line: 1,
            bytes: b"--- a/f\n".to_vec(),
            stem: "0003-fix-it".into(),
        };
        assert_eq!(q.slug(), "fix-it");
    }
}
