//! Finding and reading the project.

use std::path::{Path, PathBuf};

use pybun_diagnostics::{Code, Diagnostic};
use pybun_ports::FileSystem;
use pybun_project::{Project, parse_pyproject};

use crate::Failure;

/// The nearest directory at or above `start` holding a `pyproject.toml`.
#[must_use]
pub fn find_project_root(fs: &dyn FileSystem, start: &Path) -> Option<PathBuf> {
    start.ancestors().find(|dir| fs.exists(&dir.join("pyproject.toml"))).map(Path::to_path_buf)
}

/// A project read from disk.
pub(crate) struct LoadedProject {
    pub(crate) root: PathBuf,
    pub(crate) pyproject_path: PathBuf,
    pub(crate) project: Project,
    pub(crate) warnings: Vec<Diagnostic>,
}

pub(crate) fn load_project(fs: &dyn FileSystem, directory: &Path) -> Result<LoadedProject, Failure> {
    let root = find_project_root(fs, directory).ok_or_else(|| {
        Failure::new(
            Diagnostic::error(
                Code::PyprojectNotFound,
                format!("no `pyproject.toml` found in `{}` or any parent directory", directory.display()),
            )
            .with_hint("run the command inside a project, pass `--directory`, or create one with a `[project]` table"),
        )
    })?;
    let pyproject_path = root.join("pyproject.toml");
    let text = fs.read_to_string(&pyproject_path).map_err(|e| Failure::io(&pyproject_path, &e, "read"))?;
    let file = pyproject_path.display().to_string();
    let parsed = parse_pyproject(&text, &file);
    let (errors, warnings): (Vec<Diagnostic>, Vec<Diagnostic>) =
        parsed.diagnostics.into_iter().partition(Diagnostic::is_error);
    if !errors.is_empty() {
        let mut all = errors;
        all.extend(warnings);
        return Err(Failure::from_diagnostics(all));
    }
    let project = parsed.project.ok_or_else(|| {
        Failure::new(
            Diagnostic::error(Code::ProjectTable, "`pyproject.toml` has no `[project]` table")
                .in_file(file.clone())
                .with_hint("add a `[project]` table with `name`, `version` and `dependencies`"),
        )
    })?;
    Ok(LoadedProject { root, pyproject_path, project, warnings })
}
