//! Differential test of every Sprig and Helm function against real `helm template`.
//!
//! Each case of corpus/functions.txt becomes a template of one chart whose output travels
//! base64-encoded (so any text survives YAML); the chart is rendered by helm and by
//! `berth_chart::template` with the same values, and each case's output compared.
//! Needs helm: `BERTH_HELM=/path/to/helm` or `helm` on PATH; ignored by plain `cargo test`.

use base64::Engine;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "../../template/tests/support/mod.rs"]
mod support;
use support::unescape;

/// The `out` of each case's ConfigMap, decoded, by ConfigMap name.
fn outputs(stdout: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut current = String::new();
    for line in stdout.lines() {
        if let Some(n) = line.strip_prefix("  name: ") {
            current = n.to_string();
        }
        if let Some(b) = line.strip_prefix("  out: ") {
            let b = b.trim_matches('"');
            let bytes = base64::engine::general_purpose::STANDARD.decode(b).unwrap();
            out.insert(current.clone(), String::from_utf8(bytes).unwrap());
        }
    }
    out
}

fn helm() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("BERTH_HELM") {
        // Relative to the repository root, like BERTH_GORENDER.
        return Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(p));
    }
    Command::new("helm")
        .arg("version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|_| PathBuf::from("helm"))
}

#[test]
#[ignore = "needs helm: BERTH_HELM or helm on PATH (./scripts/test.sh provides it)"]
fn every_function_matches_helm() {
    let helm = helm().expect("helm: set BERTH_HELM or put helm on PATH (./scripts/test.sh does)");
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let cases = corpus_cases("functions.txt");
    let values_text = std::fs::read_to_string(corpus.join("functions_values.yaml")).unwrap();
    let chart = sprig_chart();
    std::fs::write(chart.path().join("values.yaml"), &values_text).unwrap();
    let mut files = Vec::new();
    for (i, (name, tmpl)) in cases.iter().enumerate() {
        let file = format!("case-{i:03}.yaml");
        let (prelude, tmpl) = tmpl.split_once("|||").unwrap_or(("", tmpl));
        let body = format!(
            "{prelude}{{{{- define \"case-{i:03}\" }}}}{tmpl}{{{{ end -}}}}\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: case-{i:03}\ndata:\n  out: {{{{ include \"case-{i:03}\" . | b64enc | quote }}}}\n"
        );
        std::fs::write(chart.path().join("templates").join(&file), &body).unwrap();
        files.push((name.clone(), file, body));
    }
    let out = Command::new(&helm)
        .arg("template")
        .arg(chart.path())
        .output()
        .expect("run helm");
    assert!(
        out.status.success(),
        "helm template failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let helm_out = outputs(&String::from_utf8(out.stdout).unwrap());
    let opts = berth_chart::Options {
        release: "release-name".into(),
        namespace: "default".into(),
        ..Default::default()
    };
    let rendered = berth_chart::template(chart.path(), &opts)
        .unwrap_or_else(|e| panic!("berth render failed: {e}"));
    let berth_out = outputs(&rendered.to_yaml_stream());
    let mut failures = Vec::new();
    for (i, (name, _, _)) in files.iter().enumerate() {
        let key = format!("case-{i:03}");
        let want = helm_out
            .get(&key)
            .unwrap_or_else(|| panic!("{name}: no helm output"));
        match berth_out.get(&key) {
            Some(got) if got == want => {}
            Some(got) => failures.push(format!("{name}:\n  helm:  {want:?}\n  berth: {got:?}")),
            None => failures.push(format!("{name}: no berth output")),
        }
    }
    eprintln!(
        "helm differential: {} cases, {} mismatches",
        files.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from helm:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

/// An empty chart named `sprig` in a fresh folder, for cases to be written into.
fn sprig_chart() -> tempfile::TempDir {
    let chart = tempfile::tempdir().unwrap();
    std::fs::create_dir(chart.path().join("templates")).unwrap();
    std::fs::write(
        chart.path().join("Chart.yaml"),
        "apiVersion: v2\nname: sprig\nversion: 0.1.0\n",
    )
    .unwrap();
    chart
}

/// `name<TAB>template` lines of a corpus file (comments and blank lines skipped).
fn corpus_cases(file: &str) -> Vec<(String, String)> {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    std::fs::read_to_string(corpus.join(file))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (n, t) = l.split_once('\t').expect("name<TAB>template");
            (n.to_string(), unescape(t))
        })
        .collect()
}

/// Each case of corpus/functions_errors.txt, alone in a chart: helm refuses it, and berth must
/// refuse it too with what helm's message says after its position (the function's own words).
#[test]
#[ignore = "needs helm: BERTH_HELM or helm on PATH (./scripts/test.sh provides it)"]
fn every_refusal_matches_helm() {
    let helm = helm().expect("helm: set BERTH_HELM or put helm on PATH (./scripts/test.sh does)");
    let mut failures = Vec::new();
    for (name, tmpl) in corpus_cases("functions_errors.txt") {
        let chart = sprig_chart();
        std::fs::write(chart.path().join("templates/case.yaml"), &tmpl).unwrap();
        let out = Command::new(&helm)
            .arg("template")
            .arg(chart.path())
            .output()
            .expect("run helm");
        assert!(!out.status.success(), "{name}: helm accepts it");
        let helm_err = String::from_utf8_lossy(&out.stderr);
        // `Error: ...case.yaml:1:3: executing ... at <f>: error calling f: WHY` or
        // `Error: execution error at (...case.yaml:1:3): WHY`: WHY is the function's own.
        let first = helm_err.lines().next().unwrap_or("");
        let why = first
            .rsplit_once("): ")
            .map(|(_, w)| w)
            .or_else(|| {
                first
                    .rsplit_once(&format!(
                        "{}: ",
                        first.split(": ").nth(3).unwrap_or("\u{0}")
                    ))
                    .map(|(_, w)| w)
            })
            .unwrap_or(first);
        let why = why.rsplit("error calling ").next().unwrap_or(why);
        let why = why.split_once(": ").map_or(why, |(f, rest)| {
            if f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                rest
            } else {
                why
            }
        });
        match berth_chart::template(chart.path(), &berth_chart::Options::default()) {
            Ok(_) => failures.push(format!(
                "{name}: helm refuses it ({first}), berth rendered it"
            )),
            Err(e) => {
                let e = e.to_string();
                if !e.contains(why.trim()) {
                    failures.push(format!(
                        "{name}:\n  helm:  {first}\n  wants: {why:?}\n  berth: {e}"
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every template function berth has is reached by a case compared with Go (the language
/// corpus) or helm (these corpora), but `ismode`, berth's own from kube-appdeploy, which has no
/// reference to compare with (its tests are beside it).
#[test]
fn every_function_has_a_case_against_go_or_helm() {
    let template_corpus =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../template/tests/corpus/language.txt");
    let mut text = std::fs::read_to_string(template_corpus).unwrap();
    for file in ["functions.txt", "functions_errors.txt"] {
        for (_, t) in corpus_cases(file) {
            text.push_str(&t);
            text.push('\n');
        }
    }
    let called = |f: &str| {
        text.match_indices(f).any(|(i, _)| {
            let before = text[..i].chars().next_back();
            let after = text[i + f.len()..].chars().next();
            let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
            !word(before) && before != Some('.') && !word(after)
        })
    };
    let missing: Vec<&str> = berth_template::function_names()
        .into_iter()
        .filter(|f| *f != "ismode" && !called(f))
        .collect();
    assert!(missing.is_empty(), "functions with no case: {missing:?}");
}
