//! What the Kubernetes CLI tests share: an [`Env`] on the fake API server or a real cluster, and
//! helpers to run berth and look at what it did.
#![allow(dead_code)]

use assert_cmd::Command;
use berth_fakekube::FakeKube;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{json, Value as Json};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;
use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A cluster to test against, a kubeconfig for it, and a client for checking what berth did.
/// The namespaces a scenario made are deleted when it ends, also when it fails.
pub struct Env {
    pub kubeconfig: PathBuf,
    pub fake: Option<FakeKube>,
    pub _tmp: tempfile::TempDir,
    pub rt: tokio::runtime::Runtime,
    pub client: kube::Client,
    pub namespaces: Mutex<Vec<String>>,
}

/// Deletes one object when dropped (cluster-scoped objects outlive a scenario's namespace).
pub struct DeleteOnDrop<'a>(pub &'a Env, pub Api<DynamicObject>, pub &'static str);

impl Drop for DeleteOnDrop<'_> {
    fn drop(&mut self) {
        let _ = self
            .0
            .rt
            .block_on(self.1.delete(self.2, &DeleteParams::default()));
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        for ns in std::mem::take(&mut *self.namespaces.lock().unwrap()) {
            self.cleanup(&ns);
        }
    }
}

/// Each scenario runs against the fake API server (`NAME::fake`) and against a real cluster
/// (`NAME::e2e`, ignored unless asked for: `./scripts/test.sh` runs it on ../shared/kube).
pub static NEXT: AtomicUsize = AtomicUsize::new(0);

pub fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kube-app")
}

pub fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/ticketing")
}

impl Env {
    pub fn fake() -> Env {
        let fake = FakeKube::start();
        fake.store.lock().unwrap().token = Some("fake-token".into());
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("kubeconfig");
        std::fs::write(&path, fake.kubeconfig("fake-token")).unwrap();
        Env::with(path, Some(fake), tmp)
    }

    pub fn real() -> Env {
        let path = std::env::var_os("BERTH_E2E_KUBECONFIG").expect(
            "a real cluster: set BERTH_E2E_KUBECONFIG (./scripts/test.sh starts ../shared/kube)",
        );
        Env::with(PathBuf::from(path), None, tempfile::tempdir().unwrap())
    }

    pub fn is_real(&self) -> bool {
        self.fake.is_none()
    }

    pub fn with(kubeconfig: PathBuf, fake: Option<FakeKube>, tmp: tempfile::TempDir) -> Env {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let client = rt.block_on(async {
            let config = kube::config::Kubeconfig::read_from(&kubeconfig).unwrap();
            let config = kube::Config::from_custom_kubeconfig(config, &Default::default())
                .await
                .unwrap();
            kube::Client::try_from(config).unwrap()
        });
        Env {
            kubeconfig,
            fake,
            _tmp: tmp,
            rt,
            client,
            namespaces: Mutex::new(Vec::new()),
        }
    }

    /// A fresh namespace name for one scenario, deleted when the scenario ends.
    pub fn namespace(&self) -> String {
        let ns = format!(
            "berth-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        self.namespaces.lock().unwrap().push(ns.clone());
        ns
    }

    /// Objects of `kind` in `api_version`, through discovery (`ns` empty: all or cluster-scoped).
    pub fn dynamic(&self, api_version: &str, kind: &str, ns: &str) -> Api<DynamicObject> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let gvk = kube::api::GroupVersionKind::gvk(group, version, kind);
        let (ar, caps) = self
            .rt
            .block_on(kube::discovery::pinned_kind(&self.client, &gvk))
            .unwrap();
        if ns.is_empty() || caps.scope == kube::discovery::Scope::Cluster {
            Api::all_with(self.client.clone(), &ar)
        } else {
            Api::namespaced_with(self.client.clone(), ns, &ar)
        }
    }

