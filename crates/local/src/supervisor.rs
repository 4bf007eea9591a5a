//! One supervised process: start, log, probe, restart with back-off, stop gracefully.

use crate::engine::Engine;
use crate::error::{folder, start, Error, ErrorKind};
use crate::instance::{Instance, Target};
use crate::log_file::{LogFile, WriteOutcome};
use crate::plan::Plan;
use crate::state::{Phase, Shared};
use berth_core::view::Mode;
use berth_core::{Container, Probe, RestartPolicy, Workload, WorkloadKind};
use nix::sys::signal::Signal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};
use tokio::sync::watch;

/// Restart back-off: doubles from the first delay up to the cap; reset after a long enough run.
const BACKOFF_FIRST: Duration = Duration::from_secs(1);
const BACKOFF_CAP: Duration = Duration::from_secs(60);
const HEALTHY_RUN: Duration = Duration::from_secs(10);
/// Readiness retry before the first success (Kubernetes would wait a whole period).
const FIRST_PROBE_RETRY: Duration = Duration::from_millis(20);

/// Host variables a process needs to find its interpreter and home; the rest is the spec's.
const PASS_THROUGH: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LANG",
    "LC_ALL",
    "TERM",
    "TMPDIR",
    "VIRTUAL_ENV",
];

/// Whether a workload's pods hold several containers in image mode, which then share one
/// network namespace (a holder container's).
pub(crate) fn shares_network(plan: &Plan, w: &Workload) -> bool {
    w.containers
        .iter()
        .filter(|c| !c.init && plan.mode(&w.name, &c.name) == Some(Mode::Image))
        .count()
        > 1
}

/// How one run of a process ended.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    /// A Job's process is done (succeeded, or failed for good).
    Completed,
    /// berth is stopping it, or it cannot start until the folder changes.
    Stopped,
}

/// One supervised replica: a container of a workload, replica `index`, and what it needs to run.
#[derive(Clone)]
pub struct Replica {
    pub id: usize,
    pub workload: Arc<Workload>,
    pub container: usize,
    pub index: u32,
    pub dir: PathBuf,
    /// The workload's log file, shared by its replicas.
    pub log: Arc<LogFile>,
    pub plan: Arc<Plan>,
    /// Service variables (`<NAME>_SERVICE_HOST`, ...) for every process.
    pub service_env: Vec<(String, String)>,
    pub shared: Arc<Shared>,
    /// Source mode: the build just ran (a reload built once for all replicas).
    pub prebuilt: bool,
    /// The container engine, for image mode (or why there is none).
    pub engine: Result<Arc<Engine>, Error>,
    /// The network holders of pods with several containers in image mode.
    pub pod_nets: Arc<crate::container::PodNets>,
}

impl Replica {
    fn container(&self) -> &Container {
        &self.workload.containers[self.container]
    }

