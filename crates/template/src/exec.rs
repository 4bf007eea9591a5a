//! Execution, following `text/template/exec.go` with `missingkey=error`.

use crate::error::GoError;

use crate::ast::*;
use crate::error::{Error, ErrorKind};
use crate::funcs::{self, Func, FuncError, Host, Ty};
use crate::gofmt;
use crate::value::Value;
use std::sync::Arc;

/// Go's `maxExecDepth`: nested template calls (`template`, `include`, `tpl`) allowed.
const MAX_DEPTH: usize = 100_000;

/// What one level of `tpl` counts towards [`MAX_DEPTH`]: it copies the template set and parses
/// text, a hundred times the work of a template call, and nothing in Helm bounds it (a value
/// that renders itself runs Helm out of stack). So a runaway `tpl` stops after 1,000 levels, in
/// well under a second, with the depth error.
const TPL_WEIGHT: usize = 100;

/// A template set and how it treats a missing map key.
#[derive(Clone, Default)]
pub(crate) struct Trees {
    /// The set's templates, shared (cloning a set for `tpl` copies no template).
    pub map: Arc<crate::NameMap<String, Arc<Tree>>>,
    /// Templates a `tpl` text defines, over `map`.
    pub local: crate::NameMap<String, Arc<Tree>>,
    pub missing: MissingKey,
    /// Where `lookup` reads live objects; none renders offline (an empty map, as `helm template`).
    pub lookup: Option<Arc<dyn crate::funcs::Lookup>>,
}

impl Trees {
    fn get(&self, name: &str) -> Option<&Arc<Tree>> {
        self.local.get(name).or_else(|| self.map.get(name))
    }

    fn contains_key(&self, name: &str) -> bool {
        self.local.contains_key(name) || self.map.contains_key(name)
    }
}

/// What a missing map key gives, as Go's `missingkey` option.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MissingKey {
    /// An error naming the key (`missingkey=error`).
    #[default]
    Error,
    /// No value: prints `<no value>` (`missingkey=zero` on `map[string]interface{}`, Helm's default).
    Zero,
}

enum Ctl {
    Break,
    Continue,
    Err(Box<Error>),
}

impl From<Box<Error>> for Ctl {
    fn from(e: Box<Error>) -> Ctl {
        Ctl::Err(e)
    }
}

type EResult<T> = Result<T, Box<Error>>;

