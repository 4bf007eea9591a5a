//! JSON read as Go's `encoding/json` reads it for Helm's `fromJson` family: the same nesting
//! limit (10,000) and, for text that is not JSON, the same words (`invalid character 'n' looking
//! for beginning of object key string`), which charts show to people through their `Error` key.

use crate::error::GoError;

use serde::Deserialize;

/// Go's `maxNestingDepth`.
const MAX_DEPTH: usize = 10_000;

/// `text` as JSON, or Go's error for it.
pub(super) fn parse(text: &str) -> Result<serde_json::Value, GoError> {
    Scanner {
        b: text.as_bytes(),
        i: 0,
        depth: 0,
    }
    .document()?;
    let mut de = serde_json::Deserializer::from_str(text);
    de.disable_recursion_limit();
    serde_json::Value::deserialize(&mut de).map_err(|e| GoError(e.to_string()))
}

/// `text` as a JSON object, as Go unmarshals it into a `map[string]interface{}` (`null` is an
/// empty map; another kind of value is Go's "cannot unmarshal" error).
pub(super) fn parse_object(
    text: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, GoError> {
    match parse(text)? {
        serde_json::Value::Object(m) => Ok(m),
        serde_json::Value::Null => Ok(serde_json::Map::new()),
        other => Err(format!(
            "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
            kind(&other)
        )
        .into()),
    }
}

/// `text` as a JSON array, as Go unmarshals it into a `[]interface{}`.
pub(super) fn parse_array(text: &str) -> Result<Vec<serde_json::Value>, GoError> {
    match parse(text)? {
        serde_json::Value::Array(a) => Ok(a),
        serde_json::Value::Null => Ok(Vec::new()),
        other => Err(format!(
            "json: cannot unmarshal {} into Go value of type []interface {{}}",
            kind(&other)
        )
        .into()),
    }
}

fn kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Object(_) => "object",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::Bool(_) => "bool",
        serde_json::Value::Null => "null",
    }
}

/// A checker with the error messages of Go's `encoding/json` scanner.
struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
    depth: usize,
}

type Step = Result<(), GoError>;

impl Scanner<'_> {
    fn document(&mut self) -> Step {
        self.value()?;
        self.space();
        match self.peek() {
            None => Ok(()),
            Some(c) => Err(invalid(c, "after top-level value")),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// The next byte, or Go's end-of-input error.
    fn next(&mut self) -> Result<u8, GoError> {
        let c = self.peek().ok_or("unexpected end of JSON input")?;
        self.i += 1;
        Ok(c)
    }

    fn space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn value(&mut self) -> Step {
        self.space();
        match self.next()? {
            b'{' => self.nested(Self::object),
            b'[' => self.nested(Self::array),
            b'"' => self.string(),
            c @ (b'-' | b'0'..=b'9') => self.number(c),
            b't' => self.literal("true"),
            b'f' => self.literal("false"),
            b'n' => self.literal("null"),
            c => Err(invalid(c, "looking for beginning of value")),
        }
    }

    fn nested(&mut self, inside: fn(&mut Self) -> Step) -> Step {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err("exceeded max depth".into());
        }
        inside(self)?;
        self.depth -= 1;
        Ok(())
    }

    fn object(&mut self) -> Step {
        self.space();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(());
        }
        loop {
            self.space();
            match self.next()? {
                b'"' => self.string()?,
                c => return Err(invalid(c, "looking for beginning of object key string")),
            }
            self.space();
            match self.next()? {
                b':' => {}
                c => return Err(invalid(c, "after object key")),
            }
            self.value()?;
            self.space();
            match self.next()? {
                b',' => {}
                b'}' => return Ok(()),
                c => return Err(invalid(c, "after object key:value pair")),
            }
        }
    }

    fn array(&mut self) -> Step {
        self.space();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(());
        }
        loop {
            self.value()?;
            self.space();
            match self.next()? {
                b',' => {}
                b']' => return Ok(()),
                c => return Err(invalid(c, "after array element")),
            }
        }
    }

    fn string(&mut self) -> Step {
        loop {
            let at = self.i;
            match self.next()? {
                b'"' => return Ok(()),
                b'\\' => match self.next()? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                    b'u' => {
                        for _ in 0..4 {
                            if !self.next()?.is_ascii_hexdigit() {
                                // Go shows the whole `\uXXXX` (what there is of it).
                                return Err(GoError(
                                    self.bad_escape(at, (at + 6).min(self.b.len())),
                                ));
                            }
                        }
                    }
                    _ => return Err(GoError(self.bad_escape(at, self.i))),
                },
                c if c < 0x20 => return Err(invalid(c, "in string")),
                _ => {}
            }
        }
    }

    /// Go's words for an escape it cannot read: the escape up to the byte that broke it.
    fn bad_escape(&self, at: usize, end: usize) -> String {
        let seq = String::from_utf8_lossy(&self.b[at..end]);
        format!("invalid escape sequence `{seq}` in string")
    }

    fn number(&mut self, first: u8) -> Step {
        let mut c = first;
        if c == b'-' {
            c = self.next()?;
            if !c.is_ascii_digit() {
                return Err(invalid(c, "in numeric literal"));
            }
        }
        if c != b'0' {
            self.digits();
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            match self.next()? {
                d if d.is_ascii_digit() => self.digits(),
                d => return Err(invalid(d, "in numeric literal")),
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            let mut d = self.next()?;
            if d == b'+' || d == b'-' {
                d = self.next()?;
            }
            if !d.is_ascii_digit() {
                return Err(invalid(d, "in numeric literal"));
            }
            self.digits();
        }
        Ok(())
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
    }

    fn literal(&mut self, word: &str) -> Step {
        for expected in word.bytes().skip(1) {
            let c = self.next()?;
            if c != expected {
                return Err(invalid(
                    c,
                    &format!("in literal {word} (expecting {})", quote_char(expected)),
                ));
            }
        }
        Ok(())
    }
}

