//! Release history: every successful apply is a revision stored in the namespace, so any earlier
//! state can be re-applied in one command.

use crate::applyset::ApplySet;
use crate::error::{from_kube, Action, Error, ErrorKind};
use crate::manifest::Origin;
use crate::plan::Manifest;
use berth_core::diagnostic::Location;
use flate2::{read::GzDecoder, write::GzEncoder, Compression};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::ByteString;
use kube::api::{Api, DeleteParams, ListParams, Patch};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};
use std::collections::BTreeMap;
use std::io::{Read, Write};

/// How many revisions are kept.
pub const KEEP: usize = 20;
/// Secrets are limited to 1 MiB; chunks stay well under.
const CHUNK: usize = 900 * 1024;
const RELEASE_LABEL: &str = "berth.dev/release";
const REVISION_LABEL: &str = "berth.dev/revision";
const CHUNK_LABEL: &str = "berth.dev/chunk";
const INFO_ANNOTATION: &str = "berth.dev/release-info";

/// The state of a revision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RevisionStatus {
    /// Applied; waiting for workloads.
    Pending,
    /// The current release.
    Deployed,
    /// Replaced by a later revision.
    Superseded,
    /// Applied but never became healthy.
    Failed,
}

impl std::fmt::Display for RevisionStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RevisionStatus::Pending => "pending",
            RevisionStatus::Deployed => "deployed",
            RevisionStatus::Superseded => "superseded",
            RevisionStatus::Failed => "failed",
        })
    }
}

/// What is known about a revision without loading its objects.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Revision {
    pub number: u32,
    pub status: RevisionStatus,
    /// RFC 3339.
    pub time: String,
    pub user: String,
    /// `git rev-parse HEAD` of the folder, with `-dirty` when it had changes.
    pub git_commit: Option<String>,
    /// sha256 of the variables the templates saw.
    pub variables_digest: String,
    pub objects: usize,
    /// The folder, or `rollback to 3`.
    pub source: String,
    pub chunks: usize,
    /// The Helm release whose live objects this revision took into the set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adopted: Option<HelmRelease>,
}

/// A Helm release, by namespace and name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelmRelease {
    pub namespace: String,
    pub name: String,
}

/// One revision of a Helm release, read from Helm's own record (`sh.helm.release.v1.NAME.vN`).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HelmRevision {
    pub version: u64,
    pub status: String,
    /// RFC 3339.
    pub last_deployed: String,
    /// `grafana-7.3.0`.
    pub chart: String,
    pub description: String,
}

/// The revisions Helm recorded for `release`, oldest first (Helm's Secrets driver: labels
/// `owner=helm,name=NAME`, `data.release` = base64 of gzip of the release JSON).
pub async fn helm_history(
    client: &kube::Client,
    release: &HelmRelease,
) -> Result<Vec<HelmRevision>, Error> {
    use base64::Engine;
    let api: Api<Secret> = Api::namespaced(client.clone(), &release.namespace);
    let lp = ListParams::default().labels(&format!("owner=helm,name={}", release.name));
    let list = api
        .list(&lp)
        .await
        .map_err(|e| from_kube(e, &action("list", &release.namespace)))?;
    let mut out = Vec::new();
    for secret in list.items {
        let Some(data) = secret.data.as_ref().and_then(|d| d.get("release")) else {
            continue;
        };
        let Ok(gz) = base64::engine::general_purpose::STANDARD.decode(&data.0) else {
            continue;
        };
        let mut text = Vec::new();
        if GzDecoder::new(&gz[..]).read_to_end(&mut text).is_err() {
            continue;
        }
        let Ok(r) = serde_json::from_slice::<Json>(&text) else {
            continue;
        };
        let meta = &r["chart"]["metadata"];
        out.push(HelmRevision {
            version: r["version"].as_u64().unwrap_or(0),
            status: r["info"]["status"].as_str().unwrap_or("").to_string(),
            last_deployed: r["info"]["last_deployed"]
                .as_str()
                .unwrap_or("")
                .to_string(),
            chart: format!(
                "{}-{}",
                meta["name"].as_str().unwrap_or("?"),
                meta["version"].as_str().unwrap_or("?")
            ),
            description: r["info"]["description"].as_str().unwrap_or("").to_string(),
        });
    }
    out.sort_by_key(|r| r.version);
    Ok(out)
}

/// A revision's description before it is stored.
#[derive(Clone, Debug)]
pub struct NewRevision {
    pub user: String,
    pub git_commit: Option<String>,
    pub variables_digest: String,
    pub source: String,
    /// The Helm release whose live objects this revision adopts.
    pub adopted: Option<HelmRelease>,
}

