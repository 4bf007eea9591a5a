//! Run specs for workloads you do not own (a third-party Helm chart): a file beside the
//! invocation (`berth up --run FILE`, or `berth.run.yaml`) maps `Kind/name` to the same map of
//! container to run spec as the `berth.dev/run` annotation, and wins over the annotation.
//!
//! ```yaml
//! Deployment/web:
//!   web:
//!     command: [python3, -u, web.py]
//!     workdir: services
//! ```

use berth_manifest::Rendered;
use serde_json::Value as Json;

/// The file `berth up` reads when `--run` is not given, in the folder it is run from.
pub const DEFAULT_RUN_FILE: &str = "berth.run.yaml";

/// Puts each entry of the run file on its workload as the `berth.dev/run` annotation.
/// An entry naming no rendered workload, or a file that is not such a map, is an error that
/// names the file.
pub fn apply_run_file(
    rendered: &mut Rendered,
    text: &str,
    shown: &str,
) -> Result<(), crate::Error> {
    let map: serde_json::Map<String, Json> = match serde_saphyr::from_str::<Json>(text) {
        Ok(Json::Object(m)) => m,
        Ok(Json::Null) => return Ok(()),
        Ok(_) => {
            return Err(crate::error::folder(format!(
                "{shown}: must map Kind/name to run specs (Deployment/web: ...)"
            )))
        }
        Err(e) => {
            return Err(crate::error::folder(format!(
                "{shown} is not valid YAML: {e}"
            )))
        }
    };
    for (key, spec) in map {
        let Some((kind, name)) = key.split_once('/') else {
            return Err(crate::error::folder(format!(
                "{shown}: {key:?} is not Kind/name (for example Deployment/web)"
            )));
        };
        let Some(obj) = rendered
            .objects
            .iter_mut()
            .find(|o| o.oref.group_kind.kind == kind && o.oref.name == name)
        else {
            let known: Vec<String> = rendered
                .objects
                .iter()
                .filter(|o| {
                    o.oref
                        .group_kind
                        .kind
                        .parse::<berth_core::WorkloadKind>()
                        .is_ok_and(|k| k.group_kind() == o.oref.group_kind)
                })
                .map(|o| format!("{}/{}", o.oref.group_kind.kind, o.oref.name))
                .collect();
            return Err(crate::error::folder(format!(
                "{shown}: {key} is not a workload of the render; workloads: {}",
                known.join(", ")
            )));
        };
        let Json::Object(_) = spec else {
            return Err(crate::error::folder(format!(
                "{shown}: {key} must map container names to run specs"
            )));
        };
        let text = serde_json::to_string(&spec).map_err(|e| crate::error::folder(e.to_string()))?;
        let meta = obj
            .body
            .as_object_mut()
            .and_then(|b| b.get_mut("metadata"))
            .and_then(Json::as_object_mut)
            .ok_or_else(|| crate::error::folder(format!("{key} has no metadata")))?;
        let annotations = meta
            .entry("annotations")
            .or_insert_with(|| Json::Object(Default::default()));
        if let Json::Object(a) = annotations {
            a.insert("berth.dev/run".into(), Json::from(text));
        }
    }
    Ok(())
}