fn invalid(c: u8, context: &str) -> GoError {
    format!("invalid character {} {context}", quote_char(c)).into()
}

/// Go's `quoteChar`: the byte in single quotes, escaped as `strconv.Quote` escapes it.
fn quote_char(c: u8) -> String {
    match c {
        b'\'' => r"'\''".into(),
        b'"' => "'\"'".into(),
        b'\n' => r"'\n'".into(),
        b'\r' => r"'\r'".into(),
        b'\t' => r"'\t'".into(),
        0x07 => r"'\a'".into(),
        0x08 => r"'\b'".into(),
        0x0c => r"'\f'".into(),
        0x0b => r"'\v'".into(),
        b'\\' => r"'\\'".into(),
        0x20..=0x7e => format!("'{}'", c as char),
        _ => format!("'\\x{c:02x}'"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_worded_as_go_words_them() {
        let cases = [
            (
                "{nope",
                "invalid character 'n' looking for beginning of object key string",
            ),
            ("{\"a\" 1}", "invalid character '1' after object key"),
            (
                "{\"a\":1 \"b\"}",
                "invalid character '\"' after object key:value pair",
            ),
            ("[1 2]", "invalid character '2' after array element"),
            (
                "[1,]",
                "invalid character ']' looking for beginning of value",
            ),
            (
                "{\"a\":tru}",
                "invalid character '}' in literal true (expecting 'e')",
            ),
            ("-x", "invalid character 'x' in numeric literal"),
            ("1.e5", "invalid character 'e' in numeric literal"),
            ("1e+", "unexpected end of JSON input"),
            ("1e+x", "invalid character 'x' in numeric literal"),
            ("\"a\\q\"", "invalid escape sequence `\\q` in string"),
            ("\"\\u12G4\"", "invalid escape sequence `\\u12G4` in string"),
            ("\"\\u1\"", "invalid escape sequence `\\u1\"` in string"),
            ("\"a\n\"", "invalid character '\\n' in string"),
            (
                "\u{e9}",
                "invalid character '\\xc3' looking for beginning of value",
            ),
            (
                "\x7f",
                "invalid character '\\x7f' looking for beginning of value",
            ),
            (
                "'",
                "invalid character '\\'' looking for beginning of value",
            ),
            (
                "{\"a\":fx}",
                "invalid character 'x' in literal false (expecting 'a')",
            ),
            ("nul", "unexpected end of JSON input"),
            (
                "{\"a\":1,}",
                "invalid character '}' looking for beginning of object key string",
            ),
            ("1 2", "invalid character '2' after top-level value"),
            ("", "unexpected end of JSON input"),
            (
                "[1]",
                "json: cannot unmarshal array into Go value of type map[string]interface {}",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(parse_object(text).unwrap_err(), want.into(), "{text}");
        }
        assert_eq!(parse_object("null").unwrap().len(), 0);
        // Templates run on a stack of their own (see `on_own_stack`); so does this.
        stacker::grow(256 << 20, || {
            let deep = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
            assert!(parse(&deep).is_ok());
            let deeper = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
            assert_eq!(parse(&deeper).unwrap_err(), "exceeded max depth".into());
        });
    }
}
