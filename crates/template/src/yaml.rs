//! `toYaml`, `toJson` and `fromYaml` with Helm's exact output style (sigs.k8s.io/yaml over
//! go-yaml v2: sorted keys, YAML 1.1 quoting, literal blocks for multi-line strings, folding
//! of long plain scalars at 80 columns).

use crate::error::GoError;

use crate::gofmt;
use crate::value::Value;
use std::fmt::Write;

const BEST_WIDTH: usize = 80;

/// Serializes like Helm's `toYaml` (before its trailing-newline trim).
pub fn to_yaml(v: &Value) -> String {
    to_yaml_with(v, false)
}

/// Serializes like Helm's `toYaml`, or with `pretty` like `toYamlPretty` (lists indented under
/// their keys).
pub fn to_yaml_with(v: &Value, pretty: bool) -> String {
    let mut e = Emitter {
        out: String::new(),
        pretty,
    };
    if let Value::Object(o) = v {
        return to_yaml_with(&o.to_value(), pretty);
    }
    match v {
        Value::Map(m) if !m.borrow().is_empty() => e.map_body(v, 0),
        Value::List(l) if !l.is_empty() => e.list_body(v, 0),
        other => {
            e.scalar(other, 0, 0);
            e.out.push('\n');
        }
    }
    e.out
}

struct Emitter {
    out: String,
    pretty: bool,
}

#[derive(PartialEq)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

/// The output's column in characters, as go-yaml counts it.
fn column(out: &str) -> usize {
    out[out.rfind('\n').map_or(0, |i| i + 1)..].chars().count()
}

impl Emitter {
    fn map_body(&mut self, v: &Value, indent: usize) {
        self.out.extend(std::iter::repeat_n(' ', indent));
        self.map_inline(v, indent);
    }

    /// A mapping whose first key goes where the cursor is (after indentation or "- ").
    fn map_inline(&mut self, v: &Value, indent: usize) {
        let Value::Map(m) = v else { return };
        let m = m.borrow();
        for (i, (k, val)) in m.iter().enumerate() {
            if i > 0 {
                self.out.extend(std::iter::repeat_n(' ', indent));
            }
            self.scalar(&Value::str(k.as_str()), indent, indent);
            self.out.push(':');
            match val {
                Value::Map(mm) if !mm.borrow().is_empty() => {
                    self.out.push('\n');
                    self.map_body(val, indent + 2);
                }
                Value::List(l) if !l.is_empty() => {
                    self.out.push('\n');
                    self.list_body(val, indent + if self.pretty { 2 } else { 0 });
                }
                _ => {
                    self.out.push(' ');
                    self.scalar(val, indent + 2, indent);
                    self.out.push('\n');
                }
            }
        }
    }

    fn list_body(&mut self, v: &Value, indent: usize) {
        self.out.extend(std::iter::repeat_n(' ', indent));
        self.list_inline(v, indent);
    }

    fn list_inline(&mut self, v: &Value, indent: usize) {
        let Value::List(l) = v else { return };
        for (i, item) in l.iter().enumerate() {
            if i > 0 {
                self.out.extend(std::iter::repeat_n(' ', indent));
            }
            self.out.push_str("- ");
            match item {
                Value::Map(mm) if !mm.borrow().is_empty() => self.map_inline(item, indent + 2),
                Value::List(ll) if !ll.is_empty() => self.list_inline(item, indent + 2),
                _ => {
                    self.scalar(item, indent + 2, indent);
                    self.out.push('\n');
                }
            }
        }
    }

    /// Writes a scalar; `indent` is where continuation lines go, `block_indent` the parent's.
    fn scalar(&mut self, v: &Value, indent: usize, block_indent: usize) {
        match v {
            Value::Nil => self.out.push_str("null"),
            Value::Bool(b) => self.out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => {
                let _ = write!(self.out, "{i}");
            }
            Value::Uint(u) => {
                let _ = write!(self.out, "{u}");
            }
            Value::Float(f) => self.out.push_str(&yaml_float(*f)),
            Value::Map(_) => self.out.push_str("{}"),
            Value::List(_) => self.out.push_str("[]"),
            Value::String(s) => self.string(s, indent, block_indent),
            // Helm's toYaml goes through JSON, which reads each bad byte as U+FFFD.
            Value::Bytes(b) => self.string(&crate::value::go_lossy(b), indent, block_indent),
            Value::Object(o) => self.string(&o.display(), indent, block_indent),
        }
    }

