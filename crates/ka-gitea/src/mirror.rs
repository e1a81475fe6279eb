//! Flush the outbox to Gitea, and read Gitea's state back.
//!
//! Exactly once: an event file is removed only after Gitea accepted all of it;
//! the link to the issue is saved right after the issue is created; a record
//! with no link is first looked up among the `ka`-labelled issues by the
//! `ka-id:` line of its body (a flush that died between creating the issue and
//! saving the link finds it there); a comment is announced in the link before
//! it is posted and carries its event id, so a retry looks before posting again.

use crate::client::{CreateIssue, EditIssue, Gitea, Issue, label_color};
use crate::links::Links;
use ka_block::mirror::block_id_of;
use ka_block::outbox::Outbox;
use ka_block::store::Store;
use ka_core::error::{Error, Result, contract};
use ka_core::paths::Layout;
use ka_notice::store::{NoticeStore, notice_id_of};
use ka_schema::{Block, BlockState, IssueEvent, IssueState, MirrorStatus, Notice, NoticeState, V1};
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

/// A local record an issue is about.
#[derive(Clone, Copy)]
enum Record<'i> {
    Block(&'i str),
    Notice(&'i str),
}

impl Record<'_> {
    /// The record's state, as an issue state.
    fn state(self, blocks: &Store, notices: &NoticeStore) -> Result<IssueState> {
        Ok(match self {
            Record::Block(id) => match blocks.get(id)?.state {
                BlockState::Open => IssueState::Open,
                BlockState::Lifted => IssueState::Closed,
            },
            Record::Notice(id) => match notices.get(id)?.state {
                NoticeState::Open => IssueState::Open,
                NoticeState::Closed => IssueState::Closed,
            },
        })
    }
}

/// A record `pull` changed, printed as its document.
#[derive(Debug, serde::Serialize)]
#[serde(untagged)]
pub enum Changed {
    Block(Block),
    Notice(Notice),
}

/// The label every mirrored issue carries; `pull` reads back the issues that have it.
pub const LABEL: &str = "ka";

pub struct Mirror<'a> {
    pub gitea: Gitea,
    layout: &'a Layout,
    links: Links,
    outbox: Outbox,
    label_ids: RefCell<Option<HashMap<String, u64>>>,
    remote: RefCell<Option<Vec<Issue>>>,
}

#[derive(Debug, Default)]
pub struct FlushReport {
    pub sent: usize,
    pub corrupt: Vec<PathBuf>,
}

