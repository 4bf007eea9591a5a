//! Sprig: lists, each function once under both of its names. Sprig's plain form panics where
//! its `must` form returns an error, and Go's template turns that panic into the same error, so
//! `first` and `mustFirst` are one function here (only the name in "error calling" differs).

use super::*;

/// What Go says when Sprig asks `reflect.TypeOf(nil).Kind()`.
const NIL: &str = "runtime error: invalid memory address or nil pointer dereference";

/// A list argument as Sprig reads one: a slice (or a named slice type); nil is Go's nil
/// dereference; any other kind is Sprig's error for it, `refused(kind)`.
fn list_of(v: &Value, refused: impl Fn(&str) -> String) -> Result<Vec<Value>, FuncError> {
    if let Some(list) = as_list(v) {
        return Ok(list);
    }
    match &*v.underlying() {
        Value::Nil => msg(NIL),
        other => msg(refused(reflect::kind_of(other))),
    }
}

/// A list argument of a function whose error is "Cannot {what} on type {kind}".
fn list_arg(what: &str, v: &Value) -> Result<Vec<Value>, FuncError> {
    list_of(v, |kind| format!("{what} on type {kind}"))
}

fn contains(list: &[Value], v: &Value) -> bool {
    list.iter().any(|x| reflect::deep_equal(x, v))
}

pub(super) fn register(reg: &mut Registry) {
    use Ty::*;
    macro_rules! both {
        ($name:expr, $must:expr, $params:expr, $var:expr, $body:expr) => {
            reg.add($name, $params, $var, $body);
            reg.add($must, $params, $var, $body);
        };
    }
    reg.add("list", &[], Some(Any), |_, a| Ok(Value::list(a)));
    reg.add("tuple", &[], Some(Any), |_, a| Ok(Value::list(a)));
    both!("first", "mustFirst", &[Any], None, |_, a| {
        let l = list_arg("Cannot find first", &a[0])?;
        Ok(l.first().cloned().unwrap_or_default())
    });
    both!("last", "mustLast", &[Any], None, |_, a| {
        let l = list_arg("Cannot find last", &a[0])?;
        Ok(l.last().cloned().unwrap_or_default())
    });
    both!("rest", "mustRest", &[Any], None, |_, a| {
        let l = list_arg("Cannot find rest", &a[0])?;
        Ok(Value::list(l.into_iter().skip(1).collect()))
    });
    both!("initial", "mustInitial", &[Any], None, |_, a| {
        let l = list_arg("Cannot find initial", &a[0])?;
        Ok(Value::list(l[..l.len().saturating_sub(1)].to_vec()))
    });
    for (name, must) in [("append", "mustAppend"), ("push", "mustPush")] {
        both!(name, must, &[Any, Any], None, |_, a| {
            let mut l = list_arg("Cannot push", &a[0])?;
            l.push(a[1].clone());
            Ok(Value::list(l))
        });
    }
    both!("prepend", "mustPrepend", &[Any, Any], None, |_, a| {
        let mut l = list_arg("Cannot prepend", &a[0])?;
        l.insert(0, a[1].clone());
        Ok(Value::list(l))
    });
    reg.add("concat", &[], Some(Any), |_, a| {
        let mut out = Vec::new();
        for l in &a {
            out.extend(list_of(l, |k| format!("Cannot concat type {k} as list"))?);
        }
        Ok(Value::list(out))
    });
    both!("has", "mustHas", &[Any, Any], None, |_, a| {
        if matches!(a[1], Value::Nil) {
            return Ok(Value::Bool(false));
        }
        let l = list_arg("Cannot find has", &a[1])?;
        Ok(Value::Bool(contains(&l, &a[0])))
    });
    both!("uniq", "mustUniq", &[Any], None, |_, a| {
        let mut out: Vec<Value> = Vec::new();
        for v in list_arg("Cannot find uniq", &a[0])? {
            if !contains(&out, &v) {
                out.push(v);
            }
        }
        Ok(Value::list(out))
    });
    both!("compact", "mustCompact", &[Any], None, |_, a| {
        let l = list_arg("Cannot compact", &a[0])?;
        Ok(Value::list(l.into_iter().filter(|v| !empty(v)).collect()))
    });
    both!("reverse", "mustReverse", &[Any], None, |_, a| {
        let mut l = list_arg("Cannot find reverse", &a[0])?;
        l.reverse();
        Ok(Value::list(l))
    });
    both!("without", "mustWithout", &[Any], Some(Any), |_, a| {
        let l = list_arg("Cannot find without", &a[0])?;
        Ok(Value::list(
            l.into_iter().filter(|v| !contains(&a[1..], v)).collect(),
        ))
    });
    both!("chunk", "mustChunk", &[Int, Any], None, |_, a| {
        let size = int(&a[0]);
        if size < 1 {
            return msg("size must be greater than 0");
        }
        let l = list_of(&a[1], |k| format!("Cannot chunk type {k}"))?;
        Ok(Value::list(
            l.chunks(size as usize)
                .map(|c| Value::list(c.to_vec()))
                .collect(),
        ))
    });
    // Go's builtin `slice` keeps its name (deploy folders are Go templates); in Helm, Sprig's
    // replaces it, so a chart's `slice` of a string works here where helm refuses it.
    reg.add("mustSlice", &[Any], Some(Any), |_, a| slice(&a));
    reg.add("sortAlpha", &[Any], None, |_, a| {
        let mut v = match as_list(&a[0]) {
            Some(_) => strslice(&a[0]),
            None => vec![strval(&a[0])],
        };
        v.sort();
        Ok(Value::list(v.into_iter().map(Value::from).collect()))
    });
    register_ranges(reg);
}

