//! Every input the fuzz targets (`fuzz/`) or people ever found to crash berth, kept in
//! `fuzz/regressions/<target>/`, replayed through the same entry points the fuzzers drive
//! (issue 23). A panic, an abort or a stack overflow here fails the test binary.

#[path = "../../../fuzz/src/entries.rs"]
#[allow(dead_code)] // MAX_INPUT is the fuzz targets' own: kept findings are replayed whole.
mod entries;

use std::path::Path;

fn replay(target: &str, entry: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/regressions")
        .join(target);
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no cases in {}", dir.display());
    for case in cases {
        let data = std::fs::read(&case).unwrap();
        // On a thread of its own with the default stack, as a library caller would run it.
        let name = case.display().to_string();
        // Named before it runs: an abort (a stack overflow) prints no test result.
        eprintln!("replaying {name}");
        let run = std::thread::spawn(move || entry(&data));
        assert!(run.join().is_ok(), "{name} panicked");
    }
}

#[test]
fn template_sources_found_by_fuzzing_stay_harmless() {
    replay("template", entries::template);
}

#[test]
fn values_found_by_fuzzing_stay_harmless() {
    replay("values", entries::values);
}

#[test]
fn chart_archives_found_by_fuzzing_stay_harmless() {
    replay("chart_archive", entries::chart_archive);
}

#[test]
fn folders_found_by_fuzzing_stay_harmless() {
    replay("folder", entries::folder);
}
