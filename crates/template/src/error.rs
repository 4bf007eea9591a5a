//! Template errors, with everything needed for a cargo-style report.

use std::fmt;

/// Whether the template text was malformed or failed while running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Parse,
    Exec,
}

/// A template error located in a named source file.
#[derive(Debug, Clone, thiserror::Error)]
pub struct Error {
    pub kind: ErrorKind,
    /// The source file (the name given when parsing).
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column in characters; 0 when only the line is known (parse errors).
    pub col: usize,
    /// The template being executed (a file or a `define` name).
    pub template: String,
    /// The expression being evaluated, as Go prints it (`<.Values.x>`).
    pub context: String,
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
    /// Where a nested template (include, template, tpl) was called from, innermost first.
    pub called_from: Vec<(String, usize, usize)>,
}

impl Error {
    /// The message in Go's own format, for comparing with Go.
    pub fn go_message(&self) -> String {
        match self.kind {
            ErrorKind::Parse => format!("template: {}:{}: {}", self.file, self.line, self.message),
            ErrorKind::Exec => format!(
                "template: {}:{}:{}: executing {:?} at <{}>: {}",
                self.file,
                self.line,
                self.col.saturating_sub(1),
                self.template,
                self.context,
                self.message
            ),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ErrorKind::Parse => write!(f, "template syntax error: {}", self.message),
            ErrorKind::Exec if self.context.is_empty() => write!(f, "{}", self.message),
            ErrorKind::Exec => write!(f, "{} (in `{}`)", self.message, self.context),
        }
    }
}
