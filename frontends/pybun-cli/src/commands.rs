//! Each command: build the request, call the use case, render the outcome.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use pybun_engine::{
    Code, Diagnostic, ExportFormat, ExportSelection, ExportRequest, Failure, IndexSettings, LockFormat, LockRequest,
    LockSettings, LockStatus, PrereleaseMode, ResolutionMode, Source, TreeNode, TreeRequest,
};
use pybun_fs_os::OsFs;
use pybun_index_http::{HttpIndex, IndexConfig};
use pybun_ports::PackageIndex;
use serde_json::{Value, json};

use crate::cli::{
    Cli, Command, ExportArgs, ExportFormatArg, LockArgs, LockfileFormatArg, OutputFormat, PrereleaseArg,
    ResolutionArg, TreeArgs,
};
use crate::progress::CliReporter;
use crate::{Rendered, Settings};

pub(crate) fn name(command: &Command) -> &'static str {
    match command {
        Command::Lock(_) => "lock",
        Command::Tree(_) => "tree",
        Command::Export(_) => "export",
        Command::Sync(_) => "sync",
        Command::Install(_) => "install",
        Command::Add(_) => "add",
        Command::Remove(_) => "remove",
        Command::Init(_) => "init",
        Command::Venv(_) => "venv",
        Command::Cache(_) => "cache",
        Command::Run(_) => "run",
        Command::X(_) => "x",
        Command::Env(_) => "env",
        Command::Python(_) => "python",
        Command::Test(_) => "test",
        Command::Check(_) => "check",
        Command::Lsp(_) => "lsp",
    }
}

pub(crate) fn run(cli: &Cli, settings: &Settings) -> Result<Rendered, Failure> {
    let is_export = matches!(cli.command, Command::Export(_));
    if !is_export && matches!(settings.format, OutputFormat::RequirementsTxt | OutputFormat::Pylock) {
        return Err(Failure::new(
            Diagnostic::error(Code::Usage, "`--format requirements-txt` and `--format pylock` are for `pybun export` only")
                .with_hint("use `--format text` or `--format json`"),
        ));
    }
    if matches!(cli.command, Command::Lock(_) | Command::Sync(_) | Command::Install(_) | Command::Add(_) | Command::Remove(_)) {
        // Short-lived: exit without freeing the index's page caches one by one.
        pybun_index_http::keep_caches_at_drop();
    }
    match &cli.command {
        Command::Lock(args) => lock(cli, settings, args),
        Command::Tree(args) => tree(settings, args),
        Command::Export(args) => export(settings, args),
        Command::Sync(args) | Command::Install(args) => crate::env_commands::sync(cli, settings, args),
        Command::Venv(args) => crate::env_commands::venv(cli, settings, args),
        Command::Cache(args) => crate::env_commands::cache(cli, args),
        Command::Add(args) => crate::project_commands::add(cli, settings, args),
        Command::Remove(args) => crate::project_commands::remove(cli, settings, args),
        Command::Init(args) => crate::project_commands::init(cli, settings, args),
        Command::Env(_) => crate::run_commands::env(cli, settings),
        Command::Python(args) => crate::python_commands::python(cli, settings, args),
        Command::Test(args) => crate::test_commands::test(cli, settings, args),
        Command::Check(args) => crate::check_command::check(cli, settings, args),
        other => Err(Failure::new(
            Diagnostic::error(Code::NotImplemented, format!("`pybun {}` is not implemented yet", name(other)))
                .with_hint("this PyBun can `lock`, `sync`, `install`, `add`, `remove`, `init`, `venv`, `cache`, `tree` and `export`; track the remaining commands in the project's issues"),
        )),
    }
}

pub(crate) fn cache_dir(cli: &Cli) -> PathBuf {
    if let Some(dir) = &cli.global.cache_dir {
        return dir.clone();
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("pybun");
    }
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".cache").join("pybun"),
        None => std::env::temp_dir().join("pybun-cache"),
    }
}

/// The composition root for the index: the only place that names the HTTP
/// adapter. The index builds sdists whose `PKG-INFO` cannot be trusted for
/// their metadata (`pybun_engine::with_sdist_builds`).
pub(crate) fn index_opener(cli: &Cli) -> impl Fn(&IndexSettings) -> Result<Arc<dyn PackageIndex>, Failure> + '_ {
    move |settings: &IndexSettings| {
        let plain = plain_index(settings, cache_dir(cli), cli.global.offline)?;
        let builder = crate::env_commands::SdistBuilder {
            cache: cache_dir(cli),
            offline: cli.global.offline,
            directory: cli.global.directory.clone().unwrap_or_else(|| std::env::current_dir().unwrap_or_default()),
            index: settings.clone(),
        };
        Ok(pybun_engine::with_sdist_builds(plain, Arc::new(builder)))
    }
}

