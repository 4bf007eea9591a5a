//! `berth up`'s Ingress against clients and a replica that misbehave (issue 23): it must be as
//! strict as nginx with what it routes and forwards, and never let one client's bytes become
//! another client's request.

mod local_support;
use local_support::*;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// A replica that logs every request it reads (with its client port), answers `GET` with the
/// path, reads `POST /read` bodies (chunked or not), and answers `POST /refuse` (405) and
/// `POST /early` (200) without reading their bodies, on keep-alive connections.
const STRICT: &str = r#"
import http.server, os
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def answer(self, code, text):
        body = text.encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        if self.path != "/healthz":
            print("got %s %s from %d" % (self.command, self.path, self.client_address[1]), flush=True)
        self.answer(200, self.path)
    def do_POST(self):
        print("got %s %s from %d" % (self.command, self.path, self.client_address[1]), flush=True)
        if self.path.endswith("/refuse"):
            return self.answer(405, "refused")
        if self.path.endswith("/early"):
            return self.answer(200, "early")
        n = 0
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                n += len(self.rfile.read(size + 2)) - 2 if size else 0
                if size == 0:
                    self.rfile.readline()
                    break
        else:
            n = len(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        self.answer(200, "read %d" % n)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"#;

const YAML: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: strict
  annotations:
    berth.dev/run: |
      strict: {command: [python3, -u, strict.py]}
spec:
  replicas: 1
  selector: {matchLabels: {app: strict}}
  template:
    metadata: {labels: {app: strict}}
    spec:
      containers:
        - name: strict
          image: example/strict
          ports: [{name: http, containerPort: 8000}]
          readinessProbe: {httpGet: {path: /healthz, port: http}}
---
apiVersion: v1
kind: Service
metadata: {name: strict}
spec:
  selector: {app: strict}
  ports: [{port: 80, targetPort: http}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: strict}
spec:
  rules:
    - http:
        paths:
          - path: /public
            pathType: Prefix
            backend: {service: {name: strict, port: {number: 80}}}
"#;

struct Strict {
    _dir: tempfile::TempDir,
    up: Option<Up>,
    ingress: String,
}

impl Strict {
    fn start() -> Strict {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("strict.py"), STRICT).unwrap();
        std::fs::write(dir.path().join("strict.yaml"), YAML).unwrap();
        let up = up(dir.path());
        let s = wait_for(dir.path(), "ready", |s| {
            all_ready(s) && s["ingress"].is_string()
        });
        let ingress = s["ingress"].as_str().unwrap();
        let ingress = ingress.trim_start_matches("http://").to_string();
        Strict {
            _dir: dir,
            up: Some(up),
            ingress,
        }
    }

    fn dir(&self) -> &Path {
        self._dir.path()
    }

    /// What the replica logged, one line per request it read.
    fn seen(&self) -> String {
        let out = berth(&["logs", "strict", "-C", self.dir().to_str().unwrap()])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    }

    fn connect(&self) -> TcpStream {
        let c = TcpStream::connect(&self.ingress).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c
    }

    /// Sends `request` on a new connection and reads the answer to its end; with the time the
    /// answer took.
    fn raw(&self, request: &str) -> (String, Duration) {
        let mut c = self.connect();
        let start = Instant::now();
        c.write_all(request.as_bytes()).unwrap();
        let mut answer = Vec::new();
        let _ = c.read_to_end(&mut answer);
        (
            String::from_utf8_lossy(&answer).into_owned(),
            start.elapsed(),
        )
    }

    fn get(&self, target: &str) -> String {
        self.raw(&format!(
            "GET {target} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
        ))
        .0
    }
}

impl Drop for Strict {
    fn drop(&mut self) {
        drop(self.up.take());
    }
}

fn status(answer: &str) -> &str {
    answer.lines().next().unwrap_or("(no answer)")
}

