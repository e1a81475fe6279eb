//! The pages: the fleet (index), one per host, one per job, the patch matrix.
//! Each is a function of the [`FleetState`] alone.

use crate::cells::{self, host_name, job_link};
use crate::html::{NONE, Row, Table, alert, esc, page, verdict, when};
use crate::state::{FleetState, HostState, JobState, blocks_series};
use ka_schema::{BlockState, Subject};
use std::fmt::Write;

/// `index.html`: a row per host, the fleet-wide blocks, the jobs, and what
/// could not be read.
pub fn fleet_page(state: &FleetState) -> String {
    let mut body = String::new();
    let mut rows = Vec::new();
    for h in &state.hosts {
        let (role, arch) = cells::role_arch(h);
        rows.push(Row::Cells(vec![
            host_name(h, ""),
            role,
            arch,
            cells::installed(h, state.as_of),
            cells::built(h, state, ""),
            cells::published(h, state.as_of),
            cells::pending(h),
            cells::drift(h),
            cells::blocks(h, state),
            cells::last_verify(h, state.as_of),
            cells::burn_in(h, state.as_of),
        ]));
        rows.extend(h.all_errors().into_iter().map(|e| Row::Error(e.0)));
    }
    Table {
        caption: "Hosts",
        head: &[
            "Host",
            "Role",
            "Arch",
            "Installed",
            "Built",
            "Published",
            "Pending install",
            "Drift",
            "Open blocks",
            "Last verify",
            "Burn-in",
        ],
        rows,
        empty: "No hosts: the fleet repository has no fleet/<host>.yaml.",
    }
    .render(&mut body);
    fleet_blocks(state, &mut body);
    jobs_table(state, &state.jobs.iter().collect::<Vec<_>>(), "", &mut body);
    Table {
        caption: "Unreadable state",
        head: &["Error"],
        rows: state
            .errors
            .iter()
            .map(|e| Row::Error(e.0.clone()))
            .collect(),
        empty: "Every state file outside the hosts' folders could be read.",
    }
    .render(&mut body);
    page("Fleet", "", state.as_of, &body)
}

/// Open blocks about no single host: global ones and patch blocks.
fn fleet_blocks(state: &FleetState, body: &mut String) {
    let rows = state
        .blocks
        .iter()
        .filter(|b| b.state == BlockState::Open)
        .filter(|b| {
            !matches!(
                b.subject,
                Subject::Host { .. } | Subject::BuildHost { .. } | Subject::Config { .. }
            )
        })
        .map(|b| {
            let subject = match &b.subject {
                Subject::Patch { patch } => format!("<code>{}</code>", esc(patch)),
                Subject::Patches { patches } => patches
                    .iter()
                    .map(|p| format!("<code>{}</code>", esc(p)))
                    .collect::<Vec<_>>()
                    .join("<br>"),
                _ => "everything".into(),
            };
            Row::Cells(vec![
                esc(&b.id).to_string(),
                alert(b.block.as_str()),
                subject,
                when(&b.opened_at, state.as_of),
                format!("<code>{}</code>", esc(&cells::hint(b))),
            ])
        })
        .collect();
    Table {
        caption: "Fleet-wide blocks",
        head: &["Block", "Kind", "About", "Opened", "What to run"],
        rows,
        empty: "No global or patch blocks are open.",
    }
    .render(body);
}

fn duration(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {}s", s / 60, s % 60),
        _ => format!("{}h {}m", s / 3600, s / 60 % 60),
    }
}

fn job_result(j: &JobState) -> String {
    match (&j.record, j.ok()) {
        (Some(_), Some(true)) => verdict(true).into(),
        (Some(r), _) => {
            let why = match (&r.exit_code, &r.signal) {
                (_, Some(sig)) => format!("killed by {sig}"),
                (Some(c), None) => format!("exit {c}"),
                (None, None) => "did not exit".into(),
            };
            let mut why = vec![why];
            if r.stalled {
                why.push("stalled".into());
            }
            if r.capped {
                why.push("ran past its wall clock".into());
            }
            if let Some(t) = &r.transport_error {
                why.push(format!("transport: {t}"));
            }
            format!("{} ({})", verdict(false), esc(&why.join(", ")))
        }
        (None, _) => "record archived (logs kept)".into(),
    }
}

