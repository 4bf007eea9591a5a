//! What a chart sees of a cluster while it renders for `plan`/`apply`, as `helm install` shows
//! it: `.Capabilities` (the server's version and served APIs) and `lookup` (live objects,
//! read only).

use berth_template::GoError;

/// What `helm install` reads of a cluster for `.Capabilities`: the server's version
/// (`v1.28.7`) and every API version it serves, as `group/version` and `group/version/Kind`.
pub async fn capabilities(
    client: &kube::Client,
) -> Result<(String, Vec<String>), crate::error::Error> {
    use crate::error::{from_kube, Action};
    let action = |what: &str| Action {
        verb: "discover",
        resource: what.into(),
        namespace: None,
        object: None,
        origin: None,
    };
    let version = client
        .apiserver_version()
        .await
        .map_err(|e| from_kube(e, &action("the server version (/version)")))?;
    let discovery = kube::discovery::Discovery::new(client.clone())
        .run()
        .await
        .map_err(|e| from_kube(e, &action("the served APIs")))?;
    let mut apis = Vec::new();
    for group in discovery.groups() {
        for v in group.versions() {
            let gv = if group.name().is_empty() {
                v.to_string()
            } else {
                format!("{}/{v}", group.name())
            };
            apis.push(gv.clone());
            for (r, _) in group.versioned_resources(v) {
                apis.push(format!("{gv}/{}", r.kind));
            }
        }
    }
    apis.sort();
    apis.dedup();
    Ok((version.git_version, apis))
}

/// Helm's `lookup` on a live cluster, for rendering a chart that is being applied: reads only.
pub struct LiveLookup {
    client: kube::Client,
    handle: tokio::runtime::Handle,
    resolver: crate::resources::Resolver,
}

impl LiveLookup {
    /// Made inside the runtime that runs the cluster commands (a multi-thread one).
    pub fn new(client: kube::Client) -> LiveLookup {
        LiveLookup {
            client,
            handle: tokio::runtime::Handle::current(),
            resolver: Default::default(),
        }
    }

    async fn get(
        &self,
        q: &berth_template::LookupQuery,
    ) -> Result<Option<serde_json::Value>, GoError> {
        use kube::api::{Api, DynamicObject};
        let Some(r) = self
            .resolver
            .resolve(&self.client, &q.api_version, &q.kind)
            .await
            .map_err(|e| e.message.clone())?
        else {
            // Helm answers an unknown kind with an error as well.
            return Err(format!("the cluster does not serve {} {}", q.api_version, q.kind).into());
        };
        let api: Api<DynamicObject> = match (r.namespaced, q.namespace.as_str()) {
            (true, ns) if !ns.is_empty() => Api::namespaced_with(self.client.clone(), ns, &r.api),
            _ => Api::all_with(self.client.clone(), &r.api),
        };
        if q.name.is_empty() {
            let list = api
                .list(&Default::default())
                .await
                .map_err(|e| e.to_string())?;
            let items: Vec<serde_json::Value> = list
                .items
                .iter()
                .filter_map(|o| serde_json::to_value(o).ok())
                .collect();
            return Ok(Some(serde_json::json!({
                "apiVersion": q.api_version,
                "kind": format!("{}List", q.kind),
                "metadata": {},
                "items": items,
            })));
        }
        match api.get_opt(&q.name).await {
            Ok(found) => Ok(found.and_then(|o| serde_json::to_value(o).ok())),
            Err(e) => Err(berth_template::GoError(e.to_string())),
        }
    }
}

impl berth_template::Lookup for LiveLookup {
    fn lookup(
        &self,
        q: &berth_template::LookupQuery,
    ) -> Result<Option<serde_json::Value>, GoError> {
        let fut = self.get(q);
        match tokio::runtime::Handle::try_current() {
            Ok(_) => tokio::task::block_in_place(|| self.handle.block_on(fut)),
            Err(_) => self.handle.block_on(fut),
        }
    }
}
