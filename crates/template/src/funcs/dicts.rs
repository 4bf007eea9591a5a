//! Sprig: dictionaries, each function once under both of its names where Sprig has a `must`
//! twin (`merge`/`mustMerge`, `deepCopy`/`mustDeepCopy`).

use super::*;

pub(super) fn register(reg: &mut Registry) {
    use Ty::*;
    let mut f = |name, params, variadic, imp| reg.add(name, params, variadic, imp);
    f("dict", &[], Some(Any), |_, a| {
        let mut m = BTreeMap::new();
        for pair in a.chunks(2) {
            m.insert(
                strval(&pair[0]),
                pair.get(1).cloned().unwrap_or_else(|| Value::from("")),
            );
        }
        Ok(Value::map(m))
    });
    f("get", &[Map, Str], None, |_, a| {
        Ok(match &a[0] {
            Value::Map(m) => m
                .borrow()
                .get(s(&a[1]))
                .cloned()
                .unwrap_or_else(|| Value::from("")),
            _ => Value::from(""),
        })
    });
    f("set", &[Map, Str, Any], None, |_, a| match &a[0] {
        Value::Map(m) => {
            m.borrow_mut().insert(s(&a[1]).to_string(), a[2].clone());
            Ok(a[0].clone())
        }
        _ => msg("assignment to entry in nil map"),
    });
    f("unset", &[Map, Str], None, |_, a| {
        if let Value::Map(m) = &a[0] {
            m.borrow_mut().remove(s(&a[1]));
        }
        Ok(a[0].clone())
    });
    f("hasKey", &[Map, Str], None, |_, a| {
        Ok(Value::Bool(
            matches!(&a[0], Value::Map(m) if m.borrow().contains_key(s(&a[1]))),
        ))
    });
    f("keys", &[], Some(Map), |_, a| {
        let mut k: Vec<String> = Vec::new();
        for d in &a {
            if let Value::Map(m) = d {
                k.extend(m.borrow().keys().cloned());
            }
        }
        k.sort();
        Ok(Value::list(k.into_iter().map(Value::from).collect()))
    });
    register_dicts(reg);
    register_merges(reg);
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

/// Reading and picking from maps.
fn register_dicts(reg: &mut Registry) {
    use Ty::*;
    reg.add("dig", &[Any, Any], Some(Any), |_, a| {
        let n = a.len();
        if n < 3 {
            return msg("dig needs at least three arguments");
        }
        if !matches!(a[n - 1], Value::Map(_)) {
            // Sprig's `dict.(map[string]interface{})`, as Go reports the failed conversion.
            let t = match &a[n - 1] {
                Value::Nil => "nil",
                other => other.type_name(),
            };
            return msg(format!(
                "interface conversion: interface {{}} is {t}, not map[string]interface {{}}"
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
    for name in ["merge", "mustMerge"] {
        reg.add(name, &[Map], Some(Map), |_, a| merge(&a, merge_into));
    }
    for name in ["mergeOverwrite", "mustMergeOverwrite"] {
        reg.add(name, &[Map], Some(Map), |_, a| merge(&a, merge_overwrite));
    }
    for name in ["deepCopy", "mustDeepCopy"] {
        reg.add(name, &[Any], None, |_, a| match &a[0] {
            // copystructure's reflection on nil, as Go reports the panic.
            Value::Nil => msg("reflect: call of reflect.Value.Type on zero Value"),
            v => Ok(v.deep_copy()),
        });
    }
}

/// The first map with every later one merged in by `how` (a map merged into itself is left as
/// it is).
fn merge(a: &[Value], how: fn(&mut BTreeMap<String, Value>, &BTreeMap<String, Value>)) -> FResult {
    // A nil destination is a new map (mergo fills the pointer it is given).
    let dst = match &a[0] {
        Value::Map(m) => m.clone(),
        _ => crate::MapRef::default(),
    };
    for src in &a[1..] {
        if let Value::Map(src) = src {
            if !std::rc::Rc::ptr_eq(&dst, src) {
                how(&mut dst.borrow_mut(), &src.borrow());
            }
        }
    }
    Ok(Value::Map(dst))
}
