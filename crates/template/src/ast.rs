//! The parse tree. Positions are byte offsets into the source the tree was parsed from.

use std::sync::Arc;

/// A parsed source file: its name (for errors) and text (for line/column).
#[derive(Debug)]
pub struct Source {
    pub name: String,
    pub text: String,
    /// Where each line starts, found on the first `line_col` (every rendered document asks).
    line_starts: std::sync::OnceLock<Vec<usize>>,
}

impl Source {
    pub fn new(name: &str, text: &str) -> Source {
        Source {
            name: name.to_string(),
            text: text.to_string(),
            line_starts: Default::default(),
        }
    }

    /// The source text of a [`Node::Text`].
    pub fn slice(&self, pos: usize, len: usize) -> &str {
        &self.text[pos..pos + len]
    }

    /// 1-based line and 1-based column (in characters) of a byte offset.
    pub fn line_col(&self, pos: usize) -> (usize, usize) {
        let mut pos = pos.min(self.text.len());
        // A position inside a character (a lexer error one byte into it) counts as its start.
        while !self.text.is_char_boundary(pos) {
            pos -= 1;
        }
        let starts = self.line_starts.get_or_init(|| {
            std::iter::once(0)
                .chain(memchr::memchr_iter(b'\n', self.text.as_bytes()).map(|i| i + 1))
                .collect()
        });
        let line = starts.partition_point(|&s| s <= pos);
        let start = starts[line - 1];
        (line, self.text[start..pos].chars().count() + 1)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn line_col_counts_lines_and_characters() {
        let s = super::Source::new("t", "ab\nçd\n\nx");
        assert_eq!(s.line_col(0), (1, 1));
        assert_eq!(s.line_col(2), (1, 3));
        assert_eq!(s.line_col(3), (2, 1));
        assert_eq!(s.line_col(6), (2, 3));
        assert_eq!(s.line_col(4), (2, 1), "inside `ç`");
        assert_eq!(s.line_col(7), (3, 1));
        assert_eq!(s.line_col(8), (4, 1));
        assert_eq!(s.line_col(99), (4, 2));
    }

    /// A parsed template is mostly nodes and arguments: their size is its memory (and a fresh
    /// process pays for each new page of it). A variant that grows them fails here.
    #[test]
    fn nodes_and_arguments_stay_small() {
        assert!(std::mem::size_of::<super::Node>() <= 64);
        assert!(std::mem::size_of::<super::Arg>() <= 56);
    }
}

/// A named template: a file, a `define` or a `block`.
#[derive(Debug)]
pub struct Tree {
    pub name: String,
    pub source: Arc<Source>,
    pub root: Vec<Node>,
    /// Every function the tree calls, once each (found while parsing).
    pub calls: Vec<&'static crate::funcs::Func>,
}

#[derive(Debug)]
pub enum Node {
    /// Literal text: `len` bytes of the tree's source from byte `pos` (not a copy of them: a
    /// template's text is most of it).
    Text {
        pos: usize,
        len: usize,
    },
    Action(Pipe),
    // Branches and a template call's pipeline are boxed: a node is 64 bytes, not 128 (lists of
    // nodes were the largest part of a parsed template's memory).
    If(Box<Branch>),
    With(Box<Branch>),
    Range(Box<Branch>),
    Template {
        pos: usize,
        name: String,
        pipe: Option<Box<Pipe>>,
    },
    Break,
    Continue,
}

/// The shared shape of if/with/range.
#[derive(Debug)]
pub struct Branch {
    pub pos: usize,
    pub pipe: Pipe,
    pub list: Vec<Node>,
    pub else_list: Option<Vec<Node>>,
}

#[derive(Debug)]
pub struct Pipe {
    pub pos: usize,
    pub is_assign: bool,
    pub decl: Vec<String>,
    pub cmds: Vec<Command>,
}

#[derive(Debug)]
pub struct Command {
    pub args: Vec<Arg>,
}

/// A literal number with the interpretations Go's parser allows.
#[derive(Debug, Clone)]
pub struct Number {
    pub text: String,
    pub int: Option<i64>,
    pub float: Option<f64>,
    pub is_uint: bool,
    pub is_char: bool,
}

#[derive(Debug)]
pub enum Arg {
    /// `.A.B`
    Field {
        pos: usize,
        idents: Vec<String>,
    },
    /// `(pipe).A.B` or `fn.A`
    Chain {
        pos: usize,
        node: Box<Arg>,
        fields: Vec<String>,
    },
    /// `$x.A.B`; `idents[0]` is the variable name.
    Variable {
        pos: usize,
        idents: Vec<String>,
    },
    /// A function, resolved when parsed.
    Identifier {
        pos: usize,
        name: String,
        func: &'static crate::funcs::Func,
    },
    Dot(usize),
    Nil(usize),
    Bool(usize, bool),
    /// Boxed: the largest variant otherwise, and rare.
    Number(usize, Box<Number>),
    String {
        pos: usize,
        quoted: String,
        text: String,
    },
    Pipe(Box<Pipe>),
}

impl Arg {
    pub fn pos(&self) -> usize {
        match self {
            Arg::Field { pos, .. }
            | Arg::Chain { pos, .. }
            | Arg::Variable { pos, .. }
            | Arg::Identifier { pos, .. }
            | Arg::Dot(pos)
            | Arg::Nil(pos)
            | Arg::Bool(pos, _)
            | Arg::Number(pos, _)
            | Arg::String { pos, .. } => *pos,
            Arg::Pipe(p) => p.pos,
        }
    }
}

impl std::fmt::Display for Arg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Arg::Field { idents, .. } => {
                for i in idents {
                    write!(f, ".{i}")?;
                }
                Ok(())
            }
            Arg::Chain { node, fields, .. } => {
                if matches!(**node, Arg::Pipe(_)) {
                    write!(f, "({node})")?;
                } else {
                    write!(f, "{node}")?;
                }
                for i in fields {
                    write!(f, ".{i}")?;
                }
                Ok(())
            }
            Arg::Variable { idents, .. } => write!(f, "{}", idents.join(".")),
            Arg::Identifier { name, .. } => write!(f, "{name}"),
            Arg::Dot(_) => write!(f, "."),
            Arg::Nil(_) => write!(f, "nil"),
            Arg::Bool(_, b) => write!(f, "{b}"),
            Arg::Number(_, n) => write!(f, "{}", n.text),
            Arg::String { quoted, .. } => write!(f, "{quoted}"),
            Arg::Pipe(p) => write!(f, "{p}"),
        }
    }
}

impl std::fmt::Display for Pipe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.decl.is_empty() {
            write!(
                f,
                "{} {} ",
                self.decl.join(", "),
                if self.is_assign { "=" } else { ":=" }
            )?;
        }
        for (i, c) in self.cmds.iter().enumerate() {
            if i > 0 {
                write!(f, " | ")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

impl std::fmt::Display for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                write!(f, " ")?;
            }
            if let Arg::Pipe(_) = a {
                write!(f, "({a})")?;
            } else {
                write!(f, "{a}")?;
            }
        }
        Ok(())
    }
}
