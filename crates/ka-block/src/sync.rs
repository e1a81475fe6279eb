//! Turn a check report into blocks: a patch that does not apply files
//! `[ka:patch-fail]`; two campaigns changing the same lines file
//! `[ka:campaign-conflict]`. Blocks on this plan's patches that the report shows
//! resolved are lifted. Blocks on patches outside the plan are left alone: this
//! report says nothing about them.

use crate::store::{Store, block_id};
use ka_core::docs::{Block, BlockKind, BlockState, Check, Subject, Verdict};
use ka_core::error::Result;
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

    // Lift what this report proves resolved.
    let in_plan: HashSet<&str> = check.plan.patches.iter().map(|p| p.path.as_str()).collect();
    for b in store.open_blocks()? {
        if wanted.contains(&b.id) || b.state != BlockState::Open {
            continue;
        }
        let resolved = match (&b.block, &b.subject) {
            (BlockKind::PatchFail, Subject::Patch { patch }) => in_plan.contains(patch.as_str()),
            (BlockKind::CampaignConflict, Subject::Patches { patches }) => {
                patches.iter().all(|p| in_plan.contains(p.as_str()))
            }
            _ => false,
        };
        if resolved {
            let reason = format!(
                "applies cleanly again in the plan of {} on baseline {base}",
                check.plan.host
            );
            out.lifted.push(store.lift(&b.id, &reason)?);
        }
    }
    Ok(out)
}
