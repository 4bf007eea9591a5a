//! The container engine `berth up` runs images on: Docker Engine or Podman, through the Docker
//! Engine API (bollard). Found as Docker's and Podman's clients find theirs; when only the
//! `podman` command is installed, berth starts `podman system service` for the session.

use crate::error::{engine, Error};
use bollard::{ClientVersion, Docker};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The API version berth speaks: Podman 4's compatible service answers up to 1.41, and every
/// Docker Engine still in use accepts it.
const API: ClientVersion = ClientVersion {
    major_version: 1,
    minor_version: 41,
};

/// `BERTH_ENGINE=none` runs no images (every container then needs a run spec);
/// `BERTH_ENGINE=unix:///path` names the engine's socket.
const ENGINE_VAR: &str = "BERTH_ENGINE";

/// A connected engine.
pub struct Engine {
    pub docker: Docker,
    /// `podman 4.3.1 at /run/podman/podman.sock`.
    pub name: String,
    /// The `podman system service` berth started, stopped with the session.
    _service: Option<tokio::process::Child>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

/// Where an engine may listen, in the order berth tries them.
fn candidates() -> Vec<String> {
    let mut out = Vec::new();
    for var in [ENGINE_VAR, "DOCKER_HOST", "CONTAINER_HOST"] {
        if let Ok(v) = std::env::var(var) {
            if !v.is_empty() {
                out.push(v);
            }
        }
    }
    out.push("unix:///var/run/docker.sock".into());
    out.push("unix:///run/podman/podman.sock".into());
    if let Ok(dir) = std::env::var("XDG_RUNTIME_DIR") {
        out.push(format!("unix://{dir}/podman/podman.sock"));
        out.push(format!("unix://{dir}/docker.sock"));
    }
    if let Ok(home) = std::env::var("HOME") {
        out.push(format!("unix://{home}/.docker/run/docker.sock"));
        out.push(format!("unix://{home}/.docker/desktop/docker.sock"));
    }
    out
}

fn disabled() -> bool {
    std::env::var(ENGINE_VAR).is_ok_and(|v| v == "none")
}

fn socket_path(address: &str) -> Option<&str> {
    address.strip_prefix("unix://")
}

/// The `podman` command on `PATH`, if any.
fn podman_command() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("podman"))
        .find(|p| p.is_file())
}

/// Whether an engine is there to run images (a socket exists, or berth can start Podman's
/// service): cheap, no connection. [`Engine::connect`] says whether it answers.
pub fn configured() -> bool {
    if disabled() {
        return false;
    }
    candidates().iter().any(|a| match socket_path(a) {
        Some(p) => Path::new(p).exists(),
        None => true,
    }) || podman_command().is_some()
}

impl Engine {
    /// Podman (through its Docker-compatible service), rather than Docker Engine.
    pub fn is_podman(&self) -> bool {
        self.name.starts_with("podman")
    }

    /// Connects for a deploy folder: a Podman service berth starts listens in a runtime folder
    /// of the folder's own (short enough for a socket path).
    pub async fn connect_for(folder: &Path) -> Result<Engine, Error> {
        let absolute = std::path::absolute(folder).unwrap_or_else(|_| folder.to_path_buf());
        let run_dir = std::env::var_os("XDG_RUNTIME_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir)
            .join(crate::container::set_name(&absolute));
        Engine::connect(&run_dir).await
    }

    /// Connects to the first engine that answers; when none does and `podman` is installed,
    /// starts `podman system service` on a socket of berth's own (`run_dir`, short enough for
    /// a socket path). The error says what to install.
    pub async fn connect(run_dir: &Path) -> Result<Engine, Error> {
        if disabled() {
            return Err(engine(format!("{ENGINE_VAR}=none: images do not run")));
        }
        let mut tried = Vec::new();
        for address in candidates() {
            match try_connect(&address).await {
                Ok((docker, name)) => {
                    return Ok(Engine {
                        docker,
                        name,
                        _service: None,
                    })
                }
                Err(e) => tried.push(format!("{address}: {e}")),
            }
        }
        if let Some(podman) = podman_command() {
            return start_podman(&podman, run_dir).await;
        }
        Err(engine(format!(
            "no container engine answers ({}): install Podman or Docker, or set DOCKER_HOST",
            tried.join("; ")
        )))
    }
}

/// The engine at `address` and its name, or why it does not answer (one part of an error).
async fn try_connect(address: &str) -> Result<(Docker, String), bollard::errors::Error> {
    let docker = match socket_path(address) {
        Some(p) => Docker::connect_with_unix(p, 120, &API),
        None => Docker::connect_with_http(address, 120, &API),
    }?;
    let version = tokio::time::timeout(Duration::from_secs(3), docker.version())
        .await
        .map_err(|_| bollard::errors::Error::RequestTimeoutError)??;
    let product = version
        .components
        .iter()
        .flatten()
        .find(|c| c.name.contains("Podman"))
        .map_or("docker", |_| "podman");
    let name = format!(
        "{product} {} at {}",
        version.version.unwrap_or_default(),
        socket_path(address).unwrap_or(address)
    );
    Ok((docker, name))
}

/// Starts `podman system service` on a socket in `run_dir`; it dies with berth.
async fn start_podman(podman: &Path, run_dir: &Path) -> Result<Engine, Error> {
    std::fs::create_dir_all(run_dir).map_err(|e| crate::error::io(run_dir, e))?;
    let socket = run_dir.join("podman.sock");
    let _ = std::fs::remove_file(&socket);
    let address = format!("unix://{}", socket.display());
    let mut cmd = tokio::process::Command::new(podman);
    cmd.args(["system", "service", "--time=0", &address])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        // Its own process group: a Ctrl-C meant for berth must not end it before berth has
        // stopped the containers through it.
        .process_group(0)
        .kill_on_drop(true);
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM)
                .map_err(std::io::Error::from)
        });
    }
    let child = cmd.spawn().map_err(|e| {
        engine(format!(
            "cannot start {} system service: {e}",
            podman.display()
        ))
    })?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        if socket.exists() {
            if let Ok((docker, name)) = try_connect(&address).await {
                return Ok(Engine {
                    docker,
                    name: format!("{name} (started by berth)"),
                    _service: Some(child),
                });
            }
        }
        if tokio::time::Instant::now() > deadline {
            return Err(engine(format!(
                "{} system service did not answer on {} within 15s",
                podman.display(),
                socket.display()
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
