//! Differential test of every Sprig and Helm function against real `helm template`.
//!
//! Each case of corpus/functions.txt becomes a template of one chart whose output travels
//! base64-encoded (so any text survives YAML); the chart is rendered by helm and by
//! `berth_chart::template` with the same values, and each case's output compared.
//! Needs helm: `BERTH_HELM=/path/to/helm` or `helm` on PATH; ignored by plain `cargo test`.

use base64::Engine;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "../../template/tests/support/mod.rs"]
mod support;
use support::unescape;

/// The `out` of each case's ConfigMap, decoded, by ConfigMap name.
fn outputs(stdout: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut current = String::new();
    for line in stdout.lines() {
        if let Some(n) = line.strip_prefix("  name: ") {
            current = n.to_string();
        }
        if let Some(b) = line.strip_prefix("  out: ") {
            let b = b.trim_matches('"');
            let bytes = base64::engine::general_purpose::STANDARD.decode(b).unwrap();
            out.insert(current.clone(), escaped(&bytes));
        }
    }
    out
}

/// Text as it is, bytes that are not UTF-8 as `\xNN` (so that outputs compare exactly).
fn escaped(bytes: &[u8]) -> String {
    bytes
        .utf8_chunks()
        .map(|c| {
            let bad: String = c.invalid().iter().map(|b| format!("\\x{b:02x}")).collect();
            format!("{}{bad}", c.valid())
        })
        .collect()
}

fn helm() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("BERTH_HELM") {
        // Relative to the repository root, like BERTH_GORENDER.
        return Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(p));
    }
    Command::new("helm")
        .arg("version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|_| PathBuf::from("helm"))
}

#[test]
#[ignore = "needs helm: BERTH_HELM or helm on PATH (./scripts/test.sh provides it)"]
fn every_function_matches_helm() {
    let helm = helm().expect("helm: set BERTH_HELM or put helm on PATH (./scripts/test.sh does)");
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let cases = corpus_cases("functions.txt");
    let values_text = std::fs::read_to_string(corpus.join("functions_values.yaml")).unwrap();
    let chart = sprig_chart();
    std::fs::write(chart.path().join("values.yaml"), &values_text).unwrap();
    let mut files = Vec::new();
    for (i, (name, tmpl)) in cases.iter().enumerate() {
        let file = format!("case-{i:03}.yaml");
        let (prelude, tmpl) = tmpl.split_once("|||").unwrap_or(("", tmpl));
        let body = format!(
            "{prelude}{{{{- define \"case-{i:03}\" }}}}{tmpl}{{{{ end -}}}}\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: case-{i:03}\ndata:\n  out: {{{{ include \"case-{i:03}\" . | b64enc | quote }}}}\n"
        );
        std::fs::write(chart.path().join("templates").join(&file), &body).unwrap();
        files.push((name.clone(), file, body));
    }
    let (helm_out, berth_out) = both_outputs(&helm, chart.path());
    let mut failures = Vec::new();
    for (i, (name, _, _)) in files.iter().enumerate() {
        let key = format!("case-{i:03}");
        let want = helm_out
            .get(&key)
            .unwrap_or_else(|| panic!("{name}: no helm output"));
        match berth_out.get(&key) {
            Some(got) if got == want => {}
            Some(got) => failures.push(format!("{name}:\n  helm:  {want:?}\n  berth: {got:?}")),
            None => failures.push(format!("{name}: no berth output")),
        }
    }
    eprintln!(
        "helm differential: {} cases, {} mismatches",
        files.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from helm:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

/// Each case's output as helm and as berth render the chart at `chart`.
fn both_outputs(helm: &Path, chart: &Path) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let out = Command::new(helm)
        .arg("template")
        .arg(chart)
        .output()
        .expect("run helm");
    assert!(
        out.status.success(),
        "helm template failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let helm_out = outputs(&String::from_utf8(out.stdout).unwrap());
    let opts = berth_chart::Options {
        release: "release-name".into(),
        namespace: "default".into(),
        ..Default::default()
    };
    let rendered =
        berth_chart::template(chart, &opts).unwrap_or_else(|e| panic!("berth render failed: {e}"));
    (helm_out, outputs(&rendered.to_yaml_stream()))
}

/// An empty chart named `sprig` in a fresh folder, for cases to be written into.
fn sprig_chart() -> tempfile::TempDir {
    let chart = tempfile::tempdir().unwrap();
    std::fs::create_dir(chart.path().join("templates")).unwrap();
    std::fs::write(
        chart.path().join("Chart.yaml"),
        "apiVersion: v2\nname: sprig\nversion: 0.1.0\n",
    )
    .unwrap();
    chart
}

/// `name<TAB>template` lines of a corpus file (comments and blank lines skipped).
fn corpus_cases(file: &str) -> Vec<(String, String)> {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    std::fs::read_to_string(corpus.join(file))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (n, t) = l.split_once('\t').expect("name<TAB>template");
            (n.to_string(), unescape(t))
        })
        .collect()
}

