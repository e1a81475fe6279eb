//! `ka-resolve`: a host manifest plus the scope-tagged patch tree become a plan,
//! the ordered list of patches the host's kernel carries.
//!
//! Order (documented in `ka-resolve(1)`):
//! 1. series selected by `scopes:`, by scope kind (arch, soc, module, board,
//!    driver, subsystem), then scope path, then series name;
//! 2. then series named by `include:`, in the order written;
//! 3. minus series named by `exclude:`;
//! 4. then reordered so every series comes after the series its `after:` names
//!    (a stable topological sort: otherwise the order above holds; a cycle is an error);
//! 5. within a series, patch files in name order.

use anyhow::Context;
use clap::{CommandFactory, Parser};
use ka_core::args::RepoArg;
use ka_core::error::{Error, ExitCode, negative};
use ka_core::hash::b2sum;
use ka_core::names::{check_file_name, scope_rank};
use ka_schema::{Baseline, Plan, PlanConfig, PlannedFragment, PlannedPatch, Selection, V1};
use ka_schema::{HostManifest, Role, SeriesMeta, check_series_ref};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The file name of a config fragment in a scope or series folder.
pub const FRAGMENT: &str = "fragment.config";

#[derive(Parser, Debug)]
#[command(
    name = "ka-resolve",
    version,
    about = "Resolve a host manifest and the patch tree into an ordered plan (ka.plan)",
    long_about = "Reads fleet/<host>.yaml and the scope-tagged tree under patches/, and writes \
one ka.plan document per host on stdout: the patches the host's kernel carries, in \
application order, each with its scope, series, campaign and size.\n\n\
Order: series selected by scopes (by scope kind arch, soc, module, board, driver, \
subsystem; then scope path; then series name), then included series in the order \
written, minus excluded series, then stably reordered so that every series follows \
the series its `after:` names. Patches of a series apply in file-name order.\n\n\
Refused (exit 1): an infra host without `opt_in: true`; a host without a kernel \
section; an unknown scope, include or exclude; a patch outside any series or a series \
without series.yaml (no scope tag); a series whose tag disagrees with its folder; the \
same patch twice; an `after:` cycle. A host the fleet does not have exits 2, naming the \
fleet's hosts. Malformed or unknown YAML keys exit 3 naming file:line:column (an error \
quotes at most 200 characters of the input)."
)]
pub struct Cli {
    /// The host to resolve (fleet/<HOST>.yaml).
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub host: Option<String>,
    /// Resolve every host that has a kernel section and may be targeted. Infra
    /// hosts without opt-in are skipped (with a note on stderr).
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub repo: RepoArg,
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let repo = cli.repo.repo()?;
    let tree = Tree::new(&repo)?;
    if let Some(host) = &cli.host {
        let plan = tree.resolve(host)?;
        ka_core::stream::write_docs(&[plan]).context("stdout")?;
        return Ok(ExitCode::Ok);
    }
    // --all: one host's broken manifest halts that host, not the fleet.
    let mut plans = Vec::new();
    let mut worst = ExitCode::Ok;
    for host in tree.hosts()? {
        match tree.resolve_for_fleet(&host) {
            Ok(Some(plan)) => plans.push(plan),
            Ok(None) => {}
            Err(e) => {
                eprintln!(
                    "ka-resolve: error: {}",
                    ka_core::error::clip_quoted(&e.to_string())
                );
                worst = worst.max(e.exit_code());
            }
        }
    }
    ka_core::stream::write_docs(&plans).context("stdout")?;
    Ok(worst)
}

/// The fleet repository's manifests and patch tree.
pub struct Tree {
    repo: PathBuf,
    patches: PathBuf,
    /// `patches/` with symlinks resolved: every patch must live inside it.
    patches_real: PathBuf,
}

/// One series folder, loaded.
#[derive(Debug, Clone)]
struct Series {
    reference: String,
    meta: SeriesMeta,
    /// Repository-relative path and size of each patch, in name order.
    patches: Vec<(String, u64)>,
}

