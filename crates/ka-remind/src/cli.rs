//! The `ka-remind` and `ka-snooze` command lines.

use crate::ladder::{Times, due_at, gap_after};
use crate::records::{OpenRecord, open_records};
use crate::state::{self, RemindState};
use anyhow::Context;
use clap::{CommandFactory, Parser};
use ka_block::records::RecordDir;
use ka_core::args::RootArg;
use ka_core::error::{Error, ExitCode, Result, contract, exit_code_of, usage};
use ka_core::hostlock::HostLock;
use ka_core::paths::Layout;
use ka_core::time::rfc3339;
use ka_schema::{Reminder, V1};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

#[derive(Parser, Debug)]
#[command(
    name = "ka-remind",
    version,
    about = "Remind of open blocks and [ka:installable] notices on an escalating ladder",
    long_about = "For every open block (KA_ROOT/blocks/) and open notice (KA_ROOT/notices/), decides \
whether a reminder is due now: at first sight, then 1 h after that reminder, 6 h after the next, \
then every 24 h; never while snoozed (ka-snooze(1)). Prints one short line per due record, meant \
for a shell prompt or session-start hook, and nothing at all when nothing is due. Reminding is \
recorded (KA_ROOT/remind/<record-id>.json), so the ladder advances; --peek shows every open \
record and when it is due without recording anything.\n\n\
A record that is lifted or closed loses its reminder state; one opened again starts afresh.\n\n\
Hook example (bash): PROMPT_COMMAND='ka-remind 2>/dev/null'. When another ka-remind holds the \
reminder lock (two shells starting at once), this one stays silent: the other reminds.\n\n\
Exit status: 0 (whether or not anything was due), 2 usage or I/O error (e.g. --now before \
the last reminder: the clock went backwards), 3 a corrupt record or state file."
)]
struct RemindCli {
    #[command(flatten)]
    root: RootArg,
    /// The time to remind at (RFC 3339 UTC or seconds since the epoch);
    /// default KA_NOW, else the clock.
    #[arg(long, value_name = "TIME")]
    now: Option<String>,
    /// Show every open record and when it is due; record nothing. None on
    /// a terminal says "no open blocks or notices"; piped, it prints nothing.
    #[arg(long)]
    peek: bool,
    /// Print ka.reminder documents, one per line.
    #[arg(long)]
    json: bool,
}

#[derive(Parser, Debug)]
#[command(
    name = "ka-snooze",
    version,
    about = "Silence the reminders of one open block or notice for a while",
    long_about = "Snoozes the reminders of the open block or notice ID (the ids ka-remind prints): \
no reminder until the snooze ends, then the ladder goes on from where it was. Without --for, the \
snooze lasts until the next step of the ladder would (1 h for a record reminded once or never, \
6 h after the second reminder, 24 h after that). A snooze does not touch the record itself.\n\n\
Every run is audited (ka-audit(1)).\n\n\
Exit status: 0 snoozed, 1 another ka-remind or ka-snooze holds the reminder lock (it names \
itself), 2 no such open record, a bad duration or time, or I/O error, 3 a \
corrupt state file."
)]
struct SnoozeCli {
    /// The record id, e.g. regression-0123456789ab or installable-0123456789ab.
    id: String,
    /// How long, e.g. 30m, 4h, 1h30m, 7d.
    #[arg(long = "for", value_name = "DURATION")]
    snooze_for: Option<ka_schema::Span>,
    #[command(flatten)]
    root: RootArg,
    /// The time to snooze from (RFC 3339 UTC or seconds since the epoch);
    /// default KA_NOW, else the clock.
    #[arg(long, value_name = "TIME")]
    now: Option<String>,
    /// Print the record's ka.reminder document instead of a line.
    #[arg(long)]
    json: bool,
}

pub fn remind_command() -> clap::Command {
    RemindCli::command()
}

pub fn snooze_command() -> clap::Command {
    SnoozeCli::command()
}

fn now_from(flag: Option<&str>) -> Result<i64> {
    match flag {
        Some(t) => ka_core::time::parse_time(t),
        None => ka_core::time::now_epoch(),
    }
}

