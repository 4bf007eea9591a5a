//! Workloads and Services as the backends run them, read from rendered Kubernetes objects.

use serde::Deserialize;
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::time::Duration;

/// Why an object cannot be turned into something runnable; names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{object}: {message}")]
pub struct SpecError {
    /// `Deployment/web`
    pub object: String,
    pub message: String,
}

/// The kinds of workload berth shows and runs (a DaemonSet only on a cluster).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
    DaemonSet,
    Job,
    CronJob,
}

impl WorkloadKind {
    pub const ALL: [WorkloadKind; 5] = [
        WorkloadKind::Deployment,
        WorkloadKind::StatefulSet,
        WorkloadKind::DaemonSet,
        WorkloadKind::Job,
        WorkloadKind::CronJob,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::StatefulSet => "StatefulSet",
            WorkloadKind::DaemonSet => "DaemonSet",
            WorkloadKind::Job => "Job",
            WorkloadKind::CronJob => "CronJob",
        }
    }

    /// The API group: `apps`, or `batch` for Jobs and CronJobs.
    pub fn group(self) -> &'static str {
        if self.is_batch() {
            "batch"
        } else {
            "apps"
        }
    }

    /// `apps/v1`, `batch/v1`.
    pub fn api_version(self) -> &'static str {
        if self.is_batch() {
            "batch/v1"
        } else {
            "apps/v1"
        }
    }

    /// The REST resource: `deployments`, `cronjobs`.
    pub fn plural(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "deployments",
            WorkloadKind::StatefulSet => "statefulsets",
            WorkloadKind::DaemonSet => "daemonsets",
            WorkloadKind::Job => "jobs",
            WorkloadKind::CronJob => "cronjobs",
        }
    }

    pub fn group_kind(self) -> crate::GroupKind {
        crate::GroupKind {
            group: self.group().to_string(),
            kind: self.as_str().to_string(),
        }
    }

    /// The workload kind of a group and kind (`apps` Deployment, `batch` Job, ...).
    pub fn of(gk: &crate::GroupKind) -> Option<WorkloadKind> {
        WorkloadKind::ALL
            .into_iter()
            .find(|k| k.as_str() == gk.kind && k.group() == gk.group)
    }

    /// Jobs and CronJobs run to completion; the others keep replicas running.
    pub fn is_batch(self) -> bool {
        matches!(self, WorkloadKind::Job | WorkloadKind::CronJob)
    }
}

impl std::fmt::Display for WorkloadKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A kind name that is not one of [`WorkloadKind::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0} is not a workload kind")]
pub struct NotAWorkloadKind(pub String);

impl std::str::FromStr for WorkloadKind {
    type Err = NotAWorkloadKind;

    fn from_str(s: &str) -> Result<Self, NotAWorkloadKind> {
        WorkloadKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| NotAWorkloadKind(s.to_string()))
    }
}

/// A port given by number or by the name of a container port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortRef {
    Number(u16),
    Name(String),
}

impl PortRef {
    fn from_json(v: &Json) -> Option<PortRef> {
        match v {
            Json::Number(n) => n
                .as_u64()
                .and_then(|n| u16::try_from(n).ok())
                .map(PortRef::Number),
            Json::String(s) => Some(
                s.parse()
                    .map(PortRef::Number)
                    .unwrap_or_else(|_| PortRef::Name(s.clone())),
            ),
            _ => None,
        }
    }
}

/// Where an environment variable's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvSource {
    Value(String),
    ConfigMapKey {
        name: String,
        key: String,
        optional: bool,
    },
    SecretKey {
        name: String,
        key: String,
        optional: bool,
    },
    /// `fieldRef` (e.g. `metadata.name`), answered by the backend.
    Field(String),
}

/// One `env` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvVar {
    pub name: String,
    pub source: EnvSource,
}

/// One `envFrom` entry: every key of a ConfigMap or Secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvFrom {
    pub secret: bool,
    pub name: String,
    pub prefix: String,
    pub optional: bool,
}

/// What a probe does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeAction {
    HttpGet { path: String, port: PortRef },
    TcpSocket { port: PortRef },
    Exec { command: Vec<String> },
}

/// A readiness or liveness probe with Kubernetes' timing fields and defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub action: ProbeAction,
    pub initial_delay: Duration,
    pub period: Duration,
    pub timeout: Duration,
    pub success_threshold: u32,
    pub failure_threshold: u32,
}

/// How to run a container without a container runtime (`berth.dev/run`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RunSpec {
    /// argv.
    pub command: Vec<String>,
    /// Relative to the deploy folder.
    #[serde(default)]
    pub workdir: Option<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Source mode: build argv.
    #[serde(default)]
    pub build: Option<Vec<String>>,
    /// Source mode: globs to watch.
    #[serde(default)]
    pub watch: Vec<String>,
    /// Shown in Configure.
    #[serde(default)]
    pub help: Option<String>,
    /// Kubernetes source mode: runner image.
    #[serde(default)]
    pub image: Option<String>,
    /// Kubernetes source mode: host path to mount.
    #[serde(default, rename = "sourcePath")]
    pub source_path: Option<String>,
}

/// A named container port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerPort {
    pub name: Option<String>,
    pub port: u16,
}

/// One container of a workload.
#[derive(Debug, Clone, PartialEq)]
pub struct Container {
    pub name: String,
    pub image: Option<String>,
    pub env: Vec<EnvVar>,
    pub env_from: Vec<EnvFrom>,
    pub ports: Vec<ContainerPort>,
    pub readiness: Option<Probe>,
    pub liveness: Option<Probe>,
    /// `None`: not runnable as a process.
    pub run: Option<RunSpec>,
    /// What an engine needs to run the image.
    pub spec: crate::pod::ImageSpec,
    /// An init container: runs to completion, in order, before the pod's other containers.
    pub init: bool,
}

/// When a finished process is started again (the pod's `restartPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    Always,
    OnFailure,
    Never,
}

