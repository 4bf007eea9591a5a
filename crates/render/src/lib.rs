//! One render request: what to render (a deploy folder or a Helm chart, with its variables or
//! values), as which release and in which namespace, and for which target (this machine, or a
//! cluster whose version, API versions and live objects a chart sees), with one function that
//! renders it. The CLI builds a request from its flags; `berth up`'s session and the cluster
//! dashboard and sync hold one and render it again with the source modes of the moment.

pub mod diff;
pub mod git;
pub mod output;

pub use berth_chart::{ChartOptions, LookupSource};
use berth_core::view::{modes_json, ChartView, Modes};
use berth_manifest::{DeployFolder, Document, Error, RenderOptions, Rendered};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The annotation that marks a CRD read from a chart's `crds/` folder: created when missing,
/// never updated or deleted (Helm's rule).
pub const CRDS_FOLDER: &str = "berth.dev/crds-folder";

/// What to render: a deploy folder or a chart, and the values it renders with.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Request {
    /// The deploy folder or chart (a folder or an archive).
    pub dir: PathBuf,
    /// A deploy folder's environment (`variables.<ENV>.yaml`, `.Environment`).
    pub environment: Option<String>,
    /// `.Namespace` (a folder's default: `.Variables.namespace`, else `default`).
    pub namespace: Option<String>,
    /// `--set`: a folder's `KEY=VALUE`, a chart's Helm syntax.
    pub set: Vec<String>,
    /// Variables or values files, merged in order after the folder's or chart's own.
    pub value_files: Vec<PathBuf>,
    /// A chart's `.Release.Name` (default `release-name`, as Helm's).
    #[serde(default)]
    pub release: Option<String>,
    /// A chart's other flags.
    #[serde(default)]
    pub chart: ChartOptions,
}

/// Where the objects go.
#[derive(Clone, Debug, Default)]
pub enum Target {
    /// This machine (`berth up`, `berth render`): a chart's CRDs and hooks are left out.
    #[default]
    Local,
    /// A cluster: a chart's `crds/` and hooks included; `.Capabilities` and `lookup` as
    /// `helm install` sees that cluster when it was asked (`None`: as `helm template`).
    Cluster(Option<ClusterView>),
}

/// What a cluster tells a chart's render: the server's version and API versions for
/// `.Capabilities`, and its live objects for `lookup`.
#[derive(Clone, Debug, Default)]
pub struct ClusterView {
    pub kube_version: String,
    pub api_versions: Vec<String>,
    pub lookup: Option<LookupSource>,
}

/// The objects, and a chart's `NOTES.txt` when it says something.
pub struct Output {
    pub rendered: Rendered,
    pub notes: Option<String>,
}

impl Request {
    /// Whether `dir` is a Helm chart rather than a deploy folder.
    pub fn is_chart(&self) -> bool {
        berth_chart::is_chart(&self.dir)
    }

    /// The request with its files as absolute paths, to be held by a process that may run
    /// elsewhere (a session, a hand-over to a running `berth up`).
    pub fn absolute(mut self) -> Request {
        fn abs(p: &PathBuf) -> PathBuf {
            std::path::absolute(p).unwrap_or(p.clone())
        }
        self.dir = abs(&self.dir);
        self.value_files = self.value_files.iter().map(abs).collect();
        self
    }

    /// The chart and the release it runs as, for status views; `None` for a folder.
    pub fn chart_view(&self) -> Option<ChartView> {
        if !self.is_chart() {
            return None;
        }
        let meta = berth_chart::read_metadata(&self.dir).ok()?;
        Some(ChartView {
            release: self.release(),
            name: meta.name,
            version: meta.version,
            app_version: Some(meta.app_version).filter(|v| !v.is_empty()),
        })
    }

    fn release(&self) -> String {
        self.release
            .clone()
            .unwrap_or_else(|| "release-name".into())
    }

    fn namespace_or_default(&self) -> String {
        self.namespace.clone().unwrap_or_else(|| "default".into())
    }

    /// Renders the folder or chart with `.Modes` set (workload → container → `image` or
    /// `source`) for `target`.
    pub fn render(&self, modes: &Modes, target: &Target) -> Result<Output, Error> {
        if self.is_chart() {
            return self.chart_objects(target);
        }
        let rendered = DeployFolder::render_dir(&self.dir, &self.folder_options(modes))?;
        Ok(Output {
            rendered,
            notes: None,
        })
    }

    /// A deploy folder (not a chart) rendered keeping only each object's text and identity:
    /// what printing needs.
    pub fn render_folder_text(&self) -> Result<Rendered<()>, Error> {
        DeployFolder::render_dir_text(&self.dir, &self.folder_options(&Modes::default()))
    }

    /// The chart rendered as `helm template` (or, for a cluster, `helm install`) renders it.
    pub fn render_chart(&self, target: &Target) -> Result<berth_chart::Output, Error> {
        let view = match target {
            Target::Cluster(v) => v.as_ref(),
            Target::Local => None,
        };
        let mut chart = self.chart.clone();
        // --kube-version wins over the cluster's, as with `helm install`.
        if chart.kube_version.is_none() {
            chart.kube_version = view.map(|v| v.kube_version.clone());
        }
        berth_chart::template(
            &self.dir,
            &berth_chart::Options {
                release: self.release(),
                namespace: self.namespace_or_default(),
                value_files: self.value_files.clone(),
                set: self.set.clone(),
                chart,
                is_upgrade: false,
                revision: 1,
                cluster_api_versions: view.map(|v| v.api_versions.clone()),
                lookup: view.and_then(|v| v.lookup.clone()),
                install_crds: matches!(target, Target::Cluster(_)),
            },
        )
    }

    /// A chart's objects: every rendered object; for a cluster also the CRDs of `crds/`
    /// (marked, so that they are only created when missing, as Helm does) and the hooks (run
    /// around the apply; test hooks only by `berth test`). Also the chart's rendered
    /// `NOTES.txt`, when it says something.
    fn chart_objects(&self, target: &Target) -> Result<Output, Error> {
        let out = self.render_chart(target)?;
        let for_cluster = matches!(target, Target::Cluster(_));
        let namespace = self.namespace_or_default();
        let document = |m: &berth_chart::Manifest| Document {
            file: m.source.clone(),
            text: m.text.clone(),
            body: m.body(),
        };
        let crds = out.crds.iter().filter(|_| for_cluster).map(|m| {
            let mut d = document(m);
            if let Some(md) = d.body.get_mut("metadata").and_then(|v| v.as_object_mut()) {
                let ann = md
                    .entry("annotations")
                    .or_insert_with(|| serde_json::json!({}));
                if let Some(a) = ann.as_object_mut() {
                    a.insert(CRDS_FOLDER.into(), "true".into());
                }
            }
            d
        });
        let hooks = out.hooks.iter().filter(|_| for_cluster);
        let docs = crds
            .chain(out.manifests.iter().chain(hooks).map(document))
            .collect();
        let rendered = Rendered {
            objects: berth_manifest::objects_from_documents(docs, &namespace)?,
            variables: out.values,
            namespace,
        };
        Ok(Output {
            rendered,
            notes: out.notes.filter(|n| !n.trim().is_empty()),
        })
    }

    fn folder_options(&self, modes: &Modes) -> RenderOptions {
        RenderOptions {
            environment: self.environment.clone(),
            namespace: self.namespace.clone(),
            value_files: self.value_files.clone(),
            set: self.set.clone(),
            modes: modes_json(modes),
        }
    }
}
