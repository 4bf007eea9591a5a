//! Sprig: dates and durations (`now`, `date`, `dateInZone`, `dateModify`, `ago`, `duration`,
//! `durationRound`, `htmlDate`, `toDate`, `unixEpoch`), with Go's layouts (`2006-01-02`).

use crate::error::GoError;

use super::*;
use crate::value::Object;
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};
use std::rc::Rc;

/// A Go `time.Time`.
#[derive(Debug)]
pub(crate) struct Time(pub Zoned);

impl Object for Time {
    fn type_name(&self) -> &'static str {
        "time.Time"
    }
    fn field(&self, _: &str) -> Option<Value> {
        None
    }
    fn has_method(&self, name: &str) -> bool {
        matches!(
            name,
            "Unix" | "Year" | "Day" | "Hour" | "Minute" | "Second" | "String" | "UTC"
        )
    }
    fn call(&self, name: &str, _args: &[Value]) -> Option<Result<Value, GoError>> {
        let z = &self.0;
        Some(Ok(match name {
            "Unix" => Value::Int(z.timestamp().as_second()),
            "Year" => Value::Int(z.year() as i64),
            "Day" => Value::Int(z.day() as i64),
            "Hour" => Value::Int(z.hour() as i64),
            "Minute" => Value::Int(z.minute() as i64),
            "Second" => Value::Int(z.second() as i64),
            "String" => Value::from(self.display()),
            "UTC" => time_value(z.with_time_zone(TimeZone::UTC)),
            _ => return None,
        }))
    }
    fn display(&self) -> String {
        format_go(&self.0, "2006-01-02 15:04:05.999999999 -0700 MST")
    }
    fn to_value(&self) -> Value {
        Value::from(format_go(&self.0, "2006-01-02T15:04:05.999999999Z07:00"))
    }
}

fn time_value(z: Zoned) -> Value {
    Value::Object(Rc::new(Time(z)))
}

fn zone(name: &str) -> TimeZone {
    match name {
        "" | "UTC" => TimeZone::UTC,
        "Local" => TimeZone::system(),
        n => TimeZone::get(n).unwrap_or(TimeZone::UTC),
    }
}

