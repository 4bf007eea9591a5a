//! Sprig: defaults and logic (`default`, `empty`, `coalesce`, `ternary`, ...).

use super::*;

pub(super) fn register(reg: &mut Registry) {
    use Ty::*;
    let mut f = |name, params, variadic, imp| reg.add(name, params, variadic, imp);
    f("default", &[Any], Some(Any), |_, a| {
        Ok(if a.len() < 2 || empty(&a[1]) {
            a[0].clone()
        } else {
            a[1].clone()
        })
    });
    f("empty", &[Any], None, |_, a| Ok(Value::Bool(empty(&a[0]))));
    f("coalesce", &[], Some(Any), |_, a| {
        Ok(a.iter().find(|v| !empty(v)).cloned().unwrap_or(Value::Nil))
    });
    f("ternary", &[Any, Any, Bool], None, |_, a| {
        Ok(if a[2].truthy() {
            a[0].clone()
        } else {
            a[1].clone()
        })
    });
}
