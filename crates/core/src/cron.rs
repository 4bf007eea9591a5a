//! Cron schedules as CronJobs write them: five fields (minute hour day-of-month month
//! day-of-week), lists, ranges, steps, month and weekday names, and the @macros. Times are UTC.

use std::fmt;

/// A parsed schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    text: String,
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    /// Both day fields restricted: a time matches when either does (cron's rule).
    either_day: bool,
}

/// Why a schedule does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid schedule {schedule:?}: {message}")]
pub struct CronError {
    pub schedule: String,
    pub message: String,
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

fn value(s: &str, min: u32, max: u32, names: &[&str], names_from: u32) -> Result<u32, String> {
    if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
        return Ok(i as u32 + names_from);
    }
    let v: u32 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if v < min || v > max {
        return Err(format!("{v} is outside {min}-{max}"));
    }
    Ok(v)
}

fn field(s: &str, min: u32, max: u32, names: &[&str], names_from: u32) -> Result<u64, String> {
    let mut bits = 0u64;
    for part in s.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, st)) => (
                r,
                st.parse::<u32>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("bad step in {part:?}"))?,
            ),
            None => (part, 1),
        };
        let (lo, hi) = if range == "*" || range == "?" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (
                value(a, min, max, names, names_from)?,
                value(b, min, max, names, names_from)?,
            )
        } else {
            let v = value(range, min, max, names, names_from)?;
            (v, if part.contains('/') { max } else { v })
        };
        if lo > hi {
            return Err(format!("range {range:?} runs backwards"));
        }
        let mut v = lo;
        while v <= hi {
            bits |= 1 << v;
            v += step;
        }
    }
    Ok(bits)
}

impl Schedule {
    /// Parses a schedule.
    pub fn parse(text: &str) -> Result<Schedule, CronError> {
        let err = |m: String| CronError {
            schedule: text.to_string(),
            message: m,
        };
        let expanded = match text.trim() {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            t => t,
        };
        let f: Vec<&str> = expanded.split_whitespace().collect();
        if f.len() != 5 {
            return Err(err(format!(
                "expected 5 fields (minute hour day month weekday), found {}",
                f.len()
            )));
        }
        let mut weekdays =
            field(f[4], 0, 7, &WEEKDAYS, 0).map_err(|m| err(format!("weekday: {m}")))?;
        if weekdays & (1 << 7) != 0 {
            weekdays |= 1;
        }
        Ok(Schedule {
            text: text.to_string(),
            minutes: field(f[0], 0, 59, &[], 0).map_err(|m| err(format!("minute: {m}")))?,
            hours: field(f[1], 0, 23, &[], 0).map_err(|m| err(format!("hour: {m}")))?,
            days: field(f[2], 1, 31, &[], 0).map_err(|m| err(format!("day of month: {m}")))?,
            months: field(f[3], 1, 12, &MONTHS, 1).map_err(|m| err(format!("month: {m}")))?,
            weekdays,
            either_day: ![f[2], f[4]].iter().any(|x| *x == "*" || *x == "?"),
        })
    }

    fn matches(&self, minute_of_epoch: i64) -> bool {
        let (_, mo, d) = civil_from_days(minute_of_epoch.div_euclid(1440));
        let in_day = minute_of_epoch.rem_euclid(1440);
        let (h, mi) = ((in_day / 60) as u32, (in_day % 60) as u32);
        // 1970-01-01 was a Thursday.
        let wd = ((minute_of_epoch.div_euclid(1440) + 4).rem_euclid(7)) as u32;
        let dom = self.days & (1 << d) != 0;
        let dow = self.weekdays & (1 << wd) != 0;
        let day = if self.either_day {
            dom || dow
        } else {
            dom && dow
        };
        self.minutes & (1 << mi) != 0
            && self.hours & (1 << h) != 0
            && self.months & (1 << mo) != 0
            && day
    }

    /// The first matching minute strictly after `unix_secs`, as unix seconds (within 5 years).
    pub fn next_after(&self, unix_secs: i64) -> Option<i64> {
        let start = unix_secs.div_euclid(60) + 1;
        (start..start + 5 * 366 * 1440)
            .find(|m| self.matches(*m))
            .map(|m| m * 60)
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Days since 1970-01-01 to (year, month 1-12, day 1-31), Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-11-22 21:08:30 UTC, a Sunday.
    const NOW: i64 = 1_795_381_710;

    fn next(s: &str) -> i64 {
        Schedule::parse(s).unwrap().next_after(NOW).unwrap()
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(NOW / 86_400), (2026, 11, 22));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn next_runs() {
        assert_eq!(next("* * * * *"), NOW - 30 + 60);
        assert_eq!(next("*/15 * * * *"), NOW - 8 * 60 - 30 + 15 * 60);
        assert_eq!(next("0 * * * *"), NOW - 8 * 60 - 30 + 60 * 60);
        assert_eq!(next("@daily"), (NOW / 86_400 + 1) * 86_400);
        assert_eq!(
            next("30 2 * * MON"),
            (NOW / 86_400 + 1) * 86_400 + 2 * 3600 + 30 * 60
        );
        assert_eq!(next("0 0 1 JAN *"), 1_798_761_600);
        // Day of month and weekday both restricted: either matches (the 1st, or a Tuesday).
        assert_eq!(next("0 0 1 * TUE"), (NOW / 86_400 + 2) * 86_400);
        assert_eq!(next("0 12 * * 0"), (NOW / 86_400 + 7) * 86_400 + 12 * 3600);
        assert_eq!(next("0 12 * * 7"), next("0 12 * * 0"));
    }

    #[test]
    fn errors_name_the_field() {
        let e = Schedule::parse("61 * * * *").unwrap_err();
        assert_eq!(e.message, "minute: 61 is outside 0-59");
        assert!(Schedule::parse("* * *")
            .unwrap_err()
            .message
            .contains("expected 5 fields"));
        assert!(Schedule::parse("* * * FOO *")
            .unwrap_err()
            .message
            .starts_with("month:"));
        assert!(Schedule::parse("5-1 * * * *")
            .unwrap_err()
            .message
            .contains("backwards"));
        assert!(Schedule::parse("*/0 * * * *")
            .unwrap_err()
            .message
            .contains("bad step"));
    }
}
