//! A running local environment: its replicas under supervision, its Service listeners and
//! Ingress, and how a new plan is applied to it (start what is new, restart what changed, replace
//! a changed replica rolling, stop what is gone).

use crate::log_file::{LogFile, LogLimits};
use crate::*;
use berth_core::WorkloadKind;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// How a local environment listens and keeps its logs.
#[derive(Debug, Clone, Copy)]
pub struct StartOptions {
    /// Where the Ingress listens, when the folder has Ingress rules.
    pub ingress: std::net::SocketAddr,
    pub log_limits: LogLimits,
}

pub struct Running {
    pub shared: Arc<Shared>,
    dir: PathBuf,
    ingress_addr: std::net::SocketAddr,
    ingress: Option<ingress::Served>,
    services: BTreeMap<String, ServiceRun>,
    replicas: BTreeMap<usize, ReplicaRun>,
    next_id: usize,
    background: JoinSet<()>,
    state_file: PathBuf,
    /// The plan last applied, for restarts.
    last_plan: Option<Plan>,
    /// Workloads whose source build already ran for the replicas about to start.
    prebuilt: std::collections::BTreeSet<String>,
    log_limits: LogLimits,
    /// One log file per workload, shared by its replicas (rotation needs a single writer).
    log_files: BTreeMap<String, Arc<LogFile>>,
    /// Replicas replaced rolling, waiting for their successors before they stop.
    retiring: JoinSet<()>,
    /// Berth is stopping: retiring replicas stop at once, the state writer ends.
    hurry: watch::Sender<bool>,
    /// The container engine, connected when a container first runs in image mode.
    engine: Option<Result<Arc<engine::Engine>, crate::Error>>,
    pod_nets: Arc<container::PodNets>,
}

struct ServiceRun {
    spec: berth_core::Service,
    tasks: Vec<tokio::task::AbortHandle>,
}

/// A replica's identity across restarts: workload, replica index, container.
type ReplicaKey = (String, u32, String);

struct ReplicaRun {
    key: ReplicaKey,
    /// Replaced rolling (a new replica before the old one stops): Deployments, unless their
    /// containers share a pod's network, where two generations would clash on ports.
    rolling: bool,
    fingerprint: String,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// What one apply changed, by replica (`web-0`).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Applied {
    pub started: Vec<String>,
    pub restarted: Vec<String>,
    pub stopped: Vec<String>,
    pub unchanged: Vec<String>,
}

/// What an apply did, in words: `started web-0; restarted api-0; 2 unchanged`.
impl std::fmt::Display for Applied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let part =
            |what: &str, v: &[String]| (!v.is_empty()).then(|| format!("{what} {}", v.join(", ")));
        let parts: Vec<String> = [
            part("started", &self.started),
            part("restarted", &self.restarted),
            part("stopped", &self.stopped),
        ]
        .into_iter()
        .flatten()
        .collect();
        let unchanged = format!("{} unchanged", self.unchanged.len());
        if parts.is_empty() {
            write!(f, "no changes ({unchanged})")
        } else {
            write!(f, "{}; {unchanged}", parts.join("; "))
        }
    }
}

impl Running {
    fn log_file(&mut self, workload: &str) -> Arc<LogFile> {
        let path = state_dir(&self.dir)
            .join("logs")
            .join(format!("{workload}.log"));
        let limits = self.log_limits;
        self.log_files
            .entry(workload.to_string())
            .or_insert_with(|| LogFile::new(path, limits))
            .clone()
    }
}

impl ReplicaRun {
    fn name(&self) -> String {
        format!("{}-{}", self.key.0, self.key.1)
    }
}

