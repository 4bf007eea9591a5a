//! Durations (`30s`, `5m`) and sizes (`10M`) as people write them on a command line.

use std::time::Duration;

/// A duration or size that does not read; the message says how to write one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UnitError(String);

/// A duration as `30s`, `5m`, `1h`, `500ms` or plain seconds.
pub fn duration(s: &str) -> Result<Duration, UnitError> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((s, "s"), |i| s.split_at(i));
    let n: f64 = num
        .parse()
        .map_err(|_| UnitError(format!("`{s}` is not a duration (try 30s, 5m, 1h)")))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => {
            let why = format!("`{s}` has an unknown unit (use ms, s, m or h)");
            return Err(UnitError(why));
        }
    };
    Ok(Duration::from_secs_f64(secs))
}

/// A size as `512`, `512K`, `10M`, `1G` (powers of 1024), more than 0.
pub fn size(s: &str) -> Result<u64, UnitError> {
    let t = s.trim();
    let (digits, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => t.split_at(i),
        None => (t, ""),
    };
    let scale: u64 = match unit.to_ascii_uppercase().trim_end_matches(['B', 'I']) {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        _ => {
            let why = format!("unknown unit {unit:?}: use K, M or G (10M)");
            return Err(UnitError(why));
        }
    };
    let n: u64 = digits.parse().map_err(|_| {
        UnitError(format!(
            "{s:?} is not a size: write a number with K, M or G (10M)"
        ))
    })?;
    match n.checked_mul(scale) {
        Some(0) => Err(UnitError("the size must be more than 0".into())),
        Some(v) => Ok(v),
        None => Err(UnitError(format!("{s:?} is too large"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes_read_as_written() {
        assert_eq!(duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(duration("2"), Ok(Duration::from_secs(2)));
        assert!(duration("5 parsecs").is_err());
        assert_eq!(size("10M"), Ok(10 << 20));
        assert_eq!(size("512KiB"), Ok(512 << 10));
        assert!(size("0").is_err());
        assert!(size("10T").is_err());
    }
}
