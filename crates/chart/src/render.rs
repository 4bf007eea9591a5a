//! Executing a chart's templates as Helm's engine does: one template set for the chart and all
//! its subcharts (named `chart/templates/x.yaml`, `chart/charts/sub/templates/y.yaml`), parsed
//! deepest first so a parent's `define`s win, `missingkey=zero`, and each chart's templates
//! sharing one data map (`.Values` scoped to the chart, `.Chart`, `.Release`, `.Capabilities`,
//! `.Files`, `.Subcharts`, `.Template`).

use crate::objects::{default_api_versions, Capabilities, Files, KubeVersion};
use crate::{Chart, Options};
use berth_manifest::{Error, ErrorKind};
use berth_template::{MissingKey, Templates, Value};
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::rc::Rc;

/// One rendered template: its name in the set and its output.
pub(crate) struct RenderedFile {
    pub name: String,
    pub text: String,
}

/// A template to render with the data of its chart.
struct Renderable<'c> {
    name: String,
    text: std::borrow::Cow<'c, str>,
    data: Value,
    base_path: String,
    /// The file on disk, for errors.
    shown: String,
}

pub(crate) fn render(
    chart: &Chart,
    top: &Json,
    opts: &Options,
    kube: KubeVersion,
) -> Result<Vec<RenderedFile>, Error> {
    let mut api = match &opts.cluster_api_versions {
        Some(cluster) => cluster.clone(),
        None => default_api_versions(),
    };
    api.extend(opts.chart.api_versions.iter().cloned());
    let caps = Value::Object(Rc::new(Capabilities {
        api_versions: Rc::new(api),
        kube,
    }));
    let release = release(opts);
    let values = Value::from_json(top);
    let mut all = Vec::new();
    collect(chart, None, values, &release, &caps, &mut all);
    all.sort_by(|a, b| by_path_len(&b.name, &a.name));
    let shown: BTreeMap<String, String> = all
        .iter()
        .map(|r| (r.name.clone(), r.shown.clone()))
        .collect();
    let mut set = Templates::new();
    set.set_missing_key(MissingKey::Zero);
    if let Some(l) = &opts.lookup {
        set.set_lookup(l.0.clone());
    }
    let sources: Vec<(&str, &str)> = all
        .iter()
        .map(|r| (r.name.as_str(), r.text.as_ref()))
        .collect();
    set.parse_all(&sources)
        .map_err(|e| template_error(e, &shown, &all))?;
    // Every template on one stack segment (see `berth_template::on_own_stack`).
    let out = berth_template::on_own_stack(|| execute_all(&set, &all, &shown))?;
    set.drop_in_background();
    Ok(out)
}

