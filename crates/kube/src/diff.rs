//! What berth records to tell its own applies apart (a digest of the applied body), on top of
//! the display functions of [`berth_render::diff`], re-exported here.

pub use berth_render::diff::*;
use serde_json::{Map, Value as Json};
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
        let changes: Vec<(&str, String)> = d
            .iter()
            .map(|x| (x.object.as_str(), x.change.to_string()))
            .collect();
        assert_eq!(
            changes,
            [
                ("Secret a/db", "changed".to_string()),
                ("Job j", "added".to_string()),
                ("ConfigMap c", "removed".to_string())
            ]
        );
    }
}
