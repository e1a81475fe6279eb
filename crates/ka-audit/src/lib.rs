//! The audit trail: every verb run appends one `ka.audit` line to
//! `KA_ROOT/audit/audit.log` (one `O_APPEND` write, fsynced, under a lock) and
//! writes the same document as the record `KA_ROOT/audit/records/<id>.json`,
//! titled `[ka:<verb>] <arguments>` so an issue backend can mirror it.
//!
//! Wrappers call `ka-audit record` from an EXIT trap (`audit_verb` in
//! ka-lib.sh), so a failing verb is audited with its real exit status; Rust
//! verbs call [`record`] directly.

use anyhow::Context;
use clap::{CommandFactory, Parser, Subcommand};
use ka_block::mirror::Queue;
use ka_block::records::RecordDir;
use ka_core::args::RootArg;
use ka_core::error::{Error, ExitCode, Result, contract, usage};
use ka_core::hash::b2sum;
use ka_core::paths::Layout;
use ka_schema::{Artifact, AuditEntry, AuditResult, IssueChange, IssueItem, IssueState, V1};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

pub const LOG: &str = "audit.log";

/// What a verb run was; [`record`] adds who, where, when and the id.
#[derive(Debug, Clone, Default)]
pub struct Run {
    pub verb: String,
    pub argv: Vec<String>,
    pub exit_code: i32,
    pub dry_run: bool,
    /// Hosts whose promoted manifest.lock the verb acted on.
    pub targets: Vec<String>,
    /// Every host with a promoted manifest.lock (for `--all` verbs).
    pub all_targets: bool,
    /// When the verb ended (seconds since the epoch); the clock (or KA_NOW)
    /// when absent. A verb that takes `--now` passes it here.
    pub at: Option<i64>,
}

/// The verb name: lower-case letters, digits and `-` (it starts the id).
fn check_verb(verb: &str) -> Result<()> {
    let ok = !verb.is_empty()
        && verb.len() <= 32
        && verb.as_bytes()[0].is_ascii_lowercase()
        && verb
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(usage(format!(
            "invalid verb {verb:?}: lower-case letters, digits and '-', e.g. promote"
        )))
    }
}

/// Append `run` to the audit log and write its record. Returns the entry.
pub fn record(layout: &Layout, run: &Run) -> Result<AuditEntry> {
    let verb = run.verb.strip_prefix("ka-").unwrap_or(&run.verb);
    check_verb(verb)?;
    let now = match run.at {
        Some(t) => t,
        None => ka_core::time::now_epoch()?,
    };
    let at = ka_core::time::rfc3339(now);
    let mut targets = run.targets.clone();
    if run.all_targets {
        targets.extend(promoted_hosts(layout)?);
    }
    let mut locks = Vec::new();
    for host in &targets {
        ka_core::names::check_name("host", host)?;
        let path = layout.promoted(host).join("manifest.lock");
        match fs::read(&path) {
            Ok(bytes) => locks.push(Artifact {
                file: path.display().to_string(),
                size: bytes.len() as u64,
                b2sum: b2sum(&bytes),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&path, e)),
        }
    }
    locks.sort_by(|a, b| a.file.cmp(&b.file));
    locks.dedup();
    targets.sort();
    targets.dedup();
    let compact: String = at.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    // Unique per run even when KA_NOW pins the time: the process id and the
    // clock's nanoseconds go into the hash.
    let salt = format!(
        "{}\n{}\n{:?}\n{:?}",
        std::process::id(),
        at,
        run.argv,
        std::time::SystemTime::now()
    );
    let id = format!(
        "{verb}-{}-{}",
        compact.to_lowercase(),
        &b2sum(salt.as_bytes())[..8]
    );
    let entry = AuditEntry {
        kind: Default::default(),
        version: V1,
        title: format!("[ka:{verb}] {}", summary(&run.argv)),
        id,
        verb: verb.to_string(),
        argv: run.argv.clone(),
        acting_host: ka_core::names::this_host(),
        user: current_user(),
        targets,
        dry_run: run.dry_run,
        locks,
        result: AuditResult::from_exit(run.exit_code, run.dry_run),
        exit_code: run.exit_code,
        at,
    };
    append(&layout.audit(), &entry)?;
    records(layout).put(&entry.id, &entry)?;
    // Mirrored as a closed issue (a record of what happened, not open work);
    // dry runs changed nothing and stay in the local log.
    if entry.result != AuditResult::DryRun {
        let queue = Queue::from_config(layout)?;
        queue.push(IssueChange::Filed, audit_item(&entry), None)?;
        ka_block::mirror::try_flush(&queue, &layout.root, "ka-audit");
    }
    Ok(entry)
}

