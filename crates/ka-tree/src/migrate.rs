//! `ka-migrate-tree --from <path> --to <path>`: move a scope folder or a
//! series and rewrite every reference to it, in one atomic step.

use crate::journal::Transaction;
use crate::refs::EditFn;
use crate::repo::{Repo, SeriesInfo, moved_ref, takes, unified_diff};
use crate::yamledit::Edit;
use crate::{Common, change, emit, refs, start};
use clap::{CommandFactory, Parser};
use ka_core::error::{ExitCode, Result, negative, usage};
use ka_core::names::check_scope;
use ka_schema::{HostManifest, check_series_ref};
use ka_schema::{Moved, Status, TreeChange};
use std::io::BufRead;

#[derive(Parser, Debug)]
#[command(
    name = "ka-migrate-tree",
    version,
    about = "Move a scope folder or a series and rewrite every reference to it",
    long_about = "Moves patches/FROM to patches/TO (FROM is a series `<scope>/<series>` or a \
scope folder such as `soc/rockchip`; a leading `patches/` is accepted) and, in the same \
atomic step, rewrites every reference: `scopes:`, `include:` and `exclude:` entries of \
fleet/*.yaml naming FROM or anything below it, `after:` entries of every series.yaml, and \
the `scope:` tag of each moved series so that it matches its new folder. Manifests and \
series.yaml are edited line-wise (comments and untouched lines stay) and re-parsed to \
check the edit.\n\n\
Prints a preview first: the moves, which hosts take the moved series before and after, \
and a unified diff of every rewritten file. --dry-run stops there; --confirm asks y/n.\n\n\
Refused (exit 1, nothing changed): FROM missing; TO exists; TO equal to FROM (onto \
itself) or inside it (into its own subfolder); TO not a valid scope path, or inside a \
series folder; a moved series whose tag already disagrees with its folder (fix the tag \
first: the move would leave it under a scope that disagrees with it)."
)]
pub struct Cli {
    /// What to move, relative to patches/.
    #[arg(long, value_name = "PATH")]
    pub from: String,
    /// Where to, relative to patches/.
    #[arg(long, value_name = "PATH")]
    pub to: String,
    /// Show the preview only; change nothing.
    #[arg(long, conflicts_with = "confirm")]
    pub dry_run: bool,
    /// Show the preview and ask y/n (on stdin) before changing anything.
    #[arg(long)]
    pub confirm: bool,
    #[command(flatten)]
    pub common: Common,
}

pub fn command() -> clap::Command {
    Cli::command()
}

fn clean(p: &str) -> String {
    let p = p.trim_end_matches('/');
    p.strip_prefix("patches/").unwrap_or(p).to_string()
}

/// Check the move is one the tree can take; returns the moved series.
fn plan_move(repo: &Repo, from: &str, to: &str, all: &[SeriesInfo]) -> Result<Vec<SeriesInfo>> {
    if from.is_empty() || to.is_empty() {
        return Err(usage("--from and --to name paths under patches/"));
    }
    if from == to {
        return Err(negative(format!("cannot move patches/{from} onto itself")));
    }
    if to.starts_with(&format!("{from}/")) {
        return Err(negative(format!(
            "cannot move patches/{from} into its own subfolder patches/{to}"
        )));
    }
    let src = format!("patches/{from}");
    if !repo.path(&src).is_dir() {
        return Err(negative(format!(
            "{src}: no such series or scope folder; nothing was changed"
        )));
    }
    let dest = format!("patches/{to}");
    if repo.exists(&dest) {
        return Err(negative(format!(
            "{dest} exists already; pick another destination or merge by hand; nothing was changed"
        )));
    }
    // No series may end up inside another series' folder.
    let mut ancestor = to;
    while let Some((parent, _)) = ancestor.rsplit_once('/') {
        if repo
            .path(&format!("patches/{parent}/series.yaml"))
            .is_file()
        {
            return Err(negative(format!(
                "patches/{to} would be inside the series patches/{parent}; series hold only patch files"
            )));
        }
        ancestor = parent;
    }
    let is_series = repo.path(&format!("{src}/series.yaml")).is_file();
    if is_series {
        check_series_ref(to).map_err(|e| {
            negative(format!(
                "--to {to}: not a place for a series ({e}); write <scope>/<series>"
            ))
        })?;
    } else {
        check_scope(to).map_err(|e| negative(format!("--to {to}: not a scope path ({e})")))?;
    }
    let moved: Vec<SeriesInfo> = all
        .iter()
        .filter(|s| moved_ref(&s.reference, from, to).is_some())
        .cloned()
        .collect();
    for s in &moved {
        if s.meta.scope != s.folder_scope() {
            return Err(negative(format!(
                "{}: scope: {} disagrees with its folder ({}); the move would leave it under a scope that disagrees with its tag: fix the tag first; nothing was changed",
                s.yaml(),
                s.meta.scope,
                s.folder_scope()
            )));
        }
    }
    Ok(moved)
}

