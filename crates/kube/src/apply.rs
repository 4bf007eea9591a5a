//! Making the plan real: ordered groups, bounded concurrency, CRDs established before their objects,
//! prune of members no longer rendered, and the ApplySet parent kept truthful throughout.

use crate::applyset::{self, ApplySet, PART_OF};
use crate::error::{from_kube, Action, Error, ErrorKind};
use crate::plan::{api, apply_params, object_error, ChangeKind, Desired, Plan, CONCURRENCY};
use crate::resources::Resolver;
use crate::FIELD_MANAGER;
use berth_core::{ApplyPhase, GroupKind};
use futures::{stream, StreamExt};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PropagationPolicy};
use serde_json::json;
use std::collections::BTreeSet;
use std::time::Duration;

/// What an apply did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ApplyReport {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub deleted: usize,
}

/// Flags of `berth apply` that change what is written.
#[derive(Clone, Copy, Debug)]
pub struct ApplyOptions {
    pub force_conflicts: bool,
    pub prune: bool,
    pub allow_empty: bool,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            force_conflicts: false,
            prune: true,
            allow_empty: false,
        }
    }
}

/// Creates the namespaces `names` (which must not exist); returns those created, for undo.
pub async fn create_namespaces(
    client: &kube::Client,
    set: &ApplySet,
    names: &[String],
) -> Result<Vec<String>, Error> {
    let api: Api<Namespace> = Api::all(client.clone());
    let mut created = Vec::new();
    for ns in names {
        let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
        let result = api
            .patch(ns, &PatchParams::apply(FIELD_MANAGER), &Patch::Apply(&body))
            .await;
        if let Err(e) = result {
            undo_namespaces(client, &created).await;
            return Err(from_kube(
                e,
                &Action {
                    verb: "create",
                    resource: "namespaces".into(),
                    namespace: None,
                    object: Some(format!("Namespace/{ns} (for deploy set {})", set.name)),
                    origin: None,
                },
            ));
        }
        created.push(ns.clone());
    }
    Ok(created)
}

/// Deletes namespaces this run created, when it must leave the cluster as it was.
pub async fn undo_namespaces(client: &kube::Client, names: &[String]) {
    let api: Api<Namespace> = Api::all(client.clone());
    for ns in names {
        let _ = api.delete(ns, &DeleteParams::default()).await;
    }
}

/// Refuses a render with no objects when the set has members, unless allowed.
pub fn check_empty(plan: &Plan, allow_empty: bool) -> Result<(), Error> {
    if plan.desired.is_empty() && plan.live_members > 0 && !allow_empty {
        return Err(Error::new(
            ErrorKind::EmptyRender,
            format!(
                "the render produced no objects, but deploy set `{}` has {} in namespace {}",
                plan.set.name, plan.live_members, plan.set.namespace
            ),
        )
        .note("applying it would delete every object of the set; nothing was changed")
        .hint("check the folder and variables; pass --allow-empty if deleting everything is what you want"));
    }
    Ok(())
}

/// Writes the parent Secret recording `kinds` and `namespaces`.
async fn write_parent(
    client: &kube::Client,
    set: &ApplySet,
    kinds: &BTreeSet<GroupKind>,
    namespaces: &BTreeSet<String>,
    modes: Option<&str>,
) -> Result<(), Error> {
    let api: Api<Secret> = Api::namespaced(client.clone(), &set.namespace);
    let body = set.parent(kinds, namespaces, modes);
    api.patch(
        &set.parent_name(),
        &apply_params(true, false),
        &Patch::Apply(&body),
    )
    .await
    .map_err(|e| parent_error(e, "apply", set))?;
    Ok(())
}

/// A failed request on the parent Secret, in the user's words.
fn parent_error(e: kube::Error, verb: &str, set: &ApplySet) -> Error {
    from_kube(
        e,
        &Action {
            verb,
            resource: "secrets".into(),
            namespace: Some(&set.namespace),
            object: Some(format!("ApplySet parent Secret/{}", set.parent_name())),
            origin: None,
        },
    )
}

fn desired_kinds_and_namespaces(plan: &Plan) -> (BTreeSet<GroupKind>, BTreeSet<String>) {
    let kinds = plan
        .desired
        .iter()
        .map(|d| d.oref.group_kind.clone())
        .collect();
    let mut namespaces: BTreeSet<String> = plan
        .desired
        .iter()
        .filter_map(|d| d.oref.namespace.clone())
        .collect();
    namespaces.insert(plan.set.namespace.clone());
    (kinds, namespaces)
}

/// The modes annotation of a live parent, kept across applies.
pub fn parent_modes(plan: &Plan) -> Option<String> {
    plan.parent
        .as_ref()?
        .pointer("/metadata/annotations")?
        .get(applyset::MODES)?
        .as_str()
        .map(str::to_string)
}

