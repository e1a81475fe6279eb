//! Turn a check report into blocks: a patch that does not apply files
//! `[ka:patch-fail]`; two campaigns changing the same lines (or asking for
//! different values of one config option) file `[ka:campaign-conflict]`; a
//! config value the tree asks for that does not stick files
//! `[ka:config-drop]`. Blocks on this plan's patches and this host's config
//! that the report shows resolved are lifted. Blocks on patches outside the
//! plan are left alone: this report says nothing about them.

use crate::store::{Store, block_id};
use ka_core::error::Result;
use ka_schema::{Block, BlockKind, BlockState, Check, ConfigCheck, Subject, Verdict};
use std::collections::HashSet;

#[derive(Debug, Default)]
pub struct SyncOutcome {
    pub filed: Vec<Block>,
    pub lifted: Vec<Block>,
}

/// File what `check` shows broken, then lift what it shows resolved.
pub fn sync_check(store: &Store, check: &Check) -> Result<SyncOutcome> {
    let base = check
        .plan
        .baseline
        .commit
        .as_deref()
        .map(|c| &c[..c.len().min(12)])
        .unwrap_or("?");
    let mut filing = Filing {
        store,
        wanted: HashSet::new(),
        filed: Vec::new(),
    };
    patch_failures(&mut filing, check, base)?;
    patch_conflicts(&mut filing, check)?;
    if let Some(config) = &check.config {
        config_conflicts(&mut filing, config)?;
        config_drops(&mut filing, &check.plan.host, config, base)?;
    }
    let lifted = lift_resolved(store, check, base, &filing.wanted)?;
    Ok(SyncOutcome {
        filed: filing.filed,
        lifted,
    })
}

/// The blocks this report files, and their ids (which are not lifted).
struct Filing<'a> {
    store: &'a Store,
    wanted: HashSet<String>,
    filed: Vec<Block>,
}

impl Filing<'_> {
    fn file(&mut self, kind: BlockKind, subject: Subject, title: &str, detail: &str) -> Result<()> {
        self.wanted.insert(block_id(kind, &subject));
        self.filed
            .push(self.store.file(kind, subject, title, detail)?);
        Ok(())
    }

    /// `[ka:campaign-conflict]` on two files (patches or fragments), named
    /// in sorted order so either side files the same block.
    fn conflict(&mut self, a: &str, b: &str, title: &str, detail: &str) -> Result<()> {
        let mut patches = vec![a.to_string(), b.to_string()];
        patches.sort();
        self.file(
            BlockKind::CampaignConflict,
            Subject::Patches { patches },
            title,
            detail,
        )
    }
}

/// `[ka:patch-fail]` for every patch that does not apply (or is already in).
fn patch_failures(filing: &mut Filing<'_>, check: &Check, base: &str) -> Result<()> {
    for p in check.patches.iter().filter(|p| !p.verdict.applies()) {
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
        filing.file(BlockKind::PatchFail, subject, &p.path, &detail)?;
    }
    Ok(())
}

/// `[ka:campaign-conflict]` for two campaigns' patches changing the same lines.
fn patch_conflicts(filing: &mut Filing<'_>, check: &Check) -> Result<()> {
    for c in &check.conflicts {
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
        filing.conflict(&c.first.patch, &c.second.patch, &title, &detail)?;
    }
    Ok(())
}

/// `[ka:campaign-conflict]` for two campaigns' fragments asking different
/// values of one option.
fn config_conflicts(filing: &mut Filing<'_>, config: &ConfigCheck) -> Result<()> {
    for c in &config.conflicts {
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
        filing.conflict(&c.first.file, &c.second.file, &title, &detail)?;
    }
    Ok(())
}

/// `[ka:config-drop]` for every halting value that did not stick.
fn config_drops(
    filing: &mut Filing<'_>,
    host: &str,
    config: &ConfigCheck,
    base: &str,
) -> Result<()> {
    for d in config.drops.iter().filter(|d| d.halts) {
        let subject = Subject::Config {
            host: host.to_string(),
            option: d.option.clone(),
        };
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
        filing.file(BlockKind::ConfigDrop, subject, &title, &detail)?;
    }
    Ok(())
}

/// Lift the open blocks this report proves resolved: on a patch or fragment
/// of this plan, or on this host's checked config, and not filed again now.
fn lift_resolved(
    store: &Store,
    check: &Check,
    base: &str,
    wanted: &HashSet<String>,
) -> Result<Vec<Block>> {
    let host = &check.plan.host;
    let mut in_plan: HashSet<&str> = check.plan.patches.iter().map(|p| p.path.as_str()).collect();
    if let Some(config) = &check.plan.config {
        in_plan.extend(config.fragments.iter().map(|f| f.path.as_str()));
    }
    let mut lifted = Vec::new();
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
            lifted.push(store.lift(&b.id, &reason)?);
        }
    }
    Ok(lifted)
}
