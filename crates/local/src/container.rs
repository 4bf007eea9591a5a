//! One replica of a container in image mode, on the engine: its image (pulled when the policy
//! says so), its volumes, the container itself (labelled with the deploy folder, ports
//! published on loopback only, Services in its `/etc/hosts`), its logs, exit, stop and exec.

use crate::engine::Engine;
use crate::error::{Error, ErrorKind};
use crate::plan::Plan;
use berth_core::pod::{PullPolicy, VolumeSource};
use berth_core::{Container, Workload};
use bollard::models::{ContainerCreateBody, HostConfig, PortBinding};
use bollard::query_parameters as q;
use futures::{Stream, StreamExt};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The label every container and volume berth creates carries: the deploy folder's absolute path.
pub const FOLDER_LABEL: &str = "berth.dev/folder";

/// A short, stable name for a folder's set of containers (`berth-1a2b3c4d`).
pub fn set_name(folder: &Path) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in folder.as_os_str().as_encoded_bytes() {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("berth-{h:08x}")
}

fn absolute(folder: &Path) -> PathBuf {
    std::path::absolute(folder).unwrap_or_else(|_| folder.to_path_buf())
}

fn labels(folder: &Path, extra: &[(&str, String)]) -> HashMap<String, String> {
    let mut l: HashMap<String, String> = extra
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    l.insert(FOLDER_LABEL.into(), absolute(folder).display().to_string());
    l.insert("berth.dev/set".into(), set_name(&absolute(folder)));
    l
}

/// Everything about one replica that its container is made from.
pub(crate) struct Pod<'a> {
    pub engine: &'a Engine,
    pub folder: &'a Path,
    pub workload: &'a Workload,
    pub container: &'a Container,
    pub index: u32,
    /// The replica's id in this session, which keeps names unique during a rolling restart.
    pub id: usize,
    pub plan: &'a Plan,
    /// Container port -> loopback port on the host.
    pub ports: BTreeMap<u16, u16>,
}

/// A started container.
pub(crate) struct Started {
    pub id: String,
    pub pid: u32,
}

