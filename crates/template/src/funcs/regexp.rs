//! Sprig: regular expressions (Go's RE2 syntax, which the `regex` crate shares), each with a
//! `must` variant that fails on a bad pattern where the plain one panics in Go.

use super::*;

/// Compiles a pattern once per thread: charts call the same few patterns from helpers that
/// every template includes (bitnami's common chart: 6% of a render went to recompiling them).
fn compile(pattern: &str) -> Result<::regex::Regex, FuncError> {
    use std::cell::RefCell;
    use std::collections::HashMap;
    const KEPT: usize = 256;
    thread_local! {
        static COMPILED: RefCell<HashMap<String, ::regex::Regex>> = RefCell::default();
    }
    if let Some(re) = COMPILED.with(|c| c.borrow().get(pattern).cloned()) {
        return Ok(re);
    }
    let re = ::regex::Regex::new(&rust_syntax(pattern)).map_err(|e| {
        let why = go_syntax_error(pattern).unwrap_or_else(|| first_line(&e.to_string()));
        FuncError::Hint(
            format!("error parsing regexp: {why}"),
            "the pattern uses Go's RE2 syntax; escape backslashes inside \"...\" strings".into(),
        )
    })?;
    COMPILED.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= KEPT {
            c.clear();
        }
        c.insert(pattern.to_string(), re.clone());
    });
    Ok(re)
}

/// `pattern` (Go's RE2 syntax) in the `regex` crate's syntax, where they differ. Go's Perl
/// classes and word boundaries are ASCII (`\w` is `[0-9A-Za-z_]`; here Unicode): each becomes
/// its ASCII class (a nested class inside a class, which the `regex` crate allows) or `(?-u:\b)`.
/// Inside a class, a `-` after a class escape or a named class (`[\w-.]`) is a literal to Go and
/// a range boundary error here; `[`, `&&` and `~~` are literals to Go and nesting or set
/// operations here. Each is escaped.
fn rust_syntax(pattern: &str) -> std::borrow::Cow<'_, str> {
    if !pattern.contains(['[', '\\']) {
        return pattern.into();
    }
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 4);
    let (mut i, mut depth) = (0, 0usize);
    // After a class escape or a named class inside a class: a following `-` is literal.
    let mut after_class_item = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && i + 1 < chars.len() {
            let e = chars[i + 1];
            match (perl_class(e), e) {
                (Some(class), _) => out.push_str(class),
                (None, 'b' | 'B') if depth == 0 => {
                    out.push_str(if e == 'b' { "(?-u:\\b)" } else { "(?-u:\\B)" })
                }
                _ => {
                    out.push(c);
                    out.push(e);
                }
            }
            i += 2;
            let mut class_escape = matches!(e, 'w' | 'W' | 'd' | 'D' | 's' | 'S');
            if matches!(e, 'p' | 'P') && i < chars.len() {
                class_escape = true;
                if chars[i] == '{' {
                    while i < chars.len() && chars[i] != '}' {
                        out.push(chars[i]);
                        i += 1;
                    }
                }
                if i < chars.len() {
                    out.push(chars[i]);
                    i += 1;
                }
            }
            after_class_item = depth > 0 && class_escape;
            continue;
        }
        if depth > 0 && c == '[' && chars.get(i + 1) == Some(&':') {
            // `[:alpha:]`, copied whole.
            if let Some(end) = (i + 2..chars.len().saturating_sub(1))
                .find(|&j| chars[j] == ':' && chars[j + 1] == ']')
            {
                out.extend(&chars[i..end + 2]);
                i = end + 2;
                after_class_item = true;
                continue;
            }
        }
        match c {
            '-' if after_class_item && chars.get(i + 1).is_some_and(|n| *n != ']') => {
                out.push_str("\\-")
            }
            // Go has no nested classes or set operators: inside a class these are literals.
            '[' | '&' | '~' if depth > 0 => {
                out.push('\\');
                out.push(c);
            }
            '[' => {
                depth += 1;
                out.push(c);
                // `[]` or `[^]` at the start: the `]` is a literal.
                if chars.get(i + 1) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                if chars.get(i + 1) == Some(&']') {
                    out.push_str("\\]");
                    i += 1;
                }
            }
            ']' if depth > 0 => {
                depth -= 1;
                out.push(c);
            }
            _ => out.push(c),
        }
        after_class_item = false;
        i += 1;
    }
    out.into()
}

/// Go's Perl class `\\e` as an ASCII class.
fn perl_class(e: char) -> Option<&'static str> {
    Some(match e {
        'd' => "[0-9]",
        'D' => "[^0-9]",
        'w' => "[0-9A-Za-z_]",
        'W' => "[^0-9A-Za-z_]",
        's' => "[\\t\\n\\f\\r ]",
        'S' => "[^\\t\\n\\f\\r ]",
        _ => return None,
    })
}

