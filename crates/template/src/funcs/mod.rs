//! The function table: Go's built-ins, a Sprig subset, and berth's own (`include`, `tpl`, `ismode`).
//! Each entry carries the Go signature, so argument errors match Go's.

use crate::error::GoError;

mod builtins;
mod cases;
pub(crate) mod crypto;
mod dates;
mod dicts;
mod encoding;
mod formats;
mod gojson;
mod helm;
mod lists;
mod logic;
mod math;
mod numbers;
mod reflect;
mod regexp;
mod strings;
mod text;
mod versions;

use crate::gofmt;
use crate::value::Value;
use base64::Engine;
use sha2::Digest;
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// A parameter type, as far as Go's argument checking distinguishes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    Any,
    Str,
    /// A Go string read as bytes (`b64enc`, `sha256sum`, `trunc`): a `String` or `Bytes` value.
    Bytes,
    Int,
    Bool,
    Map,
}

impl Ty {
    pub(crate) fn go_name(self) -> &'static str {
        match self {
            Ty::Any => "interface {}",
            Ty::Str | Ty::Bytes => "string",
            Ty::Int => "int",
            Ty::Bool => "bool",
            Ty::Map => "map[string]interface {}",
        }
    }

    pub(crate) fn expect_name(self) -> &'static str {
        match self {
            Ty::Int => "integer",
            other => other.go_name(),
        }
    }
}

/// Why a function failed.
#[derive(Debug)]
pub enum FuncError {
    /// Reported as `error calling NAME: MSG`.
    Msg(String),
    /// Like `Msg`, with a hint.
    Hint(String, String),
    /// The user's own message (`required`, `fail`), reported as is.
    User(String),
    /// An error inside a template the function rendered (`include`, `tpl`).
    Nested(Box<crate::Error>),
}

impl From<GoError> for FuncError {
    fn from(e: GoError) -> FuncError {
        FuncError::Msg(e.0)
    }
}

type FResult = Result<Value, FuncError>;

/// What a function may ask of the running template.
pub trait Host {
    fn include(&mut self, name: &str, data: &Value) -> Result<String, FuncError>;
    fn tpl(&mut self, text: &str, data: &Value) -> Result<String, FuncError>;
    /// Helm's `lookup`: a live object (or a list when `name` is empty), an empty map when there
    /// is none or no cluster.
    fn lookup(&mut self, query: &LookupQuery) -> Result<Value, FuncError>;
}

/// What a template asks of `lookup`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LookupQuery {
    pub api_version: String,
    pub kind: String,
    /// Empty: cluster-scoped, or every namespace.
    pub namespace: String,
    /// Empty: every object (a `List`).
    pub name: String,
}

/// Reads live objects for `lookup` (a cluster backend); the template engine itself has no I/O.
pub trait Lookup: Send + Sync {
    /// The object (or `{"items": [...]}` list) as JSON, `None` when it does not exist.
    fn lookup(&self, query: &LookupQuery) -> Result<Option<serde_json::Value>, GoError>;
}

/// One function: Go signature and implementation.
#[derive(Debug)]
pub struct Func {
    pub params: &'static [Ty],
    pub variadic: Option<Ty>,
    pub imp: fn(&mut dyn Host, Vec<Value>) -> FResult,
}

/// Looks up a function by name.
pub fn lookup(name: &str) -> Option<&'static Func> {
    table().get(name)
}

/// Every function name, sorted (for documentation and tests).
pub fn names() -> Vec<&'static str> {
    let mut v: Vec<&str> = table().keys().copied().collect();
    v.sort_unstable();
    v
}

fn msg<T>(m: impl Into<String>) -> Result<T, FuncError> {
    Err(FuncError::Msg(m.into()))
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// A Go string argument's bytes (a `Ty::Bytes` parameter).
fn bytes(v: &Value) -> &[u8] {
    v.as_bytes().unwrap_or_default()
}

fn int(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        _ => 0,
    }
}

