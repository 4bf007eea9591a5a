//! A render request aimed at a deploy set on a cluster: the request, the set it deploys to, and
//! what the cluster told a chart (`.Capabilities`, `lookup`). `plan`, `apply`, the dashboard's
//! redeploy and each sync render through it, so they render alike.

use crate::{source, ApplySet, Manifest, NewRevision};
use berth_core::view::{ChartView, Modes};
use berth_render::{ClusterView, Request, Target};
use sha2::{Digest, Sha256};

/// A request and the deploy set it goes to.
#[derive(Clone, Debug)]
pub struct ClusterRequest {
    pub request: Request,
    /// The set's name: `--name`, else the folder's base name as a DNS label.
    pub set_name: String,
    /// What the cluster told a chart; `None` until asked ([`ClusterRequest::seen_by`]) and
    /// for a deploy folder.
    pub view: Option<ClusterView>,
}

/// The objects of one render, ready to plan and apply.
pub struct Rendered {
    /// A chart's `NOTES.txt`, rendered with the objects.
    pub notes: Option<String>,
    pub set: ApplySet,
    pub manifests: Vec<Manifest>,
    pub info: NewRevision,
}

impl ClusterRequest {
    pub fn new(request: Request, name: Option<String>) -> ClusterRequest {
        let set_name = name.unwrap_or_else(|| set_name_of(&request.dir));
        ClusterRequest {
            request,
            set_name,
            view: None,
        }
    }

    /// The request as `helm install` renders on this cluster: its version and API versions
    /// for `.Capabilities`, and `lookup` reading its live objects. A deploy folder renders as
    /// it is.
    pub async fn seen_by(mut self, client: &kube::Client) -> Result<ClusterRequest, crate::Error> {
        if !self.request.is_chart() {
            return Ok(self);
        }
        let (kube_version, api_versions) = crate::capabilities::capabilities(client).await?;
        let lookup = crate::capabilities::LiveLookup::new(client.clone());
        self.view = Some(ClusterView {
            kube_version,
            api_versions,
            lookup: Some(berth_render::LookupSource(std::sync::Arc::new(lookup))),
        });
        Ok(self)
    }

    /// The chart and release, for the dashboard's header; `None` for a folder.
    pub fn chart(&self) -> Option<ChartView> {
        self.request.chart_view()
    }

    /// Renders with `.Modes` set (no source-mode rewrite).
    pub fn render(&self, modes: &Modes) -> Result<Rendered, berth_manifest::Error> {
        let out = self
            .request
            .render(modes, &Target::Cluster(self.view.clone()))?;
        let r = out.rendered;
        let digest = Sha256::digest(serde_json::to_vec(&r.variables).unwrap_or_default());
        Ok(Rendered {
            notes: out.notes,
            set: ApplySet {
                name: self.set_name.clone(),
                namespace: r.namespace.clone(),
            },
            manifests: r.objects.iter().map(Manifest::from_rendered).collect(),
            info: NewRevision {
                user: crate::lock::holder_identity(),
                git_commit: crate::release::git_commit(&self.request.dir),
                variables_digest: digest.iter().map(|b| format!("{b:02x}")).collect(),
                source: self.request.dir.display().to_string(),
                adopted: None,
            },
        })
    }

    /// Renders in `modes` and rewrites the containers in source mode; the containers that
    /// could not switch, as warnings.
    pub fn render_switching(
        &self,
        modes: &Modes,
    ) -> Result<(Rendered, Vec<String>), berth_manifest::Error> {
        let mut r = self.render(modes)?;
        let problems = source::apply_modes(&mut r.manifests, modes);
        Ok((r, problems))
    }

    /// A deploy folder rendered before connecting, so that its mistakes show without a
    /// cluster; `None` for a chart, which renders as the cluster sees it ([`Self::render_on`]).
    pub fn render_offline(&self) -> Result<Option<Rendered>, berth_manifest::Error> {
        if self.request.is_chart() {
            return Ok(None);
        }
        self.render(&Modes::default()).map(Some)
    }

    /// Renders on a connected cluster: a chart as the cluster sees it (its `lookup` may call
    /// it), a folder as it rendered `offline`; then again in the source modes the set's parent
    /// records, if any. Returns the containers that could not switch, as warnings.
    pub async fn render_on(
        self,
        offline: Option<Rendered>,
        cluster: &crate::Cluster,
    ) -> Result<(Rendered, Vec<String>), crate::Error> {
        let rendered = |e: berth_manifest::Error| e.with_kind(crate::ErrorKind::Render);
        let request = self
            .seen_by(&cluster.client)
            .await
            .map_err(|e| cluster.locate(e))?;
        let r = match offline {
            Some(r) => r,
            None => tokio::task::block_in_place(|| request.render(&Modes::default()))
                .map_err(rendered)?,
        };
        let modes = live_modes(&cluster.client, &r.set)
            .await
            .map_err(|e| cluster.locate(e))?;
        if modes.is_empty() {
            return Ok((r, Vec::new()));
        }
        request.render_switching(&modes).map_err(rendered)
    }

    /// Renders in `modes` for the dashboard's redeploy and each sync: a container that cannot
    /// switch to source mode fails the render.
    pub fn render_in_modes(&self, modes: &Modes) -> Result<Rendered, crate::Error> {
        let (r, problems) = self
            .render_switching(modes)
            .map_err(|e| e.with_kind(crate::ErrorKind::Render))?;
        if !problems.is_empty() {
            return Err(crate::Error::new(
                crate::ErrorKind::Render,
                format!("cannot switch to source mode: {}", problems.join("; ")),
            ));
        }
        Ok(r)
    }
}

/// The source modes a deploy set's parent records on the cluster (what a plain `apply` keeps).
pub async fn live_modes(client: &kube::Client, set: &ApplySet) -> Result<Modes, crate::Error> {
    let parent = crate::applyset::read_parent(client, set).await?;
    Ok(parent.map(|p| p.modes()).unwrap_or_default())
}

/// A folder's base name as a DNS label (`default` when nothing is left).
fn set_name_of(dir: &std::path::Path) -> String {
    let base = std::fs::canonicalize(dir)
        .ok()
        .and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "default".into());
    let name: String = base
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    match name.trim_matches('-') {
        "" => "default".into(),
        n => n.to_string(),
    }
}
