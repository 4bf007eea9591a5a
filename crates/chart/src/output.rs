//! From rendered templates to manifests as `helm template` prints them: split at `---`, each
//! document's YAML checked, hooks apart, sorted in Helm's install order, CRDs from `crds/` when
//! asked, `--show-only` applied; `NOTES.txt` kept aside.

use crate::render::RenderedFile;
use crate::values::Values;
use crate::{Chart, Options};
use berth_manifest::{Error, ErrorKind};
use serde_json::Value as Json;

/// One document of the output.
#[derive(Clone, Debug)]
pub struct Manifest {
    /// The template it came from (`podinfo/templates/deployment.yaml`).
    pub source: String,
    /// The document's text, trimmed.
    pub text: String,
    /// What Helm reads of every document: kind, name, hook.
    pub head: Head,
}

/// The fields of a document Helm looks at (its `SimpleHead`), read while checking the YAML.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Head {
    #[serde(default, deserialize_with = "lenient")]
    pub api_version: String,
    #[serde(default, deserialize_with = "lenient")]
    pub kind: String,
    #[serde(default)]
    pub metadata: Option<HeadMetadata>,
}

#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct HeadMetadata {
    #[serde(default, deserialize_with = "lenient")]
    pub name: String,
    #[serde(default, deserialize_with = "lenient")]
    pub namespace: String,
    #[serde(default)]
    pub annotations: Option<serde_json::Map<String, Json>>,
}

/// A string field that may hold anything (Helm does not validate objects when rendering).
fn lenient<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(lenient_text(<Json as serde::Deserialize>::deserialize(d)?))
}

fn lenient_text(v: Json) -> String {
    match v {
        Json::String(s) => s,
        Json::Null => String::new(),
        other => other.to_string(),
    }
}

impl Head {
    /// The head from fields the fast reader found, as deserializing the document would give.
    pub(crate) fn from_fields(f: berth_manifest::HeadFields) -> Head {
        let text = |v: Option<Json>| v.map(lenient_text).unwrap_or_default();
        let metadata = (f.metadata == Some(true)).then(|| HeadMetadata {
            name: text(f.name),
            namespace: text(f.namespace),
            annotations: match f.annotations {
                Some(Json::Object(m)) => Some(m),
                _ => None,
            },
        });
        Head {
            api_version: text(f.api_version),
            kind: text(f.kind),
            metadata,
        }
    }
}

impl Manifest {
    pub fn kind(&self) -> &str {
        &self.head.kind
    }

    /// The `helm.sh/hook` annotation, for hooks.
    pub fn hook(&self) -> Option<&str> {
        self.head
            .metadata
            .as_ref()?
            .annotations
            .as_ref()?
            .get("helm.sh/hook")?
            .as_str()
    }

    /// The whole document, parsed (its text was checked when rendering).
    pub fn body(&self) -> Json {
        crate::values::parse_document(&self.text).unwrap_or(Json::Null)
    }
}

/// A rendered chart.
#[derive(Clone, Debug)]
pub struct Output {
    /// CRDs from `crds/` folders (printed only with `--include-crds`; read only then or with
    /// [`Options::install_crds`](crate::Options::install_crds)).
    pub crds: Vec<Manifest>,
    /// Everything else that is not a hook, in Helm's install order.
    pub manifests: Vec<Manifest>,
    /// Hooks (`helm.sh/hook`), tests included, in install order.
    pub hooks: Vec<Manifest>,
    /// The chart's rendered `NOTES.txt`.
    pub notes: Option<String>,
    /// The values the templates saw.
    pub values: Values,
    pub include_crds: bool,
}

impl Output {
    /// Every document as `helm template` prints them.
    pub fn to_yaml_stream(&self) -> String {
        let mut s = String::new();
        let crds = self.crds.iter().filter(|_| self.include_crds);
        for m in crds.chain(&self.manifests).chain(&self.hooks) {
            s.push_str("---\n# Source: ");
            s.push_str(&m.source);
            s.push('\n');
            s.push_str(&m.text);
            s.push('\n');
        }
        s
    }
}

