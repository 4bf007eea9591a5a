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

/// Sprig's `substr`: byte offsets; a negative start takes from 0, a negative or too-large end
/// takes to the end; other bad bounds fail as Go's slicing panics.
fn substr(start: i64, end: i64, b: &[u8]) -> FResult {
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
    Ok(Value::from_bytes(b[lo as usize..hi as usize].to_vec()))
}

/// Sprig's `trunc`: the first `c` bytes, or the last `-c`.
fn trunc(c: i64, b: &[u8]) -> &[u8] {
    let n = b.len() as i64;
    if c < 0 && n + c > 0 {
        &b[(n + c) as usize..]
    } else if c >= 0 && n > c {
        &b[..c as usize]
    } else {
        b
    }
}

/// goutils' `AbbreviateFull` in bytes: at most `max` bytes with `...` where text was cut, the
/// byte at `offset` kept in view; `None` for widths it refuses (Sprig then prints nothing).
fn abbreviate(b: &[u8], offset: i64, max: i64) -> Option<Vec<u8>> {
    let n = b.len() as i64;
    if b.is_empty() || n <= max {
        return (max >= 4 || b.is_empty()).then(|| b.to_vec());
    }
    if max < 4 {
        return None;
    }
    let mut offset = offset.min(n);
    if n - offset < max - 3 {
        offset = n - (max - 3);
    }
    let cat = |a: &[u8]| [b"...".as_slice(), a].concat();
    if offset <= 4 {
        return Some([&b[..(max - 3) as usize], b"..."].concat());
    }
    if max < 7 {
        return None;
    }
    if offset + max - 3 < n {
        return Some(cat(&abbreviate(&b[offset as usize..], 0, max - 3)?));
    }
    Some(cat(&b[(n - (max - 3)) as usize..]))
}

/// goutils' `WrapCustom` in bytes: lines broken at the last space that fits `width` (leading
/// spaces of a line dropped); a longer word is cut (`long`) or left whole.
fn wrap(b: &[u8], width: i64, sep: &[u8], long: bool) -> Vec<u8> {
    let sep: &[u8] = if sep.is_empty() { b"\n" } else { sep };
    let width = width.max(1) as usize;
    let mut out = Vec::with_capacity(b.len() + 8);
    let mut offset = 0;
    while b.len() - offset > width {
        if b[offset] == b' ' {
            offset += 1;
            continue;
        }
        let end = width + offset + 1;
        if let Some(space) = b[offset..end].iter().rposition(|&c| c == b' ') {
            out.extend_from_slice(&b[offset..offset + space]);
            out.extend_from_slice(sep);
            offset += space + 1;
        } else if long {
            out.extend_from_slice(&b[offset..offset + width]);
            out.extend_from_slice(sep);
            offset += width;
        } else {
            match b[offset + width..].iter().position(|&c| c == b' ') {
                None => {
                    out.extend_from_slice(&b[offset..]);
                    offset = b.len();
                }
                Some(i) => {
                    out.extend_from_slice(&b[offset..offset + width + i]);
                    out.extend_from_slice(sep);
                    offset += width + i + 1;
                }
            }
        }
    }
    out.extend_from_slice(&b[offset..]);
    out
}

pub(super) fn register(reg: &mut Registry) {
    use Ty::*;
    let mut f = |name, params, variadic, imp| reg.add(name, params, variadic, imp);
    f("substr", &[Int, Int, Bytes], None, |_, a| {
        substr(int(&a[0]), int(&a[1]), bytes(&a[2]))
    });
    f("trunc", &[Int, Bytes], None, |_, a| {
        Ok(Value::from_bytes(trunc(int(&a[0]), bytes(&a[1])).to_vec()))
    });
    f("abbrev", &[Int, Bytes], None, |_, a| {
        Ok(match int(&a[0]) {
            w if w < 4 => a[1].clone(),
            w => Value::from_bytes(abbreviate(bytes(&a[1]), 0, w).unwrap_or_default()),
        })
    });
    f("abbrevboth", &[Int, Int, Bytes], None, |_, a| {
        let (left, right) = (int(&a[0]), int(&a[1]));
        if right < 4 || (left > 0 && right < 7) {
            return Ok(a[2].clone());
        }
        Ok(Value::from_bytes(
            abbreviate(bytes(&a[2]), left, right).unwrap_or_default(),
        ))
    });
    f("wrap", &[Int, Bytes], None, |_, a| {
        Ok(Value::from_bytes(wrap(
            bytes(&a[1]),
            int(&a[0]),
            b"",
            false,
        )))
    });
    f("wrapWith", &[Int, Bytes, Bytes], None, |_, a| {
        Ok(Value::from_bytes(wrap(
            bytes(&a[2]),
            int(&a[0]),
            bytes(&a[1]),
            true,
        )))
    });
    register_random_and_more(reg);
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
        let text = |v: FResult| v.unwrap().as_str().unwrap().to_string();
        assert_eq!(text(substr(1, 3, b"hello")), "el");
        assert_eq!(text(substr(-1, 3, b"hello")), "hel");
        assert_eq!(text(substr(2, 100, b"hello")), "llo");
        assert!(substr(4, 2, b"hello").is_err());
        assert!(matches!(substr(0, 1, "é".as_bytes()), Ok(Value::Bytes(_))));
        assert_eq!(trunc(-2, b"hello"), b"lo");
        assert_eq!(abbreviate(b"hello world", 0, 5).unwrap(), b"he...");
        assert_eq!(
            abbreviate(b"Now is the time for all good men", 5, 10).unwrap(),
            b"...s th..."
        );
        assert_eq!(
            wrap(b"Hello world, how are you", 5, b"", false),
            b"Hello\nworld,\nhow\nare\nyou"
        );
        assert_eq!(wrap(b"abcdefgh ij", 3, b"|", true), b"abc|def|gh|ij");
    }
}
