//! A deploy set's timeline on a cluster: the Kubernetes Events of its workloads and their pods
//! (pulls, back-offs, failed probes, OOM kills, scaling) and berth's own releases (deploys).

use crate::error::{from_kube, Action};
use crate::{ApplySet, Error, Releases};
use berth_core::timeline::Event;
use k8s_openapi::api::core::v1::Event as KubeEvent;
use k8s_openapi::jiff::Timestamp;
use std::collections::BTreeMap;

/// The set's events, oldest first; one service's when `service` is given. `pods` maps each
/// service to its pods (as the dashboard last saw them), so a pod's events find their service.
pub async fn events(
    client: &kube::Client,
    set: &ApplySet,
    pods: &BTreeMap<String, Vec<String>>,
    service: Option<&str>,
) -> Result<Vec<Event>, Error> {
    let api: kube::Api<KubeEvent> = kube::Api::namespaced(client.clone(), &set.namespace);
    let list = api.list(&Default::default()).await.map_err(|e| {
        let action = Action {
            verb: "list",
            resource: "events".into(),
            namespace: Some(&set.namespace),
            object: None,
            origin: None,
        };
        from_kube(e, &action)
    })?;
    let mut out: Vec<Event> = list
        .items
        .iter()
        .filter_map(|e| from_kubernetes(e, pods))
        .collect();
    for r in Releases::new(client, set).list().await? {
        let message = format!(
            "revision {} ({}, {} objects)",
            r.number, r.status, r.objects
        );
        let failed = r.status == crate::RevisionStatus::Failed;
        let mut e = Event::now("Deployed", message, failed);
        e.ts_ms = millis(r.time.parse().ok());
        out.push(e);
    }
    out.retain(|e| service.is_none() || e.service.as_deref() == service);
    out.sort_by_key(|e| e.ts_ms);
    Ok(out)
}

/// A Kubernetes Event as a timeline event, if it concerns one of the set's services: its
/// object is a pod of one, the workload itself, or one of its ReplicaSets or Jobs (`web-5d8f`).
fn from_kubernetes(e: &KubeEvent, pods: &BTreeMap<String, Vec<String>>) -> Option<Event> {
    let name = e.involved_object.name.as_deref()?;
    let service = pods
        .iter()
        .find(|(_, p)| p.iter().any(|p| p == name))
        .map(|(s, _)| s.clone())
        .or_else(|| {
            pods.keys()
                .filter(|s| name == s.as_str() || name.starts_with(&format!("{s}-")))
                .max_by_key(|s| s.len())
                .cloned()
        })?;
    let when = e
        .last_timestamp
        .as_ref()
        .map(|t| t.0)
        .or_else(|| e.event_time.as_ref().map(|t| t.0))
        .or_else(|| e.first_timestamp.as_ref().map(|t| t.0))
        .or_else(|| e.metadata.creation_timestamp.as_ref().map(|t| t.0));
    let replica = (e.involved_object.kind.as_deref() == Some("Pod")).then(|| name.to_string());
    let mut event = Event::now(
        e.reason.as_deref().unwrap_or(""),
        e.message.clone().unwrap_or_default(),
        e.type_.as_deref() == Some("Warning"),
    )
    .of(&service, replica);
    event.ts_ms = millis(when);
    event.count = e.count.unwrap_or(1).max(1) as u32;
    Some(event)
}

fn millis(t: Option<Timestamp>) -> u64 {
    t.map_or(0, |t| t.as_millisecond().max(0) as u64)
}

/// The set's events as `berth events --context` reads them: its workloads and pods first.
pub async fn of_set(
    client: &kube::Client,
    context: &str,
    set: &ApplySet,
    service: Option<&str>,
) -> Result<Vec<Event>, Error> {
    let workloads = crate::dashboard::read_workloads(client, context, set).await?;
    let pods: BTreeMap<String, Vec<String>> = workloads
        .iter()
        .map(|w| {
            let pods = w.view.replicas.iter().map(|r| r.name.clone()).collect();
            (w.view.name.clone(), pods)
        })
        .collect();
    events(client, set, &pods, service).await
}
