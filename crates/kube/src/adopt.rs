//! Adopting a Helm release's live objects: the fields Helm's field manager owns become berth's
//! in the same apply, so berth's server-side apply of the same values meets no conflict.
//!
//! This is what kubectl does when it moves an object from client-side to server-side apply
//! (`csaupgrade`): the old manager's entries in `metadata.managedFields` are folded into the
//! new manager's `Apply` entry, written only if the object has not changed since it was read. It matters for values Helm applied that the server stores as absent
//! (`hostNetwork: false`, an empty annotation map, `""`): Helm 4 owns them by server-side apply,
//! and any other manager applying the same value conflicts. Helm 3 and client-side Helm 4 own
//! their fields through `Update` entries, taken over the same way. Fields other managers own
//! (an HPA's replicas, a controller's defaults) are left to them; a conflict with one of those
//! still stops the apply and names it. Helm's own marks (`meta.helm.sh/release-*`) stay Helm's.

use crate::FIELD_MANAGER;
use kube::api::{Api, DynamicObject, Patch};
use serde_json::{json, Map, Value as Json};

/// The field managers Helm writes as (helm 3 and 4, server- and client-side).
const HELM_MANAGERS: &[&str] = &["helm"];

/// What Helm sets itself on every object to mark it as its own (metadata field, key): these
/// stay Helm's, so berth's apply, which does not set them, leaves them in place.
const HELM_MARKS: &[(&str, &str)] = &[
    ("f:annotations", "meta.helm.sh/release-name"),
    ("f:annotations", "meta.helm.sh/release-namespace"),
    ("f:labels", "app.kubernetes.io/managed-by"),
];

