//! Text rendering of diagnostics: a source snippet with the span underlined
//! when there is one, then causes and `hint:` lines.

use std::fmt::Write as _;

use annotate_snippets::{Level, Renderer, Snippet};
use pybun_engine::{Diagnostic, Failure, Severity};

fn level(severity: Severity) -> Level {
    match severity {
        Severity::Error => Level::Error,
        Severity::Warning => Level::Warning,
        Severity::Info => Level::Info,
    }
}

/// Render one diagnostic (reading the file for the snippet when there is a span).
pub(crate) fn diagnostic(diagnostic: &Diagnostic) -> String {
    let mut out = String::new();
    let source = diagnostic
        .location
        .as_ref()
        .and_then(|l| l.span.map(|span| (l, span)))
        .and_then(|(location, span)| std::fs::read_to_string(&location.file).ok().map(|text| (location, span, text)));
    match source {
        Some((location, span, text)) if span.end <= text.len() => {
            let end = if span.end == span.start { (span.start + 1).min(text.len()) } else { span.end };
            let label = diagnostic.label.as_deref().unwrap_or("");
            let message = level(diagnostic.severity)
                .title(&diagnostic.message)
                .id(diagnostic.code.as_str())
                .snippet(
                    Snippet::source(&text)
                        .line_start(1)
                        .origin(&location.file)
                        .fold(true)
                        .annotation(level(diagnostic.severity).span(span.start..end).label(label)),
                );
            let renderer = if anstream::stderr().is_terminal_like() { Renderer::styled() } else { Renderer::plain() };
            let _ = write!(out, "{}", renderer.render(message));
        }
        _ => {
            let _ = write!(out, "{}[{}]: {}", diagnostic.severity.as_str(), diagnostic.code.as_str(), diagnostic.message);
            if let Some(location) = &diagnostic.location {
                match location.span {
                    Some(span) => {
                        let _ = write!(out, "\n  --> {}:{}:{}", location.file, span.line, span.column);
                    }
                    None => {
                        let _ = write!(out, "\n  --> {}", location.file);
                    }
                }
            }
        }
    }
    if !diagnostic.causes.is_empty() {
        out.push('\n');
        for cause in &diagnostic.causes {
            let _ = write!(out, "\n  {cause}");
        }
    }
    for hint in &diagnostic.hints {
        let _ = write!(out, "\n\nhint: {hint}");
    }
    out
}

/// Render a failure and the related diagnostics.
pub(crate) fn failure(failure: &Failure) -> String {
    let mut out = diagnostic(&failure.diagnostic);
    for related in &failure.related {
        out.push_str("\n\n");
        out.push_str(&diagnostic(related));
    }
    out
}

trait TerminalLike {
    fn is_terminal_like(&self) -> bool;
}

impl TerminalLike for anstream::Stderr {
    fn is_terminal_like(&self) -> bool {
        use std::io::IsTerminal as _;
        std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
    }
}
