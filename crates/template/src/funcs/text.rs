//! Sprig: more strings (cases, abbreviations, wrapping, substrings, random strings).

use super::*;

/// Random bytes from the operating system.
pub(crate) fn random_bytes(n: usize) -> Result<Vec<u8>, FuncError> {
    let mut b = vec![0u8; n];
    getrandom::fill(&mut b).map_err(|e| FuncError::Msg(format!("no randomness: {e}")))?;
    Ok(b)
}

/// `n` characters drawn uniformly from `alphabet`.
fn random_string(n: i64, alphabet: &[u8]) -> FResult {
    let n = n.max(0) as usize;
    let mut out = String::with_capacity(n);
    while out.len() < n {
        for b in random_bytes(n * 2)? {
            // Rejection sampling keeps the draw uniform.
            let limit = 256 - (256 % alphabet.len());
            if (b as usize) < limit && out.len() < n {
                out.push(alphabet[b as usize % alphabet.len()] as char);
            }
        }
    }
    Ok(Value::from(out))
}

const LOWER: &str = "abcdefghijklmnopqrstuvwxyz";
const UPPER: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const DIGITS: &str = "0123456789";

/// Splits into words at case changes, digits and separators, as xstrings does for case changes.
fn words(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    let chars: Vec<char> = s.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        let prev = i.checked_sub(1).map(|j| chars[j]);
        let next = chars.get(i + 1);
        let boundary = c.is_uppercase()
            && prev.is_some_and(|p| {
                p.is_lowercase()
                    || p.is_numeric()
                    || (p.is_uppercase() && next.is_some_and(|n| n.is_lowercase()))
            });
        if boundary && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        cur.push(c);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn cap_first(w: &str) -> String {
    let mut c = w.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// Sprig's `substr`: byte offsets; a negative start takes from 0, a negative or too-large end
/// takes to the end; other bad bounds fail as Go's slicing panics.
fn substr(start: i64, end: i64, s: &str) -> Result<String, FuncError> {
    let b = s.as_bytes();
    let (lo, hi) = if start < 0 {
        (0, end)
    } else if end < 0 || end as usize > b.len() {
        (start, b.len() as i64)
    } else {
        (start, end)
    };
    if lo > hi || hi < 0 || hi as usize > b.len() {
        return msg(format!(
            "runtime error: slice bounds out of range [{lo}:{hi}]"
        ));
    }
    Ok(String::from_utf8_lossy(&b[lo as usize..hi as usize]).to_string())
}

fn abbrev(width: i64, s: &str) -> String {
    let n = s.chars().count() as i64;
    if width < 4 || n <= width {
        return s.to_string();
    }
    s.chars().take((width - 3) as usize).collect::<String>() + "..."
}

fn wrap_with(width: i64, sep: &str, s: &str) -> String {
    let width = width.max(1) as usize;
    let mut out = String::new();
    for (li, line) in s.split('\n').enumerate() {
        if li > 0 {
            out.push('\n');
        }
        let mut col = 0;
        for (wi, w) in line.split(' ').filter(|w| !w.is_empty()).enumerate() {
            let len = w.chars().count();
            if wi > 0 {
                if col + 1 + len > width {
                    out.push_str(sep);
                    col = 0;
                } else {
                    out.push(' ');
                    col += 1;
                }
            }
            out.push_str(w);
            col += len;
        }
    }
    out
}

pub(super) fn register(reg: &mut Registry) {
    use Ty::*;
    let mut f = |name, params, variadic, imp| reg.add(name, params, variadic, imp);
    f("substr", &[Int, Int, Str], None, |_, a| {
        substr(int(&a[0]), int(&a[1]), s(&a[2])).map(Value::from)
    });
    f("abbrev", &[Int, Str], None, |_, a| {
        Ok(Value::from(abbrev(int(&a[0]), s(&a[1]))))
    });
    f("abbrevboth", &[Int, Int, Str], None, |_, a| {
        let (left, right, text) = (int(&a[0]), int(&a[1]), s(&a[2]));
        let n = text.chars().count() as i64;
        if right < 4 || (left > 0 && right < 7) || n <= right {
            return Ok(Value::from(text));
        }
        let left = left.clamp(0, n);
        let rest: String = if left > 4 {
            format!(
                "...{}",
                text.chars().skip(left as usize).collect::<String>()
            )
        } else {
            text.to_string()
        };
        Ok(Value::from(abbrev(right, &rest)))
    });
    f("initials", &[Str], None, |_, a| {
        Ok(Value::from(
            s(&a[0])
                .split_whitespace()
                .filter_map(|w| w.chars().next())
                .collect::<String>(),
        ))
    });
    f("wrap", &[Int, Str], None, |_, a| {
        Ok(Value::from(wrap_with(int(&a[0]), "\n", s(&a[1]))))
    });
    f("wrapWith", &[Int, Str, Str], None, |_, a| {
        Ok(Value::from(wrap_with(int(&a[0]), s(&a[1]), s(&a[2]))))
    });
    f("untitle", &[Str], None, |_, a| {
        let mut out = String::new();
        let mut start = true;
        for c in s(&a[0]).chars() {
            if start && c.is_alphabetic() {
                out.extend(c.to_lowercase());
            } else {
                out.push(c);
            }
            start = c.is_whitespace();
        }
        Ok(Value::from(out))
    });
    register_cases(reg);
    register_random_and_more(reg);
}

/// Case changes.
fn register_cases(reg: &mut Registry) {
    use Ty::*;
    let mut f = |name, params, variadic, imp| reg.add(name, params, variadic, imp);
    f("camelcase", &[Str], None, |_, a| {
        Ok(Value::from(
            s(&a[0]).split('_').map(cap_first).collect::<String>(),
        ))
    });
    f("snakecase", &[Str], None, |_, a| {
        Ok(Value::from(
            words(s(&a[0]))
                .iter()
                .map(|w| w.to_lowercase())
                .collect::<Vec<_>>()
                .join("_"),
        ))
    });
    f("kebabcase", &[Str], None, |_, a| {
        Ok(Value::from(
            words(s(&a[0]))
                .iter()
                .map(|w| w.to_lowercase())
                .collect::<Vec<_>>()
                .join("-"),
        ))
    });
    f("swapcase", &[Str], None, |_, a| {
        Ok(Value::from(
            s(&a[0])
                .chars()
                .flat_map(|c| {
                    if c.is_uppercase() {
                        c.to_lowercase().collect::<Vec<_>>()
                    } else {
                        c.to_uppercase().collect::<Vec<_>>()
                    }
                })
                .collect::<String>(),
        ))
    });
}

/// Random strings, plurals, splitting.
fn register_random_and_more(reg: &mut Registry) {
    use Ty::*;
    let mut f = |name, params, variadic, imp| reg.add(name, params, variadic, imp);
    f("shuffle", &[Str], None, |_, a| {
        let mut chars: Vec<char> = s(&a[0]).chars().collect();
        let r = random_bytes(chars.len() * 4)?;
        for i in (1..chars.len()).rev() {
            let x = u32::from_le_bytes([r[i * 4], r[i * 4 + 1], r[i * 4 + 2], r[i * 4 + 3]]);
            chars.swap(i, x as usize % (i + 1));
        }
        Ok(Value::from(chars.into_iter().collect::<String>()))
    });
    f("plural", &[Str, Str, Int], None, |_, a| {
        Ok(if int(&a[2]) == 1 {
            a[0].clone()
        } else {
            a[1].clone()
        })
    });
    f("splitn", &[Str, Int, Str], None, |_, a| {
        let n = int(&a[1]);
        let parts: Vec<&str> = if n < 0 {
            s(&a[2]).split(s(&a[0])).collect()
        } else {
            s(&a[2]).splitn(n as usize, s(&a[0])).collect()
        };
        Ok(Value::map(
            parts
                .into_iter()
                .enumerate()
                .map(|(i, p)| (format!("_{i}"), Value::from(p)))
                .collect(),
        ))
    });
    f("trimall", &[Str, Str], None, |_, a| {
        let cut: Vec<char> = s(&a[0]).chars().collect();
        Ok(Value::from(s(&a[1]).trim_matches(cut.as_slice())))
    });
    f("randAlphaNum", &[Int], None, |_, a| {
        random_string(int(&a[0]), format!("{LOWER}{UPPER}{DIGITS}").as_bytes())
    });
    f("randAlpha", &[Int], None, |_, a| {
        random_string(int(&a[0]), format!("{LOWER}{UPPER}").as_bytes())
    });
    f("randNumeric", &[Int], None, |_, a| {
        random_string(int(&a[0]), DIGITS.as_bytes())
    });
    f("randAscii", &[Int], None, |_, a| {
        let printable: Vec<u8> = (32u8..127).collect();
        random_string(int(&a[0]), &printable)
    });
    f("hello", &[], None, |_, _| Ok(Value::from("Hello!")));
    f("atoi", &[Str], None, |_, a| {
        Ok(Value::Int(s(&a[0]).trim().parse().unwrap_or(0)))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sprig_string_helpers() {
        assert_eq!(substr(1, 3, "hello").unwrap(), "el");
        assert_eq!(substr(-1, 3, "hello").unwrap(), "hel");
        assert_eq!(substr(2, 100, "hello").unwrap(), "llo");
        assert!(substr(4, 2, "hello").is_err());
        assert_eq!(abbrev(5, "hello world"), "he...");
        assert_eq!(
            words("HTTPServer_name-id"),
            vec!["HTTP", "Server", "name", "id"]
        );
        assert_eq!(
            wrap_with(5, "\n", "Hello world, how are you"),
            "Hello\nworld,\nhow\nare\nyou"
        );
    }
}
