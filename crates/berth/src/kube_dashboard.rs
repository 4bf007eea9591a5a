//! `berth dashboard DIR --context C`: the dashboard over a deploy set on a cluster.

use crate::cluster::ClusterFlags;
use crate::render::RenderFlags;
use berth_core::view::{
    ContainerView, EnvironmentView, Health, LogLine, Mode, Modes, ReplicaView, ServiceView,
};
use berth_kube::{ApplySet, Cluster};
use berth_local::logs::LogHub;
use berth_server::{ApiError, Backend, BoxFuture};
use clap::Args;
use futures::{AsyncBufReadExt, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DynamicObject, ListParams, LogParams, Patch, PatchParams};
use kube::core::ApiResource;
use serde_json::{json, Value as Json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, watch};

#[derive(Args, Debug)]
pub struct DashboardArgs {
    #[command(flatten)]
    render: RenderFlags,
    #[command(flatten)]
    cluster: ClusterFlags,
    /// Where the dashboard and API listen; anything but loopback requires a token.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7700")]
    listen: std::net::SocketAddr,
}

const KINDS: &[(&str, &str, &str, &str)] = &[
    ("apps", "v1", "Deployment", "deployments"),
    ("apps", "v1", "StatefulSet", "statefulsets"),
    ("apps", "v1", "DaemonSet", "daemonsets"),
    ("batch", "v1", "Job", "jobs"),
];

fn resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: format!("{group}/{version}"),
        kind: kind.into(),
        plural: plural.into(),
    }
}

/// A deploy set on a cluster, as the server sees it.
pub struct KubeBackend {
    client: kube::Client,
    context: String,
    set: ApplySet,
    render: RenderFlags,
    view: Mutex<EnvironmentView>,
    changed: watch::Sender<u64>,
    logs: Arc<LogHub>,
    /// Pods whose logs are being streamed.
    streaming: Arc<Mutex<BTreeSet<String>>>,
    /// Services someone follows: their new pods are streamed too.
    followed: Mutex<BTreeSet<String>>,
    /// Service -> its pods, from the last refresh.
    pods: Mutex<BTreeMap<String, Vec<(String, String)>>>,
    /// Pause and resume wake the sync loop.
    wake: tokio::sync::Notify,
}

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

impl KubeBackend {
    fn modes(&self) -> Modes {
        self.view
            .lock()
            .unwrap()
            .services
            .iter()
            .map(|s| {
                (
                    s.name.clone(),
                    s.containers
                        .iter()
                        .filter(|c| c.mode == Mode::Source)
                        .map(|c| (c.name.clone(), Mode::Source))
                        .collect::<BTreeMap<_, _>>(),
                )
            })
            .filter(|(_, m)| !m.is_empty())
            .collect()
    }

    async fn refresh(&self) -> Result<(), String> {
        let cluster = Cluster {
            client: self.client.clone(),
            context: self.context.clone(),
            server: String::new(),
            default_namespace: self.set.namespace.clone(),
            last_failure: Default::default(),
        };
        let modes = crate::cluster::live_modes(&cluster, &self.set).await?;
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &self.set.namespace);
        let pods: Vec<Json> = pods
            .list(&ListParams::default())
            .await
            .map_err(|e| e.to_string())?
            .items
            .into_iter()
            .map(|p| serde_json::to_value(p).unwrap_or_default())
            .collect();
        let mut services = Vec::new();
        let mut pod_map = BTreeMap::new();
        for (g, v, kind, plural) in KINDS {
            let api: Api<DynamicObject> = Api::namespaced_with(
                self.client.clone(),
                &self.set.namespace,
                &resource(g, v, kind, plural),
            );
            let list = api
                .list(&ListParams::default().labels(&self.set.selector()))
                .await
                .map_err(|e| e.to_string())?;
            for o in list.items {
                let body = serde_json::to_value(&o).unwrap_or_default();
                services.push(self.service(kind, &body, &pods, &modes, &mut pod_map));
            }
        }
        *self.pods.lock().unwrap() = pod_map;
        let mut view = self.view.lock().unwrap();
        let changed = view.services != services;
        view.services = services;
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

