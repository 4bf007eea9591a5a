//! The dynamic value model: what Go's `interface{}` holds after decoding YAML or JSON.

use crate::error::GoError;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

/// A map shared by reference, as Go maps are: Sprig's `set` mutates it in place.
pub type MapRef = Rc<RefCell<BTreeMap<String, Value>>>;

/// A template value. Integers are Go `int`, floats `float64`, maps `map[string]interface{}`
/// (iterated in sorted key order, as Go's template and fmt packages do).
#[derive(Clone, Debug, Default)]
pub enum Value {
    /// A nil `interface{}`.
    #[default]
    Nil,
    Bool(bool),
    Int(i64),
    /// Only produced by indexing a string (Go's `uint8`).
    Uint(u64),
    Float(f64),
    String(Rc<str>),
    /// A Go string whose bytes are not UTF-8 (a binary file's contents, a string sliced inside a
    /// character); built only by [`Value::from_bytes`], so a `String` never looks like one.
    Bytes(Rc<[u8]>),
    List(Rc<Vec<Value>>),
    Map(MapRef),
    /// A Go struct or named type with methods (Helm's `.Chart`, `.Capabilities`, `.Files`).
    Object(Rc<dyn Object>),
}

/// A Go value with fields and methods, as templates see Helm's built-in objects.
pub trait Object: std::fmt::Debug {
    /// Go's type name (`*chart.Metadata`), for `%T`, `typeOf` and errors.
    fn type_name(&self) -> &'static str;
    /// A field by name; `None` when the type has no such field.
    fn field(&self, name: &str) -> Option<Value>;
    /// Whether the type has a method of that name.
    fn has_method(&self, _name: &str) -> bool {
        false
    }
    /// Calls a method; `None` when the type has no such method.
    fn call(&self, _name: &str, _args: &[Value]) -> Option<Result<Value, GoError>> {
        None
    }
    /// What `%v` prints (a `String()` method, or the fields).
    fn display(&self) -> String;
    /// The value as `toYaml`/`toJson` see it.
    fn to_value(&self) -> Value;
    /// For a Go slice or map type with methods (Helm's `.Capabilities.APIVersions`, `.Files`):
    /// the slice or map itself, which `len`, `index`, `range` and list functions see. `None`
    /// for a struct.
    fn underlying(&self) -> Option<Value> {
        None
    }
}

impl Value {
    /// The value as Go's reflection sees its kind: a named slice or map type is its list or map
    /// (see [`Object::underlying`]); anything else is itself.
    pub fn underlying(&self) -> std::borrow::Cow<'_, Value> {
        match self {
            Value::Object(o) => o
                .underlying()
                .map_or(std::borrow::Cow::Borrowed(self), std::borrow::Cow::Owned),
            v => std::borrow::Cow::Borrowed(v),
        }
    }

    /// Builds a string value.
    pub fn str(s: impl Into<Rc<str>>) -> Value {
        Value::String(s.into())
    }

    /// Builds a Go string from bytes: a `String` when they are UTF-8, else `Bytes`.
    pub fn from_bytes(b: Vec<u8>) -> Value {
        match String::from_utf8(b) {
            Ok(s) => Value::str(s),
            Err(e) => Value::Bytes(e.into_bytes().into()),
        }
    }

    /// A Go string's bytes, if this is a string.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::String(s) => Some(s.as_bytes()),
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// Builds a list value.
    pub fn list(v: Vec<Value>) -> Value {
        Value::List(Rc::new(v))
    }

    /// Builds a map value.
    pub fn map(m: BTreeMap<String, Value>) -> Value {
        Value::Map(Rc::new(RefCell::new(m)))
    }

    /// Go's type name, as `%T` and error messages print it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Uint(_) => "uint8",
            Value::Float(_) => "float64",
            Value::String(_) | Value::Bytes(_) => "string",
            Value::List(_) => "[]interface {}",
            Value::Map(_) => "map[string]interface {}",
            Value::Object(o) => o.type_name(),
        }
    }

    /// Go's template truth: false, 0, nil and empty collections are false.
    pub fn truthy(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Uint(u) => *u != 0,
            Value::Float(f) => *f != 0.0,
            Value::String(s) => !s.is_empty(),
            Value::Bytes(_) => true,
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.borrow().is_empty(),
            Value::Object(_) => true,
        }
    }

    /// The string inside, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// Converts from JSON. Integral numbers become `Int`, others `Float`.
    pub fn from_json(v: &serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::Nil,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Value::Int(i)
                } else if let Some(u) = n.as_u64() {
                    Value::Float(u as f64)
                } else {
                    Value::Float(n.as_f64().unwrap_or(0.0))
                }
            }
            serde_json::Value::String(s) => Value::str(s.as_str()),
            serde_json::Value::Array(a) => Value::list(a.iter().map(Value::from_json).collect()),
            serde_json::Value::Object(o) => Value::from_json_map(o),
        }
    }

    /// Converts a JSON object to a map, as [`Value::from_json`] does.
    pub fn from_json_map(o: &serde_json::Map<String, serde_json::Value>) -> Value {
        Value::map(
            o.iter()
                .map(|(k, v)| (k.clone(), Value::from_json(v)))
                .collect(),
        )
    }

    /// Converts from JSON as Go's `encoding/json` decodes into `interface{}`: every number is a
    /// `float64` (Helm's values, `fromYaml`, `fromJson`).
    pub fn from_json_go(v: &serde_json::Value) -> Value {
        match v {
            serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(0.0)),
            serde_json::Value::Array(a) => Value::list(a.iter().map(Value::from_json_go).collect()),
            serde_json::Value::Object(o) => Value::map(
                o.iter()
                    .map(|(k, v)| (k.clone(), Value::from_json_go(v)))
                    .collect(),
            ),
            other => Value::from_json(other),
        }
    }

    /// A deep copy: maps and lists are new, so changing one leaves the other as it was.
    pub fn deep_copy(&self) -> Value {
        match self {
            Value::List(l) => Value::list(l.iter().map(Value::deep_copy).collect()),
            Value::Map(m) => Value::map(
                m.borrow()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.deep_copy()))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// Converts to JSON (maps in sorted key order).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Nil => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => (*i).into(),
            Value::Uint(u) => (*u).into(),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::String(s) => serde_json::Value::String(s.to_string()),
            Value::Bytes(b) => serde_json::Value::String(go_lossy(b)),
            Value::List(l) => serde_json::Value::Array(l.iter().map(Value::to_json).collect()),
            Value::Map(m) => serde_json::Value::Object(
                m.borrow()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect(),
            ),
            Value::Object(o) => o.to_value().to_json(),
        }
    }
}

/// Go's reading of bytes as text: each byte that does not start a valid UTF-8 sequence is one
/// U+FFFD (where Rust's lossy decoding replaces a whole broken sequence by one).
pub fn go_lossy(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len() + 8);
    for chunk in b.utf8_chunks() {
        out.push_str(chunk.valid());
        for _ in chunk.invalid() {
            out.push('\u{FFFD}');
        }
    }
    out
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::str(s)
    }
}

/// A Go error as templates see it: its text.
impl From<crate::GoError> for Value {
    fn from(e: crate::GoError) -> Value {
        Value::from(e.0)
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::str(s)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Int(i)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}
