//! Parser following `text/template/parse/parse.go`: the same grammar, checks and error lines.

use crate::error::GoError;

use crate::ast::*;
use crate::funcs::Func;
use crate::lex::{lex, Item, ItemKind};
use std::sync::Arc;

/// A parse failure: the 1-based line Go would report and Go's message.
#[derive(Debug, Clone)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

type PResult<T> = Result<T, ParseError>;

/// Parses `text` (named `name`) into its own tree plus every `define`/`block` it contains.
/// `has_func` says whether a function name exists (Go checks this at parse time).
pub fn parse(
    name: &str,
    text: &str,
    find_func: &dyn Fn(&str) -> Option<&'static Func>,
) -> PResult<Vec<Tree>> {
    let source = Arc::new(Source::new(name, text));
    let lexed = lex(text);
    let mut p = Parser {
        items: lexed.items,
        lex_error: lexed.error,
        idx: 0,
        max_read: 0,
        vars: vec!["$".into()],
        range_depth: 0,
        find_func,
        defs: Vec::new(),
        calls: Vec::new(),
        action_line: 0,
        source: source.clone(),
        scratch: Scratch::default(),
    };
    let root = p.parse_top()?;
    let mut trees = vec![Tree {
        name: name.to_string(),
        source,
        root,
        calls: std::mem::take(&mut p.calls),
    }];
    trees.append(&mut p.defs);
    Ok(trees)
}

/// Whether nodes of `source` would render nothing but whitespace (Go's `IsEmptyTree`).
pub fn is_empty_tree(nodes: &[Node], source: &Source) -> bool {
    nodes.iter().all(|n| match n {
        Node::Text { pos, len } => source.slice(*pos, *len).trim().is_empty(),
        _ => false,
    })
}

struct Parser<'a> {
    items: Vec<Item<'a>>,
    /// The message of the error item that ends `items`, if one does.
    lex_error: String,
    idx: usize,
    max_read: usize,
    vars: Vec<String>,
    range_depth: usize,
    find_func: &'a dyn Fn(&str) -> Option<&'static Func>,
    defs: Vec<Tree>,
    /// The functions the tree being parsed calls.
    calls: Vec<&'static Func>,
    action_line: usize,
    source: Arc<Source>,
    /// The lists being parsed, innermost last, each taken out at its exact length as it ends
    /// (see [`Scratch`]).
    scratch: Scratch,
}

/// Stacks the parser builds its lists on: a nested list is pushed above its parent's items
/// and taken out ([`take`]) before the parent goes on. A vector of its own per list
/// grew by doubling, copying at each step and leaving up to half of it unused: nodes, and
/// commands' arguments (most have one or two, and a first push made room for four), were then
/// the largest part of a parse's memory.
#[derive(Default)]
struct Scratch {
    nodes: Vec<Node>,
    args: Vec<Arg>,
    cmds: Vec<Command>,
}

/// The items of `stack` from `start` on, moved into a vector of their exact length.
fn take<T>(stack: &mut Vec<T>, start: usize) -> Vec<T> {
    stack.drain(start..).collect()
}

