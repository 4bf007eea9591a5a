//! Sprig: lists.

use super::*;

pub(super) fn register(reg: &mut Registry) {
    use Ty::*;
    let mut f = |name, params, variadic, imp| reg.add(name, params, variadic, imp);
    f("list", &[], Some(Any), |_, a| Ok(Value::list(a)));
    f("first", &[Any], None, |_, a| {
        Ok(as_list(&a[0])
            .and_then(|l| l.first().cloned())
            .unwrap_or_default())
    });
    f("last", &[Any], None, |_, a| {
        Ok(as_list(&a[0])
            .and_then(|l| l.last().cloned())
            .unwrap_or_default())
    });
    f("rest", &[Any], None, |_, a| {
        Ok(as_list(&a[0])
            .map(|l| Value::list(l.iter().skip(1).cloned().collect()))
            .unwrap_or_default())
    });
    f("append", &[Any, Any], None, |_, a| {
        let mut l = as_list(&a[0]).unwrap_or_default();
        l.push(a[1].clone());
        Ok(Value::list(l))
    });
    f("concat", &[], Some(Any), |_, a| {
        Ok(Value::list(
            a.iter()
                .flat_map(|v| as_list(v).unwrap_or_default())
                .collect(),
        ))
    });
    f("has", &[Any, Any], None, |_, a| {
        Ok(Value::Bool(
            as_list(&a[1])
                .map(|l| {
                    l.iter()
                        .any(|x| eq(x, std::slice::from_ref(&a[0])).unwrap_or(false))
                })
                .unwrap_or(false),
        ))
    });
    f("uniq", &[Any], None, |_, a| {
        let mut out: Vec<Value> = Vec::new();
        for v in as_list(&a[0]).unwrap_or_default() {
            if !out
                .iter()
                .any(|x| eq(x, std::slice::from_ref(&v)).unwrap_or(false))
            {
                out.push(v);
            }
        }
        Ok(Value::list(out))
    });
    f("compact", &[Any], None, |_, a| {
        Ok(Value::list(
            as_list(&a[0])
                .unwrap_or_default()
                .into_iter()
                .filter(|v| !empty(v))
                .collect(),
        ))
    });
    f("sortAlpha", &[Any], None, |_, a| {
        let mut v = strslice(&a[0]);
        v.sort();
        Ok(Value::list(v.into_iter().map(Value::from).collect()))
    });
}