fn body(answer: &str) -> &str {
    answer.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

/// Paths are normalised before routing (a rule for `/public` never reaches `/admin`), and the
/// replica gets the path its rule was chosen for.
#[test]
fn the_ingress_routes_and_forwards_normalised_paths() {
    let s = Strict::start();
    for target in [
        "/public/../admin/secret",
        "/public/%2e%2e/admin/secret",
        "/public/.%2E/admin/secret",
        "/public/x/../../admin/secret",
    ] {
        let answer = s.get(target);
        assert!(status(&answer).contains(" 404 "), "{target}: {answer}");
    }
    for (target, forwarded) in [
        ("//public//a/./b", "/public/a/b"),
        ("/public/a/../%62?q=/../x", "/public/b?q=/../x"),
        ("/public/%7e", "/public/~"),
    ] {
        let answer = s.get(target);
        assert!(status(&answer).contains(" 200 "), "{target}: {answer}");
        assert_eq!(body(&answer), forwarded, "{target}");
    }
    for target in ["/..", "/public/../../etc/passwd", "/%2e%2e/x"] {
        let answer = s.get(target);
        assert!(status(&answer).contains(" 400 "), "{target}: {answer}");
    }
    let seen = s.seen();
    assert!(!seen.contains("admin"), "{seen}");
    assert!(!seen.contains("passwd"), "{seen}");
}

/// `OPTIONS *`, `CONNECT` and a malformed chunked body are a 400 at once, never a 502 or a wait.
#[test]
fn the_ingress_refuses_what_is_not_a_request_for_a_service() {
    let s = Strict::start();
    let requests = [
        "OPTIONS * HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
        "POST /public/read HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\nzz\r\nworld\r\n0\r\n\r\n",
        "POST /public/read HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhelloXX3\r\nabc\r\n0\r\n\r\n",
    ];
    for request in requests {
        let (answer, took) = s.raw(request);
        assert!(status(&answer).contains(" 400 "), "{request:?}: {answer}");
        assert!(took < Duration::from_secs(5), "{request:?} took {took:?}");
    }
    // A well-formed chunked body goes through.
    let (answer, _) = s.raw("POST /public/read HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
    assert_eq!(body(&answer), "read 11", "{answer}");
    let seen = s.seen();
    assert!(!seen.contains("example.com"), "{seen}");
}

/// A replica that answers before it reads a request's body leaves the body in its connection:
/// that connection is never given to the next client, whose request would be read after the
/// body (a request hidden in the body would answer in its place).
#[test]
fn a_body_the_replica_did_not_read_never_reaches_the_next_client() {
    let s = Strict::start();
    // The start of a request, which the next request on the connection would complete (its
    // request line becomes a header value): that client would get the answer for SMUGGLED.
    let hidden = "GET /public/SMUGGLED HTTP/1.1\r\nX-Ignore: ";
    // Refused without reading: the body is sent with the head.
    let (answer, _) = s.raw(&format!(
        "POST /public/refuse HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{hidden}",
        hidden.len()
    ));
    assert!(status(&answer).contains(" 405 "), "{answer}");
    let next = s.get("/public/next");
    assert_eq!(body(&next), "/public/next", "{next}");

    // Answered before the body was sent: the head goes first, the body after the answer.
    let mut slow = s.connect();
    write!(
        slow,
        "POST /public/early HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n",
        hidden.len()
    )
    .unwrap();
    let mut head = [0u8; 17];
    slow.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 200 OK\r\n");
    slow.write_all(hidden.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let after = s.get("/public/after");
    assert_eq!(body(&after), "/public/after", "{after}");

    // The next clients' requests came on other connections than the bodies'.
    let seen = s.seen();
    let port_of = |what: &str| {
        seen.lines()
            .find(|l| l.contains(what))
            .and_then(|l| l.rsplit(' ').next())
            .unwrap_or_else(|| panic!("{what} not seen: {seen}"))
            .to_string()
    };
    assert_ne!(port_of("/public/refuse"), port_of("/public/next"), "{seen}");
    assert_ne!(port_of("/public/early"), port_of("/public/after"), "{seen}");
}
