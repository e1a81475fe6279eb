//! The `ka-block` and `ka-gate` command lines.

use crate::gate::{Request, blocking};
use crate::store::Store;
use crate::sync::sync_check;
use anyhow::Context;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, CommandFactory, Parser, Subcommand};
use ka_core::args::RootArg;
use ka_core::error::{ExitCode, usage};
use ka_core::names::check_name;
use ka_schema::{BlockKind, BlockState, Check, Gate, Subject, V1, Verb};
use std::io::Write;

#[derive(Parser, Debug)]
#[command(
    name = "ka-block",
    version,
    about = "File, lift, list and sync block records ([ka:<kind>]) in the local store",
    long_about = "The block store lives under KA_ROOT/blocks/, one ka.block JSON record per block. \
A block halts exactly one row of the table in ka-gate(1). Filing is idempotent: \
the id is derived from kind and subject, so filing the same block twice updates one record."
)]
struct BlockCli {
    #[command(flatten)]
    root: RootArg,
    #[command(subcommand)]
    cmd: BlockCmd,
}

#[derive(Subcommand, Debug)]
enum BlockCmd {
    /// File a block (or refresh the open one with the same kind and subject); prints it.
    File(FileArgs),
    /// Lift a block by id; prints it.
    Lift {
        id: String,
        /// Why it is lifted (kept in the record).
        #[arg(long)]
        reason: String,
    },
    /// List blocks as ka.block documents, one per line (open ones unless --all).
    /// None on a terminal says "no open blocks"; piped, it prints nothing.
    List {
        #[arg(long)]
        all: bool,
    },
    /// Read ka.check documents on stdin, file [ka:patch-fail] and
    /// [ka:campaign-conflict] blocks for what fails, lift those the reports show
    /// resolved, and pass the documents through unchanged to stdout.
    Sync,
}

#[derive(Args, Debug)]
struct FileArgs {
    #[arg(long, value_parser = block_kinds())]
    kind: BlockKind,
    /// The patch a patch-fail block is about (repository-relative path).
    #[arg(long = "patch", value_name = "PATH")]
    patches: Vec<String>,
    /// The host a host-drifted, host-changed or regression block is about.
    #[arg(long)]
    host: Option<String>,
    /// The build host a build-fail or bootstrap-missing block is about.
    #[arg(long)]
    build_host: Option<String>,
    /// The option (`CONFIG_<NAME>`) a config-drop block is about (with --host).
    #[arg(long, value_name = "CONFIG_NAME")]
    option: Option<String>,
    /// Title after the [ka:<kind>] prefix.
    #[arg(long)]
    title: String,
    #[arg(long, default_value = "")]
    detail: String,
}

pub fn block_command() -> clap::Command {
    BlockCli::command()
}

pub fn gate_command() -> clap::Command {
    GateCli::command()
}

pub fn run_block() -> anyhow::Result<ExitCode> {
    let cli = BlockCli::parse();
    let layout = cli.root.layout()?;
    let store = match cli.cmd {
        // Listing never queues anything: it needs no config.
        BlockCmd::List { .. } => {
            layout.note_if_missing("ka-block");
            Store::local(&layout)
        }
        _ => Store::open(&layout)?,
    };
    let result = run_block_cmd(cli.cmd, &store);
    // Whatever was queued before an error is sent (or reported) too.
    crate::mirror::try_flush(&store.mirror, &layout.root, "ka-block");
    result
}

fn run_block_cmd(cmd: BlockCmd, store: &Store) -> anyhow::Result<ExitCode> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match cmd {
        BlockCmd::File(a) => {
            let kind = a.kind;
            let subject = subject_of(kind, &a)?;
            let b = store.file(kind, subject, &a.title, &a.detail)?;
            ka_core::stream::write_doc(&mut out, &b).context("stdout")?;
        }
        BlockCmd::Lift { id, reason } => {
            let b = store.lift(&id, &reason)?;
            ka_core::stream::write_doc(&mut out, &b).context("stdout")?;
        }
        BlockCmd::List { all } => {
            let mut shown = 0;
            for b in store.all()? {
                if all || b.state == BlockState::Open {
                    ka_core::stream::write_doc(&mut out, &b).context("stdout")?;
                    shown += 1;
                }
            }
            let none = if all { "no blocks" } else { "no open blocks" };
            ka_core::term::say_none(&mut out, shown, none).context("stdout")?;
        }
        BlockCmd::Sync => {
            let checks: Vec<Check> = ka_core::stream::read_docs(std::io::stdin().lock(), "stdin")?;
            for c in &checks {
                let o = sync_check(store, c)?;
                for b in &o.filed {
                    eprintln!("ka-block: {} {} {}", c.plan.host, b.id, b.title);
                }
                for b in &o.lifted {
                    eprintln!("ka-block: {} lifted {} {}", c.plan.host, b.id, b.title);
                }
                ka_core::stream::write_doc(&mut out, c).context("stdout")?;
            }
        }
    }
    out.flush().context("stdout")?;
    Ok(ExitCode::Ok)
}