impl Pod<'_> {
    fn pod_name(&self) -> String {
        format!("{}-{}", self.workload.name, self.index)
    }

    /// The labels of a container of this pod (`(pod)` for its network holder).
    fn labels(&self, container: &str) -> HashMap<String, String> {
        labels(
            self.folder,
            &[
                ("berth.dev/workload", self.workload.name.clone()),
                ("berth.dev/pod", self.pod_name()),
                ("berth.dev/container", container.to_string()),
            ],
        )
    }

    fn volume_dir(&self) -> PathBuf {
        crate::state_dir(&absolute(self.folder))
            .join("volumes")
            .join(self.pod_name())
    }

    /// Pulls the image when the policy asks for it or it is not here; a failed pull of an image
    /// that is here uses it (said in `note`).
    pub async fn ensure_image(&self, note: &(dyn Fn(String) + Sync)) -> Result<(), Error> {
        let image = self.container.image.as_deref().unwrap_or_default();
        let policy = self.container.spec.pull.unwrap_or(PullPolicy::IfNotPresent);
        let present = self.engine.docker.inspect_image(image).await.is_ok();
        let pull = match policy {
            PullPolicy::Never if !present => {
                return Err(Error::new(
                    ErrorKind::Image,
                    format!(
                    "ErrImageNeverPull: image {image} is not present and imagePullPolicy is Never"
                ),
                ))
            }
            PullPolicy::Never => false,
            PullPolicy::IfNotPresent => !present,
            PullPolicy::Always => true,
        };
        if !pull {
            return Ok(());
        }
        note(format!("pulling image {image}"));
        let credentials = pull_credentials(self.plan, &self.workload.pull_secrets, image);
        match pull_image(self.engine, image, credentials).await {
            Ok(()) => {
                note(format!("pulled image {image}"));
                Ok(())
            }
            Err(e) if present => {
                note(format!(
                    "cannot pull {image} ({e}); using the image already here"
                ));
                Ok(())
            }
            Err(e) => Err(Error::new(
                ErrorKind::Image,
                format!("ErrImagePull: {image}: {e}"),
            )),
        }
    }

    /// The container's mounts: ConfigMaps and Secrets as read-only files written under
    /// `.berth/volumes/POD/`, `emptyDir`s as folders there (shared by the pod's containers),
    /// claims as named volumes that outlive the session.
    async fn mounts(&self) -> Result<Vec<String>, Error> {
        let mut binds = Vec::new();
        for m in &self.container.spec.mounts {
            let v = self
                .workload
                .volumes
                .iter()
                .find(|v| v.name == m.name)
                .ok_or_else(|| {
                    crate::error::folder(format!(
                        "volumeMounts: no volume named {:?} in the pod",
                        m.name
                    ))
                })?;
            let dir = self.volume_dir().join(&v.name);
            let (source, read_only) = match &v.source {
                VolumeSource::Config { .. } => {
                    write_config(&v.source, self.plan, &dir)?;
                    (dir.display().to_string(), true)
                }
                VolumeSource::EmptyDir => {
                    // Writable by any user the container runs as, as the kubelet makes it.
                    let dir = match &m.sub_path {
                        Some(sub) => dir.join(sub),
                        None => dir,
                    };
                    make_shared_dir(&dir)?;
                    (dir.display().to_string(), m.read_only)
                }
                VolumeSource::Claim(claim) => {
                    let name = format!("{}-{claim}", set_name(&absolute(self.folder)));
                    create_volume(self.engine, self.folder, &name).await?;
                    (name, m.read_only)
                }
                VolumeSource::HostPath(p) if self.plan.allow_host_path => (p.clone(), m.read_only),
                VolumeSource::HostPath(p) => {
                    return Err(crate::error::folder(format!(
                        "volume {:?} is a hostPath ({p}), which berth up mounts only when asked: pass --allow-host-path",
                        v.name
                    )))
                }
                VolumeSource::Unsupported(kind) => {
                    return Err(crate::error::folder(format!(
                        "volume {:?} is a {kind} volume, which berth up cannot provide locally",
                        v.name
                    )))
                }
            };
            let source = match &m.sub_path {
                _ if matches!(v.source, VolumeSource::EmptyDir) => source,
                Some(sub) if !source.starts_with('/') => {
                    return Err(crate::error::folder(format!(
                        "subPath {sub:?} of claim volume {:?} is not supported locally",
                        v.name
                    )))
                }
                Some(sub) => format!("{source}/{sub}"),
                None => source,
            };
            let mode = if read_only || m.read_only { "ro" } else { "rw" };
            binds.push(format!("{source}:{}:{mode}", m.path));
        }
        Ok(binds)
    }

    /// Creates and starts the container with `env`, and the in-pod Service names.
    pub async fn start(
        &self,
        env: &[(String, String)],
        hosts: Vec<String>,
        network: Option<&str>,
    ) -> Result<Started, Error> {
        let binds = self.mounts().await?;
        let c = self.container;
        let spec = &c.spec;
        let own_network = network.is_none();
        let user = spec
            .security
            .run_as_user
            .map(|u| match spec.security.run_as_group {
                Some(g) => format!("{u}:{g}"),
                None => u.to_string(),
            });
        let body = ContainerCreateBody {
            image: c.image.clone(),
            hostname: own_network.then(|| self.pod_name()),
            entrypoint: (!spec.command.is_empty()).then(|| expand_all(&spec.command, env)),
            cmd: (!spec.args.is_empty()).then(|| expand_all(&spec.args, env)),
            working_dir: spec.working_dir.clone(),
            user,
            env: Some(env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            exposed_ports: own_network
                .then(|| self.ports.keys().map(|p| format!("{p}/tcp")).collect()),
            labels: Some(self.labels(&c.name)),
            host_config: Some(HostConfig {
                network_mode: network.map(|id| format!("container:{id}")),
                // The pod's hostname too, as its containers share it on a cluster (Podman
                // only: Docker Engine accepts no other container's UTS namespace).
                uts_mode: network
                    .filter(|_| self.engine.is_podman())
                    .map(|id| format!("container:{id}")),
                port_bindings: own_network.then(|| port_bindings(&self.ports)),
                binds: Some(binds),
                extra_hosts: own_network.then_some(hosts),
                memory: spec.limits.memory_bytes,
                nano_cpus: spec.limits.nano_cpus,
                readonly_rootfs: Some(spec.security.read_only_root),
                ..Default::default()
            }),
            ..Default::default()
        };
        let name = format!(
            "{}-{}-{}-{}",
            set_name(&absolute(self.folder)),
            self.pod_name(),
            c.name,
            self.id
        );
        self.create_and_start(&name, body).await
    }

    /// Starts the pod's network holder: the pause program, with the pod's hostname, its
    /// Service names and the published ports of all its containers (`ports`).
    pub async fn start_holder(
        &self,
        ports: &BTreeMap<u16, u16>,
        hosts: Vec<String>,
    ) -> Result<Started, Error> {
        crate::pause::ensure_image(self.engine).await?;
        let body = ContainerCreateBody {
            image: Some(crate::pause::IMAGE.into()),
            entrypoint: Some(vec!["/pause".into()]),
            hostname: Some(self.pod_name()),
            exposed_ports: Some(ports.keys().map(|p| format!("{p}/tcp")).collect()),
            labels: Some(self.labels("(pod)")),
            host_config: Some(HostConfig {
                port_bindings: Some(port_bindings(ports)),
                extra_hosts: Some(hosts),
                ..Default::default()
            }),
            ..Default::default()
        };
        let name = format!(
            "{}-{}-pod-{}",
            set_name(&absolute(self.folder)),
            self.pod_name(),
            self.id
        );
        self.create_and_start(&name, body).await
    }

    async fn create_and_start(
        &self,
        name: &str,
        body: ContainerCreateBody,
    ) -> Result<Started, Error> {
        let name = name.to_string();
        let docker = &self.engine.docker;
        // A container of this name left by a crash of this very session's replica.
        let _ = docker
            .remove_container(
                &name,
                Some(q::RemoveContainerOptionsBuilder::new().force(true).build()),
            )
            .await;
        let created = docker
            .create_container(
                Some(q::CreateContainerOptionsBuilder::new().name(&name).build()),
                body,
            )
            .await
            .map_err(|e| {
                crate::error::start(format!(
                    "cannot create the container: {}",
                    engine_message(&e)
                ))
            })?;
        let id = created.id;
        if let Err(e) = docker.start_container(&id, None).await {
            remove(self.engine, &id).await;
            return Err(crate::error::start(format!(
                "cannot start the container: {}",
                engine_message(&e)
            )));
        }
        let pid = docker
            .inspect_container(&id, None)
            .await
            .ok()
            .and_then(|i| i.state?.pid)
            .unwrap_or(0) as u32;
        Ok(Started { id, pid })
    }
}

