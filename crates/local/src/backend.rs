//! `berth up` as a [`Backend`]: the running environment's view (one health mapping, from
//! `berth_core::health`), its logs, and the dashboard's actions, which go to the `up` loop that
//! owns the environment as [`UpCommand`]s.

use crate::{Phase, Shared, Status};
use berth_core::backend::{ApiError, Backend, BoxFuture};
use berth_core::health::{mode_word, Observed};
use berth_core::view::{ContainerView, EnvironmentView, LogLine, Mode, ReplicaView, ServiceView};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

/// Where the `up` loop answers a command.
pub type Reply = oneshot::Sender<Result<String, ApiError>>;

/// What the dashboard asks of the `up` loop, which owns the running environment.
pub enum UpCommand {
    Restart(String, Reply),
    Scale(String, u32, Reply),
    Mode(String, Option<String>, Mode, Reply),
    Redeploy(Reply),
}

/// What the dashboard sends the `up` loop: an action, or a question that changes nothing.
pub enum Ask {
    Act(UpCommand),
    /// What a redeploy would change.
    Preview(oneshot::Sender<Result<berth_core::view::Preview, ApiError>>),
}

/// `berth up` as seen by the server.
pub struct LocalBackend {
    pub shared: Arc<Shared>,
    pub dir: PathBuf,
    pub commands: mpsc::UnboundedSender<Ask>,
}

impl LocalBackend {
    async fn ask(&self, make: impl FnOnce(Reply) -> UpCommand) -> Result<String, ApiError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Ask::Act(make(tx)))
            .map_err(|_| ApiError::failed("berth up is stopping"))?;
        rx.await
            .map_err(|_| ApiError::failed("berth up is stopping"))?
    }
}

/// A replica's phase in one word.
pub fn phase_word(p: &Phase) -> &'static str {
    match p {
        Phase::Waiting => "waiting",
        Phase::Starting => "starting",
        Phase::Running => "running",
        Phase::CrashLoop { .. } => "crash-loop",
        Phase::Failed => "failed",
        Phase::Succeeded => "completed",
        Phase::Stopped => "stopped",
    }
}

/// The environment view of a local status.
pub fn view(status: &Status, dir: &Path) -> EnvironmentView {
    build(status, dir, false)
}

/// The view, with each process's CPU time and memory read from `/proc` when `usage` is asked.
fn build(status: &Status, dir: &Path, usage: bool) -> EnvironmentView {
    EnvironmentView {
        backend: "local".into(),
        target: dir.display().to_string(),
        generation: status.generation,
        last_error: status.last_error.clone(),
        busy: status.busy.clone(),
        ingress: status.ingress.clone(),
        services: status
            .workloads
            .iter()
            .map(|w| service_view(status, w, dir, usage))
            .collect(),
        sync: None,
        chart: status.chart.clone(),
        metrics_unavailable: None,
    }
}

fn service_view(
    status: &Status,
    w: &crate::WorkloadStatus,
    dir: &Path,
    usage: bool,
) -> ServiceView {
    let reps: Vec<&crate::ReplicaStatus> = status
        .replicas
        .iter()
        .filter(|r| r.workload == w.name)
        .collect();
    // A replica (all its containers) is ready when each container is.
    let mut by_index: BTreeMap<u32, bool> = BTreeMap::new();
    for r in &reps {
        *by_index.entry(r.index).or_insert(true) &= r.ready;
    }
    let ready = by_index.values().filter(|r| **r).count() as u32;
    let failed = reps
        .iter()
        .find(|r| r.phase == Phase::Failed)
        .map(|r| r.message.as_deref().unwrap_or_default());
    let (health, words) = Observed {
        kind: Some(w.kind),
        desired: w.desired,
        ready,
        not_runnable: w.not_runnable.as_deref(),
        build_error: w.build_error.as_deref(),
        failed,
        crash_looping: reps
            .iter()
            .any(|r| matches!(r.phase, Phase::CrashLoop { .. })),
        complete: !reps.is_empty() && reps.iter().all(|r| r.phase == Phase::Succeeded),
        progress: None,
    }
    .health();
    let containers: Vec<ContainerView> = w
        .containers
        .iter()
        .map(|c| ContainerView {
            name: c.name.clone(),
            image: c.image.clone(),
            mode: c.mode.unwrap_or(Mode::Image),
            source_available: c.runnable,
            modes: c.modes.clone(),
            help: c.help.clone(),
        })
        .collect();
    ServiceView {
        name: w.name.clone(),
        kind: w.kind,
        description: w.description.clone(),
        desired: w.desired,
        ready: if w.kind.is_batch() {
            ready.min(w.desired)
        } else {
            ready
        },
        available: ready,
        health,
        status: words,
        mode: mode_word(w.containers.iter().filter_map(|c| c.mode)).to_string(),
        replicas: reps.iter().map(|r| replica_view(r, w, usage)).collect(),
        containers,
        shell: w
            .not_runnable
            .is_none()
            .then(|| format!("berth shell {} -C {}", w.name, dir.display())),
        traffic: None,
    }
}

