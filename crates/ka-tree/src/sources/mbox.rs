//! Splitting one file's bytes into mails, for `sources`.
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

use super::Incoming;
use ka_core::error::{Result, negative};

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

#[cfg(test)]
mod tests {
    use super::*;
    use ka_core::error::Error;

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
}
