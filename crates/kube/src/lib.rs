//! berth's Kubernetes backend: plan with a server-side dry-run, apply in order with server-side
//! apply, prune only what the set owns (ApplySet), wait for rollouts, keep releases, roll back.
//!
//! Layering follows kube-rs: [`cluster`] connects, [`resources`] discovers, [`plan`] computes
//! without writing, [`apply`] writes, and [`deploy`] ties them together under the set's [`lock`].

mod adopt;
pub mod apply;
pub mod applyset;
mod capabilities;
mod cluster;
mod crds;
pub mod dashboard;
pub mod diff;
mod error;
pub mod events;
mod hooks;
pub mod lock;
mod manifest;
mod plan;
mod progress;
pub mod release;
pub mod resources;
mod retry;
pub mod show;
mod source;
pub mod status;
pub mod sync;
pub mod target;
mod usage;
mod wait;

pub use apply::{ApplyOptions, ApplyReport};
pub use applyset::ApplySet;
pub use cluster::{Cluster, ConnectOptions};
pub use error::{Error, ErrorKind};
pub use k8s_openapi::jiff;
pub use plan::{Change, ChangeKind, Manifest, Plan, PlanOptions};
pub use progress::{Progress, Reporter};
pub use release::{NewRevision, Releases, Revision, RevisionStatus};
pub use target::{ClusterRequest, Rendered};
pub use wait::Rollout;

use resources::Resolver;
use std::time::Duration;

/// The field manager of every server-side apply berth makes.
pub const FIELD_MANAGER: &str = "berth";

/// Create and replace as berth's field manager, so that managedFields name berth for every
/// write it makes (the lock, release records), not a default of the server's.
pub(crate) fn post_params() -> kube::api::PostParams {
    kube::api::PostParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    }
}

/// A patch (not an apply) as berth's field manager.
pub(crate) fn patch_params() -> kube::api::PatchParams {
    kube::api::PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    }
}

/// What every step of a deploy works on, as Helm's `action.Configuration`: the client, the
/// kind resolver (discovery, cached for the deploy) and the deploy set.
#[derive(Clone, Copy)]
struct Context<'a> {
    client: &'a kube::Client,
    resolver: &'a Resolver,
    set: &'a ApplySet,
}

/// What a deploy should do beyond applying.
#[derive(Clone, Debug)]
pub struct DeployOptions {
    pub apply: ApplyOptions,
    /// Wait for rollouts this long; `None` does not wait.
    pub wait: Option<Duration>,
    /// On a failed wait, re-apply the previous deployed revision.
    pub atomic: bool,
    pub lock_timeout: Duration,
    /// Compute and show the plan, change nothing.
    pub dry_run: bool,
    /// A rollback: runs pre-/post-rollback hooks instead of install or upgrade ones.
    pub rollback: bool,
}

impl DeployOptions {
    /// What the plan asks of the server for this deploy.
    fn plan_options(&self) -> PlanOptions {
        PlanOptions {
            force_conflicts: self.apply.force_conflicts,
            prune: self.apply.prune,
        }
    }
}

/// What a deploy did.
#[derive(Clone, Debug, Default)]
pub struct DeployOutcome {
    pub report: ApplyReport,
    /// The revision recorded (none when nothing changed or in dry-run).
    pub revision: Option<Revision>,
    pub changed: bool,
    /// How long waiting for the rollout took.
    pub waited: Option<Duration>,
    /// The revision deployed now.
    pub current: Option<u32>,
}