/// The time a Sprig date function was given: a time, or Unix seconds as an integer; anything
/// else is now (as Sprig does).
fn time_of(v: &Value) -> Zoned {
    match v {
        Value::Object(o) if o.type_name() == "time.Time" => {
            let secs = o.call("Unix", &[]).and_then(Result::ok);
            let nanos = o.to_value();
            // Round-trip through the RFC 3339 text keeps zone offset and nanoseconds.
            if let Ok(z) = strval(&nanos).parse::<Timestamp>() {
                return z.to_zoned(TimeZone::system());
            }
            let s = secs.map(|v| to_int64(&v)).unwrap_or(0);
            Timestamp::from_second(s)
                .unwrap_or(Timestamp::UNIX_EPOCH)
                .to_zoned(TimeZone::system())
        }
        Value::Int(i) => Timestamp::from_second(*i)
            .unwrap_or(Timestamp::UNIX_EPOCH)
            .to_zoned(TimeZone::system()),
        _ => Zoned::now(),
    }
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// Formats with a Go layout (reference time `Mon Jan 2 15:04:05 MST 2006`).
pub(crate) fn format_go(z: &Zoned, layout: &str) -> String {
    let mut out = String::new();
    let mut rest = layout;
    while !rest.is_empty() {
        let (n, text) = token(z, rest);
        out.push_str(&text);
        rest = &rest[n..];
    }
    out
}

fn offset_text(secs: i32, colon: bool, seconds: bool, hours_only: bool) -> String {
    let sign = if secs < 0 { '-' } else { '+' };
    let a = secs.unsigned_abs();
    let (h, m, s) = (a / 3600, a / 60 % 60, a % 60);
    let sep = if colon { ":" } else { "" };
    if hours_only {
        return format!("{sign}{h:02}");
    }
    if seconds {
        return format!("{sign}{h:02}{sep}{m:02}{sep}{s:02}");
    }
    format!("{sign}{h:02}{sep}{m:02}")
}

/// What an element of a Go time layout prints.
#[derive(Clone, Copy)]
enum Elem {
    MonthName,
    MonthAbbrev,
    DayName,
    DayAbbrev,
    ZoneAbbrev,
    Year,
    /// A UTC offset: `Z` for UTC when `z`; with a colon, seconds, or hours only.
    Offset {
        z: bool,
        colon: bool,
        seconds: bool,
        hours: bool,
    },
    YearDay0,
    YearDaySpace,
    DaySpace,
    Month0,
    Day0,
    Hour12_0,
    Minute0,
    Second0,
    Year2,
    Hour24,
    PmUpper,
    PmLower,
    Month,
    Day,
    Hour12,
    Minute,
    Second,
}

const fn off(z: bool, colon: bool, seconds: bool, hours: bool) -> Elem {
    Elem::Offset {
        z,
        colon,
        seconds,
        hours,
    }
}

/// Go's layout elements, longest first where one is a prefix of another.
const LAYOUT: [(&str, Elem); 33] = [
    ("January", Elem::MonthName),
    ("Jan", Elem::MonthAbbrev),
    ("Monday", Elem::DayName),
    ("Mon", Elem::DayAbbrev),
    ("MST", Elem::ZoneAbbrev),
    ("2006", Elem::Year),
    ("Z07:00:00", off(true, true, true, false)),
    ("-07:00:00", off(false, true, true, false)),
    ("Z070000", off(true, false, true, false)),
    ("-070000", off(false, false, true, false)),
    ("Z07:00", off(true, true, false, false)),
    ("-07:00", off(false, true, false, false)),
    ("Z0700", off(true, false, false, false)),
    ("-0700", off(false, false, false, false)),
    ("Z07", off(true, false, false, true)),
    ("-07", off(false, false, false, true)),
    ("002", Elem::YearDay0),
    ("__2", Elem::YearDaySpace),
    ("_2", Elem::DaySpace),
    ("01", Elem::Month0),
    ("02", Elem::Day0),
    ("03", Elem::Hour12_0),
    ("04", Elem::Minute0),
    ("05", Elem::Second0),
    ("06", Elem::Year2),
    ("15", Elem::Hour24),
    ("PM", Elem::PmUpper),
    ("pm", Elem::PmLower),
    ("1", Elem::Month),
    ("2", Elem::Day),
    ("3", Elem::Hour12),
    ("4", Elem::Minute),
    ("5", Elem::Second),
];

/// One layout element at the start of `s`: how many bytes it takes and what it prints.
fn token(z: &Zoned, s: &str) -> (usize, String) {
    if let Some(frac) = fraction(z, s) {
        return frac;
    }
    if let Some((tok, elem)) = LAYOUT.iter().find(|(tok, _)| s.starts_with(tok)) {
        return (tok.len(), print(z, *elem));
    }
    let c = s.chars().next().expect("non-empty");
    (c.len_utf8(), c.to_string())
}

fn print(z: &Zoned, elem: Elem) -> String {
    let month = z.month() as usize;
    let day = z.weekday().to_monday_zero_offset() as usize;
    let hour12 = match z.hour() % 12 {
        0 => 12,
        h => h,
    };
    let pm = z.hour() >= 12;
    match elem {
        Elem::MonthName => MONTHS[month - 1].to_string(),
        Elem::MonthAbbrev => MONTHS[month - 1][..3].to_string(),
        Elem::DayName => DAYS[day].to_string(),
        Elem::DayAbbrev => DAYS[day][..3].to_string(),
        Elem::ZoneAbbrev => z
            .time_zone()
            .to_offset_info(z.timestamp())
            .abbreviation()
            .to_string(),
        Elem::Year => format!("{:04}", z.year()),
        Elem::Offset {
            z: utc_z,
            colon,
            seconds,
            hours,
        } => {
            let off = z.offset().seconds();
            if utc_z && off == 0 {
                "Z".into()
            } else {
                offset_text(off, colon, seconds, hours)
            }
        }
        Elem::YearDay0 => format!("{:03}", z.day_of_year()),
        Elem::YearDaySpace => format!("{:>3}", z.day_of_year()),
        Elem::DaySpace => format!("{:>2}", z.day()),
        Elem::Month0 => format!("{month:02}"),
        Elem::Day0 => format!("{:02}", z.day()),
        Elem::Hour12_0 => format!("{hour12:02}"),
        Elem::Minute0 => format!("{:02}", z.minute()),
        Elem::Second0 => format!("{:02}", z.second()),
        Elem::Year2 => format!("{:02}", z.year() % 100),
        Elem::Hour24 => format!("{:02}", z.hour()),
        Elem::PmUpper => (if pm { "PM" } else { "AM" }).into(),
        Elem::PmLower => (if pm { "pm" } else { "am" }).into(),
        Elem::Month => month.to_string(),
        Elem::Day => z.day().to_string(),
        Elem::Hour12 => hour12.to_string(),
        Elem::Minute => z.minute().to_string(),
        Elem::Second => z.second().to_string(),
    }
}

/// `.000` (fixed) or `.999` (trailing zeros trimmed) fractional seconds.
fn fraction(z: &Zoned, s: &str) -> Option<(usize, String)> {
    let b = s.as_bytes();
    if !(b.first() == Some(&b'.') || b.first() == Some(&b',')) {
        return None;
    }
    let digit = *b.get(1)?;
    if digit != b'0' && digit != b'9' {
        return None;
    }
    let n = b[1..].iter().take_while(|&&c| c == digit).count();
    if b.get(1 + n).is_some_and(|c| c.is_ascii_digit()) {
        return None;
    }
    let nanos = format!("{:09}", z.subsec_nanosecond());
    let digits = &nanos[..n.min(9)];
    let text = if digit == b'0' {
        format!("{}{digits}", b[0] as char)
    } else {
        let t = digits.trim_end_matches('0');
        if t.is_empty() {
            String::new()
        } else {
            format!("{}{t}", b[0] as char)
        }
    };
    Some((1 + n, text))
}

/// Go's `time.ParseDuration`.
fn parse_duration(s: &str) -> Option<i128> {
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += num * unit;
    }
    Some(if neg { -(total as i128) } else { total as i128 })
}

