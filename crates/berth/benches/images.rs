//! Benchmark of image mode (not a test): a folder of six services, each one container of a
//! locally made image (busybox httpd with a readiness probe), behind Services and an Ingress.
//! Side by side in one run, alternating rounds: `berth up` until every replica is ready, with a
//! running engine service (as with Docker or podman.socket) and cold (berth starts
//! `podman system service` itself); `podman kube play` of the same rendered Deployments (the
//! anchor: until it returns, having started every container; it makes no Services, no
//! Ingress, no probes); and the example in process mode. Then, on one berth: its RSS with ten
//! containers, and a restart of one container until its successor is ready.
//! Run with `cargo bench -p berth --bench images` (needs podman and busybox-static, which
//! `./scripts/test.sh` installs, and CONTAINERS_CONF as it sets it).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../tests/local_support/images.rs"]
#[allow(dead_code)]
mod images;

const IMAGE: &str = "localhost/berth-bench/busybox:1";
const ROUNDS: usize = 5;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn berth() -> Command {
    Command::new(env!("CARGO_BIN_EXE_berth"))
}

/// `n` services, each a Deployment of one httpd container with a readiness probe and a
/// Service; an Ingress in front of the first.
fn folder(n: usize) -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let mut yaml = String::new();
    for i in 0..n {
        yaml.push_str(&format!(
            r#"apiVersion: apps/v1
kind: Deployment
metadata: {{name: svc{i}}}
spec:
  selector: {{matchLabels: {{app: svc{i}}}}}
  template:
    metadata: {{labels: {{app: svc{i}}}}}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
        - name: main
          image: {IMAGE}
          imagePullPolicy: Never
          command: ["httpd", "-f", "-p", "8080", "-h", "/tmp"]
          ports: [{{containerPort: 8080}}]
          readinessProbe: {{tcpSocket: {{port: 8080}}}}
---
apiVersion: v1
kind: Service
metadata: {{name: svc{i}}}
spec:
  selector: {{app: svc{i}}}
  ports: [{{port: {port}, targetPort: 8080}}]
---
"#,
            port = 20000 + i
        ));
    }
    yaml.push_str(
        r#"apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: front}
spec:
  rules:
    - http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: svc0, port: {number: 20000}}}}
"#,
    );
    std::fs::write(t.path().join("app.yaml"), yaml).unwrap();
    t
}

fn status(dir: &Path) -> Option<serde_json::Value> {
    serde_json::from_str(&std::fs::read_to_string(dir.join(".berth/up.json")).ok()?).ok()
}

fn ready_count(s: &serde_json::Value) -> usize {
    s["replicas"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["ready"] == true)
        .count()
}

