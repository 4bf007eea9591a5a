//! A fast reader for the block-style YAML that Kubernetes manifests are written in.
//!
//! It understands block mappings and sequences, plain, quoted, literal (`|`) and folded (`>`)
//! scalars, comments, one-line flow collections (also on the line after their key), and a
//! leading `---`, and answers `None` for anything else (anchors, tags, multi-line plain
//! scalars, folded scalars with more-indented lines, YAML 1.1 keys like `yes`, duplicate
//! keys, errors). Callers then use the full parser, which also produces the error messages.
//! For every input it accepts it must give exactly what serde-saphyr gives with Go's options
//! (`crate::go_yaml_options`); `berth-manifest`'s `fastyaml_tests` check that, with
//! property tests. It is the first reader of values files, `fromYaml`, deploy-folder
//! documents and rendered charts' documents.
//!
//! The reader hands what it reads to a [`Build`]: [`parse`] builds JSON values, [`head`]
//! builds nothing, checking the whole document but keeping only the fields that name an
//! object (printing a render needs no more, and building was most of the reading's cost).

use serde_json::{Map, Number, Value as Json};
use std::borrow::Cow;

struct Line<'a> {
    indent: usize,
    /// After the indentation, trailing spaces removed.
    text: &'a str,
    /// After the indentation, as written (literal blocks keep trailing spaces).
    raw: &'a str,
}

/// A scalar, typed as the full parser types it.
enum Scalar<'a> {
    Null,
    Bool(bool),
    Int(i64),
    /// Always finite.
    Float(f64),
    Str(Cow<'a, str>),
}

