//! Assembling a host's report: an empty one to fill, one bar result per
//! check, and the pass/fail times carried over from the previous report.

use super::Check;
use crate::plan::HostPlan;
use ka_schema::{BarResult, ProbeReport, V1};

/// The report of `plan`'s host before anything is checked: not passed, no bars.
pub(super) fn start(plan: &HostPlan, at: &str) -> ProbeReport {
    ProbeReport {
        kind: Default::default(),
        version: V1,
        host: plan.host.clone(),
        at: at.to_string(),
        passed: false,
        boot_id: None,
        kernel_release: None,
        bars: Vec::new(),
        host_key_refused: false,
        notes: plan.notes.clone(),
    }
}

pub(super) fn check_result(
    bar: u8,
    probe: &str,
    expected: &str,
    c: Check,
    source: Option<String>,
) -> BarResult {
    match c {
        Check::Value { passed, actual } => BarResult {
            bar,
            probe: probe.into(),
            passed,
            expected: expected.into(),
            actual,
            source,
            error: None,
            last_pass: None,
            first_fail: None,
        },
        Check::Unreadable(why) => BarResult {
            bar,
            probe: probe.into(),
            passed: false,
            expected: expected.into(),
            actual: "(not readable)".into(),
            source,
            error: Some(why),
            last_pass: None,
            first_fail: None,
        },
    }
}

/// Set `passed`, and carry last pass / first fail over from the previous
/// report (matched by bar and probe text).
pub fn finish(mut report: ProbeReport, previous: Option<&ProbeReport>) -> ProbeReport {
    let at = report.at.clone();
    for b in &mut report.bars {
        let prev =
            previous.and_then(|p| p.bars.iter().find(|x| x.bar == b.bar && x.probe == b.probe));
        if b.passed {
            b.last_pass = Some(at.clone());
            b.first_fail = None;
        } else {
            b.last_pass = prev.and_then(|p| p.last_pass.clone());
            b.first_fail = prev
                .filter(|p| !p.passed)
                .and_then(|p| p.first_fail.clone())
                .or_else(|| Some(at.clone()));
        }
    }
    report.passed = !report.bars.is_empty() && report.bars.iter().all(|b| b.passed);
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_carry_over() {
        let r = |at: &str, passed: bool| ProbeReport {
            kind: Default::default(),
            version: V1,
            host: "h".into(),
            at: at.into(),
            passed,
            boot_id: None,
            kernel_release: None,
            bars: vec![check_result(
                4,
                "p",
                "e",
                Check::Value {
                    passed,
                    actual: "a".into(),
                },
                None,
            )],
            host_key_refused: false,
            notes: vec![],
        };
        let a = finish(r("t1", true), None);
        assert_eq!(a.bars[0].last_pass.as_deref(), Some("t1"));
        let b = finish(r("t2", false), Some(&a));
        assert_eq!(b.bars[0].last_pass.as_deref(), Some("t1"));
        assert_eq!(b.bars[0].first_fail.as_deref(), Some("t2"));
        let c = finish(r("t3", false), Some(&b));
        assert_eq!(c.bars[0].first_fail.as_deref(), Some("t2"));
        assert_eq!(c.bars[0].last_pass.as_deref(), Some("t1"));
        let d = finish(r("t4", true), Some(&c));
        assert_eq!(d.bars[0].last_pass.as_deref(), Some("t4"));
        assert_eq!(d.bars[0].first_fail, None);
    }
}
