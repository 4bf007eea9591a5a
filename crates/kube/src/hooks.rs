//! Helm hooks: objects annotated `helm.sh/hook` are not members of the deploy set; they are
//! created around an apply (pre-install, post-install, pre-upgrade, post-upgrade, pre-rollback,
//! post-rollback), in order of `helm.sh/hook-weight`, then kind, then name; a Job or Pod hook is
//! waited for, and a failed one fails the deploy with its logs' last lines when the cluster
//! has them. `helm.sh/hook-delete-policy` says when a hook object is deleted:
//! `before-hook-creation` (the default: just before it is created again), `hook-succeeded`
//! (once every hook of the event succeeded), `hook-failed` (when it failed).

use crate::error::{Error, ErrorKind, LocatedAt};
use crate::plan::{api, Manifest};
use crate::resources::Resolver;
use berth_core::{ApplyPhase, GroupKind};
use kube::api::{DeleteParams, DynamicObject, LogParams, PostParams};
use serde_json::Value as Json;
use std::str::FromStr;
use std::time::Duration;

pub const HOOK: &str = "helm.sh/hook";
pub const WEIGHT: &str = "helm.sh/hook-weight";
pub const DELETE_POLICY: &str = "helm.sh/hook-delete-policy";

/// When a hook runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HookEvent {
    PreInstall,
    PostInstall,
    PreUpgrade,
    PostUpgrade,
    PreDelete,
    PostDelete,
    PreRollback,
    PostRollback,
    /// `helm test` (also `test-success`, `test-failure`): never run by an apply.
    Test,
}

/// An annotation value that names no hook event.
#[derive(Debug, thiserror::Error)]
#[error("unknown hook {0:?}")]
pub struct UnknownHook(String);

impl FromStr for HookEvent {
    type Err = UnknownHook;
    fn from_str(s: &str) -> Result<Self, UnknownHook> {
        Ok(match s.trim() {
            "pre-install" => HookEvent::PreInstall,
            "post-install" => HookEvent::PostInstall,
            "pre-upgrade" => HookEvent::PreUpgrade,
            "post-upgrade" => HookEvent::PostUpgrade,
            "pre-delete" => HookEvent::PreDelete,
            "post-delete" => HookEvent::PostDelete,
            "pre-rollback" => HookEvent::PreRollback,
            "post-rollback" => HookEvent::PostRollback,
            "test" | "test-success" | "test-failure" => HookEvent::Test,
            other => return Err(UnknownHook(other.to_string())),
        })
    }
}

impl std::fmt::Display for HookEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HookEvent::PreInstall => "pre-install",
            HookEvent::PostInstall => "post-install",
            HookEvent::PreUpgrade => "pre-upgrade",
            HookEvent::PostUpgrade => "post-upgrade",
            HookEvent::PreDelete => "pre-delete",
            HookEvent::PostDelete => "post-delete",
            HookEvent::PreRollback => "pre-rollback",
            HookEvent::PostRollback => "post-rollback",
            HookEvent::Test => "test",
        })
    }
}

/// What kind of change a deploy is, for choosing its hooks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Occasion {
    Install,
    Upgrade,
    Rollback,
}

impl Occasion {
    pub fn pre(self) -> HookEvent {
        match self {
            Occasion::Install => HookEvent::PreInstall,
            Occasion::Upgrade => HookEvent::PreUpgrade,
            Occasion::Rollback => HookEvent::PreRollback,
        }
    }

    pub fn post(self) -> HookEvent {
        match self {
            Occasion::Install => HookEvent::PostInstall,
            Occasion::Upgrade => HookEvent::PostUpgrade,
            Occasion::Rollback => HookEvent::PostRollback,
        }
    }
}

/// One hook object.
#[derive(Clone, Debug)]
pub struct Hook {
    pub events: Vec<HookEvent>,
    pub weight: i64,
    pub before_creation: bool,
    pub on_success: bool,
    pub on_failure: bool,
    pub manifest: Manifest,
}

impl Hook {
    fn kind(&self) -> &str {
        self.manifest.kind()
    }

    fn name(&self) -> &str {
        self.manifest.name()
    }

    fn group_kind(&self) -> GroupKind {
        let api_version = self.manifest.body["apiVersion"].as_str().unwrap_or("");
        GroupKind::from_api_version(api_version, self.kind())
    }

    pub fn label(&self) -> String {
        format!("{}/{}", self.kind(), self.name())
    }
}

