//! A request as it was at a git ref: the folder or chart and the values files inside the
//! repository, extracted from `git archive` into a temporary folder (for `berth diff`).

use crate::Request;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Why a ref's files could not be had, said with what to do.
#[derive(Debug)]
pub struct GitError(pub String);

impl std::fmt::Display for GitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for GitError {}

fn fail<T>(m: impl Into<String>) -> Result<T, GitError> {
    Err(GitError(m.into()))
}

fn git(dir: &Path, args: &[&str]) -> Result<String, GitError> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(|e| GitError(format!("cannot run git: {e}")))?;
    if !out.status.success() {
        return fail(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// `request` with its folder and its values files (those inside the repository) as they are at
/// `reference`; the folder they were extracted into lives as long as the returned guard.
pub fn at_ref(
    request: &Request,
    reference: &str,
) -> Result<(Request, tempfile::TempDir), GitError> {
    let io = |e: std::io::Error| GitError(e.to_string());
    let dir = std::fs::canonicalize(&request.dir)
        .map_err(|e| GitError(format!("{}: {e}", request.dir.display())))?;
    let base = if dir.is_dir() {
        dir.clone()
    } else {
        dir.parent().unwrap_or(&dir).to_path_buf()
    };
    let top = git(&base, &["rev-parse", "--show-toplevel"]).map_err(|e| {
        GitError(format!(
            "{} is not in a git repository ({e})\n  = help: berth diff compares git refs",
            request.dir.display()
        ))
    })?;
    let top = std::fs::canonicalize(top).map_err(io)?;
    git(
        &top,
        &["rev-parse", "--verify", &format!("{reference}^{{commit}}")],
    )
    .map_err(|e| GitError(format!("no such git ref {reference:?} ({e})")))?;
    let inside = |p: &Path| -> Option<PathBuf> {
        let rel = std::fs::canonicalize(p)
            .ok()?
            .strip_prefix(&top)
            .ok()?
            .to_path_buf();
        Some(rel)
    };
    let Some(rel_dir) = inside(&dir) else {
        return fail(format!(
            "{} is outside the repository",
            request.dir.display()
        ));
    };
    let files: Vec<(PathBuf, Option<PathBuf>)> = request
        .value_files
        .iter()
        .map(|f| (f.clone(), inside(f)))
        .collect();
    let mut paths: Vec<String> = vec![rel_dir.display().to_string()];
    paths.extend(
        files
            .iter()
            .filter_map(|(_, r)| r.as_ref())
            .map(|r| r.display().to_string()),
    );
    let paths: Vec<String> = paths
        .into_iter()
        .map(|p| if p.is_empty() { ".".into() } else { p })
        .collect();
    let tree = tempfile::tempdir().map_err(io)?;
    extract(&top, reference, &paths, tree.path())?;
    let mut at = request.clone();
    at.dir = tree.path().join(&rel_dir);
    if !at.dir.exists() {
        return fail(format!(
            "{} does not exist at {reference}",
            request.dir.display()
        ));
    }
    at.value_files = files
        .into_iter()
        .map(|(f, rel)| rel.map_or(f, |r| tree.path().join(r)))
        .collect();
    Ok((at, tree))
}

/// `git archive REF -- PATHS | tar -x -C INTO`.
fn extract(top: &Path, reference: &str, paths: &[String], into: &Path) -> Result<(), GitError> {
    let io = |e: std::io::Error| GitError(format!("cannot extract {reference}: {e}"));
    let mut archive = Command::new("git")
        .arg("-C")
        .arg(top)
        .args(["archive", "--format=tar", reference, "--"])
        .args(paths)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(io)?;
    let status = Command::new("tar")
        .arg("-x")
        .arg("-C")
        .arg(into)
        .stdin(archive.stdout.take().expect("piped"))
        .status()
        .map_err(io)?;
    let archived = archive.wait().map_err(io)?;
    if !status.success() || !archived.success() {
        return fail(format!("cannot extract {reference} (git archive | tar -x)"));
    }
    Ok(())
}
