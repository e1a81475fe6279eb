//! `ka-kconfig`: the kernel config as a checked input. A host's config is its
//! base config (`kernel.config`) plus the `fragment.config` of every scope and
//! series it resolves, merged in plan order; the pinned baseline's own kconfig
//! (`make olddefconfig`, [`conf`]) turns that into the final `.config`; and
//! every requested value that is not in the final config is reported with the
//! reason, read from the baseline's Kconfig files ([`kconfig`], [`explain`]).
//! A value the tree asks for that does not stick halts the host's promote
//! (`ka-block sync` files `[ka:config-drop]`); a value of the base config that
//! does not stick is a warning.

pub mod conf;
pub mod explain;
pub mod expr;
pub mod fragment;
pub mod kconfig;
pub mod values;

use anyhow::Context;
use clap::{CommandFactory, Parser};
use ka_core::args::RootArg;
use ka_core::error::{Error, ExitCode, Result, contract};
use ka_core::hash::b2sum;
use ka_core::paths::Layout;
use ka_schema::{
    Check, ConfigCheck, ConfigConflict, ConfigOrigin, ConfigOverride, Plan, PlanConfig,
};
use std::collections::HashMap;
use std::fs;

#[derive(Parser, Debug)]
#[command(
    name = "ka-kconfig",
    version,
    about = "Check a host's kernel config against the pinned baseline's own Kconfig (ka.check in, ka.check out)",
    long_about = "Reads ka.check documents on stdin (from ka-check) and writes them on stdout \
with a `config` section for every host whose plan has config inputs: the manifest's \
kernel.config, then the fragment.config of each listed scope, then that of each series, \
merged in that order (a later value wins and the override is reported; two campaigns \
asking different values of one option are a conflict).\n\n\
The merged config goes through the pinned baseline's own kconfig: `make olddefconfig` \
with ARCH of the host, in a tree of only the files kconfig reads (the top Makefile, \
arch/*/Makefile*, scripts/ and every Kconfig file), extracted once per baseline commit \
under KA_ROOT/baselines/kconfig/<commit>/. The compiler for kconfig's toolchain tests is \
<arch>-linux-gnu-gcc for another architecture, or this machine's gcc (a stand-in, said \
in the report, when the cross compiler is not installed). A result is kept by the b2sum \
of the commit, ARCH, compiler and merged input: checking unchanged inputs again runs no \
kconfig.\n\n\
Every requested value that differs in the final .config is reported with the reason, read \
from the baseline's Kconfig files and evaluated against the final values: the `depends on` \
(of the option and of the if/menu/choice around it) with the symbols that make it false, a \
hidden prompt, another member of a choice, a `select` that forces it up, a range, or an \
unknown symbol (with the nearest spelling). A value asked by a scope or series that does \
not stick halts the promote (ka-block sync files [ka:config-drop]); one of the base config \
only warns. The final .config is what ka-concat writes beside the lock.\n\n\
Exit status: 0 checked (drops are data, not failures), 2 usage or I/O error (no make, no \
compiler), 3 bad input: a fragment line that is neither CONFIG_X=value nor \
`# CONFIG_X is not set`, a value of the wrong type for its symbol, a fragment changed \
since it was resolved, or a baseline without scripts/kconfig; each names file:line, and \
nothing is written."
)]
pub struct Cli {
    #[command(flatten)]
    pub root: RootArg,
    /// Check without writing anything under KA_ROOT (what is not cached is
    /// made in a temporary folder).
    #[arg(long)]
    pub dry_run: bool,
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let mut checks: Vec<Check> = ka_core::stream::read_docs(std::io::stdin().lock(), "stdin")?;
    let layout = cli.root.layout()?;
    let mut checker = Checker::new(layout, cli.dry_run);
    for check in &mut checks {
        if let Some(checked) = checker.check(&check.plan)? {
            check.config = Some(checked.report);
        }
    }
    ka_core::stream::write_docs(&checks).context("stdout")?;
    Ok(ExitCode::Ok)
}

