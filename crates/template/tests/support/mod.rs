//! Shared by the differential tests and the render benchmark: corpus escapes and the Go
//! reference renderer.
// Each includer uses a different part of this module.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Corpus lines escape `\n`, `\t`, `\r` and `\\`; any other backslash is kept for Go to read.
pub fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('\\') => out.push('\\'),
            Some(o) => {
                out.push('\\');
                out.push(o);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// The Go reference renderer: `BERTH_GORENDER`, or built from tools/gorender with `go` on PATH.
/// A relative `BERTH_GORENDER` is taken from the repository root.
pub fn gorender() -> Option<PathBuf> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    if let Ok(p) = std::env::var("BERTH_GORENDER") {
        return Some(repo.join(p));
    }
    let out = repo.join("target/gorender");
    let ok = Command::new("go")
        .args(["build", "-o"])
        .arg(&out)
        .arg(".")
        .current_dir(repo.join("tools/gorender"))
        .env("GOTOOLCHAIN", "local")
        .env("GOPROXY", "off")
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    ok.then_some(out)
}
