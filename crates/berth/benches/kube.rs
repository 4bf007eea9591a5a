//! Benchmark of the Kubernetes backend (not a test): 400 generated objects (ConfigMaps, Services
//! and Deployments in equal parts), side by side with kubectl 1.28's
//! `apply --server-side --prune --applyset` and `diff --server-side` on the same objects, in one
//! run: first apply, no-op apply, plan of unchanged objects. On the fake API server (with request
//! and write counts) and on the real Kubernetes v1.28 control plane: `BERTH_E2E_KUBECONFIG`, or
//! the one in `../shared/kube`, started into `.tools/kube`. On the latter, also the time from an
//! API server restart (SIGKILL midway through an apply) to the apply finishing.
//!
//! Run: `BERTH_KUBECTL=.tools/helm/kubectl cargo bench -p berth --bench kube`
//! (`./scripts/test.sh` installs kubectl there; without it, only berth is measured).

#[path = "../tests/support/mod.rs"]
mod support;

use berth_fakekube::FakeKube;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use support::{big_folder, ControlPlane};

const OBJECTS: usize = 400;
const ROUNDS: usize = 5;

struct Target {
    name: &'static str,
    kubeconfig: PathBuf,
    fake: Option<FakeKube>,
}

struct Sample {
    time: Duration,
    requests: u64,
    writes: u64,
}

fn run(t: &Target, program: &str, args: &[&str]) -> Sample {
    if let Some(f) = &t.fake {
        f.reset_requests();
    }
    let start = Instant::now();
    let out = Command::new(program)
        .args(args)
        .env("KUBECONFIG", &t.kubeconfig)
        .env("KUBECTL_APPLYSET", "true")
        .output()
        .unwrap();
    let time = start.elapsed();
    // kubectl diff exits 1 when there are differences.
    let ok =
        out.status.success() || (args.first() == Some(&"diff") && out.status.code() == Some(1));
    assert!(
        ok,
        "{program} {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (requests, writes) = match &t.fake {
        Some(f) => {
            let r = f.requests();
            let all = r.values().sum();
            let writes = r
                .iter()
                .filter(|(k, _)| !k.starts_with("GET") && !k.contains("dryRun"))
                .map(|(_, v)| v)
                .sum();
            (all, writes)
        }
        None => (0, 0),
    };
    Sample {
        time,
        requests,
        writes,
    }
}

fn create_namespace(t: &Target, ns: &str) {
    match &t.fake {
        Some(f) => f.apply_as(
            "bench",
            serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        ),
        None => {
            let kubectl = std::env::var("BERTH_KUBECTL").unwrap_or_else(|_| "kubectl".into());
            let _ = Command::new(kubectl)
                .args(["create", "namespace", ns])
                .env("KUBECONFIG", &t.kubeconfig)
                .output();
        }
    }
}

