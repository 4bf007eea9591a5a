//! Benchmark (not a test): berth's Ingress against nginx as a keep-alive reverse proxy, in one
//! run, with wrk on loopback. Three rows on the same static backend (an nginx serving a small
//! page, run by `berth up` as the folder's only Deployment):
//!
//! - `direct`: wrk straight to the backend replica;
//! - `nginx`: wrk to an nginx reverse proxy with a keep-alive upstream pool to that replica;
//! - `berth`: wrk to berth's Ingress, routing the same path to the same replica.
//!
//! At 32 connections (requests/s, p50, p99) in rounds of nginx and berth by turns, and at 1
//! connection (p50, p99). Targets (issues 15 and 23): berth >= 90% of nginx's requests/s and
//! p99 <= nginx's + 0.5 ms at 32 connections in every round, p50 <= nginx's + 0.1 ms at 1
//! connection, and no errors (wrk's non-2xx and socket errors are counted, never ignored).
//!
//! Run with `cargo bench -p berth --bench ingress` (needs `nginx` and `wrk`, Debian packages;
//! `BERTH_BENCH_SECONDS` sets the duration of each wrk run, 8 by default; `BERTH_BENCH_ROUNDS`
//! the number of rounds, 3 by default).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PAGE: &str = "<!doctype html><title>static</title><p>A static page served by nginx, about half a kilobyte, the same for every request so that only the proxies differ. Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat.</p>\n";

fn nginx_binary() -> String {
    std::env::var("BERTH_NGINX").unwrap_or_else(|_| "nginx".into())
}

/// An nginx.conf: `workers` processes, files under `root`, `servers` inside `http`.
fn nginx_conf(root: &Path, name: &str, workers: &str, servers: &str) -> String {
    format!(
        r#"daemon off;
worker_processes {workers};
error_log stderr warn;
pid {root}/{name}.pid;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {root}/tmp; proxy_temp_path {root}/tmp; fastcgi_temp_path {root}/tmp;
  uwsgi_temp_path {root}/tmp; scgi_temp_path {root}/tmp;
  keepalive_requests 1000000;
{servers}
}}
"#,
        root = root.display()
    )
}

/// The backend's nginx.conf, with `PORT` put in by the run spec's shell.
fn backend_conf(root: &Path) -> String {
    let servers = format!(
        "  server {{\n    listen 127.0.0.1:PORT;\n    root {}/www;\n    location / {{ }}\n  }}",
        root.display()
    );
    nginx_conf(root, "backend-PORT", "1", &servers)
}

/// nginx as a reverse proxy with a keep-alive upstream pool, as a tuned setup would be.
fn proxy_conf(root: &Path, listen: u16, backend: u16) -> String {
    let servers = format!(
        r#"  upstream backend {{
    server 127.0.0.1:{backend};
    keepalive 64;
  }}
  server {{
    listen 127.0.0.1:{listen};
    location / {{
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
    }}
  }}"#
    );
    nginx_conf(root, "proxy", "auto", &servers)
}

fn folder(root: &Path) {
    std::fs::create_dir_all(root.join("www")).unwrap();
    std::fs::create_dir_all(root.join("tmp")).unwrap();
    std::fs::write(root.join("www/index.html"), PAGE).unwrap();
    std::fs::write(root.join("backend.conf.in"), backend_conf(root)).unwrap();
    let nginx = nginx_binary();
    std::fs::write(
        root.join("static.yaml"),
        format!(
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: static
  annotations:
    berth.dev/run: |
      static:
        command: [sh, -c, 'sed "s/PORT/$PORT/g" backend.conf.in > backend-$PORT.conf && exec {nginx} -e stderr -c "$PWD/backend-$PORT.conf"']
spec:
  replicas: 1
  selector: {{matchLabels: {{app: static}}}}
  template:
    metadata: {{labels: {{app: static}}}}
    spec:
      containers:
        - name: static
          image: nginx
          ports: [{{name: http, containerPort: 80}}]
          readinessProbe: {{tcpSocket: {{port: http}}, periodSeconds: 1}}
---
apiVersion: v1
kind: Service
metadata: {{name: static}}
spec:
  selector: {{app: static}}
  ports: [{{port: 80, targetPort: http}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{name: static}}
spec:
  rules:
    - host: static.localhost
      http:
        paths:
          - path: /
            pathType: Prefix
            backend: {{service: {{name: static, port: {{number: 80}}}}}}
"#
        ),
    )
    .unwrap();
}

fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn status(dir: &Path) -> Option<serde_json::Value> {
    serde_json::from_str(&std::fs::read_to_string(dir.join(".berth/up.json")).ok()?).ok()
}

fn wait<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One wrk run's figures.
#[derive(Debug, Clone, Copy)]
struct Run {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
}

fn wrk(url: &str, connections: u32, seconds: u64) -> Run {
    let threads = connections.min(2);
    let out = Command::new("wrk")
        .args([
            "-t",
            &threads.to_string(),
            "-c",
            &connections.to_string(),
            "-d",
            &format!("{seconds}s"),
            "--latency",
            "-H",
            "Host: static.localhost",
            url,
        ])
        .output()
        .expect("wrk (Debian package wrk) must be installed");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let field = |prefix: &str| -> Option<String> {
        text.lines()
            .map(str::trim)
            .find(|l| l.starts_with(prefix))
            .map(|l| l.split_whitespace().nth(1).unwrap_or("").to_string())
    };
    let rps = field("Requests/sec:")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Requests/sec in wrk's output:\n{text}"));
    let errors = text
        .lines()
        .filter(|l| l.contains("Non-2xx") || l.contains("Socket errors"))
        .flat_map(|l| l.split(|c: char| !c.is_ascii_digit()))
        .filter_map(|n| n.parse::<u64>().ok())
        .sum();
    Run {
        rps,
        p50_ms: millis(&field("50%").unwrap_or_default()),
        p99_ms: millis(&field("99%").unwrap_or_default()),
        errors,
    }
}

/// wrk's `1.23ms`, `456.00us`, `1.02s` in milliseconds.
fn millis(v: &str) -> f64 {
    let (n, scale) = if let Some(n) = v.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = v.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1000.0)
    } else {
        (v, f64::NAN)
    };
    n.parse::<f64>().map_or(f64::NAN, |x| x * scale)
}