/// The expression being evaluated, kept as a reference and printed only for an error.
#[derive(Clone, Copy)]
enum At<'s> {
    Nothing,
    Arg(&'s Arg),
    Pipe(&'s Pipe),
    Range(&'s Pipe),
    Name(&'s str),
    /// A function's whole command (`len .int`), as Go names a failed call.
    Command(&'s Command),
    Template(&'s str, Option<&'s Pipe>),
}

impl At<'_> {
    fn describe(self) -> String {
        match self {
            At::Nothing => String::new(),
            At::Arg(a) => a.to_string(),
            At::Pipe(p) => p.to_string(),
            At::Range(p) => format!("{{{{range {p}}}}}"),
            At::Name(n) => n.to_string(),
            At::Command(c) => c.to_string(),
            At::Template(n, None) => format!("{{{{template {}}}}}", gofmt::quote(n)),
            At::Template(n, Some(p)) => format!("{{{{template {} {p}}}}}", gofmt::quote(n)),
        }
    }
}

pub(crate) struct Exec<'s> {
    trees: &'s Trees,
    vars: Vec<(String, Value)>,
    depth: usize,
    tree: &'s Tree,
    at_pos: usize,
    at_ctx: At<'s>,
    out: String,
    map: Option<OutputMap>,
}

/// Where each part of an output came from: the sources in the order the output entered them,
/// and an entry per text or action naming one by index (an `Arc` per entry was two atomic
/// operations each, thousands per folder).
#[derive(Debug, Default)]
pub(crate) struct OutputMap {
    pub entries: Vec<MapEntry>,
    pub sources: Vec<Arc<Source>>,
}

/// One output position and the source position that produced it.
#[derive(Clone, Debug)]
pub(crate) struct MapEntry {
    pub out: usize,
    /// Index into [`OutputMap::sources`].
    pub source: u32,
    pub pos: usize,
    pub text: bool,
}

impl OutputMap {
    fn push(&mut self, out: usize, source: &Arc<Source>, pos: usize, text: bool) {
        if !self.sources.last().is_some_and(|s| Arc::ptr_eq(s, source)) {
            self.sources.push(source.clone());
        }
        self.entries.push(MapEntry {
            out,
            source: (self.sources.len() - 1) as u32,
            pos,
            text,
        });
    }
}

/// Runs the named template of `trees` on `data`.
pub(crate) fn execute(trees: &Trees, name: &str, data: &Value, depth: usize) -> EResult<String> {
    execute_mapped(trees, name, data, depth, false).map(|(s, _)| s)
}

/// Like [`execute`], optionally recording which source position produced each output offset.
pub(crate) fn execute_mapped(
    trees: &Trees,
    name: &str,
    data: &Value,
    depth: usize,
    want_map: bool,
) -> EResult<(String, OutputMap)> {
    let tree = trees.get(name).ok_or_else(|| {
        Box::new(Error {
            kind: ErrorKind::Exec,
            file: name.to_string(),
            line: 0,
            col: 0,
            template: name.to_string(),
            context: String::new(),
            message: format!("no such template {}", gofmt::quote(name)),
            hint: None,
            called_from: vec![],
        })
    })?;
    let mut ex = Exec {
        trees,
        vars: vec![("$".into(), data.clone())],
        depth,
        tree,
        at_pos: 0,
        at_ctx: At::Nothing,
        out: String::with_capacity(tree.source.text.len() + 1024),
        map: want_map.then(OutputMap::default),
    };
    match ex.walk_list(data, &tree.root) {
        Err(Ctl::Err(e)) => Err(e),
        _ => Ok((ex.out, ex.map.unwrap_or_default())),
    }
}

fn value_of_number(n: &Number) -> Result<Value, GoError> {
    let t = &n.text;
    let is_hex_int = t.to_ascii_lowercase().contains("0x") && !t.contains(['p', 'P']);
    if n.is_char {
        return Ok(Value::Int(n.int.unwrap_or(0)));
    }
    if let Some(f) = n
        .float
        .filter(|_| !is_hex_int && t.contains(['.', 'e', 'E', 'p', 'P']))
    {
        return Ok(Value::Float(f));
    }
    if let Some(i) = n.int {
        return Ok(Value::Int(i));
    }
    if n.is_uint {
        return Err(format!("{t} overflows int").into());
    }
    Ok(Value::Nil)
}

/// Edit distance counting a swap of neighbours as one edit (optimal string alignment).
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

/// The closest key to `want`, if one is close enough to be a likely typo.
pub fn closest<'k>(want: &str, keys: impl Iterator<Item = &'k String>) -> Option<&'k String> {
    let lw = want.to_lowercase();
    keys.map(|k| (distance(&lw, &k.to_lowercase()), k))
        .filter(|(d, k)| *d <= (want.len().max(k.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

impl<'s> Exec<'s> {
    fn at(&mut self, pos: usize, ctx: At<'s>) {
        self.at_pos = pos;
        self.at_ctx = ctx;
    }

    fn error(&self, message: impl Into<String>) -> Box<Error> {
        self.error_hint(message, None)
    }

    fn error_hint(&self, message: impl Into<String>, hint: Option<String>) -> Box<Error> {
        let (line, col) = self.tree.source.line_col(self.at_pos);
        Box::new(Error {
            kind: ErrorKind::Exec,
            file: self.tree.source.name.clone(),
            line,
            col,
            template: self.tree.name.clone(),
            context: self.at_ctx.describe(),
            message: message.into(),
            hint,
            called_from: vec![],
        })
    }

    fn walk_list(&mut self, dot: &Value, nodes: &'s [Node]) -> Result<(), Ctl> {
        for n in nodes {
            self.walk(dot, n)?;
        }
        Ok(())
    }

    fn walk(&mut self, dot: &Value, node: &'s Node) -> Result<(), Ctl> {
        match node {
            Node::Text { pos, len } => {
                if let Some(m) = &mut self.map {
                    m.push(self.out.len(), &self.tree.source, *pos, true);
                }
                self.out.push_str(self.tree.source.slice(*pos, *len));
                Ok(())
            }
            Node::Action(pipe) => {
                let v = self.eval_pipeline(dot, pipe)?;
                if pipe.decl.is_empty() {
                    self.at(pipe.pos, At::Pipe(pipe));
                    if let Some(m) = &mut self.map {
                        m.push(self.out.len(), &self.tree.source, pipe.pos, false);
                    }
                    match v {
                        Value::Nil => self.out.push_str("<no value>"),
                        v => gofmt::write_v(&mut self.out, &v),
                    }
                }
                Ok(())
            }
            Node::If(b) | Node::With(b) => {
                let mark = self.vars.len();
                let r = self.walk_if_with(dot, b, matches!(node, Node::With(_)));
                self.vars.truncate(mark);
                r
            }
            Node::Range(b) => {
                let mark = self.vars.len();
                let r = self.walk_range(dot, b);
                self.vars.truncate(mark);
                match r {
                    Err(Ctl::Break) => Ok(()),
                    other => other,
                }
            }
            Node::Template { pos, name, pipe } => {
                self.at(*pos, At::Template(name, pipe.as_deref()));
                let Some(tree) = self.trees.get(name) else {
                    return Err(self
                        .error(format!("template {} not defined", gofmt::quote(name)))
                        .into());
                };
                if self.depth >= MAX_DEPTH {
                    return Err(self
                        .error(format!("exceeded maximum template depth ({MAX_DEPTH})"))
                        .into());
                }
                let new_dot = match pipe {
                    Some(p) => self.eval_pipeline(dot, p)?,
                    None => Value::Nil,
                };
                let saved_vars =
                    std::mem::replace(&mut self.vars, vec![("$".into(), new_dot.clone())]);
                let saved_tree = std::mem::replace(&mut self.tree, tree);
                self.depth += 1;
                let r = stacker::maybe_grow(64 * 1024, 1024 * 1024, || {
                    self.walk_list(&new_dot, &tree.root)
                });
                self.depth -= 1;
                self.tree = saved_tree;
                self.vars = saved_vars;
                match r {
                    Err(Ctl::Err(e)) => Err(Ctl::Err(e)),
                    _ => Ok(()),
                }
            }
            Node::Break => Err(Ctl::Break),
            Node::Continue => Err(Ctl::Continue),
        }
    }

    fn walk_if_with(&mut self, dot: &Value, b: &'s Branch, with: bool) -> Result<(), Ctl> {
        let val = self.eval_pipeline(dot, &b.pipe)?;
        if val.truthy() {
            if with {
                self.walk_list(&val, &b.list)
            } else {
                self.walk_list(dot, &b.list)
            }
        } else if let Some(el) = &b.else_list {
            self.walk_list(dot, el)
        } else {
            Ok(())
        }
    }

    fn set_var(&mut self, name: &str, v: Value) -> EResult<()> {
        for (n, val) in self.vars.iter_mut().rev() {
            if n == name {
                *val = v;
                return Ok(());
            }
        }
        Err(self.error(format!("undefined variable: {name}")))
    }

    fn set_top_var(&mut self, n: usize, v: Value) {
        let len = self.vars.len();
        self.vars[len - n].1 = v;
    }

    fn range_iteration(
        &mut self,
        b: &'s Branch,
        index: Value,
        elem: Value,
        mark: usize,
    ) -> Result<(), Ctl> {
        let decl = &b.pipe.decl;
        if !decl.is_empty() {
            if b.pipe.is_assign {
                if decl.len() > 1 {
                    self.set_var(&decl[0], index.clone())?;
                } else {
                    self.set_var(&decl[0], elem.clone())?;
                }
            } else {
                self.set_top_var(1, elem.clone());
            }
        }
        if decl.len() > 1 {
            if b.pipe.is_assign {
                self.set_var(&decl[1], elem.clone())?;
            } else {
                self.set_top_var(2, index);
            }
        }
        let r = self.walk_list(&elem, &b.list);
        self.vars.truncate(mark);
        match r {
            Err(Ctl::Continue) => Ok(()),
            other => other,
        }
    }

    fn walk_range(&mut self, dot: &Value, b: &'s Branch) -> Result<(), Ctl> {
        self.at(b.pos, At::Range(&b.pipe));
        // A Go map or slice type with methods (Helm's `.Files`) ranges as its contents.
        let val = self.eval_pipeline(dot, &b.pipe)?.underlying().into_owned();
        let mark = self.vars.len();
        let mut ran = false;
        match &val {
            Value::List(l) => {
                for (i, e) in l.iter().enumerate() {
                    ran = true;
                    self.range_iteration(b, Value::Int(i as i64), e.clone(), mark)?;
                }
            }
            Value::Map(m) => {
                let entries: Vec<(String, Value)> = m
                    .borrow()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                for (k, e) in entries {
                    ran = true;
                    self.range_iteration(b, Value::str(k), e, mark)?;
                }
            }
            Value::Int(_) | Value::Uint(_) => {
                if b.pipe.decl.len() > 1 {
                    return Err(self
                        .error(format!(
                            "can't use {} to iterate over more than one variable",
                            gofmt::to_v(&val)
                        ))
                        .into());
                }
                // Go ranges over an integer n as 0..n, in n's own type.
                let (n, as_uint) = match val {
                    Value::Uint(u) => (i64::try_from(u).unwrap_or(i64::MAX), true),
                    Value::Int(i) => (i, false),
                    _ => unreachable!(),
                };
                for i in 0..n {
                    ran = true;
                    let v = if as_uint {
                        Value::Uint(i as u64)
                    } else {
                        Value::Int(i)
                    };
                    self.range_iteration(b, v.clone(), v, mark)?;
                }
            }
            Value::Nil => {}
            other => {
                return Err(self
                    .error(format!("range can't iterate over {}", gofmt::to_v(other)))
                    .into());
            }
        }
        if !ran {
            if let Some(el) = &b.else_list {
                return self.walk_list(dot, el);
            }
        }
        Ok(())
    }

    fn eval_pipeline(&mut self, dot: &Value, pipe: &'s Pipe) -> EResult<Value> {
        let mut value: Option<Value> = None;
        for cmd in &pipe.cmds {
            value = Some(self.eval_command(dot, cmd, value)?);
        }
        let value = value.unwrap_or_default();
        for v in &pipe.decl {
            if pipe.is_assign {
                self.set_var(v, value.clone())?;
            } else {
                self.vars.push((v.clone(), value.clone()));
            }
        }
        Ok(value)
    }

    fn not_a_function(&mut self, args: &[Arg], fin: &Option<Value>) -> EResult<()> {
        if args.len() > 1 || fin.is_some() {
            return Err(self.error(format!("can't give argument to non-function {}", args[0])));
        }
        Ok(())
    }

    fn eval_command(
        &mut self,
        dot: &Value,
        cmd: &'s Command,
        fin: Option<Value>,
    ) -> EResult<Value> {
        let first = &cmd.args[0];
        match first {
            Arg::Field { pos, idents } => {
                self.at(*pos, At::Arg(first));
                self.eval_field_chain(dot, dot.clone(), idents, &cmd.args, fin)
            }
            Arg::Chain { .. } => self.eval_chain(dot, first, &cmd.args, fin),
            Arg::Identifier { pos, name, func } => {
                self.at(*pos, At::Name(name));
                self.eval_call(dot, *pos, func, name, Some(cmd), fin)
            }
            Arg::Pipe(p) => {
                self.not_a_function(&cmd.args, &fin)?;
                self.eval_pipeline(dot, p)
            }
            Arg::Variable { .. } => self.eval_variable(dot, first, &cmd.args, fin),
            _ => {
                self.at(first.pos(), At::Arg(first));
                self.not_a_function(&cmd.args, &fin)?;
                match first {
                    Arg::Bool(_, b) => Ok(Value::Bool(*b)),
                    Arg::Dot(_) => Ok(dot.clone()),
                    Arg::Nil(_) => Err(self.error("nil is not a command")),
                    Arg::Number(_, n) => value_of_number(n).map_err(|e| self.error(e)),
                    Arg::String { text, .. } => Ok(Value::str(text.as_str())),
                    _ => unreachable!(),
                }
            }
        }
    }

    fn eval_chain(
        &mut self,
        dot: &Value,
        chain: &'s Arg,
        args: &'s [Arg],
        fin: Option<Value>,
    ) -> EResult<Value> {
        let Arg::Chain { node, fields, .. } = chain else {
            unreachable!()
        };
        self.at(chain.pos(), At::Arg(chain));
        if matches!(**node, Arg::Nil(_)) {
            return Err(self.error(format!("indirection through explicit nil in {chain}")));
        }
        let recv = self.eval_arg(dot, Ty::Any, node)?;
        self.eval_field_chain(dot, recv, fields, args, fin)
    }

    fn eval_variable(
        &mut self,
        dot: &Value,
        var: &'s Arg,
        args: &'s [Arg],
        fin: Option<Value>,
    ) -> EResult<Value> {
        let Arg::Variable { idents, .. } = var else {
            unreachable!()
        };
        self.at(var.pos(), At::Arg(var));
        let value = self.var_value(&idents[0])?;
        if idents.len() == 1 {
            self.not_a_function(args, &fin)?;
            return Ok(value);
        }
        self.eval_field_chain(dot, value, &idents[1..], args, fin)
    }

    fn var_value(&self, name: &str) -> EResult<Value> {
        for (n, v) in self.vars.iter().rev() {
            if n == name {
                return Ok(v.clone());
            }
        }
        Err(self.error(format!("undefined variable: {name}")))
    }

    fn eval_field_chain(
        &mut self,
        dot: &Value,
        mut recv: Value,
        idents: &'s [String],
        args: &'s [Arg],
        mut fin: Option<Value>,
    ) -> EResult<Value> {
        let n = idents.len();
        for (i, id) in idents.iter().enumerate() {
            let last = i == n - 1;
            let has_args = last && (args.len() > 1 || fin.is_some());
            if let Value::Object(o) = &recv {
                let call_args = if last {
                    &args[args.len().min(1)..]
                } else {
                    &[]
                };
                if let Some(v) = self.call_method(dot, o.clone(), id, call_args, fin.take())? {
                    recv = v;
                    continue;
                }
            }
            // Go digs a pipeline's or variable's nil down to no value at all; with
            // missingkey=zero every field of no value is no value.
            if i == 0 && matches!(recv, Value::Nil) && self.trees.missing == MissingKey::Zero {
                return Ok(Value::Nil);
            }
            recv = self.eval_field(id, has_args, recv, i > 0)?;
        }
        Ok(recv)
    }

    /// Calls the method `name` of an object with the command's arguments, or `None` when the
    /// object has no such method (then it may have a field of that name).
    fn call_method(
        &mut self,
        dot: &Value,
        o: std::rc::Rc<dyn crate::value::Object>,
        name: &str,
        args: &'s [Arg],
        fin: Option<Value>,
    ) -> EResult<Option<Value>> {
        if !o.has_method(name) {
            return Ok(None);
        }
        let mut argv = Vec::with_capacity(args.len() + 1);
        for a in args {
            argv.push(self.eval_arg(dot, Ty::Any, a)?);
        }
        argv.extend(fin);
        match o.call(name, &argv) {
            None => Ok(None),
            Some(Ok(v)) => Ok(Some(v)),
            Some(Err(m)) => Err(self.error(format!("error calling {name}: {m}"))),
        }
    }

    /// `nested`: `recv` came from a field lookup in a map, so Go knows it as an `interface {}`
    /// (its nil is a nil pointer, and its type in messages `interface {}`); a pipeline's or
    /// variable's nil is no data at all.
    fn eval_field(
        &mut self,
        name: &str,
        has_args: bool,
        recv: Value,
        nested: bool,
    ) -> EResult<Value> {
        match &recv {
            Value::Object(o) => match o.field(name) {
                Some(_) if has_args => Err(self.error(format!(
                    "{name} has arguments but cannot be invoked as function"
                ))),
                Some(v) => Ok(v),
                None => Err(self.error(format!(
                    "can't evaluate field {name} in type {}",
                    o.type_name()
                ))),
            },
            Value::Map(m) => {
                if has_args {
                    return Err(self.error(format!("{name} is not a method but has arguments")));
                }
                let m = m.borrow();
                match m.get(name) {
                    Some(v) => Ok(v.clone()),
                    None if self.trees.missing == MissingKey::Zero => Ok(Value::Nil),
                    None => {
                        let hint = match closest(name, m.keys()) {
                            Some(k) => Some(format!("did you mean `{k}`?")),
                            None if m.is_empty() => Some("the map is empty".to_string()),
                            None => {
                                let keys: Vec<&str> =
                                    m.keys().take(8).map(|s| s.as_str()).collect();
                                Some(format!(
                                    "existing keys: {}{}",
                                    keys.join(", "),
                                    if m.len() > 8 { ", ..." } else { "" }
                                ))
                            }
                        };
                        Err(self.error_hint(
                            format!("map has no entry for key {}", gofmt::quote(name)),
                            hint,
                        ))
                    }
                }
            }
            Value::Nil if nested => Err(self.error_hint(
                format!("nil pointer evaluating interface {{}}.{name}"),
                Some(
                    "the value before this field is null; check it with `if` or give it a value"
                        .into(),
                ),
            )),
            Value::Nil => {
                Err(self.error(format!("nil data; no entry for key {}", gofmt::quote(name))))
            }
            other => Err(self.error(format!(
                "can't evaluate field {name} in type {}",
                if nested {
                    "interface {}"
                } else {
                    other.type_name()
                }
            ))),
        }
    }

    fn eval_call(
        &mut self,
        dot: &Value,
        pos: usize,
        f: &'static Func,
        name: &'s str,
        // The whole command, when the function heads one (its arguments follow it there).
        cmd: Option<&'s Command>,
        fin: Option<Value>,
    ) -> EResult<Value> {
        let args: &'s [Arg] = cmd.map_or(&[], |c| &c.args);
        let args = if args.is_empty() { args } else { &args[1..] };
        let num_in = args.len() + usize::from(fin.is_some());
        let nfixed = f.params.len();
        if f.variadic.is_some() {
            if num_in < nfixed {
                return Err(self.error(format!(
                    "wrong number of args for {name}: want at least {nfixed} got {}",
                    args.len()
                )));
            }
        } else if num_in != nfixed {
            return Err(self.error(format!(
                "wrong number of args for {name}: want {nfixed} got {num_in}"
            )));
        }
        if name == "and" || name == "or" {
            let mut v = Value::Nil;
            for a in args {
                v = self.eval_arg(dot, Ty::Any, a)?;
                if v.truthy() == (name == "or") {
                    return Ok(v);
                }
            }
            if let Some(fv) = fin {
                v = fv;
            }
            return Ok(v);
        }
        let mut argv = Vec::with_capacity(num_in);
        for (i, a) in args.iter().enumerate() {
            let ty = f.params.get(i).copied().or(f.variadic).unwrap_or(Ty::Any);
            argv.push(self.eval_arg(dot, ty, a)?);
        }
        if let Some(fv) = fin {
            let ty = f
                .params
                .get(num_in - 1)
                .copied()
                .or(f.variadic)
                .unwrap_or(Ty::Any);
            let v = self.validate(fv, ty)?;
            argv.push(v);
        }
        self.at(pos, cmd.map_or(At::Name(name), At::Command));
        if name == "call" {
            // As Go does, `call` learns how its callee was written, for its errors.
            let callee = args.first().map(ToString::to_string).unwrap_or_default();
            argv.insert(0, Value::str(callee.as_str()));
        }
        let mut host = ExecHost {
            trees: self.trees,
            depth: self.depth,
        };
        match (f.imp)(&mut host, argv) {
            Ok(v) => Ok(v),
            Err(FuncError::Msg(m)) => Err(self.error(format!("error calling {name}: {m}"))),
            Err(FuncError::Hint(m, h)) => {
                Err(self.error_hint(format!("error calling {name}: {m}"), Some(h)))
            }
            Err(FuncError::User(m)) => Err(self.error_hint(m, None)),
            Err(FuncError::Nested(mut e)) => {
                let (line, col) = self.tree.source.line_col(pos);
                e.called_from
                    .push((self.tree.source.name.clone(), line, col));
                Err(e)
            }
        }
    }

    fn validate(&mut self, v: Value, ty: Ty) -> EResult<Value> {
        if let (Value::Bytes(b), Ty::Str) = (&v, ty) {
            // A function of text reads bad bytes as Go's `range` does: each one U+FFFD.
            return Ok(Value::str(crate::value::go_lossy(b)));
        }
        let ok = matches!(
            (&v, ty),
            (_, Ty::Any)
                | (Value::String(_), Ty::Str)
                | (Value::String(_) | Value::Bytes(_), Ty::Bytes)
                | (Value::Int(_), Ty::Int)
                | (Value::Bool(_), Ty::Bool)
                | (Value::Map(_) | Value::Nil, Ty::Map)
        );
        if ok {
            return Ok(v);
        }
        if let Value::Nil = v {
            return Err(self.error(format!("invalid value; expected {}", ty.go_name())));
        }
        Err(self.error(format!(
            "wrong type for value; expected {}; got {}",
            ty.go_name(),
            v.type_name()
        )))
    }

    fn eval_arg(&mut self, dot: &Value, ty: Ty, a: &'s Arg) -> EResult<Value> {
        self.at(a.pos(), At::Arg(a));
        let v = match a {
            Arg::Dot(_) => dot.clone(),
            Arg::Nil(_) => {
                return match ty {
                    Ty::Any | Ty::Map => Ok(Value::Nil),
                    _ => Err(self.error(format!("cannot assign nil to {}", ty.go_name()))),
                };
            }
            Arg::Field { idents, .. } => {
                self.eval_field_chain(dot, dot.clone(), idents, std::slice::from_ref(a), None)?
            }
            Arg::Variable { .. } => self.eval_variable(dot, a, &[], None)?,
            Arg::Pipe(p) => self.eval_pipeline(dot, p)?,
            Arg::Identifier { pos, name, func } => {
                self.eval_call(dot, *pos, func, name, None, None)?
            }
            Arg::Chain { .. } => self.eval_chain(dot, a, &[], None)?,
            // Go's evalArg: a constant for a map parameter is a kind it "can't handle".
            Arg::Bool(..) | Arg::String { .. } | Arg::Number(..) if ty == Ty::Map => {
                return Err(
                    self.error(format!("can't handle {a} for arg of type {}", ty.go_name()))
                );
            }
            Arg::Bool(_, b) => {
                return match ty {
                    Ty::Bool | Ty::Any => Ok(Value::Bool(*b)),
                    _ => Err(self.error(format!("expected {}; found {a}", ty.expect_name()))),
                };
            }
            Arg::String { text, .. } => {
                return match ty {
                    Ty::Str | Ty::Bytes | Ty::Any => Ok(Value::str(text.as_str())),
                    _ => Err(self.error(format!("expected {}; found {a}", ty.expect_name()))),
                };
            }
            Arg::Number(_, n) => {
                return match ty {
                    Ty::Any => value_of_number(n).map_err(|e| self.error(e)),
                    Ty::Int if n.int.is_some() => Ok(Value::Int(n.int.unwrap())),
                    _ => Err(self.error(format!("expected {}; found {a}", ty.expect_name()))),
                };
            }
        };
        self.validate(v, ty)
    }
}

/// What functions may ask of the running template: rendering other templates.
struct ExecHost<'s> {
    trees: &'s Trees,
    depth: usize,
}

impl Host for ExecHost<'_> {
    fn include(&mut self, name: &str, data: &Value) -> Result<String, FuncError> {
        if !self.trees.contains_key(name) {
            return Err(FuncError::Hint(
                format!("template {} not defined", gofmt::quote(name)),
                "define it with {{ define \"...\" }} in a template of this folder".into(),
            ));
        }
        if self.depth >= MAX_DEPTH {
            return Err(FuncError::Msg(format!(
                "exceeded maximum template depth ({MAX_DEPTH})"
            )));
        }
        stacker::maybe_grow(64 * 1024, 1024 * 1024, || {
            execute(self.trees, name, data, self.depth + 1)
        })
        .map_err(FuncError::Nested)
    }

    fn lookup(&mut self, query: &crate::funcs::LookupQuery) -> Result<Value, FuncError> {
        let Some(source) = &self.trees.lookup else {
            return Ok(Value::map(Default::default()));
        };
        match source.lookup(query) {
            Ok(Some(found)) => Ok(Value::from_json_go(&found)),
            Ok(None) => Ok(Value::map(Default::default())),
            Err(e) => Err(FuncError::Msg(format!(
                "lookup {} {} {:?} {:?}: {e}",
                query.api_version, query.kind, query.namespace, query.name
            ))),
        }
    }

    fn tpl(&mut self, text: &str, data: &Value) -> Result<String, FuncError> {
        let mut trees = self.trees.clone();
        let parsed = crate::parse::parse("tpl", text, &funcs::lookup).map_err(|e| {
            FuncError::Msg(format!(
                "parsing the tpl text failed at line {}: {}",
                e.line, e.message
            ))
        })?;
        let name = parsed[0].name.clone();
        for t in parsed {
            trees.local.insert(t.name.clone(), Arc::new(t));
        }
        if self.depth + TPL_WEIGHT > MAX_DEPTH {
            return Err(FuncError::Msg(format!(
                "exceeded maximum template depth ({MAX_DEPTH})"
            )));
        }
        stacker::maybe_grow(64 * 1024, 1024 * 1024, || {
            execute(&trees, &name, data, self.depth + TPL_WEIGHT)
        })
        .map_err(FuncError::Nested)
    }
}
