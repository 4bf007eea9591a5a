//! Discovery: which resource serves a kind, and whether it is namespaced.

use crate::error::{from_kube, Action, Error, ErrorKind, LocatedAt};
use kube::core::ApiResource;
use std::collections::HashMap;
use tokio::sync::Mutex;

/// A kind's REST resource.
#[derive(Clone, Debug)]
pub struct Resource {
    pub api: ApiResource,
    pub namespaced: bool,
}

impl Resource {
    /// `deployments.apps`, `secrets`: how kubectl names a resource.
    pub fn display(&self) -> String {
        if self.api.group.is_empty() {
            self.api.plural.clone()
        } else {
            format!("{}.{}", self.api.plural, self.api.group)
        }
    }
}

/// Looks kinds up one group-version at a time (one request each), caching the answers.
#[derive(Default)]
pub struct Resolver {
    cache: Mutex<HashMap<String, Option<Vec<Resource>>>>,
    /// Group name to preferred group-version.
    groups: Mutex<Option<HashMap<String, String>>>,
    version: Mutex<Option<berth_core::KubeVersion>>,
}

impl Resolver {
    /// The cluster's Kubernetes release (`/version`, asked once).
    pub async fn kube_version(
        &self,
        client: &kube::Client,
    ) -> Result<berth_core::KubeVersion, Error> {
        let mut cached = self.version.lock().await;
        if let Some(v) = *cached {
            return Ok(v);
        }
        let info = client.apiserver_version().await.map_err(|e| {
            from_kube(
                e,
                &Action {
                    verb: "get",
                    resource: "the server version (/version)".into(),
                    namespace: None,
                    object: None,
                    origin: None,
                },
            )
        })?;
        let v = berth_core::KubeVersion::from_parts(&info.major, &info.minor)
            .or_else(|| {
                let (major, minor) = info.git_version.trim_start_matches('v').split_once('.')?;
                berth_core::KubeVersion::from_parts(major, minor.split('.').next()?)
            })
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Api,
                    format!(
                        "the server reported an unreadable version: {}",
                        info.git_version
                    ),
                )
            })?;
        *cached = Some(v);
        Ok(v)
    }

    /// The resource of `kind` in `api_version`, or `None` when the cluster does not serve it.
    pub async fn resolve(
        &self,
        client: &kube::Client,
        api_version: &str,
        kind: &str,
    ) -> Result<Option<Resource>, Error> {
        let mut cache = self.cache.lock().await;
        if !cache.contains_key(api_version) {
            let listed = if api_version.contains('/') {
                client.list_api_group_resources(api_version).await
            } else {
                client.list_core_api_resources(api_version).await
            };
            let entry = match listed {
                Ok(list) => {
                    let (group, version) = match api_version.split_once('/') {
                        Some((g, v)) => (g.to_string(), v.to_string()),
                        None => (String::new(), api_version.to_string()),
                    };
                    Some(
                        list.resources
                            .into_iter()
                            .filter(|r| !r.name.contains('/'))
                            .map(|r| Resource {
                                api: ApiResource {
                                    group: group.clone(),
                                    version: version.clone(),
                                    api_version: api_version.to_string(),
                                    kind: r.kind,
                                    plural: r.name,
                                },
                                namespaced: r.namespaced,
                            })
                            .collect(),
                    )
                }
                Err(kube::Error::Api(s)) if s.code == 404 => None,
                Err(e) => {
                    return Err(from_kube(
                        e,
                        &Action {
                            verb: "discover",
                            resource: format!("API {api_version}"),
                            namespace: None,
                            object: None,
                            origin: None,
                        },
                    ))
                }
            };
            cache.insert(api_version.to_string(), entry);
        }
        Ok(cache
            .get(api_version)
            .and_then(|e| e.as_ref())
            .and_then(|list| list.iter().find(|r| r.api.kind == kind).cloned()))
    }

    /// The resource of a group-kind at the group's preferred version (for recorded kinds).
    pub async fn resolve_group_kind(
        &self,
        client: &kube::Client,
        gk: &berth_core::GroupKind,
    ) -> Result<Option<Resource>, Error> {
        if gk.group.is_empty() {
            return self.resolve(client, "v1", &gk.kind).await;
        }
        let groups = {
            let mut cached = self.groups.lock().await;
            if cached.is_none() {
                let list = client.list_api_groups().await.map_err(|e| {
                    from_kube(
                        e,
                        &Action {
                            verb: "discover",
                            resource: "API groups".into(),
                            namespace: None,
                            object: None,
                            origin: None,
                        },
                    )
                })?;
                *cached = Some(
                    list.groups
                        .into_iter()
                        .filter_map(|g| {
                            let v = g
                                .preferred_version
                                .or_else(|| g.versions.first().cloned())?;
                            Some((g.name, v.group_version))
                        })
                        .collect(),
                );
            }
            cached.clone().unwrap_or_default()
        };
        match groups.get(&gk.group) {
            Some(gv) => self.resolve(client, gv, &gk.kind).await,
            None => Ok(None),
        }
    }

    /// Forgets a group-version, so kinds a new CRD serves can be found.
    pub async fn forget(&self, api_version: &str) {
        self.cache.lock().await.remove(api_version);
        *self.groups.lock().await = None;
    }

    /// Like [`resolve`](Self::resolve), but a missing kind is an error naming the template.
    pub async fn require(
        &self,
        client: &kube::Client,
        api_version: &str,
        kind: &str,
        origin: &crate::manifest::Origin,
    ) -> Result<Resource, Error> {
        self.resolve(client, api_version, kind)
            .await?
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::UnknownKind,
                    format!("the cluster does not know kind {kind} in {api_version}"),
                )
                .located_at(origin)
                .note("nothing was applied")
                .hint("install the CustomResourceDefinition first, or check apiVersion and kind")
            })
    }
}
