//! Sprig: reflection (`kindOf`, `kindIs`, `typeIs`, `typeIsLike`, `deepEqual`).

use super::*;

/// Go's `reflect.Kind` name of the value.
pub(crate) fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Nil => "invalid",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::Uint(_) => "uint8",
        Value::Float(_) => "float64",
        Value::String(_) | Value::Bytes(_) => "string",
        Value::List(_) => "slice",
        Value::Map(_) => "map",
        Value::Object(o) if o.type_name().starts_with('*') => "ptr",
        Value::Object(_) => "struct",
    }
}

/// Go's `reflect.DeepEqual` on template values: types must match exactly.
pub(crate) fn deep_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Nil, Value::Nil) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Uint(x), Value::Uint(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::String(_) | Value::Bytes(_), Value::String(_) | Value::Bytes(_)) => {
            a.as_bytes() == b.as_bytes()
        }
        (Value::List(x), Value::List(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| deep_equal(p, q))
        }
        (Value::Map(x), Value::Map(y)) => {
            let (x, y) = (x.borrow(), y.borrow());
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| deep_equal(v, w)))
        }
        (Value::Object(x), Value::Object(y)) => std::rc::Rc::ptr_eq(x, y),
        _ => false,
    }
}

pub(super) fn register(reg: &mut Registry) {
    use Ty::*;
    let mut f = |name, params, variadic, imp| reg.add(name, params, variadic, imp);
    f("kindOf", &[Any], None, |_, a| {
        Ok(Value::from(kind_of(&a[0])))
    });
    f("kindIs", &[Str, Any], None, |_, a| {
        Ok(Value::Bool(kind_of(&a[1]) == s(&a[0])))
    });
    f("typeIs", &[Str, Any], None, |_, a| {
        Ok(Value::Bool(a[1].type_name() == s(&a[0])))
    });
    f("typeIsLike", &[Str, Any], None, |_, a| {
        let t = a[1].type_name();
        let want = s(&a[0]);
        Ok(Value::Bool(t == want || format!("*{t}") == want))
    });
    f("deepEqual", &[Any, Any], None, |_, a| {
        Ok(Value::Bool(deep_equal(&a[0], &a[1])))
    });
}
