//! Variables: files merged in precedence order, then `-v KEY=VALUE` overrides.

use crate::error::{Error, ErrorKind};
use serde_json::{Map, Value as Json};
use std::path::Path;

/// Parses YAML into JSON with Kubernetes' (YAML 1.1) reading of octal numbers and booleans.
pub(crate) fn parse_yaml(text: &str) -> Result<Json, serde_saphyr::Error> {
    if let Some(v) = crate::fastyaml::parse(text) {
        return Ok(v);
    }
    full_parse(text)
}

/// The complete YAML parser; also the source of every YAML error message.
pub fn full_parse(text: &str) -> Result<Json, serde_saphyr::Error> {
    berth_template::parse_as_go(text, berth_template::go_yaml_options())
}

/// Converts a YAML parse error into a located diagnostic: `what`, the parser's message, the
/// position, the line, and where the list it interrupted starts.
pub fn yaml_error(
    kind: ErrorKind,
    file: &str,
    text: &str,
    e: &serde_saphyr::Error,
    what: &str,
) -> Error {
    let (line, col) = yaml_position(text, e).unwrap_or((0, 0));
    let msg = first_line(&e.to_string());
    Error::new(kind, format!("{what}: {msg}"))
        .at(file, line, col)
        .snippet(text.lines().nth(line.saturating_sub(1)))
        .notes(yaml_context(text, e))
}

/// Where a YAML error is, in `text` (1-based line and column). The parser places a misplaced
/// tab at the scalar before it; the tab itself is where the fix goes (and where Go's YAML and
/// Helm report it), so such an error points at the first tab from there on.
pub fn yaml_position(text: &str, e: &serde_saphyr::Error) -> Option<(usize, usize)> {
    let l = e.location()?;
    let (line, col) = (l.line() as usize, l.column() as usize);
    if !e.to_string().contains("tab") {
        return Some((line, col));
    }
    let start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    let Some(tab) = text[start..].find('\t').map(|i| start + i) else {
        return Some((line, col));
    };
    let before = &text[..tab];
    let tab_line = before.matches('\n').count() + 1;
    let tab_col = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    Some((tab_line, tab_col))
}

/// Where the list a YAML error interrupted starts, as a note: Go's YAML (and so Helm) reports
/// such an error ("did not find expected '-' indicator") at the list's first item, the parser
/// here at the line that broke it; both lines help.
pub fn yaml_context(text: &str, e: &serde_saphyr::Error) -> Option<String> {
    if !e.to_string().contains("while parsing a block collection") {
        return None;
    }
    let (line, col) = yaml_position(text, e)?;
    let lines: Vec<&str> = text.lines().collect();
    let mut start = None;
    for n in (1..line.min(lines.len() + 1)).rev() {
        let l = lines[n - 1];
        let t = l.trim_start();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let at = l.len() - t.len() + 1;
        if t.starts_with('-') && at == col {
            start = Some(n);
        } else if at <= col {
            break;
        }
    }
    start.map(|n| format!("in the list that starts at line {n}"))
}

/// The first line of a message, without a trailing location the location already gives.
pub fn first_line(s: &str) -> String {
    let mut l = s.lines().next().unwrap_or("").trim();
    l = l.strip_prefix("error: ").unwrap_or(l);
    if let Some(rest) = l.strip_prefix("line ") {
        if let Some(i) = rest.find(": ") {
            l = &rest[i + 2..];
        }
    }
    match l.rfind(" at line ") {
        Some(i) => l[..i].to_string(),
        None => l.to_string(),
    }
}

/// Reads one variables file; a missing or empty file is an empty map.
pub(crate) fn load_file(path: &Path, display: &str) -> Result<Map<String, Json>, Error> {
    // Capped and regular files only, as templates are (a symlink to a device is refused).
    let text = crate::Budget::default().read_text(path).map_err(|e| {
        Error::new(ErrorKind::Io, format!("cannot read variables file: {e}"))
            .at(display, 0, 0)
            .hint("check the path given to -f, or that the file is readable")
    })?;
    parse_variables(&text, display)
}

