//! Every case of the Helm chart corpus (`../shared/charts`, see its README) through `berth render`,
//! compared object by object with what helm 4 printed (`expected.yaml`): the same objects by
//! (apiVersion, kind, namespace, name), each with the same content (key order and document order
//! aside; `2` equals `2.0`; a string is not a number); fields listed in `nondeterministic.txt`
//! only need to be present. A case with `expected.txt` is one helm refuses: berth must exit
//! non-zero and say where.
//!
//! The corpus is found at `BERTH_CHART_CORPUS` (the test command sets it) or beside the checkout.

use assert_cmd::Command;
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn corpus() -> PathBuf {
    if let Ok(p) = std::env::var("BERTH_CHART_CORPUS") {
        return PathBuf::from(p);
    }
    let beside = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/charts");
    assert!(
        beside.is_dir(),
        "the chart corpus is not at {} and BERTH_CHART_CORPUS is unset (./scripts/test.sh finds it)",
        beside.display()
    );
    beside
}

/// The arguments of `args.txt` (`helm template RELEASE chart ...`) as berth's.
fn berth_args(case: &Path) -> Vec<String> {
    let line = std::fs::read_to_string(case.join("args.txt")).unwrap();
    let words = shell_words(line.trim());
    assert_eq!(&words[..2], ["helm", "template"], "{}", case.display());
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
fn shell_words(s: &str) -> Vec<String> {
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

fn documents(text: &str) -> Vec<Json> {
    // PyYAML (the corpus's reference reader) keeps the last of a repeated key.
    let opts = serde_saphyr::options! {
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::LastWins,
    };
    let docs: Vec<Json> =
        serde_saphyr::from_str_multiple_with_options(text, opts).expect("YAML stream");
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

/// Numbers as f64, so that `2` and `2.0` compare equal.
fn normalize(v: &Json) -> Json {
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
struct Varying {
    api_version: String,
    kind: String,
    name: String,
    path: Vec<String>,
}

fn varying(case: &Path) -> Vec<Varying> {
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

/// `.data["tls.crt"]` or `.spec.template` as keys.
fn field_path(f: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = f;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("[\"") {
            let end = r.find("\"]").unwrap();
            out.push(r[..end].to_string());
            rest = &r[end + 2..];
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

fn glob(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        Some((a, b)) => name.starts_with(a) && name.ends_with(b) && name.len() >= a.len() + b.len(),
        None => pattern == name,
    }
}

/// The object's key; names with random parts become their pattern. Varying fields that must be
/// present are replaced by a marker (or reported missing).
fn key_and_mask(o: &mut Json, vary: &[Varying], problems: &mut Vec<String>) -> String {
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

fn by_key(
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

fn first_difference(a: &Json, b: &Json, path: &str) -> Option<String> {
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

/// The differences between berth's and helm's output for one case (empty when they match).
fn check_case(case: &Path) -> Vec<String> {
    let out = Command::cargo_bin("berth")
        .unwrap()
        .current_dir(case)
        .args(berth_args(case))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if case.join("expected.txt").exists() {
        if out.status.success() {
            return vec!["helm refuses this case, berth rendered it".into()];
        }
        if !stderr.contains("error") || !(stderr.contains("-->") || stderr.contains("= note")) {
            return vec![format!("the error does not say where: {stderr}")];
        }
        return vec![];
    }
    if !out.status.success() {
        return vec![format!("berth failed: {stderr}")];
    }
    let vary = varying(case);
    let mut problems = Vec::new();
    let got = by_key(
        documents(&String::from_utf8_lossy(&out.stdout)),
        &vary,
        &mut problems,
    );
    let want_text = std::fs::read_to_string(case.join("expected.yaml")).unwrap();
    let want = by_key(documents(&want_text), &vary, &mut problems);
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

#[test]
#[ignore = "needs the chart corpus (../shared/charts or BERTH_CHART_CORPUS; ./scripts/test.sh finds it)"]
fn chart_corpus_renders_as_helm_does() {
    let root = corpus();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("args.txt").is_file())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 45,
        "only {} cases in {}",
        cases.len(),
        root.display()
    );
    let mut failed = Vec::new();
    for case in &cases {
        let problems = check_case(case);
        if !problems.is_empty() {
            let name = case.file_name().unwrap().to_string_lossy().to_string();
            failed.push(format!(
                "{name}:\n    {}",
                problems
                    .iter()
                    .take(6)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("\n    ")
            ));
        }
    }
    eprintln!(
        "chart corpus: {} of {} cases match helm",
        cases.len() - failed.len(),
        cases.len()
    );
    assert!(
        failed.is_empty(),
        "{} cases differ from helm:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

#[test]
fn shell_words_as_sh() {
    assert_eq!(
        shell_words("helm template a chart --set 'b={x,y}' --set \"c=d e\""),
        ["helm", "template", "a", "chart", "--set", "b={x,y}", "--set", "c=d e"]
    );
}
