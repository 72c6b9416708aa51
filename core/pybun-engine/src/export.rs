//! `pybun export`: the lock as a hashed `requirements.txt` or a PEP 751 `pylock.toml`.

use std::path::PathBuf;

use pybun_diagnostics::{Code, Diagnostic};
use pybun_lockfile::ExportSelection;
use pybun_ports::FileSystem;

use crate::Failure;
use crate::lock::read_existing;

/// The export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    RequirementsTxt,
    Pylock,
}

/// A `pybun export` call.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    pub directory: PathBuf,
    pub format: ExportFormat,
    /// Write here (atomically) instead of returning the text only.
    pub output: Option<PathBuf>,
    /// Which extras and groups of the project to include (main dependencies always are).
    pub selection: ExportSelection,
}

/// The exported text, and where it was written.
#[derive(Debug, Clone)]
pub struct ExportOutcome {
    pub text: String,
    pub written_to: Option<PathBuf>,
    pub packages: usize,
}

/// Export the lock.
///
/// # Errors
/// No project or lock, an invalid lock, or an unwritable output.
pub fn export(request: &ExportRequest, fs: &dyn FileSystem) -> Result<ExportOutcome, Failure> {
    let root = crate::find_project_root(fs, &request.directory).unwrap_or_else(|| request.directory.clone());
    let (lock, _) = read_existing(fs, &root)?.ok_or_else(|| {
        Failure::new(
            Diagnostic::error(Code::LockMissing, format!("no `pybun.lock` in `{}`", root.display()))
                .with_hint("run `pybun lock` first"),
        )
    })?;
    let text = match request.format {
        ExportFormat::RequirementsTxt => pybun_lockfile::to_requirements_txt(&lock, &request.selection),
        ExportFormat::Pylock => pybun_lockfile::to_pylock_toml(&lock, &request.selection),
    };
    let packages = match request.format {
        // One `name==version` line per package; hashes and options are indented or start with `-`.
        ExportFormat::RequirementsTxt => text.lines().filter(|l| l.starts_with(|c: char| c.is_ascii_alphanumeric())).count(),
        ExportFormat::Pylock => text.lines().filter(|l| l.trim() == "[[packages]]").count(),
    };
    if let Some(output) = &request.output {
        fs.write_atomic(output, text.as_bytes()).map_err(|e| Failure::io(output, &e, "write"))?;
    }
    Ok(ExportOutcome { text, written_to: request.output.clone(), packages })
}
