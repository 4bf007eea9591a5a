//! The built-in objects templates see besides `.Values` and `.Chart`: `.Capabilities` (with
//! `.APIVersions.Has`), `.Files` (with `Get`, `Glob`, `AsConfig`, ...) and `.Release`.

use berth_template::GoError;

use crate::load::File;
use berth_template::{to_yaml, Object, Value};
use std::collections::BTreeMap;
use std::rc::Rc;

/// The API versions helm 4.3 assumes without a cluster (`.Capabilities.APIVersions`).
pub(crate) fn default_api_versions() -> Vec<String> {
    serde_json::from_str(include_str!("api_versions.json")).expect("built-in API version list")
}

/// The Kubernetes version `helm template` assumes without `--kube-version`.
pub const DEFAULT_KUBE_VERSION: &str = "v1.37.0";

/// The helm release whose behaviour berth reproduces (`.Capabilities.HelmVersion`).
const HELM: [(&str, &str, &str); 5] = [
    ("Version", "version", "v4.3.1"),
    (
        "GitCommit",
        "git_commit",
        "c0d08d0d6d9424d4a14febb5e8a3e51b0dd00dff",
    ),
    ("GitTreeState", "git_tree_state", "clean"),
    ("GoVersion", "go_version", "go1.27.2"),
    ("KubeClientVersion", "kube_client_version", "v1.37"),
];

/// `.Capabilities`.
#[derive(Debug)]
pub(crate) struct Capabilities {
    pub api_versions: Rc<Vec<String>>,
    pub kube: KubeVersion,
}

#[derive(Debug, Clone)]
pub(crate) struct KubeVersion {
    pub version: String,
    pub major: String,
    pub minor: String,
}

impl KubeVersion {
    /// Parses `1.28.7` or `v1.28.7` as helm's `--kube-version` does.
    pub fn parse(s: &str) -> Option<KubeVersion> {
        let v = berth_template::semver::Version::parse(s)?;
        Some(KubeVersion {
            version: format!("v{}", v.canonical()),
            major: v.major.to_string(),
            minor: v.minor.to_string(),
        })
    }
}

impl Object for Capabilities {
    fn type_name(&self) -> &'static str {
        "*common.Capabilities"
    }
    fn field(&self, name: &str) -> Option<Value> {
        match name {
            "APIVersions" => Some(Value::Object(Rc::new(VersionSet(
                self.api_versions.clone(),
            )))),
            "KubeVersion" => Some(Value::Object(Rc::new(self.kube.clone()))),
            "HelmVersion" => Some(helm_version()),
            _ => None,
        }
    }
    fn display(&self) -> String {
        format!(
            "&{{{} {} {{{}}}}}",
            VersionSet(self.api_versions.clone()).display(),
            self.kube.display(),
            HELM.map(|(_, _, v)| v).join(" ")
        )
    }
    fn to_value(&self) -> Value {
        let mut m = BTreeMap::new();
        m.insert(
            "APIVersions".into(),
            VersionSet(self.api_versions.clone()).to_value(),
        );
        m.insert("KubeVersion".into(), self.kube.to_value());
        m.insert("HelmVersion".into(), helm_version());
        Value::map(m)
    }
}

fn helm_version() -> Value {
    // Templates read the Go field names; `toJson` shows the JSON ones.
    let mut m = BTreeMap::new();
    for (go, json, v) in HELM {
        m.insert(go.to_string(), Value::from(v));
        m.insert(json.to_string(), Value::from(v));
    }
    Value::map(m)
}

impl Object for KubeVersion {
    fn type_name(&self) -> &'static str {
        "common.KubeVersion"
    }
    fn field(&self, name: &str) -> Option<Value> {
        match name {
            "Version" => Some(Value::from(self.version.as_str())),
            "Major" => Some(Value::from(self.major.as_str())),
            "Minor" => Some(Value::from(self.minor.as_str())),
            _ => None,
        }
    }
    fn has_method(&self, name: &str) -> bool {
        matches!(name, "String" | "GitVersion")
    }
    fn call(&self, name: &str, args: &[Value]) -> Option<Result<Value, GoError>> {
        if !self.has_method(name) {
            return None;
        }
        if !args.is_empty() {
            return Some(Err(format!(
                "wrong number of args for {name}: want 0 got {}",
                args.len()
            )
            .into()));
        }
        Some(Ok(Value::from(self.version.as_str())))
    }
    fn display(&self) -> String {
        self.version.clone()
    }
    fn to_value(&self) -> Value {
        let mut m = BTreeMap::new();
        m.insert("Version".into(), Value::from(self.version.as_str()));
        m.insert("Major".into(), Value::from(self.major.as_str()));
        m.insert("Minor".into(), Value::from(self.minor.as_str()));
        Value::map(m)
    }
}

/// `.Capabilities.APIVersions`: a list with a `Has` method.
#[derive(Debug)]
pub(crate) struct VersionSet(pub Rc<Vec<String>>);

