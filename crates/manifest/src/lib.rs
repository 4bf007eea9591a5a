//! The deploy folder: one directory of Go-templated Kubernetes manifests plus variables files.
//!
//! [`DeployFolder::render_dir`] reads it and turns it into validated [`Object`]s in apply
//! order ([`DeployFolder::render_dir_text`] when only their text is needed). Usable as a library, as kube-appdeploy was.
//!
//! ```text
//! deploy/
//!   variables.yaml          shared variables
//!   variables.<env>.yaml    per environment, merged over variables.yaml
//!   *.yaml, *.yml           templates of Kubernetes manifests (multi-document)
//!   *.tpl                   helper templates: `define`s only, never rendered themselves
//! ```

mod error;
#[cfg(test)]
mod fastyaml_tests;
mod read;
mod variables;

use berth_template::fastyaml;
pub use berth_template::fastyaml::{head_fields, parse as parse_yaml_fast, HeadFields};
pub use error::{Error, ErrorKind, Location};
pub use read::{Budget, ReadError, MAX_FOLDER_BYTES};
pub use variables::{
    first_line, full_parse as parse_yaml_full, json_type, parse_set, yaml_context, yaml_error,
    yaml_position,
};

use berth_core::{ApplyPhase, GroupKind, ObjectRef};
use berth_template::{Templates, Value};
use serde_json::{Map, Value as Json};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// One template file of the folder.
#[derive(Clone, Debug)]
pub struct TemplateFile {
    /// File name inside the folder (`web.yaml`).
    pub name: String,
    pub text: String,
    /// Helper templates (`*.tpl`) provide `define`s and render nothing.
    pub helper: bool,
}

/// A loaded deploy folder.
#[derive(Clone, Debug)]
pub struct DeployFolder {
    /// The folder as the user named it, used in messages.
    pub dir: PathBuf,
    pub templates: Vec<TemplateFile>,
}

/// How to render: the flags of `berth render`.
#[derive(Clone, Debug, Default)]
pub struct RenderOptions {
    /// `-e`: selects `variables.<env>.yaml` and sets `.Environment`.
    pub environment: Option<String>,
    /// `-n`: sets `.Namespace` (else `.Variables.namespace`, else `default`).
    pub namespace: Option<String>,
    /// `-f`: extra variables files, in order.
    pub value_files: Vec<PathBuf>,
    /// `-v`: `KEY=VALUE` overrides, in order.
    pub set: Vec<String>,
    /// Which containers run in source mode: deployment -> container -> mode.
    pub modes: Map<String, Json>,
}

/// Where a rendered object came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// Template file name.
    pub file: String,
    /// Line in the template where the document starts.
    pub line: usize,
}

/// A rendered Kubernetes object.
#[derive(Clone, Debug)]
pub struct Object<B = Json> {
    pub origin: Origin,
    pub api_version: String,
    pub oref: ObjectRef,
    /// The object as written (keys in document order), or `()` from the render that keeps only
    /// text ([`DeployFolder::render_dir_text`]).
    pub body: B,
    /// The document's rendered YAML text.
    pub text: String,
}

/// What a render keeps of each object besides its text and identity: the parsed document
/// (a JSON value), or nothing (`()`) for a caller that only prints objects, which lets the
/// render check each document without building it.
pub trait Body: Sized + Send {
    /// The body of an object whose document was checked but not kept; `None` when bodies are
    /// kept (then documents are built).
    fn not_kept() -> Option<Self>;
    fn from_json(body: Json) -> Self;
}

impl Body for Json {
    fn not_kept() -> Option<Self> {
        None
    }

    fn from_json(body: Json) -> Self {
        body
    }
}

impl Body for () {
    fn not_kept() -> Option<Self> {
        Some(())
    }

    fn from_json(_: Json) -> Self {}
}

