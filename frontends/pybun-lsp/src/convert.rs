//! Core diagnostics → LSP diagnostics. The one place that knows both.

use pybun_diagnostics::{Code, Diagnostic, Severity};
use tower_lsp_server::ls_types::{self as lsp, NumberOrString, Uri};

use crate::position::{Encoding, to_range};

/// The `source` every PyBun diagnostic carries.
pub const SOURCE: &str = "pybun";

/// The byte range of a diagnostic in its file (`0..0` for whole-file problems).
#[must_use]
pub fn byte_range(diagnostic: &Diagnostic) -> (usize, usize) {
    diagnostic.location.as_ref().and_then(|l| l.span).map_or((0, 0), |span| (span.start, span.end))
}

fn severity(severity: Severity) -> lsp::DiagnosticSeverity {
    match severity {
        Severity::Error => lsp::DiagnosticSeverity::ERROR,
        Severity::Warning => lsp::DiagnosticSeverity::WARNING,
        Severity::Info => lsp::DiagnosticSeverity::INFORMATION,
    }
}

/// The message an editor shows: the message, the label when it adds to it,
/// the causes (a conflict's derivation) and the hints, one per line.
#[must_use]
pub fn message(diagnostic: &Diagnostic) -> String {
    let mut text = diagnostic.message.clone();
    if let Some(label) = &diagnostic.label
        && !diagnostic.message.contains(label.as_str())
    {
        text.push_str(": ");
        text.push_str(label);
    }
    for cause in &diagnostic.causes {
        text.push('\n');
        text.push_str(cause);
    }
    for hint in &diagnostic.hints {
        text.push_str("\nhint: ");
        text.push_str(hint);
    }
    text
}

/// Convert the diagnostics of one document (`text`, at `uri`).
///
/// A conflict (`PB0300`) is attached to each requirement involved; each of
/// those diagnostics lists the other requirements as related information.
#[must_use]
pub fn to_lsp(diagnostics: &[Diagnostic], text: &str, uri: &Uri, encoding: Encoding) -> Vec<lsp::Diagnostic> {
    let conflict_sites: Vec<(lsp::Range, String)> = diagnostics
        .iter()
        .filter(|d| d.code == Code::NoSolution && d.location.as_ref().and_then(|l| l.span).is_some())
        .map(|d| {
            let (start, end) = byte_range(d);
            (to_range(text, start, end, encoding), text.get(start..end).unwrap_or_default().to_string())
        })
        .collect();
    diagnostics
        .iter()
        .map(|diagnostic| {
            let (start, end) = byte_range(diagnostic);
            let range = to_range(text, start, end, encoding);
            let related = (diagnostic.code == Code::NoSolution && conflict_sites.len() > 1).then(|| {
                conflict_sites
                    .iter()
                    .filter(|(other, _)| *other != range)
                    .map(|(other, written)| lsp::DiagnosticRelatedInformation {
                        location: lsp::Location { uri: uri.clone(), range: *other },
                        message: format!("also part of the conflict: {written}"),
                    })
                    .collect()
            });
            lsp::Diagnostic {
                range,
                severity: Some(severity(diagnostic.severity)),
                code: Some(NumberOrString::String(diagnostic.code.as_str().to_string())),
                code_description: None,
                source: Some(SOURCE.to_string()),
                message: message(diagnostic),
                related_information: related,
                tags: None,
                data: None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pybun_diagnostics::Span;
    use std::str::FromStr as _;

    #[test]
    fn converts_severity_code_range_and_related_conflicts() {
        let text = "dependencies = [\"a>=2\", \"b<1\"]\n";
        let span = |needle: &str| {
            let start = text.find(needle).unwrap();
            Span::in_source(text, start, start + needle.len())
        };
        let conflict = |needle: &str| {
            Diagnostic::error(Code::NoSolution, "no set of versions satisfies the requirements")
                .with_cause("a>=2 depends on b>=1")
                .at("pyproject.toml", span(needle))
        };
        let diagnostics = vec![
            conflict("\"a>=2\""),
            conflict("\"b<1\""),
            Diagnostic::info(Code::LockStale, "stale").with_hint("run `pybun lock`"),
        ];
        let uri = Uri::from_str("file:///p/pyproject.toml").unwrap();
        let converted = to_lsp(&diagnostics, text, &uri, Encoding::Utf16);
        assert_eq!(converted[0].range, lsp::Range::new(lsp::Position::new(0, 16), lsp::Position::new(0, 22)));
        assert_eq!(converted[0].code, Some(NumberOrString::String("PB0300".into())));
        assert_eq!(converted[0].source.as_deref(), Some("pybun"));
        assert_eq!(converted[0].message, "no set of versions satisfies the requirements\na>=2 depends on b>=1");
        let related = converted[0].related_information.as_ref().unwrap();
        assert_eq!(related.len(), 1);
        assert_eq!(related[0].location.range.start, lsp::Position::new(0, 24));
        assert_eq!(converted[2].severity, Some(lsp::DiagnosticSeverity::INFORMATION));
        assert_eq!(converted[2].range, lsp::Range::default());
        assert_eq!(converted[2].message, "stale\nhint: run `pybun lock`");
    }
}
