//! Making the plan real: ordered groups, bounded concurrency, CRDs established before their objects,
//! prune of members no longer rendered, and the ApplySet parent kept truthful throughout.

use crate::applyset::{self, ApplySet, PART_OF};
use crate::error::{from_kube, Action, Error, ErrorKind, LocatedAt};
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
    /// The objects written so far (`Kind/name`), in order: what an apply that stops midway
    /// says it did.
    #[serde(skip)]
    pub applied: Vec<String>,
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
    if is_noop(plan) {
        return Ok(ApplyReport {
            unchanged: plan.desired.len(),
            ..Default::default()
        });
    }
    let (kinds, namespaces) = desired_kinds_and_namespaces(plan);
    let modes = parent_modes(plan);
    // Record the union first: if this run dies midway, the next one still finds every member.
    let (mut union_kinds, mut union_ns) = (kinds.clone(), namespaces.clone());
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
    let mut others = union_ns.clone();
    others.remove(&plan.set.namespace);
    if recorded != Some((union_kinds.clone(), others)) {
        write_parent(client, &plan.set, &union_kinds, &union_ns, modes.as_deref()).await?;
    }
    let mut report = ApplyReport::default();
    for phase in phases(plan) {
        apply_phase(client, resolver, plan, opts, &phase, &mut report, progress).await?;
    }
    report.deleted = prune(client, plan, progress).await?;
    // Without prune, members of kinds no longer rendered stay recorded (the union).
    if opts.prune && (union_kinds != kinds || union_ns != namespaces) {
        write_parent(client, &plan.set, &kinds, &namespaces, modes.as_deref()).await?;
    }
    Ok(report)
}

/// The plan's objects (by index) in runs of one apply phase, in order.
fn phases(plan: &Plan) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    for (i, d) in plan.desired.iter().enumerate() {
        match out.last_mut() {
            Some(run) if plan.desired[run[0]].phase() == d.phase() => run.push(i),
            _ => out.push(vec![i]),
        }
    }
    out
}

/// Writes one phase's changed objects, 16 at a time; CRDs are waited for until established.
async fn apply_phase(
    client: &kube::Client,
    resolver: &Resolver,
    plan: &Plan,
    opts: ApplyOptions,
    phase: &[usize],
    report: &mut ApplyReport,
    progress: &(dyn Fn(String) + Sync),
) -> Result<(), Error> {
    let (todo, unchanged): (Vec<usize>, Vec<usize>) = phase
        .iter()
        .partition(|i| plan.actions[**i] != ChangeKind::Unchanged);
    report.unchanged += unchanged.len();
    let Some(&first) = todo.first() else {
        return Ok(());
    };
    let kind = plan.desired[first].phase();
    progress(format!(
        "applying {} ({})",
        phase_name(kind),
        berth_core::count(todo.len(), "object")
    ));
    let pp = apply_params(opts.force_conflicts, false);
    let results: Vec<Result<(), Error>> = stream::iter(todo.iter().copied())
        .map(|i| apply_one(client, resolver, plan, &pp, i, &plan.desired[i]))
        .buffered(CONCURRENCY)
        .collect()
        .await;
    let mut failure = None;
    for (r, &i) in results.into_iter().zip(&todo) {
        match r {
            Ok(()) => {
                let d = &plan.desired[i];
                report
                    .applied
                    .push(format!("{}/{}", d.oref.group_kind, d.oref.name));
                match plan.actions[i] {
                    ChangeKind::Create => report.created += 1,
                    _ => report.updated += 1,
                }
            }
            Err(e) => failure = failure.or(Some(e)),
        }
    }
    if let Some(e) = failure {
        return Err(partial(e, plan, &report.applied));
    }
    if kind == ApplyPhase::CustomResourceDefinitions {
        for &i in &todo {
            wait_established(client, &plan.desired[i].oref.name, progress).await?;
        }
    }
    Ok(())
}

/// Deletes the plan's prunes, each only if it is still a member of the set right before;
/// returns how many were deleted.
async fn prune(
    client: &kube::Client,
    plan: &Plan,
    progress: &(dyn Fn(String) + Sync),
) -> Result<usize, Error> {
    let mut deleted = 0;
    for p in &plan.prunes {
        progress(format!("pruning {}", p.oref));
        let action = |verb| Action {
            verb,
            resource: p.resource.display(),
            namespace: p.oref.namespace.as_deref(),
            object: Some(p.oref.to_string()),
            origin: None,
        };
        let objects = api(client, &p.resource, p.oref.namespace.as_deref());
        // Re-check ownership right before deleting: never delete what berth does not own.
        let live = objects
            .get_opt(&p.oref.name)
            .await
            .map_err(|e| from_kube(e, &action("get")))?;
        let member = live
            .as_ref()
            .and_then(|l| l.metadata.labels.as_ref())
            .and_then(|l| l.get(PART_OF))
            == Some(&plan.set.id());
        if !member {
            continue;
        }
        let dp = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            ..Default::default()
        };
        match objects.delete(&p.oref.name, &dp).await {
            Ok(_) => deleted += 1,
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(from_kube(e, &action("delete"))),
        }
    }
    Ok(deleted)
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
    if d.takes_over_helm_fields {
        take_over_helm_fields(&objects, d, &resource).await?;
    }
    objects
        .patch(&d.oref.name, pp, &Patch::Apply(&d.body))
        .await
        .map_err(|e| object_error(e, "apply", d, &resource))?;
    Ok(())
}