/// Splits hooks from the objects of the set; a hook annotation that cannot be read is an error
/// naming the object.
pub fn split(manifests: &[Manifest]) -> Result<(Vec<Manifest>, Vec<Hook>), Error> {
    let mut members = Vec::new();
    let mut hooks = Vec::new();
    for m in manifests {
        let ann = &m.body["metadata"]["annotations"];
        let Some(events) = ann.get(HOOK).and_then(Json::as_str) else {
            members.push(m.clone());
            continue;
        };
        let bad = |what: String| {
            Error::new(ErrorKind::Rejected, what)
                .located_at(&m.origin)
                .hint("see https://helm.sh/docs/topics/charts_hooks/ for the hooks and policies Helm knows")
        };
        let events = events
            .split(',')
            .filter(|e| !e.trim().is_empty())
            .map(HookEvent::from_str)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(format!("{HOOK}: {e}")))?;
        let weight = match ann.get(WEIGHT).and_then(Json::as_str) {
            None => 0,
            Some(w) => w
                .trim()
                .parse()
                .map_err(|_| bad(format!("{WEIGHT}: {w:?} is not a whole number")))?,
        };
        let policies: Vec<&str> = ann
            .get(DELETE_POLICY)
            .and_then(Json::as_str)
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
        for p in &policies {
            if !matches!(
                *p,
                "before-hook-creation" | "hook-succeeded" | "hook-failed"
            ) {
                return Err(bad(format!("{DELETE_POLICY}: unknown policy {p:?}")));
            }
        }
        hooks.push(Hook {
            events,
            weight,
            before_creation: policies.is_empty() || policies.contains(&"before-hook-creation"),
            on_success: policies.contains(&"hook-succeeded"),
            on_failure: policies.contains(&"hook-failed"),
            manifest: m.clone(),
        });
    }
    Ok((members, hooks))
}

/// The hooks of `event`, in Helm's order: weight, then kind (install order), then name.
pub fn of_event(hooks: &[Hook], event: HookEvent) -> Vec<&Hook> {
    let mut v: Vec<&Hook> = hooks.iter().filter(|h| h.events.contains(&event)).collect();
    v.sort_by(|a, b| {
        let (ga, gb) = (a.group_kind(), b.group_kind());
        (
            a.weight,
            ApplyPhase::of(&ga),
            ApplyPhase::rank(&ga),
            a.name(),
        )
            .cmp(&(
                b.weight,
                ApplyPhase::of(&gb),
                ApplyPhase::rank(&gb),
                b.name(),
            ))
    });
    v
}

/// Runs the hooks of `event` one after another; the first failure ends the run.
pub async fn run(
    client: &kube::Client,
    resolver: &Resolver,
    hooks: &[Hook],
    event: HookEvent,
    namespace: &str,
    timeout: Duration,
    say: &(dyn Fn(String) + Sync),
) -> Result<(), Error> {
    let ran = of_event(hooks, event);
    for hook in &ran {
        say(format!(
            "{event} hook {} (weight {})",
            hook.label(),
            hook.weight
        ));
        run_one(client, resolver, hook, event, namespace, timeout).await?;
    }
    // As Helm: `hook-succeeded` hooks go once every hook of the event succeeded (a
    // ServiceAccount hook must outlive the Job hook that uses it).
    for hook in ran.iter().filter(|h| h.on_success) {
        let objects = hook_api(client, resolver, hook, namespace).await?;
        match objects
            .delete(hook.name(), &DeleteParams::background())
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => say(format!(
                "warning: {event} hook {} (hook-succeeded) could not be deleted: {e}",
                hook.label()
            )),
        }
    }
    Ok(())
}

/// The API of a hook's kind in its namespace (the set's, unless it names one).
async fn hook_api(
    client: &kube::Client,
    resolver: &Resolver,
    hook: &Hook,
    namespace: &str,
) -> Result<kube::Api<DynamicObject>, Error> {
    let m = &hook.manifest;
    let api_version = m.body["apiVersion"].as_str().unwrap_or("");
    let resource = resolver
        .require(client, api_version, hook.kind(), &m.origin)
        .await?;
    let ns = m.body["metadata"]["namespace"]
        .as_str()
        .unwrap_or(namespace);
    Ok(api(client, &resource, Some(ns)))
}

