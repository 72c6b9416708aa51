//! The environments port: virtual environments on disk and what is installed in them.

use std::path::{Path, PathBuf};

use pybun_env::Interpreter;

/// A virtual environment that exists on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Venv {
    /// The venv's root directory.
    pub root: PathBuf,
    /// `bin/python` (or `Scripts/python.exe`).
    pub python: PathBuf,
    /// `lib/pythonX.Y/site-packages`.
    pub site_packages: PathBuf,
    /// `bin` (or `Scripts`).
    pub scripts: PathBuf,
    /// The base interpreter's facts, as inspected when the venv was opened.
    pub interpreter: Interpreter,
}

/// How to create a venv.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VenvOptions {
    /// The prompt shown by activation scripts (default: the directory name).
    pub prompt: Option<String>,
    /// Let the venv see the base interpreter's site-packages.
    pub system_site_packages: bool,
    /// Replace an existing directory that is not a venv of this interpreter.
    pub clear: bool,
}

/// A distribution installed in an environment (a `.dist-info` directory).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct InstalledDist {
    /// PEP 503 normalized name.
    pub name: String,
    /// The version, as the `.dist-info` directory name spells it.
    pub version: String,
    /// The `.dist-info` directory.
    pub dist_info: PathBuf,
}

/// A distribution's `entry_points.txt`, as installed in an environment
/// ([`Environments::entry_point_files`]): the text is read, not parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryPointsFile {
    /// PEP 503 normalized name of the distribution.
    pub name: String,
    /// Its version, as the metadata directory's name spells it (empty when the name has none).
    pub version: String,
    /// The `entry_points.txt` file.
    pub path: PathBuf,
    pub text: String,
}

/// Why an environment operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvironmentError {
    /// A filesystem operation failed.
    #[error("could not {action} `{path}`: {reason}")]
    Io { action: String, path: PathBuf, reason: String },
    /// The directory exists and is not a venv PyBun may reuse.
    #[error("`{path}` exists and is not a virtual environment: {reason}")]
    NotAVenv { path: PathBuf, reason: String },
    /// A wheel could not be installed (unsafe archive, bad RECORD, ...).
    #[error("could not install `{wheel}`: {reason}")]
    Install { wheel: String, reason: String },
}

/// One wheel to install: unpacked in the cache, ready to be linked into place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WheelToInstall {
    /// The wheel's filename (`name-version-tags.whl`).
    pub filename: String,
    /// The unpacked copy in the cache.
    pub unpacked: PathBuf,
    /// PEP 610 `direct_url.json` text for URL or path sources; `None` for index installs.
    pub direct_url: Option<String>,
}

/// How files are placed into an environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkMode {
    /// Copy-on-write clone (reflink), where the filesystem supports it.
    Clone,
    Hardlink,
    Copy,
    Symlink,
}

/// Virtual environments on disk.
pub trait Environments: Send + Sync {
    /// Create (or reuse) a venv at `path` for `interpreter`, natively: `pyvenv.cfg`,
    /// interpreter links, activation scripts. An existing venv of the same
    /// interpreter is reused as it is.
    ///
    /// # Errors
    /// On IO failure, or when `path` holds something else and `options.clear` is not set.
    fn create_venv(&self, path: &Path, interpreter: &Interpreter, options: &VenvOptions) -> Result<Venv, EnvironmentError>;

    /// The venv at `path`, or `None` when there is none (no `pyvenv.cfg`) or
    /// its interpreter is gone.
    ///
    /// # Errors
    /// On IO failure other than absence.
    fn open_venv(&self, path: &Path) -> Result<Option<Venv>, EnvironmentError>;

    /// The distributions installed in the venv's site-packages: one directory
    /// listing, sorted by name.
    ///
    /// # Errors
    /// On IO failure.
    fn installed(&self, venv: &Venv) -> Result<Vec<InstalledDist>, EnvironmentError>;

    /// The `entry_points.txt` of every distribution Python's
    /// `importlib.metadata` finds in the environment at `root` (not
    /// necessarily a venv PyBun made, and without inspecting its interpreter):
    /// `*.dist-info` and `*.egg-info` directories in its site-packages and in
    /// the directories its `.pth` files add to `sys.path`; sorted by path.
    /// Only directory listings and the small files themselves are read: no
    /// Python process.
    ///
    /// # Errors
    /// On IO failure other than absence.
    fn entry_point_files(&self, root: &Path) -> Result<Vec<EntryPointsFile>, EnvironmentError>;

    /// Remove an installed distribution: every file its `RECORD` lists, then
    /// its `.dist-info` (removed first-thing renamed away, so an interrupted
    /// removal never leaves a distribution that looks complete).
    ///
    /// # Errors
    /// On IO failure.
    fn uninstall(&self, venv: &Venv, dist: &InstalledDist) -> Result<(), EnvironmentError>;

    /// Install unpacked wheels into the venv, in parallel, with `link_mode`
    /// (`None`: detect once: clone, else hardlink, else copy). Each
    /// `.dist-info` appears last, so an interrupted install never looks complete.
    /// Returns one result per wheel, in order.
    fn install(
        &self,
        venv: &Venv,
        wheels: &[WheelToInstall],
        link_mode: Option<LinkMode>,
        compile_bytecode: bool,
    ) -> Vec<Result<InstalledDist, EnvironmentError>>;
}
