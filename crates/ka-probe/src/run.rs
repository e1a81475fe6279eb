//! Running a [`HostPlan`] against its host: bar 1 (SSH answers within the
//! heartbeat; boot_id and kernel release read), then bars 2–4 over the same
//! authenticated session through ka-run-remote (strict known_hosts, the
//! fleet identity, argv quoted word by word). Many hosts run concurrently.
//!
//! - `connect`: bar 1, reaching the host and who answered.
//! - `batch`: all file reads and exists-tests of a host in one command.
//! - `installed`: bar 2, the installed package and image.
//! - `judge`: bars 3 and 4, each probe judged from its read.
//! - `report`: the report's bars, and times carried over.

mod batch;
mod connect;
mod installed;
mod judge;
mod report;

pub use batch::{BATCH_READER, Batch, parse_batch};
pub use judge::{Check, evaluate};
pub use report::finish;

use crate::lang::Read;
use crate::plan::HostPlan;
use judge::{describe_failure, first_line};
use ka_run_remote::{Captured, Connection};
use ka_schema::ProbeReport;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Timeouts of a probe run.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    /// One remote read (a `cat`, `dmesg`, a package query, a `cmd` probe).
    pub read_timeout: Duration,
    /// How many hosts are probed at once.
    pub jobs: usize,
}

/// Keep this much of one read's output (a kernel log is at most a few MiB).
const MAX_OUTPUT: usize = 16 << 20;

/// The outcome of one remote read: what ran, or why it could not.
pub type ReadResult = std::result::Result<Captured, String>;

/// Probe every plan, at most `opts.jobs` at a time; reports in plan order.
pub fn probe_all(plans: &[HostPlan], opts: &RunOptions, at: &str) -> Vec<ProbeReport> {
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<Option<ProbeReport>>> = Mutex::new(vec![None; plans.len()]);
    std::thread::scope(|s| {
        for _ in 0..opts.jobs.clamp(1, plans.len().max(1)) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(plan) = plans.get(i) else { break };
                    let report = probe_host(plan, opts, at);
                    out.lock().expect("no panics while held")[i] = Some(report);
                }
            });
        }
    });
    out.into_inner()
        .expect("threads joined")
        .into_iter()
        .map(|r| r.expect("every host probed"))
        .collect()
}

/// The remote reads of one host over its session, each done at most once:
/// equal reads of several probes share one result.
struct Reads<'a> {
    conn: &'a Connection,
    timeout: Duration,
    cache: HashMap<Read, ReadResult>,
}

impl Reads<'_> {
    /// The result of `r`: from the batch or an earlier read, else run now.
    fn get(&mut self, r: &Read) -> ReadResult {
        self.cache
            .entry(r.clone())
            .or_insert_with(|| self.conn.exec_argv(&r.argv(), self.timeout, MAX_OUTPUT))
            .clone()
    }
}

/// Probe one host: never panics, never errs; everything that goes wrong is a
/// failed bar in the report.
pub fn probe_host(plan: &HostPlan, opts: &RunOptions, at: &str) -> ProbeReport {
    let mut report = report::start(plan, at);
    let Some((conn, took)) = connect::reach(plan, &mut report) else {
        return finish(report, plan.previous.as_ref());
    };
    // The boot_id, every file read and every exists-test of the host in one
    // round trip and one remote process plus one `od` (a fixed script; see
    // [`BATCH_READER`]); on any surprise each read runs on its own instead.
    let mut reads = Reads {
        conn: &conn,
        timeout: opts.read_timeout,
        cache: batch::prefetch(&conn, &plan.probes, opts.read_timeout),
    };
    connect::identify(&mut reads, took, plan, &mut report);
    if let Some(i) = &plan.installed {
        installed::check(plan, i, &mut reads, &mut report);
    }
    for c in &plan.probes {
        let r = reads.get(&c.probe.read());
        let res = evaluate(&c.probe, &r);
        report.bars.push(report::check_result(
            c.bar,
            &c.text,
            &c.probe.expected(),
            res,
            Some(c.source.clone()),
        ));
    }
    let _ = conn.session.disconnect(None, "ka-probe: done", None);
    finish(report, plan.previous.as_ref())
}
