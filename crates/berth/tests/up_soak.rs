//! A bounded soak of `berth up`: steady GET traffic through the Ingress and event-stream clients
//! on the dashboard while a 2-replica service is restarted, scaled and redeployed, over and
//! over. No GET may fail (readiness gates traffic, the old replica goes only once its successor
//! is ready, failed attempts are retried), and berth's file descriptors and memory come back to
//! their baseline. `BERTH_SOAK_SECONDS` sets how long the changes go on (20 by default).

mod local_support;
use local_support::*;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Answers `GET /` with its version and pid; `/ready` once it listens.
const API: &str = r#"
import http.server, os
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    def do_GET(self):
        body = f"{os.environ.get('VERSION')} {os.getpid()}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"#;

fn folder_yaml(version: u32, replicas: u32) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  annotations:
    berth.dev/run: |
      api: {{command: [python3, -u, api.py]}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: api}}}}
  template:
    metadata: {{labels: {{app: api}}}}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
        - name: api
          image: example/api
          env: [{{name: VERSION, value: "v{version}"}}]
          ports: [{{name: http, containerPort: 8000}}]
          readinessProbe: {{httpGet: {{path: /ready, port: http}}, periodSeconds: 1}}
---
apiVersion: v1
kind: Service
metadata: {{name: api}}
spec:
  selector: {{app: api}}
  ports: [{{name: http, port: 80, targetPort: http}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{name: api}}
spec:
  rules:
    - http:
        paths:
          - path: /
            pathType: Prefix
            backend: {{service: {{name: api, port: {{name: http}}}}}}
"#
    )
}

#[derive(Default)]
struct Counts {
    ok: AtomicU64,
    failed: AtomicU64,
}

/// Keep-alive GETs, one after another, until `stop`; a connection error or a non-200 is a failure
/// (then a new connection).
fn load(
    addr: String,
    stop: Arc<AtomicBool>,
    counts: Arc<Counts>,
    last_failure: Arc<std::sync::Mutex<String>>,
) {
    let mut conn: Option<BufReader<TcpStream>> = None;
    while !stop.load(Ordering::Relaxed) {
        let c = match conn.as_mut() {
            Some(c) => c,
            None => match TcpStream::connect(&addr) {
                Ok(s) => {
                    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                    conn.insert(BufReader::new(s))
                }
                Err(e) => {
                    counts.failed.fetch_add(1, Ordering::Relaxed);
                    *last_failure.lock().unwrap() = format!("connect: {e}");
                    continue;
                }
            },
        };
        match get(c) {
            Ok(200) => {
                counts.ok.fetch_add(1, Ordering::Relaxed);
            }
            other => {
                counts.failed.fetch_add(1, Ordering::Relaxed);
                *last_failure.lock().unwrap() = format!("{other:?}");
                conn = None;
            }
        }
    }
}

/// One GET on a keep-alive connection; the status code.
fn get(c: &mut BufReader<TcpStream>) -> std::io::Result<u16> {
    c.get_mut()
        .write_all(b"GET / HTTP/1.1\r\nHost: soak.localhost\r\n\r\n")?;
    let mut line = String::new();
    c.read_line(&mut line)?;
    let code: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let mut length = 0usize;
    loop {
        line.clear();
        if c.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0u8; length];
    c.read_exact(&mut body)?;
    Ok(code)
}

/// Reads the dashboard's event stream until `stop`; returns how many bytes came.
fn events(addr: String, stop: Arc<AtomicBool>) -> usize {
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    write!(
        s,
        "GET /api/v1/events HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
    )
    .unwrap();
    let mut total = 0;
    let mut buf = [0u8; 8192];
    while !stop.load(Ordering::Relaxed) {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => total += n,
            Err(_) => continue,
        }
    }
    total
}

