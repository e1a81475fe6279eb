//! The human views: a table of the fleet, and one host in detail.

use crate::{Field, Gathered};
use ka_schema::{Block, HostManifest, Subject};
use std::io::{self, Write};

const NONE: &str = "—";
const UNREADABLE: &str = "?";

fn ago(now: i64, at: &str) -> String {
    let Ok(t) = ka_core::time::parse_time(at) else {
        return at.to_string();
    };
    let s = now - t;
    let text = match s.abs() {
        0..60 => format!("{}s", s.abs()),
        60..3600 => format!("{}m", s.abs() / 60),
        3600..86400 => format!("{}h", s.abs() / 3600),
        _ => format!("{}d", s.abs() / 86400),
    };
    if s < 0 {
        format!("in {text}")
    } else {
        format!("{text} ago")
    }
}

fn failed(g: &Gathered, field: Field) -> bool {
    g.unreadable.contains(&field)
}

struct Row {
    cells: [String; 9],
}

/// The promotion id as the table shows it: the first 8 hex digits of the
/// lock's b2sum, as build job ids end.
fn short_id(b2sum: &str) -> &str {
    &b2sum[..b2sum.len().min(8)]
}

/// `v`, or what stands for a missing value: `?` when `source` could not be
/// read, `—` when there is nothing to show.
fn or_none(g: &Gathered, v: Option<String>, source: Field) -> String {
    v.unwrap_or_else(|| {
        if failed(g, source) {
            UNREADABLE.into()
        } else {
            NONE.into()
        }
    })
}

/// The table's line of one host, one cell per column of `table`'s header.
fn row(g: &Gathered, now: i64) -> Row {
    let st = &g.status;
    Row {
        cells: [
            st.host.clone(),
            or_none(
                g,
                st.installed.as_ref().map(|i| i.package_version.clone()),
                Field::Installed,
            ),
            promoted_cell(g, now),
            built_cell(g),
            or_none(
                g,
                st.published.as_ref().map(|p| p.package_version.clone()),
                Field::Notices,
            ),
            installable_cell(g),
            drift_cell(g),
            blocks_cell(g),
            verify_cell(g, now),
        ],
    }
}

/// PROMOTED: the promotion's short id and how long ago it was promoted.
fn promoted_cell(g: &Gathered, now: i64) -> String {
    let st = &g.status;
    or_none(
        g,
        st.promoted.as_ref().map(|h| match &st.promoted_at {
            Some(at) => format!("{} {}", short_id(h), ago(now, at)),
            None => short_id(h).to_string(),
        }),
        Field::Promoted,
    )
}

/// BUILT: the built package version, or the job when the version is unknown.
fn built_cell(g: &Gathered) -> String {
    or_none(
        g,
        g.status.built.as_ref().map(|b| {
            b.package_version
                .clone()
                .unwrap_or_else(|| format!("job {}", b.job))
        }),
        Field::Built,
    )
}