/// The revisions of one deploy set.
pub struct Releases {
    api: Api<Secret>,
    set: ApplySet,
}

fn action<'a>(verb: &'a str, ns: &'a str) -> Action<'a> {
    Action {
        verb,
        resource: "secrets".into(),
        namespace: Some(ns),
        object: Some("release history".into()),
        origin: None,
    }
}

impl Releases {
    pub fn new(client: &kube::Client, set: &ApplySet) -> Releases {
        Releases {
            api: Api::namespaced(client.clone(), &set.namespace),
            set: set.clone(),
        }
    }

    fn secret_name(&self, number: u32, chunk: usize) -> String {
        if chunk == 0 {
            format!("berth-release-{}-v{number}", self.set.name)
        } else {
            format!("berth-release-{}-v{number}-c{chunk}", self.set.name)
        }
    }

    /// Every revision, oldest first.
    pub async fn list(&self) -> Result<Vec<Revision>, Error> {
        let lp = ListParams::default().labels(&format!(
            "{RELEASE_LABEL}={},{CHUNK_LABEL}=0",
            self.set.name
        ));
        let list = self
            .api
            .list(&lp)
            .await
            .map_err(|e| from_kube(e, &action("list", &self.set.namespace)))?;
        let mut out: Vec<Revision> = list
            .items
            .iter()
            .filter_map(|s| {
                let info = s.metadata.annotations.as_ref()?.get(INFO_ANNOTATION)?;
                serde_json::from_str(info).ok()
            })
            .collect();
        out.sort_by_key(|r| r.number);
        Ok(out)
    }

    /// Deletes every revision's Secrets (when the set itself is deleted).
    pub async fn delete_all(&self) -> Result<(), Error> {
        let lp = ListParams::default().labels(&format!("{RELEASE_LABEL}={}", self.set.name));
        let list = self
            .api
            .list_metadata(&lp)
            .await
            .map_err(|e| from_kube(e, &action("list", &self.set.namespace)))?;
        for name in list.items.into_iter().filter_map(|s| s.metadata.name) {
            match self.api.delete(&name, &Default::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(from_kube(e, &action("delete", &self.set.namespace))),
            }
        }
        Ok(())
    }

    /// The revision deployed now: the latest one marked deployed.
    pub async fn current(&self) -> Result<Option<Revision>, Error> {
        Ok(self
            .list()
            .await?
            .into_iter()
            .rev()
            .find(|r| r.status == RevisionStatus::Deployed))
    }

    /// Stores `manifests` as the next revision (status pending) and trims old ones.
    pub async fn record(
        &self,
        manifests: &[Manifest],
        info: NewRevision,
    ) -> Result<Revision, Error> {
        let existing = self.list().await?;
        let number = existing.last().map_or(1, |r| r.number + 1);
        let payload: Vec<Json> = manifests
            .iter()
            .map(|m| json!({"origin": m.origin.location.to_string(), "body": m.body}))
            .collect();
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(&serde_json::to_vec(&payload).unwrap_or_default())
            .map_err(|e| Error::new(ErrorKind::Api, format!("cannot compress the release: {e}")))?;
        let bytes = gz
            .finish()
            .map_err(|e| Error::new(ErrorKind::Api, format!("cannot compress the release: {e}")))?;
        let chunks: Vec<&[u8]> = if bytes.is_empty() {
            vec![&[][..]]
        } else {
            bytes.chunks(CHUNK).collect()
        };
        let revision = Revision {
            number,
            status: RevisionStatus::Pending,
            time: k8s_openapi::jiff::Timestamp::now().to_string(),
            user: info.user,
            git_commit: info.git_commit,
            variables_digest: info.variables_digest,
            objects: manifests.len(),
            source: info.source,
            chunks: chunks.len(),
            adopted: info.adopted,
        };
        // Later chunks first, so a visible revision is always complete.
        for (i, chunk) in chunks.iter().enumerate().rev() {
            let mut labels = BTreeMap::new();
            labels.insert(RELEASE_LABEL.to_string(), self.set.name.clone());
            labels.insert(REVISION_LABEL.to_string(), number.to_string());
            labels.insert(CHUNK_LABEL.to_string(), i.to_string());
            let mut annotations = BTreeMap::new();
            if i == 0 {
                annotations.insert(
                    INFO_ANNOTATION.to_string(),
                    serde_json::to_string(&revision).unwrap_or_default(),
                );
            }
            let secret = Secret {
                metadata: ObjectMeta {
                    name: Some(self.secret_name(number, i)),
                    labels: Some(labels),
                    annotations: Some(annotations),
                    ..Default::default()
                },
                type_: Some("berth.dev/release.v1".into()),
                data: Some(
                    [("release".to_string(), ByteString(chunk.to_vec()))]
                        .into_iter()
                        .collect(),
                ),
                ..Default::default()
            };
            self.api
                .create(&crate::post_params(), &secret)
                .await
                .map_err(|e| from_kube(e, &action("create", &self.set.namespace)))?;
        }
        let excess = (existing.len() + 1).saturating_sub(KEEP);
        for old in existing.iter().take(excess) {
            for c in 0..old.chunks.max(1) {
                let _ = self
                    .api
                    .delete(&self.secret_name(old.number, c), &DeleteParams::default())
                    .await;
            }
        }
        Ok(revision)
    }

