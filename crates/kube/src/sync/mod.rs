//! `berth sync`: keep a cluster equal to a folder (and its git branch), by itself: fetch,
//! render, plan, apply unless paused, wait; report drift; back off on failures; never touch the
//! running release when a render, git or apply step fails.

pub mod git;

use crate::dashboard::KubeBackend;
use crate::target::ClusterRequest;
use crate::{ApplySet, Cluster, DeployOptions, PlanOptions, Releases};
use berth_core::timeline::Event;
use berth_core::view::SyncView;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// What to sync and how often.
#[derive(Clone, Debug)]
pub struct SyncOptions {
    /// The deploy folder (its repository is fetched when `git_branch` is set).
    pub dir: PathBuf,
    pub interval: Duration,
    /// Fetch this branch and fast-forward the folder's repository to it before each sync.
    pub git_branch: Option<String>,
    /// How long to wait for workloads after an apply.
    pub timeout: Duration,
}

/// The wait after an iteration: the interval, doubled per consecutive failure, at most 5 min.
pub fn backoff(interval: Duration, failures: u32) -> Duration {
    if failures == 0 {
        return interval;
    }
    (interval * 2u32.saturating_pow(failures.min(8) - 1))
        .min(Duration::from_secs(300))
        .max(interval)
}

/// Syncs until `stop` completes, showing its state on `backend` (the dashboard's).
pub async fn run(
    cluster: &Cluster,
    set: &ApplySet,
    request: &ClusterRequest,
    backend: Arc<KubeBackend>,
    opts: &SyncOptions,
    ui: &crate::Reporter,
    stop: impl Future<Output = ()>,
) {
    let mut state = SyncView {
        paused: false,
        paused_reason: None,
        last_sync: None,
        last_result: None,
        revision: None,
        pending: 0,
        commit: None,
        error: None,
        interval_seconds: opts.interval.as_secs(),
    };
    let mut failures = 0u32;
    tokio::pin!(stop);
    loop {
        let result = once(cluster, set, request, opts, &mut state, ui).await;
        state.last_sync = Some(k8s_openapi::jiff::Timestamp::now().to_string());
        let said = state.last_result.clone().unwrap_or_default();
        match result {
            Ok(healed) => {
                failures = 0;
                state.error = None;
                berth_core::events::sync_run("success");
                if healed {
                    let healed = format!("the cluster was edited by hand; {said}");
                    backend.record(Event::now("DriftHealed", healed, false));
                }
                ui.info(said);
            }
            Err(e) => {
                failures += 1;
                ui.info(format!("failed, keeping the running release:\n{e}"));
                let why = format!("{}; the running release is kept", e.message);
                backend.record(Event::now("SyncFailed", why, true));
                state.error = Some(e.to_string());
                berth_core::events::sync_run("failure");
            }
        }
        backend.set_sync(state.clone());
        backend.poll().await;
        tokio::select! {
            _ = &mut stop => break,
            _ = tokio::time::sleep(backoff(opts.interval, failures)) => {}
            _ = backend.woken() => {}
        }
    }
}

/// One sync: fetch, render, plan, apply (unless paused), wait. `true` when it healed drift
/// (the cluster was edited by hand and the apply put it back).
async fn once(
    cluster: &Cluster,
    set: &ApplySet,
    request: &ClusterRequest,
    opts: &SyncOptions,
    state: &mut SyncView,
    ui: &crate::Reporter,
) -> Result<bool, crate::Error> {
    state.commit = match &opts.git_branch {
        Some(branch) => Some(git::fast_forward(&opts.dir, branch)?),
        None => crate::release::git_commit(&opts.dir),
    };
    let parent = crate::applyset::read_parent(&cluster.client, set)
        .await
        .map_err(|e| cluster.locate(e))?;
    let modes = parent.as_ref().map(|p| p.modes()).unwrap_or_default();
    let rendered = request.render_in_modes(&modes)?;
    let (manifests, info) = (rendered.manifests, rendered.info);
    state.paused_reason = parent.as_ref().and_then(|p| p.sync_paused());
    state.paused = state.paused_reason.is_some();
    let resolver = crate::resources::Resolver::default();
    let popts = PlanOptions {
        force_conflicts: true,
        prune: true,
    };
    let plan = crate::plan::plan(&cluster.client, &resolver, set, &manifests, popts)
        .await
        .map_err(|e| cluster.locate(e))?;
    let pending = plan.count_changes();
    let releases = Releases::new(&cluster.client, set);
    let current = releases.current().await.map_err(|e| cluster.locate(e))?;
    state.revision = current.as_ref().map(|c| c.number);
    if pending == 0 {
        state.pending = 0;
        state.last_result = Some("in sync".into());
        return Ok(false);
    }
    // The same objects as the deployed revision, yet changes: someone edited the cluster.
    let mut drift = false;
    if let Some(c) = &current {
        let deployed = releases
            .load(c.number)
            .await
            .map_err(|e| cluster.locate(e))?;
        let same = deployed.len() == manifests.len()
            && deployed
                .iter()
                .zip(&manifests)
                .all(|(a, b)| a.body == b.body);
        if same {
            berth_core::events::drift();
            drift = true;
        }
    }
    if state.paused {
        state.pending = pending;
        state.last_result = Some(format!("{pending} changes pending (paused)"));
        return Ok(false);
    }
    let deploy = DeployOptions {
        apply: crate::ApplyOptions {
            force_conflicts: true,
            ..Default::default()
        },
        wait: Some(opts.timeout),
        atomic: false,
        lock_timeout: Duration::from_secs(60),
        dry_run: false,
        rollback: false,
    };
    let outcome = crate::deploy(&cluster.client, set, &manifests, info, &deploy, ui)
        .await
        .map_err(|e| cluster.locate(e))?;
    state.pending = 0;
    state.revision = outcome.current;
    state.last_result = Some(match outcome.revision {
        Some(rev) => format!("applied revision {} ({} changes)", rev.number, pending),
        None => format!("applied {pending} changes"),
    });
    Ok(drift)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_back_off_up_to_five_minutes() {
        let i = Duration::from_secs(10);
        assert_eq!(backoff(i, 0), i);
        assert_eq!(backoff(i, 1), i);
        assert_eq!(backoff(i, 2), Duration::from_secs(20));
        assert_eq!(backoff(i, 4), Duration::from_secs(80));
        assert_eq!(backoff(i, 30), Duration::from_secs(300));
    }
}
