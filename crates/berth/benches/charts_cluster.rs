//! Benchmark (not a test): charts to a real cluster, berth against helm in one run. For the
//! ingress-nginx and grafana charts of `../shared/charts` (their `args.txt` values), on the
//! Kubernetes v1.28 control plane: `helm upgrade --install --wait` against `berth apply` (which
//! waits too), each into its own namespace and release, then the same twice more (the second
//! is the no-op: the first may settle what the install rendered at random), and
//! `helm upgrade --install --dry-run=server` against `berth plan`. Per row: wall time, API
//! requests and writes (create, update, patch, delete).
//!
//! Requests are counted by the API server itself (`apiserver_request_total` before and after,
//! read with kubectl), leaving out what only the controllers and the fake kubelet do (pods,
//! ReplicaSets, events, endpoints, leases, status subresources), so both tools are counted
//! alike.
//!
//! Run: `BERTH_E2E_KUBECONFIG=.tools/kube/kubeconfig BERTH_HELM=.tools/helm/helm
//! BERTH_KUBECTL=.tools/helm/kubectl cargo bench -p berth --bench charts_cluster`
//! (the control plane from `../shared/kube/start.sh .tools/kube`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const CHARTS: &[&str] = &["ingress-nginx-default", "grafana-default"];

/// Resources only controllers and kubelets write: not counted for either tool.
const CONTROLLERS_ONLY: &[&str] = &[
    "pods",
    "replicasets",
    "events",
    "endpoints",
    "endpointslices",
    "leases",
    "controllerrevisions",
    "nodes",
    "tokenreviews",
    "subjectaccessreviews",
];

fn env_path(name: &str) -> PathBuf {
    PathBuf::from(std::env::var_os(name).unwrap_or_else(|| panic!("set {name} (see the header)")))
}

/// (all requests, writes) the API server has answered so far, tools' share only.
fn counters(kubectl: &Path, kubeconfig: &Path) -> (u64, u64) {
    let out = Command::new(kubectl)
        .args(["get", "--raw", "/metrics"])
        .env("KUBECONFIG", kubeconfig)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let (mut all, mut writes) = (0u64, 0u64);
    for line in text
        .lines()
        .filter(|l| l.starts_with("apiserver_request_total{"))
    {
        let (labels, value) = line.rsplit_once(' ').unwrap();
        let label = |k: &str| {
            labels
                .split(&format!("{k}=\"")[..])
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap_or("")
                .to_string()
        };
        // Leases: creates and deletes count (berth's lock is one of each per apply); updates are
        // the controllers' leader elections and the nodes' heartbeats, left out (with berth's
        // lock renewals, one per 10 s of a long apply).
        let lock_write =
            label("resource") == "leases" && matches!(label("verb").as_str(), "POST" | "DELETE");
        if (CONTROLLERS_ONLY.contains(&label("resource").as_str()) && !lock_write)
            || !label("subresource").is_empty()
        {
            continue;
        }
        let n: f64 = value.parse().unwrap_or(0.0);
        all += n as u64;
        if matches!(
            label("verb").as_str(),
            "POST" | "PUT" | "PATCH" | "APPLY" | "DELETE"
        ) && label("dry_run").is_empty()
        {
            writes += n as u64;
        }
    }
    (all, writes)
}

struct Sample {
    time: Duration,
    requests: u64,
    writes: u64,
}

struct Bench {
    kubeconfig: PathBuf,
    kubectl: PathBuf,
}

