//! Errors that point at a file and line, say what is wrong, and what to do.

use std::fmt;

/// A position in a file of the deploy folder (or a command-line argument).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    /// 1-based; 0 when unknown.
    pub line: usize,
    /// 1-based; 0 when unknown.
    pub col: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.col) {
            (0, _) => write!(f, "{}", self.file),
            (l, 0) => write!(f, "{}:{l}", self.file),
            (l, c) => write!(f, "{}:{l}:{c}", self.file),
        }
    }
}

/// What went wrong, for callers that branch on it (and tests).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The folder or a file could not be read.
    Io,
    /// A variables file (`variables*.yaml`, `-f`) is not valid YAML or not a map.
    Variables,
    /// A `-v KEY=VALUE` argument is malformed.
    SetArgument,
    /// Template syntax.
    TemplateParse,
    /// Template execution (missing variable, bad function call, ...).
    TemplateExec,
    /// The rendered text is not valid YAML.
    Yaml,
    /// A document is not a valid Kubernetes object (not a map, no kind, no name, ...).
    Object,
    /// Two documents describe the same object.
    Duplicate,
    /// A Helm chart is malformed (`Chart.yaml`, a missing dependency, an unreadable archive).
    Chart,
    /// Values break the chart's `values.schema.json`.
    Schema,
    /// A chart could not be pulled from a registry or repository (refused, not found, a
    /// digest that does not match).
    Fetch,
}

/// A diagnostic in the style of cargo and ripgrep.
#[derive(Clone, Debug, thiserror::Error)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    pub location: Option<Location>,
    /// The source line at `location`, for a snippet.
    pub snippet: Option<String>,
    /// Further facts ("rendered line 12", "first defined at ...").
    pub notes: Vec<String>,
    /// What to do about it.
    pub hint: Option<String>,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            location: None,
            snippet: None,
            notes: vec![],
            hint: None,
        }
    }

    pub fn at(mut self, file: &str, line: usize, col: usize) -> Self {
        self.location = Some(Location {
            file: file.to_string(),
            line,
            col,
        });
        self
    }

    pub fn snippet(mut self, line: Option<&str>) -> Self {
        self.snippet = line.map(|l| l.trim_end().to_string());
        self
    }

    pub fn note(mut self, n: impl Into<String>) -> Self {
        self.notes.push(n.into());
        self
    }

    /// Adds every note given (none for `None`).
    pub fn notes(mut self, notes: impl IntoIterator<Item = String>) -> Self {
        self.notes.extend(notes);
        self
    }

    pub fn hint(mut self, h: impl Into<String>) -> Self {
        self.hint = Some(h.into());
        self
    }
}

/// The most of a message, a note or a hint an error prints (a message may quote a value or a
/// line of any size: the output stays readable and bounded, issue 23).
const MAX_TEXT: usize = 2000;
/// The most source characters shown around the column in a snippet.
const SNIPPET_WINDOW: usize = 120;
/// The most notes printed.
const MAX_NOTES: usize = 20;

/// `text` cut at [`MAX_TEXT`] characters, saying how much was left out.
fn bounded(text: &str) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(MAX_TEXT) {
        None => text.into(),
        Some((end, _)) => format!("{} ... ({} more bytes)", &text[..end], text.len() - end).into(),
    }
}

/// The part of a source line around 1-based `col` that fits [`SNIPPET_WINDOW`], and the column
/// within it.
fn window(line: &str, col: usize) -> (String, usize) {
    let chars: Vec<char> = line.chars().collect();
    if chars.len() <= SNIPPET_WINDOW {
        return (line.to_string(), col);
    }
    let at = col.saturating_sub(1).min(chars.len());
    let start = at.saturating_sub(SNIPPET_WINDOW / 2);
    let end = (start + SNIPPET_WINDOW).min(chars.len());
    let mut shown = String::new();
    let mut col = col - start;
    if start > 0 {
        shown.push_str("...");
        col += 3;
    }
    shown.extend(&chars[start..end]);
    if end < chars.len() {
        shown.push_str("...");
    }
    (shown, col.max(1))
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", bounded(&self.message))?;
        if let Some(loc) = &self.location {
            let gutter = if loc.line > 0 {
                loc.line.to_string().len()
            } else {
                1
            };
            let pad = " ".repeat(gutter);
            writeln!(f, "{pad}--> {loc}")?;
            if let (Some(s), true) = (&self.snippet, loc.line > 0) {
                let (s, col) = window(s, loc.col.max(1));
                let loc = Location {
                    col: if loc.col > 0 { col } else { 0 },
                    ..loc.clone()
                };
                writeln!(f, "{pad} |")?;
                writeln!(f, "{} | {}", loc.line, s)?;
                if loc.col > 0 {
                    let caret_pad: String = s
                        .chars()
                        .take(loc.col - 1)
                        .map(|c| if c == '\t' { '\t' } else { ' ' })
                        .collect();
                    writeln!(f, "{pad} | {caret_pad}^")?;
                }
            }
        }
        for n in self.notes.iter().take(MAX_NOTES) {
            writeln!(f, "  = note: {}", bounded(n))?;
        }
        if self.notes.len() > MAX_NOTES {
            writeln!(
                f,
                "  = note: ... {} more notes",
                self.notes.len() - MAX_NOTES
            )?;
        }
        if let Some(h) = &self.hint {
            writeln!(f, "  = help: {}", bounded(h))?;
        }
        Ok(())
    }
}