    fn string(&mut self, s: &str, indent: usize, block_indent: usize) {
        // `toYaml` goes through JSON and back (`toYamlPretty` does not).
        let s = &*if self.pretty { s.into() } else { fold_nel(s) };
        match style(s) {
            Style::Plain => self.folded(s, indent, false),
            Style::Single => {
                self.out.push('\'');
                self.folded(&s.replace('\'', "''"), indent, true);
                self.out.push('\'');
            }
            Style::Double => self.double(s, indent),
            Style::Literal => {
                self.out.push('|');
                let trailing = s.len() - s.trim_end_matches('\n').len();
                if s.starts_with([' ', '\n']) {
                    self.out.push('2');
                }
                // go-yaml keeps a lone line break with `+`.
                let keep = trailing > 1 || s == "\n";
                match trailing {
                    0 => self.out.push('-'),
                    _ if keep => self.out.push('+'),
                    _ => {}
                }
                // The last line break ends the scalar's last line, as after any value.
                let body = s.strip_suffix('\n').unwrap_or(s);
                let pad = " ".repeat(block_indent + 2);
                for line in body.split('\n') {
                    self.out.push('\n');
                    if !line.is_empty() {
                        self.out.push_str(&pad);
                        self.out.push_str(line);
                    }
                }
            }
        }
    }

    /// A double-quoted scalar as go-yaml writes it: escapes, and a line broken at a space once
    /// past the best width (a following space kept by a `\\`).
    fn double(&mut self, s: &str, indent: usize) {
        self.out.push('"');
        let mut spaces = false;
        let last = s.len().saturating_sub(1);
        for (i, c) in s.char_indices() {
            if escape_double(&mut self.out, c) {
                spaces = false;
            } else if c == ' ' {
                if !spaces && i > 0 && i < last && column(&self.out) > BEST_WIDTH {
                    self.out.push('\n');
                    self.out.extend(std::iter::repeat_n(' ', indent));
                    if s.as_bytes()[i + 1] == b' ' {
                        self.out.push('\\');
                    }
                } else {
                    self.out.push(' ');
                }
                spaces = true;
            } else {
                self.out.push(c);
                spaces = false;
            }
        }
        self.out.push('"');
    }

    /// Writes words, breaking at a space once past the best width (libyaml's rule).
    fn folded(&mut self, s: &str, indent: usize, quoted: bool) {
        let bytes = s.as_bytes();
        let mut prev_space = false;
        for (i, c) in s.char_indices() {
            if c == ' ' {
                let next_space = bytes.get(i + 1) == Some(&b' ');
                let allow = !quoted || (i != 0 && i != s.len() - 1);
                if allow && !prev_space && column(&self.out) > BEST_WIDTH && !next_space {
                    self.out.push('\n');
                    self.out.extend(std::iter::repeat_n(' ', indent));
                } else {
                    self.out.push(' ');
                }
                prev_space = true;
            } else {
                self.out.push(c);
                prev_space = false;
            }
        }
    }
}

fn yaml_float(f: f64) -> String {
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            ".inf".into()
        } else {
            "-.inf".into()
        };
    }
    // sigs.k8s.io/yaml writes JSON and reads it back with yaml.v2: integer text is an int when
    // it fits int64 or uint64 (printed as such), any other number a float (printed `%g`).
    let j = json_float(f);
    let integral = j.bytes().all(|b| b.is_ascii_digit() || b == b'-');
    if integral && (j.parse::<i64>().is_ok() || j.parse::<u64>().is_ok()) {
        return j;
    }
    gofmt::format_float(f, 'g', None)
}

/// Whether a plain scalar would read back as something other than a string (YAML 1.1).
fn resolves_non_string(s: &str) -> bool {
    const WORDS: &[&str] = &[
        "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false",
        "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", "null", "Null", "NULL", "~",
        ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", ".nan",
        ".NaN", ".NAN", "<<",
    ];
    if s.is_empty() || WORDS.contains(&s) {
        return true;
    }
    let first = s.as_bytes()[0];
    if !(first.is_ascii_digit() || matches!(first, b'+' | b'-' | b'.')) {
        return false;
    }
    let plain: String = s.chars().filter(|c| *c != '_').collect();
    if go_parse_int(&plain) || go_parse_float(&plain) {
        return true;
    }
    if plain.starts_with("0b") || plain.starts_with("-0b") || plain.starts_with("+0b") {
        let d = plain
            .trim_start_matches(['+', '-'])
            .trim_start_matches("0b");
        if !d.is_empty() && d.bytes().all(|b| b == b'0' || b == b'1') {
            return true;
        }
    }
    if is_base60(s) || is_timestamp(s) {
        return true;
    }
    false
}

