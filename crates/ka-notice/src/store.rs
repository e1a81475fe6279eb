//! The notice store: the same life as the block store (idempotent ids from
//! kind and subject, atomic records, a corrupt record is an error naming its
//! file), on the shared record folder of `ka-block`.

use ka_block::records::RecordDir;
use ka_core::docs::{Notice, NoticeKind, NoticeState, NoticeSubject, V1};
use ka_core::error::{Result, contract, usage};
use ka_core::hash::b2sum;
use ka_core::hostlock::HostLock;
use ka_core::names::check_name;
use ka_core::paths::Layout;
use std::path::PathBuf;

pub struct NoticeStore {
    records: RecordDir,
    lock_path: PathBuf,
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

impl NoticeStore {
    pub fn open(layout: &Layout) -> NoticeStore {
        NoticeStore {
            records: RecordDir::new(layout.notices(), "notice store", "notice"),
            lock_path: layout.locks().join("notices.lock"),
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
        let _guard = HostLock::acquire(&self.lock_path, "notice store update")?;
        let now = ka_core::time::now_rfc3339()?;
        let id = notice_id(kind, &subject);
        let notice = match self.records.get::<Notice>(&id)? {
            Some(mut n) => {
                if n.state == NoticeState::Closed {
                    n.state = NoticeState::Open;
                    n.opened_at = now.clone();
                    n.filings = 0;
                    n.closed_at = None;
                    n.close_reason = None;
                }
                n.filings += 1;
                n.updated_at = now.clone();
                n.detail = detail.to_string();
                n
            }
            None => Notice {
                kind: Default::default(),
                version: V1,
                id: id.clone(),
                notice: kind,
                title: title_of(kind, &subject),
                subject,
                detail: detail.to_string(),
                state: NoticeState::Open,
                opened_at: now.clone(),
                updated_at: now.clone(),
                filings: 1,
                closed_at: None,
                close_reason: None,
            },
        };
        // The new record is written before the older ones are closed: a crash
        // in between leaves one open notice too many, never none.
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
                old.closed_at = Some(now.clone());
                old.updated_at = now.clone();
                old.close_reason = Some(format!("superseded by {package} {version}"));
                superseded.push(old);
            }
        }
        self.records.put(&id, &notice)?;
        for old in &superseded {
            self.records.put(&old.id, old)?;
        }
        Ok((notice, superseded))
    }

    /// Close an open notice. Closing a closed notice is a no-op.
    pub fn close(&self, id: &str, reason: &str) -> Result<Notice> {
        let _guard = HostLock::acquire(&self.lock_path, "notice store update")?;
        let mut n = self.get(id)?;
        if n.state == NoticeState::Open {
            let now = ka_core::time::now_rfc3339()?;
            n.state = NoticeState::Closed;
            n.closed_at = Some(now.clone());
            n.updated_at = now;
            n.close_reason = Some(reason.to_string());
            self.records.put(id, &n)?;
        }
        Ok(n)
    }
}
