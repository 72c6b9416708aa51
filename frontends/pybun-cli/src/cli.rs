//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// PyBun: one fast binary for the whole Python toolchain.
#[derive(Debug, Parser)]
#[command(name = "pybun", version, about, propagate_version = true)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: GlobalArgs,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    /// Human-readable text.
    Text,
    /// One JSON document on stdout.
    Json,
    /// `pybun export` only: a hashed `requirements.txt`.
    RequirementsTxt,
    /// `pybun export` only: a PEP 751 `pylock.toml`.
    Pylock,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub(crate) struct GlobalArgs {
    /// Output format: human text, or one JSON document on stdout (`pybun export` also takes `requirements-txt` and `pylock`).
    #[arg(long, global = true, value_enum, default_value = "text", env = "PYBUN_FORMAT")]
    pub(crate) format: OutputFormat,
    /// Print less (errors and the summary only).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub(crate) quiet: bool,
    /// Print more: `-v` logs index requests and resolver decisions, `-vv` everything.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    /// Never touch the network: answer from the cache alone.
    #[arg(long, global = true, env = "PYBUN_OFFLINE")]
    pub(crate) offline: bool,
    /// The cache directory [default: `$XDG_CACHE_HOME/pybun` or `~/.cache/pybun`].
    #[arg(long, global = true, env = "PYBUN_CACHE_DIR", value_name = "DIR")]
    pub(crate) cache_dir: Option<PathBuf>,
    /// The package index (PEP 503/691 Simple API) [default: `[tool.pybun] index-url`, else PyPI].
    #[arg(long, global = true, env = "PYBUN_INDEX_URL", value_name = "URL")]
    pub(crate) index_url: Option<String>,
    /// Further indexes, searched in order after the default one (the first that knows a package wins).
    #[arg(long, global = true, value_name = "URL")]
    pub(crate) extra_index_url: Vec<String>,
    /// Directories (or HTML pages) of wheels and sdists to use besides the indexes.
    #[arg(long, global = true, value_name = "PATH")]
    pub(crate) find_links: Vec<String>,
    /// Run as if started in this directory.
    #[arg(long, global = true, value_name = "DIR")]
    pub(crate) directory: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Resolve the project's requirements and write `pybun.lock`.
    Lock(LockArgs),
    /// Show the locked dependency tree.
    Tree(TreeArgs),
    /// Export the lock as a hashed `requirements.txt` or a PEP 751 `pylock.toml`.
    Export(ExportArgs),
    /// Make the project's `.venv` match the lock exactly (locking first if the lock is stale).
    Sync(SyncArgs),
    /// Lock if needed, then sync (the same as `sync`).
    Install(SyncArgs),
    /// Add requirements to `pyproject.toml`, then lock and sync.
    Add(AddArgs),
    /// Remove requirements from `pyproject.toml`, then lock and sync.
    Remove(RemoveArgs),
    /// Create a new project: `pyproject.toml`, `.python-version`, `.gitignore`.
    Init(InitArgs),
    /// Create a virtual environment.
    Venv(VenvArgs),
    /// Inspect and clean PyBun's cache.
    Cache(CacheArgs),
    /// Run a script, module, code, task or command in the selected environment (PEP 723 scripts in their own).
    Run(RunArgs),
    /// Run a package's command in a cached ephemeral environment (like `uvx` / `bunx`).
    X(XArgs),
    /// Show the environment commands run in here, and which rule chose it.
    Env(EnvShowArgs),
    /// Find, install, pin and remove Python interpreters.
    Python(PythonArgs),
    /// Run the test suite: discovery in Rust (pytest's rules), parallel Python workers.
    Test(TestArgs),
    /// Check `pyproject.toml` (or a PEP 723 script): syntax, metadata, requirements against the index, conflicts, lock freshness.
    Check(CheckArgs),
    /// Serve the Language Server Protocol on stdin/stdout: diagnostics, hover, completion and code actions for `pyproject.toml`.
    Lsp(LspArgs),
}

