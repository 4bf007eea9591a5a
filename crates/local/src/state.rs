//! The live state of a local environment, shared by supervisors, proxies and the status view.

use berth_core::history::{Traffic, TrafficView};
use berth_core::{PortRef, ServicePort};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Mutex;
use tokio::sync::watch;

/// Where a replica is in its life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "camelCase")]
pub enum Phase {
    /// Waiting for the services or Jobs named in `berth.dev/depends-on`.
    Waiting,
    Starting,
    Running,
    /// Exited; restarts after a back-off.
    CrashLoop {
        retry_in_ms: u64,
    },
    /// Cannot start until the folder changes (bad reference, missing workdir, ...).
    Failed,
    /// A Job's process finished successfully.
    Succeeded,
    Stopped,
}

/// One process: a container of one replica.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaStatus {
    /// Stable for the replica's life, across reloads.
    pub id: usize,
    pub workload: String,
    pub index: u32,
    pub container: String,
    pub pid: Option<u32>,
    /// containerPort -> local port.
    pub ports: BTreeMap<u16, u16>,
    /// Port name -> containerPort.
    #[serde(skip)]
    pub port_names: BTreeMap<String, u16>,
    #[serde(flatten)]
    pub phase: Phase,
    pub ready: bool,
    pub restarts: u32,
    /// Probe failures at or past the failure threshold.
    #[serde(default)]
    pub probe_failures: u32,
    /// Unix seconds when the process (last) started.
    #[serde(default)]
    pub started: Option<u64>,
    /// The container runs from source (`berth.dev/run` source settings).
    #[serde(default)]
    pub source: bool,
    /// The latest problem, with the OS error where there is one.
    pub message: Option<String>,
    /// The pod's init containers have completed (always, for a pod without them).
    #[serde(default)]
    pub initialized: bool,
}

impl ReplicaStatus {
    /// The local port behind a container port reference.
    pub fn local_port(&self, target: &PortRef) -> Option<u16> {
        let container_port = match target {
            PortRef::Number(n) => *n,
            PortRef::Name(name) => *self.port_names.get(name)?,
        };
        self.ports.get(&container_port).copied()
    }
}

/// A workload row.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadStatus {
    pub name: String,
    pub kind: berth_core::WorkloadKind,
    pub description: Option<String>,
    pub desired: u32,
    pub not_runnable: Option<String>,
    #[serde(default)]
    pub containers: Vec<ContainerStatus>,
    /// Source mode: the last build failed (the previous version keeps serving).
    #[serde(default)]
    pub build_error: Option<String>,
}

/// A container of a workload, as Configure shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStatus {
    pub name: String,
    pub image: Option<String>,
    /// It has a `berth.dev/run` entry, so it can run as a process and from source.
    pub runnable: bool,
    pub source: bool,
    /// How it runs (`None`: it does not run here).
    pub mode: Option<berth_core::view::Mode>,
    /// The modes it can be switched to.
    pub modes: Vec<berth_core::view::Mode>,
    pub help: Option<String>,
    /// The run spec's workdir, relative to the deploy folder.
    pub workdir: Option<String>,
}

/// A Service and where it listens.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceStatus {
    pub name: String,
    /// One address per Service port, `127.0.0.1:PORT`.
    pub addresses: Vec<String>,
    #[serde(skip)]
    pub ports: Vec<ServicePort>,
    /// The workloads it selects.
    pub workloads: Vec<String>,
    /// Why it listens somewhere else than its own port, for example.
    #[serde(default)]
    pub notes: Vec<String>,
}

/// Everything there is to know about a running environment.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub pid: u32,
    /// Counts applies (the start is 1); a reload waits for it to move.
    pub generation: u64,
    /// What the latest apply changed.
    pub last_apply: Option<crate::Applied>,
    /// Why the folder's latest state was not applied (it does not render); `None` once it does.
    pub last_error: Option<String>,
    /// What is happening now (`applying`), or waiting for the user (a change to review).
    #[serde(skip)]
    pub busy: Option<String>,
    /// `http://127.0.0.1:8080` when the folder has Ingress rules.
    pub ingress: Option<String>,
    /// The dashboard and API, `http://127.0.0.1:7700/`.
    #[serde(default)]
    pub dashboard: Option<String>,
    pub workloads: Vec<WorkloadStatus>,
    pub services: Vec<ServiceStatus>,
    pub replicas: Vec<ReplicaStatus>,
    /// The Helm chart this runs, when the folder is one.
    #[serde(default)]
    pub chart: Option<berth_core::view::ChartView>,
}

