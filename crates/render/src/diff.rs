//! What a change to rendered objects looks like to a person: server noise stripped, keys in one
//! order, Secret values masked, a YAML diff; and the object-level difference of two renders
//! (`berth diff`, the dashboard's Reload preview). The Kubernetes backend's plan shows its
//! dry-run results with the same functions.

pub use berth_core::view::{DiffKind, ObjectDiff};
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
pub fn canonical(value: &Json, top: bool) -> Json {
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
            None => (DiffKind::Added, String::new(), shown(o, None)),
            Some(b) if **b == *o => continue,
            Some(b) => (DiffKind::Changed, shown(b, None), shown(o, Some(b))),
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
            change: DiffKind::Removed,
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
