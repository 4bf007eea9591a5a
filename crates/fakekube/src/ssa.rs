//! Server-side apply as the API server does it, for what berth uses: field sets per manager,
//! conflicts when another manager owns a field with a different value, removal of fields a
//! manager stopped applying, merge of keyed lists (containers, env, ports, volumes by key).

use serde_json::{Map, Value as Json};
use std::collections::{BTreeMap, BTreeSet};

/// A field path: `f:spec`, `f:containers`, `k:{"name":"web"}`, ...
pub type Path = Vec<String>;

/// Who owns which fields of an object.
#[derive(Clone, Debug, Default)]
pub struct Managers {
    /// manager -> (operation, fields)
    pub entries: BTreeMap<String, (String, BTreeSet<Path>)>,
}

/// The key that identifies items of a list, as the OpenAPI merge keys do; `None` = atomic.
fn merge_key(field: &str, items: &[Json]) -> Option<&'static str> {
    if items.is_empty() || !items.iter().all(Json::is_object) {
        return None;
    }
    let all = |k: &str| items.iter().all(|i| i.get(k).is_some());
    match field {
        "ports" if all("containerPort") => Some("containerPort"),
        "ports" if all("port") => Some("port"),
        "volumeMounts" if all("mountPath") => Some("mountPath"),
        "containers" | "initContainers" | "volumes" | "env" | "imagePullSecrets" | "rules"
            if all("name") =>
        {
            Some("name")
        }
        _ if all("name") && field != "rules" && field != "paths" => Some("name"),
        _ => None,
    }
}

fn item_key(key: &str, item: &Json) -> String {
    format!(
        "k:{{\"{key}\":{}}}",
        item.get(key).cloned().unwrap_or(Json::Null)
    )
}

/// The leaf field paths an applied object sets (identity fields excluded).
pub fn paths(obj: &Json) -> BTreeSet<Path> {
    let mut out = BTreeSet::new();
    if let Some(map) = obj.as_object() {
        for (k, v) in map {
            if k == "apiVersion" || k == "kind" || k == "status" {
                continue;
            }
            if k == "metadata" {
                if let Some(meta) = v.as_object() {
                    for (mk, mv) in meta {
                        if matches!(mk.as_str(), "labels" | "annotations") {
                            walk(
                                mv,
                                vec!["f:metadata".into(), format!("f:{mk}")],
                                mk,
                                &mut out,
                            );
                        }
                    }
                }
                continue;
            }
            walk(v, vec![format!("f:{k}")], k, &mut out);
        }
    }
    out
}

fn walk(v: &Json, prefix: Path, field: &str, out: &mut BTreeSet<Path>) {
    match v {
        Json::Object(map) if !map.is_empty() => {
            for (k, child) in map {
                let mut p = prefix.clone();
                p.push(format!("f:{k}"));
                walk(child, p, k, out);
            }
        }
        Json::Array(items) => match merge_key(field, items) {
            Some(key) => {
                for item in items {
                    let mut p = prefix.clone();
                    p.push(item_key(key, item));
                    if let Some(map) = item.as_object() {
                        for (k, child) in map {
                            let mut q = p.clone();
                            q.push(format!("f:{k}"));
                            walk(child, q, k, out);
                        }
                    }
                }
            }
            None => {
                out.insert(prefix);
            }
        },
        _ => {
            out.insert(prefix);
        }
    }
}

/// The value at a path, if present.
pub fn get<'a>(obj: &'a Json, path: &[String]) -> Option<&'a Json> {
    let mut cur = obj;
    let mut field = "";
    for seg in path {
        if let Some(name) = seg.strip_prefix("f:") {
            cur = cur.as_object()?.get(name)?;
            field = name;
        } else {
            let items = cur.as_array()?;
            let key = merge_key(field, items)?;
            cur = items.iter().find(|i| item_key(key, i) == *seg)?;
        }
    }
    Some(cur)
}

/// Removes the value at a path (and empty parents it leaves, except keyed items).
fn remove(obj: &mut Json, path: &[String]) {
    if path.is_empty() {
        return;
    }
    let (last, parents) = path.split_last().unwrap();
    let mut cur = obj;
    let mut field = String::new();
    for seg in parents {
        let next = if let Some(name) = seg.strip_prefix("f:") {
            field = name.to_string();
            cur.as_object_mut().and_then(|m| m.get_mut(name))
        } else {
            let Some(items) = cur.as_array_mut() else {
                return;
            };
            let key = merge_key(&field, items);
            match key {
                Some(key) => items.iter_mut().find(|i| item_key(key, i) == *seg),
                None => None,
            }
        };
        match next {
            Some(n) => cur = n,
            None => return,
        }
    }
    if let Some(name) = last.strip_prefix("f:") {
        if let Some(m) = cur.as_object_mut() {
            m.remove(name);
        }
    } else if let Some(items) = cur.as_array_mut() {
        if let Some(key) = merge_key(&field, items) {
            items.retain(|i| item_key(key, i) != *last);
        }
    }
}