#[derive(Debug, Args)]
pub(crate) struct LspArgs {
    /// Speak LSP on stdin/stdout (the only transport; accepted for editors that pass it).
    #[arg(long)]
    pub(crate) stdio: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ResolutionArg {
    Highest,
    Lowest,
    LowestDirect,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum PrereleaseArg {
    /// Always allow pre-releases.
    Allow,
    /// PEP 440: when a requirement names one, or when nothing else satisfies (default).
    IfNecessary,
    /// Only when a requirement names a pre-release.
    Explicit,
    /// Never.
    Disallow,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LockfileFormatArg {
    Text,
    Binary,
}

#[derive(Debug, Args)]
pub(crate) struct LockArgs {
    /// Which versions to prefer.
    #[arg(long, value_enum, default_value = "highest")]
    pub(crate) resolution: ResolutionArg,
    /// When pre-releases may be chosen.
    #[arg(long, value_enum, default_value = "if-necessary")]
    pub(crate) prerelease: PrereleaseArg,
    /// Ignore files uploaded after this date or RFC 3339 timestamp (reproducible locks).
    #[arg(long, value_name = "DATE")]
    pub(crate) exclude_newer: Option<String>,
    /// Lock for this one Python version instead of universally.
    #[arg(long, value_name = "VERSION")]
    pub(crate) python_version: Option<String>,
    /// Lock for this one platform (`linux`, `macos`, `windows`); needs `--python-version`.
    #[arg(long, value_name = "PLATFORM")]
    pub(crate) python_platform: Option<String>,
    /// Never use wheels of this package (`:all:` for every package).
    #[arg(long, value_name = "PACKAGE")]
    pub(crate) no_binary: Vec<String>,
    /// Never use sdists of this package (`:all:` for every package).
    #[arg(long, value_name = "PACKAGE")]
    pub(crate) no_build: Vec<String>,
    /// Check that the lock is up to date; write nothing; fail if it is not.
    #[arg(long, conflicts_with_all = ["print", "upgrade"])]
    pub(crate) check: bool,
    /// Print the existing lock (text or binary) as text; resolve nothing.
    #[arg(long)]
    pub(crate) print: bool,
    /// Re-resolve every package to the newest allowed version, ignoring the existing lock.
    #[arg(short = 'U', long)]
    pub(crate) upgrade: bool,
    /// The encoding to write [default: `[tool.pybun] lockfile`, else text].
    #[arg(long, value_enum)]
    pub(crate) lockfile_format: Option<LockfileFormatArg>,
    /// Lock a PEP 723 script's dependencies into `FILE.py.lock` instead of the project.
    #[arg(long, value_name = "FILE.py")]
    pub(crate) script: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct TreeArgs {
    /// Show this many levels.
    #[arg(long)]
    pub(crate) depth: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ExportFormatArg {
    RequirementsTxt,
    Pylock,
}

#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// What to export when `--format` is `text` or `json` (`--format requirements-txt|pylock` also selects it).
    #[arg(long = "to", value_enum, default_value = "requirements-txt")]
    pub(crate) to: ExportFormatArg,
    /// Write to this file instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
    /// Include this extra of the project (repeatable).
    #[arg(long, value_name = "EXTRA")]
    pub(crate) extra: Vec<String>,
    /// Include every extra of the project.
    #[arg(long)]
    pub(crate) all_extras: bool,
    /// Include this dependency group (repeatable); `dev` is included unless `--no-dev`.
    #[arg(long, value_name = "GROUP")]
    pub(crate) group: Vec<String>,
    /// Include every dependency group.
    #[arg(long)]
    pub(crate) all_groups: bool,
    /// Leave out the `dev` group.
    #[arg(long)]
    pub(crate) no_dev: bool,
}


#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LinkModeArg {
    /// Copy-on-write clone (reflink), where the filesystem supports it.
    Clone,
    Hardlink,
    Copy,
    Symlink,
}

/// What `sync`, `install`, `add` and `remove` share.
#[derive(Debug, Args)]
pub(crate) struct EnvArgs {
    /// The interpreter: a version (`3.12`), a range (`>=3.10,<3.13`) or a path [default: `.python-version`, else `requires-python`].
    #[arg(long, env = "PYBUN_PYTHON", value_name = "PYTHON")]
    pub(crate) python: Option<String>,
    /// Fail instead of re-locking when the lock is missing or out of date.
    #[arg(long, conflicts_with = "frozen")]
    pub(crate) locked: bool,
    /// Install the lock as it is, without checking it against `pyproject.toml`.
    #[arg(long)]
    pub(crate) frozen: bool,
    /// How files are placed into the environment [default: clone, else hardlink, else copy].
    #[arg(long, value_enum, env = "PYBUN_LINK_MODE")]
    pub(crate) link_mode: Option<LinkModeArg>,
    /// Compile installed Python files to bytecode.
    #[arg(long)]
    pub(crate) compile_bytecode: bool,
}

#[derive(Debug, Args)]
pub(crate) struct SyncArgs {
    #[command(flatten)]
    pub(crate) env: EnvArgs,
    /// Include this extra of the project (repeatable).
    #[arg(long, value_name = "EXTRA")]
    pub(crate) extra: Vec<String>,
    /// Include every extra of the project.
    #[arg(long)]
    pub(crate) all_extras: bool,
    /// Include this dependency group (repeatable); `dev` is included unless `--no-dev`.
    #[arg(long, value_name = "GROUP")]
    pub(crate) group: Vec<String>,
    /// Include every dependency group.
    #[arg(long)]
    pub(crate) all_groups: bool,
    /// Leave out the `dev` group.
    #[arg(long)]
    pub(crate) no_dev: bool,
}

#[derive(Debug, Args)]
pub(crate) struct AddArgs {
    /// Requirements to add (`requests`, `'flask[async]>=3'`).
    #[arg(required = true, value_name = "REQUIREMENT")]
    pub(crate) requirements: Vec<String>,
    /// Add to the `dev` dependency group.
    #[arg(long, conflicts_with_all = ["group", "optional"])]
    pub(crate) dev: bool,
    /// Add to this dependency group (PEP 735).
    #[arg(long, value_name = "GROUP", conflicts_with = "optional")]
    pub(crate) group: Option<String>,
    /// Add to this extra (`[project.optional-dependencies]`).
    #[arg(long, value_name = "EXTRA")]
    pub(crate) optional: Option<String>,
    /// Only edit `pyproject.toml` and lock; do not sync the environment.
    #[arg(long)]
    pub(crate) no_sync: bool,
    #[command(flatten)]
    pub(crate) env: EnvArgs,
}

#[derive(Debug, Args)]
pub(crate) struct RemoveArgs {
    /// Package names to remove.
    #[arg(required = true, value_name = "PACKAGE")]
    pub(crate) packages: Vec<String>,
    /// Remove from the `dev` dependency group.
    #[arg(long, conflicts_with_all = ["group", "optional"])]
    pub(crate) dev: bool,
    /// Remove from this dependency group.
    #[arg(long, value_name = "GROUP", conflicts_with = "optional")]
    pub(crate) group: Option<String>,
    /// Remove from this extra.
    #[arg(long, value_name = "EXTRA")]
    pub(crate) optional: Option<String>,
    /// Only edit `pyproject.toml` and lock; do not sync the environment.
    #[arg(long)]
    pub(crate) no_sync: bool,
    #[command(flatten)]
    pub(crate) env: EnvArgs,
}

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// The project directory [default: the current directory].
    #[arg(value_name = "PATH")]
    pub(crate) path: Option<PathBuf>,
    /// The project name [default: the directory name].
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// The Python version to pin in `.python-version` [default: the interpreter PyBun would choose].
    #[arg(long, value_name = "PYTHON")]
    pub(crate) python: Option<String>,
    /// Make it an installable package: add a `[build-system]` (hatchling), installed editable by `sync`.
    #[arg(long)]
    pub(crate) package: bool,
}

#[derive(Debug, Args)]
pub(crate) struct VenvArgs {
    /// Where to create it [default: `.venv`].
    #[arg(value_name = "PATH")]
    pub(crate) path: Option<PathBuf>,
    /// The interpreter: a version, a range or a path.
    #[arg(long, env = "PYBUN_PYTHON", value_name = "PYTHON")]
    pub(crate) python: Option<String>,
    /// The prompt activation scripts show [default: the directory name].
    #[arg(long)]
    pub(crate) prompt: Option<String>,
    /// Give the environment access to the interpreter's own site-packages.
    #[arg(long)]
    pub(crate) system_site_packages: bool,
    /// Replace an existing environment at the path.
    #[arg(long)]
    pub(crate) clear: bool,
}

#[derive(Debug, Args)]
pub(crate) struct CacheArgs {
    #[command(subcommand)]
    pub(crate) command: CacheCommand,
}

#[derive(Debug, Subcommand)]
pub(crate) enum CacheCommand {
    /// Print the cache directory.
    Dir,
    /// Remove everything from the cache, or only the given packages' entries.
    Clean {
        #[arg(value_name = "PACKAGE")]
        packages: Vec<String>,
    },
    /// Remove what no run needs: leftovers of interrupted runs, orphaned entries.
    Prune,
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// Run a module (`python -m MODULE`).
    #[arg(short = 'm', value_name = "MODULE", conflicts_with = "code")]
    pub(crate) module: Option<String>,
    /// Run code (`python -c CODE`).
    #[arg(short = 'c', value_name = "CODE")]
    pub(crate) code: Option<String>,
    /// Extra requirements for this run (repeatable): an ephemeral overlay environment.
    #[arg(long = "with", value_name = "REQUIREMENT")]
    pub(crate) with: Vec<String>,
    /// The interpreter: a version, a range or a path.
    #[arg(long, env = "PYBUN_PYTHON", value_name = "PYTHON")]
    pub(crate) python: Option<String>,
    /// Use the project's lock and environment as they are (no re-lock).
    #[arg(long)]
    pub(crate) frozen: bool,
    /// A task of `[tool.pybun.scripts]`, a Python file, or a command; then its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "TARGET [ARGS]...")]
    pub(crate) rest: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct XArgs {
    /// The package providing the command when its name differs from the command's.
    #[arg(long, value_name = "PACKAGE")]
    pub(crate) from: Option<String>,
    /// Extra requirements (repeatable).
    #[arg(long = "with", value_name = "REQUIREMENT")]
    pub(crate) with: Vec<String>,
    /// The interpreter: a version, a range or a path.
    #[arg(long, env = "PYBUN_PYTHON", value_name = "PYTHON")]
    pub(crate) python: Option<String>,
    /// `PACKAGE[@VERSION]` (or the command with `--from`), then its arguments.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true, value_name = "PACKAGE [ARGS]...")]
    pub(crate) rest: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct EnvShowArgs {}

#[derive(Debug, Args)]
pub(crate) struct PythonArgs {
    #[command(subcommand)]
    pub(crate) command: PythonCommand,
}

#[derive(Debug, Subcommand)]
pub(crate) enum PythonCommand {
    /// Interpreters found on this machine (and PyBun-managed ones); `--downloads` adds installable builds.
    List {
        #[arg(long)]
        downloads: bool,
    },
    /// The interpreter a project command would use here (or for REQUEST), and why.
    Find { request: Option<String> },
    /// Download and install a Python build (`3.12`, `3.13.1`, `3.13t`) into PyBun's data directory.
    Install { request: String },
    /// Write `.python-version` for the project (or this directory).
    Pin { request: String },
    /// Remove PyBun-managed builds matching REQUEST.
    Uninstall { request: String },
}

#[derive(Debug, Args)]
pub(crate) struct TestArgs {
    /// Files, directories or node ids (`tests/test_a.py::test_x`) to run [default: all].
    #[arg(value_name = "PATH")]
    pub(crate) paths: Vec<String>,
    /// Only tests matching this keyword expression (pytest's `-k`).
    #[arg(short = 'k', value_name = "EXPR")]
    pub(crate) keyword: Option<String>,
    /// Only tests with marks matching this expression (pytest's `-m`).
    #[arg(short = 'm', value_name = "EXPR")]
    pub(crate) marker: Option<String>,
    /// Stop after the first failure (or after N).
    #[arg(long, short = 'x', num_args = 0..=1, default_missing_value = "1", value_name = "N", alias = "exitfirst")]
    pub(crate) bail: Option<usize>,
    /// Run shard I of N (`--shard 2/4`): deterministic, balanced by recorded durations.
    #[arg(long, value_name = "I/N")]
    pub(crate) shard: Option<String>,
    /// Run only the tests that failed last time (all when none did).
    #[arg(long, alias = "lf")]
    pub(crate) last_failed: bool,
    /// Run the tests that failed last time first.
    #[arg(long, alias = "ff")]
    pub(crate) failed_first: bool,
    /// List the tests (node ids, as pytest prints them) without running them.
    #[arg(long)]
    pub(crate) collect_only: bool,
    /// Show the N slowest tests.
    #[arg(long, value_name = "N")]
    pub(crate) durations: Option<usize>,
    /// Write a JUnit XML report.
    #[arg(long, value_name = "PATH")]
    pub(crate) junit_xml: Option<PathBuf>,
    /// Worker processes [default: one per core].
    #[arg(long, short = 'n', value_name = "N")]
    pub(crate) workers: Option<usize>,
    /// The engine: `auto` (native where possible), `native` or `pytest`.
    #[arg(long, value_enum, default_value = "auto")]
    pub(crate) engine: TestEngineArg,
    /// Explain every reason a module runs under pytest instead of the native engine.
    #[arg(long)]
    pub(crate) pytest_compat: bool,
    /// Rerun on file changes: the changed test files, or everything when other files changed (polling).
    #[arg(long)]
    pub(crate) watch: bool,
    /// Accept changed values of the `snapshot` fixture (rewrite its entries) and remove obsolete snapshots.
    #[arg(long)]
    pub(crate) update_snapshots: bool,
    /// The interpreter: a version, a range or a path.
    #[arg(long, env = "PYBUN_PYTHON", value_name = "PYTHON")]
    pub(crate) python: Option<String>,
    /// Use the project's lock and environment as they are.
    #[arg(long)]
    pub(crate) frozen: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum TestEngineArg {
    Auto,
    Native,
    Pytest,
}

#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// The file to check: a `pyproject.toml` (or its directory) or a `.py` script with a `# /// script` block [default: the project's `pyproject.toml`].
    #[arg(value_name = "PATH")]
    pub(crate) path: Option<PathBuf>,
}