impl Tree {
    pub fn new(repo: &Path) -> Result<Tree, Error> {
        refuse_pending_change(repo)?;
        let patches = repo.join("patches");
        let patches_real = fs::canonicalize(&patches).map_err(|e| Error::io(&patches, e))?;
        Ok(Tree {
            repo: repo.to_path_buf(),
            patches,
            patches_real,
        })
    }

    /// Every host with a manifest, in name order.
    pub fn hosts(&self) -> Result<Vec<String>, Error> {
        ka_schema::fleet::hosts(&self.repo)
    }

    fn load_manifest(&self, host: &str) -> Result<(HostManifest, String, String), Error> {
        let (path, rel) = ka_schema::fleet::manifest_path(&self.repo, host)?;
        let bytes = fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let manifest = HostManifest::load(&path, &rel)?;
        Ok((manifest, rel, b2sum(&bytes)))
    }

    /// For `--all`: `None` for hosts that are not promote targets (no kernel, or
    /// infra without opt-in), with a note on stderr for the latter.
    fn resolve_for_fleet(&self, host: &str) -> Result<Option<Plan>, Error> {
        let (m, _, _) = self.load_manifest(host)?;
        if m.kernel.is_none() {
            return Ok(None);
        }
        if m.role == Role::Infra && !m.opt_in {
            eprintln!("ka-resolve: skipping {host}: role infra without opt_in: true");
            return Ok(None);
        }
        self.resolve(host).map(Some)
    }

    /// Resolve one host into its plan.
    pub fn resolve(&self, host: &str) -> Result<Plan, Error> {
        let (m, rel, manifest_b2sum) = self.load_manifest(host)?;
        ka_schema::fleet::refuse_infra(&m, &rel)?;
        let Some(kernel) = &m.kernel else {
            return Err(negative(format!(
                "{rel}: {host} has no kernel: section, so there is nothing to promote"
            )));
        };
        // 1. scopes, 2. includes, 3. excludes, 4. after: dependencies
        let mut chosen = self.scope_series(&m.scopes, &rel)?;
        self.add_includes(&mut chosen, &m.include, &rel)?;
        remove_excludes(&mut chosen, &m.exclude, &rel)?;
        let ordered = order_by_after(chosen, &rel)?;
        // 5. flatten; the same patch content twice is refused
        let patches = planned_patches(&ordered);
        self.refuse_duplicate_content(&patches, &rel)?;
        let config = self.config_inputs(&m, kernel.config.as_deref(), &ordered)?;

        Ok(Plan {
            kind: Default::default(),
            version: V1,
            host: m.host.clone(),
            repo: self.repo.clone(),
            manifest: rel,
            manifest_b2sum,
            baseline: Baseline {
                spec: kernel.baseline.clone(),
                git_dir: None,
                commit: None,
                pending: None,
            },
            patches,
            config,
        })
    }

    /// Step 1: the series of every listed scope, the scopes in documented
    /// order (kind, then path); a scope listed twice is refused.
    fn scope_series(
        &self,
        scopes: &[String],
        rel: &str,
    ) -> Result<Vec<(Series, Selection)>, Error> {
        let mut scopes: Vec<&String> = scopes.iter().collect();
        scopes.sort_by(|a, b| scope_rank(a).cmp(&scope_rank(b)).then(a.cmp(b)));
        let mut chosen: Vec<(Series, Selection)> = Vec::new();
        let mut seen_scopes = HashSet::new();
        for scope in scopes {
            if !seen_scopes.insert(scope) {
                return Err(negative(format!("{rel}: scope {scope} is listed twice")));
            }
            for s in self.scan_scope(scope, rel)? {
                chosen.push((s, Selection::Scope));
            }
        }
        Ok(chosen)
    }