/// Plans, applies, records and waits for `manifests` as deploy set `set`, holding its lock (a
/// no-op takes no lock); the outcome also goes to the metrics events.
pub async fn deploy(
    client: &kube::Client,
    set: &ApplySet,
    manifests: &[Manifest],
    info: NewRevision,
    opts: &DeployOptions,
    ui: &Reporter,
) -> Result<DeployOutcome, Error> {
    use berth_core::events;
    let started = std::time::Instant::now();
    let result = deploy_unrecorded(client, set, manifests, info, opts, ui).await;
    if opts.dry_run {
        return result;
    }
    events::applied("kubernetes", result.is_ok(), started.elapsed());
    if let Ok(o) = &result {
        events::objects("create", o.report.created);
        events::objects("update", o.report.updated);
        events::objects("delete", o.report.deleted);
        events::objects("unchanged", o.report.unchanged);
        if let Some(w) = o.waited {
            events::waited(w);
        }
        if let Some(n) = o.current {
            events::revision(n);
        }
    }
    result
}

async fn deploy_unrecorded(
    client: &kube::Client,
    set: &ApplySet,
    manifests: &[Manifest],
    info: NewRevision,
    opts: &DeployOptions,
    ui: &Reporter,
) -> Result<DeployOutcome, Error> {
    let resolver = Resolver::default();
    if opts.dry_run {
        let popts = opts.plan_options();
        let plan = plan_deploy(client, &resolver, set, manifests, popts).await?;
        ui.plan(&plan);
        apply::check_empty(&plan, opts.apply.allow_empty)?;
        return Ok(DeployOutcome {
            changed: plan.has_changes(),
            ..Default::default()
        });
    }
    let (members, hooks) = hooks::split(manifests)?;
    let (members, crds) = crds::split(members);
    // Helm installs crds/ before anything else, and only when missing.
    crds::install(client, &crds, &|m| ui.info(m)).await?;
    if let Some(outcome) = unchanged(client, &resolver, set, &members, opts, ui).await? {
        return Ok(outcome);
    }
    // The set's namespace holds the lock, the parent and the releases: it must exist first.
    let created = ensure_namespace(client, set).await?;
    let lock = match lock::Lock::acquire(client, set, opts.lock_timeout, &|message| {
        ui.info(message.to_string())
    })
    .await
    {
        Ok(l) => l,
        Err(e) => {
            apply::undo_namespaces(client, &created).await;
            return Err(e);
        }
    };
    let objects = Objects {
        all: manifests,
        members,
        hooks,
    };
    let cx = Context {
        client,
        resolver: &resolver,
        set,
    };
    let result = deploy_locked(cx, &objects, info, opts, ui, &created).await;
    lock.release().await;
    result
}

/// A deploy that would change nothing, found without the lock and without writing: every object
/// is as berth applied it, the parent is current and a revision is deployed. Waits for the
/// rollout when asked (a no-op still reports readiness).
async fn unchanged(
    client: &kube::Client,
    resolver: &Resolver,
    set: &ApplySet,
    manifests: &[Manifest],
    opts: &DeployOptions,
    ui: &Reporter,
) -> Result<Option<DeployOutcome>, Error> {
    let popts = opts.plan_options();
    let Some(plan) = plan::plan_if_unchanged(client, resolver, set, manifests, popts).await? else {
        return Ok(None);
    };
    if !apply::is_noop(&plan) {
        return Ok(None);
    }
    let Some(current) = Releases::new(client, set).current().await? else {
        return Ok(None);
    };
    ui.plan(&plan);
    let mut waited = None;
    if let Some(timeout) = opts.wait {
        ui.info("waiting for workloads to become ready".into());
        let started = std::time::Instant::now();
        wait::wait(client, set, &plan.desired, timeout, &|s| ui.rollout(s)).await?;
        waited = Some(started.elapsed());
    }
    Ok(Some(DeployOutcome {
        report: ApplyReport {
            unchanged: plan.desired.len(),
            ..Default::default()
        },
        revision: None,
        changed: false,
        waited,
        current: Some(current.number),
    }))
}

/// What a deploy writes: every manifest (recorded in the release), split into the set's
/// members and the hooks run around them.
struct Objects<'a> {
    all: &'a [Manifest],
    members: Vec<Manifest>,
    hooks: Vec<hooks::Hook>,
}

