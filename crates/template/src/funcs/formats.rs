//! Sprig and Helm: encodings and formats beyond YAML/JSON basics (base32, hashes, pretty and raw
//! JSON, arrays from YAML/JSON, TOML, URLs, UUIDs, paths).

use crate::error::GoError;

use super::*;
use std::fmt::Write as _;

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn b32enc(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let bits = u64::from_be_bytes([0, 0, 0, buf[0], buf[1], buf[2], buf[3], buf[4]]);
        let chars = (chunk.len() * 8).div_ceil(5);
        for i in 0..8 {
            if i < chars {
                out.push(B32[((bits >> (35 - i * 5)) & 31) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn b32dec(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut bits: u64 = 0;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.bytes() {
        let v = B32.iter().position(|&b| b == c)? as u64;
        bits = (bits << 5) | v;
        n += 5;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    Some(out)
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in data {
        a = (a + x as u32) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

/// Go's `path.Clean`.
pub(crate) fn clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

fn base(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return "/".into();
    }
    t.rsplit('/').next().unwrap_or(t).to_string()
}

fn dir(p: &str) -> String {
    match p.rfind('/') {
        Some(i) => clean(&p[..=i]),
        None => ".".into(),
    }
}

fn ext(p: &str) -> String {
    let b = p.rsplit('/').next().unwrap_or(p);
    match b.rfind('.') {
        Some(i) => b[i..].to_string(),
        None => String::new(),
    }
}

/// Parses a URL into Sprig's `urlParse` map.
fn url_parse(u: &str) -> Value {
    let mut m = BTreeMap::new();
    let (rest, fragment) = u.split_once('#').unwrap_or((u, ""));
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (scheme, rest) = match rest.split_once("://") {
        Some((s, r)) if !s.contains('/') => (s, format!("//{r}")),
        _ => ("", rest.to_string()),
    };
    let (authority, path) = match rest.strip_prefix("//") {
        Some(r) => match r.find('/') {
            Some(i) => (r[..i].to_string(), r[i..].to_string()),
            None => (r.to_string(), String::new()),
        },
        None => (String::new(), rest.clone()),
    };
    let (userinfo, host) = match authority.rsplit_once('@') {
        Some((u, h)) => (u.to_string(), h.to_string()),
        None => (String::new(), authority.clone()),
    };
    let hostname = if host.starts_with('[') {
        host.split(']')
            .next()
            .unwrap_or("")
            .trim_start_matches('[')
            .to_string()
    } else {
        host.split(':').next().unwrap_or("").to_string()
    };
    for (k, v) in [
        ("scheme", scheme.to_string()),
        ("host", host),
        ("hostname", hostname),
        ("path", path),
        ("query", query.to_string()),
        ("opaque", String::new()),
        ("fragment", fragment.to_string()),
        ("userinfo", userinfo),
    ] {
        m.insert(k.to_string(), Value::from(v));
    }
    Value::map(m)
}

fn url_join(m: &BTreeMap<String, Value>) -> String {
    let g = |k: &str| m.get(k).map(strval).unwrap_or_default();
    let mut out = String::new();
    if !g("scheme").is_empty() {
        out.push_str(&g("scheme"));
        out.push(':');
    }
    if !g("host").is_empty() || !g("userinfo").is_empty() {
        out.push_str("//");
        if !g("userinfo").is_empty() {
            out.push_str(&g("userinfo"));
            out.push('@');
        }
        out.push_str(&g("host"));
    }
    out.push_str(&g("path"));
    if !g("query").is_empty() {
        out.push('?');
        out.push_str(&g("query"));
    }
    if !g("fragment").is_empty() {
        out.push('#');
        out.push_str(&g("fragment"));
    }
    out
}

/// TOML as BurntSushi's encoder writes it: scalars first, then tables (indented two spaces
/// per level), keys sorted.
fn to_toml(v: &Value) -> Result<String, GoError> {
    let Value::Map(m) = v else {
        return Err("toml: top-level value must be a map".into());
    };
    let mut out = String::new();
    toml_table(&mut out, &m.borrow(), &[], 0)?;
    Ok(out)
}

fn toml_key(k: &str) -> String {
    if !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        k.to_string()
    } else {
        crate::gofmt::quote(k)
    }
}

fn toml_scalar(v: &Value) -> Result<String, GoError> {
    Ok(match v {
        Value::String(s) => crate::gofmt::quote(s),
        Value::Bytes(b) => crate::gofmt::quote(&crate::value::go_lossy(b)),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Uint(u) => u.to_string(),
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 1e16 => format!("{f:.1}"),
        Value::Float(f) => crate::gofmt::format_float(*f, 'g', None),
        Value::List(l) => {
            let items: Result<Vec<String>, GoError> = l.iter().map(toml_scalar).collect();
            format!("[{}]", items?.join(", "))
        }
        Value::Map(m) => {
            let items: Result<Vec<String>, GoError> = m
                .borrow()
                .iter()
                .map(|(k, v)| Ok(format!("{} = {}", toml_key(k), toml_scalar(v)?)))
                .collect();
            format!("{{{}}}", items?.join(", "))
        }
        Value::Nil => return Err("toml: cannot encode a nil value".into()),
        Value::Object(o) => return toml_scalar(&o.to_value()),
    })
}

fn is_table_list(v: &Value) -> bool {
    matches!(v, Value::List(l) if !l.is_empty() && l.iter().all(|e| matches!(e, Value::Map(_))))
}

fn toml_table(
    out: &mut String,
    m: &BTreeMap<String, Value>,
    path: &[String],
    depth: usize,
) -> Result<(), GoError> {
    let pad = "  ".repeat(depth);
    for (k, v) in m {
        if matches!(v, Value::Map(_) | Value::Nil) || is_table_list(v) {
            continue;
        }
        let _ = writeln!(out, "{pad}{} = {}", toml_key(k), toml_scalar(v)?);
    }
    for (k, v) in m {
        let mut p = path.to_vec();
        p.push(toml_key(k));
        let inner = "  ".repeat(depth);
        match v {
            Value::Map(sub) => {
                let _ = writeln!(out, "\n{inner}[{}]", p.join("."));
                toml_table(out, &sub.borrow(), &p, depth + 1)?;
            }
            Value::List(l) if is_table_list(v) => {
                for e in l.iter() {
                    if let Value::Map(sub) = e {
                        let _ = writeln!(out, "\n{inner}[[{}]]", p.join("."));
                        toml_table(out, &sub.borrow(), &p, depth + 1)?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn from_toml(s: &str) -> Value {
    match s.parse::<toml::Table>() {
        Ok(t) => match serde_json::to_value(t) {
            Ok(j) => Value::from_json(&j),
            Err(e) => error_map(e.to_string()),
        },
        Err(e) => error_map(e.to_string()),
    }
}

fn error_map(e: String) -> Value {
    Value::map(BTreeMap::from([("Error".to_string(), Value::from(e))]))
}

fn uuidv4() -> FResult {
    let mut b = text::random_bytes(16)?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(&b);
    Ok(Value::from(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )))
}

pub(super) fn register(reg: &mut Registry) {
    use Ty::*;
    let mut f = |name, params, variadic, imp| reg.add(name, params, variadic, imp);
    f("b32enc", &[Bytes], None, |_, a| {
        Ok(Value::from(b32enc(bytes(&a[0]))))
    });
    f("b32dec", &[Str], None, |_, a| {
        Ok(match b32dec(s(&a[0])) {
            Some(b) => Value::from_bytes(b),
            None => Value::from("illegal base32 data"),
        })
    });
    f("sha1sum", &[Bytes], None, |_, a| {
        Ok(Value::from(hex(&sha1::Sha1::digest(bytes(&a[0])))))
    });
    f("sha512sum", &[Bytes], None, |_, a| {
        Ok(Value::from(hex(&sha2::Sha512::digest(bytes(&a[0])))))
    });
    f("adler32sum", &[Bytes], None, |_, a| {
        Ok(Value::from(adler32(bytes(&a[0])).to_string()))
    });
    f("mustToJson", &[Any], None, |_, a| {
        Ok(Value::from(crate::yaml::to_json(&a[0])))
    });
    for name in ["toPrettyJson", "mustToPrettyJson"] {
        f(name, &[Any], None, |_, a| {
            Ok(Value::from(crate::yaml::to_json_with(
                &a[0],
                Some("  "),
                true,
            )))
        });
    }
    for name in ["toRawJson", "mustToRawJson"] {
        f(name, &[Any], None, |_, a| {
            Ok(Value::from(crate::yaml::to_json_with(&a[0], None, false)))
        });
    }
    f("mustFromJson", &[Str], None, |_, a| {
        super::gojson::parse(s(&a[0]))
            .map(|v| Value::from_json_go(&v))
            .map_err(FuncError::from)
    });
    f("fromJsonArray", &[Str], None, |_, a| {
        Ok(match super::gojson::parse_array(s(&a[0])) {
            Ok(items) => Value::list(items.iter().map(Value::from_json_go).collect()),
            Err(e) => Value::list(vec![Value::from(e)]),
        })
    });
    f("fromYamlArray", &[Str], None, |_, a| {
        Ok(match crate::yaml::from_yaml(s(&a[0])) {
            Ok(v @ Value::List(_)) => v,
            Ok(Value::Nil) => Value::list(vec![]),
            Ok(_) => Value::list(vec![Value::from(
                "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal object into Go value of type []interface {}",
            )]),
            Err(e) => Value::list(vec![Value::from(e)]),
        })
    });
    register_text_formats(reg);
}

/// YAML, TOML, URLs, UUIDs, random bytes, paths, lookups.
fn register_text_formats(reg: &mut Registry) {
    use Ty::*;
    let mut f = |name, params, variadic, imp| reg.add(name, params, variadic, imp);
    f("toToml", &[Any], None, |_, a| {
        Ok(Value::from(
            to_toml(&a[0]).unwrap_or_else(|e| e.to_string()),
        ))
    });
    f("fromToml", &[Str], None, |_, a| Ok(from_toml(s(&a[0]))));
    f("urlParse", &[Str], None, |_, a| Ok(url_parse(s(&a[0]))));
    f("urlJoin", &[Map], None, |_, a| {
        Ok(Value::from(match &a[0] {
            Value::Map(m) => url_join(&m.borrow()),
            _ => String::new(),
        }))
    });
    f("uuidv4", &[], None, |_, _| uuidv4());
    f("randBytes", &[Int], None, |_, a| {
        use base64::Engine;
        let b = text::random_bytes(int(&a[0]).max(0) as usize)?;
        Ok(Value::from(
            base64::engine::general_purpose::STANDARD.encode(b),
        ))
    });
    f("base", &[Str], None, |_, a| Ok(Value::from(base(s(&a[0])))));
    f("osBase", &[Str], None, |_, a| {
        Ok(Value::from(base(s(&a[0]))))
    });
    f("dir", &[Str], None, |_, a| Ok(Value::from(dir(s(&a[0])))));
    f("osDir", &[Str], None, |_, a| Ok(Value::from(dir(s(&a[0])))));
    f("clean", &[Str], None, |_, a| {
        Ok(Value::from(clean(s(&a[0]))))
    });
    f("osClean", &[Str], None, |_, a| {
        Ok(Value::from(clean(s(&a[0]))))
    });
    f("ext", &[Str], None, |_, a| Ok(Value::from(ext(s(&a[0])))));
    f("osExt", &[Str], None, |_, a| Ok(Value::from(ext(s(&a[0])))));
    f("isAbs", &[Str], None, |_, a| {
        Ok(Value::Bool(s(&a[0]).starts_with('/')))
    });
    f("osIsAbs", &[Str], None, |_, a| {
        Ok(Value::Bool(s(&a[0]).starts_with('/')))
    });
    f("lookup", &[Str, Str, Str, Str], None, |h, a| {
        h.lookup(&super::LookupQuery {
            api_version: s(&a[0]).to_string(),
            kind: s(&a[1]).to_string(),
            namespace: s(&a[2]).to_string(),
            name: s(&a[3]).to_string(),
        })
    });
    // Helm resolves names only with `--enable-dns`; without it (and always here: the template
    // engine does no I/O) the answer is the empty string, as `helm template` gives.
    f("getHostByName", &[Str], None, |_, _| Ok(Value::from("")));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_and_paths() {
        assert_eq!(b32enc(b"hello"), "NBSWY3DP");
        assert_eq!(b32enc(b"hi"), "NBUQ====");
        assert_eq!(b32dec("NBUQ===="), Some(b"hi".to_vec()));
        assert_eq!(adler32(b"Wikipedia"), 300286872);
        assert_eq!(clean("a/../../b/./c/"), "../b/c");
        assert_eq!(clean("/../a"), "/a");
        assert_eq!(base("/a/b.txt"), "b.txt");
        assert_eq!(dir("/a/b.txt"), "/a");
        assert_eq!(ext("x/y.tar.gz"), ".gz");
        let u = url_parse("https://user:pw@example.com:8443/p/q?x=1#top");
        let m = match &u {
            Value::Map(m) => m.borrow().clone(),
            _ => unreachable!(),
        };
        assert_eq!(strval(&m["hostname"]), "example.com");
        assert_eq!(url_join(&m), "https://user:pw@example.com:8443/p/q?x=1#top");
    }
}