    /// Step 2: append the included series in the order written; one already
    /// chosen (by its scope or an earlier include) or unknown is refused.
    fn add_includes(
        &self,
        chosen: &mut Vec<(Series, Selection)>,
        includes: &[String],
        rel: &str,
    ) -> Result<(), Error> {
        for inc in includes {
            if let Some((_, how)) = chosen.iter().find(|(s, _)| &s.reference == inc) {
                let why = match how {
                    Selection::Scope => "its scope is already selected",
                    Selection::Include => "it is included twice",
                };
                return Err(negative(format!(
                    "{rel}: include {inc} would add the same patches twice: {why}; remove the include"
                )));
            }
            let series = self.load_series(inc).map_err(|e| match e {
                Error::Usage(msg) => {
                    negative(format!("{rel}: include {inc}: unknown series ({msg})"))
                }
                other => other,
            })?;
            chosen.push((series, Selection::Include));
        }
        Ok(())
    }

    /// The config inputs in merge order: the manifest's base config, the
    /// `fragment.config` of each listed scope (in scope order), then that of
    /// each series (in plan order). `None` when there are none.
    fn config_inputs(
        &self,
        m: &HostManifest,
        base: Option<&str>,
        ordered: &[(Series, Selection)],
    ) -> Result<Option<PlanConfig>, Error> {
        let mut fragments = Vec::new();
        let mut scopes: Vec<&String> = m.scopes.iter().collect();
        scopes.sort_by(|a, b| scope_rank(a).cmp(&scope_rank(b)).then(a.cmp(b)));
        for scope in scopes {
            let rel = format!("patches/{scope}/{FRAGMENT}");
            if let Some(sum) = self.fragment_sum(&rel)? {
                fragments.push(PlannedFragment {
                    path: rel,
                    scope: scope.clone(),
                    series: None,
                    campaign: None,
                    b2sum: sum,
                });
            }
        }
        for (s, _) in ordered {
            let rel = format!("patches/{}/{FRAGMENT}", s.reference);
            if let Some(sum) = self.fragment_sum(&rel)? {
                fragments.push(PlannedFragment {
                    path: rel,
                    scope: s.meta.scope.clone(),
                    series: Some(s.reference.clone()),
                    campaign: Some(s.meta.campaign.clone()),
                    b2sum: sum,
                });
            }
        }
        if base.is_none() && fragments.is_empty() {
            return Ok(None);
        }
        if let Some(base) = base {
            ka_core::paths::safe_relative("kernel.config", base)?;
        }
        Ok(Some(PlanConfig {
            arch: m.arch,
            base: base.map(str::to_string),
            fragments,
        }))
    }

    /// The b2sum of a fragment file, if the tree has it.
    fn fragment_sum(&self, rel: &str) -> Result<Option<String>, Error> {
        let path = self.repo.join(rel);
        if !path.exists() {
            return Ok(None);
        }
        self.refuse_escape(&path, rel)?;
        if !path.is_file() {
            return Err(negative(format!("{rel}: not a regular file")));
        }
        let bytes = fs::read(&path).map_err(|e| Error::io(&path, e))?;
        Ok(Some(b2sum(&bytes)))
    }

