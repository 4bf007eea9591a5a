//! Go's `fmt` package as templates see it: `print`, `printf`, `println` and `%v` printing.

use crate::value::Value;
use std::fmt::Write;

/// `fmt.Sprint`: spaces between operands when neither side is a string.
pub fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !matches!(a, Value::String(_)) && !matches!(args[i - 1], Value::String(_)) {
            out.push(' ');
        }
        write_v(&mut out, a);
    }
    out
}

/// `fmt.Sprintln`: always spaces, then a newline.
pub fn sprintln(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        write_v(&mut out, a);
    }
    out.push('\n');
    out
}

/// `%v` of a value.
pub fn write_v(out: &mut String, v: &Value) {
    match v {
        Value::Object(o) => out.push_str(&o.display()),
        Value::Nil => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Uint(u) => {
            let _ = write!(out, "{u}");
        }
        Value::Float(f) => out.push_str(&format_float(*f, 'g', None)),
        Value::String(s) => out.push_str(s),
        // Go writes the bytes; the output is text, so each bad byte is U+FFFD.
        Value::Bytes(b) => out.push_str(&crate::value::go_lossy(b)),
        Value::List(l) => {
            out.push('[');
            for (i, e) in l.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_v(out, e);
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push_str("map[");
            for (i, (k, e)) in m.borrow().iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                write_v(out, e);
            }
            out.push(']');
        }
    }
}

/// `%v` of a value as a new string.
pub fn to_v(v: &Value) -> String {
    let mut s = String::new();
    write_v(&mut s, v);
    s
}

/// Decimal digits and decimal-point position of the shortest representation of `|f|`:
/// value = 0.d1d2d3... * 10^dp.
fn shortest_digits(f: f64) -> (Vec<u8>, i32) {
    let s = format!("{:e}", f.abs());
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: Vec<u8> = mant.bytes().filter(|b| b.is_ascii_digit()).collect();
    let mut digits = digits;
    while digits.len() > 1 && digits.last() == Some(&b'0') {
        digits.pop();
    }
    if digits == [b'0'] {
        return (vec![], 0);
    }
    (digits, exp + 1)
}

/// Digits of `|f|` rounded to `n` significant digits (trailing zeros trimmed), and dp.
fn rounded_digits(f: f64, n: usize) -> (Vec<u8>, i32) {
    let n = n.max(1);
    let s = format!("{:.*e}", n - 1, f.abs());
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut digits: Vec<u8> = mant.bytes().filter(|b| b.is_ascii_digit()).collect();
    while digits.len() > 1 && digits.last() == Some(&b'0') {
        digits.pop();
    }
    if digits == [b'0'] {
        return (vec![], 0);
    }
    (digits, exp + 1)
}

fn fmt_e(neg: bool, digits: &[u8], dp: i32, prec: usize, upper: bool) -> String {
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    let first = digits.first().copied().unwrap_or(b'0');
    s.push(first as char);
    if prec > 0 {
        s.push('.');
        for i in 1..=prec {
            s.push(digits.get(i).copied().unwrap_or(b'0') as char);
        }
    }
    s.push(if upper { 'E' } else { 'e' });
    let exp = if digits.is_empty() { 0 } else { dp - 1 };
    s.push(if exp < 0 { '-' } else { '+' });
    let a = exp.unsigned_abs();
    if a < 10 {
        s.push('0');
    }
    let _ = write!(s, "{a}");
    s
}

fn fmt_f(neg: bool, digits: &[u8], dp: i32, prec: usize) -> String {
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    if dp > 0 {
        for i in 0..dp as usize {
            s.push(digits.get(i).copied().unwrap_or(b'0') as char);
        }
    } else {
        s.push('0');
    }
    if prec > 0 {
        s.push('.');
        for i in 0..prec as i32 {
            let j = dp + i;
            let c = if j < 0 {
                b'0'
            } else {
                digits.get(j as usize).copied().unwrap_or(b'0')
            };
            s.push(c as char);
        }
    }
    s
}