fn ctl(dir: &Path, args: &[&str]) {
    let mut all = args.to_vec();
    all.extend(["-C", dir.to_str().unwrap()]);
    let out = berth(&all).output().unwrap();
    assert!(
        out.status.success(),
        "berth {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn ready_replicas(s: &serde_json::Value) -> usize {
    s["replicas"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["ready"] == true)
        .count()
}

#[test]
fn traffic_survives_restarts_scaling_and_redeploys_and_resources_return_to_baseline() {
    let seconds: u64 = std::env::var("BERTH_SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    std::fs::write(dir.join("api.py"), API).unwrap();
    std::fs::write(dir.join("api.yaml"), folder_yaml(1, 2)).unwrap();
    let child = up(dir);
    let pid = child.id();
    let s = wait_for(dir, "both replicas ready", |s| ready_replicas(s) == 2);
    let ingress = s["ingress"]
        .as_str()
        .unwrap()
        .trim_start_matches("http://")
        .to_string();
    let dashboard = s["dashboard"]
        .as_str()
        .unwrap()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();

    let stop = Arc::new(AtomicBool::new(false));
    let counts = Arc::new(Counts::default());
    let last_failure = Arc::new(std::sync::Mutex::new(String::new()));
    let start_clients = |stop: &Arc<AtomicBool>| {
        let mut handles = Vec::new();
        for _ in 0..4 {
            let (a, st, c, l) = (
                ingress.clone(),
                stop.clone(),
                counts.clone(),
                last_failure.clone(),
            );
            handles.push(std::thread::spawn(move || load(a, st, c, l)));
        }
        let streams: Vec<_> = (0..2)
            .map(|_| {
                let (a, st) = (dashboard.clone(), stop.clone());
                std::thread::spawn(move || events(a, st))
            })
            .collect();
        (handles, streams)
    };
    // Warm up, then take the baseline with the same clients connected.
    let (warm, warm_streams) = start_clients(&stop);
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    warm.into_iter().for_each(|h| h.join().unwrap());
    warm_streams.into_iter().for_each(|h| drop(h.join()));
    std::thread::sleep(Duration::from_millis(500));
    let (fd_base, rss_base) = (fds(pid), rss_kib(pid));

    let stop = Arc::new(AtomicBool::new(false));
    let (loaders, streams) = start_clients(&stop);
    let end = Instant::now() + Duration::from_secs(seconds);
    let mut version = 1;
    let mut round = 0;
    while Instant::now() < end {
        match round % 3 {
            0 => ctl(dir, &["restart", "api"]),
            1 => {
                ctl(dir, &["scale", "api", "3"]);
                wait_for(dir, "three ready", |s| ready_replicas(s) == 3);
                ctl(dir, &["scale", "api", "2"]);
            }
            _ => {
                version += 1;
                let before = status(dir).unwrap()["generation"].as_u64().unwrap();
                std::fs::write(dir.join("api.yaml"), folder_yaml(version, 2)).unwrap();
                wait_for(dir, "the new version applied", |s| {
                    s["generation"].as_u64().unwrap_or(0) > before
                });
            }
        }
        wait_for(dir, "two ready", |s| {
            ready_replicas(s) == 2 && s["replicas"].as_array().unwrap().len() == 2
        });
        round += 1;
    }
    stop.store(true, Ordering::Relaxed);
    loaders.into_iter().for_each(|h| h.join().unwrap());
    let streamed: usize = streams.into_iter().map(|h| h.join().unwrap()).sum();
    let (ok, failed) = (
        counts.ok.load(Ordering::Relaxed),
        counts.failed.load(Ordering::Relaxed),
    );
    eprintln!("soak: {round} rounds of changes in {seconds} s, {ok} GETs ok, {failed} failed, {streamed} bytes of events");
    // A floor a loaded 2-core machine still clears by far (about 20 a second): the test is
    // about the failures, not the rate.
    assert!(ok > 200, "too little traffic to mean anything: {ok}");
    assert_eq!(
        failed,
        0,
        "failed GETs; the last: {}",
        last_failure.lock().unwrap()
    );
    assert!(streamed > 0, "the event streams saw nothing");

    // Resources back to the baseline once the clients are gone (idle upstream connections to
    // replicas that stopped are closed by then).
    let deadline = Instant::now() + Duration::from_secs(15);
    let (mut fd_now, mut rss_now);
    loop {
        (fd_now, rss_now) = (fds(pid), rss_kib(pid));
        if fd_now <= fd_base + 4 || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    eprintln!("soak: fds {fd_base} -> {fd_now}, RSS {rss_base} KiB -> {rss_now} KiB");
    assert!(
        fd_now <= fd_base + 4,
        "file descriptors leaked: {fd_base} -> {fd_now}"
    );
    assert!(
        rss_now <= rss_base + rss_base / 2 + 4096,
        "memory grew: {rss_base} KiB -> {rss_now} KiB"
    );
    let out = berth(&["down", dir.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success());
    drop(child);
}
