//! `berth render`: the deploy folder as Kubernetes objects, without touching any cluster.

use berth_manifest::{DeployFolder, RenderOptions, Rendered};
use clap::{Args, ValueEnum};
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Flags shared by every command that renders a deploy folder.
#[derive(Args, Debug, Clone)]
pub struct RenderFlags {
    /// The deploy folder.
    pub dir: PathBuf,
    /// Environment: reads variables.<ENV>.yaml and sets .Environment.
    #[arg(short = 'e', long = "env", value_name = "ENV")]
    pub environment: Option<String>,
    /// Namespace for .Namespace (default: .Variables.namespace, else "default").
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// Set a variable: KEY=VALUE or KEY:VALUE; dotted keys nest (images.web=web:1.2).
    #[arg(short = 'v', long = "var", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Extra variables file, merged after variables.yaml and variables.<ENV>.yaml.
    #[arg(short = 'f', long = "values", value_name = "FILE")]
    pub value_files: Vec<PathBuf>,
}

impl RenderFlags {
    /// Loads and renders the folder.
    pub fn render(&self) -> Result<Rendered, berth_manifest::Error> {
        self.render_with_modes(Default::default())
    }

    /// Renders with `.Modes` set (workload -> container -> `image`|`source`).
    pub fn render_with_modes(
        &self,
        modes: serde_json::Map<String, serde_json::Value>,
    ) -> Result<Rendered, berth_manifest::Error> {
        let folder = DeployFolder::load(&self.dir)?;
        folder.render(&RenderOptions {
            environment: self.environment.clone(),
            namespace: self.namespace.clone(),
            value_files: self.value_files.clone(),
            set: self.set.clone(),
            modes,
        })
    }
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum Format {
    Yaml,
    Json,
}

#[derive(Args, Debug)]
pub struct RenderArgs {
    #[command(flatten)]
    flags: RenderFlags,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "yaml")]
    output: Format,
    /// Write one file per object (<kind>--<name>.yaml) into this folder instead of printing.
    #[arg(long, value_name = "OUT")]
    output_dir: Option<PathBuf>,
}

/// An error of the render command.
#[derive(Debug)]
pub enum RenderError {
    Manifest(berth_manifest::Error),
    Output(String),
}

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RenderError::Manifest(e) => write!(f, "{e}"),
            RenderError::Output(e) => write!(f, "{e}"),
        }
    }
}

/// The file that records which files `--output-dir` wrote, so stale ones can be removed.
const WRITTEN_LIST: &str = ".berth-rendered";

pub fn run(args: RenderArgs) -> Result<(), RenderError> {
    let rendered = args.flags.render().map_err(RenderError::Manifest)?;
    if let Some(dir) = &args.output_dir {
        return write_dir(dir, &rendered)
            .map_err(|e| RenderError::Output(format!("cannot write to {}: {e}", dir.display())));
    }
    let text = match args.output {
        Format::Yaml => to_yaml_stream(&rendered),
        Format::Json => {
            let all: Vec<&serde_json::Value> = rendered.objects.iter().map(|o| &o.body).collect();
            let mut s = serde_json::to_string_pretty(&all).expect("JSON values serialize");
            s.push('\n');
            s
        }
    };
    let mut out = std::io::stdout().lock();
    let result = match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.map_err(|e| RenderError::Output(format!("cannot write output: {e}"))),
    };
    // The process ends next; freeing thousands of small allocations one by one only costs time.
    std::mem::forget(rendered);
    result
}

/// Every object as one multi-document YAML stream, each preceded by its source.
pub fn to_yaml_stream(r: &Rendered) -> String {
    let mut s = String::new();
    for o in &r.objects {
        s.push_str("---\n# Source: ");
        s.push_str(&o.origin.file);
        s.push('\n');
        s.push_str(&o.text);
        s.push('\n');
    }
    s
}

fn file_name(o: &berth_manifest::Object, clash: bool) -> String {
    let kind = o.oref.group_kind.kind.to_lowercase();
    match (&o.oref.namespace, clash) {
        (Some(ns), true) => format!("{kind}--{}--{ns}.yaml", o.oref.name),
        _ => format!("{kind}--{}.yaml", o.oref.name),
    }
}

fn write_dir(dir: &Path, r: &Rendered) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut counts = std::collections::HashMap::new();
    for o in &r.objects {
        *counts.entry(file_name(o, false)).or_insert(0) += 1;
    }
    let mut written = Vec::new();
    for o in &r.objects {
        let name = file_name(o, counts[&file_name(o, false)] > 1);
        std::fs::write(
            dir.join(&name),
            format!("# Source: {}\n{}\n", o.origin.file, o.text),
        )?;
        written.push(name);
    }
    let list = dir.join(WRITTEN_LIST);
    if let Ok(previous) = std::fs::read_to_string(&list) {
        for old in previous.lines() {
            let stale = !written.iter().any(|w| w == old);
            let ours = old.ends_with(".yaml") && !old.contains('/') && !old.starts_with('.');
            if stale && ours {
                let _ = std::fs::remove_file(dir.join(old));
            }
        }
    }
    std::fs::write(list, written.join("\n") + "\n")
}
