//! A chart's `crds/` folder, as Helm treats it: each CustomResourceDefinition is created before
//! anything else when the cluster lacks it, and otherwise left as it is; it is never upgraded,
//! never a member of the deploy set, and so never pruned or deleted by berth.

use crate::error::{Error, ErrorKind, LocatedAt};
use crate::plan::Manifest;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::PostParams;
use serde_json::Value as Json;
use std::time::Duration;

/// The annotation the renderer puts on a `crds/` document (never written to the cluster).
pub use berth_render::CRDS_FOLDER;

fn from_crds_folder(m: &Manifest) -> bool {
    m.annotation(CRDS_FOLDER).is_some()
}

/// Splits `crds/` documents from the other objects.
pub fn split(manifests: Vec<Manifest>) -> (Vec<Manifest>, Vec<Manifest>) {
    manifests.into_iter().partition(|m| !from_crds_folder(m))
}

fn name(m: &Manifest) -> &str {
    m.name()
}

/// The `crds/` documents the cluster does not have yet.
pub async fn missing(client: &kube::Client, crds: &[Manifest]) -> Result<Vec<Manifest>, Error> {
    let api: kube::Api<CustomResourceDefinition> = kube::Api::all(client.clone());
    let mut out = Vec::new();
    for m in crds {
        let found = api.get_metadata_opt(name(m)).await.map_err(|e| {
            Error::new(
                ErrorKind::Api,
                format!("cannot read CustomResourceDefinition/{}: {e}", name(m)),
            )
            .located_at(&m.origin)
        })?;
        if found.is_none() {
            out.push(m.clone());
        }
    }
    Ok(out)
}

/// Creates the missing `crds/` definitions and waits until each is established; says which
/// ones exist and stay as they are.
pub async fn install(
    client: &kube::Client,
    crds: &[Manifest],
    say: &(dyn Fn(String) + Sync),
) -> Result<(), Error> {
    if crds.is_empty() {
        return Ok(());
    }
    let missing = missing(client, crds).await?;
    for m in crds
        .iter()
        .filter(|m| !missing.iter().any(|x| name(x) == name(m)))
    {
        say(format!(
            "CustomResourceDefinition/{} exists: left as it is (crds/ are installed, never upgraded)",
            name(m)
        ));
    }
    let api: kube::Api<CustomResourceDefinition> = kube::Api::all(client.clone());
    for m in &missing {
        let mut body = m.body.clone();
        if let Some(a) = body["metadata"]["annotations"].as_object_mut() {
            a.remove(CRDS_FOLDER);
            if a.is_empty() {
                body["metadata"]
                    .as_object_mut()
                    .map(|md| md.remove("annotations"));
            }
        }
        let crd: CustomResourceDefinition = serde_json::from_value(body).map_err(|e| {
            Error::new(
                ErrorKind::Rejected,
                format!("not a CustomResourceDefinition: {e}"),
            )
            .located_at(&m.origin)
        })?;
        let pp = PostParams {
            field_manager: Some("berth".into()),
            ..Default::default()
        };
        api.create(&pp, &crd).await.map_err(|e| {
            Error::new(
                ErrorKind::Rejected,
                format!("cannot create CustomResourceDefinition/{}: {e}", name(m)),
            )
            .located_at(&m.origin)
        })?;
        say(format!(
            "created CustomResourceDefinition/{} (crds/)",
            name(m)
        ));
        established(&api, name(m))
            .await
            .map_err(|e| e.located_at(&m.origin))?;
    }
    Ok(())
}

/// Waits until the server serves the CRD's kind (its `Established` condition).
async fn established(api: &kube::Api<CustomResourceDefinition>, name: &str) -> Result<(), Error> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let what = format!("CustomResourceDefinition/{name}");
    loop {
        let crd = api.get(name).await.map_err(|e| {
            Error::new(ErrorKind::Api, format!("{what}: cannot read it back")).caused_by(e)
        })?;
        let status = serde_json::to_value(&crd.status).unwrap_or(Json::Null);
        let ok = status["conditions"].as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Established" && c["status"] == "True")
        });
        if ok {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Error::new(
                ErrorKind::Timeout,
                format!("{what}: not established after 30 s"),
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
