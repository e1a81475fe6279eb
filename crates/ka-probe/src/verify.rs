//! Recording a verification (`ka-verify`): the report goes to
//! `verify/last.json` and `verify/history/<time>.json` (both written
//! atomically); a failed report files `[ka:regression]` and `[ka:host-drifted]`
//! for the host, or `[ka:host-changed]` and `[ka:host-drifted]` when the host
//! answered with another host key; a report whose heartbeat passed lifts
//! `[ka:host-changed]` (the strict connection re-passed). A later passing
//! report lifts neither regression nor drift: the owner triages a
//! regression (ka-gate(1)), and a drifted host converges by a later install.
//! Bar 5 (burn-in) keeps its count in `verify/burn-in.json`.

use ka_block::store::Store;
use ka_core::error::Result;
use ka_core::paths::Layout;
use ka_core::time::{parse_time, rfc3339};
use ka_schema::{
    BarResult, BlockKind, BlockRef, BurnIn, BurnInState, Installed, ProbeReport, Span, Subject, V1,
};
use std::path::PathBuf;

/// What recording wrote and filed.
#[derive(Debug, Default)]
pub struct Recorded {
    pub files: Vec<PathBuf>,
    pub blocks: Vec<BlockRef>,
    pub lifted: Vec<BlockRef>,
}

/// One line per failed result: bar, probe, where it is written, expected
/// against actual, why it could not be read, last pass and first fail.
pub fn failure_lines(report: &ProbeReport) -> Vec<String> {
    report.failures().map(failure_line).collect()
}

pub fn failure_line(b: &BarResult) -> String {
    let mut s = format!("bar {} `{}`", b.bar, b.probe);
    if let Some(src) = &b.source {
        s.push_str(&format!(" ({src})"));
    }
    s.push_str(&format!(": expected {}, actual {}", b.expected, b.actual));
    if let Some(e) = &b.error {
        s.push_str(&format!(" [{e}]"));
    }
    s.push_str(&format!(
        "; last pass {}, first fail {}",
        b.last_pass.as_deref().unwrap_or("never"),
        b.first_fail.as_deref().unwrap_or("-")
    ));
    s
}

/// Write the report (last.json and history) and, when it failed, file the
/// regression and drift blocks. The caller holds the host's verify lock.
pub fn record(layout: &Layout, store: &Store, report: &ProbeReport) -> Result<Recorded> {
    let mut rec = Recorded::default();
    let history = layout.verify_history(&report.host);
    let stamp = parse_time(&report.at)
        .map(|t| rfc3339(t).replace([':', '-'], ""))
        .unwrap_or_else(|_| report.at.replace([':', '-'], ""));
    let mut path = history.join(format!("{stamp}.json"));
    let mut n = 1;
    while path.exists() {
        n += 1;
        path = history.join(format!("{stamp}-{n}.json"));
    }
    ka_core::atomic::write_json(&path, report)?;
    rec.files.push(path);
    let last = layout.last_verify(&report.host);
    ka_core::atomic::write_json(&last, report)?;
    rec.files.push(last);
    if !report.passed {
        rec.blocks = file_blocks(store, report)?;
    }
    let answered = report.bars.iter().any(|b| b.bar == 1 && b.passed);
    if answered
        && let Some(b) = store.lift_open(
            BlockKind::HostChanged,
            &Subject::Host {
                host: report.host.clone(),
            },
            &format!(
                "ka-verify {} at {}: the host answered with its known host key",
                report.host, report.at
            ),
        )?
    {
        rec.lifted.push(b.to_ref());
    }
    Ok(rec)
}

fn file_blocks(store: &Store, report: &ProbeReport) -> Result<Vec<BlockRef>> {
    let host = &report.host;
    let lines = failure_lines(report);
    let mut bars: Vec<String> = report.failures().map(|b| b.bar.to_string()).collect();
    bars.dedup();
    let seen = format!(
        "ka-verify {host} at {}{}{}:\n- {}",
        report.at,
        report
            .boot_id
            .as_deref()
            .map(|b| format!(", boot_id {b}"))
            .unwrap_or_default(),
        report
            .kernel_release
            .as_deref()
            .map(|k| format!(", kernel {k}"))
            .unwrap_or_default(),
        lines.join("\n- ")
    );
    let subject = Subject::Host { host: host.clone() };
    if report.host_key_refused {
        // Not a regression: what the host runs is unknown, not known bad.
        let changed = store.file(
            BlockKind::HostChanged,
            subject.clone(),
            &format!("{host} host key changed"),
            &format!(
                "{seen}\n\nThe host answered with a host key that fleet/known_hosts does not have. Check the key on the host itself (its console: `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`), then replace its line in fleet/known_hosts; the next verify that connects lifts this block."
            ),
        )?;
        let drifted = store.file(
            BlockKind::HostDrifted,
            subject,
            &format!("{host} drifted: it cannot be verified (host key changed)"),
            &format!(
                "{seen}\n\nWhat {host} runs cannot be verified. Installs to {host} are halted until a later ka-install converges it (lift with `ka-block lift` once verified)."
            ),
        )?;
        return Ok(vec![changed.to_ref(), drifted.to_ref()]);
    }
    let id = ka_block::store::block_id(BlockKind::Regression, &subject);
    let regression = store.file(
        BlockKind::Regression,
        subject.clone(),
        &format!("{host}: verification failed (bar {})", bars.join(", ")),
        &format!(
            "{seen}\n\nA later passing verify does not lift this block: the owner triages it, then `ka-block lift {id} --reason ...`. It halts installs to {host}."
        ),
    )?;
    let drifted = store.file(
        BlockKind::HostDrifted,
        subject,
        &format!("{host} drifted from what was installed and verified"),
        &format!(
            "{seen}\n\nThe host no longer shows what kernel-agent installed. Installs to {host} are halted until a later ka-install converges it."
        ),
    )?;
    Ok(vec![regression.to_ref(), drifted.to_ref()])
}