/// An audit record as a (closed) issue for the Gitea mirror.
pub fn audit_item(e: &AuditEntry) -> IssueItem {
    let item = format!("audit/{}", e.id);
    let locks: String = e
        .locks
        .iter()
        .map(|l| {
            format!(
                "- `{}` b2sum `{}`\n",
                l.file,
                &l.b2sum[..16.min(l.b2sum.len())]
            )
        })
        .collect();
    let body = format!(
        "`{argv}`\n\nrun by {user} on {host} at {at}: {result:?} (exit {code})\n{locks}\nka-id: {item}\n",
        argv = e.argv.join(" "),
        user = e.user,
        host = e.acting_host,
        at = e.at,
        result = e.result,
        code = e.exit_code,
        locks = if locks.is_empty() {
            String::new()
        } else {
            format!("\nlocks:\n{locks}")
        },
    );
    IssueItem {
        id: item,
        title: e.title.clone(),
        labels: vec!["ka".into(), "ka:audit".into(), format!("ka:{}", e.verb)],
        body,
        state: IssueState::Closed,
    }
}

fn records(layout: &Layout) -> RecordDir {
    RecordDir::new(layout.audit().join("records"), "audit", "audit record")
}

/// Hosts with a promoted lock under KA_ROOT/hosts/.
fn promoted_hosts(layout: &Layout) -> Result<Vec<String>> {
    let dir = layout.root.join("hosts");
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(&dir, e)),
    };
    let mut hosts = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(&dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if ka_core::names::check_name("host", &name).is_ok()
            && layout.promoted(&name).join("manifest.lock").exists()
        {
            hosts.push(name);
        }
    }
    hosts.sort();
    Ok(hosts)
}

/// The arguments as one short line: shell-quoted where needed, cut at 120
/// characters.
pub fn summary(argv: &[String]) -> String {
    let quoted: Vec<String> = argv
        .iter()
        .map(|a| {
            let plain = !a.is_empty()
                && a.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.,:=/+@%".contains(&b));
            if plain {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect();
    let line: String = quoted
        .join(" ")
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    if line.chars().count() > 120 {
        let cut: String = line.chars().take(119).collect();
        format!("{cut}…")
    } else if line.is_empty() {
        "(no arguments)".into()
    } else {
        line
    }
}

/// One line appended with a single write on an `O_APPEND` descriptor, then
/// fsynced, while holding the log's lock (a blocking lock: two verbs ending at
/// once both get audited). A log whose last line was cut off by a crash gets
/// a newline first, so the new line stays whole.
fn append(dir: &Path, entry: &AuditEntry) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let lock_path = dir.join(".lock");
    let lock = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(|e| Error::io(&lock_path, e))?;
    lock.lock().map_err(|e| Error::io(&lock_path, e))?;
    let path = dir.join(LOG);
    let mut line = serde_json::to_vec(entry).expect("audit entries serialize");
    line.push(b'\n');
    let created = !path.exists();
    (|| {
        let mut log = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)?;
        let len = log.metadata()?.len();
        if len > 0 {
            let mut last = [0u8];
            log.seek(SeekFrom::Start(len - 1))?;
            log.read_exact(&mut last)?;
            if last[0] != b'\n' {
                line.insert(0, b'\n');
            }
        }
        log.write_all(&line)?;
        log.sync_data()
    })()
    .map_err(|e| Error::io(&path, e))?;
    if created {
        // The new log's folder entry must survive a crash too.
        ka_core::atomic::sync_dir(dir)?;
    }
    drop(lock);
    Ok(())
}

/// The user running the verb: the name of the process's uid in /etc/passwd,
/// else `uid <n>`.
pub fn current_user() -> String {
    let uid = match fs::metadata("/proc/self") {
        Ok(m) => m.uid(),
        Err(_) => return std::env::var("USER").unwrap_or_else(|_| "unknown".into()),
    };
    let mut passwd = String::new();
    if File::open("/etc/passwd")
        .and_then(|mut f| f.read_to_string(&mut passwd))
        .is_ok()
    {
        for line in passwd.lines() {
            let mut fields = line.split(':');
            let (Some(name), _, Some(id)) = (fields.next(), fields.next(), fields.next()) else {
                continue;
            };
            if id.parse::<u32>() == Ok(uid) {
                return name.to_string();
            }
        }
    }
    format!("uid {uid}")
}

/// Every entry of the log, in order. A line that is not a `ka.audit` document
/// is an error naming the file and line.
pub fn read_log(layout: &Layout) -> Result<Vec<AuditEntry>> {
    let path = layout.audit().join(LOG);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(&path, e)),
    };
    let mut entries = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        let entry = serde_json::from_str(line).map_err(|e| {
            contract(format!(
                "{}:{}: not a ka.audit line ({e}); a crash may have cut it off: remove that line",
                path.display(),
                i + 1
            ))
        })?;
        entries.push(entry);
    }
    Ok(entries)
}