/// How long a rolling replacement waits for the new replica before stopping the old one.
const ROLLOUT_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Retires a replica replaced rolling: once `successor` is ready (or failed, or after
/// [`ROLLOUT_WAIT`], or at once when berth stops), it stops serving, is drained and stopped.
async fn retire(
    shared: Arc<Shared>,
    id: usize,
    run: ReplicaRun,
    successor: Option<usize>,
    mut hurry: watch::Receiver<bool>,
) {
    if let Some(new) = successor {
        tokio::select! {
            _ = wait_serving(&shared, new) => {}
            _ = hurry.wait_for(|h| *h) => {}
        }
    }
    stop_run(&shared, id, run).await;
}

/// Waits until a new replica is ready, has failed, or [`ROLLOUT_WAIT`] has passed.
async fn wait_serving(shared: &Shared, id: usize) {
    let mut changes = shared.subscribe();
    let deadline = tokio::time::Instant::now() + ROLLOUT_WAIT;
    loop {
        let done = shared.replica_status(id).is_none_or(|r| {
            r.ready
                || matches!(
                    r.phase,
                    Phase::Failed | Phase::Succeeded | Phase::CrashLoop { .. } | Phase::Stopped
                )
        });
        if done
            || tokio::time::timeout_at(deadline, changes.changed())
                .await
                .is_err()
        {
            return;
        }
    }
}

/// Marks a replica not ready, drains it, stops its process and forgets its status.
async fn stop_run(shared: &Shared, id: usize, run: ReplicaRun) {
    shared.replica(id, |s| s.ready = false);
    drain(shared, id).await;
    let _ = run.stop.send(true);
    let _ = run.task.await;
    shared.update(|s| s.replicas.retain(|x| x.id != id));
}

/// Waits until the Ingress has finished the requests it sent to a replica no longer ready
/// (at most [`DRAIN_WAIT`]).
async fn drain(shared: &Shared, id: usize) {
    let Some(ports) = shared
        .replica_status(id)
        .map(|r| r.ports.values().copied().collect::<Vec<_>>())
    else {
        return;
    };
    let deadline = tokio::time::Instant::now() + DRAIN_WAIT;
    while shared.in_flight(&ports) > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// How long a replica being stopped may take to finish the requests it is answering.
const DRAIN_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// A replica the plan asks for, and a fingerprint of everything it would run with.
struct DesiredReplica {
    key: ReplicaKey,
    fingerprint: String,
    workload: Arc<berth_core::Workload>,
    container: usize,
}

impl DesiredReplica {
    fn name(&self) -> String {
        format!("{}-{}", self.key.0, self.key.1)
    }
}

fn desired_replicas(plan: &Plan) -> Vec<DesiredReplica> {
    let mut desired = Vec::new();
    for pw in plan.workloads.iter().filter(|pw| pw.not_runnable.is_none()) {
        let w = Arc::new(pw.workload.clone());
        // The init containers run inside the first container's replica; a change to any of
        // them replaces the pod.
        let inits: Vec<_> = w
            .containers
            .iter()
            .filter(|c| c.init)
            .map(|c| (c, plan.mode(&w.name, &c.name)))
            .collect();
        for index in 0..w.replicas {
            for (ci, c) in w.containers.iter().enumerate().filter(|(_, c)| !c.init) {
                let env = plan.resolve_env(&w, c, index);
                let fingerprint = format!(
                    "{:?}|{:?}|{:?}|{:?}|{:?}|{inits:?}",
                    w.kind,
                    w.restart,
                    c,
                    env,
                    plan.mode(&w.name, &c.name)
                );
                desired.push(DesiredReplica {
                    key: (w.name.clone(), index, c.name.clone()),
                    fingerprint,
                    workload: w.clone(),
                    container: ci,
                });
            }
        }
    }
    desired
}

/// A Service's `<NAME>_SERVICE_HOST`, `_SERVICE_PORT` and `_SERVICE_PORT_<PORT>`, as
/// Kubernetes injects them: at `host`, each port as `port(index, port)` gives it.
pub(crate) fn service_variables(
    name: &str,
    ports: &[berth_core::ServicePort],
    host: &str,
    port: impl Fn(usize, &berth_core::ServicePort) -> String,
    env: &mut Vec<(String, String)>,
) {
    let prefix = env_name(name);
    for (i, sp) in ports.iter().enumerate() {
        let value = port(i, sp);
        if i == 0 {
            env.push((format!("{prefix}_SERVICE_HOST"), host.to_string()));
            env.push((format!("{prefix}_SERVICE_PORT"), value.clone()));
        }
        if let Some(n) = &sp.name {
            env.push((format!("{prefix}_SERVICE_PORT_{}", env_name(n)), value));
        }
    }
}

fn env_name(s: &str) -> String {
    s.to_uppercase().replace(['-', '.'], "_")
}

/// A loopback port free right now (another program may take it before the replica binds it:
/// the supervisor checks again before every start).
pub(crate) fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind(("127.0.0.1", 0))?
        .local_addr()?
        .port())
}

