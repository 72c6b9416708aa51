//! `pybun python list|find|install|pin|uninstall`.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use pybun_diagnostics::{Code, Diagnostic};
use pybun_env::{Interpreter, PythonRequest};
use pybun_lockfile::ExportSelection;
use pybun_ports::{FileSystem, InstalledRuntime, Interpreters, PythonRuntimes, RuntimeDownload, RuntimeError};

use crate::Failure;
use crate::interpreter::{PythonChoice, choose_interpreter, interpreter_failure};
use crate::lock::read_existing;
use crate::project::find_project_root;
use crate::sync::{WantedKind, wanted_packages};

/// One interpreter of `python list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedPython {
    pub implementation: String,
    pub version: String,
    pub path: PathBuf,
    pub free_threaded: bool,
    /// Installed by PyBun (`pybun python install`).
    pub managed: bool,
}

/// `python list`.
#[derive(Debug, Clone)]
pub struct PythonListOutcome {
    /// Found on the machine, in discovery order.
    pub installed: Vec<ListedPython>,
    /// Builds `pybun python install` can download (not installed yet).
    pub downloads: Vec<RuntimeDownload>,
}

/// Interpreters found, and builds that could be installed.
#[must_use]
pub fn python_list(interpreters: &dyn Interpreters, runtimes: &dyn PythonRuntimes, with_downloads: bool) -> PythonListOutcome {
    let managed: Vec<PathBuf> = runtimes.installed().iter().map(|r| r.python.clone()).collect();
    let managed_dirs: Vec<PathBuf> =
        managed.iter().filter_map(|p| p.parent().and_then(Path::parent).map(Path::to_path_buf)).collect();
    let installed: Vec<ListedPython> = interpreters
        .discover()
        .into_iter()
        .map(|i| ListedPython {
            managed: managed_dirs.iter().any(|d| i.path.starts_with(d) || i.sys_executable.starts_with(d)),
            free_threaded: i.gil_disabled,
            implementation: i.implementation_name,
            version: i.python_full_version,
            path: i.path,
        })
        .collect();
    let downloads = if with_downloads {
        let have: Vec<&str> = installed.iter().filter(|i| i.managed).map(|i| i.version.as_str()).collect();
        runtimes.available().into_iter().filter(|d| !have.contains(&d.version.as_str())).collect()
    } else {
        Vec::new()
    };
    PythonListOutcome { installed, downloads }
}

/// `python find`: the interpreter a project command would use here, and why.
///
/// # Errors
/// An invalid request, or no interpreter matches.
pub fn python_find(
    fs: &dyn FileSystem,
    interpreters: &dyn Interpreters,
    directory: &Path,
    request: Option<&str>,
) -> Result<(Interpreter, String), Failure> {
    let root = find_project_root(fs, directory).unwrap_or_else(|| directory.to_path_buf());
    let requires_python = project_requires_python(fs, &root);
    match choose_interpreter(fs, interpreters, &root, request, requires_python.as_ref(), None)? {
        PythonChoice::New { interpreter, reason } => Ok((interpreter, reason)),
        PythonChoice::Existing { interpreter } => Ok((interpreter, String::new())),
    }
}

fn project_requires_python(fs: &dyn FileSystem, root: &Path) -> Option<pybun_pep::VersionSpecifiers> {
    let text = fs.read_to_string(&root.join("pyproject.toml")).ok()?;
    pybun_project::parse_pyproject(&text, "pyproject.toml").project?.requires_python.map(|r| r.value)
}

fn parse_request(text: &str) -> Result<PythonRequest, Failure> {
    PythonRequest::from_str(text).map_err(|e| {
        Failure::new(Diagnostic::error(Code::InvalidPythonRequest, e.to_string()).with_hint("e.g. `3.12`, `3.13.1`, `3.13t` or `>=3.11,<3.13`"))
    })
}

/// `python install`: the build, and warnings for a project whose lock has no wheels for it.
///
/// # Errors
/// No build for the request, a hash mismatch, offline without the archive.
pub fn python_install(
    fs: &dyn FileSystem,
    interpreters: &dyn Interpreters,
    runtimes: &dyn PythonRuntimes,
    directory: &Path,
    request: &str,
) -> Result<(InstalledRuntime, Vec<Diagnostic>), Failure> {
    let parsed = parse_request(request)?;
    let installed = runtimes.install(&parsed).map_err(runtime_failure)?;
    let interpreter = interpreters.inspect(&installed.runtime.python).map_err(interpreter_failure)?;
    let warnings = abi_warnings(fs, directory, &interpreter);
    Ok((installed, warnings))
}

