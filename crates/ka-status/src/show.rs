//! The human views: a table of the fleet, and one host in detail.

use crate::{Field, Gathered};
use ka_schema::{Block, Subject};
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

fn row(g: &Gathered, now: i64) -> Row {
    let st = &g.status;
    let or_none = |v: Option<String>, source: Field| {
        v.unwrap_or_else(|| {
            if failed(g, source) {
                UNREADABLE.into()
            } else {
                NONE.into()
            }
        })
    };
    let installed = or_none(
        st.installed.as_ref().map(|i| i.package_version.clone()),
        Field::Installed,
    );
    let promoted = or_none(
        st.promoted.as_ref().map(|h| match &st.promoted_at {
            Some(at) => format!("{} {}", short_id(h), ago(now, at)),
            None => short_id(h).to_string(),
        }),
        Field::Promoted,
    );
    let built = or_none(
        st.built.as_ref().map(|b| {
            b.package_version
                .clone()
                .unwrap_or_else(|| format!("job {}", b.job))
        }),
        Field::Built,
    );
    let published = or_none(
        st.published.as_ref().map(|p| p.package_version.clone()),
        Field::Notices,
    );
    let installable = if st.installable.is_empty() {
        or_none(None, Field::Notices)
    } else {
        st.installable
            .iter()
            .map(|p| p.package_version.as_str())
            .collect::<Vec<_>>()
            .join(",")
    };
    let store_bad = failed(g, Field::Blocks);
    let drift = match (store_bad, st.drifted) {
        (true, _) => UNREADABLE.into(),
        (false, true) => "DRIFTED".into(),
        (false, false) => "no".into(),
    };
    let blocks = if st.blocks.is_empty() {
        if store_bad {
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
    };
    let verify = or_none(
        st.verify.as_ref().map(|v| {
            format!(
                "{} {}",
                if v.passed { "pass" } else { "FAIL" },
                ago(now, &v.at)
            )
        }),
        Field::Verify,
    );
    Row {
        cells: [
            st.host.clone(),
            installed,
            promoted,
            built,
            published,
            installable,
            drift,
            blocks,
            verify,
        ],
    }
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

pub fn detail(out: &mut impl Write, g: &Gathered, blocks: &[Block], now: i64) -> io::Result<()> {
    let st = &g.status;
    let r = row(g, now);
    writeln!(out, "host:        {}", st.host)?;
    if let Some(m) = &g.manifest {
        let kernel = m
            .kernel
            .as_ref()
            .map(|k| k.pkgbase.as_str())
            .unwrap_or("(no kernel section)");
        writeln!(
            out,
            "manifest:    role {}, {}, {}, package {kernel}",
            format!("{:?}", m.role).to_lowercase(),
            format!("{:?}", m.arch).to_lowercase(),
            format!("{:?}", m.distro).to_lowercase()
        )?;
    }
    match (&st.promoted, &g.lock) {
        (Some(h), Some(lock)) => writeln!(
            out,
            "promoted:    {} ({}{} patch{} on baseline {}, manifest.lock b2sum {})",
            short_id(h),
            st.promoted_at
                .as_ref()
                .map(|at| format!("{}, {at}, ", ago(now, at)))
                .unwrap_or_default(),
            lock.patches.len(),
            if lock.patches.len() == 1 { "" } else { "es" },
            lock.baseline.spec.describe(),
            &h[..h.len().min(16)]
        )?,
        _ => writeln!(out, "promoted:    {}", r.cells[2])?,
    }
    match &st.installed {
        Some(i) => writeln!(
            out,
            "installed:   {} {} ({}, {}{})",
            i.package,
            i.package_version,
            ago(now, &i.installed_at),
            i.installed_at,
            i.boot_id
                .as_ref()
                .map(|b| format!(", boot {b}"))
                .unwrap_or_default()
        )?,
        None => writeln!(out, "installed:   {}", r.cells[1])?,
    }
    match &st.built {
        Some(b) => {
            writeln!(
                out,
                "built:       {} (job {}, {})",
                b.package_version.as_deref().unwrap_or("version unknown"),
                b.job,
                ago(now, &b.at)
            )?;
            for f in &b.files {
                writeln!(out, "             {}", f.display())?;
            }
        }
        None => writeln!(out, "built:       {}", r.cells[3])?,
    }
    match &st.published {
        Some(p) => writeln!(
            out,
            "published:   {} {} ({})",
            p.package,
            p.package_version,
            ago(now, &p.at)
        )?,
        None => writeln!(out, "published:   {}", r.cells[4])?,
    }
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
    match &st.verify {
        Some(v) => writeln!(
            out,
            "verify:      {} {} ({}){}",
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
        )?,
        None => writeln!(out, "verify:      {}", r.cells[8])?,
    }
    for e in &st.errors {
        writeln!(out, "unreadable:  {e}")?;
    }
    Ok(())
}
