//! Lexer for Go template text, following `text/template/parse/lex.go` item for item.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ItemKind {
    Error,
    Bool,
    Char,
    CharConstant,
    Assign,
    Declare,
    Eof,
    Field,
    Identifier,
    LeftDelim,
    LeftParen,
    Number,
    Pipe,
    RawString,
    RightDelim,
    RightParen,
    Space,
    String,
    Text,
    Variable,
    // keywords
    Block,
    Break,
    Continue,
    Dot,
    Define,
    Else,
    End,
    If,
    Nil,
    Range,
    Template,
    With,
}

/// One lexical item: its kind, text (borrowed from the source; empty for an error, whose
/// message is [`Lexed::error`]), byte offset and 1-based line. A copy is a few words: the
/// parser reads each item by value, and looks ahead.
#[derive(Clone, Copy, Debug)]
pub struct Item<'a> {
    pub kind: ItemKind,
    pub val: &'a str,
    pub pos: usize,
    pub line: usize,
}

/// A template's items, up to and including the first error or EOF.
pub struct Lexed<'a> {
    pub items: Vec<Item<'a>>,
    /// The message of the error that ends `items`, if one does.
    pub error: String,
}

impl std::fmt::Display for Item<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use ItemKind::*;
        match self.kind {
            Eof => write!(f, "EOF"),
            Error => write!(f, "error"),
            k if k as u8 >= Block as u8 => write!(f, "<{}>", self.val),
            _ if self.val.chars().count() > 10 => write!(f, "{:.10}...", quote_go(self.val)),
            _ => write!(f, "{}", quote_go(self.val)),
        }
    }
}

fn quote_go(s: &str) -> String {
    crate::gofmt::quote(s)
}

const LEFT: &str = "{{";
const RIGHT: &str = "}}";

