//! `ka-import <campaign> <source>... --to <scope>`: bring patches into the tree
//! as a new (or appended) series, refuse duplicates, check the result.

use crate::journal::Transaction;
use crate::repo::{Repo, takes, verify};
use crate::sources::{self, Incoming};
use crate::{Common, change, emit, start};
use clap::{CommandFactory, Parser};
use ka_core::error::{Error, ExitCode, Result, negative, usage};
use ka_core::names::{check_file_name, check_name, check_scope};
use ka_schema::{Check, HostVerdicts, ImportedPatch, Plan, Status, VerdictLine};
use ka_schema::{Role, SeriesMeta};
use std::collections::HashMap;
use std::path::PathBuf;

const LONG_ABOUT: &str = "\
Imports patches as the series patches/<SCOPE>/<SERIES>/ (SERIES defaults to the campaign
name): a series.yaml with scope, campaign and origin, and one NNNN-<subject>.patch per
patch holding the patch's bytes exactly as they came (only the file name is new).

Sources, in the order given: patch files (a `git format-patch` mail, a DEP-3 headed patch,
a plain unified diff, `diff -ruN` or `git diff` output); mbox files holding several mails;
folders (their *.patch and *.diff files in name order, or in the order of a quilt `series`
file); and --git-range A..B --git-repo PATH (`git format-patch` of that range). A glob is
expanded by the shell.

An mbox is split as git format-patch, b4 and mutt write one (mboxo/mboxrd): a `From ` line
starts a mail when a mail header block follows it (fields up to a blank line, one of them
`From:` or `Subject:`) and it is at the start of the file or after a blank line, whatever
follows `From `. An envelope line `From <sender> <Www Mmm dd hh:mm:ss yyyy>`, e.g.
`From <sha> Mon Sep 17 00:00:00 2001`, `From x Mon Sep 17 00:00:00 2001` or
`From git@z Thu Jan  1 00:00:00 1970`, needs no blank line before it: format-patch
--no-signature files put together with cat have none. Other `From ` lines (\"From the
manual:\") and `>From ` escapes are message text, kept as they are. A mail header block in a
patch's message or diff (a `From ` line or two fields, with `From:` or `Subject:`, up to a
blank line) means a separator was missed: refused, naming the file, the line and the mail
number. In-body headers as `git am` reads them (the body's first paragraph, or after a
`-- >8 --` line) are allowed.

Every patch must hold a diff that the checker can parse, but a cover letter (a mail whose
subject is numbered 0, `[PATCH 0/N]`, `[PATCH v2 00/12]`) is skipped and said so on stderr;
every patch's patch-id (`git patch-id --stable`) must be new to the tree and to the import.
A patch that makes a symbolic link (new, renamed, copied or retargeted) whose target is
absolute or climbs out of the tree with `..`, or that touches a path beyond a link an
earlier patch of the series made (`git apply`: \"beyond a symbolic link\"), is refused:
`patch -p1` on the build host would write through it. Otherwise nothing is
written and the error names the file (and mail number), the line, and where the
duplicate lives. The series is written in one atomic step (a journal under .ka-journal/).

Then the new series is checked (as ka-check does, no worktree) against the pinned baseline
of every host that takes it (its scope is in the host's scopes, or the host includes it),
after the patches that host already carries. A patch that does not apply is reported and
the exit status is 1, but the import stays: fix the series (or retire it with ka-abandon).

Refused: no --to (exit 2); an unknown scope kind or invalid name (exit 2); an existing
series without --append, or --append to a series of another campaign (exit 1); a
\"patch\" without a diff (unless a cover letter), a broken mail in an mbox, a mail header
block inside a patch, a symbolic link out of the tree or a write through one, a duplicate
(exit 1).";

#[derive(Parser, Debug)]
#[command(
    name = "ka-import",
    version,
    about = "Import patches (files, mbox, folder, git range) as a series of the tree",
    long_about = LONG_ABOUT
)]
pub struct Cli {
    /// The campaign the patches belong to (recorded in series.yaml).
    pub campaign: String,
    /// Patch files, mbox files or folders.
    #[arg(value_name = "SOURCE", required_unless_present = "git_range")]
    pub sources: Vec<PathBuf>,
    /// The scope the series belongs to, e.g. board/pinebook-pro.
    #[arg(long, value_name = "SCOPE")]
    pub to: String,
    /// The series name (default: the campaign).
    #[arg(long, value_name = "NAME")]
    pub series: Option<String>,
    /// Add to an existing series of the same campaign (numbering continues).
    #[arg(long)]
    pub append: bool,
    /// Where the patches came from (default: the sources as given).
    #[arg(long, value_name = "TEXT")]
    pub origin: Option<String>,
    /// Import the commits A..B of --git-repo.
    #[arg(long, value_name = "A..B", requires = "git_repo")]
    pub git_range: Option<String>,
    /// The git repository for --git-range.
    #[arg(long, value_name = "PATH", requires = "git_range")]
    pub git_repo: Option<PathBuf>,
    /// Do not check the new series against the hosts' baselines.
    #[arg(long)]
    pub no_check: bool,
    /// Show what would be imported; write nothing (no check either).
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub common: Common,
}