/// A record's place on the ladder: its state when it has one that belongs to
/// this opening of the record, else first sight at `now`. A `now` earlier than
/// the state has seen is refused: the ladder would run backwards.
fn times_of(
    layout: &Layout,
    r: &OpenRecord,
    saved: Option<&RemindState>,
    now: i64,
) -> Result<Times> {
    let Some(s) = saved.filter(|s| s.opened_at == r.opened_at) else {
        return Ok(Times::fresh(now));
    };
    let path = state::dir(layout).path(&s.id)?;
    let t = Times::from_state(s).map_err(|e| {
        contract(format!(
            "reminder state record is corrupt: {e}; repair or remove {}",
            path.display()
        ))
    })?;
    if now < t.latest_seen() {
        return Err(usage(format!(
            "time went backwards: now is {} but {} was last seen at {} ({}); check the clock or --now",
            rfc3339(now),
            r.id,
            rfc3339(t.latest_seen()),
            path.display()
        )));
    }
    Ok(t)
}

fn reminder(r: &OpenRecord, t: &Times, now: i64, due: bool, next_at: i64) -> Reminder {
    Reminder {
        kind: Default::default(),
        version: V1,
        id: r.id.clone(),
        store: r.store,
        record_kind: r.record_kind.clone(),
        title: r.title.clone(),
        host: r.host.clone(),
        opened_at: r.opened_at.clone(),
        now: rfc3339(now),
        due,
        step: t.step,
        next_at: rfc3339(next_at),
        snoozed_until: t.snoozed_until.filter(|&u| u > now).map(rfc3339),
        hint: r.hint.clone(),
    }
}

fn to_state(r: &OpenRecord, t: &Times) -> RemindState {
    RemindState {
        id: r.id.clone(),
        opened_at: r.opened_at.clone(),
        first_seen: rfc3339(t.first_seen),
        last_reminded: t.last_reminded.map(rfc3339),
        step: t.step,
        snoozed_until: t.snoozed_until.map(rfc3339),
    }
}

/// "5m", "3h", "2d": how long ago or how far ahead, roughly.
fn span(secs: i64) -> String {
    let s = secs.abs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

fn age(r: &OpenRecord, now: i64) -> String {
    match ka_core::time::parse_time(&r.opened_at) {
        Ok(t) => format!("open {}", span(now - t)),
        Err(_) => "open".into(),
    }
}

/// Remind of every due record (or, with `--peek`, show every open record):
/// read, decide and write under the reminder lock, then print.
pub fn run_remind() -> anyhow::Result<ExitCode> {
    let cli = RemindCli::parse();
    let layout = cli.root.layout()?;
    let now = now_from(cli.now.as_deref())?;
    // Read, decide and write under the one lock, so two hooks never give the
    // same reminder twice. A busy lock means another ka-remind is reminding
    // right now (two shells starting at once): stay silent.
    let _guard = if cli.peek {
        None
    } else {
        match HostLock::acquire(&state::lock_path(&layout), "ka-remind") {
            Ok(g) => Some(g),
            Err(Error::Negative(_)) => return Ok(ExitCode::Ok),
            Err(e) => return Err(e.into()),
        }
    };
    let records = open_records(&layout)?;
    let dir = state::dir(&layout);
    let saved: BTreeMap<String, RemindState> = dir
        .all::<RemindState>()?
        .into_iter()
        .map(|s| (s.id.clone(), s))
        .collect();
    let Decided { shown, writes } = decide(&layout, &records, &saved, now, cli.peek)?;
    if !cli.peek {
        write_states(&dir, &writes, &records, &saved)?;
    }
    print_reminders(&shown, now, &cli)?;
    Ok(ExitCode::Ok)
}

/// What a run decided: the reminders to show, each with its record, and
/// the states to write.
struct Decided<'r> {
    shown: Vec<(&'r OpenRecord, Reminder)>,
    writes: Vec<RemindState>,
}

/// Every reminder to show (with `peek`, one per open record; else one per
/// due record) and the states to write for the due ones. Everything is
/// decided before anything is written: an error leaves all as it was.
fn decide<'r>(
    layout: &Layout,
    records: &'r [OpenRecord],
    saved: &BTreeMap<String, RemindState>,
    now: i64,
    peek: bool,
) -> Result<Decided<'r>> {
    let mut shown = Vec::new();
    let mut writes = Vec::new();
    for r in records {
        let t = times_of(layout, r, saved.get(&r.id), now)?;
        let due = now >= due_at(&t);
        if peek {
            shown.push((r, reminder(r, &t, now, due, due_at(&t))));
        } else if due {
            let after = t.reminded(now);
            shown.push((r, reminder(r, &t, now, true, due_at(&after))));
            writes.push(to_state(r, &after));
        }
    }
    Ok(Decided { shown, writes })
}