/// Where the next `{{` starts: a byte search for `{` (a substring searcher's setup cost more
/// than the search, once per action).
fn find_left(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut from = 0;
    while let Some(i) = b[from..].iter().position(|&c| c == b'{') {
        let at = from + i;
        if b.get(at + 1) == Some(&b'{') {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// The line breaks in `s` (a byte count the compiler vectorizes).
fn count_lines(s: &str) -> usize {
    s.bytes().filter(|&b| b == b'\n').count()
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphabetic() || c.is_numeric()
}

/// Lexes the whole input up front; an error item ends the stream.
pub fn lex(input: &str) -> Lexed<'_> {
    // Roughly one item per eight bytes of template; sizing up front avoids regrowing a large vector.
    let items = Vec::with_capacity(input.len() / 8 + 16);
    let mut l = Lexer {
        input,
        pos: 0,
        start: 0,
        line: 1,
        start_line: 1,
        items,
        paren_depth: 0,
        error: String::new(),
    };
    l.run();
    Lexed {
        items: l.items,
        error: l.error,
    }
}

struct Lexer<'a> {
    input: &'a str,
    pos: usize,
    start: usize,
    line: usize,
    start_line: usize,
    items: Vec<Item<'a>>,
    paren_depth: i32,
    error: String,
}

impl<'a> Lexer<'a> {
    fn rest(&self) -> &'a str {
        &self.input[self.pos..]
    }

    /// The next character; an ASCII byte without decoding (actions are nearly all ASCII).
    fn peek(&self) -> Option<char> {
        match self.input.as_bytes().get(self.pos) {
            Some(&b) if b.is_ascii() => Some(b as char),
            Some(_) => self.rest().chars().next(),
            None => None,
        }
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn backup(&mut self, c: Option<char>) {
        if let Some(c) = c {
            self.pos -= c.len_utf8();
            if c == '\n' {
                self.line -= 1;
            }
        }
    }

    fn emit(&mut self, kind: ItemKind) {
        let val = &self.input[self.start..self.pos];
        self.items.push(Item {
            kind,
            val,
            pos: self.start,
            line: self.start_line,
        });
        self.start = self.pos;
        self.start_line = self.line;
    }

    fn ignore(&mut self) {
        self.line += count_lines(&self.input[self.start..self.pos]);
        self.start = self.pos;
        self.start_line = self.line;
    }

    fn error(&mut self, msg: String) -> bool {
        self.items.push(Item {
            kind: ItemKind::Error,
            val: "",
            pos: self.start,
            line: self.start_line,
        });
        self.error = msg;
        false
    }

    fn run(&mut self) {
        loop {
            if !self.lex_text() {
                return;
            }
            match self.lex_left_delim() {
                Delim::Stop => return,
                Delim::Comment => continue,
                Delim::Action => {}
            }
            loop {
                match self.lex_inside_action() {
                    Step::Continue => {}
                    Step::Done => break,
                    Step::Stop => return,
                }
            }
        }
    }

    /// Emits the text from `start` to `end` (less than `pos` when trimmed) and moves past `pos`.
    fn text_until(&mut self, end: usize) {
        let text = &self.input[self.start..end];
        if !text.is_empty() {
            self.items.push(Item {
                kind: ItemKind::Text,
                val: text,
                pos: self.start,
                line: self.start_line,
            });
        }
        self.line += count_lines(&self.input[self.start..self.pos]);
        self.start = self.pos;
        self.start_line = self.line;
    }

    /// Scans text up to the next left delimiter; false at EOF (after emitting EOF).
    fn lex_text(&mut self) -> bool {
        if let Some(x) = find_left(self.rest()) {
            if x > 0 {
                self.pos += x;
                let mut trim = self.pos;
                let after = &self.input[self.pos + LEFT.len()..];
                if after.len() >= 2 && after.as_bytes()[0] == b'-' && is_space(after.as_bytes()[1])
                {
                    trim = self.start
                        + self.input[self.start..self.pos]
                            .trim_end_matches([' ', '\t', '\r', '\n'])
                            .len();
                }
                self.text_until(trim);
            }
            return true;
        }
        self.pos = self.input.len();
        self.text_until(self.pos);
        self.emit(ItemKind::Eof);
        false
    }

    fn lex_left_delim(&mut self) -> Delim {
        self.pos += LEFT.len();
        let r = self.rest().as_bytes();
        let trim = r.len() >= 2 && r[0] == b'-' && is_space(r[1]);
        let after_marker = if trim { 2 } else { 0 };
        if self.rest()[after_marker..].starts_with("/*") {
            self.pos += after_marker;
            self.ignore();
            return if self.lex_comment() {
                Delim::Comment
            } else {
                Delim::Stop
            };
        }
        self.emit(ItemKind::LeftDelim);
        self.pos += after_marker;
        self.ignore();
        self.paren_depth = 0;
        Delim::Action
    }

    fn at_right_delim(&self) -> (bool, bool) {
        let r = self.rest().as_bytes();
        if r.len() >= 2 && is_space(r[0]) && r[1] == b'-' && self.rest()[2..].starts_with(RIGHT) {
            return (true, true);
        }
        if self.rest().starts_with(RIGHT) {
            return (true, false);
        }
        (false, false)
    }

    fn lex_comment(&mut self) -> bool {
        self.pos += 2;
        let Some(x) = self.rest().find("*/") else {
            return self.error("unclosed comment".into());
        };
        self.pos += x + 2;
        let (delim, trim) = self.at_right_delim();
        if !delim {
            return self.error("comment ends before closing delimiter".into());
        }
        if trim {
            self.pos += 2;
        }
        self.pos += RIGHT.len();
        if trim {
            self.skip_space();
        }
        self.ignore();
        true
    }

    /// Moves past the whitespace a `-}}` trims.
    fn skip_space(&mut self) {
        self.pos += self.rest().len()
            - self
                .rest()
                .trim_start_matches([' ', '\t', '\r', '\n'])
                .len();
    }

    fn lex_right_delim(&mut self, trim: bool) {
        if trim {
            self.pos += 1;
            self.ignore();
            self.pos += 1;
        }
        self.pos += RIGHT.len();
        self.emit(ItemKind::RightDelim);
        if trim {
            self.skip_space();
            self.ignore();
        }
    }

    fn lex_inside_action(&mut self) -> Step {
        let (delim, trim) = self.at_right_delim();
        if delim {
            if self.paren_depth == 0 {
                self.lex_right_delim(trim);
                return Step::Done;
            }
            self.error("unclosed left paren".into());
            return Step::Stop;
        }
        let r = self.next();
        let ok = match r {
            None => self.error("unclosed action".into()),
            Some(c) if c.is_ascii() && is_space(c as u8) => {
                self.backup(r);
                self.lex_space()
            }
            Some('=') => {
                self.emit(ItemKind::Assign);
                true
            }
            Some(':') => {
                if self.next() != Some('=') {
                    self.error("expected :=".into())
                } else {
                    self.emit(ItemKind::Declare);
                    true
                }
            }
            Some('|') => {
                self.emit(ItemKind::Pipe);
                true
            }
            Some('"') => self.lex_escaped('"', ItemKind::String, "unterminated quoted string"),
            Some('`') => self.lex_raw_quote(),
            Some('$') => self.lex_field_or_variable(ItemKind::Variable),
            Some('\'') => self.lex_escaped(
                '\'',
                ItemKind::CharConstant,
                "unterminated character constant",
            ),
            Some('.') => {
                let nd = self.peek().map(|c| !c.is_ascii_digit()).unwrap_or(true);
                if self.pos < self.input.len() && nd {
                    self.lex_field_or_variable(ItemKind::Field)
                } else {
                    self.backup(r);
                    self.lex_number()
                }
            }
            Some(c) if c == '+' || c == '-' || c.is_ascii_digit() => {
                self.backup(r);
                self.lex_number()
            }
            Some(c) if is_alnum(c) => {
                self.backup(r);
                self.lex_identifier()
            }
            Some('(') => {
                self.emit(ItemKind::LeftParen);
                self.paren_depth += 1;
                true
            }
            Some(')') => {
                self.paren_depth -= 1;
                if self.paren_depth < 0 {
                    self.error("unexpected right paren".into())
                } else {
                    self.emit(ItemKind::RightParen);
                    true
                }
            }
            Some(c) if c.is_ascii() && !c.is_ascii_control() => {
                self.emit(ItemKind::Char);
                true
            }
            Some(c) => self.error(format!("unrecognized character in action: {}", go_u(c))),
        };
        if ok {
            Step::Continue
        } else {
            Step::Stop
        }
    }

    fn lex_space(&mut self) -> bool {
        let mut num = 0;
        while let Some(c) = self.peek() {
            if !(c.is_ascii() && is_space(c as u8)) {
                break;
            }
            self.next();
            num += 1;
            let r = &self.input[self.pos - 1..];
            let rb = r.as_bytes();
            if rb.len() >= 2 && is_space(rb[0]) && rb[1] == b'-' && r[2..].starts_with(RIGHT) {
                self.backup(Some(c));
                if num == 1 {
                    return true;
                }
                break;
            }
        }
        self.emit(ItemKind::Space);
        true
    }

    fn at_terminator(&self) -> bool {
        match self.peek() {
            None => true,
            Some(c) if c.is_ascii() && is_space(c as u8) => true,
            Some('.' | ',' | '|' | ':' | ')' | '(') => true,
            _ => self.rest().starts_with(RIGHT),
        }
    }

    fn lex_field_or_variable(&mut self, kind: ItemKind) -> bool {
        if self.at_terminator() {
            if kind == ItemKind::Variable {
                self.emit(ItemKind::Variable);
            } else {
                self.emit(ItemKind::Dot);
            }
            return true;
        }
        let mut r;
        loop {
            r = self.next();
            match r {
                Some(c) if is_alnum(c) => {}
                _ => {
                    self.backup(r);
                    break;
                }
            }
        }
        if !self.at_terminator() {
            let c = self.peek().unwrap_or('\0');
            return self.error(format!("bad character {}", go_u(c)));
        }
        self.emit(kind);
        true
    }

    fn lex_identifier(&mut self) -> bool {
        loop {
            let r = self.next();
            match r {
                Some(c) if is_alnum(c) => {}
                _ => {
                    self.backup(r);
                    break;
                }
            }
        }
        let word = &self.input[self.start..self.pos];
        if !self.at_terminator() {
            let c = self.peek().unwrap_or('\0');
            return self.error(format!("bad character {}", go_u(c)));
        }
        let kind = match word {
            "block" => ItemKind::Block,
            "break" => ItemKind::Break,
            "continue" => ItemKind::Continue,
            "define" => ItemKind::Define,
            "else" => ItemKind::Else,
            "end" => ItemKind::End,
            "if" => ItemKind::If,
            "range" => ItemKind::Range,
            "nil" => ItemKind::Nil,
            "template" => ItemKind::Template,
            "with" => ItemKind::With,
            "true" | "false" => ItemKind::Bool,
            _ => ItemKind::Identifier,
        };
        self.emit(kind);
        true
    }

    /// Scans a '...' or "..." constant up to `close`; backslash escapes, no newlines.
    fn lex_escaped(&mut self, close: char, kind: ItemKind, unterminated: &str) -> bool {
        loop {
            match self.next() {
                Some('\\') => {
                    let c = self.next();
                    if c.is_some() && c != Some('\n') {
                        continue;
                    }
                    return self.error(unterminated.into());
                }
                None | Some('\n') => return self.error(unterminated.into()),
                Some(c) if c == close => break,
                _ => {}
            }
        }
        self.emit(kind);
        true
    }

    fn lex_number(&mut self) -> bool {
        if !self.scan_number() {
            let t = self.input[self.start..self.pos].to_string();
            return self.error(format!("bad number syntax: {}", quote_go(&t)));
        }
        if let Some('+' | '-') = self.peek() {
            // Complex: 1+2i. No spaces, must end in 'i'.
            if !self.scan_number() || !self.input[..self.pos].ends_with('i') {
                let t = self.input[self.start..self.pos].to_string();
                return self.error(format!("bad number syntax: {}", quote_go(&t)));
            }
            self.emit(ItemKind::Number);
            return true;
        }
        self.emit(ItemKind::Number);
        true
    }

    fn accept(&mut self, valid: &str) -> bool {
        if let Some(c) = self.peek() {
            if valid.contains(c) {
                self.next();
                return true;
            }
        }
        false
    }

    fn accept_run(&mut self, valid: &str) {
        while self.accept(valid) {}
    }

    fn scan_number(&mut self) -> bool {
        self.accept("+-");
        let mut digits = "0123456789_";
        if self.accept("0") {
            if self.accept("xX") {
                digits = "0123456789abcdefABCDEF_";
            } else if self.accept("oO") {
                digits = "01234567_";
            } else if self.accept("bB") {
                digits = "01_";
            }
        }
        self.accept_run(digits);
        if self.accept(".") {
            self.accept_run(digits);
        }
        if digits.len() == 10 + 1 && self.accept("eE") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        if digits.len() == 16 + 6 + 1 && self.accept("pP") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        self.accept("i");
        if let Some(c) = self.peek() {
            if is_alnum(c) {
                self.next();
                return false;
            }
        }
        true
    }

    fn lex_raw_quote(&mut self) -> bool {
        loop {
            match self.next() {
                None => return self.error("unterminated raw quoted string".into()),
                Some('`') => break,
                _ => {}
            }
        }
        self.emit(ItemKind::RawString);
        true
    }
}

enum Delim {
    Action,
    Comment,
    Stop,
}

enum Step {
    Continue,
    Done,
    Stop,
}

/// Go's `%#U` formatting of a rune.
fn go_u(c: char) -> String {
    if crate::gofmt::is_print(c) {
        format!("U+{:04X} '{}'", c as u32, c)
    } else {
        format!("U+{:04X}", c as u32)
    }
}
