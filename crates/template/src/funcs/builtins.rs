//! Go's built-in functions: logic, length, indexing, printing, escaping, comparison.

use super::*;

pub(super) fn register(reg: &mut Registry) {
    use Ty::*;
    let mut f = |name, params, variadic, imp| reg.add(name, params, variadic, imp);
    f("and", &[Any], Some(Any), |_, _| unreachable!());
    f("or", &[Any], Some(Any), |_, _| unreachable!());
    f("not", &[Any], None, |_, a| Ok(Value::Bool(!a[0].truthy())));
    f("len", &[Any], None, |_, a| length(&a[0]));
    f("index", &[Any], Some(Any), |_, a| index(&a[0], &a[1..]));
    f("slice", &[Any], Some(Any), |_, a| slice(&a[0], &a[1..]));
    f("print", &[], Some(Any), |_, a| {
        Ok(Value::from(gofmt::sprint(&a)))
    });
    f("println", &[], Some(Any), |_, a| {
        Ok(Value::from(gofmt::sprintln(&a)))
    });
    f("printf", &[Str], Some(Any), |_, a| {
        Ok(Value::from(gofmt::sprintf(s(&a[0]), &a[1..])))
    });
    f("html", &[], Some(Any), |_, a| {
        Ok(Value::from(html_escape(&eval_args(&a))))
    });
    f("js", &[], Some(Any), |_, a| {
        Ok(Value::from(js_escape(&eval_args(&a))))
    });
    f("urlquery", &[], Some(Any), |_, a| {
        Ok(Value::from(query_escape(&eval_args(&a))))
    });
    // The first argument is how the callee was written (the executor puts it there).
    f("call", &[Any], Some(Any), |_, a| match &a[1] {
        Value::Nil => msg("call of nil"),
        v => msg(format!(
            "non-function {} of type {}",
            s(&a[0]),
            v.type_name()
        )),
    });
    f("eq", &[Any], Some(Any), |_, a| {
        eq(&a[0], &a[1..]).map(Value::Bool)
    });
    f("ne", &[Any, Any], None, |_, a| {
        eq(&a[0], &a[1..]).map(|b| Value::Bool(!b))
    });
    f("lt", &[Any, Any], None, |_, a| {
        lt(&a[0], &a[1]).map(Value::Bool)
    });
    f("le", &[Any, Any], None, |_, a| {
        le(&a[0], &a[1]).map(Value::Bool)
    });
    f("gt", &[Any, Any], None, |_, a| {
        le(&a[0], &a[1]).map(|b| Value::Bool(!b))
    });
    f("ge", &[Any, Any], None, |_, a| {
        lt(&a[0], &a[1]).map(|b| Value::Bool(!b))
    });
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
pub(crate) fn html_escape(s: &str) -> String {
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
pub(crate) fn js_escape(s: &str) -> String {
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
pub(crate) fn query_escape(s: &str) -> String {
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
