//! Sprig: dictionaries.

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
    f("merge", &[Map], Some(Map), |_, a| {
        let Value::Map(dst) = &a[0] else {
            return msg("merge into nil map");
        };
        for src in &a[1..] {
            if let Value::Map(src) = src {
                merge_into(&mut dst.borrow_mut(), &src.borrow());
            }
        }
        Ok(a[0].clone())
    });
}
