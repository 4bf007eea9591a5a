//! `berth plan`: the server's dry-run of every object, compared with what is live.

use crate::applyset::{self, ApplySet, PART_OF};
use crate::error::{from_kube, Action, Error, ErrorKind, LocatedAt};
pub use crate::manifest::Manifest;
use crate::resources::{Resolver, Resource};
use crate::FIELD_MANAGER;
use crate::{adopt, diff};
use berth_core::{ApiStatus, ApplyPhase, GroupKind, KubeVersion, ObjectRef, RetiredApi};
use futures::{stream, StreamExt, TryStreamExt};
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use serde::Serialize;
use serde_json::{json, Value as Json};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Requests in flight at once, per step.
pub const CONCURRENCY: usize = 16;

/// An object resolved against the cluster: where it goes and how to reach it.
#[derive(Clone, Debug)]
pub struct Desired {
    pub oref: ObjectRef,
    pub origin: crate::manifest::Origin,
    /// `None` while its kind is served only once a CRD of this set is applied.
    pub resource: Option<Resource>,
    pub api_version: String,
    /// As applied: namespace filled in, labelled as a member of the set.
    pub body: Json,
    /// A live object of a Helm release whose fields Helm's manager owns: the apply takes them
    /// over first ([`crate::adopt`]).
    pub takes_over_helm_fields: bool,
}

impl Desired {
    pub fn phase(&self) -> ApplyPhase {
        ApplyPhase::of(&self.oref.group_kind)
    }
}

/// What happens to one object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Create,
    Update,
    /// Delete and create again: the change touches fields the server will not update (a Job's
    /// pod template).
    Replace,
    Delete,
    Unchanged,
}

/// A line of the plan.
#[derive(Clone, Debug, Serialize)]
pub struct Change {
    pub action: ChangeKind,
    #[serde(flatten)]
    pub oref: JsonRef,
    /// Template file and line (absent for prunes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Unified YAML diff for updates, the object for creates (Secret values masked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    /// For Secrets: the keys whose values change (values are never shown).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changed_secret_keys: Vec<String>,
}