fn go_parse_int(s: &str) -> bool {
    let t = s.trim_start_matches(['+', '-']);
    if t.len() + 1 < s.len() || t.is_empty() {
        return false;
    }
    let l = t.to_ascii_lowercase();
    if let Some(h) = l.strip_prefix("0x") {
        return !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit());
    }
    if let Some(o) = l.strip_prefix("0o") {
        return !o.is_empty() && o.bytes().all(|b| (b'0'..=b'7').contains(&b));
    }
    if let Some(b) = l.strip_prefix("0b") {
        return !b.is_empty() && b.bytes().all(|c| c == b'0' || c == b'1');
    }
    if l.len() > 1 && l.starts_with('0') {
        return l.bytes().all(|b| (b'0'..=b'7').contains(&b));
    }
    l.bytes().all(|b| b.is_ascii_digit())
}

fn go_parse_float(s: &str) -> bool {
    let t = s.trim_start_matches(['+', '-']);
    if t.len() + 1 < s.len() || t.is_empty() {
        return false;
    }
    let l = t.to_ascii_lowercase();
    if l.starts_with("0x") || l.contains("inf") || l.contains("nan") {
        return l.starts_with("0x") && l.contains('p');
    }
    let valid = l
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'+' | b'-'));
    valid && l.parse::<f64>().is_ok()
}

fn is_base60(s: &str) -> bool {
    let t = s.trim_start_matches(['+', '-']);
    if !t.contains(':') {
        return false;
    }
    let mut parts = t.split(':');
    let first = parts.next().unwrap_or("");
    if first.is_empty()
        || !first.bytes().all(|b| b.is_ascii_digit() || b == b'_')
        || first.starts_with('0') && first.len() > 1
    {
        return false;
    }
    let rest: Vec<&str> = parts.collect();
    for (i, p) in rest.iter().enumerate() {
        let p = if i == rest.len() - 1 {
            p.split('.').next().unwrap_or("")
        } else {
            p
        };
        let ok = !p.is_empty()
            && p.len() <= 2
            && p.bytes().all(|b| b.is_ascii_digit())
            && (p.len() == 1 || p.as_bytes()[0] <= b'5');
        if !ok {
            return false;
        }
    }
    true
}

fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 8 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && {
        let rest = &s[5..];
        let mut it = rest.splitn(2, '-');
        let m = it.next().unwrap_or("");
        let d = it.next().unwrap_or("");
        let dd: String = d.chars().take_while(|c| c.is_ascii_digit()).collect();
        (1..=2).contains(&m.len())
            && m.bytes().all(|c| c.is_ascii_digit())
            && (1..=2).contains(&dd.len())
            && (d.len() == dd.len() || matches!(d.as_bytes()[dd.len()], b'T' | b't' | b' ' | b'\t'))
    }
}

/// go-yaml's printable characters (v2 and v3 alike): not NEL, and nothing past the Basic
/// Multilingual Plane (an emoji is written `\U0001F600` in double quotes).
fn is_printable(c: char) -> bool {
    let u = c as u32;
    u == 0x0A
        || (0x20..=0x7E).contains(&u)
        || (0xA0..=0xD7FF).contains(&u)
        || (0xE000..=0xFFFD).contains(&u) && u != 0xFEFF
}