/// What the reader makes of the nodes it reads, innermost first.
trait Build<'a> {
    type Node;
    type Map;
    type Seq;
    fn scalar(&mut self, s: Scalar<'a>) -> Self::Node;
    fn new_map(&mut self) -> Self::Map;
    /// Called with each key of `map` before its value is read.
    fn key(&mut self, _map: &Self::Map, _key: &str) {}
    /// Adds an entry; `false` when the key is there already, or the builder wants the full
    /// parser to read this document.
    fn insert(&mut self, map: &mut Self::Map, key: Cow<'a, str>, value: Self::Node) -> bool;
    fn end_map(&mut self, map: Self::Map) -> Self::Node;
    fn new_seq(&mut self) -> Self::Seq;
    fn push(&mut self, seq: &mut Self::Seq, value: Self::Node);
    fn end_seq(&mut self, seq: Self::Seq) -> Self::Node;
}

/// Parses one document, or `None` when the input is outside the fast subset.
pub fn parse(doc: &str) -> Option<Json> {
    Some(read(doc, &mut JsonBuild)?.unwrap_or(Json::Null))
}

/// Builds JSON values, keys in document order.
struct JsonBuild;

impl<'a> Build<'a> for JsonBuild {
    type Node = Json;
    type Map = Map<String, Json>;
    type Seq = Vec<Json>;

    fn scalar(&mut self, s: Scalar<'a>) -> Json {
        match s {
            Scalar::Null => Json::Null,
            Scalar::Bool(b) => Json::Bool(b),
            Scalar::Int(i) => Json::Number(i.into()),
            // Finite, so always a number.
            Scalar::Float(f) => Number::from_f64(f).map_or(Json::Null, Json::Number),
            Scalar::Str(s) => Json::String(s.into_owned()),
        }
    }

    fn new_map(&mut self) -> Self::Map {
        Map::new()
    }

    fn insert(&mut self, map: &mut Self::Map, key: Cow<'a, str>, value: Json) -> bool {
        match map.entry(key.into_owned()) {
            serde_json::map::Entry::Vacant(e) => {
                e.insert(value);
                true
            }
            serde_json::map::Entry::Occupied(_) => false,
        }
    }

    fn end_map(&mut self, map: Self::Map) -> Json {
        Json::Object(map)
    }

    fn new_seq(&mut self) -> Self::Seq {
        Vec::new()
    }

    fn push(&mut self, seq: &mut Self::Seq, value: Json) {
        seq.push(value);
    }

    fn end_seq(&mut self, seq: Self::Seq) -> Json {
        Json::Array(seq)
    }
}

/// The fields of a document that name and mark an object, as written; the rest of the
/// document is checked but not kept. Each is `None` where the document does not have it.
#[derive(Debug, Default, PartialEq)]
pub struct HeadFields {
    /// Scalars (strings, numbers, booleans, null).
    pub api_version: Option<Json>,
    pub kind: Option<Json>,
    /// `Some(true)` for a map, `Some(false)` for null.
    pub metadata: Option<bool>,
    /// Scalars, from `metadata` when it is a map.
    pub name: Option<Json>,
    pub namespace: Option<Json>,
    /// `metadata.annotations` whole (a map or null).
    pub annotations: Option<Json>,
}

/// Reads one document completely, building only its [`HeadFields`]: `Some(None)` when it has
/// only blank lines and comments; `None` when the fast reader declines it, or it is not a map,
/// or a field has an unexpected shape (a list for a `kind`, a string for `metadata`), all of
/// which the full parser then reads.
pub fn head_fields(doc: &str) -> Option<Option<HeadFields>> {
    let mut b = HeadBuild::default();
    let Some(root) = read(doc, &mut b)? else {
        return Some(None);
    };
    if !matches!(root, Lite::Map) {
        return None;
    }
    let scalar = |f: Option<Lite>| match f {
        None => Some(None),
        Some(Lite::Json(j)) if !j.is_object() && !j.is_array() => Some(Some(j)),
        Some(_) => None,
    };
    let metadata = match b.metadata {
        None => None,
        Some(Lite::Map) => Some(true),
        Some(Lite::Json(Json::Null)) => Some(false),
        Some(_) => return None,
    };
    let annotations = match b.annotations {
        None => None,
        Some(Lite::Json(j @ (Json::Null | Json::Object(_)))) => Some(j),
        Some(_) => return None,
    };
    Some(Some(HeadFields {
        api_version: scalar(b.api_version)?,
        kind: scalar(b.kind)?,
        metadata,
        name: scalar(b.name)?,
        namespace: scalar(b.namespace)?,
        annotations,
    }))
}

/// What names a Kubernetes object: `apiVersion`, `kind`, `metadata.name` (all non-empty
/// strings) and `metadata.namespace` (a string if there).
pub struct Head {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub namespace: Option<String>,
}

/// A document as [`head`] reads it.
pub enum Read {
    /// Only blank lines and comments.
    Empty,
    Object(Head),
}

/// Reads one document completely without building it, and gives its head. `None` when the
/// document is outside the fast subset or is not an object with a complete head: the full
/// parser then reads it, and says what is wrong.
pub fn head(doc: &str) -> Option<Read> {
    let Some(f) = head_fields(doc)? else {
        return Some(Read::Empty);
    };
    fn text(f: Option<Json>) -> Option<String> {
        match f {
            Some(Json::String(s)) if !s.is_empty() => Some(s),
            _ => None,
        }
    }
    let namespace = match f.namespace {
        None => None,
        Some(Json::String(s)) => Some(s),
        Some(_) => return None,
    };
    if f.metadata != Some(true) {
        return None;
    }
    Some(Read::Object(Head {
        api_version: text(f.api_version)?,
        kind: text(f.kind)?,
        name: text(f.name)?,
        namespace,
    }))
}

/// Where a node sits, as far as the head is concerned.
#[derive(Clone, Copy, Default, PartialEq)]
enum Role {
    #[default]
    Top,
    Metadata,
    /// `apiVersion`, `kind`, `metadata.name`, `metadata.namespace`.
    Field,
    /// Under `metadata.annotations`: built whole.
    Kept,
    Other,
}

/// A node as [`HeadBuild`] keeps it.
enum Lite {
    /// A head field's scalar, or a kept node.
    Json(Json),
    Map,
    Other,
}

struct LiteMap {
    role: Role,
    /// Where this map's keys start in [`HeadBuild::keys`].
    keys_from: usize,
    /// The entries, under `metadata.annotations`.
    kept: Option<Map<String, Json>>,
}

/// Keeps the head's fields and the keys of the maps being read (to refuse duplicates).
#[derive(Default)]
struct HeadBuild<'a> {
    /// The role of the next node.
    next: Role,
    keys: Vec<Cow<'a, str>>,
    api_version: Option<Lite>,
    kind: Option<Lite>,
    metadata: Option<Lite>,
    name: Option<Lite>,
    namespace: Option<Lite>,
    annotations: Option<Lite>,
}

