//! Sprig: numbers and arithmetic.

use super::*;

pub(super) fn register(reg: &mut Registry) {
    use Ty::*;
    let mut f = |name, params, variadic, imp| reg.add(name, params, variadic, imp);
    f("int", &[Any], None, |_, a| Ok(Value::Int(to_int64(&a[0]))));
    f("int64", &[Any], None, |_, a| {
        Ok(Value::Int(to_int64(&a[0])))
    });
    f("float64", &[Any], None, |_, a| {
        Ok(Value::Float(to_float64(&a[0])))
    });
    f("add", &[], Some(Any), |_, a| {
        Ok(Value::Int(
            a.iter().map(to_int64).fold(0i64, i64::wrapping_add),
        ))
    });
    f("add1", &[Any], None, |_, a| {
        Ok(Value::Int(to_int64(&a[0]).wrapping_add(1)))
    });
    f("sub", &[Any, Any], None, |_, a| {
        Ok(Value::Int(to_int64(&a[0]).wrapping_sub(to_int64(&a[1]))))
    });
    f("mul", &[Any], Some(Any), |_, a| {
        Ok(Value::Int(
            a.iter().map(to_int64).fold(1i64, i64::wrapping_mul),
        ))
    });
    f("div", &[Any, Any], None, |_, a| match to_int64(&a[1]) {
        0 => msg("runtime error: integer divide by zero"),
        d => Ok(Value::Int(to_int64(&a[0]).wrapping_div(d))),
    });
    f("mod", &[Any, Any], None, |_, a| match to_int64(&a[1]) {
        0 => msg("runtime error: integer divide by zero"),
        d => Ok(Value::Int(to_int64(&a[0]).wrapping_rem(d))),
    });
    f("max", &[Any], Some(Any), |_, a| {
        Ok(Value::Int(a.iter().map(to_int64).max().unwrap_or(0)))
    });
    f("min", &[Any], Some(Any), |_, a| {
        Ok(Value::Int(a.iter().map(to_int64).min().unwrap_or(0)))
    });
}
