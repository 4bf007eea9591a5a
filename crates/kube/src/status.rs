//! `berth status` against a cluster: one row per workload of the set (the dashboard's rows, so
//! the same health words), and the current revision.

use crate::applyset::ApplySet;
use crate::error::Error;
use crate::release::{Releases, Revision};
use berth_core::view::ServiceView;
use serde::Serialize;

/// One workload as the status table shows it.
#[derive(Clone, Debug, Serialize)]
pub struct WorkloadRow {
    #[serde(flatten)]
    pub view: ServiceView,
    /// RFC 3339 creation time.
    pub created: String,
}

/// The set's workloads and release.
#[derive(Clone, Debug, Serialize)]
pub struct StatusReport {
    pub set: String,
    pub namespace: String,
    pub revision: Option<Revision>,
    pub workloads: Vec<WorkloadRow>,
}

/// Reads the status of a deploy set.
pub async fn status(
    client: &kube::Client,
    context: &str,
    set: &ApplySet,
) -> Result<StatusReport, Error> {
    let mut workloads: Vec<WorkloadRow> = crate::dashboard::read_workloads(client, context, set)
        .await?
        .into_iter()
        .map(|w| WorkloadRow {
            view: w.view,
            created: w.created,
        })
        .collect();
    workloads.sort_by(|a, b| (&a.view.name, a.view.kind).cmp(&(&b.view.name, b.view.kind)));
    Ok(StatusReport {
        set: set.name.clone(),
        namespace: set.namespace.clone(),
        revision: Releases::new(client, set).current().await?,
        workloads,
    })
}