pub fn command() -> clap::Command {
    Cli::command()
}

/// Where in its source a patch starts, for error messages.
fn place(p: &Incoming) -> String {
    format!("{}, line {}", p.source, p.line)
}

pub fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let verb = "ka-import";
    check_name("campaign", &cli.campaign).map_err(|e| usage(e.to_string()))?;
    check_scope(&cli.to).map_err(|e| usage(format!("--to: {e}")))?;
    let series_name = cli.series.clone().unwrap_or_else(|| cli.campaign.clone());
    check_name("series", &series_name).map_err(|e| usage(format!("--series: {e}")))?;
    let reference = format!("{}/{series_name}", cli.to);
    let dir = format!("patches/{reference}");

    let (repo, lock, recovered) = start(verb, &cli.common)?;

    // 1. the patches, each one checked to hold a diff
    let mut incoming = sources::collect(&cli.sources)?;
    if let (Some(range), Some(git_repo)) = (&cli.git_range, &cli.git_repo) {
        incoming.extend(sources::git_range(git_repo, range)?);
    }
    if incoming.is_empty() {
        return Err(usage("no patches given").into());
    }
    let incoming = without_cover_letters(verb, incoming)?;

    // 2. the destination
    refuse_inside_series(&repo, &cli.to)?;
    let existing = destination(&repo, &dir, &cli)?;

    // 3. symbolic links and duplicates, against the tree and within the import
    let new_ids = refuse_duplicates(&repo, &dir, &incoming)?;

    // 4. names and the change
    let first = 1 + existing_numbers(&repo, &dir)?;
    let mut c = change(verb);
    c.campaign = Some(cli.campaign.clone());
    c.recovered = recovered;
    let mut tx = Transaction::new();
    if existing.is_none() {
        let (rel, text) = new_series_yaml(&cli, &dir)?;
        c.files.push(rel.clone());
        tx.write(rel, text.into_bytes());
    }
    let new_paths = stage_patches(&mut c, &mut tx, &dir, first, &incoming, new_ids)?;
    let what = format!(
        "{} {} patches {} {dir}",
        if cli.dry_run {
            "would import"
        } else {
            "imported"
        },
        incoming.len(),
        if existing.is_some() { "onto" } else { "as" }
    );
    if cli.dry_run {
        c.status = Status::DryRun;
        c.message = format!("{what} (dry run: nothing written, nothing checked)");
        c.files.clear();
        return emit(&c, cli.common.json);
    }
    tx.commit(&repo.root, verb, &lock)?;
    drop(lock);

    // 5. the verdicts on every host that takes the series
    if cli.no_check {
        c.message = format!("{what}; not checked (--no-check)");
        return emit(&c, cli.common.json);
    }
    c.checks = check_hosts(&repo, &reference, &cli.to, &new_paths)?;
    say_verdicts(&mut c, &what, &reference);
    emit(&c, cli.common.json)
}

