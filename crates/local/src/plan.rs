//! What to run: the rendered objects turned into workloads, services and resolvable config.

use berth_core::view::Mode;
use berth_core::{Container, EnvSource, PortRef, Service, SpecError, Workload};
use berth_manifest::Rendered;
use serde_json::Value as Json;
use std::collections::BTreeMap;

/// A workload and whether it can run here.
#[derive(Debug, Clone)]
pub struct PlannedWorkload {
    pub workload: Workload,
    /// `Some(reason)` when it is listed but not run.
    pub not_runnable: Option<String>,
}

/// One Ingress path rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngressRule {
    /// `None` matches every host.
    pub host: Option<String>,
    pub path: String,
    pub exact: bool,
    pub service: String,
    pub port: PortRef,
}

impl IngressRule {
    /// Whether a request for `host` and `path` matches, as Kubernetes matches paths
    /// (Prefix compares whole path segments).
    pub fn matches(&self, host: &str, path: &str) -> bool {
        if let Some(h) = &self.host {
            let host = host.rsplit_once(':').map_or(host, |(h, p)| {
                if p.bytes().all(|b| b.is_ascii_digit()) {
                    h
                } else {
                    host
                }
            });
            let ok = match h.strip_prefix("*.") {
                Some(suffix) => host
                    .strip_suffix(suffix)
                    .is_some_and(|pre| pre.ends_with('.') && !pre[..pre.len() - 1].contains('.')),
                None => host.eq_ignore_ascii_case(h),
            };
            if !ok {
                return false;
            }
        }
        let path = path.split(['?', '#']).next().unwrap_or("/");
        if self.exact {
            return path == self.path;
        }
        let prefix = self.path.trim_end_matches('/');
        prefix.is_empty() || path == prefix || path.starts_with(&format!("{prefix}/"))
    }
}

/// Everything `up` runs, in apply order.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub workloads: Vec<PlannedWorkload>,
    pub services: Vec<Service>,
    /// Most specific first: exact paths, then longer prefixes.
    pub ingress: Vec<IngressRule>,
    /// ConfigMap name -> key -> value.
    pub config_maps: BTreeMap<String, BTreeMap<String, String>>,
    /// Secret name -> key -> value (decoded).
    pub secrets: BTreeMap<String, BTreeMap<String, String>>,
    /// How each runnable container runs, by (workload, container): `image`, `process` or
    /// `source`. A container that is not here does not run.
    pub modes: BTreeMap<(String, String), Mode>,
    /// Whether a container engine is there to run images.
    pub engine: bool,
    /// The namespace the objects render into (Service DNS names inside containers).
    pub namespace: String,
    /// `hostPath` volumes may be mounted into containers (`berth up --allow-host-path`).
    pub allow_host_path: bool,
    /// The Helm chart the folder is, for the status and the dashboard.
    pub chart: Option<berth_core::view::ChartView>,
    /// The rendered objects the plan was made from (Secrets too: never shown unmasked), to
    /// preview what the next plan changes.
    pub objects: Vec<Json>,
}

fn data_map(o: &Json, field: &str, base64: bool) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for (k, v) in o.get(field).and_then(Json::as_object).into_iter().flatten() {
        let s = match v {
            Json::String(s) => s.clone(),
            other => other.to_string(),
        };
        let s = if base64 {
            decode_base64(&s).unwrap_or(s)
        } else {
            s
        };
        m.insert(k.clone(), s);
    }
    m
}

pub(crate) fn decode_base64(s: &str) -> Option<String> {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=') {
        let v = T.iter().position(|t| *t == c)? as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    String::from_utf8(out).ok()
}

impl Plan {
    /// Whether a container runs from source.
    pub fn is_source(&self, workload: &str, container: &str) -> bool {
        self.mode(workload, container) == Some(Mode::Source)
    }

    /// How a container runs; `None` when it does not run here.
    pub fn mode(&self, workload: &str, container: &str) -> Option<Mode> {
        self.modes
            .get(&(workload.to_string(), container.to_string()))
            .copied()
    }

