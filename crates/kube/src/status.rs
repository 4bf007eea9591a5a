//! `berth status` against a cluster: one row per workload of the set, and the current revision.

use crate::applyset::ApplySet;
use crate::error::{from_kube, Action, Error};
use crate::release::{Releases, Revision, RevisionStatus};
use crate::resources::Resolver;
use crate::wait::rollout_of;
use berth_core::{GroupKind, ObjectRef};
use kube::api::ListParams;
use serde::Serialize;
use serde_json::Value as Json;

/// One workload as the status table shows it.
#[derive(Clone, Debug, Serialize)]
pub struct WorkloadRow {
    pub kind: String,
    pub name: String,
    pub namespace: String,
    /// The `berth.dev/description` annotation.
    pub description: String,
    pub desired: i64,
    pub ready: i64,
    pub available: i64,
    /// `ready`, or why not.
    pub status: String,
    pub images: Vec<String>,
    /// RFC 3339 creation time.
    pub created: String,
}

/// The set's workloads and release.
#[derive(Clone, Debug, Serialize)]
pub struct StatusReport {
    pub set: String,
    pub namespace: String,
    pub revision: Option<Revision>,
    pub workloads: Vec<WorkloadRow>,
}

const KINDS: &[(&str, &str)] = &[
    ("apps/v1", "Deployment"),
    ("apps/v1", "StatefulSet"),
    ("apps/v1", "DaemonSet"),
    ("batch/v1", "Job"),
];

/// Reads the status of a deploy set.
pub async fn status(client: &kube::Client, set: &ApplySet) -> Result<StatusReport, Error> {
    let resolver = Resolver::default();
    let mut workloads = Vec::new();
    for (api_version, kind) in KINDS {
        let Some(r) = resolver.resolve(client, api_version, kind).await? else {
            continue;
        };
        let list = crate::plan::api(client, &r, Some(&set.namespace))
            .list(&ListParams::default().labels(&set.selector()))
            .await
            .map_err(|e| {
                from_kube(
                    e,
                    &Action {
                        verb: "list",
                        resource: r.display(),
                        namespace: Some(&set.namespace),
                        object: None,
                        origin: None,
                    },
                )
            })?;
        for o in list.items {
            let body = serde_json::to_value(&o).unwrap_or_default();
            let oref = ObjectRef {
                group_kind: GroupKind::from_api_version(api_version, kind),
                namespace: o.metadata.namespace.clone(),
                name: o.metadata.name.clone().unwrap_or_default(),
            };
            let rollout = rollout_of(&oref, &body);
            let int = |p: &str| body.pointer(p).and_then(Json::as_i64).unwrap_or(0);
            let (desired, ready, available) = match *kind {
                "DaemonSet" => (
                    int("/status/desiredNumberScheduled"),
                    int("/status/numberReady"),
                    int("/status/numberAvailable"),
                ),
                "Job" => (
                    body.pointer("/spec/completions")
                        .and_then(Json::as_i64)
                        .unwrap_or(1),
                    int("/status/succeeded"),
                    int("/status/succeeded"),
                ),
                _ => (
                    body.pointer("/spec/replicas")
                        .and_then(Json::as_i64)
                        .unwrap_or(1),
                    int("/status/readyReplicas"),
                    int("/status/availableReplicas"),
                ),
            };
            let images = body
                .pointer("/spec/template/spec/containers")
                .and_then(Json::as_array)
                .map(|cs| {
                    cs.iter()
                        .filter_map(|c| c.get("image").and_then(Json::as_str).map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            workloads.push(WorkloadRow {
                kind: kind.to_string(),
                name: oref.name.clone(),
                namespace: set.namespace.clone(),
                description: o
                    .metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get("berth.dev/description").cloned())
                    .unwrap_or_default(),
                desired,
                ready,
                available,
                status: rollout.message,
                images,
                created: o
                    .metadata
                    .creation_timestamp
                    .as_ref()
                    .map(|t| t.0.to_string())
                    .unwrap_or_default(),
            });
        }
    }
    workloads.sort_by(|a, b| (&a.name, &a.kind).cmp(&(&b.name, &b.kind)));
    let revision = Releases::new(client, set)
        .list()
        .await?
        .into_iter()
        .rev()
        .find(|r| r.status == RevisionStatus::Deployed)
        .or(None);
    Ok(StatusReport {
        set: set.name.clone(),
        namespace: set.namespace.clone(),
        revision,
        workloads,
    })
}