fn expand_all(words: &[String], env: &[(String, String)]) -> Vec<String> {
    words.iter().map(|w| expand(w, env)).collect()
}

/// Kubernetes' `$(VAR)` references in `command` and `args`: the variable's value where the
/// container defines it, the reference unchanged where not; `$$` is a literal `$`.
fn expand(word: &str, env: &[(String, String)]) -> String {
    let mut out = String::with_capacity(word.len());
    let mut rest = word;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some((name, tail)) = after
            .strip_prefix('(')
            .and_then(|a| a.split_once(')'))
            .filter(|(n, _)| !n.is_empty() && !n.contains('('))
        {
            match env.iter().rev().find(|(k, _)| k == name) {
                Some((_, v)) => out.push_str(v),
                None => out.push_str(&format!("$({name})")),
            }
            rest = tail;
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// Container ports published on the host's loopback only, at the replica's ports.
fn port_bindings(ports: &BTreeMap<u16, u16>) -> HashMap<String, Option<Vec<PortBinding>>> {
    ports
        .iter()
        .map(|(container_port, host_port)| {
            let binding = PortBinding {
                host_ip: Some("127.0.0.1".into()),
                host_port: Some(host_port.to_string()),
            };
            (format!("{container_port}/tcp"), Some(vec![binding]))
        })
        .collect()
}

/// What the engine said, without the HTTP wrapping.
fn engine_message(e: &bollard::errors::Error) -> String {
    match e {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

fn make_shared_dir(dir: &Path) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).map_err(|e| crate::error::io(dir, e))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777))
        .map_err(|e| crate::error::io(dir, e))
}

