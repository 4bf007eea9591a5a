//! Every case of the Helm chart corpus (`../shared/charts`, see its README, and `charts-next`
//! beside it when present) through `berth render`,
//! compared object by object with what helm 4 printed (`expected.yaml`): the same objects by
//! (apiVersion, kind, namespace, name), each with the same content (key order and document order
//! aside; `2` equals `2.0`; a string is not a number); fields listed in `nondeterministic.txt`
//! only need to be present. A case with `expected.txt` is one helm refuses: berth must exit
//! non-zero and say where.
//!
//! The corpus is found at `BERTH_CHART_CORPUS` (the test command sets it) or beside the checkout.

use assert_cmd::Command;
use chart_support::{berth_args, compare, varying};
use std::path::{Path, PathBuf};

mod chart_support;

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

/// The differences between berth's and helm's output for one case (empty when they match).
fn check_case(case: &Path) -> Vec<String> {
    let line = std::fs::read_to_string(case.join("args.txt")).unwrap();
    let out = Command::cargo_bin("berth")
        .unwrap()
        .current_dir(case)
        .args(berth_args(&line))
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
        // Matched to its cause: what helm 4 names, berth names.
        let expected = std::fs::read_to_string(case.join("expected.txt")).unwrap();
        // helm 4's stderr: after its `stderr (helm v4...):` line, before helm 3's.
        let helm4 = expected.split("\nhelm v3").next().unwrap_or(&expected);
        let helm4 = helm4.split_once("):\n").map_or(helm4, |(_, err)| err);
        let missing = chart_support::missing_causes(helm4, &stderr);
        if !missing.is_empty() {
            return vec![format!(
                "berth's error does not name {missing:?}, which helm's does:\n{helm4}\nberth:\n{stderr}"
            )];
        }
        return vec![];
    }
    if !out.status.success() {
        return vec![format!("berth failed: {stderr}")];
    }
    let want = std::fs::read_to_string(case.join("expected.yaml")).unwrap();
    compare(&String::from_utf8_lossy(&out.stdout), &want, &varying(case))
}

#[test]
#[ignore = "needs the chart corpus (../shared/charts or BERTH_CHART_CORPUS; ./scripts/test.sh finds it)"]
fn chart_corpus_renders_as_helm_does() {
    let root = corpus();
    let cases = chart_support::case_dirs(&root);
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

/// The corpus' `cmd` lines are split as `sh` splits them (kept here, not in `chart_support`,
/// so that it is compiled into one test binary and counted once).
#[test]
fn shell_words_as_sh() {
    assert_eq!(
        chart_support::shell_words("helm template a chart --set 'b={x,y}' --set \"c=d e\""),
        ["helm", "template", "a", "chart", "--set", "b={x,y}", "--set", "c=d e"]
    );
}
