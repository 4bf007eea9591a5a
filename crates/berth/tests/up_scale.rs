//! `berth up` at scale: a generated folder of 50 services x 2 replicas starts, is shown whole by
//! the dashboard's API, idles cheaply and stops cleanly. Prints the time to all-ready, berth's
//! RSS and its CPU use at idle (the figures issue 15 asks to report).

mod local_support;
use local_support::*;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const SERVICES: usize = 50;
const REPLICAS: usize = 2;

const SERVER: &str = r#"
import http.server, os
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *a): pass
print("listening", flush=True)
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"#;

fn service(i: usize) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: svc{i:02}
  annotations:
    berth.dev/run: |
      app: {{command: [python3, -u, server.py]}}
spec:
  replicas: {REPLICAS}
  selector: {{matchLabels: {{app: svc{i:02}}}}}
  template:
    metadata: {{labels: {{app: svc{i:02}}}}}
    spec:
      containers:
        - name: app
          image: example/svc
          ports: [{{name: http, containerPort: 8000}}]
          readinessProbe: {{tcpSocket: {{port: http}}, periodSeconds: 1}}
---
apiVersion: v1
kind: Service
metadata: {{name: svc{i:02}}}
spec:
  selector: {{app: svc{i:02}}}
  ports: [{{port: {port}, targetPort: http}}]
"#,
        port = 20000 + i
    )
}

fn get_json(addr: &str, path: &str) -> serde_json::Value {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let body = out.split_once("\r\n\r\n").unwrap().1;
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[test]
fn fifty_services_of_two_replicas_start_show_idle_and_stop() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    std::fs::write(dir.join("server.py"), SERVER).unwrap();
    for i in 0..SERVICES {
        std::fs::write(dir.join(format!("svc{i:02}.yaml")), service(i)).unwrap();
    }
    let started = Instant::now();
    let mut child = up(dir);
    let s = wait_for(dir, "every replica ready", |s| {
        let r = s["replicas"].as_array().unwrap();
        r.len() == SERVICES * REPLICAS && r.iter().all(|r| r["ready"] == true)
    });
    let all_ready = started.elapsed();
    let pid = child.id();

    // The dashboard's API shows every service and replica.
    let dashboard = s["dashboard"]
        .as_str()
        .unwrap()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let env = get_json(&dashboard, "/api/v1/environment");
    let services = env["services"].as_array().unwrap();
    let workloads: Vec<_> = services
        .iter()
        .filter(|s| s["name"].as_str().is_some_and(|n| n.starts_with("svc")))
        .collect();
    assert_eq!(workloads.len(), SERVICES, "{env:#}");
    for w in &workloads {
        assert_eq!(w["replicas"].as_array().unwrap().len(), REPLICAS, "{w:#}");
        assert_eq!(w["health"], "ready", "{w:#}");
    }
    // Each Service answers through its listener.
    let (code, body) = http(&address(&s, "svc49"), "GET", "/", None);
    assert_eq!((code, body.as_str()), (200, "ok"));

    // Idle: probes keep running, nothing else.
    std::thread::sleep(Duration::from_secs(1));
    let before = cpu_seconds(pid);
    let idle = Duration::from_secs(5);
    std::thread::sleep(idle);
    let cpu = (cpu_seconds(pid) - before) / idle.as_secs_f64();
    let rss = rss_kib(pid);
    eprintln!(
        "scale: {} replicas of {SERVICES} services ready after {all_ready:.2?}; berth RSS {} MiB, CPU at idle {:.1}% of a core",
        SERVICES * REPLICAS,
        rss / 1024,
        cpu * 100.0
    );
    assert!(
        cpu < 0.25,
        "berth used {:.0}% of a core while idle",
        cpu * 100.0
    );

    let pids = pids(&status(dir).unwrap());
    assert_eq!(pids.len(), SERVICES * REPLICAS);
    let out = berth(&["down", dir.to_str().unwrap()]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    child.wait().unwrap();
    wait_gone(&pids);
    assert!(status(dir).is_none(), "the state file is removed on stop");
}