/// Write the new states, and remove the state of every record no longer
/// open (one opened again starts afresh).
fn write_states(
    dir: &RecordDir,
    writes: &[RemindState],
    records: &[OpenRecord],
    saved: &BTreeMap<String, RemindState>,
) -> Result<()> {
    for s in writes {
        dir.put(&s.id, s)?;
    }
    let open: BTreeSet<&str> = records.iter().map(|r| r.id.as_str()).collect();
    for id in saved.keys().filter(|id| !open.contains(id.as_str())) {
        dir.remove(id)?;
    }
    Ok(())
}

/// Print the reminders on stdout: documents with `--json`, a line per open
/// record with `--peek` (or, on a terminal, that there is none), else one
/// line per due record.
fn print_reminders(
    shown: &[(&OpenRecord, Reminder)],
    now: i64,
    cli: &RemindCli,
) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for (r, doc) in shown {
        if cli.json {
            ka_core::stream::write_doc(&mut out, doc).context("stdout")?;
        } else if cli.peek {
            let when = match (&doc.snoozed_until, doc.due) {
                (_, true) => "due now".to_string(),
                (Some(u), false) => format!("snoozed until {u}"),
                (None, false) => format!("next {} (in {})", doc.next_at, {
                    let t = ka_core::time::parse_time(&doc.next_at)?;
                    span(t - now)
                }),
            };
            writeln!(out, "{}  {when}  {}", r.id, r.title).context("stdout")?;
        } else {
            writeln!(
                out,
                "{} · {} · {} · ka-snooze {}",
                r.title,
                age(r, now),
                r.hint,
                r.id
            )
            .context("stdout")?;
        }
    }
    if cli.peek {
        // A prompt hook stays silent when nothing is due; a peek is asked
        // for, so an empty one says so (on a terminal).
        ka_core::term::say_none(&mut out, shown.len(), "no open blocks or notices")
            .context("stdout")?;
    }
    out.flush().context("stdout")?;
    Ok(())
}

fn snooze(cli: &SnoozeCli, layout: &Layout, now: i64) -> anyhow::Result<ExitCode> {
    let length = cli.snooze_for.as_ref().map(|d| d.as_secs() as i64);
    let _guard = HostLock::acquire(&state::lock_path(layout), &format!("ka-snooze {}", cli.id))?;
    let records = open_records(layout)?;
    let Some(r) = records.iter().find(|r| r.id == cli.id) else {
        return Err(usage(format!("no open record {}; see ka-remind --peek", cli.id)).into());
    };
    let dir = state::dir(layout);
    let saved: Option<RemindState> = dir.get(&r.id)?;
    let t = times_of(layout, r, saved.as_ref(), now)?;
    let until = now + length.unwrap_or_else(|| gap_after(t.step));
    let after = t.snoozed(until);
    dir.put(&r.id, &to_state(r, &after))?;
    let doc = reminder(r, &after, now, false, until);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if cli.json {
        ka_core::stream::write_doc(&mut out, &doc).context("stdout")?;
    } else {
        writeln!(
            out,
            "{} snoozed until {} ({})",
            r.id,
            rfc3339(until),
            r.title
        )
        .context("stdout")?;
    }
    out.flush().context("stdout")?;
    Ok(ExitCode::Ok)
}

/// Snooze, then audit the run with how it ended. When auditing fails the
/// snooze's own error (if any) is still the one reported; a snooze that
/// worked but could not be audited exits 2.
pub fn run_snooze() -> anyhow::Result<ExitCode> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let cli = SnoozeCli::parse();
    let layout = cli.root.layout()?;
    let now = now_from(cli.now.as_deref())?;
    let outcome = snooze(&cli, &layout, now);
    let exit_code = match &outcome {
        Ok(c) => *c as i32,
        Err(e) => exit_code_of(e) as i32,
    };
    let run = ka_audit::Run {
        verb: "snooze".into(),
        argv,
        exit_code,
        at: Some(now),
        ..Default::default()
    };
    match (ka_audit::record(&layout, &run), outcome) {
        (Ok(_), outcome) => outcome,
        (Err(audit), Ok(_)) => {
            Err(anyhow::Error::new(audit).context("the snooze is recorded, but auditing it failed"))
        }
        (Err(audit), Err(e)) => {
            eprintln!("ka-snooze: error: auditing failed too: {audit}");
            Err(e)
        }
    }
}
