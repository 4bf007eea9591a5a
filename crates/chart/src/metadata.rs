//! `Chart.yaml`: the chart's metadata, validated as Helm validates it.

use berth_manifest::{Error, ErrorKind};
use berth_template::Value;
use serde_json::Value as Json;

/// A dependency declared in `Chart.yaml` (or `requirements.yaml` of a v1 chart).
#[derive(Clone, Debug, Default)]
pub struct Dependency {
    pub name: String,
    pub version: String,
    pub repository: String,
    pub condition: String,
    pub tags: Vec<String>,
    pub enabled: bool,
    pub import_values: Vec<Json>,
    pub alias: String,
}

/// The parsed `Chart.yaml`.
#[derive(Clone, Debug)]
pub struct Metadata {
    pub api_version: String,
    pub name: String,
    pub version: String,
    pub app_version: String,
    pub chart_type: String,
    pub kube_version: String,
    pub deprecated: bool,
    pub dependencies: Vec<Dependency>,
    /// The whole file, for the fields templates read (`.Chart.Home`, `.Chart.Annotations`).
    pub raw: serde_json::Map<String, Json>,
}

fn string(m: &serde_json::Map<String, Json>, k: &str) -> String {
    match m.get(k) {
        Some(Json::String(s)) => s.clone(),
        Some(Json::Number(n)) => n.to_string(),
        Some(Json::Bool(b)) => b.to_string(),
        _ => String::new(),
    }
}

impl Metadata {
    /// Parses and validates `Chart.yaml`; `shown` names it in errors.
    pub fn parse(text: &str, shown: &str) -> Result<Metadata, Error> {
        let raw = match crate::values::parse_yaml(text, shown) {
            Ok(Json::Object(m)) => m,
            Ok(_) => serde_json::Map::new(),
            Err(e) => {
                let mut e = e;
                e.kind = ErrorKind::Chart;
                e.message = format!("cannot load Chart.yaml: {}", e.message);
                return Err(e);
            }
        };
        let dependencies = match raw.get("dependencies") {
            Some(Json::Array(list)) => list.iter().map(dependency).collect(),
            _ => vec![],
        };
        let md = Metadata {
            api_version: string(&raw, "apiVersion"),
            name: string(&raw, "name"),
            version: string(&raw, "version"),
            app_version: string(&raw, "appVersion"),
            chart_type: string(&raw, "type"),
            kube_version: string(&raw, "kubeVersion"),
            deprecated: matches!(raw.get("deprecated"), Some(Json::Bool(true))),
            dependencies,
            raw,
        };
        md.validate(shown)?;
        Ok(md)
    }

    /// A v1 chart's `requirements.yaml` declares its dependencies.
    pub fn read_requirements(&mut self, text: &str, shown: &str) -> Result<(), Error> {
        if let Json::Object(m) = crate::values::parse_yaml(text, shown)? {
            if let Some(Json::Array(list)) = m.get("dependencies") {
                self.dependencies = list.iter().map(dependency).collect();
            }
        }
        Ok(())
    }

