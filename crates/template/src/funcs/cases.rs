//! Case changes as Go's `unicode` and `strings` packages, `huandu/xstrings` (v1.5) and
//! `Masterminds/goutils` do them, for Sprig's `upper`, `lower`, `title`, `untitle`, `swapcase`,
//! `camelcase`, `snakecase`, `kebabcase`, `initials` and `nospace`.
//!
//! Go's classes are Unicode general categories (`IsUpper` is `Lu`, where Rust's `is_uppercase`
//! is the wider `Uppercase` property) and its mappings are the simple one-rune mappings (`ß`
//! stays `ß` in `strings.ToUpper`, where Rust's full mapping gives `SS`).

use super::{s, Registry, Ty, Value};
use regex_syntax::hir::{Class, HirKind};
use std::sync::OnceLock;

pub(super) fn register(reg: &mut Registry) {
    macro_rules! case {
        ($name:literal, $f:expr) => {
            reg.add($name, &[Ty::Str], None, |_, a| {
                Ok(Value::from($f(s(&a[0]))))
            })
        };
    }
    case!("upper", upper);
    case!("lower", lower);
    case!("title", title);
    case!("untitle", untitle);
    case!("swapcase", swapcase);
    case!("camelcase", pascalcase);
    case!("snakecase", |t| delimited(t, '_'));
    case!("kebabcase", |t| delimited(t, '-'));
    reg.add("initials", &[Ty::Bytes], None, |_, a| {
        Ok(Value::from(initials(super::bytes(&a[0]))))
    });
    reg.add("nospace", &[Ty::Bytes], None, |_, a| {
        Ok(nospace(super::bytes(&a[0])))
    });
}

/// A Unicode general category as sorted code point ranges.
struct Category(Vec<(char, char)>);

impl Category {
    fn of(name: &str) -> Category {
        let hir = regex_syntax::Parser::new()
            .parse(&format!(r"\p{{{name}}}"))
            .expect("a Unicode category regex_syntax knows");
        match hir.kind() {
            HirKind::Class(Class::Unicode(c)) => {
                Category(c.ranges().iter().map(|r| (r.start(), r.end())).collect())
            }
            _ => unreachable!("\\p{{{name}}} parses to a Unicode class"),
        }
    }

    fn contains(&self, c: char) -> bool {
        self.0
            .binary_search_by(|&(lo, hi)| {
                if hi < c {
                    std::cmp::Ordering::Less
                } else if lo > c {
                    std::cmp::Ordering::Greater
                } else {
                    std::cmp::Ordering::Equal
                }
            })
            .is_ok()
    }
}

macro_rules! category {
    ($fn:ident, $name:literal, $ascii:expr) => {
        pub(crate) fn $fn(c: char) -> bool {
            if c.is_ascii() {
                return $ascii(c);
            }
            static CAT: OnceLock<Category> = OnceLock::new();
            CAT.get_or_init(|| Category::of($name)).contains(c)
        }
    };
}

category!(is_upper, "Lu", |c: char| c.is_ascii_uppercase());
category!(is_lower, "Ll", |c: char| c.is_ascii_lowercase());
category!(is_title, "Lt", |_| false);
category!(is_letter, "L", |c: char| c.is_ascii_alphabetic());
category!(is_number, "N", |c: char| c.is_ascii_digit());
category!(is_digit, "Nd", |c: char| c.is_ascii_digit());
category!(is_punct, "P", |c: char| c.is_ascii_punctuation()
    && !matches!(
        c,
        '$' | '+' | '<' | '=' | '>' | '^' | '`' | '|' | '~'
    ));

/// Go's `unicode.IsSpace` (the White_Space property, as Rust's).
pub(crate) fn is_space(c: char) -> bool {
    c.is_whitespace()
}

/// The one character a full mapping gives, if it gives one.
fn single(mut it: impl Iterator<Item = char>) -> Option<char> {
    let c = it.next()?;
    it.next().is_none().then_some(c)
}

/// Go's `unicode.ToUpper`: the simple mapping. Where the full mapping has several characters the
/// simple one is the character itself, but for Greek letters with ypogegrammeni, whose simple
/// uppercase is their titlecase form.
pub(crate) fn to_upper(c: char) -> char {
    single(c.to_uppercase()).unwrap_or_else(|| match c as u32 {
        0x1F80..=0x1F87 | 0x1F90..=0x1F97 | 0x1FA0..=0x1FA7 => char_at(c as u32 + 8),
        0x1FB3 | 0x1FC3 | 0x1FF3 => char_at(c as u32 + 9),
        _ => c,
    })
}