/// The table being filled: every family registers its functions.
pub(crate) struct Registry(crate::NameMap<&'static str, Func>);

impl Registry {
    fn add(
        &mut self,
        name: &'static str,
        params: &'static [Ty],
        variadic: Option<Ty>,
        imp: fn(&mut dyn Host, Vec<Value>) -> FResult,
    ) {
        let before = self.0.insert(
            name,
            Func {
                params,
                variadic,
                imp,
            },
        );
        // One implementation per name: a second registration would silently replace the first.
        assert!(
            before.is_none(),
            "template function {name:?} is registered twice"
        );
    }
}

fn table() -> &'static crate::NameMap<&'static str, Func> {
    static T: OnceLock<crate::NameMap<&'static str, Func>> = OnceLock::new();
    T.get_or_init(|| {
        let mut reg = Registry(crate::NameMap::default());
        builtins::register(&mut reg);
        helm::register(&mut reg);
        logic::register(&mut reg);
        strings::register(&mut reg);
        strings::register_2(&mut reg);
        math::register(&mut reg);
        lists::register(&mut reg);
        dicts::register(&mut reg);
        encoding::register(&mut reg);
        crypto::register(&mut reg);
        dates::register(&mut reg);
        formats::register(&mut reg);
        numbers::register(&mut reg);
        reflect::register(&mut reg);
        regexp::register(&mut reg);
        text::register(&mut reg);
        cases::register(&mut reg);
        versions::register(&mut reg);
        reg.0
    })
}

/// Sprig's pattern for `quote`, `squote` and `cat`: each non-nil argument as a string,
/// transformed, joined with spaces.
fn join_non_nil(args: &[Value], each: impl Fn(String) -> String) -> Value {
    let parts: Vec<String> = args
        .iter()
        .filter(|v| !matches!(v, Value::Nil))
        .map(|v| each(strval(v)))
        .collect();
    Value::from(parts.join(" "))
}

fn merge_into(dst: &mut BTreeMap<String, Value>, src: &BTreeMap<String, Value>) {
    for (k, v) in src {
        match (dst.get(k), v) {
            (None, _) => {
                dst.insert(k.clone(), v.clone());
            }
            (Some(Value::Map(d)), Value::Map(s)) if !std::rc::Rc::ptr_eq(d, s) => {
                merge_into(&mut d.borrow_mut(), &s.borrow());
            }
            _ => {}
        }
    }
}

fn as_list(v: &Value) -> Option<Vec<Value>> {
    match &*v.underlying() {
        Value::List(l) => Some(l.as_ref().clone()),
        _ => None,
    }
}

/// The Modes map: deployment -> container -> mode; `image` when unset.
pub(crate) fn ismode(root: &Value, deployment: &str, container: &str) -> String {
    let Value::Map(m) = root else {
        return "image".into();
    };
    let m = m.borrow();
    let Some(Value::Map(modes)) = m.get("Modes") else {
        return "image".into();
    };
    let modes = modes.borrow();
    match modes.get(deployment) {
        Some(Value::Map(c)) => match c.borrow().get(container) {
            Some(Value::String(s)) => s.to_string(),
            _ => "image".into(),
        },
        Some(Value::String(s)) => s.to_string(),
        _ => "image".into(),
    }
}

/// Sprig's `empty`.
pub(crate) fn empty(v: &Value) -> bool {
    !v.truthy()
}

/// Sprig's `strval`: strings as they are, everything else through `%v`.
pub(crate) fn strval(v: &Value) -> String {
    match v {
        Value::String(s) => s.to_string(),
        other => gofmt::to_v(other),
    }
}

fn strslice(v: &Value) -> Vec<String> {
    match v {
        Value::List(l) => l
            .iter()
            .filter(|x| !matches!(x, Value::Nil))
            .map(strval)
            .collect(),
        Value::Nil => vec![],
        other => vec![strval(other)],
    }
}

/// Go's `int64(f)` on amd64: out of range (and NaN) is the "integer indefinite" value,
/// `math.MinInt64`, where Rust's `as` would saturate.
pub(crate) fn go_f64_to_i64(f: f64) -> i64 {
    const RANGE: std::ops::Range<f64> = -9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0;
    if RANGE.contains(&f) {
        f as i64
    } else {
        i64::MIN
    }
}

fn to_int64(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        Value::Uint(u) => *u as i64,
        Value::Float(f) => go_f64_to_i64(*f),
        Value::Bool(b) => i64::from(*b),
        Value::String(s) => {
            let t = s.trim();
            let t = match t.split_once('.') {
                Some((a, b)) if b.chars().all(|c| c == '0') => a,
                _ => t,
            };
            parse_int_base0(t).unwrap_or(0)
        }
        _ => 0,
    }
}

