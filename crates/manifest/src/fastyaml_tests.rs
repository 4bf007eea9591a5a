//! The fast YAML reader (`berth_template::fastyaml`) against the full parser, and its head
//! reading against building the object as the folder reader builds it.

use berth_template::fastyaml::{head, head_fields, parse, HeadFields, Read};
use proptest::prelude::*;
use serde_json::Value as Json;

fn full(doc: &str) -> Option<serde_json::Value> {
    crate::variables::full_parse(doc).ok()
}

/// Whatever the fast path accepts must equal the full parser's reading, and reading only
/// the head must agree with building the object from that reading.
fn agree(doc: &str) {
    if let Some(fast) = parse(doc) {
        assert_eq!(
            Some(&fast),
            full(doc).as_ref(),
            "fast path disagrees on:\n{doc}"
        );
    }
    head_agrees(doc);
    fields_agree(doc);
}

/// The fields as the full parser's reading has them.
fn fields_of(j: &Json) -> HeadFields {
    let meta = j.get("metadata");
    let m = meta.and_then(Json::as_object);
    let get = |k: &str| m.and_then(|m| m.get(k)).cloned();
    HeadFields {
        api_version: j.get("apiVersion").cloned(),
        kind: j.get("kind").cloned(),
        metadata: meta.map(Json::is_object),
        name: get("name"),
        namespace: get("namespace"),
        annotations: get("annotations"),
    }
}

/// Whether the fields have the shapes `head_fields` takes.
fn well_shaped(j: &Json) -> bool {
    let f = fields_of(j);
    let scalar = |v: &Option<Json>| v.as_ref().is_none_or(|v| !v.is_object() && !v.is_array());
    j.is_object()
        && j.get("metadata")
            .is_none_or(|m| m.is_object() || m.is_null())
        && [&f.api_version, &f.kind, &f.name, &f.namespace]
            .into_iter()
            .all(scalar)
        && f.annotations
            .as_ref()
            .is_none_or(|a| a.is_object() || a.is_null())
}

fn fields_agree(doc: &str) {
    match head_fields(doc) {
        Some(None) => assert_eq!(full(doc), Some(Json::Null), "empty? {doc}"),
        Some(Some(f)) => {
            let j = full(doc).expect("the full parser reads what head_fields read");
            assert_eq!(f, fields_of(&j), "fields differ on:\n{doc}");
        }
        None => assert!(
            !parse(doc).is_some_and(|j| well_shaped(&j)),
            "head_fields declined a document the fast path reads:\n{doc}"
        ),
    }
}

type Identity = (String, String, String, Option<String>);

/// What the full way makes of a document: `Ok(None)` when it is empty, `Err(())` when it
/// is not a complete object (an error, or a namespace that is not a string).
fn identity_by_full_parser(doc: &str) -> Result<Option<Identity>, ()> {
    let json = full(doc).ok_or(())?;
    if json.is_null() {
        return Ok(None);
    }
    let origin = crate::Origin {
        file: "t.yaml".into(),
        line: 1,
    };
    let err = |m: String, _: &str| crate::Error::new(crate::ErrorKind::Object, m);
    let o = crate::build_object::<serde_json::Value>(json, origin, doc.into(), "ns", &err)
        .map_err(drop)?
        .ok_or(())?;
    let namespace = match o.body["metadata"].get("namespace") {
        None => None,
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(()),
    };
    Ok(Some((
        o.api_version,
        o.oref.group_kind.kind,
        o.oref.name,
        namespace,
    )))
}

fn head_agrees(doc: &str) {
    let expected = identity_by_full_parser(doc);
    match head(doc) {
        Some(Read::Empty) => assert_eq!(expected, Ok(None), "head says empty:\n{doc}"),
        Some(Read::Object(h)) => {
            let got = (h.api_version, h.kind, h.name, h.namespace);
            assert_eq!(expected, Ok(Some(got)), "head disagrees on:\n{doc}");
        }
        // The head reader gives up only where the fast path does, or on what is not a
        // complete object (the full way then says what is wrong).
        None => assert!(
            parse(doc).is_none() || !matches!(expected, Ok(Some(_))),
            "head gave up on an object the fast path reads:\n{doc}"
        ),
    }
}

