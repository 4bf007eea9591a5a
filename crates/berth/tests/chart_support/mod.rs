//! Shared by the chart tests: helm command lines as berth's, and comparing two YAML streams
//! object by object as the chart corpus README says.
// Each includer uses a different part of this module.
#![allow(dead_code)]

use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::path::Path;

/// The arguments of `args.txt` (`helm template RELEASE chart ...`) as berth's.
pub fn berth_args(line: &str) -> Vec<String> {
    let words = shell_words(line.trim());
    assert_eq!(&words[..2], ["helm", "template"], "{line}");
    let mut args = vec![
        "render".to_string(),
        words[3].clone(),
        "--release".into(),
        words[2].clone(),
    ];
    args.extend(words[4..].iter().cloned());
    args
}

/// Splits a command line with single and double quotes, as `sh` does for these simple lines.
pub fn shell_words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in s.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                any = true;
            }
            (None, ' ') => {
                if any || !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            (None, c) => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        words.push(cur);
    }
    words
}

pub fn documents(text: &str) -> Vec<Json> {
    // PyYAML (the corpus's reference reader) keeps the last of a repeated key.
    let opts = serde_saphyr::options! {
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::LastWins,
    };
    let docs: Vec<Json> =
        serde_saphyr::from_str_multiple_with_options(text, opts).expect("YAML stream");
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

/// Numbers as f64, so that `2` and `2.0` compare equal.
pub fn normalize(v: &Json) -> Json {
    match v {
        Json::Number(n) => serde_json::Number::from_f64(n.as_f64().unwrap_or(0.0))
            .map(Json::Number)
            .unwrap_or(Json::Null),
        Json::Array(a) => Json::Array(a.iter().map(normalize).collect()),
        Json::Object(m) => Json::Object(m.iter().map(|(k, v)| (k.clone(), normalize(v))).collect()),
        other => other.clone(),
    }
}

/// One line of `nondeterministic.txt`: `apiVersion kind namespace name field`.
pub struct Varying {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub path: Vec<String>,
}

/// Every case folder (one with `args.txt`) of the corpus at `root` and of `charts-next` beside
/// it (the big umbrella charts, in the same layout), sorted.
pub fn case_dirs(root: &Path) -> Vec<std::path::PathBuf> {
    let next = root.with_file_name("charts-next");
    let mut cases: Vec<std::path::PathBuf> = [root, next.as_path()]
        .into_iter()
        .filter_map(|dir| std::fs::read_dir(dir).ok())
        .flat_map(|d| d.map(|e| e.unwrap().path()))
        .filter(|p| p.join("args.txt").is_file())
        .collect();
    cases.sort();
    cases
}

pub fn varying(case: &Path) -> Vec<Varying> {
    let Ok(text) = std::fs::read_to_string(case.join("nondeterministic.txt")) else {
        return vec![];
    };
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let p: Vec<&str> = l.splitn(5, ' ').collect();
            (p.len() == 5).then(|| Varying {
                api_version: p[0].into(),
                kind: p[1].into(),
                name: p[3].into(),
                path: field_path(p[4].trim()),
            })
        })
        .collect()
}

/// `.data["tls.crt"]`, `.webhooks[0].clientConfig` or `.spec.template` as keys (an index is a
/// JSON pointer's array step).
pub fn field_path(f: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = f;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("[\"") {
            let end = r.find("\"]").unwrap();
            out.push(r[..end].to_string());
            rest = &r[end + 2..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']').unwrap();
            assert!(
                r[..end].bytes().all(|b| b.is_ascii_digit()),
                "unreadable field {f}"
            );
            out.push(r[..end].to_string());
            rest = &r[end + 1..];
        } else if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            out.push(r[..end].to_string());
            rest = &r[end..];
        } else {
            panic!("unreadable field {f}");
        }
    }
    out
}

pub fn glob(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        Some((a, b)) => name.starts_with(a) && name.ends_with(b) && name.len() >= a.len() + b.len(),
        None => pattern == name,
    }
}

/// The object's key; names with random parts become their pattern. Varying fields that must be
/// present are replaced by a marker (or reported missing).
pub fn key_and_mask(o: &mut Json, vary: &[Varying], problems: &mut Vec<String>) -> String {
    let s = |p: &str| {
        o.pointer(p)
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_string()
    };
    let (api, kind, ns, real) = (
        s("/apiVersion"),
        s("/kind"),
        s("/metadata/namespace"),
        s("/metadata/name"),
    );
    let mut name = real.clone();
    for v in vary
        .iter()
        .filter(|v| v.api_version == api && v.kind == kind && glob(&v.name, &real))
    {
        name = v.name.clone();
        let pointer: String = v
            .path
            .iter()
            .map(|k| format!("/{}", k.replace('~', "~0").replace('/', "~1")))
            .collect();
        match o.pointer_mut(&pointer) {
            Some(field) => *field = Json::from("<varies>"),
            None => problems.push(format!("{kind} {real}: {} is missing", v.path.join("."))),
        }
    }
    format!("{api} {kind} {ns}/{name}")
}

pub fn by_key(
    docs: Vec<Json>,
    vary: &[Varying],
    problems: &mut Vec<String>,
) -> BTreeMap<String, Vec<Json>> {
    let mut m: BTreeMap<String, Vec<Json>> = BTreeMap::new();
    for mut d in docs {
        let k = key_and_mask(&mut d, vary, problems);
        m.entry(k).or_default().push(normalize(&d));
    }
    for v in m.values_mut() {
        v.sort_by_key(|d| d.to_string());
    }
    m
}