    /// The full environment of this replica, or why it cannot be built.
    fn env(&self) -> Result<Vec<(String, String)>, Error> {
        let mut env: Vec<(String, String)> = PASS_THROUGH
            .iter()
            .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
            .collect();
        env.push(("PYTHONUNBUFFERED".into(), "1".into()));
        env.push((
            "HOSTNAME".into(),
            format!("{}-{}", self.workload.name, self.index),
        ));
        env.extend(self.service_env.iter().cloned());
        let ports = self
            .shared
            .replica_status(self.id)
            .map(|r| r.ports)
            .unwrap_or_default();
        let c = self.container();
        for (i, p) in c.ports.iter().enumerate() {
            let local = ports.get(&p.port).copied().unwrap_or(p.port).to_string();
            if i == 0 {
                env.push(("PORT".into(), local.clone()));
            }
            if let Some(name) = &p.name {
                env.push((
                    format!("PORT_{}", name.to_uppercase().replace('-', "_")),
                    local,
                ));
            }
        }
        env.extend(self.plan.resolve_env(&self.workload, c, self.index)?);
        // The spec's own PORT would point at the container port; locally the replica's port wins.
        if let Some(local) = ports.values().next() {
            env.retain(|(k, _)| k != "PORT");
            env.push(("PORT".into(), local.to_string()));
        }
        if let Some(run) = &c.run {
            env.extend(run.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        Ok(env)
    }

    /// Moves this replica to a fresh port for each of its ports another program took since it
    /// was chosen (an outgoing connection, another tool), so the replica can bind it; says so in
    /// its logs. Routes read ports per connection, so traffic follows.
    fn claim_ports(&self) {
        let Some(status) = self.shared.replica_status(self.id) else {
            return;
        };
        for (container_port, local) in status.ports {
            if std::net::TcpListener::bind(("127.0.0.1", local)).is_ok() {
                continue;
            }
            let Ok(fresh) = crate::free_port() else {
                continue;
            };
            self.shared.replica(self.id, |r| {
                r.ports.insert(container_port, fresh);
            });
            let sink = self.log_sink();
            sink.line(
                "berth",
                format!("port {local} is taken by another program; this replica listens on {fresh} instead"),
                true,
            );
        }
    }

    fn workdir(&self) -> PathBuf {
        match self
            .container()
            .run
            .as_ref()
            .and_then(|r| r.workdir.as_deref())
        {
            Some(w) => self.dir.join(w),
            None => self.dir.clone(),
        }
    }

    /// In source mode, runs the run spec's `build` first; its output goes to the logs.
    async fn build(&self, env: &[(String, String)]) -> Result<(), Error> {
        let c = self.container();
        let Some(build) = c.run.as_ref().and_then(|r| r.build.as_ref()) else {
            return Ok(());
        };
        if !self.plan.is_source(&self.workload.name, &c.name) || build.is_empty() || self.prebuilt {
            return Ok(());
        }
        let replica = format!("{}-{}", self.workload.name, self.index);
        let out = Command::new(&build[0])
            .args(&build[1..])
            .current_dir(self.workdir())
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
            .map_err(|e| start(format!("cannot run the build {:?}: {e}", build.join(" "))))?;
        for (stream, bytes) in [("build", &out.stdout), ("build", &out.stderr)] {
            for line in String::from_utf8_lossy(bytes).lines() {
                self.shared
                    .logs
                    .push(&self.workload.name, &replica, stream, line.to_string());
            }
        }
        if out.status.success() {
            Ok(())
        } else {
            Err(start(format!(
                "the build {:?} failed ({}); its output is in the logs",
                build.join(" "),
                out.status
            )))
        }
    }

    fn is_image(&self) -> bool {
        self.plan.mode(&self.workload.name, &self.container().name) == Some(Mode::Image)
    }

    /// A container's environment: its spec's, resolved, and the Services as Kubernetes
    /// injects them, at the addresses they have inside containers (no host variables).
    fn image_env(&self) -> Result<Vec<(String, String)>, Error> {
        let mut env = Vec::new();
        for svc in &self.plan.services {
            let host = crate::pod_net::service_address(&svc.name).to_string();
            let port = |_: usize, sp: &berth_core::ServicePort| sp.port.to_string();
            crate::service_variables(&svc.name, &svc.ports, &host, port, &mut env);
        }
        env.extend(
            self.plan
                .resolve_env(&self.workload, self.container(), self.index)?,
        );
        Ok(env)
    }

    /// Starts the replica the way its mode says: a process, or a container on the engine.
    async fn start(&self, env: &[(String, String)]) -> Result<Instance, Error> {
        if !self.is_image() {
            return self.spawn(env).map(Instance::Process);
        }
        let engine = self
            .engine
            .clone()
            .map_err(|e| e.with_kind(ErrorKind::Folder))?;
        // Only the ports this container declares (an init container runs in the first
        // container's replica and publishes none of its ports).
        let mut ports = self
            .shared
            .replica_status(self.id)
            .map(|r| r.ports)
            .unwrap_or_default();
        ports.retain(|p, _| self.container().ports.iter().any(|c| c.port == *p));
        let pod = crate::container::Pod {
            engine: &engine,
            folder: &self.dir,
            workload: &self.workload,
            container: self.container(),
            index: self.index,
            id: self.id,
            plan: &self.plan,
            ports,
        };
        // Each step of a pull is a line in the logs and, while it lasts, the replica's message
        // (what `berth up` and the dashboard show).
        let sink = self.log_sink();
        let note = |line: String| {
            self.shared
                .replica(self.id, |r| r.message = Some(line.clone()));
            sink.line("berth", line, true);
        };
        pod.ensure_image(&note).await?;
        let hosts: Vec<String> = self
            .plan
            .services
            .iter()
            .flat_map(|s| crate::pod_net::host_entries(&s.name, &self.plan.namespace))
            .collect();
        let key = (self.workload.name.clone(), self.index);
        let shared = shares_network(&self.plan, &self.workload);
        let network = if shared {
            let make = async {
                let started = pod.start_holder(&self.pod_ports(), hosts.clone()).await?;
                let listeners = self.pod_listeners(started.pid);
                Ok((started, listeners))
            };
            let holder = self.pod_nets.acquire(key.clone(), &engine, make).await;
            Some(holder?)
        } else {
            None
        };
        let started = match pod.start(env, hosts, network.as_deref()).await {
            Ok(s) => s,
            Err(why) => {
                if shared {
                    self.pod_nets.release(&key).await;
                }
                return Err(why);
            }
        };
        let listeners = if shared {
            Vec::new()
        } else {
            self.pod_listeners(started.pid)
        };
        Ok(Instance::Container {
            engine,
            id: started.id,
            pid: started.pid,
            listeners,
            pod: shared.then(|| (self.pod_nets.clone(), key)),
        })
    }

    /// The published ports of every image-mode container of this replica's pod.
    fn pod_ports(&self) -> std::collections::BTreeMap<u16, u16> {
        self.shared
            .snapshot()
            .replicas
            .into_iter()
            .filter(|r| r.workload == self.workload.name && r.index == self.index)
            .filter(|r| self.plan.mode(&r.workload, &r.container) == Some(Mode::Image))
            .flat_map(|r| r.ports)
            .collect()
    }

    /// The Services' listeners inside a container's network namespace, so it reaches them by
    /// name; a port the pod's own containers declare is left to them (said in the logs).
    fn pod_listeners(&self, pid: u32) -> Vec<tokio::task::AbortHandle> {
        let own: Vec<u16> = self
            .workload
            .containers
            .iter()
            .flat_map(|c| c.ports.iter().map(|p| p.port))
            .collect();
        let mut wanted = Vec::new();
        for svc in &self.plan.services {
            let ip = crate::pod_net::service_address(&svc.name);
            for (i, sp) in svc.ports.iter().enumerate() {
                if own.contains(&sp.port) {
                    let note = format!(
                        "service {} port {} is this pod's own port too: not reachable by name from this pod",
                        svc.name, sp.port
                    );
                    self.log_sink().line("berth", note, true);
                    continue;
                }
                wanted.push((
                    svc.name.clone(),
                    i,
                    std::net::SocketAddr::from((ip, sp.port)),
                ));
            }
        }
        if wanted.is_empty() || pid == 0 {
            return Vec::new();
        }
        let addrs = wanted.iter().map(|w| w.2).collect();
        let listeners = match crate::pod_net::bind_in(pid, addrs) {
            Ok(l) => l,
            Err(why) => {
                let note = format!("Services are not reachable by name from this container: {why}");
                self.log_sink().line("berth", note, true);
                return Vec::new();
            }
        };
        wanted
            .into_iter()
            .zip(listeners)
            .filter_map(|((service, port_index, _), l)| {
                let listener = tokio::net::TcpListener::from_std(l).ok()?;
                let route = crate::proxy::Route {
                    service,
                    port_index,
                    listener,
                };
                Some(tokio::spawn(crate::proxy::serve(route, self.shared.clone())).abort_handle())
            })
            .collect()
    }

    fn spawn(&self, env: &[(String, String)]) -> Result<Child, Error> {
        let run = self
            .container()
            .run
            .as_ref()
            .expect("only runnable containers are supervised");
        let workdir = self.workdir();
        if !workdir.is_dir() {
            return Err(folder(format!(
                "workdir {} does not exist",
                workdir.display()
            )));
        }
        let mut cmd = Command::new(&run.command[0]);
        cmd.args(&run.command[1..])
            .current_dir(&workdir)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                // Die with berth, even when berth is SIGKILLed: no orphans.
                nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)
            });
        }
        cmd.spawn().map_err(|e| {
            start(format!(
                "cannot start {:?} in {}: {e}",
                run.command.join(" "),
                workdir.display()
            ))
        })
    }

    fn log_sink(&self) -> LogSink {
        LogSink {
            log: self.log.clone(),
            shared: self.shared.clone(),
            service: self.workload.name.clone(),
            replica: format!("{}-{}", self.workload.name, self.index),
            id: self.id,
        }
    }

    fn probe_task(
        &self,
        probe: Probe,
        liveness: bool,
        env: Vec<(String, String)>,
        target: Target,
    ) -> tokio::task::JoinHandle<()> {
        let shared = self.shared.clone();
        let id = self.id;
        let workdir = self.workdir();
        tokio::spawn(async move {
            tokio::time::sleep(probe.initial_delay).await;
            let (mut ok, mut bad) = (0u32, 0u32);
            loop {
                let port = match &probe.action {
                    berth_core::ProbeAction::HttpGet { port, .. }
                    | berth_core::ProbeAction::TcpSocket { port } => {
                        shared.replica_status(id).and_then(|r| r.local_port(port))
                    }
                    berth_core::ProbeAction::Exec { .. } => None,
                };
                let outcome = match (&probe.action, &target) {
                    (berth_core::ProbeAction::Exec { command }, Target::Container(engine, id)) => {
                        crate::container::exec(engine, id, command, probe.timeout).await
                    }
                    _ => {
                        crate::probe::check(&probe.action, port, probe.timeout, &workdir, &env)
                            .await
                    }
                };
                match outcome {
                    Ok(()) => {
                        ok += 1;
                        bad = 0;
                        if !liveness && ok >= probe.success_threshold {
                            shared.replica(id, |r| {
                                r.ready = true;
                                r.message = None;
                            });
                        }
                    }
                    Err(why) => {
                        bad += 1;
                        ok = 0;
                        if bad >= probe.failure_threshold {
                            let kind = if liveness { "liveness" } else { "readiness" };
                            shared.replica(id, |r| {
                                r.ready = r.ready && liveness;
                                r.probe_failures += 1;
                                r.message = Some(format!("{kind} probe failed: {}", why.message));
                            });
                            if liveness {
                                target.kill().await;
                                return;
                            }
                        }
                    }
                }
                // Until the first success, probe quickly so a fresh replica takes traffic as soon
                // as it can; after that, Kubernetes' period.
                let started = liveness || shared.replica_status(id).is_some_and(|r| r.ready);
                tokio::time::sleep(if started {
                    probe.period
                } else {
                    probe.period.min(FIRST_PROBE_RETRY)
                })
                .await;
            }
        })
    }

    /// Runs until `stop` turns true.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        if !self.wait_for_dependencies(&mut stop).await {
            return self.finish();
        }
        let Some(schedule) = self.workload.schedule.clone() else {
            if self.run_once(&mut stop).await == Ended::Completed {
                // A finished Job keeps showing its outcome until berth stops.
                let _ = stop.wait_for(|s| *s).await;
                return;
            }
            return self.finish();
        };
        loop {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs() as i64;
            let Some(next) = schedule.next_after(now) else {
                self.shared.replica(self.id, |r| {
                    r.phase = Phase::Failed;
                    r.message = Some(format!("schedule {schedule:?} never fires"));
                });
                let _ = stop.wait_for(|s| *s).await;
                break;
            };
            let last = self.shared.replica_status(self.id).map(|r| r.phase);
            let outcome = match last {
                Some(Phase::Succeeded) => "; the last run succeeded",
                Some(Phase::Failed) => "; the last run failed",
                _ => "",
            };
            let at = format!(
                "{:02}:{:02} UTC",
                next.rem_euclid(86_400) / 3600,
                next.rem_euclid(3600) / 60
            );
            self.shared.replica(self.id, |r| {
                r.phase = Phase::Waiting;
                r.message = Some(format!("next run at {at}{outcome}"));
            });
            let wait = Duration::from_secs((next - now).max(0) as u64);
            if tokio::time::timeout(wait, stop.wait_for(|s| *s))
                .await
                .is_ok()
            {
                break;
            }
            if self.run_once(&mut stop).await == Ended::Stopped {
                break;
            }
        }
        self.finish();
    }

    /// Runs the process until it completes (Jobs), or until stopped.
    async fn run_once(&self, stop: &mut watch::Receiver<bool>) -> Ended {
        if let Err(ended) = self.initialize(stop).await {
            return ended;
        }
        let mut backoff = BACKOFF_FIRST;
        let mut attempts = 0;
        while !*stop.borrow() {
            let env = match self.prepare().await {
                Ok(env) => env,
                Err(why) => return self.fail_until_stopped(why, stop).await,
            };
            let started = Instant::now();
            let instance = match self.start(&env).await {
                Ok(i) => i,
                Err(why) if !why.kind.retryable() => {
                    return self.fail_until_stopped(why, stop).await
                }
                Err(why) => {
                    self.shared.replica(self.id, |r| {
                        r.phase = Phase::CrashLoop {
                            retry_in_ms: backoff.as_millis() as u64,
                        };
                        r.message = Some(why.message.clone());
                    });
                    if !back_off(&mut backoff, stop).await {
                        break;
                    }
                    continue;
                }
            };
            let Some(status) = self.supervise(instance, &env, stop).await else {
                break;
            };
            if started.elapsed() >= HEALTHY_RUN {
                backoff = BACKOFF_FIRST;
            }
            if self.exited(status, attempts, backoff) {
                return Ended::Completed;
            }
            attempts += 1;
            if !back_off(&mut backoff, stop).await {
                break;
            }
        }
        Ended::Stopped
    }

    /// Init containers: the pod's first container runs them, in order, each to completion (a
    /// failed one again after a back-off, or the pod fails when its restart policy is Never);
    /// the pod's other containers wait for that.
    async fn initialize(&self, stop: &mut watch::Receiver<bool>) -> Result<(), Ended> {
        let w = &self.workload;
        let first = w.containers.iter().position(|c| !c.init);
        if first != Some(self.container) {
            let ready = |s: &crate::state::Status| {
                s.replicas.iter().any(|r| {
                    r.workload == w.name
                        && r.index == self.index
                        && Some(r.container.as_str())
                            == first.map(|f| w.containers[f].name.as_str())
                        && r.initialized
                })
            };
            let mut changes = self.shared.subscribe();
            while !ready(&self.shared.snapshot()) {
                self.shared.replica(self.id, |r| {
                    r.phase = Phase::Waiting;
                    r.message = Some("waiting for the pod's init containers".into());
                });
                tokio::select! {
                    _ = changes.changed() => {}
                    _ = stop.wait_for(|s| *s) => return Err(Ended::Stopped),
                }
            }
            return Ok(());
        }
        self.shared.replica(self.id, |r| r.initialized = false);
        for (k, c) in w.containers.iter().enumerate().filter(|(_, c)| c.init) {
            let init = Replica {
                container: k,
                ..self.clone()
            };
            let mut backoff = BACKOFF_FIRST;
            loop {
                self.shared.replica(self.id, |r| {
                    r.phase = Phase::Waiting;
                    r.message = Some(format!("init container {} running", c.name));
                });
                let why = match init.run_to_end(stop).await? {
                    Ok(()) => break,
                    Err(why) => start(format!("init container {}: {}", c.name, why.message)),
                };
                if w.restart == RestartPolicy::Never {
                    return Err(self.fail_until_stopped(why, stop).await);
                }
                self.shared.replica(self.id, |r| {
                    r.phase = Phase::CrashLoop {
                        retry_in_ms: backoff.as_millis() as u64,
                    };
                    r.restarts += 1;
                    r.message = Some(why.message.clone());
                });
                if !back_off(&mut backoff, stop).await {
                    return Err(Ended::Stopped);
                }
            }
        }
        self.shared.replica(self.id, |r| {
            r.initialized = true;
            r.message = None;
        });
        Ok(())
    }

    /// Runs this (init) container once until it exits: `Ok(Ok(()))` when it succeeded,
    /// `Ok(Err(why))` when it did not, `Err` when berth stops it first.
    async fn run_to_end(
        &self,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<Result<(), Error>, Ended> {
        let env = match self.prepare().await {
            Ok(env) => env,
            Err(why) => return Ok(Err(why)),
        };
        let mut instance = match self.start(&env).await {
            Ok(i) => i,
            Err(why) => return Ok(Err(why)),
        };
        let mut logs = instance.follow_logs(self.log_sink());
        let exit = tokio::select! {
            status = instance.wait() => Some(status),
            _ = stop.wait_for(|s| *s) => None,
        };
        let Some(exit) = exit else {
            instance.stop(self.workload.termination_grace).await;
            logs.iter().for_each(|t| t.abort());
            return Err(Ended::Stopped);
        };
        for t in &mut logs {
            let _ = tokio::time::timeout(Duration::from_secs(1), t).await;
        }
        instance.cleanup().await;
        match exit {
            Ok(s) if s.success() => Ok(Ok(())),
            Ok(s) => Ok(Err(start(format!("exited with {s}")))),
            Err(e) => Ok(Err(start(format!("lost it: {e}")))),
        }
    }

    /// Everything before a start: free ports, the environment, source mode's build.
    async fn prepare(&self) -> Result<Vec<(String, String)>, Error> {
        self.claim_ports();
        let env = if self.is_image() {
            self.image_env()?
        } else {
            self.env()?
        };
        self.shared.replica(self.id, |r| r.phase = Phase::Starting);
        self.build(&env).await?;
        Ok(env)
    }

    /// Shows why the replica cannot start, until the folder changes (berth stops it).
    async fn fail_until_stopped(&self, why: Error, stop: &mut watch::Receiver<bool>) -> Ended {
        self.shared.replica(self.id, |r| {
            r.phase = Phase::Failed;
            r.message = Some(why.message.clone());
        });
        let _ = stop.wait_for(|s| *s).await;
        Ended::Stopped
    }

    /// A started replica: its logs and probes until it exits (its exit status), or until berth
    /// stops it (`None`; it is then stopped gracefully).
    async fn supervise(
        &self,
        mut instance: Instance,
        env: &[(String, String)],
        stop: &mut watch::Receiver<bool>,
    ) -> Option<std::io::Result<std::process::ExitStatus>> {
        let pid = instance.pid();
        let c = self.container();
        // Jobs do not serve; long-running replicas without a probe are ready once running.
        let ready_now = c.readiness.is_none()
            && !matches!(
                self.workload.kind,
                WorkloadKind::Job | WorkloadKind::CronJob
            );
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        self.shared.replica(self.id, |r| {
            r.pid = Some(pid);
            r.started = Some(now);
            r.phase = Phase::Running;
            r.ready = ready_now;
            r.message = None;
        });
        let mut logs = instance.follow_logs(self.log_sink());
        let mut probes = Vec::new();
        for (probe, liveness) in [(&c.readiness, false), (&c.liveness, true)] {
            if let Some(p) = probe.clone() {
                probes.push(self.probe_task(p, liveness, env.to_vec(), instance.target()));
            }
        }
        let exit = tokio::select! {
            status = instance.wait() => Some(status),
            _ = stop.wait_for(|s| *s) => None,
        };
        probes.iter().for_each(|t| t.abort());
        if exit.is_none() {
            self.shared.replica(self.id, |r| r.ready = false);
            instance.stop(self.workload.termination_grace).await;
        } else {
            // Its last lines, before what is left of it goes.
            for t in &mut logs {
                let _ = tokio::time::timeout(Duration::from_secs(1), t).await;
            }
            instance.cleanup().await;
        }
        logs.iter().for_each(|t| t.abort());
        exit
    }

    /// Records how a run ended; true when the replica is done for good (a Job that succeeded or
    /// failed for the last time), false when it restarts after `backoff`.
    fn exited(
        &self,
        status: std::io::Result<std::process::ExitStatus>,
        restarts: u32,
        backoff: Duration,
    ) -> bool {
        let succeeded = status.as_ref().is_ok_and(|s| s.success());
        let why = match status {
            Ok(s) => format!("exited with {s}"),
            Err(e) => format!("lost the process: {e}"),
        };
        let done = match self.workload.restart {
            RestartPolicy::Always => None,
            RestartPolicy::OnFailure | RestartPolicy::Never if succeeded => Some(Phase::Succeeded),
            RestartPolicy::Never => Some(Phase::Failed),
            RestartPolicy::OnFailure if restarts >= self.workload.backoff_limit => {
                Some(Phase::Failed)
            }
            RestartPolicy::OnFailure => None,
        };
        if let Some(phase) = done {
            let failed = phase == Phase::Failed;
            self.shared.replica(self.id, |r| {
                r.pid = None;
                r.ready = false;
                r.phase = phase;
                r.message = failed.then(|| format!("{why}; see {}", self.log.path().display()));
            });
            return true;
        }
        self.shared.replica(self.id, |r| {
            r.pid = None;
            r.ready = false;
            r.restarts += 1;
            r.phase = Phase::CrashLoop {
                retry_in_ms: backoff.as_millis() as u64,
            };
            let liveness = r
                .message
                .as_deref()
                .is_some_and(|m| m.starts_with("liveness"));
            if !liveness {
                r.message = Some(why);
            }
        });
        false
    }

    fn finish(&self) {
        self.shared.replica(self.id, |r| {
            if r.phase != Phase::Failed {
                r.phase = Phase::Stopped;
            }
            r.ready = false;
            r.pid = None;
        });
    }

    /// Waits for `berth.dev/depends-on`; false when stopped first or when it can never be met.
    async fn wait_for_dependencies(&self, stop: &mut watch::Receiver<bool>) -> bool {
        let deps = &self.workload.depends_on;
        if deps.is_empty() {
            return true;
        }
        let mut changes = self.shared.subscribe();
        loop {
            let mut waiting = Vec::new();
            for d in deps {
                match self.shared.dependency_met(d) {
                    Ok(true) => {}
                    Ok(false) => waiting.push(d.as_str()),
                    Err(why) => {
                        self.shared.replica(self.id, |r| {
                            r.phase = Phase::Failed;
                            r.message = Some(why.message.clone());
                        });
                        let _ = stop.wait_for(|s| *s).await;
                        return false;
                    }
                }
            }
            if waiting.is_empty() {
                return true;
            }
            let message = format!("waiting for {}", waiting.join(", "));
            if self.shared.replica_status(self.id).and_then(|r| r.message) != Some(message.clone())
            {
                self.shared.replica(self.id, |r| {
                    r.phase = Phase::Waiting;
                    r.message = Some(message);
                });
            }
            tokio::select! {
                _ = changes.changed() => {}
                _ = stop.wait_for(|s| *s) => return false,
            }
        }
    }
}

