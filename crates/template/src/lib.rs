//! A Go `text/template` engine that renders exactly as Go does, with errors that say where and why.
//!
//! Parse any number of named sources into one [`Templates`] set (so `define`s are shared across
//! files, as in Helm), then [`Templates::execute`] one by name. Missing map keys are errors
//! (Go's `missingkey=error`). No I/O happens here.

// A render ends at its first error, so errors are returned once and may carry detail.
#![allow(clippy::result_large_err)]

mod ast;
mod error;
mod exec;
pub mod fastyaml;
mod funcs;
pub mod gofmt;
mod lex;
mod parse;
pub mod semver;
mod value;
mod yaml;

pub use error::{CallFrame, Error, ErrorKind, GoError};
pub use exec::MissingKey;
pub use funcs::names as function_names;
pub use funcs::{Lookup, LookupQuery};
pub use value::{go_lossy, MapRef, Object, Value};
pub use yaml::{from_yaml, go_yaml_options, parse_as_go, to_json, to_json_with, to_yaml};

use std::sync::Arc;

/// A map of names (functions, templates): looked up for every call and include, so with a
/// fast hasher rather than SipHash.
pub(crate) type NameMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// How many threads can run at once here (at least 1). Asked once per process: the answer
/// takes a few file reads (cgroup limits), 30 us each time.
pub fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Template bytes from which a render is large: worth more than one thread, and worth huge
/// pages for its memory (see [`on_large_input`]). Below it, a second thread cost more than it
/// saved: a thread's start, its fresh heap and the other core's cold caches took longer than
/// parsing and rendering 100-300 KiB (deploy folders of 300 and 1,000 documents, two cores,
/// whole process: one thread 4.3 against two 5.1-5.4 ms at 105 KiB; equal at 350 KiB; two 15%
/// faster at 1 MiB).
pub const LARGE_INPUT: usize = 256 * 1024;

/// The threads worth starting for `items` pieces of work of `bytes` template bytes in all: one
/// below [`LARGE_INPUT`], else one per core (at most one per item).
pub fn threads_for(bytes: usize, items: usize) -> usize {
    if bytes < LARGE_INPUT {
        1
    } else {
        cores().min(items).max(1)
    }
}

static LARGE_INPUT_HOOK: std::sync::OnceLock<fn()> = std::sync::OnceLock::new();

/// Has `hook` called when a render of [`LARGE_INPUT`] bytes or more begins (before its
/// templates are parsed), once per such render: the program's memory policy can follow the
/// input's size (berth's command line turns huge pages back on then). Set once per process;
/// a second call changes nothing.
pub fn on_large_input(hook: fn()) {
    let _ = LARGE_INPUT_HOOK.set(hook);
}

/// `items` in at most `parts` runs of about equal weight, in order (so that threads given one
/// each finish together: chunks of equal counts left one thread with most of the bytes).
pub fn chunks_by_weight<T>(items: &[T], parts: usize, weight: impl Fn(&T) -> usize) -> Vec<&[T]> {
    let total: usize = items.iter().map(&weight).sum();
    let share = total.div_ceil(parts.max(1)).max(1);
    let mut out = Vec::with_capacity(parts);
    let (mut start, mut acc) = (0, 0);
    for (i, item) in items.iter().enumerate() {
        acc += weight(item);
        if acc >= share && out.len() + 1 < parts {
            out.push(&items[start..=i]);
            (start, acc) = (i + 1, 0);
        }
    }
    if start < items.len() || out.is_empty() {
        out.push(&items[start..]);
    }
    out
}

/// A set of named templates that can call each other.
#[derive(Default, Clone)]
pub struct Templates {
    trees: exec::Trees,
    /// Bytes of template text parsed into the set: how much there is to free.
    parsed_bytes: usize,
}

impl Templates {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Frees the set on a helper thread. A parsed chart or folder is tens of thousands of
    /// small nodes; freeing them took 4-6% of a `berth render`, time the caller can spend on
    /// its output instead.
    /// A small set is freed here: a thread's start (its stack, its first allocation's fresh
    /// memory) costs more than freeing a few hundred KiB of templates.
    pub fn drop_in_background(self) {
        if self.parsed_bytes < 256 * 1024 {
            return;
        }
        // Without a thread, the set is freed here, with the closure the spawn gives back.
        let _ = std::thread::Builder::new()
            .name("free templates".into())
            .spawn(move || drop(self));
    }