struct Stop(Vec<Child>);

impl Drop for Stop {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(c.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let _ = c.wait();
        }
    }
}

fn main() {
    let seconds: u64 = std::env::var("BERTH_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8);
    let tmp = tempfile::tempdir().unwrap();
    let root: PathBuf = tmp.path().to_path_buf();
    folder(&root);
    let berth = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["up", root.to_str().unwrap(), "--ingress", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut children = Stop(vec![berth]);
    let s = wait("the backend ready", || {
        let s = status(&root)?;
        let ready = s["replicas"].as_array()?.iter().all(|r| r["ready"] == true);
        (ready && s["ingress"].is_string()).then_some(s)
    });
    let backend = s["replicas"][0]["ports"]["80"].as_u64().unwrap() as u16;
    let ingress = s["ingress"].as_str().unwrap().to_string();
    let proxy_port = free_port();
    std::fs::write(
        root.join("proxy.conf"),
        proxy_conf(&root, proxy_port, backend),
    )
    .unwrap();
    let proxy = Command::new(nginx_binary())
        .args(["-e", "stderr", "-c"])
        .arg(root.join("proxy.conf"))
        .stdout(Stdio::null())
        .spawn()
        .expect("nginx (Debian package nginx) must be installed");
    children.0.push(proxy);
    wait("nginx proxy listening", || {
        std::net::TcpStream::connect(("127.0.0.1", proxy_port))
            .ok()
            .map(|_| ())
    });
    let rows = [
        ("direct", format!("http://127.0.0.1:{backend}/")),
        ("nginx", format!("http://127.0.0.1:{proxy_port}/")),
        ("berth", format!("{ingress}/")),
    ];
    // Warm every path (pools, caches) before measuring.
    for (_, url) in &rows {
        wrk(url, 32, 1);
    }
    let rounds: usize = std::env::var("BERTH_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    println!(
        "wrk on loopback, {seconds} s per run, a {} byte static page, {rounds} alternating rounds",
        PAGE.len()
    );
    println!(
        "{:<6} {:<8} {:>5} {:>12} {:>10} {:>10} {:>7}",
        "round", "path", "conns", "requests/s", "p50 ms", "p99 ms", "errors"
    );
    let show = |round: &str, name: &str, connections: u32, r: &Run| {
        println!(
            "{round:<6} {name:<8} {connections:>5} {:>12.0} {:>10.3} {:>10.3} {:>7}",
            r.rps, r.p50_ms, r.p99_ms, r.errors
        )
    };
    show("-", "direct", 32, &wrk(&rows[0].1, 32, seconds));
    // nginx and berth by turns, the first to go alternating, so that neither always runs on a
    // warmer or a busier machine.
    let mut pairs = Vec::new();
    for round in 0..rounds {
        let order = if round % 2 == 0 { [1, 2] } else { [2, 1] };
        let mut pair = [None, None];
        for k in order {
            let r = wrk(&rows[k].1, 32, seconds);
            show(&(round + 1).to_string(), rows[k].0, 32, &r);
            pair[k - 1] = Some(r);
        }
        pairs.push((pair[0].unwrap(), pair[1].unwrap()));
    }
    let (n1, b1) = (wrk(&rows[1].1, 1, seconds), wrk(&rows[2].1, 1, seconds));
    show("-", "nginx", 1, &n1);
    show("-", "berth", 1, &b1);
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    let ratios: Vec<f64> = pairs.iter().map(|(n, b)| b.rps / n.rps).collect();
    let worst = ratios.iter().copied().fold(f64::INFINITY, f64::min);
    println!();
    println!(
        "berth/nginx requests/s at 32 connections, per round: {} (target >= 0.90 in every round: {})",
        ratios.iter().map(|r| format!("{r:.2}")).collect::<Vec<_>>().join(", "),
        verdict(worst >= 0.9)
    );
    let p99: Vec<f64> = pairs.iter().map(|(n, b)| b.p99_ms - n.p99_ms).collect();
    let worst_p99 = p99.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    println!(
        "p99 at 32 connections, berth minus nginx, per round: {} ms (target <= +0.5 in every round: {})",
        p99.iter().map(|d| format!("{d:+.3}")).collect::<Vec<_>>().join(", "),
        verdict(worst_p99 <= 0.5)
    );
    println!(
        "p50 at 1 connection: berth {:.3} ms, nginx {:.3} ms, difference {:+.3} ms (target <= +0.1: {})",
        b1.p50_ms,
        n1.p50_ms,
        b1.p50_ms - n1.p50_ms,
        verdict(b1.p50_ms <= n1.p50_ms + 0.1)
    );
    let errors: u64 =
        pairs.iter().map(|(n, b)| n.errors + b.errors).sum::<u64>() + n1.errors + b1.errors;
    println!(
        "errors (non-2xx answers and socket errors) in all runs: {errors} (target 0: {})",
        verdict(errors == 0)
    );
    drop(children);
}
