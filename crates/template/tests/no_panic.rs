//! Property: parsing and executing any text returns Ok or Err, never panics.

use berth_template::{MissingKey, Templates, Value};
use proptest::prelude::*;

const TOKENS: &[&str] = &[
    "{{",
    "}}",
    "{{- ",
    " -}}",
    " ",
    ".",
    ".a",
    ".list",
    ".m.k",
    "$",
    "$x",
    "$x :=",
    "$x =",
    ":=",
    "=",
    "|",
    "(",
    ")",
    "\"s\"",
    "`r`",
    "'c'",
    "1",
    "-2",
    "3.5",
    "0x1F",
    "if",
    "else",
    "end",
    "range",
    "with",
    "define \"d\"",
    "template \"d\"",
    "block \"b\" .",
    "break",
    "continue",
    "nil",
    "true",
    "len",
    "index",
    "slice",
    "printf",
    "\"%v %d %s %q %x %5.2f %-3s %!\"",
    "eq",
    "ne",
    "lt",
    "and",
    "or",
    "not",
    "print",
    "html",
    "js",
    "call",
    "include \"d\"",
    "tpl \"{{.a}}\"",
    "toYaml",
    "toJson",
    "fromYaml",
    "default",
    "required \"r\"",
    "fail \"f\"",
    "dict \"k\"",
    "list",
    "set",
    "keys",
    "split \",\"",
    "indent 2",
    "int",
    "regexFind \"(a\"",
    "regexReplaceAll \"a+\" .a \"$1\"",
    "semverCompare \">=1.2\"",
    "semver",
    "substr 3 1",
    "mustSlice .list 2",
    "dig \"k\" \"z\" 0",
    "mergeOverwrite .m",
    "deepCopy",
    "toToml",
    "fromToml",
    "urlParse",
    "date \"2006\"",
    "dateModify \"-1h\"",
    "toDate \"2006-01-02\"",
    "duration",
    "round",
    "chunk 0",
    "untilStep 0 10 0",
    "seq 1 0 5",
    "printf \"%[2]*[1]d %[0]v %.[3]f\"",
    "(.a).b.c",
    "$x.y.z",
    ",",
    "/*",
    "*/",
    "\n",
    "x",
    "é",
    "}",
    "{",
];

fn data() -> Value {
    let j = serde_json::json!({"a": "text", "list": [1, "two", 3.5, null, {"k": [1]}], "m": {"k": {"z": 1}}, "n": null, "i": 3});
    Value::from_json(&j)
}

fn render(text: &str) {
    for missing in [MissingKey::Error, MissingKey::Zero] {
        let mut t = Templates::new();
        t.set_missing_key(missing);
        if t.parse("p", text).is_ok() {
            let _ = t.execute("p", &data());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn token_soup_never_panics(toks in proptest::collection::vec(proptest::sample::select(TOKENS), 0..40)) {
        render(&toks.concat());
    }

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,80}") {
        render(&s);
        render(&format!("{{{{{s}}}}}"));
    }
}
