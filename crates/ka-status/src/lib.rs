//! `ka-status`: what each fleet host runs and what waits for it, read from
//! local files only (no SSH): fast enough for every prompt.

pub mod built;
pub mod show;

use anyhow::Context;
use clap::{CommandFactory, Parser};
use ka_block::Store;
use ka_core::args::StateArgs;
use ka_core::error::{Error, ExitCode, Result, contract, usage};
use ka_core::paths::Layout;
use ka_notice::NoticeStore;
use ka_schema::HostManifest;
use ka_schema::{
    Block, BlockKind, BlockState, HostStatus, Installed, Lock, Notice, NoticeKind, NoticeState,
    NoticeSubject, PackageRef, ProbeReport, Subject, V1, VerifySummary,
};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;

#[derive(Parser, Debug)]
#[command(
    name = "ka-status",
    version,
    about = "One line per fleet host: installed, promoted, built, published, installable, drift, blocks, verify",
    long_about = "Shows every host of the fleet (fleet/*.yaml of the fleet repository) from local \
state under KA_ROOT only, without SSH:\n\n\
  INSTALLED    hosts/<host>/installed.json (ka.installed, written by ka-install)\n\
  PROMOTED     hosts/<host>/promoted/manifest.lock (ka-promote): the promotion id (the first \
8 hex digits of the lock's b2sum, as in build job ids) and how long ago it was promoted\n\
  BUILT        the newest successful build job of the host (jobs/<job>.json, output/<job>/)\n\
  PUBLISHED    the newest [ka:installable] notice filed for the host (notices/)\n\
  INSTALLABLE  its open [ka:installable] notices: versions waiting for ka-install\n\
  DRIFT        an open [ka:host-drifted] block on the host\n\
  BLOCKS       open blocks about the host or its build role, and global ones\n\
  VERIFY       hosts/<host>/verify/last.json (ka.probe-report): pass/FAIL and how long ago\n\n\
A missing file shows as '—'. A file that cannot be read is named on stderr, its field shows \
'?', the other fields and hosts are still shown, and the exit status is non-zero. A fleet \
without hosts says so on a terminal and prints nothing when piped.\n\n\
With HOST: that host in detail. --live (ask the hosts themselves) is refused until ka-probe exists.\n\n\
Exit status: 0 ok, 2 usage or I/O error, 3 a corrupt state file or manifest."
)]
struct Cli {
    /// Show this host in detail.
    host: Option<String>,
    /// Print ka.host-status documents, one per line.
    #[arg(long)]
    json: bool,
    /// Ask the hosts over SSH (not available yet).
    #[arg(long)]
    live: bool,
    /// The time ages are counted to (RFC 3339 UTC or seconds since the epoch);
    /// default KA_NOW, else the clock.
    #[arg(long, value_name = "TIME")]
    now: Option<String>,
    #[command(flatten)]
    state: StateArgs,
}

pub fn command() -> clap::Command {
    Cli::command()
}

/// A JSON state file, or `None` when it does not exist. A file that does not
/// parse is an error naming it.
pub fn optional<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> Result<Option<T>> {
    if !path.exists() {
        return Ok(None);
    }
    ka_core::stream::read_file(path)
        .map(Some)
        .map_err(|e| match e {
            Error::Io { .. } => e,
            e => contract(format!(
                "{what} is corrupt: {e}; repair or remove {}",
                path.display()
            )),
        })
}

/// The fields of a host's line, each read from its own source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Field {
    Promoted,
    Installed,
    Built,
    Verify,
    Blocks,
    Notices,
}

fn keep(r: Result<()>, field: Field, g: &mut Unread) {
    if let Err(e) = r {
        g.errors.push(e);
        g.fields.insert(field);
    }
}

/// What could not be read for one host.
#[derive(Default)]
struct Unread {
    errors: Vec<Error>,
    fields: BTreeSet<Field>,
}

fn host_mismatch(path: &Path, found: &str, host: &str) -> Error {
    contract(format!(
        "{}: records host {found:?}, but it is in {host}'s folder",
        path.display()
    ))
}

/// Everything the stores say, read once for all hosts. A store that cannot
/// be read is its error, as text: every host shows it, and it is reported once.
pub struct Shared {
    pub blocks: std::result::Result<Vec<Block>, String>,
    pub notices: std::result::Result<Vec<Notice>, String>,
}

impl Shared {
    /// Read both stores; `report` sees each error once.
    pub fn read(layout: &Layout, mut report: impl FnMut(&Error)) -> Shared {
        let blocks = Store::local(layout).all().map_err(|e| {
            report(&e);
            e.to_string()
        });
        let notices = NoticeStore::local(layout).all().map_err(|e| {
            report(&e);
            e.to_string()
        });
        Shared { blocks, notices }
    }
}

