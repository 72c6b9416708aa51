//! `sync`, `install`, `venv` and `cache`: the commands that change environments.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use pybun_engine::{
    ChangeKind, ExportSelection, Failure, LinkMode, LockMode, LockStatus, SyncOutcome, SyncPorts, SyncRequest,
    VenvRequest,
};
use pybun_fs_os::OsFs;
use pybun_ports::Interpreters;
use serde_json::{Value, json};

use crate::cli::{CacheArgs, CacheCommand, Cli, EnvArgs, LinkModeArg, SyncArgs, VenvArgs};
use crate::commands::{cache_dir, human_duration, index_opener, index_settings};
use crate::progress::CliReporter;
use crate::{Rendered, Settings};

/// The adapters environment commands need: the composition root for them.
pub(crate) struct EnvAdapters {
    pub(crate) interpreters: Arc<pybun_python::PythonFinder>,
    pub(crate) environments: pybun_venv::OsEnvironments,
    pub(crate) cache: pybun_cache::ArtifactStore,
    pub(crate) frontend: pybun_build::OsBuildFrontend,
}

/// PyBun's data directory (managed interpreters, global environments).
pub(crate) fn data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PYBUN_DATA_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("pybun");
    }
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".local").join("share").join("pybun"),
        None => std::env::temp_dir().join("pybun-data"),
    }
}

impl EnvAdapters {
    pub(crate) fn new(cli: &Cli) -> Result<Self, Failure> {
        Self::with_cache(cache_dir(cli), cli.global.offline)
    }

    pub(crate) fn with_cache(cache: PathBuf, offline: bool) -> Result<Self, Failure> {
        let interpreters = Arc::new(pybun_python::PythonFinder::new(pybun_python::FinderConfig {
            cache_dir: cache.clone(),
            managed_dir: Some(data_dir().join("python")),
            search_path: std::env::var_os("PATH"),
            home: std::env::var_os("HOME").map(PathBuf::from),
        }));
        let environments = pybun_venv::OsEnvironments::new(interpreters.clone() as Arc<dyn Interpreters>);
        let http = Arc::new(
            pybun_index_http::HttpIndex::new(pybun_index_http::IndexConfig {
                offline,
                ..pybun_index_http::IndexConfig::new(cache.clone())
            })
            .map_err(|error| {
                Failure::new(pybun_engine::Diagnostic::error(
                    pybun_engine::Code::Internal,
                    format!("could not set up the download client: {error}"),
                ))
            })?,
        );
        let store = pybun_cache::ArtifactStore::new(cache, http, offline);
        Ok(Self { interpreters, environments, cache: store, frontend: pybun_build::OsBuildFrontend::new() })
    }

    /// The ports of these adapters, with the OS filesystem.
    pub(crate) fn ports<'a>(&'a self, open_index: pybun_engine::IndexOpener<'a>, reporter: &'a dyn pybun_ports::Reporter) -> SyncPorts<'a> {
        SyncPorts {
            fs: &OsFs,
            open_index,
            interpreters: self.interpreters.as_ref(),
            environments: &self.environments,
            artifacts: &self.cache,
            build_cache: &self.cache,
            frontend: &self.frontend,
            reporter,
        }
    }
}

/// Builds sdists for their metadata while resolving (the index's
/// [`pybun_engine::SdistMetadataBuilder`]); the adapters are set up on the
/// first build only, so resolutions that need none pay nothing.
pub(crate) struct SdistBuilder {
    pub(crate) cache: PathBuf,
    pub(crate) offline: bool,
    pub(crate) directory: PathBuf,
    pub(crate) index: pybun_engine::IndexSettings,
}

impl pybun_engine::SdistMetadataBuilder for SdistBuilder {
    fn build_metadata(&self, name: &pybun_engine::PackageName, file: &pybun_ports::DistFile) -> Result<Vec<u8>, Failure> {
        let adapters = EnvAdapters::with_cache(self.cache.clone(), self.offline)?;
        let (cache, offline) = (self.cache.clone(), self.offline);
        let opener = move |settings: &pybun_engine::IndexSettings| crate::commands::plain_index(settings, cache.clone(), offline);
        let ports = adapters.ports(&opener, &pybun_ports::NullReporter);
        pybun_engine::build_sdist_metadata(&ports, &self.index, &self.directory, name, file)
    }
}

fn link_mode(arg: Option<LinkModeArg>) -> Option<LinkMode> {
    arg.map(|mode| match mode {
        LinkModeArg::Clone => LinkMode::Clone,
        LinkModeArg::Hardlink => LinkMode::Hardlink,
        LinkModeArg::Copy => LinkMode::Copy,
        LinkModeArg::Symlink => LinkMode::Symlink,
    })
}

