//! `values.schema.json`: the chart's values checked against its JSON Schema, and each
//! subchart's values against the subchart's, before anything renders.

use crate::values::Values;
use crate::Chart;
use berth_manifest::{Error, ErrorKind};
use serde_json::Value as Json;

pub(crate) fn validate(chart: &Chart, values: &Values) -> Result<(), Error> {
    let mut problems = Vec::new();
    check(chart, &Json::Object(values.clone()), &mut problems)?;
    if problems.is_empty() {
        return Ok(());
    }
    let mut e = Error::new(
        ErrorKind::Schema,
        "values don't meet the specifications of the schema(s) in the following chart(s):",
    );
    for p in problems {
        e = e.note(p);
    }
    Err(e.hint("change the values named above (in -f files or --set) to match the chart's values.schema.json"))
}

fn check(chart: &Chart, values: &Json, problems: &mut Vec<String>) -> Result<(), Error> {
    if let Some(schema) = &chart.schema {
        let validator = jsonschema::validator_for(schema)
            .or_else(|e| {
                // An unknown `$schema` (bitnami's `http://json-schema.org/schema`) falls back to the
                // newest draft, as Helm's validator does.
                let mut plain = schema.clone();
                match plain.as_object_mut().and_then(|m| m.remove("$schema")) {
                    Some(_) => jsonschema::validator_for(&plain),
                    None => Err(e),
                }
            })
            .map_err(|e| {
                Error::new(
                    ErrorKind::Chart,
                    format!(
                        "values.schema.json of {} is not a valid schema: {e}",
                        chart.name()
                    ),
                )
                .at(&format!("{}/values.schema.json", chart.source), 0, 0)
            })?;
        for err in validator.iter_errors(values) {
            let at = err.instance_path.to_string();
            problems.push(format!(
                "{}: at '{at}': {} (schema rule {})",
                chart.name(),
                err,
                err.schema_path
            ));
        }
    }
    for sub in &chart.dependencies {
        let v = values
            .get(sub.name())
            .cloned()
            .unwrap_or(Json::Object(Default::default()));
        check(sub, &v, problems)?;
    }
    Ok(())
}