/// Sprig's `mustSlice LIST [START [END]]`.
fn slice(a: &[Value]) -> FResult {
    let l = list_of(&a[0], |k| {
        format!("list should be type of slice or array but {k}")
    })?;
    if l.is_empty() {
        return Ok(Value::Nil);
    }
    let idx: Vec<i64> = a[1..].iter().map(to_int64).collect();
    let (lo, hi) = match idx.as_slice() {
        [] => (0, l.len() as i64),
        [lo] => (*lo, l.len() as i64),
        [lo, hi, ..] => (*lo, *hi),
    };
    if lo < 0 || hi < lo || hi as usize > l.len() {
        // Sprig slices with reflect, whose panic text Go's template reports.
        return msg("reflect.Value.Slice: slice index out of bounds");
    }
    Ok(Value::list(l[lo as usize..hi as usize].to_vec()))
}

/// Ranges (`until`, `untilStep`, `seq`) and the truth of a list (`all`, `any`).
fn register_ranges(reg: &mut Registry) {
    use Ty::*;
    reg.add("until", &[Int], None, |_, a| {
        let n = int(&a[0]);
        Ok(until_step(0, n, if n < 0 { -1 } else { 1 }))
    });
    reg.add("untilStep", &[Int, Int, Int], None, |_, a| {
        Ok(until_step(int(&a[0]), int(&a[1]), int(&a[2])))
    });
    reg.add("seq", &[], Some(Int), |_, a| {
        Ok(seq(&a.iter().map(int).collect::<Vec<_>>()))
    });
    reg.add("all", &[], Some(Any), |_, a| {
        Ok(Value::Bool(a.iter().all(Value::truthy)))
    });
    reg.add("any", &[], Some(Any), |_, a| {
        Ok(Value::Bool(a.iter().any(Value::truthy)))
    });
}

/// Sprig's `untilStep`: `start, start+step, ...` short of `stop` (empty for a zero step).
fn until_step(start: i64, stop: i64, step: i64) -> Value {
    let mut out = Vec::new();
    let mut i = start;
    while ((step > 0 && i < stop) || (step < 0 && i > stop)) && out.len() < 1_000_000 {
        out.push(Value::Int(i));
        i += step;
    }
    Value::list(out)
}

/// Sprig's `seq`, as GNU seq: `seq end`, `seq start end`, `seq start step end`.
fn seq(n: &[i64]) -> Value {
    let (start, step, end) = match n {
        [] => return Value::from(""),
        [e] => (1, if *e >= 1 { 1 } else { -1 }, *e),
        [s0, e] => (*s0, if e >= s0 { 1 } else { -1 }, *e),
        [s0, st, e, ..] => (*s0, *st, *e),
    };
    let mut out = Vec::new();
    if step != 0 && (end - start).signum() * step.signum() >= 0 {
        let mut i = start;
        while ((step > 0 && i <= end) || (step < 0 && i >= end)) && out.len() <= 1_000_000 {
            out.push(i.to_string());
            i += step;
        }
    }
    Value::from(out.join(" "))
}