    /// Decides how every container runs, with `engine` telling whether images can run:
    /// the mode asked for in `modes` (workload -> container -> mode) where the container can
    /// run that way, else `process` where it has a run spec, else `image` where an engine is
    /// there. Workloads with a container that can run no way are marked not runnable.
    pub fn set_modes(&mut self, modes: &berth_core::view::Modes, engine: bool) {
        self.engine = engine;
        self.modes.clear();
        for pw in &mut self.workloads {
            let w = &pw.workload;
            for c in &w.containers {
                let asked = modes.get(&w.name).and_then(|m| m.get(&c.name)).copied();
                if let Some(mode) = container_mode(c, asked, engine) {
                    self.modes.insert((w.name.clone(), c.name.clone()), mode);
                }
            }
            // A stand-in for an invalid spec has no containers and keeps its reason.
            if !w.containers.is_empty() {
                pw.not_runnable = w.not_runnable_reason(engine);
            }
        }
    }

    pub fn from_rendered(r: &Rendered) -> Result<Plan, SpecError> {
        let mut plan = Plan {
            namespace: r.namespace.clone(),
            ..Plan::default()
        };
        for o in &r.objects {
            let kind = o.oref.group_kind.kind.as_str();
            match kind {
                "ConfigMap" => {
                    plan.config_maps
                        .insert(o.oref.name.clone(), data_map(&o.body, "data", false));
                }
                "Secret" => {
                    let mut m = data_map(&o.body, "data", true);
                    m.extend(data_map(&o.body, "stringData", false));
                    plan.secrets.insert(o.oref.name.clone(), m);
                }
                "Service" => plan.services.push(Service::from_object(&o.body)?),
                "Ingress" => plan.ingress.extend(ingress_rules(&o.body)),
                _ => {
                    // An invalid spec (a bad probe, a bad run annotation) is shown on that
                    // workload's row; the rest still runs.
                    match Workload::from_object(&o.body) {
                        Some(Ok(workload)) => {
                            let not_runnable = workload.not_runnable_reason(false);
                            plan.workloads.push(PlannedWorkload {
                                workload,
                                not_runnable,
                            });
                        }
                        Some(Err(e)) => plan.workloads.push(PlannedWorkload {
                            workload: Workload::unrunnable(
                                &o.oref.name,
                                kind.parse().unwrap_or(berth_core::WorkloadKind::Deployment),
                            ),
                            not_runnable: Some(e.message),
                        }),
                        None => {}
                    }
                }
            }
        }
        plan.ingress
            .sort_by_key(|r| (r.host.is_none(), !r.exact, std::cmp::Reverse(r.path.len())));
        Ok(plan)
    }

