//! A deploy set on a cluster as a [`Backend`]: its workloads and pods (one health mapping, from
//! `berth_core::health`), pod logs streamed into a ring, and the dashboard's actions (rollout
//! restart, scale, source mode, redeploy, sync pause) done on the cluster.

use crate::applyset::{self, ApplySet};
use crate::target::ClusterRequest;
use crate::{Cluster, DeployOptions};
use berth_core::backend::{ApiError, Backend, BoxFuture};
use berth_core::health::{mode_word, Observed};
use berth_core::logs::LogHub;
use berth_core::view::{
    ContainerView, EnvironmentView, LogLine, Mode, Modes, ReplicaView, ServiceView, SyncView,
};
use berth_core::{ObjectRef, WorkloadKind};
use futures::{AsyncBufReadExt, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DynamicObject, ListParams, LogParams, Patch};
use kube::core::ApiResource;
use serde_json::{json, Value as Json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, watch};

/// The REST resource of a workload kind.
pub fn workload_resource(kind: WorkloadKind) -> ApiResource {
    ApiResource {
        group: kind.group().into(),
        version: "v1".into(),
        api_version: kind.api_version().into(),
        kind: kind.as_str().into(),
        plural: kind.plural().into(),
    }
}

/// A deploy set on a cluster, as the server sees it.
pub struct KubeBackend {
    client: kube::Client,
    context: String,
    set: ApplySet,
    /// What a redeploy renders (again, in the modes of the moment).
    request: ClusterRequest,
    view: Mutex<EnvironmentView>,
    changed: watch::Sender<u64>,
    logs: Arc<LogHub>,
    /// Pods whose logs are being streamed.
    streaming: Arc<Mutex<BTreeSet<String>>>,
    /// Services someone follows: their new pods are streamed too.
    followed: Mutex<BTreeSet<String>>,
    /// Service -> its pods and their first container, from the last refresh.
    pods: Mutex<BTreeMap<String, Vec<(String, String)>>>,
    /// Pause and resume wake the sync loop.
    wake: tokio::sync::Notify,
    /// What berth itself did here (sync heals and failures), beside the cluster's Events.
    timeline: berth_core::timeline::Timeline,
}

/// A pod in the words of the replica table: status, ready, restarts, the waiting message.
fn pod_status(p: &Json) -> (String, bool, u32, Option<String>) {
    let statuses = p
        .pointer("/status/containerStatuses")
        .and_then(Json::as_array)
        .cloned()
        .unwrap_or_default();
    let restarts = statuses
        .iter()
        .map(|c| c["restartCount"].as_u64().unwrap_or(0) as u32)
        .sum();
    let waiting = statuses.iter().find_map(|c| {
        let w = c.pointer("/state/waiting")?;
        Some((
            w["reason"].as_str().unwrap_or("waiting").to_string(),
            w["message"].as_str().map(str::to_string),
        ))
    });
    let ready = p
        .pointer("/status/conditions")
        .and_then(Json::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        });
    let phase = p
        .pointer("/status/phase")
        .and_then(Json::as_str)
        .unwrap_or("Pending")
        .to_lowercase();
    match waiting {
        Some((reason, msg)) => (reason, ready, restarts, msg),
        None => (phase, ready, restarts, None),
    }
}

/// The pod template of a workload (a CronJob's is inside its job template).
fn pod_spec(kind: WorkloadKind, body: &Json) -> Option<&Json> {
    match kind {
        WorkloadKind::CronJob => body.pointer("/spec/jobTemplate/spec/template/spec"),
        _ => body.pointer("/spec/template/spec"),
    }
}

/// Replicas asked for and ready, as each kind counts them.
pub fn replica_counts(kind: WorkloadKind, body: &Json) -> (u32, u32, u32) {
    let int = |p: &str| body.pointer(p).and_then(Json::as_u64).unwrap_or(0) as u32;
    let or = |p: &str, d: u32| {
        body.pointer(p)
            .and_then(Json::as_u64)
            .map_or(d, |v| v as u32)
    };
    match kind {
        WorkloadKind::DaemonSet => (
            int("/status/desiredNumberScheduled"),
            int("/status/numberReady"),
            int("/status/numberAvailable"),
        ),
        // Without completions, one successful pod completes a Job.
        WorkloadKind::Job => (
            or("/spec/completions", 1),
            int("/status/succeeded"),
            int("/status/succeeded"),
        ),
        WorkloadKind::CronJob => {
            let on = u32::from(body.pointer("/spec/suspend") != Some(&Json::Bool(true)));
            (on, on, on)
        }
        _ => (
            or("/spec/replicas", 1),
            int("/status/readyReplicas"),
            int("/status/availableReplicas"),
        ),
    }
}

