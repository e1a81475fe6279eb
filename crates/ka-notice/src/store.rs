//! The notice store: the same life as the block store (idempotent ids from
//! kind and subject, atomic records, a corrupt record is an error naming its
//! file), on the shared record folder of `ka-block`.

use ka_block::mirror::Queue;
use ka_block::records::RecordDir;
use ka_core::error::{Result, contract, usage};
use ka_core::hash::b2sum;
use ka_core::hostlock::{HostLock, STORE_PATIENCE};
use ka_core::names::check_name;
use ka_core::paths::Layout;
use ka_schema::{
    IssueChange, IssueItem, IssueState, Notice, NoticeKind, NoticeState, NoticeSubject, V1,
};
use std::path::PathBuf;

pub struct NoticeStore {
    records: RecordDir,
    lock_path: PathBuf,
    /// Where changes are queued for the Gitea mirror, after the local write.
    pub mirror: Queue,
}

/// The record kind of notices in mirror item ids: `notice/<notice id>`.
pub const RECORD: &str = "notice";

/// The notice id of a mirror item id, when the item is a notice.
pub fn notice_id_of(item_id: &str) -> Option<&str> {
    item_id.strip_prefix("notice/")
}

/// A notice as an issue for the Gitea mirror.
pub fn notice_item(n: &Notice) -> IssueItem {
    let item = format!("{RECORD}/{}", n.id);
    let NoticeSubject::Package { host, .. } = &n.subject;
    let body = format!(
        "{detail}\n\n---\nNotice `{id}`, opened {opened}. It halts nothing: `ka-install {host}` installs the package and closes it; \
closing this issue and running `ka-gitea pull` dismisses it.\n\nka-id: {item}\n",
        detail = if n.detail.is_empty() {
            "(no detail)"
        } else {
            &n.detail
        },
        id = n.id,
        opened = n.opened_at,
    );
    IssueItem {
        id: item,
        title: n.title.clone(),
        labels: vec![
            "ka".to_string(),
            format!("ka:{RECORD}"),
            format!("ka:{}", n.notice.as_str()),
        ],
        body,
        state: match n.state {
            NoticeState::Open => IssueState::Open,
            NoticeState::Closed => IssueState::Closed,
        },
    }
}

/// The stable id of a notice: `<kind>-<12 hex of b2sum(kind, subject)>`
/// (block ids are made the same way from other kind names, so the two never
/// clash).
pub fn notice_id(kind: NoticeKind, subject: &NoticeSubject) -> String {
    let key = format!(
        "{}\n{}",
        kind.as_str(),
        serde_json::to_string(subject).expect("subjects serialize")
    );
    format!("{}-{}", kind.as_str(), &b2sum(key.as_bytes())[..12])
}

/// A package version as pacman or dpkg writes it (`6.1.158-2`, `1:6.1~rc3-1`).
pub fn check_version(version: &str) -> Result<()> {
    let ok = !version.is_empty()
        && version.len() <= 64
        && version.as_bytes()[0].is_ascii_alphanumeric()
        && version.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'+' | b'-' | b':' | b'~')
        });
    if ok {
        Ok(())
    } else {
        Err(contract(format!(
            "invalid package version {version:?}: use letters, digits and . _ + - : ~"
        )))
    }
}

pub fn check_subject(subject: &NoticeSubject) -> Result<()> {
    match subject {
        NoticeSubject::Package {
            host,
            package,
            version,
        } => {
            check_name("host", host)?;
            check_name("package", package)?;
            check_version(version)
        }
    }
}

fn title_of(kind: NoticeKind, subject: &NoticeSubject) -> String {
    match subject {
        NoticeSubject::Package {
            host,
            package,
            version,
        } => format!("[ka:{}] {package} {version} for {host}", kind.as_str()),
    }
}

/// A notice as filing leaves it, with what the mirror is told.
struct Filing {
    notice: Notice,
    change: IssueChange,
    /// The comment the mirror's issue gets, if any.
    comment: Option<String>,
}

/// The stored notice `n` filed again with `detail` at `now`: a closed one
/// opens again (`Reopened`, its filings counted afresh); an open one is
/// `Refiled`, with a comment only when the detail changed.
fn refiled(mut n: Notice, detail: &str, now: &str) -> Filing {
    let mut change = IssueChange::Refiled;
    let mut comment = None;
    if n.state == NoticeState::Closed {
        change = IssueChange::Reopened;
        comment = Some(format!("Filed again after it was closed:\n\n{detail}"));
        n.state = NoticeState::Open;
        n.opened_at = now.to_string();
        n.filings = 0;
        n.closed_at = None;
        n.close_reason = None;
    }
    if change == IssueChange::Refiled && n.detail != detail {
        comment = Some(format!(
            "Filed again (filing {}):\n\n{detail}",
            n.filings + 1
        ));
    }
    n.filings += 1;
    n.updated_at = now.to_string();
    n.detail = detail.to_string();
    Filing {
        notice: n,
        change,
        comment,
    }
}

/// A notice filed for the first time at `now`.
fn new_notice(
    id: String,
    kind: NoticeKind,
    subject: NoticeSubject,
    detail: &str,
    now: &str,
) -> Notice {
    Notice {
        kind: Default::default(),
        version: V1,
        id,
        notice: kind,
        title: title_of(kind, &subject),
        subject,
        detail: detail.to_string(),
        state: NoticeState::Open,
        opened_at: now.to_string(),
        updated_at: now.to_string(),
        filings: 1,
        closed_at: None,
        close_reason: None,
    }
}