    fn validate(&self, shown: &str) -> Result<(), Error> {
        let fail = |what: String, hint: &str| {
            Err(Error::new(ErrorKind::Chart, format!("validation: {what}"))
                .at(shown, 0, 0)
                .hint(hint.to_string()))
        };
        if self.api_version.is_empty() {
            return fail(
                "chart.metadata.apiVersion is required".into(),
                "add `apiVersion: v2` to Chart.yaml",
            );
        }
        if self.name.is_empty() {
            return fail(
                "chart.metadata.name is required".into(),
                "add `name: NAME` to Chart.yaml",
            );
        }
        if self.name.contains(['/', '\\']) || self.name == "." || self.name == ".." {
            return fail(
                format!("chart.metadata.name {:?} is invalid", self.name),
                "a chart name has no path separators",
            );
        }
        if self.version.is_empty() {
            return fail(
                "chart.metadata.version is required".into(),
                "add `version: 0.1.0` to Chart.yaml",
            );
        }
        if berth_template::semver::Version::parse(&self.version).is_none() {
            return fail(
                format!("chart.metadata.version {:?} is invalid", self.version),
                "the version is a semantic version such as 1.2.3",
            );
        }
        if !matches!(self.chart_type.as_str(), "" | "application" | "library") {
            return fail(
                "chart.metadata.type must be application or library".into(),
                "set `type: application` (or `library` for a chart of named templates only)",
            );
        }
        for d in &self.dependencies {
            if !d.alias.is_empty()
                && !d
                    .alias
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return fail(
                    format!(
                        "dependency {:?} has disallowed characters in the alias",
                        d.name
                    ),
                    "an alias holds letters, digits, '-' and '_'",
                );
            }
        }
        Ok(())
    }

    /// `.Chart` as templates see it: in Helm 4 a map of `chart.Metadata`'s Go field names, plus
    /// `IsRoot`.
    pub fn to_value(&self, is_root: bool) -> Value {
        let s = |k: &str| Value::from(string(&self.raw, k));
        let list = |k: &str| match self.raw.get(k) {
            Some(v @ Json::Array(_)) => Value::from_json(v),
            _ => Value::list(vec![]),
        };
        let maintainers = match self.raw.get("maintainers") {
            Some(Json::Array(l)) => Value::list(
                l.iter()
                    .map(|m| {
                        let m = m.as_object().cloned().unwrap_or_default();
                        capitalized(&[("Name", "name"), ("Email", "email"), ("URL", "url")], &m)
                    })
                    .collect(),
            ),
            _ => Value::list(vec![]),
        };
        let annotations = match self.raw.get("annotations") {
            Some(v @ Json::Object(_)) => Value::from_json(v),
            _ => Value::map(Default::default()),
        };
        let fields = [
            ("APIVersion", s("apiVersion")),
            ("Annotations", annotations),
            ("AppVersion", s("appVersion")),
            ("Condition", s("condition")),
            (
                "Dependencies",
                Value::list(self.dependencies.iter().map(dep_value).collect()),
            ),
            ("Deprecated", Value::Bool(self.deprecated)),
            ("Description", s("description")),
            ("Home", s("home")),
            ("Icon", s("icon")),
            ("IsRoot", Value::Bool(is_root)),
            ("Keywords", list("keywords")),
            ("KubeVersion", s("kubeVersion")),
            ("Maintainers", maintainers),
            ("Name", Value::from(self.name.as_str())),
            ("Sources", list("sources")),
            ("Tags", s("tags")),
            ("Type", s("type")),
            ("Version", s("version")),
        ];
        Value::map(
            fields
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        )
    }
}

fn capitalized(pairs: &[(&str, &str)], m: &serde_json::Map<String, Json>) -> Value {
    Value::map(
        pairs
            .iter()
            .map(|(go, json)| (go.to_string(), Value::from(string(m, json))))
            .collect(),
    )
}

fn dep_value(d: &Dependency) -> Value {
    let mut m = std::collections::BTreeMap::new();
    m.insert("Name".into(), Value::from(d.name.as_str()));
    m.insert("Version".into(), Value::from(d.version.as_str()));
    m.insert("Repository".into(), Value::from(d.repository.as_str()));
    m.insert("Condition".into(), Value::from(d.condition.as_str()));
    m.insert(
        "Tags".into(),
        Value::list(d.tags.iter().map(|t| Value::from(t.as_str())).collect()),
    );
    m.insert("Enabled".into(), Value::Bool(d.enabled));
    m.insert(
        "ImportValues".into(),
        Value::list(d.import_values.iter().map(Value::from_json).collect()),
    );
    m.insert("Alias".into(), Value::from(d.alias.as_str()));
    Value::map(m)
}

fn dependency(v: &Json) -> Dependency {
    let m = v.as_object().cloned().unwrap_or_default();
    Dependency {
        name: string(&m, "name"),
        version: string(&m, "version"),
        repository: string(&m, "repository"),
        condition: string(&m, "condition"),
        tags: match m.get("tags") {
            Some(Json::Array(t)) => t
                .iter()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect(),
            _ => vec![],
        },
        enabled: false,
        import_values: match m.get("import-values") {
            Some(Json::Array(l)) => l.clone(),
            _ => vec![],
        },
        alias: string(&m, "alias"),
    }
}