/// The pods a workload's selector matches.
fn pods_of<'a>(body: &Json, pods: &'a [Json]) -> Vec<&'a Json> {
    let selector: BTreeMap<String, String> = body
        .pointer("/spec/selector/matchLabels")
        .and_then(|m| serde_json::from_value(m.clone()).ok())
        .unwrap_or_default();
    if selector.is_empty() {
        return Vec::new();
    }
    pods.iter()
        .filter(|p| {
            selector.iter().all(|(k, v)| {
                p.pointer("/metadata/labels")
                    .and_then(|l| l.get(k))
                    .and_then(Json::as_str)
                    == Some(v)
            })
        })
        .collect()
}

fn replica_view(p: &Json, container: &str) -> ReplicaView {
    let (status, ready, restarts, message) = pod_status(p);
    let text = |path: &str| p.pointer(path).and_then(Json::as_str).map(str::to_string);
    ReplicaView {
        name: text("/metadata/name").unwrap_or_default(),
        container: container.to_string(),
        status,
        ready,
        restarts,
        started: text("/status/startTime")
            .and_then(|t| t.parse::<k8s_openapi::jiff::Timestamp>().ok())
            .map(|t| t.as_second() as u64),
        image: text("/spec/containers/0/image"),
        message,
        probe_failures: 0,
        cpu_seconds: None,
        memory_bytes: None,
        cpu_cores: None,
    }
}

/// Where the workloads are: for the shell command and object references.
struct Where<'a> {
    context: &'a str,
    namespace: &'a str,
}

/// A workload of the set as shown: its row, and when it was created.
pub struct Workload {
    pub view: ServiceView,
    /// RFC 3339.
    pub created: String,
}

/// Reads every workload of the set with its pods: one list of pods, one per workload kind.
pub async fn read_workloads(
    client: &kube::Client,
    context: &str,
    set: &ApplySet,
) -> Result<Vec<Workload>, crate::Error> {
    let modes = applyset::read_parent(client, set)
        .await?
        .map(|p| p.modes())
        .unwrap_or_default();
    let list_error = |e: kube::Error, resource: &str| {
        crate::error::from_kube(
            e,
            &crate::error::Action {
                verb: "list",
                resource: resource.into(),
                namespace: Some(&set.namespace),
                object: None,
                origin: None,
            },
        )
    };
    let pods: Api<Pod> = Api::namespaced(client.clone(), &set.namespace);
    let pods: Vec<Json> = pods
        .list(&ListParams::default())
        .await
        .map_err(|e| list_error(e, "pods"))?
        .items
        .into_iter()
        .map(|p| serde_json::to_value(p).unwrap_or_default())
        .collect();
    let at = Where {
        context,
        namespace: &set.namespace,
    };
    let mut out = Vec::new();
    for kind in WorkloadKind::ALL {
        let api: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), &set.namespace, &workload_resource(kind));
        let list = api
            .list(&ListParams::default().labels(&set.selector()))
            .await
            .map_err(|e| list_error(e, kind.plural()))?;
        for o in list.items {
            let body = serde_json::to_value(&o).unwrap_or_default();
            out.push(Workload {
                view: service(&at, kind, &body, &pods, &modes),
                created: o
                    .metadata
                    .creation_timestamp
                    .map(|t| t.0.to_string())
                    .unwrap_or_default(),
            });
        }
    }
    Ok(out)
}

