//! The ladder: when the next reminder of a record falls due.
//!
//! | reminders given | next one after the last |
//! | --- | --- |
//! | 0 | at once (first sight) |
//! | 1 | 1 h |
//! | 2 | 6 h |
//! | 3 and more | 24 h |
//!
//! Gaps count from the last reminder actually given, not from first sight:
//! an owner away for a day gets one reminder when back, not a burst.
//! A snooze replaces the next due time with its end.

use crate::state::RemindState;

const HOUR: i64 = 3600;

/// The wait after the `step`-th reminder (step 0: nothing given yet, the
/// first rung, which is also the default snooze of a record never reminded).
pub fn gap_after(step: u32) -> i64 {
    match step {
        0 | 1 => HOUR,
        2 => 6 * HOUR,
        _ => 24 * HOUR,
    }
}

/// When the next reminder falls due (seconds since the epoch).
pub fn due_at(s: &Times) -> i64 {
    match (s.snoozed_until, s.last_reminded) {
        (Some(until), _) => until,
        (None, None) => s.first_seen,
        (None, Some(last)) => last + gap_after(s.step),
    }
}

/// A state's times, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Times {
    pub first_seen: i64,
    pub last_reminded: Option<i64>,
    pub step: u32,
    pub snoozed_until: Option<i64>,
}

impl Times {
    /// A record seen for the first time at `now`.
    pub fn fresh(now: i64) -> Times {
        Times {
            first_seen: now,
            last_reminded: None,
            step: 0,
            snoozed_until: None,
        }
    }

    /// The state after a reminder given at `now`.
    pub fn reminded(self, now: i64) -> Times {
        Times {
            last_reminded: Some(now),
            step: self.step + 1,
            snoozed_until: None,
            ..self
        }
    }

    /// The state after a snooze until `until`.
    pub fn snoozed(self, until: i64) -> Times {
        Times {
            snoozed_until: Some(until),
            ..self
        }
    }

    /// The latest time this state has seen: a `now` before it means the clock
    /// went backwards.
    pub fn latest_seen(&self) -> i64 {
        self.last_reminded
            .unwrap_or(self.first_seen)
            .max(self.first_seen)
    }

    pub fn from_state(s: &RemindState) -> ka_core::Result<Times> {
        let t = |text: &str| ka_core::time::parse_time(text);
        Ok(Times {
            first_seen: t(&s.first_seen)?,
            last_reminded: s.last_reminded.as_deref().map(t).transpose()?,
            step: s.step,
            snoozed_until: s.snoozed_until.as_deref().map(t).transpose()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ladder_climbs_then_stays_daily() {
        let t0 = 1_000_000;
        let mut s = Times::fresh(t0);
        assert_eq!(due_at(&s), t0);
        let mut now = t0;
        let mut gaps = Vec::new();
        for _ in 0..5 {
            s = s.reminded(now);
            let next = due_at(&s);
            gaps.push(next - now);
            now = next;
        }
        assert_eq!(gaps, [HOUR, 6 * HOUR, 24 * HOUR, 24 * HOUR, 24 * HOUR]);
    }

    #[test]
    fn a_snooze_replaces_the_next_time_and_a_reminder_ends_it() {
        let s = Times::fresh(0).reminded(0).snoozed(10 * HOUR);
        assert_eq!(due_at(&s), 10 * HOUR);
        let s = s.reminded(10 * HOUR);
        assert_eq!(s.snoozed_until, None);
        assert_eq!(due_at(&s), 16 * HOUR);
    }
}