/// The registry an image reference names (`docker.io` when it names none).
fn registry_of(image: &str) -> &str {
    match image.split_once('/') {
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => first,
        _ => "docker.io",
    }
}

/// Whether a `dockerconfigjson` key (`https://host/v1/`, `host:5000`) names `registry`.
fn names_registry(key: &str, registry: &str) -> bool {
    let host = key
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or_default();
    host == registry
        || (registry == "docker.io" && matches!(host, "index.docker.io" | "registry-1.docker.io"))
}

/// Credentials for `image` from the pod's `imagePullSecrets`: the first `dockerconfigjson`
/// (or legacy `dockercfg`) Secret with an entry for the image's registry.
pub(crate) fn pull_credentials(
    plan: &Plan,
    secrets: &[String],
    image: &str,
) -> Option<bollard::auth::DockerCredentials> {
    let registry = registry_of(image);
    secrets.iter().find_map(|name| {
        let data = plan.secrets.get(name)?;
        let config: serde_json::Value = data
            .get(".dockerconfigjson")
            .or_else(|| data.get(".dockercfg"))
            .and_then(|t| serde_json::from_str(t).ok())?;
        let auths = config.get("auths").unwrap_or(&config).as_object()?;
        let (key, entry) = auths.iter().find(|(k, _)| names_registry(k, registry))?;
        let field = |f: &str| entry.get(f).and_then(|v| v.as_str()).map(String::from);
        let (mut username, mut password) = (field("username"), field("password"));
        if let Some(pair) = field("auth").and_then(|a| crate::plan::decode_base64(&a)) {
            if let Some((u, p)) = pair.split_once(':') {
                username.get_or_insert(u.to_string());
                password.get_or_insert(p.to_string());
            }
        }
        Some(bollard::auth::DockerCredentials {
            username,
            password,
            serveraddress: Some(key.clone()),
            ..Default::default()
        })
    })
}

async fn pull_image(
    engine: &Engine,
    image: &str,
    credentials: Option<bollard::auth::DockerCredentials>,
) -> Result<(), Error> {
    let options = q::CreateImageOptionsBuilder::new()
        .from_image(image)
        .build();
    let mut progress = engine.docker.create_image(Some(options), None, credentials);
    while let Some(step) = progress.next().await {
        let step = step.map_err(|e| crate::error::engine(engine_message(&e)))?;
        if let Some(e) = step.error_detail.and_then(|d| d.message) {
            return Err(crate::error::engine(e));
        }
    }
    Ok(())
}

async fn create_volume(engine: &Engine, folder: &Path, name: &str) -> Result<(), Error> {
    if engine.docker.inspect_volume(name).await.is_ok() {
        return Ok(());
    }
    let body = bollard::models::VolumeCreateRequest {
        name: Some(name.to_string()),
        labels: Some(labels(folder, &[])),
        ..Default::default()
    };
    engine
        .docker
        .create_volume(body)
        .await
        .map(|_| ())
        .map_err(|e| {
            crate::error::engine(format!(
                "cannot create volume {name}: {}",
                engine_message(&e)
            ))
        })
}