/// Waits out a back-off (then doubles it, up to the cap); false when berth stops the replica
/// meanwhile.
async fn back_off(backoff: &mut Duration, stop: &mut watch::Receiver<bool>) -> bool {
    if tokio::time::timeout(*backoff, stop.wait_for(|s| *s))
        .await
        .is_ok()
    {
        return false;
    }
    *backoff = (*backoff * 2).min(BACKOFF_CAP);
    true
}

/// Where a replica's lines go: the in-memory ring (for the dashboard) and the rotated log file.
/// A file that cannot be written (a full disk) never stops the process: the lines stay in the
/// ring, and the replica says so until writing works again.
#[derive(Clone)]
pub(crate) struct LogSink {
    log: Arc<LogFile>,
    shared: Arc<Shared>,
    service: String,
    replica: String,
    id: usize,
}

impl LogSink {
    pub(crate) fn line(&self, stream: &str, text: String, flush: bool) {
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let entry = format!(
            "{}.{:03} {} {stream} {text}",
            ts.as_secs(),
            ts.subsec_millis(),
            self.replica
        );
        self.shared
            .logs
            .push(&self.service, &self.replica, stream, text);
        self.report(self.log.write_line(&entry));
        if flush {
            self.flush();
        }
    }

    pub(crate) fn flush(&self) {
        self.report(self.log.flush());
    }

    fn report(&self, outcome: WriteOutcome) {
        const PREFIX: &str = "logs: ";
        match outcome {
            WriteOutcome::StartedFailing(why) => {
                let message =
                    format!("{PREFIX}{why}; the process keeps running, its lines stay in memory");
                self.shared
                    .logs
                    .push(&self.service, &self.replica, "berth", message.clone());
                self.shared.replica(self.id, |r| r.message = Some(message));
            }
            WriteOutcome::Recovered => self.shared.replica(self.id, |r| {
                if r.message.as_deref().is_some_and(|m| m.starts_with(PREFIX)) {
                    r.message = None;
                }
            }),
            WriteOutcome::Written | WriteOutcome::StillFailing => {}
        }
    }
}