fn delete_namespace(t: &Target, ns: &str) {
    if t.fake.is_none() {
        let kubectl = std::env::var("BERTH_KUBECTL").unwrap_or_else(|_| "kubectl".into());
        let _ = Command::new(kubectl)
            .args(["delete", "namespace", ns, "--wait=false"])
            .env("KUBECONFIG", &t.kubeconfig)
            .output();
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// The real control plane: the caller's, or ../shared/kube started into .tools/kube.
fn real_cluster() -> Option<(PathBuf, Option<ControlPlane>)> {
    if let Some(kc) = std::env::var_os("BERTH_E2E_KUBECONFIG") {
        let cp = std::env::var_os("BERTH_E2E_KUBE_STATE").map(|_| ControlPlane::from_env());
        return Some((PathBuf::from(kc), cp));
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let scripts = root.join("../shared/kube");
    if !scripts.join("start.sh").exists() {
        return None;
    }
    let cp = ControlPlane {
        state: root.join(".tools/kube"),
        scripts,
    };
    cp.start();
    Some((cp.state.join("kubeconfig"), Some(cp)))
}

/// Renders the folder into plain manifests for kubectl.
fn render_for_kubectl(folder: &Path, out: &Path) {
    let rendered = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args([
            "render",
            folder.to_str().unwrap(),
            "--output-dir",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(rendered.status.success());
    let _ = std::fs::remove_file(out.join(".berth-rendered"));
}

fn measure(t: &Target, folder: &Path, rendered: &Path, kubectl: Option<&String>) {
    let berth = env!("CARGO_BIN_EXE_berth");
    println!("\n== {} ==", t.name);
    let mut rows: Vec<(String, Vec<Sample>)> = Vec::new();
    let mut push = |name: &str, s: Sample| match rows.iter_mut().find(|r| r.0 == name) {
        Some(r) => r.1.push(s),
        None => rows.push((name.to_string(), vec![s])),
    };
    let mut namespaces = Vec::new();
    for round in 0..ROUNDS {
        let ns_b = format!("bench-berth-{}-{round}", std::process::id());
        let ns_k = format!("bench-kubectl-{}-{round}", std::process::id());
        create_namespace(t, &ns_b);
        create_namespace(t, &ns_k);
        let f = folder.to_str().unwrap();
        let bargs = |cmd: &'static str| vec![cmd, f, "-n", &ns_b, "--name", "bench"];
        push("berth plan (empty)", run(t, berth, &bargs("plan")));
        push(
            "berth apply (first)",
            run(t, berth, &[bargs("apply"), vec!["--no-wait"]].concat()),
        );
        push(
            "berth apply (no-op)",
            run(t, berth, &[bargs("apply"), vec!["--no-wait"]].concat()),
        );
        push("berth plan (no-op)", run(t, berth, &bargs("plan")));
        if let Some(k) = kubectl {
            let r = rendered.to_str().unwrap();
            let apply = [
                "apply",
                "--server-side",
                "--validate=false",
                "--prune",
                "--applyset=kubectl-bench",
                "-n",
                &ns_k,
                "-f",
                r,
            ];
            let diff = ["diff", "--server-side", "-n", &ns_k, "-f", r];
            // As berth's first apply follows its plan, kubectl's follows its diff: both tools
            // meet an API server (and caches) the same read warmed.
            push("kubectl diff (empty)", run(t, k, &diff));
            push("kubectl apply (first)", run(t, k, &apply));
            push("kubectl apply (no-op)", run(t, k, &apply));
            push("kubectl diff (no-op)", run(t, k, &diff));
        }
        namespaces.push(ns_b);
        namespaces.push(ns_k);
    }
    // Deleted at the end: garbage collection of a round must not slow the next one down.
    for ns in &namespaces {
        delete_namespace(t, ns);
    }
    println!(
        "{:<24} {:>10} {:>10} {:>8}",
        "", "time", "requests", "writes"
    );
    for (name, samples) in &rows {
        let time = median(samples.iter().map(|s| s.time).collect());
        let (req, writes) = match t.fake {
            Some(_) => (
                samples[0].requests.to_string(),
                samples[0].writes.to_string(),
            ),
            None => ("-".into(), "-".into()),
        };
        println!(
            "{name:<24} {:>8.1}ms {req:>10} {writes:>8}",
            time.as_secs_f64() * 1000.0
        );
    }
    let get = |n: &str| {
        rows.iter()
            .find(|r| r.0 == n)
            .map(|r| median(r.1.iter().map(|s| s.time).collect()))
    };
    for (b, k, target) in [
        ("berth apply (first)", "kubectl apply (first)", 5.0),
        ("berth apply (no-op)", "kubectl apply (no-op)", 10.0),
        ("berth plan (no-op)", "kubectl diff (no-op)", 1.0),
    ] {
        if let (Some(b_t), Some(k_t)) = (get(b), get(k)) {
            let ratio = k_t.as_secs_f64() / b_t.as_secs_f64();
            println!("{k} / {b}: {ratio:.2}x (target {target}x)");
        }
    }
    if let Some(p) = get("berth plan (no-op)") {
        println!(
            "berth plan of {OBJECTS} unchanged objects: {:.0} ms (target under 1000 ms)",
            p.as_secs_f64() * 1000.0
        );
    }
}

/// Kills the API server midway through a first apply and starts it again: how long after the
/// server is back the apply finishes.
fn restart_to_resume(kubeconfig: &Path, cp: &ControlPlane, folder: &Path) {
    let ns = format!("bench-restart-{}", std::process::id());
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .env("KUBECONFIG", kubeconfig)
        .args([
            "apply",
            folder.to_str().unwrap(),
            "-n",
            &ns,
            "--name",
            "bench",
            "--no-wait",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Midway: once the first objects are written.
    let env = support::Env::with(kubeconfig.to_path_buf(), None, tempfile::tempdir().unwrap());
    let deadline = Instant::now() + Duration::from_secs(60);
    while env.names("v1", "ConfigMap", &ns).len() < 20 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let midway = child.try_wait().unwrap().is_none();
    cp.kill_apiserver();
    let killed = Instant::now();
    std::thread::sleep(Duration::from_secs(2));
    cp.start();
    let back = Instant::now();
    let status = child.wait().unwrap();
    let done = Instant::now();
    // start.sh polls readiness coarsely: berth's retries may get through before it notices.
    let after = done.saturating_duration_since(back);
    println!(
        "\nAPI server restart during an apply of {OBJECTS} objects (SIGKILL {}): server down {:.1}s (until start.sh saw it ready); the apply {} {:.0}ms after that ({:.1}s after the kill)",
        if midway { "midway through the writes" } else { "after the apply ended" },
        (back - killed).as_secs_f64(),
        if status.success() { "finished" } else { "FAILED" },
        after.as_secs_f64() * 1000.0,
        (done - killed).as_secs_f64()
    );
    env.cleanup(&ns);
}

fn main() {
    let tmp = tempfile::tempdir().unwrap();
    let folder = big_folder(OBJECTS);
    let rendered = tmp.path().join("rendered");
    render_for_kubectl(folder.path(), &rendered);
    let kubectl = std::env::var("BERTH_KUBECTL")
        .ok()
        .filter(|k| Path::new(k).exists());
    println!("{OBJECTS} objects (ConfigMaps, Services, Deployments), {ROUNDS} rounds, medians; berth's applies with --no-wait (kubectl does not wait)");

    let fake = FakeKube::start();
    let kc = tmp.path().join("fake-kubeconfig");
    std::fs::write(&kc, fake.kubeconfig("t")).unwrap();
    let fake = Target {
        name: "fake API server",
        kubeconfig: kc,
        fake: Some(fake),
    };
    measure(&fake, folder.path(), &rendered, kubectl.as_ref());
    match real_cluster() {
        Some((kubeconfig, cp)) => {
            let real = Target { name: "real Kubernetes v1.28 control plane", kubeconfig: kubeconfig.clone(), fake: None };
            measure(&real, folder.path(), &rendered, kubectl.as_ref());
            if let Some(cp) = cp {
                restart_to_resume(&kubeconfig, &cp, folder.path());
            }
        }
        None => println!("\n(no real cluster: set BERTH_E2E_KUBECONFIG or put ../shared/kube beside the checkout)"),
    }
}
