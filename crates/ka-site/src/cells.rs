//! The cells that say one thing about a host, the same on every page.

use crate::html::{NONE, alert, esc, link, verdict, when};
use crate::state::{FleetState, HostState, JobState};
use ka_schema::{Block, BurnInState, ProbeReport};
use ka_status::Field;
use std::fmt::Write;

/// Where a host's page is, from the site root.
pub fn host_href(host: &str) -> String {
    format!("hosts/{host}.html")
}

/// Where a job's page is, from the site root.
pub fn job_href(job: &str) -> String {
    format!("jobs/{job}.html")
}

/// A field whose file could not be read (its error row names the file).
const UNREADABLE: &str = "<span class=\"bad\">? unreadable</span>";

fn or_none(h: &HostState, field: Field, value: Option<String>) -> String {
    value.unwrap_or_else(|| {
        if h.line.unreadable.contains(&field) {
            UNREADABLE.into()
        } else {
            NONE.into()
        }
    })
}

/// The host's name, linked to its page when it has one.
pub fn host_name(h: &HostState, up: &str) -> String {
    if h.has_page() {
        link(&format!("{up}{}", host_href(&h.name)), &h.name)
    } else {
        esc(&h.name).to_string()
    }
}

pub fn role_arch(h: &HostState) -> (String, String) {
    match &h.line.manifest {
        Some(m) => (
            esc(&format!("{:?}", m.role).to_lowercase()).to_string(),
            esc(&format!("{:?}", m.arch).to_lowercase()).to_string(),
        ),
        None => (UNREADABLE.into(), UNREADABLE.into()),
    }
}

pub fn installed(h: &HostState, as_of: i64) -> String {
    let v = h.line.status.installed.as_ref().map(|i| {
        format!(
            "{}<br>{}",
            esc(&i.package_version),
            when(&i.installed_at, as_of)
        )
    });
    or_none(h, Field::Installed, v)
}

/// The newest successful build, and a newer failed one when there is one.
pub fn built(h: &HostState, state: &FleetState, up: &str) -> String {
    let mut out = or_none(
        h,
        Field::Built,
        h.line.status.built.as_ref().map(|b| {
            let text = b.package_version.as_deref().unwrap_or(&b.job);
            job_link(state, &b.job, text, up)
        }),
    );
    let ok_job = h.line.status.built.as_ref().map(|b| b.job.as_str());
    // Jobs are newest first: a failure newer than the last success shows.
    if let Some(j) = newest_job(state, &h.name)
        && j.ok() == Some(false)
        && Some(j.id.as_str()) != ok_job
    {
        let _ = write!(
            out,
            "<br>{} {}",
            alert("last build FAILED"),
            job_link(state, &j.id, &j.id, up)
        );
    }
    out
}

/// A link to a job's page when the site has one (retention may have
/// dropped it), else the text.
pub fn job_link(state: &FleetState, job: &str, text: &str, up: &str) -> String {
    if state.jobs.iter().any(|j| j.id == job) {
        link(&format!("{up}{}", job_href(job)), text)
    } else {
        esc(text).to_string()
    }
}

/// The host's newest job (build jobs are named after their target host).
pub fn newest_job<'a>(state: &'a FleetState, host: &str) -> Option<&'a JobState> {
    state
        .jobs
        .iter()
        .find(|j| j.target.as_deref() == Some(host))
}

pub fn published(h: &HostState, as_of: i64) -> String {
    let v = h
        .line
        .status
        .published
        .as_ref()
        .map(|p| format!("{}<br>{}", esc(&p.package_version), when(&p.at, as_of)));
    or_none(h, Field::Notices, v)
}

pub fn pending(h: &HostState) -> String {
    let st = &h.line.status;
    if st.installable.is_empty() {
        return or_none(h, Field::Notices, None);
    }
    let versions: Vec<String> = st
        .installable
        .iter()
        .map(|p| esc(&p.package_version).to_string())
        .collect();
    format!(
        "{}<br>run <code>ka-install {}</code>",
        versions.join(", "),
        esc(&st.host)
    )
}

pub fn drift(h: &HostState) -> String {
    if h.line.unreadable.contains(&Field::Blocks) {
        UNREADABLE.into()
    } else if h.line.status.drifted {
        alert("DRIFTED")
    } else {
        "no".into()
    }
}

/// The host's open blocks: kind, age, what to run.
pub fn blocks(h: &HostState, state: &FleetState) -> String {
    let st = &h.line.status;
    if st.blocks.is_empty() {
        return or_none(h, Field::Blocks, None);
    }
    st.blocks
        .iter()
        .map(|r| match state.blocks.iter().find(|b| b.id == r.id) {
            Some(b) => block_summary(b, state.as_of),
            None => esc(&r.id).to_string(),
        })
        .collect::<Vec<_>>()
        .join("<br>")
}

/// `⚠ host-drifted, 2d ago: run ka-install ohm converges it`.
pub fn block_summary(b: &Block, as_of: i64) -> String {
    let opened = ka_core::time::parse_time(&b.opened_at)
        .map(|t| crate::html::age(as_of - t))
        .unwrap_or_else(|_| b.opened_at.clone());
    format!(
        "{}, {}: <code>{}</code>",
        alert(b.block.as_str()),
        esc(&opened),
        esc(&hint(b))
    )
}

/// What the owner can do about a block (ka-remind's words).
pub fn hint(b: &Block) -> String {
    let host = match &b.subject {
        ka_schema::Subject::Host { host }
        | ka_schema::Subject::BuildHost { host }
        | ka_schema::Subject::Config { host, .. } => Some(host.as_str()),
        _ => None,
    };
    ka_remind::records::block_hint(b.block, host, &b.id)
}

/// Each bar of a report: `bar 1 ✓ pass`, `bar 4 ✗ FAIL`; bars without a
/// result are left out (the report's notes say why).
pub fn bars(r: &ProbeReport) -> String {
    let mut out = Vec::new();
    for bar in 1..=5u8 {
        let mut results = r.bars.iter().filter(|b| b.bar == bar).peekable();
        if results.peek().is_none() {
            continue;
        }
        let passed = results.all(|b| b.passed);
        out.push(format!("bar {bar} {}", verdict(passed)));
    }
    if out.is_empty() {
        return "no bar checked".into();
    }
    out.join(", ")
}

pub fn last_verify(h: &HostState, as_of: i64) -> String {
    let v = h
        .line
        .verify_report
        .as_ref()
        .map(|r| format!("{}<br>{}", bars(r), when(&r.at, as_of)));
    or_none(h, Field::Verify, v)
}

pub fn burn_in(h: &HostState, as_of: i64) -> String {
    let Some(b) = &h.burn_in else {
        return NONE.into();
    };
    let state = match b.state {
        BurnInState::Running => format!("running until {}", when(&b.ends_at, as_of)),
        BurnInState::Passed => verdict(true).to_string(),
        BurnInState::Failed => verdict(false).to_string(),
    };
    format!(
        "{state}<br>{} run(s), {} failed ({} {})",
        b.runs,
        b.failed_runs,
        esc(&b.package),
        esc(&b.package_version)
    )
}
