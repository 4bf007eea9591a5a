//! Waiting for a rollout: the checks `kubectl rollout status` makes, for every workload at once.

use crate::applyset::ApplySet;
use crate::error::{Error, ErrorKind};
use crate::plan::{api, Desired};
use crate::resources::Resource;
use berth_core::{GroupKind, ObjectRef, WorkloadKind};
use kube::api::ListParams;
use serde::Deserialize;
use serde_json::Value as Json;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// Where one workload stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rollout {
    pub oref: ObjectRef,
    pub ready: bool,
    /// Why it is not ready yet (`2 of 3 updated replicas are available`), or `ready`.
    pub message: String,
    /// `Type=Status: reason: message` of its latest conditions.
    pub conditions: Vec<String>,
    /// The rollout cannot succeed (a failed Job, a progress deadline exceeded).
    pub failed: bool,
}

/// The workload kind `kubectl rollout status` waits for, if `gk` is one (a CronJob is not: its
/// Jobs are).
pub fn waited(gk: &GroupKind) -> Option<WorkloadKind> {
    WorkloadKind::of(gk).filter(|k| *k != WorkloadKind::CronJob)
}

/// What a rollout check reads of a live workload: typed, every field optional (a partial object
/// reads as zeros and nothing).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Live {
    metadata: LiveMeta,
    spec: LiveSpec,
    status: LiveStatus,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct LiveMeta {
    generation: i64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct LiveSpec {
    replicas: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct LiveStatus {
    observed_generation: i64,
    replicas: i64,
    updated_replicas: i64,
    available_replicas: i64,
    ready_replicas: i64,
    current_revision: Option<String>,
    update_revision: Option<String>,
    desired_number_scheduled: i64,
    updated_number_scheduled: i64,
    number_available: i64,
    active: i64,
    conditions: Vec<Condition>,
}

/// A status condition, as every workload kind writes them.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Condition {
    #[serde(rename = "type")]
    kind: String,
    status: String,
    reason: String,
    message: String,
}

impl Live {
    /// The controller has not seen the latest spec yet.
    fn stale(&self) -> bool {
        self.status.observed_generation < self.metadata.generation
    }

    fn desired(&self) -> i64 {
        self.spec.replicas.unwrap_or(1)
    }

    fn has(&self, kind: &str, status: &str) -> bool {
        let c = &self.status.conditions;
        c.iter().any(|c| c.kind == kind && c.status == status)
    }
}

const OBSERVING: &str = "waiting for the controller to observe the new spec";

/// Why a Deployment is not rolled out yet (`kubectl rollout status`), and whether it failed.
fn deployment(w: &Live) -> (Option<String>, bool) {
    let s = &w.status;
    let desired = w.desired();
    let deadline = s
        .conditions
        .iter()
        .any(|c| c.kind == "Progressing" && c.reason == "ProgressDeadlineExceeded");
    let pending = if deadline {
        return (Some("progress deadline exceeded".to_string()), true);
    } else if w.stale() {
        OBSERVING.to_string()
    } else if s.updated_replicas < desired {
        format!("{} of {desired} replicas updated", s.updated_replicas)
    } else if s.replicas > s.updated_replicas {
        let old = s.replicas - s.updated_replicas;
        format!("{old} old replicas are pending termination")
    } else if s.available_replicas < s.updated_replicas {
        let (a, u) = (s.available_replicas, s.updated_replicas);
        format!("{a} of {u} updated replicas are available")
    } else {
        return (None, false);
    };
    (Some(pending), false)
}

/// Why a StatefulSet is not rolled out yet.
fn stateful_set(w: &Live) -> Option<String> {
    let s = &w.status;
    let desired = w.desired();
    if w.stale() {
        Some(OBSERVING.into())
    } else if s.ready_replicas < desired {
        Some(format!("{} of {desired} replicas ready", s.ready_replicas))
    } else if s.updated_replicas < desired && s.current_revision != s.update_revision {
        Some(format!(
            "{} of {desired} replicas updated",
            s.updated_replicas
        ))
    } else {
        None
    }
}

/// Why a DaemonSet is not rolled out yet.
fn daemon_set(w: &Live) -> Option<String> {
    let s = &w.status;
    let want = s.desired_number_scheduled;
    if w.stale() {
        Some(OBSERVING.into())
    } else if s.updated_number_scheduled < want {
        Some(format!(
            "{} of {want} pods updated",
            s.updated_number_scheduled
        ))
    } else if s.number_available < want {
        Some(format!("{} of {want} pods available", s.number_available))
    } else {
        None
    }
}

/// A Job: complete, failed (its backoff limit reached), or running.
fn job(w: &Live) -> (Option<String>, bool) {
    if w.has("Complete", "True") {
        (None, false)
    } else if w.has("Failed", "True") {
        (Some("the job failed".into()), true)
    } else {
        (
            Some(format!("running ({} active pods)", w.status.active)),
            false,
        )
    }
}

/// Judges one live workload.
pub fn rollout_of(oref: &ObjectRef, obj: &Json) -> Rollout {
    let w: Live = Live::deserialize(obj).unwrap_or_default();
    let kind = waited(&oref.group_kind);
    let (pending, failed) = match kind {
        Some(WorkloadKind::Deployment) => deployment(&w),
        Some(WorkloadKind::StatefulSet) => (stateful_set(&w), false),
        Some(WorkloadKind::DaemonSet) => (daemon_set(&w), false),
        Some(WorkloadKind::Job) => job(&w),
        Some(WorkloadKind::CronJob) | None => (None, false),
    };
    let done = match kind {
        Some(WorkloadKind::Job) => "complete",
        _ => "ready",
    };
    Rollout {
        oref: oref.clone(),
        ready: pending.is_none(),
        message: pending.unwrap_or_else(|| done.into()),
        conditions: w
            .status
            .conditions
            .iter()
            .map(|c| format!("{}={}: {}: {}", c.kind, c.status, c.reason, c.message))
            .collect(),
        failed,
    }
}

/// Reads the rollout of every workload among `desired` (one list per kind and namespace).
pub async fn check(
    client: &kube::Client,
    set: &ApplySet,
    desired: &[Desired],
) -> Result<Vec<Rollout>, Error> {
    // (group-kind, namespace) -> the resource and the workloads to look for in one list.
    type Groups<'a> = BTreeMap<(String, Option<String>), (Resource, Vec<&'a ObjectRef>)>;
    let mut groups: Groups = BTreeMap::new();
    for d in desired {
        if waited(&d.oref.group_kind).is_none() {
            continue;
        }
        let Some(r) = &d.resource else { continue };
        groups
            .entry((d.oref.group_kind.to_string(), d.oref.namespace.clone()))
            .or_insert_with(|| (r.clone(), Vec::new()))
            .1
            .push(&d.oref);
    }
    let mut out = Vec::new();
    for ((_, ns), (r, orefs)) in groups {
        let list = api(client, &r, ns.as_deref())
            .list(&ListParams::default().labels(&set.selector()))
            .await
            .map_err(|e| Error::new(ErrorKind::Api, format!("cannot read rollout status: {e}")))?;
        let by_name: HashMap<String, Json> = list
            .items
            .into_iter()
            .map(|o| {
                (
                    o.metadata.name.clone().unwrap_or_default(),
                    serde_json::to_value(&o).unwrap_or_default(),
                )
            })
            .collect();
        for oref in orefs {
            out.push(match by_name.get(&oref.name) {
                Some(obj) => rollout_of(oref, obj),
                None => Rollout {
                    oref: oref.clone(),
                    ready: false,
                    message: "not found".into(),
                    conditions: Vec::new(),
                    failed: false,
                },
            });
        }
    }
    Ok(out)
}

