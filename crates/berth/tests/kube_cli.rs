//! `berth plan/apply/history/rollback/unlock/status/dashboard/sync` end to end: the berth binary
//! against the fake API server (crates/fakekube) and, as the tests named `e2e`, the same scenarios
//! against a real cluster (`BERTH_E2E_KUBECONFIG`; `./scripts/test.sh` starts the Kubernetes v1.28
//! control plane from `../shared/kube` and runs them). Without a cluster they are ignored.

use assert_cmd::Command;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{json, Value as Json};
use std::path::Path;
use std::sync::atomic::Ordering;

mod shots;
mod support;
use support::*;
mod webhook;
macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn fake() {
                super::$name(&super::Env::fake())
            }
            #[test]
            #[ignore = "needs a real cluster: BERTH_E2E_KUBECONFIG (./scripts/test.sh starts one)"]
            fn e2e() {
                super::$name(&super::Env::real())
            }
        }
    )*};
}

scenarios!(
    example_applies_and_plans,
    prune_history_rollback,
    concurrent_applies_lock,
    atomic_rolls_back,
    sync_follows_git_heals_drift_and_pauses,
    plan_shows_the_source_mode_change,
    a_rejected_object_names_its_file_and_nothing_is_applied,
    an_unknown_kind_is_refused_before_anything_is_applied,
    crds_are_applied_and_established_before_their_objects,
    secret_values_never_reach_the_terminal,
    an_empty_render_does_not_prune_everything_unless_allowed,
    big_releases_are_chunked,
    the_dashboard_serves_a_cluster,
    a_changed_job_is_replaced,
    a_removed_api_version_is_refused_with_its_replacement,
    a_lock_left_by_a_killed_berth_on_this_host_is_taken_over,
    a_helm_chart_applies_and_plans_clean,
    the_example_chart_rolls_out,
    a_kept_object_is_never_pruned,
    delete_removes_the_set_and_nothing_else,
    conflicts_name_the_field_and_manager_and_nothing_is_applied,
    a_lock_left_by_a_killed_apply_expires,
    a_no_op_reapply_writes_nothing,
    an_apply_killed_midway_converges_next_time,
);

/// Scenarios that need what only a real cluster does (IP allocation, image pulls, events).
macro_rules! real_cluster_scenarios {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            #[ignore = "needs a real cluster: BERTH_E2E_KUBECONFIG (./scripts/test.sh starts one)"]
            fn e2e() {
                super::$name(&super::Env::real())
            }
        }
    )*};
}

real_cluster_scenarios!(
    a_server_error_midway_names_the_object_and_the_next_apply_converges,
    a_rollout_that_times_out_names_the_waiting_reason_and_events,
    berth_events_tells_the_rollout_and_the_deploy,
    a_crash_loop_on_the_cluster_is_posted_to_the_webhook,
    a_deprecated_api_version_is_a_warning_of_the_plan,
    chart_hooks_run_around_the_apply_and_crds_are_installed_once,
    a_chart_sees_the_cluster_as_helm_install_shows_it,
);

/// A release helm 4 installed is adopted by `berth apply` of the same chart (needs helm).
mod a_helm_release_is_adopted_in_place {
    #[test]
    #[ignore = "needs a real cluster (BERTH_E2E_KUBECONFIG) and helm (BERTH_HELM)"]
    fn e2e() {
        super::a_helm_release_is_adopted_in_place(&super::Env::real())
    }
}

/// Helm-owned fields with false, 0 and empty values are taken over on adoption, server-side and
/// client-side installs alike (needs helm).
mod a_helm_release_with_falsy_values_is_adopted_without_conflict {
    #[test]
    #[ignore = "needs a real cluster (BERTH_E2E_KUBECONFIG) and helm (BERTH_HELM)"]
    fn e2e() {
        for server_side in [true, false] {
            super::a_helm_release_with_falsy_values_is_adopted_without_conflict(
                &super::Env::real(),
                server_side,
            )
        }
    }
}

/// kubectl and berth agree on the ApplySet (needs kubectl: `BERTH_KUBECTL`).
mod applyset_id_matches_kubectl {
    #[test]
    #[ignore = "needs kubectl: BERTH_KUBECTL (./scripts/test.sh installs it)"]
    fn fake() {
        let env = super::Env::fake();
        // client-go sends no bearer token over plain http.
        env.fake.as_ref().unwrap().store.lock().unwrap().token = None;
        super::applyset_id_matches_kubectl(&env)
    }
    #[test]
    #[ignore = "needs a real cluster (BERTH_E2E_KUBECONFIG) and kubectl (BERTH_KUBECTL)"]
    fn e2e() {
        super::applyset_id_matches_kubectl(&super::Env::real())
    }
}

// ---- the scenarios: each runs against the fake and, with BERTH_E2E_KUBECONFIG, a real cluster ----

/// Apply the example folder; plan shows no changes; change a variable: plan shows exactly that.
/// A Helm chart goes to the cluster like a deploy folder: applied, planned clean, and a `--set`
/// change planned as exactly that object's update.
fn a_helm_chart_applies_and_plans_clean(env: &Env) {
    let ns = env.namespace();
    let chart = Path::new(env!("CARGO_MANIFEST_DIR")).join("../chart/tests/charts/legacy");
    let common = ["-n", &ns, "--name", "legacy", "--release", "r"];
    let out = env.berth(&[&["apply", s(&chart), "--no-wait"][..], &common].concat());
    assert!(out.status.success(), "{}", text(&out));
    assert!(env.configmap(&ns, "r-legacy").is_some(), "{}", text(&out));
    assert!(env.configmap(&ns, "r-child").is_some(), "{}", text(&out));
    let out = env.berth(&[&["plan", s(&chart), "--detailed-exitcode"][..], &common].concat());
    assert_eq!(
        out.status.code(),
        Some(0),
        "no changes expected:\n{}",
        text(&out)
    );
    let out = env.berth(
        &[
            &[
                "plan",
                s(&chart),
                "--detailed-exitcode",
                "--set",
                "child.greeting=hey",
                "-o",
                "json",
            ][..],
            &common,
        ]
        .concat(),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let plan: Json = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["summary"]["update"], json!(2), "{plan}");
    assert_eq!(plan["summary"]["create"], json!(0), "{plan}");
}

/// The example chart (examples/guestbook) rolls out on a cluster and then plans clean.
fn the_example_chart_rolls_out(env: &Env) {
    let ns = env.namespace();
    let chart = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/guestbook");
    let common = ["-n", &ns, "--name", "guestbook", "--release", "gb"];
    let out = env.berth(&[&["apply", s(&chart), "--timeout", "60s"][..], &common].concat());
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("ready"), "{}", text(&out));
    assert!(
        text(&out).contains("NOTES:\nThe guestbook runs as gb"),
        "the chart's NOTES.txt follows a successful apply: {}",
        text(&out)
    );
    assert!(env.deployment(&ns, "api").is_some() && env.deployment(&ns, "web").is_some());
    let out = env.berth(&[&["plan", s(&chart), "--detailed-exitcode"][..], &common].concat());
    assert_eq!(
        out.status.code(),
        Some(0),
        "no changes expected:\n{}",
        text(&out)
    );
    // The cluster dashboard names the release and the chart.
    let (_child, addr) = spawn_with_dashboard(
        env,
        &[
            &["dashboard", s(&chart), "--listen", "127.0.0.1:0"][..],
            &common,
        ]
        .concat(),
    );
    let mut conn = std::net::TcpStream::connect(&addr).unwrap();
    std::io::Write::write_all(
        &mut conn,
        format!("GET /api/v1/environment HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .unwrap();
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut conn, &mut answer).unwrap();
    let view: Json = serde_json::from_str(answer.split_once("\r\n\r\n").unwrap().1).unwrap();
    assert_eq!(
        view["chart"],
        json!({"release": "gb", "name": "guestbook", "version": "0.1.0", "app_version": "1.0.0"}),
        "{view}"
    );
}

