//! The interpreters port: finding Python installations and reading their facts.

use std::path::{Path, PathBuf};

use pybun_env::Interpreter;

/// Why an interpreter could not be inspected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterpreterError {
    /// The path does not exist or is not executable.
    #[error("`{path}` is not an executable Python interpreter: {reason}")]
    NotExecutable { path: PathBuf, reason: String },
    /// The probe ran but its answer could not be read (too old a Python, a broken install).
    #[error("could not read the facts of `{path}`: {reason}")]
    ProbeFailed { path: PathBuf, reason: String },
}

/// Finds interpreters and reads their facts.
///
/// Adapters run each interpreter once with a probe script and cache the
/// answer by the executable's path and modification time, so asking again is
/// a `stat`, not a subprocess.
pub trait Interpreters: Send + Sync {
    /// Every interpreter found on the machine, in discovery order: PyBun's
    /// managed ones, `PATH`, `/usr/bin`, `~/.pyenv/versions/*`. Interpreters
    /// that fail to probe are skipped (and logged); duplicates (the same
    /// `sys.executable`) appear once.
    fn discover(&self) -> Vec<Interpreter>;

    /// The facts of the interpreter at `path`.
    ///
    /// # Errors
    /// When it cannot be run or its answer read.
    fn inspect(&self, path: &Path) -> Result<Interpreter, InterpreterError>;
}
