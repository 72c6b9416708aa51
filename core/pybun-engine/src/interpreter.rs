//! Choosing the interpreter for a project's environment.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use pybun_diagnostics::{Code, Diagnostic};
use pybun_env::{Interpreter, PythonRequest, RequestSource, parse_python_version_file, select_interpreter};
use pybun_pep::VersionSpecifiers;
use pybun_ports::{FileSystem, InterpreterError, Interpreters};

use crate::Failure;

/// The interpreter a command will use.
#[derive(Debug, Clone)]
pub(crate) enum PythonChoice {
    /// The existing environment's interpreter still satisfies every rule.
    Existing { interpreter: Interpreter },
    /// A (possibly) different interpreter, and why it won.
    New { interpreter: Interpreter, reason: String },
}

impl PythonChoice {
    pub(crate) fn interpreter(&self) -> &Interpreter {
        match self {
            Self::Existing { interpreter } | Self::New { interpreter, .. } => interpreter,
        }
    }
}

/// The request from `--python`, else the project's `.python-version`.
pub(crate) fn python_request(
    fs: &dyn FileSystem,
    root: &Path,
    flag: Option<&str>,
) -> Result<Option<(PythonRequest, RequestSource)>, Failure> {
    if let Some(text) = flag {
        let request = PythonRequest::from_str(text).map_err(|e| {
            Failure::new(
                Diagnostic::error(Code::InvalidPythonRequest, e.to_string())
                    .with_hint("pass `--python 3.12`, `--python '>=3.10,<3.13'` or `--python /path/to/python`"),
            )
        })?;
        let request = match request {
            PythonRequest::Path(path) if path.is_relative() => PythonRequest::Path(root.join(path)),
            other => other,
        };
        return Ok(Some((request, RequestSource::Flag)));
    }
    let path = root.join(".python-version");
    let Ok(text) = fs.read_to_string(&path) else { return Ok(None) };
    match parse_python_version_file(&text) {
        Ok(Some(request)) => Ok(Some((request, RequestSource::PythonVersionFile { path }))),
        Ok(None) => Ok(None),
        Err(e) => {
            let line = text
                .lines()
                .position(|l| !l.trim().is_empty() && !l.trim().starts_with('#'))
                .map_or(1, |i| i + 1);
            Err(Failure::new(
                Diagnostic::error(Code::InvalidPythonRequest, format!("{e} (line {line})"))
                    .in_file(path.display().to_string())
                    .with_hint("write a version such as `3.12` on the first line of `.python-version`"),
            ))
        }
    }
}

/// Choose the interpreter: keep `existing` (a venv's) when it satisfies the
/// request and `requires-python`; else inspect a path request, or discover
/// the machine's interpreters and select among them.
pub(crate) fn choose_interpreter(
    fs: &dyn FileSystem,
    interpreters: &dyn Interpreters,
    root: &Path,
    flag: Option<&str>,
    requires_python: Option<&VersionSpecifiers>,
    existing: Option<&Interpreter>,
) -> Result<PythonChoice, Failure> {
    let request = python_request(fs, root, flag)?;
    if let Some(existing) = existing {
        let request_ok = match &request {
            None => true,
            // A path names the base interpreter: compare after inspecting it.
            Some((PythonRequest::Path(path), _)) => match interpreters.inspect(path) {
                Ok(found) => found.sys_executable == existing.sys_executable,
                Err(_) => false,
            },
            Some((request, _)) => request.matches(existing),
        };
        let requires_ok = requires_python.is_none_or(|r| r.contains(&existing.version()));
        if request_ok && requires_ok {
            return Ok(PythonChoice::Existing { interpreter: existing.clone() });
        }
    }
    let candidates = match &request {
        Some((PythonRequest::Path(path), _)) => {
            vec![interpreters.inspect(&resolve_env_path(fs, path)).map_err(interpreter_failure)?]
        }
        _ => interpreters.discover(),
    };
    let selection = select_interpreter(&candidates, request.as_ref().map(|(r, s)| (r, s)), requires_python)
        .map_err(|e| Failure::new(Diagnostic::error(Code::InterpreterNotFound, e.to_string()).with_hint(e.hint())))?;
    Ok(PythonChoice::New { interpreter: selection.interpreter, reason: selection.reason })
}

/// A path request may name an environment directory: use its `bin/python`.
fn resolve_env_path(fs: &dyn FileSystem, path: &Path) -> PathBuf {
    let candidate = path.join("bin").join("python");
    if fs.exists(&path.join("pyvenv.cfg")) && fs.exists(&candidate) {
        return candidate;
    }
    path.to_path_buf()
}

pub(crate) fn interpreter_failure(error: InterpreterError) -> Failure {
    let hint = match &error {
        InterpreterError::NotExecutable { .. } => "check the path, or pass a version like `--python 3.12` instead",
        InterpreterError::ProbeFailed { .. } => "the interpreter may be broken or older than 3.7; choose another with `--python`",
    };
    Failure::new(Diagnostic::error(Code::InterpreterNotFound, error.to_string()).with_hint(hint))
}