    /// The names of the objects of `kind` in `ns`, sorted.
    pub fn names(&self, api_version: &str, kind: &str, ns: &str) -> Vec<String> {
        let api = self.dynamic(api_version, kind, ns);
        let list = self.rt.block_on(api.list(&Default::default())).unwrap();
        let mut names: Vec<String> = list
            .items
            .into_iter()
            .filter_map(|o| o.metadata.name)
            .collect();
        names.sort();
        names
    }

    /// One object as JSON.
    pub fn get(&self, api_version: &str, kind: &str, ns: &str, name: &str) -> Option<Json> {
        let api = self.dynamic(api_version, kind, ns);
        self.rt
            .block_on(api.get_opt(name))
            .unwrap()
            .map(|o| serde_json::to_value(o).unwrap())
    }

    /// Starts recording the writes to objects of `kinds` (apiVersion, kind) in `ns`. On a real
    /// API server through watches from now on (a request that stored nothing makes no event);
    /// the fake has no watch, so there the objects are compared when the recording stops.
    /// Only objects berth manages count (the Jobs a CronJob makes do not), and controllers'
    /// status updates do not: an event is a write when it adds or deletes an object, changes
    /// its generation (its spec) or berth's managed-fields entries.
    pub fn record_writes(&self, ns: &str, kinds: &[(&str, &str)]) -> Writes {
        let seen = std::sync::Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        let mut before = Vec::new();
        for &(api_version, kind) in kinds {
            let api = self.dynamic(api_version, kind, ns);
            let list = self.rt.block_on(api.list(&Default::default())).unwrap();
            let rv = list.metadata.resource_version.clone().unwrap_or_default();
            if self.fake.is_some() {
                before.push((api, kind.to_string(), versions(&list.items)));
                continue;
            }
            let last = marks_by_name(&list.items);
            let (seen, kind) = (seen.clone(), kind.to_string());
            tasks.push(self.rt.spawn(watch_writes(api, rv, last, kind, seen)));
        }
        Writes {
            seen,
            tasks,
            before,
        }
    }

