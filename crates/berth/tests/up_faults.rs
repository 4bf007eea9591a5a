//! `berth up` against processes that misbehave, and over time: ports taken by other programs,
//! services that ignore SIGTERM, crash storms, forked children, chatty logs and a full disk.
//! Each scenario runs real processes from a small folder of its own.

mod local_support;
use local_support::*;
mod webhook;
use webhook::webhook_server;

use std::path::Path;
use std::time::{Duration, Instant};

/// A Deployment named `name` running `script` (Python) with one port, behind a Service.
fn service_yaml(name: &str, script: &str, extra_pod_spec: &str) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  annotations:
    berth.dev/run: |
      {name}: {{command: [python3, -u, {script}]}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:{extra_pod_spec}
      containers:
        - name: {name}
          image: example/{name}
          ports: [{{name: http, containerPort: 8000}}]
---
apiVersion: v1
kind: Service
metadata: {{name: {name}}}
spec:
  selector: {{app: {name}}}
  ports: [{{port: 80, targetPort: http}}]
"#
    )
}

/// Serves `GET /` with the process id; exits when it cannot bind its port.
const SERVER: &str = r#"
import http.server, os, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = str(os.getpid()).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
port = int(os.environ["PORT"])
http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
"#;

fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(t.path().join(name), text).unwrap();
    }
    t
}

