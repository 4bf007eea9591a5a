//! A test double of the Kubernetes API server, on 127.0.0.1, for berth's tests and benchmarks.
//!
//! Faithful for what berth relies on: discovery (`/api`, `/apis`, resource lists, CRDs serving
//! new kinds once stored), get and list with label and field selectors, create, replace with
//! `resourceVersion` preconditions (409), JSON merge patch, server-side apply with managedFields,
//! conflicts (409 naming field and manager) and `force`, `dryRun=All`, delete (404 when missing;
//! a Namespace takes its objects with it), 404 for objects in a missing namespace, bearer-token
//! auth (401) and per-verb denials (403), Leases, and a little defaulting (Deployment and Service
//! fields the user did not write) so that plans must ignore it.
//!
//! Its limits (see also docs/kubernetes.md): no watch; pods are made up by the instantaneous
//! controllers (one per Deployment or StatefulSet replica, with three log lines each, and no
//! exec or attach); no admission or schema validation beyond
//! a few required fields; controllers are instantaneous (Deployments, StatefulSets and DaemonSets
//! are ready as soon as they are written, unless a container image ends in `:never-ready`, which
//! stays unavailable with an event like an image pull failure; Jobs complete at once; CRDs are
//! established at once); garbage collection of owned objects is not modelled.

pub mod ssa;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value as Json};
use ssa::Managers;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// A kind the fake serves.
#[derive(Clone, Debug)]
pub struct Kind {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub namespaced: bool,
}

impl Kind {
    fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

fn builtin_kinds() -> Vec<Kind> {
    let k = |g: &str, v: &str, kind: &str, plural: &str, ns: bool| Kind {
        group: g.into(),
        version: v.into(),
        kind: kind.into(),
        plural: plural.into(),
        namespaced: ns,
    };
    vec![
        k("", "v1", "Namespace", "namespaces", false),
        k("", "v1", "ConfigMap", "configmaps", true),
        k("", "v1", "Secret", "secrets", true),
        k("", "v1", "Service", "services", true),
        k("", "v1", "ServiceAccount", "serviceaccounts", true),
        k("", "v1", "Pod", "pods", true),
        k("", "v1", "Event", "events", true),
        k(
            "",
            "v1",
            "PersistentVolumeClaim",
            "persistentvolumeclaims",
            true,
        ),
        k("", "v1", "PersistentVolume", "persistentvolumes", false),
        k("apps", "v1", "Deployment", "deployments", true),
        k("apps", "v1", "StatefulSet", "statefulsets", true),
        k("apps", "v1", "DaemonSet", "daemonsets", true),
        k("apps", "v1", "ReplicaSet", "replicasets", true),
        k("batch", "v1", "Job", "jobs", true),
        k("batch", "v1", "CronJob", "cronjobs", true),
        k("networking.k8s.io", "v1", "Ingress", "ingresses", true),
        k(
            "networking.k8s.io",
            "v1",
            "NetworkPolicy",
            "networkpolicies",
            true,
        ),
        k("rbac.authorization.k8s.io", "v1", "Role", "roles", true),
        k(
            "rbac.authorization.k8s.io",
            "v1",
            "RoleBinding",
            "rolebindings",
            true,
        ),
        k(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRole",
            "clusterroles",
            false,
        ),
        k(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRoleBinding",
            "clusterrolebindings",
            false,
        ),
        k("coordination.k8s.io", "v1", "Lease", "leases", true),
        k(
            "policy",
            "v1",
            "PodDisruptionBudget",
            "poddisruptionbudgets",
            true,
        ),
        k(
            "autoscaling",
            "v2",
            "HorizontalPodAutoscaler",
            "horizontalpodautoscalers",
            true,
        ),
        k(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            false,
        ),
    ]
}

/// A stored object and its field owners.
#[derive(Clone, Debug)]
struct Stored {
    body: Json,
    managers: Managers,
}

/// (group, plural, namespace or "", name)
type Key = (String, String, String, String);

/// One request to an object path: what it is for and how it came.
struct Call<'a> {
    kind: Kind,
    /// Empty for cluster-scoped kinds.
    ns: String,
    /// `deployments.apps`, as the API server names a resource in its messages.
    gk: String,
    query: &'a HashMap<String, String>,
    content_type: &'a str,
    body: &'a [u8],
    dry: bool,
}

impl Call<'_> {
    fn key(&self, name: &str) -> Key {
        (
            self.kind.group.clone(),
            self.kind.plural.clone(),
            self.ns.clone(),
            name.to_string(),
        )
    }

    fn manager(&self) -> String {
        self.query
            .get("fieldManager")
            .cloned()
            .unwrap_or_else(|| "unknown".into())
    }

    fn not_found(&self, name: &str) -> Response {
        status(404, "NotFound", format!("{} \"{name}\" not found", self.gk))
    }
}

/// The server's state; tests reach into it through [`FakeKube`].
#[derive(Default)]
pub struct Store {
    kinds: Vec<Kind>,
    objects: BTreeMap<Key, Stored>,
    rv: u64,
    uid: u64,
    /// Requests by `METHOD` (and `dryRun PATCH`), for benchmarks.
    pub requests: BTreeMap<String, u64>,
    /// Bearer token every request must carry, when set.
    pub token: Option<String>,
    /// (verb, plural) pairs answered with 403.
    pub forbidden: Vec<(String, String)>,
    /// Time every write (not dry-run) takes, to let tests kill a client mid-apply.
    pub write_delay: std::time::Duration,
}

