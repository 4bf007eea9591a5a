//! A fast reader for the block-style YAML that Kubernetes manifests are written in.
//!
//! It understands block mappings and sequences, plain, quoted and literal (`|`) scalars,
//! comments and simple flow collections, and answers `None` for anything else (anchors,
//! tags, folded or multi-line plain scalars, YAML 1.1 spellings like `yes`, duplicate keys,
//! errors). Callers then use the full parser, which also produces the error messages. For
//! every input it accepts it must give exactly what serde-saphyr gives; a test checks that.

use serde_json::{Map, Number, Value as Json};
use std::borrow::Cow;

struct Line<'a> {
    indent: usize,
    /// After the indentation, trailing spaces removed.
    text: &'a str,
    /// After the indentation, as written (literal blocks keep trailing spaces).
    raw: &'a str,
}

/// Parses one document, or `None` when the input is outside the fast subset.
pub fn parse(doc: &str) -> Option<Json> {
    let mut lines = Vec::with_capacity(doc.len() / 24 + 4);
    for raw in doc.split('\n') {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if raw.ends_with('\t') {
            return None;
        }
        let trimmed = raw.trim_start_matches(' ');
        if trimmed.starts_with('\t') {
            if trimmed.trim().is_empty() {
                lines.push(Line {
                    indent: raw.len(),
                    text: "",
                    raw: "",
                });
                continue;
            }
            return None;
        }
        lines.push(Line {
            indent: raw.len() - trimmed.len(),
            text: trimmed.trim_end_matches([' ', '\t']),
            raw: trimmed,
        });
    }
    let mut p = P { lines, i: 0 };
    p.skip_blank();
    if p.i >= p.lines.len() {
        return Some(Json::Null);
    }
    let ind = p.lines[p.i].indent;
    let v = p.block(ind)?;
    p.skip_blank();
    (p.i >= p.lines.len()).then_some(v)
}

struct P<'a> {
    lines: Vec<Line<'a>>,
    i: usize,
}

fn is_blank(t: &str) -> bool {
    t.is_empty() || t.starts_with('#')
}