/// A Deployment, StatefulSet or Job, as berth runs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    pub kind: WorkloadKind,
    pub name: String,
    pub description: Option<String>,
    pub replicas: u32,
    /// Pod template labels, which Services select on.
    pub labels: BTreeMap<String, String>,
    pub containers: Vec<Container>,
    pub termination_grace: Duration,
    /// `berth.dev/depends-on`: services that must be ready (Jobs: complete) first.
    pub depends_on: Vec<String>,
    pub restart: RestartPolicy,
    /// Jobs: retries before the Job counts as failed (Kubernetes' default is 6).
    pub backoff_limit: u32,
    /// CronJobs: when each Job runs.
    pub schedule: Option<crate::Schedule>,
    /// The pod's volumes.
    pub volumes: Vec<crate::pod::Volume>,
    /// `imagePullSecrets`: names of `dockerconfigjson` Secrets with registry credentials.
    pub pull_secrets: Vec<String>,
}

/// A Service port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePort {
    pub name: Option<String>,
    pub port: u16,
    pub target: PortRef,
}

/// A Service: a stable address in front of the replicas it selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub name: String,
    pub selector: BTreeMap<String, String>,
    pub ports: Vec<ServicePort>,
}

impl Service {
    /// Reads a rendered Service object.
    pub fn from_object(o: &Json) -> Result<Service, SpecError> {
        let name = str_at(o, &["metadata", "name"])
            .unwrap_or_default()
            .to_string();
        let err = |m: String| SpecError {
            object: format!("Service/{name}"),
            message: m,
        };
        let selector = string_map(o.pointer("/spec/selector"));
        let mut ports = Vec::new();
        for (i, p) in o
            .pointer("/spec/ports")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let port = p
                .get("port")
                .and_then(Json::as_u64)
                .and_then(|n| u16::try_from(n).ok())
                .ok_or_else(|| err(format!("spec.ports[{i}].port must be a port number")))?;
            let target = match p.get("targetPort") {
                None => PortRef::Number(port),
                Some(t) => PortRef::from_json(t).ok_or_else(|| {
                    err(format!(
                        "spec.ports[{i}].targetPort must be a number or a name"
                    ))
                })?,
            };
            ports.push(ServicePort {
                name: p.get("name").and_then(Json::as_str).map(String::from),
                port,
                target,
            });
        }
        Ok(Service {
            name,
            selector,
            ports,
        })
    }

    /// Whether the Service selects a workload's pods.
    pub fn selects(&self, w: &Workload) -> bool {
        !self.selector.is_empty()
            && self
                .selector
                .iter()
                .all(|(k, v)| w.labels.get(k) == Some(v))
    }
}

