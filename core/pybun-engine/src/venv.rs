//! `pybun venv`: create a virtual environment for a chosen interpreter.

use std::path::PathBuf;

use pybun_ports::{Event, FileSystem, Interpreters, Environments, Reporter, VenvOptions};

use crate::Failure;
use crate::interpreter::{PythonChoice, choose_interpreter};
use crate::project::find_project_root;
use crate::sync::environment_failure;

/// What to create.
#[derive(Debug, Clone, Default)]
pub struct VenvRequest {
    /// Where the command runs (a project here or above gives `requires-python` and `.python-version`).
    pub directory: PathBuf,
    /// The venv directory [default: `.venv` in the project root, else in `directory`].
    pub path: Option<PathBuf>,
    pub python: Option<String>,
    pub prompt: Option<String>,
    pub system_site_packages: bool,
    pub clear: bool,
}

/// What was created.
#[derive(Debug, Clone)]
pub struct VenvOutcome {
    pub path: PathBuf,
    pub python: PathBuf,
    pub python_version: String,
    /// Why this interpreter.
    pub python_reason: String,
}

/// Create (or reuse) a venv.
///
/// # Errors
/// No matching interpreter, or a path that holds something else.
pub fn create_venv(
    request: &VenvRequest,
    fs: &dyn FileSystem,
    interpreters: &dyn Interpreters,
    environments: &dyn Environments,
    reporter: &dyn Reporter,
) -> Result<VenvOutcome, Failure> {
    let root = find_project_root(fs, &request.directory).unwrap_or_else(|| request.directory.clone());
    let requires_python = match fs.read_to_string(&root.join("pyproject.toml")) {
        Ok(text) => pybun_project::parse_pyproject(&text, "pyproject.toml")
            .project
            .and_then(|p| p.requires_python.map(|r| r.value)),
        Err(_) => None,
    };
    let path = match &request.path {
        Some(path) if path.is_relative() => request.directory.join(path),
        Some(path) => path.clone(),
        None => root.join(".venv"),
    };
    let choice = choose_interpreter(fs, interpreters, &root, request.python.as_deref(), requires_python.as_ref(), None)?;
    let reason = match &choice {
        PythonChoice::New { reason, .. } => reason.clone(),
        PythonChoice::Existing { .. } => String::new(),
    };
    let venv = environments
        .create_venv(
            &path,
            choice.interpreter(),
            &VenvOptions { prompt: request.prompt.clone(), system_site_packages: request.system_site_packages, clear: request.clear },
        )
        .map_err(environment_failure)?;
    reporter.report(Event::VenvCreated { path: venv.root.clone(), python: venv.interpreter.python_full_version.clone() });
    Ok(VenvOutcome { path: venv.root, python: venv.python, python_version: venv.interpreter.python_full_version, python_reason: reason })
}
