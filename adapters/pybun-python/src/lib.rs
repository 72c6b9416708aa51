//! The `Interpreters` port over the operating system.
//!
//! [`PythonFinder`] finds Python interpreters (PyBun's managed directory,
//! `PATH`, `/usr/bin`, `~/.pyenv/versions`), reads their facts by running a
//! small probe script (`probe.py`) with `-I -S`, and caches the answer on
//! disk under `<cache_dir>/interpreter-v1/` keyed by the executable's path and
//! validated by its modification time and size, so asking again costs a
//! `stat` and a read instead of a process.
//!
//! [`PythonInstaller`] installs python-build-standalone builds into that
//! managed directory (`pybun python install|uninstall`), from the table in
//! [`downloads`] (see [`install`] for the procedure).

mod cache;
mod discover;
pub mod downloads;
pub mod install;
mod probe;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use pybun_env::Interpreter;
use pybun_ports::{InterpreterError, Interpreters};

pub use discover::is_pyenv_shim;
pub use downloads::{Download, DownloadsTable, GITHUB_RELEASES_PREFIX, Platform};
pub use install::{InstalledPython, InstallerConfig, ManagedPython, PythonInstallError, PythonInstaller};

/// The probe script, run as `python -I -S -c <script>`; prints one JSON object.
pub const PROBE_SCRIPT: &str = include_str!("probe.py");

/// Where to look and where to cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinderConfig {
    /// PyBun's cache directory; facts go to `<cache_dir>/interpreter-v1/`.
    pub cache_dir: PathBuf,
    /// PyBun-managed interpreters, `<managed_dir>/<name>/bin/python3`
    /// (`<name>/python.exe` on Windows). Need not exist.
    pub managed_dir: Option<PathBuf>,
    /// The `PATH` to search (the frontend passes `std::env::var_os("PATH")`).
    pub search_path: Option<OsString>,
    /// The home directory, for `~/.pyenv/versions`.
    pub home: Option<PathBuf>,
}

/// Finds interpreters and reads their facts, with an on-disk facts cache.
#[derive(Debug)]
pub struct PythonFinder {
    config: FinderConfig,
    probe_timeout: Duration,
    probes: AtomicUsize,
}

impl PythonFinder {
    /// A finder over `config`; nothing is read until asked.
    #[must_use]
    pub fn new(config: FinderConfig) -> Self {
        Self { config, probe_timeout: Duration::from_secs(20), probes: AtomicUsize::new(0) }
    }

    /// How long a probe may run before the interpreter counts as broken (default 20 s).
    #[must_use]
    pub fn with_probe_timeout(mut self, timeout: Duration) -> Self {
        self.probe_timeout = timeout;
        self
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &FinderConfig {
        &self.config
    }

    /// How many probe processes this finder has started (cache misses).
    #[must_use]
    pub fn probe_count(&self) -> usize {
        self.probes.load(Ordering::Relaxed)
    }

    /// The cache directory of interpreter facts: `<cache_dir>/interpreter-v1`.
    #[must_use]
    pub fn facts_dir(&self) -> PathBuf {
        self.config.cache_dir.join(cache::DIR)
    }

    /// The executables discovery would inspect, in order, before probing
    /// (shims skipped, the same file through a symlinked directory once).
    #[must_use]
    pub fn candidates(&self) -> Vec<PathBuf> {
        discover::candidates(&self.config)
    }

    fn inspect_inner(&self, path: &Path) -> Result<Interpreter, InterpreterError> {
        let stamp = cache::Stamp::of(path)?;
        let entry_path = self.facts_dir().join(cache::file_name(&stamp.key));
        if let Some(interpreter) = cache::read(&entry_path, &stamp) {
            tracing::debug!(path = %path.display(), "interpreter facts: cache hit");
            return Ok(Interpreter { path: path.to_path_buf(), ..interpreter });
        }
        self.probes.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(path = %path.display(), "interpreter facts: probing");
        let interpreter = probe::run(path, self.probe_timeout)?;
        if let Err(error) = cache::write(&entry_path, &stamp, &interpreter) {
            tracing::debug!(path = %entry_path.display(), %error, "could not cache interpreter facts");
        }
        Ok(interpreter)
    }
}

impl Interpreters for PythonFinder {
    fn discover(&self) -> Vec<Interpreter> {
        let candidates = self.candidates();
        let results = discover::parallel_map(&candidates, |path| self.inspect_inner(path));
        let mut seen = std::collections::HashSet::new();
        let mut found = Vec::new();
        for (path, result) in candidates.iter().zip(results) {
            match result {
                Ok(interpreter) => {
                    let executable = std::fs::canonicalize(&interpreter.sys_executable)
                        .unwrap_or_else(|_| interpreter.sys_executable.clone());
                    // A venv's `python` resolves to its base interpreter's
                    // binary but is a different environment: keep both.
                    if seen.insert((executable, interpreter.prefix.clone())) {
                        found.push(interpreter);
                    }
                }
                Err(error) => tracing::debug!(path = %path.display(), %error, "skipping interpreter"),
            }
        }
        found
    }

    fn inspect(&self, path: &Path) -> Result<Interpreter, InterpreterError> {
        self.inspect_inner(path)
    }
}
