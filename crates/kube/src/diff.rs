//! What a change looks like to a person: server noise stripped, Secret values masked, a YAML diff.

use serde_json::{Map, Value as Json};

/// Metadata the server writes that no one edits; never part of a plan.
const NOISY_METADATA: &[&str] = &[
    "managedFields",
    "resourceVersion",
    "uid",
    "generation",
    "creationTimestamp",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

/// The digest of the body berth applied last, on every object it applies.
pub const APPLIED_DIGEST: &str = "berth.dev/applied-digest";

/// Annotations controllers and tools (berth too) write for their own bookkeeping.
const NOISY_ANNOTATIONS: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    "deployment.kubernetes.io/revision",
    APPLIED_DIGEST,
];

/// Records in `body` the digest of `body` itself (without the digest), so a later plan can tell
/// an object berth applied unchanged from its live state alone, without asking the server.
pub fn stamp_digest(body: &mut Json) -> Result<(), crate::Error> {
    use sha2::{Digest, Sha256};
    let refuse = |what: &str| crate::Error::new(crate::ErrorKind::Rejected, what);
    let bytes = serde_json::to_vec(&canonical(body, true)).map_err(|e| refuse(&e.to_string()))?;
    let hex: String = Sha256::digest(bytes)[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let annotations = body
        .pointer_mut("/metadata")
        .and_then(Json::as_object_mut)
        .ok_or_else(|| refuse("object has no metadata"))?
        .entry("annotations")
        .or_insert_with(|| Json::Object(Map::new()))
        .as_object_mut()
        .ok_or_else(|| refuse("metadata.annotations is not a map"))?;
    annotations.insert(APPLIED_DIGEST.into(), Json::String(hex));
    Ok(())
}

/// Is applying `body` (stamped) to `live` a no-op? True when berth applied exactly this body
/// last (same digest), still manages the object, and every field it sets still has the value it
/// set. Anything else (including values the server normalizes, like `0.5` CPUs) is `false`: the
/// server's dry-run decides.
pub fn unchanged_since_applied(live: &Json, body: &Json) -> bool {
    let digest = |o: &Json| {
        o.pointer("/metadata/annotations")
            .and_then(|a| a.get(APPLIED_DIGEST))
            .cloned()
    };
    let managed = live
        .pointer("/metadata/managedFields")
        .and_then(Json::as_array)
        .is_some_and(|m| {
            m.iter().any(|e| {
                e.get("manager").and_then(Json::as_str) == Some(crate::FIELD_MANAGER)
                    && e.get("operation").and_then(Json::as_str) == Some("Apply")
            })
        });
    if !managed || digest(live).is_none() || digest(live) != digest(body) {
        return false;
    }
    let body = fold_string_data(body);
    normalize(&project(live, &body)) == normalize(&body)
}

/// A Secret's `stringData` as the server stores it: base64 in `data`.
fn fold_string_data(body: &Json) -> Json {
    use base64::Engine;
    let mut body = body.clone();
    if !is_secret(&body) {
        return body;
    }
    let Some(map) = body.as_object_mut() else {
        return body;
    };
    if let Some(Json::Object(strings)) = map.remove("stringData") {
        let data = map
            .entry("data")
            .or_insert_with(|| Json::Object(Map::new()));
        if let Some(data) = data.as_object_mut() {
            for (k, v) in strings {
                let text = v.as_str().unwrap_or_default().to_string();
                let encoded = base64::engine::general_purpose::STANDARD.encode(text);
                data.insert(k, Json::String(encoded));
            }
        }
    }
    body
}

/// The object without what the server owns (status, bookkeeping metadata, controller
/// annotations), its keys in one canonical order so that a diff never depends on the order in
/// which the server or the template wrote them.
pub fn normalize(obj: &Json) -> Json {
    let mut obj = canonical(obj, true);
    if let Some(map) = obj.as_object_mut() {
        map.remove("status");
        if let Some(meta) = map.get_mut("metadata").and_then(Json::as_object_mut) {
            for key in NOISY_METADATA {
                meta.remove(*key);
            }
            if let Some(ann) = meta.get_mut("annotations").and_then(Json::as_object_mut) {
                for key in NOISY_ANNOTATIONS {
                    ann.remove(*key);
                }
            }
            for key in ["annotations", "labels"] {
                if meta
                    .get(key)
                    .and_then(Json::as_object)
                    .is_some_and(Map::is_empty)
                {
                    meta.remove(key);
                }
            }
        }
    }
    obj
}

/// Keys of the top level shown first, in this order, as people write manifests.
const LEADING_KEYS: &[&str] = &["apiVersion", "kind", "metadata"];

/// `value` with every map's keys sorted (the top level's leading keys first).
fn canonical(value: &Json, top: bool) -> Json {
    match value {
        Json::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            let rank = |k: &str| {
                LEADING_KEYS
                    .iter()
                    .position(|l| top && *l == k)
                    .unwrap_or(LEADING_KEYS.len())
            };
            keys.sort_by(|a, b| rank(a).cmp(&rank(b)).then_with(|| a.cmp(b)));
            Json::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), canonical(&map[k], false)))
                    .collect(),
            )
        }
        Json::Array(items) => Json::Array(items.iter().map(|i| canonical(i, false)).collect()),
        other => other.clone(),
    }
}

