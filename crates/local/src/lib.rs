//! The local backend: a rendered deploy folder as supervised processes on this machine.
//!
//! Deployments and StatefulSets with a `berth.dev/run` entry become `replicas` processes, each
//! in its own process group, restarted with back-off and stopped with SIGTERM then SIGKILL.
//! Every Service port becomes a loopback listener that spreads connections over the ready
//! replicas. The live [`Status`] is also written to `.berth/up.json` beside the folder.

mod ingress;
mod plan;
mod probe;
mod proxy;
mod state;
mod supervisor;

pub use plan::{IngressRule, Plan, PlannedWorkload};
pub use state::{Phase, ReplicaStatus, ServiceStatus, Shared, Status, WorkloadStatus};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Where berth keeps the state of a folder's local environment.
pub fn state_dir(dir: &Path) -> PathBuf {
    dir.join(".berth")
}

/// The file a running `berth up` keeps current.
pub fn state_file(dir: &Path) -> PathBuf {
    state_dir(dir).join("up.json")
}

/// Reads the state of a running `up`, if one runs for this folder.
pub fn running_status(dir: &Path) -> Option<Status> {
    let text = std::fs::read_to_string(state_file(dir)).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    let pid = v.get("pid")?.as_u64()? as u32;
    pid_alive(pid).then(|| Status {
        pid,
        ..Status::default()
    })
}

/// Whether a process runs: it exists and is not a zombie waiting to be reaped.
pub fn pid_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        // Signal 0 checks that the process exists without touching it.
        Err(_) => nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None).is_ok(),
    }
}

/// A running local environment.
pub struct Running {
    pub shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    supervisors: JoinSet<()>,
    background: JoinSet<()>,
    state_file: PathBuf,
}

fn env_name(s: &str) -> String {
    s.to_uppercase().replace(['-', '.'], "_")
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind(("127.0.0.1", 0))?
        .local_addr()?
        .port())
}

impl Running {
    /// Binds every Service (and the ingress at `ingress`, when the folder has Ingress rules)
    /// and starts every runnable workload, in apply order.
    pub async fn start(
        dir: &Path,
        plan: Plan,
        ingress: std::net::SocketAddr,
    ) -> std::io::Result<Running> {
        let plan = Arc::new(plan);
        let logs = state_dir(dir).join("logs");
        std::fs::create_dir_all(&logs)?;

        let mut status = Status {
            pid: std::process::id(),
            ..Status::default()
        };
        for pw in &plan.workloads {
            let w = &pw.workload;
            status.workloads.push(WorkloadStatus {
                name: w.name.clone(),
                kind: format!("{:?}", w.kind),
                description: w.description.clone(),
                desired: w.replicas,
                not_runnable: pw.not_runnable.clone(),
            });
        }
        let mut routes = Vec::new();
        let mut service_env = Vec::new();
        for svc in &plan.services {
            let selected: Vec<String> = plan
                .workloads
                .iter()
                .filter(|pw| svc.selects(&pw.workload))
                .map(|pw| pw.workload.name.clone())
                .collect();
            let mut addresses = Vec::new();
            for (i, sp) in svc.ports.iter().enumerate() {
                let listener = proxy::bind(sp.port).await?;
                let port = listener.local_addr()?.port();
                addresses.push(format!("127.0.0.1:{port}"));
                let prefix = env_name(&svc.name);
                if i == 0 {
                    service_env.push((format!("{prefix}_SERVICE_HOST"), "127.0.0.1".to_string()));
                    service_env.push((format!("{prefix}_SERVICE_PORT"), port.to_string()));
                }
                if let Some(n) = &sp.name {
                    service_env.push((
                        format!("{prefix}_SERVICE_PORT_{}", env_name(n)),
                        port.to_string(),
                    ));
                }
                routes.push(proxy::Route {
                    service: svc.name.clone(),
                    port_index: i,
                    listener,
                });
            }
            status.services.push(ServiceStatus {
                name: svc.name.clone(),
                addresses,
                ports: svc.ports.clone(),
                workloads: selected,
            });
        }
        let mut jobs = Vec::new();
        for pw in plan.workloads.iter().filter(|pw| pw.not_runnable.is_none()) {
            let w = Arc::new(pw.workload.clone());
            for index in 0..w.replicas {
                for (ci, c) in w.containers.iter().enumerate() {
                    let mut ports = BTreeMap::new();
                    for p in &c.ports {
                        ports.insert(p.port, free_port()?);
                    }
                    let id = status.replicas.len();
                    status.replicas.push(ReplicaStatus {
                        workload: w.name.clone(),
                        index,
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
                        message: None,
                    });
                    jobs.push((
                        id,
                        w.clone(),
                        ci,
                        index,
                        logs.join(format!("{}.log", w.name)),
                    ));
                }
            }
        }
        let ingress_listener = if plan.ingress.is_empty() {
            None
        } else {
            let l = tokio::net::TcpListener::bind(ingress).await.map_err(|e| {
                std::io::Error::new(e.kind(), format!("ingress address {ingress}: {e}"))
            })?;
            status.ingress = Some(format!("http://{}", l.local_addr()?));
            Some(l)
        };
        let shared = Arc::new(Shared::new(status));
        let (stop, stop_rx) = watch::channel(false);
        let mut background = JoinSet::new();
        for r in routes {
            background.spawn(proxy::serve(r, shared.clone()));
        }
        if let Some(l) = ingress_listener {
            background.spawn(ingress::serve(
                l,
                Arc::new(plan.ingress.clone()),
                shared.clone(),
            ));
        }
        let state_file = state_file(dir);
        background.spawn(write_state(shared.clone(), state_file.clone()));
        let mut supervisors = JoinSet::new();
        for (id, workload, container, index, log_file) in jobs {
            let job = supervisor::Job {
                id,
                workload,
                container,
                index,
                dir: dir.to_path_buf(),
                log_file,
                plan: plan.clone(),
                service_env: service_env.clone(),
                shared: shared.clone(),
            };
            supervisors.spawn(job.run(stop_rx.clone()));
        }
        Ok(Running {
            shared,
            stop,
            supervisors,
            background,
            state_file,
        })
    }

    /// Stops every process (SIGTERM, grace period, SIGKILL) and every listener.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        while self.supervisors.join_next().await.is_some() {}
        self.background.abort_all();
        while self.background.join_next().await.is_some() {}
        let _ = std::fs::remove_file(&self.state_file);
    }
}

/// Keeps the state file current, written atomically.
async fn write_state(shared: Arc<Shared>, path: PathBuf) {
    let mut changes = shared.subscribe();
    loop {
        let text = serde_json::to_string_pretty(&shared.snapshot()).unwrap_or_default();
        let tmp = path.with_extension("json.tmp");
        if tokio::fs::write(&tmp, text).await.is_ok() {
            let _ = tokio::fs::rename(&tmp, &path).await;
        }
        if changes.changed().await.is_err() {
            return;
        }
        // Coalesce bursts of changes into one write.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
