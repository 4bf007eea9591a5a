//! The entry points the fuzz targets drive, one per kind of input berth reads: template source,
//! values, chart archives and deploy folders. Each takes arbitrary bytes and must return
//! (an error is fine); a panic, an abort, a stack overflow or a hang is a finding.
//!
//! Shared, by `#[path]`, between the fuzz targets (`fuzz/fuzz_targets/`) and the test that
//! replays every finding kept in `fuzz/regressions/` (`crates/berth/tests/fuzz_regressions.rs`),
//! so a case found once is run by `cargo test` for good.

use std::path::Path;

/// The fuzz targets skip inputs larger than this: they look for crashes, not for slow big
/// inputs (kept findings may be larger: they are replayed whole).
pub const MAX_INPUT: usize = 16 * 1024;

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// Template source, parsed and executed against a small, fixed set of values.
pub fn template(data: &[u8]) {
    let data = text(data);
    let values = serde_json::json!({
        "Values": {"a": 1, "b": "two", "c": [1, 2, {"d": null}], "e": {"f": true}},
        "Release": {"Name": "r", "Namespace": "ns"},
        "Variables": {"x": "{{ .Values.a }}"},
    });
    let mut t = berth_template::Templates::new();
    if t.parse("fuzz", &data).is_ok() {
        let _ = t.execute("fuzz", &berth_template::Value::from_json(&values));
    }
}

/// A values file (YAML), read as `helm` and `berth render` read them, then rendered through.
pub fn values(data: &[u8]) {
    let data = text(data);
    if let Ok(values) = berth_chart::read_values(&data, "values.yaml") {
        let v = berth_template::Value::from_json(&serde_json::Value::Object(values));
        let _ = berth_template::render("v", "{{ toYaml . }}{{ toJson . }}", &v);
    }
}

/// A chart archive (`.tgz` bytes), loaded and rendered.
pub fn chart_archive(data: &[u8]) {
    if let Ok(chart) = berth_chart::Chart::from_archive(data, "fuzz.tgz") {
        let _ = berth_chart::render_chart(chart, &berth_chart::Options::default());
    }
}

/// A deploy folder: the input is split into files at lines `--- FILE name`, written into a
/// fresh folder and rendered as `berth render` renders it.
pub fn folder(data: &[u8]) {
    let data = text(data);
    let Ok(dir) = tempfile::tempdir() else { return };
    if write_folder(dir.path(), &data).is_some() {
        let _ = berth_manifest::DeployFolder::render_dir(dir.path(), &Default::default());
    }
}

fn write_folder(dir: &Path, data: &str) -> Option<()> {
    let mut name = String::from("deploy.yaml");
    let mut body = String::new();
    let mut files = Vec::new();
    for line in data.split_inclusive('\n') {
        match line.strip_prefix("--- FILE ") {
            Some(next) => {
                files.push((std::mem::take(&mut name), std::mem::take(&mut body)));
                name = next.trim().to_string();
            }
            None => body.push_str(line),
        }
    }
    files.push((name, body));
    for (name, body) in files {
        // Only plain names inside the folder: the fuzzer must not write elsewhere.
        let plain = !name.is_empty()
            && name.len() < 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            && !name.starts_with('.');
        if plain {
            std::fs::write(dir.join(name), body).ok()?;
        }
    }
    Some(())
}
