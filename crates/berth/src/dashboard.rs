//! The dashboard over `berth up`: the local backend adapted to the server's [`Backend`], and the
//! small HTTP client the `berth logs/restart/scale/mode` commands use to reach it.

use berth_core::view::{
    ContainerView, EnvironmentView, Health, LogLine, Mode, ReplicaView, ServiceView,
};
use berth_local::{Phase, Shared, Status};
use berth_server::{ApiError, Backend, BoxFuture};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

pub use berth_core::view::Modes;

fn modes_file(dir: &Path) -> PathBuf {
    berth_local::state_dir(dir).join("modes.json")
}

/// The modes remembered for a folder.
pub fn load_modes(dir: &Path) -> Modes {
    std::fs::read_to_string(modes_file(dir))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

pub fn save_modes(dir: &Path, modes: &Modes) -> std::io::Result<()> {
    std::fs::create_dir_all(berth_local::state_dir(dir))?;
    std::fs::write(
        modes_file(dir),
        serde_json::to_string_pretty(modes).unwrap_or_default(),
    )
}

/// `.Modes` for the templates.
pub fn modes_json(modes: &Modes) -> serde_json::Map<String, serde_json::Value> {
    modes
        .iter()
        .map(|(w, cs)| {
            (
                w.clone(),
                serde_json::Value::Object(
                    cs.iter()
                        .map(|(c, m)| (c.clone(), serde_json::Value::from(m.as_str())))
                        .collect(),
                ),
            )
        })
        .collect()
}

type Reply = oneshot::Sender<Result<String, ApiError>>;

/// What the dashboard asks of the `up` loop, which owns the running environment.
pub enum UpCommand {
    Restart(String, Reply),
    Scale(String, u32, Reply),
    Mode(String, Option<String>, Mode, Reply),
    Redeploy(Reply),
}

/// `berth up` as seen by the server.
pub struct LocalBackend {
    pub shared: Arc<Shared>,
    pub dir: PathBuf,
    pub commands: mpsc::UnboundedSender<UpCommand>,
    pub busy: Arc<Mutex<Option<String>>>,
}

impl LocalBackend {
    async fn ask(&self, make: impl FnOnce(Reply) -> UpCommand) -> Result<String, ApiError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .map_err(|_| ApiError::failed("berth up is stopping"))?;
        rx.await
            .map_err(|_| ApiError::failed("berth up is stopping"))?
    }
}

fn phase_word(p: &Phase) -> &'static str {
    match p {
        Phase::Waiting => "waiting",
        Phase::Starting => "starting",
        Phase::Running => "running",
        Phase::CrashLoop { .. } => "crash-loop",
        Phase::Failed => "failed",
        Phase::Succeeded => "completed",
        Phase::Stopped => "stopped",
    }
}