impl Running {
    /// Binds every Service (and the ingress at `ingress`, when the folder has Ingress rules)
    /// and starts every runnable workload, in apply order.
    pub async fn start(dir: &Path, plan: Plan, options: StartOptions) -> std::io::Result<Running> {
        std::fs::create_dir_all(state_dir(dir).join("logs"))?;
        let shared = Arc::new(Shared::new(Status {
            pid: std::process::id(),
            ..Status::default()
        }));
        let state_file = state_file(dir);
        let hurry = watch::channel(false).0;
        let mut background = JoinSet::new();
        background.spawn(write_state(
            shared.clone(),
            state_file.clone(),
            hurry.subscribe(),
        ));
        let mut running = Running {
            shared,
            dir: dir.to_path_buf(),
            ingress_addr: options.ingress,
            ingress: None,
            services: BTreeMap::new(),
            replicas: BTreeMap::new(),
            next_id: 0,
            background,
            state_file,
            last_plan: None,
            prebuilt: Default::default(),
            log_limits: options.log_limits,
            log_files: BTreeMap::new(),
            retiring: JoinSet::new(),
            hurry,
            engine: None,
            pod_nets: Default::default(),
        };
        // Containers a killed berth left behind.
        if engine_marker(dir).exists() {
            // A failure shows on the image-mode replicas, if any.
            let _ = running.connect_engine().await;
        }
        running.apply(plan).await?;
        Ok(running)
    }

    /// Brings the environment to `plan`: unchanged replicas keep running; changed ones restart;
    /// new ones start and removed ones stop.
    /// The objects of the plan last applied (none before the first).
    pub fn applied_objects(&self) -> &[serde_json::Value] {
        self.last_plan.as_ref().map_or(&[], |p| &p.objects)
    }

    pub async fn apply(&mut self, plan: Plan) -> std::io::Result<Applied> {
        self.last_plan = Some(plan.clone());
        let plan = Arc::new(plan);
        let workloads: Vec<WorkloadStatus> = plan
            .workloads
            .iter()
            .map(|pw| WorkloadStatus {
                name: pw.workload.name.clone(),
                kind: pw.workload.kind,
                description: pw.workload.description.clone(),
                desired: pw.workload.replicas,
                not_runnable: pw.not_runnable.clone(),
                build_error: None,
                containers: pw
                    .workload
                    .containers
                    .iter()
                    .map(|c| ContainerStatus {
                        name: c.name.clone(),
                        image: c.image.clone(),
                        runnable: c.run.is_some(),
                        source: plan.is_source(&pw.workload.name, &c.name),
                        mode: plan.mode(&pw.workload.name, &c.name),
                        modes: plan::available_modes(c, plan.engine),
                        help: c.run.as_ref().and_then(|r| r.help.clone()),
                        workdir: c.run.as_ref().and_then(|r| r.workdir.clone()),
                    })
                    .collect(),
            })
            .collect();
        self.shared.update(|s| {
            s.workloads = workloads;
            s.chart = plan.chart.clone();
        });
        self.apply_services(&plan).await?;
        self.apply_ingress(&plan).await?;

        let applied = self.apply_replicas(&plan).await?;
        let generation = self.shared.update(|s| {
            s.generation += 1;
            s.last_apply = Some(applied.clone());
            s.generation
        });
        let what = format!("generation {generation}: {applied}");
        let event = berth_core::timeline::Event::now("Deployed", what, false);
        self.shared.timeline.record(event);
        Ok(applied)
    }