    /// A copy of the test app that a scenario may edit.
    pub fn app(&self) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for entry in std::fs::read_dir(fixture()).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
        }
        dir
    }

    pub fn berth(&self, args: &[&str]) -> Output {
        let out = Command::cargo_bin("berth")
            .unwrap()
            .env("KUBECONFIG", &self.kubeconfig)
            .env("NO_COLOR", "1")
            .args(args)
            .output()
            .unwrap();
        eprintln!(
            "$ berth {}\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Applies `body` server-side as field manager `manager`, taking its fields (as a controller
    /// such as the HPA does), through the API server (the fake or the real one) itself.
    pub fn apply_as(&self, manager: &str, body: Json) {
        let api_version = body["apiVersion"].as_str().unwrap();
        let kind = body["kind"].as_str().unwrap();
        let ns = body["metadata"]["namespace"].as_str().unwrap_or("");
        let name = body["metadata"]["name"].as_str().unwrap();
        let api = self.dynamic(api_version, kind, ns);
        let params = kube::api::PatchParams::apply(manager).force();
        self.rt
            .block_on(api.patch(name, &params, &kube::api::Patch::Apply(&body)))
            .unwrap();
    }

    pub fn configmap(&self, ns: &str, name: &str) -> Option<ConfigMap> {
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), ns);
        self.rt.block_on(api.get_opt(name)).unwrap()
    }

    pub fn deployment(&self, ns: &str, name: &str) -> Option<Json> {
        let api: Api<k8s_openapi::api::apps::v1::Deployment> =
            Api::namespaced(self.client.clone(), ns);
        self.rt
            .block_on(api.get_opt(name))
            .unwrap()
            .map(|d| serde_json::to_value(d).unwrap())
    }

    /// Creates a ConfigMap another tool made (the namespace too, when it is missing).
    pub fn create_configmap(&self, ns: &str, name: &str) {
        let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(self.client.clone());
        if self.rt.block_on(namespaces.get_opt(ns)).unwrap().is_none() {
            let n = serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap();
            self.rt
                .block_on(namespaces.create(&PostParams::default(), &n))
                .unwrap();
        }
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), ns);
        let cm: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": name}, "data": {"mine": "yes"}}))
                .unwrap();
        self.rt
            .block_on(api.create(&PostParams::default(), &cm))
            .unwrap();
    }

    /// Takes the set's lock as another tool would.
    pub fn hold_lock(&self, ns: &str, set: &str, holder: &str) {
        use k8s_openapi::api::coordination::v1::Lease;
        let api: Api<Lease> = Api::namespaced(self.client.clone(), ns);
        let now = berth_kube_now();
        let lease: Lease = serde_json::from_value(json!({
            "metadata": {"name": format!("berth-lock-{set}")},
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": 30, "acquireTime": now, "renewTime": now},
        }))
        .unwrap();
        self.rt
            .block_on(api.create(&PostParams::default(), &lease))
            .unwrap();
    }

    /// `berth apply DIR -n NS --name app --no-wait`, which must succeed.
    pub fn apply_no_wait(&self, dir: &Path, ns: &str) -> Output {
        let out = self.berth(&["apply", s(dir), "-n", ns, "--name", "app", "--no-wait"]);
        assert!(out.status.success(), "{}", text(&out));
        out
    }

    /// The test app with source settings, applied (no wait) in a fresh namespace.
    pub fn applied_app_with_source_settings(&self) -> (String, tempfile::TempDir) {
        let ns = self.namespace();
        let app = self.app();
        with_source_settings(app.path());
        self.apply_no_wait(app.path(), &ns);
        (ns, app)
    }

    /// Scales the app by hand, as `kubectl edit` would (another field manager).
    pub fn hand_edit(&self, ns: &str, replicas: u32) {
        let api: Api<k8s_openapi::api::apps::v1::Deployment> =
            Api::namespaced(self.client.clone(), ns);
        let patch = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "app", "namespace": ns}, "spec": {"replicas": replicas}});
        self.rt
            .block_on(api.patch(
                "app",
                &PatchParams::apply("kubectl-edit").force(),
                &Patch::Apply(&patch),
            ))
            .unwrap();
    }

    pub fn cleanup(&self, ns: &str) {
        let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(self.client.clone());
        let _ = self.rt.block_on(api.delete(ns, &DeleteParams::default()));
    }

    /// Seconds to wait for rollouts: a real cluster pulls images.
    pub fn timeout(&self) -> &'static str {
        if self.fake.is_some() {
            "3s"
        } else {
            "120s"
        }
    }
}

pub fn berth_kube_now() -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%S.000000Z"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Source settings for Kubernetes in the test app: a runner image and the source's host path.
pub fn with_source_settings(app: &Path) {
    let deploy = std::fs::read_to_string(app.join("deploy.yaml")).unwrap().replace(
        "    berth.dev/description: \"The test app\"\n",
        "    berth.dev/description: \"The test app\"\n    berth.dev/run: |\n      app:\n        command: [python3, app.py]\n        workdir: services\n        image: registry.example.com/runner:1\n        sourcePath: /home/dev/app\n",
    );
    std::fs::write(app.join("deploy.yaml"), deploy).unwrap();
}

pub fn context(env: &Env) -> &'static str {
    if env.fake.is_some() {
        "fake"
    } else {
        Box::leak(
            kube::config::Kubeconfig::read_from(&env.kubeconfig)
                .unwrap()
                .current_context
                .unwrap()
                .into_boxed_str(),
        )
    }
}

