//! `pybun add`, `pybun remove` and `pybun init`: edit `pyproject.toml`, lock, sync.
//!
//! `add`/`remove` change `pyproject.toml` (keeping its formatting), lock,
//! and, unless told not to, sync. When the lock fails (no solution, unknown
//! package, unreachable index), `pyproject.toml` is written back exactly as
//! it was and the lock is untouched.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use pybun_diagnostics::{Code, Diagnostic};
use pybun_ports::{FileSystem, Interpreters};
use pybun_pep::{PackageName, WheelFilename};
use pybun_project::{
    DependencyTarget, add_requirement, gitignore_template, init_pyproject, normalize_project_name, parse_pyproject,
    remove_requirement,
};

use crate::Failure;
use crate::interpreter::choose_interpreter;
use crate::lock::{LockOutcome, LockRequest, lock};
use crate::project::find_project_root;
use crate::sync::{LockMode, SyncOutcome, SyncPorts, SyncRequest, sync};

/// What to change in `pyproject.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditOperation {
    /// Add these PEP 508 requirements.
    Add(Vec<String>),
    /// Remove these package names.
    Remove(Vec<String>),
}

/// `add` / `remove`.
#[derive(Debug, Clone)]
pub struct EditRequest {
    pub operation: EditOperation,
    /// Where: `[project] dependencies` (`None` for remove means the same), an extra or a group.
    pub target: Option<DependencyTarget>,
    /// Then sync with these settings (its `directory` is the project's); `None`: lock only.
    pub sync: Option<SyncRequest>,
    /// The directory to start from, and the index to lock with.
    pub directory: PathBuf,
    pub index: crate::IndexSettings,
    /// `--frozen`: edit only, neither lock nor sync.
    pub frozen: bool,
}

/// What changed.
#[derive(Debug, Clone)]
pub struct EditOutcome {
    pub pyproject: PathBuf,
    /// The entries written (add) or removed (remove), as they appear in the file.
    pub entries: Vec<String>,
    /// Entries replaced by `add` (same name and marker).
    pub replaced: Vec<String>,
    /// Where the edit went, e.g. "`[project] dependencies`".
    pub target: String,
    pub lock: Option<LockOutcome>,
    pub sync: Option<SyncOutcome>,
}

/// `pybun add ./dist/x-1.0-py3-none-any.whl`, `pybun add ../tree`,
/// `pybun add https://host/x-1.0.tar.gz`: a path or URL of a wheel or sdist,
/// or the path of a source tree, becomes the direct URL requirement
/// `name @ url` (the name from the filename, or from the tree's
/// `[project] name`). `None` when `text` is a PEP 508 requirement already,
/// or names nothing that exists (it is then reported as a requirement).
///
/// # Errors
/// A source tree whose `pyproject.toml` names no project.
fn requirement_from_location(fs: &dyn FileSystem, directory: &Path, text: &str) -> Result<Option<String>, Failure> {
    if pybun_pep::parse_requirement(text).is_ok() {
        return Ok(None);
    }
    let name_from_filename = |filename: &str| -> Option<String> {
        if filename.ends_with(".whl") {
            return WheelFilename::from_str(filename).ok().map(|wheel| wheel.name.to_string());
        }
        let stem = [".tar.gz", ".zip"].iter().find_map(|ext| filename.strip_suffix(ext))?;
        let (name, _version) = stem.rsplit_once('-')?;
        PackageName::from_str(name).ok().map(|name| name.to_string())
    };
    if text.starts_with("http://") || text.starts_with("https://") {
        let filename = text.split(['?', '#']).next().unwrap_or(text).rsplit('/').next().unwrap_or_default();
        return Ok(name_from_filename(filename).map(|name| format!("{name} @ {text}")));
    }
    let path = lexically_normal(&directory.join(text));
    if fs.is_dir(&path) {
        let pyproject = path.join("pyproject.toml");
        let Ok(source) = fs.read_to_string(&pyproject) else { return Ok(None) };
        let name = parse_pyproject(&source, &pyproject.display().to_string()).project.and_then(|project| project.name).ok_or_else(|| {
            Failure::new(
                Diagnostic::error(Code::ProjectTable, format!("`{}` names no project", pyproject.display()))
                    .in_file(pyproject.display().to_string())
                    .with_hint("a source tree to add needs `[project] name` in its `pyproject.toml`"),
            )
        })?;
        return Ok(pybun_pep::path_file_url(&path).map(|url| format!("{} @ {url}", name.value)));
    }
    let filename = path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    match name_from_filename(&filename) {
        Some(name) if fs.exists(&path) => Ok(pybun_pep::path_file_url(&path).map(|url| format!("{name} @ {url}"))),
        _ => Ok(None),
    }
}