/// Deep merge of an applied configuration into the live object.
pub fn merge(live: &mut Json, applied: &Json, field: &str) {
    match (live, applied) {
        (Json::Object(l), Json::Object(a)) => {
            for (k, v) in a {
                match l.get_mut(k) {
                    Some(existing) => merge(existing, v, k),
                    None => {
                        l.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (Json::Array(l), Json::Array(a)) => match merge_key(field, a) {
            Some(key) if l.iter().all(|i| i.get(key).is_some()) => {
                for item in a {
                    let k = item_key(key, item);
                    match l.iter_mut().find(|i| item_key(key, i) == k) {
                        Some(existing) => merge(existing, item, field),
                        None => l.push(item.clone()),
                    }
                }
            }
            _ => *l = a.clone(),
        },
        (l, a) => *l = a.clone(),
    }
}

/// A conflict: the field and the manager that owns it.
pub struct Conflict {
    pub manager: String,
    pub field: String,
}

fn dotted(path: &[String]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg.strip_prefix("f:") {
            Some(name) => {
                s.push('.');
                s.push_str(name);
            }
            None => {
                s.push('[');
                s.push_str(seg.trim_start_matches("k:"));
                s.push(']');
            }
        }
    }
    s
}

/// Applies `applied` as `manager`; returns the conflicts instead when not forced.
pub fn apply(
    live: &mut Json,
    managers: &mut Managers,
    manager: &str,
    applied: &Json,
    force: bool,
) -> Result<(), Vec<Conflict>> {
    let new_paths = paths(applied);
    let mut conflicts = Vec::new();
    for (other, (_, fields)) in &managers.entries {
        if other == manager {
            continue;
        }
        for p in fields.intersection(&new_paths) {
            if get(live, p) != get(applied, p) {
                conflicts.push(Conflict {
                    manager: other.clone(),
                    field: dotted(p),
                });
            }
        }
    }
    if !conflicts.is_empty() && !force {
        return Err(conflicts);
    }
    // Forced (or equal-valued) fields: taken over when the value differs, shared when equal.
    for (other, (_, fields)) in managers.entries.iter_mut() {
        if other == manager {
            continue;
        }
        fields.retain(|p| !new_paths.contains(p) || get(live, p) == get(applied, p));
    }
    let old = managers
        .entries
        .get(manager)
        .map(|(_, f)| f.clone())
        .unwrap_or_default();
    for p in old.difference(&new_paths) {
        let owned_by_other = managers.entries.iter().any(|(m, (_, f))| {
            m != manager && f.iter().any(|q| q.starts_with(p) || p.starts_with(q))
        });
        if !owned_by_other {
            remove(live, p);
        }
    }
    merge(live, applied, "");
    managers
        .entries
        .insert(manager.to_string(), ("Apply".into(), new_paths));
    managers.entries.retain(|_, (_, f)| !f.is_empty());
    Ok(())
}

/// Records a non-apply write (create, update, merge patch): the writer owns what it set.
pub fn update(managers: &mut Managers, manager: &str, before: &Json, after: &Json) {
    let now = paths(after);
    let changed: BTreeSet<Path> = now
        .iter()
        .filter(|p| get(before, p) != get(after, p))
        .cloned()
        .collect();
    for (m, (_, fields)) in managers.entries.iter_mut() {
        if m != manager {
            fields.retain(|p| !changed.contains(p));
        }
    }
    let entry = managers
        .entries
        .entry(manager.to_string())
        .or_insert_with(|| ("Update".into(), BTreeSet::new()));
    entry.1.extend(changed);
    managers.entries.retain(|_, (_, f)| !f.is_empty());
}

/// `managedFields` in the API's FieldsV1 form.
pub fn managed_fields(m: &Managers, api_version: &str, time: &str) -> Json {
    Json::Array(
        m.entries
            .iter()
            .map(|(manager, (op, fields))| {
                let mut tree = Map::new();
                for p in fields {
                    let mut cur = &mut tree;
                    for seg in p {
                        cur = cur
                            .entry(seg.clone())
                            .or_insert_with(|| Json::Object(Map::new()))
                            .as_object_mut()
                            .unwrap();
                    }
                }
                serde_json::json!({
                    "manager": manager, "operation": op, "apiVersion": api_version,
                    "time": time, "fieldsType": "FieldsV1", "fieldsV1": tree,
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn conflicts_name_field_and_manager_and_force_takes_over() {
        let mut live = json!({});
        let mut m = Managers::default();
        apply(
            &mut live,
            &mut m,
            "other",
            &json!({"spec": {"replicas": 3}}),
            false,
        )
        .ok()
        .unwrap();
        let err = apply(
            &mut live,
            &mut m,
            "berth",
            &json!({"spec": {"replicas": 2}}),
            false,
        )
        .err()
        .unwrap();
        assert_eq!(err[0].manager, "other");
        assert_eq!(err[0].field, ".spec.replicas");
        // Same value: shared, no conflict.
        apply(
            &mut live,
            &mut m,
            "berth",
            &json!({"spec": {"replicas": 3}}),
            false,
        )
        .ok()
        .unwrap();
        apply(
            &mut live,
            &mut m,
            "berth",
            &json!({"spec": {"replicas": 2}}),
            true,
        )
        .ok()
        .unwrap();
        assert_eq!(live["spec"]["replicas"], 2);
        assert!(!m.entries.contains_key("other"));
    }

    #[test]
    fn removed_fields_go_and_keyed_lists_merge() {
        let mut live = json!({});
        let mut m = Managers::default();
        let first = json!({"spec": {"a": 1, "containers": [{"name": "x", "image": "i:1"}]}});
        apply(&mut live, &mut m, "berth", &first, false)
            .ok()
            .unwrap();
        let second = json!({"spec": {"containers": [{"name": "x", "image": "i:2"}, {"name": "y", "image": "j"}]}});
        apply(&mut live, &mut m, "berth", &second, false)
            .ok()
            .unwrap();
        assert_eq!(
            live,
            json!({"spec": {"containers": [{"name": "x", "image": "i:2"}, {"name": "y", "image": "j"}]}})
        );
    }
}
