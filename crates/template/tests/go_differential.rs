//! Differential test: every corpus case is rendered by Go's own text/template (tools/gorender)
//! and by berth; outputs must be byte-identical, and errors must be Go's, word for word (message, line, column and context).
//!
//! Needs the Go reference renderer: `BERTH_GORENDER=/path/to/gorender`, or `go` on PATH (it is
//! then built into target/). The README test command provides both; plain `cargo test` reports
//! the test as ignored.

use berth_template::{ErrorKind, Templates, Value};
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use support::{gorender, unescape};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

/// Loads `name<TAB>template` cases.
fn load_cases() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(corpus_dir().join("language.txt")).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (name, tmpl) = l.split_once('\t').unwrap_or((l, ""));
            (name.to_string(), unescape(tmpl))
        })
        .collect()
}

#[derive(serde::Deserialize, Debug)]
struct GoResult {
    name: String,
    ok: bool,
    out: String,
    err: String,
    phase: String,
}

/// The line number in a Go error ("template: NAME:LINE:..." ).
fn go_line(err: &str) -> Option<usize> {
    let rest = err.strip_prefix("template: ")?;
    let mut parts = rest.split(':');
    parts.next()?;
    parts.next()?.trim().parse().ok()
}

#[test]
#[ignore = "needs Go's text/template: BERTH_GORENDER or go on PATH (./scripts/test.sh provides it)"]
fn corpus_matches_go() {
    let bin = gorender().expect(
        "the Go reference renderer: set BERTH_GORENDER or put go on PATH (./scripts/test.sh does)",
    );
    let cases = load_cases();
    assert!(
        cases.len() >= 300,
        "corpus must hold at least 300 cases, has {}",
        cases.len()
    );
    let data_text = std::fs::read_to_string(corpus_dir().join("data.json")).unwrap();
    let data_json: serde_json::Value = serde_json::from_str(&data_text).unwrap();
    let go_cases: Vec<serde_json::Value> = cases
        .iter()
        .map(|(n, t)| serde_json::json!({"name": n, "main": n, "templates": {n: t}, "data": data_json}))
        .collect();
    let tmp = std::env::temp_dir().join(format!("berth-corpus-{}.json", std::process::id()));
    std::fs::write(&tmp, serde_json::to_string(&go_cases).unwrap()).unwrap();
    let out = Command::new(&bin)
        .arg("cases")
        .arg(&tmp)
        .output()
        .expect("run gorender");
    let _ = std::fs::remove_file(&tmp);
    assert!(
        out.status.success(),
        "gorender failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Vec<GoResult> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(results.len(), cases.len());

    let data = Value::from_json(&data_json);
    let mut failures = Vec::new();
    let (mut ok_cases, mut err_cases) = (0, 0);
    for ((name, tmpl), go) in cases.iter().zip(&results) {
        assert_eq!(name, &go.name);
        if std::env::var_os("BERTH_CORPUS_TRACE").is_some() {
            eprintln!("case {name}");
        }
        let mut set = Templates::new();
        let berth = match set.parse(name, tmpl) {
            Ok(()) => set.execute(name, &data),
            Err(e) => Err(e),
        };
        match (&berth, go.ok) {
            (Ok(out), true) => {
                ok_cases += 1;
                if *out != go.out {
                    failures.push(format!(
                        "{name}: output differs\n  go:    {:?}\n  berth: {:?}",
                        go.out, out
                    ));
                }
            }
            (Err(e), false) => {
                err_cases += 1;
                let want_kind = if go.phase == "parse" {
                    ErrorKind::Parse
                } else {
                    ErrorKind::Exec
                };
                let line = go_line(&go.err);
                if e.kind != want_kind || line != Some(e.line) || e.go_message() != go.err {
                    failures.push(format!(
                        "{name}: error differs\n  go:    [{}] {}\n  berth: [{:?}] {}",
                        go.phase,
                        go.err,
                        e.kind,
                        e.go_message()
                    ));
                }
            }
            (Ok(out), false) => failures.push(format!(
                "{name}: go failed but berth rendered\n  go:    {}\n  berth: {:?}",
                go.err, out
            )),
            (Err(e), true) => failures.push(format!(
                "{name}: berth failed but go rendered\n  go:    {:?}\n  berth: {}",
                go.out,
                e.go_message()
            )),
        }
    }
    eprintln!(
        "go differential: {} cases ({ok_cases} rendered, {err_cases} errors), {} mismatches",
        cases.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from Go:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