/// A running fake API server.
#[derive(Clone)]
pub struct FakeKube {
    pub addr: SocketAddr,
    pub store: Arc<Mutex<Store>>,
}

impl FakeKube {
    /// Starts a server on 127.0.0.1 on its own thread; it lives as long as the process.
    pub fn start() -> FakeKube {
        let store = Arc::new(Mutex::new(Store {
            kinds: builtin_kinds(),
            ..Default::default()
        }));
        {
            let mut s = store.lock().unwrap();
            for ns in ["default", "kube-system"] {
                let body =
                    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
                s.write_new(
                    ("".into(), "namespaces".into(), "".into(), ns.into()),
                    body,
                    Managers::default(),
                );
            }
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let shared = store.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                tx.send(listener.local_addr().unwrap()).unwrap();
                let app = axum::Router::new().fallback(handle).with_state(shared);
                axum::serve(listener, app).await.expect("serve");
            });
        });
        let addr = rx.recv().expect("fake server address");
        FakeKube { addr, store }
    }

    /// A kubeconfig for this server: context `fake`, bearer token `token`.
    pub fn kubeconfig(&self, token: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: fake\nclusters:\n- name: fake\n  cluster:\n    server: http://{}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\nusers:\n- name: fake\n  user:\n    token: {token}\n",
            self.addr
        )
    }

    /// Requests served so far, by method.
    pub fn requests(&self) -> BTreeMap<String, u64> {
        self.store.lock().unwrap().requests.clone()
    }

    pub fn reset_requests(&self) {
        self.store.lock().unwrap().requests.clear();
    }

    /// The stored object, if any (`group` empty for core).
    pub fn get(&self, group: &str, plural: &str, ns: &str, name: &str) -> Option<Json> {
        let s = self.store.lock().unwrap();
        s.objects
            .get(&(group.into(), plural.into(), ns.into(), name.into()))
            .map(|o| s.render(o))
    }

    /// Names of stored objects of a resource in a namespace.
    pub fn names(&self, group: &str, plural: &str, ns: &str) -> Vec<String> {
        let s = self.store.lock().unwrap();
        s.objects
            .keys()
            .filter(|(g, p, n, _)| g == group && p == plural && n == ns)
            .map(|k| k.3.clone())
            .collect()
    }

    /// Writes an object as manager `manager` would with a server-side apply (force).
    pub fn apply_as(&self, manager: &str, body: Json) {
        let mut s = self.store.lock().unwrap();
        let api_version = body["apiVersion"].as_str().unwrap_or("v1").to_string();
        let kind = s
            .kinds
            .iter()
            .find(|k| {
                k.api_version() == api_version && Some(k.kind.as_str()) == body["kind"].as_str()
            })
            .cloned()
            .expect("known kind");
        let ns = if kind.namespaced {
            body.pointer("/metadata/namespace")
                .and_then(Json::as_str)
                .unwrap_or("default")
                .to_string()
        } else {
            String::new()
        };
        let name = body
            .pointer("/metadata/name")
            .and_then(Json::as_str)
            .unwrap()
            .to_string();
        let key = (kind.group.clone(), kind.plural.clone(), ns, name);
        let _ = s.server_side_apply(&kind, key, &body, manager, true, false);
    }
}

fn status(code: u16, reason: &str, message: String) -> Response {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code,
    });
    (StatusCode::from_u16(code).unwrap(), axum::Json(body)).into_response()
}

fn ok(body: Json) -> Response {
    (StatusCode::OK, axum::Json(body)).into_response()
}

fn now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // RFC 3339 in UTC without a date library: days since the epoch to a civil date.
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A parsed resource URL.
struct Target {
    kind: Kind,
    namespace: Option<String>,
    name: Option<String>,
    subresource: Option<String>,
}

async fn handle(
    State(store): State<Arc<Mutex<Store>>>,
    method: Method,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let dry = query.get("dryRun").is_some_and(|v| v == "All");
    if method != Method::GET && !dry {
        let delay = store.lock().unwrap().write_delay;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
    }
    let mut s = store.lock().unwrap();
    *s.requests
        .entry(format!("{}{}", method, if dry { " dryRun" } else { "" }))
        .or_default() += 1;
    if let Some(token) = &s.token {
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if auth != format!("Bearer {token}") {
            return status(401, "Unauthorized", "Unauthorized".into());
        }
    }
    let segs: Vec<&str> = uri.path().split('/').filter(|s| !s.is_empty()).collect();
    if let Some(answer) = discovery(&s, &segs) {
        return answer;
    }
    let Some(target) = s.target(&segs) else {
        return not_served();
    };
    if let Some(refused) = s.forbid(&method, &target) {
        return refused;
    }
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    s.serve(&method, target, &query, &content_type, &body, dry)
}

fn not_served() -> Response {
    status(
        404,
        "NotFound",
        "the server could not find the requested resource".into(),
    )
}

/// `/version`, `/api`, `/apis` and the resource lists of a group-version.
fn discovery(s: &Store, segs: &[&str]) -> Option<Response> {
    Some(match segs {
        ["version"] => ok(json!({"major": "1", "minor": "33", "gitVersion": "v1.33.0-fake"})),
        ["api"] => {
            ok(json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}))
        }
        ["apis"] => ok(s.group_list()),
        ["api", v] => ok(s.resource_list("", v)),
        ["apis", g, v] if !s.kinds.iter().any(|k| k.group == *g && k.version == *v) => not_served(),
        ["apis", g, v] => ok(s.resource_list(g, v)),
        _ => return None,
    })
}