/// Writes a ConfigMap or Secret volume's files into `dir` (anew), as the kubelet lays them out:
/// every key, or only `items` under their paths, with their modes.
fn write_config(source: &VolumeSource, plan: &Plan, dir: &Path) -> Result<(), Error> {
    let VolumeSource::Config {
        secret,
        name,
        items,
        default_mode,
        optional,
    } = source
    else {
        return Ok(());
    };
    let kind = if *secret { "Secret" } else { "ConfigMap" };
    let data = if *secret {
        &plan.secrets
    } else {
        &plan.config_maps
    };
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(|e| crate::error::io(dir, e))?;
    let Some(values) = data.get(name) else {
        if *optional {
            return Ok(());
        }
        return Err(crate::error::folder(format!(
            "volume: {kind} {name:?} is not in the deploy folder"
        )));
    };
    let files: Vec<(String, String, u32)> = if items.is_empty() {
        values
            .iter()
            .map(|(k, v)| (k.clone(), v.clone(), *default_mode))
            .collect()
    } else {
        items
            .iter()
            .map(|i| {
                let v = values.get(&i.key).ok_or_else(|| {
                    crate::error::folder(format!("volume: {kind} {name:?} has no key {:?}", i.key))
                })?;
                Ok((i.path.clone(), v.clone(), i.mode.unwrap_or(*default_mode)))
            })
            .collect::<Result<_, Error>>()?
    };
    for (path, value, mode) in files {
        if path.split('/').any(|p| p == ".." || p.is_empty()) {
            return Err(crate::error::folder(format!(
                "volume: {kind} {name:?}: path {path:?} leaves the volume"
            )));
        }
        let file = dir.join(&path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).map_err(|e| crate::error::io(parent, e))?;
        }
        std::fs::write(&file, value).map_err(|e| crate::error::io(&file, e))?;
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode));
    }
    Ok(())
}

/// The container's output, line by line, as (`stdout`|`stderr`, line), until it ends.
pub(crate) fn log_lines(
    engine: &Engine,
    id: &str,
) -> impl Stream<Item = (&'static str, String)> + Send + 'static {
    let options = q::LogsOptionsBuilder::new()
        .follow(true)
        .stdout(true)
        .stderr(true)
        .build();
    let chunks = engine.docker.logs(id, Some(options));
    let mut pending: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
    chunks
        .take_while(|c| std::future::ready(c.is_ok()))
        .filter_map(|c| std::future::ready(c.ok()))
        .flat_map(move |chunk| {
            let (i, name, bytes) = match chunk {
                bollard::container::LogOutput::StdErr { message } => (1, "stderr", message),
                other => (0, "stdout", other.into_bytes()),
            };
            pending[i].extend_from_slice(&bytes);
            let mut lines = Vec::new();
            while let Some(n) = pending[i].iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending[i].drain(..=n).collect();
                let text = String::from_utf8_lossy(&line[..line.len() - 1]);
                lines.push((name, text.trim_end_matches('\r').to_string()));
            }
            futures::stream::iter(lines)
        })
}

/// Waits for the container to exit; its exit status as a process's.
pub(crate) async fn wait(engine: &Engine, id: &str) -> std::io::Result<std::process::ExitStatus> {
    use std::os::unix::process::ExitStatusExt;
    let mut waits = engine
        .docker
        .wait_container(id, None::<q::WaitContainerOptions>);
    let code = match waits.next().await {
        Some(Ok(r)) => r.status_code,
        Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => code,
        Some(Err(e)) => return Err(std::io::Error::other(engine_message(&e))),
        None => return Err(std::io::Error::other("the engine ended the wait")),
    };
    Ok(std::process::ExitStatus::from_raw(
        ((code & 0xff) as i32) << 8,
    ))
}

/// Stops the container (SIGTERM, then SIGKILL after `grace`) and removes it.
pub(crate) async fn stop(engine: &Engine, id: &str, grace: Duration) {
    let t = grace.as_secs().min(i32::MAX as u64) as i32;
    let _ = engine
        .docker
        .stop_container(id, Some(q::StopContainerOptionsBuilder::new().t(t).build()))
        .await;
    remove(engine, id).await;
}

/// Kills the container at once (a failed liveness probe).
pub(crate) async fn kill(engine: &Engine, id: &str) {
    let _ = engine
        .docker
        .kill_container(id, None::<q::KillContainerOptions>)
        .await;
}

pub(crate) async fn remove(engine: &Engine, id: &str) {
    let _ = engine
        .docker
        .remove_container(
            id,
            Some(q::RemoveContainerOptionsBuilder::new().force(true).build()),
        )
        .await;
}

