//! The dashboard's HTTP API over real sockets against `berth up examples/ticketing`, and the
//! dashboard itself in headless Chromium (tests/browser/dashboard.mjs).

mod shots;

use serde_json::Value as Json;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        if e.file_name() == ".berth" || e.file_name() == "__pycache__" {
            continue;
        }
        if e.path().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// A running `berth up` of a private copy of the example; stopped when dropped.
struct Up {
    child: Child,
    dir: tempfile::TempDir,
    /// `127.0.0.1:PORT` of the dashboard.
    api: String,
    /// `http://127.0.0.1:PORT` of the ingress.
    ingress: String,
    token: Option<String>,
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
    }
}

impl Up {
    fn start(listen: &str, token: Option<&str>) -> Up {
        Up::start_folder(&repo().join("examples/ticketing"), listen, token, &[], &[])
    }

    /// `berth up` of a private copy of `folder`, with more environment variables.
    fn start_folder(
        folder: &Path,
        listen: &str,
        token: Option<&str>,
        envs: &[(&str, &str)],
        flags: &[&str],
    ) -> Up {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(folder, dir.path());
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
        cmd.envs(envs.iter().copied());
        cmd.args([
            "up",
            dir.path().to_str().unwrap(),
            "--ingress",
            "127.0.0.1:0",
            "--listen",
            listen,
        ])
        .args(flags)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        // The API over processes: a fuzzed switch to image mode would start an engine and pull
        // the example's images, which are nowhere (image mode has tests of its own).
        .env("BERTH_ENGINE", "none");
        if let Some(t) = token {
            cmd.env("BERTH_TOKEN", t);
        }
        let mut child = cmd.spawn().unwrap();
        // berth up prints the addresses on start: the event to wait for.
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let (mut api, mut ingress) = (None, None);
        let mut line = String::new();
        while api.is_none() || ingress.is_none() {
            line.clear();
            assert!(
                out.read_line(&mut line).unwrap() > 0,
                "berth up ended early"
            );
            if let Some(url) = line.strip_prefix("dashboard ") {
                let authority = url.trim().trim_start_matches("http://");
                let authority = authority
                    .split('/')
                    .next()
                    .unwrap()
                    .replace("0.0.0.0", "127.0.0.1");
                api = Some(authority);
            }
            if let Some(url) = line.strip_prefix("ingress ") {
                ingress = Some(url.trim().to_string());
            }
        }
        // Keep draining its output so it never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = out.read_to_end(&mut sink);
        });
        Up {
            child,
            dir,
            api: api.unwrap(),
            ingress: ingress.unwrap(),
            token: token.map(str::to_string),
        }
    }

    fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String) {
        let mut s = TcpStream::connect(&self.api).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
            head.push_str(&format!("Host: {}\r\n", self.api));
        }
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if let Some(t) = &self.token {
            if !headers.iter().any(|(k, _)| *k == "Authorization") {
                head.push_str(&format!("Authorization: Bearer {t}\r\n"));
            }
        }
        write!(s, "{head}\r\n{body}").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let code = out
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = out
            .split_once("\r\n\r\n")
            .map(|x| x.1.to_string())
            .unwrap_or_default();
        (code, body)
    }

    fn get(&self, path: &str) -> Json {
        let (code, body) = self.request("GET", path, &[], "");
        assert_eq!(code, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    fn post(&self, path: &str, body: &str) -> (u16, Json) {
        let (code, body) =
            self.request("POST", path, &[("Content-Type", "application/json")], body);
        (code, serde_json::from_str(&body).unwrap_or(Json::Null))
    }

    /// Opens an SSE stream.
    fn sse(&self, path: &str) -> Sse {
        let mut s = TcpStream::connect(&self.api).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\n\r\n",
            self.api
        )
        .unwrap();
        let mut reader = BufReader::new(s);
        let mut line = String::new();
        loop {
            line.clear();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
        }
        Sse { reader }
    }

    /// Waits on the events stream until `f` holds for the environment.
    fn wait_env(&self, what: &str, f: impl Fn(&Json) -> bool) -> Json {
        let mut events = self.sse("/api/v1/events");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            let (event, data) = events.next();
            if event == "environment" {
                let env: Json = serde_json::from_str(&data).unwrap();
                if f(&env) {
                    return env;
                }
            }
        }
    }
}