    /// The environment of `berth shell` into container `c` of `w`: its resolved `env`, its
    /// run spec's, and the Services of the `berth up` running for `dir`, as its processes see
    /// them.
    pub fn shell_env(
        &self,
        dir: &std::path::Path,
        w: &Workload,
        c: &Container,
    ) -> Result<Vec<(String, String)>, crate::Error> {
        let mut env = self.resolve_env(w, c, 0)?;
        if let Some(run) = &c.run {
            env.extend(run.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        let status = crate::running_status(dir);
        for svc in status.iter().flat_map(|s| &s.services) {
            let prefix = svc.name.to_uppercase().replace(['-', '.'], "_");
            if let Some(port) = svc.addresses.first().and_then(|a| a.rsplit(':').next()) {
                env.push((format!("{prefix}_SERVICE_HOST"), "127.0.0.1".into()));
                env.push((format!("{prefix}_SERVICE_PORT"), port.to_string()));
            }
        }
        Ok(env)
    }

    /// Resolves a container's `env` and `envFrom` against the rendered ConfigMaps and Secrets.
    pub fn resolve_env(
        &self,
        w: &Workload,
        c: &Container,
        replica: u32,
    ) -> Result<Vec<(String, String)>, crate::Error> {
        let mut env = Vec::new();
        for f in &c.env_from {
            let source = if f.secret {
                &self.secrets
            } else {
                &self.config_maps
            };
            match source.get(&f.name) {
                Some(m) => env.extend(
                    m.iter()
                        .map(|(k, v)| (format!("{}{k}", f.prefix), v.clone())),
                ),
                None if f.optional => {}
                None => {
                    return Err(crate::error::folder(format!(
                        "envFrom: {} {:?} is not in the deploy folder",
                        kind_name(f.secret),
                        f.name
                    )))
                }
            }
        }
        for e in &c.env {
            let value = match &e.source {
                EnvSource::Value(v) => Some(v.clone()),
                EnvSource::ConfigMapKey {
                    name,
                    key,
                    optional,
                } => lookup(&self.config_maps, false, name, key, *optional, &e.name)?,
                EnvSource::SecretKey {
                    name,
                    key,
                    optional,
                } => lookup(&self.secrets, true, name, key, *optional, &e.name)?,
                EnvSource::Field(path) => Some(match path.as_str() {
                    "metadata.name" => format!("{}-{replica}", w.name),
                    "metadata.namespace" => self.namespace.clone(),
                    "status.podIP" | "status.hostIP" => "127.0.0.1".into(),
                    _ => String::new(),
                }),
            };
            if let Some(v) = value {
                env.retain(|(k, _)| k != &e.name);
                env.push((e.name.clone(), v));
            }
        }
        Ok(env)
    }
}

/// The modes a container can run in, here: `image` (with an engine and an image), `process`
/// and `source` (with a run spec).
pub fn available_modes(c: &Container, engine: bool) -> Vec<Mode> {
    let mut out = Vec::new();
    if engine && c.image.is_some() {
        out.push(Mode::Image);
    }
    if c.run.is_some() {
        out.extend([Mode::Process, Mode::Source]);
    }
    out
}

/// How one container runs: `asked` when it can run so, else its default.
fn container_mode(c: &Container, asked: Option<Mode>, engine: bool) -> Option<Mode> {
    let can = available_modes(c, engine);
    match asked {
        Some(m) if can.contains(&m) => Some(m),
        _ if can.contains(&Mode::Process) => Some(Mode::Process),
        _ => can.first().copied(),
    }
}

fn kind_name(secret: bool) -> &'static str {
    if secret {
        "Secret"
    } else {
        "ConfigMap"
    }
}

fn lookup(
    source: &BTreeMap<String, BTreeMap<String, String>>,
    secret: bool,
    name: &str,
    key: &str,
    optional: bool,
    var: &str,
) -> Result<Option<String>, crate::Error> {
    match source.get(name).and_then(|m| m.get(key)) {
        Some(v) => Ok(Some(v.clone())),
        None if optional => Ok(None),
        None => Err(crate::error::folder(match source.get(name) {
            None => format!(
                "env {var}: {} {name:?} is not in the deploy folder",
                kind_name(secret)
            ),
            Some(_) => format!(
                "env {var}: {} {name:?} has no key {key:?}",
                kind_name(secret)
            ),
        })),
    }
}

fn ingress_rules(o: &Json) -> Vec<IngressRule> {
    let mut rules = Vec::new();
    for rule in o
        .pointer("/spec/rules")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
    {
        let host = rule.get("host").and_then(Json::as_str).map(String::from);
        for p in rule
            .pointer("/http/paths")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
        {
            let Some(svc) = p.pointer("/backend/service") else {
                continue;
            };
            let port = match (
                svc.pointer("/port/number").and_then(Json::as_u64),
                svc.pointer("/port/name").and_then(Json::as_str),
            ) {
                (Some(n), _) => PortRef::Number(n as u16),
                (None, Some(name)) => PortRef::Name(name.to_string()),
                _ => continue,
            };
            rules.push(IngressRule {
                host: host.clone(),
                path: p
                    .get("path")
                    .and_then(Json::as_str)
                    .unwrap_or("/")
                    .to_string(),
                exact: p.get("pathType").and_then(Json::as_str) == Some("Exact"),
                service: svc
                    .get("name")
                    .and_then(Json::as_str)
                    .unwrap_or_default()
                    .to_string(),
                port,
            });
        }
    }
    rules
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(host: Option<&str>, path: &str, exact: bool) -> IngressRule {
        IngressRule {
            host: host.map(String::from),
            path: path.into(),
            exact,
            service: "s".into(),
            port: PortRef::Number(80),
        }
    }

    #[test]
    fn paths_match_like_kubernetes() {
        let r = rule(None, "/api", false);
        assert!(r.matches("x", "/api") && r.matches("x", "/api/") && r.matches("x", "/api/v1?q=1"));
        assert!(!r.matches("x", "/apis"));
        assert!(rule(None, "/", false).matches("x", "/anything"));
        assert!(
            rule(None, "/a", true).matches("x", "/a")
                && !rule(None, "/a", true).matches("x", "/a/")
        );
        let h = rule(Some("shop.localhost"), "/", false);
        assert!(
            h.matches("shop.localhost:8080", "/")
                && h.matches("SHOP.localhost", "/")
                && !h.matches("other", "/")
        );
        let w = rule(Some("*.example.com"), "/", false);
        assert!(
            w.matches("a.example.com", "/")
                && !w.matches("a.b.example.com", "/")
                && !w.matches("example.com", "/")
        );
    }
}
