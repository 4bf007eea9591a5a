//! What the dashboard and the HTTP API show: one model for the local and Kubernetes backends.
//! Never carries a Secret value or an environment variable's value.

use serde::{Deserialize, Serialize};

/// How a container runs: from its image (the normal run) or from the developer's source.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The container's image, on a container engine (or the cluster).
    #[default]
    Image,
    /// Locally, its `berth.dev/run` spec as a process.
    Process,
    /// Its run spec with `build` and `watch`: the developer's own code.
    Source,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Image => "image",
            Mode::Process => "process",
            Mode::Source => "source",
        }
    }

    /// `image`, `process` or `source`.
    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "image" => Some(Mode::Image),
            "process" => Some(Mode::Process),
            "source" => Some(Mode::Source),
            _ => None,
        }
    }
}

/// Per workload, per container: the chosen mode (absent means image).
pub type Modes = std::collections::BTreeMap<String, std::collections::BTreeMap<String, Mode>>;

/// `.Modes` for the templates: `{workload: {container: "source"}}`.
pub fn modes_json(modes: &Modes) -> serde_json::Map<String, serde_json::Value> {
    modes
        .iter()
        .map(|(w, cs)| {
            let cs = cs
                .iter()
                .map(|(c, m)| (c.clone(), serde_json::Value::from(m.as_str())))
                .collect();
            (w.clone(), serde_json::Value::Object(cs))
        })
        .collect()
}

/// A service's health in one word, as the Status column shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Health {
    Ready,
    Progressing,
    Degraded,
    Failed,
    Completed,
    NotRunnable,
    Stopped,
}

impl Health {
    /// The word the API uses (`not-runnable`).
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Ready => "ready",
            Health::Progressing => "progressing",
            Health::Degraded => "degraded",
            Health::Failed => "failed",
            Health::Completed => "completed",
            Health::NotRunnable => "not-runnable",
            Health::Stopped => "stopped",
        }
    }
}

/// One container of a service, for the Configure screen.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContainerView {
    pub name: String,
    pub image: Option<String>,
    pub mode: Mode,
    /// Whether the run spec has source settings to switch to.
    pub source_available: bool,
    /// The modes it can be switched to here.
    #[serde(default)]
    pub modes: Vec<Mode>,
    /// The run spec's `help` text.
    pub help: Option<String>,
}

/// One replica (a local process, or a pod).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReplicaView {
    /// `web-0`, or the pod's name.
    pub name: String,
    pub container: String,
    /// `running`, `starting`, `crash-loop`, `failed`, `completed`, `waiting`, ...
    pub status: String,
    pub ready: bool,
    pub restarts: u32,
    /// Unix seconds when it (last) started.
    pub started: Option<u64>,
    pub image: Option<String>,
    /// The latest problem.
    pub message: Option<String>,
    /// Probe failures past the threshold.
    #[serde(default)]
    pub probe_failures: u32,
    /// CPU seconds used (a local process).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_seconds: Option<f64>,
    /// Resident memory (a local process), or the working set (a pod, from `metrics.k8s.io`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    /// CPU in use now, in cores (a pod, from `metrics.k8s.io`; a local process has
    /// `cpu_seconds` instead, and its rate is taken between samples).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_cores: Option<f64>,
}

/// A row of the main screen and the head of the detail screen.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceView {
    pub name: String,
    pub kind: crate::WorkloadKind,
    pub description: Option<String>,
    pub desired: u32,
    pub ready: u32,
    pub available: u32,
    pub health: Health,
    /// The status in words: `ready`, `1 of 2 ready`, `crash loop`, why not runnable.
    pub status: String,
    /// `image`, `source`, or `mixed` across containers.
    pub mode: String,
    pub containers: Vec<ContainerView>,
    pub replicas: Vec<ReplicaView>,
    /// A command to open a shell in it (never contains Secret values).
    pub shell: Option<String>,
    /// Requests through berth's Ingress, when it serves this service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic: Option<crate::history::TrafficView>,
}

/// The whole environment, as the main screen shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnvironmentView {
    /// `local` or `kubernetes`.
    pub backend: String,
    /// The folder, or `context/namespace`.
    pub target: String,
    /// Counts applies; moves on every redeploy.
    pub generation: u64,
    /// Why the latest redeploy did not apply.
    pub last_error: Option<String>,
    /// What is happening right now (`redeploying`), if anything.
    pub busy: Option<String>,
    pub ingress: Option<String>,
    pub services: Vec<ServiceView>,
    /// The continuous sync, when `berth sync` drives this environment.
    #[serde(default)]
    pub sync: Option<SyncView>,
    /// The Helm chart the environment runs, when it is one.
    #[serde(default)]
    pub chart: Option<ChartView>,
    /// Why CPU and memory are not measured here (a cluster without `metrics.k8s.io`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_unavailable: Option<String>,
}

/// A Helm chart and the release name it runs as.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChartView {
    pub release: String,
    /// `name` of Chart.yaml.
    pub name: String,
    pub version: String,
    pub app_version: Option<String>,
}

/// What `berth sync` is doing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SyncView {
    /// Applying is stopped; drift is still reported.
    pub paused: bool,
    /// Why (`by hand`, `rollback to 3`).
    pub paused_reason: Option<String>,
    /// RFC 3339 time of the last completed iteration.
    pub last_sync: Option<String>,
    /// `in sync`, `applied revision 4`, `3 changes pending (paused)`, ...
    pub last_result: Option<String>,
    /// The deployed revision.
    pub revision: Option<u32>,
    /// Objects that differ from the folder and were not applied.
    pub pending: usize,
    /// The git commit synced.
    pub commit: Option<String>,
    /// The last iteration's error (render, git, apply); the running release is kept.
    pub error: Option<String>,
    pub interval_seconds: u64,
}

impl ServiceView {
    /// The status for a table cell: the words when short, else the health (and the words, to
    /// show below the row).
    pub fn short_status(&self) -> (String, Option<&str>) {
        if self.status.len() <= 14 && !self.status.contains(':') {
            return (self.status.clone(), None);
        }
        (self.health.as_str().replace('-', " "), Some(&self.status))
    }
}

/// A line a replica printed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// Increases across the environment; `since` takes it.
    pub seq: u64,
    /// Unix milliseconds when berth read it.
    pub ts_ms: u64,
    /// The service (workload) it belongs to.
    pub service: String,
    /// `web-0`, or the pod's name.
    pub replica: String,
    /// `stdout` or `stderr`.
    pub stream: String,
    pub text: String,
}

/// What happens to one object in a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DiffKind {
    Added,
    Changed,
    Removed,
}

impl std::fmt::Display for DiffKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DiffKind::Added => "added",
            DiffKind::Changed => "changed",
            DiffKind::Removed => "removed",
        })
    }
}

/// How one object differs between two renders, or between what runs and what would.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectDiff {
    /// `Kind namespace/name` (`Kind name` for a cluster-scoped object).
    pub object: String,
    pub change: DiffKind,
    /// The unified diff of the object's YAML (an added object: all of it), Secret values masked.
    pub diff: String,
}

/// What a redeploy would change, computed without changing anything.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preview {
    pub changes: Vec<ObjectDiff>,
    /// What the comparison is between, in words (`the running set and the folder now`).
    pub between: String,
}