/// Go's `time.Duration.String`.
pub(crate) fn duration_string(ns: i128) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let neg = ns < 0;
    let u = ns.unsigned_abs();
    let sign = if neg { "-" } else { "" };
    if u < 1_000_000_000 {
        let (unit, div) = if u < 1_000 {
            ("ns", 1)
        } else if u < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{sign}{}{unit}", frac_text(u, div));
    }
    let h = u / 3_600_000_000_000;
    let m = u / 60_000_000_000 % 60;
    let s = u % 60_000_000_000;
    let secs = format!("{}s", frac_text(s, 1_000_000_000));
    match (h, m) {
        (0, 0) => format!("{sign}{secs}"),
        (0, m) => format!("{sign}{m}m{secs}"),
        (h, m) => format!("{sign}{h}h{m}m{secs}"),
    }
}

fn frac_text(v: u128, div: u128) -> String {
    let whole = v / div;
    let frac = v % div;
    if frac == 0 {
        return whole.to_string();
    }
    let width = div.to_string().len() - 1;
    let f = format!("{frac:0width$}");
    format!("{whole}.{}", f.trim_end_matches('0'))
}

/// Sprig's `durationRound`: the largest unit only (`2h`, `3mo`, `1y`).
fn duration_round(v: &Value) -> String {
    let ns: i128 = match v {
        Value::String(s) => parse_duration(s).unwrap_or(0),
        // Sprig takes `int64` nanoseconds; template integers are Go `int`, which it ignores.
        Value::Object(_) => {
            Zoned::now().timestamp().as_nanosecond() - time_of(v).timestamp().as_nanosecond()
        }
        _ => 0,
    };
    let u = ns.unsigned_abs() / 1_000_000_000;
    let (year, month, day, hour, minute) = (31_536_000, 2_592_000, 86_400, 3_600, 60);
    match u {
        u if u > year => format!("{}y", u / year),
        u if u > month => format!("{}mo", u / month),
        u if u > day => format!("{}d", u / day),
        u if u > hour => format!("{}h", u / hour),
        u if u > minute => format!("{}m", u / minute),
        u if u > 0 => format!("{u}s"),
        _ => "0s".into(),
    }
}