/// One host's status, and the errors met while reading it.
pub struct Gathered {
    pub status: HostStatus,
    pub manifest: Option<HostManifest>,
    /// The promoted manifest.lock, when there is one.
    pub lock: Option<Lock>,
    /// The last verification whole (`status.verify` is its summary).
    pub verify_report: Option<ProbeReport>,
    pub errors: Vec<Error>,
    /// Fields whose source could not be read (shown as `?`).
    pub unreadable: BTreeSet<Field>,
}

/// One host's line, each field read from its own source; a source that
/// cannot be read is kept as an error and the other fields are still read.
/// Kept as one function: it is the list of the line's fields, in order.
pub fn gather(layout: &Layout, repo: &Path, host: &str, shared: &Shared) -> Gathered {
    let mut unread = Unread::default();
    let mut st = nothing_known(host);
    // The name becomes paths under KA_ROOT: nothing else is read for a bad one.
    if let Err(e) = ka_core::names::check_name("host", host) {
        st.errors.push(format!("fleet/{host}.yaml: {e}"));
        return Gathered {
            status: st,
            manifest: None,
            lock: None,
            verify_report: None,
            errors: vec![e],
            unreadable: BTreeSet::new(),
        };
    }
    let shown = format!("fleet/{host}.yaml");
    let manifest = match HostManifest::load(&repo.join(&shown), &shown) {
        Ok(m) => Some(m),
        Err(e) => {
            unread.errors.push(e);
            None
        }
    };

    let mut promoted_lock = None;
    keep(
        promoted(layout, host).map(|p| {
            if let Some((lock, b2sum, at)) = p {
                st.promoted = Some(b2sum);
                st.promoted_at = at;
                promoted_lock = Some(lock);
            }
        }),
        Field::Promoted,
        &mut unread,
    );

    keep(
        installed(layout, host).map(|i| st.installed = i),
        Field::Installed,
        &mut unread,
    );

    let pkgbase = manifest
        .as_ref()
        .and_then(|m| m.kernel.as_ref())
        .map(|k| k.pkgbase.clone());
    keep(
        built::newest(layout, host, pkgbase.as_deref()).map(|b| st.built = b),
        Field::Built,
        &mut unread,
    );

    let mut verify_report = None;
    keep(
        last_verify(layout, host).map(|r| {
            st.verify = r.as_ref().map(|r| VerifySummary {
                passed: r.passed,
                at: r.at.clone(),
                failed_bars: r.bars.iter().filter(|b| !b.passed).map(|b| b.bar).collect(),
            });
            verify_report = r;
        }),
        Field::Verify,
        &mut unread,
    );

    match &shared.blocks {
        Ok(blocks) => add_blocks(&mut st, blocks),
        Err(e) => {
            st.errors.push(e.clone());
            unread.fields.insert(Field::Blocks);
        }
    }
    match &shared.notices {
        Ok(notices) => add_installable(&mut st, notices),
        Err(e) => {
            st.errors.push(e.clone());
            unread.fields.insert(Field::Notices);
        }
    }
    st.errors
        .extend(unread.errors.iter().map(|e| e.to_string()));
    Gathered {
        status: st,
        manifest,
        lock: promoted_lock,
        verify_report,
        errors: unread.errors,
        unreadable: unread.fields,
    }
}

/// A status with every field still unknown.
fn nothing_known(host: &str) -> HostStatus {
    HostStatus {
        kind: Default::default(),
        version: V1,
        host: host.to_string(),
        promoted: None,
        promoted_at: None,
        installed: None,
        built: None,
        published: None,
        installable: Vec::new(),
        drifted: false,
        blocks: Vec::new(),
        verify: None,
        errors: Vec::new(),
    }
}

/// The host's `installed.json`, if any; one written for another host is an error.
fn installed(layout: &Layout, host: &str) -> Result<Option<Installed>> {
    let path = layout.installed(host);
    match optional::<Installed>(&path, "installed record")? {
        Some(i) if i.host != host => Err(host_mismatch(&path, &i.host, host)),
        i => Ok(i),
    }
}

/// The host's last verify report, if any; one of another host is an error.
fn last_verify(layout: &Layout, host: &str) -> Result<Option<ProbeReport>> {
    let path = layout.last_verify(host);
    match optional::<ProbeReport>(&path, "verify report")? {
        Some(r) if r.host != host => Err(host_mismatch(&path, &r.host, host)),
        r => Ok(r),
    }
}