/// A server-sent event stream over chunked HTTP.
struct Sse {
    reader: BufReader<TcpStream>,
}

impl Sse {
    /// The next (event, data), skipping keep-alive comments.
    fn next(&mut self) -> (String, String) {
        let (mut event, mut data) = (String::new(), String::new());
        let mut line = String::new();
        loop {
            line.clear();
            let n = self.reader.read_line(&mut line).unwrap();
            assert!(n > 0, "stream closed");
            let l = line.trim_end_matches(['\r', '\n']);
            if let Some(e) = l.strip_prefix("event:") {
                event = e.trim().to_string();
            } else if let Some(d) = l.strip_prefix("data:") {
                data.push_str(d.trim_start());
            } else if l.is_empty() && !event.is_empty() {
                return (event, data);
            }
            // Chunk-size lines and comments are skipped.
        }
    }
}

fn service<'a>(env: &'a Json, name: &str) -> &'a Json {
    env["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap()
}

fn all_ready(env: &Json) -> bool {
    env["services"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| matches!(s["health"].as_str(), Some("ready" | "completed")))
}

fn ingress_get(up: &Up, path: &str) {
    let addr = up.ingress.trim_start_matches("http://").to_string();
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: ticketing.localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
}

#[test]
fn the_api_serves_the_environment_and_acts_on_it() {
    let up = Up::start("127.0.0.1:0", None);
    let env = up.wait_env("every service ready", all_ready);
    assert_eq!(env["backend"], "local");
    for name in [
        "web",
        "reservationengine",
        "queue",
        "broadcaster",
        "mailtool",
        "testdbserver",
        "seed",
        "reminders",
    ] {
        let s = service(&env, name);
        assert!(s["description"].is_string(), "{name} has a description");
    }
    assert_eq!(service(&env, "web")["mode"], "process");
    assert_eq!(service(&env, "seed")["health"], "completed");

    // Secret values never reach the API: the example's Secret `database` holds this URL (the
    // rendered folder says so, so the check cannot pass for want of a value).
    let secret_value = "postgres://ticketing@testdbserver/ticketing";
    let rendered = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["render", up.dir.path().to_str().unwrap(), "-e", "local"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&rendered.stdout).contains(secret_value));
    for path in [
        "/api/v1/environment",
        "/api/v1/services",
        "/api/v1/services/web",
    ] {
        let (_, everything) = up.request("GET", path, &[], "");
        assert!(
            !everything.contains(secret_value),
            "{path} sent the Secret value"
        );
    }

    // Logs: a line printed by web arrives on the follow stream.
    let mut logs = up.sse("/api/v1/services/web/logs?follow=true&tail=1");
    let marker = format!("/marker-{}", std::process::id());
    let sent = Instant::now();
    ingress_get(&up, &marker);
    loop {
        let (event, data) = logs.next();
        if event == "line" && data.contains(&marker) {
            let line: Json = serde_json::from_str(&data).unwrap();
            assert_eq!(line["service"], "web");
            assert!(line["replica"].as_str().unwrap().starts_with("web-"));
            break;
        }
        assert!(
            sent.elapsed() < Duration::from_secs(5),
            "the line never arrived"
        );
    }
    eprintln!("log line through the API after {:?}", sent.elapsed());
    let kept: Json = up.get("/api/v1/services/web/logs?tail=5");
    assert!(kept.as_array().unwrap().len() <= 5);
    let since = kept.as_array().unwrap().last().unwrap()["seq"]
        .as_u64()
        .unwrap();
    let newer: Json = up.get(&format!("/api/v1/services/web/logs?since={since}"));
    assert!(newer
        .as_array()
        .unwrap()
        .iter()
        .all(|l| l["seq"].as_u64().unwrap() > since));

    // Restart: a new process, and the old one gone.
    let web_pid = |dir: &std::path::Path| -> Option<i64> {
        let s: Json =
            serde_json::from_str(&std::fs::read_to_string(dir.join(".berth/up.json")).ok()?)
                .ok()?;
        s["replicas"]
            .as_array()?
            .iter()
            .find(|r| r["workload"] == "web" && r["ready"] == true)?["pid"]
            .as_i64()
    };
    let pid_before = web_pid(up.dir.path()).expect("web runs");
    let (code, body) = up.post("/api/v1/services/web/restart", "");
    assert_eq!(code, 200, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("restarted web-0"),
        "{body}"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while web_pid(up.dir.path()).is_none_or(|p| p == pid_before)
        || berth_local::pid_alive(pid_before as u32)
    {
        assert!(
            Instant::now() < deadline,
            "web was not restarted (pid {pid_before})"
        );
        std::thread::sleep(Duration::from_millis(25));
    }

    // Scale to 2, then back to 1.
    let (code, body) = up.post("/api/v1/services/web/scale", r#"{"replicas": 2}"#);
    assert_eq!(code, 200, "{body}");
    up.wait_env("2 web replicas ready", |e| {
        service(e, "web")["available"] == 2 && service(e, "web")["desired"] == 2
    });
    let (code, _) = up.post("/api/v1/services/web/scale", r#"{"replicas": 1}"#);
    assert_eq!(code, 200);

    // Mode: source, remembered in .berth/modes.json.
    let (code, body) = up.post("/api/v1/services/web/mode", r#"{"mode": "source"}"#);
    assert_eq!(code, 200, "{body}");
    up.wait_env("web in source mode", |e| {
        service(e, "web")["mode"] == "source"
    });
    let modes = std::fs::read_to_string(up.dir.path().join(".berth/modes.json")).unwrap();
    assert!(modes.contains("\"source\""), "{modes}");

    // Redeploy moves the generation.
    let generation = up.get("/api/v1/environment")["generation"]
        .as_u64()
        .unwrap();
    let (code, body) = up.post("/api/v1/redeploy", "");
    assert_eq!(code, 200, "{body}");
    assert!(
        up.get("/api/v1/environment")["generation"]
            .as_u64()
            .unwrap()
            > generation
    );

    // The CLI goes through the same API.
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args([
            "mode",
            "web",
            "process",
            "-C",
            up.dir.path().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    up.wait_env("web back in process mode", |e| {
        service(e, "web")["mode"] == "process"
    });
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["logs", "web", "-C", up.dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains(&marker));

    // Errors.
    assert_eq!(up.request("GET", "/api/v1/services/nope", &[], "").0, 404);
    assert_eq!(up.post("/api/v1/services/nope/restart", "").0, 404);
    assert_eq!(up.post("/api/v1/services/web/scale", "{}").0, 422);
    assert_eq!(
        up.post("/api/v1/services/web/mode", r#"{"mode": "fast"}"#)
            .0,
        400
    );
    // The reason a mode change cannot be made reaches the caller.
    let (code, body) = up.post(
        "/api/v1/services/web/mode",
        r#"{"mode": "source", "container": "nope"}"#,
    );
    assert_eq!(code, 404, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("web has no container nope"),
        "{body}"
    );
    assert_eq!(
        up.post("/api/v1/services/seed/scale", r#"{"replicas": 2}"#)
            .0,
        400
    );
    assert_eq!(
        up.request("GET", "/api/v1/redeploy", &[], "").0,
        405,
        "mutations need POST"
    );

    // Security: another origin, another Host (DNS rebinding).
    let (code, body) = up.request(
        "POST",
        "/api/v1/services/web/restart",
        &[("Origin", "http://evil.example")],
        "",
    );
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("cross-origin"), "{body}");
    let (code, _) = up.request(
        "POST",
        "/api/v1/services/web/restart",
        &[("Sec-Fetch-Site", "cross-site")],
        "",
    );
    assert_eq!(code, 403);
    let (code, _) = up.request("GET", "/api/v1/services", &[("Host", "evil.example")], "");
    assert_eq!(code, 403);

    // The OpenAPI document names every route.
    let (code, openapi) = up.request("GET", "/api/openapi.yaml", &[], "");
    assert_eq!(code, 200);
    for path in [
        "/api/v1/environment",
        "/api/v1/events",
        "/api/v1/services",
        "/api/v1/services/{name}",
        "/api/v1/services/{name}/logs",
        "/api/v1/services/{name}/restart",
        "/api/v1/services/{name}/scale",
        "/api/v1/services/{name}/mode",
        "/api/v1/redeploy",
        "/metrics",
    ] {
        assert!(
            openapi.contains(&format!("  {path}:")),
            "openapi lacks {path}"
        );
    }
    // /metrics: Prometheus text with the local processes' CPU and memory.
    let (code, metrics) = up.request("GET", "/metrics", &[], "");
    assert_eq!(code, 200);
    let scrape =
        prometheus_parse::Scrape::parse(metrics.lines().map(|l| Ok(l.to_string()))).unwrap();
    for name in [
        "berth_process_cpu_seconds_total",
        "berth_process_resident_memory_bytes",
        "berth_service_ready_replicas",
        "berth_applies_total",
    ] {
        assert!(
            scrape.samples.iter().any(|s| s.metric == name),
            "{name} missing:\n{metrics}"
        );
    }
    assert!(scrape
        .samples
        .iter()
        .any(|s| s.metric == "berth_service_restarts_total"
            && s.labels.get("service") == Some("web")));
    let (code, page) = up.request("GET", "/", &[], "");
    assert_eq!(code, 200);
    assert!(page.contains("/assets/app.js"));
}

#[test]
fn a_dashboard_beyond_loopback_requires_the_token() {
    let up = Up::start("0.0.0.0:0", Some("t0ken-for-tests"));
    let (code, body) = up.request(
        "GET",
        "/api/v1/services",
        &[("Authorization", "Bearer wrong")],
        "",
    );
    assert_eq!(code, 401, "{body}");
    let (code, _) = up.request("GET", "/", &[("Authorization", "none")], "");
    assert_eq!(code, 401);
    let (code, _) = up.request("GET", "/api/v1/services", &[], "");
    assert_eq!(code, 200);
    // The printed URL carries the token once; the page then lives on a strict cookie.
    let mut s = TcpStream::connect(&up.api).unwrap();
    write!(
        s,
        "GET /?token=t0ken-for-tests HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        up.api
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(
        out.contains("set-cookie: berth_token=t0ken-for-tests; HttpOnly; SameSite=Strict"),
        "{out}"
    );
    let (code, _) = up.request(
        "GET",
        "/api/v1/services",
        &[
            ("Authorization", "x"),
            ("Cookie", "berth_token=t0ken-for-tests"),
        ],
        "",
    );
    assert_eq!(code, 200);
    // The CLI finds the token in .berth/token.
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["restart", "mailtool", "-C", up.dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `tests/browser/SCRIPT` in Debian's headless Chromium (playwright-core) against `up`
/// with `DASHBOARD_URL INGRESS_URL SCREENSHOT_DIR` and `more` arguments; then checks and keeps
/// the screenshots it must have taken.
fn in_chromium(script: &str, up: &Up, more: &[&Path], shots: &[&str]) {
    let modules = repo().join("tests/browser/node_modules/playwright-core");
    let chromium = std::env::var("BERTH_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        modules.exists() && Path::new(&chromium).exists(),
        "needs {chromium} and {}: run ./scripts/test.sh, which installs them",
        modules.display()
    );
    let taken = tempfile::tempdir().unwrap();
    let out = Command::new("node")
        .arg(repo().join("tests/browser").join(script))
        .arg(format!("http://{}/", up.api))
        .arg(&up.ingress)
        .arg(taken.path())
        .args(more)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{text}");
    assert!(out.status.success(), "{text}");
    shots::check_and_keep(&repo(), taken.path(), shots);
}

/// The dashboard in Debian's headless Chromium, driven by playwright-core.
#[test]
#[ignore = "needs chromium and playwright-core (./scripts/test.sh installs them)"]
fn the_dashboard_works_in_chromium() {
    let up = Up::start("127.0.0.1:0", None);
    let shots = ["main.png", "detail.png", "configure.png"];
    in_chromium("dashboard.mjs", &up, &[], &shots);
}

/// The graphs in Chromium: a service growing its memory shows the curve, requests through the
/// Ingress show rate and latency, a service that keeps exiting shows its restarts in its graph
/// and its events; then `--manual`'s Reload preview lists a saved change before applying it
/// (tests/browser/graphs.mjs, on tests/fixtures/graphs).
#[test]
#[ignore = "needs chromium and playwright-core (./scripts/test.sh installs them)"]
fn the_graphs_and_the_reload_preview_work_in_chromium() {
    let folder = repo().join("crates/berth/tests/fixtures/graphs");
    let envs = [("BERTH_SAMPLE_INTERVAL_MS", "400")];
    let up = Up::start_folder(&folder, "127.0.0.1:0", None, &envs, &["--manual"]);
    let shots = [
        "graphs-main.png",
        "graphs-service.png",
        "graphs-restarts.png",
        "reload-preview.png",
    ];
    in_chromium("graphs.mjs", &up, &[up.dir.path()], &shots);
}

fn ingress_body(up: &Up, path: &str) -> String {
    let addr = up.ingress.trim_start_matches("http://").to_string();
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: ticketing.localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.split_once("\r\n\r\n")
        .map(|x| x.1.to_string())
        .unwrap_or_default()
}

fn started_of(env: &Json, name: &str) -> Vec<String> {
    service(env, name)["replicas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| format!("{}@{}", r["name"], r["started"]))
        .collect()
}

/// The last log sequence number of a service.
fn last_seq(up: &Up, service: &str) -> u64 {
    up.get(&format!("/api/v1/services/{service}/logs?tail=1"))
        .as_array()
        .unwrap()
        .last()
        .map_or(0, |l| l["seq"].as_u64().unwrap())
}

/// Waits on the log stream for a line of `service` after `since` that contains `text`.
fn wait_line(up: &Up, service: &str, since: u64, text: &str) -> Json {
    let mut logs = up.sse(&format!(
        "/api/v1/services/{service}/logs?follow=true&since={since}"
    ));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(Instant::now() < deadline, "no line with {text:?}");
        let (event, data) = logs.next();
        if event == "line" && data.contains(text) {
            return serde_json::from_str(&data).unwrap();
        }
    }
}

fn starts_since(up: &Up, service: &str, since: u64) -> usize {
    up.get(&format!("/api/v1/services/{service}/logs?since={since}"))
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["text"].as_str().unwrap_or("").contains("listening on"))
        .count()
}

/// Source mode locally: a save rebuilds and restarts only that service; the new code answers
/// through the ingress; a syntax error keeps the old process serving and is shown; a burst of
/// saves restarts once.
#[test]
fn source_mode_reloads_on_save() {
    let up = Up::start("127.0.0.1:0", None);
    up.wait_env("every service ready", all_ready);
    let since = last_seq(&up, "reservationengine");
    let (code, body) = up.post(
        "/api/v1/services/reservationengine/mode",
        r#"{"mode": "source"}"#,
    );
    assert_eq!(code, 200, "{body}");
    wait_line(&up, "reservationengine", since, "listening on");
    let env = up.wait_env("reservationengine in source mode", |e| {
        service(e, "reservationengine")["mode"] == "source"
            && service(e, "reservationengine")["health"] == "ready"
    });
    let web_before = started_of(&env, "web");
    let file = up.dir.path().join("services/reservationengine.py");
    let original = std::fs::read_to_string(&file).unwrap();
    assert!(ingress_body(&up, "/api/reservations/x").contains("\"not found\""));

    // Save: the new behaviour is served through the ingress.
    let since = last_seq(&up, "reservationengine");
    std::fs::write(
        &file,
        original.replace("\"not found\"", "\"not found (v2)\""),
    )
    .unwrap();
    let saved = Instant::now();
    wait_line(&up, "reservationengine", since, "listening on");
    up.wait_env("ready again", |e| {
        service(e, "reservationengine")["health"] == "ready"
    });
    assert!(ingress_body(&up, "/api/reservations/x").contains("not found (v2)"));
    eprintln!("save -> new code ready after {:?}", saved.elapsed());
    let env = up.wait_env("state", |_| true);
    assert_eq!(
        started_of(&env, "web"),
        web_before,
        "only the edited service restarts"
    );

    // A syntax error: the build fails, the old process keeps serving, the error is shown.
    let since = last_seq(&up, "reservationengine");
    std::fs::write(
        &file,
        original.replace("def handle_GET(self):", "def handle_GET(self:"),
    )
    .unwrap();
    up.wait_env("the build error shown", |e| {
        service(e, "reservationengine")["health"] == "degraded"
            && service(e, "reservationengine")["status"]
                .as_str()
                .unwrap_or("")
                .contains("build")
    });
    assert!(
        ingress_body(&up, "/api/reservations/x").contains("not found (v2)"),
        "the old process keeps serving"
    );
    assert_eq!(
        starts_since(&up, "reservationengine", since),
        0,
        "no restart on a failed build"
    );
    let line = wait_line(&up, "reservationengine", since, "SyntaxError");
    assert_eq!(
        line["stream"], "build",
        "the compiler's message is in the logs"
    );

    // A burst of saves: one restart, with the last content.
    let since = last_seq(&up, "reservationengine");
    for i in 3..8 {
        std::fs::write(
            &file,
            original.replace("\"not found\"", &format!("\"not found (v{i})\"")),
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(10));
    }
    wait_line(&up, "reservationengine", since, "listening on");
    up.wait_env("healthy again", |e| {
        service(e, "reservationengine")["health"] == "ready"
    });
    assert!(ingress_body(&up, "/api/reservations/x").contains("not found (v7)"));
    assert_eq!(
        starts_since(&up, "reservationengine", since),
        1,
        "one restart for the burst"
    );
}

/// schemathesis fuzzes the API of a running `berth up` from its own OpenAPI document: every
/// answer is documented and matches its schema, none is a 5xx; and the same run from another
/// origin changes nothing.
#[test]
#[ignore = "needs schemathesis (./scripts/test.sh installs it into .tools/st-venv)"]
fn the_api_conforms_to_its_openapi_document_under_fuzzing() {
    let st = std::env::var("BERTH_SCHEMATHESIS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo().join(".tools/st-venv/bin/st"));
    assert!(st.exists(), "needs {}: run ./scripts/test.sh", st.display());
    let up = Up::start("127.0.0.1:0", None);
    let spec = repo().join("crates/server/openapi.yaml");
    let run = |extra: &[&str]| {
        let out = Command::new(&st)
            .arg("run")
            .arg(&spec)
            .args(["--url", &format!("http://{}", up.api)])
            .args(["--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"])
            .args(["--phases", "examples,coverage,fuzzing", "--max-examples", "5", "--no-color"])
            .args(["--seed", "1"])
            // Generous: a busy machine must not turn a slow answer into a failure (10 s is
            // schemathesis' default, and a loaded 2-core run once took longer).
            .args(["--request-timeout", "60"])
            // An endless stream: schemathesis waits on each case; the event tests cover it.
            .args(["--exclude-path", "/api/v1/events"])
            .args(extra)
            .env("SCHEMATHESIS_HOOKS", "")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "schemathesis found failures:\n{text}");
        text
    };
    // From another origin: reads answer, every action is refused, nothing changes (Jobs and
    // CronJobs change by themselves: not counted).
    let state = |env: Json| -> Vec<(String, Json, Vec<String>)> {
        env["services"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["kind"] != "Job" && s["kind"] != "CronJob")
            .map(|s| {
                let name = s["name"].as_str().unwrap().to_string();
                (name.clone(), s["desired"].clone(), started_of(&env, &name))
            })
            .collect()
    };
    let before = state(up.get("/api/v1/environment"));
    run(&[
        "-H",
        "Origin: http://evil.example",
        "--include-method",
        "POST",
    ]);
    assert_eq!(
        state(up.get("/api/v1/environment")),
        before,
        "a cross-origin request changed something"
    );
    // Same origin: the actions run too.
    let text = run(&[]);
    assert!(text.contains("passed"), "{text}");
}
