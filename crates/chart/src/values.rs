//! Values as Helm computes them: user values (`-f` files, then the `--set` family) coalesced
//! with the chart's `values.yaml` and its subcharts' (`pkg/chart/common/util/coalesce.go`), with
//! `global` passed down, and `null` deleting a default.

use berth_manifest::{Error, ErrorKind};
use serde_json::{Map, Value as Json};

pub(crate) type Values = Map<String, Json>;

const GLOBAL: &str = "global";

/// Parses YAML text; an error names the file, line and column.
pub(crate) fn parse_yaml(text: &str, shown: &str) -> Result<Json, Error> {
    if let Some(v) = berth_manifest::parse_yaml_fast(text) {
        return Ok(v);
    }
    berth_manifest::parse_yaml_full(text).map_err(|e| {
        let what = format!("{shown} is not valid YAML");
        berth_manifest::yaml_error(ErrorKind::Variables, shown, text, &e, &what)
            .hint("check the indentation and quoting around this line")
    })
}

/// Parses a rendered document as Helm reads it: YAML 1.1 octals, and a repeated key keeps the
/// last value (Go's YAML v2).
pub(crate) fn parse_document(text: &str) -> Result<Json, serde_saphyr::Error> {
    let mut opts = berth_template::go_yaml_options();
    opts.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::LastWins;
    berth_template::parse_as_go(text, opts)
}

/// Checks a rendered document is YAML and reads its head (the rest is checked, not kept);
/// `None` for an empty document. A document that is not a map is an error, as in Helm.
pub(crate) fn parse_head(text: &str) -> Result<Option<crate::output::Head>, serde_saphyr::Error> {
    // Most documents are plain block YAML, which the fast reader checks (or declines),
    // building only the head.
    match berth_manifest::head_fields(text) {
        Some(None) => return Ok(None),
        Some(Some(f)) => return Ok(Some(crate::output::Head::from_fields(f))),
        None => {}
    }
    let mut opts = berth_template::go_yaml_options();
    opts.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::FirstWins;
    berth_template::parse_as_go(text, opts)
}

/// Every number as Go's `float64`, as Helm's YAML-through-JSON decoding leaves it.
pub fn go_numbers(v: Json) -> Json {
    match v {
        Json::Number(n) if n.is_f64() => Json::Number(n),
        Json::Number(n) => serde_json::Number::from_f64(n.as_f64().unwrap_or(0.0))
            .map(Json::Number)
            .unwrap_or(Json::Null),
        Json::Array(a) => Json::Array(a.into_iter().map(go_numbers).collect()),
        Json::Object(m) => Json::Object(m.into_iter().map(|(k, v)| (k, go_numbers(v))).collect()),
        other => other,
    }
}

/// Helm's `mergeMaps` for user values: maps merge key by key, anything else replaces.
pub(crate) fn merge_maps(dst: &mut Values, src: Values) {
    for (k, v) in src {
        match (dst.get_mut(&k), v) {
            (Some(Json::Object(d)), Json::Object(s)) => merge_maps(d, s),
            (_, v) => {
                dst.insert(k, v);
            }
        }
    }
}

/// The chart's values (and its subcharts', under their names) with `dest` over them.
/// `merge` keeps `null`s (Helm's `MergeValues`); otherwise a `null` deletes the key.
pub(crate) fn coalesce(chart: &crate::Chart, dest: &mut Values, merge: bool) -> Result<(), Error> {
    coalesce_values(chart, dest, merge);
    coalesce_deps(chart, dest, merge)
}

fn coalesce_deps(chart: &crate::Chart, dest: &mut Values, merge: bool) -> Result<(), Error> {
    for sub in &chart.dependencies {
        let name = sub.name().to_string();
        let mut sub_values = match dest.remove(&name) {
            None => Map::new(),
            Some(Json::Object(m)) => m,
            Some(other) => {
                return Err(Error::new(
                    ErrorKind::Variables,
                    format!(
                    "type mismatch on {name}: values for the subchart {name} must be a map, not {}",
                    berth_manifest::json_type(&other)
                ),
                )
                .hint(format!("give `{name}:` a map of the subchart's values")))
            }
        };
        coalesce_globals(&mut sub_values, dest);
        coalesce(sub, &mut sub_values, merge)?;
        dest.insert(name, Json::Object(sub_values));
    }
    Ok(())
}

/// Copies the parent's `global` into the subchart's values (the parent's win).
fn coalesce_globals(dest: &mut Values, src: &Values) {
    let mut dg = match dest.get(GLOBAL) {
        None => Map::new(),
        Some(Json::Object(m)) => m.clone(),
        Some(_) => return,
    };
    let sg = match src.get(GLOBAL) {
        None => Map::new(),
        Some(Json::Object(m)) => m.clone(),
        Some(_) => return,
    };
    for (k, v) in sg {
        match (v, dg.get(&k)) {
            (Json::Object(mut vv), Some(Json::Object(destv))) => {
                coalesce_tables(&mut vv, destv.clone(), true);
                dg.insert(k, Json::Object(vv));
            }
            (Json::Object(_), Some(_)) => {}
            (Json::Object(vv), None) => {
                dg.insert(k, Json::Object(vv));
            }
            (_, Some(Json::Object(_))) => {}
            (v, _) => {
                dg.insert(k, v);
            }
        }
    }
    dest.insert(GLOBAL.to_string(), Json::Object(dg));
}

