//! Helm's additions and berth's own: `include`, `tpl`, `required`, `fail`, `ismode`.

use super::*;

pub(super) fn register(reg: &mut Registry) {
    use Ty::*;
    let mut f = |name, params, variadic, imp| reg.add(name, params, variadic, imp);
    f("include", &[Str, Any], None, |h, a| {
        h.include(s(&a[0]), &a[1]).map(Value::from)
    });
    f("tpl", &[Str, Any], None, |h, a| {
        h.tpl(s(&a[0]), &a[1]).map(Value::from)
    });
    f("required", &[Str, Any], None, |_, a| match &a[1] {
        Value::Nil => Err(FuncError::User(s(&a[0]).to_string())),
        Value::String(x) if x.is_empty() => Err(FuncError::User(s(&a[0]).to_string())),
        v => Ok(v.clone()),
    });
    f("fail", &[Str], None, |_, a| {
        Err(FuncError::User(s(&a[0]).to_string()))
    });
    f("ismode", &[Any, Str, Str, Str], None, |_, a| {
        Ok(Value::Bool(ismode(&a[0], s(&a[1]), s(&a[2])) == s(&a[3])))
    });
}