/// `strconv.FormatFloat(f, verb, prec, 64)` for verbs e, E, f, g, G.
pub fn format_float(f: f64, verb: char, prec: Option<usize>) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let neg = f.is_sign_negative();
    match verb {
        'e' | 'E' => {
            let p = prec.unwrap_or(usize::MAX);
            let (d, dp) = if p == usize::MAX {
                shortest_digits(f)
            } else {
                rounded_digits(f, p + 1)
            };
            let p = if p == usize::MAX {
                d.len().saturating_sub(1)
            } else {
                p
            };
            fmt_e(neg, &d, dp, p, verb == 'E')
        }
        'f' | 'F' => match prec {
            Some(p) => {
                let s = format!("{:.*}", p, f.abs());
                if neg {
                    format!("-{s}")
                } else {
                    s
                }
            }
            None => {
                let (d, dp) = shortest_digits(f);
                let p = (d.len() as i32 - dp).max(0) as usize;
                fmt_f(neg, &d, dp, p)
            }
        },
        _ => {
            let shortest = prec.is_none();
            let (d, dp) = match prec {
                None => shortest_digits(f),
                Some(p) => rounded_digits(f, if p == 0 { 1 } else { p }),
            };
            let mut eprec = match prec {
                None => 6,
                Some(0) => 1,
                Some(p) => p as i32,
            };
            let nd = d.len() as i32;
            if !shortest && eprec > nd && nd >= dp {
                eprec = nd;
            }
            if shortest {
                eprec = 6;
            }
            let exp = dp - 1;
            if !d.is_empty() && (exp < -4 || exp >= eprec) {
                let p = (nd - 1).max(0) as usize;
                return fmt_e(neg, &d, dp, p, verb == 'G');
            }
            let p = (nd - dp).max(0) as usize;
            if d.is_empty() {
                return if neg { "-0".into() } else { "0".into() };
            }
            fmt_f(neg, &d, dp, p)
        }
    }
}

/// `strconv.Quote`.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if is_print(c) => out.push(c),
            c if (c as u32) < 0x80 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if (c as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push('"');
    out
}

/// An approximation of Go's `unicode.IsPrint`.
pub fn is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    let u = c as u32;
    !((0xE000..=0xF8FF).contains(&u)
        || (0xFFF0..=0xFFFF).contains(&u) && u != 0xFFFD
        || (0x200B..=0x200F).contains(&u)
        || (0x2028..=0x202E).contains(&u)
        || (0x2060..=0x206F).contains(&u)
        || u == 0xFEFF
        || u == 0xAD)
}