/// INSTALLABLE: the versions the host may install, comma-separated.
fn installable_cell(g: &Gathered) -> String {
    let st = &g.status;
    if st.installable.is_empty() {
        or_none(g, None, Field::Notices)
    } else {
        st.installable
            .iter()
            .map(|p| p.package_version.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// DRIFT: `DRIFTED`, `no`, or `?` when the block store could not be read
/// (drift is known from its blocks).
fn drift_cell(g: &Gathered) -> String {
    match (failed(g, Field::Blocks), g.status.drifted) {
        (true, _) => UNREADABLE.into(),
        (false, true) => "DRIFTED".into(),
        (false, false) => "no".into(),
    }
}

/// BLOCKS: the ids of the host's open blocks, comma-separated.
fn blocks_cell(g: &Gathered) -> String {
    let st = &g.status;
    if st.blocks.is_empty() {
        if failed(g, Field::Blocks) {
            UNREADABLE.into()
        } else {
            NONE.into()
        }
    } else {
        st.blocks
            .iter()
            .map(|b| b.id.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// VERIFY: pass or FAIL, and how long ago.
fn verify_cell(g: &Gathered, now: i64) -> String {
    or_none(
        g,
        g.status.verify.as_ref().map(|v| {
            format!(
                "{} {}",
                if v.passed { "pass" } else { "FAIL" },
                ago(now, &v.at)
            )
        }),
        Field::Verify,
    )
}

pub fn table(
    out: &mut impl Write,
    hosts: &[Gathered],
    blocks: &[Block],
    now: i64,
    fleet: &str,
) -> io::Result<()> {
    if hosts.is_empty() {
        return ka_core::term::say_none(out, 0, &format!("no hosts: {fleet} has no <host>.yaml"));
    }
    let header = [
        "HOST",
        "INSTALLED",
        "PROMOTED",
        "BUILT",
        "PUBLISHED",
        "INSTALLABLE",
        "DRIFT",
        "BLOCKS",
        "VERIFY",
    ];
    let rows: Vec<[String; 9]> = hosts.iter().map(|g| row(g, now).cells).collect();
    ka_core::term::table(out, &header, &rows)?;
    let patch_blocks = patch_blocks(blocks);
    if !patch_blocks.is_empty() {
        writeln!(
            out,
            "patch blocks (halt promotes of hosts that carry the patch): {}",
            patch_blocks.join(", ")
        )?;
    }
    Ok(())
}

fn patch_blocks(blocks: &[Block]) -> Vec<String> {
    blocks
        .iter()
        .filter(|b| b.state == ka_schema::BlockState::Open)
        .filter(|b| matches!(b.subject, Subject::Patch { .. } | Subject::Patches { .. }))
        .map(|b| b.id.clone())
        .collect()
}

/// One host in detail: a labelled line (or lines) per field, in the table's
/// column order, then what could not be read.
pub fn detail(out: &mut impl Write, g: &Gathered, blocks: &[Block], now: i64) -> io::Result<()> {
    let st = &g.status;
    let r = row(g, now);
    writeln!(out, "host:        {}", st.host)?;
    if let Some(m) = &g.manifest {
        writeln!(out, "manifest:    {}", manifest_detail(m))?;
    }
    writeln!(out, "promoted:    {}", promoted_detail(g, &r, now))?;
    writeln!(out, "installed:   {}", installed_detail(g, &r, now))?;
    writeln!(out, "built:       {}", built_detail(g, &r, now))?;
    for f in st.built.iter().flat_map(|b| &b.files) {
        writeln!(out, "             {}", f.display())?;
    }
    writeln!(out, "published:   {}", published_detail(g, &r, now))?;
    if st.installable.is_empty() {
        writeln!(out, "installable: {}", r.cells[5])?;
    }
    for p in &st.installable {
        writeln!(
            out,
            "installable: {} {} ({}; ka-install {})",
            p.package, p.package_version, p.id, st.host
        )?;
    }
    writeln!(out, "drifted:     {}", r.cells[6])?;
    if st.blocks.is_empty() {
        writeln!(out, "blocks:      {}", r.cells[7])?;
    }
    for b in &st.blocks {
        writeln!(out, "block:       {} {}", b.id, b.title)?;
    }
    for id in patch_blocks(blocks) {
        writeln!(
            out,
            "patch block: {id} (halts promotes that carry the patch)"
        )?;
    }
    writeln!(out, "verify:      {}", verify_detail(g, &r, now))?;
    for e in &st.errors {
        writeln!(out, "unreadable:  {e}")?;
    }
    Ok(())
}

/// The manifest line: role, arch, distro and kernel package.
fn manifest_detail(m: &HostManifest) -> String {
    let kernel = m
        .kernel
        .as_ref()
        .map(|k| k.pkgbase.as_str())
        .unwrap_or("(no kernel section)");
    format!(
        "role {}, {}, {}, package {kernel}",
        format!("{:?}", m.role).to_lowercase(),
        format!("{:?}", m.arch).to_lowercase(),
        format!("{:?}", m.distro).to_lowercase()
    )
}

/// The promotion: its id, when, and the lock's patches and baseline (the
/// table's cell when there is no promoted lock to describe).
fn promoted_detail(g: &Gathered, r: &Row, now: i64) -> String {
    let st = &g.status;
    match (&st.promoted, &g.lock) {
        (Some(h), Some(lock)) => format!(
            "{} ({}{} patch{} on baseline {}, manifest.lock b2sum {})",
            short_id(h),
            st.promoted_at
                .as_ref()
                .map(|at| format!("{}, {at}, ", ago(now, at)))
                .unwrap_or_default(),
            lock.patches.len(),
            if lock.patches.len() == 1 { "" } else { "es" },
            lock.baseline.spec.describe(),
            &h[..h.len().min(16)]
        ),
        _ => r.cells[2].clone(),
    }
}

/// The install: package, version, when and the boot it was seen in.
fn installed_detail(g: &Gathered, r: &Row, now: i64) -> String {
    match &g.status.installed {
        Some(i) => format!(
            "{} {} ({}, {}{})",
            i.package,
            i.package_version,
            ago(now, &i.installed_at),
            i.installed_at,
            i.boot_id
                .as_ref()
                .map(|b| format!(", boot {b}"))
                .unwrap_or_default()
        ),
        None => r.cells[1].clone(),
    }
}

/// The last build: version, job and when (its files follow on lines of
/// their own).
fn built_detail(g: &Gathered, r: &Row, now: i64) -> String {
    match &g.status.built {
        Some(b) => format!(
            "{} (job {}, {})",
            b.package_version.as_deref().unwrap_or("version unknown"),
            b.job,
            ago(now, &b.at)
        ),
        None => r.cells[3].clone(),
    }
}

/// The last publication: package, version and when.
fn published_detail(g: &Gathered, r: &Row, now: i64) -> String {
    match &g.status.published {
        Some(p) => format!("{} {} ({})", p.package, p.package_version, ago(now, &p.at)),
        None => r.cells[4].clone(),
    }
}

/// The last verification: pass or FAIL, when, and the bars that failed.
fn verify_detail(g: &Gathered, r: &Row, now: i64) -> String {
    match &g.status.verify {
        Some(v) => format!(
            "{} {} ({}){}",
            if v.passed { "pass" } else { "FAIL" },
            ago(now, &v.at),
            v.at,
            if v.failed_bars.is_empty() {
                String::new()
            } else {
                format!(
                    ", failed bars {}",
                    v.failed_bars
                        .iter()
                        .map(u8::to_string)
                        .collect::<Vec<_>>()
                        .join(",")
                )
            }
        ),
        None => r.cells[8].clone(),
    }
}
