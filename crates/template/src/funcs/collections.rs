//! Sprig: more lists and dictionaries (`initial`, `reverse`, `without`, `chunk`, `dig`, `pick`,
//! `omit`, `mergeOverwrite`, `deepCopy`, ...) and the `must` variants that fail instead of
//! panicking.

use super::*;

fn list_of(name: &str, v: &Value) -> Result<Vec<Value>, FuncError> {
    if let Some(list) = super::as_list(v) {
        return Ok(list);
    }
    match &*v.underlying() {
        Value::Nil => Ok(vec![]),
        other => msg(format!("Cannot {name} on type {}", other.type_name())),
    }
}

fn contains(list: &[Value], v: &Value) -> bool {
    list.iter().any(|x| reflect::deep_equal(x, v))
}

/// `mergeOverwrite`: `src` over `dst`; maps merge, an empty list does not replace a full one.
fn merge_overwrite(dst: &mut BTreeMap<String, Value>, src: &BTreeMap<String, Value>) {
    for (k, v) in src {
        match (dst.get(k), v) {
            (Some(Value::Map(d)), Value::Map(s)) if !std::rc::Rc::ptr_eq(d, s) => {
                merge_overwrite(&mut d.borrow_mut(), &s.borrow());
            }
            (Some(d), Value::List(l)) if l.is_empty() && d.truthy() => {}
            _ => {
                dst.insert(k.clone(), v.clone());
            }
        }
    }
}

fn dig(keys: &[Value], default: &Value, dict: &Value) -> FResult {
    let mut cur = dict.clone();
    for k in keys {
        let next = match &cur {
            Value::Map(m) => m.borrow().get(&strval(k)).cloned(),
            _ => None,
        };
        match next {
            Some(v) => cur = v,
            None => return Ok(default.clone()),
        }
    }
    Ok(cur)
}

pub(super) fn register(reg: &mut Registry) {
    use Ty::*;
    macro_rules! both {
        ($name:literal, $must:literal, $params:expr, $var:expr, $body:expr) => {
            reg.add($name, $params, $var, $body);
            reg.add($must, $params, $var, $body);
        };
    }
    both!("initial", "mustInitial", &[Any], None, |_, a| {
        let l = list_of("find initial", &a[0])?;
        Ok(Value::list(l[..l.len().saturating_sub(1)].to_vec()))
    });
    both!("prepend", "mustPrepend", &[Any, Any], None, |_, a| {
        let mut l = list_of("prepend", &a[0])?;
        l.insert(0, a[1].clone());
        Ok(Value::list(l))
    });
    both!("push", "mustPush", &[Any, Any], None, |_, a| {
        let mut l = list_of("push", &a[0])?;
        l.push(a[1].clone());
        Ok(Value::list(l))
    });
    reg.add("mustAppend", &[Any, Any], None, |_, a| {
        let mut l = list_of("append", &a[0])?;
        l.push(a[1].clone());
        Ok(Value::list(l))
    });
    both!("reverse", "mustReverse", &[Any], None, |_, a| {
        let mut l = list_of("find reverse", &a[0])?;
        l.reverse();
        Ok(Value::list(l))
    });
    both!("without", "mustWithout", &[Any], Some(Any), |_, a| {
        let l = list_of("find without", &a[0])?;
        Ok(Value::list(
            l.into_iter().filter(|v| !contains(&a[1..], v)).collect(),
        ))
    });
    both!("chunk", "mustChunk", &[Int, Any], None, |_, a| {
        let size = int(&a[0]);
        if size < 1 {
            return msg("size must be greater than 0");
        }
        let l = list_of("chunk", &a[1])?;
        Ok(Value::list(
            l.chunks(size as usize)
                .map(|c| Value::list(c.to_vec()))
                .collect(),
        ))
    });
    register_must_and_ranges(reg);
}