/// Would applying `plan` write nothing? No object changes, no namespace to create, and the
/// parent already records exactly the kinds and namespaces rendered.
pub fn is_noop(plan: &Plan) -> bool {
    if plan.has_changes() || !plan.missing_namespaces.is_empty() {
        return false;
    }
    let Some(parent) = &plan.parent else {
        return false;
    };
    let (kinds, mut namespaces) = desired_kinds_and_namespaces(plan);
    namespaces.remove(&plan.set.namespace);
    applyset::recorded_kinds(parent) == kinds && applyset::recorded_namespaces(parent) == namespaces
}

/// Applies a plan computed just before (under the set's lock).
pub async fn apply(
    client: &kube::Client,
    resolver: &Resolver,
    plan: &Plan,
    opts: ApplyOptions,
    progress: &(dyn Fn(String) + Sync),
) -> Result<ApplyReport, Error> {
    check_empty(plan, opts.allow_empty)?;
    let (kinds, namespaces) = desired_kinds_and_namespaces(plan);
    let modes = parent_modes(plan);
    // Record the union first: if this run dies midway, the next one still finds every member.
    let mut union_kinds = kinds.clone();
    let mut union_ns = namespaces.clone();
    if let Some(p) = &plan.parent {
        union_kinds.extend(applyset::recorded_kinds(p));
        union_ns.extend(applyset::recorded_namespaces(p));
    }
    let recorded = plan.parent.as_ref().map(|p| {
        (
            applyset::recorded_kinds(p),
            applyset::recorded_namespaces(p),
        )
    });
    let others = |ns: &BTreeSet<String>| -> BTreeSet<String> {
        ns.iter()
            .filter(|n| **n != plan.set.namespace)
            .cloned()
            .collect()
    };
    if is_noop(plan) {
        return Ok(ApplyReport {
            unchanged: plan.desired.len(),
            ..Default::default()
        });
    }
    if recorded.as_ref() != Some(&(union_kinds.clone(), others(&union_ns))) {
        write_parent(client, &plan.set, &union_kinds, &union_ns, modes.as_deref()).await?;
    }

    let mut report = ApplyReport::default();
    let mut applied: Vec<String> = Vec::new();
    let pp = apply_params(opts.force_conflicts, false);
    let mut index = 0;
    while index < plan.desired.len() {
        let phase = plan.desired[index].phase();
        let end = plan.desired[index..]
            .iter()
            .position(|d| d.phase() != phase)
            .map_or(plan.desired.len(), |p| index + p);
        let group: Vec<(usize, &Desired)> = (index..end).map(|i| (i, &plan.desired[i])).collect();
        index = end;
        let todo: Vec<(usize, &Desired)> = group
            .into_iter()
            .filter(|(i, _)| {
                if plan.actions[*i] == ChangeKind::Unchanged {
                    report.unchanged += 1;
                    false
                } else {
                    true
                }
            })
            .collect();
        if todo.is_empty() {
            continue;
        }
        progress(format!(
            "applying {} ({})",
            phase_name(phase),
            berth_core::count(todo.len(), "object")
        ));
        let results: Vec<Result<(), Error>> = stream::iter(todo.iter().copied())
            .map(|(i, d)| apply_one(client, resolver, plan, &pp, i, d))
            .buffered(CONCURRENCY)
            .collect()
            .await;
        let mut failure = None;
        for (r, (i, d)) in results.into_iter().zip(todo.iter()) {
            match r {
                Ok(()) => {
                    applied.push(format!("{}/{}", d.oref.group_kind, d.oref.name));
                    match plan.actions[*i] {
                        ChangeKind::Create => report.created += 1,
                        _ => report.updated += 1,
                    }
                }
                Err(e) => failure = failure.or(Some(e)),
            }
        }
        if let Some(e) = failure {
            return Err(partial(e, plan, &applied));
        }
        if phase == ApplyPhase::CustomResourceDefinitions {
            for (_, d) in &todo {
                wait_established(client, &d.oref.name, progress).await?;
            }
        }
    }

    for p in &plan.prunes {
        progress(format!("pruning {}", p.oref));
        let dp = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            ..Default::default()
        };
        let objects = api(client, &p.resource, p.oref.namespace.as_deref());
        // Re-check ownership right before deleting: never delete what berth does not own.
        let Some(live) = objects.get_opt(&p.oref.name).await.map_err(|e| {
            from_kube(
                e,
                &Action {
                    verb: "get",
                    resource: p.resource.display(),
                    namespace: p.oref.namespace.as_deref(),
                    object: Some(p.oref.to_string()),
                    origin: None,
                },
            )
        })?
        else {
            continue;
        };
        if live.metadata.labels.as_ref().and_then(|l| l.get(PART_OF)) != Some(&plan.set.id()) {
            continue;
        }
        match objects.delete(&p.oref.name, &dp).await {
            Ok(_) => report.deleted += 1,
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => {
                return Err(from_kube(
                    e,
                    &Action {
                        verb: "delete",
                        resource: p.resource.display(),
                        namespace: p.oref.namespace.as_deref(),
                        object: Some(p.oref.to_string()),
                        origin: None,
                    },
                ))
            }
        }
    }
    // Without prune, members of kinds no longer rendered stay recorded (the union).
    if opts.prune && (union_kinds != kinds || union_ns != namespaces) {
        write_parent(client, &plan.set, &kinds, &namespaces, modes.as_deref()).await?;
    }
    Ok(report)
}

