//! Helm's `--set` syntax (`pkg/strvals`): `a.b=c`, lists `a[0].b=c`, `a={x,y}`, commas between
//! assignments, `\` escapes, and type inference (`true`, `false`, `null`, integers without a
//! leading zero; everything else a string).

use berth_template::GoError;

use serde_json::{Map, Value as Json};

/// How a value after `=` becomes a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `--set`: inferred types.
    Typed,
    /// `--set-string`: always a string.
    String,
    /// `--set-json`: a JSON value.
    Json,
    /// `--set-file`: the value is a path; the file's text is the value.
    File,
}

/// Parses one `--set`-style argument into `dest`. `read_file` reads `--set-file` paths.
pub fn parse_into(
    s: &str,
    dest: &mut Map<String, Json>,
    kind: Kind,
    read_file: &dyn Fn(&str) -> Result<String, GoError>,
) -> Result<(), GoError> {
    let mut p = Parser {
        chars: s.chars().collect(),
        pos: 0,
        kind,
        read_file,
    };
    loop {
        match p.key(dest, 0) {
            Ok(()) => continue,
            Err(Stop::Eof) => return Ok(()),
            Err(Stop::Err(e)) => return Err(GoError(e)),
        }
    }
}

enum Stop {
    Eof,
    Err(String),
}

impl From<String> for Stop {
    fn from(s: String) -> Stop {
        Stop::Err(s)
    }
}

const MAX_NESTED: usize = 30;

struct Parser<'a> {
    chars: Vec<char>,
    pos: usize,
    kind: Kind,
    read_file: &'a dyn Fn(&str) -> Result<String, GoError>,
}