pub fn git(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The environment events of a dashboard, to wait on instead of sleeping.
pub struct Events {
    reader: std::io::BufReader<std::net::TcpStream>,
}

impl Events {
    pub fn open(addr: &str) -> Events {
        use std::io::{BufRead, Write};
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(60)))
            .unwrap();
        write!(s, "GET /api/v1/events HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
        let mut reader = std::io::BufReader::new(s);
        let mut line = String::new();
        while line != "\r\n" {
            line.clear();
            reader.read_line(&mut line).unwrap();
        }
        Events { reader }
    }

    /// Waits for an environment for which `f` holds.
    pub fn until(&mut self, what: &str, f: impl Fn(&Json) -> bool) -> Json {
        use std::io::BufRead;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let mut line = String::new();
        loop {
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            line.clear();
            assert!(
                self.reader.read_line(&mut line).unwrap() > 0,
                "events closed"
            );
            if let Some(data) = line.trim_end().strip_prefix("data:") {
                let env: Json = serde_json::from_str(data.trim_start()).unwrap();
                if f(&env) {
                    return env;
                }
            }
        }
    }
}

/// A long-running child killed when dropped, also when a test fails: an orphan would hold the
/// test runner's output open and hang `./scripts/test.sh`.
pub struct Running(pub std::process::Child);

impl std::ops::Deref for Running {
    type Target = std::process::Child;
    fn deref(&self) -> &std::process::Child {
        &self.0
    }
}

impl std::ops::DerefMut for Running {
    fn deref_mut(&mut self) -> &mut std::process::Child {
        &mut self.0
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a long-running berth (`sync`, `dashboard`) and returns it with its dashboard address
/// (`127.0.0.1:PORT`), read from its first lines; the rest of its output is drained.
pub fn spawn_with_dashboard(env: &Env, args: &[&str]) -> (Running, String) {
    use std::io::{BufRead, Read};
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("berth"))
        .env("KUBECONFIG", &env.kubeconfig)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let addr = loop {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "berth {args:?} ended early"
        );
        if let Some(a) = line.trim().strip_prefix("dashboard http://") {
            break a.trim_end_matches('/').to_string();
        }
    };
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = out.read_to_end(&mut sink);
    });
    (Running(child), addr)
}

/// One HTTP/1.1 request to a dashboard: the status code and the JSON body.
pub fn call(addr: &str, method: &str, path: &str, body: &str) -> (u16, Json) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()).unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let code = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = text.split_once("\r\n\r\n").unwrap().1;
    (code, serde_json::from_str(body).unwrap_or(Json::Null))
}

/// A git repository with the test app pushed to `origin`, and a clone of it for berth to sync.
pub struct GitApp {
    pub tmp: tempfile::TempDir,
    /// The working copy a developer pushes from (`work/app`).
    pub work: PathBuf,
    /// The app in the synced clone.
    pub synced: PathBuf,
}

impl GitApp {
    pub fn new() -> GitApp {
        let tmp = tempfile::tempdir().unwrap();
        let origin = tmp.path().join("origin.git");
        std::fs::create_dir(&origin).unwrap();
        git(&origin, &["init", "--quiet", "--bare", "-b", "main"]);
        let work = tmp.path().join("work");
        git(
            tmp.path(),
            &["clone", "--quiet", origin.to_str().unwrap(), "work"],
        );
        git(&work, &["checkout", "--quiet", "-b", "main"]);
        std::fs::create_dir(work.join("app")).unwrap();
        for entry in std::fs::read_dir(fixture()).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), work.join("app").join(entry.file_name())).unwrap();
        }
        git(&work, &["add", "."]);
        git(&work, &["commit", "--quiet", "-m", "app"]);
        git(&work, &["push", "--quiet", "-u", "origin", "main"]);
        git(
            tmp.path(),
            &["clone", "--quiet", origin.to_str().unwrap(), "synced"],
        );
        let synced = tmp.path().join("synced/app");
        GitApp { tmp, work, synced }
    }

    /// Commits and pushes a new replica count.
    pub fn push_replicas(&self, from: u32, to: u32) {
        let vars = self.work.join("app/variables.yaml");
        let text = std::fs::read_to_string(&vars).unwrap();
        std::fs::write(
            &vars,
            text.replace(&format!("replicas: {from}"), &format!("replicas: {to}")),
        )
        .unwrap();
        git(
            &self.work,
            &["commit", "--quiet", "-am", &format!("{to} replicas")],
        );
        git(&self.work, &["push", "--quiet"]);
    }
}

