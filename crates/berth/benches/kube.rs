//! Benchmark of the Kubernetes backend (not a test): plan and apply of 300 generated objects
//! (100 Deployments, 100 Services, 100 ConfigMaps), first apply and no-op re-apply, timed and with
//! API requests counted on the fake API server, side by side with
//! `kubectl apply --server-side --prune --applyset` and `kubectl diff --server-side` on the same set.
//! With `BERTH_E2E_KUBECONFIG`, the same runs go against that real cluster too (times only).
//!
//! Run: `BERTH_KUBECTL=.tools/helm/kubectl cargo bench -p berth --bench kube`
//! (`./scripts/test.sh` installs kubectl there; without it, only berth is measured).

use berth_fakekube::FakeKube;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const SERVICES: usize = 100;
const ROUNDS: usize = 5;

/// Writes the deploy folder (templates) and the same objects rendered, for kubectl.
fn generate(dir: &Path) -> PathBuf {
    let folder = dir.join("bench");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(
        folder.join("variables.yaml"),
        "image: registry.k8s.io/pause:3.9\n",
    )
    .unwrap();
    for i in 0..SERVICES {
        let text = format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: svc{i}\n  labels:\n    app: svc{i}\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: svc{i}\n  template:\n    metadata:\n      labels:\n        app: svc{i}\n    spec:\n      containers:\n        - name: main\n          image: {{{{ .Variables.image }}}}\n          ports:\n            - containerPort: 8080\n          envFrom:\n            - configMapRef:\n                name: svc{i}\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: svc{i}\nspec:\n  selector:\n    app: svc{i}\n  ports:\n    - port: 80\n      targetPort: 8080\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: svc{i}\ndata:\n  NAME: svc{i}\n  LEVEL: info\n"
        );
        std::fs::write(folder.join(format!("svc{i:03}.yaml")), text).unwrap();
    }
    let rendered = dir.join("rendered");
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args([
            "render",
            folder.to_str().unwrap(),
            "--output-dir",
            rendered.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let _ = std::fs::remove_file(rendered.join(".berth-rendered"));
    folder
}

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

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let tmp = tempfile::tempdir().unwrap();
    let folder = generate(tmp.path());
    let rendered = tmp.path().join("rendered");
    let berth = env!("CARGO_BIN_EXE_berth");
    let kubectl = std::env::var("BERTH_KUBECTL")
        .ok()
        .filter(|k| Path::new(k).exists());

    let mut targets = Vec::new();
    let fake = FakeKube::start();
    let kc = tmp.path().join("fake-kubeconfig");
    std::fs::write(&kc, fake.kubeconfig("t")).unwrap();
    targets.push(Target {
        name: "fake API server",
        kubeconfig: kc,
        fake: Some(fake),
    });
    if let Some(real) = std::env::var_os("BERTH_E2E_KUBECONFIG") {
        targets.push(Target {
            name: "real cluster",
            kubeconfig: PathBuf::from(real),
            fake: None,
        });
    }

    println!("{} objects ({SERVICES} Deployments, {SERVICES} Services, {SERVICES} ConfigMaps), {ROUNDS} rounds, medians", SERVICES * 3);
    for t in &targets {
        println!("\n== {} ==", t.name);
        let mut rows: Vec<(String, Vec<Sample>)> = Vec::new();
        let mut push = |name: &str, s: Sample| match rows.iter_mut().find(|r| r.0 == name) {
            Some(r) => r.1.push(s),
            None => rows.push((name.to_string(), vec![s])),
        };
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
                run(
                    t,
                    berth,
                    &[bargs("apply"), vec!["--timeout", "5m"]].concat(),
                ),
            );
            push("berth apply (no-op)", run(t, berth, &bargs("apply")));
            push("berth plan (no-op)", run(t, berth, &bargs("plan")));
            if let Some(k) = &kubectl {
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
                push("kubectl apply (first)", run(t, k, &apply));
                push("kubectl apply (no-op)", run(t, k, &apply));
                let diff = ["diff", "--server-side", "-n", &ns_k, "-f", r];
                push("kubectl diff (no-op)", run(t, k, &diff));
            }
        }
        println!(
            "{:<24} {:>10} {:>10} {:>8}",
            "", "time", "requests", "writes"
        );
        for (name, samples) in &rows {
            let time = median(samples.iter().map(|s| s.time).collect());
            let req = samples[0].requests;
            let writes = samples[0].writes;
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
        for (b, k) in [
            ("berth apply (first)", "kubectl apply (first)"),
            ("berth apply (no-op)", "kubectl apply (no-op)"),
            ("berth plan (no-op)", "kubectl diff (no-op)"),
        ] {
            if let (Some(b_t), Some(k_t)) = (get(b), get(k)) {
                println!("{k} / {b}: {:.2}x", k_t.as_secs_f64() / b_t.as_secs_f64());
            }
        }
    }
}