    /// Marks a revision; marking one deployed supersedes the previous deployed one.
    pub async fn set_status(&self, number: u32, status: RevisionStatus) -> Result<(), Error> {
        let all = self.list().await?;
        for mut r in all {
            let new = if r.number == number {
                status
            } else if status == RevisionStatus::Deployed && r.status == RevisionStatus::Deployed {
                RevisionStatus::Superseded
            } else {
                continue;
            };
            if r.status == new {
                continue;
            }
            r.status = new;
            let patch = json!({"metadata": {"annotations": {INFO_ANNOTATION: serde_json::to_string(&r).unwrap_or_default()}}});
            self.api
                .patch(
                    &self.secret_name(r.number, 0),
                    &crate::patch_params(),
                    &Patch::Merge(&patch),
                )
                .await
                .map_err(|e| from_kube(e, &action("patch", &self.set.namespace)))?;
        }
        Ok(())
    }

    /// The objects of a revision.
    pub async fn load(&self, number: u32) -> Result<Vec<Manifest>, Error> {
        let all = self.list().await?;
        let Some(rev) = all.iter().find(|r| r.number == number) else {
            let known: Vec<String> = all.iter().map(|r| r.number.to_string()).collect();
            return Err(Error::new(
                ErrorKind::NotFound,
                format!(
                    "deploy set `{}` has no revision {number} in namespace {}",
                    self.set.name, self.set.namespace
                ),
            )
            .note(if known.is_empty() {
                "it has no revisions".to_string()
            } else {
                format!("known revisions: {}", known.join(", "))
            })
            .hint("see `berth history`"));
        };
        let mut bytes = Vec::new();
        for c in 0..rev.chunks.max(1) {
            let s = self
                .api
                .get(&self.secret_name(number, c))
                .await
                .map_err(|e| from_kube(e, &action("get", &self.set.namespace)))?;
            if let Some(d) = s.data.as_ref().and_then(|d| d.get("release")) {
                bytes.extend_from_slice(&d.0);
            }
        }
        let mut text = Vec::new();
        GzDecoder::new(&bytes[..])
            .read_to_end(&mut text)
            .map_err(|e| {
                Error::new(ErrorKind::Api, format!("revision {number} is corrupt: {e}"))
            })?;
        let payload: Vec<Json> = serde_json::from_slice(&text).map_err(|e| {
            Error::new(ErrorKind::Api, format!("revision {number} is corrupt: {e}"))
        })?;
        Ok(payload
            .into_iter()
            .map(|p| Manifest {
                origin: Origin {
                    location: Location::parse(p.get("origin").and_then(Json::as_str).unwrap_or("")),
                    revision: Some(number),
                },
                body: p.get("body").cloned().unwrap_or_default(),
            })
            .collect())
    }
}

/// Which deploy sets a namespace has (from their ApplySet parents).
pub async fn sets_in(client: &kube::Client, namespace: &str) -> Result<Vec<String>, Error> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let list = api
        .list_metadata(&ListParams::default().labels(crate::applyset::SET_LABEL))
        .await
        .map_err(|e| from_kube(e, &action("list", namespace)))?;
    let mut names: Vec<String> = list
        .items
        .into_iter()
        .filter_map(|s| s.metadata.labels?.get(crate::applyset::SET_LABEL).cloned())
        .collect();
    names.sort();
    names.dedup();
    Ok(names)
}

/// The git commit of a folder (`-dirty` when it has uncommitted changes), if it is in a repository.
pub fn git_commit(dir: &std::path::Path) -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(dir)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let commit = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let dirty = std::process::Command::new("git")
        .args(["status", "--porcelain", "--", "."])
        .current_dir(dir)
        .output()
        .ok()
        .is_some_and(|o| !o.stdout.is_empty());
    Some(if dirty {
        format!("{commit}-dirty")
    } else {
        commit
    })
}
