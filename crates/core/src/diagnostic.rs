//! One diagnostic type for every library: what went wrong, where (a file and line), notes,
//! what to do, and the error that caused it (kept as a `source()` chain, not flattened).
//!
//! Each library names its own kinds (`berth_manifest::ErrorKind`, `berth_kube::ErrorKind`,
//! `berth_local::ErrorKind`) and aliases `Error = Diagnostic<ErrorKind>`; printing is here, once,
//! in the style of cargo and ripgrep.

use std::fmt;
use std::sync::Arc;

/// A position in a file of the deploy folder or chart (or a command-line argument).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Location {
    pub file: String,
    /// 1-based; 0 when unknown.
    pub line: usize,
    /// 1-based; 0 when unknown.
    pub col: usize,
}

impl Location {
    pub fn new(file: impl Into<String>, line: usize, col: usize) -> Location {
        Location {
            file: file.into(),
            line,
            col,
        }
    }

    /// Reads `file`, `file:line` or `file:line:col` (what [`Location`]'s `Display` writes).
    pub fn parse(text: &str) -> Location {
        let number = |s: &str| s.parse::<usize>().ok().filter(|_| !s.is_empty());
        let Some((head, last)) = text.rsplit_once(':') else {
            return Location::new(text, 0, 0);
        };
        let Some(last) = number(last) else {
            return Location::new(text, 0, 0);
        };
        match head
            .rsplit_once(':')
            .and_then(|(f, l)| Some((f, number(l)?)))
        {
            Some((file, line)) => Location::new(file, line, last),
            None => Location::new(head, last, 0),
        }
    }
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

/// The error a diagnostic was caused by.
pub type Cause = Arc<dyn std::error::Error + Send + Sync>;

/// A diagnostic of kind `K`: a line of what, then where, then notes and a hint. Small (its
/// details are boxed), so a `Result` that carries one stays cheap to return.
#[derive(Clone)]
pub struct Diagnostic<K> {
    pub kind: K,
    details: Box<Details>,
}

/// What a [`Diagnostic`] says; its fields read and write through the diagnostic (`e.message`).
#[derive(Clone)]
pub struct Details {
    pub message: String,
    pub location: Option<Location>,
    /// The source line at `location`, for a snippet.
    pub snippet: Option<String>,
    /// Further facts ("rendered line 12", "first defined at ...").
    pub notes: Vec<String>,
    /// What to do about it.
    pub hint: Option<String>,
    cause: Option<Cause>,
}

impl<K> std::ops::Deref for Diagnostic<K> {
    type Target = Details;
    fn deref(&self) -> &Details {
        &self.details
    }
}

impl<K> std::ops::DerefMut for Diagnostic<K> {
    fn deref_mut(&mut self) -> &mut Details {
        &mut self.details
    }
}

impl<K> Diagnostic<K> {
    pub fn new(kind: K, message: impl Into<String>) -> Self {
        let details = Details {
            message: message.into(),
            location: None,
            snippet: None,
            notes: vec![],
            hint: None,
            cause: None,
        };
        Diagnostic {
            kind,
            details: Box::new(details),
        }
    }

    /// At a file, line and column (0 when unknown).
    pub fn at(self, file: &str, line: usize, col: usize) -> Self {
        self.located(Location::new(file, line, col))
    }

    pub fn located(mut self, location: Location) -> Self {
        self.location = Some(location);
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

    /// Adds every note given.
    pub fn notes(mut self, notes: impl IntoIterator<Item = String>) -> Self {
        self.notes.extend(notes);
        self
    }

    pub fn hint(mut self, h: impl Into<String>) -> Self {
        self.hint = Some(h.into());
        self
    }

    /// Keeps the error this one was caused by (printed as a note, and `source()`).
    pub fn caused_by(mut self, cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.cause = Some(Arc::new(cause));
        self
    }

    /// The same diagnostic with another kind (at a seam between libraries).
    pub fn with_kind<L>(self, kind: L) -> Diagnostic<L> {
        Diagnostic {
            kind,
            details: self.details,
        }
    }
}

impl<K: fmt::Debug> fmt::Debug for Diagnostic<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Diagnostic")
            .field("kind", &self.kind)
            .field("message", &self.message)
            .field("location", &self.location)
            .field("notes", &self.notes)
            .field("hint", &self.hint)
            .field("cause", &self.cause.as_ref().map(|c| c.to_string()))
            .finish()
    }
}

