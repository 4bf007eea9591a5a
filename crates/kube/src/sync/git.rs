//! The folder's git repository, as `berth sync` moves it: fetch and fast-forward only, never
//! discarding a local commit.

use crate::{Error, ErrorKind};
use std::path::Path;

fn failed(message: String) -> Error {
    Error::new(ErrorKind::Git, message)
}

/// What `git ARGS` printed, trimmed; an error with its stderr when it fails.
fn git(dir: &Path, args: &[&str]) -> Result<String, Error> {
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| Error::new(ErrorKind::Git, "cannot run git").caused_by(e))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(failed(format!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Fetches `branch` and fast-forwards to it; returns the commit now checked out.
pub fn fast_forward(dir: &Path, branch: &str) -> Result<String, Error> {
    let current = git(dir, &["rev-parse", "--abbrev-ref", "HEAD"])?;
    if current != branch {
        return Err(failed(format!(
            "the folder's repository is on branch {current}, not {branch}"
        ))
        .hint(format!(
            "check out {branch}, or pass --git-branch {current}"
        )));
    }
    git(dir, &["fetch", "--quiet"])?;
    let upstream = git(dir, &["rev-parse", "--abbrev-ref", "@{u}"]).map_err(|_| {
        failed(format!("branch {branch} has no upstream to fetch"))
            .hint(format!("git branch --set-upstream-to origin/{branch}"))
    })?;
    let head = git(dir, &["rev-parse", "HEAD"])?;
    let theirs = git(dir, &["rev-parse", "@{u}"])?;
    if head == theirs {
        return Ok(head);
    }
    let behind = git(dir, &["merge-base", "--is-ancestor", "HEAD", "@{u}"]).is_ok();
    let ahead = git(dir, &["merge-base", "--is-ancestor", "@{u}", "HEAD"]).is_ok();
    match (behind, ahead) {
        (true, _) => {
            git(dir, &["merge", "--ff-only", "--quiet", "@{u}"])?;
            git(dir, &["rev-parse", "HEAD"])
        }
        (false, true) => Ok(head),
        (false, false) => Err(failed(format!(
            "{branch} has diverged from {upstream}: local commits are not in it"
        ))
        .hint(
            "berth never discards local commits; rebase or reset the folder's repository by hand",
        )),
    }
}
