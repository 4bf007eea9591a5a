//! Property: loading and rendering a chart with any values, `--set` arguments, `Chart.yaml` or
//! `values.schema.json` returns a chart or an error, never panics.

use berth_chart::{render_chart, Chart, File, Options};
use proptest::prelude::*;

const VALUE_LINES: &[&str] = &[
    "a: 1",
    "a: null",
    "a: [1, 2]",
    "a: {b: c}",
    "b:",
    "  - x",
    "  c: d",
    "global: {x: 1}",
    "global: 3",
    "sub: null",
    "sub: 5",
    "sub: {enabled: false}",
    "sub: {x: null}",
    "tags: {t: false}",
    "tags: 1",
    "exports: {e: {k: v}}",
    "n: 1e400",
    "s: \"\\u00e9\"",
    "k: &a 1",
    "m: *a",
    "- 1",
    "? x",
    ": y",
    "'q': 'r'",
    "yes: no",
    "  ",
    "\t",
    "---",
    "a: |",
    "  text",
];

const CHART_LINES: &[&str] = &[
    "apiVersion: v2",
    "apiVersion: v1",
    "name: c",
    "name: ",
    "name: a/b",
    "version: 1.0.0",
    "version: x",
    "type: library",
    "type: bogus",
    "kubeVersion: '>=1.20'",
    "kubeVersion: '!!'",
    "dependencies:",
    "  - name: sub",
    "    alias: s-1",
    "    alias: 'bad alias'",
    "    condition: sub.enabled,x",
    "    tags: [t]",
    "    import-values: [e, {child: x, parent: y}]",
    "    version: '>=0.1'",
    "    version: '['",
    "dependencies: 3",
];

fn sub() -> Vec<File> {
    vec![
        File { name: "charts/sub/Chart.yaml".into(), data: b"apiVersion: v2\nname: sub\nversion: 0.1.0\n".to_vec().into() },
        File { name: "charts/sub/values.yaml".into(), data: b"x: 1\nexports: {e: {k: v}}\n".to_vec().into() },
        File {
            name: "charts/sub/templates/t.yaml".into(),
            data: b"kind: ConfigMap\nv: {{ .Values | toJson | quote }}\ng: {{ .Values.global | toJson | quote }}\n".to_vec().into(),
        },
    ]
}

fn render(chart_yaml: &str, values: &str, sets: &[String], schema: Option<&str>) {
    let mut files = sub();
    files.push(File {
        name: "Chart.yaml".into(),
        data: chart_yaml.as_bytes().into(),
    });
    files.push(File {
        name: "values.yaml".into(),
        data: values.as_bytes().into(),
    });
    files.push(File {
        name: "templates/t.yaml".into(),
        data: b"kind: ConfigMap\nv: {{ .Values | toJson | quote }}\nc: {{ .Chart | toJson | quote }}\n".to_vec().into(),
    });
    if let Some(s) = schema {
        files.push(File {
            name: "values.schema.json".into(),
            data: s.as_bytes().into(),
        });
    }
    if let Ok(chart) = Chart::from_files(files, "fuzz") {
        let opts = Options {
            release: "r".into(),
            namespace: "n".into(),
            set: sets.to_vec(),
            ..Default::default()
        };
        let _ = render_chart(chart, &opts);
    }
}

const BASE_CHART: &str = "apiVersion: v2\nname: c\nversion: 1.0.0\ndependencies:\n  - name: sub\n    condition: sub.enabled\n    tags: [t]\n    import-values: [e]\n";

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    #[test]
    fn any_values_never_panic(lines in proptest::collection::vec(proptest::sample::select(VALUE_LINES), 0..12)) {
        render(BASE_CHART, &lines.join("\n"), &[], None);
    }

    #[test]
    fn any_chart_yaml_never_panics(lines in proptest::collection::vec(proptest::sample::select(CHART_LINES), 0..12)) {
        render(&lines.join("\n"), "", &[], None);
    }

    #[test]
    fn any_set_never_panics(sets in proptest::collection::vec("[a-z.\\[\\]0-9=,{}\\\\ ]{0,16}", 0..4)) {
        render(BASE_CHART, "a: 1\n", &sets, None);
    }

    #[test]
    fn any_schema_never_panics(s in "[{}\\[\\]\":,a-z0-9 ]{0,40}") {
        render(BASE_CHART, "a: 1\n", &[], Some(&s));
        render(BASE_CHART, "a: 1\n", &[], Some(&format!("{{\"type\": \"object\", \"properties\": {{\"a\": {s}}}}}")));
    }
}