    /// The engine, connected (and cleared of containers an earlier berth left for this
    /// folder) on first use.
    async fn connect_engine(&mut self) -> Result<Arc<engine::Engine>, crate::Error> {
        if let Some(e) = &self.engine {
            return e.clone();
        }
        let result = engine::Engine::connect_for(&self.dir).await.map(Arc::new);
        if let Ok(e) = &result {
            let _ = std::fs::write(engine_marker(&self.dir), &e.name);
            let left = container::remove_leftovers(e, &self.dir).await.unwrap_or(0);
            if left > 0 {
                self.shared.logs.push(
                    "berth",
                    "berth",
                    "berth",
                    format!("removed {left} containers an earlier berth up left behind"),
                );
            }
        }
        self.engine = Some(result.clone());
        result
    }

    /// Replicas: unchanged ones keep running (same fingerprint of what each would run); a
    /// changed replica of a Deployment is replaced rolling (the new one starts, and the old one
    /// stops once the new one is ready, so traffic never finds none); other changed replicas
    /// (StatefulSets, Jobs) stop before their successor starts, as Kubernetes does.
    async fn apply_replicas(&mut self, plan: &Arc<Plan>) -> std::io::Result<Applied> {
        let desired = desired_replicas(plan);
        let mut applied = Applied::default();
        let is_desired =
            |k: &ReplicaKey, f: &str| desired.iter().any(|d| d.key == *k && d.fingerprint == f);
        let going: Vec<usize> = self
            .replicas
            .iter()
            .filter(|(_, r)| !is_desired(&r.key, &r.fingerprint))
            .map(|(id, _)| *id)
            .collect();
        let mut rolling = Vec::new();
        for id in going {
            let r = &self.replicas[&id];
            let replaced = desired.iter().any(|d| d.key == r.key);
            if replaced {
                applied.restarted.push(r.name());
            } else {
                applied.stopped.push(r.name());
            }
            let serving = self.shared.replica_status(id).is_some_and(|s| s.ready);
            if replaced && serving && r.rolling {
                rolling.push(id);
            } else {
                self.stop_replica(id).await;
            }
        }
        let service_env = self.service_env();
        let images = plan
            .modes
            .values()
            .any(|m| *m == berth_core::view::Mode::Image);
        let engine = if images {
            self.connect_engine().await
        } else {
            Err(crate::error::engine("no container runs in image mode"))
        };
        let mut successors = BTreeMap::new();
        for d in desired {
            let running = self
                .replicas
                .values()
                .any(|r| r.key == d.key && r.fingerprint == d.fingerprint);
            if running {
                applied.unchanged.push(d.name());
                continue;
            }
            if !applied.restarted.contains(&d.name()) {
                applied.started.push(d.name());
            }
            let key = d.key.clone();
            let id = self.start_replica(plan, d, &service_env, engine.clone())?;
            successors.insert(key, id);
        }
        // The old replicas retire in the background, each once its successor serves: the apply
        // (and whatever berth does next, such as watching a source) does not wait for them.
        while self.retiring.try_join_next().is_some() {}
        for old in rolling {
            let Some(run) = self.replicas.remove(&old) else {
                continue;
            };
            let successor = successors.get(&run.key).copied();
            let (shared, hurry) = (self.shared.clone(), self.hurry.subscribe());
            self.retiring
                .spawn(retire(shared, old, run, successor, hurry));
        }
        Ok(applied)
    }