impl Object for VersionSet {
    fn type_name(&self) -> &'static str {
        "common.VersionSet"
    }
    fn field(&self, _: &str) -> Option<Value> {
        None
    }
    fn has_method(&self, name: &str) -> bool {
        name == "Has"
    }
    fn call(&self, name: &str, args: &[Value]) -> Option<Result<Value, GoError>> {
        if name != "Has" {
            return None;
        }
        Some(match args {
            [Value::String(s)] => Ok(Value::Bool(self.0.iter().any(|v| v == s.as_ref()))),
            [other] => Err(format!(
                "wrong type for value; expected string; got {}",
                other.type_name()
            )
            .into()),
            _ => Err(format!("wrong number of args for Has: want 1 got {}", args.len()).into()),
        })
    }
    fn display(&self) -> String {
        format!("[{}]", self.0.join(" "))
    }
    fn to_value(&self) -> Value {
        Value::list(self.0.iter().map(|s| Value::from(s.as_str())).collect())
    }
    /// A `[]string` to Go: `has "x" .Capabilities.APIVersions`, `len`, `index`, `range` work.
    fn underlying(&self) -> Option<Value> {
        Some(self.to_value())
    }
}

/// `.Files`: the chart's non-template files.
#[derive(Debug)]
pub(crate) struct Files(pub Rc<Vec<File>>);

impl Files {
    fn get(&self, name: &str) -> Option<&File> {
        self.0.iter().find(|f| f.name == name)
    }

    /// Helm matches with gobwas/glob (`/` the separator): `**` crosses folders, `*` does not.
    fn glob(&self, pattern: &str) -> Result<Value, GoError> {
        let g = crate::gobwas::Glob::new(pattern)?;
        let hits: Vec<File> = self
            .0
            .iter()
            .filter(|f| g.matches(&f.name))
            .cloned()
            .collect();
        Ok(Value::Object(Rc::new(Files(Rc::new(hits)))))
    }

    /// The files by base name, each value made by `f`, as `toYaml` writes them.
    fn as_map(&self, f: impl Fn(&[u8]) -> String) -> Value {
        let m: BTreeMap<String, Value> = self
            .0
            .iter()
            .map(|file| {
                let base = file.name.rsplit('/').next().unwrap_or(&file.name);
                (base.to_string(), Value::from(f(&file.data)))
            })
            .collect();
        let y = to_yaml(&Value::map(m));
        Value::from(y.strip_suffix('\n').unwrap_or(&y).to_string())
    }

    fn lines(&self, name: &str) -> Value {
        let Some(f) = self.get(name) else {
            return Value::list(vec![]);
        };
        let data = f.data.strip_suffix(b"\n").unwrap_or(&f.data);
        let lines = data.split(|&b| b == b'\n');
        Value::list(lines.map(|l| Value::from_bytes(l.to_vec())).collect())
    }
}

impl Object for Files {
    fn type_name(&self) -> &'static str {
        "engine.files"
    }
    fn field(&self, _: &str) -> Option<Value> {
        None
    }
    fn has_method(&self, name: &str) -> bool {
        matches!(
            name,
            "Get" | "GetBytes" | "Glob" | "AsConfig" | "AsSecrets" | "Lines"
        )
    }
    fn call(&self, name: &str, args: &[Value]) -> Option<Result<Value, GoError>> {
        if !self.has_method(name) {
            return None;
        }
        let want = usize::from(matches!(name, "Get" | "GetBytes" | "Glob" | "Lines"));
        if args.len() != want {
            return Some(Err(format!(
                "wrong number of args for {name}: want {want} got {}",
                args.len()
            )
            .into()));
        }
        let arg = match args.first() {
            None => "",
            Some(Value::String(s)) => s,
            Some(other) => {
                return Some(Err(format!(
                    "wrong type for value; expected string; got {}",
                    other.type_name()
                )
                .into()))
            }
        };
        Some(match name {
            // Bytes as they are: a binary file's `b64enc`, `len` and `sha256sum` are Helm's.
            "Get" | "GetBytes" => Ok(self
                .get(arg)
                .map_or(Value::from(""), |f| Value::from_bytes(f.data.to_vec()))),
            "Glob" => self.glob(arg),
            "AsConfig" => Ok(self.as_map(berth_template::go_lossy)),
            "AsSecrets" => Ok(self.as_map(|d| {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD.encode(d)
            })),
            _ => Ok(self.lines(arg)),
        })
    }
    fn display(&self) -> String {
        let names: Vec<String> = self
            .0
            .iter()
            .map(|f| format!("{}:{:?}", f.name, f.data))
            .collect();
        format!("map[{}]", names.join(" "))
    }
    /// A `map[string][]byte` to Go: `len`, `index` and `range` see the files.
    fn underlying(&self) -> Option<Value> {
        Some(self.to_value())
    }
    fn to_value(&self) -> Value {
        Value::map(
            self.0
                .iter()
                .map(|f| (f.name.clone(), Value::from_bytes(f.data.to_vec())))
                .collect(),
        )
    }
}
