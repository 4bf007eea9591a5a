//! Sprig: strings.

use super::*;

pub(super) fn register(reg: &mut Registry) {
    use Ty::*;
    let mut f = |name, params, variadic, imp| reg.add(name, params, variadic, imp);
    f("quote", &[], Some(Any), |_, a| {
        Ok(join_non_nil(&a, |s| gofmt::quote(&s)))
    });
    f("squote", &[], Some(Any), |_, a| {
        Ok(join_non_nil(&a, |s| format!("'{s}'")))
    });
    f("cat", &[], Some(Any), |_, a| Ok(join_non_nil(&a, |s| s)));
    f("trim", &[Str], None, |_, a| {
        Ok(Value::from(s(&a[0]).trim_matches(char::is_whitespace)))
    });
    f("trimAll", &[Str, Str], None, |_, a| {
        let cut: Vec<char> = s(&a[0]).chars().collect();
        Ok(Value::from(s(&a[1]).trim_matches(cut.as_slice())))
    });
    f("trimPrefix", &[Str, Str], None, |_, a| {
        Ok(Value::from(
            s(&a[1]).strip_prefix(s(&a[0])).unwrap_or(s(&a[1])),
        ))
    });
    f("trimSuffix", &[Str, Str], None, |_, a| {
        Ok(Value::from(
            s(&a[1]).strip_suffix(s(&a[0])).unwrap_or(s(&a[1])),
        ))
    });
    f("replace", &[Str, Str, Str], None, |_, a| {
        Ok(Value::from(go_replace(s(&a[2]), s(&a[0]), s(&a[1]))))
    });
    f("contains", &[Str, Str], None, |_, a| {
        Ok(Value::Bool(s(&a[1]).contains(s(&a[0]))))
    });
    f("hasPrefix", &[Str, Str], None, |_, a| {
        Ok(Value::Bool(s(&a[1]).starts_with(s(&a[0]))))
    });
    f("hasSuffix", &[Str, Str], None, |_, a| {
        Ok(Value::Bool(s(&a[1]).ends_with(s(&a[0]))))
    });
    f("split", &[Str, Str], None, |_, a| {
        let m: BTreeMap<String, Value> = go_split(s(&a[1]), s(&a[0]))
            .into_iter()
            .enumerate()
            .map(|(i, p)| (format!("_{i}"), Value::from(p)))
            .collect();
        Ok(Value::map(m))
    });
    f("splitList", &[Str, Str], None, |_, a| {
        Ok(Value::list(
            go_split(s(&a[1]), s(&a[0]))
                .into_iter()
                .map(Value::from)
                .collect(),
        ))
    });
}

pub(super) fn register_2(reg: &mut Registry) {
    use Ty::*;
    let mut f = |name, params, variadic, imp| reg.add(name, params, variadic, imp);
    f("join", &[Str, Any], None, |_, a| {
        Ok(Value::from(strslice(&a[1]).join(s(&a[0]))))
    });
    f("indent", &[Int, Str], None, |_, a| {
        Ok(Value::from(indent(int(&a[0]), s(&a[1]))))
    });
    f("nindent", &[Int, Str], None, |_, a| {
        Ok(Value::from(format!("\n{}", indent(int(&a[0]), s(&a[1])))))
    });
    f("repeat", &[Int, Str], None, |_, a| {
        Ok(Value::from(s(&a[1]).repeat(int(&a[0]).max(0) as usize)))
    });
    f("b64enc", &[Bytes], None, |_, a| {
        Ok(Value::from(
            base64::engine::general_purpose::STANDARD.encode(bytes(&a[0])),
        ))
    });
    f("b64dec", &[Str], None, |_, a| {
        Ok(
            match base64::engine::general_purpose::STANDARD.decode(s(&a[0])) {
                Ok(b) => Value::from_bytes(b),
                Err(e) => Value::from(e.to_string()),
            },
        )
    });
    f("sha256sum", &[Bytes], None, |_, a| {
        let d = sha2::Sha256::digest(bytes(&a[0]));
        Ok(Value::from(
            d.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        ))
    });
    f("toString", &[Any], None, |_, a| {
        Ok(Value::from(strval(&a[0])))
    });
    f("toStrings", &[Any], None, |_, a| {
        Ok(Value::list(
            strslice(&a[0]).into_iter().map(Value::from).collect(),
        ))
    });
}