    /// Stops one replica (no traffic reaches it from the moment it is asked to stop) and
    /// forgets it.
    async fn stop_replica(&mut self, id: usize) {
        let Some(r) = self.replicas.remove(&id) else {
            return;
        };
        stop_run(&self.shared, id, r).await;
    }

    fn start_replica(
        &mut self,
        plan: &Arc<Plan>,
        d: DesiredReplica,
        service_env: &[(String, String)],
        engine: Result<Arc<engine::Engine>, crate::Error>,
    ) -> std::io::Result<usize> {
        let w = d.workload;
        let c = &w.containers[d.container];
        let mut ports = BTreeMap::new();
        for p in &c.ports {
            ports.insert(p.port, free_port()?);
        }
        let id = self.next_id;
        self.next_id += 1;
        self.shared.update(|s| {
            s.replicas.push(ReplicaStatus {
                id,
                workload: w.name.clone(),
                index: d.key.1,
                container: c.name.clone(),
                pid: None,
                ports,
                port_names: c
                    .ports
                    .iter()
                    .filter_map(|p| Some((p.name.clone()?, p.port)))
                    .collect(),
                phase: Phase::Starting,
                ready: false,
                restarts: 0,
                started: None,
                probe_failures: 0,
                source: plan.is_source(&w.name, &c.name),
                message: None,
                initialized: !w.containers.iter().any(|c| c.init),
            })
        });
        let job = supervisor::Replica {
            id,
            workload: w.clone(),
            container: d.container,
            index: d.key.1,
            dir: self.dir.clone(),
            log: self.log_file(&w.name),
            plan: plan.clone(),
            service_env: service_env.to_vec(),
            shared: self.shared.clone(),
            prebuilt: self.prebuilt.contains(&w.name),
            engine,
            pod_nets: self.pod_nets.clone(),
        };
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(job.run(stop_rx));
        self.replicas.insert(
            id,
            ReplicaRun {
                key: d.key,
                rolling: w.kind == WorkloadKind::Deployment
                    && !supervisor::shares_network(plan, &w),
                fingerprint: d.fingerprint,
                stop,
                task,
            },
        );
        Ok(id)
    }

    /// `<NAME>_SERVICE_HOST` and friends, as Kubernetes injects them.
    fn service_env(&self) -> Vec<(String, String)> {
        let status = self.shared.snapshot();
        let mut env = Vec::new();
        for svc in &status.services {
            let port = |i: usize, _: &berth_core::ServicePort| {
                let addr = svc.addresses.get(i).map_or("", String::as_str);
                addr.rsplit(':').next().unwrap_or_default().to_string()
            };
            service_variables(&svc.name, &svc.ports, "127.0.0.1", port, &mut env);
        }
        env
    }

    async fn apply_services(&mut self, plan: &Plan) -> std::io::Result<()> {
        let gone: Vec<String> = self
            .services
            .iter()
            .filter(|(name, run)| {
                !plan
                    .services
                    .iter()
                    .any(|s| &s.name == *name && *s == run.spec)
            })
            .map(|(name, _)| name.clone())
            .collect();
        for name in gone {
            if let Some(run) = self.services.remove(&name) {
                run.tasks.iter().for_each(|t| t.abort());
            }
        }
        let mut statuses = Vec::new();
        for svc in &plan.services {
            let selected: Vec<String> = plan
                .workloads
                .iter()
                .filter(|pw| svc.selects(&pw.workload))
                .map(|pw| pw.workload.name.clone())
                .collect();
            let old = self
                .shared
                .snapshot()
                .services
                .into_iter()
                .find(|s| s.name == svc.name);
            let mut notes = Vec::new();
            let addresses = match (self.services.contains_key(&svc.name), old) {
                (true, Some(old)) => {
                    notes = old.notes;
                    old.addresses
                }
                _ => {
                    let mut addresses = Vec::new();
                    let mut tasks = Vec::new();
                    for (i, sp) in svc.ports.iter().enumerate() {
                        let listener = proxy::bind(sp.port).await?;
                        let bound = listener.local_addr()?.port();
                        if bound != sp.port {
                            let why = match port_holder(sp.port) {
                                Some(h) => format!("in use by {h}"),
                                None => "not available".to_string(),
                            };
                            notes.push(format!(
                                "port {} is {why}; listening on 127.0.0.1:{bound} instead",
                                sp.port
                            ));
                        }
                        addresses.push(format!("127.0.0.1:{bound}"));
                        let route = proxy::Route {
                            service: svc.name.clone(),
                            port_index: i,
                            listener,
                        };
                        tasks.push(
                            tokio::spawn(proxy::serve(route, self.shared.clone())).abort_handle(),
                        );
                    }
                    self.services.insert(
                        svc.name.clone(),
                        ServiceRun {
                            spec: svc.clone(),
                            tasks,
                        },
                    );
                    addresses
                }
            };
            statuses.push(ServiceStatus {
                name: svc.name.clone(),
                addresses,
                ports: svc.ports.clone(),
                workloads: selected,
                notes,
            });
        }
        self.shared.update(|s| s.services = statuses);
        Ok(())
    }

