//! `ka-gitea`: mirror kernel-agent's issue records to a Gitea repository.
//! The only crate that speaks HTTP. Records are queued by the stores that
//! change them (`ka-block`, `ka-notice`) in `KA_ROOT/gitea/outbox/`; this program sends
//! them (`flush`), reads Gitea's state back (`pull`) and reports (`status`).

pub mod client;
pub mod links;
pub mod mirror;

use anyhow::Context;
use clap::{CommandFactory, Parser, Subcommand};
use ka_block::outbox::Outbox;
use ka_block::store::Store;
use ka_core::args::RootArg;
use ka_core::error::{ExitCode, usage};
use ka_core::hostlock::HostLock;
use ka_core::paths::Layout;
use ka_notice::store::NoticeStore;
use ka_schema::RuntimeConfig;
use ka_schema::{MirrorStatus, V1};
use std::io::Write;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "ka-gitea",
    version,
    about = "Mirror block and notice records to Gitea issues: flush the outbox, pull Gitea's state, show status",
    long_about = "When KA_ROOT/config.yaml (or $KA_CONFIG) says `issues: { backend: gitea, gitea: {...} }` \
(see ka-gitea(5)), every change of a block or a notice ([ka:installable]) is queued as one file in \
KA_ROOT/gitea/outbox/ after the local store is written, and ka-block or ka-notice runs `ka-gitea flush` \
right away. Filing opens an issue titled [ka:<kind>] ... with the labels ka, ka:block (or ka:notice) \
and ka:<kind>; filing again with a new detail comments; lifting or closing comments and closes it. \
The local stores stay the source of truth for the gate and the reminders.\n\n\
Network errors, timeouts and 5xx answers are retried with a doubling wait; when they persist the \
events stay queued (nothing lost, nothing sent twice) and the flush exits 2. 401, 403, 404 and 422 \
are not retried: the error says what to check.\n\n\
Exit status: 0 ok, 2 Gitea unreachable or refusing, or a usage or I/O error, 3 a corrupt outbox \
file, link or config (named in the message)."
)]
struct Cli {
    #[command(flatten)]
    root: RootArg,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Send the queued events in order; what fails stays queued and is reported.
    Flush,
    /// Flush, then read the ka-labelled issues back: an issue closed (or
    /// reopened) in Gitea lifts (or reopens) its block or closes (or reopens)
    /// its notice locally. Prints the changed ka.block and ka.notice
    /// documents, one per line.
    Pull,
    /// Queued events, linked records, and the last error.
    Status {
        /// Print one ka.mirror-status document instead of text.
        #[arg(long)]
        json: bool,
    },
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let layout = cli.root.layout()?;
    let config = RuntimeConfig::load(&layout.root)?;
    match cli.cmd {
        Cmd::Status { json } => status(&layout, &config, json),
        Cmd::Flush => {
            let Some(mirror) = open_mirror(&layout, &config)? else {
                return Ok(ExitCode::Ok);
            };
            let _lock = flush_lock(&layout)?;
            outcome(&layout, flush(&mirror))?;
            Ok(ExitCode::Ok)
        }
        Cmd::Pull => {
            let Some(mirror) = open_mirror(&layout, &config)? else {
                return Err(usage(
                    "the config selects the local issue store; there is no Gitea to pull from (see ka-gitea(5))",
                )
                .into());
            };
            let _lock = flush_lock(&layout)?;
            let changed = outcome(
                &layout,
                flush(&mirror).and_then(|_| {
                    mirror.pull(&Store::local(&layout), &NoticeStore::local(&layout))
                }),
            )?;
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            for b in &changed {
                ka_core::stream::write_doc(&mut out, b).context("stdout")?;
            }
            out.flush().context("stdout")?;
            Ok(ExitCode::Ok)
        }
    }
}