const DOCS: &[&str] = &[
    "a: 1\nb: two\nc: 1.5\nd: true\ne: null\nf: ~\ng:\nh: \"q\\tx\"\ni: 'it''s'\n",
    "k:\n- 1\n- two\n- - 3\n",
    "k:\n  - name: a\n    value: b\n  - name: c\n",
    "- a\n- b: c\n  d: e\n- \n  x: 1\n",
    "k: |\n  line1\n  line2\n",
    "k: |-\n  a\n\n  b\n\n",
    "k: |+\n  a\n\n",
    "k: |+\n  a\n\nnext: 1\n",
    "k: |\n    indented\n  less\n",
    "k: |\n  a\n    b\n  c\nz: 1\n",
    "k: >\n  folded\n",
    "k: >-\n  folded\n  more\n\n  after\n\n\n  two\nl: 1\n",
    "k: >+\n  a\n  b\n\n\nl: 1\n",
    "k: >\n  a\n    more\n  b\n",
    "k: >\n\n  a\n",
    "k: >-\n  a \n  b\n",
    "k: >\n  a\n",
    "k: >\n",
    "a:\n  b: >-\n    {{ if x }}y{{ end }}\n  c: 1\n",
    "---\na: 1\n",
    "# c\n---\n# d\na: 1\n",
    "---\n",
    "--- a\n",
    "a: 1\n---\nb: 2\n",
    "a:\n  {}\n  # c\nb: 1\n",
    "a:\n  [1, 2]\nb:\n  {x: y}\n",
    "a:\n  {}\n  c: 1\n",
    "- \n  {}\n- 1\n",
    "{}\n",
    "[a]\n",
    "k: [a, b, 1, 2.5, true]\nl: []\nm: {}\n",
    "k: [a, {x: y}]\n",
    "k: {x: y}\n",
    "k: {cpu: 100m, memory: 128Mi}\nl: { a: 1 , b: 'x, y', c: \"q\" }\n",
    "k: {a: 1, a: 2}\nl: {a}\nm: {a: }\nn: {a: b: c}\no: {1: x}\np: {\"q\": x}\nq: {a: [b]}\n",
    "k: {a: b} # c\nl: {a: b}x\nm: {a:b}\nn: {a: yes, b: ~, c: -1}\n",
    "k: a # comment\nl: a#b\n# full comment\nm: 'x' # c\n",
    "\"quoted key\": 1\n'single': 2\n",
    "a: 1\na: 2\n",
    "80: x\n",
    "k: yes\nl: on\nm: y\nn: NO\n",
    "k: 0x1F\nl: 017\nm: 08\nn: 1_000\no: +1\np: .5\nq: 1.\nr: 1e3\n",
    "k: 2001-12-14\nl: 1:20\nm: 10Gi\nn: 100m\no: 8080/TCP\np: 1.2.3\nq: 1.0.0\nr: 1.2.3.4\ns: 1..2\nt: .1.\n",
    "k: a: b\n",
    "k: &anchor x\nl: *anchor\n",
    "k: !!str 1\n",
    "k: multi\n  line\n",
    "k:\n\tx: 1\n",
    "k: \"unterminated\n",
    "? complex\n: value\n",
    "k: -x\nl: -1\nm: - x\n",
    "k: 12345678901234567890\nl: -0\nm: 0.0\nn: -0.0\no: 00\n",
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  labels:\n    app.kubernetes.io/name: x\ndata:\n  key: |\n    multi\n    line\n",
    "k: \"\\u00e9\\x41\\/\"\n",
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  annotations:\n    helm.sh/hook: pre-install\n    n: 1\n    l: [a, 1]\n    m: {k: v}\n    deep:\n      - x: y\n        z: [1]\n      - - 2\n      -\n        w: 3\n    after: |\n      text\n",
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n",
    "apiVersion: 1.5\nkind: true\nmetadata:\n  name: ~\n  annotations:\n",
    "kind: X\nmetadata:\n  annotations:\n    a: 1\n    a: 2\n",
    "kind: X\nmetadata: [a]\n",
    "kind: [X]\nmetadata:\n  name: {a: b}\n",
    "k: ''\nl: \"\"\n",
    "k: http://example.com/a?b=c\n",
    "",
    "# only comment\n",
    "just a scalar\n",
    "k: [ ]\n",
    "k: [a,b]\n",
    "k:   spaced   \n",
    "k: trailing # \n",
    "k: 'a' b\n",
    "k: x\n l: y\n",
    "- a\n - b\n",
];