    /// Parses `text` as the template `name` and adds it and its `define`s to the set.
    /// A later definition replaces an earlier one unless it is empty (Go's `AddParseTree`).
    pub fn parse(&mut self, name: &str, text: &str) -> Result<(), Error> {
        let trees = parse_one(name, text)?;
        self.parsed_bytes += text.len();
        self.add(trees);
        Ok(())
    }

    /// Parses many sources, using every core, and adds them in the order given, exactly as
    /// calling [`Templates::parse`] on each in turn would (including which error is reported).
    pub fn parse_all(&mut self, sources: &[(&str, &str)]) -> Result<(), Error> {
        let bytes: usize = sources.iter().map(|(_, t)| t.len()).sum();
        self.parsed_bytes += bytes;
        if bytes >= LARGE_INPUT {
            if let Some(hook) = LARGE_INPUT_HOOK.get() {
                hook();
            }
        }
        Self::prepare_keys(sources);
        let threads = threads_for(bytes, sources.len());
        let parse_chunk = |part: &[(&str, &str)]| {
            on_own_stack(|| {
                part.iter()
                    .map(|(n, t)| parse_one(n, t))
                    .collect::<Vec<_>>()
            })
        };
        let parsed: Vec<Result<Vec<ast::Tree>, Error>> = std::thread::scope(|s| {
            let mut parts = chunks_by_weight(sources, threads, |(_, t)| t.len()).into_iter();
            let first = parts.next().unwrap_or(&[]);
            // Other cores take the later chunks; this thread parses the first meanwhile.
            let handles: Vec<_> = parts
                .map(|part| s.spawn(move || parse_chunk(part)))
                .collect();
            let mut all = parse_chunk(first);
            for h in handles {
                all.extend(h.join().expect("parser thread"));
            }
            all
        });
        for trees in parsed {
            self.add(trees?);
        }
        Ok(())
    }

    fn add(&mut self, trees: Vec<ast::Tree>) {
        for t in trees {
            if let Some(old) = self.trees.map.get(&t.name) {
                if parse::is_empty_tree(&t.root, &t.source)
                    && !parse::is_empty_tree(&old.root, &old.source)
                {
                    continue;
                }
            }
            Arc::make_mut(&mut self.trees.map).insert(t.name.clone(), Arc::new(t));
        }
    }

    /// Starts the search for the RSA keys the sources may make, before they are parsed, so
    /// that the first is often ready when asked: one key per place a key generator's name
    /// stands as a word, at most two. (The search then has the parse's time too, 1.5-2 ms on
    /// a bitnami chart. A name in a comment starts it as well, which costs an idle core's
    /// time.)
    fn prepare_keys(sources: &[(&str, &str)]) {
        let sites: usize = sources.iter().map(|(_, t)| key_maker_mentions(t)).sum();
        if sites > 0 {
            berth_primes::prepare(2048, sites.min(2));
        }
    }

    /// Whether any template calls one of `functions` (for example the Sprig functions that
    /// change shared data in place, which make execution order matter).
    pub fn calls_any(&self, functions: &[&str]) -> bool {
        let wanted: Vec<&funcs::Func> = functions.iter().filter_map(|f| funcs::lookup(f)).collect();
        self.trees.map.values().any(|t| {
            t.calls
                .iter()
                .any(|&c| wanted.iter().any(|&w| std::ptr::eq(c, w)))
        })
    }

    /// Whether a template of that name exists.
    pub fn contains(&self, name: &str) -> bool {
        self.trees.map.contains_key(name)
    }

    /// Sets what a missing map key gives (an error unless told otherwise).
    pub fn set_missing_key(&mut self, missing: MissingKey) {
        self.trees.missing = missing;
    }

    /// Where `lookup` reads live objects (none: an empty map, as `helm template`).
    pub fn set_lookup(&mut self, lookup: Arc<dyn funcs::Lookup>) {
        self.trees.lookup = Some(lookup);
    }

    /// The names of every template in the set, `define`s included.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.trees.map.keys().map(String::as_str)
    }

    /// Renders the template `name` with `data` as dot.
    pub fn execute(&self, name: &str, data: &Value) -> Result<String, Error> {
        on_own_stack(|| exec::execute(&self.trees, name, data, 0).map_err(|e| *e))
    }

    /// Renders like [`Templates::execute`] and also returns a map from output back to source.
    pub fn execute_mapped(&self, name: &str, data: &Value) -> Result<(String, SourceMap), Error> {
        let (out, map) = on_own_stack(|| {
            exec::execute_mapped(&self.trees, name, data, 0, true).map_err(|e| *e)
        })?;
        Ok((out, SourceMap { map }))
    }
}