fn str_at<'a>(o: &'a Json, path: &[&str]) -> Option<&'a str> {
    let mut cur = o;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str()
}

fn string_map(v: Option<&Json>) -> BTreeMap<String, String> {
    v.and_then(Json::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

fn secs(v: Option<&Json>, default: u64) -> Duration {
    Duration::from_secs(v.and_then(Json::as_u64).unwrap_or(default))
}

fn probe(
    v: Option<&Json>,
    field: &str,
    err: &dyn Fn(String) -> SpecError,
) -> Result<Option<Probe>, SpecError> {
    let Some(p) = v else { return Ok(None) };
    let action = if let Some(h) = p.get("httpGet") {
        let port = h
            .get("port")
            .and_then(PortRef::from_json)
            .ok_or_else(|| err(format!("{field}.httpGet.port is missing")))?;
        ProbeAction::HttpGet {
            path: h
                .get("path")
                .and_then(Json::as_str)
                .unwrap_or("/")
                .to_string(),
            port,
        }
    } else if let Some(t) = p.get("tcpSocket") {
        let port = t
            .get("port")
            .and_then(PortRef::from_json)
            .ok_or_else(|| err(format!("{field}.tcpSocket.port is missing")))?;
        ProbeAction::TcpSocket { port }
    } else if let Some(e) = p.get("exec") {
        let command: Vec<String> = e
            .get("command")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(String::from))
            .collect();
        if command.is_empty() {
            return Err(err(format!("{field}.exec.command is empty")));
        }
        ProbeAction::Exec { command }
    } else {
        return Err(err(format!("{field} needs httpGet, tcpSocket or exec")));
    };
    Ok(Some(Probe {
        action,
        initial_delay: secs(p.get("initialDelaySeconds"), 0),
        period: secs(p.get("periodSeconds"), 10),
        timeout: secs(p.get("timeoutSeconds"), 1),
        success_threshold: p
            .get("successThreshold")
            .and_then(Json::as_u64)
            .unwrap_or(1) as u32,
        failure_threshold: p
            .get("failureThreshold")
            .and_then(Json::as_u64)
            .unwrap_or(3) as u32,
    }))
}

fn key_ref(v: &Json) -> (String, String, bool) {
    (
        v.get("name")
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_string(),
        v.get("key")
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_string(),
        v.get("optional").and_then(Json::as_bool).unwrap_or(false),
    )
}

impl Workload {
    /// Reads a rendered Deployment, StatefulSet or Job; `None` for other kinds.
    pub fn from_object(o: &Json) -> Option<Result<Workload, SpecError>> {
        // DaemonSets run one pod per node: a cluster notion, not run locally.
        let kind = o
            .get("kind")?
            .as_str()?
            .parse()
            .ok()
            .filter(|k| *k != WorkloadKind::DaemonSet)?;
        Some(Self::parse(kind, o))
    }

    fn parse(kind: WorkloadKind, o: &Json) -> Result<Workload, SpecError> {
        let name = str_at(o, &["metadata", "name"])
            .unwrap_or_default()
            .to_string();
        let object = format!("{kind}/{name}");
        let err = |m: String| SpecError {
            object: object.clone(),
            message: m,
        };
        let annotations = o.pointer("/metadata/annotations");
        let annotation = |k: &str| annotations.and_then(|a| a.get(k)).and_then(Json::as_str);
        let description = annotation("berth.dev/description")
            .or_else(|| annotation("description"))
            .map(String::from);
        let runs = run_specs(kind, o).map_err(|m| err(m.0))?;
        // A CronJob's pod and Job settings live in its jobTemplate.
        let job_spec = if kind == WorkloadKind::CronJob {
            "/spec/jobTemplate/spec"
        } else {
            "/spec"
        };
        let pod = o.pointer(&format!("{job_spec}/template")).ok_or_else(|| {
            err(format!(
                "{}.template is missing",
                job_spec[1..].replace('/', ".")
            ))
        })?;
        let schedule = schedule_of(kind, o).map_err(|m| err(m.0))?;
        let replicas = match kind {
            WorkloadKind::Job | WorkloadKind::CronJob => 1,
            _ => o
                .pointer("/spec/replicas")
                .and_then(Json::as_u64)
                .unwrap_or(1) as u32,
        };
        // Init containers first, in their order, marked as such.
        let pod_security = pod.pointer("/spec/securityContext");
        let mut containers = Vec::new();
        for (field, init) in [("initContainers", true), ("containers", false)] {
            for (i, c) in pod
                .pointer(&format!("/spec/{field}"))
                .and_then(Json::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                let mut c = container(field, i, c, &runs, pod_security, &err)?;
                c.init = init;
                containers.push(c);
            }
        }
        if let Some(unknown) = runs
            .keys()
            .find(|k| !containers.iter().any(|c| &c.name == *k))
        {
            return Err(err(format!(
                "berth.dev/run names container {unknown:?}, which the pod template does not have"
            )));
        }
        Ok(Workload {
            kind,
            description,
            replicas,
            labels: string_map(pod.pointer("/metadata/labels")),
            containers,
            termination_grace: secs(pod.pointer("/spec/terminationGracePeriodSeconds"), 30),
            restart: match pod.pointer("/spec/restartPolicy").and_then(Json::as_str) {
                Some("Never") => RestartPolicy::Never,
                Some("OnFailure") => RestartPolicy::OnFailure,
                _ if matches!(kind, WorkloadKind::Job | WorkloadKind::CronJob) => {
                    RestartPolicy::OnFailure
                }
                _ => RestartPolicy::Always,
            },
            backoff_limit: o
                .pointer(&format!("{job_spec}/backoffLimit"))
                .and_then(Json::as_u64)
                .unwrap_or(6) as u32,
            schedule,
            volumes: crate::pod::volumes(pod.get("spec")),
            pull_secrets: pod
                .pointer("/spec/imagePullSecrets")
                .and_then(Json::as_array)
                .into_iter()
                .flatten()
                .filter_map(|s| s.get("name")?.as_str().map(String::from))
                .collect(),
            depends_on: annotation("berth.dev/depends-on")
                .map(|s| {
                    s.split(',')
                        .map(|x| x.trim().to_string())
                        .filter(|x| !x.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            name,
        })
    }

    /// A stand-in for a workload whose spec could not be read, so it can still be listed.
    pub fn unrunnable(name: &str, kind: WorkloadKind) -> Workload {
        Workload {
            kind,
            name: name.to_string(),
            description: None,
            replicas: 0,
            labels: BTreeMap::new(),
            containers: Vec::new(),
            termination_grace: Duration::from_secs(30),
            depends_on: Vec::new(),
            restart: RestartPolicy::Always,
            backoff_limit: 0,
            schedule: None,
            volumes: Vec::new(),
            pull_secrets: Vec::new(),
        }
    }

    /// Why this workload cannot run locally, if it cannot: a container needs a run spec (to
    /// run as a process) or an image and a container engine.
    pub fn not_runnable_reason(&self, engine: bool) -> Option<String> {
        if self.containers.iter().all(|c| c.init) {
            return Some("the pod template has no containers".into());
        }
        let missing: Vec<&str> = self
            .containers
            .iter()
            .filter(|c| c.run.is_none() && !(engine && c.image.is_some()))
            .map(|c| c.name.as_str())
            .collect();
        if missing.is_empty() {
            return None;
        }
        let s = if missing.len() > 1 { "s" } else { "" };
        let names = missing.join(", ");
        Some(if engine {
            format!(
                "container{s} {names} name no image and no berth.dev/run entry: add one of them"
            )
        } else {
            format!(
                "no container engine (Docker or Podman) was found and container{s} {names} have no berth.dev/run entry: install Podman or Docker (or set DOCKER_HOST), or add a berth.dev/run entry saying how to run it as a process"
            )
        })
    }
}

/// One container of a pod template: env, envFrom, ports, probes and its run spec.
fn container(
    list: &str,
    i: usize,
    c: &Json,
    runs: &BTreeMap<String, RunSpec>,
    pod_security: Option<&Json>,
    err: &dyn Fn(String) -> SpecError,
) -> Result<Container, SpecError> {
    let name = c
        .get("name")
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_string();
    let field = |f: &str| format!("spec.template.spec.{list}[{i}].{f}");
    let env = c
        .get("env")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .map(env_var)
        .collect();
    let ports = c
        .get("ports")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let port = u16::try_from(p.get("containerPort")?.as_u64()?).ok()?;
            Some(ContainerPort {
                name: p.get("name").and_then(Json::as_str).map(String::from),
                port,
            })
        })
        .collect();
    Ok(Container {
        readiness: probe(c.get("readinessProbe"), &field("readinessProbe"), err)?,
        liveness: probe(c.get("livenessProbe"), &field("livenessProbe"), err)?,
        image: c.get("image").and_then(Json::as_str).map(String::from),
        run: runs.get(&name).cloned(),
        spec: crate::pod::ImageSpec::from_container(c, pod_security),
        init: false,
        env,
        env_from: env_from(c),
        ports,
        name,
    })
}

/// One `env` entry: a value, a ConfigMap or Secret key, or a field of the pod.
fn env_var(e: &Json) -> EnvVar {
    let name = e
        .get("name")
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_string();
    let source = if let Some(v) = e.get("value") {
        EnvSource::Value(match v {
            Json::String(s) => s.clone(),
            other => other.to_string(),
        })
    } else if let Some(r) = e.pointer("/valueFrom/configMapKeyRef") {
        let (name, key, optional) = key_ref(r);
        EnvSource::ConfigMapKey {
            name,
            key,
            optional,
        }
    } else if let Some(r) = e.pointer("/valueFrom/secretKeyRef") {
        let (name, key, optional) = key_ref(r);
        EnvSource::SecretKey {
            name,
            key,
            optional,
        }
    } else if let Some(f) = e
        .pointer("/valueFrom/fieldRef/fieldPath")
        .and_then(Json::as_str)
    {
        EnvSource::Field(f.to_string())
    } else {
        EnvSource::Value(String::new())
    };
    EnvVar { name, source }
}

/// The `envFrom` entries of a container: whole ConfigMaps and Secrets, with their prefix.
fn env_from(c: &Json) -> Vec<EnvFrom> {
    let mut out = Vec::new();
    for e in c
        .get("envFrom")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
    {
        let prefix = e
            .get("prefix")
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_string();
        for (key, secret) in [("configMapRef", false), ("secretRef", true)] {
            if let Some(r) = e.get(key) {
                let (name, _, optional) = key_ref(r);
                out.push(EnvFrom {
                    secret,
                    name,
                    prefix: prefix.clone(),
                    optional,
                });
            }
        }
    }
    out
}

/// The run specs of a workload, by container: from its `berth.dev/run` annotation, or its pod
/// template's (charts often let users add pod annotations, not workload ones).
/// What is wrong with a field of a workload (the object is named by the caller).
struct SpecMessage(String);

impl From<String> for SpecMessage {
    fn from(s: String) -> Self {
        SpecMessage(s)
    }
}

impl From<&str> for SpecMessage {
    fn from(s: &str) -> Self {
        SpecMessage(s.into())
    }
}

fn run_specs(kind: WorkloadKind, o: &Json) -> Result<BTreeMap<String, RunSpec>, SpecMessage> {
    let pod_annotation = if kind == WorkloadKind::CronJob {
        "/spec/jobTemplate/spec/template/metadata/annotations/berth.dev~1run"
    } else {
        "/spec/template/metadata/annotations/berth.dev~1run"
    };
    let text = o
        .pointer("/metadata/annotations/berth.dev~1run")
        .or_else(|| o.pointer(pod_annotation))
        .and_then(Json::as_str);
    match text {
        None => Ok(BTreeMap::new()),
        Some(text) => serde_saphyr::from_str(text).map_err(|e| {
            format!("annotation berth.dev/run is not a map of container name to run spec: {e}")
                .into()
        }),
    }
}

/// A CronJob's schedule (`None` for other kinds).
fn schedule_of(kind: WorkloadKind, o: &Json) -> Result<Option<crate::Schedule>, SpecMessage> {
    if kind != WorkloadKind::CronJob {
        return Ok(None);
    }
    let text = o
        .pointer("/spec/schedule")
        .and_then(Json::as_str)
        .ok_or("spec.schedule is missing")?;
    crate::Schedule::parse(text)
        .map(Some)
        .map_err(|e| format!("spec.schedule: {}", e.message).into())
}