fn wait<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn up(dir: &Path, engine: Option<&str>) -> Child {
    let mut c = berth();
    c.args([
        "up",
        dir.to_str().unwrap(),
        "--ingress",
        "127.0.0.1:0",
        "--listen",
        "127.0.0.1:0",
    ]);
    if let Some(e) = engine {
        c.env("BERTH_ENGINE", e);
    }
    c.stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn stop(mut child: Child) {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    let _ = child.wait();
}

/// `berth up` until `n` replicas are ready.
fn berth_ready(n: usize, engine: Option<&str>) -> Duration {
    let t = folder(n);
    let start = Instant::now();
    let child = up(t.path(), engine);
    wait("berth: every replica ready", || {
        status(t.path()).filter(|s| ready_count(s) == n).map(|_| ())
    });
    let took = start.elapsed();
    stop(child);
    took
}

/// `podman kube play` of the same Deployments until it returns (it starts every container
/// before it does).
fn kube_play(n: usize) -> Duration {
    let t = folder(n);
    let out = berth()
        .args(["render", t.path().to_str().unwrap(), "-o", "yaml"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let deployments: Vec<&str> = text
        .split("\n---")
        .filter(|d| d.contains("kind: Deployment"))
        .collect();
    // Without ports: kube play publishes each containerPort on the same host port, so the
    // six would clash (berth gives each replica a port of its own).
    let play: Vec<String> = deployments
        .iter()
        .map(|d| {
            d.lines()
                .filter(|l| !l.trim_start().starts_with("ports:"))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect();
    let file = t.path().join("play.yaml");
    std::fs::write(&file, play.join("\n---\n")).unwrap();
    let start = Instant::now();
    let ok = Command::new("podman")
        .args(["kube", "play", "--quiet", file.to_str().unwrap()])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success());
    let took = start.elapsed();
    let _ = Command::new("podman")
        .args(["kube", "down", file.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    took
}

/// The example in process mode, until its six services are ready.
fn example_processes() -> Duration {
    let t = tempfile::tempdir().unwrap();
    let copied = Command::new("cp")
        .args([
            "-r",
            repo().join("examples/ticketing").to_str().unwrap(),
            t.path().to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(copied.success());
    let dir = t.path().join("ticketing");
    let _ = std::fs::remove_dir_all(dir.join(".berth"));
    let start = Instant::now();
    let child = up(&dir, Some("none"));
    let services = [
        "web",
        "reservationengine",
        "queue",
        "broadcaster",
        "mailtool",
        "testdbserver",
    ];
    wait("the example ready", || {
        let s = status(&dir)?;
        let r = s["replicas"].as_array()?;
        services
            .iter()
            .all(|n| r.iter().any(|r| r["workload"] == *n && r["ready"] == true))
            .then_some(())
    });
    let took = start.elapsed();
    stop(child);
    took
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

/// A podman service on a socket of the bench's own, as a Docker or podman.socket user has.
fn engine_service(dir: &Path) -> (Child, String) {
    let socket = dir.join("podman.sock");
    let address = format!("unix://{}", socket.display());
    let child = Command::new("podman")
        .args(["system", "service", "--time=0", &address])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait("the podman service", || socket.exists().then_some(()));
    std::thread::sleep(Duration::from_millis(300));
    (child, address)
}

/// RSS of berth with ten containers, and one container's restart until its successor is ready.
fn ten_containers(engine: &str) -> (u64, Duration) {
    let t = folder(10);
    let child = up(t.path(), Some(engine));
    wait("ten ready", || {
        status(t.path())
            .filter(|s| ready_count(s) == 10)
            .map(|_| ())
    });
    std::thread::sleep(Duration::from_secs(2));
    let rss = std::fs::read_to_string(format!("/proc/{}/status", child.id()))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let before = status(t.path()).unwrap();
    let old: Vec<u64> = before["replicas"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["workload"] == "svc3")
        .map(|r| r["id"].as_u64().unwrap())
        .collect();
    let start = Instant::now();
    let out = berth()
        .args(["restart", "svc3", "-C", t.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait("svc3's successor ready", || {
        let s = status(t.path())?;
        s["replicas"]
            .as_array()?
            .iter()
            .any(|r| {
                r["workload"] == "svc3"
                    && !old.contains(&r["id"].as_u64().unwrap())
                    && r["ready"] == true
            })
            .then_some(())
    });
    let restart = start.elapsed();
    stop(child);
    (rss, restart)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    // PATH in the image: `podman kube play` sets none of its own.
    images::make_image(IMAGE, &[], &["ENV PATH=/bin"]).expect("podman and busybox-static");
    let scratch = tempfile::tempdir().unwrap();
    let (mut service, address) = engine_service(scratch.path());
    // Warm the image and the engine once for each way.
    berth_ready(6, Some(&address));
    kube_play(6);
    let (mut warm, mut cold, mut play, mut processes) = (vec![], vec![], vec![], vec![]);
    for _ in 0..ROUNDS {
        warm.push(berth_ready(6, Some(&address)));
        play.push(kube_play(6));
        cold.push(berth_ready(6, None));
        processes.push(example_processes());
    }
    let (warm, cold, play, processes) =
        (median(warm), median(cold), median(play), median(processes));
    println!("6 services, every replica ready (median of {ROUNDS}, alternating):");
    println!(
        "  berth up, engine running     {:>8}  {:.2}x podman kube play",
        ms(warm),
        warm.as_secs_f64() / play.as_secs_f64()
    );
    println!(
        "  berth up, starts podman      {:>8}  {:.2}x podman kube play",
        ms(cold),
        cold.as_secs_f64() / play.as_secs_f64()
    );
    println!("  podman kube play (anchor)    {:>8}", ms(play));
    println!("  the example as processes     {:>8}", ms(processes));
    let (rss, restart) = ten_containers(&address);
    println!(
        "berth with 10 containers: RSS {:.1} MB",
        rss as f64 / 1024.0
    );
    println!(
        "restart of one container until its successor is ready: {}",
        ms(restart)
    );
    let _ = service.kill();
    let _ = service.wait();
}