fn parse_int_base0(t: &str) -> Option<i64> {
    let (neg, r) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let l = r.to_ascii_lowercase();
    let v = if let Some(h) = l.strip_prefix("0x") {
        i64::from_str_radix(h, 16).ok()?
    } else if let Some(o) = l.strip_prefix("0o") {
        i64::from_str_radix(o, 8).ok()?
    } else if let Some(b) = l.strip_prefix("0b") {
        i64::from_str_radix(b, 2).ok()?
    } else if l.len() > 1 && l.starts_with('0') {
        i64::from_str_radix(&l[1..], 8).ok()?
    } else {
        l.parse().ok()?
    };
    Some(if neg { -v } else { v })
}

fn to_float64(v: &Value) -> f64 {
    match v {
        Value::Int(i) => *i as f64,
        Value::Uint(u) => *u as f64,
        Value::Float(f) => *f,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::String(s) => s.trim().parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

fn indent(n: i64, s: &str) -> String {
    let pad = " ".repeat(n.max(0) as usize);
    format!("{pad}{}", s.replace('\n', &format!("\n{pad}")))
}

/// Go's `strings.Replace(s, old, new, -1)` (an empty `old` inserts between every rune).
fn go_replace(s: &str, old: &str, new: &str) -> String {
    if old.is_empty() {
        let mut out = String::from(new);
        for c in s.chars() {
            out.push(c);
            out.push_str(new);
        }
        return out;
    }
    s.replace(old, new)
}

/// Go's `strings.Split` (an empty separator splits into runes).
fn go_split(s: &str, sep: &str) -> Vec<String> {
    if sep.is_empty() {
        return s.chars().map(|c| c.to_string()).collect();
    }
    s.split(sep).map(String::from).collect()
}

#[cfg(test)]
mod tests {
    /// Every function of Sprig v3 (as Helm ships it, without `env` and `expandenv`) and every
    /// function Helm adds.
    const SPRIG_AND_HELM: &[&str] = &[
        "hello",
        "ago",
        "date",
        "date_in_zone",
        "date_modify",
        "dateInZone",
        "dateModify",
        "duration",
        "durationRound",
        "htmlDate",
        "htmlDateInZone",
        "must_date_modify",
        "mustDateModify",
        "mustToDate",
        "now",
        "toDate",
        "unixEpoch",
        "abbrev",
        "abbrevboth",
        "trunc",
        "trim",
        "upper",
        "lower",
        "title",
        "untitle",
        "substr",
        "repeat",
        "trimall",
        "trimAll",
        "trimSuffix",
        "trimPrefix",
        "nospace",
        "initials",
        "randAlphaNum",
        "randAlpha",
        "randAscii",
        "randNumeric",
        "swapcase",
        "shuffle",
        "snakecase",
        "camelcase",
        "kebabcase",
        "wrap",
        "wrapWith",
        "contains",
        "hasPrefix",
        "hasSuffix",
        "quote",
        "squote",
        "cat",
        "indent",
        "nindent",
        "replace",
        "plural",
        "sha1sum",
        "sha256sum",
        "sha512sum",
        "adler32sum",
        "toString",
        "atoi",
        "int64",
        "int",
        "float64",
        "seq",
        "toDecimal",
        "split",
        "splitList",
        "splitn",
        "toStrings",
        "until",
        "untilStep",
        "add1",
        "add",
        "sub",
        "div",
        "mod",
        "mul",
        "randInt",
        "add1f",
        "addf",
        "subf",
        "divf",
        "mulf",
        "biggest",
        "max",
        "min",
        "maxf",
        "minf",
        "ceil",
        "floor",
        "round",
        "join",
        "sortAlpha",
        "default",
        "empty",
        "coalesce",
        "all",
        "any",
        "compact",
        "mustCompact",
        "fromJson",
        "toJson",
        "toPrettyJson",
        "toRawJson",
        "mustFromJson",
        "mustToJson",
        "mustToPrettyJson",
        "mustToRawJson",
        "ternary",
        "deepCopy",
        "mustDeepCopy",
        "typeOf",
        "typeIs",
        "typeIsLike",
        "kindOf",
        "kindIs",
        "deepEqual",
        "getHostByName",
        "base",
        "dir",
        "clean",
        "ext",
        "isAbs",
        "osBase",
        "osClean",
        "osDir",
        "osExt",
        "osIsAbs",
        "b64enc",
        "b64dec",
        "b32enc",
        "b32dec",
        "tuple",
        "list",
        "dict",
        "get",
        "set",
        "unset",
        "hasKey",
        "pluck",
        "keys",
        "pick",
        "omit",
        "merge",
        "mergeOverwrite",
        "mustMerge",
        "mustMergeOverwrite",
        "values",
        "append",
        "push",
        "mustAppend",
        "mustPush",
        "prepend",
        "mustPrepend",
        "first",
        "mustFirst",
        "rest",
        "mustRest",
        "last",
        "mustLast",
        "initial",
        "mustInitial",
        "reverse",
        "mustReverse",
        "uniq",
        "mustUniq",
        "without",
        "mustWithout",
        "has",
        "mustHas",
        "slice",
        "mustSlice",
        "concat",
        "dig",
        "chunk",
        "mustChunk",
        "bcrypt",
        "htpasswd",
        "genPrivateKey",
        "derivePassword",
        "buildCustomCert",
        "genCA",
        "genCAWithKey",
        "genSelfSignedCert",
        "genSelfSignedCertWithKey",
        "genSignedCert",
        "genSignedCertWithKey",
        "encryptAES",
        "decryptAES",
        "randBytes",
        "uuidv4",
        "semver",
        "semverCompare",
        "fail",
        "regexMatch",
        "mustRegexMatch",
        "regexFindAll",
        "mustRegexFindAll",
        "regexFind",
        "mustRegexFind",
        "regexReplaceAll",
        "mustRegexReplaceAll",
        "regexReplaceAllLiteral",
        "mustRegexReplaceAllLiteral",
        "regexSplit",
        "mustRegexSplit",
        "regexQuoteMeta",
        "urlParse",
        "urlJoin",
        "toToml",
        "fromToml",
        "toYaml",
        "mustToYaml",
        "toYamlPretty",
        "fromYaml",
        "fromYamlArray",
        "fromJsonArray",
        "include",
        "tpl",
        "required",
        "lookup",
    ];

    #[test]
    fn every_sprig_and_helm_function_exists() {
        let missing: Vec<&&str> = SPRIG_AND_HELM
            .iter()
            .filter(|n| super::lookup(n).is_none())
            .collect();
        assert!(missing.is_empty(), "missing functions: {missing:?}");
    }

    #[test]
    fn every_function_is_documented() {
        let doc = include_str!("../../../../docs/functions.md");
        for name in super::names() {
            assert!(
                doc.contains(&format!("`{name}`")),
                "docs/functions.md does not document `{name}`"
            );
        }
    }
}