/// Puts the chart's `values.yaml` under `v` (values already in `v` win).
fn coalesce_values(chart: &crate::Chart, v: &mut Values, merge: bool) {
    for (key, val) in &chart.values {
        match v.get_mut(key) {
            Some(Json::Null) if !merge => {
                v.remove(key);
            }
            Some(Json::Object(dest)) => {
                if let Json::Object(src) = val {
                    let merge = merge || chart.dependencies.iter().any(|d| d.name() == key);
                    coalesce_tables(dest, src.clone(), merge);
                }
            }
            Some(_) => {}
            // Helm 4 does not copy a chart default's nulls into the values.
            None if !merge => {
                if let Some(val) = without_nulls(val) {
                    v.insert(key.clone(), val);
                }
            }
            None => {
                v.insert(key.clone(), val.clone());
            }
        }
    }
}

/// `dst` over `src` (both tables), recursively.
/// A `null` in `dst` deletes the default it overrides; a `null` with no default stays (Helm 4).
pub(crate) fn coalesce_tables(dst: &mut Values, src: Values, merge: bool) {
    for (k, val) in src {
        match dst.get_mut(&k) {
            Some(Json::Null) if !merge => {
                dst.remove(&k);
            }
            None if !merge => {
                if let Some(val) = without_nulls(&val) {
                    dst.insert(k, val);
                }
            }
            None => {
                dst.insert(k, val);
            }
            Some(Json::Object(d)) => {
                if let Json::Object(s) = val {
                    coalesce_tables(d, s, merge);
                }
            }
            Some(_) => {}
        }
    }
}

/// The value with every `null` map entry removed (a `null` itself gives `None`).
fn without_nulls(v: &Json) -> Option<Json> {
    match v {
        Json::Null => None,
        Json::Object(m) => Some(Json::Object(
            m.iter()
                .filter_map(|(k, v)| without_nulls(v).map(|v| (k.clone(), v)))
                .collect(),
        )),
        other => Some(other.clone()),
    }
}

/// The table at a dotted path (`sub.exports.data`), if every step is a map.
pub(crate) fn table<'a>(v: &'a Values, path: &str) -> Option<&'a Values> {
    let mut cur = v;
    for part in path.split('.').filter(|p| !p.is_empty()) {
        match cur.get(part) {
            Some(Json::Object(m)) => cur = m,
            _ => return None,
        }
    }
    Some(cur)
}

/// The value at a dotted path (`sub.enabled`).
pub(crate) fn path_value<'a>(v: &'a Values, path: &str) -> Option<&'a Json> {
    let (parent, key) = match path.rsplit_once('.') {
        Some((p, k)) => (table(v, p)?, k),
        None => (v, path),
    };
    parent.get(key)
}

/// `{a: {b: data}}` for the path `a.b` (`.` is `data` itself).
pub(crate) fn path_to_map(path: &str, data: Values) -> Values {
    if path == "." {
        return data;
    }
    let mut out = data;
    for part in path.split('.').filter(|p| !p.is_empty()).rev() {
        let mut m = Map::new();
        m.insert(part.to_string(), Json::Object(out));
        out = m;
    }
    out
}

/// Helm's `MergeTables(dst, src)`: `src` fills in what `dst` lacks, recursively; nulls kept.
pub(crate) fn merge_tables(dst: &mut Values, src: Values) {
    for (k, v) in src {
        match (dst.get_mut(&k), v) {
            (None, v) => {
                dst.insert(k, v);
            }
            (Some(Json::Object(d)), Json::Object(s)) => merge_tables(d, s),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Json) -> Values {
        v.as_object().unwrap().clone()
    }

    /// The head read fast is the head deserializing the whole document gives (Helm's reading).
    #[test]
    fn fast_head_is_the_deserialized_head() {
        let docs = [
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: ns\n",
            "apiVersion: 1.5\nkind: true\nmetadata:\n  name: ~\n  namespace: 7\n",
            "kind: Job\nmetadata:\n  name: j\n  annotations:\n    helm.sh/hook: pre-install\n    helm.sh/hook-weight: \"5\"\n    num: 1\n    l: [a, 1]\n    deep:\n      - x: z\n",
            "kind: Job\nmetadata:\n  annotations:\n",
            "kind: Job\nmetadata:\n",
            "apiVersion: v1\n",
            "kind: X\nmetadata: {name: flow, namespace: 1}\n",
            "# only a comment\n",
        ];
        let opts = serde_saphyr::options! { legacy_octal_numbers: true };
        for doc in docs {
            assert!(
                berth_manifest::head_fields(doc).is_some(),
                "the fast reader takes {doc}"
            );
            let fast = parse_head(doc).unwrap();
            let full: Option<crate::output::Head> =
                serde_saphyr::from_str_with_options(doc, opts.clone()).unwrap();
            assert_eq!(format!("{fast:?}"), format!("{full:?}"), "{doc}");
        }
    }

    #[test]
    fn tables_coalesce_with_nulls_deleting() {
        let mut dst = obj(json!({"a": 1, "b": null, "m": {"x": 1}}));
        coalesce_tables(
            &mut dst,
            obj(json!({"a": 2, "b": 3, "c": 4, "m": {"y": 2}, "n": {"z": null}})),
            false,
        );
        assert_eq!(
            Json::Object(dst),
            json!({"a": 1, "c": 4, "m": {"x": 1, "y": 2}, "n": {}})
        );
    }

    #[test]
    fn paths() {
        let v = obj(json!({"a": {"b": {"c": true}}}));
        assert_eq!(path_value(&v, "a.b.c"), Some(&json!(true)));
        assert_eq!(path_value(&v, "a.x.c"), None);
        assert_eq!(
            Json::Object(path_to_map("p.q", obj(json!({"k": 1})))),
            json!({"p": {"q": {"k": 1}}})
        );
    }
}