/// One row: the workload, its pods, its containers and modes, and its health.
fn service(
    at: &Where,
    kind: WorkloadKind,
    body: &Json,
    pods: &[Json],
    modes: &Modes,
) -> ServiceView {
    let name = body
        .pointer("/metadata/name")
        .and_then(Json::as_str)
        .unwrap_or("")
        .to_string();
    let containers = containers(kind, body, &name, modes);
    let first = containers
        .first()
        .map(|c| c.name.clone())
        .unwrap_or_default();
    let replicas: Vec<ReplicaView> = pods_of(body, pods)
        .into_iter()
        .map(|p| replica_view(p, &first))
        .collect();
    let (desired, ready, available) = replica_counts(kind, body);
    let rollout = (kind != WorkloadKind::CronJob).then(|| {
        let oref = ObjectRef {
            group_kind: kind.group_kind(),
            namespace: Some(at.namespace.to_string()),
            name: name.clone(),
        };
        crate::wait::rollout_of(&oref, body)
    });
    let (health, status) = Observed {
        kind: Some(kind),
        desired,
        ready,
        failed: rollout
            .as_ref()
            .filter(|r| r.failed)
            .map(|r| r.message.as_str()),
        crash_looping: replicas
            .iter()
            .any(|r| r.status == "CrashLoopBackOff" || r.status.contains("Err")),
        complete: kind == WorkloadKind::Job && rollout.as_ref().is_some_and(|r| r.ready),
        progress: rollout
            .as_ref()
            .filter(|r| !r.ready)
            .map(|r| r.message.as_str()),
        ..Default::default()
    }
    .health();
    let shell = replicas.first().map(|r| {
        format!(
            "kubectl --context {} -n {} exec -ti {} -c {} -- sh",
            at.context, at.namespace, r.name, r.container
        )
    });
    ServiceView {
        name,
        kind,
        description: body
            .pointer("/metadata/annotations/berth.dev~1description")
            .and_then(Json::as_str)
            .map(str::to_string),
        desired,
        ready,
        available,
        health,
        status,
        mode: mode_word(containers.iter().map(|c| c.mode)).to_string(),
        containers,
        replicas,
        shell,
        traffic: None,
    }
}

fn containers(kind: WorkloadKind, body: &Json, name: &str, modes: &Modes) -> Vec<ContainerView> {
    let runs = crate::source::run_specs(body);
    pod_spec(kind, body)
        .and_then(|s| s.get("containers"))
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            let cname = c["name"].as_str().unwrap_or("").to_string();
            let run = runs.get(&cname);
            let source_available =
                run.is_some_and(|r| r.image.is_some() && r.source_path.is_some());
            ContainerView {
                modes: if source_available {
                    vec![Mode::Image, Mode::Source]
                } else {
                    vec![Mode::Image]
                },
                mode: modes
                    .get(name)
                    .and_then(|m| m.get(&cname))
                    .copied()
                    .unwrap_or_default(),
                source_available,
                help: run.and_then(|r| r.help.clone()),
                image: c["image"].as_str().map(str::to_string),
                name: cname,
            }
        })
        .collect()
}

impl KubeBackend {
    /// A backend for `set` on `cluster`, read once.
    pub async fn new(
        cluster: &Cluster,
        set: &ApplySet,
        request: ClusterRequest,
    ) -> Result<Arc<KubeBackend>, crate::Error> {
        let chart = request.chart();
        let backend = Arc::new(KubeBackend {
            client: cluster.client.clone(),
            context: cluster.context.clone(),
            set: set.clone(),
            request,
            view: Mutex::new(EnvironmentView {
                backend: "kubernetes".into(),
                target: format!("{}/{}", cluster.context, set.namespace),
                generation: 0,
                last_error: None,
                busy: None,
                ingress: None,
                services: Vec::new(),
                sync: None,
                chart,
                metrics_unavailable: None,
            }),
            changed: watch::channel(0).0,
            logs: Arc::new(LogHub::default()),
            streaming: Arc::new(Mutex::new(BTreeSet::new())),
            followed: Mutex::new(BTreeSet::new()),
            pods: Mutex::new(BTreeMap::new()),
            wake: tokio::sync::Notify::new(),
            timeline: Default::default(),
        });
        backend.refresh().await?;
        Ok(backend)
    }