/// Makes the fields Helm's manager owns on `d` berth's, right before berth applies it.
async fn take_over_helm_fields(
    objects: &Api<kube::api::DynamicObject>,
    d: &Desired,
    resource: &crate::resources::Resource,
) -> Result<(), Error> {
    let error = |e| object_error(e, "take over Helm's fields of", d, resource);
    let Some(live) = objects.get_opt(&d.oref.name).await.map_err(error)? else {
        return Ok(());
    };
    let live = serde_json::to_value(live).unwrap_or_default();
    crate::adopt::take_over(objects, &d.oref.name, &live)
        .await
        .map_err(error)?;
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
        &crate::patch_params(),
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
            .located_at(&d.origin)
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::plan::Desired;
    use berth_core::{GroupKind, ObjectRef};
    use serde_json::json;

    pub(crate) fn desired(api_version: &str, kind: &str, name: &str) -> Desired {
        Desired {
            oref: ObjectRef {
                group_kind: GroupKind::from_api_version(api_version, kind),
                namespace: Some("ns".into()),
                name: name.into(),
            },
            origin: crate::manifest::Origin::file(&format!("{name}.yaml"), 1),
            resource: None,
            api_version: api_version.into(),
            body: json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": name}}),
            takes_over_helm_fields: false,
        }
    }

    pub(crate) fn plan_of(desired: Vec<Desired>, actions: Vec<ChangeKind>) -> Plan {
        let changes = desired
            .iter()
            .zip(&actions)
            .map(|(d, a)| crate::plan::Change {
                action: *a,
                oref: (&d.oref).into(),
                source: None,
                diff: None,
                changed_secret_keys: Vec::new(),
            })
            .collect();
        Plan {
            set: ApplySet {
                name: "app".into(),
                namespace: "ns".into(),
            },
            desired,
            actions,
            prunes: Vec::new(),
            changes,
            parent: None,
            missing_namespaces: Vec::new(),
            live_members: 0,
            warnings: Vec::new(),
            adopted: Vec::new(),
            notes: Vec::new(),
        }
    }

    #[test]
    fn objects_go_in_runs_of_one_phase() {
        let plan = plan_of(
            vec![
                desired("v1", "Namespace", "a"),
                desired("v1", "ConfigMap", "b"),
                desired("v1", "Secret", "c"),
                desired("v1", "Service", "d"),
                desired("apps/v1", "Deployment", "e"),
                desired("apps/v1", "StatefulSet", "f"),
            ],
            vec![ChangeKind::Create; 6],
        );
        assert_eq!(
            phases(&plan),
            vec![vec![0], vec![1, 2], vec![3], vec![4, 5]]
        );
    }

    #[test]
    fn an_unchanged_set_is_a_no_op_only_with_a_current_parent() {
        let mut plan = plan_of(
            vec![desired("v1", "ConfigMap", "b")],
            vec![ChangeKind::Unchanged],
        );
        assert!(!is_noop(&plan), "no parent yet: it must be written");
        let kinds = BTreeSet::from([GroupKind::from_api_version("v1", "ConfigMap")]);
        plan.parent = Some(
            plan.set
                .parent(&kinds, &BTreeSet::from(["ns".to_string()]), None),
        );
        assert!(is_noop(&plan));
        plan.changes[0].action = ChangeKind::Update;
        assert!(!is_noop(&plan));
    }

    #[test]
    fn a_partial_apply_says_what_was_and_was_not_applied() {
        let plan = plan_of(
            vec![
                desired("v1", "ConfigMap", "b"),
                desired("v1", "Service", "s"),
            ],
            vec![ChangeKind::Create, ChangeKind::Create],
        );
        let e = partial(
            Error::new(ErrorKind::Api, "boom"),
            &plan,
            &["ConfigMap/b".into()],
        );
        let text = e.to_string();
        assert!(
            text.contains("applied before the failure: ConfigMap/b"),
            "{text}"
        );
        assert!(
            text.contains("1 of 2 objects to change applied, 1 not applied"),
            "{text}"
        );
    }
}
