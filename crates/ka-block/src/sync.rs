//! Turn a check report into blocks: a patch that does not apply files
//! `[ka:patch-fail]`; two campaigns changing the same lines (or asking for
//! different values of one config option) file `[ka:campaign-conflict]`; a
//! config value the tree asks for that does not stick files
//! `[ka:config-drop]`. Blocks on this plan's patches and this host's config
//! that the report shows resolved are lifted. Blocks on patches outside the
//! plan are left alone: this report says nothing about them.

use crate::store::{Store, block_id};
use ka_core::error::Result;
use ka_schema::{Block, BlockKind, BlockState, Check, Subject, Verdict};
use std::collections::HashSet;

#[derive(Debug, Default)]
pub struct SyncOutcome {
    pub filed: Vec<Block>,
    pub lifted: Vec<Block>,
}

pub fn sync_check(store: &Store, check: &Check) -> Result<SyncOutcome> {
    let mut out = SyncOutcome::default();
    let mut wanted: HashSet<String> = HashSet::new();
    let base = check
        .plan
        .baseline
        .commit
        .as_deref()
        .map(|c| &c[..c.len().min(12)])
        .unwrap_or("?");

    for p in &check.patches {
        if p.verdict.applies() {
            continue;
        }
        let detail = match p.verdict {
            Verdict::AlreadyApplied => format!(
                "{} is already in the baseline {} (it reverse-applies); drop it from the series",
                p.path, base
            ),
            _ => {
                let mut d = format!(
                    "{} does not apply for {} on baseline {}",
                    p.path, check.plan.host, base
                );
                for f in &p.files {
                    for h in f.hunks.iter().filter(|h| !h.verdict.applies()) {
                        d.push_str(&format!(
                            "\n  {} hunk #{}: {}",
                            f.path,
                            h.hunk,
                            h.reason.as_deref().unwrap_or("does not apply")
                        ));
                    }
                    if let Some(r) = &f.reason {
                        d.push_str(&format!("\n  {}: {r}", f.path));
                    }
                }
                if let Some(r) = &p.reason {
                    d.push_str(&format!("\n  {r}"));
                }
                d
            }
        };
        let subject = Subject::Patch {
            patch: p.path.clone(),
        };
        wanted.insert(block_id(BlockKind::PatchFail, &subject));
        out.filed
            .push(store.file(BlockKind::PatchFail, subject, &p.path, &detail)?);
    }

    for c in &check.conflicts {
        let mut patches = vec![c.first.patch.clone(), c.second.patch.clone()];
        patches.sort();
        let subject = Subject::Patches { patches };
        wanted.insert(block_id(BlockKind::CampaignConflict, &subject));
        let title = format!(
            "{} vs {} in {}",
            c.first.campaign, c.second.campaign, c.file
        );
        let detail = format!(
            "{} (campaign {}, lines {}-{}) and {} (campaign {}, lines {}-{}) change overlapping lines of {}",
            c.first.patch,
            c.first.campaign,
            c.first.lines.0,
            c.first.lines.1,
            c.second.patch,
            c.second.campaign,
            c.second.lines.0,
            c.second.lines.1,
            c.file
        );
        out.filed
            .push(store.file(BlockKind::CampaignConflict, subject, &title, &detail)?);
    }

    let host = &check.plan.host;
    if let Some(config) = &check.config {
        for c in &config.conflicts {
            let mut patches = vec![c.first.file.clone(), c.second.file.clone()];
            patches.sort();
            let subject = Subject::Patches { patches };
            wanted.insert(block_id(BlockKind::CampaignConflict, &subject));
            let title = format!(
                "{} vs {} on {}",
                c.first.campaign.as_deref().unwrap_or("?"),
                c.second.campaign.as_deref().unwrap_or("?"),
                c.option
            );
            let detail = format!(
                "{} asks {}={} (campaign {}) and {} asks {}={} (campaign {}); agree on one value, or keep the option in one fragment",
                c.first,
                c.option,
                c.first_value,
                c.first.campaign.as_deref().unwrap_or("?"),
                c.second,
                c.option,
                c.second_value,
                c.second.campaign.as_deref().unwrap_or("?"),
            );
            out.filed
                .push(store.file(BlockKind::CampaignConflict, subject, &title, &detail)?);
        }
        for d in config.drops.iter().filter(|d| d.halts) {
            let subject = Subject::Config {
                host: host.clone(),
                option: d.option.clone(),
            };
            wanted.insert(block_id(BlockKind::ConfigDrop, &subject));
            let title = format!(
                "{}={} asked by {} is {} on {host}",
                d.option,
                d.requested,
                d.at.series.as_deref().unwrap_or(&d.at.file),
                d.actual
            );
            let mut detail = format!(
                "{} asks {}={}; the final config of {host} (baseline {base}, ARCH={}) has {}: {}",
                d.at, d.option, d.requested, config.arch, d.actual, d.reason
            );
            if let Some(c) = &d.condition {
                detail.push_str(&format!("\n  condition: {c}"));
            }
            if !d.blocking.is_empty() {
                detail.push_str(&format!("\n  because: {}", d.blocking.join(", ")));
            }
            out.filed
                .push(store.file(BlockKind::ConfigDrop, subject, &title, &detail)?);
        }
    }

    // Lift what this report proves resolved.
    let mut in_plan: HashSet<&str> = check.plan.patches.iter().map(|p| p.path.as_str()).collect();
    if let Some(config) = &check.plan.config {
        in_plan.extend(config.fragments.iter().map(|f| f.path.as_str()));
    }
    for b in store.open_blocks()? {
        if wanted.contains(&b.id) || b.state != BlockState::Open {
            continue;
        }
        let resolved = match (&b.block, &b.subject) {
            (BlockKind::PatchFail, Subject::Patch { patch }) => in_plan.contains(patch.as_str()),
            (BlockKind::CampaignConflict, Subject::Patches { patches }) => {
                patches.iter().all(|p| in_plan.contains(p.as_str()))
            }
            // this host's config was checked (or it has none any more)
            (BlockKind::ConfigDrop, Subject::Config { host: h, .. }) => {
                h == host && (check.config.is_some() || check.plan.config.is_none())
            }
            _ => false,
        };
        if resolved {
            let reason = match b.block {
                BlockKind::ConfigDrop => format!(
                    "the value sticks, or is no longer asked for, in the config of {host} on baseline {base}"
                ),
                _ => format!("applies cleanly again in the plan of {host} on baseline {base}"),
            };
            out.lifted.push(store.lift(&b.id, &reason)?);
        }
    }
    Ok(out)
}