    /// Every series directly under `patches/<scope>/`, in name order. Anything
    /// there that is not a tagged series or a deeper scope folder is refused.
    fn scan_scope(&self, scope: &str, manifest: &str) -> Result<Vec<Series>, Error> {
        let dir = self.patches.join(scope);
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(negative(format!(
                    "{manifest}: unknown scope {scope}: there is no folder patches/{scope}"
                )));
            }
            Err(e) => return Err(Error::io(&dir, e)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(&dir, e))?;
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        let mut series = Vec::new();
        for name in names {
            let path = dir.join(&name);
            let shown = format!("patches/{scope}/{name}");
            self.refuse_escape(&path, &shown)?;
            if path.is_dir() {
                if path.join("series.yaml").exists() {
                    series.push(self.load_series(&format!("{scope}/{name}"))?);
                } else if has_patch_files(&path)? {
                    return Err(negative(format!(
                        "{shown}: patches without a scope tag (no series.yaml); add series.yaml with scope: {scope}"
                    )));
                }
                // else: a deeper scope (e.g. soc/rockchip holds rk3399/); not selected by this one
            } else if is_patch_name(&name) {
                return Err(negative(format!(
                    "{shown}: a patch outside any series has no scope tag; move it into a series folder with a series.yaml"
                )));
            }
        }
        Ok(series)
    }

    /// Load the series `<scope>/<series>`.
    fn load_series(&self, reference: &str) -> Result<Series, Error> {
        check_series_ref(reference)?;
        let (scope, _) = reference.rsplit_once('/').expect("checked");
        let dir = self.patches.join(reference);
        let shown_dir = format!("patches/{reference}");
        self.refuse_escape(&dir, &shown_dir)?;
        let yaml = dir.join("series.yaml");
        if !dir.is_dir() {
            return Err(Error::Usage(format!("no folder {shown_dir}")));
        }
        if !yaml.is_file() {
            return Err(negative(format!(
                "{shown_dir}: series without a scope tag (no series.yaml); add one with scope: {scope}"
            )));
        }
        self.refuse_escape(&yaml, &format!("{shown_dir}/series.yaml"))?;
        let meta = SeriesMeta::load(&yaml, &format!("{shown_dir}/series.yaml"))?;
        if meta.scope != scope {
            return Err(negative(format!(
                "{shown_dir}/series.yaml: scope: {} disagrees with the folder (scope {scope}); fix the tag or move the series with ka-migrate-tree",
                meta.scope
            )));
        }
        let mut names = Vec::new();
        for entry in fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
            let entry = entry.map_err(|e| Error::io(&dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if is_patch_name(&name) {
                names.push(name);
            } else if entry.path().is_dir() {
                return Err(negative(format!(
                    "{shown_dir}/{name}: a folder inside a series; series hold only patch files and series.yaml"
                )));
            }
        }
        names.sort();
        if names.is_empty() {
            return Err(negative(format!(
                "{shown_dir}: series has no patch files (*.patch or *.diff)"
            )));
        }
        let mut patches = Vec::new();
        for name in names {
            let rel = format!("patches/{reference}/{name}");
            if check_file_name("patch file name", &name).is_err() {
                return Err(negative(format!(
                    "{rel}: patch file names use letters, digits, '.', '_', '+', '-', starting with a letter or digit"
                )));
            }
            let path = dir.join(&name);
            self.refuse_escape(&path, &rel)?;
            let md = fs::metadata(&path).map_err(|e| Error::io(&path, e))?;
            if !md.is_file() {
                return Err(negative(format!("{rel}: not a regular file")));
            }
            patches.push((rel, md.len()));
        }
        Ok(Series {
            reference: reference.to_string(),
            meta,
            patches,
        })
    }

    /// A symlink may not lead out of `patches/`.
    fn refuse_escape(&self, path: &Path, shown: &str) -> Result<(), Error> {
        let is_link = fs::symlink_metadata(path)
            .map(|m| m.file_type().is_symlink())
            .unwrap_or(false);
        if !is_link {
            return Ok(());
        }
        match fs::canonicalize(path) {
            Ok(real) if real.starts_with(&self.patches_real) => Ok(()),
            Ok(real) => Err(negative(format!(
                "{shown}: a symlink pointing outside the patch tree (to {}); patches must live under patches/",
                real.display()
            ))),
            Err(_) => Err(negative(format!("{shown}: a dangling symlink"))),
        }
    }

    fn refuse_duplicate_content(
        &self,
        patches: &[PlannedPatch],
        manifest: &str,
    ) -> Result<(), Error> {
        // Hash only patches whose sizes collide: cheap on a large tree.
        let mut by_size: HashMap<u64, Vec<&PlannedPatch>> = HashMap::new();
        for p in patches {
            by_size.entry(p.size).or_default().push(p);
        }
        for group in by_size.values().filter(|g| g.len() > 1) {
            let mut by_hash: BTreeMap<String, &PlannedPatch> = BTreeMap::new();
            for p in group {
                let path = self.repo.join(&p.path);
                let bytes = fs::read(&path).map_err(|e| Error::io(&path, e))?;
                if let Some(first) = by_hash.insert(b2sum(&bytes), p) {
                    return Err(negative(format!(
                        "{manifest}: the same patch twice: {} and {} have identical content; drop one",
                        first.path, p.path
                    )));
                }
            }
        }
        Ok(())
    }
}