async fn run_one(
    client: &kube::Client,
    resolver: &Resolver,
    hook: &Hook,
    event: HookEvent,
    namespace: &str,
    timeout: Duration,
) -> Result<(), Error> {
    let m = &hook.manifest;
    let ns = m.body["metadata"]["namespace"]
        .as_str()
        .unwrap_or(namespace);
    let objects = hook_api(client, resolver, hook, namespace).await?;
    let failed = |mut e: Error| {
        e.message = format!("{event} hook {}: {}", hook.label(), e.message);
        e.located_at(&m.origin)
    };
    let refused = |what: String| failed(Error::new(ErrorKind::Rejected, what));
    if hook.before_creation {
        delete_and_wait(&objects, hook.name())
            .await
            .map_err(failed)?;
    }
    let mut body = m.body.clone();
    body["metadata"]["namespace"] = Json::from(ns);
    let obj: DynamicObject = serde_json::from_value(body)
        .map_err(|e| refused(format!("not a Kubernetes object: {e}")))?;
    let pp = PostParams {
        field_manager: Some("berth".into()),
        ..Default::default()
    };
    objects
        .create(&pp, &obj)
        .await
        .map_err(|e| refused(format!("cannot create it: {e}")))?;
    let outcome = wait_done(client, &objects, hook, ns, timeout).await;
    if outcome.is_err() && hook.on_failure {
        let _ = objects
            .delete(hook.name(), &DeleteParams::background())
            .await;
    }
    let pre = matches!(
        event,
        HookEvent::PreInstall
            | HookEvent::PreUpgrade
            | HookEvent::PreRollback
            | HookEvent::PreDelete
    );
    outcome.map_err(|why| {
        failed(why).hint(if pre {
            "the objects of the set were not changed; fix the hook (or its image) and apply again"
        } else {
            "the objects of the set were applied and the revision is marked failed; fix the hook \
             (or its image) and apply again"
        })
    })
}

/// Deletes `name` if it exists and waits until it is gone.
async fn delete_and_wait(objects: &kube::Api<DynamicObject>, name: &str) -> Result<(), Error> {
    let cannot = |e| Error::new(ErrorKind::Api, "cannot delete the previous one").caused_by(e);
    match objects.delete(name, &DeleteParams::background()).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => return Ok(()),
        Err(e) => return Err(cannot(e)),
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        match objects.get_opt(name).await {
            Ok(None) => return Ok(()),
            Ok(Some(_)) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await
            }
            Ok(Some(_)) => {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    "the previous one is still being deleted after 60 s",
                ))
            }
            Err(e) => return Err(cannot(e)),
        }
    }
}

