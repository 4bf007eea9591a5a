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

/// One line of an error's call trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallFrame<'a> {
    /// A call: the file (or `define` name), line and column.
    At(&'a str, usize, usize),
    /// Calls left out of the middle of a deep trace, and how many.
    Elided(usize),
}

/// Frames shown at each end of a deep call trace.
const TRACE_ENDS: usize = 5;

impl Error {
    /// Where the failing template was called from, innermost first, bounded: a recursion
    /// thousands deep shows its first and last calls and how many lie between.
    pub fn call_trace(&self) -> Vec<CallFrame<'_>> {
        fn at((f, l, c): &(String, usize, usize)) -> CallFrame<'_> {
            CallFrame::At(f.as_str(), *l, *c)
        }
        let n = self.called_from.len();
        if n <= 2 * TRACE_ENDS + 1 {
            return self.called_from.iter().map(at).collect();
        }
        let mut out: Vec<CallFrame<'_>> = self.called_from[..TRACE_ENDS].iter().map(at).collect();
        out.push(CallFrame::Elided(n - 2 * TRACE_ENDS));
        out.extend(self.called_from[n - TRACE_ENDS..].iter().map(at));
        out
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

#[cfg(test)]
mod trace_tests {
    use super::*;

    #[test]
    fn deep_call_traces_keep_both_ends() {
        let mut e = Error {
            kind: ErrorKind::Exec,
            file: "f".into(),
            line: 1,
            col: 1,
            template: "f".into(),
            context: String::new(),
            message: "m".into(),
            hint: None,
            called_from: (1..=11).map(|i| ("t".to_string(), i, 1)).collect(),
        };
        assert_eq!(e.call_trace().len(), 11);
        e.called_from = (1..=10_000).map(|i| ("t".to_string(), i, 1)).collect();
        let t = e.call_trace();
        assert_eq!(t.len(), 11);
        assert_eq!(t[0], CallFrame::At("t", 1, 1));
        assert_eq!(t[5], CallFrame::Elided(9_990));
        assert_eq!(t[10], CallFrame::At("t", 10_000, 1));
    }
}

/// An error as a Go function returns it: its text is exactly Go's (templates print it, and
/// charts compare it), so it is carried as written, never reworded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct GoError(pub String);

impl From<String> for GoError {
    fn from(s: String) -> Self {
        GoError(s)
    }
}

impl From<&str> for GoError {
    fn from(s: &str) -> Self {
        GoError(s.to_string())
    }
}

impl From<GoError> for String {
    fn from(e: GoError) -> String {
        e.0
    }
}
