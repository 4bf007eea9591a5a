//! The function table: Go's built-ins, a Sprig subset, and berth's own (`include`, `tpl`, `ismode`).
//! Each entry carries the Go signature, so argument errors match Go's.

mod builtins;
mod cases;
mod collections;
mod crypto;
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
use std::collections::{BTreeMap, HashMap};
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
    fn lookup(&self, query: &LookupQuery) -> Result<Option<serde_json::Value>, String>;
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
pub(crate) struct Registry(HashMap<&'static str, Func>);

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

fn table() -> &'static HashMap<&'static str, Func> {
    static T: OnceLock<HashMap<&'static str, Func>> = OnceLock::new();
    T.get_or_init(|| {
        let mut reg = Registry(HashMap::new());
        builtins::register(&mut reg);
        helm::register(&mut reg);
        logic::register(&mut reg);
        strings::register(&mut reg);
        strings::register_2(&mut reg);
        math::register(&mut reg);
        lists::register(&mut reg);
        dicts::register(&mut reg);
        encoding::register(&mut reg);
        collections::register(&mut reg);
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

fn eval_args(a: &[Value]) -> String {
    if let [Value::String(s)] = a {
        return s.to_string();
    }
    let mapped: Vec<Value> = a
        .iter()
        .map(|v| {
            if matches!(v, Value::Nil) {
                Value::from("<no value>")
            } else {
                v.clone()
            }
        })
        .collect();
    gofmt::sprint(&mapped)
}

/// Go's `template.HTMLEscapeString`.
pub fn html_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => o.push_str("&#34;"),
            '\'' => o.push_str("&#39;"),
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '\0' => o.push('\u{FFFD}'),
            c => o.push(c),
        }
    }
    o
}

/// Go's `template.JSEscapeString`.
pub fn js_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '\'' => o.push_str("\\'"),
            '"' => o.push_str("\\\""),
            '<' => o.push_str("\\u003C"),
            '>' => o.push_str("\\u003E"),
            '&' => o.push_str("\\u0026"),
            '=' => o.push_str("\\u003D"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u00{:02X}", c as u32)),
            c if (c as u32) < 0x80 => o.push(c),
            c if gofmt::is_print(c) => o.push(c),
            c => o.push_str(&format!("\\u{:04X}", c as u32)),
        }
    }
    o
}

/// Go's `url.QueryEscape`.
pub fn query_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                o.push(b as char)
            }
            b' ' => o.push('+'),
            b => o.push_str(&format!("%{b:02X}")),
        }
    }
    o
}

fn length(v: &Value) -> FResult {
    Ok(Value::Int(match &*v.underlying() {
        Value::String(s) => s.len() as i64,
        Value::Bytes(b) => b.len() as i64,
        Value::List(l) => l.len() as i64,
        Value::Map(m) => m.borrow().len() as i64,
        Value::Nil => return msg("len of nil pointer"),
        other => return msg(format!("len of type {}", other.type_name())),
    }))
}

fn index_arg(i: &Value, len: usize) -> Result<usize, FuncError> {
    let x = match i {
        Value::Int(x) => *x,
        Value::Uint(u) => *u as i64,
        Value::Nil => return msg("cannot index slice/array with nil"),
        other => {
            return msg(format!(
                "cannot index slice/array with type {}",
                other.type_name()
            ))
        }
    };
    if x < 0 || x as usize > len {
        return msg(format!("index out of range: {x}"));
    }
    Ok(x as usize)
}

fn index(item: &Value, idx: &[Value]) -> FResult {
    let mut item = item.underlying().into_owned();
    for (n, i) in idx.iter().enumerate() {
        // A nil an earlier index gave is a nil pointer to Go; the item itself, untyped.
        if n > 0 && matches!(item, Value::Nil) {
            return msg("index of nil pointer");
        }
        item = match &item {
            Value::List(l) => {
                let x = index_arg(i, l.len())?;
                if x == l.len() {
                    return msg(format!("index out of range: {x}"));
                }
                l[x].clone()
            }
            Value::String(_) | Value::Bytes(_) => {
                let b = item.as_bytes().unwrap_or_default();
                let x = index_arg(i, b.len())?;
                if x == b.len() {
                    return msg(format!("index out of range: {x}"));
                }
                Value::Uint(u64::from(b[x]))
            }
            Value::Map(m) => match i {
                Value::String(k) => m.borrow().get(&**k).cloned().unwrap_or(Value::Nil),
                Value::Nil => return msg("value is nil; should be of type string"),
                other => {
                    return msg(format!(
                        "value has type {}; should be string",
                        other.type_name()
                    ))
                }
            },
            Value::Nil => return msg("index of untyped nil"),
            other => return msg(format!("can't index item of type {}", other.type_name())),
        };
    }
    Ok(item)
}