impl<K: fmt::Debug> std::error::Error for Diagnostic<K> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause
            .as_deref()
            .map(|c| c as &(dyn std::error::Error + 'static))
    }
}

/// The most of a message, a note or a hint printed (a message may quote a value or a line of
/// any size: the output stays readable and bounded).
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

/// `  = LABEL: text`, its further lines indented under the text.
fn labelled(f: &mut fmt::Formatter<'_>, label: &str, text: &str) -> fmt::Result {
    let indent = " ".repeat(label.len() + 6);
    for (i, line) in bounded(text).lines().enumerate() {
        if i == 0 {
            writeln!(f, "  = {label}: {line}")?;
        } else {
            writeln!(f, "{indent}{line}")?;
        }
    }
    Ok(())
}

impl<K> Diagnostic<K> {
    fn fmt_location(&self, f: &mut fmt::Formatter<'_>, loc: &Location) -> fmt::Result {
        let gutter = if loc.line > 0 {
            loc.line.to_string().len()
        } else {
            1
        };
        let pad = " ".repeat(gutter);
        writeln!(f, "{pad}--> {loc}")?;
        let (Some(s), true) = (&self.snippet, loc.line > 0) else {
            return Ok(());
        };
        let (s, col) = window(s, loc.col.max(1));
        writeln!(f, "{pad} |")?;
        writeln!(f, "{} | {}", loc.line, s)?;
        if loc.col > 0 {
            let caret_pad: String = s
                .chars()
                .take(col - 1)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            writeln!(f, "{pad} | {caret_pad}^")?;
        }
        Ok(())
    }
}

impl<K> fmt::Display for Diagnostic<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", bounded(&self.message))?;
        if let Some(loc) = &self.location {
            self.fmt_location(f, loc)?;
        }
        for n in self.notes.iter().take(MAX_NOTES) {
            labelled(f, "note", n)?;
        }
        if self.notes.len() > MAX_NOTES {
            let more = self.notes.len() - MAX_NOTES;
            writeln!(f, "  = note: ... {more} more notes")?;
        }
        if let Some(cause) = &self.cause {
            let mut chain = vec![cause.to_string()];
            let mut next = cause.source();
            while let Some(e) = next {
                chain.push(e.to_string());
                next = e.source();
            }
            labelled(f, "caused by", &chain.join(": "))?;
        }
        if let Some(h) = &self.hint {
            labelled(f, "help", h)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_read_back_what_they_print() {
        for text in [
            "web.yaml",
            "web.yaml:12",
            "./dir/web.yaml:12:20",
            "--set a[x]=1",
        ] {
            assert_eq!(Location::parse(text).to_string(), text);
        }
        assert_eq!(Location::parse("a.yaml:3").line, 3);
        assert_eq!(Location::parse("a.yaml:3:4").col, 4);
        assert_eq!(Location::parse("a:b.yaml").file, "a:b.yaml");
    }

    #[test]
    fn prints_what_where_notes_cause_and_help() {
        let io = std::io::Error::other("disk on fire");
        let d = Diagnostic::new((), "cannot read the folder")
            .at("deploy/queue.yaml", 12, 20)
            .snippet(Some("  image: {{ .Values.x }}"))
            .note("first line\nsecond line")
            .caused_by(io)
            .hint("check the disk");
        let text = d.to_string();
        assert!(text.starts_with("cannot read the folder\n  --> deploy/queue.yaml:12:20\n"));
        assert!(text.contains("12 |   image: {{ .Values.x }}\n   |                    ^\n"));
        assert!(text.contains("  = note: first line\n          second line\n"));
        assert!(text.contains("  = caused by: disk on fire\n"));
        assert!(text.ends_with("  = help: check the disk\n"));
        assert_eq!(
            std::error::Error::source(&d).unwrap().to_string(),
            "disk on fire"
        );
    }
}