impl Store {
    /// What an object path names (kind, namespace, name, subresource), if the fake serves it.
    fn target(&self, segs: &[&str]) -> Option<Target> {
        let (group, version, rest) = match segs {
            ["api", v, rest @ ..] => ("", *v, rest),
            ["apis", g, v, rest @ ..] => (*g, *v, rest),
            _ => return None,
        };
        let (namespace, plural, name, sub) = match rest {
            ["namespaces", ns, plural, name, sub] => (Some(*ns), *plural, Some(*name), Some(*sub)),
            ["namespaces", ns, plural, name] => (Some(*ns), *plural, Some(*name), None),
            ["namespaces", ns, plural] => (Some(*ns), *plural, None, None),
            ["namespaces", name] => (None, "namespaces", Some(*name), None),
            [plural, name] => (None, *plural, Some(*name), None),
            [plural] => (None, *plural, None, None),
            _ => return None,
        };
        let kind = self
            .kinds
            .iter()
            .find(|k| k.group == group && k.version == version && k.plural == plural)
            .cloned()?;
        Some(Target {
            kind,
            namespace: namespace.map(str::to_string),
            name: name.map(str::to_string),
            subresource: sub.map(str::to_string),
        })
    }

    /// A 403 as RBAC words it, for the verbs and resources a test forbade.
    fn forbid(&self, method: &Method, t: &Target) -> Option<Response> {
        let verb = match (method, t.name.is_some()) {
            (&Method::GET, false) => "list",
            (&Method::GET, true) => "get",
            (&Method::POST, _) => "create",
            (&Method::PUT, _) => "update",
            (&Method::PATCH, _) => "patch",
            (&Method::DELETE, _) => "delete",
            _ => "unknown",
        };
        let plural = &t.kind.plural;
        let group = &t.kind.group;
        self.forbidden
            .iter()
            .any(|(v, p)| v == verb && p == plural)
            .then(|| {
                status(
                    403,
                    "Forbidden",
                    format!(
                        "{plural}{} is forbidden: User \"fake\" cannot {verb} resource \"{plural}\" in API group \"{group}\"{}",
                        t.name.as_ref().map(|n| format!(" \"{n}\"")).unwrap_or_default(),
                        t.namespace.as_ref().map(|n| format!(" in the namespace \"{n}\"")).unwrap_or_default()
                    ),
                )
            })
    }
}

fn parse_body(body: &[u8]) -> Result<Json, String> {
    serde_json::from_slice(body).or_else(|_| {
        let text = std::str::from_utf8(body).map_err(|e| e.to_string())?;
        serde_saphyr::from_str(text).map_err(|e| e.to_string())
    })
}