/// The environment view of a local status.
pub fn view(status: &Status, dir: &Path, busy: Option<String>) -> EnvironmentView {
    let services = status
        .workloads
        .iter()
        .map(|w| {
            let reps: Vec<_> = status
                .replicas
                .iter()
                .filter(|r| r.workload == w.name)
                .collect();
            // A replica (all its containers) is ready when each container is.
            let mut by_index: BTreeMap<u32, bool> = BTreeMap::new();
            for r in &reps {
                let e = by_index.entry(r.index).or_insert(true);
                *e &= r.ready;
            }
            let ready = by_index.values().filter(|r| **r).count() as u32;
            let failed = reps.iter().find(|r| r.phase == Phase::Failed);
            let crashing = reps
                .iter()
                .any(|r| matches!(r.phase, Phase::CrashLoop { .. }));
            let batch = w.kind == "Job" || w.kind == "CronJob";
            let (health, word) = if let Some(why) = &w.not_runnable {
                (Health::NotRunnable, format!("not runnable locally: {why}"))
            } else if let Some(b) = &w.build_error {
                (Health::Degraded, b.clone())
            } else if let Some(f) = failed {
                (
                    Health::Failed,
                    format!("failed: {}", f.message.clone().unwrap_or_default()),
                )
            } else if crashing {
                (Health::Degraded, "crash loop".to_string())
            } else if w.kind == "Job" {
                if !reps.is_empty() && reps.iter().all(|r| r.phase == Phase::Succeeded) {
                    (Health::Completed, "completed".to_string())
                } else {
                    (Health::Progressing, "running".to_string())
                }
            } else if w.kind == "CronJob" {
                (Health::Ready, "scheduled".to_string())
            } else if w.desired == 0 {
                (Health::Stopped, "scaled to 0".to_string())
            } else if ready >= w.desired {
                (Health::Ready, "ready".to_string())
            } else {
                (
                    Health::Progressing,
                    format!("{ready} of {} ready", w.desired),
                )
            };
            let containers: Vec<ContainerView> = w
                .containers
                .iter()
                .map(|c| ContainerView {
                    name: c.name.clone(),
                    image: c.image.clone(),
                    mode: if c.source { Mode::Source } else { Mode::Image },
                    source_available: c.runnable,
                    help: c.help.clone(),
                })
                .collect();
            let sources = containers.iter().filter(|c| c.mode == Mode::Source).count();
            let mode = match sources {
                0 => "image",
                n if n == containers.len() => "source",
                _ => "mixed",
            };
            ServiceView {
                name: w.name.clone(),
                kind: w.kind.clone(),
                description: w.description.clone(),
                desired: w.desired,
                ready: if batch { ready.min(w.desired) } else { ready },
                available: ready,
                health,
                status: word,
                mode: mode.to_string(),
                containers,
                replicas: reps
                    .iter()
                    .map(|r| ReplicaView {
                        name: format!("{}-{}", r.workload, r.index),
                        container: r.container.clone(),
                        status: phase_word(&r.phase).to_string(),
                        ready: r.ready,
                        restarts: r.restarts,
                        started: r.started,
                        image: w
                            .containers
                            .iter()
                            .find(|c| c.name == r.container)
                            .and_then(|c| c.image.clone()),
                        message: r.message.clone(),
                    })
                    .collect(),
                shell: w
                    .not_runnable
                    .is_none()
                    .then(|| format!("berth shell {} -C {}", w.name, dir.display())),
            }
        })
        .collect();
    EnvironmentView {
        backend: "local".into(),
        target: dir.display().to_string(),
        generation: status.generation,
        last_error: status.last_error.clone(),
        busy,
        ingress: status.ingress.clone(),
        services,
        sync: None,
    }
}

impl Backend for LocalBackend {
    fn environment(&self) -> EnvironmentView {
        let busy = self.busy.lock().unwrap().clone();
        view(&self.shared.snapshot(), &self.dir, busy)
    }

    fn changed(&self) -> watch::Receiver<u64> {
        self.shared.subscribe()
    }

    fn logs(
        &self,
        service: &str,
        since: Option<u64>,
        tail: Option<usize>,
    ) -> Result<Vec<LogLine>, ApiError> {
        Ok(self.shared.logs.since(service, since, tail))
    }

    fn follow(&self, _service: &str) -> Result<broadcast::Receiver<Arc<LogLine>>, ApiError> {
        Ok(self.shared.logs.subscribe())
    }

    fn restart<'a>(&'a self, service: &'a str) -> BoxFuture<'a, Result<String, ApiError>> {
        Box::pin(self.ask(|r| UpCommand::Restart(service.to_string(), r)))
    }

    fn scale<'a>(
        &'a self,
        service: &'a str,
        replicas: u32,
    ) -> BoxFuture<'a, Result<String, ApiError>> {
        Box::pin(self.ask(move |r| UpCommand::Scale(service.to_string(), replicas, r)))
    }

    fn set_mode<'a>(
        &'a self,
        service: &'a str,
        container: Option<&'a str>,
        mode: Mode,
    ) -> BoxFuture<'a, Result<String, ApiError>> {
        Box::pin(self.ask(move |r| {
            UpCommand::Mode(service.to_string(), container.map(str::to_string), mode, r)
        }))
    }

    fn redeploy(&self) -> BoxFuture<'_, Result<String, ApiError>> {
        Box::pin(self.ask(UpCommand::Redeploy))
    }

    fn metrics(&self) -> String {
        crate::metrics::render(crate::metrics::local_state(&self.shared.snapshot()))
    }
}

/// A random token for a dashboard exposed beyond loopback.
pub fn new_token() -> String {
    let mut bytes = [0u8; 16];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut bytes);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn token_file(dir: &Path) -> PathBuf {
    berth_local::state_dir(dir).join("token")
}