/// Parses variables text; it must be a map at the top.
pub(crate) fn parse_variables(text: &str, display: &str) -> Result<Map<String, Json>, Error> {
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    let v = parse_yaml(text).map_err(|e| {
        yaml_error(
            ErrorKind::Variables,
            display,
            text,
            &e,
            "invalid YAML in variables file",
        )
        .hint("variables files are YAML maps of names to values")
    })?;
    match v {
        Json::Object(m) => Ok(m),
        Json::Null => Ok(Map::new()),
        other => {
            let line = text
                .lines()
                .position(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
                .unwrap_or(0)
                + 1;
            Err(Error::new(
                ErrorKind::Variables,
                format!(
                    "variables file must be a map of names to values, found {}",
                    json_type(&other)
                ),
            )
            .at(display, line, 1)
            .snippet(text.lines().nth(line - 1))
            .hint("write `name: value` pairs at the top level"))
        }
    }
}

pub fn json_type(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "a list",
        Json::Object(_) => "a map",
    }
}

/// Merges `src` over `dst`: maps merge key by key, anything else replaces.
pub(crate) fn merge(dst: &mut Map<String, Json>, src: Map<String, Json>) {
    for (k, v) in src {
        match (dst.get_mut(&k), v) {
            (Some(Json::Object(d)), Json::Object(s)) => merge(d, s),
            (_, v) => {
                dst.insert(k, v);
            }
        }
    }
}

/// Parses one `-v` argument: `KEY=VALUE` or kube-appdeploy's `KEY:VALUE`, dotted keys nest.
/// Values are typed like Helm's `--set`: `true`/`false`, integers and `null`; the rest are strings.
pub fn parse_set(arg: &str, index: usize) -> Result<(Vec<String>, Json), Error> {
    let where_ = format!("-v argument #{} ({arg:?})", index + 1);
    let split = match (arg.find('='), arg.find(':')) {
        (Some(e), Some(c)) => Some(e.min(c)),
        (Some(e), None) => Some(e),
        (None, Some(c)) => Some(c),
        (None, None) => None,
    };
    let Some(i) = split else {
        return Err(Error::new(ErrorKind::SetArgument, format!("malformed variable {arg:?}: expected KEY=VALUE"))
            .at(&where_, 0, 0)
            .hint("write -v name=value (or name:value); dotted names set nested values: -v images.web=web:1.2"));
    };
    let (key, value) = (&arg[..i], &arg[i + 1..]);
    let path: Vec<String> = key.split('.').map(str::to_string).collect();
    if key.is_empty()
        || path
            .iter()
            .any(|p| p.is_empty() || p.chars().any(char::is_whitespace))
    {
        return Err(Error::new(
            ErrorKind::SetArgument,
            format!("malformed variable name {key:?} in {arg:?}"),
        )
        .at(&where_, 0, 0)
        .hint("names are dot-separated words without spaces, like images.web"));
    }
    let v = match value {
        "true" => Json::Bool(true),
        "false" => Json::Bool(false),
        "null" => Json::Null,
        s => match s.parse::<i64>() {
            Ok(i)
                if !(s.len() > 1
                    && (s.starts_with('0') || s.starts_with("-0") || s.starts_with('+'))) =>
            {
                Json::from(i)
            }
            _ => Json::String(s.to_string()),
        },
    };
    Ok((path, v))
}

/// Sets `value` at a dotted `path`, creating maps on the way (replacing non-maps).
pub(crate) fn set_path(root: &mut Map<String, Json>, path: &[String], value: Json) {
    let (last, parents) = path.split_last().expect("non-empty path");
    let mut cur = root;
    for p in parents {
        let entry = cur
            .entry(p.clone())
            .or_insert_with(|| Json::Object(Map::new()));
        if !entry.is_object() {
            *entry = Json::Object(Map::new());
        }
        cur = entry.as_object_mut().expect("just made a map");
    }
    cur.insert(last.clone(), value);
}
