//! `berth dashboard DIR --context C`: the dashboard over a deploy set on a cluster
//! (`berth_kube::dashboard::KubeBackend`, served by `berth_server`).

use crate::cluster::ClusterFlags;
use crate::render::RenderFlags;
use berth_kube::dashboard::KubeBackend;
use clap::Args;
use std::sync::Arc;
use std::time::Duration;

#[derive(Args, Debug)]
pub struct DashboardArgs {
    #[command(flatten)]
    pub(crate) render: RenderFlags,
    #[command(flatten)]
    cluster: ClusterFlags,
    /// Where the dashboard and API listen; anything but loopback requires a token.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7700")]
    listen: std::net::SocketAddr,
    #[command(flatten)]
    notify: crate::up::NotifyFlags,
}

/// Serves a backend's dashboard at `listen` (a token beyond loopback) and prints its URL; the
/// cluster is read again every 2 s while it serves.
pub async fn serve(
    backend: Arc<KubeBackend>,
    listen: std::net::SocketAddr,
) -> anyhow::Result<berth_server::Server> {
    let token = berth_server::token_for(&listen)?;
    let server = berth_server::serve(backend.clone(), listen, token).await.map_err(|e| {
        anyhow::anyhow!("cannot start the dashboard on {listen}: {e}\n  = help: pass --listen with a free address")
    })?;
    println!("dashboard {}", server.url);
    backend.keep_polling(Duration::from_secs(2));
    Ok(server)
}

/// The backend of a folder's deploy set on the cluster, with the request its redeploys (and a
/// sync) render.
pub async fn backend(
    render: &RenderFlags,
    cluster_flags: &ClusterFlags,
) -> anyhow::Result<(
    berth_kube::Cluster,
    berth_kube::ApplySet,
    berth_kube::ClusterRequest,
    Arc<KubeBackend>,
)> {
    let cluster = cluster_flags.connect().await?;
    let set = crate::cluster::set_of(render, cluster_flags)?;
    let located = |e| anyhow::anyhow!("{}", cluster.locate(e));
    let request = crate::cluster::cluster_request(render, cluster_flags)
        .seen_by(&cluster.client)
        .await
        .map_err(located)?;
    let backend = KubeBackend::new(&cluster, &set, request.clone())
        .await
        .map_err(located)?;
    Ok((cluster, set, request, backend))
}

pub fn dashboard(args: DashboardArgs) -> anyhow::Result<()> {
    crate::cluster::runtime()?.block_on(async {
        berth_server::metrics::install();
        berth_core::events::describe();
        let (cluster, set, _, backend) = backend(&args.render, &args.cluster).await?;
        let _server = serve(backend.clone(), args.listen).await?;
        println!(
            "deploy set {} in namespace {} (context {}); Ctrl-C stops",
            set.name, set.namespace, cluster.context
        );
        let environment = format!("{} in namespace {}", set.name, set.namespace);
        args.notify.start(&environment, backend.timeline());
        let _ = tokio::signal::ctrl_c().await;
        Ok(())
    })
}
