//! Which Gitea issue mirrors which local record: one `ka.issue-link` file per
//! record under `KA_ROOT/gitea/issues/<record kind>/<local id>.json`, written
//! atomically.

use ka_core::error::{Error, Result, contract};
use ka_core::paths::Layout;
use ka_schema::{IssueLink, IssueState, V1};
use std::path::PathBuf;

pub struct Links {
    dir: PathBuf,
}

impl Links {
    pub fn new(layout: &Layout) -> Links {
        Links {
            dir: layout.gitea().join("issues"),
        }
    }

    fn path(&self, item: &str) -> Result<PathBuf> {
        let ok_part = |s: &str| {
            !s.is_empty()
                && !s.starts_with('-')
                && s.bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        };
        match item.split_once('/') {
            Some((kind, id)) if ok_part(kind) && ok_part(id) => {
                Ok(self.dir.join(kind).join(format!("{id}.json")))
            }
            _ => Err(contract(format!(
                "invalid item id {item:?}: expected <record kind>/<local id>, e.g. block/patch-fail-0123456789ab"
            ))),
        }
    }

    pub fn get(&self, item: &str) -> Result<Option<IssueLink>> {
        let path = self.path(item)?;
        if !path.exists() {
            return Ok(None);
        }
        ka_core::stream::read_file(&path).map(Some).map_err(|e| {
            contract(format!(
                "issue link {} is corrupt: {e}; remove it and `ka-gitea flush` finds the issue again by its ka-id",
                path.display()
            ))
        })
    }

    pub fn put(&self, link: &IssueLink) -> Result<()> {
        ka_core::atomic::write_json(&self.path(&link.item)?, link)
    }

    pub fn new_link(item: &str, number: u64, title: &str, state: IssueState) -> Result<IssueLink> {
        Ok(IssueLink {
            kind: Default::default(),
            version: V1,
            item: item.to_string(),
            number,
            title: title.to_string(),
            state,
            posting: None,
            updated_at: ka_core::time::now_rfc3339()?,
        })
    }

    /// Every link, ordered by item id.
    pub fn all(&self) -> Result<Vec<IssueLink>> {
        let mut out = Vec::new();
        let kinds = match std::fs::read_dir(&self.dir) {
            Ok(k) => k,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(Error::io(&self.dir, e)),
        };
        for kind in kinds {
            let kind = kind.map_err(|e| Error::io(&self.dir, e))?.path();
            if !kind.is_dir() {
                continue;
            }
            for f in std::fs::read_dir(&kind).map_err(|e| Error::io(&kind, e))? {
                let f = f.map_err(|e| Error::io(&kind, e))?.path();
                let name = f.file_name().unwrap_or_default().to_string_lossy();
                if name.starts_with('.') || !name.ends_with(".json") {
                    continue;
                }
                out.push(ka_core::stream::read_file::<IssueLink>(&f).map_err(|e| {
                    contract(format!("issue link {} is corrupt: {e}", f.display()))
                })?);
            }
        }
        out.sort_by(|a, b| a.item.cmp(&b.item));
        Ok(out)
    }
}