/// The log as a person reads it: one line per entry, oldest first.
pub fn table(out: &mut impl Write, entries: &[AuditEntry]) -> std::io::Result<()> {
    let header = [
        "WHEN",
        "VERB",
        "TARGET",
        "DRY-RUN",
        "EXIT",
        "RESULT",
        "BY",
        "ARGUMENTS",
    ];
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            let dry_run = e.dry_run || e.result == AuditResult::DryRun;
            vec![
                e.at.clone(),
                e.verb.clone(),
                if e.targets.is_empty() {
                    "—".to_string()
                } else {
                    e.targets.join(",")
                },
                if dry_run { "yes" } else { "no" }.to_string(),
                e.exit_code.to_string(),
                serde_json::to_value(e.result)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                format!("{}@{}", e.user, e.acting_host),
                summary(&e.argv),
            ]
        })
        .collect();
    ka_core::term::table(out, &header, &rows)
}

#[derive(Parser, Debug)]
#[command(
    name = "ka-audit",
    version,
    about = "Record a verb run in the audit log, or list the log",
    long_about = "The audit trail of kernel-agent: every verb run appends one ka.audit JSON line to \
KA_ROOT/audit/audit.log (a single O_APPEND write, fsynced, under a lock) and writes the same \
document to KA_ROOT/audit/records/<id>.json, titled [ka:<verb>] <arguments> so an issue backend \
can mirror it. An entry says which verb ran with which arguments, on which machine, by whom, \
the b2sum of each target host's promoted manifest.lock, and how it ended (ok, dry-run, \
negative, error, bad-input, failed) with its exit status.\n\n\
The verb wrappers call `ka-audit record` when they exit (audit_verb in ka-lib.sh); nothing \
else needs to.\n\n\
`ka-audit list` prints the log as a table (when, verb, target hosts, dry run, exit status, \
result, user@machine, arguments); `ka-audit list --json` prints the ka.audit lines \
themselves, for scripts.\n\n\
Exit status: 0 recorded (or listed), 2 the log or a record could not be written, 3 a corrupt log line."
)]
struct Cli {
    #[command(flatten)]
    root: RootArg,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Append one entry; prints nothing (the verb's own output is on stdout).
    Record {
        /// The verb, e.g. promote (a ka- prefix is dropped).
        #[arg(long)]
        verb: String,
        /// The verb's exit status.
        #[arg(long, allow_negative_numbers = true)]
        exit_code: i32,
        /// The run was a --dry-run.
        #[arg(long)]
        dry_run: bool,
        /// A host the verb acted on: its promoted manifest.lock is hashed (repeatable).
        #[arg(long = "target", value_name = "HOST")]
        targets: Vec<String>,
        /// Every host with a promoted manifest.lock (for --all).
        #[arg(long)]
        all_targets: bool,
        /// The verb's arguments.
        #[arg(last = true)]
        argv: Vec<String>,
    },
    /// Print the log as a table, oldest first: when, verb, target hosts,
    /// dry run, exit status, result, who, arguments. None on a terminal says
    /// "no audit entries"; piped, it prints nothing.
    List {
        /// Only this verb.
        #[arg(long)]
        verb: Option<String>,
        /// Print the entries as ka.audit documents, one per line.
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
    match cli.cmd {
        Cmd::Record {
            verb,
            exit_code,
            dry_run,
            targets,
            all_targets,
            argv,
        } => {
            // The audit never creates the state folder: a run that left none
            // behind (a dry run, a refusal, a usage error) changed nothing.
            if !layout.root.is_dir() {
                return Ok(ExitCode::Ok);
            }
            record(
                &layout,
                &Run {
                    verb,
                    argv,
                    exit_code,
                    dry_run,
                    targets,
                    all_targets,
                    at: None,
                },
            )?;
        }
        Cmd::List { verb, json } => {
            layout.note_if_missing("ka-audit");
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            let verb = verb.as_deref().map(|v| v.strip_prefix("ka-").unwrap_or(v));
            let entries: Vec<AuditEntry> = read_log(&layout)?
                .into_iter()
                .filter(|e| verb.is_none_or(|v| v == e.verb))
                .collect();
            if json {
                for e in &entries {
                    ka_core::stream::write_doc(&mut out, e).context("stdout")?;
                }
            } else if !entries.is_empty() {
                table(&mut out, &entries).context("stdout")?;
            }
            let none = match verb {
                Some(v) => format!("no audit entries for {v}"),
                None => "no audit entries".to_string(),
            };
            ka_core::term::say_none(&mut out, entries.len(), &none).context("stdout")?;
            out.flush().context("stdout")?;
        }
    }
    Ok(ExitCode::Ok)
}
