//! Sprig and Helm: encodings (YAML, JSON, base64, hashes).

use super::*;

pub(super) fn register(reg: &mut Registry) {
    use Ty::*;
    let mut f = |name, params, variadic, imp| reg.add(name, params, variadic, imp);
    // Helm's: the YAML without its last line break (a block scalar keeps the others).
    for name in ["toYaml", "mustToYaml"] {
        f(name, &[Any], None, |_, a| {
            let y = crate::yaml::to_yaml(&a[0]);
            Ok(Value::from(y.strip_suffix('\n').unwrap_or(&y)))
        });
    }
    f("toYamlPretty", &[Any], None, |_, a| {
        let y = crate::yaml::to_yaml_with(&a[0], true);
        Ok(Value::from(y.strip_suffix('\n').unwrap_or(&y)))
    });
    f("toJson", &[Any], None, |_, a| {
        Ok(Value::from(crate::yaml::to_json(&a[0])))
    });
    f("fromYaml", &[Str], None, |_, a| {
        // Helm's: sigs.k8s.io/yaml into a map; YAML that is not a map is Go's JSON error.
        let error = |e: String| Value::map(BTreeMap::from([("Error".to_string(), Value::from(e))]));
        Ok(match crate::yaml::from_yaml(s(&a[0])) {
            Ok(v @ Value::Map(_)) => v,
            Ok(Value::Nil) => Value::map(BTreeMap::new()),
            Ok(other) => error(format!(
                "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                json_kind(&other)
            )),
            Err(e) => error(e.to_string()),
        })
    });
    f("fromJson", &[Str], None, |_, a| {
        // Helm's: unmarshalled into a map, Go's error under `Error` when that fails.
        Ok(match super::gojson::parse_object(s(&a[0])) {
            Ok(m) => Value::from_json_go(&serde_json::Value::Object(m)),
            Err(e) => Value::map(BTreeMap::from([("Error".to_string(), Value::from(e))])),
        })
    });
    f("typeOf", &[Any], None, |_, a| {
        Ok(Value::from(a[0].type_name()))
    });
}

/// What Go's encoding/json calls a value's JSON type in its errors.
fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "string",
        Value::Bool(_) => "bool",
        Value::List(_) => "array",
        Value::Map(_) => "object",
        Value::Nil => "null",
        _ => "number",
    }
}