impl Parser<'_> {
    /// Reads until one of `stop` (consumed) or the end; `\` escapes the next character.
    fn until(&mut self, stop: &[char]) -> (String, Option<char>) {
        let mut v = String::new();
        while let Some(&c) = self.chars.get(self.pos) {
            self.pos += 1;
            if stop.contains(&c) {
                return (v, Some(c));
            }
            if c == '\\' {
                match self.chars.get(self.pos) {
                    Some(&n) => {
                        self.pos += 1;
                        v.push(n);
                    }
                    None => return (v, None),
                }
            } else {
                v.push(c);
            }
        }
        (v, None)
    }

    fn key(&mut self, data: &mut Map<String, Json>, level: usize) -> Result<(), Stop> {
        let (k, last) = self.until(&['=', '[', ',', '.']);
        match last {
            None if k.is_empty() => Err(Stop::Eof),
            None => Err(format!("key {k:?} has no value").into()),
            Some('[') => {
                let i = self.index()?;
                let mut list = match data.get(&k) {
                    Some(Json::Array(l)) => l.clone(),
                    None => vec![],
                    Some(_) => return Err(format!("unable to parse key: {k} is not a list").into()),
                };
                let r = self.list_item(&mut list, i, level);
                set(data, &k, Json::Array(list));
                r
            }
            Some('=') => self.assign(data, &k),
            Some(',') => {
                set(data, &k, Json::from(""));
                Err(format!("key {k:?} has no value (cannot end with ,)").into())
            }
            Some(_) => {
                if level + 1 > MAX_NESTED {
                    return Err(format!("value name nested level is greater than maximum supported nested level of {MAX_NESTED}").into());
                }
                let mut inner = match data.get(&k) {
                    Some(Json::Object(m)) => m.clone(),
                    None => Map::new(),
                    Some(_) => return Err(format!("unable to parse key: {k} is not a map").into()),
                };
                let e = self.key(&mut inner, level + 1);
                if e.is_ok() && inner.is_empty() {
                    return Err(format!("key map {k:?} has no value").into());
                }
                if !inner.is_empty() {
                    set(data, &k, Json::Object(inner));
                }
                e
            }
        }
    }

    /// After `KEY=`: a JSON value, a `{a,b}` list, or a scalar.
    fn assign(&mut self, data: &mut Map<String, Json>, k: &str) -> Result<(), Stop> {
        if self.kind == Kind::Json {
            let v = self.json_value()?;
            set(data, k, v);
            return self.skip_comma();
        }
        match self.val_list() {
            Ok(Some(l)) => {
                set(data, k, Json::Array(l));
                Ok(())
            }
            Ok(None) => {
                let (rs, _) = self.until(&[',']);
                let v = self.read(&rs)?;
                set(data, k, v);
                Ok(())
            }
            Err(Stop::Eof) => {
                set(data, k, Json::from(""));
                Err(Stop::Eof)
            }
            Err(e) => Err(e),
        }
    }

    fn index(&mut self) -> Result<i64, Stop> {
        let (v, last) = self.until(&[']']);
        if last.is_none() {
            return Err(Stop::Eof);
        }
        v.parse::<i64>().map_err(|_| {
            format!("error parsing index: strconv.Atoi: parsing {v:?}: invalid syntax").into()
        })
    }

    fn list_item(&mut self, list: &mut Vec<Json>, i: i64, level: usize) -> Result<(), Stop> {
        if i < 0 {
            return Err(format!("negative {i} index not allowed").into());
        }
        let i = i as usize;
        if i > 65_536 {
            return Err(format!("error processing index {i}: index too large").into());
        }
        let (k, last) = self.until(&['[', '.', '=']);
        if !k.is_empty() {
            return Err(format!("unexpected data at end of array index: {k:?}").into());
        }
        match last {
            None => Err(Stop::Eof),
            Some('=') => {
                if self.kind == Kind::Json {
                    let v = self.json_value()?;
                    set_index(list, i, v);
                    return self.skip_comma();
                }
                match self.val_list() {
                    Ok(Some(l)) => set_index(list, i, Json::Array(l)),
                    Ok(None) => {
                        let (rs, _) = self.until(&[',']);
                        let v = self.read(&rs)?;
                        set_index(list, i, v);
                    }
                    Err(Stop::Eof) => set_index(list, i, Json::from("")),
                    Err(e) => return Err(e),
                }
                Ok(())
            }
            Some('[') => {
                let next = self.index()?;
                let mut inner = match list.get(i) {
                    Some(Json::Array(l)) => l.clone(),
                    Some(Json::Null) | None => vec![],
                    Some(_) => return Err("unable to parse key: not a list".to_string().into()),
                };
                self.list_item(&mut inner, next, level)?;
                set_index(list, i, Json::Array(inner));
                Ok(())
            }
            Some(_) => {
                let mut inner = match list.get(i) {
                    Some(Json::Object(m)) => m.clone(),
                    _ => Map::new(),
                };
                self.key(&mut inner, level)?;
                set_index(list, i, Json::Object(inner));
                Ok(())
            }
        }
    }

    /// `{a,b,c}` as a list; `None` when the value does not start with `{`.
    fn val_list(&mut self) -> Result<Option<Vec<Json>>, Stop> {
        match self.chars.get(self.pos) {
            None => return Err(Stop::Eof),
            Some('{') => self.pos += 1,
            Some(_) => return Ok(None),
        }
        let mut list = Vec::new();
        loop {
            let (rs, last) = self.until(&[',', '}']);
            match last {
                None => return Err("list must terminate with '}'".to_string().into()),
                Some('}') => {
                    if self.chars.get(self.pos) == Some(&',') {
                        self.pos += 1;
                    }
                    list.push(self.read(&rs)?);
                    return Ok(Some(list));
                }
                Some(_) => list.push(self.read(&rs)?),
            }
        }
    }

    fn read(&self, rs: &str) -> Result<Json, Stop> {
        match self.kind {
            Kind::String => Ok(Json::from(rs)),
            Kind::File => (self.read_file)(rs)
                .map(Json::from)
                .map_err(|e| Stop::Err(e.0)),
            _ => Ok(typed(rs)),
        }
    }

    /// A JSON value at the cursor (empty before a comma or the end is `null`).
    fn json_value(&mut self) -> Result<Json, Stop> {
        let rest: String = self.chars[self.pos..].iter().collect();
        let trimmed = rest.trim_start_matches(' ');
        if trimmed.is_empty() || trimmed.starts_with(',') {
            self.pos += rest.len() - trimmed.len();
            return Ok(Json::Null);
        }
        let mut stream = serde_json::Deserializer::from_str(&rest).into_iter::<Json>();
        let v = match stream.next() {
            Some(Ok(v)) => v,
            Some(Err(e)) => return Err(format!("{e}").into()),
            None => Json::Null,
        };
        let used = rest[..stream.byte_offset()].chars().count();
        self.pos += used;
        Ok(crate::values::go_numbers(v))
    }

    /// Helm's `emptyVal` after a JSON value: spaces and one comma are consumed.
    fn skip_comma(&mut self) -> Result<(), Stop> {
        while self.chars.get(self.pos).is_some_and(|c| c.is_whitespace()) {
            self.pos += 1;
        }
        if self.chars.get(self.pos) == Some(&',') {
            self.pos += 1;
        }
        Ok(())
    }
}