/// `live` cut down to the fields `shape` has (maps by key, lists by position): what a change
/// that cannot be dry-run (a replace) is compared with, so server defaults do not show as removed.
pub fn project(live: &Json, shape: &Json) -> Json {
    match (live, shape) {
        (Json::Object(l), Json::Object(sh)) => Json::Object(
            l.iter()
                .filter_map(|(k, v)| Some((k.clone(), project(v, sh.get(k)?))))
                .collect(),
        ),
        (Json::Array(l), Json::Array(sh)) => Json::Array(
            l.iter()
                .enumerate()
                .map(|(i, v)| sh.get(i).map_or_else(|| v.clone(), |s| project(v, s)))
                .collect(),
        ),
        _ => live.clone(),
    }
}

/// Is this a core Secret (whose values must never be shown)?
pub fn is_secret(obj: &Json) -> bool {
    obj.get("kind").and_then(Json::as_str) == Some("Secret")
        && obj.get("apiVersion").and_then(Json::as_str) == Some("v1")
}

const HIDDEN: &str = "(hidden)";
const HIDDEN_CHANGED: &str = "(hidden, changed)";

/// Masks a Secret's values; with `before`, marks the keys whose value differs from it.
pub fn mask_secret(obj: &Json, before: Option<&Json>) -> Json {
    let mut obj = obj.clone();
    let old = before.map(merged_secret_values);
    let new = merged_secret_values(&obj);
    if let Some(map) = obj.as_object_mut() {
        for field in ["data", "stringData"] {
            if let Some(values) = map.get_mut(field).and_then(Json::as_object_mut) {
                for (key, value) in values.iter_mut() {
                    let changed = match &old {
                        Some(old) => old.get(key) != new.get(key),
                        None => false,
                    };
                    *value = Json::String(if changed { HIDDEN_CHANGED } else { HIDDEN }.into());
                }
            }
        }
    }
    obj
}

/// A Secret's values as bytes, with `stringData` folded into `data` as the server does.
fn merged_secret_values(obj: &Json) -> Map<String, Json> {
    use base64::Engine;
    let mut out = Map::new();
    if let Some(data) = obj.get("data").and_then(Json::as_object) {
        for (k, v) in data {
            let bytes = v
                .as_str()
                .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
                .unwrap_or_default();
            out.insert(
                k.clone(),
                Json::String(String::from_utf8_lossy(&bytes).into()),
            );
        }
    }
    if let Some(data) = obj.get("stringData").and_then(Json::as_object) {
        for (k, v) in data {
            out.insert(k.clone(), v.clone());
        }
    }
    out
}

/// The object as YAML for display (Secret values masked by the caller).
pub fn to_yaml(obj: &Json) -> String {
    serde_saphyr::to_string(obj).unwrap_or_else(|_| serde_json::to_string_pretty(obj).unwrap())
}