/// Go's `unicode.ToLower`: the simple mapping (`İ` becomes `i`).
pub(crate) fn to_lower(c: char) -> char {
    single(c.to_lowercase()).unwrap_or(if c == 'İ' { 'i' } else { c })
}

/// Go's `unicode.ToTitle`: the uppercase but for the Latin digraphs (`ǆ` → `ǅ`) and Georgian,
/// whose titlecase is itself.
pub(crate) fn to_title(c: char) -> char {
    match c as u32 {
        0x01C4..=0x01C6 => 'ǅ',
        0x01C7..=0x01C9 => 'ǈ',
        0x01CA..=0x01CC => 'ǋ',
        0x01F1..=0x01F3 => 'ǲ',
        0x10D0..=0x10FA | 0x10FD..=0x10FF => c,
        _ => to_upper(c),
    }
}

fn char_at(u: u32) -> char {
    char::from_u32(u).expect("a mapped code point")
}

/// `strings.ToUpper`.
pub(crate) fn upper(s: &str) -> String {
    s.chars().map(to_upper).collect()
}

/// `strings.ToLower`.
pub(crate) fn lower(s: &str) -> String {
    s.chars().map(to_lower).collect()
}

/// `strings.Title`: the first letter of each word to title case; words are separated by what is
/// neither a letter, a digit nor `_` (outside ASCII: spaces only).
pub(crate) fn title(s: &str) -> String {
    let separator = |r: char| {
        if r.is_ascii() {
            return !(r.is_ascii_alphanumeric() || r == '_');
        }
        !(is_letter(r) || is_digit(r)) && is_space(r)
    };
    let mut prev = ' ';
    s.chars()
        .map(|r| {
            let out = if separator(prev) { to_title(r) } else { r };
            prev = r;
            out
        })
        .collect()
}

/// goutils' `Uncapitalize`: the first character of each whitespace-separated word to lower case.
pub(crate) fn untitle(s: &str) -> String {
    let mut next = true;
    s.chars()
        .map(|c| {
            if is_space(c) {
                next = true;
                c
            } else if std::mem::take(&mut next) {
                to_lower(c)
            } else {
                c
            }
        })
        .collect()
}

/// goutils' `SwapCase`: upper and title case to lower; lower case to title case at the start of
/// a word, else to upper case.
pub(crate) fn swapcase(s: &str) -> String {
    let mut start = true;
    s.chars()
        .map(|c| {
            if is_upper(c) || is_title(c) {
                start = false;
                to_lower(c)
            } else if is_lower(c) {
                if std::mem::take(&mut start) {
                    to_title(c)
                } else {
                    to_upper(c)
                }
            } else {
                start = is_space(c);
                c
            }
        })
        .collect()
}

/// goutils' `Initials` and `DeleteWhiteSpace` read a string byte by byte, each byte as the
/// character of that number (so `é` is read as `Ã©`).
fn latin1(b: &[u8]) -> impl Iterator<Item = char> + '_ {
    b.iter().map(|&c| char::from(c))
}

/// goutils' `Initials`: the first byte of each whitespace-separated word.
pub(crate) fn initials(b: &[u8]) -> String {
    let mut gap = true;
    latin1(b)
        .filter(|&c| {
            if is_space(c) {
                gap = true;
                false
            } else {
                std::mem::take(&mut gap)
            }
        })
        .collect()
}

/// goutils' `DeleteWhiteSpace`: the string unchanged when no byte is whitespace, else the bytes
/// that are not.
pub(crate) fn nospace(b: &[u8]) -> Value {
    if !latin1(b).any(is_space) {
        return Value::from_bytes(b.to_vec());
    }
    Value::from(latin1(b).filter(|&c| !is_space(c)).collect::<String>())
}

/// xstrings' connector: `-`, `_` or a space.
fn is_connector(c: char) -> bool {
    c == '-' || c == '_' || is_space(c)
}

/// xstrings' `isAlphabet`: a letter that is not a CJK ideograph.
fn is_alphabet(c: char) -> bool {
    if !is_letter(c) {
        return false;
    }
    !matches!(c as u32, 0x4E00..=0x9FCC | 0x3400..=0x4D85 | 0x20000..=0x2B81D)
}