impl<'a> Mirror<'a> {
    pub fn new(layout: &'a Layout, gitea: Gitea) -> Mirror<'a> {
        Mirror {
            gitea,
            layout,
            links: Links::new(layout),
            outbox: Outbox::new(layout),
            label_ids: RefCell::new(None),
            remote: RefCell::new(None),
        }
    }

    /// Send every queued event in order. The first event Gitea does not
    /// accept stops the flush (it and every later event stay queued, in
    /// order). A corrupt event file cannot be sent: it is reported, left in
    /// place, and the events after it are still sent.
    pub fn flush(&self) -> Result<FlushReport> {
        let mut report = FlushReport::default();
        for path in self.outbox.entries()? {
            let event = match Outbox::read(&path) {
                Ok(e) => e,
                Err(e @ Error::Contract(_)) => {
                    eprintln!("ka-gitea: error: {e}");
                    report.corrupt.push(path);
                    continue;
                }
                Err(e) => return Err(e),
            };
            self.send(&event).map_err(|e| {
                contextual(
                    e,
                    &format!(
                        "{} ({}) not sent, still queued as {}",
                        event.item.id,
                        change_name(&event),
                        path.display()
                    ),
                )
            })?;
            Outbox::remove(&path)?;
            report.sent += 1;
        }
        if !report.corrupt.is_empty() {
            return Err(contract(format!(
                "{} event(s) sent; {} corrupt outbox file(s) left in place: {}; repair or remove them",
                report.sent,
                report.corrupt.len(),
                report
                    .corrupt
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        Ok(report)
    }

    fn send(&self, ev: &IssueEvent) -> Result<()> {
        let item = &ev.item;
        let (mut link, created) = match self.links.get(&item.id)? {
            Some(l) => (l, false),
            None => match self.find(&item.id)? {
                Some(issue) => {
                    let l = Links::new_link(
                        &item.id,
                        issue.number,
                        &issue.title,
                        state_of(&issue.state),
                    )?;
                    self.links.put(&l)?;
                    eprintln!(
                        "ka-gitea: {}: found #{} again by its ka-id",
                        item.id, issue.number
                    );
                    (l, false)
                }
                None => {
                    let labels = self.label_ids(&item.labels)?;
                    let issue = self.gitea.create_issue(&CreateIssue {
                        title: &item.title,
                        body: &item.body,
                        labels: &labels,
                    })?;
                    let l =
                        Links::new_link(&item.id, issue.number, &issue.title, IssueState::Open)?;
                    self.links.put(&l)?;
                    eprintln!("ka-gitea: {}: opened #{}", item.id, issue.number);
                    (l, true)
                }
            },
        };
        if let (false, Some(text)) = (created, &ev.comment) {
            let marker = format!("<!-- ka-event: {} -->", ev.event);
            let posted_before = link.posting.as_deref() == Some(ev.event.as_str())
                && self
                    .gitea
                    .comments(link.number)?
                    .iter()
                    .any(|c| c.body.contains(&marker));
            if !posted_before {
                link.posting = Some(ev.event.clone());
                self.links.put(&link)?;
                self.gitea
                    .comment(link.number, &format!("{text}\n\n{marker}"))?;
                eprintln!("ka-gitea: {}: commented on #{}", item.id, link.number);
            }
            link.posting = None;
        }
        let title = (link.title != item.title).then_some(item.title.as_str());
        let state = (link.state != item.state).then_some(item.state.as_str());
        if title.is_some() || state.is_some() {
            self.gitea
                .edit_issue(link.number, &EditIssue { title, state })?;
            if let Some(s) = state {
                eprintln!("ka-gitea: {}: #{} is now {s}", item.id, link.number);
            }
            link.title = item.title.clone();
            link.state = item.state;
        }
        link.updated_at = ka_core::time::now_rfc3339()?;
        self.links.put(&link)
    }

    /// The issue whose body carries `ka-id: <item>`, the oldest if several.
    fn find(&self, item: &str) -> Result<Option<Issue>> {
        if self.remote.borrow().is_none() {
            let all = self.gitea.issues_labelled(LABEL)?;
            *self.remote.borrow_mut() = Some(all);
        }
        Ok(self
            .remote
            .borrow()
            .iter()
            .flatten()
            .filter(|i| ka_id(i).as_deref() == Some(item))
            .min_by_key(|i| i.number)
            .cloned())
    }

    /// The ids of the labels named, creating the missing ones.
    fn label_ids(&self, names: &[String]) -> Result<Vec<u64>> {
        if self.label_ids.borrow().is_none() {
            let map = self
                .gitea
                .labels()?
                .into_iter()
                .map(|l| (l.name, l.id))
                .collect();
            *self.label_ids.borrow_mut() = Some(map);
        }
        let mut ids = Vec::new();
        for name in names {
            let known = self
                .label_ids
                .borrow()
                .as_ref()
                .and_then(|m| m.get(name).copied());
            let id = match known {
                Some(id) => id,
                None => {
                    let l = self.gitea.create_label(name, &label_color(name))?;
                    self.label_ids
                        .borrow_mut()
                        .get_or_insert_with(HashMap::new)
                        .insert(l.name, l.id);
                    l.id
                }
            };
            ids.push(id);
        }
        Ok(ids)
    }

    /// Read the `ka`-labelled issues back. Where an issue's state changed in
    /// Gitea since the mirror last saw it (or the record was never linked),
    /// Gitea wins: a closed issue lifts its block or closes its notice
    /// ("closed in Gitea #N"), a reopened one opens it again. Returns the
    /// records changed.
    pub fn pull(&self, blocks: &Store, notices: &NoticeStore) -> Result<Vec<Changed>> {
        let remote = self.gitea.issues_labelled(LABEL)?;
        let mut changed = Vec::new();
        let mut seen = HashSet::new();
        for issue in &remote {
            let Some(item) = ka_id(issue) else { continue };
            seen.insert(item.clone());
            // Audit records are closed for good: nothing to read back.
            let record = if let Some(id) = block_id_of(&item) {
                Record::Block(id)
            } else if let Some(id) = notice_id_of(&item) {
                Record::Notice(id)
            } else {
                continue;
            };
            let link = self.links.get(&item)?;
            if let Some(l) = &link
                && l.number != issue.number
            {
                eprintln!(
                    "ka-gitea: warning: #{} also carries ka-id {item}, which is linked to #{}; ignored",
                    issue.number, l.number
                );
                continue;
            }
            let local_state = match record.state(blocks, notices) {
                Ok(s) => s,
                Err(_) => {
                    eprintln!(
                        "ka-gitea: warning: #{} is about {item}, which the local store does not have; ignored",
                        issue.number
                    );
                    continue;
                }
            };
            let remote_state = state_of(&issue.state);
            let changed_in_gitea = link.as_ref().is_none_or(|l| l.state != remote_state);
            if changed_in_gitea && remote_state != local_state {
                let why = format!("closed in Gitea #{}", issue.number);
                let c = match (record, remote_state) {
                    (Record::Block(id), IssueState::Closed) => {
                        Changed::Block(blocks.lift(id, &why)?)
                    }
                    (Record::Block(id), IssueState::Open) => Changed::Block(blocks.reopen(id)?),
                    (Record::Notice(id), IssueState::Closed) => {
                        Changed::Notice(notices.close(id, &why)?)
                    }
                    (Record::Notice(id), IssueState::Open) => Changed::Notice(notices.reopen(id)?),
                };
                let what = match remote_state {
                    IssueState::Closed => "closed",
                    IssueState::Open => "open again (reopened",
                };
                let tail = if remote_state == IssueState::Open {
                    ")"
                } else {
                    ""
                };
                eprintln!("ka-gitea: {item}: {what} in Gitea #{}{tail}", issue.number);
                changed.push(c);
            }
            let mut l = match link {
                Some(l) => l,
                None => Links::new_link(&item, issue.number, &issue.title, remote_state)?,
            };
            l.state = remote_state;
            l.title = issue.title.clone();
            l.updated_at = ka_core::time::now_rfc3339()?;
            self.links.put(&l)?;
        }
        for l in self.links.all()? {
            if !seen.contains(&l.item) {
                eprintln!(
                    "ka-gitea: warning: #{} ({}) is not among the issues labelled {LABEL} in {}; deleted or unlabelled? The local record is left as it is",
                    l.number, l.item, self.gitea.shown
                );
            }
        }
        Ok(changed)
    }

    pub fn layout(&self) -> &Layout {
        self.layout
    }
}

/// The `ka-id:` line of an issue body.
fn ka_id(issue: &Issue) -> Option<String> {
    issue
        .body
        .as_deref()?
        .lines()
        .find_map(|l| l.trim().strip_prefix("ka-id: "))
        .map(|s| s.trim().to_string())
}

fn state_of(s: &str) -> IssueState {
    match s {
        "closed" => IssueState::Closed,
        _ => IssueState::Open,
    }
}

fn change_name(ev: &IssueEvent) -> &'static str {
    match ev.change {
        ka_schema::IssueChange::Filed => "filed",
        ka_schema::IssueChange::Refiled => "refiled",
        ka_schema::IssueChange::Reopened => "reopened",
        ka_schema::IssueChange::Lifted => "lifted",
    }
}

fn contextual(e: Error, what: &str) -> Error {
    match e {
        Error::Usage(m) => Error::Usage(format!("{m} [{what}]")),
        Error::Contract(m) => Error::Contract(format!("{m} [{what}]")),
        Error::Negative(m) => Error::Negative(format!("{m} [{what}]")),
        io @ Error::Io { .. } => io,
        // a crate's own error: its message in context, its code kept
        coded @ Error::Coded(_) => {
            let m = format!("{coded} [{what}]");
            match coded.exit_code() {
                ka_core::ExitCode::Negative => Error::Negative(m),
                ka_core::ExitCode::Contract => Error::Contract(m),
                _ => Error::Usage(m),
            }
        }
    }
}

// ---------------------------------------------------------------- state.json

fn state_path(layout: &Layout) -> PathBuf {
    layout.gitea().join("state.json")
}

pub fn read_state(layout: &Layout) -> Result<Option<MirrorStatus>> {
    let p = state_path(layout);
    if !p.exists() {
        return Ok(None);
    }
    ka_core::stream::read_file(&p).map(Some)
}

/// Remember the outcome of a flush or pull for `ka-gitea status`.
pub fn record_outcome(layout: &Layout, error: Option<&str>) -> Result<()> {
    let now = ka_core::time::now_rfc3339()?;
    let mut s = read_state(layout).ok().flatten().unwrap_or(MirrorStatus {
        kind: Default::default(),
        version: V1,
        backend: "gitea".into(),
        repository: None,
        queued: 0,
        corrupt: Vec::new(),
        linked: 0,
        last_flush_at: None,
        last_error: None,
        last_error_at: None,
    });
    match error {
        None => {
            s.last_flush_at = Some(now);
            s.last_error = None;
            s.last_error_at = None;
        }
        Some(e) => {
            s.last_error = Some(e.to_string());
            s.last_error_at = Some(now);
        }
    }
    ka_core::atomic::write_json(&state_path(layout), &s)
}