/// An object's identity in `-o json`.
#[derive(Clone, Debug, Serialize)]
pub struct JsonRef {
    pub group: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

impl From<&ObjectRef> for JsonRef {
    fn from(o: &ObjectRef) -> JsonRef {
        JsonRef {
            group: o.group_kind.group.clone(),
            kind: o.group_kind.kind.clone(),
            namespace: o.namespace.clone(),
            name: o.name.clone(),
        }
    }
}

/// A live member that is no longer rendered.
#[derive(Clone, Debug)]
pub struct Prune {
    pub oref: ObjectRef,
    pub resource: Resource,
}

/// Everything `apply` needs, computed without changing anything.
#[derive(Clone, Debug)]
pub struct Plan {
    pub set: ApplySet,
    pub desired: Vec<Desired>,
    /// Parallel to `desired`.
    pub actions: Vec<ChangeKind>,
    pub prunes: Vec<Prune>,
    pub changes: Vec<Change>,
    /// The live parent Secret, if the set exists.
    pub parent: Option<Json>,
    /// Namespaces the objects need that do not exist yet.
    pub missing_namespaces: Vec<String>,
    /// Members the set has now (for the empty-render check).
    pub live_members: usize,
    /// Things to know that change nothing: API versions deprecated in the cluster's release.
    pub warnings: Vec<String>,
    /// Live objects this apply takes into the set from a Helm release (`meta.helm.sh/*`).
    pub adopted: Vec<Adoption>,
    /// What else the apply does or means, in sentences: adoptions, hooks, `crds/`.
    pub notes: Vec<String>,
}

/// A live object of a Helm release that becomes a member of the set, as it is.
#[derive(Clone, Debug, Serialize)]
pub struct Adoption {
    #[serde(flatten)]
    pub oref: JsonRef,
    /// `meta.helm.sh/release-name`.
    pub release: String,
    /// `meta.helm.sh/release-namespace`.
    pub release_namespace: String,
    /// Field managers other than Helm's and berth's that own fields of it: they keep them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub other_managers: Vec<String>,
}

/// What adopting means, once per Helm release.
fn adoption_notes(set: &ApplySet, adopted: &[Adoption]) -> Vec<String> {
    let mut releases: Vec<(&str, &str)> = adopted
        .iter()
        .map(|a| (a.release_namespace.as_str(), a.release.as_str()))
        .collect();
    releases.sort();
    releases.dedup();
    releases
        .into_iter()
        .map(|(ns, release)| {
            let n = adopted
                .iter()
                .filter(|a| a.release == release && a.release_namespace == ns)
                .count();
            format!(
                "adopting {n} live objects of Helm release {release} (namespace {ns}) into deploy \
                 set {}: they are updated in place, nothing is deleted or recreated, and the \
                 fields Helm's field manager owns on them become berth's. Helm's \
                 records (Secrets sh.helm.release.v1.{release}.v*) stay; `helm uninstall \
                 {release}` would still delete these objects, so remove the records once berth \
                 manages them: kubectl delete secret -n {ns} -l owner=helm,name={release}",
                set.name
            )
        })
        .chain(
            adopted
                .iter()
                .filter(|a| !a.other_managers.is_empty())
                .map(|a| {
                    format!(
                        "{}/{}: fields owned by {} stay theirs (berth takes over Helm's only)",
                        a.oref.kind,
                        a.oref.name,
                        a.other_managers.join(", ")
                    )
                }),
        )
        .collect()
}

/// The desired objects that are live, not members of `set`, and part of a Helm release.
fn adoptions(set: &ApplySet, desired: &[Desired], live: &Live) -> Vec<Adoption> {
    (desired.iter())
        .filter_map(|d| adoption_of(set, d, live))
        .collect()
}

/// `d`'s adoption, when it is live, not a member of `set`, and part of a Helm release.
fn adoption_of(set: &ApplySet, d: &Desired, live: &Live) -> Option<Adoption> {
    let body = live.objects.get(&d.oref)?;
    let member = body
        .pointer("/metadata/labels")
        .and_then(|l| l.get(PART_OF))
        .and_then(Json::as_str)
        == Some(set.id().as_str());
    let ann = body.pointer("/metadata/annotations")?;
    let release = ann.get("meta.helm.sh/release-name")?.as_str()?;
    (!member).then(|| Adoption {
        oref: (&d.oref).into(),
        release: release.to_string(),
        release_namespace: ann
            .get("meta.helm.sh/release-namespace")
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_string(),
        other_managers: adopt::other_managers(body),
    })
}

impl Plan {
    pub fn has_changes(&self) -> bool {
        self.count_changes() > 0
    }

    /// How many objects would change (create, update, replace, delete).
    pub fn count_changes(&self) -> usize {
        self.changes
            .iter()
            .filter(|c| c.action != ChangeKind::Unchanged)
            .count()
    }

    pub fn count(&self, kind: ChangeKind) -> usize {
        self.changes.iter().filter(|c| c.action == kind).count()
    }