/// Maps with more keys than this go to the full parser (the duplicate check is a scan).
const MAX_SCANNED_KEYS: usize = 128;

impl<'a> Build<'a> for HeadBuild<'a> {
    type Node = Lite;
    type Map = LiteMap;
    /// The items, under `metadata.annotations`.
    type Seq = Option<Vec<Json>>;

    fn scalar(&mut self, s: Scalar<'a>) -> Lite {
        match (self.next, s) {
            (Role::Field | Role::Kept, s) => Lite::Json(JsonBuild.scalar(s)),
            (Role::Metadata, Scalar::Null) => Lite::Json(Json::Null),
            _ => Lite::Other,
        }
    }

    fn new_map(&mut self) -> LiteMap {
        let role = std::mem::replace(&mut self.next, Role::Other);
        LiteMap {
            role,
            keys_from: self.keys.len(),
            kept: (role == Role::Kept).then(Map::new),
        }
    }

    fn key(&mut self, map: &LiteMap, key: &str) {
        self.next = match (map.role, key) {
            (Role::Top, "metadata") => Role::Metadata,
            (Role::Top, "apiVersion" | "kind") => Role::Field,
            (Role::Metadata, "name" | "namespace") => Role::Field,
            (Role::Metadata, "annotations") | (Role::Kept, _) => Role::Kept,
            _ => Role::Other,
        };
    }

    fn insert(&mut self, map: &mut LiteMap, key: Cow<'a, str>, value: Lite) -> bool {
        let keys = &self.keys[map.keys_from..];
        if keys.len() >= MAX_SCANNED_KEYS || keys.contains(&key) {
            return false;
        }
        if let Some(kept) = &mut map.kept {
            let Lite::Json(v) = value else {
                return false;
            };
            kept.insert(key.to_string(), v);
            self.keys.push(key);
            return true;
        }
        let field = match (map.role, key.as_ref()) {
            (Role::Top, "apiVersion") => Some(&mut self.api_version),
            (Role::Top, "kind") => Some(&mut self.kind),
            (Role::Top, "metadata") => Some(&mut self.metadata),
            (Role::Metadata, "name") => Some(&mut self.name),
            (Role::Metadata, "namespace") => Some(&mut self.namespace),
            (Role::Metadata, "annotations") => Some(&mut self.annotations),
            _ => None,
        };
        if let Some(field) = field {
            *field = Some(value);
        }
        self.keys.push(key);
        true
    }

    fn end_map(&mut self, map: LiteMap) -> Lite {
        self.keys.truncate(map.keys_from);
        match map.kept {
            Some(m) => Lite::Json(Json::Object(m)),
            None => Lite::Map,
        }
    }

    fn new_seq(&mut self) -> Self::Seq {
        // Items of a kept list are kept; `next` stays.
        if self.next == Role::Kept {
            return Some(Vec::new());
        }
        self.next = Role::Other;
        None
    }

    fn push(&mut self, seq: &mut Self::Seq, value: Lite) {
        if let Some(items) = seq {
            if let Lite::Json(v) = value {
                items.push(v);
            }
            // The next item is kept too.
            self.next = Role::Kept;
        }
    }

    fn end_seq(&mut self, seq: Self::Seq) -> Lite {
        match seq {
            Some(items) => Lite::Json(Json::Array(items)),
            None => Lite::Other,
        }
    }
}