fn replica(s: &serde_json::Value, workload: &str) -> serde_json::Value {
    s["replicas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["workload"] == workload)
        .unwrap_or_else(|| panic!("no replica of {workload} in {s:#}"))
        .clone()
}

/// Stops a `berth up` (and waits for it).
fn stop(child: Up) {
    drop(child);
}

fn logs_of(dir: &Path, service: &str) -> String {
    let out = berth(&["logs", service, "-C", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Another program takes a replica's port while it is down: the replica comes back on a fresh
/// port, says so in its logs, and traffic follows it.
#[test]
fn a_port_taken_mid_run_is_reported_and_the_replica_moves() {
    let t = folder(&[
        ("server.py", SERVER),
        ("api.yaml", &service_yaml("api", "server.py", "")),
    ]);
    let dir = t.path();
    let child = up(dir);
    let s = wait_for(dir, "api ready", all_ready);
    let r = replica(&s, "api");
    let (port, pid) = (
        r["ports"]["8000"].as_u64().unwrap() as u16,
        r["pid"].as_i64().unwrap(),
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    // Take the port as soon as the process lets go of it.
    let deadline = Instant::now() + Duration::from_secs(10);
    let _thief = loop {
        if let Ok(l) = std::net::TcpListener::bind(("127.0.0.1", port)) {
            break l;
        }
        assert!(Instant::now() < deadline, "port {port} never freed");
        std::thread::sleep(Duration::from_millis(5));
    };
    let s = wait_for(dir, "api ready on another port", |s| {
        let r = replica(s, "api");
        r["ready"] == true && r["ports"]["8000"].as_u64() != Some(port as u64)
    });
    let (code, body) = http(&address(&s, "api"), "GET", "/", None);
    assert_eq!(code, 200);
    assert_eq!(body, replica(&s, "api")["pid"].to_string());
    let logs = logs_of(dir, "api");
    assert!(
        logs.contains(&format!("port {port} is taken by another program")),
        "{logs}"
    );
    stop(child);
}

/// A service that ignores SIGTERM is killed once its grace period is over, not before.
#[test]
fn a_service_that_ignores_sigterm_is_killed_after_its_grace_period() {
    let stubborn =
        format!("import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n{SERVER}");
    let t = folder(&[
        ("stubborn.py", &stubborn),
        (
            "stubborn.yaml",
            &service_yaml(
                "stubborn",
                "stubborn.py",
                "\n      terminationGracePeriodSeconds: 2",
            ),
        ),
    ]);
    let dir = t.path();
    let child = up(dir);
    let s = wait_for(dir, "ready", all_ready);
    // Serving means the interpreter got past `signal.signal`.
    assert_eq!(http(&address(&s, "stubborn"), "GET", "/", None).0, 200);
    let pid = replica(&s, "stubborn")["pid"].as_i64().unwrap() as i32;
    let asked = Instant::now();
    let out = berth(&["down", dir.to_str().unwrap()]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let took = asked.elapsed();
    assert!(!alive(pid), "the process outlived berth");
    assert!(
        took >= Duration::from_millis(1900),
        "killed before its grace period: {took:?}"
    );
    assert!(took < Duration::from_secs(20), "stop took {took:?}");
    stop(child);
}

/// A process that exits at once, forever: berth backs off, and spends little CPU on it.
#[test]
fn a_crash_storm_backs_off_and_keeps_berth_cpu_low() {
    let t = folder(&[
        ("crash.py", "raise SystemExit(3)\n"),
        ("crash.yaml", &service_yaml("crash", "crash.py", "")),
    ]);
    let dir = t.path();
    let child = up(dir);
    let berth_pid = child.id();
    let start = cpu_seconds(berth_pid);
    std::thread::sleep(Duration::from_secs(8));
    let used = cpu_seconds(berth_pid) - start;
    let s = status(dir).unwrap();
    let r = replica(&s, "crash");
    let restarts = r["restarts"].as_u64().unwrap();
    // Back-off 1 s, 2 s, 4 s: at most 4 starts in 8 s.
    assert!((2..=4).contains(&restarts), "restarts in 8 s: {restarts}");
    // Between two starts it shows the crash loop (a start under way shows `starting` or
    // `running` for a moment, so this waits for the next back-off instead of sampling).
    wait_for(dir, "the crash loop shown", |s| {
        replica(s, "crash")["phase"] == "crashLoop"
    });
    assert!(
        used < 1.0,
        "berth used {used:.2} s of CPU in 8 s of crash storm"
    );
    eprintln!("crash storm: {restarts} restarts, berth CPU {used:.3} s in 8 s");
    stop(child);
}

/// A service that crashes: `berth events` tells each exit with its code, the back-off, and the
/// deploy; the service's own events only.
#[test]
fn berth_events_tells_the_crashes_and_the_back_off() {
    let t = folder(&[
        ("crash.py", "raise SystemExit(3)\n"),
        ("crash.yaml", &service_yaml("crash", "crash.py", "")),
        ("server.py", SERVER),
        ("api.yaml", &service_yaml("api", "server.py", "")),
    ]);
    let dir = t.path();
    let child = up(dir);
    wait_for(dir, "two restarts", |s| {
        replica(s, "crash")["restarts"].as_u64() >= Some(2) && replica(s, "api")["ready"] == true
    });
    let events = |args: &[&str]| {
        let mut all = vec!["events", "-C", dir.to_str().unwrap()];
        all.extend_from_slice(args);
        let out = berth(&all).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let crash: serde_json::Value = serde_json::from_str(&events(&["crash", "-o", "json"])).unwrap();
    let crash = crash.as_array().unwrap();
    let reasons: Vec<&str> = crash
        .iter()
        .map(|e| e["reason"].as_str().unwrap())
        .collect();
    assert!(crash.iter().all(|e| e["service"] == "crash"), "{crash:#?}");
    let restarted = crash.iter().find(|e| e["reason"] == "Restarted");
    let restarted = restarted.unwrap_or_else(|| panic!("no Restarted in {reasons:?}"));
    assert_eq!(restarted["warning"], true);
    assert!(
        restarted["message"].as_str().unwrap().contains('3'),
        "{restarted}"
    );
    assert!(reasons.contains(&"BackOff"), "{reasons:?}");
    let text = events(&[]);
    assert!(
        text.contains("Deployed") && text.contains("generation 1"),
        "{text}"
    );
    assert!(text.contains("api-0") && text.contains("Ready"), "{text}");
    stop(child);
}

/// `--notify URL`: a crash loop reaches the webhook as Slack-compatible JSON, and the URL (its
/// token) is not printed.
#[test]
fn a_crash_loop_is_posted_to_the_webhook() {
    let t = folder(&[
        (
            "crash.py",
            "import time\ntime.sleep(0.3)\nraise SystemExit(3)\n",
        ),
        ("crash.yaml", &service_yaml("crash", "crash.py", "")),
    ]);
    let dir = t.path();
    let (url, bodies) = webhook_server();
    let log = dir.join("berth.log");
    let out = std::fs::File::create(&log).unwrap();
    let args = [
        "up",
        dir.to_str().unwrap(),
        "--ingress",
        "127.0.0.1:0",
        "--notify",
        &url,
    ];
    let child = Up(berth(&args)
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap());
    let body = bodies
        .recv_timeout(Duration::from_secs(30))
        .expect("a notification within 30 s");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let text = json["text"].as_str().unwrap();
    assert!(
        text.contains("crash-0 BackOff") && text.contains("exit status: 3"),
        "{text}"
    );
    stop(child);
    let printed = std::fs::read_to_string(&log).unwrap();
    assert!(printed.contains("notifying a webhook"), "{printed}");
    assert!(
        !printed.contains("secret-token-123"),
        "the URL was printed: {printed}"
    );
}

/// A service that forks workers: a restart leaves none of the old ones behind.
#[test]
fn a_restarted_service_leaves_no_forked_children() {
    let forking = format!(
        "import subprocess, os\nchild = subprocess.Popen(['sleep', '600'])\nopen('child-' + str(os.getpid()), 'w').write(str(child.pid))\n{SERVER}"
    );
    let t = folder(&[
        ("forking.py", &forking),
        ("forking.yaml", &service_yaml("forking", "forking.py", "")),
    ]);
    let dir = t.path();
    let child = up(dir);
    let s = wait_for(dir, "ready", all_ready);
    let pid = replica(&s, "forking")["pid"].as_i64().unwrap();
    let child_file = dir.join(format!("child-{pid}"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(&child_file).map_or(true, |t| t.is_empty()) {
        assert!(Instant::now() < deadline, "the service never forked");
        std::thread::sleep(Duration::from_millis(20));
    }
    let forked: i32 = std::fs::read_to_string(&child_file)
        .unwrap()
        .parse()
        .unwrap();
    assert!(alive(forked));
    let out = berth(&["restart", "forking", "-C", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for(dir, "a new process ready", |s| {
        let r = replica(s, "forking");
        r["ready"] == true && r["pid"].as_i64() != Some(pid)
    });
    wait_gone(&[pid as i32, forked]);
    stop(child);
}

/// Prints numbered lines, fast.
const CHATTY: &str = r#"
import os, time
n = 0
while True:
    for _ in range(200):
        print(f"line {n:07d} " + "." * 80)
        n += 1
    time.sleep(0.01)
"#;

/// A chatty service: its log files rotate at the limit, the disk use stays bounded, and
/// `berth logs` reads across the rotated files in order.
#[test]
fn logs_rotate_by_size_and_berth_logs_reads_across_the_files() {
    let t = folder(&[
        ("chatty.py", CHATTY),
        ("chatty.yaml", &service_yaml("chatty", "chatty.py", "")),
    ]);
    let dir = t.path();
    let child = up_with(dir, &["--log-size", "64K", "--log-files", "3"]);
    let logs = dir.join(".berth/logs");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !logs.join("chatty.log.2").exists() {
        assert!(Instant::now() < deadline, "the log never rotated twice");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Let it write through several more rotations.
    std::thread::sleep(Duration::from_secs(2));
    let out = berth(&["down", dir.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success());
    let mut files: Vec<(String, u64)> = std::fs::read_dir(&logs)
        .unwrap()
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().unwrap().len(),
            )
        })
        .collect();
    files.sort();
    let names: Vec<&str> = files.iter().map(|f| f.0.as_str()).collect();
    assert_eq!(names, ["chatty.log", "chatty.log.1", "chatty.log.2"]);
    for (name, size) in &files {
        assert!(*size <= 64 * 1024, "{name} is {size} bytes");
    }
    // Without a running `up`, `berth logs` reads the files: every line in order, no gap.
    let text = logs_of(dir, "chatty");
    let numbers: Vec<u64> = text
        .lines()
        .filter_map(|l| l.split("line ").nth(1)?.get(..7)?.parse().ok())
        .collect();
    assert!(numbers.len() > 1000, "{} lines", numbers.len());
    for w in numbers.windows(2) {
        assert_eq!(w[1], w[0] + 1, "lines out of order or missing");
    }
    stop(child);
}

/// The log file cannot be written (a full disk): the service keeps serving, and berth says so.
#[test]
fn a_full_disk_for_logs_keeps_services_running_and_says_so() {
    let talking = format!("print('starting', flush=True)\n{SERVER}");
    let t = folder(&[
        ("talking.py", &talking),
        ("talking.yaml", &service_yaml("talking", "talking.py", "")),
    ]);
    let dir = t.path();
    std::fs::create_dir_all(dir.join(".berth/logs")).unwrap();
    std::os::unix::fs::symlink("/dev/full", dir.join(".berth/logs/talking.log")).unwrap();
    let child = up(dir);
    let s = wait_for(dir, "the full disk reported", |s| {
        replica(s, "talking")["message"]
            .as_str()
            .is_some_and(|m| m.contains("No space left on device"))
    });
    let message = replica(&s, "talking")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains("keeps running"), "{message}");
    let s = wait_for(dir, "ready", all_ready);
    let (code, _) = http(&address(&s, "talking"), "GET", "/", None);
    assert_eq!(code, 200, "the service keeps serving");
    stop(child);
}

/// Answers every request with the headers it got, as JSON, and its own pid.
const ECHO: &str = r#"
import http.server, json, os
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = json.dumps({"pid": os.getpid(), "path": self.path,
                           "headers": {k.lower(): v for k, v in self.headers.items()}}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "keep-alive, x-hop")
        self.send_header("X-Hop", "must not reach the client")
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"#;

fn echo_folder(replicas: u32) -> tempfile::TempDir {
    let yaml = service_yaml("echo", "echo.py", "")
        .replace("replicas: 1", &format!("replicas: {replicas}"))
        + r#"---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: echo}
spec:
  rules:
    - host: echo.localhost
      http:
        paths:
          - path: /
            pathType: Prefix
            backend: {service: {name: echo, port: {number: 80}}}
"#;
    folder(&[("echo.py", ECHO), ("echo.yaml", &yaml)])
}

fn curl(args: &[&str]) -> (String, String) {
    let out = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "10", "-D", "-"])
        .args(args)
        .output()
        .expect("curl (Debian package curl; ./scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    (head.to_ascii_lowercase(), body.to_string())
}

/// What a client sends never becomes markup in the Ingress' own pages (issue 23).
#[test]
fn the_ingress_escapes_what_clients_send_in_its_pages() {
    use std::io::{Read, Write};
    let t = echo_folder(1);
    let dir = t.path();
    let child = up(dir);
    let s = wait_for(dir, "ready", |s| all_ready(s) && s["ingress"].is_string());
    let ingress = s["ingress"]
        .as_str()
        .unwrap()
        .trim_start_matches("http://")
        .to_string();
    let mut conn = std::net::TcpStream::connect(&ingress).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        conn,
        "GET /a HTTP/1.1\r\nHost: x\"><script>alert(1)</script>\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    assert!(!answer.contains("<script>"), "{answer}");
    assert!(
        answer.contains("x&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;/a"),
        "{answer}"
    );
    stop(child);
}

/// The Ingress as a proxy: forwarding headers in, hop-by-hop headers out both ways, HTTP/2
/// from clients (h2c), pipelined requests answered in order.
#[test]
fn the_ingress_forwards_headers_speaks_h2c_and_keeps_pipelined_order() {
    let t = echo_folder(1);
    let dir = t.path();
    let child = up(dir);
    let s = wait_for(dir, "ready", |s| all_ready(s) && s["ingress"].is_string());
    let ingress = s["ingress"].as_str().unwrap().to_string();
    let (head, body) = curl(&[
        "-H",
        "Host: echo.localhost",
        "-H",
        "X-Forwarded-For: 10.1.2.3",
        "-H",
        "Connection: keep-alive, X-Private",
        "-H",
        "X-Private: secret",
        &format!("{ingress}/a?b=c"),
    ]);
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(
        !head.contains("x-hop"),
        "a header named by Connection reached the client: {head}"
    );
    let seen: serde_json::Value = serde_json::from_str(&body).unwrap();
    let h = &seen["headers"];
    assert_eq!(seen["path"], "/a?b=c");
    assert_eq!(h["host"], "echo.localhost");
    assert_eq!(h["x-forwarded-for"], "10.1.2.3, 127.0.0.1");
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(h["x-forwarded-host"], "echo.localhost");
    assert_eq!(
        h["forwarded"],
        "for=127.0.0.1;host=\"echo.localhost\";proto=http"
    );
    assert!(
        h.get("x-private").is_none(),
        "a header named by Connection was forwarded: {h}"
    );

    // HTTP/2 with prior knowledge (h2c).
    let (head, body) = curl(&[
        "--http2-prior-knowledge",
        "-H",
        "Host: echo.localhost",
        &format!("{ingress}/h2"),
    ]);
    assert!(head.starts_with("http/2 200"), "{head}");
    assert!(body.contains("\"path\": \"/h2\""), "{body}");

    // Pipelining: three requests in one write, three answers in order.
    let addr = ingress.trim_start_matches("http://");
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut burst = String::new();
    for p in ["/1", "/2", "/3"] {
        burst.push_str(&format!("GET {p} HTTP/1.1\r\nHost: echo.localhost\r\n\r\n"));
    }
    std::io::Write::write_all(&mut c, burst.as_bytes()).unwrap();
    let mut got = String::new();
    let mut buf = [0u8; 4096];
    while got.matches("\"path\"").count() < 3 {
        let n = std::io::Read::read(&mut c, &mut buf).unwrap();
        assert!(n > 0, "closed early: {got}");
        got.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let order: Vec<usize> = ["\"/1\"", "\"/2\"", "\"/3\""]
        .iter()
        .map(|p| got.find(p).unwrap())
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{got}");

    // A head larger than the limit is refused, not buffered.
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let huge = format!(
        "GET / HTTP/1.1\r\nHost: echo.localhost\r\nX-Big: {}\r\n\r\n",
        "a".repeat(100 * 1024)
    );
    let _ = std::io::Write::write_all(&mut c, huge.as_bytes());
    let mut answer = String::new();
    let _ = std::io::Read::read_to_string(&mut c, &mut answer);
    assert!(
        answer.starts_with("HTTP/1.1 431"),
        "a 100 KiB head was not refused with 431: {:?}",
        &answer[..answer.len().min(200)]
    );
    // And the Ingress goes on serving.
    let (head, _) = curl(&[
        "-H",
        "Host: echo.localhost",
        &format!("http://{addr}/after"),
    ]);
    assert!(head.starts_with("http/1.1 200"), "{head}");
    stop(child);
}

/// A replica that dies under the Ingress: GETs go to the other one, none fails; with none
/// ready the answer is a 503 page naming the Service.
#[test]
fn the_ingress_retries_idempotent_requests_and_says_503_when_nothing_is_ready() {
    let t = echo_folder(2);
    let dir = t.path();
    let child = up(dir);
    let s = wait_for(dir, "ready", |s| all_ready(s) && s["ingress"].is_string());
    let ingress = s["ingress"].as_str().unwrap().to_string();
    let get = || curl(&["-H", "Host: echo.localhost", &format!("{ingress}/")]);
    for _ in 0..4 {
        assert!(get().0.starts_with("http/1.1 200"));
    }
    // Kill one replica outright, under traffic.
    let victim = replica(&s, "echo")["pid"].as_i64().unwrap() as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(victim),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    for _ in 0..6 {
        let (head, body) = get();
        assert!(head.starts_with("http/1.1 200"), "{head}{body}");
        assert!(!body.contains(&format!("\"pid\": {victim}")), "{body}");
    }
    // Scale to zero: nothing is ready, a 503 names the Service.
    let out = berth(&["scale", "echo", "0", "-C", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (head, body) = get();
    assert!(head.starts_with("http/1.1 503"), "{head}");
    assert!(body.contains("<b>echo</b> has no ready replica"), "{body}");
    stop(child);
}

/// The example's services read a request body they do not use before answering, so a request
/// hidden in the body of a refused one is never run on a kept-alive connection (issue 23).
#[test]
fn the_examples_services_never_run_a_request_hidden_in_a_body() {
    use std::io::{Read, Write};
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = std::process::Command::new("python3")
        .args(["-u", "broadcaster.py"])
        .current_dir(repo().join("examples/ticketing/services"))
        .env("PORT", port.to_string())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut conn = loop {
        match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Ok(c) => break c,
            Err(e) if Instant::now() > deadline => panic!("the service did not start: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    let hidden = "GET /SMUGGLED HTTP/1.1\r\nHost: a\r\n\r\n";
    write!(
        conn,
        "POST /refused HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n{hidden}GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        hidden.len()
    )
    .unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut answers = String::new();
    conn.read_to_string(&mut answers).unwrap();
    let _ = server.kill();
    let mut log = String::new();
    server
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    let _ = server.wait();
    // Two answers, back to back (a body has no line end of its own).
    let statuses: Vec<&str> = answers
        .match_indices("HTTP/1.1 ")
        .map(|(i, _)| answers[i..].lines().next().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["HTTP/1.1 405 Method Not Allowed", "HTTP/1.1 200 OK"],
        "{answers}"
    );
    assert!(!log.contains("SMUGGLED"), "{log}");
}

/// A save that would have crashed berth (a `tpl` that renders itself) changes nothing: the
/// running set keeps running, and the error is shown (issue 23).
#[test]
fn a_hostile_save_leaves_the_running_set_running() {
    let t = folder(&[
        ("server.py", SERVER),
        ("web.yaml", &service_yaml("web", "server.py", "")),
    ]);
    let dir = t.path();
    let child = up(dir);
    let s = wait_for(dir, "web ready", all_ready);
    let pid = replica(&s, "web")["pid"].as_i64().unwrap();
    std::fs::write(
        dir.join("variables.yaml"),
        "a: \"{{ tpl .Variables.a . }}\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("loop.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: loop}\ndata: {a: \"{{ tpl .Variables.a . }}\"}\n",
    )
    .unwrap();
    let s = wait_for(dir, "the error shown", |s| {
        s["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("exceeded maximum template depth"))
    });
    let r = replica(&s, "web");
    assert_eq!(r["pid"].as_i64(), Some(pid), "{r}");
    assert!(r["ready"] == true, "{r}");
    assert!(alive(pid as i32));
    stop(child);
}

/// Takes every request and closes the connection without an answer, saying so in its log.
const CLOSER: &str = r#"
import http.server, os, socket, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def handle_one_request(self):
        self.raw_requestline = self.rfile.readline(65537)
        if not self.raw_requestline:
            self.close_connection = True
            return
        self.parse_request()
        if self.path == "/healthz":
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        print("took %s %s on %d" % (self.command, self.path, os.getpid()), flush=True)
        self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"#;

/// A replica that takes a request and drops the connection: a request safe to repeat goes to
/// one other replica, once; one that is not goes nowhere else (issue 23: it went 88-91 times
/// to the same replica in 2 s).
#[test]
fn a_failed_request_is_retried_at_most_once_on_another_replica_and_only_when_safe() {
    let yaml = service_yaml("closer", "closer.py", "")
        .replace("replicas: 1", "replicas: 2")
        .replace(
            "ports: [{name: http, containerPort: 8000}]",
            "ports: [{name: http, containerPort: 8000}]\n          readinessProbe: {httpGet: {path: /healthz, port: http}}",
        )
        + r#"---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: closer}
spec:
  rules:
    - http:
        paths:
          - path: /
            pathType: Prefix
            backend: {service: {name: closer, port: {number: 80}}}
"#;
    let t = folder(&[("closer.py", CLOSER), ("closer.yaml", &yaml)]);
    let dir = t.path();
    let child = up(dir);
    let s = wait_for(dir, "ready", |s| all_ready(s) && s["ingress"].is_string());
    let ingress = s["ingress"]
        .as_str()
        .unwrap()
        .trim_start_matches("http://")
        .to_string();
    let took = |what: &str| {
        logs_of(dir, "closer")
            .matches(&format!("took {what}"))
            .count()
    };
    for (method, path, times) in [("DELETE", "/d", 2), ("GET", "/g", 2), ("POST", "/p", 1)] {
        let (code, _) = http(&ingress, method, path, None);
        assert_eq!(code, 502, "{method} {path}");
        // Sent once, or once more to the other replica: never to the same one, never again.
        std::thread::sleep(Duration::from_millis(300));
        let n = took(&format!("{method} {path} "));
        assert_eq!(n, times, "{method} {path} reached the replicas {n} times");
    }
    let logs = logs_of(dir, "closer");
    let pids: std::collections::BTreeSet<&str> = logs
        .lines()
        .filter(|l| l.contains("took DELETE /d on "))
        .filter_map(|l| l.rsplit(' ').next())
        .collect();
    assert_eq!(pids.len(), 2, "the retry went to the other replica: {logs}");
    stop(child);
}