impl<'a> P<'a> {
    fn skip_blank(&mut self) {
        while self.i < self.lines.len() && is_blank(self.lines[self.i].text) {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<(usize, &'a str)> {
        self.skip_blank();
        self.lines.get(self.i).map(|l| (l.indent, l.text))
    }

    fn block(&mut self, ind: usize) -> Option<Json> {
        let (_, text) = self.peek()?;
        if text == "-" || text.starts_with("- ") {
            self.sequence(ind)
        } else if split_key(text).is_some() {
            self.mapping(ind)
        } else {
            None
        }
    }

    fn mapping(&mut self, ind: usize) -> Option<Json> {
        let mut m = Map::new();
        while let Some((li, text)) = self.peek() {
            if li < ind {
                break;
            }
            if li > ind {
                return None;
            }
            let (key, rest) = split_key(text)?;
            self.i += 1;
            let v = self.value_after(ind, rest, true)?;
            match m.entry(key) {
                serde_json::map::Entry::Vacant(e) => e.insert(v),
                serde_json::map::Entry::Occupied(_) => return None,
            };
        }
        Some(Json::Object(m))
    }

    fn sequence(&mut self, ind: usize) -> Option<Json> {
        let mut v = Vec::new();
        while let Some((li, text)) = self.peek() {
            if li < ind {
                break;
            }
            if li > ind {
                return None;
            }
            if !(text == "-" || text.starts_with("- ")) {
                // The parent mapping continues; it checks this line.
                break;
            }
            let rest = text[1..].trim_start_matches(' ');
            if rest.starts_with("- ") || rest == "-" {
                return None;
            }
            if !rest.is_empty() && !rest.starts_with('#') && split_key(rest).is_some() {
                // "- key: value": a mapping whose column is where the key starts.
                let col = li + (text.len() - rest.len());
                self.lines[self.i] = Line {
                    indent: col,
                    text: rest,
                    raw: rest,
                };
                v.push(self.mapping(col)?);
                continue;
            }
            self.i += 1;
            v.push(self.value_after(ind, rest, false)?);
        }
        Some(Json::Array(v))
    }

    /// The value after `key:` or `-`, at parent indentation `ind`.
    fn value_after(&mut self, ind: usize, rest: &'a str, in_map: bool) -> Option<Json> {
        if rest.is_empty() || rest.starts_with('#') {
            return match self.peek() {
                Some((li, _)) if li > ind => self.block(li),
                Some((li, t)) if in_map && li == ind && (t == "-" || t.starts_with("- ")) => {
                    self.sequence(ind)
                }
                _ => Some(Json::Null),
            };
        }
        if let Some(h) = rest.strip_prefix('|') {
            return self.literal(ind, h);
        }
        let v = inline(rest)?;
        // A more-indented line after an inline value is a multi-line scalar or an error.
        if matches!(self.peek(), Some((li, _)) if li > ind) {
            return None;
        }
        Some(v)
    }

    fn literal(&mut self, ind: usize, header: &str) -> Option<Json> {
        let header = header.split(" #").next().unwrap_or("").trim_end();
        let chomp = match header {
            "" => 'c',
            "-" => 's',
            "+" => 'k',
            _ => return None,
        };
        let start = self.i;
        let mut block_ind = None;
        let mut end = start;
        for (k, l) in self.lines[start..].iter().enumerate() {
            if l.text.is_empty() {
                continue;
            }
            match block_ind {
                None => {
                    if l.indent <= ind {
                        break;
                    }
                    if k != 0 {
                        return None;
                    }
                    block_ind = Some(l.indent);
                }
                Some(b) if l.indent < b => break,
                _ => {}
            }
            end = start + k + 1;
        }
        let b = block_ind?;
        let mut s = String::new();
        let mut j = start;
        while j < self.lines.len() {
            let l = &self.lines[j];
            if !l.text.is_empty() && l.indent < b {
                break;
            }
            if j >= end && !l.text.is_empty() {
                break;
            }
            if !l.text.is_empty() {
                s.push_str(&" ".repeat(l.indent - b));
                s.push_str(l.raw);
            } else if l.indent > b {
                return None;
            }
            s.push('\n');
            j += 1;
        }
        // Trailing blank lines belong to the scalar only for `|+`; the next node starts after them.
        let content_end = end;
        self.i = j;
        let body_lines = content_end - start;
        let mut kept = String::new();
        for (n, line) in s.split_inclusive('\n').enumerate() {
            if n < body_lines {
                kept.push_str(line);
            }
        }
        let trailing_blank = s.split_inclusive('\n').count().saturating_sub(body_lines);
        let text = match chomp {
            's' => kept.trim_end_matches('\n').to_string(),
            'c' => {
                let t = kept.trim_end_matches('\n');
                if t.is_empty() {
                    String::new()
                } else {
                    format!("{t}\n")
                }
            }
            _ => {
                let mut t = kept;
                if self.i >= self.lines.len() {
                    // The document's last line break is not part of the scalar.
                    t.push_str(&"\n".repeat(trailing_blank.saturating_sub(1)));
                } else {
                    t.push_str(&"\n".repeat(trailing_blank));
                }
                t
            }
        };
        Some(Json::String(text))
    }
}

/// Splits `key: rest` / `key:`; `None` if the line is not a simple mapping entry.
fn split_key(text: &str) -> Option<(Cow<'_, str>, &str)> {
    let (key, after) = if let Some(q) = text.strip_prefix('"') {
        let end = q.find('"')?;
        let k = unescape_double(&q[..end])?;
        (Cow::Owned(k), &q[end + 1..])
    } else if let Some(q) = text.strip_prefix('\'') {
        let end = q.find('\'')?;
        if q[end + 1..].starts_with('\'') {
            return None;
        }
        (Cow::Borrowed(&q[..end]), &q[end + 1..])
    } else {
        let i = find2(text, b':', b' ').or_else(|| text.ends_with(':').then(|| text.len() - 1))?;
        let k = &text[..i];
        if k.is_empty()
            || k.ends_with(' ')
            || !plain_ok(k)
            || find2(k, b' ', b'#').is_some()
            || !surely_string(k)
        {
            return None;
        }
        (Cow::Borrowed(k), &text[i..])
    };
    let rest = after.strip_prefix(':')?;
    if !(rest.is_empty() || rest.starts_with(' ')) {
        return None;
    }
    Some((key, rest.trim_start_matches(' ')))
}

/// Whether a plain scalar starts and continues in a way that stays a plain scalar.
fn plain_ok(s: &str) -> bool {
    if s.bytes().any(|b| b == b'\t' || b == b'\r') {
        return false;
    }
    let first = s.as_bytes()[0];
    if b"[]{}&*!|>'\"%@`,?#".contains(&first) {
        return false;
    }
    if (first == b'-' || first == b':') && (s.len() == 1 || s.as_bytes()[1] == b' ') {
        return false;
    }
    find2(s, b':', b' ').is_none() && !s.ends_with(':')
}

/// Where the two bytes `a b` first occur in `s`. A byte scan: lines are short, and a substring
/// searcher's setup cost more than the search (a profile showed it).
fn find2(s: &str, a: u8, b: u8) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut from = 0;
    while let Some(i) = bytes[from..].iter().position(|&c| c == a) {
        let at = from + i;
        if bytes.get(at + 1) == Some(&b) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// Strips a trailing ` # comment` from a plain scalar.
fn strip_comment(s: &str) -> &str {
    match find2(s, b' ', b'#') {
        Some(i) => s[..i].trim_end(),
        None => s,
    }
}

/// What may follow a closed quoted scalar or flow collection: nothing, or ` # comment`.
fn tail_ok(tail: &str) -> bool {
    tail.is_empty()
        || (tail.starts_with(' ') && (tail.trim().is_empty() || tail.trim_start().starts_with('#')))
}

fn inline(rest: &str) -> Option<Json> {
    match rest.as_bytes()[0] {
        b'"' => {
            let body = &rest[1..];
            let mut esc = false;
            let mut end = None;
            for (i, c) in body.char_indices() {
                if esc {
                    esc = false;
                } else if c == '\\' {
                    esc = true;
                } else if c == '"' {
                    end = Some(i);
                    break;
                }
            }
            let end = end?;
            if !tail_ok(&body[end + 1..]) {
                return None;
            }
            unescape_double(&body[..end]).map(Json::String)
        }
        b'\'' => {
            let body = &rest[1..];
            let mut out = String::new();
            let mut it = body.char_indices().peekable();
            while let Some((i, c)) = it.next() {
                if c == '\'' {
                    if matches!(it.peek(), Some((_, '\''))) {
                        it.next();
                        out.push('\'');
                        continue;
                    }
                    return tail_ok(&body[i + 1..]).then_some(Json::String(out));
                }
                out.push(c);
            }
            None
        }
        b'[' => flow_seq(rest),
        b'{' => flow_map(rest),
        _ => {
            let s = strip_comment(rest);
            if s.is_empty() || !plain_ok(s) {
                return None;
            }
            resolve_plain(s)
        }
    }
}

/// The items of a one-line flow collection opening `rest` (`[` or `{`), split at top-level
/// commas, untrimmed; `None` for nesting, comments inside, or anything after the close but a
/// comment.
fn flow_items(rest: &str, close: char) -> Option<Vec<String>> {
    let body = &rest[1..];
    let mut items = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut end = None;
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match quote {
            Some(q) => {
                cur.push(c);
                if c == '\\' && q == '"' {
                    cur.push(chars.next()?.1);
                } else if c == q {
                    if q == '\'' && matches!(chars.peek(), Some((_, '\''))) {
                        cur.push(chars.next()?.1);
                    } else {
                        quote = None;
                    }
                }
            }
            None => match c {
                '"' | '\'' => {
                    quote = Some(c);
                    cur.push(c);
                }
                ',' => items.push(std::mem::take(&mut cur)),
                c if c == close => {
                    end = Some(i);
                    break;
                }
                '[' | ']' | '{' | '}' | '#' | '&' | '*' | '!' | '\t' => return None,
                _ => cur.push(c),
            },
        }
    }
    if !tail_ok(&body[end? + 1..]) {
        return None;
    }
    if items.is_empty() && cur.trim().is_empty() {
        return Some(items);
    }
    items.push(cur);
    Some(items)
}

/// One scalar inside a flow collection, trimmed: quoted, or plain without `: `.
fn flow_scalar(item: &str) -> Option<Json> {
    if item.is_empty() {
        return None;
    }
    match item.as_bytes()[0] {
        b'"' | b'\'' => inline(item),
        _ => {
            if item.contains(": ") || item.ends_with(':') || !plain_ok(item) {
                return None;
            }
            resolve_plain(item)
        }
    }
}

fn flow_seq(rest: &str) -> Option<Json> {
    let items = flow_items(rest, ']')?;
    let v = items
        .iter()
        .map(|i| flow_scalar(i.trim_matches(' ')))
        .collect::<Option<Vec<_>>>()?;
    Some(Json::Array(v))
}

/// `{k: v, ...}` on one line, plain keys that are surely strings and scalar values.
fn flow_map(rest: &str) -> Option<Json> {
    let mut m = Map::new();
    for item in flow_items(rest, '}')? {
        let (k, v) = item.trim_matches(' ').split_once(": ")?;
        if k.is_empty() || k.ends_with(' ') || !plain_ok(k) || !surely_string(k) {
            return None;
        }
        let v = flow_scalar(v.trim_matches(' '))?;
        if m.insert(k.to_string(), v).is_some() {
            return None;
        }
    }
    Some(Json::Object(m))
}

/// Types a plain scalar exactly as the full parser would, or `None` where unsure.
fn resolve_plain(s: &str) -> Option<Json> {
    match s {
        "~" | "null" | "Null" | "NULL" => return Some(Json::Null),
        "true" | "True" | "TRUE" => return Some(Json::Bool(true)),
        "false" | "False" | "FALSE" => return Some(Json::Bool(false)),
        _ => {}
    }
    let b = s.as_bytes();
    if b[0].is_ascii_digit() || matches!(b[0], b'+' | b'-' | b'.') {
        let digits = s.strip_prefix('-').unwrap_or(s);
        if !digits.is_empty()
            && digits.bytes().all(|c| c.is_ascii_digit())
            && (digits == "0" || !digits.starts_with('0'))
        {
            return s.parse::<i64>().ok().map(|i| Json::Number(i.into()));
        }
        if let Some((a, f)) = digits.split_once('.') {
            let simple = !a.is_empty()
                && !f.is_empty()
                && a.bytes().all(|c| c.is_ascii_digit())
                && f.bytes().all(|c| c.is_ascii_digit());
            if simple && (a == "0" || !a.starts_with('0')) {
                let v: f64 = s.parse().ok()?;
                return Number::from_f64(v).map(Json::Number);
            }
        }
    }
    surely_string(s).then(|| Json::String(s.to_string()))
}

/// Whether a plain scalar certainly reads as a string (no YAML 1.1 boolean, null or number form).
fn surely_string(s: &str) -> bool {
    const SPECIAL: &[&str] = &[
        "y", "yes", "n", "no", "on", "off", "true", "false", "null", "~", ".inf", ".nan",
    ];
    // A special word never starts with a sign, so `s` equal to one is `unsigned` equal to it.
    let unsigned = s.trim_start_matches(['+', '-']);
    if unsigned.len() <= 5 && SPECIAL.iter().any(|w| unsigned.eq_ignore_ascii_case(w)) {
        return false;
    }
    let b = s.as_bytes();
    if !(b[0].is_ascii_digit() || matches!(b[0], b'+' | b'-' | b'.')) {
        return true;
    }
    // Numbers have at most one dot and no letters beyond hex digits, exponents and radix marks.
    let wordlike = s.bytes().any(|c| {
        c.is_ascii_alphabetic() && !c.is_ascii_hexdigit() && !matches!(c, b'x' | b'X' | b'o' | b'O')
    });
    let two_dots = s.bytes().filter(|c| *c == b'.').count() > 1;
    wordlike || two_dots || s.contains([':', '/', ' '])
}

fn unescape_double(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next()? {
            '\\' => out.push('\\'),
            '"' => out.push('"'),
            '/' => out.push('/'),
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            '0' => out.push('\0'),
            'x' => {
                let h: String = it.by_ref().take(2).collect();
                out.push(char::from_u32(u32::from_str_radix(&h, 16).ok()?)?);
            }
            'u' => {
                let h: String = it.by_ref().take(4).collect();
                out.push(char::from_u32(u32::from_str_radix(&h, 16).ok()?)?);
            }
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::parse;
    use proptest::prelude::*;

    fn full(doc: &str) -> Option<serde_json::Value> {
        crate::variables::full_parse(doc).ok()
    }

    /// Whatever the fast path accepts must equal the full parser's reading.
    fn agree(doc: &str) {
        if let Some(fast) = parse(doc) {
            assert_eq!(
                Some(&fast),
                full(doc).as_ref(),
                "fast path disagrees on:\n{doc}"
            );
        }
    }

    const DOCS: &[&str] = &[
        "a: 1\nb: two\nc: 1.5\nd: true\ne: null\nf: ~\ng:\nh: \"q\\tx\"\ni: 'it''s'\n",
        "k:\n- 1\n- two\n- - 3\n",
        "k:\n  - name: a\n    value: b\n  - name: c\n",
        "- a\n- b: c\n  d: e\n- \n  x: 1\n",
        "k: |\n  line1\n  line2\n",
        "k: |-\n  a\n\n  b\n\n",
        "k: |+\n  a\n\n",
        "k: |+\n  a\n\nnext: 1\n",
        "k: |\n    indented\n  less\n",
        "k: |\n  a\n    b\n  c\nz: 1\n",
        "k: >\n  folded\n",
        "k: [a, b, 1, 2.5, true]\nl: []\nm: {}\n",
        "k: [a, {x: y}]\n",
        "k: {x: y}\n",
        "k: {cpu: 100m, memory: 128Mi}\nl: { a: 1 , b: 'x, y', c: \"q\" }\n",
        "k: {a: 1, a: 2}\nl: {a}\nm: {a: }\nn: {a: b: c}\no: {1: x}\np: {\"q\": x}\nq: {a: [b]}\n",
        "k: {a: b} # c\nl: {a: b}x\nm: {a:b}\nn: {a: yes, b: ~, c: -1}\n",
        "k: a # comment\nl: a#b\n# full comment\nm: 'x' # c\n",
        "\"quoted key\": 1\n'single': 2\n",
        "a: 1\na: 2\n",
        "80: x\n",
        "k: yes\nl: on\nm: y\nn: NO\n",
        "k: 0x1F\nl: 017\nm: 08\nn: 1_000\no: +1\np: .5\nq: 1.\nr: 1e3\n",
        "k: 2001-12-14\nl: 1:20\nm: 10Gi\nn: 100m\no: 8080/TCP\np: 1.2.3\nq: 1.0.0\nr: 1.2.3.4\ns: 1..2\nt: .1.\n",
        "k: a: b\n",
        "k: &anchor x\nl: *anchor\n",
        "k: !!str 1\n",
        "k: multi\n  line\n",
        "k:\n\tx: 1\n",
        "k: \"unterminated\n",
        "? complex\n: value\n",
        "k: -x\nl: -1\nm: - x\n",
        "k: 12345678901234567890\nl: -0\nm: 0.0\nn: -0.0\no: 00\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  labels:\n    app.kubernetes.io/name: x\ndata:\n  key: |\n    multi\n    line\n",
        "k: \"\\u00e9\\x41\\/\"\n",
        "k: ''\nl: \"\"\n",
        "k: http://example.com/a?b=c\n",
        "",
        "# only comment\n",
        "just a scalar\n",
        "k: [ ]\n",
        "k: [a,b]\n",
        "k:   spaced   \n",
        "k: trailing # \n",
        "k: 'a' b\n",
        "k: x\n l: y\n",
        "- a\n - b\n",
    ];

    #[test]
    fn fast_path_agrees_with_full_parser_on_known_cases() {
        for d in DOCS {
            agree(d);
        }
        assert!(
            parse(DOCS[0]).is_some(),
            "the common case takes the fast path"
        );
        assert!(parse(DOCS[2]).is_some());
        let manifest = DOCS.iter().find(|d| d.starts_with("apiVersion")).unwrap();
        assert!(parse(manifest).is_some());
        let flow = DOCS.iter().find(|d| d.contains("cpu: 100m")).unwrap();
        assert!(
            parse(flow).is_some(),
            "one-line flow mappings take the fast path"
        );
    }

    #[test]
    fn fast_path_agrees_on_the_example_output() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/ticketing");
        let folder = crate::DeployFolder::load(&dir).unwrap();
        let r = folder.render(&Default::default()).unwrap();
        let mut fast = 0;
        for o in &r.objects {
            agree(&o.text);
            fast += usize::from(parse(&o.text).is_some());
        }
        assert_eq!(
            fast,
            r.objects.len(),
            "every example document takes the fast path"
        );
    }

    const PIECES: &[&str] = &[
        "a", "b", "key", "- ", "-", ": ", ":", " ", "  ", "\n", "\n  ", "\n    ", "\n- ", "|",
        "|-", "|+", ">", "#", " # c", "'", "''", "\"", "\\n", "[", "]", "{", "}", ",", "1", "-2",
        "0.5", "1e3", "0x1", "07", "true", "yes", "null", "~", "&a", "*a", "!t", "?", "é", "\t",
        "http://x", "10Gi",
    ];

    const SCALARS: &[&str] = &[
        "",
        "x",
        "hello world",
        "1",
        "-2",
        "0",
        "007",
        "1.5",
        "0.0",
        "1e3",
        "true",
        "True",
        "yes",
        "null",
        "~",
        "'q'",
        "'it''s'",
        "\"d\\n\"",
        "\"\"",
        "[]",
        "[a, 1, \"b\"]",
        "{}",
        "{a: 1, b: x}",
        "{a: 'x, y', b: \"q\"}",
        "{ k: v }",
        "{a: 1, a: 2}",
        "|",
        "|-",
        "|+",
        "a # c",
        "a#b",
        "http://x:80/y",
        "10Gi",
        "-x",
        "8080/TCP",
        "a: b",
        "é",
        "x ",
        "'a' # c",
        "1.0.0",
        "1..2",
        ".1.",
        "-.5.",
        "1e3.",
    ];
    const KEYS: &[&str] = &[
        "a",
        "b",
        "name",
        "app.kubernetes.io/name",
        "\"q k\"",
        "'s'",
        "1",
        "true",
        "x y",
    ];

    fn structured() -> impl Strategy<Value = String> {
        let line = (
            0usize..4,
            0u8..4,
            proptest::sample::select(KEYS),
            proptest::sample::select(SCALARS),
        );
        proptest::collection::vec(line, 1..12).prop_map(|lines| {
            let mut s = String::new();
            for (depth, shape, key, val) in lines {
                s.push_str(&"  ".repeat(depth));
                match shape {
                    0 => s.push_str(&format!("{key}: {val}")),
                    1 => s.push_str(&format!("- {val}")),
                    2 => s.push_str(&format!("- {key}: {val}")),
                    _ => s.push_str(&format!("{key}:")),
                }
                s.push('\n');
            }
            s
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 5000, ..ProptestConfig::default() })]
        #[test]
        fn fast_path_never_disagrees_on_structured_documents(doc in structured()) {
            agree(&doc);
        }

        #[test]
        fn fast_path_never_disagrees(parts in proptest::collection::vec(proptest::sample::select(PIECES), 0..30)) {
            agree(&parts.concat());
        }
    }
}