/// Executes every template that is not a partial, in order.
fn execute_all(
    set: &Templates,
    all: &[Renderable<'_>],
    shown: &BTreeMap<String, String>,
) -> Result<Vec<RenderedFile>, Error> {
    let mut out = Vec::new();
    for r in all {
        let base = r.name.rsplit('/').next().unwrap_or(&r.name);
        if base.starts_with('_') {
            continue;
        }
        if let Value::Map(m) = &r.data {
            let mut t = BTreeMap::new();
            t.insert("Name".to_string(), Value::from(r.name.as_str()));
            t.insert("BasePath".to_string(), Value::from(r.base_path.as_str()));
            m.borrow_mut().insert("Template".to_string(), Value::map(t));
        }
        let text = set
            .execute(&r.name, &r.data)
            .map_err(|e| template_error(e, shown, all))?;
        out.push(RenderedFile {
            name: r.name.clone(),
            text: text.replace("<no value>", ""),
        });
    }
    Ok(out)
}

fn release(opts: &Options) -> Value {
    let mut m = BTreeMap::new();
    m.insert("Name".to_string(), Value::from(opts.release.as_str()));
    m.insert(
        "Namespace".to_string(),
        Value::from(opts.namespace.as_str()),
    );
    m.insert("Revision".to_string(), Value::Int(opts.revision.max(1)));
    m.insert("Service".to_string(), Value::from("Helm"));
    m.insert("IsUpgrade".to_string(), Value::Bool(opts.is_upgrade));
    m.insert("IsInstall".to_string(), Value::Bool(!opts.is_upgrade));
    Value::map(m)
}

/// Adds the chart's templates and its subcharts' (Helm's `recAllTpls`); returns the chart's data.
fn collect<'c>(
    chart: &'c Chart,
    parent_path: Option<&str>,
    values: Value,
    release: &Value,
    caps: &Value,
    all: &mut Vec<Renderable<'c>>,
) -> Value {
    let full = match parent_path {
        None => chart.name().to_string(),
        Some(p) => format!("{p}/charts/{}", chart.name()),
    };
    let subcharts = Value::map(BTreeMap::new());
    let mut next = BTreeMap::new();
    next.insert(
        "Chart".to_string(),
        chart.metadata.to_value(parent_path.is_none()),
    );
    next.insert(
        "Files".to_string(),
        Value::Object(Rc::new(Files(Rc::new(chart.files.clone())))),
    );
    next.insert("Release".to_string(), release.clone());
    next.insert("Capabilities".to_string(), caps.clone());
    next.insert("Values".to_string(), values.clone());
    next.insert("Subcharts".to_string(), subcharts.clone());
    let data = Value::map(next);
    for sub in &chart.dependencies {
        let sub_values = match &values {
            Value::Map(m) => match m.borrow().get(sub.name()) {
                Some(v @ Value::Map(_)) => v.clone(),
                _ => Value::map(BTreeMap::new()),
            },
            _ => Value::map(BTreeMap::new()),
        };
        let sub_data = collect(sub, Some(&full), sub_values, release, caps, all);
        if let Value::Map(m) = &subcharts {
            m.borrow_mut().insert(sub.name().to_string(), sub_data);
        }
    }
    for t in &chart.templates {
        let base = t.name.rsplit('/').next().unwrap_or(&t.name);
        if chart.is_library() && !base.starts_with('_') {
            continue;
        }
        all.push(Renderable {
            name: format!("{full}/{}", t.name),
            text: String::from_utf8_lossy(&t.data),
            data: data.clone(),
            base_path: format!("{full}/templates"),
            shown: format!("{}/{}", chart.source, t.name),
        });
    }
    data
}

/// Helm's `byPathLen`: fewer path separators first, then by name.
fn by_path_len(a: &str, b: &str) -> std::cmp::Ordering {
    let (ca, cb) = (a.matches('/').count(), b.matches('/').count());
    ca.cmp(&cb).then_with(|| a.cmp(b))
}

/// A template error, pointing at the file on disk.
fn template_error(
    e: berth_template::Error,
    shown: &BTreeMap<String, String>,
    all: &[Renderable],
) -> Error {
    let kind = match e.kind {
        berth_template::ErrorKind::Parse => ErrorKind::TemplateParse,
        berth_template::ErrorKind::Exec => ErrorKind::TemplateExec,
    };
    let file = shown
        .get(&e.file)
        .cloned()
        .unwrap_or_else(|| e.file.clone());
    let text = all
        .iter()
        .find(|r| r.name == e.file)
        .map(|r| r.text.as_ref());
    let line = text.and_then(|t| t.lines().nth(e.line.saturating_sub(1)));
    let mut err = Error::new(kind, e.to_string())
        .at(&file, e.line, e.col)
        .snippet(line);
    for frame in e.call_trace() {
        err = err.note(match frame {
            berth_template::CallFrame::At(f, l, c) => {
                let f = shown.get(f).map_or(f, String::as_str);
                format!("called from {f}:{l}:{c}")
            }
            berth_template::CallFrame::Elided(n) => format!("... {n} more calls"),
        });
    }
    if let Some(h) = &e.hint {
        err = err.hint(h.clone());
    }
    err
}