fn jobs_table(state: &FleetState, jobs: &[&JobState], up: &str, body: &mut String) {
    let mut rows = Vec::new();
    for j in jobs {
        rows.push(Row::Cells(vec![
            job_link(state, &j.id, &j.id, up),
            j.target
                .as_deref()
                .map_or(NONE.into(), |t| esc(t).to_string()),
            esc(&j.build_host).to_string(),
            job_result(j),
            j.finished
                .map(|f| when(&ka_core::time::rfc3339(f), state.as_of))
                .unwrap_or_else(|| NONE.into()),
            j.record
                .as_ref()
                .map_or(NONE.into(), |r| duration(r.duration_ms)),
        ]));
    }
    Table {
        caption: "Jobs",
        head: &[
            "Job",
            "Target host",
            "Build host",
            "Result",
            "Finished",
            "Duration",
        ],
        rows,
        empty: "No build jobs with logs within the retention period.",
    }
    .render(body);
}

/// `hosts/<host>.html`.
pub fn host_page(state: &FleetState, h: &HostState) -> String {
    let up = "../";
    let mut body = String::new();
    now_table(state, h, up, &mut body);
    installs_table(h, &mut body);
    verify_strip(state, h, &mut body);
    series_table(state, h, &mut body);
    host_blocks_table(state, h, &mut body);
    let jobs: Vec<&JobState> = state
        .jobs
        .iter()
        .filter(|j| j.target.as_deref() == Some(h.name.as_str()))
        .collect();
    jobs_table(state, &jobs, up, &mut body);
    page(&format!("Host {}", h.name), up, state.as_of, &body)
}

/// The host's state now: a row per field (the fleet table's columns, and the
/// promotion), then what could not be read about it.
fn now_table(state: &FleetState, h: &HostState, up: &str, body: &mut String) {
    let (role, arch) = cells::role_arch(h);
    let st = &h.line.status;
    Table {
        caption: "Now",
        head: &["What", "State"],
        rows: [
            ("Role", role),
            ("Arch", arch),
            ("Installed", cells::installed(h, state.as_of)),
            (
                "Promoted",
                st.promoted
                    .as_deref()
                    .map(|p| esc(&p[..p.len().min(16)]).to_string())
                    .unwrap_or_else(|| NONE.into()),
            ),
            ("Built", cells::built(h, state, up)),
            ("Published", cells::published(h, state.as_of)),
            ("Pending install", cells::pending(h)),
            ("Drift", cells::drift(h)),
            ("Last verify", cells::last_verify(h, state.as_of)),
            ("Burn-in", cells::burn_in(h, state.as_of)),
        ]
        .into_iter()
        .map(|(k, v)| Row::Cells(vec![k.into(), v]))
        .chain(h.all_errors().into_iter().map(|e| Row::Error(e.0)))
        .collect(),
        empty: "",
    }
    .render(body);
}

/// The host's installs, newest first, each with its result and phases.
fn installs_table(h: &HostState, body: &mut String) {
    Table {
        caption: "Install history",
        head: &["Install", "Plan hash", "Package", "Result", "Phases"],
        rows: h
            .installs
            .iter()
            .rev()
            .map(|i| {
                let result = match i.status {
                    ka_schema::Status::Done => verdict(true).to_string(),
                    ka_schema::Status::Failed => format!(
                        "{} in {}",
                        verdict(false),
                        esc(i.failed_phase.map_or("?", |p| p.as_str()))
                    ),
                    s => esc(&format!("{s:?}").to_lowercase()).to_string(),
                };
                Row::Cells(vec![
                    esc(&i.id).to_string(),
                    format!("<code>{}</code>", esc(&i.plan_hash)),
                    format!("{} {}", esc(&i.package), esc(&i.package_version)),
                    format!("{result}<br>{}", esc(&i.message)),
                    esc(&i
                        .phases
                        .iter()
                        .map(|p| format!("{} {}", p.phase, if p.ok { "ok" } else { "FAILED" }))
                        .collect::<Vec<_>>()
                        .join(", "))
                    .to_string(),
                ])
            })
            .collect(),
        empty: "No install has run on this host.",
    }
    .render(body);
}

