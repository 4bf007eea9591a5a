//! Benchmark: `berth render CHART` against `helm template` in one run, side by side, on every
//! chart of the corpus (`../shared/charts` or BERTH_CHART_CORPUS, and `charts-next` beside it)
//! and on a generated chart of
//! 100 services x 3 objects; both as processes, startup included; median wall time and peak
//! memory (max RSS) of each. Needs helm (BERTH_HELM; the README test command installs it).
//!
//!     BERTH_HELM=.tools/helm/helm cargo bench -p berth --bench charts

#[path = "../tests/chart_support/mod.rs"]
mod chart_support;
#[path = "support/measure.rs"]
mod measure;

use measure::measure;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

// Medians of 21 alternating runs: the machines this runs on have bursts of noise.
const RUNS: usize = 21;
const SERVICES: usize = 100;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

struct Row {
    name: String,
    berth: Duration,
    helm: Duration,
    /// Fastest runs: the ratio of these shows how much a median moved with the machine's noise.
    berth_min: Duration,
    helm_min: Duration,
    berth_rss: i64,
    helm_rss: i64,
}

fn bench(name: &str, dir: &Path, helm: &Path, berth: &Path, args: &[String]) -> Row {
    let helm_cmd = || {
        let mut c = Command::new(helm);
        c.current_dir(dir).arg("template").args(args);
        c
    };
    let berth_cmd = || {
        let mut c = Command::new(berth);
        c.current_dir(dir).arg("render").args(berth_args(args));
        c
    };
    let (mut bt, mut ht, mut brss, mut hrss) = (vec![], vec![], 0, 0);
    for _ in 0..RUNS {
        let (d, rss) = measure(&mut berth_cmd());
        bt.push(d);
        brss = brss.max(rss);
        let (d, rss) = measure(&mut helm_cmd());
        ht.push(d);
        hrss = hrss.max(rss);
    }
    Row {
        name: name.to_string(),
        berth_min: *bt.iter().min().unwrap(),
        helm_min: *ht.iter().min().unwrap(),
        berth: median(bt),
        helm: median(ht),
        berth_rss: brss,
        helm_rss: hrss,
    }
}

/// `RELEASE CHART rest...` as `CHART --release RELEASE rest...`.
fn berth_args(args: &[String]) -> Vec<String> {
    let mut v = vec![args[1].clone(), "--release".into(), args[0].clone()];
    v.extend(args[2..].iter().cloned());
    v
}

