//! Screenshots of the browser tests: taken into a fresh folder, so that one left by an earlier
//! run cannot stand in for one this run failed to take, checked to be PNG images, then kept in
//! `target/screenshots` for the docs.

use std::path::Path;

/// Checks that `names` were taken into `fresh` as PNG images and copies them to
/// `target/screenshots`.
pub fn check_and_keep(repo: &Path, fresh: &Path, names: &[&str]) {
    let kept = repo.join("target/screenshots");
    std::fs::create_dir_all(&kept).unwrap();
    for name in names {
        let shot = fresh.join(name);
        let bytes = std::fs::read(&shot).unwrap_or_else(|e| panic!("screenshot {name}: {e}"));
        assert!(
            bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
            "{name} is not a PNG image"
        );
        std::fs::copy(&shot, kept.join(name)).unwrap();
    }
}
