//! `berth sync`: the arguments of `berth_kube::sync`, its dashboard and its metrics endpoint.

use crate::cluster::ClusterFlags;
use crate::render::RenderFlags;
use berth_kube::applyset;
use berth_kube::sync::SyncOptions;
use clap::Args;
use std::time::Duration;

#[derive(Args, Debug)]
pub struct SyncArgs {
    #[command(flatten)]
    pub(crate) render: RenderFlags,
    #[command(flatten)]
    cluster: ClusterFlags,
    /// Time between syncs.
    #[arg(long, default_value = "30s", value_parser = crate::cluster::parse_duration)]
    interval: Duration,
    /// Fetch this branch and fast-forward the folder's repository to it before each sync.
    #[arg(long, value_name = "BRANCH")]
    git_branch: Option<String>,
    /// How long to wait for workloads after an apply.
    #[arg(long, default_value = "5m", value_parser = crate::cluster::parse_duration)]
    timeout: Duration,
    /// Pause the set's sync (it keeps reporting drift, applies nothing) and exit.
    #[arg(long, conflicts_with = "resume")]
    pause: bool,
    /// Resume the set's sync and exit.
    #[arg(long)]
    resume: bool,
    /// Serve the dashboard, the API and /metrics here.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7700")]
    listen: std::net::SocketAddr,
    /// Also serve /metrics alone here (for a Prometheus scraper).
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<std::net::SocketAddr>,
    #[command(flatten)]
    notify: crate::up::NotifyFlags,
}

/// A sync's steps, as they come: to the log, one line each.
async fn log(mut events: tokio::sync::mpsc::UnboundedReceiver<berth_kube::Progress>) {
    use berth_kube::Progress;
    while let Some(event) = events.recv().await {
        match event {
            Progress::Plan(plan) if plan.has_changes() => {
                print!("{}", berth_kube::show::plan_text(&plan, ""))
            }
            Progress::Step(message) => println!("sync: {message}"),
            Progress::Plan(_) | Progress::Rollout(_) => {}
        }
    }
}

async fn pause_or_resume(args: &SyncArgs) -> anyhow::Result<()> {
    let cluster = args.cluster.connect().await?;
    let set = crate::cluster::set_of(&args.render, &args.cluster)?;
    let value = args.pause.then_some("paused by hand (berth sync --pause)");
    berth_kube::apply::set_parent_annotation(&cluster.client, &set, applyset::SYNC_PAUSED, value)
        .await
        .map_err(|e| cluster.locate(e))?;
    println!(
        "sync of deploy set {} in namespace {} {}",
        set.name,
        set.namespace,
        if args.pause { "paused" } else { "resumed" }
    );
    Ok(())
}

pub fn sync(args: SyncArgs) -> anyhow::Result<()> {
    crate::cluster::runtime()?.block_on(async {
        if args.pause || args.resume {
            return pause_or_resume(&args).await;
        }
        berth_server::metrics::install();
        berth_core::events::describe();
        let (cluster, set, request, backend) =
            crate::kube_dashboard::backend(&args.render, &args.cluster).await?;
        let _server = crate::kube_dashboard::serve(backend.clone(), args.listen).await?;
        let _metrics = match args.metrics_listen {
            Some(addr) => {
                let (task, url) = berth_server::metrics::serve(backend.clone(), addr).await?;
                println!("metrics {url}");
                Some(task)
            }
            None => None,
        };
        println!(
            "syncing {} to deploy set {} in namespace {} (context {}) every {:?}",
            args.render.dir.display(),
            set.name,
            set.namespace,
            cluster.context,
            args.interval
        );
        let opts = SyncOptions {
            dir: args.render.dir.clone(),
            interval: args.interval,
            git_branch: args.git_branch.clone(),
            timeout: args.timeout,
        };
        let stop = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        let environment = format!("{} in namespace {}", set.name, set.namespace);
        args.notify.start(&environment, backend.timeline());
        let (reporter, events) = berth_kube::Reporter::channel();
        let logged = tokio::spawn(log(events));
        berth_kube::sync::run(&cluster, &set, &request, backend, &opts, &reporter, stop).await;
        drop(reporter);
        let _ = logged.await;
        Ok(())
    })
}
