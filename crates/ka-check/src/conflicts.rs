//! Campaign conflicts: a patch changing lines that a patch of another
//! campaign changed earlier in the same plan.

use ka_apply::{FileChanges, Regions};
use ka_schema::{Conflict, ConflictSide, FileOperation};
use std::rc::Rc;

/// Who changed a span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub patch: String,
    pub series: String,
    pub campaign: String,
}

/// Check the changes of one applied patch against the earlier ones, then
/// record them. Returns the conflicts, one per (earlier patch, file).
pub fn track(
    regions: &mut Regions<Rc<Owner>>,
    owner: &Rc<Owner>,
    files: &[FileChanges],
) -> Vec<Conflict> {
    let mut conflicts: Vec<Conflict> = Vec::new();
    for file in files {
        if let (FileOperation::Rename, Some(from)) = (file.operation, &file.from) {
            regions.rename(from, &file.path);
        }
        for hit in regions.overlapping(&file.path, &file.changes) {
            if hit.owner.campaign == owner.campaign {
                continue;
            }
            let seen = conflicts
                .iter()
                .any(|c| c.file == file.path && c.first.patch == hit.owner.patch);
            if seen {
                continue;
            }
            let new = hit.change.new_span();
            conflicts.push(Conflict {
                file: file.path.clone(),
                first: side(hit.owner, (hit.original.first, hit.original.last)),
                second: side(owner, (new.first, new.last)),
            });
        }
        if file.operation == FileOperation::Delete {
            regions.remove(&file.path);
        } else {
            regions.record(&file.path, &file.changes, owner);
        }
    }
    conflicts
}

fn side(owner: &Owner, lines: (usize, usize)) -> ConflictSide {
    ConflictSide {
        patch: owner.patch.clone(),
        series: owner.series.clone(),
        campaign: owner.campaign.clone(),
        lines,
    }
}