/// A unified diff of two YAML texts with three lines of context, or `None` when equal.
pub fn unified(before: &str, after: &str, name: &str) -> Option<String> {
    if before == after {
        return None;
    }
    let diff = similar::TextDiff::from_lines(before, after);
    Some(
        diff.unified_diff()
            .context_radius(3)
            .header(&format!("live/{name}"), &format!("rendered/{name}"))
            .to_string(),
    )
}

/// How one object differs between two renders.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ObjectDiff {
    /// `Kind namespace/name` (`Kind name` for a cluster-scoped object).
    pub object: String,
    /// `added`, `removed` or `changed`.
    pub change: &'static str,
    /// The unified diff of the object's YAML, Secret values masked.
    pub diff: String,
}

/// The objects that differ between two renders (`old`, `new`: object bodies), in the order of
/// `new` then the removed ones; `labels` name the two sides in the diffs' headers.
pub fn between(old: &[Json], new: &[Json], labels: (&str, &str)) -> Vec<ObjectDiff> {
    let key = |o: &Json| {
        let f = |p: &str| {
            o.pointer(p)
                .and_then(Json::as_str)
                .unwrap_or("")
                .to_string()
        };
        let ns = f("/metadata/namespace");
        let name = f("/metadata/name");
        match ns.is_empty() {
            true => format!("{} {name}", f("/kind")),
            false => format!("{} {ns}/{name}", f("/kind")),
        }
    };
    let old_by: std::collections::BTreeMap<String, &Json> =
        old.iter().map(|o| (key(o), o)).collect();
    let new_keys: std::collections::BTreeSet<String> = new.iter().map(key).collect();
    let shown = |o: &Json, before: Option<&Json>| {
        let o = normalize(o);
        to_yaml(&if is_secret(&o) {
            mask_secret(&o, before)
        } else {
            o
        })
    };
    let diff = |a: &str, b: &str, name: &str| {
        let d = similar::TextDiff::from_lines(a, b);
        let header = (
            format!("{}/{name}", labels.0),
            format!("{}/{name}", labels.1),
        );
        d.unified_diff()
            .context_radius(3)
            .header(&header.0, &header.1)
            .to_string()
    };
    let mut out = Vec::new();
    for o in new {
        let k = key(o);
        let (change, before, after) = match old_by.get(&k) {
            None => ("added", String::new(), shown(o, None)),
            Some(b) if **b == *o => continue,
            Some(b) => ("changed", shown(b, None), shown(o, Some(b))),
        };
        out.push(ObjectDiff {
            diff: diff(&before, &after, &k),
            object: k,
            change,
        });
    }
    for (k, b) in old_by.iter().filter(|(k, _)| !new_keys.contains(*k)) {
        out.push(ObjectDiff {
            object: k.clone(),
            change: "removed",
            diff: diff(&shown(b, None), "", k),
        });
    }
    out
}