/// The result of rendering a folder.
#[derive(Clone, Debug)]
pub struct Rendered<B = Json> {
    /// In apply order.
    pub objects: Vec<Object<B>>,
    /// The merged variables the templates saw.
    pub variables: Map<String, Json>,
    pub namespace: String,
}

const CLUSTER_SCOPED: &[&str] = &[
    "Namespace",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
    "PersistentVolume",
    "StorageClass",
    "PriorityClass",
    "IngressClass",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
    "APIService",
    "CSIDriver",
    "RuntimeClass",
    "Node",
];

impl DeployFolder {
    /// Reads the templates of `dir` (not recursive), sorted by name.
    pub fn load(dir: impl AsRef<Path>) -> Result<DeployFolder, Error> {
        let dir = dir.as_ref().to_path_buf();
        let shown = dir.display().to_string();
        let entries = std::fs::read_dir(&dir).map_err(|e| {
            Error::new(ErrorKind::Io, format!("cannot read deploy folder: {e}"))
                .at(&shown, 0, 0)
                .hint("pass the folder that holds your templates and variables.yaml")
        })?;
        let mut templates = Vec::new();
        let mut budget = Budget::default();
        for entry in entries {
            let entry = entry.map_err(|e| {
                Error::new(ErrorKind::Io, format!("cannot list deploy folder: {e}"))
                    .at(&shown, 0, 0)
            })?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if !path.is_file() || name.starts_with('.') {
                continue;
            }
            let is_yaml = name.ends_with(".yaml") || name.ends_with(".yml");
            let helper = name.ends_with(".tpl");
            if !(is_yaml || helper) || is_variables_file(&name) {
                continue;
            }
            let text = budget.read_text(&path).map_err(|e| {
                let hint = match e {
                    ReadError::OverBudget => "keep large files out of the deploy folder",
                    _ => "a template is a YAML file",
                };
                Error::new(ErrorKind::Io, format!("cannot read template: {e}"))
                    .at(&path.display().to_string(), 0, 0)
                    .hint(hint)
            })?;
            templates.push(TemplateFile { name, text, helper });
        }
        templates.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(DeployFolder { dir, templates })
    }

    fn display(&self, file: &str) -> String {
        self.dir.join(file).display().to_string()
    }

    fn line_of(&self, file: &str, line: usize) -> Option<&str> {
        let t = self.templates.iter().find(|t| t.name == file)?;
        t.text.lines().nth(line.checked_sub(1)?)
    }

    /// Loads the folder at `dir` and renders every template, loading the variables while the
    /// templates are read; the validated objects in apply order.
    pub fn render_dir(dir: &Path, opts: &RenderOptions) -> Result<Rendered, Error> {
        Self::load_rendering(dir, opts)
    }

    /// Renders as [`DeployFolder::render_dir`] does, with the same checks and errors, but keeps
    /// only each object's text and identity: what printing needs, and each document is then
    /// checked without being built.
    pub fn render_dir_text(dir: &Path, opts: &RenderOptions) -> Result<Rendered<()>, Error> {
        Self::load_rendering(dir, opts)
    }

