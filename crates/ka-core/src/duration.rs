//! Durations as the manifests write them: `90s`, `5m`, `4h`, `7d`, or a sum
//! such as `1h30m`. A bare number is refused: the unit is never guessed.

use crate::error::{Result, usage};
use std::time::Duration;

pub fn parse_duration(text: &str) -> Result<Duration> {
    let bad = || {
        usage(format!(
            "duration {}: write a number with a unit s, m, h or d (e.g. 90s, 5m, 4h, 1h30m)",
            crate::error::quoted(text)
        ))
    };
    let mut total: u64 = 0;
    let mut digits = String::new();
    let mut saw_unit = false;
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            _ => return Err(bad()),
        };
        let n: u64 = digits.parse().map_err(|_| bad())?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
        digits.clear();
        saw_unit = true;
    }
    if !digits.is_empty() || !saw_unit {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_sums() {
        assert_eq!(parse_duration("90s").unwrap().as_secs(), 90);
        assert_eq!(parse_duration("5m").unwrap().as_secs(), 300);
        assert_eq!(parse_duration("4h").unwrap().as_secs(), 14400);
        assert_eq!(parse_duration("1h30m").unwrap().as_secs(), 5400);
        assert_eq!(parse_duration("0h").unwrap().as_secs(), 0);
        for bad in ["", "5", "m", "5x", "-5m", "5m3", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }
}