/// `helm.sh/resource-policy: keep` (Helm's) keeps an object that leaves the render; the others
/// are pruned as usual.
fn a_kept_object_is_never_pruned(env: &Env) {
    let ns = env.namespace();
    let chart = tempfile::tempdir().unwrap();
    std::fs::create_dir(chart.path().join("templates")).unwrap();
    std::fs::write(
        chart.path().join("Chart.yaml"),
        "apiVersion: v2\nname: keep\nversion: 0.1.0\n",
    )
    .unwrap();
    std::fs::write(chart.path().join("values.yaml"), "on: true\n").unwrap();
    std::fs::write(
        chart.path().join("templates/cm.yaml"),
        "{{- if .Values.on }}\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kept\n  annotations:\n    helm.sh/resource-policy: keep\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dropped\n{{- end }}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: always\n",
    )
    .unwrap();
    let common = ["-n", &ns, "--name", "keep", "--release", "k"];
    let out = env.berth(&[&["apply", s(chart.path()), "--no-wait"][..], &common].concat());
    assert!(out.status.success(), "{}", text(&out));
    assert!(env.configmap(&ns, "kept").is_some() && env.configmap(&ns, "dropped").is_some());
    let out = env.berth(
        &[
            &["apply", s(chart.path()), "--no-wait", "--set", "on=false"][..],
            &common,
        ]
        .concat(),
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(env.configmap(&ns, "kept").is_some(), "kept: {}", text(&out));
    assert!(
        env.configmap(&ns, "dropped").is_none(),
        "pruned: {}",
        text(&out)
    );
    assert!(env.configmap(&ns, "always").is_some());
}

fn example_applies_and_plans(env: &Env) {
    let ns = env.namespace();
    let dir = example();
    let common = ["-n", &ns, "--name", "ticketing"];
    let out = env.berth(&[&["apply", s(&dir), "--no-wait"][..], &common].concat());
    assert!(out.status.success(), "{}", text(&out));
    let out = env.berth(&[&["plan", s(&dir), "--detailed-exitcode"][..], &common].concat());
    assert_eq!(
        out.status.code(),
        Some(0),
        "no changes expected:\n{}",
        text(&out)
    );
    assert!(text(&out).contains("0 to create, 0 to update, 0 to delete, 18 unchanged"));

    let out = env.berth(
        &[
            &[
                "plan",
                s(&dir),
                "--detailed-exitcode",
                "-v",
                "replicas.web=3",
                "-o",
                "json",
            ][..],
            &common,
        ]
        .concat(),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let plan: Json = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        plan["summary"],
        json!({"create": 0, "update": 1, "replace": 0, "delete": 0, "unchanged": 17})
    );
    let change = &plan["changes"][0];
    assert_eq!(
        (change["kind"].as_str(), change["name"].as_str()),
        (Some("Deployment"), Some("web"))
    );
    let diff = change["diff"].as_str().unwrap();
    assert_eq!(
        changed_lines(diff),
        ["-  replicas: 1", "+  replicas: 3"],
        "{diff}"
    );
    env.cleanup(&ns);
}

/// Remove a file: apply prunes it and leaves an unlabelled object alone; history and rollback.
fn prune_history_rollback(env: &Env) {
    let ns = env.namespace();
    let app = env.app();
    let common = ["-n", &ns, "--name", "app", "--timeout", env.timeout()];
    let out = env.berth(&[&["apply", s(app.path())][..], &common].concat());
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("all 1 workload ready"),
        "{}",
        text(&out)
    );
    env.create_configmap(&ns, "not-ours");
    assert!(env.configmap(&ns, "extra").is_some());

    std::fs::remove_file(app.path().join("extra.yaml")).unwrap();
    let out = env.berth(&[&["apply", s(app.path()), "-v", "greeting=bye"][..], &common].concat());
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("- delete ConfigMap/extra (prune)"),
        "{}",
        text(&out)
    );
    assert!(env.configmap(&ns, "extra").is_none(), "pruned");
    assert!(
        env.configmap(&ns, "not-ours").is_some(),
        "an unlabelled object is never pruned"
    );

    let out = env.berth(&["history", "-n", &ns, "--name", "app", "-o", "json"]);
    let history: Json = serde_json::from_slice(&out.stdout).unwrap();
    let statuses: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["superseded", "deployed"]);

    let out = env.berth(&[
        "rollback",
        "1",
        "-n",
        &ns,
        "--name",
        "app",
        "--timeout",
        env.timeout(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("+ create ConfigMap/extra"),
        "the plan is shown first: {}",
        text(&out)
    );
    let settings = env.configmap(&ns, "settings").unwrap();
    assert_eq!(settings.data.unwrap()["greeting"], "hello");
    assert!(env.configmap(&ns, "extra").is_some(), "restored");
    let out = env.berth(&["history", "-n", &ns, "-o", "json"]);
    let history: Json = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(history[2]["source"], "rollback to 1");
    assert_eq!(history[2]["status"], "deployed");

    let out = env.berth(&["status", "--context", context(env), "-n", &ns]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("deployment/app"), "{}", text(&out));
    assert!(text(&out).contains("The test app"), "{}", text(&out));
    assert!(text(&out).contains("revision 3"), "{}", text(&out));
    env.cleanup(&ns);
}

/// A second apply waits for the lock, then fails naming the holder; `berth unlock` breaks it.
fn concurrent_applies_lock(env: &Env) {
    let ns = env.namespace();
    let app = env.app();
    let common = ["-n", &ns, "--name", "app", "--timeout", env.timeout()];
    let out = env.berth(&[&["apply", s(app.path())][..], &common].concat());
    assert!(out.status.success(), "{}", text(&out));
    env.hold_lock(&ns, "app", "someone@elsewhere (pid 1)");
    let out = env.berth(
        &[
            &[
                "apply",
                s(app.path()),
                "-v",
                "greeting=x",
                "--lock-timeout",
                "1s",
            ][..],
            &common,
        ]
        .concat(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("locked by someone@elsewhere (pid 1)"),
        "{}",
        text(&out)
    );
    assert_eq!(
        env.configmap(&ns, "settings").unwrap().data.unwrap()["greeting"],
        "hello"
    );
    let out = env.berth(&["unlock", "-n", &ns, "--name", "app"]);
    assert!(
        text(&out).contains("was held by someone@elsewhere"),
        "{}",
        text(&out)
    );
    let out = env.berth(
        &[
            &[
                "apply",
                s(app.path()),
                "-v",
                "greeting=x",
                "--lock-timeout",
                "1s",
            ][..],
            &common,
        ]
        .concat(),
    );
    assert!(out.status.success(), "{}", text(&out));
    env.cleanup(&ns);
}

/// `--atomic` rolls back a rollout that never becomes ready.
fn atomic_rolls_back(env: &Env) {
    let ns = env.namespace();
    let app = env.app();
    let common = ["-n", &ns, "--name", "app", "--timeout", env.timeout()];
    let out = env.berth(&[&["apply", s(app.path())][..], &common].concat());
    assert!(out.status.success(), "{}", text(&out));
    let out = env.berth(
        &[
            &[
                "apply",
                s(app.path()),
                "--atomic",
                "-v",
                "image=registry.k8s.io/pause:never-ready",
            ][..],
            &common[..4],
            &["--timeout", "6s"],
        ]
        .concat(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("Deployment.apps/app"),
        "names the blocking workload: {t}"
    );
    assert!(t.contains("rolled back to revision 1"), "{t}");
    let image = env.deployment(&ns, "app").unwrap()["spec"]["template"]["spec"]["containers"][0]
        ["image"]
        .clone();
    assert_eq!(image, "registry.k8s.io/pause:3.9");
    let out = env.berth(&["history", "-n", &ns, "-o", "json"]);
    let history: Json = serde_json::from_slice(&out.stdout).unwrap();
    let statuses: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["superseded", "failed", "deployed"]);
    env.cleanup(&ns);
}

// ---- errors and safety, against the fake ----

fn conflicts_name_the_field_and_manager_and_nothing_is_applied(env: &Env) {
    let ns = env.namespace();
    let app = env.app();
    let common = ["-n", &ns, "--name", "app", "--no-wait"];
    assert!(env
        .berth(&[&["apply", s(app.path())][..], &common].concat())
        .status
        .success());
    env.apply_as(
        "hpa-controller",
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "app", "namespace": ns}, "spec": {"replicas": 5}}),
    );
    let out = env.berth(
        &[
            &[
                "apply",
                s(app.path()),
                "-v",
                "replicas=2",
                "-v",
                "greeting=changed",
            ][..],
            &common,
        ]
        .concat(),
    );
    assert_eq!(out.status.code(), Some(1));
    let t = text(&out);
    assert!(
        t.contains("Deployment.apps/app: fields are owned by another manager"),
        "{t}"
    );
    assert!(
        t.contains("conflict with \"hpa-controller\": .spec.replicas"),
        "{t}"
    );
    assert!(t.contains("--> "), "names the file: {t}");
    assert!(t.contains("--force-conflicts"), "{t}");
    assert_eq!(
        env.configmap(&ns, "settings").unwrap().data.unwrap()["greeting"],
        "hello",
        "nothing applied"
    );
    let out = env.berth(
        &[
            &[
                "apply",
                s(app.path()),
                "-v",
                "replicas=2",
                "--force-conflicts",
            ][..],
            &common,
        ]
        .concat(),
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(env.deployment(&ns, "app").unwrap()["spec"]["replicas"], 2);
}

