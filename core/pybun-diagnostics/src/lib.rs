//! Diagnostics shared by every frontend.
//!
//! A [`Diagnostic`] is plain data: a stable [`Code`], a severity, a message,
//! where it happened (file and byte span, with 1-based line and column), the
//! causes and hints. Rendering (text, JSON, LSP) is the frontends' job.

mod code;

pub use code::Code;

use std::fmt;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
    Info,
}

impl Severity {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warning => "warning",
            Self::Info => "info",
        }
    }
}

/// A byte range in a source text, with the 1-based line and column of its start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Span {
    pub start: usize,
    pub end: usize,
    pub line: usize,
    pub column: usize,
}

impl Span {
    /// A span of `start..end` in `source`; line and column are computed (column counts characters).
    #[must_use]
    pub fn in_source(source: &str, start: usize, end: usize) -> Self {
        let start = start.min(source.len());
        let end = end.clamp(start, source.len());
        let before = &source[..floor_char_boundary(source, start)];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        Self { start, end, line, column }
    }
}

fn floor_char_boundary(s: &str, mut index: usize) -> usize {
    while index > 0 && !s.is_char_boundary(index) {
        index -= 1;
    }
    index
}

/// Where a diagnostic points: a file (path as given) and optionally a span in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    pub span: Option<Span>,
}

/// One problem, with everything a frontend needs to show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    /// One line, no trailing period, literals in backticks.
    pub message: String,
    pub location: Option<Location>,
    /// Label shown under the span (e.g. "expected a version").
    pub label: Option<String>,
    /// Explanation lines (e.g. the derivation of a conflict).
    pub causes: Vec<String>,
    pub hints: Vec<String>,
    /// Machine-readable ways to fix the problem (editor code actions), best first.
    pub fixes: Vec<Fix>,
}

/// A replacement of the text at `span` (byte offsets in the diagnostic's file) by `new_text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextEdit {
    pub span: Span,
    pub new_text: String,
}

/// A command a fix runs instead of (or after) editing text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FixCommand {
    /// Run the lock use case for the project the file belongs to (`pybun lock`).
    Lock,
}

impl FixCommand {
    /// The stable name frontends show (`lock`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Lock => "lock",
        }
    }
}

/// One way to fix a diagnostic: text edits in its file, and/or a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fix {
    /// What the fix does, e.g. "Use the latest release: `requests>=2.32.3`".
    pub title: String,
    /// Non-overlapping edits, applied together.
    pub edits: Vec<TextEdit>,
    pub command: Option<FixCommand>,
}

impl Fix {
    /// A fix replacing `span` with `new_text`.
    #[must_use]
    pub fn replace(title: impl Into<String>, span: Span, new_text: impl Into<String>) -> Self {
        Self { title: title.into(), edits: vec![TextEdit { span, new_text: new_text.into() }], command: None }
    }

    /// A fix that runs `command`.
    #[must_use]
    pub fn command(title: impl Into<String>, command: FixCommand) -> Self {
        Self { title: title.into(), edits: Vec::new(), command: Some(command) }
    }
}

impl Diagnostic {
    #[must_use]
    pub fn error(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            severity: Severity::Error,
            message: message.into(),
            location: None,
            label: None,
            causes: Vec::new(),
            hints: Vec::new(),
            fixes: Vec::new(),
        }
    }

    #[must_use]
    pub fn warning(code: Code, message: impl Into<String>) -> Self {
        Self { severity: Severity::Warning, ..Self::error(code, message) }
    }

    #[must_use]
    pub fn info(code: Code, message: impl Into<String>) -> Self {
        Self { severity: Severity::Info, ..Self::error(code, message) }
    }

    #[must_use]
    pub fn in_file(mut self, file: impl Into<String>) -> Self {
        self.location = Some(Location { file: file.into(), span: None });
        self
    }

    #[must_use]
    pub fn at(mut self, file: impl Into<String>, span: Span) -> Self {
        self.location = Some(Location { file: file.into(), span: Some(span) });
        self
    }

    #[must_use]
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    #[must_use]
    pub fn with_cause(mut self, cause: impl Into<String>) -> Self {
        self.causes.push(cause.into());
        self
    }

    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }

    #[must_use]
    pub fn with_fix(mut self, fix: Fix) -> Self {
        self.fixes.push(fix);
        self
    }

    #[must_use]
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    /// A plain one-block rendering (`error[PB0101]: message` plus location,
    /// causes and hints); frontends use their own richer renderers.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}]: {}", self.severity.as_str(), self.code.as_str(), self.message)?;
        if let Some(location) = &self.location {
            match location.span {
                Some(span) => write!(f, "\n  --> {}:{}:{}", location.file, span.line, span.column)?,
                None => write!(f, "\n  --> {}", location.file)?,
            }
        }
        for cause in &self.causes {
            write!(f, "\n  {cause}")?;
        }
        for hint in &self.hints {
            write!(f, "\n\nhint: {hint}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_lines_and_columns() {
        let source = "a = 1\nbé = [\n  x\n";
        let span = Span::in_source(source, source.find('x').unwrap(), source.len());
        assert_eq!((span.line, span.column), (3, 3));
        let span = Span::in_source(source, source.find('=').unwrap() + 8, source.len());
        assert_eq!(span.line, 2);
    }

    #[test]
    fn codes_are_unique_and_documented() {
        let mut seen = std::collections::HashSet::new();
        for code in Code::ALL {
            assert!(seen.insert(code.as_str()), "duplicate code {}", code.as_str());
            assert!(code.as_str().starts_with("PB") && code.as_str().len() == 6);
            assert!(!code.summary().is_empty());
        }
    }
}
