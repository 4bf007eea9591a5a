//! What a container image needs from its pod template to run on a container engine: command
//! and args, pull policy, security context, resource limits, volumes and their mounts.

use serde_json::Value as Json;

/// When the engine pulls an image (`imagePullPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullPolicy {
    Always,
    IfNotPresent,
    Never,
}

impl PullPolicy {
    /// The field's value, or Kubernetes' default: `Always` for `:latest` or no tag.
    pub fn of(field: Option<&str>, image: Option<&str>) -> PullPolicy {
        match field {
            Some("Always") => PullPolicy::Always,
            Some("Never") => PullPolicy::Never,
            Some("IfNotPresent") => PullPolicy::IfNotPresent,
            _ => {
                let image = image.unwrap_or_default();
                let last = image.rsplit('/').next().unwrap_or(image);
                if image.contains('@') {
                    PullPolicy::IfNotPresent
                } else {
                    match last.rsplit_once(':') {
                        Some((_, "latest")) | None => PullPolicy::Always,
                        Some(_) => PullPolicy::IfNotPresent,
                    }
                }
            }
        }
    }
}

/// `securityContext` fields an engine honours.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Security {
    pub run_as_user: Option<i64>,
    pub run_as_group: Option<i64>,
    pub read_only_root: bool,
}

/// `resources.limits` as an engine takes them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    pub memory_bytes: Option<i64>,
    /// CPU in billionths of a core (`500m` -> 500,000,000).
    pub nano_cpus: Option<i64>,
}

/// Where a volume appears in a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeMount {
    pub name: String,
    pub path: String,
    pub sub_path: Option<String>,
    pub read_only: bool,
}

/// One key of a ConfigMap or Secret volume, under another path (`items`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyToPath {
    pub key: String,
    pub path: String,
    pub mode: Option<u32>,
}

/// What a pod volume is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolumeSource {
    /// A ConfigMap (`secret: false`) or Secret, as read-only files.
    Config {
        secret: bool,
        name: String,
        items: Vec<KeyToPath>,
        default_mode: u32,
        optional: bool,
    },
    EmptyDir,
    /// A PersistentVolumeClaim: a named volume that outlives the pods.
    Claim(String),
    HostPath(String),
    /// Anything else (`projected`, `csi`, ...): named, not run.
    Unsupported(String),
}

/// One pod volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub name: String,
    pub source: VolumeSource,
}

/// A Kubernetes quantity (`128Mi`, `1G`, `0.5`, `500m`) times `scale`, rounded down; `None`
/// when it is not one.
pub fn quantity(v: &Json, scale: f64) -> Option<i64> {
    let text = match v {
        Json::Number(n) => return n.as_f64().map(|f| (f * scale) as i64),
        Json::String(s) => s.trim(),
        _ => return None,
    };
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let factor = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        _ => return None,
    };
    Some((number * factor * scale) as i64)
}

fn strings(v: Option<&Json>) -> Vec<String> {
    v.and_then(Json::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(String::from))
        .collect()
}

/// The parts of one container spec that only an engine needs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ImageSpec {
    /// `command` (the image's entrypoint when empty).
    pub command: Vec<String>,
    /// `args` (the image's cmd when empty and `command` is empty too).
    pub args: Vec<String>,
    pub working_dir: Option<String>,
    pub pull: Option<PullPolicy>,
    pub security: Security,
    pub limits: Limits,
    pub mounts: Vec<VolumeMount>,
}

impl ImageSpec {
    /// Reads a container spec; `pod_security` is the pod's `securityContext`.
    pub fn from_container(c: &Json, pod_security: Option<&Json>) -> ImageSpec {
        let image = c.get("image").and_then(Json::as_str);
        let sec = c.get("securityContext");
        let field = |k: &str| {
            sec.and_then(|s| s.get(k))
                .or_else(|| pod_security.and_then(|s| s.get(k)))
                .and_then(Json::as_i64)
        };
        let limits = c.pointer("/resources/limits");
        ImageSpec {
            command: strings(c.get("command")),
            args: strings(c.get("args")),
            working_dir: c
                .get("workingDir")
                .and_then(Json::as_str)
                .filter(|s| !s.is_empty())
                .map(String::from),
            pull: image
                .map(|i| PullPolicy::of(c.get("imagePullPolicy").and_then(Json::as_str), Some(i))),
            security: Security {
                run_as_user: field("runAsUser"),
                run_as_group: field("runAsGroup"),
                read_only_root: sec
                    .and_then(|s| s.get("readOnlyRootFilesystem"))
                    .and_then(Json::as_bool)
                    .unwrap_or(false),
            },
            limits: Limits {
                memory_bytes: limits
                    .and_then(|l| l.get("memory"))
                    .and_then(|q| quantity(q, 1.0)),
                nano_cpus: limits
                    .and_then(|l| l.get("cpu"))
                    .and_then(|q| quantity(q, 1e9)),
            },
            mounts: c
                .get("volumeMounts")
                .and_then(Json::as_array)
                .into_iter()
                .flatten()
                .filter_map(|m| {
                    Some(VolumeMount {
                        name: m.get("name")?.as_str()?.to_string(),
                        path: m.get("mountPath")?.as_str()?.to_string(),
                        sub_path: m
                            .get("subPath")
                            .and_then(Json::as_str)
                            .filter(|s| !s.is_empty())
                            .map(String::from),
                        read_only: m.get("readOnly").and_then(Json::as_bool).unwrap_or(false),
                    })
                })
                .collect(),
        }
    }
}