impl Bench {
    fn run(&self, program: &Path, args: &[String]) -> Sample {
        let before = counters(&self.kubectl, &self.kubeconfig);
        let start = Instant::now();
        let out = Command::new(program)
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .output()
            .unwrap();
        let time = start.elapsed();
        let after = counters(&self.kubectl, &self.kubeconfig);
        assert!(
            out.status.success() || out.status.code() == Some(2),
            "{} {args:?} failed:\n{}{}",
            program.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // The two metric reads are kubectl's own GETs: one of them falls inside the window.
        Sample {
            time,
            requests: (after.0 - before.0).saturating_sub(1),
            writes: after.1 - before.1,
        }
    }
}

/// The values flags of a corpus case's `helm template RELEASE chart ...` line.
fn values_args(case: &Path) -> Vec<String> {
    let line = std::fs::read_to_string(case.join("args.txt")).unwrap();
    let words: Vec<&str> = line.split_whitespace().collect();
    let mut out = Vec::new();
    let mut i = 4; // helm template RELEASE chart
    while i < words.len() {
        match words[i] {
            "-f" | "--values" => {
                out.push("-f".into());
                out.push(case.join(words[i + 1]).display().to_string());
                i += 2;
            }
            "--set" | "--set-string" => {
                out.extend([words[i].to_string(), words[i + 1].to_string()]);
                i += 2;
            }
            _ => i += 1, // -n and --kube-version: the cluster decides here
        }
    }
    out
}

fn main() {
    let bench = Bench {
        kubeconfig: env_path("BERTH_E2E_KUBECONFIG"),
        kubectl: env_path("BERTH_KUBECTL"),
    };
    let helm = env_path("BERTH_HELM");
    let berth = PathBuf::from(env!("CARGO_BIN_EXE_berth"));
    let corpus = std::env::var_os("BERTH_CHART_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/charts"));
    let tag = std::process::id();
    let mut rows: Vec<(String, &str, Sample)> = Vec::new();
    let mut namespaces = Vec::new();
    for case in CHARTS {
        let dir = corpus.join(case);
        let chart = dir.join("chart").display().to_string();
        let values = values_args(&dir);
        let (hns, bns) = (
            format!("bench-helm-{tag}-{case}"),
            format!("bench-berth-{tag}-{case}"),
        );
        namespaces.extend([hns.clone(), bns.clone()]);
        let helm_args = |dry: bool| -> Vec<String> {
            let mut a: Vec<String> = [
                "upgrade",
                "--install",
                "h",
                &chart,
                "-n",
                &hns,
                "--create-namespace",
                "--wait",
                "--timeout",
                "180s",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            if dry {
                a.retain(|x| x != "--wait");
                a.push("--dry-run=server".into());
            }
            a.extend(values.iter().cloned());
            a
        };
        let berth_args = |verb: &str| -> Vec<String> {
            let mut a: Vec<String> = vec![
                verb.into(),
                chart.clone(),
                "--release".into(),
                "b".into(),
                "-n".into(),
                bns.clone(),
                "--name".into(),
                "b".into(),
            ];
            if verb == "apply" {
                a.extend(["--timeout".into(), "180s".into()]);
            }
            a.extend(values.iter().cloned());
            a
        };
        let mut add = |what: &str, tool: &'static str, s: Sample| {
            rows.push((format!("{case}: {what}"), tool, s));
        };
        // One tool at a time: both charts make cluster-wide objects of fixed names
        // (IngressClass nginx), which the other tool's release would have to take over.
        // The first upgrade may change what the install rendered at random (grafana's admin
        // password is kept through `lookup` from then on): the no-op is the second.
        add("install", "helm", bench.run(&helm, &helm_args(false)));
        add("first upgrade", "helm", bench.run(&helm, &helm_args(false)));
        add("no-op upgrade", "helm", bench.run(&helm, &helm_args(false)));
        add("plan (dry-run)", "helm", bench.run(&helm, &helm_args(true)));
        let _ = Command::new(&helm)
            .args(["uninstall", "h", "-n", &hns, "--wait"])
            .env("KUBECONFIG", &bench.kubeconfig)
            .output();
        add("install", "berth", bench.run(&berth, &berth_args("apply")));
        add(
            "first upgrade",
            "berth",
            bench.run(&berth, &berth_args("apply")),
        );
        add(
            "no-op upgrade",
            "berth",
            bench.run(&berth, &berth_args("apply")),
        );
        add(
            "plan (dry-run)",
            "berth",
            bench.run(&berth, &berth_args("plan")),
        );
        let _ = Command::new(&bench.kubectl)
            .args([
                "delete",
                "clusterrole,clusterrolebinding,ingressclass,validatingwebhookconfiguration",
                "-l",
                "app.kubernetes.io/instance=b",
            ])
            .env("KUBECONFIG", &bench.kubeconfig)
            .output();
    }
    println!(
        "{:<40} {:>6} {:>10} {:>9} {:>7}",
        "", "tool", "time", "requests", "writes"
    );
    let mut by: BTreeMap<String, Vec<&Sample>> = BTreeMap::new();
    for (what, tool, s) in &rows {
        println!(
            "{what:<40} {tool:>6} {:>8.0}ms {:>9} {:>7}",
            s.time.as_secs_f64() * 1000.0,
            s.requests,
            s.writes
        );
        by.entry(what.clone()).or_default().push(s);
    }
    println!();
    for (what, s) in &by {
        if let [h, b] = s.as_slice() {
            // rows: helm first, then berth
            println!(
                "{what:<40} berth/helm time {:.2}, requests {}/{}, writes {}/{}",
                b.time.as_secs_f64() / h.time.as_secs_f64(),
                b.requests,
                h.requests,
                b.writes,
                h.writes
            );
        }
    }
    for ns in namespaces {
        let _ = Command::new(&bench.kubectl)
            .args(["delete", "namespace", &ns, "--wait=false"])
            .env("KUBECONFIG", &bench.kubeconfig)
            .output();
    }
}