/// The desired replicas of the app in a dashboard environment.
pub fn app_replicas(env: &Json) -> Option<u64> {
    env["services"]
        .as_array()?
        .iter()
        .find(|s| s["name"] == "app")?["desired"]
        .as_u64()
}

/// A loopback port free right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The control plane started by `../shared/kube/start.sh STATE`.
pub struct ControlPlane {
    pub state: PathBuf,
    pub scripts: PathBuf,
}

impl ControlPlane {
    pub fn from_env() -> ControlPlane {
        let var = |name: &str| {
            PathBuf::from(std::env::var_os(name).unwrap_or_else(|| {
                panic!("{name} is not set: ./scripts/test.sh sets it when it starts ../shared/kube")
            }))
        };
        ControlPlane {
            state: var("BERTH_E2E_KUBE_STATE"),
            scripts: var("BERTH_E2E_KUBE_SCRIPTS"),
        }
    }

    /// SIGKILLs kube-apiserver, as a crash or an OOM kill would.
    pub fn kill_apiserver(&self) {
        let pid = std::fs::read_to_string(self.state.join("logs/kube-apiserver.pid")).unwrap();
        let pid: i32 = pid.trim().parse().unwrap();
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        // Wait until it is gone, so start.sh sees it dead.
        let deadline = Instant::now() + Duration::from_secs(10);
        while Path::new(&format!("/proc/{pid}")).exists()
            && std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|s| !s.contains(") Z "))
        {
            assert!(
                Instant::now() < deadline,
                "kube-apiserver {pid} did not die"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts whatever is not running (start.sh repairs the cluster) and waits until it is ready.
    pub fn start(&self) {
        let out = StdCommand::new(self.scripts.join("start.sh"))
            .arg(&self.state)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "start.sh: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Starts the API server again however a test ends.
pub struct Restart<'a>(pub &'a ControlPlane);

impl Drop for Restart<'_> {
    fn drop(&mut self) {
        self.0.start();
    }
}

/// A deploy folder of `n` objects: ConfigMaps, Services and Deployments in equal parts (the
/// Deployments' image from `.Variables.image`).
pub fn big_folder(n: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for i in 0..n {
        text.push_str(&match i % 3 {
            0 => format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c{i}\ndata:\n  k: v{i}\n"),
            1 => format!("apiVersion: v1\nkind: Service\nmetadata:\n  name: s{i}\nspec:\n  selector: {{app: d{i}}}\n  ports: [{{port: 80}}]\n"),
            _ => format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d{i}\nspec:\n  replicas: 1\n  selector: {{matchLabels: {{app: d{i}}}}}\n  template:\n    metadata: {{labels: {{app: d{i}}}}}\n    spec:\n      containers: [{{name: c, image: \"{{{{ .Variables.image }}}}\"}}]\n"),
        });
        text.push_str("---\n");
    }
    std::fs::write(dir.path().join("objects.yaml"), text).unwrap();
    std::fs::write(
        dir.path().join("variables.yaml"),
        "image: registry.k8s.io/pause:3.9\n",
    )
    .unwrap();
    dir
}

/// The lines a unified diff adds or removes (without its `---`/`+++` header).
pub fn changed_lines(diff: &str) -> Vec<&str> {
    diff.lines()
        .filter(|l| {
            (l.starts_with('+') || l.starts_with('-'))
                && !l.starts_with("+++")
                && !l.starts_with("---")
        })
        .collect()
}

/// Records the events of one watch that are writes by berth (see [`Env::record_writes`]).
async fn watch_writes(
    api: Api<DynamicObject>,
    rv: String,
    mut last: HashMap<String, Json>,
    kind: String,
    seen: Arc<Mutex<Vec<String>>>,
) {
    use futures::StreamExt;
    use kube::api::WatchEvent;
    let params = kube::api::WatchParams::default().timeout(290);
    let mut stream = api.watch(&params, &rv).await.unwrap().boxed();
    while let Some(event) = stream.next().await {
        let (what, o) = match event {
            Ok(WatchEvent::Added(o)) => ("ADDED", o),
            Ok(WatchEvent::Modified(o)) => ("MODIFIED", o),
            Ok(WatchEvent::Deleted(o)) => ("DELETED", o),
            _ => continue,
        };
        let name = o.metadata.name.clone().unwrap_or_default();
        let marks = write_marks(&o);
        if is_berths(&marks) && (what != "MODIFIED" || last.get(&name) != Some(&marks)) {
            seen.lock().unwrap().push(format!("{what} {kind}/{name}"));
        }
        last.insert(name, marks);
    }
}

fn marks_by_name(items: &[DynamicObject]) -> HashMap<String, Json> {
    (items.iter())
        .map(|o| (o.metadata.name.clone().unwrap_or_default(), write_marks(o)))
        .collect()
}

/// Objects by name: their resourceVersion, and whether berth manages them.
type Versions = HashMap<String, (String, bool)>;

/// The fake's objects by name: their resourceVersion (it changes on a write only: the fake has
/// no controllers writing status) and whether berth manages them. (The fake stamps managedFields
/// with the time of the read, so they cannot tell.)
fn versions(items: &[DynamicObject]) -> Versions {
    (items.iter())
        .map(|o| {
            let name = o.metadata.name.clone().unwrap_or_default();
            let version = o.metadata.resource_version.clone().unwrap_or_default();
            (name, (version, is_berths(&write_marks(o))))
        })
        .collect()
}

fn is_berths(marks: &Json) -> bool {
    marks["berth"].as_array().is_some_and(|a| !a.is_empty())
}

/// What tells a write from a controller's status update: the generation and berth's entries
/// in managedFields.
fn write_marks(o: &DynamicObject) -> Json {
    let berth: Vec<_> = (o.metadata.managed_fields.iter().flatten())
        .filter(|e| e.manager.as_deref() == Some("berth"))
        .collect();
    json!({ "generation": o.metadata.generation, "berth": serde_json::to_value(berth).unwrap() })
}

/// The writes [`Env::record_writes`] saw.
pub struct Writes {
    seen: Arc<Mutex<Vec<String>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// On the fake: each kind's objects and their versions when the recording started.
    before: Vec<(Api<DynamicObject>, String, Versions)>,
}

impl Writes {
    /// What was written: `ADDED Lease/x`, `MODIFIED Deployment/web`, in the order seen.
    pub fn stop(self, env: &Env) -> Vec<String> {
        if env.fake.is_some() {
            return self.compare(env);
        }
        // A pause that lets the watches deliver what happened.
        std::thread::sleep(Duration::from_secs(2));
        for t in &self.tasks {
            t.abort();
        }
        let seen = self.seen.lock().unwrap().clone();
        seen
    }

    /// The objects now, compared with [`Writes::before`].
    fn compare(self, env: &Env) -> Vec<String> {
        let mut seen = Vec::new();
        for (api, kind, before) in self.before {
            let list = env.rt.block_on(api.list(&Default::default())).unwrap();
            let after = versions(&list.items);
            for (name, (version, berths)) in &after {
                let what = match before.get(name) {
                    None => "ADDED",
                    Some((v, _)) if v != version => "MODIFIED",
                    Some(_) => continue,
                };
                if *berths {
                    seen.push(format!("{what} {kind}/{name}"));
                }
            }
            for (name, (_, berths)) in &before {
                if !after.contains_key(name) && *berths {
                    seen.push(format!("DELETED {kind}/{name}"));
                }
            }
        }
        seen
    }
}