/// Each case of corpus/functions_errors.txt, alone in a chart: helm refuses it, and berth must
/// refuse it too with what helm's message says after its position (the function's own words).
#[test]
#[ignore = "needs helm: BERTH_HELM or helm on PATH (./scripts/test.sh provides it)"]
fn every_refusal_matches_helm() {
    let helm = helm().expect("helm: set BERTH_HELM or put helm on PATH (./scripts/test.sh does)");
    let mut failures = Vec::new();
    for (name, tmpl) in corpus_cases("functions_errors.txt") {
        let chart = sprig_chart();
        std::fs::write(chart.path().join("templates/case.yaml"), &tmpl).unwrap();
        let out = Command::new(&helm)
            .arg("template")
            .arg(chart.path())
            .output()
            .expect("run helm");
        assert!(!out.status.success(), "{name}: helm accepts it");
        let helm_err = String::from_utf8_lossy(&out.stderr);
        // `Error: ...case.yaml:1:3: executing ... at <f>: error calling f: WHY` or
        // `Error: execution error at (...case.yaml:1:3): WHY`: WHY is the function's own.
        let first = helm_err.lines().next().unwrap_or("");
        let why = first
            .rsplit_once("): ")
            .map(|(_, w)| w)
            .or_else(|| {
                first
                    .rsplit_once(&format!(
                        "{}: ",
                        first.split(": ").nth(3).unwrap_or("\u{0}")
                    ))
                    .map(|(_, w)| w)
            })
            .unwrap_or(first);
        let why = why.rsplit("error calling ").next().unwrap_or(why);
        let why = why.split_once(": ").map_or(why, |(f, rest)| {
            if f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                rest
            } else {
                why
            }
        });
        match berth_chart::template(chart.path(), &berth_chart::Options::default()) {
            Ok(_) => failures.push(format!(
                "{name}: helm refuses it ({first}), berth rendered it"
            )),
            Err(e) => {
                let e = e.to_string();
                if !e.contains(why.trim()) {
                    failures.push(format!(
                        "{name}:\n  helm:  {first}\n  wants: {why:?}\n  berth: {e}"
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every list and dictionary function (plain and `must`) against arguments of every kind (nil,
/// a string, an int, a float, a bool, a map, an empty list, a list with duplicates and empties),
/// rendered by helm and by berth one case at a time: the same output, or the same error.
#[test]
#[ignore = "needs helm: BERTH_HELM or helm on PATH (./scripts/test.sh provides it)"]
fn list_and_dict_functions_take_every_kind_as_helm_does() {
    let helm = helm().expect("helm: set BERTH_HELM or put helm on PATH (./scripts/test.sh does)");
    const ARGS: &[&str] = &[
        "nil",
        "\"abc\"",
        "3",
        "1.5",
        "true",
        "(dict \"a\" 1 \"b\" (list 1))",
        "(list)",
        "(list 1 1 \"1\" 0 \"\" nil (list 1) (list 1) (dict))",
    ];
    const CALLS: &[&str] = &[
        "first X",
        "last X",
        "rest X",
        "initial X",
        "append X 9",
        "push X 9",
        "prepend X 9",
        "concat X (list 2)",
        "has 1 X",
        "uniq X",
        "compact X",
        "reverse X",
        "without X 1",
        "chunk 2 X",
        "mustSlice X 1",
        "sortAlpha X",
        "keys X | sortAlpha",
        "values X | sortAlpha",
        "pick X \"a\"",
        "omit X \"a\"",
        "merge X (dict \"c\" 2)",
        "mergeOverwrite X (dict \"a\" 2)",
        "deepCopy X",
        "dig \"a\" 0 X",
        "get X \"a\"",
        "hasKey X \"a\"",
        "pluck \"a\" X",
    ];
    let mut cases = Vec::new();
    for call in CALLS {
        for arg in ARGS {
            let base = call.replace('X', arg);
            cases.push(base.clone());
            if let Some((f, rest)) = base.split_once(' ') {
                if !f.starts_with("must")
                    && ![
                        "concat",
                        "keys",
                        "values",
                        "pick",
                        "omit",
                        "get",
                        "hasKey",
                        "pluck",
                        "sortAlpha",
                        "dig",
                    ]
                    .contains(&f)
                {
                    let must = format!("must{}{}", f[..1].to_uppercase(), &f[1..]);
                    cases.push(format!("{must} {rest}"));
                }
            }
        }
    }
    let outcome = |chart: &Path| -> (String, String) {
        let out = Command::new(&helm)
            .arg("template")
            .arg(chart)
            .output()
            .unwrap();
        let helm = if out.status.success() {
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .find(|l| l.starts_with("out:"))
                .unwrap_or("")
                .to_string()
        } else {
            // The message after the last `at <...>: `, without "error calling f: ".
            let e = String::from_utf8_lossy(&out.stderr);
            let e = e.split("Use --debug").next().unwrap_or("");
            let e = e.split_whitespace().collect::<Vec<_>>().join(" ");
            let why = e.rsplit_once(">: ").map_or(e.as_str(), |(_, w)| w);
            strip_calling(why)
        };
        let berth = match berth_chart::template(chart, &berth_chart::Options::default()) {
            Ok(r) => r
                .to_yaml_stream()
                .lines()
                .find(|l| l.starts_with("out:"))
                .unwrap_or("")
                .to_string(),
            Err(e) => {
                let e = e.to_string();
                let first = e.lines().next().unwrap_or("");
                let first = first.strip_prefix("error: ").unwrap_or(first);
                // berth names the call it was in; helm's message ends before that.
                strip_calling(first.rsplit_once(" (in `").map_or(first, |(w, _)| w))
            }
        };
        (helm, berth)
    };
    let mut failures = Vec::new();
    for case in &cases {
        let chart = sprig_chart();
        std::fs::write(
            chart.path().join("templates/case.yaml"),
            format!("out: {{{{ {case} | toJson | quote }}}}\n"),
        )
        .unwrap();
        let (h, b) = outcome(chart.path());
        // Go's nil slice (what `rest` and `initial` give for an empty list) prints as `null`
        // and has length 0; berth has no typed nil, so it gives the empty list (`[]`), whose
        // length and truth agree.
        let nil_slice = h == "out: \"null\"" && b == "out: \"[]\"";
        if h != b && !(nil_slice && (case.contains("est (list)") || case.contains("nitial (list)")))
        {
            failures.push(format!("{case}:\n  helm:  {h}\n  berth: {b}"));
        }
    }
    eprintln!(
        "list and dict functions: {} cases, {} differ",
        cases.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// An error's reason without its "error calling f: " prefix.
fn strip_calling(why: &str) -> String {
    let why = why.trim();
    match why.strip_prefix("error calling ") {
        Some(rest) => rest.split_once(": ").map_or(rest, |(_, w)| w).to_string(),
        None => why.to_string(),
    }
}

/// Every template function berth has is reached by a case compared with Go (the language
/// corpus) or helm (these corpora), but `ismode`, berth's own from kube-appdeploy, which has no
/// reference to compare with (its tests are beside it).
#[test]
fn every_function_has_a_case_against_go_or_helm() {
    let template_corpus =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../template/tests/corpus/language.txt");
    let mut text = std::fs::read_to_string(template_corpus).unwrap();
    for file in ["functions.txt", "functions_errors.txt"] {
        for (_, t) in corpus_cases(file) {
            text.push_str(&t);
            text.push('\n');
        }
    }
    let called = |f: &str| {
        text.match_indices(f).any(|(i, _)| {
            let before = text[..i].chars().next_back();
            let after = text[i + f.len()..].chars().next();
            let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
            !word(before) && before != Some('.') && !word(after)
        })
    };
    let missing: Vec<&str> = berth_template::function_names()
        .into_iter()
        .filter(|f| *f != "ismode" && !called(f))
        .collect();
    assert!(missing.is_empty(), "functions with no case: {missing:?}");
}

/// Generated values, differential against helm: trees of maps, lists and scalars chosen where
/// YAML and JSON writers differ (strings that look like booleans, numbers, nulls, dates or
/// YAML syntax; big, negative and fractional numbers; unicode and newlines) go through
/// helm's values-file reading and through `toYaml`, `toJson`, `toPrettyJson`, `fromYaml`,
/// `range`, `kindOf`, `typeOf` and printing, in one chart of many cases. A fixed seed, or
/// `BERTH_DIFF_SEED` to try others; the values of a failing case are printed.
#[test]
#[ignore = "needs helm: BERTH_HELM or helm on PATH (./scripts/test.sh provides it)"]
fn generated_values_render_as_helm_renders_them() {
    let helm = helm().expect("helm: set BERTH_HELM or put helm on PATH (./scripts/test.sh does)");
    let (seed, mut rng) = seeded(0x5eed_0001);
    const CASES: usize = 80;
    let chart = sprig_chart();
    let mut values = serde_json::Map::new();
    for i in 0..CASES {
        let tree = gen_value(&mut rng, 3);
        values.insert(format!("c{i:03}"), tree);
        let body = format!(
            "{{{{- define \"case-{i:03}\" }}}}{{{{ $v := .Values.c{i:03} }}}}{}{{{{ end -}}}}\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: case-{i:03}\ndata:\n  out: {{{{ include \"case-{i:03}\" . | b64enc | quote }}}}\n",
            GENERATED_CASE
        );
        std::fs::write(
            chart.path().join(format!("templates/case-{i:03}.yaml")),
            body,
        )
        .unwrap();
    }
    // JSON is YAML: the values file is read by Helm's YAML reader, as a user's would be.
    let values = serde_json::Value::Object(values);
    std::fs::write(
        chart.path().join("values.yaml"),
        serde_json::to_string_pretty(&values).unwrap(),
    )
    .unwrap();
    let (helm_out, berth_out) = both_outputs(&helm, chart.path());
    let failures: Vec<String> = (0..CASES)
        .filter_map(|i| {
            let key = format!("case-{i:03}");
            let (want, got) = (helm_out.get(&key), berth_out.get(&key));
            (want != got).then(|| {
                format!(
                    "{key} (values {}):\n  helm:  {want:?}\n  berth: {got:?}",
                    values[format!("c{i:03}")]
                )
            })
        })
        .collect();
    eprintln!(
        "generated values (seed {seed}): {CASES} cases, {} differ",
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Generated strings (words, capitals, digits, connectors, punctuation and letters whose Go and
/// Rust case rules differ: `ß`, `ǆ`, `İ`, `ᾳ`, Georgian, Roman numerals, ...) through every
/// function that changes or measures text, rendered by helm and by berth. A fixed seed, or
/// `BERTH_DIFF_SEED`.
#[test]
#[ignore = "needs helm: BERTH_HELM or helm on PATH (./scripts/test.sh provides it)"]
fn generated_strings_change_as_helm_changes_them() {
    let helm = helm().expect("helm: set BERTH_HELM or put helm on PATH (./scripts/test.sh does)");
    let (seed, mut rng) = seeded(0x5eed_0002);
    const CASES: usize = 300;
    let strings: Vec<String> = (0..CASES).map(|_| gen_string(&mut rng)).collect();
    let chart = sprig_chart();
    for i in 0..CASES {
        let body = format!(
            "{{{{- define \"case-{i:03}\" }}}}{{{{ $v := index .Values.s {i} }}}}{STRING_CASE}{{{{ end -}}}}\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: case-{i:03}\ndata:\n  out: {{{{ include \"case-{i:03}\" . | b64enc | quote }}}}\n",
        );
        std::fs::write(
            chart.path().join(format!("templates/case-{i:03}.yaml")),
            body,
        )
        .unwrap();
    }
    // JSON escapes for the characters YAML 1.1 reads as line breaks (Helm's reader folds a raw
    // NEL, LS or PS in a quoted scalar to a space; berth's keeps it: a difference of the values
    // reader, not of the functions tested here).
    let values = serde_json::json!({ "s": strings })
        .to_string()
        .replace('\u{85}', "\\u0085")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029");
    std::fs::write(chart.path().join("values.yaml"), values).unwrap();
    let (helm_out, berth_out) = both_outputs(&helm, chart.path());
    let failures: Vec<String> = (0..CASES)
        .filter_map(|i| {
            let key = format!("case-{i:03}");
            let (want, got) = (helm_out.get(&key), berth_out.get(&key));
            (want != got).then(|| {
                let want = want.map(String::as_str).unwrap_or("");
                let got = got.map(String::as_str).unwrap_or("");
                let lines = want.lines().zip(got.lines()).filter(|(w, g)| w != g);
                let lines: Vec<String> = lines
                    .map(|(w, g)| format!("    helm:  {w:?}\n    berth: {g:?}"))
                    .collect();
                format!("{key} ({:?}):\n{}", strings[i], lines.join("\n"))
            })
        })
        .collect();
    eprintln!(
        "generated strings (seed {seed}): {CASES} cases, {} differ",
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// What each generated string case prints of its string `$v`, one function a line. What may
/// cut a character in two goes through `b64enc`: Go writes those bytes as they are, berth's
/// output is text (each bad byte U+FFFD); the values themselves are compared here. A
/// `regexFindAll` that finds nothing is Go's nil slice (`toJson` prints `null`) and berth's empty
/// list (`[]`): its matches and their count are compared.
const STRING_CASE: &str = r#"upper {{ upper $v }}
lower {{ lower $v }}
title {{ title $v }}
untitle {{ untitle $v }}
swapcase {{ swapcase $v }}
camelcase {{ camelcase $v }}
snakecase {{ snakecase $v }}
kebabcase {{ kebabcase $v }}
initials {{ initials $v }}
nospace {{ nospace $v }}
trim {{ trim $v | quote }}
trunc {{ trunc 5 $v | b64enc }} {{ trunc -3 $v | b64enc }}
abbrev {{ abbrev 5 $v | b64enc }}
abbrevboth {{ abbrevboth 5 10 $v | b64enc }} {{ abbrevboth 1 8 $v | b64enc }}
wrap {{ wrap 6 $v | quote }}
wrapWith {{ wrapWith 4 "|" $v | b64enc }} {{ wrap 3 $v | b64enc }}
len {{ len $v }}
substr {{ if gt (len $v) 4 }}{{ substr 1 4 $v | b64enc }}{{ end }}
quote {{ quote $v }} {{ squote $v }}
split {{ splitList " " $v | toJson }} {{ split "-" $v | toJson }}
replace {{ replace "a" "ä" $v }}
repeat {{ repeat 2 $v }}
plural {{ plural $v "many" (len $v) }}
trimAll {{ trimAll "-_ " $v }}
toJson {{ toJson $v }} {{ toYaml $v }}
regex {{ regexReplaceAll "[A-Z]+" $v "<$0>" }} {{ regexFindAll `\w+` $v -1 | join "," }}/{{ regexFindAll `\w+` $v -1 | len }}
urlquery {{ urlquery $v }} {{ html $v }} {{ js $v }}
printf {{ printf "%q %x %10s|%-6.2s|" $v $v $v $v }}
sha {{ sha256sum $v }} {{ adler32sum $v }}
"#;

/// A string of 0 to 6 fragments.
fn gen_string(rng: &mut Rng) -> String {
    const FRAGMENTS: &[&str] = &[
        "a", "word", "Ab", "HTTP", "Server", "ID", "x2", "2x", "42", "v1", "-", "_", " ", "  ",
        ".", "/", "é", "É", "ß", "ǆ", "ǅ", "Ǆ", "İ", "ı", "ﬁ", "ŉ", "ᾳ", "ᾈ", "Σ", "ς", "ა", "Ⅷ",
        "ⅷ", "ª", "日本", "한국", "\t", "\n", "\u{a0}", "\u{85}", "à", "…", "!", "?", "#", "$",
        "+", "'", "\"", "\u{fffd}", "😀", "Ⓐ", "ǰ", "K", "Å", "ſ", "ﬀ", "１",
    ];
    let n = rng.next() % 7;
    (0..n).map(|_| *rng.pick(FRAGMENTS)).collect()
}

/// What each generated case prints of its value `$v`.
const GENERATED_CASE: &str = r#"{{ toYaml $v }}
--1
{{ toJson $v }}
--2
{{ toPrettyJson $v }}
--3
{{ kindOf $v }} {{ typeOf $v }} {{ $v }}
--4
{{ if kindIs "map" $v }}{{ range $k, $x := $v }}{{ $k | quote }}={{ $x }}|{{ kindOf $x }}|{{ typeOf $x }}|{{ toYaml $x }};{{ end }}{{ toYaml $v | fromYaml | toJson }}{{ end }}
--5
{{ if kindIs "slice" $v }}{{ range $i, $x := $v }}{{ $i }}={{ $x }}|{{ kindOf $x }};{{ end }}{{ len $v }}{{ end }}
--6
{{ if kindIs "string" $v }}{{ quote $v }} {{ squote $v }} {{ upper $v }} {{ len $v }} {{ $v | toYaml | fromYaml }}{{ end }}
--7
{{ if or (kindIs "float64" $v) (kindIs "int64" $v) }}{{ add $v 0 }} {{ int $v }} {{ float64 $v }} {{ printf "%v %d %g" $v $v $v }}{{ end }}
"#;

/// `BERTH_DIFF_SEED`, else `default`, and a generator seeded with it.
fn seeded(default: u64) -> (u64, Rng) {
    let seed: u64 = std::env::var("BERTH_DIFF_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default);
    (seed, Rng(seed | 1))
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }
}

/// A value tree at most `depth` deep.
fn gen_value(rng: &mut Rng, depth: u32) -> serde_json::Value {
    use serde_json::json;
    const STRINGS: &[&str] = &[
        "",
        "a",
        "yes",
        "no",
        "on",
        "off",
        "true",
        "False",
        "y",
        "n",
        "null",
        "~",
        "Null",
        "0",
        "1",
        "-1",
        "007",
        "0x1F",
        "0o17",
        "1e3",
        "1.5",
        ".5",
        "1_000",
        "+1",
        ".inf",
        "-.Inf",
        ".nan",
        "2026-12-06",
        "2026-12-06T10:00:00Z",
        "12:30:45",
        "a: b",
        "- x",
        "#x",
        "x #y",
        "[a]",
        "{a: 1}",
        "&a",
        "*a",
        "!tag",
        "|",
        ">",
        "%x",
        "@x",
        "`x",
        "'q'",
        "\"dq\"",
        " lead",
        "trail ",
        "multi\nline",
        "tab\there",
        "é",
        "日本",
        "{{ x }}",
        "a,b",
        "key=value",
        "\\",
        "=",
    ];
    let scalar = |rng: &mut Rng| match rng.next() % 4 {
        0 => json!(rng.pick(STRINGS)),
        1 => json!(*rng.pick(&[
            0i64,
            1,
            -1,
            42,
            1_000_000,
            9_007_199_254_740_993,
            i64::MAX,
            i64::MIN
        ])),
        2 => json!(*rng.pick(&[0.5f64, -2.25, 1e21, 1e-7, 123456.789, 3.0, 1e6])),
        _ => rng.pick(&[json!(true), json!(false), json!(null)]).clone(),
    };
    if depth == 0 {
        return scalar(rng);
    }
    match rng.next() % 3 {
        0 => scalar(rng),
        1 => {
            let n = rng.next() % 4;
            json!((0..n)
                .map(|_| gen_value(rng, depth - 1))
                .collect::<Vec<_>>())
        }
        _ => {
            let n = rng.next() % 4;
            let mut m = serde_json::Map::new();
            for _ in 0..n {
                let key = rng
                    .pick(&["a", "b", "yes", "1", "x y", "é", "null", "on"])
                    .to_string();
                m.insert(key, gen_value(rng, depth - 1));
            }
            serde_json::Value::Object(m)
        }
    }
}