/// The open blocks about the host, with what to run and their details.
fn host_blocks_table(state: &FleetState, h: &HostState, body: &mut String) {
    let st = &h.line.status;
    let blocks = state
        .blocks
        .iter()
        .filter(|b| st.blocks.iter().any(|r| r.id == b.id))
        .map(|b| {
            Row::Cells(vec![
                esc(&b.id).to_string(),
                alert(b.block.as_str()),
                when(&b.opened_at, state.as_of),
                format!("{}<br><code>{}</code>", esc(&b.title), esc(&cells::hint(b))),
                format!("<pre>{}</pre>", esc(&b.detail)),
            ])
        })
        .collect();
    Table {
        caption: "Open blocks",
        head: &[
            "Block",
            "Kind",
            "Opened",
            "Title and what to run",
            "Details",
        ],
        rows: blocks,
        empty: "No open block is about this host.",
    }
    .render(body);
}

/// Verify history: a strip of runs, oldest first, with the last pass and
/// the first failure of the current streak.
fn verify_strip(state: &FleetState, h: &HostState, body: &mut String) {
    let _ = writeln!(body, "<h2>Verify history</h2>");
    if h.verify_runs.is_empty() {
        body.push_str("<p class=\"none\">No verify run recorded.</p>\n");
        return;
    }
    let last_pass = h.verify_runs.iter().rev().find(|r| r.passed);
    let first_fail = h.verify_runs.iter().rev().take_while(|r| !r.passed).last();
    let _ = writeln!(
        body,
        "<p>Last pass: {}. First failure of the current streak: {}.</p>",
        last_pass.map_or("never".into(), |r| when(&r.at, state.as_of)),
        first_fail.map_or("none, the last run passed".into(), |r| when(
            &r.at,
            state.as_of
        ))
    );
    body.push_str("<ol class=\"strip\" aria-label=\"verify runs, oldest first\">\n");
    // The strip stays readable: the last 50 runs.
    let from = h.verify_runs.len().saturating_sub(50);
    for r in &h.verify_runs[from..] {
        let _ = writeln!(
            body,
            "<li title=\"{}\">{}</li>",
            esc(&r.at),
            if r.passed { "✓ pass" } else { "✗ FAIL" }
        );
    }
    body.push_str("</ol>\n");
}

/// The series the host takes, with their verdicts and probes.
fn series_table(state: &FleetState, h: &HostState, body: &mut String) {
    let Some(plan) = &h.plan else {
        let _ = writeln!(
            body,
            "<h2>Series</h2>\n<p class=\"none\">The host takes no patches (no kernel: section, or an infra host without opt_in).</p>"
        );
        return;
    };
    let mut rows = Vec::new();
    for series in series_of(plan) {
        let campaign = state
            .series
            .get(&series)
            .and_then(|s| s.meta.as_ref())
            .map_or(NONE.into(), |m| esc(&m.campaign).to_string());
        rows.push(Row::Cells(vec![
            format!("<code>{}</code>", esc(&series)),
            campaign,
            series_verdict(state, h, &series),
            probes(state, h, &series),
        ]));
    }
    Table {
        caption: "Series",
        head: &["Series", "Campaign", "Verdict", "Probes"],
        rows,
        empty: "The host's plan takes no series.",
    }
    .render(body);
}

/// The series of a plan, in plan order, each once.
fn series_of(plan: &ka_schema::Plan) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in &plan.patches {
        if !out.contains(&p.series) {
            out.push(p.series.clone());
        }
    }
    out
}