/// Keeps the token where the CLI finds it (readable by this user only).
pub fn save_token(dir: &Path, token: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(token_file(dir))?;
    use std::io::Write;
    f.write_all(token.as_bytes())
}

pub fn remove_token(dir: &Path) {
    let _ = std::fs::remove_file(token_file(dir));
}

/// A minimal HTTP/1.1 client for the running `up`'s API (loopback, no TLS).
pub struct Client {
    /// `127.0.0.1:7700`
    authority: String,
    token: Option<String>,
}

impl Client {
    /// The API of the `berth up` running for `dir`.
    pub fn for_dir(dir: &Path) -> Result<Client, String> {
        let not_running = || crate::inspect::not_running(dir);
        berth_local::running_status(dir).ok_or_else(not_running)?;
        let status: Status = std::fs::read_to_string(berth_local::state_file(dir))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .ok_or_else(not_running)?;
        let url = status.dashboard.ok_or_else(not_running)?;
        let authority = url
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap_or("")
            .replace("0.0.0.0", "127.0.0.1");
        Ok(Client {
            authority,
            token: std::fs::read_to_string(token_file(dir)).ok(),
        })
    }

    fn connect(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> Result<std::io::BufReader<std::net::TcpStream>, String> {
        use std::io::Write;
        let mut stream = std::net::TcpStream::connect(&self.authority)
            .map_err(|e| format!("cannot reach berth up's API at {}: {e}", self.authority))?;
        let auth = self
            .token
            .as_ref()
            .map(|t| format!("Authorization: Bearer {}\r\n", t.trim()))
            .unwrap_or_default();
        let body = body.unwrap_or("");
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.authority,
            body.len()
        );
        stream
            .write_all(req.as_bytes())
            .map_err(|e| format!("cannot talk to berth up: {e}"))?;
        Ok(std::io::BufReader::new(stream))
    }

    /// Sends a request and returns the status code, and the body with chunking undone.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> Result<(u16, String), String> {
        let mut reader = self.connect(method, path, body)?;
        let (code, chunked) = read_head(&mut reader)?;
        let mut out = Vec::new();
        read_body(&mut reader, chunked, &mut |bytes| {
            out.extend_from_slice(bytes);
            true
        })?;
        Ok((code, String::from_utf8_lossy(&out).into_owned()))
    }

    /// Streams a response body to `each` until it returns false or the server closes.
    pub fn stream(&self, path: &str, each: &mut dyn FnMut(&[u8]) -> bool) -> Result<u16, String> {
        let mut reader = self.connect("GET", path, None)?;
        let (code, chunked) = read_head(&mut reader)?;
        read_body(&mut reader, chunked, each)?;
        Ok(code)
    }

    /// A POST whose answer is `{"ok":true,"message":...}` or `{"error":...}`.
    pub fn post(&self, path: &str, body: &serde_json::Value) -> Result<String, String> {
        let (code, text) = self.request("POST", path, Some(&body.to_string()))?;
        let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        if code == 200 {
            Ok(json["message"].as_str().unwrap_or("").to_string())
        } else {
            Err(json["error"].as_str().unwrap_or(&text).to_string())
        }
    }
}

fn read_head(reader: &mut impl std::io::BufRead) -> Result<(u16, bool), String> {
    let mut line = String::new();
    reader.read_line(&mut line).map_err(|e| e.to_string())?;
    let code = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("unexpected answer from berth up: {line:?}"))?;
    let mut chunked = false;
    loop {
        line.clear();
        reader.read_line(&mut line).map_err(|e| e.to_string())?;
        if line.trim().is_empty() {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
            chunked = true;
        }
    }
    Ok((code, chunked))
}

fn read_body(
    reader: &mut impl std::io::BufRead,
    chunked: bool,
    each: &mut dyn FnMut(&[u8]) -> bool,
) -> Result<(), String> {
    if !chunked {
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).map_err(|e| e.to_string())?;
        each(&rest);
        return Ok(());
    }
    loop {
        let mut size = String::new();
        if reader.read_line(&mut size).map_err(|e| e.to_string())? == 0 {
            return Ok(());
        }
        let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
            .map_err(|_| format!("bad chunk size {size:?}"))?;
        if n == 0 {
            return Ok(());
        }
        let mut buf = vec![0; n + 2];
        reader.read_exact(&mut buf).map_err(|e| e.to_string())?;
        if !each(&buf[..n]) {
            return Ok(());
        }
    }
}
