//! CPU and memory of pods from the resource metrics API (`metrics.k8s.io`, served by
//! metrics-server) where the cluster has it; where not, the reason, said once in the view.

use berth_core::pod::quantity;
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use serde_json::Value as Json;
use std::collections::BTreeMap;

/// What a pod uses now, all its containers together.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PodUsage {
    pub cpu_cores: f64,
    pub memory_bytes: u64,
}

fn pod_metrics() -> ApiResource {
    ApiResource {
        group: "metrics.k8s.io".into(),
        version: "v1beta1".into(),
        api_version: "metrics.k8s.io/v1beta1".into(),
        kind: "PodMetrics".into(),
        plural: "pods".into(),
    }
}

/// The usage of every pod of `namespace`, or why the cluster cannot tell.
pub async fn of_pods(
    client: &kube::Client,
    namespace: &str,
) -> Result<BTreeMap<String, PodUsage>, String> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &pod_metrics());
    match api.list(&ListParams::default()).await {
        Ok(list) => Ok(list
            .items
            .iter()
            .filter_map(|p| Some((p.metadata.name.clone()?, of_pod(&p.data)?)))
            .collect()),
        Err(kube::Error::Api(s)) if s.code == 404 => Err(
            "this cluster serves no metrics.k8s.io API, so CPU and memory are not shown: \
             install metrics-server to see them"
                .into(),
        ),
        Err(e) => Err(format!("cannot read metrics.k8s.io: {e}")),
    }
}

/// A PodMetrics' containers summed (`usage.cpu` in cores, `usage.memory` in bytes).
fn of_pod(data: &Json) -> Option<PodUsage> {
    let containers = data.get("containers")?.as_array()?;
    let mut u = PodUsage {
        cpu_cores: 0.0,
        memory_bytes: 0,
    };
    for c in containers {
        let usage = c.get("usage")?;
        u.cpu_cores += quantity(usage.get("cpu")?, 1e9)? as f64 / 1e9;
        u.memory_bytes += quantity(usage.get("memory")?, 1.0)?.max(0) as u64;
    }
    Some(u)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_pod_is_the_sum_of_its_containers_in_kernel_units() {
        let pod = json!({"containers": [
            {"name": "a", "usage": {"cpu": "250000000n", "memory": "64Mi"}},
            {"name": "b", "usage": {"cpu": "5m", "memory": "1024Ki"}},
        ]});
        let u = of_pod(&pod).unwrap();
        assert!((u.cpu_cores - 0.255).abs() < 1e-9, "{u:?}");
        assert_eq!(u.memory_bytes, (64 << 20) + (1 << 20));
        assert_eq!(
            of_pod(&json!({"containers": [{"usage": {"cpu": "x"}}]})),
            None
        );
    }
}