    /// Reads the cluster every `every` for as long as the process runs.
    pub fn keep_polling(self: &Arc<Self>, every: Duration) {
        let backend = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                backend.poll().await;
            }
        });
    }

    /// Reads the cluster again; a failure is shown, not fatal (the next poll reconnects).
    pub async fn poll(&self) {
        let result = self.refresh().await;
        let mut view = self.view.lock().unwrap();
        let error = result
            .err()
            .map(|e| format!("cannot read the cluster: {}", e.message));
        let cleared = error.is_none()
            && view
                .last_error
                .as_deref()
                .is_some_and(|e| e.starts_with("cannot read the cluster"));
        if error.is_some() || cleared {
            view.last_error = error;
            drop(view);
            self.changed.send_modify(|n| *n += 1);
        }
    }

    /// Replaces the sync state shown.
    /// Records something berth did (a sync's heal or failure) in the timeline.
    pub fn record(&self, event: berth_core::timeline::Event) {
        self.timeline.record(event);
    }

    /// What berth itself did here (to subscribe to).
    pub fn timeline(&self) -> &berth_core::timeline::Timeline {
        &self.timeline
    }

    pub fn set_sync(&self, sync: SyncView) {
        let was_paused = self
            .view
            .lock()
            .unwrap()
            .sync
            .as_ref()
            .is_some_and(|s| s.paused);
        if sync.paused && !was_paused {
            let why = sync.paused_reason.clone().unwrap_or_default();
            let what = format!("sync paused ({why}); drift is reported, not healed");
            self.timeline
                .record(berth_core::timeline::Event::now("SyncPaused", what, false));
        }
        self.view.lock().unwrap().sync = Some(sync);
        self.changed.send_modify(|n| *n += 1);
    }

    /// Wakes whoever waits in [`woken`](Self::woken) (the sync loop, after pause/resume).
    pub async fn woken(&self) {
        self.wake.notified().await
    }

    fn modes(&self) -> Modes {
        self.view
            .lock()
            .unwrap()
            .services
            .iter()
            .map(|s| {
                let sources = s
                    .containers
                    .iter()
                    .filter(|c| c.mode == Mode::Source)
                    .map(|c| (c.name.clone(), Mode::Source))
                    .collect::<BTreeMap<_, _>>();
                (s.name.clone(), sources)
            })
            .filter(|(_, m)| !m.is_empty())
            .collect()
    }

    async fn refresh(&self) -> Result<(), crate::Error> {
        let workloads = read_workloads(&self.client, &self.context, &self.set).await?;
        let pod_map = workloads
            .iter()
            .map(|w| {
                let pods = w
                    .view
                    .replicas
                    .iter()
                    .map(|r| (r.name.clone(), r.container.clone()));
                (w.view.name.clone(), pods.collect())
            })
            .collect();
        let mut services: Vec<ServiceView> = workloads.into_iter().map(|w| w.view).collect();
        *self.pods.lock().unwrap() = pod_map;
        let unavailable = match crate::usage::of_pods(&self.client, &self.set.namespace).await {
            Ok(usage) => {
                let replicas = services.iter_mut().flat_map(|s| s.replicas.iter_mut());
                for r in replicas {
                    let u = usage.get(&r.name);
                    r.cpu_cores = u.map(|u| u.cpu_cores);
                    r.memory_bytes = u.map(|u| u.memory_bytes);
                }
                None
            }
            Err(why) => Some(why),
        };
        let mut view = self.view.lock().unwrap();
        for event in crash_loops(&view.services, &services) {
            self.timeline.record(event);
        }
        let changed = view.services != services || view.metrics_unavailable != unavailable;
        view.services = services;
        view.metrics_unavailable = unavailable;
        drop(view);
        if changed {
            self.changed.send_modify(|n| *n += 1);
        }
        let followed: Vec<String> = self.followed.lock().unwrap().iter().cloned().collect();
        for s in followed {
            self.stream_pods(&s);
        }
        Ok(())
    }

    /// Streams the logs of a service's pods into the hub (each pod once).
    fn stream_pods(&self, service: &str) {
        let pods = self
            .pods
            .lock()
            .unwrap()
            .get(service)
            .cloned()
            .unwrap_or_default();
        for (pod, container) in pods {
            if !self.streaming.lock().unwrap().insert(pod.clone()) {
                continue;
            }
            let api: Api<Pod> = Api::namespaced(self.client.clone(), &self.set.namespace);
            let hub = self.logs.clone();
            let streaming = self.streaming.clone();
            let service = service.to_string();
            tokio::spawn(async move {
                let lp = LogParams {
                    follow: true,
                    container: Some(container),
                    tail_lines: Some(200),
                    ..Default::default()
                };
                if let Ok(stream) = api.log_stream(&pod, &lp).await {
                    let mut lines = stream.lines();
                    while let Some(Ok(line)) = lines.next().await {
                        hub.push(&service, &pod, "stdout", line);
                    }
                }
                streaming.lock().unwrap().remove(&pod);
            });
        }
    }

    fn service_view(&self, service: &str) -> Result<ServiceView, ApiError> {
        self.environment()
            .services
            .into_iter()
            .find(|s| s.name == service)
            .ok_or_else(|| ApiError::not_found(format!("no service named {service}")))
    }

    async fn patch_workload(&self, service: &str, patch: Json) -> Result<(), ApiError> {
        let kind = self.service_view(service)?.kind;
        let api: Api<DynamicObject> = Api::namespaced_with(
            self.client.clone(),
            &self.set.namespace,
            &workload_resource(kind),
        );
        api.patch(service, &crate::patch_params(), &Patch::Merge(&patch))
            .await
            .map_err(|e| ApiError::failed(e.to_string()))?;
        Ok(())
    }

    /// Re-renders with `modes` and applies (forcing back the fields the dashboard changed).
    async fn redeploy_with(&self, modes: &Modes) -> Result<String, ApiError> {
        let r = self.request.render_in_modes(modes).map_err(unprocessable)?;
        let (manifests, info) = (r.manifests, r.info);
        let opts = DeployOptions {
            apply: crate::ApplyOptions {
                force_conflicts: true,
                ..Default::default()
            },
            wait: None,
            atomic: false,
            lock_timeout: Duration::from_secs(30),
            dry_run: false,
            rollback: false,
        };
        self.view.lock().unwrap().busy = Some("applying".into());
        self.changed.send_modify(|n| *n += 1);
        // The deploy future borrows through closures the compiler cannot prove Send for; it runs
        // on a blocking thread of its own instead.
        let (client, set) = (self.client.clone(), self.set.clone());
        let result = tokio::task::spawn_blocking(move || {
            tokio::runtime::Handle::current().block_on(crate::deploy(
                &client,
                &set,
                &manifests,
                info,
                &opts,
                &crate::Reporter::quiet(),
            ))
        })
        .await
        .map_err(|e| ApiError::failed(e.to_string()))?;
        let mut view = self.view.lock().unwrap();
        view.busy = None;
        let out = match result {
            Ok(o) => {
                view.generation += 1;
                view.last_error = None;
                Ok(format!(
                    "{} created, {} updated, {} unchanged, {} deleted",
                    o.report.created, o.report.updated, o.report.unchanged, o.report.deleted
                ))
            }
            Err(e) => {
                view.last_error = Some(e.to_string());
                Err(unprocessable(e))
            }
        };
        drop(view);
        self.changed.send_modify(|n| *n += 1);
        out
    }

    /// In source mode the pod runs `berth rerun` as its first process: poke it in place.
    async fn reload_in_place(&self, svc: &ServiceView) -> Result<(), ApiError> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &self.set.namespace);
        for r in &svc.replicas {
            let ap = kube::api::AttachParams::default()
                .container(r.container.clone())
                .stdout(false)
                .stderr(false);
            let process = pods
                .exec(&r.name, ["sh", "-c", "kill -HUP 1"], &ap)
                .await
                .map_err(|e| ApiError::failed(format!("cannot exec into {}: {e}", r.name)))?;
            let _ = process.join().await;
        }
        Ok(())
    }
}