/// A plan's config, checked.
pub struct Checked {
    pub report: ConfigCheck,
    /// The final `.config`.
    pub final_config: String,
    /// Every requested option (without `CONFIG_`), merged: its value and where.
    pub requested: std::collections::BTreeMap<String, fragment::Request>,
}

/// Checks plans' configs, opening each baseline's Kconfig tree once and
/// reading its Kconfig files once per architecture.
pub struct Checker {
    layout: Layout,
    dry_run: bool,
    open: HashMap<String, conf::Baseline>,
    parsed: HashMap<(String, &'static str), kconfig::Kconfig>,
}

impl Checker {
    pub fn new(layout: Layout, dry_run: bool) -> Checker {
        Checker {
            layout,
            dry_run,
            open: HashMap::new(),
            parsed: HashMap::new(),
        }
    }

    /// The config check of `plan`: `None` when it has no config inputs or
    /// no pinned commit (a dry run's plan whose baseline is not imported).
    pub fn check(&mut self, plan: &Plan) -> Result<Option<Checked>> {
        match (&plan.config, &plan.baseline.commit) {
            (Some(config), Some(commit)) => self.check_config(plan, config, commit).map(Some),
            _ => Ok(None),
        }
    }

    /// The symbols of `commit`'s Kconfig for `arch`, read once (the tree
    /// is open after a [`check`](Self::check) of a plan on that commit).
    pub fn symbols(&mut self, commit: &str, arch: ka_schema::Arch) -> Result<&kconfig::Kconfig> {
        let karch = arch.kernel_arch();
        let key = (commit.to_string(), karch);
        if !self.parsed.contains_key(&key) {
            let baseline = self.open.get(commit).ok_or_else(|| {
                contract(format!(
                    "no Kconfig tree of {commit} is open; check a plan on it first"
                ))
            })?;
            let vars = HashMap::from([
                ("SRCARCH".to_string(), karch.to_string()),
                ("ARCH".to_string(), karch.to_string()),
                ("srctree".to_string(), baseline.tree.display().to_string()),
            ]);
            let k = kconfig::Kconfig::read(&baseline.tree, &vars).map_err(|e| {
                contract(format!(
                    "the Kconfig files of baseline {} do not parse: {e}",
                    &commit[..commit.len().min(12)]
                ))
            })?;
            self.parsed.insert(key.clone(), k);
        }
        Ok(&self.parsed[&key])
    }

    /// The symbols [`symbols`](Self::symbols) read before, if it did.
    pub fn parsed(&self, commit: &str, arch: ka_schema::Arch) -> Option<&kconfig::Kconfig> {
        self.parsed.get(&(commit.to_string(), arch.kernel_arch()))
    }

    /// Open the baseline of `plan` at `commit` (once per commit).
    fn open_baseline(&mut self, plan: &Plan, commit: &str) -> Result<()> {
        let git_dir = plan.baseline.git_dir.as_ref().ok_or_else(|| {
            contract(format!(
                "plan of {} has a commit but no baseline.git_dir; pipe it through ka-baseline",
                plan.host
            ))
        })?;
        if !self.open.contains_key(commit) {
            let shown = plan.baseline.spec.describe();
            let b = conf::Baseline::open(&self.layout, git_dir, commit, &shown, self.dry_run)?;
            self.open.insert(commit.to_string(), b);
        }
        Ok(())
    }