/// What `--burn-in` does for one host before probing.
#[derive(Debug)]
pub enum BurnInStep {
    /// Probe now and count the run into this record.
    Run(BurnIn),
    /// Nothing to probe: burn-in is off, or finished for this install.
    Settled { record: Option<BurnIn>, why: String },
}

/// Decide the burn-in step for `host`: a record for the current
/// install (a new one when the install changed), or why nothing runs.
pub fn burn_in_step(
    layout: &Layout,
    host: &str,
    installed: &Installed,
    duration: &Span,
) -> Result<BurnInStep> {
    if duration.is_zero() {
        return Ok(BurnInStep::Settled {
            record: None,
            why: format!("burn-in is off (verify.burn_in: {duration})"),
        });
    }
    let path = layout.burn_in(host);
    let existing: Option<BurnIn> = crate::plan::read_optional(&path)?;
    let same_install = |b: &BurnIn| {
        b.installed_at == installed.installed_at
            && b.package == installed.package
            && b.package_version == installed.package_version
    };
    match existing {
        Some(b) if same_install(&b) && b.state != BurnInState::Running => Ok(BurnInStep::Settled {
            why: format!(
                "burn-in of {} {} already {}: {}",
                b.package,
                b.package_version,
                state_word(b.state),
                summary(&b)
            ),
            record: Some(b),
        }),
        Some(b) if same_install(&b) => Ok(BurnInStep::Run(b)),
        _ => {
            let start = parse_time(&installed.installed_at).map_err(|e| {
                ka_core::error::contract(format!(
                    "{}: installed_at: {e}",
                    layout.installed(host).display()
                ))
            })?;
            Ok(BurnInStep::Run(BurnIn {
                kind: Default::default(),
                version: V1,
                host: host.to_string(),
                package: installed.package.clone(),
                package_version: installed.package_version.clone(),
                installed_at: installed.installed_at.clone(),
                duration: duration.clone(),
                ends_at: rfc3339(start + duration.as_secs() as i64),
                state: BurnInState::Running,
                runs: 0,
                failed_runs: 0,
                first_run_at: None,
                last_run_at: None,
                failure: None,
            }))
        }
    }
}

pub fn state_word(s: BurnInState) -> &'static str {
    match s {
        BurnInState::Running => "running",
        BurnInState::Passed => "passed",
        BurnInState::Failed => "failed",
    }
}

pub fn summary(b: &BurnIn) -> String {
    format!(
        "{} run{}, {} failed, {} since the install at {} (ends {})",
        b.runs,
        if b.runs == 1 { "" } else { "s" },
        b.failed_runs,
        b.duration,
        b.installed_at,
        b.ends_at
    )
}

/// Count one run of bars 1–4 into the record; when the burn-in is decided
/// (a run failed, or `ends_at` has come and every run passed), add the bar 5
/// result to the report.
pub fn count_run(b: &mut BurnIn, report: &mut ProbeReport, now: i64) {
    b.runs += 1;
    b.first_run_at.get_or_insert_with(|| report.at.clone());
    b.last_run_at = Some(report.at.clone());
    if !report.passed {
        b.failed_runs += 1;
        b.state = BurnInState::Failed;
        b.failure = Some(format!(
            "run at {}: {}",
            report.at,
            failure_lines(report).join("; ")
        ));
    } else if parse_time(&b.ends_at).is_ok_and(|end| now >= end) {
        b.state = BurnInState::Passed;
    }
    if b.state != BurnInState::Running {
        report.bars.push(bar5(b));
    }
}

/// The bar 5 result of a decided burn-in.
pub fn bar5(b: &BurnIn) -> BarResult {
    BarResult {
        bar: 5,
        probe: "burn-in".into(),
        passed: b.state == BurnInState::Passed,
        expected: format!(
            "every run of bars 1–4 passes for {} after the install at {}",
            b.duration, b.installed_at
        ),
        actual: match &b.failure {
            Some(f) => format!("{}; {f}", summary(b)),
            None => summary(b),
        },
        source: Some(format!("hosts/{}/verify/burn-in.json", b.host)),
        error: None,
        last_pass: None,
        first_fail: None,
    }
}