impl Backend for KubeBackend {
    fn environment(&self) -> EnvironmentView {
        self.view.lock().unwrap().clone()
    }

    fn changed(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    fn logs(
        &self,
        service: &str,
        since: Option<u64>,
        tail: Option<usize>,
    ) -> Result<Vec<LogLine>, ApiError> {
        self.followed.lock().unwrap().insert(service.to_string());
        self.stream_pods(service);
        Ok(self.logs.since(service, since, tail))
    }

    fn follow(&self, service: &str) -> Result<broadcast::Receiver<Arc<LogLine>>, ApiError> {
        self.followed.lock().unwrap().insert(service.to_string());
        self.stream_pods(service);
        Ok(self.logs.subscribe())
    }

    fn events<'a>(
        &'a self,
        service: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Vec<berth_core::timeline::Event>, ApiError>> {
        let pods: BTreeMap<String, Vec<String>> = self
            .pods
            .lock()
            .unwrap()
            .iter()
            .map(|(s, p)| (s.clone(), p.iter().map(|(pod, _)| pod.clone()).collect()))
            .collect();
        Box::pin(async move {
            let mut events = crate::events::events(&self.client, &self.set, &pods, service)
                .await
                .map_err(|e| ApiError::failed(e.to_string()))?;
            if service.is_none() {
                events.extend(self.timeline.list(None));
                events.sort_by_key(|e| e.ts_ms);
            }
            Ok(events)
        })
    }

    fn restart<'a>(&'a self, service: &'a str) -> BoxFuture<'a, Result<String, ApiError>> {
        Box::pin(async move {
            let svc = self.service_view(service)?;
            if svc.mode == "source" && !svc.replicas.is_empty() {
                self.reload_in_place(&svc).await?;
                return Ok(format!("reloaded {service} in place (berth rerun)"));
            }
            let now = k8s_openapi::jiff::Timestamp::now().to_string();
            let patch = json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": now}}}}});
            self.patch_workload(service, patch).await?;
            Ok(format!("restarting {service} (rollout restart)"))
        })
    }

    fn scale<'a>(
        &'a self,
        service: &'a str,
        replicas: u32,
    ) -> BoxFuture<'a, Result<String, ApiError>> {
        Box::pin(async move {
            self.patch_workload(service, json!({"spec": {"replicas": replicas}}))
                .await?;
            Ok(format!(
                "scaled {service} to {replicas} (until the next apply)"
            ))
        })
    }

    fn set_mode<'a>(
        &'a self,
        service: &'a str,
        container: Option<&'a str>,
        mode: Mode,
    ) -> BoxFuture<'a, Result<String, ApiError>> {
        Box::pin(async move {
            let svc = self.service_view(service)?;
            let targets: Vec<String> = svc
                .containers
                .iter()
                .filter(|c| container.is_none_or(|n| n == c.name))
                .filter(|c| c.source_available)
                .map(|c| c.name.clone())
                .collect();
            if targets.is_empty() {
                return Err(ApiError::bad_request(format!(
                    "no container of {service} can run from source on Kubernetes (its berth.dev/run entry needs `image` and `sourcePath`)"
                )));
            }
            let mut modes = self.modes();
            let entry = modes.entry(service.to_string()).or_default();
            for c in targets {
                match mode {
                    Mode::Source => entry.insert(c, Mode::Source),
                    // A cluster runs images; a process is a local notion.
                    Mode::Image | Mode::Process => entry.remove(&c),
                };
            }
            modes.retain(|_, m| !m.is_empty());
            let text = serde_json::to_string(&modes).unwrap_or_default();
            let message = self.redeploy_with(&modes).await?;
            crate::apply::set_parent_modes(&self.client, &self.set, &text)
                .await
                .map_err(|e| ApiError::failed(e.to_string()))?;
            let _ = self.refresh().await;
            Ok(format!("{service} to {} mode: {message}", mode.as_str()))
        })
    }

    fn set_paused(&self, paused: bool) -> BoxFuture<'_, Result<String, ApiError>> {
        Box::pin(async move {
            let value = paused.then_some("paused in the dashboard");
            crate::apply::set_parent_annotation(
                &self.client,
                &self.set,
                applyset::SYNC_PAUSED,
                value,
            )
            .await
            .map_err(|e| ApiError::failed(e.to_string()))?;
            self.wake.notify_waiters();
            Ok(if paused {
                "sync paused"
            } else {
                "sync resumed"
            }
            .to_string())
        })
    }

    fn redeploy(&self) -> BoxFuture<'_, Result<String, ApiError>> {
        Box::pin(async move {
            let modes = self.modes();
            let r = self.redeploy_with(&modes).await;
            let _ = self.refresh().await;
            r
        })
    }

    fn preview(&self) -> BoxFuture<'_, Result<berth_core::view::Preview, ApiError>> {
        Box::pin(async move {
            let r = self
                .request
                .render_in_modes(&self.modes())
                .map_err(unprocessable)?;
            let popts = crate::plan::PlanOptions {
                force_conflicts: true,
                prune: true,
            };
            let (client, set, manifests) = (self.client.clone(), self.set.clone(), r.manifests);
            // As in a redeploy: the plan runs on a blocking thread of its own.
            let plan = tokio::task::spawn_blocking(move || {
                let resolver = crate::resources::Resolver::default();
                let planned = crate::plan_deploy(&client, &resolver, &set, &manifests, popts);
                tokio::runtime::Handle::current().block_on(planned)
            })
            .await
            .map_err(|e| ApiError::failed(e.to_string()))?
            .map_err(unprocessable)?;
            Ok(preview_of(&plan))
        })
    }
}