fn subject_of(kind: BlockKind, a: &FileArgs) -> anyhow::Result<Subject> {
    let need = |what: &str| usage(format!("a {} block needs {what}", kind.as_str()));
    Ok(match kind {
        BlockKind::PatchFail => match a.patches.as_slice() {
            [p] => Subject::Patch { patch: p.clone() },
            _ => return Err(need("exactly one --patch").into()),
        },
        BlockKind::CampaignConflict => {
            if a.patches.len() < 2 {
                return Err(need("two or more --patch").into());
            }
            let mut patches = a.patches.clone();
            patches.sort();
            Subject::Patches { patches }
        }
        BlockKind::HostDrifted | BlockKind::HostChanged | BlockKind::Regression => {
            let host = a.host.clone().ok_or_else(|| need("--host"))?;
            check_name("host", &host)?;
            Subject::Host { host }
        }
        BlockKind::BuildFail | BlockKind::BootstrapMissing => {
            let host = a.build_host.clone().ok_or_else(|| need("--build-host"))?;
            check_name("build host", &host)?;
            Subject::BuildHost { host }
        }
        BlockKind::SigningFail => Subject::Global,
        BlockKind::ConfigDrop => {
            let host = a.host.clone().ok_or_else(|| need("--host and --option"))?;
            check_name("host", &host)?;
            let option = a
                .option
                .clone()
                .ok_or_else(|| need("--host and --option"))?;
            Subject::Config { host, option }
        }
    })
}

#[derive(Parser, Debug)]
#[command(
    name = "ka-gate",
    version,
    about = "May a verb act on a host? Prints a ka.gate answer; exit 1 when blocked",
    long_about = "Asks the block store whether VERB may act on HOST (with build host B, with \
patches P) and prints one ka.gate document naming the blocks in the way.\n\n\
What halts what (no block halts anything outside its row):\n\
  patch-fail         promote, when the plan contains the patch\n\
  campaign-conflict  promote, when the plan contains every conflicting patch\n\
  host-drifted       install to that host (builds go on)\n\
  build-fail         builds routed to that build host\n\
  bootstrap-missing  builds routed to that build host\n\
  host-changed       builds routed to that host\n\
  signing-fail       build and sign, everywhere\n\
  regression         install to that host\n\
  config-drop        promote of that host\n\n\
Exit status: 0 allowed, 1 blocked, 2 usage or I/O error, 3 corrupt store."
)]
struct GateCli {
    #[command(flatten)]
    root: RootArg,
    #[arg(long, value_parser = verbs())]
    verb: Verb,
    #[arg(long)]
    host: String,
    #[arg(long)]
    build_host: Option<String>,
    /// A patch the verb would carry (repeatable).
    #[arg(long = "patch", value_name = "PATH")]
    patches: Vec<String>,
}

/// Accept exactly the names the JSON uses, and list them in `--help`.
fn block_kinds() -> impl clap::builder::TypedValueParser<Value = BlockKind> {
    PossibleValuesParser::new(BlockKind::ALL.map(BlockKind::as_str))
        .map(|s| s.parse::<BlockKind>().expect("a listed kind"))
}

fn verbs() -> impl clap::builder::TypedValueParser<Value = Verb> {
    PossibleValuesParser::new(Verb::ALL.map(Verb::as_str))
        .map(|s| s.parse::<Verb>().expect("a listed verb"))
}

pub fn run_gate() -> anyhow::Result<ExitCode> {
    let cli = GateCli::parse();
    check_name("host", &cli.host)?;
    if let Some(b) = &cli.build_host {
        check_name("build host", b)?;
    }
    let store = Store::local(&cli.root.layout()?);
    let open = store.open_blocks()?;
    let verb = cli.verb;
    let req = Request {
        host: &cli.host,
        build_host: cli.build_host.as_deref(),
        patches: &cli.patches,
    };
    let blocked_by: Vec<_> = blocking(&open, verb, &req).into_iter().cloned().collect();
    let gate = Gate {
        kind: Default::default(),
        version: V1,
        verb,
        host: cli.host.clone(),
        build_host: cli.build_host.clone(),
        patches: cli.patches.clone(),
        allowed: blocked_by.is_empty(),
        blocked_by,
    };
    let stdout = std::io::stdout();
    ka_core::stream::write_doc(&mut stdout.lock(), &gate).context("stdout")?;
    Ok(if gate.allowed {
        ExitCode::Ok
    } else {
        ExitCode::Negative
    })
}
