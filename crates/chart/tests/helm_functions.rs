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
    let text = std::fs::read_to_string(corpus.join("functions.txt")).unwrap();
    let cases: Vec<(String, String)> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (n, t) = l.split_once('\t').expect("name<TAB>template");
            (n.to_string(), unescape(t))
        })
        .collect();
    let values_text = std::fs::read_to_string(corpus.join("functions_values.yaml")).unwrap();

    let chart = tempfile::tempdir().unwrap();
    std::fs::create_dir(chart.path().join("templates")).unwrap();
    std::fs::write(
        chart.path().join("Chart.yaml"),
        "apiVersion: v2\nname: sprig\nversion: 0.1.0\n",
    )
    .unwrap();
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