/// Parses `value` with a Go layout (the common numeric elements), in the given zone.
fn parse_go(layout: &str, value: &str, tz: &TimeZone) -> Option<Zoned> {
    // Go's `Z07:00` reads `Z` as UTC.
    let zulu;
    let value = if layout.contains("Z07") && value.ends_with('Z') {
        zulu = format!("{}+00:00", &value[..value.len() - 1]);
        zulu.as_str()
    } else {
        value
    };
    let strf = layout
        .replace("2006", "%Y")
        .replace("01", "%m")
        .replace("02", "%d")
        .replace("15", "%H")
        .replace("04", "%M")
        .replace("05", "%S")
        .replace("Z07:00", "%:z")
        .replace("-07:00", "%:z")
        .replace("-0700", "%z")
        .replace("MST", "%Z");
    if let Ok(z) = jiff::fmt::strtime::parse(&strf, value).and_then(|p| p.to_zoned()) {
        return Some(z);
    }
    let dt = jiff::fmt::strtime::parse(&strf, value)
        .ok()?
        .to_datetime()
        .or_else(|_| {
            jiff::fmt::strtime::parse(&strf, value)
                .and_then(|p| p.to_date())
                .map(|d| d.to_datetime(jiff::civil::Time::midnight()))
        })
        .ok()?;
    dt.to_zoned(tz.clone()).ok()
}

/// Go's `time.Parse` error for `value` that does not fit `layout`: the layout walked element by
/// element (numbers of a fixed width, zones, literal text) to the first one the value does not
/// match, named as Go names it (`cannot parse "x" as "2006"`), or the text left over.
fn parse_error(layout: &str, value: &str) -> String {
    const ELEMENTS: [(&str, usize); 10] = [
        ("2006", 4),
        ("Z07:00", 0),
        ("-07:00", 6),
        ("-0700", 5),
        ("MST", 0),
        ("01", 2),
        ("02", 2),
        ("15", 2),
        ("04", 2),
        ("05", 2),
    ];
    let head = format!(
        "parsing time {} as {}",
        gofmt::quote(value),
        gofmt::quote(layout)
    );
    let (mut l, mut v) = (layout, value);
    while !l.is_empty() {
        let next = ELEMENTS
            .iter()
            .filter_map(|&(e, w)| l.find(e).map(|i| (i, e, w)))
            .min_by_key(|&(i, _, _)| i);
        let literal = &l[..next.map_or(l.len(), |(i, _, _)| i)];
        if !literal.is_empty() {
            if !v.starts_with(literal) {
                return format!(
                    "{head}: cannot parse {} as {}",
                    gofmt::quote(v),
                    gofmt::quote(literal)
                );
            }
            v = &v[literal.len()..];
            l = &l[literal.len()..];
            continue;
        }
        let Some((_, element, width)) = next else {
            break;
        };
        let digits = v.bytes().take_while(u8::is_ascii_digit).count();
        let fits = match element {
            "Z07:00" if v.starts_with('Z') => Some(1),
            "Z07:00" | "-07:00" => {
                (v.len() >= 6 && matches!(v.as_bytes()[0], b'+' | b'-')).then_some(6)
            }
            "-0700" => (v.len() >= 5 && matches!(v.as_bytes()[0], b'+' | b'-')).then_some(5),
            "MST" => Some(v.bytes().take_while(u8::is_ascii_uppercase).count()).filter(|n| *n >= 3),
            _ => (digits >= width).then_some(width),
        };
        match fits {
            Some(n) => {
                v = &v[n..];
                l = &l[element.len()..];
            }
            None => {
                return format!(
                    "{head}: cannot parse {} as {}",
                    gofmt::quote(v),
                    gofmt::quote(element)
                )
            }
        }
    }
    if !v.is_empty() {
        return format!(
            "parsing time {}: extra text: {}",
            gofmt::quote(value),
            gofmt::quote(v)
        );
    }
    format!(
        "{head}: cannot parse {} as {}",
        gofmt::quote(value),
        gofmt::quote(layout)
    )
}

