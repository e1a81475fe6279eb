//! The checked-in JSON Schemas in `schemas/` are products: this test fails when
//! they drift from the types. Regenerate with `make schemas`
//! (`KA_UPDATE_SCHEMAS=1 cargo test -p ka-man --test schemas`).

use ka_schema::{
    ArchiveIndex, AuditEntry, Backup, Block, BurnIn, Check, Gate, HostStatus, Install, Installed,
    IssueEvent, IssueLink, Job, JobResult, Journal, Keep, Lock, MirrorStatus, Notice, Plan,
    ProbeReport, PrunePause, PruneReport, Publish, RebaseReport, Reminder, Render, TreeChange,
    VerbResult,
};
use ka_schema::{HostManifest, RetentionConfig, RuntimeConfig, SeriesMeta};
use schemars::{JsonSchema, schema_for};
use std::path::PathBuf;

fn check<T: JsonSchema>(name: &str, drift: &mut Vec<String>) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas");
    let path = dir.join(format!("{name}.schema.json"));
    let mut want = serde_json::to_string_pretty(&schema_for!(T)).unwrap();
    want.push('\n');
    if std::env::var_os("KA_UPDATE_SCHEMAS").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(&path, &want).unwrap();
        return;
    }
    match std::fs::read_to_string(&path) {
        Ok(have) if have == want => {}
        _ => drift.push(path.display().to_string()),
    }
}

#[test]
fn schemas_match_the_types() {
    let mut drift = Vec::new();
    check::<Plan>("ka.plan", &mut drift);
    check::<Check>("ka.check", &mut drift);
    check::<Lock>("ka.lock", &mut drift);
    check::<VerbResult>("ka.result", &mut drift);
    check::<Block>("ka.block", &mut drift);
    check::<Gate>("ka.gate", &mut drift);
    check::<Job>("ka.job", &mut drift);
    check::<JobResult>("ka.job-result", &mut drift);
    check::<Render>("ka.render", &mut drift);
    check::<ProbeReport>("ka.probe-report", &mut drift);
    check::<BurnIn>("ka.burn-in", &mut drift);
    check::<RebaseReport>("ka.rebase-report", &mut drift);
    check::<TreeChange>("ka.tree-change", &mut drift);
    check::<Journal>("ka.tree-journal", &mut drift);
    check::<Notice>("ka.notice", &mut drift);
    check::<Reminder>("ka.reminder", &mut drift);
    check::<Installed>("ka.installed", &mut drift);
    check::<HostStatus>("ka.host-status", &mut drift);
    check::<AuditEntry>("ka.audit", &mut drift);
    check::<Keep>("ka.keep", &mut drift);
    check::<Backup>("ka.backup", &mut drift);
    check::<ArchiveIndex>("ka.archive", &mut drift);
    check::<PrunePause>("ka.prune-pause", &mut drift);
    check::<PruneReport>("ka.prune-report", &mut drift);
    check::<Publish>("ka.publish", &mut drift);
    check::<Install>("ka.install", &mut drift);
    check::<HostManifest>("fleet-host", &mut drift);
    check::<RetentionConfig>("retention", &mut drift);
    check::<SeriesMeta>("series", &mut drift);
    check::<IssueEvent>("ka.issue-event", &mut drift);
    check::<IssueLink>("ka.issue-link", &mut drift);
    check::<MirrorStatus>("ka.mirror-status", &mut drift);
    check::<RuntimeConfig>("config", &mut drift);
    assert!(
        drift.is_empty(),
        "schemas drifted from the types: {drift:?}; run `make schemas` and commit the result"
    );
}