#[derive(Default, Clone, Copy)]
struct Spec {
    minus: bool,
    plus: bool,
    sharp: bool,
    zero: bool,
    space: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

fn pad(out: &mut String, s: &str, sp: &Spec) {
    let n = s.chars().count();
    let w = sp.width.unwrap_or(0);
    if n >= w {
        out.push_str(s);
        return;
    }
    let fill = w - n;
    if sp.minus {
        out.push_str(s);
        out.extend(std::iter::repeat_n(' ', fill));
    } else if sp.zero {
        let (sign, rest) = match s.as_bytes().first() {
            Some(b'-' | b'+' | b' ') => s.split_at(1),
            _ => ("", s),
        };
        out.push_str(sign);
        out.extend(std::iter::repeat_n('0', fill));
        out.push_str(rest);
    } else {
        out.extend(std::iter::repeat_n(' ', fill));
        out.push_str(s);
    }
}

/// An element of a list or map: Go prints a nil one as `<nil>` under any verb.
fn fmt_elem(out: &mut String, e: &Value, verb: char, sp: &Spec) {
    match e {
        Value::Nil => pad(out, "<nil>", sp),
        _ => fmt_one(out, e, verb, sp),
    }
}

fn bad_verb(out: &mut String, verb: char, v: &Value) {
    out.push_str("%!");
    out.push(verb);
    out.push('(');
    match v {
        Value::Nil => out.push_str("<nil>"),
        _ => {
            out.push_str(v.type_name());
            out.push('=');
            write_v(out, v);
        }
    }
    out.push(')');
}

fn fmt_int(out: &mut String, neg: bool, mag: u64, verb: char, sp: &Spec) {
    let mut digits = match verb {
        'b' => format!("{mag:b}"),
        'o' | 'O' => format!("{mag:o}"),
        'x' => format!("{mag:x}"),
        'X' => format!("{mag:X}"),
        _ => format!("{mag}"),
    };
    if let Some(p) = sp.prec {
        if p == 0 && mag == 0 {
            digits.clear();
        }
        while digits.len() < p {
            digits.insert(0, '0');
        }
    }
    let mut prefix = String::new();
    if neg {
        prefix.push('-');
    } else if sp.plus {
        prefix.push('+');
    } else if sp.space {
        prefix.push(' ');
    }
    if sp.sharp {
        match verb {
            'b' => prefix.push_str("0b"),
            'o' if !digits.starts_with('0') => prefix.push('0'),
            'x' => prefix.push_str("0x"),
            'X' => prefix.push_str("0X"),
            _ => {}
        }
    }
    if verb == 'O' {
        prefix.push_str("0o");
    }
    let mut sp2 = *sp;
    if sp.prec.is_some() {
        sp2.zero = false;
    }
    if sp2.zero && !sp2.minus {
        let w = sp.width.unwrap_or(0);
        let len = prefix.len() + digits.len();
        out.push_str(&prefix);
        for _ in len..w {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        sp2.zero = false;
        pad(out, &format!("{prefix}{digits}"), &sp2);
    }
}

fn fmt_one(out: &mut String, v: &Value, verb: char, sp: &Spec) {
    match v {
        Value::List(l) if verb != 'T' => {
            out.push('[');
            for (i, e) in l.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                fmt_elem(out, e, verb, sp);
            }
            out.push(']');
        }
        Value::Map(m) if verb != 'T' => {
            out.push_str("map[");
            for (i, (k, e)) in m.borrow().iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                fmt_one(out, &Value::str(k.as_str()), verb, sp);
                out.push(':');
                fmt_elem(out, e, verb, sp);
            }
            out.push(']');
        }
        _ if verb == 'T' => pad(out, v.type_name(), sp),
        Value::Object(o) if matches!(verb, 'v' | 's') => pad(out, &o.display(), sp),
        Value::Nil if verb == 'v' => pad(out, "<nil>", sp),
        Value::Bool(b) if matches!(verb, 't' | 'v') => {
            pad(out, if *b { "true" } else { "false" }, sp)
        }
        Value::Int(i) => fmt_integer(out, v, *i < 0, i.unsigned_abs(), verb, sp),
        Value::Uint(u) => fmt_integer(out, v, false, *u, verb, sp),
        Value::Float(f) => fmt_float(out, v, *f, verb, sp),
        Value::String(s) => fmt_string(out, v, s, verb, sp),
        Value::Bytes(b) => fmt_string(out, v, &crate::value::go_lossy(b), verb, sp),
        _ => bad_verb(out, verb, v),
    }
}

/// An integer under `verb`: numbers, a character (`%c`, `%q`), a code point (`%U`).
fn fmt_integer(out: &mut String, v: &Value, neg: bool, mag: u64, verb: char, sp: &Spec) {
    match verb {
        'v' | 'd' | 'b' | 'o' | 'O' | 'x' | 'X' => fmt_int(out, neg, mag, verb, sp),
        'c' => pad(
            out,
            &char::from_u32(mag as u32).unwrap_or('\u{FFFD}').to_string(),
            sp,
        ),
        'q' => {
            let c = char::from_u32(mag as u32).unwrap_or('\u{FFFD}');
            let q = quote(&c.to_string());
            let inner = &q[1..q.len() - 1];
            let inner = if c == '"' {
                "\"".to_string()
            } else if c == '\'' {
                "\\'".to_string()
            } else {
                inner.to_string()
            };
            pad(out, &format!("'{inner}'"), sp);
        }
        'U' => pad(out, &format!("U+{mag:04X}"), sp),
        _ => bad_verb(out, verb, v),
    }
}

