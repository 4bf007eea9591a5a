//! Sprig: floating-point math, rounding, random integers, octal strings.

use super::*;

fn floats(a: &[Value]) -> Vec<f64> {
    a.iter().map(to_float64).collect()
}

/// Sprig's `round`: rounds half away at `round_on` (0.5 by default) to `places` decimals.
fn round(v: f64, places: i64, round_on: f64) -> f64 {
    let pow = 10f64.powi(places as i32);
    let digit = pow * v;
    let div = digit.fract();
    let r = if div >= round_on {
        digit.ceil()
    } else {
        digit.floor()
    };
    r / pow
}

pub(super) fn register(reg: &mut Registry) {
    use Ty::*;
    let mut f = |name, params, variadic, imp| reg.add(name, params, variadic, imp);
    f("addf", &[], Some(Any), |_, a| {
        Ok(Value::Float(floats(&a).iter().sum()))
    });
    f("add1f", &[Any], None, |_, a| {
        Ok(Value::Float(to_float64(&a[0]) + 1.0))
    });
    f("subf", &[Any], Some(Any), |_, a| {
        let v = floats(&a);
        Ok(Value::Float(v[1..].iter().fold(v[0], |x, y| x - y)))
    });
    f("mulf", &[Any], Some(Any), |_, a| {
        Ok(Value::Float(floats(&a).iter().product()))
    });
    f("divf", &[Any], Some(Any), |_, a| {
        let v = floats(&a);
        Ok(Value::Float(v[1..].iter().fold(v[0], |x, y| x / y)))
    });
    f("maxf", &[Any], Some(Any), |_, a| {
        Ok(Value::Float(
            floats(&a).into_iter().fold(f64::NEG_INFINITY, f64::max),
        ))
    });
    f("minf", &[Any], Some(Any), |_, a| {
        Ok(Value::Float(
            floats(&a).into_iter().fold(f64::INFINITY, f64::min),
        ))
    });
    f("floor", &[Any], None, |_, a| {
        Ok(Value::Float(to_float64(&a[0]).floor()))
    });
    f("ceil", &[Any], None, |_, a| {
        Ok(Value::Float(to_float64(&a[0]).ceil()))
    });
    f("round", &[Any, Int], Some(Any), |_, a| {
        let on = a.get(2).map(to_float64).unwrap_or(0.5);
        Ok(Value::Float(round(to_float64(&a[0]), int(&a[1]), on)))
    });
    f("biggest", &[Any], Some(Any), |_, a| {
        Ok(Value::Int(a.iter().map(to_int64).max().unwrap_or(0)))
    });
    f("randInt", &[Int, Int], None, |_, a| {
        let (lo, hi) = (int(&a[0]), int(&a[1]));
        if hi <= lo {
            return msg("invalid argument to Intn");
        }
        let b = text::random_bytes(8)?;
        let r = u64::from_le_bytes(b.try_into().expect("8 bytes"));
        Ok(Value::Int(lo + (r % (hi - lo) as u64) as i64))
    });
    f("toDecimal", &[Any], None, |_, a| {
        Ok(Value::Int(
            i64::from_str_radix(&strval(&a[0]), 8).unwrap_or(0),
        ))
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn sprig_round() {
        assert_eq!(super::round(123.5555, 3, 0.5), 123.556);
        assert_eq!(super::round(123.55, 0, 0.5), 124.0);
        assert_eq!(super::round(123.4999, 0, 0.5), 123.0);
    }
}
