//! `berth diff DIR [REF [REF2]]`: the folder or chart rendered at a git ref (default `HEAD`) and
//! as it is in the working tree (or at a second ref), compared object by object; no cluster.
//! Exit codes as `diff`'s: 0 the same, 1 different, 2 trouble.

use crate::render::RenderFlags;
use berth_core::view::Modes;
use berth_kube::diff::ObjectDiff;
use berth_render::Target;
use clap::{Args, ValueEnum};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

#[derive(Args, Debug)]
pub struct DiffArgs {
    #[command(flatten)]
    pub(crate) flags: RenderFlags,
    /// The git ref to compare from (default HEAD), and optionally the one to compare to
    /// (default: the working tree).
    #[arg(value_name = "REF", num_args = 0..=2)]
    refs: Vec<String>,
    /// Output: a unified diff per object, a Markdown block for a pull request, or JSON.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    output: DiffFormat,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum DiffFormat {
    Text,
    Markdown,
    Json,
}

pub fn run(args: DiffArgs) -> ExitCode {
    match compare(&args) {
        Ok(diffs) => {
            let mut out = anstream::stdout();
            let _ = write!(out, "{}", shown(&diffs, &args));
            ExitCode::from(u8::from(!diffs.is_empty()))
        }
        Err(e) => {
            let _ = writeln!(anstream::stderr(), "error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// The objects that differ between the two sides.
fn compare(args: &DiffArgs) -> anyhow::Result<Vec<ObjectDiff>> {
    let from = args.refs.first().map_or("HEAD", String::as_str);
    let old_tree = checkout(&args.flags, from)?;
    let old = render(&args.flags, Some(&old_tree))?;
    let (new, to) = match args.refs.get(1) {
        Some(r) => {
            let tree = checkout(&args.flags, r)?;
            (render(&args.flags, Some(&tree))?, r.as_str())
        }
        None => (render(&args.flags, None)?, "working tree"),
    };
    Ok(berth_kube::diff::between(&old, &new, (from, to)))
}

/// A ref's copy of the repository's files the render reads: the folder or chart, and the
/// values files inside the repository.
struct Tree {
    dir: tempfile::TempDir,
    top: PathBuf,
}

impl Tree {
    /// `path` (of the working tree) as it is in this copy, if it is inside the repository.
    fn at(&self, path: &Path) -> Option<PathBuf> {
        let abs = std::path::absolute(path).ok()?;
        let rel = abs.strip_prefix(&self.top).ok()?;
        Some(self.dir.path().join(rel))
    }
}

fn git(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("git").arg("-C").arg(dir).args(args).output()?;
    anyhow::ensure!(
        out.status.success(),
        "git {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The folder (and its values files) as they are at `reference`, extracted by `git archive`.
fn checkout(flags: &RenderFlags, reference: &str) -> anyhow::Result<Tree> {
    let dir = std::path::absolute(&flags.dir)?;
    let base = if dir.is_dir() {
        dir.clone()
    } else {
        dir.parent().unwrap_or(&dir).to_path_buf()
    };
    let top = PathBuf::from(git(&base, &["rev-parse", "--show-toplevel"]).map_err(|e| {
        anyhow::anyhow!(
            "{} is not in a git repository ({e})\n  = help: berth diff compares git refs",
            flags.dir.display()
        )
    })?);
    let top = std::fs::canonicalize(&top)?;
    git(
        &top,
        &["rev-parse", "--verify", &format!("{reference}^{{commit}}")],
    )
    .map_err(|e| anyhow::anyhow!("no such git ref {reference:?} ({e})"))?;
    let tree = Tree {
        dir: tempfile::tempdir()?,
        top: top.clone(),
    };
    let mut paths = vec![std::fs::canonicalize(&dir)?];
    paths.extend(
        flags
            .value_files
            .iter()
            .filter_map(|f| std::fs::canonicalize(f).ok()),
    );
    let rel: Vec<String> = paths
        .iter()
        .filter_map(|p| p.strip_prefix(&top).ok())
        .map(|p| p.display().to_string())
        .map(|p| if p.is_empty() { ".".into() } else { p })
        .collect();
    let archive = Command::new("git")
        .arg("-C")
        .arg(&top)
        .args(["archive", "--format=tar", reference, "--"])
        .args(&rel)
        .stdout(Stdio::piped())
        .spawn()?;
    let status = Command::new("tar")
        .arg("-x")
        .arg("-C")
        .arg(tree.dir.path())
        .stdin(archive.stdout.expect("piped"))
        .status()?;
    anyhow::ensure!(
        status.success(),
        "cannot extract {reference} (git archive | tar -x)"
    );
    Ok(tree)
}

/// The objects the flags render, from the working tree or a ref's copy; as for a cluster (a
/// chart's CRDs and hooks included).
fn render(flags: &RenderFlags, tree: Option<&Tree>) -> anyhow::Result<Vec<serde_json::Value>> {
    let mut request = flags.request();
    if let Some(t) = tree {
        let Some(dir) = t.at(&std::fs::canonicalize(&flags.dir)?) else {
            anyhow::bail!("{} is outside the repository", flags.dir.display());
        };
        anyhow::ensure!(
            dir.exists(),
            "{} does not exist at that ref",
            flags.dir.display()
        );
        request.dir = dir;
        let files = request.value_files.iter();
        request.value_files = files
            .map(|f| {
                std::fs::canonicalize(f)
                    .ok()
                    .and_then(|c| t.at(&c))
                    .unwrap_or(f.clone())
            })
            .collect();
    }
    let out = request
        .render(&Modes::default(), &Target::Cluster(None))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(out.rendered.objects.into_iter().map(|o| o.body).collect())
}

fn shown(diffs: &[ObjectDiff], args: &DiffArgs) -> String {
    match args.output {
        DiffFormat::Json => {
            serde_json::to_string_pretty(&serde_json::json!({ "changes": diffs })).unwrap() + "\n"
        }
        DiffFormat::Text => diffs.iter().map(|d| d.diff.clone()).collect(),
        DiffFormat::Markdown => markdown(diffs),
    }
}

/// A compact block for a pull-request comment: a table of the objects, then each one's diff.
fn markdown(diffs: &[ObjectDiff]) -> String {
    if diffs.is_empty() {
        return "No change to the rendered objects.\n".into();
    }
    let mut s = format!(
        "**{} object{} changed**\n\n| object | change |\n|---|---|\n",
        diffs.len(),
        if diffs.len() == 1 { "" } else { "s" }
    );
    for d in diffs {
        s.push_str(&format!("| `{}` | {} |\n", d.object, d.change));
    }
    for d in diffs {
        s.push_str(&format!(
            "\n<details><summary><code>{}</code> ({})</summary>\n\n```diff\n{}```\n\n</details>\n",
            d.object, d.change, d.diff
        ));
    }
    s
}