pub(crate) fn sync_request(cli: &Cli, settings: &Settings, env: &EnvArgs, selection: ExportSelection) -> SyncRequest {
    SyncRequest {
        directory: settings.directory.clone(),
        index: index_settings(cli),
        settings: pybun_engine::LockSettings::default(),
        python: env.python.clone(),
        lock_mode: if env.frozen {
            LockMode::Frozen
        } else if env.locked {
            LockMode::Locked
        } else {
            LockMode::Auto
        },
        selection,
        link_mode: link_mode(env.link_mode),
        compile_bytecode: env.compile_bytecode,
        venv_dir: None,
    }
}

pub(crate) fn default_selection() -> ExportSelection {
    ExportSelection { groups: vec!["dev".to_string()], ..ExportSelection::default() }
}

/// Build the adapters and the ports (the composition root for the
/// environment commands), run `f` with them, and finish the progress display.
/// Returns `f`'s result and the warnings reported along the way.
pub(crate) fn with_ports<T>(
    cli: &Cli,
    settings: &Settings,
    f: impl FnOnce(&SyncPorts<'_>) -> Result<T, Failure>,
) -> Result<(T, Vec<pybun_engine::Diagnostic>), Failure> {
    let adapters = EnvAdapters::new(cli)?;
    let reporter = CliReporter::new(settings.format == crate::cli::OutputFormat::Text && !settings.quiet);
    let opener = index_opener(cli);
    let ports = adapters.ports(&opener, &reporter);
    let result = f(&ports);
    reporter.finish();
    Ok((result?, reporter.take_warnings()))
}

/// Run `sync` with the CLI's adapters.
pub(crate) fn run_sync(cli: &Cli, settings: &Settings, request: &SyncRequest) -> Result<(SyncOutcome, Vec<pybun_engine::Diagnostic>, std::time::Duration), Failure> {
    let started = Instant::now();
    let (outcome, reported) = with_ports(cli, settings, |ports| pybun_engine::sync(request, ports))?;
    let mut warnings = outcome.warnings.clone();
    warnings.extend(reported);
    Ok((outcome, warnings, started.elapsed()))
}

pub(crate) fn sync(cli: &Cli, settings: &Settings, args: &SyncArgs) -> Result<Rendered, Failure> {
    let mut groups = args.group.clone();
    if !args.no_dev && !groups.iter().any(|g| g == "dev") {
        groups.push("dev".to_string());
    }
    let selection = ExportSelection { extras: args.extra.clone(), groups, all_extras: args.all_extras, all_groups: args.all_groups };
    let request = sync_request(cli, settings, &args.env, selection);
    let (outcome, warnings, elapsed) = run_sync(cli, settings, &request)?;
    Ok(Rendered { json: sync_json(&outcome), stdout: String::new(), stderr: sync_text(&outcome, elapsed), warnings, exit: 0 })
}

fn lock_status_name(status: LockStatus) -> &'static str {
    match status {
        LockStatus::Created => "created",
        LockStatus::Updated => "updated",
        LockStatus::Unchanged => "unchanged",
        LockStatus::UpToDate => "up-to-date",
    }
}

pub(crate) fn sync_json(outcome: &SyncOutcome) -> Value {
    let changes: Vec<Value> = outcome
        .changes
        .iter()
        .map(|change| {
            let (action, from) = match &change.kind {
                ChangeKind::Installed => ("installed", None),
                ChangeKind::Removed => ("removed", None),
                ChangeKind::Updated { from } => ("updated", Some(from.as_str())),
            };
            json!({ "name": change.name, "version": change.version, "action": action, "from": from })
        })
        .collect();
    json!({
        "venv": outcome.venv,
        "venv_created": outcome.venv_created,
        "python": outcome.python,
        "python_version": outcome.python_version,
        "python_reason": outcome.python_reason,
        "lockfile": outcome.lock_path,
        "lock_status": lock_status_name(outcome.lock_status),
        "changes": changes,
        "unchanged": outcome.unchanged,
        "downloaded": outcome.downloaded,
    })
}