/// Which template source produced each part of a rendered output.
#[derive(Debug, Default)]
pub struct SourceMap {
    map: exec::OutputMap,
}

impl SourceMap {
    /// The source file, 1-based line and column that produced output byte `offset`.
    /// Inside literal text this is exact; inside an action's output it is the action.
    pub fn locate(&self, offset: usize) -> Option<(&str, usize, usize)> {
        let entries = &self.map.entries;
        let i = entries.partition_point(|e| e.out <= offset);
        let e = entries.get(i.checked_sub(1)?)?;
        let pos = if e.text {
            e.pos + (offset - e.out)
        } else {
            e.pos
        };
        let source = &self.map.sources[e.source as usize];
        let (line, col) = source.line_col(pos);
        Some((source.name.as_str(), line, col))
    }
}

/// The stack a parse or an execution runs on: a segment of its own, reserved (not committed) at
/// this size. Templates may build values nested 100,000 deep (`list $x` in a loop; helm renders
/// them), and walking or freeing those recurses; Go grows its stacks to 1 GiB for the same. So
/// no caller's thread (a 2 MiB tokio worker) can overflow, whatever the template does.
const STACK: usize = 1 << 30;

thread_local! {
    /// Whether this thread runs on such a segment already.
    static ON_OWN_STACK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` on a stack segment of [`STACK`] bytes, or on the current one when this thread runs
/// inside such a segment already. A caller that parses or executes many templates wraps its
/// loop in one call: a segment per template was an `mmap`, an `mprotect` and an `munmap` each,
/// whose TLB shootdowns interrupt the other cores (a 1,000-document folder made 200 of them).
pub fn on_own_stack<R>(f: impl FnOnce() -> R) -> R {
    if ON_OWN_STACK.get() {
        return f();
    }
    /// Clears the mark however `f` ends (a panic unwinds through here).
    struct Leave;
    impl Drop for Leave {
        fn drop(&mut self) {
            ON_OWN_STACK.set(false);
        }
    }
    stacker::grow(STACK, || {
        ON_OWN_STACK.set(true);
        let _leave = Leave;
        f()
    })
}

/// How often a function that makes an RSA key is named in `text`, as a whole word.
fn key_maker_mentions(text: &str) -> usize {
    let bytes = text.as_bytes();
    let word = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_';
    memchr::memmem::find_iter(bytes, "gen")
        .filter(|&at| at == 0 || !word(&bytes[at - 1]))
        .filter(|&at| {
            funcs::crypto::RSA_KEY_MAKERS.iter().any(|name| {
                bytes[at..].starts_with(name.as_bytes())
                    && bytes.get(at + name.len()).is_none_or(|b| !word(b))
            })
        })
        .count()
}

fn parse_one(name: &str, text: &str) -> Result<Vec<ast::Tree>, Error> {
    on_own_stack(|| parse::parse(name, text, &funcs::lookup)).map_err(|e| Error {
        kind: ErrorKind::Parse,
        file: name.to_string(),
        line: e.line,
        col: 0,
        template: name.to_string(),
        context: String::new(),
        message: e.message,
        hint: None,
        called_from: vec![],
    })
}

/// Parses and renders one template in one call.
pub fn render(name: &str, text: &str, data: &Value) -> Result<String, Error> {
    let mut t = Templates::new();
    t.parse(name, text)?;
    t.execute(name, data)
}

#[cfg(test)]
mod tests {
    /// Each part of a mapped output names the file and line that produced it, across a
    /// `template` call into another file and back.
    #[test]
    fn a_source_map_follows_template_calls() {
        let mut set = super::Templates::new();
        set.parse("a.yaml", "one\n{{ template \"t\" . }}\nfour {{ .x }}\n")
            .unwrap();
        set.parse("b.yaml", "\n{{- define \"t\" }}two\nthree{{ end }}")
            .unwrap();
        let data = super::Value::from_json(&serde_json::json!({"x": 5}));
        let (out, map) = set.execute_mapped("a.yaml", &data).unwrap();
        assert_eq!(out, "one\ntwo\nthree\nfour 5\n");
        let at = |text: &str| {
            let (file, line, _) = map.locate(out.find(text).unwrap()).unwrap();
            (file.to_string(), line)
        };
        assert_eq!(at("one"), ("a.yaml".to_string(), 1));
        assert_eq!(at("two"), ("b.yaml".to_string(), 2));
        assert_eq!(at("three"), ("b.yaml".to_string(), 3));
        assert_eq!(at("four"), ("a.yaml".to_string(), 3));
        assert_eq!(at("5"), ("a.yaml".to_string(), 3));
    }

    /// Key generators are counted where their names stand as words, never inside longer names.
    #[test]
    fn key_makers_are_counted_as_words() {
        let count = super::key_maker_mentions;
        assert_eq!(
            count(r#"{{ $ca := genCA "x" 365 }}{{ genSignedCert "y" nil nil 365 $ca }}"#),
            2
        );
        assert_eq!(
            count("{{ genSelfSignedCert \"a\" nil nil 1 }}{{/* genCA */}}"),
            2
        );
        assert_eq!(count("genCA"), 1);
        assert_eq!(
            count("{{ regenCA }} {{ genCAx }} {{ my_genCA }} {{ genPrivateKey \"rsa\" }}"),
            0
        );
        assert_eq!(count("{{ .genCA }} gen"), 1);
    }

    #[test]
    fn chunks_by_weight_are_balanced_and_in_order() {
        let items = [50usize, 1, 1, 1, 1, 1, 1, 1, 40, 3];
        let parts = super::chunks_by_weight(&items, 2, |w| *w);
        assert_eq!(parts, [&items[..1], &items[1..]]);
        assert_eq!(super::chunks_by_weight(&items, 1, |w| *w), [&items[..]]);
        let even = [1usize; 10];
        let parts = super::chunks_by_weight(&even, 3, |w| *w);
        assert_eq!(parts.iter().map(|p| p.len()).collect::<Vec<_>>(), [4, 4, 2]);
        assert_eq!(parts.concat(), even);
        let none: [usize; 0] = [];
        assert_eq!(super::chunks_by_weight(&none, 2, |w| *w), [&none[..]]);
    }

    use super::Templates;

    static LARGE_SEEN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    /// The large-input hook fires once per render of LARGE_INPUT bytes or more, never below,
    /// and such a set parses on every core to the same templates.
    #[test]
    fn large_input_calls_the_hook_and_parses_alike() {
        use std::sync::atomic::Ordering::SeqCst;
        super::on_large_input(|| {
            LARGE_SEEN.fetch_add(1, SeqCst);
        });
        let file = |i: usize, lines: usize| {
            let pad = "# padding\n".repeat(lines);
            (
                format!("f{i}"),
                format!("{pad}{{{{ define \"d{i}\" }}}}{i}{{{{ end }}}}"),
            )
        };
        let parse = |files: &[(String, String)]| {
            let sources: Vec<(&str, &str)> = files
                .iter()
                .map(|(n, t)| (n.as_str(), t.as_str()))
                .collect();
            let mut t = Templates::new();
            t.parse_all(&sources).unwrap();
            (0..files.len())
                .map(|i| t.execute(&format!("d{i}"), &super::Value::Nil).unwrap())
                .collect::<Vec<_>>()
        };
        let small: Vec<_> = (0..4).map(|i| file(i, 100)).collect();
        assert_eq!(parse(&small), ["0", "1", "2", "3"]);
        assert_eq!(LARGE_SEEN.load(SeqCst), 0);
        let large: Vec<_> = (0..4).map(|i| file(i, super::LARGE_INPUT / 40)).collect();
        assert!(super::threads_for(super::LARGE_INPUT, 4) >= 1);
        assert_eq!(super::threads_for(super::LARGE_INPUT - 1, 4), 1);
        assert_eq!(parse(&large), ["0", "1", "2", "3"]);
        assert_eq!(LARGE_SEEN.load(SeqCst), 1);
    }

    #[test]
    fn calls_any_sees_every_call_of_the_set_as_it_stands() {
        let mut t = Templates::new();
        let a = r#"{{ define "x" }}{{ set (dict) "k" 1 }}{{ end }}{{ upper "q" }}"#;
        t.parse("a", a).unwrap();
        assert!(t.calls_any(&["set"]) && t.calls_any(&["upper"]));
        assert!(!t.calls_any(&["merge", "unset"]));
        // A later definition of `x` replaces it, and its calls with it.
        t.parse("b", r#"{{ define "x" }}{{ lower "q" }}{{ end }}"#)
            .unwrap();
        assert!(!t.calls_any(&["set"]));
        t.parse(
            "c",
            r#"{{ block "y" . }}{{ merge (dict) (dict) }}{{ end }}"#,
        )
        .unwrap();
        assert!(t.calls_any(&["merge"]));
        t.parse(
            "d",
            r#"{{ if true }}{{ else }}{{ len (unset (dict) "a" | keys) }}{{ end }}"#,
        )
        .unwrap();
        assert!(t.calls_any(&["unset"]));
    }
}
