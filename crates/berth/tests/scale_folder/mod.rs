//! A generated folder of many services of a Python HTTP server each, probed every second: the
//! scale test (`up_scale.rs`) and the graphs bench (`benches/graphs.rs`) run the same one,
//! and read its dashboard's API the same way.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;

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

fn service(i: usize, replicas: usize) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: svc{i:02}
  annotations:
    berth.dev/run: |
      app: {{command: [python3, -u, server.py]}}
spec:
  replicas: {replicas}
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

/// Writes `services` services of `replicas` replicas each into `dir`, a file per service.
pub fn write(dir: &Path, services: usize, replicas: usize) {
    std::fs::write(dir.join("server.py"), SERVER).unwrap();
    for i in 0..services {
        std::fs::write(dir.join(format!("svc{i:02}.yaml")), service(i, replicas)).unwrap();
    }
}

/// `GET path` of the dashboard at `addr`, as JSON.
pub fn get_json(addr: &str, path: &str) -> serde_json::Value {
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