pub fn first_difference(a: &Json, b: &Json, path: &str) -> Option<String> {
    match (a, b) {
        (Json::Object(x), Json::Object(y)) => {
            for k in x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))) {
                match (x.get(k), y.get(k)) {
                    (Some(p), Some(q)) => {
                        if let Some(d) = first_difference(p, q, &format!("{path}.{k}")) {
                            return Some(d);
                        }
                    }
                    (None, _) => return Some(format!("{path}.{k}: missing in berth")),
                    (_, None) => return Some(format!("{path}.{k}: not in helm's output")),
                }
            }
            None
        }
        (Json::Array(x), Json::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (p, q))| first_difference(p, q, &format!("{path}[{i}]"))),
        _ if a == b => None,
        _ => Some(format!("{path}: berth {a}, helm {b}")),
    }
}

/// The differences between two YAML streams, object by object (empty when they match).
pub fn compare(got_text: &str, want_text: &str, vary: &[Varying]) -> Vec<String> {
    let mut problems = Vec::new();
    let got = by_key(documents(got_text), vary, &mut problems);
    let want = by_key(documents(want_text), vary, &mut problems);
    for k in got
        .keys()
        .chain(want.keys().filter(|k| !got.contains_key(*k)))
    {
        match (got.get(k), want.get(k)) {
            (Some(g), Some(w)) if g.len() != w.len() => {
                problems.push(format!("{k}: {} objects, helm has {}", g.len(), w.len()))
            }
            (Some(g), Some(w)) => {
                for (x, y) in g.iter().zip(w) {
                    if let Some(d) = first_difference(x, y, "") {
                        problems.push(format!("{k}: {d}"));
                    }
                }
            }
            (None, _) => problems.push(format!("{k}: missing from berth's output")),
            (_, None) => problems.push(format!("{k}: berth printed it, helm did not")),
        }
    }
    problems.dedup();
    problems
}

/// What of helm's error berth's error must name too, so that a refusal is matched to its cause
/// and not just to "some error" (issue 24). Read from helm's message, the same way for every
/// case:
/// - a template position `file.yaml:LINE:COL` (Go's column counts from 0, berth's from 1);
/// - a YAML position `yaml: line N` (the line of the construct the parser was in);
/// - a quoted name (`'employmentInfo'`, `'/replicaCount'`);
/// - the function an execution failed in (`at <b64enc>`);
/// - a name that ends a line (`... missing in charts/ directory: reqsubchart2`);
/// - the text a template's `fail` gave (the lines after `execution error at (...):`).
pub fn causes(helm_stderr: &str) -> Vec<String> {
    let mut causes = Vec::new();
    let mut in_fail = false;
    for line in helm_stderr.lines() {
        let line = line.trim();
        if in_fail {
            if line.is_empty() || line.starts_with("Use --debug") {
                in_fail = false;
            } else {
                causes.push(line.to_string());
            }
            continue;
        }
        for word in line.split(|c: char| c.is_whitespace() || c == '(' || c == ')') {
            let word = word.trim_end_matches([':', ',']);
            let parts: Vec<&str> = word.rsplitn(3, ':').collect();
            if let [col, row, file] = parts[..] {
                if let (Ok(col), Ok(row)) = (col.parse::<usize>(), row.parse::<usize>()) {
                    let base = file.rsplit('/').next().unwrap_or(file);
                    causes.push(format!("{base}:{row}:{}", col + 1));
                }
            }
        }
        if let Some(rest) = line.split("yaml: line ").nth(1) {
            let n: String = rest.chars().take_while(char::is_ascii_digit).collect();
            causes.push(format!("line {n}"));
        }
        // A schema failure's inner nodes (`- at '': 'allOf' failed`) only lead to its leaves.
        if !line.ends_with("' failed") {
            causes.extend(
                quoted(line)
                    .into_iter()
                    .map(|q| q.trim_start_matches('/').to_string()),
            );
        }
        if let Some(f) = line.split(" at <").nth(1).and_then(|r| r.split('>').next()) {
            causes.push(f.to_string());
        }
        if let Some((_, last)) = line.rsplit_once(": ") {
            let name = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.';
            if !last.is_empty() && last.chars().all(name) {
                causes.push(last.to_string());
            }
        }
        in_fail = line.contains("execution error at (");
    }
    causes.dedup();
    causes
}

/// Single-quoted names in `line` (an apostrophe inside a word, as in "don't", opens none).
fn quoted(line: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.find('\'') {
        let opens = rest[..i]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric());
        let after = &rest[i + 1..];
        match after.find('\'') {
            Some(j) if opens => {
                if j > 0 {
                    names.push(&after[..j]);
                }
                rest = &after[j + 1..];
            }
            _ => rest = after,
        }
    }
    names.retain(|n| !n.trim_start_matches('/').is_empty());
    names
}

/// The causes of helm's error that berth's error does not name.
pub fn missing_causes(helm_stderr: &str, berth_stderr: &str) -> Vec<String> {
    causes(helm_stderr)
        .into_iter()
        .filter(|c| {
            // `line N` may be given as a position (`Chart.yaml:N:COL`).
            let as_position = c
                .strip_prefix("line ")
                .is_some_and(|n| berth_stderr.contains(&format!(":{n}:")));
            !berth_stderr.contains(c.as_str()) && !as_position
        })
        .collect()
}
