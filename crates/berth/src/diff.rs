//! `berth diff DIR [REF [REF2]]`: the folder or chart rendered at a git ref (default `HEAD`) and
//! as it is in the working tree (or at a second ref), compared object by object; no cluster.
//! Exit codes as `diff`'s: 0 the same, 1 different, 2 trouble.

use crate::render::RenderFlags;
use berth_core::view::Modes;
use berth_kube::diff::ObjectDiff;
use berth_render::git::at_ref;
use berth_render::Target;
use clap::{Args, ValueEnum};
use std::io::Write;
use std::process::ExitCode;

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
    let old = render(&args.flags, Some(from))?;
    let to = args.refs.get(1).map(String::as_str);
    let new = render(&args.flags, to)?;
    let to = to.unwrap_or("working tree");
    Ok(berth_kube::diff::between(&old, &new, (from, to)))
}

/// The objects the request renders (at `reference`, or from the working tree); as for a
/// cluster (a chart's CRDs and hooks included).
fn render(flags: &RenderFlags, reference: Option<&str>) -> anyhow::Result<Vec<serde_json::Value>> {
    let request = flags.request();
    let (request, _tree) = match reference {
        Some(r) => {
            let (request, tree) = at_ref(&request, r)?;
            (request, Some(tree))
        }
        None => (request, None),
    };
    let out = request.render(&Modes::default(), &Target::Cluster(None))?;
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