impl<'a> Parser<'a> {
    fn item(&self, i: usize) -> &Item<'a> {
        &self.items[i.min(self.items.len() - 1)]
    }

    fn next(&mut self) -> Item<'a> {
        let it = *self.item(self.idx);
        if self.idx < self.items.len() {
            self.idx += 1;
        }
        self.max_read = self.max_read.max(self.idx);
        it
    }

    fn backup(&mut self) {
        self.idx -= 1;
    }

    fn peek(&mut self) -> Item<'a> {
        let it = *self.item(self.idx);
        self.max_read = self.max_read.max(self.idx + 1);
        it
    }

    fn next_non_space(&mut self) -> Item<'a> {
        loop {
            let it = self.next();
            if it.kind != ItemKind::Space {
                return it;
            }
        }
    }

    fn peek_non_space(&mut self) -> Item<'a> {
        let it = self.next_non_space();
        self.backup();
        it
    }

    fn err<T>(&self, msg: impl Into<String>) -> PResult<T> {
        let line = self.item(self.max_read.saturating_sub(1)).line;
        Err(ParseError {
            line,
            message: msg.into(),
        })
    }

    fn unexpected<T>(&self, it: &Item, context: &str) -> PResult<T> {
        if it.kind == ItemKind::Error {
            let mut extra = String::new();
            if self.action_line != 0 && self.action_line != it.line {
                extra = format!(
                    " in action started at {}:{}",
                    self.source.name, self.action_line
                );
                if self.lex_error.ends_with(" action") {
                    extra = extra[" in action".len()..].to_string();
                }
            }
            return self.err(format!("{}{extra}", self.lex_error));
        }
        self.err(format!("unexpected {it} in {context}"))
    }

    fn expect(&mut self, kind: ItemKind, context: &str) -> PResult<Item<'a>> {
        let it = self.next_non_space();
        if it.kind != kind {
            return self.unexpected(&it, context);
        }
        Ok(it)
    }

    fn parse_top(&mut self) -> PResult<Vec<Node>> {
        let start = self.scratch.nodes.len();
        while self.peek().kind != ItemKind::Eof {
            if self.peek().kind == ItemKind::LeftDelim {
                let save = self.idx;
                self.next();
                if self.next_non_space().kind == ItemKind::Define {
                    self.parse_definition()?;
                    continue;
                }
                self.idx = save;
            }
            match self.text_or_action()? {
                Parsed::Node(n) => self.scratch.nodes.push(n),
                Parsed::End => return self.err("unexpected {{end}}"),
                Parsed::Else(_) => return self.err("unexpected {{else}}"),
            }
        }
        Ok(take(&mut self.scratch.nodes, start))
    }

    fn parse_template_name(&mut self, it: &Item, context: &str) -> PResult<String> {
        match it.kind {
            ItemKind::String | ItemKind::RawString => match unquote(it.val) {
                Some(s) => Ok(s),
                None => self.err("invalid syntax"),
            },
            _ => self.unexpected(it, context),
        }
    }

    fn parse_definition(&mut self) -> PResult<()> {
        let context = "define clause";
        let it = self.next_non_space();
        let name = self.parse_template_name(&it, context)?;
        self.expect(ItemKind::RightDelim, context)?;
        let saved_vars = std::mem::replace(&mut self.vars, vec!["$".into()]);
        let saved_calls = std::mem::take(&mut self.calls);
        let (list, end) = self.item_list()?;
        self.vars = saved_vars;
        let calls = std::mem::replace(&mut self.calls, saved_calls);
        if !matches!(end, Parsed::End) {
            return self.err(format!("unexpected {} in {context}", end.describe()));
        }
        self.add(name, list, calls)
    }

    fn add(&mut self, name: String, root: Vec<Node>, calls: Vec<&'static Func>) -> PResult<()> {
        if let Some(i) = self.defs.iter().position(|t| t.name == name) {
            if is_empty_tree(&self.defs[i].root, &self.defs[i].source) {
                self.defs[i].root = root;
                self.defs[i].calls = calls;
                return Ok(());
            }
            if !is_empty_tree(&root, &self.source) {
                return self.err(format!(
                    "template: multiple definition of template {}",
                    crate::gofmt::quote(&name)
                ));
            }
            return Ok(());
        }
        self.defs.push(Tree {
            name,
            source: self.source.clone(),
            root,
            calls,
        });
        Ok(())
    }

    fn item_list(&mut self) -> PResult<(Vec<Node>, Parsed)> {
        let start = self.scratch.nodes.len();
        while self.peek_non_space().kind != ItemKind::Eof {
            match self.text_or_action()? {
                Parsed::Node(n) => self.scratch.nodes.push(n),
                other => return Ok((take(&mut self.scratch.nodes, start), other)),
            }
        }
        self.err("unexpected EOF")
    }

    fn text_or_action(&mut self) -> PResult<Parsed> {
        let it = self.next_non_space();
        match it.kind {
            ItemKind::Text => Ok(Parsed::Node(Node::Text {
                pos: it.pos,
                len: it.val.len(),
            })),
            ItemKind::LeftDelim => {
                self.action_line = it.line;
                let r = self.action();
                self.action_line = 0;
                r
            }
            _ => self.unexpected(&it, "input"),
        }
    }

    fn action(&mut self) -> PResult<Parsed> {
        let it = self.next_non_space();
        match it.kind {
            ItemKind::Block => return self.block_control(),
            ItemKind::Break => return self.break_control("break"),
            ItemKind::Continue => return self.break_control("continue"),
            ItemKind::Else => return self.else_control(),
            ItemKind::End => {
                self.expect(ItemKind::RightDelim, "end")?;
                return Ok(Parsed::End);
            }
            ItemKind::If => return Ok(Parsed::Node(Node::If(self.parse_control("if")?.into()))),
            ItemKind::Range => {
                return Ok(Parsed::Node(Node::Range(
                    self.parse_control("range")?.into(),
                )))
            }
            ItemKind::With => {
                return Ok(Parsed::Node(Node::With(self.parse_control("with")?.into())))
            }
            ItemKind::Template => return self.template_control(),
            _ => {}
        }
        self.backup();
        let pipe = self.pipeline("command", ItemKind::RightDelim)?;
        Ok(Parsed::Node(Node::Action(pipe)))
    }

    fn break_control(&mut self, word: &str) -> PResult<Parsed> {
        let it = self.next_non_space();
        if it.kind != ItemKind::RightDelim {
            return self.unexpected(&it, &format!("{{{{{word}}}}}"));
        }
        if self.range_depth == 0 {
            return self.err(format!("{{{{{word}}}}} outside {{{{range}}}}"));
        }
        Ok(Parsed::Node(if word == "break" {
            Node::Break
        } else {
            Node::Continue
        }))
    }

    fn else_control(&mut self) -> PResult<Parsed> {
        let p = self.peek_non_space();
        if p.kind == ItemKind::If || p.kind == ItemKind::With {
            return Ok(Parsed::Else(p.kind));
        }
        self.expect(ItemKind::RightDelim, "else")?;
        Ok(Parsed::Else(ItemKind::Else))
    }

    fn parse_control(&mut self, context: &str) -> PResult<Branch> {
        let nvars = self.vars.len();
        let r = self.parse_control_inner(context);
        self.vars.truncate(nvars);
        r
    }

    fn parse_control_inner(&mut self, context: &str) -> PResult<Branch> {
        let pipe = self.pipeline(context, ItemKind::RightDelim)?;
        if context == "range" {
            self.range_depth += 1;
        }
        let r = self.item_list();
        if context == "range" {
            self.range_depth -= 1;
        }
        let (list, next) = r?;
        let mut else_list = None;
        match next {
            Parsed::End => {}
            Parsed::Else(kind) => {
                let chain = (context == "if" && kind == ItemKind::If)
                    || (context == "with" && kind == ItemKind::With);
                if chain && self.peek_non_space().kind == kind {
                    self.next_non_space();
                    let inner = Box::new(self.parse_control(context)?);
                    let n = if context == "if" {
                        Node::If(inner)
                    } else {
                        Node::With(inner)
                    };
                    else_list = Some(vec![n]);
                } else {
                    if kind != ItemKind::Else {
                        // `{{else with}}` inside `if` (or vice versa): Go reports the keyword.
                        let it = self.next_non_space();
                        return self.unexpected(&it, "input");
                    }
                    let (el, next) = self.item_list()?;
                    if !matches!(next, Parsed::End) {
                        return self.err(format!("expected end; found {}", next.describe()));
                    }
                    else_list = Some(el);
                }
            }
            Parsed::Node(_) => unreachable!(),
        }
        Ok(Branch {
            pos: pipe.pos,
            pipe,
            list,
            else_list,
        })
    }

    fn block_control(&mut self) -> PResult<Parsed> {
        let context = "block clause";
        let it = self.next_non_space();
        let name = self.parse_template_name(&it, context)?;
        let pipe = self.pipeline(context, ItemKind::RightDelim)?;
        let saved_vars = std::mem::replace(&mut self.vars, vec!["$".into()]);
        let saved_depth = std::mem::replace(&mut self.range_depth, 0);
        let saved_calls = std::mem::take(&mut self.calls);
        let r = self.item_list();
        self.vars = saved_vars;
        self.range_depth = saved_depth;
        let calls = std::mem::replace(&mut self.calls, saved_calls);
        let (list, end) = r?;
        if !matches!(end, Parsed::End) {
            return self.err(format!("unexpected {} in {context}", end.describe()));
        }
        self.add(name.clone(), list, calls)?;
        Ok(Parsed::Node(Node::Template {
            pos: it.pos,
            name,
            pipe: Some(Box::new(pipe)),
        }))
    }

    fn template_control(&mut self) -> PResult<Parsed> {
        let context = "template clause";
        let it = self.next_non_space();
        let name = self.parse_template_name(&it, context)?;
        let mut pipe = None;
        if self.next_non_space().kind != ItemKind::RightDelim {
            self.backup();
            pipe = Some(Box::new(self.pipeline(context, ItemKind::RightDelim)?));
        }
        Ok(Parsed::Node(Node::Template {
            pos: it.pos,
            name,
            pipe,
        }))
    }

    fn pipeline(&mut self, context: &str, end: ItemKind) -> PResult<Pipe> {
        let tok = self.peek_non_space();
        let mut pipe = Pipe {
            pos: tok.pos,
            is_assign: false,
            decl: Vec::new(),
            cmds: Vec::new(),
        };
        let start = self.scratch.cmds.len();
        'decls: loop {
            let v = self.peek_non_space();
            if v.kind != ItemKind::Variable {
                break;
            }
            let save = self.idx;
            self.next_non_space();
            let next = self.peek_non_space();
            if next.kind == ItemKind::Assign || next.kind == ItemKind::Declare {
                pipe.is_assign = next.kind == ItemKind::Assign;
                self.next_non_space();
                pipe.decl.push(v.val.to_string());
                self.vars.push(v.val.to_owned());
            } else if next.kind == ItemKind::Char && next.val == "," {
                self.next_non_space();
                pipe.decl.push(v.val.to_string());
                self.vars.push(v.val.to_owned());
                if context == "range" && pipe.decl.len() < 2 {
                    match self.peek_non_space().kind {
                        ItemKind::Variable | ItemKind::RightDelim | ItemKind::RightParen => {
                            continue 'decls
                        }
                        _ => return self.err("range can only initialize variables"),
                    }
                }
                return self.err(format!("too many declarations in {context}"));
            } else {
                self.idx = save;
            }
            break;
        }
        loop {
            let it = self.next_non_space();
            if it.kind == end {
                pipe.cmds = take(&mut self.scratch.cmds, start);
                self.check_pipeline(&pipe, context)?;
                return Ok(pipe);
            }
            match it.kind {
                ItemKind::Bool
                | ItemKind::CharConstant
                | ItemKind::Dot
                | ItemKind::Field
                | ItemKind::Identifier
                | ItemKind::Number
                | ItemKind::Nil
                | ItemKind::RawString
                | ItemKind::String
                | ItemKind::Variable
                | ItemKind::LeftParen => {
                    self.backup();
                    let c = self.command()?;
                    self.scratch.cmds.push(c);
                }
                _ => return self.unexpected(&it, context),
            }
        }
    }

    fn check_pipeline(&self, pipe: &Pipe, context: &str) -> PResult<()> {
        if pipe.cmds.is_empty() {
            return self.err(format!("missing value for {context}"));
        }
        for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
            if matches!(
                c.args[0],
                Arg::Bool(..) | Arg::Dot(_) | Arg::Nil(_) | Arg::Number(..) | Arg::String { .. }
            ) {
                return self.err(format!(
                    "non executable command in pipeline stage {}",
                    i + 1
                ));
            }
        }
        Ok(())
    }

    fn command(&mut self) -> PResult<Command> {
        self.peek_non_space();
        let start = self.scratch.args.len();
        loop {
            self.peek_non_space();
            if let Some(op) = self.operand()? {
                self.scratch.args.push(op);
            }
            let it = self.next();
            match it.kind {
                ItemKind::Space => continue,
                ItemKind::RightDelim | ItemKind::RightParen => self.backup(),
                ItemKind::Pipe => {}
                _ => return self.unexpected(&it, "operand"),
            }
            break;
        }
        let cmd = Command {
            args: take(&mut self.scratch.args, start),
        };
        if cmd.args.is_empty() {
            return self.err("empty command");
        }
        Ok(cmd)
    }

    fn operand(&mut self) -> PResult<Option<Arg>> {
        let Some(node) = self.term()? else {
            return Ok(None);
        };
        if self.peek().kind == ItemKind::Field {
            // Go positions a chain, and a field or variable merged with it, at the chain's first
            // field (`.b` of `.a.b`): errors then name the column Go and Helm name.
            let pos = self.peek().pos;
            let mut fields = Vec::new();
            while self.peek().kind == ItemKind::Field {
                let f = self.next();
                fields.push(f.val[1..].to_string());
            }
            return Ok(Some(match node {
                Arg::Field { mut idents, .. } => {
                    idents.extend(fields);
                    Arg::Field { pos, idents }
                }
                Arg::Variable { mut idents, .. } => {
                    idents.extend(fields);
                    Arg::Variable { pos, idents }
                }
                Arg::Bool(..)
                | Arg::String { .. }
                | Arg::Number(..)
                | Arg::Nil(_)
                | Arg::Dot(_) => {
                    return self.err(format!(
                        "unexpected . after term {}",
                        crate::gofmt::quote(&node.to_string())
                    ));
                }
                other => Arg::Chain {
                    pos,
                    node: Box::new(other),
                    fields,
                },
            }));
        }
        Ok(Some(node))
    }

    fn term(&mut self) -> PResult<Option<Arg>> {
        let it = self.next_non_space();
        Ok(Some(match it.kind {
            ItemKind::Identifier => match (self.find_func)(it.val) {
                Some(func) => {
                    if !self.calls.iter().any(|&f| std::ptr::eq(f, func)) {
                        self.calls.push(func);
                    }
                    Arg::Identifier {
                        pos: it.pos,
                        name: it.val.to_owned(),
                        func,
                    }
                }
                None => {
                    return self.err(format!(
                        "function {} not defined",
                        crate::gofmt::quote(it.val)
                    ))
                }
            },
            ItemKind::Dot => Arg::Dot(it.pos),
            ItemKind::Nil => Arg::Nil(it.pos),
            ItemKind::Variable => {
                let idents: Vec<String> = it.val.split('.').map(String::from).collect();
                if !self.vars.iter().any(|v| *v == idents[0]) {
                    return self.err(format!(
                        "undefined variable {}",
                        crate::gofmt::quote(&idents[0])
                    ));
                }
                Arg::Variable {
                    pos: it.pos,
                    idents,
                }
            }
            ItemKind::Field => Arg::Field {
                pos: it.pos,
                idents: it.val[1..].split('.').map(String::from).collect(),
            },
            ItemKind::Bool => Arg::Bool(it.pos, it.val == "true"),
            ItemKind::CharConstant | ItemKind::Number => {
                match parse_number(it.val, it.kind == ItemKind::CharConstant) {
                    Ok(n) => Arg::Number(it.pos, Box::new(n)),
                    Err(e) => return self.err(e),
                }
            }
            ItemKind::LeftParen => Arg::Pipe(Box::new(
                self.pipeline("parenthesized pipeline", ItemKind::RightParen)?,
            )),
            ItemKind::String | ItemKind::RawString => match unquote(it.val) {
                Some(text) => Arg::String {
                    pos: it.pos,
                    quoted: it.val.to_owned(),
                    text,
                },
                None => return self.err("invalid syntax"),
            },
            _ => {
                self.backup();
                return Ok(None);
            }
        }))
    }
}