/// The hooks an apply would run, for the plan's notes.
fn hook_notes(hooks: &[hooks::Hook]) -> Vec<String> {
    hooks
        .iter()
        .filter(|h| h.events.iter().any(|e| *e != hooks::HookEvent::Test))
        .map(|h| {
            let events: Vec<String> = h.events.iter().map(|e| e.to_string()).collect();
            format!(
                "hook {}/{} runs at {} (weight {}); it is not a member of the set",
                h.manifest.kind(),
                h.manifest.name(),
                events.join(", "),
                h.weight
            )
        })
        .collect()
}

/// The plan `berth plan` shows and a dry-run deploy computes: hooks and `crds/` definitions
/// apart from the set's members (the definitions the cluster lacks are planned as creates,
/// so that their custom resources validate), with notes on both.
pub async fn plan_deploy(
    client: &kube::Client,
    resolver: &Resolver,
    set: &ApplySet,
    manifests: &[Manifest],
    popts: PlanOptions,
) -> Result<Plan, Error> {
    let (members, hooks) = hooks::split(manifests)?;
    let (members, crds) = crds::split(members);
    let missing = crds::missing(client, &crds).await?;
    let planned: Vec<Manifest> = missing.iter().cloned().chain(members).collect();
    let mut plan = plan::plan(client, resolver, set, &planned, popts).await?;
    plan.notes.extend(hook_notes(&hooks));
    for m in crds
        .iter()
        .filter(|m| !missing.iter().any(|x| x.name() == m.name()))
    {
        plan.notes.push(format!(
            "CustomResourceDefinition/{} (crds/) exists: left as it is, never upgraded",
            m.name()
        ));
    }
    Ok(plan)
}

async fn ensure_namespace(client: &kube::Client, set: &ApplySet) -> Result<Vec<String>, Error> {
    let api: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(client.clone());
    match api.get_metadata_opt(&set.namespace).await {
        Ok(Some(_)) => Ok(Vec::new()),
        Ok(None) => {
            apply::create_namespaces(client, set, std::slice::from_ref(&set.namespace)).await
        }
        Err(e) => Err(error::from_kube(
            e,
            &error::Action {
                verb: "get",
                resource: "namespaces".into(),
                namespace: None,
                object: Some(format!("Namespace/{}", set.namespace)),
                origin: None,
            },
        )),
    }
}

async fn deploy_locked(
    cx: Context<'_>,
    objects: &Objects<'_>,
    mut info: NewRevision,
    opts: &DeployOptions,
    ui: &Reporter,
    created_namespaces: &[String],
) -> Result<DeployOutcome, Error> {
    let Context {
        client,
        resolver,
        set,
    } = cx;
    let mut plan = validated_plan(client, resolver, set, objects, opts, created_namespaces).await?;
    plan.notes.extend(hook_notes(&objects.hooks));
    ui.plan(&plan);
    if let Some(a) = plan.adopted.first() {
        info.adopted = Some(release::HelmRelease {
            namespace: a.release_namespace.clone(),
            name: a.release.clone(),
        });
    }
    let releases = Releases::new(client, set);
    let previous = releases.current().await?;
    let changed = plan.has_changes();
    let occasion = match (opts.rollback, &previous) {
        (true, _) => hooks::Occasion::Rollback,
        (false, None) => hooks::Occasion::Install,
        (false, Some(_)) => hooks::Occasion::Upgrade,
    };
    // Hooks run when a revision is made (as Helm's run on each install or upgrade), not on a
    // deploy that changes nothing.
    let makes_revision = changed || previous.is_none();
    let hook_timeout = opts.wait.unwrap_or(Duration::from_secs(300));
    let say = |m| ui.info(m);
    let run_hooks = |event| {
        let ns = &set.namespace;
        hooks::run(
            client,
            resolver,
            &objects.hooks,
            event,
            ns,
            hook_timeout,
            &say,
        )
    };
    if makes_revision {
        run_hooks(occasion.pre()).await?;
    }
    let report = apply::apply(client, resolver, &plan, opts.apply, &say).await?;
    let revision = match makes_revision {
        true => {
            let rev = releases.record(objects.all, info).await?;
            ui.info(format!("recorded revision {}", rev.number));
            Some(rev)
        }
        false => None,
    };
    let recorded = revision.as_ref().map(|r| r.number);
    let current = recorded.or(previous.as_ref().map(|r| r.number));
    let waited = match opts.wait {
        Some(timeout) => {
            Some(wait_or_roll_back(cx, &plan, timeout, recorded, previous, opts, ui).await?)
        }
        None => None,
    };
    if let Some(n) = recorded {
        if let Err(e) = run_hooks(occasion.post()).await {
            releases.set_status(n, RevisionStatus::Failed).await?;
            return Err(e);
        }
    }
    if let Some(n) = current {
        releases.set_status(n, RevisionStatus::Deployed).await?;
    }
    Ok(DeployOutcome {
        report,
        revision,
        changed,
        waited,
        current,
    })
}