/// The status behind a lock, with a change counter to wait on.
pub struct Shared {
    status: Mutex<Status>,
    /// Every replica's output.
    pub logs: crate::logs::LogHub,
    /// What happened, read from the replicas' changes ([`Shared::replica`]) and the applies.
    pub timeline: berth_core::timeline::Timeline,
    changed: watch::Sender<u64>,
    /// Round-robin position per Service, for the ingress.
    turns: Mutex<BTreeMap<String, usize>>,
    ingress_rules: Mutex<Vec<crate::IngressRule>>,
    /// Requests the Ingress has sent to each local port and not finished answering.
    in_flight: Mutex<BTreeMap<u16, usize>>,
    /// Requests the Ingress answered, per Service.
    traffic: Mutex<BTreeMap<String, std::sync::Arc<Traffic>>>,
}

/// A request in flight to a replica's port; the count goes down when it is dropped.
pub struct InFlight {
    shared: std::sync::Arc<Shared>,
    port: u16,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut m = self.shared.in_flight.lock().expect("in-flight lock");
        if let Some(n) = m.get_mut(&self.port) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.port);
            }
        }
    }
}

impl Shared {
    /// Starts from `status`; everything after goes through [`Shared::update`] so watchers wake.
    pub fn new(status: Status) -> Self {
        Shared {
            status: Mutex::new(status),
            logs: crate::logs::LogHub::default(),
            timeline: Default::default(),
            changed: watch::channel(0).0,
            turns: Mutex::new(BTreeMap::new()),
            ingress_rules: Mutex::new(Vec::new()),
            in_flight: Mutex::new(BTreeMap::new()),
            traffic: Mutex::default(),
        }
    }

    /// The request counters of a Service, for the Ingress to record in.
    pub fn traffic_of(&self, service: &str) -> std::sync::Arc<Traffic> {
        let mut t = self.traffic.lock().expect("traffic lock");
        t.entry(service.to_string()).or_default().clone()
    }

    /// The requests of the Services that select `workload`, summed; `None` when no request
    /// ever reached one.
    pub fn traffic_view(&self, status: &Status, workload: &str) -> Option<TrafficView> {
        let t = self.traffic.lock().expect("traffic lock");
        status
            .services
            .iter()
            .filter(|s| s.workloads.iter().any(|w| w == workload))
            .filter_map(|s| t.get(&s.name))
            .map(|c| c.view())
            .reduce(|a, b| a.plus(&b))
    }

    /// A copy of the current status.
    pub fn snapshot(&self) -> Status {
        self.status.lock().expect("status lock").clone()
    }

    /// Changes the status and wakes everyone watching.
    pub fn update<R>(&self, f: impl FnOnce(&mut Status) -> R) -> R {
        let r = f(&mut self.status.lock().expect("status lock"));
        self.changed.send_modify(|v| *v += 1);
        r
    }

    /// Replaces the Ingress rules (most specific first).
    pub fn set_ingress_rules(&self, rules: Vec<crate::IngressRule>) {
        *self.ingress_rules.lock().expect("rules lock") = rules;
    }

    /// The Ingress rule for a request, if one matches.
    pub fn ingress_route(&self, host: &str, path: &str) -> Option<crate::IngressRule> {
        self.ingress_rules
            .lock()
            .expect("rules lock")
            .iter()
            .find(|r| r.matches(host, path))
            .cloned()
    }

    /// A copy of one replica's status.
    pub fn replica_status(&self, id: usize) -> Option<ReplicaStatus> {
        self.status
            .lock()
            .expect("status lock")
            .replicas
            .iter()
            .find(|r| r.id == id)
            .cloned()
    }

    /// Changes one replica.
    pub fn replica(&self, id: usize, f: impl FnOnce(&mut ReplicaStatus)) {
        let events = self.update(|s| {
            let r = s.replicas.iter_mut().find(|r| r.id == id)?;
            let before = r.clone();
            f(r);
            Some(crate::happenings::transitions(&before, r))
        });
        for e in events.into_iter().flatten() {
            self.timeline.record(e);
        }
    }