enum Parsed {
    Node(Node),
    End,
    Else(ItemKind),
}

impl Parsed {
    fn describe(&self) -> &'static str {
        match self {
            Parsed::End => "{{end}}",
            Parsed::Else(_) => "{{else}}",
            Parsed::Node(_) => "node",
        }
    }
}

/// Go's `strconv.Unquote` for "..." and `...` strings.
pub fn unquote(s: &str) -> Option<String> {
    if s.len() >= 2 && s.starts_with('`') && s.ends_with('`') {
        let inner = &s[1..s.len() - 1];
        return Some(inner.replace('\r', ""));
    }
    if s.len() < 2 || !s.starts_with('"') || !s.ends_with('"') {
        return None;
    }
    let inner = &s[1..s.len() - 1];
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars().peekable();
    let mut bytes: Vec<u8> = Vec::new();
    let flush = |out: &mut String, bytes: &mut Vec<u8>| {
        if !bytes.is_empty() {
            out.push_str(&String::from_utf8_lossy(bytes));
            bytes.clear();
        }
    };
    while let Some(c) = chars.next() {
        if c == '"' || c == '\n' {
            return None;
        }
        if c != '\\' {
            flush(&mut out, &mut bytes);
            out.push(c);
            continue;
        }
        let e = chars.next()?;
        match e {
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'f' => out.push('\x0c'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\x0b'),
            '\\' => out.push('\\'),
            '"' => out.push('"'),
            'x' => {
                let h: String = (0..2).filter_map(|_| chars.next()).collect();
                let b = u8::from_str_radix(&h, 16).ok().filter(|_| h.len() == 2)?;
                bytes.push(b);
                continue;
            }
            '0'..='7' => {
                let mut o = e.to_string();
                for _ in 0..2 {
                    o.push(chars.next()?);
                }
                let v = u32::from_str_radix(&o, 8).ok().filter(|v| *v <= 255)?;
                bytes.push(v as u8);
                continue;
            }
            'u' | 'U' => {
                let n = if e == 'u' { 4 } else { 8 };
                let h: String = (0..n).filter_map(|_| chars.next()).collect();
                if h.len() != n {
                    return None;
                }
                let v = u32::from_str_radix(&h, 16).ok()?;
                out.push(char::from_u32(v)?);
            }
            _ => return None,
        }
        flush(&mut out, &mut bytes);
    }
    flush(&mut out, &mut bytes);
    Some(out)
}

fn parse_go_int(text: &str) -> Option<i128> {
    let (neg, t) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let lower = t.to_ascii_lowercase();
    let (radix, digits) = if let Some(r) = lower.strip_prefix("0x") {
        (16, r)
    } else if let Some(r) = lower.strip_prefix("0o") {
        (8, r)
    } else if let Some(r) = lower.strip_prefix("0b") {
        (2, r)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if digits.is_empty()
        || digits.starts_with('_') && radix == 10
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return None;
    }
    let clean: String = digits.chars().filter(|c| *c != '_').collect();
    if clean.is_empty() {
        return None;
    }
    let v = i128::from_str_radix(&clean, radix).ok()?;
    Some(if neg { -v } else { v })
}

fn parse_go_float(text: &str) -> Option<f64> {
    let t = text.trim_start_matches('+');
    let lower = t.to_ascii_lowercase();
    if let Some(h) = lower
        .strip_prefix("0x")
        .or_else(|| lower.strip_prefix("-0x"))
    {
        let neg = lower.starts_with('-');
        let (mant, exp) = h.split_once('p')?;
        let exp: i32 = exp.replace('_', "").parse().ok()?;
        let (ip, fp) = mant.split_once('.').unwrap_or((mant, ""));
        let mut v = 0f64;
        for c in ip.chars().chain(fp.chars()).filter(|c| *c != '_') {
            v = v * 16.0 + f64::from(c.to_digit(16)?);
        }
        let v = v * 2f64.powi(exp - 4 * fp.chars().filter(|c| *c != '_').count() as i32);
        return Some(if neg { -v } else { v });
    }
    if lower.contains("__") || lower.ends_with('_') {
        return None;
    }
    let clean: String = t.chars().filter(|c| *c != '_').collect();
    if clean.contains("inf") || clean.contains("nan") {
        return None;
    }
    clean.parse::<f64>().ok()
}

/// Go's `newNumber`: which interpretations of a literal are valid.
fn parse_number(text: &str, is_char: bool) -> Result<Number, GoError> {
    if is_char {
        let inner = &text[1..text.len() - 1];
        let c = if inner.starts_with('\\') {
            let u = unquote(&format!("\"{inner}\"")).ok_or("invalid syntax")?;
            let mut cs = u.chars();
            let c = cs.next().ok_or("invalid syntax")?;
            if cs.next().is_some() {
                return Err(GoError("malformed character constant: ".to_string() + text));
            }
            c
        } else {
            let mut cs = inner.chars();
            let c = cs
                .next()
                .ok_or_else(|| format!("malformed character constant: {text}"))?;
            if cs.next().is_some() {
                return Err(format!("malformed character constant: {text}").into());
            }
            c
        };
        let v = c as i64;
        return Ok(Number {
            text: text.into(),
            int: Some(v),
            float: Some(v as f64),
            is_uint: true,
            is_char: true,
        });
    }
    if text.ends_with('i') {
        return Err(format!(
            "complex constants are not supported: {}",
            crate::gofmt::quote(text)
        )
        .into());
    }
    let mut n = Number {
        text: text.into(),
        int: None,
        float: None,
        is_uint: false,
        is_char: false,
    };
    let iv = parse_go_int(text);
    if let Some(v) = iv {
        if v >= 0 && v <= u64::MAX as i128 {
            n.is_uint = true;
        }
        if v >= i64::MIN as i128 && v <= i64::MAX as i128 {
            n.int = Some(v as i64);
        }
    }
    if let Some(i) = n.int {
        n.float = Some(i as f64);
    } else if n.is_uint {
        n.float = iv.map(|v| v as f64);
    } else if let Some(f) = parse_go_float(text) {
        if !text.contains(['.', 'e', 'E', 'p', 'P']) {
            return Err(format!("integer overflow: {}", crate::gofmt::quote(text)).into());
        }
        n.float = Some(f);
        if f.fract() == 0.0 && f.abs() < 9.2e18 {
            n.int = Some(f as i64);
        }
    }
    if n.int.is_none() && !n.is_uint && n.float.is_none() {
        return Err(format!("illegal number syntax: {}", crate::gofmt::quote(text)).into());
    }
    Ok(n)
}