fn fmt_float(out: &mut String, v: &Value, f: f64, verb: char, sp: &Spec) {
    let mut s = match verb {
        'v' | 'g' | 'G' => format_float(f, if verb == 'G' { 'G' } else { 'g' }, sp.prec),
        'e' | 'E' => format_float(f, verb, Some(sp.prec.unwrap_or(6))),
        'f' | 'F' => format_float(f, 'f', Some(sp.prec.unwrap_or(6))),
        _ => return bad_verb(out, verb, v),
    };
    if sp.plus && !s.starts_with('-') && !s.starts_with('+') {
        s.insert(0, '+');
    } else if sp.space && !s.starts_with('-') {
        s.insert(0, ' ');
    }
    let mut sp2 = *sp;
    if f.is_infinite() || f.is_nan() {
        sp2.zero = false;
    }
    pad(out, &s, &sp2);
}

fn fmt_string(out: &mut String, v: &Value, s: &str, verb: char, sp: &Spec) {
    match verb {
        'v' | 's' => {
            let t: String = match sp.prec {
                Some(p) => s.chars().take(p).collect(),
                None => s.to_string(),
            };
            pad(out, &t, sp);
        }
        'q' if sp.sharp && !s.contains('`') => pad(out, &format!("`{s}`"), sp),
        'q' => pad(out, &quote(s), sp),
        'x' | 'X' => {
            let mut h = String::new();
            for (i, b) in s.bytes().enumerate() {
                if sp.space && i > 0 {
                    h.push(' ');
                }
                if verb == 'x' {
                    let _ = write!(h, "{b:02x}");
                } else {
                    let _ = write!(h, "{b:02X}");
                }
            }
            pad(out, &h, sp);
        }
        _ => bad_verb(out, verb, v),
    }
}

/// Go's `fmt.Sprintf`: flags, width, precision, `*`, explicit argument indexes (`%[2]s`), and
/// Go's error texts (`%!d(MISSING)`, `%!v(BADINDEX)`, `%!(EXTRA ...)`).
pub fn sprintf(format: &str, args: &[Value]) -> String {
    let mut p = Printf {
        f: format,
        args,
        out: String::with_capacity(format.len() + 16),
        arg: 0,
        reordered: false,
        good: true,
    };
    let b = format.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i] != b'%' {
            i += 1;
        }
        p.out.push_str(&format[start..i]);
        if i >= b.len() {
            break;
        }
        match p.directive(i + 1) {
            Some(next) => i = next,
            None => break,
        }
    }
    p.extra();
    p.out
}

/// The state of one `sprintf` (Go's `pp`).
struct Printf<'a> {
    f: &'a str,
    args: &'a [Value],
    out: String,
    /// The next argument to use.
    arg: usize,
    /// Whether an explicit index was used (then unused arguments are not reported).
    reordered: bool,
    /// Whether the current directive's indexes were valid.
    good: bool,
}