/// `path` with `.` and `..` components resolved without looking at the disk.
fn lexically_normal(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Add or remove requirements, then lock and (optionally) sync.
///
/// # Errors
/// An invalid requirement, a name that is not there to remove, or a failed
/// lock (then `pyproject.toml` is restored byte for byte) or sync.
pub fn edit_dependencies(request: &EditRequest, ports: &SyncPorts<'_>) -> Result<EditOutcome, Failure> {
    let root = find_project_root(ports.fs, &request.directory).ok_or_else(|| {
        Failure::new(
            Diagnostic::error(Code::PyprojectNotFound, format!("no `pyproject.toml` found in `{}` or any parent directory", request.directory.display()))
                .with_hint("create a project first with `pybun init`"),
        )
    })?;
    let path = root.join("pyproject.toml");
    let file = path.display().to_string();
    let original = ports.fs.read_to_string(&path).map_err(|e| Failure::io(&path, &e, "read"))?;
    let in_file = |mut diagnostic: Diagnostic| {
        if let Some(location) = &mut diagnostic.location {
            location.file.clone_from(&file);
        } else {
            diagnostic = diagnostic.in_file(file.clone());
        }
        Failure::new(diagnostic)
    };

    let mut text = original.clone();
    let mut entries = Vec::new();
    let mut replaced = Vec::new();
    let target = request.target.clone().unwrap_or(DependencyTarget::Main);
    match &request.operation {
        EditOperation::Add(requirements) => {
            for given in requirements {
                let requirement = requirement_from_location(ports.fs, &request.directory, given)?.unwrap_or_else(|| given.clone());
                let edit = add_requirement(&text, &requirement, target.clone()).map_err(in_file)?;
                text = edit.text;
                entries.push(requirement);
                replaced.extend(edit.replaced);
            }
        }
        EditOperation::Remove(names) => {
            for name in names {
                let edit = remove_requirement(&text, name, request.target.clone()).map_err(in_file)?;
                text = edit.text;
                entries.extend(edit.removed);
            }
        }
    }
    if text != original {
        ports.fs.write_atomic(&path, text.as_bytes()).map_err(|e| Failure::io(&path, &e, "write"))?;
    }
    let mut outcome = EditOutcome { pyproject: path.clone(), entries, replaced, target: target.describe(), lock: None, sync: None };
    if request.frozen {
        return Ok(outcome);
    }

    let locked = lock(
        &LockRequest {
            directory: root.clone(),
            index: request.index.clone(),
            keep_settings: true,
            ..LockRequest::default()
        },
        ports.fs,
        ports.open_index,
        ports.reporter,
    );
    let locked = match locked {
        Ok(locked) => locked,
        Err(failure) => {
            // Leave the project exactly as it was.
            if text != original {
                ports.fs.write_atomic(&path, original.as_bytes()).map_err(|e| Failure::io(&path, &e, "restore"))?;
            }
            return Err(failure);
        }
    };
    outcome.lock = Some(locked);
    if let Some(sync_request) = &request.sync {
        let sync_request = SyncRequest { directory: root, lock_mode: LockMode::Auto, ..sync_request.clone() };
        outcome.sync = Some(sync(&sync_request, ports)?);
    }
    Ok(outcome)
}

/// `pybun init`.
#[derive(Debug, Clone, Default)]
pub struct InitRequest {
    /// The project directory (created if missing).
    pub directory: PathBuf,
    pub name: Option<String>,
    /// The interpreter to pin (`.python-version`) [default: the one PyBun would choose].
    pub python: Option<String>,
    /// Add a `[build-system]` and a `src/<module>/__init__.py`.
    pub package: bool,
}

/// What `init` wrote.
#[derive(Debug, Clone)]
pub struct InitOutcome {
    pub directory: PathBuf,
    pub name: String,
    pub python_version: String,
    /// The files written, relative to the directory.
    pub files: Vec<String>,
}

/// Create a project.
///
/// # Errors
/// An existing `pyproject.toml`, an unusable directory name, no interpreter.
pub fn init(request: &InitRequest, fs: &dyn FileSystem, interpreters: &dyn Interpreters) -> Result<InitOutcome, Failure> {
    let dir = &request.directory;
    let pyproject = dir.join("pyproject.toml");
    if fs.exists(&pyproject) {
        return Err(Failure::new(
            Diagnostic::error(Code::ProjectTable, format!("`{}` already exists", pyproject.display()))
                .in_file(pyproject.display().to_string())
                .with_hint("`pybun init` creates new projects; use `pybun add` to change this one"),
        ));
    }
    let name = match &request.name {
        Some(name) => normalize_project_name(name),
        None => normalize_project_name(&dir_name(dir)),
    }
    .map_err(Failure::new)?;
    let choice = choose_interpreter(fs, interpreters, dir, request.python.as_deref(), None, None)?;
    let interpreter = choice.interpreter();
    let minor = format!("{}.{}", interpreter.major, interpreter.minor);

    let mut files = Vec::new();
    let mut write = |relative: &str, contents: &str, only_if_missing: bool| -> Result<(), Failure> {
        let path = dir.join(relative);
        if only_if_missing && fs.exists(&path) {
            return Ok(());
        }
        fs.write_atomic(&path, contents.as_bytes()).map_err(|e| Failure::io(&path, &e, "write"))?;
        files.push(relative.to_string());
        Ok(())
    };
    write("pyproject.toml", &init_pyproject(&name, &format!(">={minor}"), request.package), false)?;
    write(".python-version", &format!("{minor}\n"), true)?;
    write(".gitignore", gitignore_template(), true)?;
    let module = name.replace('-', "_");
    if request.package {
        write(
            &format!("src/{module}/__init__.py"),
            &format!("def main() -> None:\n    print(\"Hello from {name}!\")\n"),
            true,
        )?;
    } else {
        write(
            "main.py",
            &format!("def main() -> None:\n    print(\"Hello from {name}!\")\n\n\nif __name__ == \"__main__\":\n    main()\n"),
            true,
        )?;
    }
    Ok(InitOutcome { directory: dir.clone(), name, python_version: minor, files })
}

fn dir_name(dir: &Path) -> String {
    dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}