/// Applies one object of the plan (replacing it first when the plan says so).
async fn apply_one(
    client: &kube::Client,
    resolver: &Resolver,
    plan: &Plan,
    pp: &PatchParams,
    i: usize,
    d: &Desired,
) -> Result<(), Error> {
    let resource = match &d.resource {
        Some(r) => r.clone(),
        None => {
            resolver.forget(&d.api_version).await;
            resolver
                .require(client, &d.api_version, &d.oref.group_kind.kind, &d.origin)
                .await?
        }
    };
    let objects = api(client, &resource, d.oref.namespace.as_deref());
    if plan.actions[i] == ChangeKind::Replace {
        replace_delete(&objects, d).await?;
    }
    objects
        .patch(&d.oref.name, pp, &Patch::Apply(&d.body))
        .await
        .map_err(|e| object_error(e, "apply", d, &resource))?;
    Ok(())
}

/// An apply that stopped midway: what was and was not applied, and that the next one converges.
fn partial(e: Error, plan: &Plan, applied: &[String]) -> Error {
    let changing = plan
        .actions
        .iter()
        .filter(|a| **a != ChangeKind::Unchanged)
        .count();
    let shown: Vec<&str> = applied.iter().take(10).map(String::as_str).collect();
    let more = applied.len().saturating_sub(shown.len());
    let mut e = if applied.is_empty() {
        e.note("nothing was applied before the failure")
    } else {
        e.note(format!(
            "applied before the failure: {}{}",
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        ))
    };
    e = e.note(format!(
        "{} of {} to change applied, {} not applied; nothing was pruned",
        applied.len(),
        berth_core::count(changing, "object"),
        changing - applied.len()
    ));
    if e.hint.is_none() {
        e = e.hint("fix the cause and apply again: the next apply continues from here");
    }
    e
}

/// Sets the modes annotation on the parent (source mode per container), keeping everything else.
pub async fn set_parent_modes(
    client: &kube::Client,
    set: &ApplySet,
    modes: &str,
) -> Result<(), Error> {
    set_parent_annotation(client, set, applyset::MODES, Some(modes)).await
}

/// Sets (or with `None` removes) one annotation of the parent, keeping everything else.
pub async fn set_parent_annotation(
    client: &kube::Client,
    set: &ApplySet,
    key: &str,
    value: Option<&str>,
) -> Result<(), Error> {
    let api: Api<Secret> = Api::namespaced(client.clone(), &set.namespace);
    let patch = json!({"metadata": {"annotations": {key: value}}});
    api.patch(
        &set.parent_name(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
    .map_err(|e| parent_error(e, "patch", set))?;
    Ok(())
}

/// Deletes an object about to be re-created and waits until it is gone.
async fn replace_delete(objects: &Api<kube::api::DynamicObject>, d: &Desired) -> Result<(), Error> {
    let dp = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Foreground),
        ..Default::default()
    };
    let action = || Action {
        verb: "delete",
        resource: d.oref.group_kind.to_string(),
        namespace: d.oref.namespace.as_deref(),
        object: Some(format!("{} (to replace it)", d.oref)),
        origin: Some(d.origin.clone()),
    };
    match objects.delete(&d.oref.name, &dp).await {
        Ok(_) | Err(kube::Error::Api(_)) => {}
        Err(e) => return Err(from_kube(e, &action())),
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while objects
        .get_opt(&d.oref.name)
        .await
        .map_err(|e| from_kube(e, &action()))?
        .is_some()
    {
        if tokio::time::Instant::now() > deadline {
            return Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "{} was not deleted within 120s, so it cannot be re-created",
                    d.oref
                ),
            )
            .at(&d.origin)
            .hint("check its finalizers; apply again once it is gone"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

fn phase_name(p: ApplyPhase) -> &'static str {
    match p {
        ApplyPhase::Namespaces => "namespaces",
        ApplyPhase::CustomResourceDefinitions => "custom resource definitions",
        ApplyPhase::Rbac => "service accounts and RBAC",
        ApplyPhase::Config => "config maps and secrets",
        ApplyPhase::Storage => "storage",
        ApplyPhase::Services => "services",
        ApplyPhase::Workloads => "workloads",
        ApplyPhase::Ingress => "ingresses",
        ApplyPhase::Rest => "other objects",
    }
}

/// Waits until a CRD reports Established, so its kind can be applied.
async fn wait_established(
    client: &kube::Client,
    name: &str,
    progress: &(dyn Fn(String) + Sync),
) -> Result<(), Error> {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    progress(format!(
        "waiting for CustomResourceDefinition {name} to be established"
    ));
    loop {
        let crd = api.get_opt(name).await.ok().flatten();
        let established = crd
            .as_ref()
            .and_then(|c| c.status.as_ref())
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| c.type_ == "Established" && c.status == "True")
            });
        if established {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            return Err(Error::new(
                ErrorKind::Timeout,
                format!("CustomResourceDefinition {name} was not established within 60s"),
            )
            .hint("check the CRD's conditions with kubectl describe crd"));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
