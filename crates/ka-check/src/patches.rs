//! The bytes of every patch the plans name, read once each, with their b2sum.

use ka_core::error::Error;
use ka_schema::Plan;
use std::collections::HashMap;
use std::path::PathBuf;

pub struct PatchFile {
    pub bytes: Vec<u8>,
    pub b2sum: String,
}

#[derive(Default)]
pub struct PatchStore {
    files: HashMap<PathBuf, PatchFile>,
}

impl PatchStore {
    pub fn load(plans: &[Plan]) -> Result<Self, Error> {
        let mut store = PatchStore::default();
        for plan in plans {
            for patch in &plan.patches {
                let path = plan.repo.join(&patch.path);
                if store.files.contains_key(&path) {
                    continue;
                }
                let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
                let b2sum = ka_core::hash::b2sum(&bytes);
                store.files.insert(path, PatchFile { bytes, b2sum });
            }
        }
        Ok(store)
    }

    /// A patch by its full path (as `plan.repo.join(patch.path)`).
    pub fn get(&self, path: &std::path::Path) -> &PatchFile {
        &self.files[path]
    }
}
