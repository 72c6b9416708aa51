//! Finding and reading the project.

use std::path::{Path, PathBuf};
use std::str::FromStr as _;

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
    /// The file's text (spans point into it), when it was read.
    pub(crate) text: String,
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
    Ok(LoadedProject { root, pyproject_path, project, warnings, text })
}

/// A PEP 723 script read as a project: its name from the file name, its
/// `dependencies` and `requires-python` from the `# /// script` block.
pub(crate) fn load_script(fs: &dyn FileSystem, script: &Path) -> Result<LoadedProject, Failure> {
    let text = fs.read_to_string(script).map_err(|e| Failure::io(script, &e, "read"))?;
    let file = script.display().to_string();
    let parsed = pybun_project::parse_script(&text, &file);
    let (errors, warnings): (Vec<Diagnostic>, Vec<Diagnostic>) = parsed.diagnostics.into_iter().partition(Diagnostic::is_error);
    if !errors.is_empty() {
        return Err(Failure::from_diagnostics(errors));
    }
    let metadata = parsed.metadata.ok_or_else(|| {
        Failure::new(
            Diagnostic::error(Code::ProjectTable, format!("`{file}` has no `# /// script` metadata block (PEP 723)"))
                .in_file(file.clone())
                .with_hint("add a block:\n# /// script\n# dependencies = [\"requests\"]\n# ///"),
        )
    })?;
    let project = script_project(script, metadata);
    let root = script.parent().map_or_else(PathBuf::new, Path::to_path_buf);
    Ok(LoadedProject { root, pyproject_path: script.to_path_buf(), project, warnings, text })
}

/// A PEP 723 script's metadata as a project: its name from the file name,
/// its `[tool.pybun]` index settings (what `pybun run` uses) as the project's.
pub(crate) fn script_project(script: &Path, metadata: pybun_project::ScriptMetadata) -> Project {
    let stem = script.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "script".into());
    let name = pybun_project::normalize_project_name(&stem).ok().and_then(|n| pybun_pep::PackageName::from_str(&n).ok());
    Project {
        name: name.map(|value| pybun_project::Spanned { value, span: pybun_diagnostics::Span::in_source("", 0, 0) }),
        requires_python: metadata.requires_python,
        dependencies: metadata.dependencies,
        has_project_table: true,
        // The block's `[tool.pybun]` index settings, as `pybun run` uses them.
        tool: pybun_project::ToolPybun {
            index_url: metadata.tool_pybun.index_url,
            extra_index_urls: metadata.tool_pybun.extra_index_urls,
            ..pybun_project::ToolPybun::default()
        },
        ..Project::default()
    }
}