/// Runs `command` in the container (an exec probe): fine when it exits 0 within `timeout`.
pub(crate) async fn exec(
    engine: &Engine,
    id: &str,
    command: &[String],
    timeout: Duration,
) -> Result<(), Error> {
    let docker = &engine.docker;
    let run = async {
        let exec = docker
            .create_exec(
                id,
                bollard::models::ExecConfig {
                    cmd: Some(command.to_vec()),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| crate::error::engine(engine_message(&e)))?;
        let mut output = String::new();
        if let bollard::exec::StartExecResults::Attached {
            output: mut out, ..
        } = docker
            .start_exec(&exec.id, None)
            .await
            .map_err(|e| crate::error::engine(engine_message(&e)))?
        {
            while let Some(Ok(chunk)) = out.next().await {
                if output.len() < 512 {
                    output.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
                }
            }
        }
        let code = docker
            .inspect_exec(&exec.id)
            .await
            .map_err(|e| crate::error::engine(engine_message(&e)))?
            .exit_code
            .unwrap_or(-1);
        match code {
            0 => Ok(()),
            n => Err(crate::error::start(format!(
                "{:?} exited with {n}: {}",
                command.join(" "),
                output.trim()
            ))),
        }
    };
    tokio::time::timeout(timeout, run).await.map_err(|_| {
        crate::error::start(format!(
            "{:?} timed out after {timeout:?}",
            command.join(" ")
        ))
    })?
}

/// The engine's filter for what berth made for `folder` (its label).
fn folder_filter(folder: &Path) -> HashMap<&'static str, Vec<String>> {
    let label = format!("{FOLDER_LABEL}={}", absolute(folder).display());
    HashMap::from([("label", vec![label])])
}

/// Removes the named volumes berth made for `folder`'s PersistentVolumeClaims (`berth down
/// --volumes`); returns their names.
pub async fn remove_volumes(folder: &Path) -> Result<Vec<String>, Error> {
    let engine = Engine::connect_for(folder).await?;
    let filters = folder_filter(folder);
    let options = q::ListVolumesOptionsBuilder::new()
        .filters(&filters)
        .build();
    let found = engine
        .docker
        .list_volumes(Some(options))
        .await
        .map_err(|e| crate::error::engine(engine_message(&e)))?;
    let mut removed = Vec::new();
    for v in found.volumes.into_iter().flatten() {
        engine
            .docker
            .remove_volume(&v.name, None::<q::RemoveVolumeOptions>)
            .await
            .map_err(|e| {
                crate::error::engine(format!(
                    "cannot remove volume {}: {}",
                    v.name,
                    engine_message(&e)
                ))
            })?;
        removed.push(v.name);
    }
    Ok(removed)
}

/// Removes every container berth started for `folder` that is still there (a berth that was
/// killed); returns how many, or why the engine could not list them.
pub async fn remove_leftovers(engine: &Engine, folder: &Path) -> Result<usize, Error> {
    let filters = folder_filter(folder);
    let options = q::ListContainersOptionsBuilder::new()
        .all(true)
        .filters(&filters)
        .build();
    let found = engine
        .docker
        .list_containers(Some(options))
        .await
        .map_err(|e| crate::error::engine(engine_message(&e)))?;
    let mut n = 0;
    for c in found {
        if let Some(id) = c.id {
            remove(engine, &id).await;
            n += 1;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_secrets_give_the_registry_credentials() {
        let mut plan = Plan::default();
        let config = r#"{"auths": {"registry.example.com:5000": {"auth": "YW5uOnMzY3JldA=="},
            "https://index.docker.io/v1/": {"username": "bob", "password": "pw"}}}"#;
        plan.secrets.insert(
            "regcred".into(),
            [(".dockerconfigjson".to_string(), config.to_string())].into(),
        );
        let secrets = ["missing".to_string(), "regcred".to_string()];
        let c =
            super::pull_credentials(&plan, &secrets[1..], "registry.example.com:5000/team/web:1")
                .unwrap();
        assert_eq!(
            (c.username.as_deref(), c.password.as_deref()),
            (Some("ann"), Some("s3cret"))
        );
        let c = super::pull_credentials(&plan, &secrets[1..], "redis:7").unwrap();
        assert_eq!(c.username.as_deref(), Some("bob"));
        assert!(super::pull_credentials(&plan, &secrets[1..], "ghcr.io/x/y:1").is_none());
        assert!(super::pull_credentials(&plan, &secrets[..1], "redis:7").is_none());
    }

    #[test]
    fn references_expand_as_kubernetes_expands_them() {
        let env = [("PORT".to_string(), "80".to_string())];
        let e = |w: &str| super::expand(w, &env);
        assert_eq!(e("--port=$(PORT)"), "--port=80");
        assert_eq!(e("$(MISSING)/$(PORT)"), "$(MISSING)/80");
        assert_eq!(e("$$(PORT) $$ $x $("), "$(PORT) $ $x $(");
    }
}

