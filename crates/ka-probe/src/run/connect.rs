//! Bar 1, the heartbeat: SSH answers within the host's heartbeat, and the
//! host says which boot and kernel it runs (boot_id, kernel release).

use super::batch::{BOOT_ID, OSRELEASE};
use super::report::check_result;
use super::{Check, ReadResult, Reads, describe_failure};
use crate::lang::{Read, text_value};
use crate::plan::HostPlan;
use ka_run_remote::{ConnectError, Connection, Options, Target};
use ka_schema::ProbeReport;
use std::time::{Duration, Instant};

fn expected(plan: &HostPlan) -> String {
    format!("SSH answers within {}", plan.heartbeat)
}

/// Reach the host within its heartbeat: the connection and how long it
/// took, or `None` when it did not answer, with bar 1 failed and a note
/// that bars 2–4 were not checked.
pub(super) fn reach(plan: &HostPlan, report: &mut ProbeReport) -> Option<(Connection, Duration)> {
    let target = match Target::from_transport(&plan.transport) {
        Ok(Some(t)) => Ok(t),
        Ok(None) => Err("the host has no SSH transport".to_string()),
        Err(e) => Err(e.to_string()),
    };
    let conn = target.and_then(|t| {
        connect_within(&t, plan.heartbeat.get()).map_err(|e| {
            report.host_key_refused = matches!(e, ConnectError::HostKey(_));
            e.to_string()
        })
    });
    match conn {
        Ok(c) => Some(c),
        Err(e) => {
            let bar = check_result(1, "heartbeat", &expected(plan), Check::Unreadable(e), None);
            report.bars.push(bar);
            report
                .notes
                .push("bars 2–4 not checked: the host did not answer".into());
            None
        }
    }
}

/// Connect within the heartbeat: retry refused or unreachable connections
/// until it runs out (a rebooting host comes back during it); a host-key
/// refusal is final at once.
fn connect_within(
    target: &Target,
    heartbeat: Duration,
) -> Result<(Connection, Duration), ConnectError> {
    let start = Instant::now();
    let mut last;
    loop {
        let left = heartbeat.saturating_sub(start.elapsed());
        let opts = Options {
            connect_timeout: left.clamp(Duration::from_millis(100), Duration::from_secs(10)),
            io_timeout: left.clamp(Duration::from_secs(1), Duration::from_secs(30)),
            ..Options::default()
        };
        match ka_run_remote::connect(target, &opts) {
            Ok(c) => return Ok((c, start.elapsed())),
            Err(ConnectError::Transport(m)) => last = m,
            Err(final_error) => return Err(final_error),
        }
        let left = heartbeat.saturating_sub(start.elapsed());
        if left.is_zero() {
            return Err(ConnectError::Transport(format!(
                "no answer within {:.1}s: {last}",
                start.elapsed().as_secs_f64()
            )));
        }
        std::thread::sleep(left.min(Duration::from_millis(500)));
    }
}

/// Read the boot_id and kernel release into the report, and record bar 1:
/// passed when the boot_id could be read (the host answered in `took`).
pub(super) fn identify(
    reads: &mut Reads,
    took: Duration,
    plan: &HostPlan,
    report: &mut ProbeReport,
) {
    let boot = reads.get(&Read::Cat(BOOT_ID.into()));
    let release = reads.get(&Read::Cat(OSRELEASE.into()));
    let value = |r: &ReadResult| {
        r.as_ref()
            .ok()
            .filter(|c| c.exit_code == Some(0))
            .map(|c| text_value(&c.stdout).0)
    };
    report.boot_id = value(&boot);
    report.kernel_release = value(&release);
    let hb = match (&report.boot_id, &boot) {
        (Some(id), _) => Check::Value {
            passed: true,
            actual: format!(
                "answered in {:.1}s, boot_id {id}, kernel {}",
                took.as_secs_f64(),
                report.kernel_release.as_deref().unwrap_or("?")
            ),
        },
        (None, r) => Check::Unreadable(format!(
            "connected, but reading the boot_id failed: {}",
            describe_failure(r)
        )),
    };
    report
        .bars
        .push(check_result(1, "heartbeat", &expected(plan), hb, None));
}