/// `python uninstall`: the directories removed.
///
/// # Errors
/// An invalid request or an IO failure; nothing matching is an error too.
pub fn python_uninstall(runtimes: &dyn PythonRuntimes, request: &str) -> Result<Vec<PathBuf>, Failure> {
    let parsed = parse_request(request)?;
    let removed = runtimes.uninstall(&parsed).map_err(runtime_failure)?;
    if removed.is_empty() {
        let installed: Vec<String> = runtimes.installed().into_iter().map(|r| format!("`{}`", r.name)).collect();
        let hint = if installed.is_empty() {
            "PyBun manages no Python builds (`pybun python install 3.12` adds one)".to_string()
        } else {
            format!("managed builds: {}", installed.join(", "))
        };
        return Err(Failure::new(
            Diagnostic::error(Code::InterpreterNotFound, format!("no managed Python build matches `{request}`")).with_hint(hint),
        ));
    }
    Ok(removed)
}

/// `python pin`: write `.python-version` in the project (or `directory`).
///
/// # Errors
/// An invalid request, no interpreter matches it, or the file cannot be written.
pub fn python_pin(
    fs: &dyn FileSystem,
    interpreters: &dyn Interpreters,
    directory: &Path,
    request: &str,
) -> Result<(PathBuf, Interpreter, Vec<Diagnostic>), Failure> {
    parse_request(request)?;
    let root = find_project_root(fs, directory).unwrap_or_else(|| directory.to_path_buf());
    let requires_python = project_requires_python(fs, &root);
    let interpreter = match choose_interpreter(fs, interpreters, &root, Some(request), requires_python.as_ref(), None)? {
        PythonChoice::New { interpreter, .. } | PythonChoice::Existing { interpreter } => interpreter,
    };
    let path = root.join(".python-version");
    fs.write_atomic(&path, format!("{request}\n").as_bytes()).map_err(|e| Failure::io(&path, &e, "write"))?;
    let warnings = abi_warnings(fs, &root, &interpreter);
    Ok((path, interpreter, warnings))
}

/// Packages of the project's lock that have no wheel for `interpreter`
/// (they would be built from source, or cannot be installed at all).
fn abi_warnings(fs: &dyn FileSystem, directory: &Path, interpreter: &Interpreter) -> Vec<Diagnostic> {
    let Some(root) = find_project_root(fs, directory) else { return Vec::new() };
    let Ok(Some((lock, path))) = read_existing(fs, &root) else { return Vec::new() };
    let selection = ExportSelection { groups: vec!["dev".to_string()], ..ExportSelection::default() };
    let abi = format!("cp{}{}{}", interpreter.major, interpreter.minor, interpreter.abiflags);
    match wanted_packages(&lock, &selection, interpreter, None) {
        Ok(wanted) => wanted
            .iter()
            .filter(|w| w.kind == WantedKind::Sdist)
            .map(|w| {
                Diagnostic::warning(
                    Code::NoCompatibleWheel,
                    format!(
                        "`{}=={}` in `{}` has no wheel for Python {} ({abi}, {}): `sync` would build it from source",
                        w.package.name,
                        w.package.version,
                        path.display(),
                        interpreter.python_full_version,
                        interpreter.platform_machine
                    ),
                )
                .with_hint("lock a version with wheels for this Python (`pybun lock --upgrade`), or use another interpreter")
            })
            .collect(),
        Err(failure) => vec![Diagnostic::warning(Code::NoCompatibleWheel, failure.diagnostic.message.clone())
            .with_hint(format!("the lock `{}` cannot be installed with this interpreter's ABI ({abi})", path.display()))],
    }
}

fn runtime_failure(error: RuntimeError) -> Failure {
    let hint = match &error {
        RuntimeError::NotAvailable { available, .. } if !available.is_empty() => {
            format!("available here: {}", available.iter().take(12).map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", "))
        }
        RuntimeError::NotAvailable { .. } => "PyBun has no builds for this platform; install Python another way".to_string(),
        RuntimeError::HashMismatch { .. } => {
            "nothing was installed; the archive does not match PyBun's version table (a tampered mirror, or a broken download)".to_string()
        }
        RuntimeError::Offline { .. } => "run once without `--offline` to download it".to_string(),
        RuntimeError::Other(_) => "check the network and `PYBUN_PYTHON_MIRROR`".to_string(),
    };
    Failure::new(Diagnostic::error(Code::PythonInstallFailed, error.to_string()).with_hint(hint))
}
