//! Waiting for a rollout: the checks `kubectl rollout status` makes, for every workload at once.

use crate::applyset::ApplySet;
use crate::error::{Error, ErrorKind};
use crate::plan::{api, Desired};
use crate::resources::Resource;
use berth_core::ObjectRef;
use kube::api::ListParams;
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

/// Whether a kind is waited for.
pub fn is_workload(kind: &str) -> bool {
    matches!(kind, "Deployment" | "StatefulSet" | "DaemonSet" | "Job")
}

fn int(obj: &Json, path: &str) -> i64 {
    obj.pointer(path).and_then(Json::as_i64).unwrap_or(0)
}

/// A condition: type, status, reason, message.
type Condition = (String, String, String, String);

fn conditions(obj: &Json) -> Vec<Condition> {
    obj.pointer("/status/conditions")
        .and_then(Json::as_array)
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    let f = |k: &str| c.get(k).and_then(Json::as_str).unwrap_or("").to_string();
                    (f("type"), f("status"), f("reason"), f("message"))
                })
                .collect()
        })
        .unwrap_or_default()
}

const OBSERVING: &str = "waiting for the controller to observe the new spec";

/// Why a Deployment is not rolled out yet (`kubectl rollout status`), and whether it failed.
fn deployment(
    obj: &Json,
    desired: i64,
    stale: bool,
    conds: &[Condition],
) -> (Option<String>, bool) {
    let updated = int(obj, "/status/updatedReplicas");
    let replicas = int(obj, "/status/replicas");
    let available = int(obj, "/status/availableReplicas");
    if conds
        .iter()
        .any(|(t, _, r, _)| t == "Progressing" && r == "ProgressDeadlineExceeded")
    {
        (Some("progress deadline exceeded".to_string()), true)
    } else if stale {
        (Some(OBSERVING.into()), false)
    } else if updated < desired {
        (
            Some(format!("{updated} of {desired} replicas updated")),
            false,
        )
    } else if replicas > updated {
        let old = replicas - updated;
        (
            Some(format!("{old} old replicas are pending termination")),
            false,
        )
    } else if available < updated {
        let text = format!("{available} of {updated} updated replicas are available");
        (Some(text), false)
    } else {
        (None, false)
    }
}

/// Why a StatefulSet is not rolled out yet.
fn stateful_set(obj: &Json, desired: i64, stale: bool) -> Option<String> {
    let ready = int(obj, "/status/readyReplicas");
    let updated = int(obj, "/status/updatedReplicas");
    let current = obj.pointer("/status/currentRevision");
    let update = obj.pointer("/status/updateRevision");
    if stale {
        Some(OBSERVING.into())
    } else if ready < desired {
        Some(format!("{ready} of {desired} replicas ready"))
    } else if updated < desired && current != update {
        Some(format!("{updated} of {desired} replicas updated"))
    } else {
        None
    }
}

/// Why a DaemonSet is not rolled out yet.
fn daemon_set(obj: &Json, stale: bool) -> Option<String> {
    let want = int(obj, "/status/desiredNumberScheduled");
    let updated = int(obj, "/status/updatedNumberScheduled");
    let available = int(obj, "/status/numberAvailable");
    if stale {
        Some(OBSERVING.into())
    } else if updated < want {
        Some(format!("{updated} of {want} pods updated"))
    } else if available < want {
        Some(format!("{available} of {want} pods available"))
    } else {
        None
    }
}

/// A Job: complete, failed (its backoff limit reached), or running.
fn job(obj: &Json, conds: &[Condition]) -> (Option<String>, bool) {
    let has = |kind: &str| conds.iter().any(|(t, s, _, _)| t == kind && s == "True");
    if has("Complete") {
        (None, false)
    } else if has("Failed") {
        (Some("the job failed".into()), true)
    } else {
        let active = int(obj, "/status/active");
        (Some(format!("running ({active} active pods)")), false)
    }
}

/// Judges one live workload.
pub fn rollout_of(oref: &ObjectRef, obj: &Json) -> Rollout {
    let kind = oref.group_kind.kind.as_str();
    let stale = int(obj, "/status/observedGeneration") < int(obj, "/metadata/generation");
    let desired = obj
        .pointer("/spec/replicas")
        .and_then(Json::as_i64)
        .unwrap_or(1);
    let conds = conditions(obj);
    let (pending, failed) = match kind {
        "Deployment" => deployment(obj, desired, stale, &conds),
        "StatefulSet" => (stateful_set(obj, desired, stale), false),
        "DaemonSet" => (daemon_set(obj, stale), false),
        "Job" => job(obj, &conds),
        _ => (None, false),
    };
    Rollout {
        oref: oref.clone(),
        ready: pending.is_none(),
        message: pending.unwrap_or_else(|| if kind == "Job" { "complete" } else { "ready" }.into()),
        conditions: conds
            .iter()
            .map(|(t, s, r, m)| format!("{t}={s}: {r}: {m}"))
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
        if !is_workload(&d.oref.group_kind.kind) {
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
    use berth_core::GroupKind;
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
