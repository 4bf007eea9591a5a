//! Benchmark: `berth render` against Go's text/template (tools/gorender) on the same generated
//! folders of 100, 300 and 1,000 documents (10, 30 and 100 services x 10 manifests with loops,
//! conditionals, includes; `BERTH_RENDER_SERVICES=10,100` picks sizes). Both run as processes,
//! startup included. Run with `cargo bench -p berth --bench render`; needs `go` on PATH or
//! BERTH_GORENDER (the README test command installs Go).

#[path = "support/measure.rs"]
mod measure;
#[path = "../../template/tests/support/mod.rs"]
mod support;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Services per folder, each 10 documents.
const SIZES: &[usize] = &[10, 30, 100];
const RUNS: usize = 30;

fn helpers() -> &'static str {
    r#"{{- define "labels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/part-of: {{ .platform }}
app.kubernetes.io/version: {{ .version | printf "%q" }}
{{- end -}}
{{- define "env" -}}
{{- range $k, $v := .env }}
- name: {{ $k }}
  value: {{ printf "%q" (print $v) }}
{{- end }}
{{- end -}}
"#
}

/// One service file: ten documents.
fn service(i: usize) -> String {
    format!(
        r#"{{{{- $svc := index .Variables.services "svc{i:03}" }}}}
{{{{- $ctx := dict "name" "svc{i:03}" "platform" .Variables.platform "version" $svc.version "env" $svc.env }}}}
{{{{- if $svc.enabled }}}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: svc{i:03}
  labels:
    {{{{- include "labels" $ctx | nindent 4 }}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: svc{i:03}
rules:
{{{{- range $svc.resources }}}}
  - apiGroups: [""]
    resources: [{{{{ printf "%q" . }}}}]
    verbs: ["get", "list", "watch"]
{{{{- end }}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: svc{i:03}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: svc{i:03}
subjects:
  - kind: ServiceAccount
    name: svc{i:03}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: svc{i:03}
  labels:
    {{{{- include "labels" $ctx | nindent 4 }}}}
data:
{{{{- range $k, $v := $svc.config }}}}
  {{{{ $k }}}}: {{{{ printf "%q" (print $v) }}}}
{{{{- end }}}}
---
apiVersion: v1
kind: Secret
metadata:
  name: svc{i:03}
type: Opaque
stringData:
  password: {{{{ printf "%q" $svc.password }}}}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: svc{i:03}
  labels:
    {{{{- include "labels" $ctx | nindent 4 }}}}
spec:
  replicas: {{{{ if eq $.Environment "production" }}}}{{{{ $svc.replicas }}}}{{{{ else }}}}1{{{{ end }}}}
  selector:
    matchLabels:
      app.kubernetes.io/name: svc{i:03}
  template:
    metadata:
      labels:
        {{{{- include "labels" $ctx | nindent 8 }}}}
    spec:
      serviceAccountName: svc{i:03}
      containers:
        - name: main
          image: {{{{ $.Variables.registry }}}}/svc{i:03}:{{{{ $svc.version }}}}
          env:
            {{{{- include "env" $ctx | nindent 12 }}}}
          ports:
{{{{- range $svc.ports }}}}
            - name: {{{{ .name }}}}
              containerPort: {{{{ .port }}}}
{{{{- end }}}}
          {{{{- with $svc.probe }}}}
          readinessProbe:
            httpGet:
              path: {{{{ .path }}}}
              port: {{{{ .port }}}}
          {{{{- end }}}}
---
apiVersion: v1
kind: Service
metadata:
  name: svc{i:03}
spec:
  selector:
    app.kubernetes.io/name: svc{i:03}
  ports:
{{{{- range $svc.ports }}}}
    - name: {{{{ .name }}}}
      port: {{{{ .port }}}}
      targetPort: {{{{ .name }}}}
{{{{- end }}}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: svc{i:03}
spec:
  minAvailable: {{{{ if gt $svc.replicas 1 }}}}1{{{{ else }}}}0{{{{ end }}}}
  selector:
    matchLabels:
      app.kubernetes.io/name: svc{i:03}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: svc{i:03}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: svc{i:03}
  minReplicas: {{{{ $svc.replicas }}}}
  maxReplicas: {{{{ len $svc.resources | printf "%d" }}}}0
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: svc{i:03}
spec:
  rules:
    - host: svc{i:03}.{{{{ $.Variables.domain }}}}
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: svc{i:03}
                port:
                  name: {{{{ (index $svc.ports 0).name }}}}
{{{{- end }}}}
"#
    )
}

fn variables(count: usize) -> serde_json::Value {
    let mut services = serde_json::Map::new();
    for i in 0..count {
        let env: serde_json::Map<String, serde_json::Value> = (0..8)
            .map(|k| {
                (
                    format!("VAR_{k}"),
                    serde_json::json!(format!("value-{i}-{k}")),
                )
            })
            .collect();
        let config: serde_json::Map<String, serde_json::Value> = (0..6)
            .map(|k| (format!("key{k}"), serde_json::json!(k * i)))
            .collect();
        services.insert(
            format!("svc{i:03}"),
            serde_json::json!({
                "enabled": true, "replicas": 1 + i % 3, "version": format!("1.{i}.0"), "password": format!("pw{i}"),
                "env": env, "config": config, "resources": ["pods", "configmaps", "secrets"],
                "ports": [{"name": "http", "port": 8000 + i}, {"name": "metrics", "port": 9000 + i}],
                "probe": if i % 2 == 0 { serde_json::json!({"path": "/healthz", "port": 8000 + i}) } else { serde_json::Value::Null },
            }),
        );
    }
    serde_json::json!({"platform": "bench", "registry": "registry.example.com", "domain": "example.com", "services": services})
}

fn generate(dir: &Path, services: usize) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("_helpers.yaml"), helpers()).unwrap();
    for i in 0..services {
        std::fs::write(dir.join(format!("svc{i:03}.yaml")), service(i)).unwrap();
    }
    let vars = variables(services);
    // berth reads block YAML as users write it; Go's stdlib has no YAML, so it gets the same data as JSON.
    let yaml = berth_template::to_yaml(&berth_template::Value::from_json(&vars));
    std::fs::write(dir.join("variables.yaml"), yaml).unwrap();
    let data = serde_json::json!({"Variables": vars, "Values": vars, "Namespace": "default", "Environment": "production", "Modes": {}});
    std::fs::write(
        dir.join("data.json.txt"),
        serde_json::to_string(&data).unwrap(),
    )
    .unwrap();
}

fn time(cmd: &mut Command) -> (Duration, Vec<u8>) {
    let t = Instant::now();
    let out = cmd.output().unwrap();
    let d = t.elapsed();
    assert!(
        out.status.success(),
        "{:?} failed: {}",
        cmd,
        String::from_utf8_lossy(&out.stderr)
    );
    (d, out.stdout)
}

/// Documents as a sorted list of trimmed texts, to check both produced the same objects.
fn documents(out: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(out);
    let mut docs: Vec<String> = text
        .split("\n---")
        .flat_map(|d| d.split("---\n"))
        .map(|d| {
            d.lines()
                .filter(|l| !l.starts_with("# Source:") && !l.trim().is_empty())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .filter(|d| !d.trim().is_empty())
        .collect();
    docs.sort();
    docs
}

fn engine_inputs(dir: &Path) -> (Vec<(String, String)>, serde_json::Value) {
    let mut files: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml") && !p.ends_with("variables.yaml"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    files.sort();
    let data: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("data.json.txt")).unwrap()).unwrap();
    (files, data)
}

fn engine_once(files: &[(String, String)], data: &serde_json::Value) -> Duration {
    let t = Instant::now();
    let data = berth_template::Value::from_json(data);
    let mut set = berth_template::Templates::new();
    for (name, text) in files {
        set.parse(name, text).unwrap();
    }
    let mut total = 0;
    for (name, _) in files {
        total += set.execute(name, &data).unwrap().len();
    }
    assert!(total > 0);
    t.elapsed()
}

fn stats(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    (v[v.len() / 2], v[0])
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let berth = PathBuf::from(env!("CARGO_BIN_EXE_berth"));
    let sizes: Vec<usize> = match std::env::var("BERTH_RENDER_SERVICES") {
        Ok(list) => list
            .split(',')
            .filter_map(|n| n.trim().parse().ok())
            .collect(),
        Err(_) => SIZES.to_vec(),
    };
    if let Ok(keep) = std::env::var("BERTH_BENCH_KEEP") {
        // The largest folder asked for, kept for profiling; nothing is measured.
        generate(
            Path::new(&keep),
            sizes.iter().copied().max().unwrap_or(SIZES[0]),
        );
        return;
    }
    let Some(go) = support::gorender() else {
        eprintln!("render bench skipped: Go reference renderer not available (set BERTH_GORENDER or put go on PATH)");
        return;
    };
    let mut worst = f64::MAX;
    for services in sizes {
        let (report, ratio) = bench_size(services, &berth, &go);
        print!("{report}");
        worst = worst.min(ratio);
    }
    println!("slowest ratio go/berth: {worst:.2}x (target: 2x at every size)");
}

/// One folder of `services` services: berth and Go side by side; the report and its ratio.
fn bench_size(services: usize, berth: &Path, go: &Path) -> (String, f64) {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), services);
    let data = dir.path().join("data.json.txt");
    let berth_cmd = || {
        let mut c = Command::new(berth);
        c.arg("render").arg(dir.path()).args(["-e", "production"]);
        c
    };
    let go_cmd = || {
        let mut c = Command::new(go);
        c.arg("dir").arg(dir.path()).arg(&data);
        c
    };
    let (_, b_out) = time(&mut berth_cmd());
    let (_, g_out) = time(&mut go_cmd());
    let (bd, gd) = (documents(&b_out), documents(&g_out));
    assert_eq!(
        bd.len(),
        services * 10,
        "berth rendered {} documents",
        bd.len()
    );
    if bd != gd {
        let first = bd.iter().zip(&gd).find(|(a, b)| a != b);
        panic!("berth and Go rendered different documents: {first:#?}");
    }
    let (mut bt, mut gt) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        bt.push(time(&mut berth_cmd()).0);
        gt.push(time(&mut go_cmd()).0);
    }
    let ((bm, bmin), (gm, gmin)) = (stats(bt), stats(gt));
    // Peak memory: the largest of a few runs each, output to /dev/null.
    let (mut b_rss, mut g_rss) = (0, 0);
    for _ in 0..5 {
        b_rss = b_rss.max(measure::measure(&mut berth_cmd()).1);
        g_rss = g_rss.max(measure::measure(&mut go_cmd()).1);
    }

    // The engine alone: berth's template parse + execute in-process on one thread, against Go's
    // run minus the cost of starting its process (Go does no YAML work, berth's full render does).
    let mut go_start = Vec::new();
    let mut engine = Vec::new();
    let (files, data_value) = engine_inputs(dir.path());
    for _ in 0..RUNS {
        let t = Instant::now();
        let _ = Command::new(go).output();
        go_start.push(t.elapsed());
        engine.push(engine_once(&files, &data_value));
    }
    let ((em, _), (gs, _)) = (stats(engine), stats(go_start));
    let ratio = gm.as_secs_f64() / bm.as_secs_f64();
    let mut report = String::new();
    let _ = writeln!(
        report,
        "render bench: {} documents in {} files, {} runs each, process startup included",
        bd.len(),
        services + 1,
        RUNS
    );
    let _ = writeln!(
        report,
        "  berth render (parse, render, YAML-validate, order): median {:>8.2?}  min {:>8.2?}",
        bm, bmin
    );
    let _ = writeln!(
        report,
        "  go text/template (parse, render only):             median {:>8.2?}  min {:>8.2?}",
        gm, gmin
    );
    let _ = writeln!(report, "  ratio go/berth (median): {ratio:.2}x");
    let _ = writeln!(
        report,
        "  peak memory (max RSS): berth {:.1} MiB, go {:.1} MiB",
        b_rss as f64 / 1024.0,
        g_rss as f64 / 1024.0
    );
    let go_engine = gm.saturating_sub(gs);
    let _ = writeln!(report, "  engine only: berth parse+execute in-process {:>8.2?}, go minus its {:.2?} process start {:>8.2?}, ratio {:.2}x",
        em, gs, go_engine, go_engine.as_secs_f64() / em.as_secs_f64());
    (report, ratio)
}