/// The plan of the set's members, validated by the server: namespaces the objects need are
/// created first (and removed again when validation fails, so the cluster is left as it was).
async fn validated_plan(
    client: &kube::Client,
    resolver: &Resolver,
    set: &ApplySet,
    objects: &Objects<'_>,
    opts: &DeployOptions,
    created_namespaces: &[String],
) -> Result<Plan, Error> {
    let popts = opts.plan_options();
    let mut created = created_namespaces.to_vec();
    let manifests = &objects.members;
    let mut plan = plan::plan(client, resolver, set, manifests, popts).await;
    // Objects in other namespaces that do not exist yet: create them, then validate for real.
    if let Ok(p) = &plan {
        if !p.missing_namespaces.is_empty() {
            match apply::create_namespaces(client, set, &p.missing_namespaces).await {
                Ok(more) => created.extend(more),
                Err(e) => plan = Err(e),
            }
            if plan.is_ok() {
                plan = plan::plan(client, resolver, set, manifests, popts).await;
            }
        }
    }
    match plan.and_then(|p| apply::check_empty(&p, opts.apply.allow_empty).map(|_| p)) {
        Ok(p) => Ok(p),
        Err(e) => {
            apply::undo_namespaces(client, &created).await;
            Err(e)
        }
    }
}

/// Waits for the rollout; on failure marks the new revision failed and, with `--atomic`,
/// re-applies the previous deployed revision (the error says so). Returns the time waited.
async fn wait_or_roll_back(
    cx: Context<'_>,
    plan: &Plan,
    timeout: Duration,
    recorded: Option<u32>,
    previous: Option<Revision>,
    opts: &DeployOptions,
    ui: &Reporter,
) -> Result<Duration, Error> {
    let Context { client, set, .. } = cx;
    ui.info("waiting for workloads to become ready".into());
    let started = std::time::Instant::now();
    let Err(e) = wait::wait(client, set, &plan.desired, timeout, &|s| ui.rollout(s)).await else {
        return Ok(started.elapsed());
    };
    let releases = Releases::new(client, set);
    if let Some(n) = recorded {
        releases.set_status(n, RevisionStatus::Failed).await?;
    }
    let Some(prev) = previous.filter(|_| opts.atomic && recorded.is_some()) else {
        return Err(e);
    };
    ui.info(format!(
        "rolling back to revision {} (--atomic)",
        prev.number
    ));
    let old = releases.load(prev.number).await?;
    let back = NewRevision {
        user: lock::holder_identity(),
        git_commit: prev.git_commit.clone(),
        variables_digest: prev.variables_digest.clone(),
        source: format!("rollback to {} (--atomic)", prev.number),
        adopted: None,
    };
    let inner = DeployOptions {
        atomic: false,
        rollback: true,
        ..opts.clone()
    };
    let (members, hooks) = hooks::split(&old)?;
    let objects = Objects {
        all: &old,
        members,
        hooks,
    };
    let rolled = Box::pin(deploy_locked(cx, &objects, back, &inner, ui, &[])).await;
    Err(match rolled {
        Ok(o) => e.note(format!(
            "rolled back to revision {} (recorded as revision {})",
            prev.number,
            o.revision.map_or(0, |r| r.number)
        )),
        Err(re) => e.note(format!("the rollback failed too: {}", re.message)),
    })
}