fn slice(item: &Value, idx: &[Value]) -> FResult {
    let item = &*item.underlying();
    if idx.len() > 3 {
        return msg(format!("too many slice indexes: {}", idx.len()));
    }
    let len = match item {
        Value::String(_) | Value::Bytes(_) => {
            if idx.len() == 3 {
                return msg("cannot 3-index slice a string");
            }
            item.as_bytes().unwrap_or_default().len()
        }
        Value::List(l) => l.len(),
        Value::Nil => return msg("slice of untyped nil"),
        other => return msg(format!("can't slice item of type {}", other.type_name())),
    };
    let mut ix = [0usize, len, len];
    for (k, i) in idx.iter().enumerate() {
        ix[k] = index_arg(i, len)?;
    }
    if ix[0] > ix[1] {
        return msg(format!("invalid slice index: {} > {}", ix[0], ix[1]));
    }
    if idx.len() == 3 && ix[1] > ix[2] {
        return msg(format!("invalid slice index: {} > {}", ix[1], ix[2]));
    }
    Ok(match item {
        Value::String(s) => match s.get(ix[0]..ix[1]) {
            Some(t) => Value::from(t),
            None => Value::from_bytes(s.as_bytes()[ix[0]..ix[1]].to_vec()),
        },
        Value::Bytes(b) => Value::from_bytes(b[ix[0]..ix[1]].to_vec()),
        Value::List(l) => Value::list(l[ix[0]..ix[1]].to_vec()),
        _ => unreachable!(),
    })
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum Kind {
    Bool,
    Int,
    Uint,
    Float,
    Str,
    Invalid,
    Other,
}

fn kind(v: &Value) -> Kind {
    match v {
        Value::Bool(_) => Kind::Bool,
        Value::Int(_) => Kind::Int,
        Value::Uint(_) => Kind::Uint,
        Value::Float(_) => Kind::Float,
        Value::String(_) | Value::Bytes(_) => Kind::Str,
        Value::Nil => Kind::Invalid,
        _ => Kind::Other,
    }
}

const BAD_CMP: &str = "incompatible types for comparison";

/// Go's error for two values of kinds that do not compare: the types named when both are set.
fn bad_cmp<T>(a: &Value, b: &Value) -> Result<T, FuncError> {
    if matches!(a, Value::Nil) || matches!(b, Value::Nil) {
        return msg(BAD_CMP);
    }
    msg(format!(
        "{BAD_CMP}: {} and {}",
        a.type_name(),
        b.type_name()
    ))
}
const BAD_CMP_TYPE: &str = "invalid type for comparison";

fn eq(a1: &Value, rest: &[Value]) -> Result<bool, FuncError> {
    if rest.is_empty() {
        return msg("missing argument for comparison");
    }
    let k1 = kind(a1);
    for a in rest {
        let k2 = kind(a);
        let truth = if k1 != k2 {
            match (a1, a) {
                (Value::Int(i), Value::Uint(u)) | (Value::Uint(u), Value::Int(i)) => {
                    *i >= 0 && *i as u64 == *u
                }
                _ if k1 == Kind::Invalid || k2 == Kind::Invalid => false,
                (Value::List(_) | Value::Map(_), _) | (_, Value::List(_) | Value::Map(_)) => {
                    if k1 == Kind::Other && k2 == Kind::Other {
                        return msg(format!(
                            "non-comparable types {}: {}, {}: {}",
                            gofmt::to_v(a1),
                            a1.type_name(),
                            a.type_name(),
                            gofmt::to_v(a)
                        ));
                    }
                    return bad_cmp(a1, a);
                }
                _ => return bad_cmp(a1, a),
            }
        } else {
            match (a1, a) {
                (Value::Bool(x), Value::Bool(y)) => x == y,
                (Value::Int(x), Value::Int(y)) => x == y,
                (Value::Uint(x), Value::Uint(y)) => x == y,
                (Value::Float(x), Value::Float(y)) => x == y,
                (Value::String(_) | Value::Bytes(_), Value::String(_) | Value::Bytes(_)) => {
                    a1.as_bytes() == a.as_bytes()
                }
                (Value::Nil, Value::Nil) => true,
                (Value::List(_), Value::List(_)) | (Value::Map(_), Value::Map(_)) => {
                    // Go formats the value with %s here (`[%!s(int=1)]`), and so does this.
                    return msg(format!(
                        "non-comparable type {}: {}",
                        gofmt::sprintf("%s", std::slice::from_ref(a)),
                        a.type_name()
                    ));
                }
                _ => {
                    return msg(format!(
                        "non-comparable types {}: {}, {}: {}",
                        gofmt::to_v(a1),
                        a1.type_name(),
                        a.type_name(),
                        gofmt::to_v(a)
                    ));
                }
            }
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

fn lt(a: &Value, b: &Value) -> Result<bool, FuncError> {
    let (k1, k2) = (kind(a), kind(b));
    for k in [k1, k2] {
        if matches!(k, Kind::Bool | Kind::Invalid | Kind::Other) {
            return msg(BAD_CMP_TYPE);
        }
    }
    if k1 != k2 {
        return match (a, b) {
            (Value::Int(i), Value::Uint(u)) => Ok(*i < 0 || (*i as u64) < *u),
            (Value::Uint(u), Value::Int(i)) => Ok(*i >= 0 && *u < *i as u64),
            _ => bad_cmp(a, b),
        };
    }
    Ok(match (a, b) {
        (Value::Int(x), Value::Int(y)) => x < y,
        (Value::Uint(x), Value::Uint(y)) => x < y,
        (Value::Float(x), Value::Float(y)) => x < y,
        (Value::String(_) | Value::Bytes(_), Value::String(_) | Value::Bytes(_)) => {
            a.as_bytes() < b.as_bytes()
        }
        _ => unreachable!(),
    })
}

fn le(a: &Value, b: &Value) -> Result<bool, FuncError> {
    if lt(a, b)? {
        return Ok(true);
    }
    eq(a, std::slice::from_ref(b))
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
