//! The Python runtimes port: PyBun-managed interpreters (downloaded builds).

use std::path::PathBuf;

use pybun_env::PythonRequest;

/// A build that can be installed on this platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeDownload {
    /// e.g. `cpython-3.12.16-linux-x86_64-gnu`.
    pub name: String,
    pub version: String,
    pub free_threaded: bool,
    pub url: String,
}

/// A managed build on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedRuntime {
    pub name: String,
    pub version: String,
    pub free_threaded: bool,
    /// Its `bin/python3`.
    pub python: PathBuf,
}

/// What `install` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledRuntime {
    pub runtime: ManagedRuntime,
    /// It was installed already: nothing fetched or unpacked.
    pub already_installed: bool,
    /// The archive was downloaded (not taken from the cache).
    pub downloaded: bool,
}

/// Why a runtime operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeError {
    /// No build matches the request on this platform; `available` lists versions.
    #[error("no Python build matches `{request}` on {platform}")]
    NotAvailable { request: String, platform: String, available: Vec<String> },
    /// The archive does not have the sha256 of the version table.
    #[error("hash mismatch for `{url}`: expected `{expected}`, got `{actual}`")]
    HashMismatch { url: String, expected: String, actual: String },
    /// `--offline` and the archive is not cached.
    #[error("Python {version} is not installed and its archive is not cached; network access is disabled (`--offline`)")]
    Offline { version: String },
    /// Anything else (download, archive, IO), as a sentence.
    #[error("{0}")]
    Other(String),
}

/// Installs, lists and removes managed interpreters.
pub trait PythonRuntimes: Send + Sync {
    /// Builds installable on this platform, newest first.
    fn available(&self) -> Vec<RuntimeDownload>;

    /// Managed builds on disk.
    fn installed(&self) -> Vec<ManagedRuntime>;

    /// Install the newest build matching `request` (or reuse it).
    ///
    /// # Errors
    /// See [`RuntimeError`].
    fn install(&self, request: &PythonRequest) -> Result<InstalledRuntime, RuntimeError>;

    /// Remove every managed build matching `request`; the removed directories.
    ///
    /// # Errors
    /// On IO failure.
    fn uninstall(&self, request: &PythonRequest) -> Result<Vec<PathBuf>, RuntimeError>;
}
