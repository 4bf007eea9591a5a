//! `berth status`: a folder's running `berth up`, or with `--context` a deploy set on a cluster;
//! both as rows of the same view (the one health mapping), as a table or `-o json`.

use berth_core::view::{EnvironmentView, ServiceView};
use clap::{Args, ValueEnum};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// The deploy folder (default: the current folder; with --context, optional).
    dir: Option<PathBuf>,
    #[command(flatten)]
    cluster: crate::cluster::SetFlags,
    /// Output format (`json` is the dashboard API's view).
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    output: Format,
}

fn load(dir: &Path) -> Result<berth_local::Status, String> {
    let not_running = || crate::control::not_running(dir);
    berth_local::running_status(dir).ok_or_else(not_running)?;
    let text = std::fs::read_to_string(berth_local::state_file(dir)).map_err(|_| not_running())?;
    serde_json::from_str(&text).map_err(|e| {
        format!(
            "cannot read {}: {e}",
            berth_local::state_file(dir).display()
        )
    })
}

pub fn status(args: StatusArgs) -> Result<(), String> {
    if args.cluster.given() {
        return crate::cluster::status(args.dir, args.cluster, args.output);
    }
    let dir = args.dir.unwrap_or_else(|| PathBuf::from("."));
    let s = load(&dir)?;
    let view = berth_local::backend::view(&s, &dir, None);
    let mut out = anstream::stdout();
    if args.output == Format::Json {
        let _ = writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&view).unwrap_or_default()
        );
        return Ok(());
    }
    print_local(&mut out, &view);
    for svc in &s.services {
        let _ = writeln!(out, "service {:<18} {}", svc.name, svc.addresses.join(", "));
        for n in &svc.notes {
            let _ = writeln!(out, "{:<26} └ {n}", "");
        }
    }
    if let Some(url) = &s.ingress {
        let _ = writeln!(out, "ingress {url}");
    }
    Ok(())
}

/// The status in a table cell: the words when short, else the health (the words follow below).
pub fn short_status(s: &ServiceView) -> (String, Option<&str>) {
    if s.status.len() <= 14 && !s.status.contains(':') {
        return (s.status.clone(), None);
    }
    let word = serde_json::to_value(s.health)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    (word.replace('-', " "), Some(&s.status))
}

fn print_local(out: &mut impl Write, view: &EnvironmentView) {
    let _ = writeln!(
        out,
        "{:<20} {:<12} {:>7}  {:<12} {:>8}  DESCRIPTION",
        "NAME", "KIND", "READY", "STATUS", "RESTARTS"
    );
    for s in &view.services {
        let restarts: u32 = s.replicas.iter().map(|r| r.restarts).sum();
        let (word, long) = short_status(s);
        let _ = writeln!(
            out,
            "{:<20} {:<12} {:>7}  {:<12} {:>8}  {}",
            s.name,
            s.kind,
            format!("{}/{}", s.ready, s.desired),
            word,
            restarts,
            s.description.as_deref().unwrap_or_default()
        );
        let notes = long
            .into_iter()
            .chain(s.replicas.iter().filter_map(|r| r.message.as_deref()));
        for why in notes {
            let _ = writeln!(out, "{:<20} └ {why}", "");
        }
    }
    let _ = writeln!(out);
}