impl Printf<'_> {
    fn byte(&self, i: usize) -> Option<u8> {
        self.f.as_bytes().get(i).copied()
    }

    /// One directive after its `%`; returns where the format continues, `None` at its end.
    fn directive(&mut self, mut i: usize) -> Option<usize> {
        self.good = true;
        let mut sp = Spec::default();
        while let Some(c) = self.byte(i) {
            match c {
                b'-' => {
                    sp.minus = true;
                    sp.zero = false;
                }
                b'+' => sp.plus = true,
                b'#' => sp.sharp = true,
                b'0' => sp.zero = !sp.minus,
                b' ' => sp.space = true,
                _ => break,
            }
            i += 1;
        }
        let mut after_index;
        (i, after_index) = self.arg_number(i);
        if self.byte(i) == Some(b'*') {
            i += 1;
            match self.int_from_arg() {
                Some(w) => {
                    if w < 0 {
                        sp.minus = true;
                        sp.zero = false;
                    }
                    sp.width = Some(w.unsigned_abs() as usize);
                }
                None => self.out.push_str("%!(BADWIDTH)"),
            }
            after_index = false;
        } else {
            let (w, ni) = self.parse_num(i);
            i = ni;
            sp.width = w;
            if after_index && w.is_some() {
                self.good = false;
            }
        }
        if self.byte(i) == Some(b'.') && i + 1 < self.f.len() {
            i += 1;
            if after_index {
                self.good = false;
            }
            (i, after_index) = self.arg_number(i);
            if self.byte(i) == Some(b'*') {
                i += 1;
                match self.int_from_arg() {
                    Some(p) if p >= 0 => sp.prec = Some(p as usize),
                    Some(_) => sp.prec = None,
                    None => self.out.push_str("%!(BADPREC)"),
                }
                after_index = false;
            } else {
                let (p, ni) = self.parse_num(i);
                i = ni;
                sp.prec = Some(p.unwrap_or(0));
            }
        }
        if !after_index {
            (i, _) = self.arg_number(i);
        }
        let Some(verb) = self.f.get(i..).and_then(|r| r.chars().next()) else {
            self.out.push_str("%!(NOVERB)");
            return None;
        };
        self.verb(verb, &mut sp);
        Some(i + verb.len_utf8())
    }

    fn verb(&mut self, verb: char, sp: &mut Spec) {
        if verb == '%' {
            self.out.push('%');
            return;
        }
        if !self.good {
            self.out.push_str(&format!("%!{verb}(BADINDEX)"));
            return;
        }
        let Some(arg) = self.args.get(self.arg) else {
            self.out.push_str(&format!("%!{verb}(MISSING)"));
            return;
        };
        self.arg += 1;
        if verb == 'v' && sp.sharp {
            self.out.push_str(&go_syntax(arg));
            return;
        }
        if verb == 'v' {
            sp.plus = false;
        }
        fmt_one(&mut self.out, arg, verb, sp);
    }

    /// Go's `argNumber`: an explicit `[n]` at `i` selects argument n (1-based).
    fn arg_number(&mut self, i: usize) -> (usize, bool) {
        if self.byte(i) != Some(b'[') {
            return (i, false);
        }
        self.reordered = true;
        let rest = &self.f.as_bytes()[i..];
        let Some(close) = rest.iter().position(|&c| c == b']') else {
            self.good = false;
            return (i + 1, false);
        };
        let digits = &self.f[i + 1..i + close];
        let ok =
            !digits.is_empty() && digits.bytes().all(|c| c.is_ascii_digit()) && digits.len() < 7;
        let n: usize = if ok { digits.parse().unwrap_or(0) } else { 0 };
        if ok && n >= 1 && n - 1 < self.args.len() {
            self.arg = n - 1;
            return (i + close + 1, true);
        }
        self.good = false;
        (i + close + 1, ok)
    }

    /// Go's `intFromArg`: the next argument as a width or precision (consumed either way).
    fn int_from_arg(&mut self) -> Option<i64> {
        let v = self.args.get(self.arg)?;
        self.arg += 1;
        match v {
            Value::Int(n) if n.unsigned_abs() <= 1_000_000 => Some(*n),
            Value::Uint(n) if *n <= 1_000_000 => Some(*n as i64),
            _ => None,
        }
    }

    /// Go's `parsenum`: decimal digits at `i` (none gives `None`).
    fn parse_num(&self, mut i: usize) -> (Option<usize>, usize) {
        let st = i;
        while self.byte(i).is_some_and(|c| c.is_ascii_digit()) {
            i += 1;
        }
        if i == st {
            return (None, i);
        }
        match self.f[st..i].parse::<usize>() {
            Ok(n) if n <= 1_000_000 => (Some(n), i),
            _ => (None, i),
        }
    }

    /// `%!(EXTRA type=value, ...)` for unused arguments, unless indexes reordered them.
    fn extra(&mut self) {
        if self.reordered || self.arg >= self.args.len() {
            return;
        }
        self.out.push_str("%!(EXTRA ");
        for (k, a) in self.args[self.arg..].iter().enumerate() {
            if k > 0 {
                self.out.push_str(", ");
            }
            match a {
                Value::Nil => self.out.push_str("<nil>"),
                _ => {
                    self.out.push_str(a.type_name());
                    self.out.push('=');
                    write_v(&mut self.out, a);
                }
            }
        }
        self.out.push(')');
    }
}