/// Polls until every workload is ready, one fails, or `timeout` passes.
pub async fn wait(
    client: &kube::Client,
    set: &ApplySet,
    desired: &[Desired],
    timeout: Duration,
    progress: &(dyn Fn(&[Rollout]) + Sync),
) -> Result<(), Error> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut delay = Duration::from_millis(100);
    loop {
        let states = check(client, set, desired).await?;
        progress(&states);
        let pending: Vec<&Rollout> = states.iter().filter(|s| !s.ready).collect();
        if pending.is_empty() {
            return Ok(());
        }
        let failed = pending.iter().any(|s| s.failed);
        if failed || tokio::time::Instant::now() >= deadline {
            return Err(timeout_error(client, &pending, timeout, failed).await);
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}

async fn timeout_error(
    client: &kube::Client,
    pending: &[&Rollout],
    timeout: Duration,
    failed: bool,
) -> Error {
    let message = if failed {
        format!(
            "{} workload(s) failed to roll out",
            pending.iter().filter(|p| p.failed).count()
        )
    } else {
        format!(
            "{} workload(s) were not ready after {}s",
            pending.len(),
            timeout.as_secs()
        )
    };
    let mut err = Error::new(ErrorKind::Timeout, message);
    for p in pending {
        let mut note = format!("{}: {}", p.oref, p.message);
        for c in p.conditions.iter().rev().take(3) {
            note.push_str(&format!("\ncondition {c}"));
        }
        for problem in pod_problems(client, &p.oref).await {
            note.push_str(&format!("\npod {problem}"));
        }
        for e in recent_events(client, &p.oref).await {
            note.push_str(&format!("\nevent {e}"));
        }
        err = err.note(note);
    }
    err.hint("fix the workload (image, probes, resources) and apply again; --atomic rolls back automatically")
}

/// Why the pods of a workload (by name prefix) are not ready: containers waiting with a reason
/// (`ErrImagePull`, `CrashLoopBackOff`) or terminated with an error; at most five.
async fn pod_problems(client: &kube::Client, oref: &ObjectRef) -> Vec<String> {
    use k8s_openapi::api::core::v1::Pod;
    let Some(ns) = &oref.namespace else {
        return Vec::new();
    };
    let api: kube::Api<Pod> = kube::Api::namespaced(client.clone(), ns);
    let Ok(list) = api.list(&ListParams::default()).await else {
        return Vec::new();
    };
    let prefix = format!("{}-", oref.name);
    let mut out = Vec::new();
    for pod in list.items {
        let name = pod.metadata.name.unwrap_or_default();
        if !name.starts_with(&prefix) {
            continue;
        }
        let status = pod.status.unwrap_or_default();
        let containers = status
            .init_container_statuses
            .unwrap_or_default()
            .into_iter()
            .chain(status.container_statuses.unwrap_or_default());
        for c in containers {
            let state = c.state.unwrap_or_default();
            let problem = match (state.waiting, state.terminated) {
                (Some(w), _) if w.reason.as_deref() != Some("ContainerCreating") => {
                    format!("waiting: {}", w.reason.unwrap_or_default())
                        + &w.message
                            .map(|m| format!(": {}", m.trim()))
                            .unwrap_or_default()
                }
                (_, Some(t)) if t.exit_code != 0 => format!(
                    "terminated with exit code {}: {}",
                    t.exit_code,
                    t.reason.unwrap_or_default()
                ),
                _ => continue,
            };
            out.push(format!("{name} container {}: {problem}", c.name));
        }
        if out.is_empty() && status.phase.as_deref() == Some("Pending") {
            out.push(format!("{name} is Pending"));
        }
    }
    out.truncate(5);
    out
}

/// The last few events about an object and the pods it owns (by name prefix).
async fn recent_events(client: &kube::Client, oref: &ObjectRef) -> Vec<String> {
    use k8s_openapi::api::core::v1::Event;
    let Some(ns) = &oref.namespace else {
        return Vec::new();
    };
    let api: kube::Api<Event> = kube::Api::namespaced(client.clone(), ns);
    let Ok(list) = api.list(&ListParams::default()).await else {
        return Vec::new();
    };
    let mut events: Vec<(String, String)> = list
        .items
        .into_iter()
        .filter(|e| {
            e.involved_object
                .name
                .as_deref()
                .is_some_and(|n| n == oref.name || n.starts_with(&format!("{}-", oref.name)))
        })
        .map(|e| {
            let when = e
                .last_timestamp
                .as_ref()
                .map(|t| t.0.to_string())
                .unwrap_or_default();
            (
                when,
                format!(
                    "{} {}/{}: {}: {}",
                    e.type_.unwrap_or_default(),
                    e.involved_object.kind.unwrap_or_default(),
                    e.involved_object.name.unwrap_or_default(),
                    e.reason.unwrap_or_default(),
                    e.message.unwrap_or_default().trim()
                ),
            )
        })
        .collect();
    events.sort();
    events
        .into_iter()
        .rev()
        .take(5)
        .rev()
        .map(|(_, e)| e)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dep() -> ObjectRef {
        ObjectRef {
            group_kind: GroupKind::from_api_version("apps/v1", "Deployment"),
            namespace: Some("ns".into()),
            name: "web".into(),
        }
    }

    #[test]
    fn deployment_checks_follow_kubectl() {
        let base = json!({"metadata": {"generation": 2}, "spec": {"replicas": 3},
            "status": {"observedGeneration": 1}});
        assert!(!rollout_of(&dep(), &base).ready);
        let partial = json!({"metadata": {"generation": 2}, "spec": {"replicas": 3},
            "status": {"observedGeneration": 2, "updatedReplicas": 3, "replicas": 3, "availableReplicas": 2}});
        let r = rollout_of(&dep(), &partial);
        assert_eq!(r.message, "2 of 3 updated replicas are available");
        let old = json!({"metadata": {"generation": 2}, "spec": {"replicas": 3},
            "status": {"observedGeneration": 2, "updatedReplicas": 3, "replicas": 4, "availableReplicas": 3}});
        assert!(!rollout_of(&dep(), &old).ready);
        let done = json!({"metadata": {"generation": 2}, "spec": {"replicas": 3},
            "status": {"observedGeneration": 2, "updatedReplicas": 3, "replicas": 3, "availableReplicas": 3}});
        assert!(rollout_of(&dep(), &done).ready);
        let stuck = json!({"metadata": {"generation": 2}, "spec": {"replicas": 3},
            "status": {"observedGeneration": 2, "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "too slow"}]}});
        assert!(rollout_of(&dep(), &stuck).failed);
    }

    fn of(api_version: &str, kind: &str) -> ObjectRef {
        ObjectRef {
            group_kind: GroupKind::from_api_version(api_version, kind),
            namespace: Some("ns".into()),
            name: "w".into(),
        }
    }

    #[test]
    fn stateful_sets_daemon_sets_and_jobs_follow_kubectl() {
        let sts = of("apps/v1", "StatefulSet");
        let half = json!({"metadata": {"generation": 1}, "spec": {"replicas": 2},
            "status": {"observedGeneration": 1, "readyReplicas": 1}});
        assert_eq!(rollout_of(&sts, &half).message, "1 of 2 replicas ready");
        let ds = of("apps/v1", "DaemonSet");
        let rolling = json!({"metadata": {"generation": 3}, "status": {"observedGeneration": 3,
            "desiredNumberScheduled": 4, "updatedNumberScheduled": 2, "numberAvailable": 4}});
        assert_eq!(rollout_of(&ds, &rolling).message, "2 of 4 pods updated");
        let stale = json!({"metadata": {"generation": 3}, "status": {"observedGeneration": 2}});
        assert_eq!(rollout_of(&ds, &stale).message, OBSERVING);
        let job = of("batch/v1", "Job");
        let failed = json!({"status": {"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "too many"}]}});
        let r = rollout_of(&job, &failed);
        assert!(r.failed && !r.ready);
        assert_eq!(
            r.conditions,
            ["Failed=True: BackoffLimitExceeded: too many"]
        );
        let done = json!({"status": {"conditions": [{"type": "Complete", "status": "True"}]}});
        assert_eq!(rollout_of(&job, &done).message, "complete");
        let running = json!({"status": {"active": 2}});
        assert_eq!(
            rollout_of(&job, &running).message,
            "running (2 active pods)"
        );
    }
}