/// Reads one document into `b`: `Some(None)` when it has only blank lines and comments,
/// `None` when it is outside the fast subset.
fn read<'a, B: Build<'a>>(doc: &'a str, b: &mut B) -> Option<Option<B::Node>> {
    let mut lines = Vec::with_capacity(doc.len() / 24 + 4);
    for raw in split_lines(doc) {
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
    let mut p = P { lines, i: 0, b };
    p.skip_blank();
    if p.lines
        .get(p.i)
        .is_some_and(|l| l.indent == 0 && l.text == "---")
    {
        // The document's start marker.
        p.i += 1;
        p.skip_blank();
    }
    if p.i >= p.lines.len() {
        return Some(None);
    }
    let ind = p.lines[p.i].indent;
    let v = p.block(ind)?;
    p.skip_blank();
    (p.i >= p.lines.len()).then_some(Some(v))
}

/// `text.split('\n')`, with memchr's scan for the breaks: lines here are short, and the
/// standard searcher's setup per line cost more than its search.
fn split_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut start = 0;
    memchr::memchr_iter(b'\n', text.as_bytes())
        .map(Some)
        .chain([None])
        .map(move |end| {
            let from = start;
            let end = end.unwrap_or(text.len());
            start = end + 1;
            &text[from..end]
        })
}

struct P<'a, 'b, B> {
    lines: Vec<Line<'a>>,
    i: usize,
    b: &'b mut B,
}

fn is_blank(t: &str) -> bool {
    t.is_empty() || t.starts_with('#')
}

fn is_item(text: &str) -> bool {
    text == "-" || text.starts_with("- ")
}