/// RFC 7386 JSON merge patch.
fn merge_patch(target: &mut Json, patch: &Json) {
    match patch {
        Json::Object(p) => {
            if !target.is_object() {
                *target = Json::Object(Map::new());
            }
            let t = target.as_object_mut().unwrap();
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Json::Null), v);
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// Label selector matching: `a=b`, `a==b`, `a!=b`, `a`, `!a`, `a in (x,y)`, `a notin (x,y)`.
pub fn selector_matches(selector: &str, labels: &Map<String, Json>) -> bool {
    let mut terms = Vec::new();
    let mut depth = 0;
    let mut cur = String::new();
    for c in selector.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                terms.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    terms.push(cur);
    terms
        .iter()
        .map(|t| t.trim())
        .filter(|t| !t.is_empty())
        .all(|t| {
            let get = |k: &str| labels.get(k.trim()).and_then(Json::as_str);
            if let Some((k, rest)) = t.split_once(" notin ") {
                let set = set_of(rest);
                return get(k).is_none_or(|v| !set.contains(&v));
            }
            if let Some((k, rest)) = t.split_once(" in ") {
                let set = set_of(rest);
                return get(k).is_some_and(|v| set.contains(&v));
            }
            if let Some((k, v)) = t.split_once("!=") {
                return get(k) != Some(v.trim());
            }
            if let Some((k, v)) = t.split_once("==").or_else(|| t.split_once('=')) {
                return get(k) == Some(v.trim());
            }
            if let Some(k) = t.strip_prefix('!') {
                return get(k).is_none();
            }
            get(t).is_some()
        })
}

fn set_of(s: &str) -> Vec<&str> {
    s.trim()
        .trim_start_matches('(')
        .trim_end_matches(')')
        .split(',')
        .map(str::trim)
        .collect()
}

fn field_matches(selector: &str, obj: &Json) -> bool {
    selector.split(',').filter(|t| !t.is_empty()).all(|t| {
        let (path, want, negate) = match t.split_once("!=") {
            Some((p, v)) => (p, v, true),
            None => match t.split_once("==").or_else(|| t.split_once('=')) {
                Some((p, v)) => (p, v, false),
                None => return true,
            },
        };
        let pointer = format!("/{}", path.replace('.', "/"));
        let value = obj.pointer(&pointer).and_then(Json::as_str).unwrap_or("");
        (value == want) != negate
    })
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

impl Store {
    fn group_list(&self) -> Json {
        let mut groups: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for k in self.kinds.iter().filter(|k| !k.group.is_empty()) {
            let v = groups.entry(&k.group).or_default();
            if !v.contains(&k.version.as_str()) {
                v.push(&k.version);
            }
        }
        let groups: Vec<Json> = groups
            .into_iter()
            .map(|(g, vs)| {
                let versions: Vec<Json> = vs
                    .iter()
                    .map(|v| json!({"groupVersion": format!("{g}/{v}"), "version": v}))
                    .collect();
                json!({"name": g, "versions": versions, "preferredVersion": versions[0]})
            })
            .collect();
        json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
    }

    fn resource_list(&self, group: &str, version: &str) -> Json {
        let resources: Vec<Json> = self
            .kinds
            .iter()
            .filter(|k| k.group == group && k.version == version)
            .map(|k| {
                json!({
                    "name": k.plural, "singularName": k.kind.to_lowercase(), "namespaced": k.namespaced,
                    "kind": k.kind,
                    "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
                })
            })
            .collect();
        let gv = if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        };
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources})
    }

    fn render(&self, o: &Stored) -> Json {
        let mut body = o.body.clone();
        let api_version = body["apiVersion"].as_str().unwrap_or("v1").to_string();
        if !o.managers.entries.is_empty() {
            body["metadata"]["managedFields"] =
                ssa::managed_fields(&o.managers, &api_version, &now());
        }
        body
    }

    fn namespace_exists(&self, ns: &str) -> bool {
        self.objects
            .contains_key(&("".into(), "namespaces".into(), "".into(), ns.into()))
    }

    fn serve(
        &mut self,
        method: &Method,
        t: Target,
        query: &HashMap<String, String>,
        content_type: &str,
        body: &[u8],
        dry: bool,
    ) -> Response {
        let kind = t.kind.clone();
        let ns = if kind.namespaced {
            t.namespace.clone().unwrap_or_default()
        } else {
            String::new()
        };
        let gk = if kind.group.is_empty() {
            kind.plural.clone()
        } else {
            format!("{}.{}", kind.plural, kind.group)
        };
        let call = Call {
            kind,
            ns,
            gk,
            query,
            content_type,
            body,
            dry,
        };
        let Some(name) = t.name.clone() else {
            return match *method {
                Method::GET => self.list(&call.kind, t.namespace.as_deref(), query),
                Method::POST => self.create(&call),
                _ => status(405, "MethodNotAllowed", "method not allowed".into()),
            };
        };
        let key = call.key(&name);
        if t.subresource.as_deref() == Some("log")
            && call.kind.kind == "Pod"
            && *method == Method::GET
        {
            return self.pod_log(&key, &name);
        }
        if t.subresource.is_some() {
            return status(
                404,
                "NotFound",
                "subresources are not served by the fake".into(),
            );
        }
        match *method {
            Method::GET => match self.objects.get(&key) {
                Some(o) => ok(self.render(o)),
                None => call.not_found(&name),
            },
            Method::DELETE => self.delete_one(&call, key, &name),
            Method::PUT => self.put(&call, key, &name),
            Method::PATCH => self.patch(&call, key, &name),
            _ => status(405, "MethodNotAllowed", "method not allowed".into()),
        }
    }

    fn create(&mut self, call: &Call) -> Response {
        let (kind, ns, gk) = (&call.kind, &call.ns, &call.gk);
        let obj = match parse_body(call.body) {
            Ok(o) => o,
            Err(e) => return status(400, "BadRequest", e),
        };
        let name = obj
            .pointer("/metadata/name")
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_string();
        if kind.namespaced && !self.namespace_exists(ns) {
            return status(404, "NotFound", format!("namespaces \"{ns}\" not found"));
        }
        let key = call.key(&name);
        if self.objects.contains_key(&key) {
            return status(
                409,
                "AlreadyExists",
                format!("{gk} \"{name}\" already exists"),
            );
        }
        if let Err(e) = self.validate(kind, &name, &obj) {
            return e;
        }
        let mut managers = Managers::default();
        ssa::update(&mut managers, &call.manager(), &json!({}), &obj);
        let mut obj = obj;
        obj["metadata"]["namespace"] = if kind.namespaced {
            json!(ns)
        } else {
            Json::Null
        };
        if !kind.namespaced {
            obj["metadata"]
                .as_object_mut()
                .map(|m| m.remove("namespace"));
        }
        if call.dry {
            return (StatusCode::CREATED, axum::Json(obj)).into_response();
        }
        let out = self.write_new(key, obj, managers);
        (StatusCode::CREATED, axum::Json(out)).into_response()
    }

    fn pod_log(&self, key: &Key, name: &str) -> Response {
        if !self.objects.contains_key(key) {
            return status(404, "NotFound", format!("pods \"{name}\" not found"));
        }
        let text: String = (1..=3)
            .map(|i| format!("log line {i} from {name}\n"))
            .collect();
        (StatusCode::OK, [("content-type", "text/plain")], text).into_response()
    }

    fn delete_one(&mut self, call: &Call, key: Key, name: &str) -> Response {
        let Some(o) = self.objects.get(&key).cloned() else {
            return call.not_found(name);
        };
        if !call.dry {
            self.objects.remove(&key);
            let owner = format!("{}.{}", call.kind.kind.to_lowercase(), name);
            self.objects.retain(|k, o| {
                !(k.1 == "pods"
                    && o.body
                        .pointer("/metadata/annotations/fake.berth.dev~1owner")
                        .and_then(Json::as_str)
                        == Some(owner.as_str()))
            });
            if call.kind.kind == "Namespace" {
                self.objects.retain(|k, _| k.2 != name);
            }
            if call.kind.kind == "CustomResourceDefinition" {
                self.unserve(&o.body);
            }
            self.rv += 1;
        }
        ok(self.render(&o))
    }

    fn put(&mut self, call: &Call, key: Key, name: &str) -> Response {
        let obj = match parse_body(call.body) {
            Ok(o) => o,
            Err(e) => return status(400, "BadRequest", e),
        };
        let Some(existing) = self.objects.get(&key).cloned() else {
            return call.not_found(name);
        };
        let rv = |o: &Json| {
            o.pointer("/metadata/resourceVersion")
                .and_then(Json::as_str)
                .map(str::to_string)
        };
        let want_rv = rv(&obj);
        if want_rv.is_some() && want_rv != rv(&existing.body) {
            return status(
                409,
                "Conflict",
                format!("Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again", call.gk),
            );
        }
        if let Err(e) = self.validate(&call.kind, name, &obj) {
            return e;
        }
        let mut managers = existing.managers.clone();
        ssa::update(&mut managers, &call.manager(), &existing.body, &obj);
        let mut merged = obj;
        merged["metadata"]["managedFields"] = Json::Null;
        if call.dry {
            return ok(merged);
        }
        ok(self.write(&call.kind, key, merged, managers, Some(&existing.body)))
    }

    fn patch(&mut self, call: &Call, key: Key, name: &str) -> Response {
        let patch = match parse_body(call.body) {
            Ok(o) => o,
            Err(e) => return status(400, "BadRequest", e),
        };
        if call.kind.namespaced && !self.namespace_exists(&call.ns) {
            let ns = &call.ns;
            return status(404, "NotFound", format!("namespaces \"{ns}\" not found"));
        }
        if call.content_type.starts_with("application/apply-patch") {
            self.apply_patch(call, key, name, &patch)
        } else if call.content_type.contains("merge-patch") {
            let Some(existing) = self.objects.get(&key).cloned() else {
                return call.not_found(name);
            };
            let mut merged = existing.body.clone();
            merge_patch(&mut merged, &patch);
            let mut managers = existing.managers.clone();
            ssa::update(&mut managers, &call.manager(), &existing.body, &merged);
            if call.dry {
                return ok(merged);
            }
            ok(self.write(&call.kind, key, merged, managers, Some(&existing.body)))
        } else {
            status(
                415,
                "UnsupportedMediaType",
                format!("the fake does not support {}", call.content_type),
            )
        }
    }

    /// A server-side apply: checked as the API server checks it, then merged by field owner.
    fn apply_patch(&mut self, call: &Call, key: Key, name: &str, patch: &Json) -> Response {
        let kind = &call.kind;
        let Some(manager) = call.query.get("fieldManager") else {
            return status(
                400,
                "BadRequest",
                "PATCH, fieldManager is required for apply requests".into(),
            );
        };
        let force = call.query.get("force").is_some_and(|v| v == "true");
        let named = patch.pointer("/metadata/name").and_then(Json::as_str);
        if named != Some(name) {
            return status(
                400,
                "BadRequest",
                format!(
                    "the name of the object ({}) does not match the name on the URL ({name})",
                    named.unwrap_or("")
                ),
            );
        }
        if patch.get("kind").and_then(Json::as_str) != Some(kind.kind.as_str()) {
            return status(
                400,
                "BadRequest",
                format!("the kind of the object does not match {}", kind.kind),
            );
        }
        // The server validates the object the apply results in, not the patch.
        let mut merged = self
            .objects
            .get(&key)
            .map(|o| o.body.clone())
            .unwrap_or_else(|| json!({}));
        ssa::merge(&mut merged, patch, "");
        if let Err(e) = self.validate(kind, name, &merged) {
            return e;
        }
        if let Some(live) = self.objects.get(&key) {
            let template = |o: &Json| o.pointer("/spec/template").cloned();
            if kind.kind == "Job" && template(&merged) != template(&live.body) {
                return status(422, "Invalid", format!("Job.batch \"{name}\" is invalid: spec.template: Invalid value: core.PodTemplateSpec{{...}}: field is immutable"));
            }
        }
        let manager = manager.clone();
        self.server_side_apply(kind, key, patch, &manager, force, call.dry)
    }

    fn list(&self, kind: &Kind, ns: Option<&str>, query: &HashMap<String, String>) -> Response {
        let labels = query.get("labelSelector").map(String::as_str).unwrap_or("");
        let fields = query.get("fieldSelector").map(String::as_str).unwrap_or("");
        let items: Vec<Json> = self
            .objects
            .iter()
            .filter(|(k, _)| k.0 == kind.group && k.1 == kind.plural)
            .filter(|(k, _)| ns.is_none_or(|ns| k.2 == ns))
            .filter(|(_, o)| {
                let empty = Map::new();
                let l = o
                    .body
                    .pointer("/metadata/labels")
                    .and_then(Json::as_object)
                    .unwrap_or(&empty);
                selector_matches(labels, l) && field_matches(fields, &o.body)
            })
            .map(|(_, o)| self.render(o))
            .collect();
        ok(json!({
            "kind": format!("{}List", kind.kind), "apiVersion": kind.api_version(),
            "metadata": {"resourceVersion": self.rv.to_string()}, "items": items,
        }))
    }

    /// A few of the API server's validations: names, and required fields of workloads.
    #[allow(clippy::result_large_err)]
    fn validate(&self, kind: &Kind, name: &str, obj: &Json) -> Result<(), Response> {
        let gk = if kind.group.is_empty() {
            kind.kind.clone()
        } else {
            format!("{}.{}", kind.kind, kind.group)
        };
        let invalid = |detail: String| {
            Err(status(
                422,
                "Invalid",
                format!("{gk} \"{name}\" is invalid: {detail}"),
            ))
        };
        if !valid_name(name) {
            return invalid(format!("metadata.name: Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"));
        }
        if matches!(
            kind.kind.as_str(),
            "Deployment" | "StatefulSet" | "DaemonSet"
        ) {
            if obj.pointer("/spec/selector").is_none() {
                return invalid("spec.selector: Required value".into());
            }
            let containers = obj
                .pointer("/spec/template/spec/containers")
                .and_then(Json::as_array);
            match containers {
                None => return invalid("spec.template.spec.containers: Required value".into()),
                Some(cs) => {
                    for (i, c) in cs.iter().enumerate() {
                        if c.get("image")
                            .and_then(Json::as_str)
                            .is_none_or(str::is_empty)
                        {
                            return invalid(format!(
                                "spec.template.spec.containers[{i}].image: Required value"
                            ));
                        }
                    }
                }
            }
        }
        if kind.kind == "ConfigMap" {
            if let Some(data) = obj.get("data").and_then(Json::as_object) {
                for (k, v) in data {
                    if !v.is_string() {
                        return Err(status(400, "BadRequest", format!("ConfigMap in version \"v1\" cannot be handled as a ConfigMap: json: cannot unmarshal {} into Go struct field ConfigMap.data of type string (key {k})", if v.is_number() { "number" } else { "value" })));
                    }
                }
            }
        }
        Ok(())
    }

    fn server_side_apply(
        &mut self,
        kind: &Kind,
        key: Key,
        applied: &Json,
        manager: &str,
        force: bool,
        dry: bool,
    ) -> Response {
        let existing = self.objects.get(&key).cloned();
        let (mut live, mut managers) = match &existing {
            Some(o) => (o.body.clone(), o.managers.clone()),
            None => (json!({}), Managers::default()),
        };
        if let Err(conflicts) = ssa::apply(&mut live, &mut managers, manager, applied, force) {
            let n = conflicts.len();
            let list: Vec<String> = conflicts
                .iter()
                .map(|c| format!("conflict with \"{}\": {}", c.manager, c.field))
                .collect();
            let message = if n == 1 {
                format!("Apply failed with 1 conflict: {}", list[0])
            } else {
                format!("Apply failed with {n} conflicts: {}", list.join("\n"))
            };
            return status(409, "Conflict", message);
        }
        if kind.namespaced {
            live["metadata"]["namespace"] = json!(key.2);
        } else if let Some(m) = live["metadata"].as_object_mut() {
            m.remove("namespace");
        }
        if dry {
            let mut out = live;
            self.finish(kind, &mut out, existing.as_ref().map(|o| &o.body), true);
            let rendered = Stored {
                body: out,
                managers,
            };
            return ok(self.render(&rendered));
        }
        let out = match existing {
            Some(o) => self.write(kind, key, live, managers, Some(&o.body)),
            None => {
                let mut live = live;
                self.finish(kind, &mut live, None, false);
                self.write_new(key, live, managers)
            }
        };
        (StatusCode::OK, axum::Json(out)).into_response()
    }

    /// Defaults, bookkeeping metadata and the instantaneous controllers.
    fn finish(&mut self, kind: &Kind, obj: &mut Json, before: Option<&Json>, dry: bool) {
        default_fields(kind, obj, before);
        match before {
            Some(b) => {
                for k in ["uid", "creationTimestamp", "resourceVersion", "generation"] {
                    if let Some(v) = b["metadata"].get(k) {
                        obj["metadata"][k] = v.clone();
                    }
                }
                let spec_changed =
                    b.get("spec") != obj.get("spec") || b.get("data") != obj.get("data");
                let generation = obj["metadata"]["generation"].as_i64().unwrap_or(1);
                if spec_changed {
                    obj["metadata"]["generation"] = json!(generation + 1);
                }
                if !dry {
                    self.rv += 1;
                    obj["metadata"]["resourceVersion"] = json!(self.rv.to_string());
                }
                if let Some(st) = b.get("status") {
                    obj["status"] = st.clone();
                }
            }
            None => {
                self.uid += 1;
                let meta = obj["metadata"].as_object_mut().unwrap();
                meta.insert(
                    "uid".into(),
                    json!(format!("00000000-0000-4000-8000-{:012}", self.uid)),
                );
                meta.insert("creationTimestamp".into(), json!(now()));
                meta.insert("generation".into(), json!(1));
                if !dry {
                    self.rv += 1;
                    meta.insert("resourceVersion".into(), json!(self.rv.to_string()));
                }
            }
        }
        if let Some(m) = obj["metadata"].as_object_mut() {
            m.remove("managedFields");
        }
        if !dry {
            self.control(kind, obj);
        }
    }

    fn write_new(&mut self, key: Key, mut body: Json, managers: Managers) -> Json {
        let kind = self
            .kinds
            .iter()
            .find(|k| k.group == key.0 && k.plural == key.1)
            .cloned();
        if body["metadata"].get("uid").is_none() {
            if let Some(kind) = &kind {
                self.finish(kind, &mut body, None, false);
            }
        }
        let stored = Stored { body, managers };
        let out = self.render(&stored);
        self.objects.insert(key, stored);
        out
    }

    fn write(
        &mut self,
        kind: &Kind,
        key: Key,
        mut body: Json,
        managers: Managers,
        before: Option<&Json>,
    ) -> Json {
        self.finish(kind, &mut body, before, false);
        let stored = Stored { body, managers };
        let out = self.render(&stored);
        self.objects.insert(key, stored);
        out
    }

    /// The controllers, instantly: workload status, Job completion, CRD establishment.
    /// The pods a workload's controller would run: one per replica, labelled from the template.
    fn pods_for(&mut self, kind: &Kind, obj: &Json, replicas: i64, never_ready: bool) {
        let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
        let ns = obj["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_string();
        let owner = format!("{}.{}", kind.kind.to_lowercase(), name);
        self.objects.retain(|k, o| {
            !(k.1 == "pods"
                && k.2 == ns
                && o.body
                    .pointer("/metadata/annotations/fake.berth.dev~1owner")
                    .and_then(Json::as_str)
                    == Some(owner.as_str()))
        });
        let labels = obj
            .pointer("/spec/template/metadata/labels")
            .cloned()
            .unwrap_or_else(|| json!({}));
        let containers = obj
            .pointer("/spec/template/spec/containers")
            .cloned()
            .unwrap_or_else(|| json!([]));
        let generation = obj["metadata"]["generation"].as_i64().unwrap_or(1);
        for i in 0..replicas {
            let pod = format!("{name}-{generation:x}f7c-{i}");
            let statuses: Vec<Json> = containers
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    let state = if never_ready {
                        json!({"waiting": {"reason": "ErrImagePull", "message": "image not found"}})
                    } else {
                        json!({"running": {"startedAt": now()}})
                    };
                    json!({"name": c["name"], "image": c["image"], "ready": !never_ready, "restartCount": 0, "state": state})
                })
                .collect();
            let body = json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": pod, "namespace": ns, "labels": labels,
                             "annotations": {"fake.berth.dev/owner": owner}},
                "spec": {"containers": containers},
                "status": {"phase": if never_ready {"Pending"} else {"Running"}, "startTime": now(),
                           "conditions": [{"type": "Ready", "status": if never_ready {"False"} else {"True"}}],
                           "containerStatuses": statuses},
            });
            self.uid += 1;
            let mut body = body;
            body["metadata"]["uid"] = json!(format!("00000000-0000-4000-8000-{:012}", self.uid));
            self.objects.insert(
                ("".into(), "pods".into(), ns.clone(), pod),
                Stored {
                    body,
                    managers: Managers::default(),
                },
            );
        }
    }

    fn control(&mut self, kind: &Kind, obj: &mut Json) {
        let generation = obj["metadata"]["generation"].as_i64().unwrap_or(1);
        let never_ready = obj
            .pointer("/spec/template/spec/containers")
            .and_then(Json::as_array)
            .is_some_and(|cs| {
                cs.iter().any(|c| {
                    c["image"]
                        .as_str()
                        .is_some_and(|i| i.ends_with(":never-ready"))
                })
            });
        let replicas = obj
            .pointer("/spec/replicas")
            .and_then(Json::as_i64)
            .unwrap_or(1);
        let ready = if never_ready { 0 } else { replicas };
        if matches!(kind.kind.as_str(), "Deployment" | "StatefulSet") {
            self.pods_for(kind, obj, replicas, never_ready);
        }
        match kind.kind.as_str() {
            "Deployment" => {
                obj["status"] = json!({
                    "observedGeneration": generation, "replicas": replicas, "updatedReplicas": replicas,
                    "readyReplicas": ready, "availableReplicas": ready,
                    "conditions": [{"type": "Available", "status": if never_ready {"False"} else {"True"},
                        "reason": if never_ready {"MinimumReplicasUnavailable"} else {"MinimumReplicasAvailable"},
                        "message": if never_ready {"Deployment does not have minimum availability."} else {"Deployment has minimum availability."}}],
                });
            }
            "StatefulSet" => {
                obj["status"] = json!({
                    "observedGeneration": generation, "replicas": replicas, "updatedReplicas": replicas,
                    "readyReplicas": ready, "availableReplicas": ready, "currentReplicas": replicas,
                    "currentRevision": format!("r{generation}"), "updateRevision": format!("r{generation}"),
                });
            }
            "DaemonSet" => {
                obj["status"] = json!({
                    "observedGeneration": generation, "desiredNumberScheduled": 1, "currentNumberScheduled": 1,
                    "updatedNumberScheduled": 1, "numberReady": if never_ready {0} else {1},
                    "numberAvailable": if never_ready {0} else {1},
                });
            }
            "Job" => {
                obj["status"] = json!({"succeeded": 1, "conditions": [{"type": "Complete", "status": "True", "reason": "Completed", "message": ""}]});
            }
            "CustomResourceDefinition" => {
                obj["status"] = json!({"conditions": [{"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"}]});
                self.serve_crd(obj);
            }
            _ => {}
        }
        if never_ready {
            let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
            let ns = obj["metadata"]["namespace"]
                .as_str()
                .unwrap_or("default")
                .to_string();
            let pod = format!("{name}-7d9f-fake");
            let event = json!({
                "apiVersion": "v1", "kind": "Event",
                "metadata": {"name": format!("{pod}.pull"), "namespace": ns},
                "involvedObject": {"kind": "Pod", "name": pod, "namespace": ns},
                "reason": "Failed", "type": "Warning", "lastTimestamp": now(),
                "message": "Failed to pull image: not found",
            });
            let key = ("".into(), "events".into(), ns, format!("{pod}.pull"));
            self.objects.insert(
                key,
                Stored {
                    body: event,
                    managers: Managers::default(),
                },
            );
        }
    }

    fn serve_crd(&mut self, crd: &Json) {
        let group = crd
            .pointer("/spec/group")
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_string();
        let kind = crd
            .pointer("/spec/names/kind")
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_string();
        let plural = crd
            .pointer("/spec/names/plural")
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_string();
        let namespaced = crd.pointer("/spec/scope").and_then(Json::as_str) != Some("Cluster");
        for v in crd
            .pointer("/spec/versions")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
        {
            let version = v["name"].as_str().unwrap_or("").to_string();
            if !self
                .kinds
                .iter()
                .any(|k| k.group == group && k.version == version && k.kind == kind)
            {
                self.kinds.push(Kind {
                    group: group.clone(),
                    version,
                    kind: kind.clone(),
                    plural: plural.clone(),
                    namespaced,
                });
            }
        }
    }

    fn unserve(&mut self, crd: &Json) {
        let group = crd
            .pointer("/spec/group")
            .and_then(Json::as_str)
            .unwrap_or("");
        let kind = crd
            .pointer("/spec/names/kind")
            .and_then(Json::as_str)
            .unwrap_or("");
        self.kinds.retain(|k| !(k.group == group && k.kind == kind));
    }
}