/// The `must` forms of list functions, tuples, ranges, `all` and `any`.
fn register_must_and_ranges(reg: &mut Registry) {
    use Ty::*;
    reg.add("mustFirst", &[Any], None, |_, a| {
        Ok(list_of("find first", &a[0])?
            .first()
            .cloned()
            .unwrap_or_default())
    });
    reg.add("mustLast", &[Any], None, |_, a| {
        Ok(list_of("find last", &a[0])?
            .last()
            .cloned()
            .unwrap_or_default())
    });
    reg.add("mustRest", &[Any], None, |_, a| {
        Ok(Value::list(
            list_of("find rest", &a[0])?.into_iter().skip(1).collect(),
        ))
    });
    reg.add("mustUniq", &[Any], None, |_, a| {
        let mut out: Vec<Value> = Vec::new();
        for v in list_of("find uniq", &a[0])? {
            if !contains(&out, &v) {
                out.push(v);
            }
        }
        Ok(Value::list(out))
    });
    reg.add("mustCompact", &[Any], None, |_, a| {
        Ok(Value::list(
            list_of("compact", &a[0])?
                .into_iter()
                .filter(|v| !empty(v))
                .collect(),
        ))
    });
    reg.add("mustHas", &[Any, Any], None, |_, a| {
        Ok(Value::Bool(contains(&list_of("find has", &a[1])?, &a[0])))
    });
    reg.add("tuple", &[], Some(Any), |_, a| Ok(Value::list(a)));
    reg.add("mustSlice", &[Any], Some(Any), |_, a| {
        let l = list_of("slice", &a[0])?;
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
    register_dicts(reg);
    register_merges(reg);
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

/// Reading and picking from maps.
fn register_dicts(reg: &mut Registry) {
    use Ty::*;
    reg.add("dig", &[Any, Any], Some(Any), |_, a| {
        let n = a.len();
        if n < 3 {
            return msg("dig needs at least three arguments");
        }
        if !matches!(a[n - 1], Value::Map(_)) {
            return msg(format!(
                "wrong type for value; expected map[string]interface {{}}; got {}",
                a[n - 1].type_name()
            ));
        }
        dig(&a[..n - 2], &a[n - 2], &a[n - 1])
    });
    reg.add("pluck", &[Str], Some(Map), |_, a| {
        let k = s(&a[0]);
        Ok(Value::list(
            a[1..]
                .iter()
                .filter_map(|d| match d {
                    Value::Map(m) => m.borrow().get(k).cloned(),
                    _ => None,
                })
                .collect(),
        ))
    });
    reg.add("values", &[Map], None, |_, a| {
        Ok(match &a[0] {
            Value::Map(m) => Value::list(m.borrow().values().cloned().collect()),
            _ => Value::list(vec![]),
        })
    });
    reg.add("pick", &[Map], Some(Str), |_, a| {
        let mut out = BTreeMap::new();
        if let Value::Map(m) = &a[0] {
            for k in &a[1..] {
                if let Some(v) = m.borrow().get(s(k)) {
                    out.insert(s(k).to_string(), v.clone());
                }
            }
        }
        Ok(Value::map(out))
    });
    reg.add("omit", &[Map], Some(Str), |_, a| {
        let mut out = BTreeMap::new();
        if let Value::Map(m) = &a[0] {
            for (k, v) in m.borrow().iter() {
                if !a[1..].iter().any(|o| s(o) == k) {
                    out.insert(k.clone(), v.clone());
                }
            }
        }
        Ok(Value::map(out))
    });
}

/// Merging and copying maps.
fn register_merges(reg: &mut Registry) {
    use Ty::*;
    for name in ["mergeOverwrite", "mustMergeOverwrite"] {
        reg.add(name, &[Map], Some(Map), |_, a| {
            let Value::Map(dst) = &a[0] else {
                return msg("merge into nil map");
            };
            for src in &a[1..] {
                if let Value::Map(src) = src {
                    if !std::rc::Rc::ptr_eq(dst, src) {
                        merge_overwrite(&mut dst.borrow_mut(), &src.borrow());
                    }
                }
            }
            Ok(a[0].clone())
        });
    }
    reg.add("mustMerge", &[Map], Some(Map), |_, a| {
        let Value::Map(dst) = &a[0] else {
            return msg("merge into nil map");
        };
        for src in &a[1..] {
            if let Value::Map(src) = src {
                if !std::rc::Rc::ptr_eq(dst, src) {
                    merge_into(&mut dst.borrow_mut(), &src.borrow());
                }
            }
        }
        Ok(a[0].clone())
    });
    reg.add("deepCopy", &[Any], None, |_, a| Ok(a[0].deep_copy()));
    reg.add("mustDeepCopy", &[Any], None, |_, a| match &a[0] {
        Value::Nil => msg("cannot deep copy nil"),
        v => Ok(v.deep_copy()),
    });
}