impl<'a, B: Build<'a>> P<'a, '_, B> {
    fn skip_blank(&mut self) {
        while self.i < self.lines.len() && is_blank(self.lines[self.i].text) {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<(usize, &'a str)> {
        self.skip_blank();
        self.lines.get(self.i).map(|l| (l.indent, l.text))
    }

    fn block(&mut self, ind: usize) -> Option<B::Node> {
        let (_, text) = self.peek()?;
        if is_item(text) {
            self.sequence(ind)
        } else if split_key(text).is_some() {
            self.mapping(ind)
        } else if text.starts_with(['[', '{']) {
            // A flow collection on a line of its own (`key:` then `  {}`); the caller checks
            // what follows it.
            self.i += 1;
            self.inline(text)
        } else {
            None
        }
    }

    fn mapping(&mut self, ind: usize) -> Option<B::Node> {
        let mut m = self.b.new_map();
        while let Some((li, text)) = self.peek() {
            if li < ind {
                break;
            }
            if li > ind {
                return None;
            }
            let (key, rest) = split_key(text)?;
            self.i += 1;
            self.b.key(&m, &key);
            let v = self.value_after(ind, rest, true)?;
            if !self.b.insert(&mut m, key, v) {
                return None;
            }
        }
        Some(self.b.end_map(m))
    }

    fn sequence(&mut self, ind: usize) -> Option<B::Node> {
        let mut v = self.b.new_seq();
        while let Some((li, text)) = self.peek() {
            if li < ind {
                break;
            }
            if li > ind {
                return None;
            }
            if !is_item(text) {
                // The parent mapping continues; it checks this line.
                break;
            }
            let rest = text[1..].trim_start_matches(' ');
            if is_item(rest) {
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
                let item = self.mapping(col)?;
                self.b.push(&mut v, item);
                continue;
            }
            self.i += 1;
            let item = self.value_after(ind, rest, false)?;
            self.b.push(&mut v, item);
        }
        Some(self.b.end_seq(v))
    }

    /// The value after `key:` or `-`, at parent indentation `ind`.
    fn value_after(&mut self, ind: usize, rest: &'a str, in_map: bool) -> Option<B::Node> {
        if rest.is_empty() || rest.starts_with('#') {
            return match self.peek() {
                Some((li, _)) if li > ind => self.block(li),
                Some((li, t)) if in_map && li == ind && is_item(t) => self.sequence(ind),
                _ => Some(self.b.scalar(Scalar::Null)),
            };
        }
        if let Some(folded) = [b'|', b'>'].iter().position(|&c| rest.as_bytes()[0] == c) {
            let text = self.block_scalar(ind, &rest[1..], folded == 1)?;
            return Some(self.b.scalar(Scalar::Str(Cow::Owned(text))));
        }
        let v = self.inline(rest)?;
        // A more-indented line after an inline value is a multi-line scalar or an error.
        if matches!(self.peek(), Some((li, _)) if li > ind) {
            return None;
        }
        Some(v)
    }

    /// A literal (`|`) or folded (`>`) block scalar after its header.
    fn block_scalar(&mut self, ind: usize, header: &str, folded: bool) -> Option<String> {
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
        if folded && !kept.is_empty() {
            kept = fold(&kept)?;
        }
        Some(match chomp {
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
        })
    }

    /// A value on the rest of the line: a scalar or a one-line flow collection.
    fn inline(&mut self, rest: &'a str) -> Option<B::Node> {
        match rest.as_bytes()[0] {
            b'[' => self.flow_seq(rest),
            b'{' => self.flow_map(rest),
            _ => Some(self.b.scalar(inline_scalar(rest)?)),
        }
    }

    fn flow_seq(&mut self, rest: &'a str) -> Option<B::Node> {
        let mut seq = self.b.new_seq();
        for item in flow_items(rest, ']')? {
            let v = flow_scalar(item.trim_matches(' '))?;
            let v = self.b.scalar(v);
            self.b.push(&mut seq, v);
        }
        Some(self.b.end_seq(seq))
    }

    /// `{k: v, ...}` on one line, plain keys that are surely strings and scalar values.
    fn flow_map(&mut self, rest: &'a str) -> Option<B::Node> {
        let mut m = self.b.new_map();
        for item in flow_items(rest, '}')? {
            let (k, v) = item.trim_matches(' ').split_once(": ")?;
            if k.is_empty() || k.ends_with(' ') || !plain_ok(k) || !surely_string(k) {
                return None;
            }
            self.b.key(&m, k);
            let v = flow_scalar(v.trim_matches(' '))?;
            let v = self.b.scalar(v);
            if !self.b.insert(&mut m, Cow::Borrowed(k), v) {
                return None;
            }
        }
        Some(self.b.end_map(m))
    }
}

/// Splits `key: rest` / `key:`; `None` if the line is not a simple mapping entry.
fn split_key(text: &str) -> Option<(Cow<'_, str>, &str)> {
    let (key, after) = if let Some(q) = text.strip_prefix('"') {
        let end = q.find('"')?;
        (unescape_double(&q[..end])?, &q[end + 1..])
    } else if let Some(q) = text.strip_prefix('\'') {
        let end = q.find('\'')?;
        if q[end + 1..].starts_with('\'') {
            return None;
        }
        (Cow::Borrowed(&q[..end]), &q[end + 1..])
    } else {
        let i = plain_key_end(text)?;
        let k = &text[..i];
        if k.is_empty() || k.ends_with([' ', ':']) || !plain_start_ok(k) || !surely_string(k) {
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

/// The body of a folded block scalar (its lines, each ending in a line break, the last one
/// not empty) folded as YAML folds it: a break between two lines becomes a space, and where
/// empty lines come between, those empty lines are the breaks. `None` for what this does not
/// fold (a first line that is empty, more-indented lines, which keep their breaks).
fn fold(body: &str) -> Option<String> {
    let mut out = String::with_capacity(body.len());
    let (mut first, mut empty) = (true, 0);
    for line in body.trim_end_matches('\n').split('\n') {
        if line.is_empty() {
            if first {
                return None;
            }
            empty += 1;
            continue;
        }
        if line.starts_with(' ') {
            return None;
        }
        if !first {
            match empty {
                0 => out.push(' '),
                n => out.push_str(&"\n".repeat(n)),
            }
        }
        (first, empty) = (false, 0);
        out.push_str(line);
    }
    out.push('\n');
    Some(out)
}

/// Where the `:` of a plain key's `key: ` or `key:` (at the end) is, in one pass: `None` when
/// there is none, or when the key before it has a tab, a carriage return or ` #` (a comment).
fn plain_key_end(text: &str) -> Option<usize> {
    let b = text.as_bytes();
    for i in 0..b.len() {
        match b[i] {
            b':' if b.get(i + 1).is_none_or(|&c| c == b' ') => return Some(i),
            b'\t' | b'\r' => return None,
            b'#' if i > 0 && b[i - 1] == b' ' => return None,
            _ => {}
        }
    }
    None
}

/// Whether a plain scalar starts and continues in a way that stays a plain scalar.
fn plain_ok(s: &str) -> bool {
    !s.bytes().any(|b| b == b'\t' || b == b'\r')
        && plain_start_ok(s)
        && find2(s, b':', b' ').is_none()
        && !s.ends_with(':')
}

/// Whether a non-empty plain scalar's first characters leave it a plain scalar.
fn plain_start_ok(s: &str) -> bool {
    let first = s.as_bytes()[0];
    // A table, not `<[u8]>::contains`: that one is a memchr call, ten times the cost here.
    const INDICATORS: [bool; 256] = crate::yaml::byte_set(b"[]{}&*!|>'\"%@`,?#");
    if INDICATORS[first as usize] {
        return false;
    }
    !((first == b'-' || first == b':') && (s.len() == 1 || s.as_bytes()[1] == b' '))
}

/// The plain scalar on the rest of a line, its comment stripped, in one pass: `None` when a
/// tab, a carriage return or `: ` comes before the comment (outside the fast subset).
fn plain_scalar_text(rest: &str) -> Option<&str> {
    let b = rest.as_bytes();
    let mut end = b.len();
    for i in 0..b.len() {
        match b[i] {
            b'#' if i > 0 && b[i - 1] == b' ' => {
                end = i;
                break;
            }
            b':' if b.get(i + 1) == Some(&b' ') => return None,
            b'\t' | b'\r' => return None,
            _ => {}
        }
    }
    let s = rest[..end].trim_end_matches(' ');
    (!s.is_empty() && plain_start_ok(s) && !s.ends_with(':')).then_some(s)
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

/// What may follow a closed quoted scalar or flow collection: nothing, or ` # comment`.
fn tail_ok(tail: &str) -> bool {
    tail.is_empty()
        || (tail.starts_with(' ') && (tail.trim().is_empty() || tail.trim_start().starts_with('#')))
}

/// A quoted or plain scalar taking the rest of the line (a comment aside).
fn inline_scalar(rest: &str) -> Option<Scalar<'_>> {
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
            unescape_double(&body[..end]).map(Scalar::Str)
        }
        b'\'' => single_quoted(&rest[1..]),
        _ => resolve_plain(plain_scalar_text(rest)?),
    }
}

/// The rest of a single-quoted scalar after its opening quote.
fn single_quoted(body: &str) -> Option<Scalar<'_>> {
    let close = body.find('\'')?;
    if !body[close + 1..].starts_with('\'') {
        // No doubled quote: the text as written.
        return tail_ok(&body[close + 1..]).then_some(Scalar::Str(Cow::Borrowed(&body[..close])));
    }
    let mut out = String::new();
    let mut it = body.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        if c == '\'' {
            if matches!(it.peek(), Some((_, '\''))) {
                it.next();
                out.push('\'');
                continue;
            }
            return tail_ok(&body[i + 1..]).then_some(Scalar::Str(Cow::Owned(out)));
        }
        out.push(c);
    }
    None
}

/// The items of a one-line flow collection opening `rest` (`[` or `{`), split at top-level
/// commas, untrimmed; `None` for nesting, comments inside, or anything after the close but a
/// comment.
fn flow_items(rest: &str, close: char) -> Option<Vec<&str>> {
    let body = &rest[1..];
    let mut items = Vec::new();
    let mut from = 0;
    let mut quote: Option<char> = None;
    let mut end = None;
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match quote {
            Some(q) => {
                if c == '\\' && q == '"' {
                    chars.next()?;
                } else if c == q {
                    if q == '\'' && matches!(chars.peek(), Some((_, '\''))) {
                        chars.next();
                    } else {
                        quote = None;
                    }
                }
            }
            None => match c {
                '"' | '\'' => quote = Some(c),
                ',' => {
                    items.push(&body[from..i]);
                    from = i + 1;
                }
                c if c == close => {
                    end = Some(i);
                    break;
                }
                '[' | ']' | '{' | '}' | '#' | '&' | '*' | '!' | '\t' => return None,
                _ => {}
            },
        }
    }
    let end = end?;
    if !tail_ok(&body[end + 1..]) {
        return None;
    }
    let last = &body[from..end];
    if items.is_empty() && last.trim().is_empty() {
        return Some(items);
    }
    items.push(last);
    Some(items)
}

