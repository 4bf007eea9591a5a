//! Sprig: semantic versions (`semver`, `semverCompare`), as Masterminds/semver v3.

use crate::error::GoError;

use super::*;
use crate::semver::Version;
use crate::value::Object;
use std::rc::Rc;

/// `*semver.Version`, with its methods.
#[derive(Debug)]
struct SemverValue(Version);

impl Object for SemverValue {
    fn type_name(&self) -> &'static str {
        "*semver.Version"
    }
    fn field(&self, _: &str) -> Option<Value> {
        None
    }
    fn has_method(&self, name: &str) -> bool {
        matches!(
            name,
            "Major" | "Minor" | "Patch" | "Prerelease" | "Metadata" | "Original" | "String"
        )
    }
    fn call(&self, name: &str, args: &[Value]) -> Option<Result<Value, GoError>> {
        if !self.has_method(name) {
            return None;
        }
        if !args.is_empty() {
            return Some(Err(format!(
                "wrong number of args for {name}: want 0 got {}",
                args.len()
            )
            .into()));
        }
        let v = &self.0;
        Some(Ok(match name {
            "Major" => Value::Int(v.major as i64),
            "Minor" => Value::Int(v.minor as i64),
            "Patch" => Value::Int(v.patch as i64),
            "Prerelease" => Value::from(v.pre.as_str()),
            "Metadata" => Value::from(v.metadata.as_str()),
            "Original" => Value::from(v.original.as_str()),
            _ => Value::from(v.canonical()),
        }))
    }
    fn display(&self) -> String {
        self.0.canonical()
    }
    fn to_value(&self) -> Value {
        Value::from(self.0.canonical())
    }
}

pub(super) fn register(reg: &mut Registry) {
    use Ty::*;
    reg.add("semverCompare", &[Str, Str], None, |_, a| {
        crate::semver::compare(s(&a[0]), s(&a[1]))
            .map(Value::Bool)
            .map_err(FuncError::from)
    });
    reg.add("semver", &[Str], None, |_, a| {
        Version::parse(s(&a[0]))
            .map(|v| Value::Object(Rc::new(SemverValue(v))))
            .ok_or_else(|| FuncError::Msg("Invalid Semantic Version".into()))
    });
}