/// xstrings' `ToPascalCase` (Sprig's `camelcase`): connectors dropped, the letter after one
/// upper-cased, a run of capitals after a word's first capital lower-cased.
pub(crate) fn pascalcase(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    let mut r0 = None;
    let mut first_upper = false;
    for c in chars.by_ref() {
        if !is_connector(c) {
            first_upper = is_upper(c);
            r0 = Some(to_upper(c));
            break;
        }
        out.push(c);
    }
    // Only connectors: xstrings writes the last one twice.
    let Some(mut r0) = r0 else {
        if let Some(last) = s.chars().last() {
            out.push(last);
        }
        return out;
    };
    for c in chars {
        let r1 = r0;
        r0 = c;
        if is_connector(r0) && is_connector(r1) {
            out.push(r1);
            continue;
        }
        if is_connector(r1) {
            first_upper = is_upper(r0);
            r0 = to_upper(r0);
        } else {
            if first_upper {
                if is_upper(r0) {
                    r0 = to_lower(r0);
                } else {
                    first_upper = false;
                }
            }
            out.push(r1);
        }
    }
    out.push(r0);
    out
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Word {
    Invalid,
    Number,
    Upper,
    Alphabet,
    Connector,
    Punct,
    Other,
}

const ERROR: char = '\u{FFFD}';

/// xstrings' `nextValidRune`: the next character that is not U+FFFD and the bytes up to and
/// including it, or `prev` and all the bytes.
fn next_valid(s: &str, prev: char) -> (char, usize) {
    let mut size = 0;
    for c in s.chars() {
        size += c.len_utf8();
        if c != ERROR {
            return (c, size);
        }
    }
    (prev, size)
}

/// Takes characters of `rest` while `keep` holds; the offset after them.
fn take_while(
    mut rest: &str,
    mut r: char,
    mut offset: usize,
    keep: impl Fn(char) -> bool,
) -> usize {
    while !rest.is_empty() {
        let (next, size) = next_valid(rest, r);
        r = next;
        if !keep(r) {
            break;
        }
        offset += size;
        rest = &rest[size..];
    }
    offset
}

/// xstrings' `nextWord`: the kind of the word at the start of `s`, the word, and the rest.
fn next_word(s: &str) -> (Word, &str, &str) {
    if s.is_empty() {
        return (Word::Invalid, "", "");
    }
    let (r, size) = next_valid(s, ERROR);
    if r == ERROR {
        return (Word::Invalid, &s[..size], &s[size..]);
    }
    let rest = &s[size..];
    let (kind, offset) = if is_connector(r) {
        (Word::Connector, take_while(rest, r, size, is_connector))
    } else if is_punct(r) {
        (Word::Punct, take_while(rest, r, size, is_punct))
    } else if is_upper(r) {
        (Word::Upper, upper_word(rest, size))
    } else if is_alphabet(r) {
        let lower = |c| is_alphabet(c) && !is_upper(c);
        (Word::Alphabet, take_while(rest, r, size, lower))
    } else if is_number(r) {
        (Word::Number, take_while(rest, r, size, is_number))
    } else {
        let other = |c| !(is_connector(c) || is_alphabet(c) || is_number(c) || is_punct(c));
        (Word::Other, take_while(rest, r, size, other))
    };
    (kind, &s[..offset], &s[offset..])
}

/// The end of a word that starts with a capital: `Word` or `HTTP` (leaving the `S` of
/// `HTTPStatus` to the next word).
fn upper_word(rest: &str, size: usize) -> usize {
    if rest.is_empty() {
        return size;
    }
    let (r, sz) = next_valid(rest, ERROR);
    if is_upper(r) {
        let mut offset = size + sz;
        let mut rest = &rest[sz..];
        let mut prev_size = sz;
        let mut r = r;
        while !rest.is_empty() {
            let (next, sz) = next_valid(rest, r);
            r = next;
            if !is_upper(r) {
                break;
            }
            prev_size = sz;
            offset += sz;
            rest = &rest[sz..];
        }
        if !rest.is_empty() && is_alphabet(r) {
            offset -= prev_size;
        }
        offset
    } else if is_alphabet(r) {
        let lower = |c| is_alphabet(c) && !is_upper(c);
        take_while(&rest[sz..], r, size + sz, lower)
    } else {
        size
    }
}

/// xstrings' `toLower`: capitals and connectors of a word lowered and replaced.
fn lower_word(out: &mut String, kind: Word, word: &str, connector: char) {
    if kind != Word::Upper && kind != Word::Connector {
        out.push_str(word);
        return;
    }
    for c in word.chars() {
        out.push(if is_connector(c) {
            connector
        } else if is_upper(c) {
            to_lower(c)
        } else {
            c
        });
    }
}

/// xstrings' `ToSnakeCase` (`_`) and `ToKebabCase` (`-`).
pub(crate) fn delimited(s: &str, connector: char) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    if s.is_empty() {
        return out;
    }
    let (mut kind, mut word, mut rest) = next_word(s);
    while !rest.is_empty() {
        if kind != Word::Connector {
            lower_word(&mut out, kind, word, connector);
        }
        let (prev, last) = (kind, word);
        (kind, word, rest) = next_word(rest);
        match prev {
            Word::Number => {
                while kind == Word::Alphabet || kind == Word::Number {
                    lower_word(&mut out, kind, word, connector);
                    (kind, word, rest) = next_word(rest);
                }
                if !matches!(kind, Word::Invalid | Word::Punct | Word::Connector) {
                    out.push(connector);
                }
            }
            Word::Connector => lower_word(&mut out, prev, last, connector),
            Word::Punct => {}
            _ => (kind, word, rest) = after_word(&mut out, (kind, word, rest), connector),
        }
    }
    lower_word(&mut out, kind, word, connector);
    out
}

