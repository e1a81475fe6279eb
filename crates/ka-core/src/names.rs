//! Validation of names that end up in paths, shell commands or remote argv:
//! hosts, series, campaigns, scopes.

use crate::error::{Result, contract, quoted};

/// A host, series or campaign name: `[A-Za-z0-9][A-Za-z0-9._+-]*`, at most 64 bytes.
/// No leading `-` (it would read as an option), no shell metacharacters, no `/`.
pub fn check_name(what: &str, name: &str) -> Result<()> {
    check_token(name, 64).map_err(|()| {
        contract(format!(
            "invalid {what} name {}: use letters, digits, '.', '_', '+', '-', starting with a letter or digit",
            quoted(name)
        ))
    })
}

/// The characters every name may use, up to `max` bytes.
fn check_token(name: &str, max: usize) -> std::result::Result<(), ()> {
    let ok = !name.is_empty()
        && name.len() <= max
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'+' | b'-'));
    if ok { Ok(()) } else { Err(()) }
}

/// A patch file name: the characters of [`check_name`], up to 255 bytes (what
/// `git format-patch` writes from a long subject fits).
pub fn check_file_name(what: &str, name: &str) -> Result<()> {
    check_token(name, 255).map_err(|()| {
        contract(format!(
            "invalid {what} {}: use letters, digits, '.', '_', '+', '-', starting with a letter or digit",
            quoted(name)
        ))
    })
}

/// The scope kinds of the patch tree, in resolution order (widest first).
pub const SCOPE_KINDS: &[&str] = &["arch", "soc", "module", "board", "driver", "subsystem"];

/// A scope such as `soc/rockchip/rk3399`: a known kind followed by one or more
/// valid path components.
pub fn check_scope(scope: &str) -> Result<()> {
    let mut parts = scope.split('/');
    let kind = parts.next().unwrap_or_default();
    if !SCOPE_KINDS.contains(&kind) {
        return Err(contract(format!(
            "invalid scope {}: it must start with one of {}",
            quoted(scope),
            SCOPE_KINDS.join(", ")
        )));
    }
    let rest: Vec<&str> = parts.collect();
    if rest.is_empty() {
        return Err(contract(format!(
            "invalid scope {}: name what it is, e.g. {kind}/<name>",
            quoted(scope)
        )));
    }
    for part in rest {
        check_name("scope component", part)?;
    }
    Ok(())
}

/// The rank of a scope's kind in resolution order.
pub fn scope_rank(scope: &str) -> usize {
    let kind = scope.split('/').next().unwrap_or_default();
    SCOPE_KINDS
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(SCOPE_KINDS.len())
}

/// This machine's host name, for lock holders and audit lines.
/// A job id names files (`jobs/<id>.json`, `output/<id>/`, …): letters,
/// digits and `._-`, starting with a letter or digit, at most 128 bytes.
pub fn check_job_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id.as_bytes()[0].is_ascii_alphanumeric()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(contract(format!("invalid job id {}", quoted(id))))
    }
}

/// A job id: `<host>-<UTC start time>-<first 8 of the lock b2sum>`, sortable by time.
pub fn job_id(host: &str, now: i64, lock_b2sum: &str) -> String {
    let t: String = crate::time::rfc3339(now)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    format!("{host}-{t}-{}", &lock_b2sum[..lock_b2sum.len().min(8)])
}

/// A job id split into its parts: `<host>-<UTC start>-<tail>`, the start
/// written `20260101T120000Z`. A build job's tail is 8 hex digits of its
/// lock's b2sum ([`job_id`]); other jobs (publishing, releasing a build host)
/// end in something else. The one reader of job ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobId<'a> {
    /// Everything before the start time (a host name may hold `-`).
    pub host: &'a str,
    /// The start time as the id writes it.
    pub started: &'a str,
    pub tail: &'a str,
}

impl<'a> JobId<'a> {
    /// `None` when `id` holds no start time where one belongs.
    pub fn parse(id: &'a str) -> Option<JobId<'a>> {
        let mut parts = id.rsplitn(3, '-');
        let (tail, started, host) = (parts.next()?, parts.next()?, parts.next()?);
        let b = started.as_bytes();
        let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
        if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' || !digits(0..8) || !digits(9..15) {
            return None;
        }
        Some(JobId {
            host,
            started,
            tail,
        })
    }

    /// The start time as RFC 3339 (`2026-01-01T12:00:00Z`).
    pub fn started_rfc3339(&self) -> String {
        let t = self.started;
        format!(
            "{}-{}-{}T{}:{}:{}Z",
            &t[0..4],
            &t[4..6],
            &t[6..8],
            &t[9..11],
            &t[11..13],
            &t[13..15]
        )
    }

    /// The start time in seconds since the epoch; `None` for a date that
    /// does not exist (month 13).
    pub fn started_at(&self) -> Option<i64> {
        crate::time::parse_time(&self.started_rfc3339()).ok()
    }

    /// A build job's id ([`job_id`]): the tail is 8 hex digits.
    pub fn is_build(&self) -> bool {
        self.tail.len() == 8 && self.tail.bytes().all(|b| b.is_ascii_hexdigit())
    }
}

/// The start time a job id holds (seconds since the epoch), if it has one.
pub fn job_id_time(id: &str) -> Option<i64> {
    JobId::parse(id)?.started_at()
}

pub fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_carry_their_start_time() {
        let t = 1_795_000_000;
        let id = job_id("rk-3399-board", t, "0123456789abcdef");
        assert_eq!(id, "rk-3399-board-20261118T110640Z-01234567");
        check_job_id(&id).unwrap();
        assert_eq!(job_id_time(&id), Some(t));
        for odd in [
            "j1",
            "a-b-c",
            "x-2026111607464Z-01234567",
            "x-20261316T074640Z-0",
        ] {
            assert_eq!(job_id_time(odd), None, "{odd}");
        }
        assert!(check_job_id("../etc").is_err());
        let j = JobId::parse(&id).unwrap();
        assert_eq!(
            (j.host, j.tail, j.is_build()),
            ("rk-3399-board", "01234567", true)
        );
        assert_eq!(j.started_rfc3339(), "2026-11-18T11:06:40Z");
        assert!(
            !JobId::parse("publish-20261118T110640Z-4242")
                .unwrap()
                .is_build()
        );
        assert_eq!(JobId::parse("x-2026111aT110640Z-01234567"), None);
    }

    #[test]
    fn names() {
        check_name("host", "fresnel").unwrap();
        check_name("series", "opp-1704-2184").unwrap();
        for bad in ["", "-rf", "a b", "a;b", "a/b", "$(x)", "a`b`", ".hidden"] {
            assert!(check_name("host", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn scopes() {
        check_scope("soc/rockchip/rk3399").unwrap();
        check_scope("subsystem/media/videobuf2").unwrap();
        for bad in [
            "board",
            "boards/x",
            "board/../x",
            "board/-x",
            "",
            "board//x",
        ] {
            assert!(check_scope(bad).is_err(), "{bad:?}");
        }
    }
}
