//! Property tests of the mbox splitter and the mail readers: generated input
//! never panics, and a split keeps every byte (the mails put together are
//! the input). `make fuzz` runs many more cases (PROPTEST_CASES).

use ka_core::error::Error;
use ka_tree::sources::{Incoming, split_into};
use proptest::prelude::*;

const MAIL_LINES: &[&str] = &[
    "From 0123456789abcdef0123456789abcdef01234567 Mon Sep 17 00:00:00 2001",
    "From x Mon Sep 17 00:00:00 2001",
    "From git@z Thu Jan  1 00:00:00 1970",
    "From someone on 2024-01-05",
    "From the manual: x",
    ">From an escaped line",
    "From: A <a@example.org>",
    "Subject: [PATCH 1/2] wifi: fix",
    "Subject: [PATCH 0/2] cover",
    "Subject: [",
    "Subject: []]",
    "Subject:",
    "Date: Thu, 4 Jan 2024 10:00:00 +0000",
    "Description: fix it",
    " folded",
    "\tfolded",
    "Signed-off-by: A <a@example.org>",
    "-- >8 --",
    "",
    " ",
    "---",
    "-- ",
    "diff --git a/f b/f",
    "--- a/f",
    "+++ b/f",
    "@@ -1 +1 @@",
    "-a",
    "+b",
    " c",
    "Index: f",
];

/// An mbox-shaped text: up to 60 lines drawn from [`MAIL_LINES`] and some
/// arbitrary ones (non-UTF-8 bytes included), `\n` or `\r\n` line ends.
fn mbox_text() -> impl Strategy<Value = Vec<u8>> {
    let line = prop_oneof![
        8 => prop::sample::select(MAIL_LINES).prop_map(|l| l.as_bytes().to_vec()),
        1 => prop::collection::vec(any::<u8>().prop_filter("no line end", |b| *b != b'\n'), 0..16),
    ];
    (prop::collection::vec(line, 0..60), any::<bool>()).prop_map(|(lines, crlf)| {
        let end: &[u8] = if crlf { b"\r\n" } else { b"\n" };
        lines
            .iter()
            .flat_map(|l| [l.as_slice(), end])
            .flatten()
            .copied()
            .collect()
    })
}

/// Split, then check what every split must hold.
fn split_holds(bytes: &[u8]) -> Result<(), TestCaseError> {
    let mut out = Vec::new();
    match split_into(bytes, "in.mbox", "in", &mut out) {
        Ok(()) => {
            // Put together, the mails are the input, but for blank lines
            // before the first mail (dropped: a patch file starts at its
            // `From ` line).
            let joined: Vec<u8> = out.iter().flat_map(|p| p.bytes.clone()).collect();
            prop_assert!(bytes.ends_with(&joined), "the mails are the input's bytes");
            let dropped = &bytes[..bytes.len() - joined.len()];
            prop_assert!(
                dropped.iter().all(u8::is_ascii_whitespace),
                "only blank lines dropped"
            );
            let mut last_line = 0;
            for p in &out {
                prop_assert!(p.line > last_line, "mails in order, lines from 1");
                last_line = p.line;
                mail_readers_hold(p)?;
            }
        }
        Err(e) => {
            prop_assert!(matches!(e, Error::Negative(_)), "{}", e);
            prop_assert!(e.to_string().starts_with("in.mbox:"), "{}", e);
            prop_assert!(out.is_empty(), "nothing added on a refusal");
        }
    }
    Ok(())
}

/// The subject, the file-name slug and the cover-letter test of a mail.
fn mail_readers_hold(p: &Incoming) -> Result<(), TestCaseError> {
    let slug = p.slug();
    prop_assert!(!slug.is_empty() && slug.chars().count() <= 52, "{:?}", slug);
    prop_assert!(
        slug.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')),
        "{:?}",
        slug
    );
    let _ = p.subject();
    let _ = p.is_cover_letter();
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn fuzz_arbitrary_bytes_split_or_refuse(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        split_holds(&bytes)?;
    }

    #[test]
    fn fuzz_mbox_shaped_text_splits_or_refuses(bytes in mbox_text()) {
        split_holds(&bytes)?;
    }
}