/// Helm 4's install order (`kind_sorter.go`); other kinds follow, alphabetically.
const INSTALL_ORDER: &[&str] = &[
    "PriorityClass",
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

fn order_key(kind: &str) -> (usize, String) {
    match INSTALL_ORDER.iter().position(|k| *k == kind) {
        Some(i) => (i, String::new()),
        None => (INSTALL_ORDER.len(), kind.to_string()),
    }
}

pub(crate) fn collect(
    chart: &Chart,
    mut files: Vec<RenderedFile>,
    opts: &Options,
    values: Values,
) -> Result<Output, Error> {
    files.sort_by(|a, b| a.name.cmp(&b.name));
    let notes_name = format!("{}/templates/NOTES.txt", chart.name());
    let mut notes = None;
    let mut docs = Vec::new();
    let mut wanted = Vec::new();
    for f in files {
        if f.name.ends_with("/templates/NOTES.txt") {
            if f.name == notes_name {
                notes = Some(f.text);
            }
        } else if shown(&f.name, &opts.chart.show_only) {
            wanted.push(f);
        }
    }
    for part in split_all(&wanted) {
        docs.extend(part?);
    }
    if !opts.chart.show_only.is_empty() {
        check_show_only(&docs, &opts.chart.show_only)?;
    }
    let (mut hooks, mut manifests): (Vec<_>, Vec<_>) =
        docs.into_iter().partition(|m| m.hook().is_some());
    manifests.sort_by_key(|m| order_key(m.kind()));
    hooks.sort_by_key(|m| order_key(m.kind()));
    let mut crds = Vec::new();
    if opts.chart.include_crds || opts.install_crds {
        crd_files(chart, None, &mut crds)?;
    }
    Ok(Output {
        crds,
        manifests,
        hooks,
        notes,
        values,
        include_crds: opts.chart.include_crds,
    })
}

/// Splits and checks every file's output, on every core when there is enough of it; results in
/// file order (so the first error reported is the first in file order).
fn split_all(files: &[RenderedFile]) -> Vec<Result<Vec<Manifest>, Error>> {
    let bytes: usize = files.iter().map(|f| f.text.len()).sum();
    let cores = berth_template::cores();
    if bytes < 32 * 1024 || cores < 2 {
        return files.iter().map(|f| split(&f.name, &f.text)).collect();
    }
    std::thread::scope(|s| {
        let mut parts =
            berth_template::chunks_by_weight(files, cores, |f| f.text.len()).into_iter();
        let first = parts.next().unwrap_or(&[]);
        let handles: Vec<_> = parts
            .map(|p| {
                s.spawn(move || {
                    p.iter()
                        .map(|f| split(&f.name, &f.text))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<_> = first.iter().map(|f| split(&f.name, &f.text)).collect();
        for h in handles {
            all.extend(h.join().expect("split thread"));
        }
        all
    })
}

/// Whether `--show-only` lets a template's output through.
fn shown(name: &str, only: &[String]) -> bool {
    if only.is_empty() {
        return true;
    }
    let rel = name.split_once('/').map(|(_, r)| r).unwrap_or(name);
    only.iter().any(|o| {
        let o = o.trim_start_matches("./");
        o == rel || o == name || crate::gomatch::matches(o, rel).unwrap_or(false)
    })
}

fn check_show_only(docs: &[Manifest], only: &[String]) -> Result<(), Error> {
    for o in only {
        if !docs
            .iter()
            .any(|d| shown(&d.source, std::slice::from_ref(o)))
        {
            return Err(Error::new(
                ErrorKind::Chart,
                format!("could not find template {o} in chart"),
            )
            .hint("--show-only takes a path inside the chart, such as templates/deployment.yaml"));
        }
    }
    Ok(())
}

/// Splits a rendered template at `---` lines into its non-empty documents, each checked to be
/// YAML as Helm checks it.
fn split(source: &str, text: &str) -> Result<Vec<Manifest>, Error> {
    let mut out = Vec::new();
    for doc in split_documents(text) {
        let doc = doc.trim();
        if doc.is_empty() || is_only_comments(doc) {
            continue;
        }
        let head: Option<Head> =
            crate::values::parse_head(doc).map_err(|e| yaml_error(source, doc, &e))?;
        let Some(head) = head else {
            continue;
        };
        out.push(Manifest {
            source: source.to_string(),
            text: doc.to_string(),
            head,
        });
    }
    Ok(out)
}

fn is_only_comments(doc: &str) -> bool {
    doc.lines().all(|l| {
        let t = l.trim_start();
        t.is_empty() || t.starts_with('#')
    })
}

fn yaml_error(source: &str, doc: &str, e: &serde_saphyr::Error) -> Error {
    let (line, col) = berth_manifest::yaml_position(doc, e).unwrap_or((0, 0));
    Error::new(
        ErrorKind::Yaml,
        format!(
            "YAML parse error on {source}: {}",
            berth_manifest::first_line(&e.to_string())
        ),
    )
    .note(format!(
        "rendered line {line}: {}",
        doc.lines().nth(line.saturating_sub(1)).unwrap_or("")
    ))
    .at(source, line, col)
    .hint("the template's output is not YAML: check indentation, `nindent` and `toYaml` around this line")
}

/// Helm's `SplitManifests`: the trimmed text split at Go's `(?:^|\s*\n)---\s*` (`\s` is
/// `[\t\n\f\r ]` in Go), so `---` after a newline starts a document even with text right after
/// it. By hand: compiling the regex took a twentieth of a small chart's render.
fn split_documents(text: &str) -> Vec<&str> {
    let text = text.trim();
    let b = text.as_bytes();
    let space = |c: u8| matches!(c, b'\t' | b'\n' | b'\x0c' | b'\r' | b' ');
    let mut docs = Vec::new();
    // Where the current document starts, which is also where the last separator ended.
    let mut from = 0;
    let mut at = 0;
    while let Some(i) = text[at..].find("---") {
        let dashes = at + i;
        // `^` (the very start), or a newline after the last separator, and the whitespace
        // before it back to that separator.
        let start = if dashes == 0 {
            Some(0)
        } else if dashes > from && b[dashes - 1] == b'\n' {
            let mut j = dashes - 1;
            while j > from && space(b[j - 1]) {
                j -= 1;
            }
            Some(j)
        } else {
            None
        };
        let Some(start) = start else {
            at = dashes + 1;
            continue;
        };
        let mut end = dashes + 3;
        while end < b.len() && space(b[end]) {
            end += 1;
        }
        docs.push(&text[from..start]);
        from = end;
        at = end;
    }
    docs.push(&text[from..]);
    docs
}

fn crd_files(chart: &Chart, parent: Option<&str>, out: &mut Vec<Manifest>) -> Result<(), Error> {
    let full = match parent {
        None => chart.name().to_string(),
        Some(p) => format!("{p}/charts/{}", chart.name()),
    };
    for f in &chart.files {
        let is_crd = f.name.starts_with("crds/")
            && [".yaml", ".yml", ".json"]
                .iter()
                .any(|e| f.name.ends_with(e));
        if is_crd {
            let text = String::from_utf8_lossy(&f.data);
            out.extend(split(&format!("{full}/{}", f.name), &text)?);
        }
    }
    for sub in &chart.dependencies {
        crd_files(sub, Some(&full), out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::split_documents;
    use proptest::prelude::*;

    /// Go's regexp (leftmost-first, as Rust's) with Go's `\s`: what Helm splits with.
    fn by_regex(text: &str) -> Vec<&str> {
        let sep = regex::Regex::new(r"(?:^|[\t\n\x0c\r ]*\n)---[\t\n\x0c\r ]*").unwrap();
        sep.split(text.trim()).collect()
    }

    #[test]
    fn documents_split_as_helm_splits_them() {
        for text in [
            "",
            "---",
            "a: 1\n---\nb: 2\n",
            "---\na\n---\n---\nb",
            "a\n  \n---  x\n----\nb---\nc",
            "a \t\n\n--- \n\n---\nz",
            "x\u{a0}\n---\ny",
        ] {
            assert_eq!(split_documents(text), by_regex(text), "{text:?}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]
        #[test]
        fn documents_split_as_the_regex_does(parts in proptest::collection::vec(
            proptest::sample::select(&["-", "---", "\n", " ", "\t", "\r", "a", "b:", "\u{a0}", "\x0b"][..]), 0..24)) {
            let text = parts.concat();
            prop_assert_eq!(split_documents(&text), by_regex(&text));
        }
    }
}