pub(super) fn register(reg: &mut Registry) {
    use Ty::*;
    let mut f = |name, params, variadic, imp| reg.add(name, params, variadic, imp);
    f("now", &[], None, |_, _| Ok(time_value(Zoned::now())));
    f("date", &[Str, Any], None, |_, a| {
        Ok(Value::from(format_go(
            &time_of(&a[1]).with_time_zone(TimeZone::system()),
            s(&a[0]),
        )))
    });
    for name in ["dateInZone", "date_in_zone"] {
        f(name, &[Str, Any, Str], None, |_, a| {
            Ok(Value::from(format_go(
                &time_of(&a[1]).with_time_zone(zone(s(&a[2]))),
                s(&a[0]),
            )))
        });
    }
    f("htmlDate", &[Any], None, |_, a| {
        Ok(Value::from(format_go(
            &time_of(&a[0]).with_time_zone(TimeZone::system()),
            "2006-01-02",
        )))
    });
    f("htmlDateInZone", &[Any, Str], None, |_, a| {
        Ok(Value::from(format_go(
            &time_of(&a[0]).with_time_zone(zone(s(&a[1]))),
            "2006-01-02",
        )))
    });
    for name in [
        "dateModify",
        "date_modify",
        "mustDateModify",
        "must_date_modify",
    ] {
        f(name, &[Str, Any], None, |_, a| {
            let t = time_of(&a[1]);
            match parse_duration(s(&a[0])) {
                Some(ns) => Ok(time_value(
                    t.checked_add(jiff::SignedDuration::from_nanos(ns as i64))
                        .unwrap_or(t),
                )),
                None => msg(format!("time: invalid duration {}", gofmt::quote(s(&a[0])))),
            }
        });
    }
    f("ago", &[Any], None, |_, a| {
        let ns =
            Zoned::now().timestamp().as_nanosecond() - time_of(&a[0]).timestamp().as_nanosecond();
        Ok(Value::from(duration_string(
            ns / 1_000_000_000 * 1_000_000_000,
        )))
    });
    f("duration", &[Any], None, |_, a| {
        // Sprig reads a string or an `int64`; template integers are Go `int`, read as 0.
        let secs = match &a[0] {
            Value::String(x) => x.parse::<i64>().unwrap_or(0),
            _ => 0,
        };
        Ok(Value::from(duration_string(secs as i128 * 1_000_000_000)))
    });
    f("durationRound", &[Any], None, |_, a| {
        Ok(Value::from(duration_round(&a[0])))
    });
    for name in ["toDate", "mustToDate"] {
        f(name, &[Str, Str], None, |_, a| {
            match parse_go(s(&a[0]), s(&a[1]), &TimeZone::system()) {
                Some(z) => Ok(time_value(z)),
                None => msg(parse_error(s(&a[0]), s(&a[1]))),
            }
        });
    }
    f("unixEpoch", &[Any], None, |_, a| {
        Ok(Value::from(
            time_of(&a[0]).timestamp().as_second().to_string(),
        ))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_layouts_and_durations() {
        let z: Zoned = "2024-03-05T07:08:09.120-02:00[-02:00]".parse().unwrap();
        assert_eq!(format_go(&z, "2006-01-02 15:04:05"), "2024-03-05 07:08:09");
        assert_eq!(
            format_go(&z, "Jan _2 3:04PM Mon .000 .999 -07:00 Z0700"),
            "Mar  5 7:08AM Tue .120 .12 -02:00 -0200"
        );
        assert_eq!(duration_string(90_000_000_000), "1m30s");
        assert_eq!(
            duration_string(3_600_000_000_000 * 25 + 1_500_000_000),
            "25h0m1.5s"
        );
        assert_eq!(duration_string(1_500_000), "1.5ms");
        assert_eq!(parse_duration("-1.5h"), Some(-5_400_000_000_000));
        assert_eq!(duration_round(&Value::from("2h10m")), "2h");
    }
}
