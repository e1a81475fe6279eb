//! Writing the site as a generation: the pages go into a new folder beside
//! the live one, `<parent>/.<name>.generations/<id>/`, and the live path —
//! a symlink, as for the package repository (ka-sign) — is swapped to it by
//! one rename. A reader sees the old site or the new one, never a mix; a
//! failure leaves the old one in place. `<id>` is the digest of the content,
//! so the same state gives the same generation and nothing is rewritten.

use ka_core::atomic;
use ka_core::error::{Error, Result, usage};
use ka_core::hash::{B2Hasher, b2sum, file_digest};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// One file of the site.
pub enum SiteFile {
    Page(String),
    /// A copy of a state file (a whole build log).
    Copy(PathBuf),
}

/// Every file of the site by its path inside the site (`/`-separated).
#[derive(Default)]
pub struct SitePlan {
    pub files: BTreeMap<String, SiteFile>,
}

/// Generations kept: the live one and the one before it, which a reader
/// may still be loading pages from.
const KEEP: usize = 2;

/// What [`publish`] did.
pub struct Published {
    pub generation: String,
    pub changed: bool,
}

impl SitePlan {
    /// The content's digest, first 16 hex digits: the generation's name.
    fn id(&self) -> Result<String> {
        let mut h = B2Hasher::default();
        for (path, file) in &self.files {
            let sum = match file {
                SiteFile::Page(text) => b2sum(text.as_bytes()),
                SiteFile::Copy(from) => file_digest(from)?.1,
            };
            h.update(format!("{sum}  {path}\n").as_bytes());
        }
        Ok(h.finish()[..16].to_string())
    }

    /// Write every file into `dir` (which must not exist) and fsync it.
    fn write_into(&self, dir: &Path) -> Result<()> {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let mut folders = vec![dir.to_path_buf()];
        for (rel, file) in &self.files {
            let path = dir.join(rel);
            let parent = path.parent().expect("site files live in a folder");
            if !parent.exists() {
                fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
                folders.push(parent.to_path_buf());
            }
            match file {
                SiteFile::Page(text) => atomic::create_synced(&path, text.as_bytes())?,
                // Copied, not linked: the log of a job may still grow, and a
                // generation must not change after the swap.
                SiteFile::Copy(from) => {
                    fs::copy(from, &path).map_err(|e| Error::io(from, e))?;
                }
            }
        }
        for f in folders.iter().rev() {
            atomic::sync_dir(f)?;
        }
        Ok(())
    }
}

/// Where the generations of the live path `out` are kept.
pub fn generations_dir(out: &Path) -> Result<PathBuf> {
    let name = out
        .file_name()
        .ok_or_else(|| usage(format!("--out {}: name a folder", out.display())))?;
    Ok(parent(out).join(format!(".{}.generations", name.to_string_lossy())))
}

fn parent(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Make `plan` the site at `out`.
pub fn publish(plan: &SitePlan, out: &Path) -> Result<Published> {
    let gens = generations_dir(out)?;
    let id = plan.id()?;
    let base = gens.file_name().expect("named above").to_owned();
    let target = PathBuf::from(&base).join(&id);
    let live = fs::symlink_metadata(out);
    match &live {
        // A first run may be given an empty folder made for it.
        Ok(m) if m.is_dir() && fs::remove_dir(out).is_err() => {
            return Err(usage(format!(
                "{} is a folder, not a symlink: ka-site swaps a symlink to the site's \
                 current generation; move it away or choose another --out",
                out.display()
            )));
        }
        Ok(m) if !m.is_dir() && !m.file_type().is_symlink() => {
            return Err(usage(format!(
                "{} is a file; --out names the site's folder (a symlink ka-site manages)",
                out.display()
            )));
        }
        _ => {}
    }
    let dir = gens.join(&id);
    let unchanged = fs::read_link(out).is_ok_and(|t| t == target) && dir.is_dir();
    if !unchanged {
        fs::create_dir_all(&gens).map_err(|e| Error::io(&gens, e))?;
        let tmp = gens.join(format!(".tmp-{id}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&tmp);
        if let Err(e) = plan.write_into(&tmp) {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
        // A generation of the same content left by an interrupted run is
        // replaced whole.
        atomic::replace_dir(&tmp, &dir)?;
        atomic::replace_symlink(&target, out)?;
    }
    prune(&gens, &id)?;
    Ok(Published {
        generation: id,
        changed: !unchanged,
    })
}

/// Remove generations beyond [`KEEP`] (the oldest first, never `live`) and
/// temp folders of runs that died.
fn prune(gens: &Path, live: &str) -> Result<()> {
    let mut old = Vec::new();
    for entry in fs::read_dir(gens).map_err(|e| Error::io(gens, e))? {
        let entry = entry.map_err(|e| Error::io(gens, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(".tmp-") && !name.ends_with(&format!("-{}", std::process::id())) {
            let _ = fs::remove_dir_all(entry.path());
        } else if name != live && !name.starts_with('.') {
            let modified = entry
                .metadata()
                .and_then(|m| m.modified())
                .map_err(|e| Error::io(entry.path(), e))?;
            old.push((modified, entry.path()));
        }
    }
    old.sort();
    let drop = old.len().saturating_sub(KEEP - 1);
    for (_, path) in old.into_iter().take(drop) {
        fs::remove_dir_all(&path).map_err(|e| Error::io(&path, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(text: &str) -> SitePlan {
        let mut p = SitePlan::default();
        p.files
            .insert("index.html".into(), SiteFile::Page(text.into()));
        p.files
            .insert("hosts/ohm.html".into(), SiteFile::Page("ohm".into()));
        p
    }

    #[test]
    fn a_new_generation_is_swapped_in_and_the_one_before_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("site");
        let a = publish(&plan("a"), &out).unwrap();
        assert!(a.changed);
        assert_eq!(fs::read_to_string(out.join("index.html")).unwrap(), "a");
        let again = publish(&plan("a"), &out).unwrap();
        assert!(!again.changed);
        assert_eq!(again.generation, a.generation);
        publish(&plan("b"), &out).unwrap();
        publish(&plan("c"), &out).unwrap();
        assert_eq!(
            fs::read_to_string(out.join("hosts/ohm.html")).unwrap(),
            "ohm"
        );
        let gens = generations_dir(&out).unwrap();
        let mut names: Vec<_> = fs::read_dir(&gens)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
        let siblings: Vec<_> = fs::read_dir(tmp.path()).unwrap().collect();
        assert_eq!(siblings.len(), 2, "only the link and the generations");
    }

    #[test]
    fn a_folder_with_content_is_not_replaced() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("site");
        fs::create_dir(&out).unwrap();
        fs::write(out.join("keep.txt"), "x").unwrap();
        let e = publish(&plan("a"), &out).err().unwrap();
        assert!(e.to_string().contains("is a folder, not a symlink"), "{e}");
        assert!(out.join("keep.txt").exists());
        // an empty one, made for the first run, is taken
        fs::remove_file(out.join("keep.txt")).unwrap();
        publish(&plan("a"), &out).unwrap();
        assert!(fs::symlink_metadata(&out).unwrap().file_type().is_symlink());
    }
}