    async fn apply_ingress(&mut self, plan: &Plan) -> std::io::Result<()> {
        self.shared.set_ingress_rules(plan.ingress.clone());
        if self.ingress.is_none() && !plan.ingress.is_empty() {
            let addr = self.ingress_addr;
            let l = std::net::TcpListener::bind(addr).map_err(|e| {
                let holder = port_holder(addr.port()).map(|h| format!(" is in use by {h}")).unwrap_or_default();
                std::io::Error::new(
                    e.kind(),
                    format!("ingress address {addr}{holder}: {e}\n  = help: stop it, or choose another address with --ingress 127.0.0.1:PORT"),
                )
            })?;
            let url = format!("http://{}", l.local_addr()?);
            self.shared.update(|s| s.ingress = Some(url));
            self.ingress = Some(ingress::Served::start(l, self.shared.clone())?);
        }
        Ok(())
    }

    /// Replaces every replica of a workload with a new one from the current plan.
    pub async fn restart(&mut self, workload: &str) -> std::io::Result<Applied> {
        let Some(plan) = self.last_plan.clone() else {
            return Ok(Applied::default());
        };
        // Every replica of the workload counts as changed: the apply replaces them (rolling for
        // a Deployment).
        for r in self.replicas.values_mut().filter(|r| r.key.0 == workload) {
            r.fingerprint.clear();
        }
        self.apply(plan).await
    }

    /// Restarts a workload whose source build has just succeeded (the replicas skip building).
    pub async fn restart_built(&mut self, workload: &str) -> std::io::Result<Applied> {
        self.prebuilt.insert(workload.to_string());
        let result = self.restart(workload).await;
        self.prebuilt.clear();
        result
    }