fn set(data: &mut Map<String, Json>, key: &str, v: Json) {
    if !key.is_empty() {
        data.insert(key.to_string(), v);
    }
}

fn set_index(list: &mut Vec<Json>, i: usize, v: Json) {
    if list.len() <= i {
        list.resize(i + 1, Json::Null);
    }
    list[i] = v;
}

/// Helm's `typedVal`.
fn typed(v: &str) -> Json {
    if v.eq_ignore_ascii_case("true") {
        return Json::Bool(true);
    }
    if v.eq_ignore_ascii_case("false") {
        return Json::Bool(false);
    }
    if v.eq_ignore_ascii_case("null") {
        return Json::Null;
    }
    if v == "0" {
        return Json::from(0i64);
    }
    if !v.starts_with('0') {
        if let Some(i) = go_parse_int(v) {
            return Json::from(i);
        }
    }
    Json::from(v)
}

/// Go's `strconv.ParseInt(v, 10, 64)`: an optional sign and decimal digits.
fn go_parse_int(v: &str) -> Option<i64> {
    let digits = v.strip_prefix(['+', '-']).unwrap_or(v);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(s: &str, kind: Kind) -> Result<Json, GoError> {
        let mut m = Map::new();
        parse_into(s, &mut m, kind, &|p| Ok(format!("<{p}>")))?;
        Ok(Json::Object(m))
    }

    #[test]
    fn helm_cases() {
        let t = |s: &str| parse(s, Kind::Typed).unwrap();
        assert_eq!(t("name=value"), json!({"name": "value"}));
        assert_eq!(
            t("long_int_string=1234567890"),
            json!({"long_int_string": 1234567890})
        );
        assert_eq!(t("boolean=true"), json!({"boolean": true}));
        assert_eq!(t("is_null=null"), json!({"is_null": null}));
        assert_eq!(t("zero=0"), json!({"zero": 0}));
        assert_eq!(t("leading_zeros=00009"), json!({"leading_zeros": "00009"}));
        assert_eq!(
            t("name1=value1,name2=value2"),
            json!({"name1": "value1", "name2": "value2"})
        );
        assert_eq!(t("outer.inner=value"), json!({"outer": {"inner": "value"}}));
        assert_eq!(
            t("name1.name2=value,name1.name3=v3"),
            json!({"name1": {"name2": "value", "name3": "v3"}})
        );
        assert_eq!(
            t("name1={value1,value2}"),
            json!({"name1": ["value1", "value2"]})
        );
        assert_eq!(t("list[0]=foo"), json!({"list": ["foo"]}));
        assert_eq!(t("list[1]=foo"), json!({"list": [null, "foo"]}));
        assert_eq!(
            t("list[0].foo=bar,list[0].hello=world"),
            json!({"list": [{"foo": "bar", "hello": "world"}]})
        );
        assert_eq!(t("nested[0][0]=1"), json!({"nested": [[1]]}));
        assert_eq!(t("name=one\\,two"), json!({"name": "one,two"}));
        assert_eq!(t("name=value,"), json!({"name": "value"}));
        assert_eq!(t("key="), json!({"key": ""}));
        assert_eq!(t("a\\.b=c"), json!({"a.b": "c"}));
        assert_eq!(parse("n=1", Kind::String).unwrap(), json!({"n": "1"}));
        assert_eq!(parse("f=path", Kind::File).unwrap(), json!({"f": "<path>"}));
        assert_eq!(
            parse("a={\"x\":[1,2]},b=null", Kind::Json).unwrap(),
            json!({"a": {"x": [1.0, 2.0]}, "b": null})
        );
        assert!(parse("name", Kind::Typed).is_err());
        assert!(parse("name,", Kind::Typed).is_err());
        assert!(parse("a[-1]=x", Kind::Typed).is_err());
        assert!(parse("a={x,y", Kind::Typed).is_err());
        assert!(parse("a=1,a.b=2", Kind::Typed).is_err());
        assert_eq!(t("list[1].name=x"), json!({"list": [null, {"name": "x"}]}));
        assert_eq!(t("a[0].b=1,a[0].c=2"), json!({"a": [{"b": 1, "c": 2}]}));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in ".{0,40}") {
            for k in [Kind::Typed, Kind::String, Kind::Json] {
                let _ = parse(&s, k);
            }
        }
    }
}
