//! `berth status`: a folder's running `berth up`, or with `--context` a deploy set on a cluster;
//! both as rows of the same view (the one health mapping), as a table or `-o json`.

use crate::cluster::SetFlags;
use crate::render::RenderFlags;
use berth_core::view::EnvironmentView;
use berth_kube::show;
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

fn load(dir: &Path) -> anyhow::Result<berth_local::Status> {
    let not_running = || anyhow::anyhow!(crate::control::not_running(dir));
    berth_local::running_status(dir).ok_or_else(not_running)?;
    let text = std::fs::read_to_string(berth_local::state_file(dir)).map_err(|_| not_running())?;
    serde_json::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "cannot read {}: {e}",
            berth_local::state_file(dir).display()
        )
    })
}

pub fn status(args: StatusArgs) -> anyhow::Result<()> {
    if args.cluster.given() {
        return cluster_status(args.dir, args.cluster, args.output);
    }
    let dir = args.dir.unwrap_or_else(|| PathBuf::from("."));
    let s = load(&dir)?;
    let view = berth_local::backend::view(&s, &dir);
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

fn print_local(out: &mut impl Write, view: &EnvironmentView) {
    let _ = writeln!(
        out,
        "{:<20} {:<12} {:>7}  {:<12} {:>8}  DESCRIPTION",
        "NAME", "KIND", "READY", "STATUS", "RESTARTS"
    );
    for s in &view.services {
        let restarts: u32 = s.replicas.iter().map(|r| r.restarts).sum();
        let (word, long) = s.short_status();
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

/// `berth status [DIR] --context C`: the set's workloads on the cluster.
pub fn cluster_status(dir: Option<PathBuf>, flags: SetFlags, output: Format) -> anyhow::Result<()> {
    crate::cluster::runtime()?.block_on(async {
        let cluster = flags.cluster.connect().await?;
        let set = match &dir {
            Some(dir) => {
                let rf = RenderFlags::folder(dir, None, flags.namespace.clone());
                crate::cluster::set_of(&rf, &flags.cluster)?
            }
            None => crate::cluster::resolve_set(&cluster, &flags).await?,
        };
        let report = berth_kube::status::status(&cluster.client, &cluster.context, &set)
            .await
            .map_err(|e| cluster.locate(e))?;
        let mut out = anstream::stdout();
        if output == Format::Json {
            let _ = writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&report).unwrap_or_default()
            );
            return Ok(());
        }
        let _ = write!(out, "{}", show::status_text(&report, &cluster.context));
        Ok(())
    })
}