/// What go-yaml reads back from a JSON string holding NEL (Go's JSON leaves U+0085 raw, and
/// `toYaml` parses its JSON as YAML 1.1, where NEL breaks a line): spaces before and after a run
/// of breaks dropped, one break folded to a space, `n` breaks to `n - 1` newlines.
fn fold_nel(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains('\u{85}') {
        return s.into();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('\u{85}') {
        out.push_str(rest[..at].trim_end_matches(' '));
        let mut breaks = 0;
        rest = &rest[at..];
        while let Some(r) = rest.trim_start_matches(' ').strip_prefix('\u{85}') {
            breaks += 1;
            rest = r;
        }
        rest = rest.trim_start_matches(' ');
        if breaks == 1 {
            out.push(' ');
        } else {
            out.extend(std::iter::repeat_n('\n', breaks - 1));
        }
    }
    out.push_str(rest);
    out.into()
}

fn style(s: &str) -> Style {
    if s.chars().any(|c| !is_printable(c)) {
        return Style::Double;
    }
    let multiline = s.contains('\n');
    let space_break = s.contains(" \n");
    if multiline {
        if space_break || s.ends_with(' ') {
            return Style::Double;
        }
        return Style::Literal;
    }
    if resolves_non_string(s) {
        return Style::Double;
    }
    let b = s.as_bytes();
    let mut plain = true;
    if s.starts_with("---") || s.starts_with("...") {
        plain = false;
    }
    let first = b[0];
    const INDICATORS: [bool; 256] = byte_set(b"#,[]{}&*!|>'\"%@`");
    if INDICATORS[first as usize] {
        plain = false;
    }
    if matches!(first, b'-' | b'?' | b':') && (b.len() == 1 || b[1] == b' ') {
        plain = false;
    }
    if s.starts_with(' ') || s.ends_with(' ') {
        plain = false;
    }
    if s.contains(": ") || s.ends_with(':') || s.contains(" #") {
        plain = false;
    }
    if plain {
        Style::Plain
    } else {
        Style::Single
    }
}

/// Writes `c` as go-yaml's double-quoted scalars escape it, if they do; whether it did.
fn escape_double(o: &mut String, c: char) -> bool {
    let e = match c {
        '"' => "\\\"",
        '\\' => "\\\\",
        '\0' => "\\0",
        '\x07' => "\\a",
        '\x08' => "\\b",
        '\t' => "\\t",
        '\n' => "\\n",
        '\x0b' => "\\v",
        '\x0c' => "\\f",
        '\r' => "\\r",
        '\x1b' => "\\e",
        '\u{85}' => "\\N",
        '\u{2028}' => "\\L",
        '\u{2029}' => "\\P",
        c if !is_printable(c) => {
            let u = c as u32;
            let _ = match u {
                0..=0xFF => write!(o, "\\x{u:02X}"),
                0x100..=0xFFFF => write!(o, "\\u{u:04X}"),
                _ => write!(o, "\\U{u:08X}"),
            };
            return true;
        }
        _ => return false,
    };
    o.push_str(e);
    true
}

/// Go's `encoding/json` float format.
fn json_float(f: f64) -> String {
    let a = f.abs();
    if a != 0.0 && !(1e-6..1e21).contains(&a) {
        let s = gofmt::format_float(f, 'e', None);
        // Go trims "e-07" to "e-7".
        if let Some((m, e)) = s.split_once('e') {
            let (sign, digits) = e.split_at(1);
            return format!("{m}e{sign}{}", digits.trim_start_matches('0'));
        }
        return s;
    }
    gofmt::format_float(f, 'f', None)
}

/// Serializes like Go's `json.Marshal`: sorted keys, HTML-safe escaping.
pub fn to_json(v: &Value) -> String {
    to_json_with(v, None, true)
}

/// Serializes like Go's `json.MarshalIndent(v, "", indent)` (`indent` given) or `json.Marshal`,
/// with or without HTML-safe escaping (`SetEscapeHTML`).
pub fn to_json_with(v: &Value, indent: Option<&str>, escape_html: bool) -> String {
    let mut j = Json {
        o: String::new(),
        indent,
        escape_html,
    };
    j.value(v, 0);
    j.o
}

struct Json<'a> {
    o: String,
    indent: Option<&'a str>,
    escape_html: bool,
}

impl Json<'_> {
    fn newline(&mut self, depth: usize) {
        if let Some(ind) = self.indent {
            self.o.push('\n');
            for _ in 0..depth {
                self.o.push_str(ind);
            }
        }
    }

    fn value(&mut self, v: &Value, depth: usize) {
        match v {
            Value::Nil => self.o.push_str("null"),
            Value::Bool(b) => self.o.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => {
                let _ = write!(self.o, "{i}");
            }
            Value::Uint(u) => {
                let _ = write!(self.o, "{u}");
            }
            Value::Float(f) => self.o.push_str(&json_float(*f)),
            Value::String(s) => json_str(&mut self.o, s, self.escape_html),
            Value::Bytes(b) => json_str(&mut self.o, &crate::value::go_lossy(b), self.escape_html),
            Value::Object(obj) => self.value(&obj.to_value(), depth),
            Value::List(l) if l.is_empty() => self.o.push_str("[]"),
            Value::List(l) => {
                self.o.push('[');
                for (i, e) in l.iter().enumerate() {
                    if i > 0 {
                        self.o.push(',');
                    }
                    self.newline(depth + 1);
                    self.value(e, depth + 1);
                }
                self.newline(depth);
                self.o.push(']');
            }
            Value::Map(m) if m.borrow().is_empty() => self.o.push_str("{}"),
            Value::Map(m) => {
                self.o.push('{');
                for (i, (k, e)) in m.borrow().iter().enumerate() {
                    if i > 0 {
                        self.o.push(',');
                    }
                    self.newline(depth + 1);
                    json_str(&mut self.o, k, self.escape_html);
                    self.o.push(':');
                    if self.indent.is_some() {
                        self.o.push(' ');
                    }
                    self.value(e, depth + 1);
                }
                self.newline(depth);
                self.o.push('}');
            }
        }
    }
}

