//! `berth status`: a folder's running `berth up`, or with `--context` a deploy set on a cluster;
//! both as rows of the same view (the one health mapping), as a table or `-o json`.

use crate::cluster::SetFlags;
use crate::render::RenderFlags;
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
    (s.health.as_str().replace('-', " "), Some(&s.status))
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
        print_status(&mut out, &cluster, &report);
        Ok(())
    })
}

fn print_status(
    out: &mut impl Write,
    cluster: &berth_kube::Cluster,
    report: &berth_kube::status::StatusReport,
) {
    let revision = report
        .revision
        .as_ref()
        .map(|r| {
            format!(
                "revision {} ({})",
                r.number,
                r.time.chars().take(19).collect::<String>()
            )
        })
        .unwrap_or_else(|| "no deployed revision".into());
    let _ = writeln!(
        out,
        "deploy set {} in namespace {} (context {}), {revision}",
        report.set, report.namespace, cluster.context
    );
    let mut rows = vec![[
        "NAME",
        "DESIRED/READY/AVAIL",
        "STATUS",
        "IMAGE",
        "AGE",
        "DESCRIPTION",
    ]
    .map(String::from)];
    let mut notes = Vec::new();
    for w in &report.workloads {
        let v = &w.view;
        let (word, long) = short_status(v);
        if let Some(long) = long {
            notes.push(format!("{}: {long}", v.name));
        }
        let images: Vec<&str> = v
            .containers
            .iter()
            .filter_map(|c| c.image.as_deref())
            .collect();
        rows.push([
            format!("{}/{}", v.kind.as_str().to_lowercase(), v.name),
            format!("{}/{}/{}", v.desired, v.ready, v.available),
            word,
            images.join(","),
            age(&w.created),
            v.description.clone().unwrap_or_default(),
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    for n in notes {
        let _ = writeln!(out, "  └ {n}");
    }
}

fn age(created: &str) -> String {
    let Ok(t) = created.parse::<berth_kube::jiff::Timestamp>() else {
        return "-".into();
    };
    let secs = berth_kube::jiff::Timestamp::now().as_second() - t.as_second();
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}