/// The mirror, or None when the config selects the local store (then a
/// non-empty outbox is an error: those events would never be sent).
fn open_mirror<'a>(
    layout: &'a Layout,
    config: &RuntimeConfig,
) -> anyhow::Result<Option<mirror::Mirror<'a>>> {
    let shown = RuntimeConfig::path(&layout.root)?.display().to_string();
    match config.gitea() {
        Some(g) => Ok(Some(mirror::Mirror::new(
            layout,
            client::Gitea::new(g, &shown)?,
        ))),
        None => {
            let queued = Outbox::new(layout).entries()?.len();
            if queued > 0 {
                return Err(usage(format!(
                    "{queued} event(s) are queued in {} but {shown} selects the local issue store; \
set issues.backend: gitea to send them, or remove them",
                    layout.outbox().display()
                ))
                .into());
            }
            eprintln!("ka-gitea: the local issue store is selected ({shown}); nothing to send");
            Ok(None)
        }
    }
}

fn flush_lock(layout: &Layout) -> anyhow::Result<HostLock> {
    Ok(HostLock::acquire(
        &layout.locks().join("gitea.lock"),
        "ka-gitea flush/pull",
    )?)
}

fn flush(mirror: &mirror::Mirror) -> ka_core::Result<()> {
    let r = mirror.flush()?;
    if r.sent > 0 {
        eprintln!(
            "ka-gitea: {} event(s) sent to {}",
            r.sent, mirror.gitea.shown
        );
    }
    Ok(())
}

/// Record the outcome for `status`, and pass it on.
fn outcome<T>(layout: &Layout, r: ka_core::Result<T>) -> anyhow::Result<T> {
    match r {
        Ok(v) => {
            mirror::record_outcome(layout, None)?;
            Ok(v)
        }
        Err(e) => {
            if let Err(save) = mirror::record_outcome(layout, Some(&e.to_string())) {
                eprintln!("ka-gitea: warning: cannot record the error for status: {save}");
            }
            Err(e.into())
        }
    }
}

fn status(layout: &Layout, config: &RuntimeConfig, json: bool) -> anyhow::Result<ExitCode> {
    let outbox = Outbox::new(layout);
    let entries = outbox.entries()?;
    let corrupt: Vec<PathBuf> = entries
        .iter()
        .filter(|p| Outbox::read(p).is_err())
        .cloned()
        .collect();
    let saved = mirror::read_state(layout).ok().flatten();
    let st = MirrorStatus {
        kind: Default::default(),
        version: V1,
        backend: if config.gitea().is_some() {
            "gitea"
        } else {
            "local"
        }
        .into(),
        repository: config
            .gitea()
            .map(|g| format!("{}/{}/{}", g.url.trim_end_matches('/'), g.owner, g.repo)),
        queued: entries.len() as u32,
        corrupt,
        linked: links::Links::new(layout).all()?.len() as u32,
        last_flush_at: saved.as_ref().and_then(|s| s.last_flush_at.clone()),
        last_error: saved.as_ref().and_then(|s| s.last_error.clone()),
        last_error_at: saved.as_ref().and_then(|s| s.last_error_at.clone()),
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if json {
        ka_core::stream::write_doc(&mut out, &st).context("stdout")?;
    } else {
        let mut text = format!(
            "backend:  {}{}\nqueued:   {} event(s) in {}\nlinked:   {} record(s)\n",
            st.backend,
            st.repository
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default(),
            st.queued,
            outbox.dir().display(),
            st.linked
        );
        for c in &st.corrupt {
            text.push_str(&format!("corrupt:  {}\n", c.display()));
        }
        text.push_str(&format!(
            "flushed:  {}\n",
            st.last_flush_at.as_deref().unwrap_or("never")
        ));
        if let Some(e) = &st.last_error {
            text.push_str(&format!(
                "error:    {} (at {})\n",
                e,
                st.last_error_at.as_deref().unwrap_or("?")
            ));
        }
        out.write_all(text.as_bytes()).context("stdout")?;
    }
    out.flush().context("stdout")?;
    Ok(ExitCode::Ok)
}