pub(crate) fn sync_text(outcome: &SyncOutcome, elapsed: std::time::Duration) -> String {
    let mut text = String::new();
    let venv = outcome.venv.display();
    if outcome.venv_created {
        let _ = writeln!(text, "Created `{venv}` with Python {} ({})", outcome.python_version, outcome.python_reason);
    }
    match outcome.lock_status {
        LockStatus::Created => {
            let _ = writeln!(text, "Wrote `{}`", outcome.lock_path.display());
        }
        LockStatus::Updated => {
            let _ = writeln!(text, "Updated `{}`", outcome.lock_path.display());
        }
        LockStatus::Unchanged | LockStatus::UpToDate => {}
    }
    if outcome.changes.is_empty() {
        let _ = write!(text, "`{venv}` is already in sync ({} packages)", outcome.unchanged);
        return text;
    }
    let installed = outcome.changes.iter().filter(|c| !matches!(c.kind, ChangeKind::Removed)).count();
    let removed = outcome.changes.len() - installed;
    let mut summary = Vec::new();
    if installed > 0 {
        summary.push(format!("installed {installed}"));
    }
    if removed > 0 {
        summary.push(format!("removed {removed}"));
    }
    let _ = writeln!(
        text,
        "Synced `{venv}` in {}: {} ({} downloaded, {} unchanged)",
        human_duration(elapsed),
        summary.join(", "),
        outcome.downloaded,
        outcome.unchanged
    );
    for change in &outcome.changes {
        let _ = match &change.kind {
            ChangeKind::Installed => writeln!(text, " + {}=={}", change.name, change.version),
            ChangeKind::Removed => writeln!(text, " - {}=={}", change.name, change.version),
            ChangeKind::Updated { from } => writeln!(text, " ~ {}=={} (was {from})", change.name, change.version),
        };
    }
    text.trim_end().to_string()
}

pub(crate) fn venv(cli: &Cli, settings: &Settings, args: &VenvArgs) -> Result<Rendered, Failure> {
    let adapters = EnvAdapters::new(cli)?;
    let reporter = CliReporter::new(false);
    let outcome = pybun_engine::create_venv(
        &VenvRequest {
            directory: settings.directory.clone(),
            path: args.path.clone(),
            python: args.python.clone(),
            prompt: args.prompt.clone(),
            system_site_packages: args.system_site_packages,
            clear: args.clear,
        },
        &OsFs,
        adapters.interpreters.as_ref(),
        &adapters.environments,
        &reporter,
    )?;
    let stderr = format!(
        "Created `{}` with Python {} ({})\nActivate with: source {}",
        outcome.path.display(),
        outcome.python_version,
        outcome.python_reason,
        outcome.path.join("bin").join("activate").display()
    );
    Ok(Rendered {
        json: json!({
            "venv": outcome.path,
            "python": outcome.python,
            "python_version": outcome.python_version,
            "python_reason": outcome.python_reason,
        }),
        stdout: String::new(),
        stderr,
        warnings: Vec::new(),
        exit: 0,
    })
}

pub(crate) fn cache(cli: &Cli, args: &CacheArgs) -> Result<Rendered, Failure> {
    let dir = cache_dir(cli);
    match &args.command {
        CacheCommand::Dir => Ok(Rendered {
            json: json!({ "cache_dir": dir }),
            stdout: dir.display().to_string(),
            stderr: String::new(),
            warnings: Vec::new(),
            exit: 0,
        }),
        CacheCommand::Clean { packages } => {
            let (files, bytes) = if packages.is_empty() {
                let outcome = pybun_cache::clean(&dir).map_err(cache_failure)?;
                (outcome.removed_files, outcome.removed_bytes)
            } else {
                let mut total = (0, 0);
                for package in packages {
                    let outcome = pybun_cache::clean_package(&dir, package).map_err(cache_failure)?;
                    total.0 += outcome.removed_files;
                    total.1 += outcome.removed_bytes;
                }
                total
            };
            Ok(Rendered {
                json: json!({ "cache_dir": dir, "packages": packages, "removed_files": files, "removed_bytes": bytes }),
                stdout: String::new(),
                stderr: format!("Removed {files} files ({}) from `{}`", human_bytes(bytes), dir.display()),
                warnings: Vec::new(),
                exit: 0,
            })
        }
        CacheCommand::Prune => {
            let outcome = pybun_cache::prune(&dir).map_err(cache_failure)?;
            Ok(Rendered {
                json: json!({ "cache_dir": dir, "removed_files": outcome.removed_files, "removed_bytes": outcome.removed_bytes }),
                stdout: String::new(),
                stderr: format!(
                    "Pruned {} files ({}) from `{}`",
                    outcome.removed_files,
                    human_bytes(outcome.removed_bytes),
                    dir.display()
                ),
                warnings: Vec::new(),
                exit: 0,
            })
        }
    }
}

fn human_bytes(bytes: u64) -> String {
    #[expect(clippy::cast_precision_loss, reason = "an approximate size for people")]
    let value = bytes as f64;
    if value >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1} GiB", value / (1024.0 * 1024.0 * 1024.0))
    } else if value >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", value / (1024.0 * 1024.0))
    } else if value >= 1024.0 {
        format!("{:.1} KiB", value / 1024.0)
    } else {
        format!("{bytes} B")
    }
}

fn cache_failure(error: impl std::fmt::Display) -> Failure {
    Failure::new(
        pybun_engine::Diagnostic::error(pybun_engine::Code::Io, format!("cache: {error}"))
            .with_hint("another pybun may be using the cache; try again when it is done"),
    )
}