    /// The stable `-o json` form (documented in docs/kubernetes.md).
    pub fn to_json(&self) -> Json {
        json!({
            "set": self.set.name,
            "namespace": self.set.namespace,
            "summary": {
                "create": self.count(ChangeKind::Create),
                "update": self.count(ChangeKind::Update),
                "replace": self.count(ChangeKind::Replace),
                "delete": self.count(ChangeKind::Delete),
                "unchanged": self.count(ChangeKind::Unchanged),
            },
            "changes": self.changes.iter().filter(|c| c.action != ChangeKind::Unchanged).collect::<Vec<_>>(),
            "warnings": self.warnings,
            "adopted": self.adopted,
            "notes": self.notes,
        })
    }
}

/// Options that change what the server is asked.
#[derive(Clone, Copy, Debug, Default)]
pub struct PlanOptions {
    /// Take ownership of fields another manager holds.
    pub force_conflicts: bool,
    /// Compute deletions of members no longer rendered.
    pub prune: bool,
}

/// The patch parameters of every apply berth makes.
pub fn apply_params(force: bool, dry_run: bool) -> PatchParams {
    let mut pp = PatchParams::apply(FIELD_MANAGER);
    pp.force = force;
    pp.dry_run = dry_run;
    pp
}

/// The API for a resource in a namespace (or cluster-wide).
pub fn api(client: &kube::Client, r: &Resource, ns: Option<&str>) -> Api<DynamicObject> {
    match (r.namespaced, ns) {
        (true, Some(ns)) => Api::namespaced_with(client.clone(), ns, &r.api),
        _ => Api::all_with(client.clone(), &r.api),
    }
}

/// Refuses objects in API versions the cluster's release removed (all of them, in one error);
/// returns a warning for each object in a version it deprecated.
pub fn check_retired_apis(
    manifests: &[Manifest],
    cluster: KubeVersion,
) -> Result<Vec<String>, Error> {
    let mut removed = Vec::new();
    let mut warnings = Vec::new();
    for m in manifests {
        match RetiredApi::status(m.api_version(), m.kind(), cluster) {
            Some(ApiStatus::Removed(r)) => removed.push((m, r)),
            Some(ApiStatus::Deprecated(r)) => warnings.push(format!(
                "{} {} at {} is deprecated since Kubernetes {} and removed in {}: {}",
                r.api_version,
                r.kind,
                m.origin,
                r.deprecated_in,
                r.removed_in,
                r.advice()
            )),
            None => {}
        }
    }
    let Some(((first, r), rest)) = removed.split_first() else {
        return Ok(warnings);
    };
    let mut e = Error::new(
        ErrorKind::UnknownKind,
        format!(
            "{} {} was removed in Kubernetes {}; this cluster runs {cluster}",
            r.api_version, r.kind, r.removed_in
        ),
    )
    .located_at(&first.origin);
    for (m, r) in rest {
        e = e.note(format!(
            "also {} {} at {} (removed in {}; {})",
            r.api_version,
            r.kind,
            m.origin,
            r.removed_in,
            r.advice()
        ));
    }
    Err(e.note("nothing was applied").hint(format!(
        "{} (and update the fields that version changed)",
        r.advice()
    )))
}

/// The body as applied: its namespace filled in (or removed, cluster-scoped), labelled as a
/// member of the set, stamped with its digest. Also its name and namespace.
fn as_member(
    m: &Manifest,
    set: &ApplySet,
    namespaced: bool,
) -> Result<(Json, String, Option<String>), Error> {
    let refuse =
        |what: &str| Error::new(ErrorKind::Rejected, what.to_string()).located_at(&m.origin);
    let mut body = m.body.clone();
    let meta = body
        .as_object_mut()
        .and_then(|b| {
            b.entry("metadata")
                .or_insert_with(|| json!({}))
                .as_object_mut()
        })
        .ok_or_else(|| refuse("object has no metadata"))?;
    // `annotations:` or `labels:` with nothing under them (a chart's empty block) mean none,
    // as kubectl and helm read them.
    for key in ["labels", "annotations"] {
        if meta.get(key).is_some_and(Json::is_null) {
            meta.remove(key);
        }
    }
    let name = meta
        .get("name")
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_string();
    let namespace = if namespaced {
        let ns = meta
            .get("namespace")
            .and_then(Json::as_str)
            .unwrap_or(&set.namespace)
            .to_string();
        meta.insert("namespace".into(), json!(ns));
        Some(ns)
    } else {
        meta.remove("namespace");
        None
    };
    meta.entry("labels")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or_else(|| refuse("metadata.labels is not a map"))?
        .insert(PART_OF.into(), json!(set.id()));
    diff::stamp_digest(&mut body).map_err(|e| e.located_at(&m.origin))?;
    Ok((body, name, namespace))
}

/// Resolves manifests against the cluster's discovery: namespaces filled in, membership labelled.
pub async fn resolve(
    client: &kube::Client,
    resolver: &Resolver,
    set: &ApplySet,
    manifests: &[Manifest],
) -> Result<Vec<Desired>, Error> {
    // Kinds that CRDs of this set will serve: (group, kind).
    let crd_kinds: BTreeSet<(String, String)> = manifests
        .iter()
        .filter(|m| m.kind() == "CustomResourceDefinition")
        .filter_map(|m| {
            Some((
                m.body.pointer("/spec/group")?.as_str()?.to_string(),
                m.body.pointer("/spec/names/kind")?.as_str()?.to_string(),
            ))
        })
        .collect();
    let mut out = Vec::with_capacity(manifests.len());
    let mut seen = HashMap::new();
    for m in manifests {
        let gk = GroupKind::from_api_version(m.api_version(), m.kind());
        let resource = match resolver.resolve(client, m.api_version(), m.kind()).await? {
            Some(r) => Some(r),
            None if crd_kinds.contains(&(gk.group.clone(), gk.kind.clone())) => None,
            None => {
                return Err(Error::new(
                    ErrorKind::UnknownKind,
                    format!(
                        "the cluster does not know kind {} in {}",
                        m.kind(),
                        m.api_version()
                    ),
                )
                .located_at(&m.origin)
                .note("nothing was applied")
                .hint("install its CustomResourceDefinition first (or add it to the folder), or check apiVersion and kind"))
            }
        };
        // A kind only a new CRD serves: assume namespaced unless the CRD says Cluster.
        let namespaced = match &resource {
            Some(r) => r.namespaced,
            None => manifests.iter().any(|c| {
                c.kind() == "CustomResourceDefinition"
                    && c.body.pointer("/spec/names/kind").and_then(Json::as_str) == Some(&gk.kind)
                    && c.body.pointer("/spec/scope").and_then(Json::as_str) != Some("Cluster")
            }),
        };
        let (body, name, namespace) = as_member(m, set, namespaced)?;
        let oref = ObjectRef {
            group_kind: gk,
            namespace,
            name,
        };
        if let Some(first) = seen.insert(oref.clone(), m.origin.clone()) {
            return Err(
                Error::new(ErrorKind::Rejected, format!("{oref} is defined twice"))
                    .located_at(&m.origin)
                    .note(format!("first defined at {first}"))
                    .hint("remove one of them"),
            );
        }
        out.push(Desired {
            oref,
            origin: m.origin.clone(),
            resource,
            api_version: m.api_version().to_string(),
            body,
            takes_over_helm_fields: false,
        });
    }
    out.sort_by_key(|d| (d.phase(), ApplyPhase::rank(&d.oref.group_kind)));
    Ok(out)
}

/// The resources to list: every desired kind, plus the kinds the live set recorded.
async fn kinds_to_list(
    client: &kube::Client,
    resolver: &Resolver,
    desired: &[Desired],
    recorded: &BTreeSet<GroupKind>,
) -> Result<Vec<(GroupKind, Resource)>, Error> {
    let mut out: BTreeMap<GroupKind, Resource> = BTreeMap::new();
    for d in desired {
        if let Some(r) = &d.resource {
            out.entry(d.oref.group_kind.clone())
                .or_insert_with(|| r.clone());
        }
    }
    for gk in recorded {
        if out.contains_key(gk) {
            continue;
        }
        if let Some(r) = resolver.resolve_group_kind(client, gk).await? {
            out.insert(gk.clone(), r);
        }
    }
    Ok(out.into_iter().collect())
}

/// Computes the plan: resolve, list live state, dry-run every object, diff.
pub async fn plan(
    client: &kube::Client,
    resolver: &Resolver,
    set: &ApplySet,
    manifests: &[Manifest],
    opts: PlanOptions,
) -> Result<Plan, Error> {
    let plan = plan_with(client, resolver, set, manifests, opts, false).await?;
    Ok(plan.expect("a full plan is always complete"))
}

/// The plan, only when every object is unchanged since berth applied it (judged from live state
/// alone, without a dry-run): the read-only check that lets a no-op apply take no lock and write
/// nothing. `None` when something may change: plan in full then.
pub async fn plan_if_unchanged(
    client: &kube::Client,
    resolver: &Resolver,
    set: &ApplySet,
    manifests: &[Manifest],
    opts: PlanOptions,
) -> Result<Option<Plan>, Error> {
    plan_with(client, resolver, set, manifests, opts, true).await
}

async fn plan_with(
    client: &kube::Client,
    resolver: &Resolver,
    set: &ApplySet,
    manifests: &[Manifest],
    opts: PlanOptions,
    only_if_unchanged: bool,
) -> Result<Option<Plan>, Error> {
    let warnings = check_retired_apis(manifests, resolver.kube_version(client).await?)?;
    let desired = resolve(client, resolver, set, manifests).await?;
    let parent = applyset::read_parent(client, set).await?.map(|p| p.body);
    let mut namespaces: BTreeSet<String> = desired
        .iter()
        .filter_map(|d| d.oref.namespace.clone())
        .collect();
    namespaces.insert(set.namespace.clone());
    if let Some(p) = &parent {
        namespaces.extend(applyset::recorded_namespaces(p));
    }
    let missing_namespaces = missing_namespaces(client, &namespaces).await?;
    let recorded = parent
        .as_ref()
        .map(applyset::recorded_kinds)
        .unwrap_or_default();
    let kinds = kinds_to_list(client, resolver, &desired, &recorded).await?;
    let live = list_live(
        client,
        set,
        &desired,
        &kinds,
        &namespaces,
        &missing_namespaces,
    )
    .await?;
    // Objects unchanged since berth applied them (parallel to `desired`): what is live.
    let known: Vec<Option<&Json>> = desired
        .iter()
        .map(|d| {
            live.objects
                .get(&d.oref)
                .filter(|l| diff::unchanged_since_applied(l, &d.body))
        })
        .collect();
    if only_if_unchanged && !known.iter().all(Option::is_some) {
        return Ok(None);
    }
    let adopted = adoptions(set, &desired, &live);
    let mut desired = desired;
    for d in desired.iter_mut() {
        d.takes_over_helm_fields = adoption_of(set, d, &live).is_some()
            && live
                .objects
                .get(&d.oref)
                .is_some_and(adopt::helm_owns_fields);
    }
    let planned = dry_run(client, &desired, &known, &missing_namespaces, opts).await?;
    let mut changes = Vec::new();
    let mut actions = Vec::new();
    for (d, planned) in desired.iter().zip(planned) {
        let change = change_of(d, planned, live.objects.get(&d.oref));
        actions.push(change.action);
        changes.push(change);
    }
    let notes = adoption_notes(set, &adopted);
    let live_members = live.members.len();
    let prunes = prunes_of(live.members, &desired, opts);
    changes.extend(prunes.iter().map(|p| Change {
        action: ChangeKind::Delete,
        oref: (&p.oref).into(),
        source: None,
        diff: None,
        changed_secret_keys: Vec::new(),
    }));
    Ok(Some(Plan {
        set: set.clone(),
        desired,
        actions,
        prunes,
        changes,
        parent,
        missing_namespaces,
        live_members,
        warnings,
        adopted,
        notes,
    }))
}

/// What is live: every object of the rendered kinds, and the members of the set.
struct Live {
    objects: HashMap<ObjectRef, Json>,
    members: Vec<(ObjectRef, Resource)>,
}

/// Lists live state: one list per kind and namespace; members are the labelled objects.
async fn list_live(
    client: &kube::Client,
    set: &ApplySet,
    desired: &[Desired],
    kinds: &[(GroupKind, Resource)],
    namespaces: &BTreeSet<String>,
    missing_namespaces: &[String],
) -> Result<Live, Error> {
    let mut lists = Vec::new();
    for (gk, r) in kinds {
        if r.namespaced {
            for ns in namespaces
                .iter()
                .filter(|ns| !missing_namespaces.contains(ns))
            {
                lists.push((gk.clone(), r.clone(), Some(ns.clone())));
            }
        } else {
            lists.push((gk.clone(), r.clone(), None));
        }
    }
    let desired_kinds: BTreeSet<&GroupKind> = desired.iter().map(|d| &d.oref.group_kind).collect();
    let listed: Vec<Vec<(ObjectRef, Resource, Json)>> = stream::iter(lists)
        .map(|(gk, r, ns)| {
            // Kinds we render: list all (to see objects we would adopt); others: members only.
            let lp = if desired_kinds.contains(&gk) {
                ListParams::default()
            } else {
                ListParams::default().labels(&set.selector())
            };
            list_kind(client, gk, r, ns, lp)
        })
        .buffer_unordered(CONCURRENCY)
        .try_collect()
        .await?;
    let mut live = Live {
        objects: HashMap::new(),
        members: Vec::new(),
    };
    let id = set.id();
    for (oref, r, body) in listed.into_iter().flatten() {
        let member = body
            .pointer("/metadata/labels")
            .and_then(|l| l.get(PART_OF))
            .and_then(Json::as_str)
            == Some(id.as_str());
        // Helm's `helm.sh/resource-policy: keep`: the object outlives its removal from the
        // render, so it is never a candidate for pruning.
        let kept = body
            .pointer("/metadata/annotations/helm.sh~1resource-policy")
            .and_then(Json::as_str)
            == Some("keep");
        if member && !kept {
            live.members.push((oref.clone(), r));
        }
        live.objects.insert(oref, body);
    }
    Ok(live)
}

/// One list of one kind in one namespace (or cluster-wide), as JSON with apiVersion and kind.
async fn list_kind(
    client: &kube::Client,
    gk: GroupKind,
    r: Resource,
    ns: Option<String>,
    lp: ListParams,
) -> Result<Vec<(ObjectRef, Resource, Json)>, Error> {
    let list = api(client, &r, ns.as_deref())
        .list(&lp)
        .await
        .map_err(|e| {
            from_kube(
                e,
                &Action {
                    verb: "list",
                    resource: r.display(),
                    namespace: ns.as_deref(),
                    object: None,
                    origin: None,
                },
            )
        })?;
    Ok(list
        .items
        .into_iter()
        .map(|o| {
            let oref = ObjectRef {
                group_kind: gk.clone(),
                namespace: o.metadata.namespace.clone(),
                name: o.metadata.name.clone().unwrap_or_default(),
            };
            (oref, r.clone(), with_type(&o, &r))
        })
        .collect())
}

/// An object as JSON with its apiVersion and kind (the server omits them in lists).
fn with_type(o: &DynamicObject, r: &Resource) -> Json {
    let mut body = serde_json::to_value(o).unwrap_or_default();
    if let Some(map) = body.as_object_mut() {
        map.insert("apiVersion".into(), json!(r.api.api_version));
        map.insert("kind".into(), json!(r.api.kind));
    }
    body
}

/// What the server would make of every object (parallel to `desired`): its dry-run answer,
/// `Some(Null)` when it must be replaced, `None` when it cannot be asked yet (its namespace or
/// kind does not exist). An object `known` unchanged since berth applied it is not asked: its
/// answer is what is live.
async fn dry_run(
    client: &kube::Client,
    desired: &[Desired],
    known: &[Option<&Json>],
    missing: &[String],
    opts: PlanOptions,
) -> Result<Vec<Option<Json>>, Error> {
    let pp = apply_params(opts.force_conflicts, true);
    stream::iter(desired.iter().zip(known))
        .map(|(d, known)| {
            let pp = pp.clone();
            async move {
                let Some(r) = &d.resource else {
                    return Ok(None);
                };
                if d.oref
                    .namespace
                    .as_ref()
                    .is_some_and(|ns| missing.contains(ns))
                {
                    return Ok(None);
                }
                if let Some(l) = known {
                    return Ok(Some((*l).clone()));
                }
                let objects = api(client, r, d.oref.namespace.as_deref());
                let mut answer = objects
                    .patch(&d.oref.name, &pp, &Patch::Apply(&d.body))
                    .await;
                if let Err(kube::Error::Api(s)) = &answer {
                    // Conflicts only with Helm's manager on an adopted object: the apply takes
                    // those fields over first, which a dry-run with force shows.
                    if d.takes_over_helm_fields
                        && s.code == 409
                        && adopt::only_helm_conflicts(&s.message)
                    {
                        let forced = apply_params(true, true);
                        answer = objects
                            .patch(&d.oref.name, &forced, &Patch::Apply(&d.body))
                            .await;
                    }
                }
                match answer {
                    Ok(result) => Ok(Some(with_type(&result, r))),
                    Err(kube::Error::Api(s)) if replaceable(d, &s) => Ok(Some(Json::Null)),
                    Err(e) => Err(object_error(e, "apply", d, r)),
                }
            }
        })
        .buffered(CONCURRENCY)
        .try_collect()
        .await
        .map_err(|e: Error| e.note("nothing was applied"))
}

/// One line of the plan: what happens to `d`, given the server's answer and what is live.
fn change_of(d: &Desired, planned: Option<Json>, live: Option<&Json>) -> Change {
    let line = |action, diff, changed_secret_keys| Change {
        action,
        oref: (&d.oref).into(),
        source: Some(d.origin.to_string()),
        diff,
        changed_secret_keys,
    };
    match live {
        None => {
            let shown = diff::normalize(planned.as_ref().unwrap_or(&d.body));
            let shown = if diff::is_secret(&shown) {
                diff::mask_secret(&shown, None)
            } else {
                shown
            };
            let keys = secret_keys_changed(None, &d.body);
            line(ChangeKind::Create, Some(diff::to_yaml(&shown)), keys)
        }
        Some(live) if planned.as_ref().is_some_and(Json::is_null) => {
            let (before, after) = diff::display_pair(&diff::project(live, &d.body), &d.body);
            let text = diff::unified(&before, &after, &d.oref.name);
            line(ChangeKind::Replace, text, Vec::new())
        }
        Some(live) => {
            let planned = planned.unwrap_or_else(|| d.body.clone());
            let same = diff::normalize(live) == diff::normalize(&planned)
                && owned_fields(live) == owned_fields(&planned);
            if same {
                return line(ChangeKind::Unchanged, None, Vec::new());
            }
            let (before, after) = diff::display_pair(live, &planned);
            let keys = secret_keys_changed(Some(live), &planned);
            line(
                ChangeKind::Update,
                diff::unified(&before, &after, &d.oref.name),
                keys,
            )
        }
    }
}

/// Members no longer rendered, deleted in reverse apply order (none without `prune`).
fn prunes_of(
    members: Vec<(ObjectRef, Resource)>,
    desired: &[Desired],
    opts: PlanOptions,
) -> Vec<Prune> {
    if !opts.prune {
        return Vec::new();
    }
    let wanted: BTreeSet<&ObjectRef> = desired.iter().map(|d| &d.oref).collect();
    let mut prunes: Vec<Prune> = members
        .into_iter()
        .filter(|(oref, _)| !wanted.contains(oref))
        .map(|(oref, resource)| Prune { oref, resource })
        .collect();
    prunes.sort_by(|a, b| {
        (ApplyPhase::of(&b.oref.group_kind), &a.oref)
            .cmp(&(ApplyPhase::of(&a.oref.group_kind), &b.oref))
    });
    prunes
}

/// A Job whose pod template changed cannot be updated; berth replaces it (as kapp and Helm hooks do).
fn replaceable(d: &Desired, s: &kube::core::Status) -> bool {
    d.oref.group_kind.kind == "Job" && s.code == 422 && s.message.contains("field is immutable")
}

/// berth's own entry in managedFields: a change of ownership is a change to apply.
fn owned_fields(obj: &Json) -> Option<Json> {
    obj.pointer("/metadata/managedFields")?
        .as_array()?
        .iter()
        .find(|e| {
            e.get("manager").and_then(Json::as_str) == Some(FIELD_MANAGER)
                && e.get("operation").and_then(Json::as_str) == Some("Apply")
        })
        .and_then(|e| e.get("fieldsV1").cloned())
}

fn secret_keys_changed(live: Option<&Json>, planned: &Json) -> Vec<String> {
    if !diff::is_secret(planned) {
        return Vec::new();
    }
    let masked = diff::mask_secret(planned, Some(live.unwrap_or(&json!({}))));
    let mut keys = BTreeSet::new();
    for field in ["data", "stringData"] {
        if let Some(map) = masked.get(field).and_then(Json::as_object) {
            for (k, v) in map {
                if v.as_str() == Some("(hidden, changed)") {
                    keys.insert(k.clone());
                }
            }
        }
    }
    if let Some(live) = live.and_then(|l| l.get("data")).and_then(Json::as_object) {
        for k in live.keys() {
            let still = ["data", "stringData"]
                .iter()
                .any(|f| planned.get(*f).and_then(|m| m.get(k)).is_some());
            if !still {
                keys.insert(k.clone());
            }
        }
    }
    keys.into_iter().collect()
}

/// Namespaces the objects live in that the cluster does not have yet.
async fn missing_namespaces(
    client: &kube::Client,
    namespaces: &BTreeSet<String>,
) -> Result<Vec<String>, Error> {
    let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let mut missing = Vec::new();
    for ns in namespaces {
        let exists = api.get_metadata_opt(ns).await.map_err(|e| {
            from_kube(
                e,
                &Action {
                    verb: "get",
                    resource: "namespaces".into(),
                    namespace: None,
                    object: Some(format!("Namespace/{ns}")),
                    origin: None,
                },
            )
        })?;
        if exists.is_none() {
            missing.push(ns.clone());
        }
    }
    Ok(missing)
}

/// An error about one object: names it, its template, and quotes the server.
pub fn object_error(e: kube::Error, verb: &str, d: &Desired, r: &Resource) -> Error {
    let conflict = matches!(&e, kube::Error::Api(s) if s.code == 409);
    let mut err = from_kube(
        e,
        &Action {
            verb,
            resource: r.display(),
            namespace: d.oref.namespace.as_deref(),
            object: Some(format!("{}/{}", d.oref.group_kind, d.oref.name)),
            origin: Some(d.origin.clone()),
        },
    );
    if conflict {
        err.message = format!(
            "{}/{}: fields are owned by another manager",
            d.oref.group_kind, d.oref.name
        );
        err.hint = Some(
            "pass --force-conflicts to take ownership of these fields, or stop the other manager from setting them"
                .into(),
        );
    }
    err
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::tests::desired;

    #[test]
    fn every_object_is_classified_from_the_servers_answer() {
        let d = desired("v1", "ConfigMap", "c");
        let live = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "uid": "1", "resourceVersion": "5"}, "data": {"k": "v"}});
        assert_eq!(change_of(&d, None, None).action, ChangeKind::Create);
        let same = json!({"kind": "ConfigMap", "apiVersion": "v1",
            "metadata": {"resourceVersion": "6", "name": "c", "uid": "1"}, "data": {"k": "v"}});
        let c = change_of(&d, Some(same), Some(&live));
        assert_eq!((c.action, c.diff), (ChangeKind::Unchanged, None));
        let other = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "uid": "1"}, "data": {"k": "w"}});
        let c = change_of(&d, Some(other), Some(&live));
        assert_eq!(c.action, ChangeKind::Update);
        let diff = c.diff.unwrap();
        assert!(diff.contains("-  k: v\n+  k: w"), "{diff}");
        assert_eq!(
            change_of(&d, Some(Json::Null), Some(&live)).action,
            ChangeKind::Replace
        );
    }

    #[test]
    fn empty_annotations_and_labels_blocks_mean_none() {
        let m = Manifest {
            origin: crate::manifest::Origin::file("svc.yaml", 1),
            body: json!({"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "s", "annotations": null, "labels": null}}),
        };
        let set = ApplySet {
            name: "app".into(),
            namespace: "ns".into(),
        };
        let (body, name, ns) = as_member(&m, &set, true).unwrap();
        assert_eq!((name.as_str(), ns.as_deref()), ("s", Some("ns")));
        assert!(body["metadata"]["labels"][PART_OF].is_string(), "{body}");
        assert!(body["metadata"]["annotations"].is_object(), "{body}");
    }

    #[test]
    fn prunes_go_in_reverse_apply_order_and_only_with_prune() {
        let members: Vec<(ObjectRef, Resource)> = [
            ("v1", "ConfigMap", "old-config"),
            ("apps/v1", "Deployment", "old-app"),
        ]
        .into_iter()
        .map(|(v, k, n)| {
            let d = desired(v, k, n);
            let r = Resource {
                api: kube::core::ApiResource::erase::<k8s_openapi::api::core::v1::ConfigMap>(&()),
                namespaced: true,
            };
            (d.oref, r)
        })
        .collect();
        let opts = PlanOptions {
            force_conflicts: false,
            prune: true,
        };
        let prunes = prunes_of(members.clone(), &[], opts);
        let names: Vec<&str> = prunes.iter().map(|p| p.oref.name.as_str()).collect();
        assert_eq!(
            names,
            ["old-app", "old-config"],
            "workloads before their config"
        );
        let kept = prunes_of(
            members,
            &[],
            PlanOptions {
                prune: false,
                ..opts
            },
        );
        assert!(kept.is_empty());
    }
}