    fn service(
        &self,
        kind: &str,
        body: &Json,
        pods: &[Json],
        modes: &Modes,
        pod_map: &mut BTreeMap<String, Vec<(String, String)>>,
    ) -> ServiceView {
        let name = body
            .pointer("/metadata/name")
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_string();
        let oref = berth_core::ObjectRef {
            group_kind: berth_core::GroupKind::from_api_version("apps/v1", kind),
            namespace: Some(self.set.namespace.clone()),
            name: name.clone(),
        };
        let rollout = berth_kube::wait::rollout_of(&oref, body);
        let int = |p: &str| body.pointer(p).and_then(Json::as_u64).unwrap_or(0) as u32;
        let desired = body
            .pointer("/spec/replicas")
            .and_then(Json::as_u64)
            .unwrap_or(1) as u32;
        let (ready, available) = match kind {
            "DaemonSet" => (int("/status/numberReady"), int("/status/numberAvailable")),
            "Job" => (int("/status/succeeded"), int("/status/succeeded")),
            _ => (
                int("/status/readyReplicas"),
                int("/status/availableReplicas"),
            ),
        };
        let selector: BTreeMap<String, String> = body
            .pointer("/spec/selector/matchLabels")
            .and_then(|m| serde_json::from_value(m.clone()).ok())
            .unwrap_or_default();
        let mine: Vec<&Json> = pods
            .iter()
            .filter(|p| {
                !selector.is_empty()
                    && selector.iter().all(|(k, v)| {
                        p.pointer("/metadata/labels")
                            .and_then(|l| l.get(k))
                            .and_then(Json::as_str)
                            == Some(v)
                    })
            })
            .collect();
        let runs = berth_kube::source::run_specs(body);
        let containers: Vec<ContainerView> = body
            .pointer("/spec/template/spec/containers")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .map(|c| {
                let cname = c["name"].as_str().unwrap_or("").to_string();
                let run = runs.get(&cname);
                ContainerView {
                    mode: modes
                        .get(&name)
                        .and_then(|m| m.get(&cname))
                        .copied()
                        .unwrap_or_default(),
                    source_available: run
                        .is_some_and(|r| r.image.is_some() && r.source_path.is_some()),
                    help: run.and_then(|r| r.help.clone()),
                    image: c["image"].as_str().map(str::to_string),
                    name: cname,
                }
            })
            .collect();
        let first_container = containers
            .first()
            .map(|c| c.name.clone())
            .unwrap_or_default();
        let replicas: Vec<ReplicaView> = mine
            .iter()
            .map(|p| {
                let (status, ready, restarts, message) = pod_status(p);
                ReplicaView {
                    name: p
                        .pointer("/metadata/name")
                        .and_then(Json::as_str)
                        .unwrap_or("")
                        .to_string(),
                    container: first_container.clone(),
                    status,
                    ready,
                    restarts,
                    started: p
                        .pointer("/status/startTime")
                        .and_then(Json::as_str)
                        .and_then(|t| t.parse::<berth_kube::jiff::Timestamp>().ok())
                        .map(|t| t.as_second() as u64),
                    image: p
                        .pointer("/spec/containers/0/image")
                        .and_then(Json::as_str)
                        .map(str::to_string),
                    message,
                }
            })
            .collect();
        pod_map.insert(
            name.clone(),
            replicas
                .iter()
                .map(|r| (r.name.clone(), r.container.clone()))
                .collect(),
        );
        let crashing = replicas
            .iter()
            .any(|r| r.status == "CrashLoopBackOff" || r.status.contains("Err"));
        let (health, status) = if rollout.failed {
            (Health::Failed, rollout.message.clone())
        } else if kind == "Job" && rollout.ready {
            (Health::Completed, "completed".to_string())
        } else if rollout.ready && desired == 0 {
            (Health::Stopped, "scaled to 0".to_string())
        } else if rollout.ready {
            (Health::Ready, "ready".to_string())
        } else if crashing {
            (Health::Degraded, rollout.message.clone())
        } else {
            (Health::Progressing, rollout.message.clone())
        };
        let sources = containers.iter().filter(|c| c.mode == Mode::Source).count();
        let mode = match sources {
            0 => "image",
            n if n == containers.len() => "source",
            _ => "mixed",
        };
        let shell = replicas.first().map(|r| {
            format!(
                "kubectl --context {} -n {} exec -ti {} -c {} -- sh",
                self.context, self.set.namespace, r.name, r.container
            )
        });
        ServiceView {
            name,
            kind: kind.to_string(),
            description: body
                .pointer("/metadata/annotations/berth.dev~1description")
                .and_then(Json::as_str)
                .map(str::to_string),
            desired,
            ready,
            available,
            health,
            status,
            mode: mode.to_string(),
            containers,
            replicas,
            shell,
        }
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

    async fn patch_workload(&self, service: &str, patch: Json) -> Result<(), ApiError> {
        let kind = self
            .view
            .lock()
            .unwrap()
            .services
            .iter()
            .find(|s| s.name == service)
            .map(|s| s.kind.clone())
            .ok_or_else(|| ApiError::not_found(format!("no service named {service}")))?;
        let (g, v, k, p) = KINDS
            .iter()
            .find(|(_, _, k, _)| *k == kind)
            .copied()
            .ok_or_else(|| ApiError::bad_request(format!("{service} is a {kind}")))?;
        let api: Api<DynamicObject> = Api::namespaced_with(
            self.client.clone(),
            &self.set.namespace,
            &resource(g, v, k, p),
        );
        api.patch(service, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|e| ApiError::failed(e.to_string()))?;
        Ok(())
    }

    async fn redeploy_with(&self, modes: &Modes) -> Result<String, ApiError> {
        let r =
            crate::cluster::render_for_dashboard(&self.render, &self.set, modes).map_err(|e| {
                ApiError {
                    status: 422,
                    message: e,
                }
            })?;
        // The dashboard's scale and restart write fields too; a redeploy takes them back.
        let opts = berth_kube::DeployOptions {
            apply: berth_kube::ApplyOptions {
                force_conflicts: true,
                ..Default::default()
            },
            wait: None,
            atomic: false,
            lock_timeout: Duration::from_secs(30),
            dry_run: false,
        };
        struct Quiet;
        impl berth_kube::Ui for Quiet {
            fn plan(&self, _: &berth_kube::Plan) {}
            fn info(&self, _: String) {}
            fn rollout(&self, _: &[berth_kube::Rollout]) {}
        }
        self.view.lock().unwrap().busy = Some("applying".into());
        self.changed.send_modify(|n| *n += 1);
        // The deploy future borrows through closures the compiler cannot prove Send for; it runs
        // on a blocking thread of its own instead.
        let (client, set) = (self.client.clone(), self.set.clone());
        let result = tokio::task::spawn_blocking(move || {
            tokio::runtime::Handle::current().block_on(berth_kube::deploy(
                &client,
                &set,
                &r.manifests,
                r.info,
                &opts,
                &Quiet,
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
                Err(ApiError {
                    status: 422,
                    message: e.to_string(),
                })
            }
        };
        drop(view);
        self.changed.send_modify(|n| *n += 1);
        out
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

    fn restart<'a>(&'a self, service: &'a str) -> BoxFuture<'a, Result<String, ApiError>> {
        Box::pin(async move {
            // In source mode the pod runs `berth rerun` as its first process: poke it in place.
            let svc = self
                .environment()
                .services
                .into_iter()
                .find(|s| s.name == service);
            if let Some(svc) = svc.filter(|s| s.mode == "source" && !s.replicas.is_empty()) {
                let pods: Api<Pod> = Api::namespaced(self.client.clone(), &self.set.namespace);
                for r in &svc.replicas {
                    let ap = kube::api::AttachParams::default()
                        .container(r.container.clone())
                        .stdout(false)
                        .stderr(false);
                    let process = pods
                        .exec(&r.name, ["sh", "-c", "kill -HUP 1"], &ap)
                        .await
                        .map_err(|e| {
                            ApiError::failed(format!("cannot exec into {}: {e}", r.name))
                        })?;
                    let _ = process.join().await;
                }
                return Ok(format!("reloaded {service} in place (berth rerun)"));
            }
            let now = berth_kube::jiff::Timestamp::now().to_string();
            self.patch_workload(
                service,
                json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": now}}}}}),
            )
            .await?;
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
            let svc = self
                .environment()
                .services
                .into_iter()
                .find(|s| s.name == service)
                .ok_or_else(|| ApiError::not_found(format!("no service named {service}")))?;
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
                    Mode::Image => entry.remove(&c),
                };
            }
            modes.retain(|_, m| !m.is_empty());
            let text = serde_json::to_string(&modes).unwrap_or_default();
            let message = self.redeploy_with(&modes).await?;
            berth_kube::apply::set_parent_modes(&self.client, &self.set, &text)
                .await
                .map_err(|e| ApiError::failed(e.to_string()))?;
            let _ = self.refresh().await;
            Ok(format!("{service} to {} mode: {message}", mode.as_str()))
        })
    }

    fn metrics(&self) -> String {
        crate::metrics::render(crate::metrics::view_state(&self.environment()))
    }

    fn set_paused(&self, paused: bool) -> BoxFuture<'_, Result<String, ApiError>> {
        Box::pin(async move {
            let value = paused.then_some("paused in the dashboard");
            berth_kube::apply::set_parent_annotation(
                &self.client,
                &self.set,
                berth_kube::applyset::SYNC_PAUSED,
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
}

impl KubeBackend {
    /// A backend for `set` on `cluster`, read once.
    pub async fn new(
        cluster: &Cluster,
        set: &ApplySet,
        render: &RenderFlags,
    ) -> Result<Arc<KubeBackend>, String> {
        let backend = Arc::new(KubeBackend {
            client: cluster.client.clone(),
            context: cluster.context.clone(),
            set: set.clone(),
            render: render.clone(),
            view: Mutex::new(EnvironmentView {
                backend: "kubernetes".into(),
                target: format!("{}/{}", cluster.context, set.namespace),
                generation: 0,
                last_error: None,
                busy: None,
                ingress: None,
                services: Vec::new(),
                sync: None,
            }),
            changed: watch::channel(0).0,
            logs: Arc::new(LogHub::default()),
            streaming: Arc::new(Mutex::new(BTreeSet::new())),
            followed: Mutex::new(BTreeSet::new()),
            pods: Mutex::new(BTreeMap::new()),
            wake: tokio::sync::Notify::new(),
        });
        backend.refresh().await?;
        Ok(backend)
    }

    /// Reads the cluster again; a failure is shown, not fatal.
    pub async fn poll(&self) {
        if let Err(e) = self.refresh().await {
            self.view.lock().unwrap().last_error = Some(format!("cannot read the cluster: {e}"));
            self.changed.send_modify(|n| *n += 1);
        }
    }

    /// Replaces the sync state shown.
    pub fn set_sync(&self, sync: berth_core::view::SyncView) {
        self.view.lock().unwrap().sync = Some(sync);
        self.changed.send_modify(|n| *n += 1);
    }

    /// Wakes whoever waits in [`woken`](Self::woken) (the sync loop, after pause/resume).
    pub async fn woken(&self) {
        self.wake.notified().await
    }
}

/// Serves a backend's dashboard at `listen` (a token beyond loopback) and prints its URL.
pub async fn serve(
    backend: Arc<KubeBackend>,
    listen: std::net::SocketAddr,
) -> Result<berth_server::Server, String> {
    let token = (!listen.ip().is_loopback()).then(|| {
        std::env::var("BERTH_TOKEN")
            .ok()
            .filter(|t| !t.is_empty())
            .unwrap_or_else(crate::dashboard::new_token)
    });
    let server = berth_server::serve(backend, listen, token).await.map_err(|e| {
        format!("cannot start the dashboard on {listen}: {e}\n  = help: pass --listen with a free address")
    })?;
    println!("dashboard {}", server.url);
    Ok(server)
}

pub fn dashboard(args: DashboardArgs) -> Result<(), String> {
    crate::cluster::runtime()?.block_on(async {
        let cluster = args.cluster.connect_pub().await?;
        let set = crate::cluster::set_of(&args.render, &args.cluster)?;
        let backend = KubeBackend::new(&cluster, &set, &args.render).await?;
        let _server = serve(backend.clone(), args.listen).await?;
        println!(
            "deploy set {} in namespace {} (context {}); Ctrl-C stops",
            set.name, set.namespace, cluster.context
        );
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                _ = tokio::time::sleep(Duration::from_secs(2)) => backend.poll().await,
            }
        }
        Ok(())
    })
}
