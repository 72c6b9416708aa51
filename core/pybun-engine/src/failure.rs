//! The error every use case returns.

use pybun_diagnostics::{Code, Diagnostic};
use pybun_resolver::ConflictReport;

/// Why a use case failed: one main diagnostic, any related ones, and for a
/// resolution conflict the explanation as data.
#[derive(Debug, Clone)]
pub struct Failure {
    /// Boxed: failures travel in `Result`s, which should stay small.
    pub diagnostic: Box<Diagnostic>,
    /// Further problems found in the same pass (e.g. every error in a `pyproject.toml`).
    pub related: Vec<Diagnostic>,
    pub conflict: Option<Box<ConflictReport>>,
}

impl Failure {
    #[must_use]
    pub fn new(diagnostic: Diagnostic) -> Self {
        Self { diagnostic: Box::new(diagnostic), related: Vec::new(), conflict: None }
    }

    /// A failure from several diagnostics (the first error is the main one).
    #[must_use]
    pub fn from_diagnostics(mut diagnostics: Vec<Diagnostic>) -> Self {
        let main = diagnostics.iter().position(Diagnostic::is_error).unwrap_or(0);
        if diagnostics.is_empty() {
            return Self::new(Diagnostic::error(Code::Internal, "failed without a diagnostic"));
        }
        let diagnostic = diagnostics.remove(main);
        Self { diagnostic: Box::new(diagnostic), related: diagnostics, conflict: None }
    }

    pub(crate) fn io(path: &std::path::Path, error: &std::io::Error, action: &str) -> Self {
        Self::new(
            Diagnostic::error(Code::Io, format!("could not {action} `{}`: {error}", path.display()))
                .in_file(path.display().to_string()),
        )
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.diagnostic.fmt(f)
    }
}