/// Display forms of a live object and its dry-run result, masked when it is a Secret.
pub fn display_pair(live: &Json, planned: &Json) -> (String, String) {
    let (live, planned) = (normalize(live), normalize(planned));
    if is_secret(&planned) {
        (
            to_yaml(&mask_secret(&live, None)),
            to_yaml(&mask_secret(&planned, Some(&live))),
        )
    } else {
        (to_yaml(&live), to_yaml(&planned))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn noise_is_ignored() {
        let live = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "uid": "1", "resourceVersion": "7", "managedFields": [],
                         "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
            "data": {"k": "v"}});
        let planned = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "uid": "1", "resourceVersion": "8"},
            "data": {"k": "v"}});
        assert_eq!(normalize(&live), normalize(&planned));
    }

    #[test]
    fn key_order_never_shows_as_a_change() {
        let live = json!({"metadata": {"name": "a", "labels": {"b": "1", "a": "2"}},
            "data": {"x": "1", "k": "v"}, "kind": "ConfigMap", "apiVersion": "v1"});
        let planned = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"labels": {"a": "2", "b": "1"}, "name": "a"},
            "data": {"k": "w", "x": "1"}});
        let (before, after) = display_pair(&live, &planned);
        assert!(
            before.starts_with("apiVersion: v1\nkind: ConfigMap\nmetadata:"),
            "{before}"
        );
        let text = unified(&before, &after, "a").unwrap();
        let changed: Vec<&str> = text
            .lines()
            .filter(|l| {
                (l.starts_with('+') || l.starts_with('-'))
                    && !l.starts_with("+++")
                    && !l.starts_with("---")
            })
            .collect();
        assert_eq!(changed, ["-  k: v", "+  k: w"], "{text}");
    }

    #[test]
    fn a_projection_keeps_only_the_rendered_fields() {
        let live = json!({"spec": {"backoffLimit": 6, "template": {"spec": {"containers": [
            {"name": "m", "image": "a:1", "imagePullPolicy": "IfNotPresent"}], "dnsPolicy": "ClusterFirst"}}}});
        let shape = json!({"spec": {"template": {"spec": {"containers": [{"name": "m", "image": "a:2"}]}}}});
        assert_eq!(
            project(&live, &shape),
            json!({"spec": {"template": {"spec": {"containers": [{"name": "m", "image": "a:1"}]}}}})
        );
    }

    #[test]
    fn an_object_applied_unchanged_needs_no_dry_run() {
        let mut body = json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "a", "namespace": "n"}, "spec": {"ports": [{"port": 80}]}});
        stamp_digest(&mut body).unwrap();
        let mut live = body.clone();
        live["metadata"]["managedFields"] = json!([{"manager": "berth", "operation": "Apply"}]);
        live["metadata"]["uid"] = json!("u");
        live["spec"]["ports"][0]["protocol"] = json!("TCP");
        live["spec"]["clusterIP"] = json!("10.0.0.9");
        assert!(
            unchanged_since_applied(&live, &body),
            "server defaults are not changes"
        );
        let mut drifted = live.clone();
        drifted["spec"]["ports"][0]["port"] = json!(81);
        assert!(
            !unchanged_since_applied(&drifted, &body),
            "someone changed a field berth sets"
        );
        let mut other = body.clone();
        other["spec"]["ports"][0]["port"] = json!(82);
        stamp_digest(&mut other).unwrap();
        assert!(!unchanged_since_applied(&live, &other), "a new render");
        let mut removed = json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "a", "namespace": "n"}, "spec": {}});
        stamp_digest(&mut removed).unwrap();
        assert!(
            !unchanged_since_applied(&live, &removed),
            "a field dropped from the render"
        );
        let mut foreign = live.clone();
        foreign["metadata"]["managedFields"] =
            json!([{"manager": "kubectl", "operation": "Apply"}]);
        assert!(
            !unchanged_since_applied(&foreign, &body),
            "not applied by berth"
        );
    }

    #[test]
    fn secret_values_never_show_but_changed_keys_do() {
        let live = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
            "data": {"same": "YQ==", "diff": "Yg=="}});
        let planned = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
            "data": {"same": "YQ==", "diff": "Yw==", "new": "ZA=="}});
        let (before, after) = display_pair(&live, &planned);
        let text = unified(&before, &after, "s").unwrap();
        for secret in ["YQ==", "Yg==", "Yw==", "ZA=="] {
            assert!(!text.contains(secret), "{text}");
        }
        assert!(text.contains("+  diff: (hidden, changed)"), "{text}");
        assert!(text.contains("+  new: (hidden, changed)"), "{text}");
        assert!(!text.contains("+  same"), "{text}");
    }

    /// Two renders compared: a changed Secret value shows as masked and changed, never in
    /// clear; an added and a removed object are named.
    #[test]
    fn renders_compare_with_secret_values_masked() {
        let secret = |v: &str| {
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "a"},
                   "stringData": {"password": v}})
        };
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        let job = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}});
        let d = between(
            &[secret("old-pw"), cm],
            &[secret("new-pw"), job],
            ("HEAD", "tree"),
        );
        let all: String = d.iter().map(|x| x.diff.clone()).collect();
        assert!(!all.contains("old-pw") && !all.contains("new-pw"), "{all}");
        assert!(all.contains("(hidden, changed)"), "{all}");
        let changes: Vec<(&str, &str)> = d.iter().map(|x| (x.object.as_str(), x.change)).collect();
        assert_eq!(
            changes,
            [
                ("Secret a/db", "changed"),
                ("Job j", "added"),
                ("ConfigMap c", "removed")
            ]
        );
    }
}