/// A chart of `SERVICES` services, each a Deployment, a Service and a ConfigMap, written as
/// charts usually are (named templates, `toYaml`, `nindent`, `default`, `quote`, ranges).
fn generate(dir: &Path) {
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::write(
        dir.join("Chart.yaml"),
        "apiVersion: v2\nname: platform\nversion: 1.0.0\nappVersion: \"1.0\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("templates/_helpers.tpl"),
        r#"{{- define "platform.labels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/version: {{ .svc.tag | default .root.Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end }}
"#,
    )
    .unwrap();
    let mut values = String::from("registry: registry.example.com\nservices:\n");
    for i in 0..SERVICES {
        let _ = write!(
            values,
            "  svc{i:03}:\n    replicas: {}\n    tag: \"1.{i}.0\"\n    port: {}\n    env:\n      LOG_LEVEL: info\n      SERVICE_ID: \"{i}\"\n      FEATURE_X: \"true\"\n    resources:\n      requests: {{cpu: 100m, memory: 128Mi}}\n      limits: {{memory: 256Mi}}\n    config:\n      a: \"1\"\n      b: two\n      c: \"three\"\n",
            1 + i % 3,
            8000 + i
        );
    }
    std::fs::write(dir.join("values.yaml"), values).unwrap();
    for i in 0..SERVICES {
        std::fs::write(
            dir.join(format!("templates/svc{i:03}.yaml")),
            format!(
                r#"{{{{- $svc := index .Values.services "svc{i:03}" }}}}
{{{{- $ctx := dict "name" "svc{i:03}" "svc" $svc "root" $ }}}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{{{ .Release.Name }}}}-svc{i:03}
  labels:
    {{{{- include "platform.labels" $ctx | nindent 4 }}}}
spec:
  replicas: {{{{ $svc.replicas }}}}
  selector:
    matchLabels:
      app.kubernetes.io/name: svc{i:03}
  template:
    metadata:
      labels:
        {{{{- include "platform.labels" $ctx | nindent 8 }}}}
      annotations:
        checksum/config: {{{{ $svc.config | toYaml | sha256sum }}}}
    spec:
      containers:
        - name: main
          image: "{{{{ .Values.registry }}}}/svc{i:03}:{{{{ $svc.tag }}}}"
          ports:
            - name: http
              containerPort: {{{{ $svc.port }}}}
          env:
          {{{{- range $k, $v := $svc.env }}}}
            - name: {{{{ $k }}}}
              value: {{{{ $v | quote }}}}
          {{{{- end }}}}
          resources:
            {{{{- toYaml $svc.resources | nindent 12 }}}}
---
apiVersion: v1
kind: Service
metadata:
  name: {{{{ .Release.Name }}}}-svc{i:03}
  labels:
    {{{{- include "platform.labels" $ctx | nindent 4 }}}}
spec:
  selector:
    app.kubernetes.io/name: svc{i:03}
  ports:
    - name: http
      port: 80
      targetPort: http
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{{{ .Release.Name }}}}-svc{i:03}
data:
  {{{{- toYaml $svc.config | nindent 2 }}}}
"#
            ),
        )
        .unwrap();
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let Some(helm) = std::env::var("BERTH_HELM").ok().map(|p| repo.join(p)) else {
        eprintln!("charts bench skipped: set BERTH_HELM (the README test command installs helm)");
        return;
    };
    let berth = PathBuf::from(env!("CARGO_BIN_EXE_berth"));
    let corpus = std::env::var("BERTH_CHART_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo.join("../shared/charts"));
    // `cargo bench -p berth --bench charts -- bitnami` runs only the cases whose name has it.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    let wanted = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    let mut rows = Vec::new();
    let gen = tempfile::tempdir().unwrap();
    generate(gen.path());
    let gen_args: Vec<String> = ["bench", ".", "-n", "apps"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let gen_name = "generated: 100 services x 3 objects";
    if wanted(gen_name) {
        rows.push(bench(gen_name, gen.path(), &helm, &berth, &gen_args));
    }
    let cases = chart_support::case_dirs(&corpus);
    for case in cases.iter().filter(|c| !c.join("expected.txt").exists()) {
        let line = std::fs::read_to_string(case.join("args.txt")).unwrap();
        let args = chart_support::shell_words(line.trim())[2..].to_vec();
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        if !wanted(&name) {
            continue;
        }
        rows.push(bench(&name, case, &helm, &berth, &args));
    }
    println!("charts bench: berth render vs helm template, {RUNS} runs each, median wall time, process startup included");
    println!(
        "{:<40} {:>10} {:>10} {:>7} {:>9} {:>10} {:>10}",
        "chart", "berth", "helm", "ratio", "(of mins)", "berth RSS", "helm RSS"
    );
    let mut worst = f64::MAX;
    for r in &rows {
        let ratio = r.helm.as_secs_f64() / r.berth.as_secs_f64();
        let of_mins = r.helm_min.as_secs_f64() / r.berth_min.as_secs_f64();
        worst = worst.min(ratio);
        println!(
            "{:<40} {:>10.2?} {:>10.2?} {:>6.1}x {:>8.1}x {:>8} KB {:>7} KB",
            r.name, r.berth, r.helm, ratio, of_mins, r.berth_rss, r.helm_rss
        );
    }
    println!("slowest ratio: {worst:.1}x (targets: 5x on every chart, 8x on the generated one)");
}