/// A folder that does not render or a deploy the cluster refuses, as the API answers it.
fn unprocessable(e: crate::Error) -> ApiError {
    ApiError {
        status: 422,
        message: e.to_string(),
    }
}

/// Pods that went into a crash loop between two readings, as berth's own `CrashLoop` events
/// (a notable event: `--notify` posts it; the Kubernetes `BackOff` Events are read on demand and
/// never watched).
fn crash_loops(before: &[ServiceView], now: &[ServiceView]) -> Vec<berth_core::timeline::Event> {
    let looping = |r: &ReplicaView| r.status == "CrashLoopBackOff";
    let was_looping = |service: &str, pod: &str| {
        before
            .iter()
            .filter(|s| s.name == service)
            .flat_map(|s| s.replicas.iter())
            .any(|r| r.name == pod && looping(r))
    };
    let mut out = Vec::new();
    for s in now {
        for r in s.replicas.iter().filter(|r| looping(r)) {
            if was_looping(&s.name, &r.name) {
                continue;
            }
            let why = r
                .message
                .as_deref()
                .unwrap_or("back-off restarting a failed container");
            let what = format!("crash loop after {} restarts: {why}", r.restarts);
            let event = berth_core::timeline::Event::now("CrashLoop", what, true);
            out.push(event.of(&s.name, Some(r.name.clone())));
        }
    }
    out
}

