//! `berth up` in image mode: containers on a real Podman (through its Docker-compatible API,
//! which berth starts itself), from an image built here (busybox, imported; never pulled).

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

mod local_support;
use local_support::images::make_image;
use local_support::*;

const NEEDS: &str = "needs podman and busybox-static (./scripts/test.sh installs them)";

/// A tiny image made here from the static busybox: `localhost/berth-test/busybox:1`.
fn image() -> &'static str {
    static IMAGE: OnceLock<&'static str> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let name = "localhost/berth-test/busybox:1";
        make_image(name, &[], &[]).expect(NEEDS);
        name
    })
}

/// The containers labelled with a folder, as `podman ps` lists them (names).
fn containers_of(dir: &Path) -> Vec<String> {
    let abs = std::path::absolute(dir).unwrap();
    let out = Command::new("podman")
        .args([
            "ps",
            "-a",
            "--filter",
            &format!("label=berth.dev/folder={}", abs.display()),
            "--format",
            "{{.Names}}",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn site(image: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: ConfigMap
metadata: {{name: site}}
data:
  index.html: "hello from a container\n"
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: httpd
          image: {image}
          imagePullPolicy: IfNotPresent
          command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
          ports: [{{containerPort: 8080}}]
          readinessProbe:
            httpGet: {{path: /, port: 8080}}
          volumeMounts: [{{name: www, mountPath: /www}}]
      volumes: [{{name: www, configMap: {{name: site}}}}]
---
apiVersion: v1
kind: Service
metadata: {{name: web}}
spec:
  selector: {{app: web}}
  ports: [{{port: 80, targetPort: 8080}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: client}}
spec:
  selector: {{matchLabels: {{app: client}}}}
  template:
    metadata: {{labels: {{app: client}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: loop
          image: {image}
          imagePullPolicy: Never
          env: [{{name: GREETING, valueFrom: {{configMapKeyRef: {{name: site, key: index.html}}}}}}]
          command: ["sh", "-c", "hostname; echo \"$WEB_SERVICE_HOST:$WEB_SERVICE_PORT\"; while true; do wget -q -O - http://web.default.svc.cluster.local/ || echo failed; sleep 1; done"]
          readinessProbe:
            exec: {{command: ["wget", "-q", "-O", "/dev/null", "http://web/"]}}
            periodSeconds: 1
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{name: site}}
spec:
  rules:
    - host: site.localhost
      http:
        paths:
          - path: /
            pathType: Prefix
            backend: {{service: {{name: web, port: {{number: 80}}}}}}
"#
    )
}

fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(t.path().join(name), text).unwrap();
    }
    t
}

fn ingress(s: &serde_json::Value) -> String {
    s["ingress"]
        .as_str()
        .unwrap()
        .trim_start_matches("http://")
        .to_string()
}

fn log_text(dir: &Path, workload: &str) -> String {
    std::fs::read_to_string(dir.join(format!(".berth/logs/{workload}.log"))).unwrap_or_default()
}

#[test]
#[ignore = "needs podman and busybox-static (./scripts/test.sh installs them)"]
fn images_serve_through_services_ingress_and_cluster_dns() {
    let t = folder(&[("site.yaml", &site(image()))]);
    let dir = t.path();
    let mut child = up(dir);
    let s = wait_for(dir, "every replica ready", all_ready);
    assert_eq!(s["replicas"].as_array().unwrap().len(), 3, "{s:#}");
    // Through the Ingress to the containers' published loopback ports, the page from the
    // ConfigMap volume.
    let (code, page) = http_host(&ingress(&s), "site.localhost", "GET", "/", None);
    assert_eq!((code, page.as_str()), (200, "hello from a container\n"));
    // From inside a container, by the Service's cluster DNS name and port (the exec probe
    // made it ready by the short name); the pod's hostname and the Service variables.
    wait_until(
        "the client's wget through web.default.svc.cluster.local",
        || log_text(dir, "client").contains("stdout hello from a container"),
    );
    let log = log_text(dir, "client");
    assert!(log.contains("client-0 stdout client-0\n"), "{log}");
    assert!(log.contains("stdout 127.100."), "{log}");
    let out = berth(&["logs", "client", "-C", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("hello from a container"));
    // Every container carries the folder's label; ports are published on loopback only.
    let names = containers_of(dir);
    assert_eq!(names.len(), 3, "{names:?}");
    let ports = Command::new("podman")
        .args([
            "ps",
            "--filter",
            &format!(
                "name={}",
                names.iter().find(|n| n.contains("web-0")).unwrap()
            ),
            "--format",
            "{{.Ports}}",
        ])
        .output()
        .unwrap();
    let ports = String::from_utf8_lossy(&ports.stdout).to_string();
    assert!(ports.starts_with("127.0.0.1:"), "{ports}");
    // The dashboard's view says image mode.
    let services = dashboard_services(&s);
    let web = services.iter().find(|v| v["name"] == "web").unwrap();
    assert_eq!(web["mode"], "image", "{web}");
    // `berth shell` runs inside the container (the pod's hostname, the image's files).
    let out = berth(&[
        "shell",
        "web",
        "-C",
        dir.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "hostname; cat /www/index.html",
    ])
    .output()
    .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "web-0\nhello from a container\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Stopping berth removes every container it started.
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(containers_of(dir), Vec::<String>::new());
}

/// The dashboard API's services, read with the folder's token.
fn dashboard_services(s: &serde_json::Value) -> Vec<serde_json::Value> {
    let url = s["dashboard"]
        .as_str()
        .unwrap()
        .trim_start_matches("http://");
    let addr = url.trim_end_matches('/');
    let (code, body) = http(addr, "GET", "/api/v1/services", None);
    assert_eq!(code, 200, "{body}");
    serde_json::from_str::<serde_json::Value>(&body).unwrap()["services"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| serde_json::from_str::<Vec<serde_json::Value>>(&body).unwrap())
}

#[test]
#[ignore = "needs podman and busybox-static (./scripts/test.sh installs them)"]
fn a_killed_berth_leaves_containers_that_the_next_start_removes() {
    let app = format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata: {{name: sleeper}}
spec:
  selector: {{matchLabels: {{app: s}}}}
  template:
    metadata: {{labels: {{app: s}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{{name: main, image: {}, imagePullPolicy: Never, command: ["sleep", "3600"]}}]
"#,
        image()
    );
    let t = folder(&[("app.yaml", &app)]);
    let dir = t.path();
    let mut first = up(dir);
    wait_for(dir, "the sleeper ready", all_ready);
    let before = containers_of(dir);
    assert_eq!(before.len(), 1);
    first.kill().unwrap();
    first.wait().unwrap();
    // berth is gone; its container is not (the engine keeps it). Renamed, so that only its
    // labels can find it.
    assert_eq!(containers_of(dir), before);
    let left = format!("{}-left-behind", before[0]);
    let out = Command::new("podman")
        .args(["rename", &before[0], &left])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_file(dir.join(".berth/up.json")).ok();
    let mut second = up(dir);
    wait_for(dir, "the sleeper ready again", all_ready);
    let after = containers_of(dir);
    assert_eq!(after.len(), 1, "{after:?}");
    assert!(!after.contains(&left), "{after:?}");
    let out = berth(&["down", dir.to_str().unwrap()]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    second.wait().unwrap();
    assert_eq!(containers_of(dir), Vec::<String>::new());
    // A container berth did not start is never touched, even with a similar name.
    let _ = Command::new("podman")
        .args(["rm", "-f", "berth-not-ours"])
        .output();
    let out = Command::new("podman")
        .args(["create", "--name", "berth-not-ours", image(), "sleep", "1"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut third = up(dir);
    wait_for(dir, "the sleeper ready a third time", all_ready);
    assert!(third_stop(&mut third).success());
    let out = Command::new("podman")
        .args(["rm", "berth-not-ours"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "berth removed a container it did not start"
    );
}

fn third_stop(up: &mut Up) -> std::process::ExitStatus {
    let pid = nix::unistd::Pid::from_raw(up.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    up.wait().unwrap()
}

#[test]
#[ignore = "needs podman and busybox-static (./scripts/test.sh installs them)"]
fn a_missing_image_is_err_image_pull_and_the_rest_runs() {
    let app = format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata: {{name: missing}}
spec:
  selector: {{matchLabels: {{app: m}}}}
  template:
    metadata: {{labels: {{app: m}}}}
    spec:
      containers: [{{name: main, image: "127.0.0.1:9/berth/absent:1"}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: fine}}
spec:
  selector: {{matchLabels: {{app: f}}}}
  template:
    metadata: {{labels: {{app: f}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{{name: main, image: {}, imagePullPolicy: Never, command: ["sleep", "3600"]}}]
"#,
        image()
    );
    let t = folder(&[("app.yaml", &app)]);
    let dir = t.path();
    let _child = up(dir);
    let s = wait_for(dir, "the pull to fail and the other to run", |s| {
        let r = s["replicas"].as_array().unwrap();
        let missing = r.iter().find(|r| r["workload"] == "missing");
        let fine = r.iter().find(|r| r["workload"] == "fine");
        missing.is_some_and(|m| {
            m["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("ErrImagePull: "))
        }) && fine.is_some_and(|f| f["ready"] == true)
    });
    let missing = s["replicas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["workload"] == "missing")
        .unwrap()
        .clone();
    assert!(
        missing["message"]
            .as_str()
            .unwrap()
            .contains("127.0.0.1:9/berth/absent:1"),
        "{missing}"
    );
    // The pull said what it did, in the logs (and meanwhile as the replica's message).
    assert!(
        log_text(dir, "missing").contains("berth pulling image 127.0.0.1:9/berth/absent:1"),
        "{}",
        log_text(dir, "missing")
    );
}

#[test]
#[ignore = "needs podman and busybox-static (./scripts/test.sh installs them)"]
fn without_an_engine_images_are_listed_with_what_to_install() {
    let t = folder(&[(
        "app.yaml",
        r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: db}
spec:
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: main, image: postgres:16}]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: tool
  annotations:
    berth.dev/run: '{"main": {"command": ["sleep", "3600"]}}'
spec:
  selector: {matchLabels: {app: tool}}
  template:
    metadata: {labels: {app: tool}}
    spec:
      containers: [{name: main, image: tool:1}]
"#,
    )]);
    let dir = t.path();
    let mut args = vec!["up", dir.to_str().unwrap(), "--ingress", "127.0.0.1:0"];
    args.push("--listen");
    args.push("127.0.0.1:0");
    let _child = Up(berth(&args)
        .env("BERTH_ENGINE", "none")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap());
    let s = wait_for(dir, "the tool process ready", |s| {
        s["replicas"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["workload"] == "tool" && r["ready"] == true)
    });
    let db = s["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == "db")
        .unwrap()
        .clone();
    let why = db["notRunnable"].as_str().unwrap_or_default();
    assert!(why.contains("install Podman or Docker"), "{db}");
    assert_eq!(containers_of(dir), Vec::<String>::new());
}

/// A private copy of a case of the chart corpus (`../shared/charts`, or BERTH_CHART_CORPUS):
/// its `chart` folder under the temp dir, and the case's folder (its values files).
fn corpus_chart(case: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let corpus = std::env::var("BERTH_CHART_CORPUS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| repo().join("../shared/charts"));
    let case = corpus.join(case);
    assert!(
        case.is_dir(),
        "the chart corpus is needed: {}",
        case.display()
    );
    let t = tempfile::tempdir().unwrap();
    copy_dir(&case.join("chart"), &t.path().join("chart"));
    (t, case)
}

/// podinfo's image as its chart runs it (`./podinfo --port=... --cache-server=tcp://HOST:PORT`
/// in /home/app, `podcli check http` probes): it serves on its port and is ready only while
/// the cache answers PING.
const PODINFO: &str = r#"#!/bin/sh
port=9898; cache=""
for a in "$@"; do
  case "$a" in
    --port=*) port="${a#--port=}" ;;
    --cache-server=tcp://*) cache="${a#--cache-server=tcp://}" ;;
  esac
done
www=/data/www
mkdir -p $www
echo "podinfo $(hostname) cache=$cache" > $www/index.html
echo ok > $www/healthz
if [ -n "$cache" ]; then
  (while true; do
    if (echo PING; sleep 0.3) | nc -w 1 "${cache%:*}" "${cache#*:}" | grep -q PONG; then
      [ -f $www/readyz ] || echo "cache $cache answers"
      echo ok > $www/readyz
    else
      rm -f $www/readyz
    fi
    sleep 1
  done) &
else
  echo ok > $www/readyz
fi
exec httpd -f -p "$port" -h $www
"#;

const PODCLI: &str =
    "#!/bin/sh\n# podcli check http HOST:PORT/PATH\nexec wget -q -O /dev/null \"http://$3\"\n";

const REDIS_SERVER: &str = "#!/bin/sh\ncat \"$1\" > /dev/null || exit 1\necho \"fake redis with $1\"\nexec nc -ll -p 6379 -e /usr/local/bin/redis-pong\n";
const REDIS_PONG: &str = "#!/bin/sh\nwhile read line; do echo '+PONG'; done\n";
const REDIS_CLI: &str =
    "#!/bin/sh\n(echo PING; sleep 0.3) | nc -w 1 127.0.0.1 6379 | grep -q PONG && echo PONG\n";

/// A chart nobody annotated for berth: podinfo with its redis cache and Ingress (the corpus'
/// `podinfo-switches` values), from images built here under the chart's own image names.
#[test]
#[ignore = "needs podman, busybox-static and the chart corpus (./scripts/test.sh)"]
fn podinfo_chart_runs_from_images_with_its_cache_by_dns_and_its_ingress() {
    let (t, case) = corpus_chart("podinfo-switches");
    make_image(
        "ghcr.io/stefanprodan/podinfo:6.14.1",
        &[
            ("/home/app/podinfo", PODINFO, true),
            ("/usr/local/bin/podcli", PODCLI, true),
        ],
        &["WORKDIR /home/app"],
    )
    .expect(NEEDS);
    make_image(
        "docker.io/redis:8.8.0",
        &[
            ("/usr/local/bin/redis-server", REDIS_SERVER, true),
            ("/usr/local/bin/redis-pong", REDIS_PONG, true),
            ("/usr/local/bin/redis-cli", REDIS_CLI, true),
        ],
        &[],
    )
    .expect(NEEDS);
    let dir = t.path().join("chart");
    let values = case.join("values.yaml");
    let mut child = up_with(
        &dir,
        &[
            "--release",
            "demo",
            "-n",
            "apps",
            "-f",
            values.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
    );
    let s = wait_for(&dir, "podinfo and redis ready", |s| {
        // Its HPA owns podinfo's replicas, so the Deployment asks for the default one.
        let r = s["replicas"].as_array().unwrap();
        r.len() == 2 && all_ready(s)
    });
    // podinfo reached redis by its Service name (its readiness depends on it; the line may
    // reach the log file a moment after the probe passed).
    wait_until("podinfo's line about its cache", || {
        log_text(&dir, "demo-podinfo").contains("cache demo-podinfo-redis:6379 answers")
    });
    // The Ingress routes the chart's host to the podinfo replicas.
    let (code, page) = http_host(&ingress(&s), "podinfo.example.com", "GET", "/", None);
    assert_eq!(code, 200, "{page}");
    assert!(page.starts_with("podinfo demo-podinfo-"), "{page}");
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(containers_of(&dir), Vec::<String>::new());
}

/// A pod's containers share one network namespace (a holder container of berth's own, made
/// here from a few bytes of machine code): a sidecar reaches the main container on localhost,
/// and both see the pod's hostname; the Service reaches the pod's published port.
#[test]
#[ignore = "needs podman and busybox-static (./scripts/test.sh installs them)"]
fn containers_of_a_pod_share_its_network() {
    let app = format!(
        r#"apiVersion: v1
kind: ConfigMap
metadata: {{name: page}}
data: {{index.html: "main container\n"}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: pair}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: pair}}}}
  template:
    metadata: {{labels: {{app: pair}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: main
          image: {image}
          imagePullPolicy: Never
          command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
          ports: [{{containerPort: 8080}}]
          volumeMounts: [{{name: www, mountPath: /www}}]
        - name: sidecar
          image: {image}
          imagePullPolicy: Never
          command: ["sh", "-c", "while true; do echo \"$(hostname) sees $(wget -q -O - http://localhost:8080/)\"; sleep 1; done"]
      volumes: [{{name: www, configMap: {{name: page}}}}]
---
apiVersion: v1
kind: Service
metadata: {{name: pair}}
spec:
  selector: {{app: pair}}
  ports: [{{port: 8081, targetPort: 8080}}]
"#,
        image = image()
    );
    let t = folder(&[("app.yaml", &app)]);
    let dir = t.path();
    let mut child = up(dir);
    let s = wait_for(dir, "both pods ready", |s| {
        s["replicas"].as_array().unwrap().len() == 4 && all_ready(s)
    });
    wait_until(
        "each sidecar to reach its main container on localhost",
        || {
            let log = log_text(dir, "pair");
            log.contains("pair-0 stdout pair-0 sees main container")
                && log.contains("pair-1 stdout pair-1 sees main container")
        },
    );
    let (code, page) = http(&address(&s, "pair"), "GET", "/", None);
    assert_eq!((code, page.as_str()), (200, "main container\n"));
    let names = containers_of(dir);
    assert_eq!(names.len(), 6, "two holders and four containers: {names:?}");
    assert_eq!(
        names.iter().filter(|n| n.contains("-pod-")).count(),
        2,
        "{names:?}"
    );
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(containers_of(dir), Vec::<String>::new());
}

/// A claim is a named volume that outlives `berth down` and `up`, until `berth down --volumes`;
/// Jobs run their image to completion (and fail as Kubernetes fails them).
#[test]
#[ignore = "needs podman and busybox-static (./scripts/test.sh installs them)"]
fn claims_outlive_the_session_and_jobs_run_to_completion() {
    let app = format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata: {{name: keeper}}
spec:
  selector: {{matchLabels: {{app: keeper}}}}
  template:
    metadata: {{labels: {{app: keeper}}}}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
        - name: main
          image: {image}
          imagePullPolicy: Never
          env: [{{name: NS, valueFrom: {{fieldRef: {{fieldPath: metadata.namespace}}}}}}]
          command: ["sh", "-c", "echo \"found: $(cat /data/seen 2>/dev/null || echo nothing) in $NS\"; echo start >> /data/seen; exec sleep 3600"]
          volumeMounts: [{{name: data, mountPath: /data}}]
      volumes: [{{name: data, persistentVolumeClaim: {{claimName: keep}}}}]
---
apiVersion: batch/v1
kind: Job
metadata: {{name: once}}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{{name: main, image: {image}, imagePullPolicy: Never, command: ["sh", "-c", "echo job done"]}}]
---
apiVersion: batch/v1
kind: Job
metadata: {{name: broken}}
spec:
  backoffLimit: 1
  template:
    spec:
      restartPolicy: OnFailure
      containers: [{{name: main, image: {image}, imagePullPolicy: Never, command: ["sh", "-c", "echo failing; exit 3"]}}]
"#,
        image = image()
    );
    let t = folder(&[("app.yaml", &app)]);
    let dir = t.path();
    let mut first = up(dir);
    let s = wait_for(dir, "the keeper ready and the Jobs finished", |s| {
        let r = s["replicas"].as_array().unwrap();
        let phase = |w: &str| {
            r.iter()
                .find(|r| r["workload"] == w)
                .map(|r| r["phase"].clone())
        };
        r.iter()
            .any(|r| r["workload"] == "keeper" && r["ready"] == true)
            && phase("once") == Some("succeeded".into())
            && phase("broken") == Some("failed".into())
    });
    let broken = s["replicas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["workload"] == "broken")
        .unwrap()
        .clone();
    assert!(
        broken["message"]
            .as_str()
            .unwrap()
            .contains("exit status: 3"),
        "{broken}"
    );
    assert!(log_text(dir, "once").contains("stdout job done"));
    wait_until("the keeper's first line", || {
        log_text(dir, "keeper").contains("found: nothing in default")
    });
    let pid = nix::unistd::Pid::from_raw(first.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    assert!(first.wait().unwrap().success());
    // The claim's data is there for the next session.
    std::fs::remove_file(dir.join(".berth/logs/keeper.log")).unwrap();
    let _second = up(dir);
    wait_for(dir, "the keeper ready again", |s| {
        s["replicas"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["workload"] == "keeper" && r["ready"] == true)
    });
    wait_until("the keeper to find its data", || {
        log_text(dir, "keeper").contains("found: start in default")
    });
    let out = berth(&["down", "--volumes", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(said.contains("removed 1 volume berth-"), "{said}");
    let abs = std::path::absolute(dir).unwrap();
    let volumes = Command::new("podman")
        .args([
            "volume",
            "ls",
            "-q",
            "--filter",
            &format!("label=berth.dev/folder={}", abs.display()),
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&volumes.stdout), "");
}

/// The devmatic flow: the platform runs from images, one service switches to its source (the
/// run spec) while the others keep their containers, and traffic follows; and back.
#[test]
#[ignore = "needs podman and busybox-static (./scripts/test.sh installs them)"]
fn one_service_switches_from_its_image_to_source_and_back() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("src/index.html"), "from source\n").unwrap();
    std::fs::write(
        dir.join("app.yaml"),
        format!(
            r#"apiVersion: v1
kind: ConfigMap
metadata: {{name: page}}
data: {{index.html: "from the image\n"}}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  annotations:
    berth.dev/run: |
      main:
        command: [sh, -c, "exec busybox httpd -f -p $PORT -h src"]
        build: [busybox, true]
spec:
  selector: {{matchLabels: {{app: api}}}}
  template:
    metadata: {{labels: {{app: api}}}}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
        - name: main
          image: {image}
          imagePullPolicy: Never
          command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
          ports: [{{containerPort: 8080}}]
          readinessProbe: {{tcpSocket: {{port: 8080}}}}
          volumeMounts: [{{name: www, mountPath: /www}}]
      volumes: [{{name: www, configMap: {{name: page}}}}]
---
apiVersion: v1
kind: Service
metadata: {{name: api}}
spec:
  selector: {{app: api}}
  ports: [{{port: 20380, targetPort: 8080}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: other}}
spec:
  selector: {{matchLabels: {{app: other}}}}
  template:
    metadata: {{labels: {{app: other}}}}
    spec:
      terminationGracePeriodSeconds: 0
      containers: [{{name: main, image: {image}, imagePullPolicy: Never, command: ["sleep", "3600"]}}]
"#,
            image = image()
        ),
    )
    .unwrap();
    // The whole platform from images: the choice a team makes once, kept in .berth/modes.json.
    std::fs::create_dir_all(dir.join(".berth")).unwrap();
    std::fs::write(
        dir.join(".berth/modes.json"),
        r#"{"api": {"main": "image"}}"#,
    )
    .unwrap();
    let _child = up(dir);
    let s = wait_for(dir, "both ready", |s| {
        all_ready(s) && s["replicas"].as_array().unwrap().len() == 2
    });
    assert_eq!(
        http(&address(&s, "api"), "GET", "/", None).1,
        "from the image\n"
    );
    let other = containers_of(dir)
        .into_iter()
        .find(|n| n.contains("other-0"))
        .unwrap();
    let mode = |m: &str| {
        let out = berth(&["mode", "api", m, "-C", dir.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    mode("source");
    wait_until("api answering from source", || {
        status(dir).is_some_and(|s| all_ready(&s))
            && http(&address(&status(dir).unwrap(), "api"), "GET", "/", None).1 == "from source\n"
    });
    // api's container retires once its successor serves; other's stays.
    wait_until("api's container gone, other's kept", || {
        containers_of(dir) == vec![other.clone()]
    });
    mode("image");
    wait_until("api answering from its image again", || {
        http(&address(&status(dir).unwrap(), "api"), "GET", "/", None).1 == "from the image\n"
    });
    assert!(containers_of(dir).contains(&other));
}

/// Bitnami's memcached image as its chart runs it: the image's own command (`run.sh`), as
/// user 1001 on a read-only root with emptyDir subPaths, answering the memcached protocol.
const MEMCACHED_RUN: &str = "#!/bin/sh\nexec /opt/bitnami/memcached/bin/memcached\n";
const MEMCACHED: &str = "#!/bin/sh\necho \"memcached as $(id -u) on ${MEMCACHED_PORT_NUMBER}\"\ntouch /tmp/written && echo 'tmp is writable'\nnc -ll -p \"$MEMCACHED_PORT_NUMBER\" -e /opt/bitnami/memcached/bin/reply\n";
const MEMCACHED_REPLY: &str = "#!/bin/sh\nwhile read line; do echo 'VERSION 1.6.39'; done\n";
const PGREP: &str = "#!/bin/sh\nexec pidof \"$1\"\n";

/// A database chart nobody annotated (the corpus' bitnami memcached), from an image built here
/// under the chart's own image name: it runs through its Service as the chart sets it up.
#[test]
#[ignore = "needs podman, busybox-static and the chart corpus (./scripts/test.sh)"]
fn bitnami_memcached_chart_runs_from_its_image() {
    let (t, _) = corpus_chart("memcached-default");
    make_image(
        "docker.io/bitnami/memcached:1.6.39-debian-12-r0",
        &[
            ("/opt/bitnami/scripts/memcached/run.sh", MEMCACHED_RUN, true),
            ("/opt/bitnami/memcached/bin/memcached", MEMCACHED, true),
            ("/opt/bitnami/memcached/bin/reply", MEMCACHED_REPLY, true),
            ("/usr/bin/pgrep", PGREP, true),
        ],
        &[r#"CMD ["/opt/bitnami/scripts/memcached/run.sh"]"#],
    )
    .expect(NEEDS);
    let dir = t.path().join("chart");
    let _child = up_with(
        &dir,
        &["--release", "demo", "-n", "apps", "--listen", "127.0.0.1:0"],
    );
    let s = wait_for(&dir, "memcached ready", all_ready);
    wait_until("memcached's first lines in its log", || {
        let log = log_text(&dir, "demo-memcached");
        log.contains("memcached as 1001 on 11211") && log.contains("tmp is writable")
    });
    use std::io::{BufRead, Write};
    let mut conn = std::net::TcpStream::connect(address(&s, "demo-memcached")).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    conn.write_all(b"version\r\n").unwrap();
    let mut line = String::new();
    std::io::BufReader::new(conn).read_line(&mut line).unwrap();
    assert_eq!(line, "VERSION 1.6.39\n");
}

/// Init containers run in order, each to completion, before the pod's containers start; the
/// first one fails once (its exit is retried after a back-off, as on a cluster).
#[test]
#[ignore = "needs podman and busybox-static (./scripts/test.sh installs them)"]
fn init_containers_run_in_order_before_the_pod() {
    let app = format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata: {{name: inited}}
spec:
  selector: {{matchLabels: {{app: inited}}}}
  template:
    metadata: {{labels: {{app: inited}}}}
    spec:
      terminationGracePeriodSeconds: 0
      initContainers:
        - name: first
          image: {image}
          imagePullPolicy: Never
          command: ["sh", "-c", "if [ ! -f /work/tried ]; then touch /work/tried; echo not yet; exit 1; fi; echo first > /work/index.html"]
          volumeMounts: [{{name: work, mountPath: /work}}]
        - name: second
          image: {image}
          imagePullPolicy: Never
          command: ["sh", "-c", "echo second >> /work/index.html"]
          volumeMounts: [{{name: work, mountPath: /work}}]
      containers:
        - name: main
          image: {image}
          imagePullPolicy: Never
          command: ["httpd", "-f", "-p", "8080", "-h", "/work"]
          ports: [{{containerPort: 8080}}]
          readinessProbe: {{httpGet: {{path: /index.html, port: 8080}}}}
          volumeMounts: [{{name: work, mountPath: /work}}]
      volumes: [{{name: work, emptyDir: {{}}}}]
---
apiVersion: v1
kind: Service
metadata: {{name: inited}}
spec:
  selector: {{app: inited}}
  ports: [{{port: 20480, targetPort: 8080}}]
"#,
        image = image()
    );
    let t = folder(&[("app.yaml", &app)]);
    let dir = t.path();
    let _child = up(dir);
    let s = wait_for(dir, "the pod ready after its init containers", all_ready);
    assert_eq!(
        http(&address(&s, "inited"), "GET", "/", None).1,
        "first\nsecond\n"
    );
    let r = &s["replicas"].as_array().unwrap()[0];
    assert_eq!(
        r["restarts"], 1,
        "the failed init container's retry counts: {r}"
    );
    let log = log_text(dir, "inited");
    assert!(log.contains("inited-0 stdout not yet"), "{log}");
    // Only the pod's container is left running; the init containers are gone.
    let names = containers_of(dir);
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(names[0].contains("-main-"), "{names:?}");
}

/// The example platform from images built with its Dockerfile (on a Python image made here),
/// every container in image mode: the shop and a reservation through the Ingress, the seed Job
/// and the services reaching each other and the database by their Service variables.
#[test]
#[ignore = "needs podman, busybox-static and Debian's python3.11 (./scripts/test.sh)"]
fn the_example_runs_from_the_images_its_dockerfile_builds() {
    let base = "localhost/berth-test/python:3";
    local_support::images::make_python_image(base).expect(NEEDS);
    let t = example();
    let dir = t.path();
    let services = [
        "web",
        "reservationengine",
        "queue",
        "broadcaster",
        "mailtool",
        "testdbserver",
    ];
    for s in services {
        let out = Command::new("podman")
            .args([
                "build",
                "-q",
                "--no-cache",
                "--build-arg",
                &format!("BASE={base}"),
            ])
            .args(["--build-arg", &format!("SERVICE={s}")])
            .args([
                "-t",
                &format!("registry.example.com/ticketing/{s}:dev"),
                dir.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{s}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut modes = serde_json::Map::new();
    for (w, c) in services
        .iter()
        .map(|s| (*s, *s))
        .chain([("seed", "seed"), ("reminders", "reminders")])
    {
        modes.insert(w.into(), serde_json::json!({ c: "image" }));
    }
    std::fs::create_dir_all(dir.join(".berth")).unwrap();
    std::fs::write(
        dir.join(".berth/modes.json"),
        serde_json::Value::Object(modes).to_string(),
    )
    .unwrap();
    let _child = up(dir);
    let s = wait_for(dir, "every replica ready", all_ready);
    let seed = s["replicas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["workload"] == "seed")
        .unwrap()
        .clone();
    assert_eq!(seed["phase"], "succeeded", "{seed}");
    assert!(containers_of(dir).len() >= 6, "{:?}", containers_of(dir));
    let ingress = ingress(&s);
    let (code, page) = http_host(&ingress, "ticketing.localhost", "GET", "/", None);
    assert_eq!(code, 200, "{page}");
    assert!(page.contains("<h1>Tickets</h1>"), "{page}");
    let reserve = r#"{"event":1,"seat":5,"customer":"ann"}"#;
    let (code, body) = http_host(
        &ingress,
        "ticketing.localhost",
        "POST",
        "/api/reservations",
        Some(reserve),
    );
    assert_eq!(code, 201, "{body}");
    let (code, _) = http_host(
        &ingress,
        "ticketing.localhost",
        "POST",
        "/api/reservations",
        Some(reserve),
    );
    assert_eq!(code, 409);
    // queue -> web -> reservationengine -> testdbserver, all containers.
    let (code, page) = http(&address(&s, "queue"), "GET", "/", None);
    assert_eq!(code, 200, "{page}");
    assert!(
        page.contains("Opening night: 19 of 20 seats left"),
        "{page}"
    );
}