    /// Source mode's build of a workload (every container in source mode with a `build`); a
    /// failure is shown on the workload and nothing is restarted.
    pub async fn build_source(&mut self, workload: &str) -> Result<(), crate::Error> {
        use crate::error::start;
        let plan = self
            .last_plan
            .clone()
            .ok_or_else(|| start("nothing runs yet"))?;
        let pw = plan
            .workloads
            .iter()
            .find(|pw| pw.workload.name == workload)
            .ok_or_else(|| start(format!("no workload {workload}")))?;
        for c in &pw.workload.containers {
            let Some(run) = c.run.as_ref().filter(|_| plan.is_source(workload, &c.name)) else {
                continue;
            };
            let Some(build) = run.build.as_ref().filter(|b| !b.is_empty()) else {
                continue;
            };
            let workdir = match &run.workdir {
                Some(w) => self.dir.join(w),
                None => self.dir.clone(),
            };
            let out = tokio::process::Command::new(&build[0])
                .args(&build[1..])
                .current_dir(&workdir)
                .envs(run.env.iter())
                .stdin(std::process::Stdio::null())
                .kill_on_drop(true)
                .output()
                .await
                .map_err(|e| start(format!("cannot run the build {:?}: {e}", build.join(" "))))?;
            let replica = format!("{workload}-build");
            for bytes in [&out.stdout, &out.stderr] {
                for line in String::from_utf8_lossy(bytes).lines() {
                    self.shared
                        .logs
                        .push(workload, &replica, "build", line.to_string());
                }
            }
            if !out.status.success() {
                let tail: Vec<String> = String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .rev()
                    .take(3)
                    .map(str::to_string)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                let why = format!(
                    "build {:?} failed ({}); the previous version keeps serving: {}",
                    build.join(" "),
                    out.status,
                    tail.join(" | ")
                );
                self.shared.update(|s| {
                    if let Some(w) = s.workloads.iter_mut().find(|w| w.name == workload) {
                        w.build_error = Some(why.clone());
                    }
                });
                return Err(start(why));
            }
        }
        self.shared.update(|s| {
            if let Some(w) = s.workloads.iter_mut().find(|w| w.name == workload) {
                w.build_error = None;
            }
        });
        Ok(())
    }

    /// What source mode watches: each workload with a container in source mode.
    pub fn watched_sources(&self) -> Vec<source::Watched> {
        let Some(plan) = &self.last_plan else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for pw in &plan.workloads {
            for c in &pw.workload.containers {
                let Some(run) = c
                    .run
                    .as_ref()
                    .filter(|_| plan.is_source(&pw.workload.name, &c.name))
                else {
                    continue;
                };
                out.push(source::Watched {
                    workload: pw.workload.name.clone(),
                    root: match &run.workdir {
                        Some(w) => self.dir.join(w),
                        None => self.dir.clone(),
                    },
                    globs: run.watch.clone(),
                });
            }
        }
        out
    }

    /// Stops every process (SIGTERM, grace period, SIGKILL) and every listener.
    pub async fn shutdown(mut self) {
        let _ = self.hurry.send(true);
        for r in self.replicas.values() {
            let _ = r.stop.send(true);
        }
        while self.retiring.join_next().await.is_some() {}
        for (_, r) in std::mem::take(&mut self.replicas) {
            let _ = r.task.await;
        }
        for run in self.services.values() {
            run.tasks.iter().for_each(|t| t.abort());
        }
        self.ingress = None;
        if let Some(Ok(engine)) = &self.engine {
            if container::remove_leftovers(engine, &self.dir).await.is_ok() {
                let _ = std::fs::remove_file(engine_marker(&self.dir));
            }
        }
        // The state writer ends between writes (it saw `hurry`).
        while self.background.join_next().await.is_some() {}
        let _ = std::fs::remove_file(&self.state_file);
        self.engine = None;
        reap_children(std::time::Duration::from_millis(500)).await;
    }
}

/// Reaps every child process that has ended, waiting up to `within` for those just stopped
/// (an engine service killed on drop), so that none is left a zombie when berth exits.
async fn reap_children(within: std::time::Duration) {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    let deadline = std::time::Instant::now() + within;
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await
            }
            Ok(WaitStatus::StillAlive) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// Keeps the state file current, written atomically.
/// Ends between writes when `closing` turns true (never mid-write: a write cut short would
/// still finish on the blocking pool, after the file is removed).
async fn write_state(shared: Arc<Shared>, path: PathBuf, mut closing: watch::Receiver<bool>) {
    let mut changes = shared.subscribe();
    loop {
        let text = serde_json::to_string_pretty(&shared.snapshot()).unwrap_or_default();
        let tmp = path.with_extension("json.tmp");
        if tokio::fs::write(&tmp, text).await.is_ok() {
            let _ = tokio::fs::rename(&tmp, &path).await;
        }
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { return },
            _ = closing.wait_for(|c| *c) => return,
        }
        // Coalesce bursts of changes into one write.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