/// The engine a running `berth up` uses for a folder, as its command line sees it.
pub struct RunningEngine {
    /// `podman` or `docker`.
    pub product: String,
    /// The socket, for Docker's command.
    pub socket: Option<String>,
}

/// The engine of the `berth up` running for `folder`, if it runs containers.
pub fn running_engine(folder: &Path) -> Option<RunningEngine> {
    let name = std::fs::read_to_string(crate::engine_marker(folder)).ok()?;
    let product = name.split_whitespace().next()?.to_string();
    let socket = name
        .split(" at ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .map(String::from);
    Some(RunningEngine { product, socket })
}

impl RunningEngine {
    /// The engine's command (`podman`, or `docker` pointed at the socket berth uses).
    pub fn command(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(&self.product);
        if self.product == "docker" {
            if let Some(s) = &self.socket {
                cmd.env("DOCKER_HOST", format!("unix://{s}"));
            }
        }
        cmd
    }

    /// The id of replica 0's container `container` of `workload`, if it runs.
    pub fn find(&self, folder: &Path, workload: &str, container: &str) -> Option<String> {
        let out = self
            .command()
            .args(["ps", "-q", "--filter"])
            .arg(format!(
                "label={FOLDER_LABEL}={}",
                absolute(folder).display()
            ))
            .args(["--filter", &format!("label=berth.dev/pod={workload}-0")])
            .args([
                "--filter",
                &format!("label=berth.dev/container={container}"),
            ])
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .map(str::to_string)
    }
}

/// The network namespaces of pods with several containers in image mode: a holder container per
/// pod replica, made by the first of its containers to start and removed after the last stops.
#[derive(Default)]
pub struct PodNets {
    pods: tokio::sync::Mutex<HashMap<(String, u32), PodNet>>,
}

struct PodNet {
    engine: std::sync::Arc<Engine>,
    id: String,
    refs: usize,
    listeners: Vec<tokio::task::AbortHandle>,
}

/// A made holder: its container, its first process, and the Service listeners in it.
pub(crate) type Holder = (Started, Vec<tokio::task::AbortHandle>);

impl PodNets {
    /// The holder of pod `key` (its container id), made with `make` when there is none.
    pub(crate) async fn acquire(
        &self,
        key: (String, u32),
        engine: &std::sync::Arc<Engine>,
        make: impl std::future::Future<Output = Result<Holder, Error>>,
    ) -> Result<String, Error> {
        let mut pods = self.pods.lock().await;
        if let Some(p) = pods.get_mut(&key) {
            p.refs += 1;
            return Ok(p.id.clone());
        }
        let (started, listeners) = make.await?;
        pods.insert(
            key,
            PodNet {
                engine: engine.clone(),
                id: started.id.clone(),
                refs: 1,
                listeners,
            },
        );
        Ok(started.id)
    }

    /// One container of pod `key` is gone; the holder goes with the last.
    pub(crate) async fn release(&self, key: &(String, u32)) {
        let mut pods = self.pods.lock().await;
        let Some(p) = pods.get_mut(key) else { return };
        p.refs -= 1;
        if p.refs == 0 {
            let p = pods.remove(key).expect("present");
            p.listeners.iter().for_each(tokio::task::AbortHandle::abort);
            remove(&p.engine, &p.id).await;
        }
    }
}