/// Blocked, promoted or only planned.
fn series_verdict(state: &FleetState, h: &HostState, series: &str) -> String {
    if let Some(b) = blocks_series(&state.blocks, series) {
        return format!("{} ({})", alert("BLOCKED"), esc(&b.id));
    }
    let promoted = h
        .line
        .lock
        .as_ref()
        .is_some_and(|l| l.patches.iter().any(|p| p.series == series));
    if promoted {
        "<span class=\"ok\">✓ promoted</span>".into()
    } else {
        "planned, not promoted yet".into()
    }
}

/// The series' probes and what the last verify saw of each.
fn probes(state: &FleetState, h: &HostState, series: &str) -> String {
    let source = format!("patches/{series}/series.yaml");
    let results: Vec<_> = h
        .line
        .verify_report
        .iter()
        .flat_map(|r| &r.bars)
        .filter(|b| b.source.as_deref().is_some_and(|s| s.starts_with(&source)))
        .collect();
    let declared = state
        .series
        .get(series)
        .and_then(|s| s.meta.as_ref())
        .map(|m| m.probes.clone())
        .unwrap_or_default();
    if declared.is_empty() && results.is_empty() {
        return NONE.into();
    }
    let mut out = Vec::new();
    for p in &declared {
        let seen = results.iter().find(|b| &b.probe == p);
        out.push(format!(
            "<code>{}</code>: {}",
            esc(p),
            match seen {
                Some(b) if b.passed => verdict(true).to_string(),
                Some(b) => format!("{} (saw {})", verdict(false), esc(&b.actual)),
                None => "not checked yet".into(),
            }
        ));
    }
    out.join("<br>")
}

/// `jobs/<id>.html`: the job, its packages, its lock and its logs.
pub fn job_page(state: &FleetState, j: &JobState) -> String {
    let up = "../";
    let mut body = String::new();
    job_table(state, j, up, &mut body);
    packages_table(j, &mut body);
    lock_table(j, &mut body);
    job_logs(j, &mut body);
    page(&format!("Job {}", j.id), up, state.as_of, &body)
}

/// The job itself: a row per field, then what could not be read about it.
fn job_table(state: &FleetState, j: &JobState, up: &str, body: &mut String) {
    let native = native_or_cross(state, j);
    let mut rows = vec![
        Row::Cells(vec![
            "Target host".into(),
            j.target.as_deref().map_or(NONE.into(), |t| {
                match state.hosts.iter().find(|h| h.name == t) {
                    Some(h) => host_name(h, up),
                    None => esc(t).to_string(),
                }
            }),
        ]),
        Row::Cells(vec!["Build host".into(), esc(&j.build_host).to_string()]),
        Row::Cells(vec!["Native or cross".into(), native]),
        Row::Cells(vec!["Result".into(), job_result(j)]),
        Row::Cells(vec![
            "Finished".into(),
            j.finished
                .map(|f| when(&ka_core::time::rfc3339(f), state.as_of))
                .unwrap_or_else(|| NONE.into()),
        ]),
        Row::Cells(vec![
            "Duration".into(),
            j.record
                .as_ref()
                .map_or(NONE.into(), |r| duration(r.duration_ms)),
        ]),
        // ka-build does not record ccache statistics (yet): say so rather
        // than leave the reader guessing.
        Row::Cells(vec!["ccache".into(), "not recorded".into()]),
    ];
    rows.extend(j.errors.iter().map(|e| Row::Error(e.0.clone())));
    Table {
        caption: "Job",
        head: &["What", "State"],
        rows,
        empty: "",
    }
    .render(body);
}

/// The packages the job left in output/, with size and b2sum.
fn packages_table(j: &JobState, body: &mut String) {
    Table {
        caption: "Packages",
        head: &["File", "Size", "b2sum"],
        rows: j
            .packages
            .iter()
            .map(|p| {
                Row::Cells(vec![
                    esc(&p.name).to_string(),
                    p.size.to_string(),
                    format!("<code>{}</code>", esc(&p.b2sum)),
                ])
            })
            .collect(),
        empty: "No packages in output/ (the job failed, or retention archived them).",
    }
    .render(body);
}

