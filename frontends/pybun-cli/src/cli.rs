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
    /// Not implemented yet: install the locked packages into `.venv`.
    Sync(PendingArgs),
    /// Not implemented yet: lock if needed, then sync.
    Install(PendingArgs),
    /// Not implemented yet: add a requirement to `pyproject.toml`.
    Add(PendingArgs),
    /// Not implemented yet: remove a requirement from `pyproject.toml`.
    Remove(PendingArgs),
    /// Not implemented yet: run a script, module or command in the project environment.
    Run(PendingArgs),
    /// Not implemented yet: run the test suite.
    Test(PendingArgs),
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

#[derive(Debug, Args)]
pub(crate) struct PendingArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    pub(crate) rest: Vec<String>,
}