/// Name the incoming patches `NNNN-<slug>.patch` from number `first` on,
/// record them in the change and write them in `tx`; their paths.
fn stage_patches(
    c: &mut ka_schema::TreeChange,
    tx: &mut Transaction,
    dir: &str,
    first: usize,
    incoming: &[Incoming],
    new_ids: Vec<Option<String>>,
) -> Result<Vec<String>> {
    let mut new_paths = Vec::new();
    for (number, (p, id)) in (first..).zip(incoming.iter().zip(new_ids)) {
        let name = format!("{number:04}-{}.patch", p.slug());
        check_file_name("patch file name", &name)?;
        let rel = format!("{dir}/{name}");
        c.imported.push(ImportedPatch {
            path: rel.clone(),
            source: place(p),
            patch_id: id
                .clone()
                .unwrap_or_else(|| format!("b2sum:{}", &ka_core::hash::b2sum(&p.bytes)[..40])),
        });
        c.files.push(rel.clone());
        new_paths.push(rel.clone());
        tx.write(rel, p.bytes.clone());
    }
    Ok(new_paths)
}

/// The series imported into: `None` for a new one; an existing one only
/// with `--append` and of the same campaign.
fn destination(repo: &Repo, dir: &str, cli: &Cli) -> Result<Option<SeriesMeta>> {
    if !repo.path(dir).is_dir() {
        return Ok(None);
    }
    let yaml = format!("{dir}/series.yaml");
    if !repo.path(&yaml).is_file() {
        return Err(negative(format!(
            "{dir} is a scope folder, not a series; pick another --series"
        )));
    }
    if !cli.append {
        return Err(negative(format!(
            "{dir} exists; pass --append to add to it, or --series NAME for a new series; nothing was imported"
        )));
    }
    let meta = SeriesMeta::load(&repo.path(&yaml), &yaml)?;
    if meta.campaign != cli.campaign {
        return Err(negative(format!(
            "{dir} belongs to campaign {}, not {}; nothing was imported",
            meta.campaign, cli.campaign
        )));
    }
    Ok(Some(meta))
}

/// Refuse symbolic links that hostile patches would follow (after the
/// patches already in the series, for --append) and changes the tree or the
/// import already holds (by patch-id); the incoming patches' ids.
fn refuse_duplicates(repo: &Repo, dir: &str, incoming: &[Incoming]) -> Result<Vec<Option<String>>> {
    let tree_patches: Vec<String> = repo.series()?.into_iter().flat_map(|s| s.patches).collect();
    let mut tree_bytes = Vec::with_capacity(tree_patches.len());
    for rel in &tree_patches {
        let p = repo.path(rel);
        tree_bytes.push(std::fs::read(&p).map_err(|e| Error::io(&p, e))?);
    }
    let earlier = tree_patches
        .iter()
        .zip(&tree_bytes)
        .filter(|(rel, _)| rel.starts_with(&format!("{dir}/")))
        .map(|(_, bytes)| bytes.as_slice());
    refuse_hostile_links(earlier, incoming)?;

    let mut all: Vec<&[u8]> = tree_bytes.iter().map(Vec::as_slice).collect();
    all.extend(incoming.iter().map(|p| p.bytes.as_slice()));
    let mut ids = crate::patchid::patch_ids(&all)?;
    let new_ids = ids.split_off(tree_patches.len());
    let mut seen: HashMap<&str, String> = HashMap::new();
    for (rel, id) in tree_patches.iter().zip(&ids) {
        if let Some(id) = id {
            seen.entry(id.as_str()).or_insert_with(|| rel.clone());
        }
    }
    let mut dups = Vec::new();
    for (p, id) in incoming.iter().zip(&new_ids) {
        let Some(id) = id else { continue };
        match seen.get(id.as_str()) {
            Some(where_) => dups.push(format!(
                "{} is the same change (patch-id {}) as {where_}",
                place(p),
                &id[..12]
            )),
            None => {
                seen.insert(id.as_str(), place(p));
            }
        }
    }
    if !dups.is_empty() {
        return Err(negative(format!(
            "duplicate patches, nothing was imported: {}",
            dups.join("; ")
        )));
    }
    Ok(new_ids)
}

/// A new series' `series.yaml` (path and text), checked to read back as meant.
fn new_series_yaml(cli: &Cli, dir: &str) -> Result<(String, String)> {
    let origin = cli.origin.clone().unwrap_or_else(|| {
        let mut parts: Vec<String> = cli
            .sources
            .iter()
            .map(|s| s.display().to_string())
            .collect();
        if let (Some(r), Some(g)) = (&cli.git_range, &cli.git_repo) {
            parts.push(format!("{}@{r}", g.display()));
        }
        parts.join(", ")
    });
    let text = format!(
        "scope: {}\ncampaign: {}\norigin: {}\n",
        cli.to,
        cli.campaign,
        serde_json::to_string(&origin).expect("strings serialize")
    );
    let rel = format!("{dir}/series.yaml");
    let want = SeriesMeta {
        scope: cli.to.clone(),
        campaign: cli.campaign.clone(),
        origin: Some(origin),
        description: None,
        after: Vec::new(),
        probes: Vec::new(),
        closed: None,
    };
    verify(&rel, &text, &want)?;
    Ok((rel, text))
}