/// Defaults the API server would add, so that plans have to ignore fields the user did not write.
fn default_fields(kind: &Kind, obj: &mut Json, before: Option<&Json>) {
    fn set_default(obj: &mut Json, key: &str, value: Json) {
        if let Some(map) = obj.as_object_mut() {
            map.entry(key.to_string()).or_insert(value);
        }
    }
    match kind.kind.as_str() {
        "Deployment" => {
            let spec = &mut obj["spec"];
            set_default(spec, "replicas", json!(1));
            set_default(spec, "revisionHistoryLimit", json!(10));
            set_default(spec, "progressDeadlineSeconds", json!(600));
            set_default(
                spec,
                "strategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}),
            );
            default_pod(&mut obj["spec"]["template"]["spec"]);
        }
        "StatefulSet" | "DaemonSet" | "Job" => default_pod(&mut obj["spec"]["template"]["spec"]),
        "Service" => {
            let before_ip = before.and_then(|b| b.pointer("/spec/clusterIP")).cloned();
            let spec = &mut obj["spec"];
            set_default(spec, "type", json!("ClusterIP"));
            set_default(spec, "sessionAffinity", json!("None"));
            let ip = before_ip.unwrap_or_else(|| {
                let n = obj["metadata"]["name"].as_str().unwrap_or("").len();
                json!(format!("10.96.{}.{}", n % 250, (n * 7) % 250 + 1))
            });
            let spec = &mut obj["spec"];
            set_default(spec, "clusterIP", ip.clone());
            set_default(spec, "clusterIPs", json!([ip]));
            if let Some(ports) = spec.get_mut("ports").and_then(Json::as_array_mut) {
                for p in ports {
                    set_default(p, "protocol", json!("TCP"));
                    let port = p.get("port").cloned().unwrap_or(Json::Null);
                    set_default(p, "targetPort", port);
                }
            }
        }
        "Secret" => {
            if let Some(sd) = obj.as_object_mut().and_then(|m| m.remove("stringData")) {
                use base64::Engine;
                let data = obj
                    .as_object_mut()
                    .unwrap()
                    .entry("data")
                    .or_insert_with(|| json!({}));
                for (k, v) in sd.as_object().into_iter().flatten() {
                    let s = v.as_str().unwrap_or("");
                    data[k] = json!(base64::engine::general_purpose::STANDARD.encode(s));
                }
            }
            set_default(obj, "type", json!("Opaque"));
        }
        _ => {}
    }
}

fn default_pod(spec: &mut Json) {
    if !spec.is_object() {
        return;
    }
    for (k, v) in [
        ("restartPolicy", json!("Always")),
        ("dnsPolicy", json!("ClusterFirst")),
        ("schedulerName", json!("default-scheduler")),
        ("terminationGracePeriodSeconds", json!(30)),
        ("securityContext", json!({})),
    ] {
        spec.as_object_mut().unwrap().entry(k).or_insert(v);
    }
    if let Some(cs) = spec.get_mut("containers").and_then(Json::as_array_mut) {
        for c in cs {
            let image = c["image"].as_str().unwrap_or("").to_string();
            let policy = if image.ends_with(":latest")
                || !image.rsplit('/').next().unwrap_or("").contains(':')
            {
                "Always"
            } else {
                "IfNotPresent"
            };
            if let Some(m) = c.as_object_mut() {
                m.entry("imagePullPolicy").or_insert(json!(policy));
                m.entry("terminationMessagePath")
                    .or_insert(json!("/dev/termination-log"));
                m.entry("terminationMessagePolicy").or_insert(json!("File"));
            }
        }
    }
}
