//! The `Environments` port over the operating system.
//!
//! [`OsEnvironments`] creates virtual environments natively (no `python -m
//! venv`), with the layout CPython's `venv` module gives on POSIX:
//!
//! ```text
//! <venv>/
//!   pyvenv.cfg              home, implementation, include-system-site-packages,
//!                           version, executable, [prompt], pybun  (written last)
//!   .gitignore              `*`
//!   CACHEDIR.TAG
//!   bin/python              -> <base interpreter> (absolute symlink)
//!   bin/python3, bin/python3.N  -> python (relative symlinks)
//!   bin/activate, activate.fish, activate.csh, Activate.ps1
//!   include/[pythonX.Y]     (CPython 3.11+ layout)
//!   lib/pythonX.Y/site-packages/
//!   lib64 -> lib            (64-bit POSIX except macOS)
//! ```
//!
//! It lists installed distributions (one `read_dir` of site-packages),
//! uninstalls them from their `RECORD`, and installs wheels unpacked in the
//! cache with `pybun-fs-os` ([`pybun_fs_os::plan_unpacked`] and
//! [`pybun_fs_os::install_planned`]), in parallel.
//!
//! Stale staging directories (`.<name>-<version>.dist-info-XXXX` of an
//! interrupted install, `.pybun-uninstall-*` of an interrupted uninstall)
//! are ignored by [`Environments::installed`] and removed by
//! [`Environments::install`] once they are older than an hour.

mod activate;
mod cfg;
mod create;
mod dists;
mod entry_points;
mod install;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use pybun_env::Interpreter;
use pybun_ports::{
    EntryPointsFile, EnvironmentError, Environments, InstalledDist, Interpreters, LinkMode, Venv, VenvOptions, WheelToInstall,
};

pub use create::{base_executable, site_packages_dir};

/// Virtual environments on the local filesystem.
pub struct OsEnvironments {
    interpreters: Arc<dyn Interpreters>,
}

impl std::fmt::Debug for OsEnvironments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OsEnvironments").finish_non_exhaustive()
    }
}

impl OsEnvironments {
    /// Environments whose base interpreters are inspected with `interpreters`
    /// (when a venv is opened, or created from an interpreter that is itself
    /// in a venv).
    #[must_use]
    pub fn new(interpreters: Arc<dyn Interpreters>) -> Self {
        Self { interpreters }
    }

    pub(crate) fn inspect(&self, path: &Path) -> Result<Interpreter, EnvironmentError> {
        self.interpreters.inspect(path).map_err(|e| EnvironmentError::Io {
            action: "inspect the interpreter".to_string(),
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
    }
}

/// An [`EnvironmentError::Io`] maker for `map_err`.
pub(crate) fn io_error(action: &str, path: &Path) -> impl FnOnce(io::Error) -> EnvironmentError {
    let action = action.to_string();
    let path = path.to_path_buf();
    move |e| EnvironmentError::Io { action, path, reason: e.to_string() }
}

/// `path` made absolute (against the current directory) without resolving symlinks.
pub(crate) fn absolute(path: &Path) -> Result<PathBuf, EnvironmentError> {
    std::path::absolute(path).map_err(io_error("make absolute", path))
}

impl Environments for OsEnvironments {
    fn create_venv(&self, path: &Path, interpreter: &Interpreter, options: &VenvOptions) -> Result<Venv, EnvironmentError> {
        create::create_venv(self, path, interpreter, options)
    }

    fn open_venv(&self, path: &Path) -> Result<Option<Venv>, EnvironmentError> {
        create::open_venv(self, path)
    }

    fn installed(&self, venv: &Venv) -> Result<Vec<InstalledDist>, EnvironmentError> {
        dists::installed(venv)
    }

    fn entry_point_files(&self, root: &Path) -> Result<Vec<EntryPointsFile>, EnvironmentError> {
        entry_points::entry_point_files(root)
    }

    fn uninstall(&self, venv: &Venv, dist: &InstalledDist) -> Result<(), EnvironmentError> {
        dists::uninstall(venv, dist)
    }

    fn install(
        &self,
        venv: &Venv,
        wheels: &[WheelToInstall],
        link_mode: Option<LinkMode>,
        compile_bytecode: bool,
    ) -> Vec<Result<InstalledDist, EnvironmentError>> {
        install::install(venv, wheels, link_mode, compile_bytecode)
    }
}