/// Re-applies revision `number` (default: the one before the current) as a new revision.
pub async fn rollback(
    client: &kube::Client,
    set: &ApplySet,
    number: Option<u32>,
    opts: &DeployOptions,
    ui: &Reporter,
) -> Result<(u32, DeployOutcome), Error> {
    let releases = Releases::new(client, set);
    let all = releases.list().await?;
    let target = match number {
        Some(n) => n,
        None => {
            let current = all
                .iter()
                .rev()
                .find(|r| r.status == RevisionStatus::Deployed)
                .map(|r| r.number);
            all.iter()
                .rev()
                .find(|r| Some(r.number) < current && r.status != RevisionStatus::Failed)
                .map(|r| r.number)
                .ok_or_else(|| {
                    Error::new(
                        ErrorKind::NotFound,
                        format!(
                            "deploy set `{}` has no earlier revision to roll back to",
                            set.name
                        ),
                    )
                    .hint("see `berth history`; pass a revision number")
                })?
        }
    };
    let manifests = releases.load(target).await?;
    let rev = all.iter().find(|r| r.number == target);
    let info = NewRevision {
        user: lock::holder_identity(),
        git_commit: rev.and_then(|r| r.git_commit.clone()),
        variables_digest: rev.map(|r| r.variables_digest.clone()).unwrap_or_default(),
        source: format!("rollback to {target}"),
        adopted: None,
    };
    let opts = DeployOptions {
        rollback: true,
        ..opts.clone()
    };
    let outcome = deploy(client, set, &manifests, info, &opts, ui).await?;
    // A rollback is a decision: continuous sync must not undo it until someone resumes it.
    apply::set_parent_annotation(
        client,
        set,
        applyset::SYNC_PAUSED,
        Some(&format!("rollback to {target}")),
    )
    .await?;
    Ok((target, outcome))
}

/// The deploy set `name` in `namespace` (the context's namespace when `None`); with no name,
/// the only one there.
pub async fn find_set(
    cluster: &Cluster,
    namespace: Option<&str>,
    name: Option<&str>,
) -> Result<ApplySet, Error> {
    let namespace = namespace.unwrap_or(&cluster.default_namespace).to_string();
    let name = match name {
        Some(n) => n.to_string(),
        None => only_set(&cluster.client, &namespace).await?,
    };
    Ok(ApplySet { name, namespace })
}

/// The deploy set of a namespace when no name is given: the only one there.
async fn only_set(client: &kube::Client, namespace: &str) -> Result<String, Error> {
    let sets = release::sets_in(client, namespace).await?;
    match sets.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(Error::new(
            ErrorKind::NotFound,
            format!("namespace {namespace} has no berth deploy set"),
        )
        .hint("check -n and --context, or apply a folder first")),
        many => Err(Error::new(
            ErrorKind::NotFound,
            format!(
                "namespace {namespace} has several deploy sets: {}",
                many.join(", ")
            ),
        )
        .hint("pass --name SET")),
    }
}

/// What `berth delete` did.
#[derive(Clone, Debug, Default)]
pub struct DeleteReport {
    /// Members deleted (in reverse apply order).
    pub deleted: usize,
}