    fn load_rendering<B: Body>(dir: &Path, opts: &RenderOptions) -> Result<Rendered<B>, Error> {
        let files = variable_files(dir, opts);
        // A thread's start costs about as much as reading 100 KiB of variables.
        let bytes: u64 = files
            .iter()
            .filter_map(|(p, _)| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum();
        if bytes < 128 * 1024 {
            let folder = DeployFolder::load(dir)?;
            return folder.render_with(opts, || load_variables(files, opts));
        }
        std::thread::scope(|s| {
            let loading = s.spawn(|| load_variables(files, opts));
            let folder = DeployFolder::load(dir)?;
            folder.render_with(opts, || loading.join().expect("variables loader"))
        })
    }

    /// Renders with the variables `variables` gives, once the templates are parsed (they do
    /// not depend on variables, so the caller loads those meanwhile).
    fn render_with<B: Body>(
        &self,
        opts: &RenderOptions,
        variables: impl FnOnce() -> Result<Map<String, Json>, Error>,
    ) -> Result<Rendered<B>, Error> {
        let sources: Vec<(&str, &str)> = self
            .templates
            .iter()
            .map(|t| (t.name.as_str(), t.text.as_str()))
            .collect();
        let mut set = Templates::new();
        let parsed = set.parse_all(&sources);
        let vars = variables()?;
        parsed.map_err(|e| self.template_error(e))?;
        let namespace = opts
            .namespace
            .clone()
            .or_else(|| {
                vars.get("namespace")
                    .and_then(Json::as_str)
                    .map(str::to_string)
            })
            .unwrap_or_else(|| "default".to_string());
        // Template data is single-threaded (maps are shared by reference, as in Go), so each
        // rendering thread builds its own copy from the variables.
        let modes = Json::Object(opts.modes.clone());
        let environment = opts.environment.clone().unwrap_or_default();
        let make_data = || {
            let vars_value = Value::from_json_map(&vars);
            let mut root = std::collections::BTreeMap::new();
            root.insert("Variables".to_string(), vars_value.clone());
            root.insert("Values".to_string(), vars_value);
            root.insert("Namespace".to_string(), Value::from(namespace.as_str()));
            root.insert("Environment".to_string(), Value::from(environment.as_str()));
            root.insert("Modes".to_string(), Value::from_json(&modes));
            Value::map(root)
        };
        let render_file = |i: usize, data: &Value| -> FileObjects<B> {
            let t = &self.templates[i];
            let (out, map) = set
                .execute_mapped(&t.name, data)
                .map_err(|e| self.template_error(e))?;
            split_documents(&out)
                .iter()
                .filter_map(|doc| self.to_object(t, &out, doc, &map, &namespace).transpose())
                .collect()
        };
        let mut per_file = self.render_files(&set, &render_file, make_data);
        per_file.sort_by_key(|(i, _)| *i);
        let mut objects = Vec::new();
        for (_, result) in per_file {
            objects.extend(result?);
        }
        self.check_unique(&objects)?;
        sort_for_apply(&mut objects);
        set.drop_in_background();
        Ok(Rendered {
            objects,
            variables: vars,
            namespace,
        })
    }

    /// Renders every non-helper file, on every core unless a template changes shared data in
    /// place (Sprig's set, unset, merge): then in order on one thread, as Go would see it. Each
    /// thread stops at its first error; the caller reports the first in file order.
    fn render_files<B: Body>(
        &self,
        set: &Templates,
        render_file: &RenderFile<'_, B>,
        make_data: impl Fn() -> Value + Sync,
    ) -> Vec<(usize, FileObjects<B>)> {
        let renderable: Vec<usize> = (0..self.templates.len())
            .filter(|&i| !self.templates[i].helper)
            .collect();
        let bytes: usize = renderable
            .iter()
            .map(|&i| self.templates[i].text.len())
            .sum();
        let threads = if set.calls_any(&["set", "unset", "merge"]) {
            1
        } else {
            berth_template::threads_for(bytes, renderable.len())
        };
        // Each thread renders its share on one stack segment (see `on_own_stack`).
        let render_share = |k: usize| {
            berth_template::on_own_stack(|| {
                let data = make_data();
                let mut done = Vec::new();
                for i in renderable.iter().copied().skip(k).step_by(threads) {
                    let result = render_file(i, &data);
                    let failed = result.is_err();
                    done.push((i, result));
                    if failed {
                        break;
                    }
                }
                done
            })
        };
        std::thread::scope(|s| {
            // Other cores take their shares; this thread renders the first meanwhile.
            let handles: Vec<_> = (1..threads)
                .map(|k| s.spawn(move || render_share(k)))
                .collect();
            let mut all = render_share(0);
            for h in handles {
                all.extend(h.join().expect("render thread"));
            }
            all
        })
    }

    /// Refuses an object defined twice, naming both places.
    fn check_unique<B>(&self, objects: &[Object<B>]) -> Result<(), Error> {
        if let Some((obj, first)) = first_duplicate(objects) {
            return Err(Error::new(
                ErrorKind::Duplicate,
                format!("{} is defined twice", obj.oref),
            )
            .at(&self.display(&obj.origin.file), obj.origin.line, 0)
            .snippet(self.line_of(&obj.origin.file, obj.origin.line))
            .note(format!(
                "first defined at {}:{}",
                self.display(&first.file),
                first.line
            ))
            .hint("remove one of them, or give them different names or namespaces"));
        }
        Ok(())
    }

    fn template_error(&self, e: berth_template::Error) -> Error {
        let kind = match e.kind {
            berth_template::ErrorKind::Parse => ErrorKind::TemplateParse,
            berth_template::ErrorKind::Exec => ErrorKind::TemplateExec,
        };
        let mut err = Error::new(kind, e.to_string())
            .at(&self.display(&e.file), e.line, e.col)
            .snippet(self.line_of(&e.file, e.line));
        for frame in e.call_trace() {
            err = err.note(match frame {
                berth_template::CallFrame::At(file, line, col) => {
                    format!("called from {}:{line}:{col}", self.display(file))
                }
                berth_template::CallFrame::Elided(n) => format!("... {n} more calls"),
            });
        }
        let hint = e.hint.clone().or_else(|| match kind {
            ErrorKind::TemplateParse => Some(
                "see the Go text/template syntax: actions are {{ ... }}, blocks end with {{ end }}"
                    .into(),
            ),
            _ if e.message.starts_with("map has no entry") => {
                Some("define it in variables.yaml, or pass it with -v NAME=VALUE".into())
            }
            _ => None,
        });
        if let Some(h) = hint {
            let h = if e.message.starts_with("map has no entry") && h.starts_with("did you mean") {
                format!("{h} Or define it in variables.yaml, or pass -v NAME=VALUE")
            } else {
                h
            };
            err = err.hint(h);
        }
        err
    }

    fn locate(&self, map: &berth_template::SourceMap, offset: usize) -> (String, usize, usize) {
        match map.locate(offset) {
            Some((f, l, c)) => (f.to_string(), l, c),
            None => (String::new(), 0, 0),
        }
    }

    /// A document of the rendered output that is not YAML: where in the template, the rendered
    /// line, and how to fix it.
    fn yaml_error(
        &self,
        t: &TemplateFile,
        out: &str,
        doc: &DocSpan,
        map: &berth_template::SourceMap,
        e: &serde_saphyr::Error,
    ) -> Error {
        let doc_text = &out[line_offset(out, doc.first_line).min(out.len())..];
        let (line, col) = variables::yaml_position(doc_text, e).unwrap_or((1, 1));
        let rendered_line = doc.first_line + line.saturating_sub(1);
        let off = line_offset(out, rendered_line) + col.saturating_sub(1);
        let (file, tl, _) = self.locate(map, off.min(out.len().saturating_sub(1)));
        let file = if file.is_empty() {
            t.name.clone()
        } else {
            file
        };
        let rendered_text = out.lines().nth(rendered_line - 1).unwrap_or("");
        Error::new(
            ErrorKind::Yaml,
            format!("invalid YAML in the output of {}: {}", t.name, variables::first_line(&e.to_string())),
        )
        .at(&self.display(&file), tl, 0)
        .snippet(self.line_of(&file, tl))
        .note(format!("rendered line {rendered_line}: {rendered_text}"))
        .hint("check indentation around this line; `berth render` shows the rendered text with -o yaml once it parses, and `nindent`/`toYaml` help build nested YAML")
    }

    fn to_object<B: Body>(
        &self,
        t: &TemplateFile,
        out: &str,
        doc: &DocSpan,
        map: &berth_template::SourceMap,
        namespace: &str,
    ) -> Result<Option<Object<B>>, Error> {
        let text = &out[doc.start..doc.end];
        let origin = || {
            let (file, line, _) = self.locate(map, doc.content_start);
            let file = if file.is_empty() {
                t.name.clone()
            } else {
                file
            };
            Origin { file, line }
        };
        if let Some(body) = B::not_kept() {
            // Checked without building; what the fast reader leaves goes the full way below,
            // which also says what is wrong.
            match fastyaml::head(text) {
                Some(fastyaml::Read::Empty) => return Ok(None),
                Some(fastyaml::Read::Object(h)) => {
                    let (api_version, oref) = identify(
                        h.api_version,
                        &h.kind,
                        h.name,
                        h.namespace.as_deref(),
                        namespace,
                    );
                    return Ok(Some(Object {
                        origin: origin(),
                        api_version,
                        oref,
                        body,
                        text: text.trim_matches('\n').to_string(),
                    }));
                }
                None => {}
            }
        }
        let parsed =
            variables::parse_yaml(text).map_err(|e| self.yaml_error(t, out, doc, map, &e))?;
        if parsed.is_null() {
            return Ok(None);
        }
        let origin = origin();
        let (file, line) = (origin.file.clone(), origin.line);
        let obj_err = |msg: String, hint: &str| {
            Error::new(ErrorKind::Object, msg)
                .at(&self.display(&file), line, 0)
                .snippet(self.line_of(&file, line))
                .note(format!(
                    "document {} of the output of {}",
                    doc.index + 1,
                    t.name
                ))
                .hint(hint.to_string())
        };
        build_object(
            parsed,
            origin,
            text.trim_matches('\n').to_string(),
            namespace,
            &obj_err,
        )
    }
}

/// The object a parsed document describes: a map with `apiVersion`, `kind` and
/// `metadata.name`; a namespaced kind without a namespace gets `namespace`.
fn build_object<B: Body>(
    parsed: Json,
    origin: Origin,
    text: String,
    namespace: &str,
    obj_err: &dyn Fn(String, &str) -> Error,
) -> Result<Option<Object<B>>, Error> {
    let Json::Object(m) = &parsed else {
        return Err(obj_err(
            format!("a document must be a Kubernetes object (a map), found {}", variables::json_type(&parsed)),
            "each document between `---` lines must be one object with apiVersion, kind and metadata",
        ));
    };
    let api_version = required(m, "apiVersion", obj_err, "`apiVersion: apps/v1`")?;
    let kind = required(m, "kind", obj_err, "`kind: Deployment`")?;
    let Some(Json::Object(meta)) = m.get("metadata") else {
        return Err(obj_err(
            format!("{kind} has no metadata"),
            "add `metadata:` with a `name:`",
        ));
    };
    let name = match meta.get("name") {
        Some(Json::String(s)) if !s.is_empty() => s.clone(),
        _ => {
            return Err(obj_err(
                format!("{kind} has no metadata.name"),
                "give every object a `metadata.name`",
            ))
        }
    };
    let own_namespace = meta.get("namespace").and_then(Json::as_str);
    let (api_version, oref) = identify(api_version, &kind, name, own_namespace, namespace);
    Ok(Some(Object {
        origin,
        api_version,
        oref,
        body: B::from_json(parsed),
        text,
    }))
}

/// The identity of an object from its head: a namespaced kind without a namespace of its
/// own gets `namespace`.
fn identify(
    api_version: String,
    kind: &str,
    name: String,
    own_namespace: Option<&str>,
    namespace: &str,
) -> (String, ObjectRef) {
    let gk = GroupKind::from_api_version(&api_version, kind);
    let ns = if CLUSTER_SCOPED.contains(&kind) {
        None
    } else {
        Some(own_namespace.unwrap_or(namespace).to_string())
    };
    let oref = ObjectRef {
        group_kind: gk,
        namespace: ns,
        name,
    };
    (api_version, oref)
}

/// One document rendered elsewhere (a Helm chart's output): where it came from, its text and
/// its parsed body.
pub struct Document {
    pub file: String,
    pub text: String,
    pub body: Json,
}

/// Objects from documents rendered elsewhere, validated as a deploy folder's are (a Kubernetes
/// object each, no object twice), namespaced ones put in `namespace` unless they name theirs,
/// in apply order.
pub fn objects_from_documents(docs: Vec<Document>, namespace: &str) -> Result<Vec<Object>, Error> {
    let mut objects = Vec::with_capacity(docs.len());
    for (i, d) in docs.into_iter().enumerate() {
        let origin = Origin {
            file: d.file.clone(),
            line: 1,
        };
        let obj_err = |msg: String, hint: &str| {
            Error::new(ErrorKind::Object, msg)
                .at(&d.file, 0, 0)
                .note(format!("document {} of the output", i + 1))
                .hint(hint.to_string())
        };
        if let Some(o) = build_object(d.body, origin, d.text, namespace, &obj_err)? {
            objects.push(o);
        }
    }
    if let Some((o, first)) = first_duplicate(&objects) {
        return Err(
            Error::new(ErrorKind::Duplicate, format!("{} is defined twice", o.oref))
                .at(&o.origin.file, 0, 0)
                .note(format!("first defined in {}", first.file))
                .hint("remove one of them, or give them different names or namespaces"),
        );
    }
    sort_for_apply(&mut objects);
    Ok(objects)
}

/// Merges the variables of the folder at `dir` in precedence order: `variables.yaml`,
/// `variables.<env>.yaml`, each `-f`, each `-v`.
/// The variables files that apply, in the order they merge: each path and how to show it.
fn variable_files(dir: &Path, opts: &RenderOptions) -> Vec<(PathBuf, String)> {
    let display = |name: &str| dir.join(name).display().to_string();
    let mut files: Vec<(PathBuf, String)> = Vec::new();
    let base = dir.join("variables.yaml");
    if base.exists() {
        files.push((base, display("variables.yaml")));
    }
    if let Some(env) = &opts.environment {
        let name = format!("variables.{env}.yaml");
        let p = dir.join(&name);
        if p.exists() {
            files.push((p, display(&name)));
        }
    }
    for f in &opts.value_files {
        files.push((f.clone(), f.display().to_string()));
    }
    files
}

/// `files` merged in order, then `--set` over them.
fn load_variables(
    files: Vec<(PathBuf, String)>,
    opts: &RenderOptions,
) -> Result<Map<String, Json>, Error> {
    let mut vars = Map::new();
    for (path, shown) in files {
        let m = variables::load_file(&path, &shown)?;
        variables::merge(&mut vars, m);
    }
    for (i, arg) in opts.set.iter().enumerate() {
        let (path, v) = parse_set(arg, i)?;
        variables::set_path(&mut vars, &path, v);
    }
    Ok(vars)
}

/// The first object whose identity an earlier one has, and where that earlier one came from.
fn first_duplicate<B>(objects: &[Object<B>]) -> Option<(&Object<B>, &Origin)> {
    let mut seen: HashMap<&ObjectRef, &Origin, foldhash::fast::RandomState> =
        HashMap::with_capacity_and_hasher(objects.len(), Default::default());
    objects
        .iter()
        .find_map(|o| seen.insert(&o.oref, &o.origin).map(|first| (o, first)))
}

/// Puts objects in apply order, keeping their order within each place.
fn sort_for_apply<B>(objects: &mut [Object<B>]) {
    objects.sort_by_cached_key(|o| {
        let gk = &o.oref.group_kind;
        (ApplyPhase::of(gk), ApplyPhase::rank(gk))
    });
}

/// The objects of one rendered file, or its first error.
type FileObjects<B> = Result<Vec<Object<B>>, Error>;

/// Renders template file `i` with the data given into its objects.
type RenderFile<'a, B> = dyn Fn(usize, &Value) -> FileObjects<B> + Sync + 'a;

/// A required non-empty string field of an object (`apiVersion`, `kind`), or the error saying so.
fn required(
    m: &serde_json::Map<String, Json>,
    key: &str,
    obj_err: &dyn Fn(String, &str) -> Error,
    example: &str,
) -> Result<String, Error> {
    match m.get(key) {
        Some(Json::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(_) => Err(obj_err(
            format!("{key} must be a non-empty string"),
            &format!("for example {example}"),
        )),
        None => Err(obj_err(
            format!("object has no {key}"),
            &format!("add {example}"),
        )),
    }
}

fn is_variables_file(name: &str) -> bool {
    name == "variables.yaml"
        || name == "variables.yml"
        || (name.starts_with("variables.") && (name.ends_with(".yaml") || name.ends_with(".yml")))
}

fn line_offset(text: &str, line: usize) -> usize {
    if line <= 1 {
        return 0;
    }
    text.match_indices('\n')
        .nth(line - 2)
        .map(|(i, _)| i + 1)
        .unwrap_or(text.len())
}

/// One YAML document of a rendered file.
#[derive(Debug)]
struct DocSpan {
    index: usize,
    start: usize,
    end: usize,
    /// Offset of the first line that is not blank or a comment.
    content_start: usize,
    /// 1-based line of `start` in the rendered output.
    first_line: usize,
}

/// Splits rendered text at `---` separator lines.
fn split_documents(out: &str) -> Vec<DocSpan> {
    let mut docs = Vec::new();
    let mut start = 0;
    let mut first_line = 1;
    // Line starts, with their 1-based numbers; only those that begin `---` are looked at.
    let breaks = memchr::memchr_iter(b'\n', out.as_bytes()).map(|i| i + 1);
    let starts = std::iter::once(0).chain(breaks.filter(|&s| s < out.len()));
    for (line_no, off) in (1..).zip(starts) {
        if !out[off..].starts_with("---") {
            continue;
        }
        let end = memchr::memchr(b'\n', &out.as_bytes()[off..]).map_or(out.len(), |i| off + i + 1);
        let t = out[off..end].trim_end();
        if t == "---" || t.starts_with("--- ") || t.starts_with("---\t") {
            docs.push((start, off, first_line));
            start = end;
            first_line = line_no + 1;
        }
    }
    docs.push((start, out.len(), first_line));
    let mut result = Vec::new();
    for (start, end, first_line) in docs {
        let text = &out[start..end];
        let mut content_start = None;
        let mut o = start;
        for l in text.split_inclusive('\n') {
            let t = l.trim();
            if !t.is_empty() && !t.starts_with('#') {
                content_start = Some(o + (l.len() - l.trim_start().len()));
                break;
            }
            o += l.len();
        }
        let Some(content_start) = content_start else {
            continue;
        };
        result.push(DocSpan {
            index: result.len(),
            start,
            end,
            content_start,
            first_line,
        });
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_skips_empty_documents() {
        let docs = split_documents("---\n# only a comment\n---\na: 1\n---\n\n---\nb: 2\n");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].first_line, 4);
        assert_eq!(docs[1].first_line, 8);
    }

    /// A folder of one template, `t.yaml`.
    fn folder_of(text: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("t.yaml"), text).unwrap();
        dir
    }