/// One scalar inside a flow collection, trimmed: quoted, or plain without `: `.
fn flow_scalar(item: &str) -> Option<Scalar<'_>> {
    if item.is_empty() {
        return None;
    }
    match item.as_bytes()[0] {
        b'"' | b'\'' => inline_scalar(item),
        _ => {
            if item.contains(": ") || item.ends_with(':') || !plain_ok(item) {
                return None;
            }
            resolve_plain(item)
        }
    }
}

/// Types a plain scalar exactly as the full parser would, or `None` where unsure.
fn resolve_plain(s: &str) -> Option<Scalar<'_>> {
    match s {
        "~" | "null" | "Null" | "NULL" => return Some(Scalar::Null),
        "true" | "True" | "TRUE" => return Some(Scalar::Bool(true)),
        "false" | "False" | "FALSE" => return Some(Scalar::Bool(false)),
        _ => {}
    }
    let b = s.as_bytes();
    if b[0].is_ascii_digit() || matches!(b[0], b'+' | b'-' | b'.') {
        let digits = s.strip_prefix('-').unwrap_or(s);
        if !digits.is_empty()
            && digits.bytes().all(|c| c.is_ascii_digit())
            && (digits == "0" || !digits.starts_with('0'))
        {
            return s.parse::<i64>().ok().map(Scalar::Int);
        }
        if let Some((a, f)) = digits.split_once('.') {
            let simple = !a.is_empty()
                && !f.is_empty()
                && a.bytes().all(|c| c.is_ascii_digit())
                && f.bytes().all(|c| c.is_ascii_digit());
            if simple && (a == "0" || !a.starts_with('0')) {
                let v: f64 = s.parse().ok()?;
                return v.is_finite().then_some(Scalar::Float(v));
            }
        }
    }
    if surely_string(s) {
        return Some(Scalar::Str(Cow::Borrowed(s)));
    }
    by_full_parser(s)
}

