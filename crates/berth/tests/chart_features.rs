//! berth's own charts (`crates/chart/tests/charts/*`), each exercising chart features (subchart
//! values, globals, aliases, conditions, tags, import-values, library charts, archives in
//! `charts/`, `.Files`, `.helmignore`, `crds/`, tests, NOTES.txt, `--set` and its family,
//! `--show-only`, `--kube-version`, `--api-versions`, schemas), rendered by real helm and by
//! `berth render` with the same arguments (`cases.txt`) and compared object by object. The
//! argument lines of `fails.txt` are ones helm refuses: berth must refuse them too.
//!
//! A folder `NAME-src` inside a chart is packaged by helm into its `charts/` first (an archived
//! subchart); a folder `NAME-tar` is archived there as it is, with `tar` (as tools other than
//! `helm package` do: its `.helmignore` and what that names come along). Needs helm:
//! `BERTH_HELM` (./scripts/test.sh sets it).

use assert_cmd::Command;
use chart_support::{berth_args, compare};
use std::path::{Path, PathBuf};

mod chart_support;

fn helm() -> PathBuf {
    let p = std::env::var("BERTH_HELM").expect("BERTH_HELM: ./scripts/test.sh sets it");
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(p)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// A copy of the chart with its `*-src` folders packaged into `charts/` by helm, its `*-tar`
/// folders by tar.
fn prepared(chart: &Path) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(chart, tmp.path());
    let pack = |program: &Path, args: &[&str]| {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let out = run(tmp.path(), program, &args);
        assert!(
            out.status.success(),
            "{} {args:?}: {}",
            program.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    for e in std::fs::read_dir(tmp.path()).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if !p.is_dir() {
            continue;
        }
        if let Some(sub) = name.strip_suffix("-tar") {
            pack(
                Path::new("tar"),
                &["czf", &format!("charts/{sub}.tgz"), &name],
            );
        } else if name.ends_with("-src") {
            pack(&helm(), &["package", &name, "-d", "charts"]);
        }
    }
    tmp
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| format!("helm template {l}"))
        .collect()
}

fn run(dir: &Path, program: &Path, args: &[String]) -> std::process::Output {
    std::process::Command::new(program)
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

#[test]
#[ignore = "needs helm: BERTH_HELM (./scripts/test.sh provides it)"]
fn own_charts_render_as_helm_does() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../chart/tests/charts");
    let berth = assert_cmd::cargo::cargo_bin("berth");
    let mut failures = Vec::new();
    let mut count = 0;
    for e in std::fs::read_dir(&root).unwrap() {
        let chart = e.unwrap().path();
        let dir = prepared(&chart);
        let name = chart.file_name().unwrap().to_string_lossy().to_string();
        for line in lines(&chart.join("cases.txt")) {
            count += 1;
            let helm_args: Vec<String> = chart_support::shell_words(&line)[1..].to_vec();
            let want = run(dir.path(), &helm(), &helm_args);
            assert!(
                want.status.success(),
                "{name}: helm refused `{line}`: {}",
                String::from_utf8_lossy(&want.stderr)
            );
            let got = run(dir.path(), &berth, &berth_args(&line));
            if !got.status.success() {
                failures.push(format!(
                    "{name}: `{line}`: berth failed: {}",
                    String::from_utf8_lossy(&got.stderr)
                ));
                continue;
            }
            let problems = compare(
                &String::from_utf8_lossy(&got.stdout),
                &String::from_utf8_lossy(&want.stdout),
                &[],
            );
            if !problems.is_empty() {
                failures.push(format!(
                    "{name}: `{line}`:\n    {}",
                    problems.join("\n    ")
                ));
            }
        }
        for line in lines(&chart.join("fails.txt")) {
            count += 1;
            let helm_args: Vec<String> = chart_support::shell_words(&line)[1..].to_vec();
            let want = run(dir.path(), &helm(), &helm_args);
            assert!(
                !want.status.success(),
                "{name}: helm accepts `{line}`, so it is no failing case"
            );
            let got = Command::cargo_bin("berth")
                .unwrap()
                .current_dir(dir.path())
                .args(berth_args(&line))
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&got.stderr);
            if got.status.success() {
                failures.push(format!(
                    "{name}: `{line}`: helm refuses it, berth rendered it"
                ));
            } else if !stderr.starts_with("error: ") {
                failures.push(format!("{name}: `{line}`: unclear error: {stderr}"));
            } else {
                let helm_err = String::from_utf8_lossy(&want.stderr);
                let missing = chart_support::missing_causes(&helm_err, &stderr);
                if !missing.is_empty() {
                    failures.push(format!(
                        "{name}: `{line}`: berth's error does not name {missing:?}:\nhelm: {helm_err}\nberth: {stderr}"
                    ));
                }
            }
        }
    }
    eprintln!(
        "own charts: {} of {count} runs match helm",
        count - failures.len()
    );
    assert!(count >= 5, "no cases found in {}", root.display());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