/// A tree change (ka-import, ka-abandon, ka-migrate-tree, ...) that was
/// committed to its journal but interrupted leaves the tree half-changed
/// until it is rolled forward: never resolve from that middle state.
fn refuse_pending_change(repo: &Path) -> Result<(), Error> {
    let dir = repo.join(".ka-journal");
    let Ok(entries) = fs::read_dir(&dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.path().join("intent.json").is_file()
            && !name.ends_with(".prep")
            && !name.ends_with(".done")
        {
            return Err(negative(format!(
                "{}: an interrupted tree change is pending; run ka-tree-recover (or any tree verb) to finish it first",
                entry.path().display()
            )));
        }
    }
    Ok(())
}

fn is_patch_name(name: &str) -> bool {
    name.ends_with(".patch") || name.ends_with(".diff")
}

fn has_patch_files(dir: &Path) -> Result<bool, Error> {
    for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        if is_patch_name(&entry.file_name().to_string_lossy()) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Step 3: drop the excluded series; an exclude that names no chosen series
/// is refused (it is a mistake, not a no-op).
fn remove_excludes(
    chosen: &mut Vec<(Series, Selection)>,
    excludes: &[String],
    rel: &str,
) -> Result<(), Error> {
    for exc in excludes {
        check_series_ref(exc)?;
        let before = chosen.len();
        chosen.retain(|(s, _)| &s.reference != exc);
        if chosen.len() == before {
            return Err(negative(format!(
                "{rel}: exclude {exc} names no series this host would take; fix or remove it"
            )));
        }
    }
    Ok(())
}

/// Step 5: the plan's patches, series by series in order, each series'
/// patches in name order.
fn planned_patches(ordered: &[(Series, Selection)]) -> Vec<PlannedPatch> {
    let mut patches = Vec::new();
    for (s, how) in ordered {
        for (path, size) in &s.patches {
            patches.push(PlannedPatch {
                path: path.clone(),
                scope: s.meta.scope.clone(),
                series: s.reference.clone(),
                campaign: s.meta.campaign.clone(),
                size: *size,
                selected_by: *how,
            });
        }
    }
    patches
}

/// Stable topological sort: repeatedly take the first series (in the given
/// order) whose `after:` series are all placed.
fn order_by_after(
    chosen: Vec<(Series, Selection)>,
    manifest: &str,
) -> Result<Vec<(Series, Selection)>, Error> {
    let present: HashSet<String> = chosen.iter().map(|(s, _)| s.reference.clone()).collect();
    for (s, _) in &chosen {
        for dep in &s.meta.after {
            if !present.contains(dep) {
                return Err(negative(format!(
                    "patches/{}/series.yaml: after: {dep}, but {manifest} does not take {dep}; include it or exclude {}",
                    s.reference, s.reference
                )));
            }
        }
    }
    let mut placed: HashSet<String> = HashSet::new();
    let mut pending = chosen;
    let mut out = Vec::with_capacity(pending.len());
    while !pending.is_empty() {
        let Some(i) = pending
            .iter()
            .position(|(s, _)| s.meta.after.iter().all(|d| placed.contains(d)))
        else {
            let cycle: Vec<&str> = pending.iter().map(|(s, _)| s.reference.as_str()).collect();
            return Err(negative(format!(
                "{manifest}: the after: dependencies of these series form a cycle: {}",
                cycle.join(" -> ")
            )));
        };
        let item = pending.remove(i);
        placed.insert(item.0.reference.clone());
        out.push(item);
    }
    Ok(out)
}