/// `%#v`: Go-syntax representation.
fn go_syntax(v: &Value) -> String {
    match v {
        Value::Nil => "<nil>".into(),
        Value::String(s) => quote(s),
        Value::Float(f) => format_float(*f, 'g', None),
        Value::Uint(u) => format!("0x{u:x}"),
        Value::List(l) => {
            let inner: Vec<String> = l.iter().map(go_syntax).collect();
            format!("[]interface {{}}{{{}}}", inner.join(", "))
        }
        Value::Map(m) => {
            let inner: Vec<String> = m
                .borrow()
                .iter()
                .map(|(k, v)| format!("{}:{}", quote(k), go_syntax(v)))
                .collect();
            format!("map[string]interface {{}}{{{}}}", inner.join(", "))
        }
        other => to_v(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_go() {
        assert_eq!(format_float(1e6, 'g', None), "1e+06");
        assert_eq!(format_float(123456.0, 'g', None), "123456");
        assert_eq!(format_float(1.5e-5, 'g', None), "1.5e-05");
        assert_eq!(format_float(0.0001, 'g', None), "0.0001");
        assert_eq!(format_float(3.0, 'g', None), "3");
        assert_eq!(format_float(1.23456, 'f', Some(2)), "1.23");
        assert_eq!(format_float(1234.5678, 'e', Some(3)), "1.235e+03");
        assert_eq!(format_float(100.0, 'g', Some(3)), "100");
        assert_eq!(format_float(1.5, 'g', Some(3)), "1.5");
        assert_eq!(format_float(123456789.0, 'g', None), "1.23456789e+08");
    }

    #[test]
    fn sprintf_matches_go() {
        let a = [Value::Int(5), Value::str("x")];
        assert_eq!(sprintf("%03d|%-3s|", &a), "005|x  |");
        assert_eq!(sprintf("%d", &[Value::str("hi")]), "%!d(string=hi)");
        assert_eq!(sprintf("%d %d", &[Value::Int(1)]), "1 %!d(MISSING)");
        assert_eq!(
            sprintf("%d", &[Value::Int(1), Value::str("a")]),
            "1%!(EXTRA string=a)"
        );
        assert_eq!(sprintf("%q", &[Value::str("a\"b")]), "\"a\\\"b\"");
    }

    #[test]
    fn sprintf_explicit_indexes_as_go() {
        let ab = [Value::str("a"), Value::str("b")];
        assert_eq!(sprintf("%[2]s-%[1]s", &ab), "b-a");
        let n = [Value::Int(12), Value::Int(5)];
        assert_eq!(sprintf("%[1]d %[1]x %[2]*[1]d", &n), "12 c    12");
        assert_eq!(
            sprintf("%[3]v", &[Value::Int(1), Value::Int(2)]),
            "%!v(BADINDEX)"
        );
        assert_eq!(
            sprintf("%d %d %[1]d %d", &[Value::Int(1), Value::Int(2)]),
            "1 2 1 2"
        );
        assert_eq!(sprintf("%[0]d", &[Value::Int(1)]), "%!d(BADINDEX)");
        assert_eq!(
            sprintf("%.[2]*[1]f|", &[Value::Float(1.23456), Value::Int(2)]),
            "1.23|"
        );
    }
}
