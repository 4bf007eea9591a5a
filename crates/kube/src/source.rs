//! Source mode on Kubernetes: a container switched to source runs the run spec's runner image,
//! under `berth rerun`, with the developer's source mounted from the node (kind, minikube).

use crate::plan::Manifest;
use berth_core::view::{Mode, Modes};
use berth_core::RunSpec;
use serde_json::{json, Value as Json};
use std::collections::BTreeMap;

/// Where the source is mounted in the container.
pub const MOUNT: &str = "/src";
const VOLUME: &str = "berth-source";

/// One container rewritten to run its source: the runner image under `berth rerun`, in the
/// mounted source's workdir.
fn run_from_source(c: &mut Json, run: &RunSpec, image: &str) {
    let mut command = vec![json!("berth"), json!("rerun"), json!("--")];
    command.extend(run.command.iter().map(|a| json!(a)));
    c["image"] = json!(image);
    c["command"] = Json::Array(command);
    if let Some(obj) = c.as_object_mut() {
        obj.remove("args");
    }
    c["workingDir"] = json!(match &run.workdir {
        Some(w) => format!("{MOUNT}/{w}"),
        None => MOUNT.to_string(),
    });
    let mounts = c
        .as_object_mut()
        .map(|o| o.entry("volumeMounts").or_insert_with(|| json!([])));
    if let Some(Json::Array(ms)) = mounts {
        ms.retain(|v| v.get("name").and_then(Json::as_str) != Some(VOLUME));
        ms.push(json!({"name": VOLUME, "mountPath": MOUNT}));
    }
}

/// Rewrites the workloads whose containers are in source mode; returns what could not be
/// switched and why (no runner `image` or `sourcePath` in the run spec).
pub fn apply_modes(manifests: &mut [Manifest], modes: &Modes) -> Vec<String> {
    let mut problems = Vec::new();
    for m in manifests.iter_mut() {
        let kind = m.body.get("kind").and_then(Json::as_str).unwrap_or("");
        if !matches!(kind, "Deployment" | "StatefulSet") {
            continue;
        }
        let name = m
            .body
            .pointer("/metadata/name")
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_string();
        let Some(wanted) = modes.get(&name) else {
            continue;
        };
        let runs = run_specs(&m.body);
        let mut switched = false;
        let containers = m
            .body
            .pointer_mut("/spec/template/spec/containers")
            .and_then(Json::as_array_mut);
        for c in containers.into_iter().flatten() {
            let cname = c
                .get("name")
                .and_then(Json::as_str)
                .unwrap_or("")
                .to_string();
            if wanted.get(&cname) != Some(&Mode::Source) {
                continue;
            }
            let Some(run) = runs.get(&cname) else {
                problems.push(format!("{name}/{cname}: no berth.dev/run entry"));
                continue;
            };
            let (Some(image), Some(_)) = (&run.image, &run.source_path) else {
                problems.push(format!(
                    "{name}/{cname}: the run spec needs `image` (a runner image with berth) and `sourcePath` for source mode on Kubernetes"
                ));
                continue;
            };
            run_from_source(c, run, image);
            switched = true;
        }
        if !switched {
            continue;
        }
        let path = runs
            .values()
            .find_map(|r| r.source_path.clone())
            .unwrap_or_default();
        if let Some(spec) = m
            .body
            .pointer_mut("/spec/template/spec")
            .and_then(Json::as_object_mut)
        {
            let volumes = spec.entry("volumes").or_insert_with(|| json!([]));
            if let Json::Array(vs) = volumes {
                vs.retain(|v| v.get("name").and_then(Json::as_str) != Some(VOLUME));
                vs.push(json!({"name": VOLUME, "hostPath": {"path": path, "type": "Directory"}}));
            }
        }
        m.body["spec"]["replicas"] = json!(1);
    }
    problems
}

/// The `berth.dev/run` entries of a workload, by container.
pub fn run_specs(body: &Json) -> BTreeMap<String, RunSpec> {
    body.pointer("/metadata/annotations/berth.dev~1run")
        .and_then(Json::as_str)
        .and_then(|t| serde_saphyr::from_str(t).ok())
        .unwrap_or_default()
}

/// The modes a deploy set's parent records (`berth.dev/modes`).
pub fn parse_modes(annotation: Option<&str>) -> Modes {
    annotation
        .and_then(|a| serde_json::from_str(a).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_container_runs_the_runner_under_rerun_with_the_source_mounted() {
        let body = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "annotations": {"berth.dev/run":
                "web:\n  command: [python3, web.py]\n  workdir: services\n  image: python:3.12\n  sourcePath: /home/dev/ticketing\n"}},
            "spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "web", "image": "web:1", "args": ["x"]}]}}},
        });
        let mut ms = vec![Manifest {
            origin: crate::manifest::Origin::file("web.yaml", 1),
            body,
        }];
        let modes: Modes = [(
            "web".to_string(),
            [("web".to_string(), Mode::Source)].into(),
        )]
        .into();
        assert!(apply_modes(&mut ms, &modes).is_empty());
        let b = &ms[0].body;
        assert_eq!(b["spec"]["replicas"], 1);
        let c = &b["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["image"], "python:3.12");
        assert_eq!(
            c["command"],
            json!(["berth", "rerun", "--", "python3", "web.py"])
        );
        assert_eq!(c["workingDir"], "/src/services");
        assert!(c.get("args").is_none());
        assert_eq!(
            b["spec"]["template"]["spec"]["volumes"][0]["hostPath"]["path"],
            "/home/dev/ticketing"
        );
    }
}