/// Whether a server's 409 names only Helm's managers (`conflicts with "helm"`): the conflicts
/// an adoption resolves by taking Helm's fields over.
pub(crate) fn only_helm_conflicts(message: &str) -> bool {
    let managers: Vec<&str> = message
        .split("with \"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    !managers.is_empty() && managers.iter().all(|m| HELM_MANAGERS.contains(m))
}

/// Whether `live` has fields Helm's managers own (on the object, not its status).
pub(crate) fn helm_owns_fields(live: &Json) -> bool {
    entries(live).any(is_helms)
}

/// Managers other than berth and Helm that own fields of `live` (not its status): they keep
/// them, and the plan says so.
pub(crate) fn other_managers(live: &Json) -> Vec<String> {
    let mut names: Vec<String> = entries(live)
        .filter(|e| {
            e.get("subresource")
                .and_then(Json::as_str)
                .unwrap_or("")
                .is_empty()
        })
        .filter_map(|e| e.get("manager").and_then(Json::as_str))
        .filter(|m| *m != FIELD_MANAGER && !HELM_MANAGERS.contains(m))
        .map(str::to_string)
        .collect();
    names.sort();
    names.dedup();
    names
}

fn entries(live: &Json) -> impl Iterator<Item = &Json> {
    live.pointer("/metadata/managedFields")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
}

fn is_helms(entry: &Json) -> bool {
    let manager = entry.get("manager").and_then(Json::as_str).unwrap_or("");
    let subresource = entry
        .get("subresource")
        .and_then(Json::as_str)
        .unwrap_or("");
    HELM_MANAGERS.contains(&manager) && subresource.is_empty()
}

/// `live`'s managedFields with Helm's entries folded into berth's `Apply` entry (Helm's marks
/// left in an entry of Helm's own); `None` when Helm owns nothing.
pub(crate) fn taken_over(live: &Json) -> Option<Vec<Json>> {
    let all: Vec<&Json> = entries(live).collect();
    let helms: Vec<&Json> = all.iter().copied().filter(|e| is_helms(e)).collect();
    let first = helms.first()?;
    let mut fields = Json::Object(Map::new());
    for e in &helms {
        union(&mut fields, e.get("fieldsV1").unwrap_or(&Json::Null));
    }
    let marks = take_marks(&mut fields);
    let api_version = first.get("apiVersion").cloned().unwrap_or(Json::Null);
    let mut out = Vec::new();
    let mut berth_entry = None;
    for e in all.iter().copied().filter(|e| !is_helms(e)) {
        let berths = e.get("manager").and_then(Json::as_str) == Some(FIELD_MANAGER)
            && e.get("operation").and_then(Json::as_str) == Some("Apply");
        if berths && berth_entry.is_none() {
            berth_entry = Some(out.len());
        }
        out.push(e.clone());
    }
    match berth_entry {
        Some(i) => union(&mut out[i]["fieldsV1"], &fields),
        None => out.push(json!({
            "manager": FIELD_MANAGER, "operation": "Apply", "apiVersion": api_version,
            "time": first.get("time"), "fieldsType": "FieldsV1", "fieldsV1": fields,
        })),
    }
    if let Some(marks) = marks {
        let mut kept = (*first).clone();
        kept["fieldsV1"] = marks;
        out.push(kept);
    }
    Some(out)
}

/// Moves Helm's marks out of `fields` into a tree of their own.
fn take_marks(fields: &mut Json) -> Option<Json> {
    let metadata = fields.get_mut("f:metadata").and_then(Json::as_object_mut)?;
    let mut marks = Map::new();
    for (field, key) in HELM_MARKS {
        let Some(map) = metadata.get_mut(*field).and_then(Json::as_object_mut) else {
            continue;
        };
        if let Some(v) = map.remove(&format!("f:{key}")) {
            let kept = marks.entry(*field).or_insert_with(|| json!({}));
            kept[format!("f:{key}")] = v;
        }
    }
    (!marks.is_empty()).then(|| json!({ "f:metadata": marks }))
}

/// Adds every path of `b` to `a` (FieldsV1 trees).
fn union(a: &mut Json, b: &Json) {
    let Some(b) = b.as_object() else { return };
    if !a.is_object() {
        *a = Json::Object(Map::new());
    }
    let a = a.as_object_mut().expect("made an object above");
    for (k, v) in b {
        union(a.entry(k.clone()).or_insert_with(|| json!({})), v);
    }
}

/// Writes [`taken_over`] to the live object, provided it has not changed since it was read.
pub(crate) async fn take_over(
    api: &Api<DynamicObject>,
    name: &str,
    live: &Json,
) -> Result<bool, kube::Error> {
    let Some(fields) = taken_over(live) else {
        return Ok(false);
    };
    // A merge patch replaces the list whole; its resourceVersion makes the write conditional
    // (a 409 if the object changed since it was read).
    let version = live.pointer("/metadata/resourceVersion").cloned();
    let patch = json!({"metadata": {"resourceVersion": version, "managedFields": fields}});
    api.patch(name, &crate::patch_params(), &Patch::Merge(&patch))
        .await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(entries: Json) -> Json {
        json!({"metadata": {"resourceVersion": "7", "managedFields": entries}})
    }

    #[test]
    fn helms_fields_become_berths_and_its_marks_stay_its_own() {
        let l = live(json!([
            {"manager": "helm", "operation": "Apply", "apiVersion": "apps/v1", "fieldsType": "FieldsV1",
             "fieldsV1": {"f:metadata": {"f:annotations": {"f:meta.helm.sh/release-name": {}, "f:meta.helm.sh/release-namespace": {}},
                                         "f:labels": {"f:app": {}, "f:app.kubernetes.io/managed-by": {}}},
                          "f:spec": {"f:template": {"f:spec": {"f:hostNetwork": {}}}}}},
            {"manager": "kube-controller-manager", "operation": "Update", "subresource": "status",
             "fieldsV1": {"f:status": {}}},
            {"manager": "hpa", "operation": "Apply", "fieldsV1": {"f:spec": {"f:replicas": {}}}},
        ]));
        assert!(helm_owns_fields(&l));
        assert_eq!(other_managers(&l), ["hpa"]);
        let out = taken_over(&l).unwrap();
        let managers: Vec<_> = out.iter().map(|e| e["manager"].as_str().unwrap()).collect();
        assert_eq!(
            managers,
            ["kube-controller-manager", "hpa", "berth", "helm"]
        );
        assert_eq!(out[2]["operation"], "Apply");
        assert_eq!(
            out[2]["fieldsV1"],
            json!({"f:metadata": {"f:annotations": {}, "f:labels": {"f:app": {}}}, "f:spec": {"f:template": {"f:spec": {"f:hostNetwork": {}}}}})
        );
        assert_eq!(
            out[3]["fieldsV1"],
            json!({"f:metadata": {"f:annotations": {"f:meta.helm.sh/release-name": {}, "f:meta.helm.sh/release-namespace": {}},
                                  "f:labels": {"f:app.kubernetes.io/managed-by": {}}}})
        );
        assert_eq!(
            out[1], l["metadata"]["managedFields"][2],
            "others untouched"
        );
    }

    #[test]
    fn berths_entry_is_extended_and_client_side_helm_counts() {
        let l = live(json!([
            {"manager": "berth", "operation": "Apply", "fieldsV1": {"f:data": {"f:a": {}}}},
            {"manager": "helm", "operation": "Update", "fieldsV1": {"f:data": {"f:b": {}}}},
        ]));
        let out = taken_over(&l).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0]["fieldsV1"],
            json!({"f:data": {"f:a": {}, "f:b": {}}})
        );
        assert_eq!(taken_over(&live(json!([out[0].clone()]))), None);
    }

    #[test]
    fn conflicts_only_with_helm_are_the_adoptions_to_resolve() {
        assert!(only_helm_conflicts(
            "Apply failed with 3 conflicts: conflicts with \"helm\":\n- .spec.replicas"
        ));
        assert!(!only_helm_conflicts(
            "Apply failed with 2 conflicts: conflicts with \"helm\":\n- .a\nconflict with \"hpa\" using apps/v1: .spec.replicas"
        ));
        assert!(!only_helm_conflicts("the server is on fire"));
    }
}
