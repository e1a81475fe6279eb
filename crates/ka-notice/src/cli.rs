//! The `ka-notice` command line.

use crate::store::{NoticeStore, notice_id};
use anyhow::Context;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, CommandFactory, Parser, Subcommand};
use ka_core::args::RootArg;
use ka_core::error::{ExitCode, usage};
use ka_schema::{NoticeKind, NoticeState, NoticeSubject};
use std::io::Write;

#[derive(Parser, Debug)]
#[command(
    name = "ka-notice",
    version,
    about = "File, close and list notice records ([ka:installable]) in the local store",
    long_about = "Notices are issue records that halt nothing: the gate never reads them. They \
live under KA_ROOT/notices/, one ka.notice JSON record each, and ka-remind(1) reminds of the \
open ones.\n\n\
[ka:installable] says that a package version was published for a host and is not installed \
there yet. The publishing step files it; filing a newer version of the same package for the \
same host closes the older one (superseded); the install step closes it once that version is \
installed.\n\n\
Filing is idempotent: the id is derived from kind and subject, so filing the same notice twice \
updates one record (its filings count goes up).\n\n\
Exit status: 0 ok, 2 usage or I/O error (e.g. an unknown id), 3 a corrupt record or bad input."
)]
struct Cli {
    #[command(flatten)]
    root: RootArg,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// File a notice (or refresh the open one with the same kind and subject); prints it.
    File {
        #[command(flatten)]
        subject: SubjectArgs,
        #[arg(long, default_value = "")]
        detail: String,
    },
    /// Close a notice, by id or by its subject; prints it.
    Close {
        /// The notice id (or give its subject with --kind/--host/--package/--version).
        #[arg(conflicts_with_all = ["host", "package", "package_version"])]
        id: Option<String>,
        #[command(flatten)]
        subject: OptionalSubjectArgs,
        /// Why it is closed (kept in the record), e.g. "installed".
        #[arg(long)]
        reason: String,
    },
    /// List notices as ka.notice documents, one per line (open ones unless --all).
    /// None on a terminal says "no open notices"; piped, it prints nothing.
    List {
        #[arg(long)]
        all: bool,
        /// Only notices about this host.
        #[arg(long)]
        host: Option<String>,
    },
}

#[derive(Args, Debug)]
struct SubjectArgs {
    #[arg(long, value_parser = notice_kinds())]
    kind: NoticeKind,
    /// The host the package is for.
    #[arg(long)]
    host: String,
    /// The package name, e.g. linux-fresnel-fourier.
    #[arg(long)]
    package: String,
    /// The package version, e.g. 6.1.158-2.
    #[arg(long = "version", id = "package_version", value_name = "VERSION")]
    package_version: String,
}

#[derive(Args, Debug)]
struct OptionalSubjectArgs {
    #[arg(long, value_parser = notice_kinds(), default_value = "installable")]
    kind: NoticeKind,
    #[arg(long, requires_all = ["package", "package_version"])]
    host: Option<String>,
    #[arg(long, requires_all = ["host", "package_version"])]
    package: Option<String>,
    #[arg(long = "version", id = "package_version", value_name = "VERSION", requires_all = ["host", "package"])]
    package_version: Option<String>,
}

fn notice_kinds() -> impl clap::builder::TypedValueParser<Value = NoticeKind> {
    PossibleValuesParser::new(NoticeKind::ALL.map(NoticeKind::as_str))
        .map(|s| s.parse::<NoticeKind>().expect("a listed kind"))
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let layout = cli.root.layout()?;
    let store = match cli.cmd {
        Cmd::List { .. } => NoticeStore::local(&layout),
        _ => NoticeStore::open(&layout)?,
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match cli.cmd {
        Cmd::File { subject, detail } => {
            let s = NoticeSubject::Package {
                host: subject.host,
                package: subject.package,
                version: subject.package_version,
            };
            let (notice, superseded) = store.file(subject.kind, s, &detail)?;
            for old in &superseded {
                eprintln!("ka-notice: closed {} {} (superseded)", old.id, old.title);
            }
            ka_core::stream::write_doc(&mut out, &notice).context("stdout")?;
        }
        Cmd::Close {
            id,
            subject,
            reason,
        } => {
            let id = match (id, subject.host, subject.package, subject.package_version) {
                (Some(id), ..) => id,
                (None, Some(host), Some(package), Some(version)) => notice_id(
                    subject.kind,
                    &NoticeSubject::Package {
                        host,
                        package,
                        version,
                    },
                ),
                _ => {
                    return Err(usage(
                        "name the notice: an id, or --host, --package and --version",
                    )
                    .into());
                }
            };
            let notice = store.close(&id, &reason)?;
            ka_core::stream::write_doc(&mut out, &notice).context("stdout")?;
        }
        Cmd::List { all, host } => {
            layout.note_if_missing("ka-notice");
            let mut shown = 0;
            for n in store.all()? {
                let wanted = (all || n.state == NoticeState::Open)
                    && host.as_deref().is_none_or(|h| n.subject.host() == h);
                if wanted {
                    ka_core::stream::write_doc(&mut out, &n).context("stdout")?;
                    shown += 1;
                }
            }
            let none = format!(
                "no {}notices{}",
                if all { "" } else { "open " },
                host.map(|h| format!(" for {h}")).unwrap_or_default()
            );
            ka_core::term::say_none(&mut out, shown, &none).context("stdout")?;
        }
    }
    out.flush().context("stdout")?;
    ka_block::mirror::try_flush(&store.mirror, &layout.root, "ka-notice");
    Ok(ExitCode::Ok)
}