/// A pod's `volumes`.
pub fn volumes(pod_spec: Option<&Json>) -> Vec<Volume> {
    pod_spec
        .and_then(|p| p.get("volumes"))
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| {
            let name = v.get("name")?.as_str()?.to_string();
            Some(Volume {
                source: volume_source(v),
                name,
            })
        })
        .collect()
}

fn volume_source(v: &Json) -> VolumeSource {
    for (field, secret, name_field) in
        [("configMap", false, "name"), ("secret", true, "secretName")]
    {
        if let Some(c) = v.get(field) {
            return VolumeSource::Config {
                secret,
                name: c
                    .get(name_field)
                    .and_then(Json::as_str)
                    .unwrap_or_default()
                    .to_string(),
                items: c
                    .get("items")
                    .and_then(Json::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|i| {
                        Some(KeyToPath {
                            key: i.get("key")?.as_str()?.to_string(),
                            path: i.get("path")?.as_str()?.to_string(),
                            mode: i.get("mode").and_then(Json::as_u64).map(|m| m as u32),
                        })
                    })
                    .collect(),
                default_mode: c
                    .get("defaultMode")
                    .and_then(Json::as_u64)
                    .map_or(0o644, |m| m as u32),
                optional: c.get("optional").and_then(Json::as_bool).unwrap_or(false),
            };
        }
    }
    if v.get("emptyDir").is_some() {
        return VolumeSource::EmptyDir;
    }
    if let Some(claim) = v
        .pointer("/persistentVolumeClaim/claimName")
        .and_then(Json::as_str)
    {
        return VolumeSource::Claim(claim.to_string());
    }
    if let Some(path) = v.pointer("/hostPath/path").and_then(Json::as_str) {
        return VolumeSource::HostPath(path.to_string());
    }
    let kind = v
        .as_object()
        .and_then(|o| o.keys().find(|k| *k != "name").cloned())
        .unwrap_or_else(|| "unknown".into());
    VolumeSource::Unsupported(kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quantities_read_as_kubernetes_writes_them() {
        assert_eq!(quantity(&json!("128Mi"), 1.0), Some(128 << 20));
        assert_eq!(quantity(&json!("1G"), 1.0), Some(1_000_000_000));
        assert_eq!(quantity(&json!("500m"), 1e9), Some(500_000_000));
        assert_eq!(quantity(&json!(2), 1e9), Some(2_000_000_000));
        assert_eq!(quantity(&json!("0.5"), 1e9), Some(500_000_000));
        assert_eq!(quantity(&json!("12Q"), 1.0), None);
    }

    #[test]
    fn pull_policy_defaults_as_kubernetes() {
        assert_eq!(PullPolicy::of(None, Some("web")), PullPolicy::Always);
        assert_eq!(PullPolicy::of(None, Some("web:latest")), PullPolicy::Always);
        assert_eq!(
            PullPolicy::of(None, Some("host:5000/web")),
            PullPolicy::Always
        );
        assert_eq!(
            PullPolicy::of(None, Some("host:5000/web:1")),
            PullPolicy::IfNotPresent
        );
        assert_eq!(
            PullPolicy::of(None, Some("web@sha256:ab")),
            PullPolicy::IfNotPresent
        );
        assert_eq!(
            PullPolicy::of(Some("Never"), Some("web")),
            PullPolicy::Never
        );
    }

    #[test]
    fn volumes_and_mounts_are_read() {
        let pod = json!({"volumes": [
            {"name": "cfg", "configMap": {"name": "web", "items": [{"key": "a", "path": "x/a"}], "defaultMode": 256}},
            {"name": "tls", "secret": {"secretName": "tls"}},
            {"name": "tmp", "emptyDir": {}},
            {"name": "data", "persistentVolumeClaim": {"claimName": "db"}},
            {"name": "p", "projected": {}}]});
        let v = volumes(Some(&pod));
        assert_eq!(v.len(), 5);
        assert!(
            matches!(&v[0].source, VolumeSource::Config { secret: false, items, default_mode: 256, .. } if items[0].path == "x/a")
        );
        assert!(
            matches!(&v[1].source, VolumeSource::Config { secret: true, name, .. } if name == "tls")
        );
        assert_eq!(v[2].source, VolumeSource::EmptyDir);
        assert_eq!(v[3].source, VolumeSource::Claim("db".into()));
        assert_eq!(v[4].source, VolumeSource::Unsupported("projected".into()));
        let c = json!({"image": "web:1", "command": ["a"], "args": ["b"],
            "securityContext": {"readOnlyRootFilesystem": true},
            "resources": {"limits": {"memory": "64Mi", "cpu": "250m"}},
            "volumeMounts": [{"name": "cfg", "mountPath": "/etc/web", "subPath": "x"}]});
        let s = ImageSpec::from_container(&c, Some(&json!({"runAsUser": 1000})));
        assert_eq!(
            (s.command, s.args),
            (vec!["a".to_string()], vec!["b".to_string()])
        );
        assert_eq!(s.security.run_as_user, Some(1000));
        assert!(s.security.read_only_root);
        assert_eq!(s.limits.memory_bytes, Some(64 << 20));
        assert_eq!(s.limits.nano_cpus, Some(250_000_000));
        assert_eq!(s.mounts[0].sub_path.as_deref(), Some("x"));
        assert_eq!(s.pull, Some(PullPolicy::IfNotPresent));
    }
}