/// The open blocks about this host (its own, its build host role's, its
/// config's, and global ones); `[ka:host-drifted]` marks it drifted.
fn add_blocks(st: &mut HostStatus, blocks: &[Block]) {
    for b in blocks.iter().filter(|b| b.state == BlockState::Open) {
        let about_host = match &b.subject {
            Subject::Host { host: h }
            | Subject::BuildHost { host: h }
            | Subject::Config { host: h, .. } => *h == st.host,
            Subject::Global => true,
            Subject::Patch { .. } | Subject::Patches { .. } => false,
        };
        if about_host {
            st.drifted |= b.block == BlockKind::HostDrifted;
            st.blocks.push(b.to_ref());
        }
    }
}

/// The host's `[ka:installable]` notices: the open ones, and the newest
/// publication, open or not.
fn add_installable(st: &mut HostStatus, notices: &[Notice]) {
    for n in notices
        .iter()
        .filter(|n| n.notice == NoticeKind::Installable)
    {
        let NoticeSubject::Package {
            host: h,
            package,
            version,
        } = &n.subject;
        if *h != st.host {
            continue;
        }
        let r = PackageRef {
            id: n.id.clone(),
            package: package.clone(),
            package_version: version.clone(),
            at: n.opened_at.clone(),
        };
        if n.state == NoticeState::Open {
            st.installable.push(r.clone());
        }
        // RFC 3339 UTC text sorts as time does.
        if st.published.as_ref().is_none_or(|p| p.at <= r.at) {
            st.published = Some(r);
        }
    }
}

/// The host's promoted lock, its b2sum, and when the `promoted` link was last
/// switched to it (the link's own mtime: a promote that changes nothing
/// leaves the link alone). `None` when the host was never promoted.
fn promoted(layout: &Layout, host: &str) -> Result<Option<(Lock, String, Option<String>)>> {
    let link = layout.promoted(host);
    let lock_path = link.join("manifest.lock");
    let Some(lock) = optional::<Lock>(&lock_path, "promoted manifest.lock")? else {
        return Ok(None);
    };
    if lock.host != host {
        return Err(host_mismatch(&lock_path, &lock.host, host));
    }
    let bytes = std::fs::read(&lock_path).map_err(|e| Error::io(&lock_path, e))?;
    let at = std::fs::symlink_metadata(&link)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| ka_core::time::rfc3339(d.as_secs() as i64));
    Ok(Some((lock, ka_core::hash::b2sum(&bytes), at)))
}

pub fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    if cli.live {
        return Err(usage(
            "--live is not available until ka-probe exists; ka-status shows the local state \
             (drop --live)",
        )
        .into());
    }
    let layout = cli.state.layout()?;
    let repo = cli.state.repo()?;
    let now = match &cli.now {
        Some(t) => ka_core::time::parse_time(t)?,
        None => ka_core::time::now_epoch()?,
    };
    let mut hosts = ka_schema::fleet::hosts(&repo)?;
    if let Some(h) = &cli.host {
        if !hosts.contains(h) {
            return Err(usage(format!(
                "no host {h} in {}; ka-status without a host lists them",
                repo.join("fleet").display()
            ))
            .into());
        }
        hosts = vec![h.clone()];
    }
    layout.note_if_missing("ka-status");
    // The stores are read once; a corrupt record is reported once and marks
    // the field on every host.
    let mut code = ExitCode::Ok;
    let report = |e: &Error, code: &mut ExitCode| {
        eprintln!("ka-status: error: {e}");
        if e.exit_code() as i32 > *code as i32 {
            *code = e.exit_code();
        }
    };
    let shared = Shared::read(&layout, |e| report(e, &mut code));

    let gathered: Vec<Gathered> = hosts
        .iter()
        .map(|h| gather(&layout, &repo, h, &shared))
        .collect();
    for g in &gathered {
        for e in &g.errors {
            report(e, &mut code);
        }
    }

    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if cli.json {
        for g in &gathered {
            ka_core::stream::write_doc(&mut out, &g.status).context("stdout")?;
        }
    } else if cli.host.is_some() {
        show::detail(&mut out, &gathered[0], &shared_blocks(&shared), now).context("stdout")?;
    } else {
        let fleet = repo.join("fleet");
        show::table(
            &mut out,
            &gathered,
            &shared_blocks(&shared),
            now,
            &fleet.display().to_string(),
        )
        .context("stdout")?;
    }
    out.flush().context("stdout")?;
    Ok(code)
}

fn shared_blocks(shared: &Shared) -> Vec<Block> {
    shared.blocks.clone().unwrap_or_default()
}
