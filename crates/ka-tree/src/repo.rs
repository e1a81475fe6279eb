//! The fleet repository as the tree verbs see it: every series (with the text
//! of its series.yaml), every manifest (with its text), and checked rewrites.

use ka_core::error::{Error, Result, contract, usage};
use ka_schema::{HostManifest, SeriesMeta, parse_yaml};
use std::fs;
use std::path::{Path, PathBuf};

pub struct Repo {
    pub root: PathBuf,
}

#[derive(Debug, Clone)]
pub struct SeriesInfo {
    /// `<scope>/<series>`, the path under `patches/`.
    pub reference: String,
    pub meta: SeriesMeta,
    pub text: String,
    /// Repository-relative paths of its patch files, in name order.
    pub patches: Vec<String>,
}

impl SeriesInfo {
    pub fn dir(&self) -> String {
        format!("patches/{}", self.reference)
    }
    pub fn yaml(&self) -> String {
        format!("patches/{}/series.yaml", self.reference)
    }
    /// The scope the folder says (the reference minus the series name).
    pub fn folder_scope(&self) -> &str {
        self.reference
            .rsplit_once('/')
            .map(|(s, _)| s)
            .unwrap_or("")
    }
}

#[derive(Debug, Clone)]
pub struct ManifestInfo {
    /// `fleet/<host>.yaml`
    pub rel: String,
    pub text: String,
    pub manifest: HostManifest,
}

pub fn is_patch_name(name: &str) -> bool {
    name.ends_with(".patch") || name.ends_with(".diff")
}

impl Repo {
    pub fn new(flag: Option<&Path>) -> Result<Repo> {
        let root = ka_core::paths::fleet_repo(flag)?;
        if !root.join("patches").is_dir() {
            return Err(usage(format!(
                "{}: no patches/ folder; create it (mkdir patches) or pass --repo DIR",
                root.display()
            )));
        }
        Ok(Repo { root })
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    pub fn exists(&self, rel: &str) -> bool {
        fs::symlink_metadata(self.path(rel)).is_ok()
    }

    pub fn read_text(&self, rel: &str) -> Result<String> {
        let p = self.path(rel);
        let bytes = fs::read(&p).map_err(|e| Error::io(&p, e))?;
        String::from_utf8(bytes).map_err(|_| contract(format!("{rel}: not UTF-8 text")))
    }

    /// Every series under `top` (`patches` or `archive/patches`), in path order.
    pub fn series_under(&self, top: &str) -> Result<Vec<SeriesInfo>> {
        let mut out = Vec::new();
        let dir = self.path(top);
        if dir.is_dir() {
            self.walk(top, "", &mut out)?;
        }
        Ok(out)
    }

    pub fn series(&self) -> Result<Vec<SeriesInfo>> {
        self.series_under("patches")
    }

    fn walk(&self, top: &str, rel: &str, out: &mut Vec<SeriesInfo>) -> Result<()> {
        let dir = self.path(&join(top, rel));
        let mut names = Vec::new();
        for entry in fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
            let entry = entry.map_err(|e| Error::io(&dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.starts_with('.') && entry.path().is_dir() {
                names.push(name);
            }
        }
        names.sort();
        for name in names {
            let child = join(rel, &name);
            let full = join(top, &child);
            if self.path(&full).join("series.yaml").is_file() {
                let yaml = format!("{full}/series.yaml");
                let text = self.read_text(&yaml)?;
                let meta = SeriesMeta::load(&self.path(&yaml), &yaml)?;
                let mut patches = Vec::new();
                let sdir = self.path(&full);
                for entry in fs::read_dir(&sdir).map_err(|e| Error::io(&sdir, e))? {
                    let entry = entry.map_err(|e| Error::io(&sdir, e))?;
                    let n = entry.file_name().to_string_lossy().into_owned();
                    if is_patch_name(&n) && entry.path().is_file() {
                        patches.push(format!("{full}/{n}"));
                    }
                }
                patches.sort();
                out.push(SeriesInfo {
                    reference: child,
                    meta,
                    text,
                    patches,
                });
            } else {
                self.walk(top, &child, out)?;
            }
        }
        Ok(())
    }

    /// Every `fleet/<host>.yaml`, in name order.
    pub fn manifests(&self) -> Result<Vec<ManifestInfo>> {
        let dir = self.path("fleet");
        let mut names = Vec::new();
        for entry in fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
            let entry = entry.map_err(|e| Error::io(&dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".yaml") && entry.path().is_file() {
                names.push(name);
            }
        }
        names.sort();
        let mut out = Vec::new();
        for name in names {
            let rel = format!("fleet/{name}");
            let text = self.read_text(&rel)?;
            let manifest = HostManifest::load(&self.path(&rel), &rel)?;
            out.push(ManifestInfo {
                rel,
                text,
                manifest,
            });
        }
        Ok(out)
    }
}

fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}/{b}"),
    }
}

/// Check that `new_text` parses and means exactly `expected`; the error says
/// the file is left alone and must be edited by hand.
pub fn verify<T>(rel: &str, new_text: &str, expected: &T) -> Result<()>
where
    T: serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let parsed: T = parse_yaml(new_text, rel).map_err(|e| {
        contract(format!(
            "{rel}: the line-wise rewrite would not parse ({e}); nothing was changed: edit the file by hand"
        ))
    })?;
    if &parsed != expected {
        return Err(contract(format!(
            "{rel}: the line-wise rewrite would not mean what was intended; nothing was changed: edit the file by hand"
        )));
    }
    Ok(())
}

/// `reference` after moving `from` to `to`: unchanged unless it is `from` or below it.
pub fn moved_ref(reference: &str, from: &str, to: &str) -> Option<String> {
    if reference == from {
        Some(to.to_string())
    } else {
        reference
            .strip_prefix(from)
            .and_then(|rest| rest.strip_prefix('/'))
            .map(|rest| format!("{to}/{rest}"))
    }
}

/// A unified diff of one file for previews (`similar`).
pub fn unified_diff(rel: &str, old: &str, new: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(2)
        .header(&format!("a/{rel}"), &format!("b/{rel}"))
        .to_string()
}

/// Does this host take the series `reference` (whose folder scope is `scope`)?
/// The manifest's own rule (`ka-resolve(1)`): a listed scope or an include,
/// minus excludes.
pub fn takes(m: &HostManifest, reference: &str, scope: &str) -> bool {
    (m.scopes.iter().any(|s| s == scope) || m.include.iter().any(|i| i == reference))
        && !m.exclude.iter().any(|e| e == reference)
}