impl NoticeStore {
    /// The store under `layout`, mirrored when `KA_ROOT/config.yaml` selects
    /// Gitea (a broken config is an error).
    pub fn open(layout: &Layout) -> Result<NoticeStore> {
        Ok(NoticeStore {
            mirror: Queue::from_config(layout)?,
            ..NoticeStore::local(layout)
        })
    }

    /// The store without mirroring: for reading, and for changes that come
    /// from the mirror itself.
    pub fn local(layout: &Layout) -> NoticeStore {
        NoticeStore {
            records: RecordDir::new(layout.notices(), "notice store", "notice"),
            lock_path: layout.locks().join("notices.lock"),
            mirror: Queue::none(),
        }
    }

    /// Every record, ordered by id.
    pub fn all(&self) -> Result<Vec<Notice>> {
        self.records.all()
    }

    pub fn open_notices(&self) -> Result<Vec<Notice>> {
        Ok(self
            .all()?
            .into_iter()
            .filter(|n| n.state == NoticeState::Open)
            .collect())
    }

    pub fn get(&self, id: &str) -> Result<Notice> {
        self.records
            .get(id)?
            .ok_or_else(|| usage(format!("no notice {id}; `ka-notice list --all` shows them")))
    }

    /// File a notice, or refresh the open one with the same kind and subject;
    /// a closed one filed again opens again. Filing `[ka:installable]` for a
    /// version closes the open ones for older versions of that package on that
    /// host (superseded). Returns the notice and those it closed.
    pub fn file(
        &self,
        kind: NoticeKind,
        subject: NoticeSubject,
        detail: &str,
    ) -> Result<(Notice, Vec<Notice>)> {
        check_subject(&subject)?;
        let _guard =
            HostLock::acquire_waiting(&self.lock_path, "notice store update", STORE_PATIENCE)?;
        let now = ka_core::time::now_rfc3339()?;
        let id = notice_id(kind, &subject);
        let filing = match self.records.get::<Notice>(&id)? {
            Some(n) => refiled(n, detail, &now),
            None => Filing {
                notice: new_notice(id.clone(), kind, subject, detail, &now),
                change: IssueChange::Filed,
                comment: None,
            },
        };
        let notice = filing.notice;
        // The new record is written before the older ones are closed: a crash
        // in between leaves one open notice too many, never none.
        let superseded = self.superseded_by(kind, &notice, &now)?;
        self.records.put(&id, &notice)?;
        for old in &superseded {
            self.records.put(&old.id, old)?;
        }
        // Mirrored after the local writes; the same block in the same words
        // is counted locally only.
        if filing.change != IssueChange::Refiled || filing.comment.is_some() {
            self.mirror
                .push(filing.change, notice_item(&notice), filing.comment)?;
        }
        for old in &superseded {
            let why = old.close_reason.clone().unwrap_or_default();
            self.mirror.push(
                IssueChange::Lifted,
                notice_item(old),
                Some(format!("Closed: {why}")),
            )?;
        }
        Ok((notice, superseded))
    }

    /// The open notices of `kind` that `notice` supersedes (same host and
    /// package, another version), closed as of `now` but not yet written.
    fn superseded_by(&self, kind: NoticeKind, notice: &Notice, now: &str) -> Result<Vec<Notice>> {
        let mut superseded = Vec::new();
        let NoticeSubject::Package {
            host,
            package,
            version,
        } = &notice.subject;
        for mut old in self.open_notices()? {
            let NoticeSubject::Package {
                host: h,
                package: p,
                version: v,
            } = &old.subject;
            if old.notice == kind && h == host && p == package && v != version {
                old.state = NoticeState::Closed;
                old.closed_at = Some(now.to_string());
                old.updated_at = now.to_string();
                old.close_reason = Some(format!("superseded by {package} {version}"));
                superseded.push(old);
            }
        }
        Ok(superseded)
    }

    /// Close an open notice. Closing a closed notice is a no-op.
    pub fn close(&self, id: &str, reason: &str) -> Result<Notice> {
        let _guard =
            HostLock::acquire_waiting(&self.lock_path, "notice store update", STORE_PATIENCE)?;
        let mut n = self.get(id)?;
        if n.state == NoticeState::Open {
            let now = ka_core::time::now_rfc3339()?;
            n.state = NoticeState::Closed;
            n.closed_at = Some(now.clone());
            n.updated_at = now;
            n.close_reason = Some(reason.to_string());
            self.records.put(id, &n)?;
            self.mirror.push(
                IssueChange::Lifted,
                notice_item(&n),
                Some(format!("Closed: {reason}")),
            )?;
        }
        Ok(n)
    }

    /// Open a closed notice again because its mirror says so (an issue
    /// reopened in Gitea). Not mirrored back.
    pub fn reopen(&self, id: &str) -> Result<Notice> {
        let _guard =
            HostLock::acquire_waiting(&self.lock_path, "notice store update", STORE_PATIENCE)?;
        let mut n = self.get(id)?;
        if n.state == NoticeState::Closed {
            let now = ka_core::time::now_rfc3339()?;
            n.state = NoticeState::Open;
            n.opened_at = now.clone();
            n.updated_at = now;
            n.closed_at = None;
            n.close_reason = None;
            self.records.put(id, &n)?;
        }
        Ok(n)
    }
}