/// The HTTP index alone, without sdist builds (what a build environment's
/// own requirements are resolved with).
pub(crate) fn plain_index(settings: &IndexSettings, cache: PathBuf, offline: bool) -> Result<Arc<dyn PackageIndex>, Failure> {
    let config = IndexConfig {
        index_urls: settings.index_urls(),
        find_links: settings.find_links.clone(),
        offline,
        ..IndexConfig::new(cache)
    };
    let index = HttpIndex::new(config).map_err(|error| {
        Failure::new(
            Diagnostic::error(Code::Usage, format!("could not set up the index client: {error}"))
                .with_hint("`--index-url` must be an absolute `http(s)` or `file` URL"),
        )
    })?;
    Ok(Arc::new(index) as Arc<dyn PackageIndex>)
}

pub(crate) fn index_settings(cli: &Cli) -> IndexSettings {
    IndexSettings {
        index_url: cli.global.index_url.clone(),
        extra_index_urls: cli.global.extra_index_url.clone(),
        find_links: cli.global.find_links.clone(),
    }
}

fn source_json(source: &Source) -> (&'static str, Option<&str>) {
    match source {
        Source::Project => ("project", None),
        Source::Registry(url) => ("registry", Some(url)),
        Source::FindLinks(url) => ("find-links", Some(url)),
        Source::Url(url) => ("url", Some(url)),
        Source::Directory(url) => ("directory", Some(url)),
    }
}

fn lock(cli: &Cli, settings: &Settings, args: &LockArgs) -> Result<Rendered, Failure> {
    let fs = OsFs;
    if args.print {
        let outcome = pybun_engine::print_lock(&settings.directory, &fs)?;
        return Ok(Rendered {
            json: json!({ "lockfile": outcome.path, "text": outcome.text }),
            stdout: outcome.text,
            stderr: String::new(),
            warnings: Vec::new(),
            exit: 0,
        });
    }
    let request = LockRequest {
        directory: settings.directory.clone(),
        index: index_settings(cli),
        settings: LockSettings {
            resolution: match args.resolution {
                ResolutionArg::Highest => ResolutionMode::Highest,
                ResolutionArg::Lowest => ResolutionMode::Lowest,
                ResolutionArg::LowestDirect => ResolutionMode::LowestDirect,
            },
            prerelease: match args.prerelease {
                PrereleaseArg::Allow => PrereleaseMode::Allow,
                PrereleaseArg::IfNecessary => PrereleaseMode::IfNecessary,
                PrereleaseArg::Explicit => PrereleaseMode::Explicit,
                PrereleaseArg::Disallow => PrereleaseMode::Disallow,
            },
            exclude_newer: args.exclude_newer.clone(),
            python_version: args.python_version.clone(),
            python_platform: args.python_platform.clone(),
            no_binary: args.no_binary.clone(),
            no_build: args.no_build.clone(),
        },
        check: args.check,
        upgrade: args.upgrade,
        format: args.lockfile_format.map(|f| match f {
            LockfileFormatArg::Text => LockFormat::Text,
            LockfileFormatArg::Binary => LockFormat::Binary,
        }),
        script: args.script.clone(),
        keep_settings: false,
    };
    let reporter = CliReporter::new(settings.format == OutputFormat::Text && !settings.quiet);
    let started = Instant::now();
    let opener = index_opener(cli);
    let result = pybun_engine::lock(&request, &fs, &opener, &reporter);
    reporter.finish();
    let outcome = result?;
    let elapsed = started.elapsed();
    let mut warnings = outcome.warnings.clone();
    warnings.extend(reporter.take_warnings());
    let packages: Vec<Value> = outcome
        .lock
        .packages
        .iter()
        .map(|p| {
            let (kind, url) = source_json(&p.source);
            json!({ "name": p.name, "version": p.version, "source": kind, "index": url })
        })
        .collect();
    let status = match outcome.status {
        LockStatus::Created => "created",
        LockStatus::Updated => "updated",
        LockStatus::Unchanged => "unchanged",
        LockStatus::UpToDate => "up-to-date",
    };
    let count = outcome.lock.packages.iter().filter(|p| p.source != Source::Project).count();
    let file = outcome.path.file_name().map_or_else(|| outcome.path.display().to_string(), |f| f.to_string_lossy().into_owned());
    let count = match count {
        1 => "1 package".to_string(),
        n => format!("{n} packages"),
    };
    let summary = match outcome.status {
        LockStatus::UpToDate if args.check => format!("`{file}` is up to date ({count})"),
        LockStatus::UpToDate => format!("`{file}` is up to date ({count}); nothing to resolve"),
        LockStatus::Unchanged => format!("Resolved {count} in {}; `{file}` unchanged", human_duration(elapsed)),
        LockStatus::Created => format!("Resolved {count} in {}; wrote `{file}`", human_duration(elapsed)),
        LockStatus::Updated => format!("Resolved {count} in {}; updated `{file}`", human_duration(elapsed)),
    };
    Ok(Rendered {
        json: json!({
            "lockfile": outcome.path,
            "status": status,
            "requires_python": outcome.lock.requires_python,
            "packages": packages,
        }),
        stdout: String::new(),
        stderr: summary,
        warnings,
        exit: 0,
    })
}

