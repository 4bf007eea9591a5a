//! `berth up` with real processes: the example platform on this machine, no cluster.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

mod local_support;
use local_support::*;

#[test]
fn example_runs_serves_restarts_and_stops_cleanly() {
    let t = example();
    let dir = t.path();
    let mut child = up(dir);
    let s = wait_for(dir, "every replica ready", all_ready);
    assert_eq!(s["replicas"].as_array().unwrap().len(), 8);
    let reminders = s["replicas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["workload"] == "reminders")
        .unwrap();
    assert!(
        reminders["message"].as_str().unwrap().contains(" UTC"),
        "{reminders}"
    );
    // The seed Job waited for the database, ran once and filled it.
    let (code, event) = http(&address(&s, "testdbserver"), "GET", "/kv/event-1", None);
    assert_eq!(code, 200, "{event}");
    assert!(event.contains("Opening night"));

    // `berth status` and `berth logs` from another terminal.
    let out = berth(&["status", dir.to_str().unwrap()]).output().unwrap();
    let table = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("web ") && l.contains("1/1  ready")),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("seed ") && l.contains("completed")),
        "{table}"
    );
    let out = berth(&["logs", "web", "-C", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("web-0 stdout web listening on 127.0.0.1:")
    );

    // A reservation through the Service; the same seat cannot be sold twice.
    let engine = address(&s, "reservationengine");
    let (code, body) = http(
        &engine,
        "POST",
        "/api/reservations",
        Some(r#"{"event":1,"seat":7,"customer":"ann"}"#),
    );
    assert_eq!(code, 201, "{body}");
    let (code, _) = http(
        &engine,
        "POST",
        "/api/reservations",
        Some(r#"{"event":1,"seat":7,"customer":"bob"}"#),
    );
    assert_eq!(code, 409);
    // queue -> web -> reservationengine, through service variables injected into each process.
    let (code, page) = http(&address(&s, "queue"), "GET", "/", None);
    assert_eq!(code, 200, "{page}");
    assert!(
        page.contains("Opening night: 19 of 20 seats left"),
        "{page}"
    );

    // The Ingress is the single entry point: host and path pick the Service.
    let ingress = s["ingress"]
        .as_str()
        .unwrap()
        .trim_start_matches("http://")
        .to_string();
    let (code, page) = http_host(&ingress, "ticketing.localhost", "GET", "/", None);
    assert_eq!(code, 200, "{page}");
    assert!(page.contains("<h1>Tickets</h1>"));
    // A page web does not have is web's 404 through queue, not a connection queue drops.
    let (code, page) = http_host(&ingress, "ticketing.localhost", "GET", "/nope", None);
    assert_eq!(code, 404, "{page}");
    let (code, body) = http_host(
        &ingress,
        "ticketing.localhost",
        "POST",
        "/api/reservations",
        Some(r#"{"event":2,"seat":1,"customer":"cy"}"#),
    );
    assert_eq!(code, 201, "{body}");
    let (code, _) = http_host(&ingress, "elsewhere.localhost", "GET", "/", None);
    assert_eq!(code, 404);
    // Server-sent events stream through as they are sent.
    let mut sse = TcpStream::connect(&ingress).unwrap();
    sse.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        sse,
        "GET /live HTTP/1.1\r\nHost: ticketing.localhost\r\n\r\n"
    )
    .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("\"customer\": \"cy\"") {
        let n = sse.read(&mut buf).unwrap();
        assert!(n > 0, "stream ended: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    drop(sse);

    // A second `up` with the same folder and flags changes nothing.
    let pids_before = pids(&s);
    let out = berth(&["up", dir.to_str().unwrap()]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("no changes (8 unchanged)"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(pids(&status(dir).unwrap()), pids_before);

    // A changed variable restarts only the service it reaches (queue reads it from a ConfigMap).
    let out = berth(&[
        "up",
        dir.to_str().unwrap(),
        "-v",
        "queue.rate_per_second=50",
    ])
    .output()
    .unwrap();
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(said.contains("restarted queue-0; 7 unchanged"), "{said}");
    let s = wait_for(dir, "queue ready again", all_ready);
    let queue_pid = |s: &serde_json::Value| {
        s["replicas"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["workload"] == "queue")
            .unwrap()["pid"]
            .as_i64()
            .unwrap() as i32
    };
    let after = pids(&s);
    let changed: Vec<&i32> = after.iter().filter(|p| !pids_before.contains(p)).collect();
    assert_eq!(
        changed,
        vec![&queue_pid(&s)],
        "only queue has a new process"
    );
    // A broken folder is refused before anything changes.
    std::fs::write(dir.join("broken.yaml"), "{{ .Variables.nope }}").unwrap();
    let out = berth(&["up", dir.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("map has no entry for key \"nope\""));
    std::fs::remove_file(dir.join("broken.yaml")).unwrap();
    assert_eq!(pids(&status(dir).unwrap()), after);

    // Killing a replica restarts it.
    let web = s["replicas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["workload"] == "web")
        .unwrap()["pid"]
        .as_i64()
        .unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(web as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let s = wait_for(dir, "web restarted and ready", |s| {
        s["replicas"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["workload"] == "web" && r["restarts"] == 1 && r["ready"] == true)
    });

    // `berth down` from another terminal: everything stops, nothing is left behind.
    let before = pids(&s);
    assert_eq!(before.len(), 6, "six services run; the Job has finished");
    let out = berth(&["down", dir.to_str().unwrap()]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(child.wait().unwrap().success());
    wait_gone(&before);
    assert!(!dir.join(".berth/up.json").exists());
    let out = berth(&["down", dir.to_str().unwrap()]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("no berth up is running"));
}

#[test]
fn a_killed_berth_leaves_no_orphans() {
    let t = example();
    let dir = t.path();
    let mut child = up(dir);
    let s = wait_for(dir, "every replica ready", all_ready);
    let before = pids(&s);
    child.kill().unwrap();
    child.wait().unwrap();
    wait_gone(&before);
}

#[test]
fn an_unresolved_reference_fails_that_service_only() {
    let t = example();
    let dir = t.path();
    let q = dir.join("queue.yaml");
    let text = std::fs::read_to_string(&q)
        .unwrap()
        .replace("key: rate_per_second", "key: rate_per_minute");
    std::fs::write(&q, text).unwrap();
    let mut child = up(dir);
    let s = wait_for(dir, "queue failed and the rest ready", |s| {
        let r = s["replicas"].as_array().unwrap();
        r.iter()
            .any(|r| r["workload"] == "queue" && r["phase"] == "failed")
            && r.iter().filter(|r| r["workload"] != "queue").all(settled)
    });
    let queue = s["replicas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["workload"] == "queue")
        .unwrap();
    assert_eq!(
        queue["message"],
        "env RATE_PER_SECOND: ConfigMap \"queue\" has no key \"rate_per_minute\""
    );
    // The ingress says which Service has no ready replica; the rest keeps serving.
    let ingress = s["ingress"]
        .as_str()
        .unwrap()
        .trim_start_matches("http://")
        .to_string();
    let (code, page) = http_host(&ingress, "ticketing.localhost", "GET", "/", None);
    assert_eq!(code, 503);
    assert!(
        page.contains("Service <b>queue</b> has no ready replica"),
        "{page}"
    );
    let (code, _) = http_host(
        &ingress,
        "ticketing.localhost",
        "GET",
        "/api/reservations",
        None,
    );
    assert_eq!(code, 200);
    let before = pids(&s);
    berth(&["down", dir.to_str().unwrap()]).output().unwrap();
    child.wait().unwrap();
    wait_gone(&before);
}

#[test]
fn a_failing_job_is_reported_and_blocks_what_depends_on_it() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    std::fs::write(
        dir.join("jobs.yaml"),
        r#"apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  annotations:
    berth.dev/run: |
      migrate:
        command: [python3, -c, "import sys; print('migration 3 failed'); sys.exit(3)"]
spec:
  backoffLimit: 1
  template:
    spec:
      restartPolicy: OnFailure
      containers:
        - name: migrate
          image: example/migrate
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: broken
  annotations:
    berth.dev/run: |
      broken: {command: [python3, -c, "pass"]}
spec:
  template:
    spec:
      containers:
        - name: broken
          image: example/broken
          readinessProbe: {httpGet: {path: /}}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  annotations:
    berth.dev/depends-on: migrate
    berth.dev/run: |
      api:
        command: [python3, -c, "import time; time.sleep(60)"]
spec:
  selector:
    matchLabels: {app: api}
  template:
    metadata:
      labels: {app: api}
    spec:
      containers:
        - name: api
          image: example/api
"#,
    )
    .unwrap();
    let mut child = up(dir);
    let s = wait_for(dir, "the Job failed and its dependent gave up", |s| {
        let r = s["replicas"].as_array().unwrap();
        r.iter().all(|r| r["phase"] == "failed")
    });
    let r = s["replicas"].as_array().unwrap();
    let migrate = r.iter().find(|r| r["workload"] == "migrate").unwrap();
    assert_eq!(
        migrate["restarts"], 1,
        "retried backoffLimit times: {migrate}"
    );
    assert!(
        migrate["message"]
            .as_str()
            .unwrap()
            .starts_with("exited with exit status: 3; see "),
        "{migrate}"
    );
    let log = std::fs::read_to_string(dir.join(".berth/logs/migrate.log")).unwrap();
    assert!(log.contains("migrate-0 stdout migration 3 failed"), "{log}");
    let broken = s["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == "broken")
        .unwrap();
    assert_eq!(
        broken["notRunnable"],
        "spec.template.spec.containers[0].readinessProbe.httpGet.port is missing"
    );
    let api = r.iter().find(|r| r["workload"] == "api").unwrap();
    assert_eq!(api["message"], "depends on Job \"migrate\", which failed");
    assert!(api["pid"].is_null(), "never started");
    berth(&["down", dir.to_str().unwrap()]).output().unwrap();
    child.wait().unwrap();
}

/// A service whose readiness and liveness answers can be switched over HTTP.
const FLAKY: &str = r#"
import os, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
state = {"ready": True, "live": True}
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        if self.path.startswith("/set/"):
            _, _, key, value = self.path.split("/")
            state[key] = value == "on"
            code = 200
        elif self.path in ("/ready", "/live"):
            code = 200 if state[self.path[1:]] else 500
        else:
            code = 200
        body = ("%s %s\n" % (os.environ["HOSTNAME"], os.getpid())).encode()
        self.send_response(code); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"#;

#[test]
fn readiness_gates_traffic_and_liveness_restarts() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    std::fs::write(dir.join("flaky.py"), FLAKY).unwrap();
    std::fs::write(
        dir.join("flaky.yaml"),
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: flaky
  annotations:
    berth.dev/run: |
      flaky: {command: [python3, -u, flaky.py]}
spec:
  replicas: 2
  selector: {matchLabels: {app: flaky}}
  template:
    metadata: {labels: {app: flaky}}
    spec:
      containers:
        - name: flaky
          image: example/flaky
          ports: [{name: http, containerPort: 8000}]
          readinessProbe: {httpGet: {path: /ready, port: http}, periodSeconds: 1, failureThreshold: 1}
          livenessProbe: {httpGet: {path: /live, port: http}, periodSeconds: 1, failureThreshold: 2}
---
apiVersion: v1
kind: Service
metadata: {name: flaky}
spec:
  selector: {app: flaky}
  ports: [{port: 80, targetPort: http}]
"#,
    )
    .unwrap();
    let mut child = up(dir);
    let s = wait_for(dir, "both replicas ready", all_ready);
    let svc = address(&s, "flaky");
    let replica = |s: &serde_json::Value, i: u64| {
        let r = s["replicas"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["index"] == i)
            .unwrap()
            .clone();
        format!("127.0.0.1:{}", r["ports"]["8000"])
    };
    // Round-robin over both replicas.
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..4 {
        seen.insert(
            http(&svc, "GET", "/", None)
                .1
                .split_whitespace()
                .next()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(seen.len(), 2, "{seen:?}");
    // Readiness off on replica 0: it leaves the rotation but keeps running.
    http(&replica(&s, 0), "GET", "/set/ready/off", None);
    wait_for(dir, "replica 0 not ready", |s| {
        s["replicas"][0]["ready"] == false && s["replicas"][1]["ready"] == true
    });
    for _ in 0..6 {
        assert!(
            http(&svc, "GET", "/", None).1.starts_with("flaky-1 "),
            "traffic only to the ready replica"
        );
    }
    // Liveness off on replica 1: it is killed and restarted.
    let s = status(dir).unwrap();
    http(&replica(&s, 1), "GET", "/set/live/off", None);
    let s = wait_for(dir, "replica 1 restarted and ready", |s| {
        s["replicas"][1]["restarts"] == 1 && s["replicas"][1]["ready"] == true
    });
    // The restart came from the failed liveness probe, not from some other exit.
    assert!(
        s["replicas"][1]["probeFailures"].as_u64() >= Some(1),
        "the probe failure counted: {}",
        s["replicas"][1]
    );
    assert_eq!(s["replicas"][0]["restarts"], 0, "replica 0 untouched");
    berth(&["down", dir.to_str().unwrap()]).output().unwrap();
    child.wait().unwrap();
}

/// A WebSocket echo server (one text frame), stdlib only.
const ECHO_WS: &str = r#"
import base64, hashlib, os, socketserver
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
class H(socketserver.StreamRequestHandler):
    def handle(self):
        head = {}
        first = self.rfile.readline()
        while True:
            line = self.rfile.readline().decode().strip()
            if not line:
                break
            k, v = line.split(":", 1)
            head[k.strip().lower()] = v.strip()
        if "upgrade" not in head:
            body = b"ok\n"
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n" + body)
            return
        accept = base64.b64encode(hashlib.sha1((head["sec-websocket-key"] + GUID).encode()).digest()).decode()
        self.wfile.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n" % accept).encode())
        b0, b1 = self.rfile.read(2)
        n = b1 & 0x7F
        mask = self.rfile.read(4)
        data = bytes(c ^ mask[i % 4] for i, c in enumerate(self.rfile.read(n)))
        self.wfile.write(bytes([0x81, len(data)]) + data)
socketserver.ThreadingTCPServer.allow_reuse_address = True
socketserver.ThreadingTCPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"#;

#[test]
fn websocket_upgrades_pass_through_the_ingress() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    std::fs::write(dir.join("ws.py"), ECHO_WS).unwrap();
    std::fs::write(
        dir.join("ws.yaml"),
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: ws
  annotations:
    berth.dev/run: |
      ws: {command: [python3, -u, ws.py]}
spec:
  selector: {matchLabels: {app: ws}}
  template:
    metadata: {labels: {app: ws}}
    spec:
      containers:
        - name: ws
          image: example/ws
          ports: [{name: http, containerPort: 9000}]
          readinessProbe:
            exec:
              command: [python3, -c, "import os, socket; socket.create_connection(('127.0.0.1', int(os.environ['PORT'])))"]
---
apiVersion: v1
kind: Service
metadata: {name: ws}
spec:
  selector: {app: ws}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: ws}
spec:
  rules:
    - http:
        paths:
          - path: /socket
            pathType: Exact
            backend: {service: {name: ws, port: {name: http}}}
"#,
    )
    .unwrap();
    let mut child = up(dir);
    let s = wait_for(dir, "ws ready", all_ready);
    let ingress = s["ingress"]
        .as_str()
        .unwrap()
        .trim_start_matches("http://")
        .to_string();
    let mut c = TcpStream::connect(&ingress).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        c,
        "GET /socket HTTP/1.1\r\nHost: any\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        c.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    // Header names are case-insensitive (hyper writes them in lower case).
    assert!(
        head.lines().any(|l| l
            .split_once(':')
            .is_some_and(|(k, v)| k.eq_ignore_ascii_case("sec-websocket-accept")
                && v.trim() == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")),
        "{head}"
    );
    let mask = [1u8, 2, 3, 4];
    let payload: Vec<u8> = b"hello"
        .iter()
        .enumerate()
        .map(|(i, b)| b ^ mask[i % 4])
        .collect();
    let mut frame = vec![0x81, 0x80 | 5];
    frame.extend_from_slice(&mask);
    frame.extend_from_slice(&payload);
    c.write_all(&frame).unwrap();
    let mut echo = [0u8; 7];
    c.read_exact(&mut echo).unwrap();
    assert_eq!(&echo, b"\x81\x05hello");
    berth(&["down", dir.to_str().unwrap()]).output().unwrap();
    child.wait().unwrap();
}

#[test]
fn saved_changes_are_applied_while_running() {
    let t = example();
    let dir = t.path();
    let mut child = up(dir);
    let s = wait_for(dir, "every replica ready", all_ready);
    let before = pids(&s);
    let generation = s["generation"].as_u64().unwrap();

    // Save a changed variable: only the service it reaches restarts.
    let vars = dir.join("variables.yaml");
    let text = std::fs::read_to_string(&vars).unwrap();
    std::fs::write(
        &vars,
        text.replace("rate_per_second: 20", "rate_per_second: 35"),
    )
    .unwrap();
    let s = wait_for(dir, "the save applied and queue ready", |s| {
        s["generation"].as_u64() > Some(generation) && all_ready(s)
    });
    assert_eq!(
        s["lastApply"]["restarted"],
        serde_json::json!(["queue-0"]),
        "{}",
        s["lastApply"]
    );
    let after = pids(&s);
    assert_eq!(
        after.iter().filter(|p| !before.contains(p)).count(),
        1,
        "only queue has a new process"
    );

    // Rendering reads the files; that must not count as a change (no apply loop).
    let settled_at = status(dir).unwrap()["generation"].as_u64();
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(
        status(dir).unwrap()["generation"].as_u64(),
        settled_at,
        "applies keep coming without a save"
    );

    // Save a broken template: nothing changes, the error is shown.
    std::fs::write(dir.join("broken.yaml"), "kind: {{ .Variables.missing }}\n").unwrap();
    let s = wait_for(dir, "the error reported", |s| {
        s["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("missing"))
    });
    assert!(
        s["lastError"].as_str().unwrap().contains("broken.yaml:1"),
        "{}",
        s["lastError"]
    );
    assert_eq!(pids(&s), after);
    // Fix it: the error clears, and nothing restarts.
    std::fs::remove_file(dir.join("broken.yaml")).unwrap();
    let s = wait_for(dir, "the error cleared", |s| s["lastError"].is_null());
    assert_eq!(pids(&s), after);
    berth(&["down", dir.to_str().unwrap()]).output().unwrap();
    child.wait().unwrap();
}

#[test]
fn ports_in_use_name_their_holder() {
    let taken_ingress = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_service = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (ip, sp) = (
        taken_ingress.local_addr().unwrap().port(),
        taken_service.local_addr().unwrap().port(),
    );
    let me = format!("(pid {})", std::process::id());
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    std::fs::write(
        dir.join("site.yaml"),
        format!(
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: site
  annotations:
    berth.dev/run: |
      site:
        command: [python3, -c, "import http.server, os; http.server.ThreadingHTTPServer(('127.0.0.1', int(os.environ['PORT'])), http.server.SimpleHTTPRequestHandler).serve_forever()"]
spec:
  selector: {{matchLabels: {{app: site}}}}
  template:
    metadata: {{labels: {{app: site}}}}
    spec:
      containers: [{{name: site, image: x, ports: [{{name: http, containerPort: 8000}}]}}]
---
apiVersion: v1
kind: Service
metadata: {{name: site}}
spec:
  selector: {{app: site}}
  ports: [{{port: {sp}, targetPort: http}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{name: site}}
spec:
  rules: [{{http: {{paths: [{{path: /, pathType: Prefix, backend: {{service: {{name: site, port: {{number: {sp}}}}}}}}}]}}}}]
"#
        ),
    )
    .unwrap();
    // The ingress address is taken: berth says by whom and what to do, and starts nothing.
    let out = berth(&[
        "up",
        dir.to_str().unwrap(),
        "--ingress",
        &format!("127.0.0.1:{ip}"),
    ])
    .output()
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("ingress address 127.0.0.1:{ip} is in use by")) && err.contains(&me),
        "{err}"
    );
    assert!(err.contains("--ingress 127.0.0.1:PORT"), "{err}");
    // A Service port is taken: it listens elsewhere and the status says why.
    let mut child = up(dir);
    let s = wait_for(dir, "site ready", all_ready);
    let svc = &s["services"][0];
    let note = svc["notes"][0].as_str().unwrap();
    assert!(
        note.starts_with(&format!("port {sp} is in use by")) && note.contains(&me),
        "{note}"
    );
    assert_ne!(svc["addresses"][0], format!("127.0.0.1:{sp}"));
    berth(&["down", dir.to_str().unwrap()]).output().unwrap();
    child.wait().unwrap();
    drop((taken_ingress, taken_service));
}

/// A `-f` values file outside the folder is watched like the folder's own files.
#[test]
fn a_values_file_outside_the_folder_is_watched() {
    let t = example();
    let dir = t.path();
    let extra = tempfile::tempdir().unwrap();
    let values = extra.path().join("mine.yaml");
    std::fs::write(&values, "queue:\n  rate_per_second: 21\n").unwrap();
    let mut child = up_with(
        dir,
        &["--listen", "127.0.0.1:0", "-f", values.to_str().unwrap()],
    );
    let s = wait_for(dir, "every replica ready", all_ready);
    let generation = s["generation"].as_u64().unwrap();
    std::fs::write(&values, "queue:\n  rate_per_second: 22\n").unwrap();
    let s = wait_for(dir, "the values file applied", |s| {
        s["generation"].as_u64() > Some(generation) && all_ready(s)
    });
    assert_eq!(s["lastApply"]["restarted"], serde_json::json!(["queue-0"]));
    berth(&["down", dir.to_str().unwrap()]).output().unwrap();
    child.wait().unwrap();
}

/// A Helm chart runs with `berth up` as a deploy folder does: its Deployments as processes
/// (from the `berth.dev/run` annotation), Services and the Ingress in front, and stops cleanly.
#[test]
fn the_example_chart_runs_with_berth_up() {
    let t = tempfile::tempdir().unwrap();
    copy_dir(&repo().join("examples/guestbook"), t.path());
    let dir = t.path();
    let mut child = up_with(dir, &["--release", "gb"]);
    let s = wait_for(dir, "every replica ready", all_ready);
    // The status (and so the dashboard) names the release and the chart.
    assert_eq!(s["chart"]["release"], "gb", "{s:#}");
    assert_eq!(s["chart"]["name"], "guestbook");
    assert_eq!(s["chart"]["version"], "0.1.0");
    let ingress = s["ingress"]
        .as_str()
        .unwrap()
        .trim_start_matches("http://")
        .to_string();
    let (code, _) = http_host(&ingress, "guestbook.localhost", "POST", "/", Some(""));
    assert_eq!(
        code, 400,
        "an empty entry is refused by the api through web"
    );
    let form = "text=signed+through+the+ingress";
    let mut reply = String::new();
    {
        let mut stream = TcpStream::connect(&ingress).unwrap();
        write!(
            stream,
            "POST / HTTP/1.1\r\nHost: guestbook.localhost\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
            form.len()
        )
        .unwrap();
        stream.read_to_string(&mut reply).unwrap();
    }
    assert!(
        reply.lines().next().unwrap_or("").contains(" 303 "),
        "{reply}"
    );
    let (code, page) = http_host(&ingress, "guestbook.localhost", "GET", "/", None);
    assert_eq!(code, 200, "{page}");
    assert!(page.contains("signed through the ingress"), "{page}");
    let before = pids(&s);
    assert_eq!(before.len(), 2, "{s}");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    child.wait().unwrap();
    wait_gone(&before);
}

/// A chart you do not own carries no `berth.dev/run`: its run specs come from a file beside
/// the invocation (`--run FILE`); a file naming a workload the chart lacks is refused.
#[test]
fn run_specs_for_a_chart_come_from_a_run_file() {
    let t = tempfile::tempdir().unwrap();
    let chart = t.path().join("chart");
    copy_dir(&repo().join("examples/guestbook"), &chart);
    for f in ["api.yaml", "web.yaml"] {
        let p = chart.join("templates").join(f);
        let text = std::fs::read_to_string(&p).unwrap();
        let mut out = Vec::new();
        let mut skipping = false;
        for line in text.lines() {
            if line.trim_start().starts_with("berth.dev/run:") {
                skipping = true;
                continue;
            }
            if skipping && line.starts_with("      ") {
                continue;
            }
            skipping = false;
            out.push(line);
        }
        std::fs::write(&p, out.join("\n")).unwrap();
    }
    let run = t.path().join("run.yaml");
    std::fs::write(
        &run,
        "Deployment/api:\n  api: {command: [python3, -u, api.py], workdir: services}\nDeployment/web:\n  web: {command: [python3, -u, web.py], workdir: services}\n",
    )
    .unwrap();
    let bad = t.path().join("bad.yaml");
    std::fs::write(&bad, "Deployment/nope:\n  x: {command: [true]}\n").unwrap();
    let out = berth(&[
        "up",
        chart.to_str().unwrap(),
        "--ingress",
        "127.0.0.1:0",
        "--run",
        bad.to_str().unwrap(),
    ])
    .output()
    .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.yaml") && err.contains("Deployment/nope"),
        "{err}"
    );
    assert!(
        err.contains("Deployment/api"),
        "the error lists the workloads: {err}"
    );

    let mut child = up_with(&chart, &["--run", run.to_str().unwrap()]);
    let s = wait_for(&chart, "every replica ready", all_ready);
    let ingress = s["ingress"]
        .as_str()
        .unwrap()
        .trim_start_matches("http://")
        .to_string();
    let (code, page) = http_host(&ingress, "guestbook.localhost", "GET", "/", None);
    assert_eq!(code, 200, "{page}");
    let before = pids(&s);
    assert_eq!(before.len(), 2, "{s}");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    child.wait().unwrap();
    wait_gone(&before);
}