fn replica_view(r: &crate::ReplicaStatus, w: &crate::WorkloadStatus, usage: bool) -> ReplicaView {
    let usage = r.pid.filter(|_| usage).and_then(crate::usage::of_process);
    ReplicaView {
        name: format!("{}-{}", r.workload, r.index),
        container: r.container.clone(),
        status: phase_word(&r.phase).to_string(),
        ready: r.ready,
        restarts: r.restarts,
        started: r.started,
        image: w
            .containers
            .iter()
            .find(|c| c.name == r.container)
            .and_then(|c| c.image.clone()),
        message: r.message.clone(),
        probe_failures: r.probe_failures,
        cpu_seconds: usage.map(|u| u.cpu_seconds),
        memory_bytes: usage.map(|u| u.resident_bytes),
        cpu_cores: None,
    }
}

impl LocalBackend {
    /// The view, with the Ingress' request counters (and, when `usage`, CPU and memory).
    fn view(&self, usage: bool) -> EnvironmentView {
        let status = self.shared.snapshot();
        let mut view = build(&status, &self.dir, usage);
        for s in view.services.iter_mut() {
            s.traffic = self.shared.traffic_view(&status, &s.name);
        }
        view
    }
}

impl Backend for LocalBackend {
    fn environment(&self) -> EnvironmentView {
        self.view(false)
    }

    fn measured(&self) -> EnvironmentView {
        self.view(true)
    }

    fn changed(&self) -> watch::Receiver<u64> {
        self.shared.subscribe()
    }

    fn logs(
        &self,
        service: &str,
        since: Option<u64>,
        tail: Option<usize>,
    ) -> Result<Vec<LogLine>, ApiError> {
        Ok(self.shared.logs.since(service, since, tail))
    }

    fn follow(&self, _service: &str) -> Result<broadcast::Receiver<Arc<LogLine>>, ApiError> {
        Ok(self.shared.logs.subscribe())
    }

    fn events<'a>(
        &'a self,
        service: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Vec<berth_core::timeline::Event>, ApiError>> {
        let events = self.shared.timeline.list(service);
        Box::pin(async move { Ok(events) })
    }

    fn restart<'a>(&'a self, service: &'a str) -> BoxFuture<'a, Result<String, ApiError>> {
        Box::pin(self.ask(|r| UpCommand::Restart(service.to_string(), r)))
    }

    fn scale<'a>(
        &'a self,
        service: &'a str,
        replicas: u32,
    ) -> BoxFuture<'a, Result<String, ApiError>> {
        Box::pin(self.ask(move |r| UpCommand::Scale(service.to_string(), replicas, r)))
    }

    fn set_mode<'a>(
        &'a self,
        service: &'a str,
        container: Option<&'a str>,
        mode: Mode,
    ) -> BoxFuture<'a, Result<String, ApiError>> {
        Box::pin(self.ask(move |r| {
            UpCommand::Mode(service.to_string(), container.map(str::to_string), mode, r)
        }))
    }

    fn redeploy(&self) -> BoxFuture<'_, Result<String, ApiError>> {
        Box::pin(self.ask(UpCommand::Redeploy))
    }

    fn preview(&self) -> BoxFuture<'_, Result<berth_core::view::Preview, ApiError>> {
        Box::pin(async move {
            let (tx, rx) = oneshot::channel();
            let stopping = || ApiError::failed("berth up is stopping");
            self.commands
                .send(Ask::Preview(tx))
                .map_err(|_| stopping())?;
            rx.await.map_err(|_| stopping())?
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ContainerStatus, ReplicaStatus, WorkloadStatus};
    use berth_core::WorkloadKind;

    fn replica(workload: &str, index: u32, phase: Phase, ready: bool) -> ReplicaStatus {
        ReplicaStatus {
            id: index as usize,
            workload: workload.into(),
            index,
            container: "main".into(),
            pid: None,
            ports: Default::default(),
            port_names: Default::default(),
            phase,
            ready,
            restarts: 0,
            probe_failures: 0,
            started: None,
            source: false,
            message: None,
            initialized: true,
        }
    }

    fn workload(name: &str, kind: WorkloadKind, desired: u32) -> WorkloadStatus {
        WorkloadStatus {
            name: name.into(),
            kind,
            description: None,
            desired,
            not_runnable: None,
            containers: vec![ContainerStatus {
                name: "main".into(),
                image: None,
                source: false,
                runnable: true,
                mode: Some(Mode::Process),
                modes: vec![Mode::Process, Mode::Source],
                help: None,
                workdir: None,
            }],
            build_error: None,
        }
    }

    #[test]
    fn rows_follow_the_one_health_mapping() {
        let status = Status {
            workloads: vec![
                workload("web", WorkloadKind::Deployment, 2),
                workload("seed", WorkloadKind::Job, 1),
            ],
            replicas: vec![
                replica("web", 0, Phase::Running, true),
                replica("web", 1, Phase::Starting, false),
                replica("seed", 0, Phase::Succeeded, false),
            ],
            ..Default::default()
        };
        let v = view(&status, Path::new("/app"));
        let row = |n: &str| v.services.iter().find(|s| s.name == n).unwrap();
        assert_eq!(row("web").status, "1 of 2 ready");
        assert_eq!(row("web").kind, WorkloadKind::Deployment);
        assert_eq!(row("seed").status, "completed");
        assert_eq!(row("web").shell.as_deref(), Some("berth shell web -C /app"));
    }
}