    fn check_config(&mut self, plan: &Plan, config: &PlanConfig, commit: &str) -> Result<Checked> {
        let merged = merge_inputs(plan.repo.as_path(), config)?;
        if config.base.is_none() && !config.fragments.is_empty() {
            return Err(contract(format!(
                "{}: the tree has config fragments for {} ({}) but the manifest names no kernel.config to add them to; add kernel.config",
                plan.manifest, plan.host, config.fragments[0].path
            )));
        }
        self.open_baseline(plan, commit)?;
        let arch = config.arch;
        let karch = arch.kernel_arch();
        let tc = conf::Toolchain::for_arch(arch)?;
        let input = merged.to_config();
        // Warm: the same inputs were checked before (types included), and
        // their result and reasons are kept; no Kconfig file is read.
        let warm = {
            let baseline = &self.open[commit];
            baseline.kept(arch, &tc, &input).zip(
                baseline
                    .kept_drops(arch, &tc, &input)
                    .and_then(|j| serde_json::from_str::<Vec<ka_schema::ConfigDrop>>(&j).ok()),
            )
        };
        let (outcome, drops) = match warm {
            Some(kept) => kept,
            None => {
                let k = self.symbols(commit, arch)?;
                explain::check_types(k, &merged.requests)?;
                let baseline = &self.open[commit];
                let outcome = baseline.olddefconfig(arch, &tc, &input)?;
                let fin = values::Values::from_config(&outcome.config);
                let base = config.base.clone().unwrap_or_default();
                let k = &self.parsed[&(commit.to_string(), karch)];
                let drops = explain::drops(k, &fin, &merged.requests, |r| r.origin.file != base);
                let json = serde_json::to_string(&drops).expect("drops serialize");
                baseline.keep_drops(arch, &tc, &input, &json)?;
                (outcome, drops)
            }
        };
        let report = ConfigCheck {
            arch: karch.into(),
            toolchain: tc.describe(arch),
            requested: merged.requests.len() as u32,
            size: outcome.config.len() as u64,
            b2sum: b2sum(outcome.config.as_bytes()),
            kept: outcome.path,
            overrides: overrides(&merged),
            conflicts: conflicts(&merged),
            drops,
            cached: outcome.cached,
        };
        Ok(Checked {
            report,
            final_config: outcome.config,
            requested: merged.requests,
        })
    }
}

/// The values a later input overrode, for the report.
fn overrides(merged: &fragment::Merged) -> Vec<ConfigOverride> {
    merged
        .overrides
        .iter()
        .map(|(name, old, new)| ConfigOverride {
            option: format!("CONFIG_{name}"),
            value: old.value.clone(),
            at: old.origin.clone(),
            by_value: new.value.clone(),
            by: new.origin.clone(),
        })
        .collect()
}

/// The values two inputs set differently, for the report.
fn conflicts(merged: &fragment::Merged) -> Vec<ConfigConflict> {
    merged
        .conflicts
        .iter()
        .map(|(name, a, b)| ConfigConflict {
            option: format!("CONFIG_{name}"),
            first_value: a.value.clone(),
            first: a.origin.clone(),
            second_value: b.value.clone(),
            second: b.origin.clone(),
        })
        .collect()
}

/// Read and merge the base config and the fragments, in order; a fragment
/// whose bytes changed since ka-resolve read it is refused.
fn merge_inputs(repo: &std::path::Path, config: &PlanConfig) -> Result<fragment::Merged> {
    let mut merged = fragment::Merged::default();
    let read = |rel: &str| -> Result<Vec<u8>> {
        let path = repo.join(ka_core::paths::safe_relative("config path", rel)?);
        fs::read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => contract(format!(
                "{rel}: the config named by the plan does not exist; fix kernel.config or run ka-promote again"
            )),
            _ => Error::io(&path, e),
        })
    };
    let text = |rel: &str, bytes: &[u8]| -> Result<String> {
        String::from_utf8(bytes.to_vec())
            .map_err(|_| contract(format!("{rel}: not UTF-8 text; a config is text")))
    };
    if let Some(base) = &config.base {
        let bytes = read(base)?;
        let settings = fragment::parse(base, &text(base, &bytes)?)?;
        let origin = ConfigOrigin {
            file: base.clone(),
            line: 0,
            series: None,
            campaign: None,
        };
        merged.add(&origin, settings);
    }
    for f in &config.fragments {
        let bytes = read(&f.path)?;
        if b2sum(&bytes) != f.b2sum {
            return Err(contract(format!(
                "{}: changed since it was resolved; run ka-promote again",
                f.path
            )));
        }
        let settings = fragment::parse(&f.path, &text(&f.path, &bytes)?)?;
        let origin = ConfigOrigin {
            file: f.path.clone(),
            line: 0,
            series: f.series.clone(),
            campaign: f.campaign.clone(),
        };
        merged.add(&origin, settings);
    }
    Ok(merged)
}