/// A plan as the dashboard's preview: the objects that change, with their diffs (Secret values
/// were masked by the plan).
fn preview_of(plan: &crate::plan::Plan) -> berth_core::view::Preview {
    use crate::plan::ChangeKind;
    use berth_core::view::{DiffKind, ObjectDiff};
    let changes = plan.changes.iter().filter_map(|c| {
        let change = match c.action {
            ChangeKind::Create => DiffKind::Added,
            ChangeKind::Update | ChangeKind::Replace => DiffKind::Changed,
            ChangeKind::Delete => DiffKind::Removed,
            ChangeKind::Unchanged => return None,
        };
        let name = match &c.oref.namespace {
            Some(ns) => format!("{ns}/{}", c.oref.name),
            None => c.oref.name.clone(),
        };
        Some(ObjectDiff {
            object: format!("{} {name}", c.oref.kind),
            change,
            diff: c.diff.clone().unwrap_or_default(),
        })
    });
    berth_core::view::Preview {
        changes: changes.collect(),
        between: "the cluster and the folder as it is now (a server-side dry run)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_counts_its_own_replicas() {
        let ds = json!({"spec": {}, "status": {"desiredNumberScheduled": 3, "numberReady": 2, "numberAvailable": 2}});
        assert_eq!(
            replica_counts(WorkloadKind::DaemonSet, &ds),
            (3, 2, 2),
            "a DaemonSet has no spec.replicas"
        );
        let job = json!({"spec": {"completions": 5, "parallelism": 2}, "status": {"succeeded": 4}});
        assert_eq!(
            replica_counts(WorkloadKind::Job, &job),
            (5, 4, 4),
            "a Job's desired is its completions"
        );
        let job = json!({"spec": {}, "status": {}});
        assert_eq!(replica_counts(WorkloadKind::Job, &job).0, 1);
        let dep = json!({"spec": {"replicas": 2}, "status": {"readyReplicas": 1, "availableReplicas": 1}});
        assert_eq!(replica_counts(WorkloadKind::Deployment, &dep), (2, 1, 1));
        let cron = json!({"spec": {"suspend": true}});
        assert_eq!(replica_counts(WorkloadKind::CronJob, &cron), (0, 0, 0));
    }

    #[test]
    fn jobs_are_batch_and_the_others_apps() {
        assert_eq!(workload_resource(WorkloadKind::Job).api_version, "batch/v1");
        assert_eq!(workload_resource(WorkloadKind::CronJob).plural, "cronjobs");
        assert_eq!(
            workload_resource(WorkloadKind::DaemonSet).api_version,
            "apps/v1"
        );
        assert_eq!(WorkloadKind::Job.group_kind().to_string(), "Job.batch");
    }

    #[test]
    fn a_cronjobs_containers_are_in_its_job_template() {
        let cron = json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c"}]}}}}}});
        assert!(pod_spec(WorkloadKind::CronJob, &cron).is_some());
        assert!(pod_spec(WorkloadKind::Deployment, &cron).is_none());
    }
}
