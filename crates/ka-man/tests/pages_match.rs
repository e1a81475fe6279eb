//! The checked-in man pages of the stages are products of the clap definitions:
//! this fails when they drift. Regenerate with `make man`.

use std::path::PathBuf;

#[test]
fn checked_in_pages_match_the_clap_definitions() {
    let man = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../man/man1");
    let mut drift = Vec::new();
    for cmd in ka_man::commands() {
        let (file, bytes) = ka_man::render(cmd).unwrap();
        if std::fs::read(man.join(&file)).ok().as_deref() != Some(&bytes[..]) {
            drift.push(file);
        }
    }
    assert!(
        drift.is_empty(),
        "man pages drifted: {drift:?}; run `make man` and commit"
    );
}

#[test]
fn every_binary_answers_help() {
    for cmd in ka_man::commands() {
        let mut cmd = cmd;
        let help = cmd.render_long_help().to_string();
        assert!(help.contains("Usage:"), "{}", cmd.get_name());
    }
}