#[test]
fn fast_path_agrees_with_full_parser_on_known_cases() {
    for d in DOCS {
        agree(d);
    }
    assert!(
        parse(DOCS[0]).is_some(),
        "the common case takes the fast path"
    );
    assert!(parse(DOCS[2]).is_some());
    let manifest = DOCS.iter().find(|d| d.starts_with("apiVersion")).unwrap();
    assert!(parse(manifest).is_some());
    for common in [
        "k: >-\n  folded\n  more\n\n  after\n\n\n  two\nl: 1\n",
        "a:\n  b: >-\n    {{ if x }}y{{ end }}\n  c: 1\n",
        "# c\n---\n# d\na: 1\n",
        "a:\n  {}\n  # c\nb: 1\n",
    ] {
        assert!(parse(common).is_some(), "the fast path takes {common:?}");
    }
    let flow = DOCS.iter().find(|d| d.contains("cpu: 100m")).unwrap();
    assert!(
        parse(flow).is_some(),
        "one-line flow mappings take the fast path"
    );
}

#[test]
fn fast_path_agrees_on_the_example_output() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/ticketing");
    let r = crate::DeployFolder::render_dir(&dir, &Default::default()).unwrap();
    let mut fast = 0;
    for o in &r.objects {
        agree(&o.text);
        fast += usize::from(parse(&o.text).is_some());
    }
    assert_eq!(
        fast,
        r.objects.len(),
        "every example document takes the fast path"
    );
}

const PIECES: &[&str] = &[
    "a", "b", "key", "- ", "-", ": ", ":", " ", "  ", "\n", "\n  ", "\n    ", "\n- ", "|", "|-",
    "|+", ">", "#", " # c", "'", "''", "\"", "\\n", "[", "]", "{", "}", ",", "1", "-2", "0.5",
    "1e3", "0x1", "07", "true", "yes", "null", "~", "&a", "*a", "!t", "?", "é", "\t", "http://x",
    "10Gi", ">-", ">+", "{}", "---\n", "\n\n",
];

const SCALARS: &[&str] = &[
    "",
    "x",
    "hello world",
    "1",
    "-2",
    "0",
    "007",
    "1.5",
    "0.0",
    "1e3",
    "true",
    "True",
    "yes",
    "null",
    "~",
    "'q'",
    "'it''s'",
    "\"d\\n\"",
    "\"\"",
    "[]",
    "[a, 1, \"b\"]",
    "{}",
    "{a: 1, b: x}",
    "{a: 'x, y', b: \"q\"}",
    "{ k: v }",
    "{a: 1, a: 2}",
    "|",
    "|-",
    "|+",
    "a # c",
    "a#b",
    "http://x:80/y",
    "10Gi",
    "-x",
    "8080/TCP",
    "a: b",
    "é",
    "x ",
    "'a' # c",
    "1.0.0",
    "1..2",
    ".1.",
    "-.5.",
    "1e3.",
    ".*",
    "1d",
    "---",
    "...",
    "--- x",
    "-",
    "+",
    "+.",
    "0o17",
    "0b101",
    "0x_1F",
    "1_000",
    ".inf",
    "-.Inf",
    ".NaN",
    "1:20",
    "190:20:30",
    "12e03",
    "1.5e+3",
    "2001-12-14",
    "2001-12-14t21:59:43.10-05:00",
    "9223372036854775808",
    "-9223372036854775809",
    "1e400",
    "0.",
    "-.",
    "+1",
    "+0x1",
    "-0b1",
];
const KEYS: &[&str] = &[
    "a",
    "b",
    "name",
    "app.kubernetes.io/name",
    "\"q k\"",
    "'s'",
    "1",
    "true",
    "x y",
    "apiVersion",
    "kind",
    "metadata",
    "namespace",
];