    type Seen = Vec<(Origin, String, ObjectRef, String)>;

    fn seen<B>(r: &Rendered<B>) -> Seen {
        r.objects
            .iter()
            .map(|o| {
                (
                    o.origin.clone(),
                    o.api_version.clone(),
                    o.oref.clone(),
                    o.text.clone(),
                )
            })
            .collect()
    }

    /// Reading only heads gives the same objects, and the same errors, as building bodies.
    #[test]
    fn render_text_agrees_with_render() {
        let opts = RenderOptions::default();
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/ticketing");
        let (full, text) = (
            DeployFolder::render_dir(&example, &opts).unwrap(),
            DeployFolder::render_dir_text(&example, &opts).unwrap(),
        );
        assert!(full.objects.len() > 10);
        assert_eq!(seen(&full), seen(&text));
        let docs = [
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: flow, namespace: other}\n",
            "\"apiVersion\": v1\n'kind': Secret\nmetadata:\n  \"name\": \"q\\u0041\"\n",
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: c\n  namespace: ignored\n",
            "apiVersion: v1\nkind: Service\nmetadata: &m\n  name: anchored\nspec:\n  x: *m\n",
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: ns-null\n  namespace:\n",
            "~\n",
            "# only a comment\n",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\n  labels: {a: b}\nspec:\n  template:\n    metadata:\n      name: not-this\n      namespace: nor-this\n",
        ];
        let dir = folder_of(&docs.join("---\n"));
        let (full, text) = (
            DeployFolder::render_dir(dir.path(), &opts).unwrap(),
            DeployFolder::render_dir_text(dir.path(), &opts).unwrap(),
        );
        assert_eq!(full.objects.len(), 6);
        assert_eq!(seen(&full), seen(&text));
        let broken = [
            "apiVersion: v1\nkind: ConfigMap\n",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: \"\"\n",
            "apiVersion: 1\nkind: ConfigMap\nmetadata:\n  name: x\n",
            "- a\n- b\n",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  name: y\n",
            "apiVersion: v1\nkind: [ConfigMap\nmetadata:\n  name: x\n",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
        ];
        for doc in broken {
            let dir = folder_of(doc);
            let full = DeployFolder::render_dir(dir.path(), &opts).map(|_| ());
            let text = DeployFolder::render_dir_text(dir.path(), &opts).map(|_| ());
            let (full, text) = (full.unwrap_err().to_string(), text.unwrap_err().to_string());
            assert_eq!(full, text, "{doc}");
        }
    }

    /// A template that changes shared data (Sprig's `set`) makes the folder render in file
    /// order on one thread, as Go would: later files see the change.
    #[test]
    fn shared_data_changes_are_seen_in_file_order() {
        let dir = tempfile::tempdir().unwrap();
        // Five files of a quarter of LARGE_INPUT each: a folder large enough for threads.
        let padding = "# padding\n".repeat(berth_template::LARGE_INPUT / 40);
        let a = "{{- $_ := set .Variables \"seen\" \"from-a\" }}\n";
        let b = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Variables.seen }}\n";
        std::fs::write(dir.path().join("a.yaml"), format!("{padding}{a}")).unwrap();
        for i in 0..4 {
            let file = format!("b{i}.yaml");
            let b = b.replace("}}", &format!("}}}}-{i}"));
            std::fs::write(dir.path().join(file), format!("{padding}{b}")).unwrap();
        }
        std::fs::write(dir.path().join("variables.yaml"), "seen: initial\n").unwrap();
        let r = DeployFolder::render_dir_text(dir.path(), &RenderOptions::default()).unwrap();
        let names: Vec<&str> = r.objects.iter().map(|o| o.oref.name.as_str()).collect();
        assert_eq!(names, ["from-a-0", "from-a-1", "from-a-2", "from-a-3"]);
    }

    #[test]
    fn set_parses_both_forms_and_types() {
        assert_eq!(
            parse_set("a.b=3", 0).unwrap(),
            (vec!["a".into(), "b".into()], Json::from(3))
        );
        assert_eq!(
            parse_set("tag:4f2a", 0).unwrap(),
            (vec!["tag".into()], Json::from("4f2a"))
        );
        assert_eq!(
            parse_set("img=reg/x:1", 0).unwrap(),
            (vec!["img".into()], Json::from("reg/x:1"))
        );
        assert_eq!(parse_set("z=007", 0).unwrap().1, Json::from("007"));
        assert!(parse_set("novalue", 0).is_err());
        assert!(parse_set("a..b=1", 0).is_err());
    }
}