/// Types a plain scalar the quick checks above are unsure of (`.*`, `1d`, `0x1F`, `1:20`) by
/// asking the full parser, as the value of a block mapping (where the reader met it): exact
/// by construction, and rare enough that its cost does not matter. `None` for what `Scalar`
/// cannot hold (an integer past `i64`).
fn by_full_parser(s: &str) -> Option<Scalar<'_>> {
    let doc = format!("k: {s}\n");
    let read: Map<String, Json> =
        serde_saphyr::from_str_with_options(&doc, crate::go_yaml_options()).ok()?;
    match read.into_iter().next()?.1 {
        Json::Null => Some(Scalar::Null),
        Json::Bool(b) => Some(Scalar::Bool(b)),
        Json::String(t) if t == s => Some(Scalar::Str(Cow::Borrowed(s))),
        Json::String(t) => Some(Scalar::Str(Cow::Owned(t))),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Some(Scalar::Int(i)),
            None if n.is_f64() => n.as_f64().filter(|f| f.is_finite()).map(Scalar::Float),
            None => None,
        },
        Json::Array(_) | Json::Object(_) => None,
    }
}

/// Whether a plain scalar certainly reads as a string (no YAML 1.1 boolean, null or number form).
fn surely_string(s: &str) -> bool {
    const SPECIAL: &[&str] = &[
        "y", "yes", "n", "no", "on", "off", "true", "false", "null", "~", ".inf", ".nan",
    ];
    // What no special word and no number starts with: most keys and words are settled by
    // their first byte (a table, as `SPECIAL` and the number check below would decide).
    const MAY_NOT_BE: [bool; 256] = crate::yaml::byte_set(b"yYnNoOtTfF~.+-0123456789");
    if !MAY_NOT_BE[s.as_bytes()[0] as usize] {
        return true;
    }
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

/// The text of a double-quoted scalar (between its quotes), escapes resolved; borrowed when
/// it has none.
fn unescape_double(s: &str) -> Option<Cow<'_, str>> {
    if !s.contains('\\') {
        return Some(Cow::Borrowed(s));
    }
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
    Some(Cow::Owned(out))
}
