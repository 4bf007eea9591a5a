//! `berth sync`: keep a cluster equal to a folder (and its git branch), by itself.

use crate::cluster::ClusterFlags;
use crate::kube_dashboard::KubeBackend;
use crate::render::RenderFlags;
use berth_core::view::SyncView;
use berth_kube::{applyset, ApplySet, Cluster, DeployOptions, RevisionStatus};
use clap::Args;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

#[derive(Args, Debug)]
pub struct SyncArgs {
    #[command(flatten)]
    render: RenderFlags,
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
}

fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(format!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Fetches `branch` and fast-forwards to it; never discards local commits.
fn fast_forward(dir: &Path, branch: &str) -> Result<String, String> {
    let current = git(dir, &["rev-parse", "--abbrev-ref", "HEAD"])?;
    if current != branch {
        return Err(format!(
            "the folder's repository is on branch {current}, not {branch}\n  = help: check out {branch}, or pass --git-branch {current}"
        ));
    }
    git(dir, &["fetch", "--quiet"])?;
    let upstream = git(dir, &["rev-parse", "--abbrev-ref", "@{u}"]).map_err(|_| {
        format!("branch {branch} has no upstream to fetch\n  = help: git branch --set-upstream-to origin/{branch}")
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
        (false, false) => Err(format!(
            "{branch} has diverged from {upstream}: local commits are not in it\n  = help: berth never discards local commits; rebase or reset the folder's repository by hand"
        )),
    }
}

/// One sync: fetch, render, plan, apply (unless paused), wait.
async fn once(
    args: &SyncArgs,
    cluster: &Cluster,
    set: &ApplySet,
    state: &mut SyncView,
) -> Result<(), String> {
    if let Some(branch) = &args.git_branch {
        state.commit = Some(fast_forward(&args.render.dir, branch)?);
    } else {
        state.commit = berth_kube::release::git_commit(&args.render.dir);
    }
    let r = crate::cluster::render_for_sync(&args.render, &args.cluster, cluster).await?;
    let parent_paused = paused_reason(cluster, set).await?;
    state.paused = parent_paused.is_some();
    state.paused_reason = parent_paused;
    let resolver = berth_kube::resources::Resolver::default();
    let plan = berth_kube::plan::plan(
        &cluster.client,
        &resolver,
        set,
        &r.manifests,
        berth_kube::PlanOptions {
            force_conflicts: true,
            prune: true,
        },
    )
    .await
    .map_err(|e| e.to_string())?;
    let pending = plan
        .changes
        .iter()
        .filter(|c| c.action != berth_kube::ChangeKind::Unchanged)
        .count();
    let releases = berth_kube::Releases::new(&cluster.client, set);
    let current = releases
        .list()
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .rev()
        .find(|r| r.status == RevisionStatus::Deployed);
    state.revision = current.as_ref().map(|c| c.number);
    if pending == 0 {
        state.pending = 0;
        state.last_result = Some("in sync".into());
        return Ok(());
    }
    // The same objects as the deployed revision, yet changes: someone edited the cluster.
    if let Some(c) = &current {
        let deployed = releases.load(c.number).await.map_err(|e| e.to_string())?;
        let same = deployed.len() == r.manifests.len()
            && deployed
                .iter()
                .zip(&r.manifests)
                .all(|(a, b)| a.body == b.body);
        if same {
            crate::metrics::drift();
        }
    }
    if state.paused {
        state.pending = pending;
        state.last_result = Some(format!("{pending} changes pending (paused)"));
        return Ok(());
    }
    let opts = DeployOptions {
        apply: berth_kube::ApplyOptions {
            force_conflicts: true,
            ..Default::default()
        },
        wait: Some(args.timeout),
        atomic: false,
        lock_timeout: Duration::from_secs(60),
        dry_run: false,
    };
    let outcome = crate::cluster::deploy_measured(cluster, &r, &opts, &Log).await?;
    state.pending = 0;
    state.revision = outcome.current;
    state.last_result = Some(match outcome.revision {
        Some(rev) => format!("applied revision {} ({} changes)", rev.number, pending),
        None => format!("applied {pending} changes"),
    });
    Ok(())
}

/// A sync's steps go to the log, one line each.
struct Log;

impl berth_kube::Ui for Log {
    fn plan(&self, plan: &berth_kube::Plan) {
        if plan.has_changes() {
            print!("{}", crate::cluster::plan_text(plan, ""));
        }
    }
    fn info(&self, message: String) {
        println!("sync: {message}");
    }
    fn rollout(&self, _: &[berth_kube::Rollout]) {}
}

async fn paused_reason(cluster: &Cluster, set: &ApplySet) -> Result<Option<String>, String> {
    use k8s_openapi::api::core::v1::Secret;
    let api: kube::Api<Secret> = kube::Api::namespaced(cluster.client.clone(), &set.namespace);
    let parent = api
        .get_opt(&set.parent_name())
        .await
        .map_err(|e| e.to_string())?;
    Ok(parent
        .and_then(|p| p.metadata.annotations)
        .and_then(|a| a.get(applyset::SYNC_PAUSED).cloned()))
}

pub fn sync(args: SyncArgs) -> Result<(), String> {
    crate::cluster::runtime()?.block_on(async {
        let cluster = args.cluster.connect_pub().await?;
        let set = crate::cluster::set_of(&args.render, &args.cluster)?;
        if args.pause || args.resume {
            let value = args.pause.then_some("paused by hand (berth sync --pause)");
            berth_kube::apply::set_parent_annotation(
                &cluster.client,
                &set,
                applyset::SYNC_PAUSED,
                value,
            )
            .await
            .map_err(|e| e.to_string())?;
            println!(
                "sync of deploy set {} in namespace {} {}",
                set.name,
                set.namespace,
                if args.pause { "paused" } else { "resumed" }
            );
            return Ok(());
        }
        let backend = KubeBackend::new(&cluster, &set, &args.render).await?;
        let _server = crate::kube_dashboard::serve(backend.clone(), args.listen).await?;
        let _metrics = match args.metrics_listen {
            Some(addr) => Some(metrics_server(backend.clone(), addr).await?),
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
        let mut state = SyncView {
            paused: false,
            paused_reason: None,
            last_sync: None,
            last_result: None,
            revision: None,
            pending: 0,
            commit: None,
            error: None,
            interval_seconds: args.interval.as_secs(),
        };
        let mut failures = 0u32;
        loop {
            let result = once(&args, &cluster, &set, &mut state).await;
            state.last_sync = Some(berth_kube::jiff::Timestamp::now().to_string());
            match &result {
                Ok(()) => {
                    failures = 0;
                    state.error = None;
                    crate::metrics::sync_run("success");
                    println!("sync: {}", state.last_result.as_deref().unwrap_or(""));
                }
                Err(e) => {
                    failures += 1;
                    state.error = Some(e.clone());
                    crate::metrics::sync_run("failure");
                    eprintln!("sync: failed, keeping the running release:\n{e}");
                }
            }
            backend.set_sync(state.clone());
            backend.poll().await;
            // Back off on errors: interval, doubled per failure, at most 5 minutes.
            let wait = if failures == 0 {
                args.interval
            } else {
                (args.interval * 2u32.saturating_pow(failures.min(8) - 1))
                    .min(Duration::from_secs(300))
                    .max(args.interval)
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                _ = tokio::time::sleep(wait) => {}
                _ = backend.woken() => {}
            }
        }
        Ok(())
    })
}

/// /metrics alone, for scrapers.
async fn metrics_server(
    backend: Arc<KubeBackend>,
    addr: std::net::SocketAddr,
) -> Result<tokio::task::JoinHandle<()>, String> {
    use berth_server::Backend;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot serve metrics on {addr}: {e}"))?;
    println!(
        "metrics http://{}/metrics",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let b = backend.clone();
            async move { b.metrics() }
        }),
    );
    Ok(tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    }))
}
