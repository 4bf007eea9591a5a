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