fn json_str(o: &mut String, s: &str, escape_html: bool) {
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            '<' if escape_html => o.push_str("\\u003c"),
            '>' if escape_html => o.push_str("\\u003e"),
            '&' if escape_html => o.push_str("\\u0026"),
            '\u{2028}' => o.push_str("\\u2028"),
            '\u{2029}' => o.push_str("\\u2029"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
}

/// Parses YAML text into a value (the first document).
pub fn from_yaml(s: &str) -> Result<Value, GoError> {
    let doc = first_document(s);
    let j: serde_json::Value = match crate::fastyaml::parse(doc) {
        Some(j) => j,
        None => parse_as_go(doc, go_yaml_options()).map_err(|e| e.to_string())?,
    };
    Ok(Value::from_json_go(&j))
}

/// How deep Go's YAML (and so Helm) lets collections nest.
const GO_MAX_DEPTH: usize = 10_000;

/// YAML options as Go's YAML reads it: YAML 1.1 octals, collections nested up to 10,000 deep
/// (flow ones too), and any number of comments while the parser looks ahead (jenkins' values
/// have 33 in a row where the budget's default allowed 32). What a document may hold in all
/// stays bounded by the budget's other limits and the folder's size.
pub fn go_yaml_options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = GO_MAX_DEPTH;
    budget.flow_nesting_limit = GO_MAX_DEPTH;
    budget.max_buffered_comment_events = usize::MAX;
    serde_saphyr::options! { legacy_octal_numbers: true, budget: Some(budget) }
}

/// Parses `text` with `opts` on a stack segment of its own (reserved, not committed; the one
/// templates run on, when called there): nesting 10,000 deep recurses further than a caller's
/// thread may allow.
pub fn parse_as_go<T: serde::de::DeserializeOwned>(
    text: &str,
    opts: serde_saphyr::Options,
) -> Result<T, serde_saphyr::Error> {
    crate::on_own_stack(|| serde_saphyr::from_str_with_options(text, opts))
}

/// The first YAML document of `s`, which is all Go's `yaml.Unmarshal` (and so Helm's
/// `fromYaml`) reads: the text up to the second `---` (or a `...`) at the start of a line.
/// Charts rely on it, e.g. `include "x-configmap.yaml" . | fromYaml` of a multi-document file.
fn first_document(s: &str) -> &str {
    let mut started = false;
    let mut offset = 0;
    for line in s.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\n', '\r']);
        let marker = bare == "---" || bare.starts_with("--- ") || bare.starts_with("---\t");
        if (marker && started) || bare == "..." {
            return &s[..offset];
        }
        let comment_or_blank = bare.trim().is_empty() || bare.trim_start().starts_with('#');
        let directive = bare.starts_with('%');
        started |= marker || !(comment_or_blank || directive);
        offset += line.len();
    }
    s
}

/// A table of which bytes are in `bytes`: a lookup where `<[u8]>::contains` would call memchr.
pub(crate) const fn byte_set(bytes: &[u8]) -> [bool; 256] {
    let mut set = [false; 256];
    let mut i = 0;
    while i < bytes.len() {
        set[bytes[i] as usize] = true;
        i += 1;
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_yaml_reads_the_first_document_as_go_does() {
        assert_eq!(first_document("a: 1\n---\nb: 2\n"), "a: 1\n");
        assert_eq!(first_document("---\na: 1\n---\nb: [\n"), "---\na: 1\n");
        assert_eq!(first_document("# c\n---\na: 1\n...\nz"), "# c\n---\na: 1\n");
        assert_eq!(first_document("a: |\n  ---x\nb: 1"), "a: |\n  ---x\nb: 1");
        assert_eq!(first_document("--- {a: 1}\n--- {b: 2}\n"), "--- {a: 1}\n");
        let v = from_yaml("a: 1\n---\nb: [\n").unwrap();
        assert_eq!(to_json(&v), r#"{"a":1}"#);
    }
}