/// Waits for a Job to complete or a Pod to succeed (other kinds are done once created).
async fn wait_done(
    client: &kube::Client,
    objects: &kube::Api<DynamicObject>,
    hook: &Hook,
    namespace: &str,
    timeout: Duration,
) -> Result<(), Error> {
    if !matches!(hook.kind(), "Job" | "Pod") {
        return Ok(());
    }
    let deadline = tokio::time::Instant::now() + timeout;
    // A Job with `ttlSecondsAfterFinished` may be gone by the time it is read again: it finished.
    let expires = hook.manifest.body["spec"]["ttlSecondsAfterFinished"].is_number();
    loop {
        let obj = match objects.get_opt(hook.name()).await {
            Ok(Some(obj)) => obj,
            Ok(None) if expires => return Ok(()),
            Ok(None) => {
                let why = "it was deleted before it finished";
                return Err(Error::new(ErrorKind::Rejected, why));
            }
            Err(e) => return Err(Error::new(ErrorKind::Api, "cannot read it").caused_by(e)),
        };
        let status = serde_json::to_value(&obj.data["status"]).unwrap_or_default();
        match settled(hook.kind(), &status) {
            Some(Settled::Succeeded) => return Ok(()),
            Some(Settled::Failed(why)) => {
                let logs = last_log_lines(client, hook, namespace).await;
                return Err(Error::new(
                    ErrorKind::Rejected,
                    format!("failed: {why}\n{logs}"),
                ));
            }
            None if tokio::time::Instant::now() >= deadline => {
                let why = format!("did not finish within {}s", timeout.as_secs());
                return Err(Error::new(ErrorKind::Timeout, why));
            }
            None => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

/// How a hook's Job or Pod ended.
#[derive(Debug, PartialEq, Eq)]
enum Settled {
    Succeeded,
    /// Why, as the server says it.
    Failed(String),
}

/// `Some` once a Job completed or failed, or a Pod succeeded or failed.
fn settled(kind: &str, status: &Json) -> Option<Settled> {
    if kind == "Pod" {
        return match status["phase"].as_str() {
            Some("Succeeded") => Some(Settled::Succeeded),
            Some("Failed") => Some(Settled::Failed(
                status["message"]
                    .as_str()
                    .unwrap_or("the pod failed")
                    .to_string(),
            )),
            _ => None,
        };
    }
    let conditions = status["conditions"].as_array()?;
    for c in conditions {
        if c["status"] != "True" {
            continue;
        }
        match c["type"].as_str() {
            Some("Complete") => return Some(Settled::Succeeded),
            Some("Failed") => {
                return Some(Settled::Failed(format!(
                    "{}: {}",
                    c["reason"].as_str().unwrap_or("Failed"),
                    c["message"].as_str().unwrap_or("")
                )))
            }
            _ => {}
        }
    }
    None
}

/// The last lines of the hook's pods' logs, or why there are none.
async fn last_log_lines(client: &kube::Client, hook: &Hook, namespace: &str) -> String {
    use k8s_openapi::api::core::v1::Pod;
    let pods: kube::Api<Pod> = kube::Api::namespaced(client.clone(), namespace);
    let names: Vec<String> = if hook.kind() == "Pod" {
        vec![hook.name().to_string()]
    } else {
        let lp = kube::api::ListParams::default().labels(&format!("job-name={}", hook.name()));
        match pods.list(&lp).await {
            Ok(list) => list
                .items
                .into_iter()
                .filter_map(|p| p.metadata.name)
                .collect(),
            Err(e) => return format!("  = note: its pods cannot be listed: {e}"),
        }
    };
    let mut out = Vec::new();
    for name in names.iter().rev().take(1) {
        let lp = LogParams {
            tail_lines: Some(10),
            ..Default::default()
        };
        match pods.logs(name, &lp).await {
            Ok(text) if text.trim().is_empty() => {
                out.push(format!("  = note: pod {name} logged nothing"))
            }
            Ok(text) => {
                out.push(format!("  = note: the last lines of pod {name}:"));
                out.extend(text.lines().map(|l| format!("    {l}")));
            }
            Err(e) => out.push(format!(
                "  = note: the logs of pod {name} are not available: {e}"
            )),
        }
    }
    if out.is_empty() {
        out.push("  = note: it has no pods to read logs from".into());
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn m(name: &str, kind: &str, ann: Json) -> Manifest {
        Manifest {
            origin: crate::manifest::Origin::file(&format!("{name}.yaml"), 1),
            body: json!({"apiVersion": if kind == "Job" {"batch/v1"} else {"v1"}, "kind": kind,
                         "metadata": {"name": name, "annotations": ann}}),
        }
    }

    #[test]
    fn hooks_split_from_members_and_sort_by_weight_kind_name() {
        let (members, hooks) = split(&[
            m("plain", "ConfigMap", json!({})),
            m(
                "b",
                "Job",
                json!({HOOK: "pre-install,pre-upgrade", WEIGHT: "5"}),
            ),
            m("a", "Job", json!({HOOK: "pre-install", WEIGHT: "5"})),
            m(
                "cfg",
                "ConfigMap",
                json!({HOOK: "pre-install", WEIGHT: "5"}),
            ),
            m(
                "first",
                "Job",
                json!({HOOK: "pre-install", WEIGHT: "-3", DELETE_POLICY: "hook-succeeded"}),
            ),
            m("t", "Pod", json!({HOOK: "test"})),
        ])
        .unwrap();
        assert_eq!(members.len(), 1);
        let order: Vec<&str> = of_event(&hooks, HookEvent::PreInstall)
            .iter()
            .map(|h| h.name())
            .collect();
        assert_eq!(order, ["first", "cfg", "a", "b"]);
        let upgrade: Vec<&str> = of_event(&hooks, HookEvent::PreUpgrade)
            .iter()
            .map(|h| h.name())
            .collect();
        assert_eq!(upgrade, ["b"]);
        let first = hooks.iter().find(|h| h.name() == "first").unwrap();
        assert!(first.on_success && !first.before_creation && !first.on_failure);
        let a = hooks.iter().find(|h| h.name() == "a").unwrap();
        assert!(a.before_creation, "before-hook-creation is the default");
    }

    #[test]
    fn a_bad_hook_annotation_names_the_object() {
        let e = split(&[m("x", "Job", json!({HOOK: "pre-instal"}))]).unwrap_err();
        assert!(e.to_string().contains("unknown hook \"pre-instal\""), "{e}");
        assert!(e.to_string().contains("x.yaml:1"), "{e}");
        let e = split(&[m("x", "Job", json!({HOOK: "post-install", WEIGHT: "high"}))]).unwrap_err();
        assert!(e.to_string().contains("not a whole number"), "{e}");
    }

    #[test]
    fn job_and_pod_outcomes() {
        let done = json!({"conditions": [{"type": "Complete", "status": "True"}]});
        assert_eq!(settled("Job", &done), Some(Settled::Succeeded));
        let failed = json!({"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}]});
        let Some(Settled::Failed(why)) = settled("Job", &failed) else {
            panic!("a failed Job is settled as failed");
        };
        assert!(why.contains("BackoffLimitExceeded"), "{why}");
        assert_eq!(settled("Job", &json!({})), None);
        assert_eq!(
            settled("Pod", &json!({"phase": "Succeeded"})),
            Some(Settled::Succeeded)
        );
        assert_eq!(settled("Pod", &json!({"phase": "Running"})), None);
    }
}
