//! Sharing work across hosts. Plans on the same baseline commit often share a
//! prefix of identical patches; each distinct (prefix, patch) is applied once.
//! The plans' patch sequences form a trie walked depth-first: a child applies
//! its patch on the overlay its parent left, and rolling the overlay back to a
//! checkpoint returns to the parent for the next child. The conflict regions
//! roll back the same way.

use crate::conflicts::{Owner, track};
use crate::patches::PatchStore;
use anyhow::Context as _;
use ka_apply::{
    ApplyOptions, Checkpoint, GitTree, Overlay, Regions, RegionsCheckpoint, apply_patch,
};
use ka_schema::{Conflict, PatchCheck, Plan};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;

/// A patch as the trie tells patches apart: same file, same bytes, and the
/// same series and campaign (which decide conflicts).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    path: String,
    b2sum: String,
    series: String,
    campaign: String,
}

struct Node {
    key: Option<Key>,
    /// Where the patch bytes were read (any plan's copy: same b2sum).
    source: PathBuf,
    children: Vec<usize>,
    /// Filled by the walk: the check of this node's patch and the conflicts
    /// it raised.
    result: Option<(PatchCheck, Vec<Conflict>)>,
}

/// Per plan, in order: the patch checks and the conflicts.
pub type PlanResult = (Vec<PatchCheck>, Vec<Conflict>);

/// Check every plan, sharing the work on common prefixes; results are in the
/// order of `plans`.
pub fn check_all(plans: &[Plan], store: &PatchStore, fuzz: u32) -> anyhow::Result<Vec<PlanResult>> {
    let mut results: Vec<Option<PlanResult>> = vec![None; plans.len()];
    // Plans per baseline (git dir, commit).
    let mut groups: BTreeMap<(PathBuf, String), Vec<usize>> = BTreeMap::new();
    for (i, plan) in plans.iter().enumerate() {
        let git_dir = plan
            .baseline
            .git_dir
            .clone()
            .expect("checked by the caller");
        let commit = plan.baseline.commit.clone().expect("checked by the caller");
        groups.entry((git_dir, commit)).or_default().push(i);
    }
    for ((git_dir, commit), members) in groups {
        let mut tree = GitTree::open(&git_dir, &commit)
            .with_context(|| format!("opening the baseline of {}", plans[members[0]].host))?;
        let mut nodes = vec![Node {
            key: None,
            source: PathBuf::new(),
            children: Vec::new(),
            result: None,
        }];
        let mut paths: Vec<Vec<usize>> = Vec::new();
        for &i in &members {
            paths.push(insert(&mut nodes, &plans[i], store));
        }
        let mut overlay = Overlay::new(&mut tree);
        let walker = Walker {
            store,
            opts: ApplyOptions { fuzz },
        };
        walker.walk(&mut nodes, &mut overlay, &mut Regions::new())?;
        for (&i, path) in members.iter().zip(paths) {
            let mut checks = Vec::new();
            let mut conflicts = Vec::new();
            for n in path {
                let (check, found) = nodes[n].result.clone().expect("walked");
                checks.push(check);
                conflicts.extend(found);
            }
            results[i] = Some((checks, conflicts));
        }
    }
    Ok(results
        .into_iter()
        .map(|r| r.expect("every plan is in a group"))
        .collect())
}

/// Add a plan's patch sequence; returns the node of each of its patches.
fn insert(nodes: &mut Vec<Node>, plan: &Plan, store: &PatchStore) -> Vec<usize> {
    let mut at = 0;
    let mut path = Vec::with_capacity(plan.patches.len());
    for patch in &plan.patches {
        let key = Key {
            path: patch.path.clone(),
            b2sum: store.get(&plan.repo.join(&patch.path)).b2sum.clone(),
            series: patch.series.clone(),
            campaign: patch.campaign.clone(),
        };
        let existing = nodes[at]
            .children
            .iter()
            .copied()
            .find(|&c| nodes[c].key.as_ref() == Some(&key));
        at = match existing {
            Some(c) => c,
            None => {
                nodes.push(Node {
                    key: Some(key),
                    source: plan.repo.join(&patch.path),
                    children: Vec::new(),
                    result: None,
                });
                let c = nodes.len() - 1;
                nodes[at].children.push(c);
                c
            }
        };
        path.push(at);
    }
    path
}

struct Walker<'a> {
    store: &'a PatchStore,
    opts: ApplyOptions,
}

impl Walker<'_> {
    /// Depth-first over the trie with an explicit stack (a plan can hold
    /// thousands of patches): entering a node applies its patch and records
    /// its changed lines; leaving it rolls both back to the parent's state.
    fn walk(
        &self,
        nodes: &mut [Node],
        overlay: &mut Overlay<'_>,
        regions: &mut Regions<Rc<Owner>>,
    ) -> anyhow::Result<()> {
        struct Frame {
            node: usize,
            next_child: usize,
            undo: Option<(Checkpoint, RegionsCheckpoint)>,
        }
        let mut stack = vec![Frame {
            node: 0,
            next_child: 0,
            undo: None,
        }];
        while let Some(top) = stack.last_mut() {
            let Some(&child) = nodes[top.node].children.get(top.next_child) else {
                let done = stack.pop().expect("non-empty");
                if let Some((o, r)) = done.undo {
                    overlay.rollback(o);
                    regions.rollback(r);
                }
                continue;
            };
            top.next_child += 1;
            let undo = (overlay.checkpoint(), regions.checkpoint());
            let key = nodes[child].key.clone().expect("children have keys");
            let file = self.store.get(&nodes[child].source);
            let outcome = apply_patch(overlay, &file.bytes, &self.opts)
                .with_context(|| format!("reading the baseline for {}", key.path))?;
            let owner = Rc::new(Owner {
                patch: key.path.clone(),
                series: key.series.clone(),
                campaign: key.campaign.clone(),
            });
            let conflicts = track(regions, &owner, &outcome.changes);
            let check = PatchCheck {
                path: key.path,
                series: key.series,
                campaign: key.campaign,
                b2sum: file.b2sum.clone(),
                size: file.bytes.len() as u64,
                verdict: outcome.verdict,
                reason: outcome.reason,
                files: outcome.files,
            };
            nodes[child].result = Some((check, conflicts));
            stack.push(Frame {
                node: child,
                next_child: 0,
                undo: Some(undo),
            });
        }
        Ok(())
    }
}