/// The `default` arm of xstrings' `camelCaseToLowerCase`: what follows a word of letters.
fn after_word<'a>(
    out: &mut String,
    (kind, word, rest): (Word, &'a str, &'a str),
    connector: char,
) -> (Word, &'a str, &'a str) {
    if kind != Word::Number {
        if kind != Word::Connector && kind != Word::Punct {
            out.push(connector);
        }
        return (kind, word, rest);
    }
    if rest.is_empty() {
        return (kind, word, rest);
    }
    let last = word;
    let (mut kind, mut word, mut rest) = next_word(rest);
    // A number followed by no letters belongs to the word before ("Bld4Floor" → "bld4_floor").
    if kind != Word::Alphabet {
        lower_word(out, Word::Number, last, connector);
        if kind != Word::Connector && kind != Word::Punct {
            out.push(connector);
        }
        return (kind, word, rest);
    }
    // Lower-case letters after a number start a word with it ("HTTP2xx" → "http_2xx").
    out.push(connector);
    lower_word(out, Word::Number, last, connector);
    while kind == Word::Alphabet || kind == Word::Number {
        lower_word(out, kind, word, connector);
        (kind, word, rest) = next_word(rest);
    }
    if !matches!(kind, Word::Invalid | Word::Connector | Word::Punct) {
        out.push(connector);
    }
    (kind, word, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Examples from xstrings', goutils' and Go's documentation.
    #[test]
    fn documented_examples() {
        for (i, o) in [
            ("FirstName", "first_name"),
            ("HTTPServer", "http_server"),
            ("NoHTTPS", "no_https"),
            ("GO_PATH", "go_path"),
            ("GO PATH", "go_path"),
            ("GO-PATH", "go_path"),
            ("http2xx", "http_2xx"),
            ("HTTP20xOK", "http_20x_ok"),
            ("Duration2m3s", "duration_2m3s"),
            ("Bld4Floor3rd", "bld4_floor_3rd"),
        ] {
            assert_eq!(delimited(i, '_'), o, "{i}");
        }
        for (i, o) in [
            ("some_words", "SomeWords"),
            ("http_server", "HttpServer"),
            ("no_https", "NoHttps"),
            ("_complex__case_", "_Complex_Case_"),
            ("some words", "SomeWords"),
            ("kubernetes-apps", "KubernetesApps"),
        ] {
            assert_eq!(pascalcase(i), o, "{i}");
        }
        assert_eq!(upper("straße"), "STRAßE");
        assert_eq!(lower("İ"), "i");
        assert_eq!(title("hello wide_world ǆx"), "Hello Wide_world ǅx");
        assert_eq!(swapcase("This Is A Test"), "tHIS iS a tEST");
        assert_eq!(initials("é b".as_bytes()), "Ãb");
        assert_eq!(nospace("à b".as_bytes()).as_str(), Some("Ãb"));
        assert_eq!(nospace("日本".as_bytes()).as_str(), Some("日本"));
    }
}
