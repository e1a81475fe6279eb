//! Wall-clock time as RFC 3339 UTC text. `KA_NOW` (seconds since the epoch, or
//! RFC 3339 text) overrides the clock, so tests walk time without sleeping.

use crate::error::{Result, usage};
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the epoch: `KA_NOW` if set, else the system clock. A set
/// but empty `KA_NOW` is refused, naming it.
pub fn now_epoch() -> Result<i64> {
    match crate::paths::env_var(crate::paths::KA_NOW)? {
        Some(v) => parse_time(&v.to_string_lossy()).map_err(|e| usage(format!("KA_NOW: {e}"))),
        None => Ok(SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)),
    }
}

pub fn now_rfc3339() -> Result<String> {
    Ok(rfc3339(now_epoch()?))
}

/// Seconds since the epoch, or `YYYY-MM-DDTHH:MM:SSZ`.
pub fn parse_time(text: &str) -> Result<i64> {
    if let Ok(n) = text.parse::<i64>() {
        return Ok(n);
    }
    let bad = || {
        usage(format!(
            "time {}: write seconds since the epoch or YYYY-MM-DDTHH:MM:SSZ",
            crate::error::quoted(text)
        ))
    };
    let b = text.as_bytes();
    if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[19] != b'Z' {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| text[r].parse::<i64>().map_err(|_| bad());
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return Err(bad());
    }
    Ok(days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s)
}

pub fn rfc3339(epoch: i64) -> String {
    let days = epoch.div_euclid(86400);
    let secs = epoch.rem_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

// Howard Hinnant's civil calendar algorithms.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for t in [0, 951_782_400, 1_795_000_000, 4_102_444_800] {
            assert_eq!(parse_time(&rfc3339(t)).unwrap(), t);
        }
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert!(parse_time("yesterday").is_err());
    }
}