fn a_rejected_object_names_its_file_and_nothing_is_applied(env: &Env) {
    let ns = env.namespace();
    let app = env.app();
    std::fs::write(
        app.path().join("broken.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: broken\nspec:\n  selector:\n    matchLabels: {app: b}\n  template:\n    metadata:\n      labels: {app: b}\n    spec:\n      containers:\n        - name: b\n",
    )
    .unwrap();
    let out = env.berth(&["apply", s(app.path()), "-n", &ns, "--name", "app"]);
    assert_eq!(out.status.code(), Some(1));
    let t = text(&out);
    assert!(
        t.contains("the server rejected Deployment.apps/broken"),
        "{t}"
    );
    assert!(t.contains("--> broken.yaml:1"), "{t}");
    assert!(
        t.contains("spec.template.spec.containers[0].image: Required value"),
        "{t}"
    );
    assert!(t.contains("nothing was applied"), "{t}");
    assert!(
        env.get("v1", "Namespace", "", &ns)
            .is_none_or(|n| n["metadata"]["deletionTimestamp"].is_string()),
        "the namespace berth created is gone again"
    );
}

fn an_unknown_kind_is_refused_before_anything_is_applied(env: &Env) {
    let ns = env.namespace();
    let app = env.app();
    std::fs::write(
        app.path().join("widget.yaml"),
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n",
    )
    .unwrap();
    let out = env.berth(&["apply", s(app.path()), "-n", &ns, "--name", "app"]);
    assert_eq!(out.status.code(), Some(1));
    let t = text(&out);
    assert!(
        t.contains("the cluster does not know kind Widget in example.com/v1"),
        "{t}"
    );
    assert!(t.contains("--> widget.yaml:1"), "{t}");
    assert!(
        env.get("v1", "Namespace", "", &ns)
            .is_none_or(|n| n["metadata"]["deletionTimestamp"].is_string()),
        "nothing applied, not even the namespace"
    );
}

fn crds_are_applied_and_established_before_their_objects(env: &Env) {
    let ns = env.namespace();
    let app = env.app();
    std::fs::write(
        app.path().join("widget.yaml"),
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\nspec:\n  group: example.com\n  scope: Namespaced\n  names: {kind: Widget, plural: widgets, singular: widget}\n  versions:\n    - name: v1\n      served: true\n      storage: true\n      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}\n---\napiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\nspec:\n  size: 3\n",
    )
    .unwrap();
    let out = env.apply_no_wait(app.path(), &ns);
    assert!(text(&out)
        .contains("waiting for CustomResourceDefinition widgets.example.com to be established"));
    assert_eq!(env.names("example.com/v1", "Widget", &ns), ["w"]);
    // Cluster-scoped: deleted with the scenario, not with its namespace.
    let crds = env.dynamic("apiextensions.k8s.io/v1", "CustomResourceDefinition", "");
    let _crd = DeleteOnDrop(env, crds, "widgets.example.com");
    let out = env.berth(&[
        "plan",
        s(app.path()),
        "-n",
        &ns,
        "--name",
        "app",
        "--detailed-exitcode",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

fn secret_values_never_reach_the_terminal(env: &Env) {
    let ns = env.namespace();
    let app = env.app();
    let common = ["-n", &ns, "--name", "app", "--no-wait"];
    let out = env.berth(&[&["apply", s(app.path())][..], &common].concat());
    assert!(!text(&out).contains("s3cret-value"));
    let common = ["-n", &ns, "--name", "app"];
    let out = env.berth(
        &[
            &["plan", s(app.path()), "-v", "password=n3w-s3cret"][..],
            &common,
        ]
        .concat(),
    );
    let t = text(&out);
    assert!(t.contains("~ update Secret/creds"), "{t}");
    assert!(t.contains("changed keys (values hidden): password"), "{t}");
    for leak in [
        "s3cret-value",
        "n3w-s3cret",
        "czNjcmV0LXZhbHVl",
        "bjN3LXMzY3JldA==",
    ] {
        assert!(!t.contains(leak), "leaked {leak}: {t}");
    }
    let out = env.berth(
        &[
            &[
                "plan",
                s(app.path()),
                "-v",
                "password=n3w-s3cret",
                "-o",
                "json",
            ][..],
            &common,
        ]
        .concat(),
    );
    let t = text(&out);
    assert!(
        !t.contains("n3w-s3cret") && !t.contains("bjN3LXMzY3JldA=="),
        "{t}"
    );
}

fn an_empty_render_does_not_prune_everything_unless_allowed(env: &Env) {
    let ns = env.namespace();
    let app = env.app();
    let common = ["-n", &ns, "--name", "app", "--no-wait"];
    assert!(env
        .berth(&[&["apply", s(app.path())][..], &common].concat())
        .status
        .success());
    for f in ["deploy.yaml", "config.yaml", "extra.yaml"] {
        std::fs::remove_file(app.path().join(f)).unwrap();
    }
    let out = env.berth(&[&["apply", s(app.path())][..], &common].concat());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("the render produced no objects"),
        "{}",
        text(&out)
    );
    assert!(env.configmap(&ns, "settings").is_some());
    let out = env.berth(&[&["apply", s(app.path()), "--allow-empty"][..], &common].concat());
    assert!(out.status.success(), "{}", text(&out));
    assert!(env.configmap(&ns, "settings").is_none());
}

/// What berth writes in a namespace for the example: its objects, the ApplySet parent and
/// release records (Secrets), the lock (a Lease).
const EXAMPLE_KINDS: &[(&str, &str)] = &[
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("v1", "Service"),
    ("apps/v1", "Deployment"),
    ("apps/v1", "StatefulSet"),
    ("batch/v1", "Job"),
    ("batch/v1", "CronJob"),
    ("networking.k8s.io/v1", "Ingress"),
    ("coordination.k8s.io/v1", "Lease"),
];

/// A second apply of what is applied writes nothing: on the fake, not a single request but
/// reads; on a real API server, no object (nor the lock, nor a release record) changes. A
/// changed value writes that object and the release's records only.
fn a_no_op_reapply_writes_nothing(env: &Env) {
    let ns = env.namespace();
    let dir = example();
    let common = ["-n", &ns, "--name", "ticketing", "--no-wait"];
    let out = env.berth(&[&["apply", s(&dir)][..], &common].concat());
    assert!(out.status.success(), "{}", text(&out));
    let writes = env.record_writes(&ns, EXAMPLE_KINDS);
    if let Some(fake) = &env.fake {
        fake.reset_requests();
    }
    let out = env.berth(&[&["apply", s(&dir)][..], &common].concat());
    assert!(out.status.success(), "{}", text(&out));
    let requests = env.fake.as_ref().map(|f| f.requests());
    assert_eq!(
        writes.stop(env),
        Vec::<String>::new(),
        "a no-op apply wrote"
    );
    if let (Some(fake), Some(requests)) = (&env.fake, requests) {
        // Not a write, not a dry-run, not even the lock: the objects are as berth applied them.
        assert!(
            requests.keys().all(|k| k.starts_with("GET")),
            "only reads: {requests:?}"
        );
        // Reads per kind, not per object: discovery, the parent, one list per kind, the releases.
        assert!(
            requests.values().sum::<u64>() <= 25,
            "a handful of reads: {requests:?}"
        );
        fake.reset_requests();
    }
    // A changed object is dry-run and written, the others are not asked about.
    let writes = env.record_writes(&ns, EXAMPLE_KINDS);
    let out = env.berth(&[&["apply", s(&dir), "-v", "replicas.web=2"][..], &common].concat());
    assert!(out.status.success(), "{}", text(&out));
    let requests = env.fake.as_ref().map(|f| f.requests());
    let written = writes.stop(env);
    let objects: Vec<_> = (written.iter())
        .filter(|w| !w.contains(" Secret/") && !w.contains(" Lease/"))
        .collect();
    assert_eq!(objects, ["MODIFIED Deployment/web"], "{written:?}");
    assert!(
        written.iter().any(|w| w.starts_with("ADDED Secret/")),
        "a release record: {written:?}"
    );
    if let Some(requests) = requests {
        assert_eq!(requests.get("PATCH dryRun"), Some(&1), "{requests:?}");
    }
}

#[test]
fn cluster_errors_say_where_and_what_to_do() {
    // Unreachable: a closed port.
    let tmp = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let config = format!("apiVersion: v1\nkind: Config\ncurrent-context: gone\nclusters:\n- name: gone\n  cluster:\n    server: http://127.0.0.1:{port}\ncontexts:\n- name: gone\n  context: {{cluster: gone, user: u}}\nusers:\n- name: u\n  user: {{token: t}}\n");
    std::fs::write(tmp.path().join("kc"), config).unwrap();
    let start = std::time::Instant::now();
    let out = Command::cargo_bin("berth")
        .unwrap()
        .args([
            "plan",
            s(&fixture()),
            "--kubeconfig",
            s(&tmp.path().join("kc")),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let t = text(&out);
    assert!(
        t.contains(&format!(
            "cannot reach the cluster at http://127.0.0.1:{port}/ (context gone)"
        )),
        "{t}"
    );
    assert!(start.elapsed().as_secs() < 15);

    // Unknown context.
    let env = Env::fake();
    let out = env.berth(&["plan", s(&fixture()), "--context", "nope"]);
    assert!(
        text(&out).contains("no context named `nope`"),
        "{}",
        text(&out)
    );

    // 401.
    let bad = env._tmp.path().join("bad");
    std::fs::write(&bad, env.fake.as_ref().unwrap().kubeconfig("wrong")).unwrap();
    let out = Command::cargo_bin("berth")
        .unwrap()
        .args(["plan", s(&fixture()), "--kubeconfig", s(&bad)])
        .output()
        .unwrap();
    assert!(
        text(&out).contains("refused our credentials (401"),
        "{}",
        text(&out)
    );

    // 403 names verb, resource and namespace.
    env.fake
        .as_ref()
        .unwrap()
        .store
        .lock()
        .unwrap()
        .forbidden
        .push(("list".into(), "configmaps".into()));
    let out = env.berth(&["plan", s(&fixture()), "-n", "default"]);
    assert!(
        text(&out).contains(
            "the cluster refused to list configmaps in namespace default (403 Forbidden)"
        ),
        "{}",
        text(&out)
    );
}

fn a_lock_left_by_a_killed_apply_expires(env: &Env) {
    let ns = env.namespace();
    let app = env.app();
    let common = ["-n", &ns, "--name", "app", "--no-wait"];
    assert!(env
        .berth(&[&["apply", s(app.path())][..], &common].concat())
        .status
        .success());
    // A lease last renewed long ago, as a killed berth leaves it.
    use k8s_openapi::api::coordination::v1::Lease;
    let api: Api<Lease> = Api::namespaced(env.client.clone(), &ns);
    let lease: Lease = serde_json::from_value(json!({
        "metadata": {"name": "berth-lock-app"},
        "spec": {"holderIdentity": "dead@host (pid 9)", "leaseDurationSeconds": 30,
                 "acquireTime": "2020-01-01T00:00:00.000000Z", "renewTime": "2020-01-01T00:00:00.000000Z"},
    }))
    .unwrap();
    env.rt
        .block_on(api.create(&PostParams::default(), &lease))
        .unwrap();
    let out = env.berth(
        &[
            &[
                "apply",
                s(app.path()),
                "--lock-timeout",
                "1s",
                "-v",
                "greeting=later",
            ][..],
            &common,
        ]
        .concat(),
    );
    // Taken over at once (not waited for), the change applied, and the lock given up after:
    // a berth that ignored locks would leave the dead holder's lease in place.
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        !text(&out).contains("waiting for the lock"),
        "{}",
        text(&out)
    );
    assert_eq!(
        env.configmap(&ns, "settings").unwrap().data.unwrap()["greeting"],
        "later"
    );
    let left = env.rt.block_on(api.get_opt("berth-lock-app")).unwrap();
    assert!(left.is_none(), "the lease is still there: {left:?}");
}

/// kubectl (the reference) computes the same ApplySet id for berth's parent Secret, and sees
/// berth's members as members of that set.
fn applyset_id_matches_kubectl(env: &Env) {
    let kubectl = std::env::var_os("BERTH_KUBECTL")
        .filter(|k| Path::new(k).exists())
        .expect("kubectl: set BERTH_KUBECTL (./scripts/test.sh does)");
    let ns = env.namespace();
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(env.client.clone());
    let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
    env.rt
        .block_on(namespaces.patch(&ns, &PatchParams::apply("test"), &Patch::Apply(&body)))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: probe\ndata: {a: b}\n",
    )
    .unwrap();
    let out = std::process::Command::new(kubectl)
        .env("KUBECONFIG", &env.kubeconfig)
        .env("KUBECTL_APPLYSET", "true")
        .args([
            "apply",
            "--server-side",
            "--validate=false",
            "--prune",
            "--applyset=berth-app",
            "-n",
            &ns,
            "-f",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let parent = env.get("v1", "Secret", &ns, "berth-app").unwrap();
    let kubectl_id = parent["metadata"]["labels"]["applyset.kubernetes.io/id"]
        .as_str()
        .unwrap()
        .to_string();
    let set = berth_kube::ApplySet {
        name: "app".into(),
        namespace: ns.clone(),
    };
    assert_eq!(set.id(), kubectl_id);
    let cm = env.get("v1", "ConfigMap", &ns, "probe").unwrap();
    assert_eq!(
        cm["metadata"]["labels"]["applyset.kubernetes.io/part-of"],
        kubectl_id
    );
    // berth applies over kubectl's set: its member and berth's new one live side by side.
    std::fs::write(
        dir.path().join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: probe\ndata: {a: b}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\ndata: {c: d}\n",
    )
    .unwrap();
    env.apply_no_wait(dir.path(), &ns);
    assert_eq!(
        env.names("v1", "ConfigMap", &ns)
            .iter()
            .filter(|n| *n != "kube-root-ca.crt")
            .count(),
        2
    );
}

/// An apply killed midway leaves the set findable; after `unlock`, the next apply converges and
/// prunes what the killed one created but is no longer rendered. (The fake delays each write;
/// the real server takes its time with 300 objects.)
fn an_apply_killed_midway_converges_next_time(env: &Env) {
    let ns = env.namespace();
    let app = big_folder(300);
    let extra = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a-extra\ndata:\n  k: v\n";
    std::fs::write(app.path().join("extra.yaml"), extra).unwrap();
    if let Some(fake) = &env.fake {
        fake.store.lock().unwrap().write_delay = std::time::Duration::from_millis(10);
    }
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("berth"))
        .env("KUBECONFIG", &env.kubeconfig)
        .args([
            "apply",
            s(app.path()),
            "-n",
            &ns,
            "--name",
            "app",
            "--no-wait",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once the extra map and a few others are written, before the workloads are.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let maps = env.names("v1", "ConfigMap", &ns);
        if maps.iter().any(|n| n == "a-extra") && maps.len() > 10 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "apply never wrote the config maps"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    if let Some(fake) = &env.fake {
        fake.store.lock().unwrap().write_delay = std::time::Duration::ZERO;
    }
    let deployments = env.names("apps/v1", "Deployment", &ns).len();
    assert!(deployments < 100, "killed midway, not after the end");
    assert!(
        env.get("v1", "Secret", &ns, "berth-app").is_some(),
        "the parent was written first"
    );

    let out = env.berth(&["unlock", "-n", &ns, "--name", "app"]);
    assert!(out.status.success(), "{}", text(&out));
    std::fs::remove_file(app.path().join("extra.yaml")).unwrap();
    env.apply_no_wait(app.path(), &ns);
    assert_eq!(env.names("apps/v1", "Deployment", &ns).len(), 100);
    assert!(
        env.get("v1", "ConfigMap", &ns, "a-extra").is_none(),
        "orphan pruned"
    );
    let out = env.berth(&[
        "plan",
        s(app.path()),
        "-n",
        &ns,
        "--name",
        "app",
        "--detailed-exitcode",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

/// A release bigger than a Secret can hold is split into chunks and still rolls back.
fn big_releases_are_chunked(env: &Env) {
    let ns = env.namespace();
    let app = env.app();
    // Three ConfigMaps of 700 KiB of incompressible text each: about 2 MiB compressed.
    let mut seed: u64 = 42;
    for i in 0..3 {
        let mut blob = String::with_capacity(700 * 1024);
        while blob.len() < 700 * 1024 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            blob.push_str(&format!("{seed:016x}"));
        }
        std::fs::write(
            app.path().join(format!("big{i}.yaml")),
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big{i}\ndata:\n  blob: \"{blob}\"\n"),
        )
        .unwrap();
    }
    let common = ["-n", &ns, "--name", "app", "--no-wait"];
    assert!(env
        .berth(&[&["apply", s(app.path())][..], &common].concat())
        .status
        .success());
    let secrets = env.names("v1", "Secret", &ns);
    let chunks: Vec<&String> = secrets
        .iter()
        .filter(|n| n.starts_with("berth-release-app-v1"))
        .collect();
    assert!(chunks.len() >= 2, "{secrets:?}");
    for f in ["big0.yaml", "big1.yaml", "big2.yaml"] {
        std::fs::remove_file(app.path().join(f)).unwrap();
    }
    assert!(env
        .berth(&[&["apply", s(app.path())][..], &common].concat())
        .status
        .success());
    assert!(env.configmap(&ns, "big1").is_none());
    let out = env.berth(&["rollback", "1", "-n", &ns, "--name", "app", "--no-wait"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        env.configmap(&ns, "big2").unwrap().data.unwrap()["blob"].len(),
        700 * 1024
    );
}

/// `berth dashboard` over a deploy set on the (fake) cluster: the API lists its workloads, and
/// restart, scale, and redeploy act on the cluster.
fn the_dashboard_serves_a_cluster(env: &Env) {
    use std::io::{Read, Write};
    let (ns, app) = env.applied_app_with_source_settings();
    let (_child, addr) = spawn_with_dashboard(
        env,
        &[
            "dashboard",
            s(app.path()),
            "-n",
            &ns,
            "--name",
            "app",
            "--listen",
            "127.0.0.1:0",
        ],
    );
    let call = |method: &str, path: &str, body: &str| -> (u16, Json) {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        write!(s, "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        let code = text.split_whitespace().nth(1).unwrap().parse().unwrap();
        let body = text.split_once("\r\n\r\n").unwrap().1;
        (code, serde_json::from_str(body).unwrap_or(Json::Null))
    };
    // Applied without waiting: on a real cluster the rollout may still be under way.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let envv = loop {
        let (code, envv) = call("GET", "/api/v1/environment", "");
        assert_eq!(code, 200);
        if envv["services"][0]["health"] == "ready" || std::time::Instant::now() > deadline {
            break envv;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert_eq!(envv["backend"], "kubernetes");
    let svc = &envv["services"][0];
    assert_eq!(
        (svc["name"].as_str(), svc["health"].as_str()),
        (Some("app"), Some("ready")),
        "{envv}"
    );
    assert_eq!(svc["description"], "The test app");
    let pod = svc["replicas"][0]["name"].as_str().unwrap().to_string();
    assert_eq!(svc["replicas"][0]["ready"], true, "{svc}");
    assert_eq!(
        svc["shell"],
        format!(
            "kubectl --context {} -n {ns} exec -ti {pod} -c app -- sh",
            context(env)
        )
    );
    // The pods' logs stream through the API (a real cluster here has no kubelet to read them).
    if !env.is_real() {
        pods_logs_stream(&addr, &pod);
    }
    let (code, body) = call("POST", "/api/v1/services/app/scale", r#"{"replicas": 3}"#);
    assert_eq!(code, 200, "{body}");
    assert_eq!(env.deployment(&ns, "app").unwrap()["spec"]["replicas"], 3);
    let (code, body) = call("POST", "/api/v1/services/app/restart", "");
    assert_eq!(code, 200, "{body}");
    assert!(
        env.deployment(&ns, "app").unwrap()["spec"]["template"]["metadata"]["annotations"]
            ["kubectl.kubernetes.io/restartedAt"]
            .is_string()
    );
    let (code, body) = call("POST", "/api/v1/redeploy", "");
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        env.deployment(&ns, "app").unwrap()["spec"]["replicas"],
        1,
        "redeploy restores the folder's state"
    );
    // Source mode: the runner image under `berth rerun`, the source mounted, one replica.
    let (code, body) = call("POST", "/api/v1/services/app/mode", r#"{"mode": "source"}"#);
    assert_eq!(code, 200, "{body}");
    let d = env.deployment(&ns, "app").unwrap();
    let c = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["image"], "registry.example.com/runner:1");
    assert_eq!(
        c["command"],
        json!(["berth", "rerun", "--", "python3", "app.py"])
    );
    assert_eq!(c["workingDir"], "/src/services");
    assert_eq!(
        d["spec"]["template"]["spec"]["volumes"][0]["hostPath"]["path"],
        "/home/dev/app"
    );
    let (_, envv) = call("GET", "/api/v1/services/app", "");
    assert_eq!(envv["mode"], "source", "{envv}");
    // The mode is remembered on the set: plan and apply keep it.
    let out = env.berth(&[
        "plan",
        s(app.path()),
        "-n",
        &ns,
        "--name",
        "app",
        "--detailed-exitcode",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let (code, body) = call("POST", "/api/v1/services/app/mode", r#"{"mode": "image"}"#);
    assert_eq!(code, 200, "{body}");
    let d = env.deployment(&ns, "app").unwrap();
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.k8s.io/pause:3.9"
    );
    env.cleanup(&ns);
}

/// The app's pod logs, followed through the dashboard API, show the fake server's first line.
fn pods_logs_stream(addr: &str, pod: &str) {
    use std::io::{BufRead, Write};
    let mut logs = std::net::TcpStream::connect(addr).unwrap();
    logs.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    write!(
        logs,
        "GET /api/v1/services/app/logs?follow=true HTTP/1.1\r\nHost: {addr}\r\n\r\n"
    )
    .unwrap();
    let mut logs = std::io::BufReader::new(logs);
    let mut l = String::new();
    while !l.contains(&format!("log line 1 from {pod}")) {
        l.clear();
        assert!(logs.read_line(&mut l).unwrap() > 0, "the log stream ended");
    }
}

/// `berth sync`: a pushed commit is applied within one interval, a render error keeps the
/// release and is reported, a hand edit is reverted, a paused sync applies nothing, and the
/// metrics move.
fn sync_follows_git_heals_drift_and_pauses(env: &Env) {
    use std::io::{Read, Write};
    let ns = env.namespace();
    let repo = GitApp::new();
    let (tmp, work, synced) = (repo.tmp.path(), &repo.work, &repo.synced);
    let metrics = format!("127.0.0.1:{}", free_port());
    let (mut child, addr) = spawn_with_dashboard(
        env,
        &[
            "sync",
            s(synced),
            "-n",
            &ns,
            "--name",
            "app",
            "--interval",
            "1s",
            "--git-branch",
            "main",
            "--timeout",
            env.timeout(),
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            &metrics,
        ],
    );
    let mut events = Events::open(&addr);
    events.until("the first sync", |e| {
        e["sync"]["last_result"].as_str().is_some() && app_replicas(e) == Some(1)
    });

    // A pushed commit arrives on the 1 s interval, not the default one (30 s): the deadline is
    // generous for a loaded machine and still below the default.
    repo.push_replicas(1, 2);
    let pushed = std::time::Instant::now();
    events.until("the commit applied", |e| app_replicas(e) == Some(2));
    let took = pushed.elapsed();
    assert!(
        took < std::time::Duration::from_secs(20),
        "applied after {took:?} with a 1 s interval"
    );
    assert_eq!(env.deployment(&ns, "app").unwrap()["spec"]["replicas"], 2);

    // A render error keeps the running release and is reported.
    std::fs::write(
        work.join("app/broken.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Variables.nope }}\n",
    )
    .unwrap();
    git(work, &["add", "."]);
    git(work, &["commit", "--quiet", "-m", "broken"]);
    git(work, &["push", "--quiet"]);
    let e = events.until("the render error reported", |e| {
        e["sync"]["error"]
            .as_str()
            .is_some_and(|m| m.contains("broken.yaml"))
    });
    assert!(e["sync"]["error"].as_str().unwrap().contains("nope"), "{e}");
    assert_eq!(
        env.deployment(&ns, "app").unwrap()["spec"]["replicas"],
        2,
        "release untouched"
    );
    git(work, &["rm", "--quiet", "app/broken.yaml"]);
    git(work, &["commit", "--quiet", "-m", "fixed"]);
    git(work, &["push", "--quiet"]);
    events.until("the error cleared", |e| {
        e["sync"]["error"].is_null() && e["sync"]["last_result"] == "in sync"
    });

    // A hand edit in the cluster is reverted.
    env.hand_edit(&ns, 7);
    events.until("the hand edit reverted", |e| {
        app_replicas(e) == Some(2)
            && e["sync"]["last_result"]
                .as_str()
                .is_some_and(|r| r.starts_with("applied"))
    });

    // Paused: drift is reported, nothing is applied; resumed: healed.
    let post = |path: &str| {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        write!(s, "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").unwrap();
        let mut t = String::new();
        s.read_to_string(&mut t).unwrap();
        assert!(t.starts_with("HTTP/1.1 200"), "{t}");
    };
    post("/api/v1/sync/pause");
    events.until("paused", |e| e["sync"]["paused"] == true);
    env.hand_edit(&ns, 7);
    events.until("drift reported while paused", |e| {
        e["sync"]["pending"].as_u64() > Some(0) && app_replicas(e) == Some(7)
    });
    assert_eq!(
        env.deployment(&ns, "app").unwrap()["spec"]["replicas"],
        7,
        "paused: nothing applied"
    );
    post("/api/v1/sync/resume");
    events.until("healed after resume", |e| {
        e["sync"]["paused"] == false && app_replicas(e) == Some(2)
    });

    // A rollback pauses sync, so the two never fight.
    let out = env.berth(&["rollback", "1", "-n", &ns, "--name", "app", "--no-wait"]);
    assert!(out.status.success(), "{}", text(&out));
    events.until("paused by the rollback", |e| {
        e["sync"]["paused_reason"]
            .as_str()
            .is_some_and(|r| r.contains("rollback to 1"))
    });
    assert_eq!(env.deployment(&ns, "app").unwrap()["spec"]["replicas"], 1);

    // A local commit in the synced repository and a different one upstream: refused, reported.
    std::fs::write(tmp.join("synced/NOTES.md"), "local\n").unwrap();
    git(&tmp.join("synced"), &["add", "."]);
    git(&tmp.join("synced"), &["commit", "--quiet", "-m", "local"]);
    std::fs::write(work.join("NOTES.md"), "upstream\n").unwrap();
    git(work, &["add", "."]);
    git(work, &["commit", "--quiet", "-m", "upstream"]);
    git(work, &["push", "--quiet"]);
    events.until("the divergence reported", |e| {
        e["sync"]["error"]
            .as_str()
            .is_some_and(|m| m.contains("diverged"))
    });
    let head = std::process::Command::new("git")
        .args(["log", "-1", "--format=%s"])
        .current_dir(tmp.join("synced"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&head.stdout).trim(),
        "local",
        "local commits are kept"
    );

    // /metrics parses as Prometheus text, and the counters moved.
    let mut s = std::net::TcpStream::connect(&metrics).unwrap();
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {metrics}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut t = String::new();
    s.read_to_string(&mut t).unwrap();
    let body = t.split_once("\r\n\r\n").unwrap().1;
    let scrape = prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_string()))).unwrap();
    let value = |name: &str, label: Option<(&str, &str)>| -> f64 {
        scrape
            .samples
            .iter()
            .filter(|x| x.metric == name)
            .filter(|x| label.is_none_or(|(k, v)| x.labels.get(k) == Some(v)))
            .map(|x| match x.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => 0.0,
            })
            .sum()
    };
    assert!(
        value("berth_applies_total", Some(("result", "success"))) >= 3.0,
        "{body}"
    );
    assert!(value("berth_drift_detected_total", None) >= 1.0, "{body}");
    assert!(
        value("berth_sync_runs_total", Some(("result", "failure"))) >= 1.0,
        "{body}"
    );
    assert!(
        value("berth_objects_total", Some(("action", "update"))) >= 1.0,
        "{body}"
    );
    assert!(
        value("berth_service_desired_replicas", Some(("service", "app"))) >= 1.0,
        "{body}"
    );
    assert!(
        body.contains("berth_apply_duration_seconds_bucket"),
        "{body}"
    );
    let _ = child.kill();
    let _ = child.wait();
    env.cleanup(&ns);
}

/// Source mode recorded on the set changes exactly the container's run, and plan shows it.
fn plan_shows_the_source_mode_change(env: &Env) {
    let (ns, app) = env.applied_app_with_source_settings();
    let api: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(env.client.clone(), &ns);
    let patch =
        json!({"metadata": {"annotations": {"berth.dev/modes": "{\"app\":{\"app\":\"source\"}}"}}});
    env.rt
        .block_on(api.patch("berth-app", &PatchParams::default(), &Patch::Merge(&patch)))
        .unwrap();
    let out = env.berth(&[
        "plan",
        s(app.path()),
        "-n",
        &ns,
        "--name",
        "app",
        "--detailed-exitcode",
        "-o",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let plan: Json = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["summary"]["update"], 1, "{plan}");
    let diff = plan["changes"][0]["diff"].as_str().unwrap();
    let added: Vec<&str> = diff
        .lines()
        .filter(|l| l.starts_with('+') && !l.starts_with("+++"))
        .map(|l| l.trim())
        .collect();
    for want in [
        "+image: registry.example.com/runner:1",
        "+- berth",
        "+- rerun",
        "+workingDir: /src/services",
        "+path: /home/dev/app",
    ] {
        assert!(
            added
                .iter()
                .any(|l| l.replace(' ', "") == want.replace(' ', "")),
            "{want} missing from:\n{diff}"
        );
    }
    env.cleanup(&ns);
}

/// Writes `name` with `content` into a copy of the test app.
fn app_with(env: &Env, name: &str, content: &str) -> tempfile::TempDir {
    let app = env.app();
    std::fs::write(app.path().join(name), content).unwrap();
    app
}

const JOB: &str = "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\nspec:\n  backoffLimit: 0\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n        - name: migrate\n          image: {{ .Variables.image }}\n";

/// A Job whose pod template changed is replaced (delete and create), shown as such in the plan
/// with only the changed line, and the new Job runs.
fn a_changed_job_is_replaced(env: &Env) {
    let ns = env.namespace();
    let app = app_with(env, "job.yaml", JOB);
    let common = ["-n", &ns, "--name", "app", "--timeout", env.timeout()];
    let out = env.berth(&[&["apply", s(app.path())][..], &common].concat());
    assert!(out.status.success(), "{}", text(&out));
    let first = env.get("batch/v1", "Job", &ns, "migrate").unwrap();
    let image = "-v=image=registry.k8s.io/pause:3.10";
    let out = env.berth(
        &[
            &["plan", s(app.path()), image, "-o", "json"][..],
            &common[..4],
        ]
        .concat(),
    );
    let plan: Json = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["summary"]["replace"], 1, "{plan}");
    let job = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "Job")
        .unwrap();
    assert_eq!(job["action"], "replace", "{plan}");
    let diff = job["diff"].as_str().unwrap();
    let changed: Vec<String> = changed_lines(diff)
        .into_iter()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        changed,
        [
            "--image:registry.k8s.io/pause:3.9",
            "+-image:registry.k8s.io/pause:3.10"
        ],
        "only the image changes, no server defaults:\n{diff}"
    );
    let out = env.berth(&[&["apply", s(app.path()), image][..], &common].concat());
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("replace Job.batch/migrate"),
        "{}",
        text(&out)
    );
    let second = env.get("batch/v1", "Job", &ns, "migrate").unwrap();
    assert_ne!(
        first["metadata"]["uid"], second["metadata"]["uid"],
        "a new Job"
    );
    assert_eq!(
        second["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.k8s.io/pause:3.10"
    );
}

/// An object in an API version Kubernetes removed is refused before anything is applied, naming
/// its file, line and the version to use instead.
fn a_removed_api_version_is_refused_with_its_replacement(env: &Env) {
    let ns = env.namespace();
    let app = app_with(
        env,
        "old.yaml",
        "# an old chart\napiVersion: extensions/v1beta1\nkind: Deployment\nmetadata:\n  name: old\nspec:\n  template:\n    spec:\n      containers: [{name: a, image: a}]\n---\napiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata:\n  name: old\nspec:\n  minAvailable: 1\n",
    );
    let out = env.berth(&["apply", s(app.path()), "-n", &ns, "--name", "app"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("extensions/v1beta1 Deployment"), "{t}");
    assert!(t.contains("removed in Kubernetes 1.16"), "{t}");
    assert!(t.contains("apps/v1"), "names the replacement: {t}");
    assert!(t.contains("--> old.yaml:2"), "{t}");
    assert!(
        t.contains("policy/v1"),
        "every removed version is listed: {t}"
    );
    assert!(
        env.get("v1", "Namespace", "", &ns)
            .is_none_or(|n| n["metadata"]["deletionTimestamp"].is_string()),
        "nothing applied"
    );
}

/// Two Services asking for one cluster IP pass the dry-run one by one, and the second fails in
/// the real apply: the error names it, quotes the server, says what was applied before; after the
/// fix the next apply converges.
fn a_server_error_midway_names_the_object_and_the_next_apply_converges(env: &Env) {
    let ns = env.namespace();
    // An IP from the cluster's Service range that nothing else uses.
    let ip = format!(
        "10.0.{}.{}",
        200 + std::process::id() % 50,
        10 + NEXT.load(Ordering::SeqCst) % 200
    );
    let svc = |name: &str, ip: &str| {
        format!("apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  clusterIP: {ip}\n  selector: {{app: app}}\n  ports: [{{port: 81}}]\n")
    };
    let app = app_with(
        env,
        "twins.yaml",
        &format!("{}---\n{}", svc("twin-a", &ip), svc("twin-b", &ip)),
    );
    let common = ["-n", &ns, "--name", "app", "--timeout", env.timeout()];
    let out = env.berth(&[&["apply", s(app.path())][..], &common].concat());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("Service/twin-"), "names the object: {t}");
    assert!(t.contains("--> twins.yaml:"), "{t}");
    assert!(t.contains("already allocated"), "quotes the server: {t}");
    assert!(t.contains("applied before the failure"), "{t}");
    assert!(
        t.contains("ConfigMap/settings"),
        "lists what was applied: {t}"
    );
    assert!(t.contains("not applied"), "{t}");
    // The fix: the one the server refused gets an IP of its own.
    let first_line = t.lines().find(|l| l.starts_with("error:")).unwrap();
    let (ok, refused) = if first_line.contains("twin-a") {
        ("twin-b", "twin-a")
    } else {
        ("twin-a", "twin-b")
    };
    let auto = format!("apiVersion: v1\nkind: Service\nmetadata:\n  name: {refused}\nspec:\n  selector: {{app: app}}\n  ports: [{{port: 81}}]\n");
    std::fs::write(
        app.path().join("twins.yaml"),
        format!("{}---\n{auto}", svc(ok, &ip)),
    )
    .unwrap();
    let out = env.berth(&[&["apply", s(app.path())][..], &common].concat());
    assert!(out.status.success(), "{}", text(&out));
    let out = env.berth(
        &[
            &["plan", s(app.path()), "--detailed-exitcode"][..],
            &common[..4],
        ]
        .concat(),
    );
    assert_eq!(out.status.code(), Some(0), "converged: {}", text(&out));
}

/// A rollout that never becomes ready times out naming the pod's waiting reason and the events.
fn a_rollout_that_times_out_names_the_waiting_reason_and_events(env: &Env) {
    let ns = env.namespace();
    let app = env.app();
    let out = env.berth(&[
        "apply",
        s(app.path()),
        "-n",
        &ns,
        "--name",
        "app",
        "--timeout",
        "8s",
        "-v",
        "image=registry.k8s.io/pause:never-ready",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("Deployment.apps/app"), "{t}");
    assert!(t.contains("ErrImagePull"), "names the waiting reason: {t}");
    assert!(t.contains("event"), "shows recent events: {t}");
}

/// `berth events --context`: the cluster's Events of the set's workloads, their ReplicaSets
/// and pods (scaling, pod creation, scheduling), each given to its service, and berth's own
/// deploy; one service's only when asked.
/// A pod that goes into a crash loop on the cluster reaches `berth dashboard --notify`'s webhook
/// (berth's own `CrashLoop` event, seen while it polls), and the URL is never printed.
fn a_crash_loop_on_the_cluster_is_posted_to_the_webhook(env: &Env) {
    let ns = env.namespace();
    let app = env.app();
    let common = ["-n", &ns, "--name", "app"];
    let out = env.berth(&[&["apply", s(app.path()), "--no-wait"][..], &common].concat());
    assert!(out.status.success(), "{}", text(&out));
    let (url, bodies) = webhook::webhook_server();
    let args = [
        "dashboard",
        s(app.path()),
        "--context",
        context(env),
        "--listen",
        "127.0.0.1:0",
        "--notify",
        &url,
    ];
    let (_dashboard, _) = spawn_with_dashboard(env, &[&args[..], &common].concat());
    // The image the fake kubelet crash-loops (../shared/kube: `crash`).
    let crash = "-v=image=example.com/crash:1";
    let out = env.berth(&[&["apply", s(app.path()), crash, "--no-wait"][..], &common].concat());
    assert!(out.status.success(), "{}", text(&out));
    let body = bodies
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("a notification within 60 s");
    let json: Json = serde_json::from_str(&body).unwrap();
    let said = json["text"].as_str().unwrap();
    assert!(
        said.contains(&format!("berth app in namespace {ns}: app-")) && said.contains("CrashLoop"),
        "{said}"
    );
}

fn berth_events_tells_the_rollout_and_the_deploy(env: &Env) {
    let ns = env.namespace();
    let app = env.app();
    let out = env.berth(&[
        "apply",
        s(app.path()),
        "-n",
        &ns,
        "--name",
        "app",
        "--no-wait",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let events = |service: &[&str]| {
        let rest = [
            "--context",
            context(env),
            "-n",
            &ns,
            "--name",
            "app",
            "-o",
            "json",
        ];
        let out = env.berth(&[&["events"][..], service, &rest].concat());
        assert!(out.status.success(), "{}", text(&out));
        serde_json::from_slice::<Vec<Json>>(&out.stdout).unwrap()
    };
    let reasons = |events: &[Json]| -> Vec<String> {
        events
            .iter()
            .map(|e| e["reason"].as_str().unwrap().to_string())
            .collect()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let app_events = loop {
        let app_events = events(&["app"]);
        let seen = reasons(&app_events);
        if ["ScalingReplicaSet", "SuccessfulCreate", "Scheduled"]
            .iter()
            .all(|r| seen.iter().any(|s| s == r))
        {
            break app_events;
        }
        assert!(std::time::Instant::now() < deadline, "{app_events:#?}");
        std::thread::sleep(std::time::Duration::from_secs(1));
    };
    assert!(
        app_events.iter().all(|e| e["service"] == "app"),
        "{app_events:#?}"
    );
    let scheduled = app_events
        .iter()
        .find(|e| e["reason"] == "Scheduled")
        .unwrap();
    assert!(
        scheduled["replica"].as_str().unwrap().starts_with("app-"),
        "{scheduled}"
    );
    let all = events(&[]);
    let deployed = all.iter().find(|e| e["reason"] == "Deployed");
    let says = |e: &Json| e["message"].as_str().unwrap().contains("revision 1");
    assert!(deployed.is_some_and(says), "{all:#?}");
    env.cleanup(&ns);
}

/// A lock whose holder was a berth on this host that is gone (SIGKILL) is taken over at once.
fn a_lock_left_by_a_killed_berth_on_this_host_is_taken_over(env: &Env) {
    let ns = env.namespace();
    let app = env.app();
    let common = ["-n", &ns, "--name", "app", "--no-wait"];
    assert!(env
        .berth(&[&["apply", s(app.path())][..], &common].concat())
        .status
        .success());
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let pid = gone.id();
    gone.wait().unwrap();
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let holder = format!("{user}@{} (pid {pid})", host.trim());
    env.hold_lock(&ns, "app", &holder);
    let started = std::time::Instant::now();
    let out = env.berth(
        &[
            &[
                "apply",
                s(app.path()),
                "-v",
                "greeting=again",
                "--lock-timeout",
                "20s",
            ][..],
            &common,
        ]
        .concat(),
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("took over the lock of {holder}")),
        "{}",
        text(&out)
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "at once, not after the lease"
    );
    assert_eq!(
        env.configmap(&ns, "settings").unwrap().data.unwrap()["greeting"],
        "again"
    );
}

/// `berth dashboard --context` over the example applied to the real cluster, in Debian's
/// headless Chromium (tests/browser/cluster.mjs).
#[test]
#[ignore = "needs a real cluster (BERTH_E2E_KUBECONFIG) and chromium with playwright-core (./scripts/test.sh)"]
fn the_cluster_dashboard_works_in_chromium_e2e() {
    let env = Env::real();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let modules = repo.join("tests/browser/node_modules/playwright-core");
    assert!(
        modules.exists(),
        "needs {}: run ./scripts/test.sh",
        modules.display()
    );
    let ns = env.namespace();
    let dir = example();
    let common = ["-n", &ns, "--name", "ticketing"];
    let out = env.berth(&[&["apply", s(&dir), "--timeout", "120s"][..], &common].concat());
    assert!(out.status.success(), "{}", text(&out));
    let (mut child, addr) = spawn_with_dashboard(
        &env,
        &[
            &[
                "dashboard",
                s(&dir),
                "--context",
                context(&env),
                "--listen",
                "127.0.0.1:0",
            ][..],
            &common,
        ]
        .concat(),
    );
    let shots = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("node")
        .arg(repo.join("tests/browser/cluster.mjs"))
        .arg(format!("http://{addr}/"))
        .arg(shots.path())
        .output()
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    eprintln!("{}", text(&out));
    assert!(out.status.success(), "{}", text(&out));
    shots::check_and_keep(
        &repo,
        shots.path(),
        &[
            "cluster-main.png",
            "cluster-detail.png",
            "cluster-preview.png",
        ],
    );
}

/// A version the cluster's release (1.28) deprecates is planned, with a warning naming the
/// release that removes it and the replacement (also in `-o json`).
fn a_deprecated_api_version_is_a_warning_of_the_plan(env: &Env) {
    let ns = env.namespace();
    let app = app_with(
        env,
        "flow.yaml",
        "apiVersion: flowcontrol.apiserver.k8s.io/v1beta2\nkind: FlowSchema\nmetadata:\n  name: berth-test-flow\nspec:\n  priorityLevelConfiguration: {name: global-default}\n  matchingPrecedence: 9000\n  rules: []\n",
    );
    let common = ["-n", &ns, "--name", "app"];
    let out = env.berth(&[&["plan", s(app.path())][..], &common].concat());
    assert!(out.status.success(), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("warning: flowcontrol.apiserver.k8s.io/v1beta2 FlowSchema at flow.yaml:1 is deprecated since Kubernetes 1.26 and removed in 1.29: use apiVersion: flowcontrol.apiserver.k8s.io/v1"),
        "{t}"
    );
    let out = env.berth(&[&["plan", s(app.path()), "-o", "json"][..], &common].concat());
    let plan: Json = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["warnings"].as_array().map(Vec::len), Some(1), "{plan}");
}

/// A chart with `crds/` and hooks on the real control plane (Jobs complete there): the CRD is
/// created first and never upgraded or owned; pre-install hooks run before the objects, in
/// weight order, post-install ones after, `hook-succeeded` ones are deleted, test hooks never
/// run; an upgrade runs the pre-upgrade hooks (recreated: `before-hook-creation`); a failing
/// hook Job fails the apply, names the hook and the Job's reason, and leaves the objects as
/// they were.
fn chart_hooks_run_around_the_apply_and_crds_are_installed_once(env: &Env) {
    let ns = env.namespace();
    let group = format!("{ns}.example.com");
    let crd = format!("widgets.{group}");
    let chart = tempfile::tempdir().unwrap();
    let c = chart.path();
    for d in ["templates/tests", "crds"] {
        std::fs::create_dir_all(c.join(d)).unwrap();
    }
    std::fs::write(
        c.join("Chart.yaml"),
        "apiVersion: v2\nname: hooked\nversion: 0.1.0\n",
    )
    .unwrap();
    std::fs::write(c.join("values.yaml"), "version: 1\nfailing: false\n").unwrap();
    let crd_yaml = |extra: &str| {
        format!(
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: {crd}\nspec:\n  group: {group}\n  scope: Namespaced\n  names: {{plural: widgets, singular: widget, kind: Widget{extra}}}\n  versions:\n    - name: v1\n      served: true\n      storage: true\n      schema: {{openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}}}\n"
        )
    };
    std::fs::write(c.join("crds/widgets.yaml"), crd_yaml("")).unwrap();
    let job = |name: &str, hook: &str, extra: &str, image: &str| {
        format!(
            "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {name}\n  annotations:\n    helm.sh/hook: {hook}\n{extra}spec:\n  backoffLimit: 0\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{{name: run, image: {image}}}]\n"
        )
    };
    let files = [
        ("templates/widget.yaml", format!("apiVersion: {group}/v1\nkind: Widget\nmetadata: {{name: w1}}\nspec: {{size: 3}}\n")),
        ("templates/app.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app}\ndata: {version: \"{{ .Values.version }}\"}\n".to_string()),
        ("templates/pre.yaml", job("pre", "pre-install,pre-upgrade", "    helm.sh/hook-weight: \"-1\"\n", "busybox")),
        ("templates/post.yaml", job("post", "post-install", "    helm.sh/hook-delete-policy: hook-succeeded\n", "busybox")),
        ("templates/upgrade-cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: upgraded\n  annotations: {helm.sh/hook: pre-upgrade}\ndata: {at: \"{{ .Values.version }}\"}\n".to_string()),
        ("templates/cleanup.yaml", job("cleanup", "pre-delete", "", "busybox")),
        ("templates/bad.yaml", format!("{{{{- if .Values.failing }}}}\n{}{{{{- end }}}}\n", job("bad", "pre-upgrade", "", "crash"))),
        ("templates/tests/t.yaml", job("smoke", "test", "", "busybox")),
    ];
    for (f, text) in &files {
        std::fs::write(c.join(f), text).unwrap();
    }
    let common = [
        "-n",
        &ns,
        "--name",
        "hooked",
        "--release",
        "h",
        "--timeout",
        "60s",
    ];
    let apply = |more: &[&str]| env.berth(&[&["apply", s(c)][..], &common, more].concat());

    // Install.
    let out = apply(&[]);
    assert!(out.status.success(), "{}", text(&out));
    let said = text(&out);
    let (pre, post) = (
        said.find("pre-install hook Job/pre")
            .unwrap_or_else(|| panic!("{said}")),
        said.find("post-install hook Job/post").unwrap(),
    );
    assert!(pre < post, "{said}");
    let crd_obj = env
        .get(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            "",
            &crd,
        )
        .expect("the CRD is installed");
    assert!(
        crd_obj["metadata"]["labels"]
            .get("applyset.kubernetes.io/part-of")
            .is_none(),
        "a crds/ CRD is not a member of the set"
    );
    assert!(
        crd_obj["metadata"]["annotations"]
            .get("berth.dev/crds-folder")
            .is_none(),
        "berth's marker stays out of the cluster"
    );
    assert!(
        env.get(&format!("{group}/v1"), "Widget", &ns, "w1")
            .is_some(),
        "the custom resource is applied after its CRD"
    );
    let pre_job = env
        .get("batch/v1", "Job", &ns, "pre")
        .expect("the pre-install Job stays (before-hook-creation)");
    assert!(
        pre_job["metadata"]["labels"]
            .get("applyset.kubernetes.io/part-of")
            .is_none(),
        "hooks are not members"
    );
    assert!(
        env.get("batch/v1", "Job", &ns, "post").is_none(),
        "hook-succeeded deletes the hook"
    );
    assert!(
        env.get("v1", "ConfigMap", &ns, "upgraded").is_none(),
        "no pre-upgrade hook on install"
    );
    assert!(
        env.get("batch/v1", "Job", &ns, "smoke").is_none(),
        "test hooks do not run on apply"
    );
    // `berth test` runs them, as `helm test`.
    let out = env.berth(&["test", "-n", &ns, "--name", "hooked", "--timeout", "60s"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("1 tests passed: Job/smoke"),
        "{}",
        text(&out)
    );
    assert_eq!(
        env.get("batch/v1", "Job", &ns, "smoke").unwrap()["status"]["succeeded"],
        1
    );

    // Upgrade, with the CRD edited in crds/: the cluster's CRD stays as it was.
    std::fs::write(c.join("crds/widgets.yaml"), crd_yaml(", shortNames: [wd]")).unwrap();
    let out = apply(&["--set", "version=2"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("pre-upgrade hook Job/pre"),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains("post-install hook"), "{}", text(&out));
    let again = env.get("batch/v1", "Job", &ns, "pre").unwrap();
    assert_ne!(
        again["metadata"]["uid"], pre_job["metadata"]["uid"],
        "recreated before the upgrade's run"
    );
    assert_eq!(
        env.configmap(&ns, "upgraded").unwrap().data.unwrap()["at"],
        "2"
    );
    let crd_obj = env
        .get(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            "",
            &crd,
        )
        .unwrap();
    assert!(
        crd_obj["spec"]["names"].get("shortNames").is_none(),
        "crds/ are never upgraded: {crd_obj}"
    );
    assert!(text(&out).contains("left as it is"), "{}", text(&out));

    // A failing pre-upgrade hook: the apply fails and changes nothing else.
    let out = apply(&["--set", "version=3", "--set", "failing=true"]);
    assert!(!out.status.success(), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains("pre-upgrade hook Job/bad") && said.contains("BackoffLimitExceeded"),
        "{said}"
    );
    assert_eq!(
        env.configmap(&ns, "app").unwrap().data.unwrap()["version"],
        "2",
        "objects unchanged"
    );
    // The CRD is cluster-wide: remove it (berth never does).
    let _ = env.rt.block_on(
        env.dynamic("apiextensions.k8s.io/v1", "CustomResourceDefinition", "")
            .delete(&crd, &Default::default()),
    );
}

/// `helm install` (helm 4, server-side or client-side) of a chart whose values set fields the
/// server stores as absent (`hostNetwork: false`, `{}` annotations, `""`), then `berth apply` of
/// the same chart: the fields Helm's manager owned become berth's in the same step, with no
/// conflict, no recreation and no lost field; a field another manager owns stays its own and
/// the plan says so; a field berth sets that another manager owns is still a conflict.
fn a_helm_release_with_falsy_values_is_adopted_without_conflict(env: &Env, server_side: bool) {
    let ns = env.namespace();
    let chart = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/helm-falsy");
    let helm = std::env::var("BERTH_HELM").expect("BERTH_HELM: ./scripts/test.sh sets it");
    let out = std::process::Command::new(helm)
        .args(["install", "fz", s(&chart), "-n", &ns, "--create-namespace"])
        .arg(format!("--server-side={server_side}"))
        .env("KUBECONFIG", &env.kubeconfig)
        .output()
        .unwrap();
    assert!(out.status.success(), "helm install: {}", text(&out));
    let deployment = || env.deployment(&ns, "fz-falsy").unwrap();
    let uid = deployment()["metadata"]["uid"].clone();
    let managers = |o: &Json| -> Vec<String> {
        (o["metadata"]["managedFields"].as_array().unwrap().iter())
            .map(|e| e["manager"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(managers(&deployment()).contains(&"helm".to_string()));
    // Another manager owns an annotation berth does not set.
    env.apply_as(
        "autoscaler",
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "fz-falsy", "namespace": ns,
                            "annotations": {"example.com/scaled-by": "autoscaler"}}}),
    );

    let common = ["-n", &ns, "--name", "falsy", "--release", "fz"];
    let out = env.berth(&[&["plan", s(&chart)][..], &common].concat());
    assert!(out.status.success(), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains("fields Helm's field manager owns on them become berth's"),
        "{said}"
    );
    assert!(
        said.contains("Deployment/fz-falsy: fields owned by autoscaler stay theirs"),
        "{said}"
    );
    let out = env.berth(&[&["apply", s(&chart), "--no-wait"][..], &common].concat());
    assert!(
        out.status.success(),
        "server-side {server_side}: {}",
        text(&out)
    );

    let d = deployment();
    assert_eq!(d["metadata"]["uid"], uid, "updated in place");
    let helm_left: Vec<_> = (d["metadata"]["managedFields"].as_array().unwrap().iter())
        .filter(|e| e["manager"] == "helm")
        .map(|e| e["fieldsV1"].clone())
        .collect();
    assert_eq!(
        helm_left,
        [json!({"f:metadata": {
            "f:annotations": {"f:meta.helm.sh/release-name": {}, "f:meta.helm.sh/release-namespace": {}},
            "f:labels": {"f:app.kubernetes.io/managed-by": {}}}})],
        "Helm keeps only its marks: {d}"
    );
    let labels = &d["metadata"]["labels"];
    assert_eq!(labels["app.kubernetes.io/managed-by"], "Helm", "{d}");
    assert_eq!(labels["app"], "fz-falsy", "{d}");
    let annotations = &d["metadata"]["annotations"];
    assert_eq!(annotations["meta.helm.sh/release-name"], "fz", "{d}");
    assert_eq!(annotations["example.com/scaled-by"], "autoscaler", "{d}");
    let spec = &d["spec"]["template"]["spec"];
    assert_eq!(spec["automountServiceAccountToken"], false, "{d}");
    assert_eq!(spec["terminationGracePeriodSeconds"], 0, "{d}");
    assert_eq!(
        spec["containers"][0]["env"][0],
        json!({"name": "EXTRA"}),
        "\"\" is stored as absent"
    );
    let out = env.berth(&[&["plan", s(&chart), "--detailed-exitcode"][..], &common].concat());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // A field berth sets that another manager took is a conflict that names it.
    env.apply_as(
        "hpa",
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "fz-falsy", "namespace": ns}, "spec": {"replicas": 3}}),
    );
    let out = env.berth(
        &[
            &["apply", s(&chart), "--no-wait", "--set", "extraEnv=x"][..],
            &common,
        ]
        .concat(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("with \"hpa\""), "{}", text(&out));
    assert_eq!(
        deployment()["spec"]["template"]["spec"]["containers"][0]["env"][0],
        json!({"name": "EXTRA"}),
        "nothing applied"
    );
}

/// `helm install` of the example chart, then `berth apply` of the same chart and release: every
/// object joins berth's set in place (same uids, no new ReplicaSet, so no pod restarts), berth
/// says what it adopted and what that means for Helm, the release records it, and the next plan
/// is clean.
fn a_helm_release_is_adopted_in_place(env: &Env) {
    let ns = env.namespace();
    let chart = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/guestbook");
    let helm = std::env::var("BERTH_HELM").expect("BERTH_HELM: ./scripts/test.sh sets it");
    let out = std::process::Command::new(helm)
        .args([
            "install",
            "gb",
            s(&chart),
            "-n",
            &ns,
            "--create-namespace",
            "--wait",
            "--timeout",
            "60s",
        ])
        .env("KUBECONFIG", &env.kubeconfig)
        .output()
        .unwrap();
    assert!(out.status.success(), "helm install: {}", text(&out));
    let uid = |kind: &str, name: &str| {
        let api_version = if kind == "Deployment" {
            "apps/v1"
        } else {
            "v1"
        };
        env.get(api_version, kind, &ns, name).unwrap()["metadata"]["uid"].clone()
    };
    let before = [
        uid("Deployment", "api"),
        uid("Deployment", "web"),
        uid("Service", "api"),
    ];
    let replica_sets = env.names("apps/v1", "ReplicaSet", &ns);
    let pods = env.names("v1", "Pod", &ns);

    let common = ["-n", &ns, "--name", "guestbook", "--release", "gb"];
    let out = env.berth(&[&["apply", s(&chart), "--timeout", "60s"][..], &common].concat());
    assert!(out.status.success(), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains("adopting 6 live objects of Helm release gb"),
        "{said}"
    );
    assert!(
        said.contains("helm uninstall gb"),
        "the user learns what Helm still thinks: {said}"
    );
    let after = [
        uid("Deployment", "api"),
        uid("Deployment", "web"),
        uid("Service", "api"),
    ];
    assert_eq!(before, after, "nothing deleted or recreated");
    assert_eq!(
        env.names("apps/v1", "ReplicaSet", &ns),
        replica_sets,
        "no rollout: pods not restarted"
    );
    assert_eq!(env.names("v1", "Pod", &ns), pods, "the same pods run");
    let api = env.deployment(&ns, "api").unwrap();
    assert!(
        api["metadata"]["labels"]
            .get("applyset.kubernetes.io/part-of")
            .is_some(),
        "{api}"
    );
    assert_eq!(
        api["metadata"]["labels"]["app.kubernetes.io/managed-by"], "Helm",
        "Helm's labels stay"
    );

    let out = env.berth(&["history", "-n", &ns, "--name", "guestbook", "-o", "json"]);
    assert!(out.status.success(), "{}", text(&out));
    let history: Json = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        history[0]["adopted"],
        json!({"namespace": ns, "name": "gb"}),
        "{history}"
    );
    // The text history starts with what Helm recorded, read from its own Secrets.
    let out = env.berth(&["history", "-n", &ns, "--name", "guestbook"]);
    let said = text(&out);
    assert!(
        said.contains("Helm release gb") && said.contains("guestbook-0.1.0"),
        "{said}"
    );
    assert!(
        said.contains("Install complete"),
        "Helm's description of its revision 1: {said}"
    );
    assert!(said.contains("(adopted Helm release"), "{said}");
    let out = env.berth(&[&["plan", s(&chart), "--detailed-exitcode"][..], &common].concat());
    assert_eq!(
        out.status.code(),
        Some(0),
        "no changes after the adoption:\n{}",
        text(&out)
    );
}

/// On a cluster, a chart renders as `helm install` renders it: `.Capabilities` from the server
/// (its version, the APIs it serves) and `lookup` reading live objects; `berth render` stays
/// offline.
fn a_chart_sees_the_cluster_as_helm_install_shows_it(env: &Env) {
    let ns = env.namespace();
    let chart = tempfile::tempdir().unwrap();
    let c = chart.path();
    std::fs::create_dir(c.join("templates")).unwrap();
    std::fs::write(
        c.join("Chart.yaml"),
        "apiVersion: v2\nname: seer\nversion: 0.1.0\n",
    )
    .unwrap();
    std::fs::write(
        c.join("templates/seen.yaml"),
        r#"apiVersion: v1
kind: ConfigMap
metadata: {name: seen}
data:
  kube: {{ .Capabilities.KubeVersion.Version | quote }}
  dra: {{ .Capabilities.APIVersions.Has "resource.k8s.io/v1" | quote }}
  apps: {{ .Capabilities.APIVersions.Has "apps/v1/Deployment" | quote }}
  found: {{ dig "metadata" "name" "none" (lookup "v1" "ConfigMap" .Release.Namespace "preset") | quote }}
  missing: {{ lookup "v1" "ConfigMap" .Release.Namespace "absent" | len | quote }}
  listed: {{ dig "items" list (lookup "v1" "ConfigMap" .Release.Namespace "") | len | lt 0 | quote }}
"#,
    )
    .unwrap();
    env.create_configmap(&ns, "preset");
    let common = ["-n", &ns, "--name", "seer", "--release", "s"];
    let out = env.berth(&[&["apply", s(c), "--no-wait"][..], &common].concat());
    assert!(out.status.success(), "{}", text(&out));
    let data = env.configmap(&ns, "seen").unwrap().data.unwrap();
    assert_eq!(data["kube"], "v1.28.7", "{data:?}");
    assert_eq!(
        data["dra"], "false",
        "an API the server does not serve: {data:?}"
    );
    assert_eq!(data["apps"], "true", "{data:?}");
    assert_eq!(
        data["found"], "preset",
        "lookup reads live objects: {data:?}"
    );
    assert_eq!(data["missing"], "0", "{data:?}");
    assert_eq!(data["listed"], "true", "{data:?}");
    let out = env.berth(&[&["plan", s(c), "--detailed-exitcode"][..], &common].concat());
    assert_eq!(
        out.status.code(),
        Some(0),
        "the plan renders the same way:\n{}",
        text(&out)
    );
    let out = env.berth(&["render", s(c), "-n", &ns, "--release", "s"]);
    assert!(out.status.success(), "{}", text(&out));
    let offline = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        offline.contains("kube: \"v1.37.0\"") && offline.contains("found: \"none\""),
        "render stays offline: {offline}"
    );
}

/// `berth delete` removes every member, the parent and the release history, and nothing else:
/// an object another tool made stays, and so does the namespace; a second delete says there is
/// no such set; `--dry-run` changes nothing.
fn delete_removes_the_set_and_nothing_else(env: &Env) {
    let ns = env.namespace();
    let app = env.app();
    env.apply_no_wait(app.path(), &ns);
    env.create_configmap(&ns, "not-ours");
    let members = env.names("v1", "ConfigMap", &ns);
    assert!(members.len() > 1, "{members:?}");
    let out = env.berth(&["delete", "-n", &ns, "--name", "app", "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("to delete"), "{}", text(&out));
    assert_eq!(
        env.names("v1", "ConfigMap", &ns),
        members,
        "a dry run deletes nothing"
    );
    let out = env.berth(&["delete", "-n", &ns, "--name", "app"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("deleted deploy set app"),
        "{}",
        text(&out)
    );
    let left: Vec<String> = env
        .names("v1", "ConfigMap", &ns)
        .into_iter()
        .filter(|n| n != "kube-root-ca.crt")
        .collect();
    assert_eq!(left, ["not-ours"], "only what berth did not apply stays");
    assert!(env.names("apps/v1", "Deployment", &ns).is_empty());
    let secrets = env.names("v1", "Secret", &ns);
    assert!(
        !secrets.iter().any(|s| s.starts_with("berth-")),
        "the parent and the releases are gone: {secrets:?}"
    );
    let out = env.berth(&["delete", "-n", &ns, "--name", "app"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("does not exist"), "{}", text(&out));
}