/// Go's `regexp.QuoteMeta`: a backslash before each of `\.+*?()|[]{}^$`.
fn quote_meta(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A syntax error as Go's `regexp/syntax` words it (`missing closing ]: `[``): its code, then
/// the part of the pattern it is about, for the errors both parsers share.
fn go_syntax_error(pattern: &str) -> Option<String> {
    use regex_syntax::ast::ErrorKind as K;
    let e = regex_syntax::ast::parse::Parser::new()
        .parse(pattern)
        .err()?;
    let span = e.span();
    let mut at = &pattern[span.start.offset..span.end.offset.max(span.start.offset)];
    if at.is_empty() {
        // A point (an operator with nothing before it): the character there.
        let len = pattern[span.start.offset..]
            .chars()
            .next()
            .map_or(0, char::len_utf8);
        at = &pattern[span.start.offset..span.start.offset + len];
    }
    let (code, part) = match e.kind() {
        K::ClassUnclosed => ("missing closing ]", &pattern[span.start.offset..]),
        K::GroupUnclosed => ("missing closing )", pattern),
        K::GroupUnopened => ("unexpected )", pattern),
        K::RepetitionMissing => ("missing argument to repetition operator", at),
        K::EscapeUnrecognized => ("invalid escape sequence", at),
        K::ClassRangeInvalid => ("invalid character class range", at),
        K::RepetitionCountInvalid => ("invalid repeat count", at),
        _ => return None,
    };
    Some(format!("{code}: `{part}`"))
}

fn first_line(s: &str) -> String {
    s.lines().last().unwrap_or(s).trim().to_string()
}

/// Go's `Regexp.Split(s, n)`.
fn split(re: &::regex::Regex, s: &str, n: i64) -> Vec<String> {
    if n == 0 {
        return vec![];
    }
    if re.as_str().is_empty() && !s.is_empty() {
        let chars: Vec<String> = s.chars().map(String::from).collect();
        if n > 0 && (n as usize) < chars.len() {
            let mut out: Vec<String> = chars[..n as usize - 1].to_vec();
            out.push(chars[n as usize - 1..].concat());
            return out;
        }
        return chars;
    }
    let mut out = Vec::new();
    let mut beg = 0;
    for m in re.find_iter(s) {
        if n > 0 && out.len() as i64 == n - 1 {
            break;
        }
        let end = m.start();
        if m.end() == 0 {
            continue;
        }
        out.push(s[beg..end].to_string());
        beg = m.end();
    }
    out.push(s[beg..].to_string());
    out
}

fn find_all(re: &::regex::Regex, s: &str, n: i64) -> Vec<Value> {
    let it = re.find_iter(s).map(|m| Value::from(m.as_str()));
    if n < 0 {
        it.collect()
    } else {
        it.take(n as usize).collect()
    }
}

pub(super) fn register(reg: &mut Registry) {
    use Ty::*;
    macro_rules! both {
        ($name:literal, $must:literal, $params:expr, $body:expr) => {
            reg.add($name, $params, None, $body);
            reg.add($must, $params, None, $body);
        };
    }
    both!("regexMatch", "mustRegexMatch", &[Str, Str], |_, a| {
        Ok(Value::Bool(compile(s(&a[0]))?.is_match(s(&a[1]))))
    });
    both!("regexFind", "mustRegexFind", &[Str, Str], |_, a| {
        let re = compile(s(&a[0]))?;
        Ok(Value::from(
            re.find(s(&a[1])).map(|m| m.as_str()).unwrap_or(""),
        ))
    });
    both!(
        "regexFindAll",
        "mustRegexFindAll",
        &[Str, Str, Int],
        |_, a| {
            let re = compile(s(&a[0]))?;
            Ok(Value::list(find_all(&re, s(&a[1]), int(&a[2]))))
        }
    );
    both!(
        "regexReplaceAll",
        "mustRegexReplaceAll",
        &[Str, Str, Str],
        |_, a| {
            let re = compile(s(&a[0]))?;
            Ok(Value::from(re.replace_all(s(&a[1]), s(&a[2])).to_string()))
        }
    );
    both!(
        "regexReplaceAllLiteral",
        "mustRegexReplaceAllLiteral",
        &[Str, Str, Str],
        |_, a| {
            let re = compile(s(&a[0]))?;
            Ok(Value::from(
                re.replace_all(s(&a[1]), ::regex::NoExpand(s(&a[2])))
                    .to_string(),
            ))
        }
    );
    both!("regexSplit", "mustRegexSplit", &[Str, Str, Int], |_, a| {
        let re = compile(s(&a[0]))?;
        Ok(Value::list(
            split(&re, s(&a[1]), int(&a[2]))
                .into_iter()
                .map(Value::from)
                .collect(),
        ))
    });
    reg.add("regexQuoteMeta", &[Str], None, |_, a| {
        Ok(Value::from(quote_meta(s(&a[0]))))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_class_syntax_means_what_it_means_in_go() {
        let matches = |p: &str, s: &str| compile(p).unwrap().is_match(s);
        assert!(matches(r"^[\w-\.]+$", "a-b.c"));
        // Perl classes and boundaries are ASCII in Go.
        assert!(!matches(r"^\w+$", "é"));
        assert!(matches(r"^\W$", "é"));
        assert!(!matches(r"^\d$", "١"));
        assert!(!matches(r"^\s$", "\u{a0}"));
        assert!(matches(r"^[\w\s]+$", "a b_1"));
        assert!(matches(r"\bé", "aé é"));
        assert_eq!(quote_meta("a.b-c#d"), r"a\.b-c#d");
        assert!(matches(r"^[\d-z]+$", "1-z"));
        assert!(matches(r"^[[:alpha:]-]+$", "ab-"));
        assert!(matches(r"^[a[]+$", "a[["));
        assert!(matches(r"^[a&&b]+$", "a&b"));
        assert!(matches(r"^[^]a]+$", "bc"));
        assert!(!matches(r"^[\w-\.]+$", "a b"));
        assert_eq!(rust_syntax(r"a-b[x-y]"), r"a-b[x-y]");
    }
}