/// The patches of the job's lock, in lock order.
fn lock_table(j: &JobState, body: &mut String) {
    Table {
        caption: "The lock's patches",
        head: &["#", "Patch", "Series", "Campaign"],
        rows: j
            .lock
            .iter()
            .flat_map(|l| &l.patches)
            .enumerate()
            .map(|(i, p)| {
                Row::Cells(vec![
                    (i + 1).to_string(),
                    format!("<code>{}</code>", esc(&p.path)),
                    esc(&p.series).to_string(),
                    esc(&p.campaign).to_string(),
                ])
            })
            .collect(),
        empty: "No lock recorded for this job (no render, or its promotion was pruned).",
    }
    .render(body);
}

/// A section per log: its size, its tail and a link to the whole copy (or a
/// line saying no log is left).
fn job_logs(j: &JobState, body: &mut String) {
    for log in &j.logs {
        let _ = writeln!(
            body,
            "<h2>{}</h2>\n<p>{} bytes; {}: <a href=\"{}\">the whole log</a>.</p>\n<pre>{}</pre>",
            esc(&log.name),
            log.size,
            if log.clipped {
                format!("its last {} lines below", log.tail.len())
            } else {
                "all of it below".into()
            },
            esc(&format!("{}/{}", j.id, log_copy_name(&log.name))),
            esc(&log.tail.join("\n"))
        );
    }
    if j.logs.is_empty() {
        body.push_str("<h2>Logs</h2>\n<p class=\"none\">No log is left for this job.</p>\n");
    }
}

/// The name a log is published under beside the job's page: `.txt`, so
/// every browser and web server shows it as text, never as a page.
pub fn log_copy_name(name: &str) -> String {
    format!("{name}.txt")
}

/// Native when the build host's architecture is the target's (as
/// ka-build's toolchain choice has it), cross otherwise.
fn native_or_cross(state: &FleetState, j: &JobState) -> String {
    let arch_of = |host: &str| {
        state
            .hosts
            .iter()
            .find(|h| h.name == host)
            .and_then(|h| h.line.manifest.as_ref())
            .map(|m| m.arch)
    };
    let target = j.target.as_deref().and_then(arch_of);
    let build = arch_of(&j.build_host);
    match (target, build) {
        (Some(t), Some(b)) if t == b => format!("native {}", esc(&format!("{t:?}").to_lowercase())),
        (Some(t), Some(b)) => format!(
            "cross: {} on {}",
            esc(&format!("{t:?}").to_lowercase()),
            esc(&format!("{b:?}").to_lowercase())
        ),
        _ => "unknown (a host's manifest is gone)".into(),
    }
}

/// `matrix.html`: series × hosts, each cell the host's verdict on the series.
pub fn matrix_page(state: &FleetState) -> String {
    let mut body = String::new();
    let hosts: Vec<&HostState> = state.hosts.iter().filter(|h| h.plan.is_some()).collect();
    let head: Vec<String> = std::iter::once("Series".to_string())
        .chain(std::iter::once("Campaign".to_string()))
        .chain(hosts.iter().map(|h| h.name.clone()))
        .collect();
    let head_refs: Vec<&str> = head.iter().map(String::as_str).collect();
    let rows = state
        .series
        .iter()
        .map(|(series, info)| {
            let mut cells = vec![
                format!("<code>{}</code>", esc(series)),
                info.meta
                    .as_ref()
                    .map_or(NONE.into(), |m| esc(&m.campaign).to_string()),
            ];
            for h in &hosts {
                let carries = h
                    .plan
                    .as_ref()
                    .is_some_and(|p| p.patches.iter().any(|x| &x.series == series));
                cells.push(if carries {
                    series_verdict(state, h, series)
                } else {
                    NONE.into()
                });
            }
            Row::Cells(cells)
        })
        .collect();
    Table {
        caption: "Which host carries which series",
        head: &head_refs,
        rows,
        empty: "No host takes any series.",
    }
    .render(&mut body);
    page("Patch matrix", "", state.as_of, &body)
}