pub(crate) fn human_duration(duration: std::time::Duration) -> String {
    if duration.as_secs() >= 1 {
        format!("{:.2}s", duration.as_secs_f64())
    } else {
        format!("{}ms", duration.as_millis())
    }
}

fn tree(settings: &Settings, args: &TreeArgs) -> Result<Rendered, Failure> {
    let outcome = pybun_engine::tree(&TreeRequest { directory: settings.directory.clone(), depth: args.depth }, &OsFs)?;
    let mut text = format!("{} v{}\n", outcome.root.name, outcome.root.version);
    let count = outcome.root.children.len();
    for (i, child) in outcome.root.children.iter().enumerate() {
        render_tree(&mut text, child, "", i + 1 == count);
    }
    Ok(Rendered { json: tree_json(&outcome.root), stdout: text, stderr: String::new(), warnings: Vec::new(), exit: 0 })
}

fn render_tree(out: &mut String, node: &TreeNode, prefix: &str, last: bool) {
    let branch = if last { "└── " } else { "├── " };
    let extras = if node.extras.is_empty() { String::new() } else { format!("[{}]", node.extras.join(",")) };
    let _ = write!(out, "{prefix}{branch}{}{extras} v{}", node.name, node.version);
    if let Some(via) = &node.via {
        let _ = write!(out, " ({via})");
    }
    if let Some(marker) = &node.marker {
        let _ = write!(out, " ; {marker}");
    }
    if node.repeated {
        out.push_str(" (*)");
    }
    out.push('\n');
    let child_prefix = format!("{prefix}{}", if last { "    " } else { "│   " });
    let count = node.children.len();
    for (i, child) in node.children.iter().enumerate() {
        render_tree(out, child, &child_prefix, i + 1 == count);
    }
}

fn tree_json(node: &TreeNode) -> Value {
    json!({
        "name": node.name,
        "version": node.version,
        "extras": node.extras,
        "marker": node.marker,
        "via": node.via,
        "repeated": node.repeated,
        "dependencies": node.children.iter().map(tree_json).collect::<Vec<_>>(),
    })
}

fn export(settings: &Settings, args: &ExportArgs) -> Result<Rendered, Failure> {
    let format = match (settings.format, args.to) {
        (OutputFormat::Pylock, _) | (_, ExportFormatArg::Pylock) if settings.format != OutputFormat::RequirementsTxt => ExportFormat::Pylock,
        _ => ExportFormat::RequirementsTxt,
    };
    let mut groups = args.group.clone();
    if !args.no_dev && !groups.iter().any(|g| g == "dev") {
        groups.push("dev".to_string());
    }
    let selection = ExportSelection { extras: args.extra.clone(), groups, all_extras: args.all_extras, all_groups: args.all_groups };
    let request = ExportRequest { directory: settings.directory.clone(), format, output: args.output.clone(), selection };
    let outcome = pybun_engine::export(&request, &OsFs)?;
    let format_name = match format {
        ExportFormat::RequirementsTxt => "requirements-txt",
        ExportFormat::Pylock => "pylock",
    };
    let (stdout, stderr) = match &outcome.written_to {
        Some(path) => (String::new(), format!("Exported {} packages to `{}`", outcome.packages, path.display())),
        None => (outcome.text.clone(), String::new()),
    };
    Ok(Rendered {
        json: json!({ "format": format_name, "output": outcome.written_to, "packages": outcome.packages, "text": outcome.text }),
        stdout,
        stderr,
        warnings: Vec::new(),
        exit: 0,
    })
}