pub fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let verb = "ka-migrate-tree";
    let (repo, lock, recovered) = start(verb, &cli.common)?;
    let (from, to) = (clean(&cli.from), clean(&cli.to));
    let all = repo.series()?;
    let moved = plan_move(&repo, &from, &to, &all)?;
    let rename = |r: &str| match moved_ref(r, &from, &to) {
        Some(n) => Edit::Replace(n),
        None => Edit::Keep,
    };

    let mut c = change(verb);
    c.recovered = recovered;
    let mut tx = Transaction::new();
    tx.rename(format!("patches/{from}"), format!("patches/{to}"));
    c.moved.push(Moved {
        from: format!("patches/{from}"),
        to: format!("patches/{to}"),
    });

    retag_series(&all, &from, &to, &rename, &mut c, &mut tx)?;
    let impact = rewrite_manifests(&repo, &moved, &from, &to, &rename, &mut c, &mut tx)?;
    let mut what = format!(
        "moved patches/{from} to patches/{to} ({} series, {} files rewritten)",
        moved.len(),
        c.files.len()
    );
    if impact.is_empty() {
        what.push_str("; every host takes the same series as before");
    } else {
        what.push_str(&format!("; {}", impact.join("; ")));
    }

    if cli.dry_run || cli.confirm {
        let mut preview = c.clone();
        preview.status = Status::DryRun;
        preview.message = format!("preview, nothing changed yet: {what}");
        preview.files.clear();
        if cli.dry_run {
            return emit(&preview, cli.common.json);
        }
        if !confirmed(&preview)? {
            eprintln!("{verb}: declined; nothing changed");
            return Ok(ExitCode::Negative);
        }
    }
    tx.commit(&repo.root, verb, &lock)?;
    c.message = what;
    emit(&c, cli.common.json)
}

/// Rewrite every series.yaml the move touches: moved series get their new
/// tag (and path); every `after:` follows the move.
fn retag_series(
    all: &[SeriesInfo],
    from: &str,
    to: &str,
    rename: EditFn,
    c: &mut TreeChange,
    tx: &mut Transaction,
) -> Result<()> {
    for s in all {
        let new_ref = moved_ref(&s.reference, from, to);
        let new_scope = new_ref
            .as_deref()
            .and_then(|r| r.rsplit_once('/'))
            .map(|(scope, _)| scope.to_string());
        if let Some(text) = refs::series_yaml(s, rename, new_scope.as_deref())? {
            let rel = match &new_ref {
                Some(r) => format!("patches/{r}/series.yaml"),
                None => s.yaml(),
            };
            c.diff.push_str(&unified_diff(&rel, &s.text, &text));
            c.files.push(rel.clone());
            tx.write(rel, text.into_bytes());
        }
    }
    Ok(())
}

/// Rewrite the manifests' references to the moved series; which hosts take
/// a moved series before the move and not after, or the other way round.
fn rewrite_manifests(
    repo: &Repo,
    moved: &[SeriesInfo],
    from: &str,
    to: &str,
    rename: EditFn,
    c: &mut TreeChange,
    tx: &mut Transaction,
) -> Result<Vec<String>> {
    let mut impact = Vec::new();
    for m in repo.manifests()? {
        let new = refs::manifest(&m, rename, rename)?;
        let after_manifest = match &new {
            Some(text) => ka_schema::parse_yaml::<HostManifest>(text, &m.rel)?,
            None => m.manifest.clone(),
        };
        for s in moved {
            let new_ref = moved_ref(&s.reference, from, to).expect("moved");
            let new_scope = new_ref.rsplit_once('/').map(|(a, _)| a).unwrap_or("");
            let before = takes(&m.manifest, &s.reference, s.folder_scope());
            let after = takes(&after_manifest, &new_ref, new_scope);
            match (before, after) {
                (true, false) => impact.push(format!(
                    "{} no longer takes {} (now {new_ref})",
                    m.manifest.host, s.reference
                )),
                (false, true) => impact.push(format!("{} now takes {new_ref}", m.manifest.host)),
                _ => {}
            }
        }
        if let Some(text) = new {
            c.diff.push_str(&unified_diff(&m.rel, &m.text, &text));
            c.files.push(m.rel.clone());
            tx.write(m.rel.clone(), text.into_bytes());
        }
    }
    Ok(impact)
}

/// Show the preview on stderr and ask; whether the answer is yes.
fn confirmed(preview: &TreeChange) -> anyhow::Result<bool> {
    let mut err = std::io::stderr();
    crate::render_to(&mut err, preview)?;
    eprint!("Apply this change? [y/N] ");
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES"))
}