    /// Resolves on every change.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Whether a `depends-on` name is satisfied: a Job that succeeded, or a Service or workload
    /// with a ready replica. `Err` when it can never be (unknown name, failed Job).
    pub fn dependency_met(&self, name: &str) -> Result<bool, crate::Error> {
        let s = self.status.lock().expect("status lock");
        let workloads: Vec<&str> = match s.services.iter().find(|x| x.name == name) {
            Some(svc) => svc.workloads.iter().map(String::as_str).collect(),
            None if s.workloads.iter().any(|w| w.name == name) => vec![name],
            None => {
                return Err(crate::error::folder(format!(
                    "depends on {name:?}, which is neither a Service nor a workload of this folder"
                )))
            }
        };
        let mut met = false;
        for r in s
            .replicas
            .iter()
            .filter(|r| workloads.contains(&r.workload.as_str()))
        {
            let job = s
                .workloads
                .iter()
                .any(|w| w.name == r.workload && w.kind == berth_core::WorkloadKind::Job);
            match (&r.phase, job) {
                (Phase::Succeeded, true) => met = true,
                (Phase::Failed, true) => {
                    return Err(crate::error::folder(format!(
                        "depends on Job {:?}, which failed",
                        r.workload
                    )))
                }
                (_, false) if r.ready => met = true,
                _ => {}
            }
        }
        if let Some(w) = s
            .workloads
            .iter()
            .find(|w| workloads.contains(&w.name.as_str()) && w.not_runnable.is_some())
        {
            return Err(crate::error::folder(format!(
                "depends on {:?}, which is not runnable locally",
                w.name
            )));
        }
        Ok(met)
    }

    /// Local ports of the ready replicas behind a Service port.
    pub fn backends(&self, service: &str, port_index: usize) -> Vec<u16> {
        self.backends_where(service, |i, _| i == port_index)
    }

    /// Like [`Shared::backends`], for a Service port given by number or name (as Ingress does).
    pub fn backends_by_port(&self, service: &str, port: &PortRef) -> Vec<u16> {
        self.backends_where(service, |_, sp| match port {
            PortRef::Number(n) => sp.port == *n,
            PortRef::Name(name) => sp.name.as_deref() == Some(name.as_str()),
        })
    }

    /// Counts a request to `port` as in flight, if a ready replica still listens there. Counted
    /// first and checked second, so a replica being stopped (marked not ready first, then
    /// drained) either sees this request or this request sees it is gone.
    pub fn begin_request(self: &std::sync::Arc<Self>, port: u16) -> Option<InFlight> {
        *self
            .in_flight
            .lock()
            .expect("in-flight lock")
            .entry(port)
            .or_insert(0) += 1;
        let guard = InFlight {
            shared: self.clone(),
            port,
        };
        let ready = self
            .status
            .lock()
            .expect("status lock")
            .replicas
            .iter()
            .any(|r| r.ready && r.ports.values().any(|p| *p == port));
        ready.then_some(guard)
    }

    /// Requests in flight to any of `ports`.
    pub fn in_flight(&self, ports: &[u16]) -> usize {
        let m = self.in_flight.lock().expect("in-flight lock");
        ports.iter().filter_map(|p| m.get(p)).sum()
    }

    /// The local ports `backends` reads, once there are some (a start or a restart may be
    /// under way); `None` when there are still none at `deadline`.
    pub async fn wait_for_backends(
        &self,
        deadline: tokio::time::Instant,
        backends: impl Fn(&Shared) -> Vec<u16>,
    ) -> Option<Vec<u16>> {
        let mut changes = self.subscribe();
        loop {
            let b = backends(self);
            if !b.is_empty() {
                return Some(b);
            }
            if tokio::time::timeout_at(deadline, changes.changed())
                .await
                .is_err()
            {
                return None;
            }
        }
    }

    /// The next round-robin turn for a Service with `n` backends.
    pub fn next_backend(&self, service: &str, n: usize) -> usize {
        let mut t = self.turns.lock().expect("turns lock");
        let turn = t.entry(service.to_string()).or_insert(0);
        *turn = turn.wrapping_add(1);
        *turn % n.max(1)
    }

    fn backends_where(
        &self,
        service: &str,
        pick: impl Fn(usize, &ServicePort) -> bool,
    ) -> Vec<u16> {
        let s = self.status.lock().expect("status lock");
        let Some(svc) = s.services.iter().find(|x| x.name == service) else {
            return vec![];
        };
        let Some(sp) = svc
            .ports
            .iter()
            .enumerate()
            .find(|(i, sp)| pick(*i, sp))
            .map(|(_, sp)| sp)
        else {
            return vec![];
        };
        s.replicas
            .iter()
            .filter(|r| r.ready && svc.workloads.contains(&r.workload))
            .filter_map(|r| r.local_port(&sp.target))
            .collect()
    }
}