fn structured() -> impl Strategy<Value = String> {
    let line = (
        0usize..4,
        0u8..4,
        proptest::sample::select(KEYS),
        proptest::sample::select(SCALARS),
    );
    proptest::collection::vec(line, 1..12).prop_map(|lines| {
        let mut s = String::new();
        for (depth, shape, key, val) in lines {
            s.push_str(&"  ".repeat(depth));
            match shape {
                0 => s.push_str(&format!("{key}: {val}")),
                1 => s.push_str(&format!("- {val}")),
                2 => s.push_str(&format!("- {key}: {val}")),
                _ => s.push_str(&format!("{key}:")),
            }
            s.push('\n');
        }
        s
    })
}

/// Mostly strings, in every spelling, sometimes anything.
fn head_value() -> impl Strategy<Value = &'static str> {
    const STRINGS: &[&str] = &[
        "v1",
        "apps/v1",
        "ConfigMap",
        "x",
        "hello world",
        "'q'",
        "'it''s'",
        "\"d\\n\"",
        "\"plain\"",
        "10Gi",
        "a#b",
        "http://x:80/y",
        "1.0.0",
        "é",
        "-x",
    ];
    prop_oneof![
        4 => proptest::sample::select(STRINGS),
        1 => proptest::sample::select(SCALARS),
    ]
}

/// An object's head in varied spellings, then anything.
fn manifest() -> impl Strategy<Value = String> {
    let head = (
        head_value(),
        head_value(),
        head_value(),
        proptest::option::of(head_value()),
        0u8..3,
    );
    let tail = proptest::option::of(structured());
    (head, tail).prop_map(|((api, kind, name, ns, style), tail)| {
        let mut s = format!("apiVersion: {api}\nkind: {kind}\n");
        let ns = ns.map(|n| format!("namespace: {n}"));
        match style {
            0 => {
                s.push_str(&format!("metadata:\n  name: {name}\n"));
                if let Some(ns) = &ns {
                    s.push_str(&format!("  {ns}\n"));
                }
            }
            1 => s.push_str(&format!(
                "metadata: {{name: {name}{}}}\n",
                ns.map(|n| format!(", {n}")).unwrap_or_default()
            )),
            _ => s.push_str(&format!("metadata:\n  labels:\n    name: {name}\n")),
        }
        match tail.as_ref().map_or(0, |t| t.len() % 3) {
            0 => {}
            1 => s.push_str(&format!(
                "  annotations:\n    a: {name}\n    b:\n    - {kind}\n    - c: {api}\n"
            )),
            _ => s.push_str(&format!("  annotations: {{a: {name}}}\n")),
        }
        // Anything, under a key of its own (or after the head, where it may break it).
        match tail {
            Some(t) if t.len() % 2 == 0 => s + "spec:\n" + &t.replace('\n', "\n  "),
            Some(t) => s + &t,
            None => s,
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 5000, ..ProptestConfig::default() })]
    #[test]
    fn head_never_disagrees_on_objects(doc in manifest()) {
        agree(&doc);
    }

    #[test]
    fn fast_path_never_disagrees_on_structured_documents(doc in structured()) {
        agree(&doc);
    }

    #[test]
    fn fast_path_never_disagrees(parts in proptest::collection::vec(proptest::sample::select(PIECES), 0..30)) {
        agree(&parts.concat());
    }
}