/// The change's message from the verdicts of the hosts that take the series;
/// failed when it does not apply on one of them (the import is kept).
fn say_verdicts(c: &mut ka_schema::TreeChange, what: &str, reference: &str) {
    let failing: Vec<&str> = c
        .checks
        .iter()
        .filter(|h| h.error.is_some() || h.verdicts.iter().any(|v| !v.verdict.applies()))
        .map(|h| h.host.as_str())
        .collect();
    c.message = if c.checks.is_empty() {
        format!("{what}; no host takes {reference} yet (add its scope or an include to a manifest)")
    } else if failing.is_empty() {
        format!(
            "{what}; applies on every host that takes it ({})",
            c.checks
                .iter()
                .map(|h| h.host.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    } else {
        c.status = Status::Failed;
        format!(
            "{what}; it does NOT apply cleanly on {}: the import is kept — fix the series or retire it with ka-abandon",
            failing.join(", ")
        )
    };
}

/// Keep the patches; say so and drop a cover letter (a `[PATCH 0/N]` mail,
/// which holds no diff); refuse anything else that holds no diff.
fn without_cover_letters(verb: &str, incoming: Vec<Incoming>) -> Result<Vec<Incoming>> {
    let mut patches = Vec::with_capacity(incoming.len());
    for p in incoming {
        match ka_apply::parse_check(&p.bytes) {
            Ok(_) => patches.push(p),
            Err(_) if p.is_cover_letter() => eprintln!(
                "{verb}: {}: skipping the cover letter \"{}\" (it holds no diff)",
                place(&p),
                p.subject().unwrap_or_default()
            ),
            Err(reason) => {
                return Err(negative(format!(
                    "{}: {reason}; only a cover letter (`[PATCH 0/N]`) may come without a diff; nothing was imported",
                    place(&p)
                )));
            }
        }
    }
    if patches.is_empty() {
        return Err(negative(
            "only cover letters were given, no patches; nothing was imported",
        ));
    }
    Ok(patches)
}

/// Refuse a symbolic link out of the tree, or a write through a link made
/// earlier in the series (`earlier`: the series' patches already in the
/// tree, in order).
fn refuse_hostile_links<'a>(
    earlier: impl Iterator<Item = &'a [u8]>,
    incoming: &[Incoming],
) -> Result<()> {
    let mut links = ka_apply::SeriesLinks::new();
    // A patch already in the tree was judged when it came; ka-check judges
    // the whole plan again on the baseline.
    for bytes in earlier {
        let _ = links.add(bytes);
    }
    for p in incoming {
        links.add(&p.bytes).map_err(|h| {
            negative(format!(
                "{}, line {}: {}; nothing was imported",
                p.source,
                p.line + h.line - 1,
                h.message
            ))
        })?;
    }
    Ok(())
}

/// A series folder cannot live inside another series.
fn refuse_inside_series(repo: &Repo, scope: &str) -> Result<()> {
    let mut path = scope.to_string();
    loop {
        if repo.path(&format!("patches/{path}/series.yaml")).is_file() {
            return Err(negative(format!(
                "--to {scope}: patches/{path} is a series, not a scope folder"
            )));
        }
        match path.rsplit_once('/') {
            Some((parent, _)) => path = parent.to_string(),
            None => return Ok(()),
        }
    }
}

/// The highest NNNN- number in the series folder (0 when new or unnumbered).
fn existing_numbers(repo: &Repo, dir: &str) -> Result<usize> {
    let path = repo.path(dir);
    let mut high = 0;
    let mut count = 0;
    if let Ok(entries) = std::fs::read_dir(&path) {
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(&path, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if crate::repo::is_patch_name(&name) {
                count += 1;
                let digits: String = name.chars().take_while(char::is_ascii_digit).collect();
                high = high.max(digits.parse().unwrap_or(0));
            }
        }
    }
    Ok(high.max(count))
}

/// Resolve, pin and check every host that takes `reference`; report the
/// verdicts of the new patches only.
fn check_hosts(
    repo: &Repo,
    reference: &str,
    scope: &str,
    new_paths: &[String],
) -> Result<Vec<HostVerdicts>> {
    let (plans, mut out) = pinned_plans(repo, reference, scope)?;
    if plans.is_empty() {
        return Ok(out);
    }
    let checks = ka_check::check_plans(plans, 0).map_err(|e| {
        negative(format!(
            "the series was imported, but checking it failed: {e:#}"
        ))
    })?;
    out.extend(
        checks
            .iter()
            .map(|check| new_patch_verdicts(check, new_paths)),
    );
    out.sort_by(|a, b| a.host.cmp(&b.host));
    Ok(out)
}

/// The plans, pinned to their baselines, of the checked hosts that take
/// `reference`; and a failed verdict for each such host that does not resolve
/// or whose baseline cannot be pinned. The baselines are opened only when a
/// host needs one.
fn pinned_plans(
    repo: &Repo,
    reference: &str,
    scope: &str,
) -> Result<(Vec<Plan>, Vec<HostVerdicts>)> {
    let tree = ka_resolve::Tree::new(&repo.root)?;
    let mut out = Vec::new();
    let mut plans: Vec<Plan> = Vec::new();
    let mut baselines: Option<ka_baseline::Baselines> = None;
    for m in repo.manifests()? {
        let m = m.manifest;
        if m.kernel.is_none()
            || (m.role == Role::Infra && !m.opt_in)
            || !takes(&m, reference, scope)
        {
            continue;
        }
        let host = m.host.clone();
        let failed = |e: String| HostVerdicts {
            host: host.clone(),
            verdicts: Vec::new(),
            error: Some(e),
        };
        let mut plan = match tree.resolve(&m.host) {
            Ok(p) => p,
            Err(e) => {
                out.push(failed(format!("does not resolve: {e}")));
                continue;
            }
        };
        if baselines.is_none() {
            let root = ka_core::paths::runtime_root(None)?;
            baselines = Some(ka_baseline::Baselines::new(
                &ka_core::paths::Layout::new(root),
                false,
            ));
        }
        match baselines.as_ref().expect("set").pin(&plan.baseline.spec) {
            Ok((git_dir, commit)) => {
                plan.baseline.git_dir = Some(git_dir);
                plan.baseline.commit = Some(commit);
                plans.push(plan);
            }
            Err(e) => out.push(failed(format!("baseline: {e}"))),
        }
    }
    Ok((plans, out))
}

/// One host's check, told about the new patches: their verdicts, and as its
/// error the conflicts they take part in and the later patches they break.
fn new_patch_verdicts(check: &Check, new_paths: &[String]) -> HostVerdicts {
    let verdicts: Vec<VerdictLine> = check
        .patches
        .iter()
        .filter(|p| new_paths.contains(&p.path))
        .map(|p| VerdictLine {
            path: p.path.clone(),
            verdict: p.verdict,
            reason: p.reason.clone().or_else(|| {
                p.files
                    .iter()
                    .find_map(|f| f.reason.clone().map(|r| format!("{}: {r}", f.path)))
            }),
        })
        .collect();
    let conflicts: Vec<String> = check
        .conflicts
        .iter()
        .filter(|k| new_paths.contains(&k.first.patch) || new_paths.contains(&k.second.patch))
        .map(|k| {
            format!(
                "{}: {} ({}) and {} ({}) change the same lines",
                k.file, k.first.patch, k.first.campaign, k.second.patch, k.second.campaign
            )
        })
        .collect();
    // The new series can also break patches that come after it.
    let mut problems = conflicts;
    let broken: Vec<&str> = check
        .patches
        .iter()
        .filter(|p| !new_paths.contains(&p.path) && !p.verdict.applies())
        .map(|p| p.path.as_str())
        .collect();
    if !broken.is_empty() {
        problems.push(format!(
            "with the new series in the plan, these patches do not apply: {}",
            broken.join(", ")
        ));
    }
    HostVerdicts {
        host: check.plan.host.clone(),
        verdicts,
        error: (!problems.is_empty()).then(|| problems.join("; ")),
    }
}
