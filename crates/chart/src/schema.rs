//! `values.schema.json`: the chart's values checked against its JSON Schema, and each
//! subchart's values against the subchart's, before anything renders. The validator is boon,
//! the Rust port of the Go library Helm 4 uses (santhosh-tekuri/jsonschema): the same drafts
//! (4, 6, 7, 2019-09, 2020-12), the same rules, errors as `at '/path' [rule]: what`.

use crate::Chart;
use berth_manifest::{Error, ErrorKind};
use serde_json::Value as Json;

/// Checks `values` (the coalesced values, an object) against every chart's schema.
pub(crate) fn validate(chart: &Chart, values: &Json) -> Result<(), Error> {
    let mut problems = Vec::new();
    check(chart, values, &mut problems)?;
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
        let shown = format!("{}/values.schema.json", chart.source);
        let bad = |e: &dyn std::fmt::Display| {
            Error::new(
                ErrorKind::Chart,
                format!(
                    "values.schema.json of {} is not a valid schema: {e:#}",
                    chart.name()
                ),
            )
            .at(&shown, 0, 0)
            .hint("fix the schema, or remove it to render without validation")
        };
        let url = "file:///values.schema.json";
        let mut schemas = boon::Schemas::new();
        let mut compiler = boon::Compiler::new();
        compiler.set_default_draft(boon::Draft::V2020_12);
        compiler.use_loader(Box::new(ChartFiles(
            chart
                .files
                .iter()
                .map(|f| (f.name.clone(), f.data.clone()))
                .collect(),
        )));
        compiler
            .add_resource(url, schema.clone())
            .map_err(|e| bad(&e))?;
        let id = compiler.compile(url, &mut schemas).map_err(|e| bad(&e))?;
        if let Err(e) = schemas.validate(values, id) {
            let mut leaves = Vec::new();
            leaf_errors(&e, &mut leaves);
            for l in leaves {
                problems.push(format!("{}: {l}", chart.name()));
            }
        }
    }
    let none = Json::Object(Default::default());
    for sub in &chart.dependencies {
        check(sub, values.get(sub.name()).unwrap_or(&none), problems)?;
    }
    Ok(())
}

/// What a schema's `$ref`s may load: files of the chart itself (`file:///PATH`, as the
/// schema is `file:///values.schema.json`), nothing of this machine's and nothing remote.
struct ChartFiles(Vec<(String, std::sync::Arc<[u8]>)>);

impl boon::UrlLoader for ChartFiles {
    fn load(&self, url: &str) -> Result<Json, Box<dyn std::error::Error>> {
        let refused = || {
            format!("{url} is not a file of the chart: a schema's $ref may name only files inside the chart")
        };
        let path = url.strip_prefix("file:///").ok_or_else(refused)?;
        let (_, data) = self
            .0
            .iter()
            .find(|(name, _)| name == path)
            .ok_or_else(refused)?;
        Ok(serde_json::from_slice(data)?)
    }
}

/// The innermost errors: the value path, the schema rule broken, and what is wrong.
fn leaf_errors(e: &boon::ValidationError, out: &mut Vec<String>) {
    if e.causes.is_empty() {
        let mut rule = e
            .schema_url
            .split_once('#')
            .map(|(_, r)| r.to_string())
            .unwrap_or_default();
        if let Some(k) = e.kind.keyword_path() {
            rule = format!("{rule}/{}", k.keyword);
        }
        out.push(format!(
            "at '{}' (schema rule {rule}): {}",
            e.instance_location, e.kind
        ));
        return;
    }
    for c in &e.causes {
        leaf_errors(c, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::File;

    fn chart(schema: &str, more: &[(&str, &str)]) -> Chart {
        let mut files = vec![
            ("Chart.yaml", "apiVersion: v2\nname: c\nversion: 0.1.0\n"),
            ("values.schema.json", schema),
        ];
        files.extend_from_slice(more);
        let files = files
            .into_iter()
            .map(|(n, t)| File {
                name: n.into(),
                data: t.as_bytes().into(),
            })
            .collect();
        Chart::from_files(files, "c").unwrap()
    }

    /// A `$ref` reaches files of the chart, never this machine's (issue 23).
    #[test]
    fn refs_load_only_files_of_the_chart() {
        let own = chart(
            r#"{"properties": {"port": {"$ref": "defs.json#/port"}}}"#,
            &[("defs.json", r#"{"port": {"type": "integer"}}"#)],
        );
        let e = validate(&own, &serde_json::json!({"port": "x"})).unwrap_err();
        assert!(format!("{e:?}").contains("want integer"), "{e:?}");
        assert!(validate(&own, &serde_json::json!({"port": 80})).is_ok());
        let secret = std::env::temp_dir().join(format!("berth-secret-{}.json", std::process::id()));
        std::fs::write(&secret, r#"{"type": "string"}"#).unwrap();
        for r in [
            format!("file://{}", secret.display()),
            secret.display().to_string(),
            "file:///etc/passwd".to_string(),
        ] {
            let c = chart(
                &format!(r#"{{"properties": {{"a": {{"$ref": "{r}"}}}}}}"#),
                &[],
            );
            let e = format!(
                "{:?}",
                validate(&c, &serde_json::json!({"a": "x"})).unwrap_err()
            );
            assert!(e.contains("is not a file of the chart"), "{r}: {e}");
        }
        std::fs::remove_file(secret).unwrap();
    }
}