/// Deletes a deploy set, as `helm uninstall` removes a release: under the set's lock, the
/// current revision's pre-delete hooks run, every member is deleted (reverse apply order; objects
/// annotated `helm.sh/resource-policy: keep` stay), then the set's parent and release records,
/// then the post-delete hooks. Objects that are not members (the namespace, `crds/`
/// definitions, anything berth did not apply) are never touched. `dry_run` only shows the plan.
pub async fn delete(
    client: &kube::Client,
    set: &ApplySet,
    timeout: Duration,
    lock_timeout: Duration,
    dry_run: bool,
    ui: &Reporter,
) -> Result<DeleteReport, Error> {
    let resolver = Resolver::default();
    let parent = applyset::read_parent(client, set).await?;
    if parent.is_none() {
        return Err(Error::new(
            ErrorKind::NotFound,
            format!(
                "deploy set `{}` does not exist in namespace {}",
                set.name, set.namespace
            ),
        )
        .hint("check -n, --name and --context; `berth history` lists a set's revisions"));
    }
    let popts = PlanOptions {
        force_conflicts: false,
        prune: true,
    };
    let plan = plan::plan(client, &resolver, set, &[], popts).await?;
    ui.plan(&plan);
    if dry_run {
        return Ok(DeleteReport::default());
    }
    let lock = lock::Lock::acquire(client, set, lock_timeout, &|m| ui.info(m.to_string())).await?;
    let result = delete_locked(client, &resolver, set, &plan, timeout, ui).await;
    lock.release().await;
    result
}

async fn delete_locked(
    client: &kube::Client,
    resolver: &Resolver,
    set: &ApplySet,
    plan: &Plan,
    timeout: Duration,
    ui: &Reporter,
) -> Result<DeleteReport, Error> {
    let releases = Releases::new(client, set);
    let recorded = match releases.current().await? {
        Some(rev) => releases.load(rev.number).await?,
        None => Vec::new(),
    };
    let (_, hooks) = hooks::split(&recorded)?;
    let say = |m| ui.info(m);
    hooks::run(
        client,
        resolver,
        &hooks,
        hooks::HookEvent::PreDelete,
        &set.namespace,
        timeout,
        &say,
    )
    .await?;
    let opts = ApplyOptions {
        force_conflicts: false,
        prune: true,
        allow_empty: true,
    };
    let report = apply::apply(client, resolver, plan, opts, &say).await?;
    let parents: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(client.clone(), &set.namespace);
    match parents
        .delete(&set.parent_name(), &Default::default())
        .await
    {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => {}
        Err(e) => {
            return Err(error::from_kube(
                e,
                &error::Action {
                    verb: "delete",
                    resource: "secrets".into(),
                    namespace: Some(&set.namespace),
                    object: Some(format!("the set's parent Secret/{}", set.parent_name())),
                    origin: None,
                },
            ))
        }
    }
    releases.delete_all().await?;
    hooks::run(
        client,
        resolver,
        &hooks,
        hooks::HookEvent::PostDelete,
        &set.namespace,
        timeout,
        &say,
    )
    .await?;
    Ok(DeleteReport {
        deleted: report.deleted,
    })
}

/// Runs the test hooks (`helm.sh/hook: test`, a chart's `templates/tests/`) of the deployed
/// revision, as `helm test`: one at a time in hook order, each waited for; the first failure
/// ends the run with its reason and logs. Returns the tests that ran.
pub async fn test(
    client: &kube::Client,
    set: &ApplySet,
    timeout: Duration,
    ui: &Reporter,
) -> Result<Vec<String>, Error> {
    let releases = Releases::new(client, set);
    let Some(current) = releases.current().await? else {
        return Err(Error::new(
            ErrorKind::NotFound,
            format!("deploy set `{}` has no deployed revision", set.name),
        )
        .hint("apply the chart first; `berth history` lists the revisions"));
    };
    let (_, hooks) = hooks::split(&releases.load(current.number).await?)?;
    let tests: Vec<String> = hooks::of_event(&hooks, hooks::HookEvent::Test)
        .iter()
        .map(|h| h.label())
        .collect();
    let resolver = Resolver::default();
    let say = |m| ui.info(m);
    hooks::run(
        client,
        &resolver,
        &hooks,
        hooks::HookEvent::Test,
        &set.namespace,
        timeout,
        &say,
    )
    .await?;
    Ok(tests)
}
